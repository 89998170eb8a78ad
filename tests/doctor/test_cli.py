"""``nvc-cli doctor`` as a user runs it, against simulated drivers and their injected faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvcontainer.simulate import SimulatedDriver
from tests.conftest import BuildSim
from tests.doctor.helpers import as_json, by_name, dev_root_copy, doctor, isolated

ORDER = ["kernel-module", "nvml", "persistenced", "device-nodes", "dev-char-symlinks", "cgroups", "ldconfig",
         "engine-docker", "engine-containerd", "engine-podman", "engine-crio", "cdi-spec"]


def test_simulated_driver_is_green_but_for_the_dev_char_links(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    checks = as_json(isolated(tmp_path, str(sim_driver.root), "--json"))
    assert {c["name"]: c["ok"] for c in checks} == {
        "kernel-module": True, "nvml": True, "persistenced": True, "device-nodes": True,
        "dev-char-symlinks": False,  # the simulator makes no /dev/char: truly missing there
        "cgroups": True, "ldconfig": True,
        "engine-docker": None, "engine-containerd": None, "engine-podman": None, "engine-crio": None,
        "cdi-spec": None,
    }
    topo = sim_driver.topology
    assert by_name(checks, "kernel-module")["summary"] == f"NVIDIA kernel module {topo.driver_version} is loaded"
    assert f"driver {topo.driver_version}, CUDA 12.4, {len(topo.gpus)} GPUs" in by_name(checks, "nvml")["summary"]
    char = by_name(checks, "dev-char-symlinks")
    # nvidiactl, 8 GPUs, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset
    assert char["summary"].startswith("12 of 12 NVIDIA device nodes have no /dev/char link (/dev/char/195:255, ")
    assert "create-dev-char-symlinks" in char["fix"] and "udev" in char["fix"]
    assert "Failed to initialize NVML: Unknown Error" in char["fix"]


def test_text_report_and_exit_status(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    out = isolated(tmp_path, str(sim_driver.root))
    assert out.returncode == 1 and out.stderr == ""
    lines = out.stdout.splitlines()
    failures = [i for i, line in enumerate(lines) if line.startswith("✗ ")]
    assert [lines[i] for i in failures] == [lines[failures[0]]]
    assert lines[failures[0]].startswith("✗ 12 of 12 NVIDIA device nodes have no /dev/char link")
    assert lines[failures[0] + 1].startswith(
        f"    fix: create them with `nvc-ctk system create-dev-char-symlinks --driver-root={sim_driver.root}` "
        "(as `nvidia-ctk system create-dev-char-symlinks`)")
    assert lines[0] == f"✓ NVIDIA kernel module {sim_driver.topology.driver_version} is loaded"
    assert "- docker: not installed" in lines
    assert all(line[:2] in ("✓ ", "✗ ", "- ") or line.startswith("    fix: ") for line in lines)


def test_all_green_exits_zero_when_the_links_exist(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    dev_root = dev_root_copy(str(sim_driver.root), tmp_path / "devroot", char_links=True)
    out = isolated(tmp_path, str(sim_driver.root), dev_root=dev_root)
    assert out.returncode == 0, out.stdout
    assert "✓ every NVIDIA device node has its /dev/char/<major>:<minor> link" in out.stdout.splitlines()
    assert "✗" not in out.stdout and "fix:" not in out.stdout


def test_json_structure(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    out = isolated(tmp_path, str(sim_driver.root), "--json")
    assert out.returncode == 1
    checks = json.loads(out.stdout)
    assert isinstance(checks, list)
    assert [c["name"] for c in checks] == ORDER
    for check in checks:
        assert set(check) == {"name", "ok", "summary", "fix"}
        assert check["ok"] in (True, False, None)
        assert isinstance(check["summary"], str) and check["summary"]
        assert bool(check["fix"]) == (check["ok"] is False)
        assert "\n" not in check["fix"]


PRESETS = [
    ("dgx-a100-driver-not-loaded", False, "NVML cannot initialize: the NVIDIA kernel driver is not loaded",
     ["modprobe nvidia", "nvidia-modprobe"]),
    ("dgx-a100-rm-mismatch", True,
     "NVML cannot initialize: driver/library version mismatch (libnvidia-ml 550.54.15, kernel module 535.161.08)",
     ["reboot", "reinstall the driver version that matches the loaded module"]),
    ("dgx-a100-no-permission", True, "NVML cannot initialize: insufficient permissions on the NVIDIA device nodes",
     ["ls -l /dev/nvidia*", "readable and writable"]),
    ("dgx-a100-gpu-lost", True, "NVML reports that GPU 3 is lost",
     ["dmesg", "Xid", "nvidia-smi -r -i 3", "reboot"]),
]


@pytest.mark.parametrize("preset,kernel_ok,summary,fix_parts", PRESETS, ids=[p[0] for p in PRESETS])
def test_error_injection(build_sim: BuildSim, tmp_path: Path, preset: str, kernel_ok: bool, summary: str,
                         fix_parts: list) -> None:
    sim = build_sim(preset=preset)
    out = isolated(tmp_path, str(sim.root))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = out.stdout.splitlines()
    assert f"✗ {summary}" in lines
    fix = lines[lines.index(f"✗ {summary}") + 1]
    assert fix.startswith("    fix: ")
    for part in fix_parts:
        assert part in fix
    checks = as_json(isolated(tmp_path, str(sim.root), "--json"))
    assert by_name(checks, "kernel-module")["ok"] is kernel_ok
    assert by_name(checks, "nvml")["ok"] is False
    # The kernel side is still judged without NVML: device nodes come from /proc/driver/nvidia.
    assert by_name(checks, "device-nodes")["ok"] is True


def test_driver_not_loaded_kernel_line(build_sim: BuildSim, tmp_path: Path) -> None:
    checks = as_json(isolated(tmp_path, str(build_sim(preset="dgx-a100-driver-not-loaded").root), "--json"))
    kernel = by_name(checks, "kernel-module")
    assert kernel["summary"] == "NVIDIA kernel module is not loaded (no /proc/driver/nvidia/version)"
    assert "modprobe nvidia" in kernel["fix"]


def test_no_driver_at_all_points_to_root_and_the_simulator(tmp_path: Path) -> None:
    empty_root = tmp_path / "root"
    empty_root.mkdir()
    out = isolated(tmp_path, str(empty_root))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    nvml = by_name(as_json(isolated(tmp_path, str(empty_root), "--json")), "nvml")
    assert nvml["ok"] is False
    assert nvml["summary"].startswith("no NVIDIA driver found: load library failed: libnvidia-ml.so.1")
    assert "--root" in nvml["fix"] and "python -m nvcontainer.simulate DIR" in nvml["fix"]
    assert "✗ NVIDIA kernel module is not loaded" in out.stdout
    assert "✗ nvidia-persistenced is not running (no socket /var/run/nvidia-persistenced/socket)" in out.stdout
    assert "    fix: start nvidia-persistenced (slow container starts, 'driver rpc error: timed out')" in out.stdout


def test_bad_options_are_one_input_error_line(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text("CUDA_VERSION=12.0\n")
    out = doctor("--image-env", str(env), "--bundle", str(tmp_path), root=str(sim_driver.root))
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == "nvc-cli: input error: --image-env and --bundle cannot be used together\n"
    out = doctor("--image-env", str(tmp_path / "missing"), root=str(sim_driver.root))
    assert out.returncode == 1
    assert out.stderr.startswith(f"nvc-cli: input error: open failed: {tmp_path / 'missing'}: no such file")
