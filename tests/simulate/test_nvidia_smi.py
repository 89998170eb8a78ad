"""The simulated nvidia-smi on the host, in container-like copies of the root, and in a chroot."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, List, Sequence

import pytest

from nvcontainer.simulate import SimGpu, SimulatedDriver
from tests.simulate.helpers import run_smi


def expected_listing(gpus: Sequence[SimGpu]) -> List[str]:
    lines = []
    for index, gpu in enumerate(gpus):
        lines.append(f"GPU {index}: {gpu.name} (UUID: {gpu.uuid})")
        for slot, mig in enumerate(gpu.migs):
            lines.append(f"  MIG {mig.name:<11} Device {slot:2d}: (UUID: {mig.uuid})")
    return lines


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100-mig"])
def test_lists_gpus_and_migs(build_sim: Any, preset: str) -> None:
    driver = build_sim(preset=preset)
    for args in ((), ("-L",)):
        result = run_smi(driver.root, driver.lib_dir, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines() == expected_listing(driver.topology.gpus)


def test_rhel_layout(sim_driver_rhel: SimulatedDriver) -> None:
    result = run_smi(sim_driver_rhel.root, sim_driver_rhel.lib_dir)
    assert result.stdout.splitlines() == expected_listing(sim_driver_rhel.topology.gpus)


def test_version(build_sim: Any) -> None:
    driver = build_sim(preset="dgx-h100-2")
    result = run_smi(driver.root, driver.lib_dir, "--version")
    assert f"DRIVER version      : {driver.topology.driver_version}" in result.stdout
    assert f"CUDA Version        : {driver.topology.cuda_version_string}" in result.stdout
    assert run_smi(driver.root, driver.lib_dir).stdout.splitlines() == expected_listing(driver.topology.gpus)


def test_init_failures(build_sim: Any) -> None:
    for preset, needle in [("dgx-a100-driver-not-loaded", "couldn't communicate with the NVIDIA driver"),
                           ("dgx-a100-rm-mismatch", "Failed to initialize NVML: RM has detected"),
                           ("dgx-a100-no-permission", "Failed to initialize NVML: Insufficient Permissions")]:
        driver = build_sim(preset=preset)
        result = run_smi(driver.root, driver.lib_dir)
        assert result.returncode == driver.topology.init_error and needle in result.stdout, preset


def test_lost_gpu_is_reported(build_sim: Any) -> None:
    driver = build_sim(preset="dgx-a100-gpu-lost")
    lines = run_smi(driver.root, driver.lib_dir).stdout.splitlines()
    lost = [i for i, g in enumerate(driver.topology.gpus) if g.lost]
    assert [line for line in lines if "GPU is lost" in line] == [
        f"Unable to determine the device handle for GPU{i}: GPU is lost" for i in lost]


def test_container_like_missing_device_node(sim_driver: SimulatedDriver, copy_root: Any) -> None:
    """A GPU whose /dev/nvidiaN is absent is invisible; indexes renumber."""
    root = copy_root(sim_driver)
    hidden = sim_driver.topology.gpus[2]
    os.unlink(root / f"dev/nvidia{hidden.minor}")
    lib_dir = root / sim_driver.lib_dir.relative_to(sim_driver.root)
    remaining = [g for g in sim_driver.topology.gpus if g != hidden]
    assert run_smi(root, lib_dir).stdout.splitlines() == expected_listing(remaining)


def test_container_like_missing_proc_dir(sim_driver: SimulatedDriver, copy_root: Any) -> None:
    root = copy_root(sim_driver)
    hidden = sim_driver.topology.gpus[0]
    shutil.rmtree(root / f"proc/driver/nvidia/gpus/{hidden.proc_bus_id}")
    lib_dir = root / sim_driver.lib_dir.relative_to(sim_driver.root)
    result = run_smi(root, lib_dir)
    assert result.stdout.splitlines() == expected_listing(sim_driver.topology.gpus[1:])
    assert hidden.uuid not in result.stdout


def test_wrong_device_numbers_hide_the_gpu(sim_driver: SimulatedDriver, copy_root: Any) -> None:
    root = copy_root(sim_driver)
    hidden = sim_driver.topology.gpus[-1]
    node = root / f"dev/nvidia{hidden.minor}"
    os.unlink(node)
    os.mknod(node, 0o20666, os.makedev(1, 3))   # /dev/null's numbers
    lib_dir = root / sim_driver.lib_dir.relative_to(sim_driver.root)
    assert run_smi(root, lib_dir).stdout.splitlines() == expected_listing(sim_driver.topology.gpus[:-1])


def test_malformed_files_mean_no_driver(sim_driver: SimulatedDriver, copy_root: Any) -> None:
    root = copy_root(sim_driver)
    (root / "proc/driver/nvidia/version").write_bytes(b"\x00garbage" * 3000)
    info = root / f"proc/driver/nvidia/gpus/{sim_driver.topology.gpus[1].proc_bus_id}/simulated"
    info.write_text("Brand: nope\n")
    lib_dir = root / sim_driver.lib_dir.relative_to(sim_driver.root)
    assert run_smi(root, lib_dir).returncode == 9
    (root / "proc/driver/nvidia/version").write_text(sim_driver.path("/proc/driver/nvidia/version").read_text())
    gpus = [g for i, g in enumerate(sim_driver.topology.gpus) if i != 1]
    assert run_smi(root, lib_dir).stdout.splitlines() == expected_listing(gpus)


def test_inside_chroot(sim_driver: SimulatedDriver, copy_root: Any) -> None:
    """Root discovery yields "/" inside a chroot; the ld cache picks the driver's libnvidia-ml."""
    root = copy_root(sim_driver)
    libc_dir = Path("/lib/x86_64-linux-gnu")
    (root / "lib64").mkdir(exist_ok=True)
    shutil.copy2("/lib64/ld-linux-x86-64.so.2", root / "lib64/ld-linux-x86-64.so.2")
    target = root / sim_driver.lib_dir.relative_to(sim_driver.root)
    shutil.copy2(libc_dir / "libc.so.6", target / "libc.so.6")
    subprocess.run(["ldconfig", "-r", str(root)], check=True, capture_output=True)
    def enter() -> None:
        os.chroot(root)
        os.chdir("/")

    result = subprocess.run(["/usr/bin/nvidia-smi"], capture_output=True, text=True, env={"PATH": "/usr/bin"},
                            preexec_fn=enter, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == expected_listing(sim_driver.topology.gpus)


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100-mig"])
def test_32bit_nvml(build_sim: Any, tmp_path: Path, preset: str) -> None:
    """The i386 libnvidia-ml reads the same topology: a 32-bit nvidia-smi linked against it agrees."""
    from nvcontainer.simulate.compiler import CSRC

    sim_driver: SimulatedDriver = build_sim(preset=preset)
    assert sim_driver.lib32_dir is not None
    smi32 = tmp_path / "nvidia-smi-32"
    version = sim_driver.topology.driver_version
    subprocess.run(["gcc", "-m32", "-I", str(CSRC), "-o", str(smi32), str(CSRC / "nvidia_smi.c"),
                    f"-L{sim_driver.lib32_dir}", f"-l:libnvidia-ml.so.{version}"], check=True)
    result = subprocess.run([str(smi32)], capture_output=True, text=True, check=False,
                            env={"LD_LIBRARY_PATH": str(sim_driver.lib32_dir)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == expected_listing(sim_driver.topology.gpus)
