"""nvc-ctk runtime configure for docker, containerd and CRI-O; install-compat; nvc-docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List

import pytest
import tomlkit

BIN = Path(sys.executable).parent
CTK = [sys.executable, "-m", "cli.ctk"]


def ctk(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CTK, *args], capture_output=True, text=True)


def configure(engine: str, path: Path, *extra: str) -> subprocess.CompletedProcess:
    return ctk("runtime", "configure", f"--runtime={engine}", f"--config={path}", "--runtime-path=/opt/nvc/shim",
               *extra)


def test_docker_merge_keeps_every_key_and_features(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    original = {"log-level": "warn", "features": {"buildkit": True}, "runtimes": {"crun": {"path": "/usr/bin/crun"}},
                "data-root": "/srv/docker"}
    path.write_text(json.dumps(original))
    out = configure("docker", path, "--set-as-default", "--cdi.enabled")
    assert out.returncode == 0, out.stderr
    got = json.loads(path.read_text())
    assert list(got)[:4] == ["log-level", "features", "runtimes", "data-root"]
    assert got["features"] == {"buildkit": True, "cdi": True}, "the original loses buildkit here"
    assert got["runtimes"] == {"crun": {"path": "/usr/bin/crun"}, "nvidia": {"args": [], "path": "/opt/nvc/shim"}}
    assert got["default-runtime"] == "nvidia" and got["data-root"] == "/srv/docker"
    assert json.loads((tmp_path / "daemon.json.bak").read_text()) == original


def test_docker_missing_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "docker" / "daemon.json"
    assert configure("docker", path).returncode == 0
    assert json.loads(path.read_text()) == {"runtimes": {"nvidia": {"args": [], "path": "/opt/nvc/shim"}}}
    assert not (path.parent / "daemon.json.bak").exists()


def test_invalid_json_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"runtimes": {')
    out = configure("docker", path)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"nvc-ctk: config error: {path}: invalid JSON: Expecting property name "
                                       "enclosed in double quotes at line 1 column 15"]
    assert path.read_text() == '{"runtimes": {'


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text("{}")
    out = configure("docker", path, "--dry-run")
    assert out.returncode == 0 and json.loads(out.stdout)["runtimes"]["nvidia"]["path"] == "/opt/nvc/shim"
    assert path.read_text() == "{}" and sorted(os.listdir(tmp_path)) == ["daemon.json"]


CONTAINERD_V2 = textwrap.dedent('''\
    # containerd configuration, hand written
    version = 2
    root = "/var/lib/containerd"   # keep me

    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = true
    ''')


@pytest.mark.parametrize("version,plugin", [(1, "cri"), (2, "io.containerd.grpc.v1.cri"),
                                            (3, "io.containerd.cri.v1.runtime")])
def test_containerd_versions(tmp_path: Path, version: int, plugin: str) -> None:
    path = tmp_path / "config.toml"
    text = CONTAINERD_V2.replace('"io.containerd.grpc.v1.cri"', f'"{plugin}"')
    text = text.replace("version = 2\n", "" if version == 1 else f"version = {version}\n")
    path.write_text(text)
    out = configure("containerd", path, "--set-as-default")
    assert out.returncode == 0, out.stderr
    new = path.read_text()
    head, _, rest = text.partition('  default_runtime_name = "runc"\n')
    assert rest and new.startswith(head + '  default_runtime_name = "nvidia"\n' + rest), \
        "untouched text survives byte for byte"
    assert "# keep me" in new and "SystemdCgroup = true" in new
    doc = tomlkit.parse(new)
    ctd = doc["plugins"][plugin]["containerd"]
    assert ctd["default_runtime_name"] == "nvidia"
    nvidia = ctd["runtimes"]["nvidia"]
    assert nvidia["runtime_type"] == "io.containerd.runc.v2"
    assert nvidia["options"]["BinaryName"] == "/opt/nvc/shim"
    assert nvidia["options"]["SystemdCgroup"] is True, "options copied from the default runtime"


def test_containerd_bad_toml_untouched(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("version = = 2\n")
    out = configure("containerd", path)
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1 and "invalid TOML" in out.stderr
    assert path.read_text() == "version = = 2\n"


def test_crio_drop_in(tmp_path: Path) -> None:
    path = tmp_path / "crio.conf.d" / "99-nvidia.toml"
    assert configure("crio", path, "--set-as-default").returncode == 0
    doc = tomlkit.parse(path.read_text())
    assert doc["crio"]["runtime"]["default_runtime"] == "nvidia"
    assert dict(doc["crio"]["runtime"]["runtimes"]["nvidia"]) == {"runtime_path": "/opt/nvc/shim",
                                                                 "runtime_type": "oci"}


def test_concurrent_runs_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "daemon.json"
    path.write_text('{"log-level": "warn"}')
    procs = [subprocess.Popen([*CTK, "runtime", "configure", "--runtime=docker", f"--config={path}",
                               f"--runtime-name=r{i}", "--runtime-path=/x"], stderr=subprocess.PIPE)
             for i in range(8)]
    assert [p.wait() for p in procs] == [0] * 8
    got = json.loads(path.read_text())
    assert sorted(got["runtimes"]) == [f"r{i}" for i in range(8)], "no update was lost"
    assert [n for n in os.listdir(tmp_path) if n.startswith(".daemon.json")] == [], "no temporary file left"


def test_disk_full_leaves_the_file_intact(tmp_path: Path) -> None:
    # A 16 KiB tmpfs, in a private mount namespace, filled up but for the daemon.json itself.
    script = textwrap.dedent(f'''
        set -e
        mount -t tmpfs -o size=16k tmpfs {tmp_path}/small
        printf '{{"log-level": "warn"}}' > {tmp_path}/small/daemon.json
        dd if=/dev/zero of={tmp_path}/small/fill bs=1k count=64 2>/dev/null || true
        {sys.executable} -m cli.ctk runtime configure --runtime=docker --config={tmp_path}/small/daemon.json \\
            --runtime-path=/x > {tmp_path}/out 2>&1 || echo "rc=$?" >> {tmp_path}/out
        cat {tmp_path}/small/daemon.json > {tmp_path}/after
        ls -a {tmp_path}/small > {tmp_path}/listing
    ''')
    (tmp_path / "small").mkdir()
    subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], check=True,
                   cwd=str(Path(__file__).resolve().parents[2]))
    out = (tmp_path / "out").read_text()
    assert "rc=1" in out and "no space left on device" in out
    assert (tmp_path / "after").read_text() == '{"log-level": "warn"}'
    assert sorted((tmp_path / "listing").read_text().split()) == [".", "..", "daemon.json", "daemon.json.lock",
                                                                  "fill"]


def test_install_compat(tmp_path: Path) -> None:
    out = ctk("install-compat", f"--prefix={tmp_path}")
    assert out.returncode == 0, out.stderr
    for theirs, ours in (("nvidia-container-cli", "nvc-cli"), ("nvidia-container-runtime", "nvc-container-runtime"),
                         ("nvidia-container-runtime-hook", "nvc-container-runtime-hook")):
        assert os.readlink(tmp_path / theirs) == str(BIN / ours)
    assert ctk("install-compat", f"--prefix={tmp_path}").returncode == 0, "idempotent"
    (tmp_path / "nvidia-container-cli").unlink()
    (tmp_path / "nvidia-container-cli").write_text("someone else's")
    refused = ctk("install-compat", f"--prefix={tmp_path}")
    assert refused.returncode == 1 and "exists and is not our link" in refused.stderr
    # ctr's argv shape through the compat name parses (dry run against the simulated driver).


def test_ctr_argv_shape_through_the_compat_name(sim_driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert ctk("install-compat", f"--prefix={tmp_path}").returncode == 0
    config = tmp_path / "config.toml"
    config.write_text(f'[nvidia-container-cli]\nroot = "{sim_driver.root}"\n')
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    out = subprocess.run([str(tmp_path / "nvidia-container-cli"), "--load-kmods", "configure", "--device=0",
                          "--compute", "--compat32", "--graphics", "--utility", "--video", "--display", "--pid=1",
                          "--dry-run", str(rootfs)], capture_output=True, text=True,
                         env={**os.environ, "NVIDIA_CTK_CONFIG_FILE_PATH": str(config)})
    assert out.returncode == 0, out.stderr
    assert any(m["target"] == "/dev/nvidia0" for m in json.loads(out.stdout)["mounts"])


@pytest.mark.parametrize("argv,expected", [
    (["run", "--rm", "img"], ["run", "--runtime=nvidia", "--rm", "img"]),
    (["-H", "unix:///x", "create", "img"], ["-H", "unix:///x", "create", "--runtime=nvidia", "img"]),
    (["run", "--runtime=runc", "img"], ["run", "--runtime=runc", "img"]),
    (["ps", "-a"], ["ps", "-a"]),
])
def test_nvc_docker_rewrites_run_and_create(tmp_path: Path, argv: List[str], expected: List[str]) -> None:
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    fake.chmod(0o755)
    out = subprocess.run([sys.executable, "-m", "cli.docker", *argv], capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert out.stdout.splitlines() == expected


def test_list_docker_args(sim_driver) -> None:  # type: ignore[no-untyped-def]
    out = subprocess.run([sys.executable, "-m", "cli.main", "--root", str(sim_driver.root), "list", "--docker-args",
                          "--device=1"], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    minor = sim_driver.topology.gpus[1].minor
    assert f"--device={sim_driver.root}/dev/nvidia{minor}:/dev/nvidia{minor}" in lines
    assert f"--device={sim_driver.root}/dev/nvidia{sim_driver.topology.gpus[0].minor}:/dev/nvidia0" not in lines
    version = sim_driver.topology.driver_version
    lib = f"/usr/lib/x86_64-linux-gnu/libcuda.so.{version}"
    assert f"-v={sim_driver.root}{lib}:{lib}:ro" in lines
    assert "no ldconfig run" in out.stderr
