"""The MIG parts of a built root as a real host has them: a capabilities tree for every MIG-capable GPU,
nvidia-caps nodes derived from the capability files, and the loaded modules in /proc/modules."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from nvcontainer.simulate import SimulatedDriver

CAPS = "proc/driver/nvidia/capabilities"


def _fields(path: Path) -> Dict[str, str]:
    return dict(line.split(": ", 1) for line in path.read_text().splitlines())


def _char_major(root: Path, name: str) -> int:
    chars = (root / "proc/devices").read_text().split("Block devices:")[0]
    return next(int(line.split()[0]) for line in chars.splitlines()[1:] if line.split()[1:] == [name])


def _mig_minors_key(rel: str) -> str:
    """mig-minors' name of a capability file: mig/config -> config, gpu0/mig/gi1/access -> gpu0/gi1/access."""
    return rel.replace("/mig/", "/", 1) if rel.startswith("gpu") else rel.split("/")[-1]


def _capability_files(root: Path) -> List[Path]:
    return sorted(p for p in (root / CAPS).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory: pytest.TempPathFactory, build_sim) -> SimulatedDriver:  # type: ignore[no-untyped-def]
    document = {"driver_version": "550.54.15", "cuda_version": 12040, "gpus": [
        {"name": "NVIDIA L4", "bus_id": "00000000:01:00.0", "minor": 3, "compute_capability": "8.9",
         "architecture": 8, "pci_device_id": "0x27B810DE", "memory_total": 24 * 1024**3},
        {"name": "NVIDIA A100-SXM4-40GB", "bus_id": "00000000:02:00.0", "minor": 5, "compute_capability": "8.0",
         "architecture": 7, "pci_device_id": "0x20B010DE", "memory_total": 40 * 1024**3},
    ]}
    path = tmp_path_factory.mktemp("mixed") / "mixed.json"
    path.write_text(json.dumps(document))
    driver: SimulatedDriver = build_sim(preset="mixed", topology=path)
    return driver


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100-2", "dgx-h100-mig"])
def test_every_mig_capable_gpu_has_its_tree(build_sim, preset: str) -> None:  # type: ignore[no-untyped-def]
    driver = build_sim(preset=preset)
    dirs = sorted(p.name for p in driver.path(f"/{CAPS}").iterdir() if p.name.startswith("gpu"))
    assert dirs == sorted(f"gpu{g.minor}" for g in driver.topology.gpus if g.mig_capable)
    for gpu in driver.topology.gpus:
        mig_dir = driver.path(f"/{CAPS}/gpu{gpu.minor}/mig")
        assert mig_dir.is_dir()
        assert sorted(p.name for p in mig_dir.iterdir()) == sorted({f"gi{m.gi}" for m in gpu.migs})
        for gi in {m.gi for m in gpu.migs}:
            assert sorted(p.name for p in (mig_dir / f"gi{gi}").iterdir()) == sorted(
                ["access"] + [f"ci{m.ci}" for m in gpu.migs if m.gi == gi])


def test_no_tree_for_a_gpu_that_is_not_mig_capable(mixed_root: SimulatedDriver) -> None:
    assert sorted(p.name for p in mixed_root.path(f"/{CAPS}").iterdir()) == ["gpu5", "mig"]
    assert mixed_root.path(f"/{CAPS}/gpu5/mig").is_dir()


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100-mig", "dgx-h100-2"])
def test_caps_nodes_are_derived_from_the_capability_files(build_sim, preset: str) -> None:  # type: ignore[no-untyped-def]
    """As a tool that makes /dev/nvidia-caps from the access files would: every file's DeviceFileMinor
    and DeviceFileMode, under the nvidia-caps major of /proc/devices, and nothing else."""
    driver = build_sim(preset=preset)
    major = _char_major(driver.root, "nvidia-caps")
    minors = dict(line.rsplit(" ", 1) for line in
                  driver.path("/proc/driver/nvidia-caps/mig-minors").read_text().splitlines())
    expected: Dict[str, Tuple[int, int, int]] = {}
    for path in _capability_files(driver.root):
        fields = _fields(path)
        rel = str(path.relative_to(driver.path(f"/{CAPS}")))
        assert minors[_mig_minors_key(rel)] == fields["DeviceFileMinor"], rel
        expected[f"nvidia-cap{fields['DeviceFileMinor']}"] = (major, int(fields["DeviceFileMinor"]),
                                                              int(fields["DeviceFileMode"]))
    assert len(expected) == 2 + sum(len({m.gi for m in g.migs}) + len(g.migs) for g in driver.topology.gpus)
    nodes = driver.path("/dev/nvidia-caps")
    assert sorted(os.listdir(nodes)) == sorted(expected)
    for name, (want_major, want_minor, want_mode) in expected.items():
        st = os.lstat(nodes / name)
        assert stat.S_ISCHR(st.st_mode)
        assert (os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode)) == (
            want_major, want_minor, want_mode), name


def _loaded_modules(root: Path) -> List[str]:
    """What nvidia-modprobe's is_kernel_module_loaded compares: the first word of each line."""
    lines = (root / "proc/modules").read_text().splitlines()
    assert all(len(line.split()) in (6, 7) and line.split()[4] == "Live" for line in lines)
    return [line.split()[0] for line in lines]


def test_proc_modules_of_a_loaded_driver(sim_driver: SimulatedDriver) -> None:
    modules = _loaded_modules(sim_driver.root)
    assert {"nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm"} <= set(modules)
    users = {line.split()[0]: line.split()[3] for line in sim_driver.path("/proc/modules").read_text().splitlines()}
    assert set(users["nvidia"].rstrip(",").split(",")) == {"nvidia_uvm", "nvidia_modeset"}


def test_proc_modules_without_the_driver(build_sim) -> None:  # type: ignore[no-untyped-def]
    driver = build_sim(preset="dgx-a100-driver-not-loaded")
    modules = _loaded_modules(driver.root)
    assert modules and not any(name.startswith("nvidia") for name in modules)
    assert all("nvidia" not in line for line in driver.path("/proc/modules").read_text().splitlines())
