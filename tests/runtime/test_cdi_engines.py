"""podman runs this checkout's shim in cdi and jit-cdi mode, over runc and over crun: the simulated
nvidia-smi in the container sees the devices asked for (by env, by CDI annotation, generated at
create time), and what the mode refuses fails the container with our one line.

The shim and nvc-cdi-hook are launchers of this checkout in one directory (the jit-cdi spec names
the hook found beside the shim).  conmon passes the runtime only PATH, HOME and XDG_RUNTIME_DIR, so
``--runtime`` is a two-line wrapper that sets NVIDIA_CTK_CONFIG_FILE_PATH, as in test_podman.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import List, Sequence

import pytest

from nvcontainer.cdi.generate import generate
from nvcontainer.discovery import discover
from nvcontainer.launchers import write_launcher
from nvcontainer.simulate import SimulatedDriver
from tests.cdi.helpers import write_hook_launcher
from tests.containers import make_rootfs, mountinfo
from tests.hook.helpers import nvidia_smi_lines

CONTAINERS_CONF = '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, sim_driver: SimulatedDriver) -> Path:
    """A bin directory with this checkout's shim and hook, and a CDI spec dir made with that hook."""
    bin_dir = tmp_path_factory.mktemp("bin")
    write_launcher(str(bin_dir / "nvc-container-runtime"), name="nvc-container-runtime", kind="runtime")
    hook = write_hook_launcher(bin_dir)
    specs = bin_dir / "cdi"
    specs.mkdir()
    (specs / "nvidia.json").write_text(json.dumps(generate(discover(str(sim_driver.root)), hook_path=str(hook))))
    return bin_dir


@pytest.fixture(params=["runc", "crun"])
def low_level(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def podman(tmp_path: Path, installed: Path, sim_root: Path, mode: str, runtime: str, devices: str,
           *command: str, annotations: Sequence[str] = ()) -> subprocess.CompletedProcess:
    (tmp_path / "containers.conf").write_text(CONTAINERS_CONF)
    config = tmp_path / "config.toml"
    config.write_text(f'[nvidia-container-cli]\nroot = "{sim_root}"\n'
                      f'[nvidia-container-runtime]\nmode = "{mode}"\nruntimes = ["{runtime}"]\n'
                      f'[nvidia-container-runtime.modes.cdi]\nspec-dirs = ["{installed}/cdi"]\n')
    wrapper = tmp_path / "runtime-with-config"
    wrapper.write_text(f'#!/bin/sh\nNVIDIA_CTK_CONFIG_FILE_PATH={config} exec {installed}/nvc-container-runtime "$@"\n')
    wrapper.chmod(0o755)
    rootfs = tmp_path / "rootfs"
    if not rootfs.exists():
        make_rootfs(rootfs, glibc=True)
    flags: List[str] = ["-e", f"NVIDIA_VISIBLE_DEVICES={devices}"]
    for annotation in annotations:
        flags += ["--annotation", annotation]
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "CONTAINERS_CONF": str(tmp_path / "containers.conf")}
    return subprocess.run(["podman", "run", "--rm", "--network=none", "--runtime", str(wrapper), *flags,
                           "--rootfs", str(rootfs), *command], capture_output=True, text=True, env=env,
                          timeout=180, stdin=subprocess.DEVNULL)


def uuids(stdout: str) -> List[str]:
    return [line.split("UUID: ")[1].rstrip(")") for line in nvidia_smi_lines(stdout)]


def test_cdi_mode(tmp_path: Path, installed: Path, sim_driver: SimulatedDriver, low_level: str) -> None:
    gpus = sim_driver.topology.gpus
    def driver_mounts() -> List[str]:  # podman mounts its own storage meanwhile: only ours are judged
        return [m for m in mountinfo() if "/proc/driver" in m or str(sim_driver.root) in m or "nvidia" in m]

    before = driver_mounts()
    out = podman(tmp_path, installed, sim_driver.root, "cdi", low_level, "nvidia.com/gpu=1,2", "nvidia-smi")
    assert out.returncode == 0, out.stderr
    assert uuids(out.stdout) == [gpus[1].uuid, gpus[2].uuid]
    assert driver_mounts() == before


def test_cdi_annotation_wins_over_the_environment(tmp_path: Path, installed: Path, sim_driver: SimulatedDriver,
                                                  low_level: str) -> None:
    out = podman(tmp_path, installed, sim_driver.root, "auto", low_level, "all", "nvidia-smi",
                 annotations=["cdi.k8s.io/nvidia-device-plugin_x=nvidia.com/gpu=3"])
    assert out.returncode == 0, out.stderr
    assert uuids(out.stdout) == [sim_driver.topology.gpus[3].uuid]


def test_jit_cdi_mode(tmp_path: Path, installed: Path, sim_driver: SimulatedDriver, low_level: str) -> None:
    gpus = sim_driver.topology.gpus
    out = podman(tmp_path, installed, sim_driver.root, "jit-cdi", low_level, "4", "nvidia-smi")
    assert out.returncode == 0, out.stderr
    assert uuids(out.stdout) == [gpus[4].uuid]
    out = podman(tmp_path, installed, sim_driver.root, "jit-cdi", low_level, "all", "nvidia-smi")
    assert out.returncode == 0, out.stderr
    assert uuids(out.stdout) == [g.uuid for g in gpus] and out.stdout.count("  MIG ") == 3


def test_refusals_fail_the_container_with_our_line(tmp_path: Path, installed: Path, sim_driver: SimulatedDriver,
                                                   low_level: str) -> None:
    out = podman(tmp_path, installed, sim_driver.root, "cdi", low_level, "vendor.com/x=0", "nvidia-smi")
    assert out.returncode != 0
    assert "nvc-container-runtime: cdi error: refusing CDI device 'vendor.com/x=0' requested by " \
           "NVIDIA_VISIBLE_DEVICES" in out.stderr
    out = podman(tmp_path, installed, sim_driver.root, "csv", low_level, "0", "nvidia-smi")
    assert out.returncode != 0
    assert "nvc-container-runtime: runtime error: mode 'csv' (Tegra/Jetson CSV mount specs) is not supported" \
        in out.stderr
