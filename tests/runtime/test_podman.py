"""podman runs our shim as its OCI runtime (``create --bundle B --pid-file P ID``, ``start``,
``delete --force``): the shim adds the hook, execs runc, and the container sees GPUs 0 and 2.

conmon passes the runtime only PATH, HOME and XDG_RUNTIME_DIR, so podman's own environment cannot
point the shim at the test's config.toml; on a host that file is /etc/nvidia-container-runtime/
config.toml.  The tests do not write /etc: ``--runtime`` is a two-line wrapper that sets
NVIDIA_CTK_CONFIG_FILE_PATH and execs the installed shim with podman's argv unchanged."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from nvcontainer.simulate import SimulatedDriver
from tests.containers import make_rootfs, mountinfo
from tests.hook.helpers import SHIM, make_payloads, nvidia_smi_lines, write_config

CONTAINERS_CONF = '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'


def podman(tmp_path: Path, sim_root: Path, env: Dict[str, str], *command: str) -> subprocess.CompletedProcess:
    conf = tmp_path / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    config = write_config(tmp_path / "config.toml", sim_root)
    rootfs = tmp_path / "rootfs"
    if not rootfs.exists():
        make_rootfs(rootfs, glibc=True)
    runtime = tmp_path / "nvc-runtime-with-config"
    runtime.write_text(f'#!/bin/sh\nNVIDIA_CTK_CONFIG_FILE_PATH={config} exec {SHIM} "$@"\n')
    runtime.chmod(0o755)
    flags: List[str] = []
    for key, value in env.items():
        flags += ["-e", f"{key}={value}"]
    engine_env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                  "CONTAINERS_CONF": str(conf)}
    return subprocess.run(["podman", "run", "--rm", "--network=none", "--runtime", str(runtime), *flags,
                           "--rootfs", str(rootfs), *command], capture_output=True, text=True, env=engine_env,
                          timeout=180, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def podman_graph_root() -> str:
    """Where podman keeps its store; its overlay driver bind-mounts that home on itself while a store
    is open and unmounts it when the last user goes, so those lines come and go with podman, not us."""
    out = subprocess.run(["podman", "info", "--format", "{{.Store.GraphRoot}}"], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0 and out.stdout.strip(), out.stderr
    return out.stdout.strip()


def host_mounts_but_podmans(graph_root: str) -> List[str]:
    """The host's mount table without podman's own store mounts."""
    return [line for line in mountinfo() if not (line.split()[1] + "/").startswith(graph_root + "/")]


def test_podman_gets_gpus_0_and_2(podman_graph_root: str, sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    gpus = sim_driver.topology.gpus
    before = host_mounts_but_podmans(podman_graph_root)
    out = podman(tmp_path, sim_driver.root, {"NVIDIA_VISIBLE_DEVICES": "0,2"}, "nvidia-smi")
    assert out.returncode == 0, out.stderr
    assert nvidia_smi_lines(out.stdout) == [f"GPU 0: {gpus[0].name} (UUID: {gpus[0].uuid})",
                                            f"GPU 1: {gpus[2].name} (UUID: {gpus[2].uuid})"]
    assert host_mounts_but_podmans(podman_graph_root) == before


def test_podman_without_gpus_is_untouched(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    out = podman(tmp_path, sim_driver.root, {}, "/bin/sh", "-c", "ls /dev")
    assert out.returncode == 0, out.stderr
    assert "nvidia" not in out.stdout


def test_podman_unknown_gpu_fails_with_our_line(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    out = podman(tmp_path, sim_driver.root, {"NVIDIA_VISIBLE_DEVICES": "42"}, "nvidia-smi")
    assert out.returncode != 0
    assert "nvc-cli: device error: 42: unknown device" in out.stderr


def test_podman_image_env_cannot_reach_the_hook(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    marker = tmp_path / "owned"
    payloads = make_payloads(tmp_path / "payloads", marker)
    out = podman(tmp_path, sim_driver.root, {"NVIDIA_VISIBLE_DEVICES": "1", **payloads}, "nvidia-smi")
    assert out.returncode == 0, out.stderr
    assert len(nvidia_smi_lines(out.stdout)) == 1
    assert not marker.exists()
