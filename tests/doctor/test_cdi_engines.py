"""CDI spec freshness and engine configuration, in temporary spec dirs and config files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import yaml

from nvcontainer.doctor.cdi import cdi_checks, driver_versions_named, read_spec
from nvcontainer.doctor.engines import EngineFiles, engine_check, engine_checks, is_our_runtime
from nvcontainer.simulate import SimulatedDriver
from tests.doctor.helpers import as_json, by_name, fake_binary, isolated

LIBDIR = "usr/lib/x86_64-linux-gnu"


def _spec(root: str, version: str, kind: str = "nvidia.com/gpu", lib: str = "libcuda.so") -> Dict[str, Any]:
    return {
        "cdiVersion": "0.5.0",
        "kind": kind,
        "devices": [{"name": "0", "containerEdits": {"deviceNodes": [
            {"path": "/dev/nvidia0", "hostPath": f"{root}/dev/nvidia0"}]}}],
        "containerEdits": {
            "deviceNodes": [{"path": "/dev/nvidiactl", "hostPath": f"{root}/dev/nvidiactl"}],
            "mounts": [{"hostPath": f"{root}/{LIBDIR}/{lib}.{version}",
                        "containerPath": f"/{LIBDIR}/{lib}.{version}", "options": ["ro", "nosuid", "nodev", "bind"]},
                       {"hostPath": f"{root}/lib/firmware/nvidia/{version}/gsp_ga10x.bin",
                        "containerPath": f"/lib/firmware/nvidia/{version}/gsp_ga10x.bin"}],
            "hooks": [{"hookName": "createContainer", "path": f"{root}/usr/bin/nvidia-smi",
                       "args": ["nvidia-cdi-hook", "enable-cuda-compat", f"--host-driver-version={version}"]}],
        },
    }


def _spec_dir(tmp_path: Path, root: str) -> Path:
    specs = tmp_path / "cdi"
    specs.mkdir()
    (specs / "fresh.json").write_text(json.dumps(_spec(root, "550.54.15")))
    (specs / "stale.yaml").write_text(yaml.safe_dump(_spec(root, "535.104.05")))
    (specs / "missing.yaml").write_text(yaml.safe_dump(_spec(root, "550.54.15", lib="libnvidia-gone.so")))
    (specs / "other-vendor.yaml").write_text(yaml.safe_dump(_spec(root, "1.2.3", kind="example.com/fpga")))
    (specs / "broken.yaml").write_text("kind: [unclosed\n")
    (specs / "notes.txt").write_text("not a spec")
    return specs


def test_cdi_specs_fresh_stale_missing_broken(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    root = str(sim_driver.root)
    specs = _spec_dir(tmp_path, root)
    out = isolated(tmp_path, root, "--json", spec_dirs=(str(specs), str(tmp_path / "absent")))
    checks = [c for c in as_json(out) if c["name"] == "cdi-spec"]
    by_file = {c["summary"].split()[2]: c for c in checks}
    assert sorted(by_file) == sorted(str(specs / n) for n in ("broken.yaml", "fresh.json", "missing.yaml",
                                                               "stale.yaml"))
    fresh = by_file[str(specs / "fresh.json")]
    assert fresh["ok"] is True
    assert fresh["summary"] == f"CDI spec {specs / 'fresh.json'} (nvidia.com/gpu, 1 devices) matches driver 550.54.15"
    stale = by_file[str(specs / "stale.yaml")]
    assert stale["ok"] is False
    assert stale["summary"] == (f"CDI spec {specs / 'stale.yaml'} is stale: made for driver 535.104.05, "
                                "installed driver is 550.54.15")
    # the driver is elsewhere: the fix names the flag `nvc-ctk cdi generate` takes for it (issue 19.7)
    assert f"`nvc-ctk cdi generate --driver-root={root} --output={specs / 'stale.yaml'}`" in stale["fix"]
    missing = by_file[str(specs / "missing.yaml")]
    assert missing["ok"] is False
    assert missing["summary"] == (f"CDI spec {specs / 'missing.yaml'} is stale: 1 file(s) it names do not exist "
                                  f"({root}/{LIBDIR}/libnvidia-gone.so.550.54.15)")
    broken = by_file[str(specs / "broken.yaml")]
    assert broken["ok"] is False and "cannot be read: not valid YAML" in broken["summary"]
    assert out.returncode == 1


def test_cdi_without_specs_is_a_note(tmp_path: Path) -> None:
    [check] = cdi_checks([str(tmp_path)], "550.54.15")
    assert check.ok is None and check.summary.startswith(f"no NVIDIA CDI specs in {tmp_path}")


def test_versions_named_by_a_spec(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    spec = _spec("/r", "535.104.05")
    spec["containerEdits"]["mounts"].append({"hostPath": "/r/usr/lib/libcudnn.so.8.9.7", "containerPath": "/x"})
    spec["containerEdits"]["mounts"].append({"hostPath": "/r/usr/lib/libcuda.so.1.1", "containerPath": "/y"})
    path.write_text(yaml.safe_dump(spec))
    assert driver_versions_named(read_spec(str(path))) == ("535.104.05",)  # not cuDNN's, not a .so.1.1 link


def test_docker_configured_for_us(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_binary(bin_dir, "dockerd")
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"default-runtime": "nvidia", "log-driver": "json-file", "runtimes": {
        "nvidia": {"args": [], "path": "/usr/bin/nvc-container-runtime"}}}))
    checks = as_json(isolated(tmp_path, str(sim_driver.root), "--json", bin_dir=bin_dir, docker_config=str(daemon)))
    docker = by_name(checks, "engine-docker")
    assert docker == {"name": "engine-docker", "ok": True, "fix": "", "summary": (
        f"docker ({bin_dir / 'dockerd'}) is configured: runtime 'nvidia' -> /usr/bin/nvc-container-runtime "
        f"(the default runtime) in {daemon}")}
    assert [by_name(checks, f"engine-{e}")["ok"] for e in ("containerd", "podman", "crio")] == [None, None, None]


def test_docker_not_configured(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_binary(bin_dir, "docker")
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"runtimes": {"crun": {"path": "/usr/bin/crun"}}}))
    out = isolated(tmp_path, str(sim_driver.root), bin_dir=bin_dir, docker_config=str(daemon))
    lines = out.stdout.splitlines()
    summary = (f"✗ docker ({bin_dir / 'docker'}) is not configured for GPUs: {daemon} has no runtime whose path is "
               "nvc-container-runtime or nvidia-container-runtime")
    assert summary in lines
    assert lines[lines.index(summary) + 1].startswith("    fix: run `nvc-ctk runtime configure --runtime=docker`")
    daemon.write_text("{not json")
    docker = by_name(as_json(isolated(tmp_path, str(sim_driver.root), "--json", bin_dir=bin_dir,
                                      docker_config=str(daemon))), "engine-docker")
    assert docker["ok"] is False and f"{daemon} cannot be read" in docker["summary"]


def test_containerd_drop_in_crio_and_podman(tmp_path: Path) -> None:
    config = tmp_path / "containerd" / "config.toml"
    (config.parent / "conf.d").mkdir(parents=True)
    config.write_text('version = 2\nimports = ["conf.d/*.toml"]\n')
    (config.parent / "conf.d" / "99-nvidia.toml").write_text(
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]\n'
        'BinaryName = "/usr/bin/nvidia-container-runtime"\n')
    crio = tmp_path / "crio.conf"
    crio.write_text("[crio.runtime]\n")
    specs = tmp_path / "cdi"
    specs.mkdir()
    files = EngineFiles(containerd_config=str(config), crio_config=str(crio), cdi_spec_dirs=(str(specs),))
    containerd = engine_check("containerd", "/usr/bin/containerd", files)
    assert containerd.ok is True and str(config.parent / "conf.d" / "99-nvidia.toml") in containerd.summary
    crio_check = engine_check("crio", "/usr/bin/crio", files)
    assert crio_check.ok is False and "nvidia-ctk runtime configure --runtime=crio" in crio_check.fix
    (tmp_path / "crio.conf.d").mkdir()
    (tmp_path / "crio.conf.d" / "99-nvidia.conf").write_text(
        '[crio.runtime.runtimes.nvidia]\nruntime_path = "/usr/bin/nvc-container-runtime"\n')
    assert engine_check("crio", "/usr/bin/crio", files).ok is True
    podman = engine_check("podman", "/usr/bin/podman", files)
    assert podman.ok is False and "cdi generate" in podman.fix
    (specs / "nvidia.yaml").write_text(yaml.safe_dump(_spec("/r", "550.54.15")))
    assert engine_check("podman", "/usr/bin/podman", files).ok is True


def test_engines_found_on_path_only(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_binary(bin_dir, "ctr")
    checks: List[Any] = engine_checks(EngineFiles(containerd_config=str(tmp_path / "none.toml")), str(bin_dir))
    assert [(c.name, c.ok) for c in checks] == [("engine-docker", None), ("engine-containerd", False),
                                                 ("engine-podman", None), ("engine-crio", None)]
    assert "does not exist" in checks[1].summary
    assert is_our_runtime("/usr/local/bin/nvidia-container-runtime.cdi")
    assert not is_our_runtime("/usr/bin/runc")


def test_crio_drop_ins_are_every_file_and_stale_copies_fail(tmp_path: Path) -> None:
    """CRI-O reads every file of crio.conf.d (the 99-nvidia.toml nvc-ctk writes included; the
    doctor looked only at *.conf), and a 99-nvidia.toml.bak there is configuration too."""
    crio = tmp_path / "crio.conf"
    crio.write_text("[crio.runtime]\n")
    drop_ins = tmp_path / "crio.conf.d"
    drop_ins.mkdir()
    (drop_ins / "99-nvidia.toml").write_text(
        '[crio.runtime.runtimes.nvidia]\nruntime_path = "/usr/bin/nvc-container-runtime"\n')
    files = EngineFiles(crio_config=str(crio))
    check = engine_check("crio", "/usr/bin/crio", files)
    assert check.ok is True and str(drop_ins / "99-nvidia.toml") in check.summary
    (drop_ins / "99-nvidia.toml.bak").write_text('[crio.runtime.runtimes.nvidia]\nruntime_path = "/old"\n')
    stale = engine_check("crio", "/usr/bin/crio", files)
    assert stale.ok is False and str(drop_ins / "99-nvidia.toml.bak") in stale.summary
    assert stale.fix.startswith("run `nvc-ctk runtime configure --runtime=crio` again (it removes them)")
