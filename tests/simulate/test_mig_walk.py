"""nvidia-ml-py walks the whole MIG tree of simulated roots (profiles -> GPU instances -> compute
instances -> MIG device handles) and every value and return code must be what the topology implies."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict

import pytest

from nvcontainer.simulate import SimulatedDriver
from tests.simulate.helpers import NVLIB_SEQUENCE, run_nvml_script, walk_mig
from tests.simulate.mig_expect import expected_walk

MIB, GIB = 1024**2, 1024**3
# How go-nvlib names a MIG profile (pkg/nvlib/device/mig_profile.go): compute and GPU slices from the
# NVML profile indexes, memory as the parent's memory share rounded up to an eighth, +me for REV1.
NVLIB_GI_SLICES = {0: 1, 7: 1, 9: 1, 1: 2, 2: 3, 3: 4, 4: 7}
NVLIB_CI_SLICES = {0: 1, 1: 2, 2: 3, 3: 4, 4: 7}


def _gpu(name: str, bus: str, memory: int, **extra: Any) -> Dict[str, Any]:
    gpu = {"name": name, "bus_id": f"00000000:{bus}:00.0", "compute_capability": "8.0", "architecture": 7,
           "pci_device_id": "0x20B210DE", "memory_total": memory}
    gpu.update(extra)
    return gpu


TOPOLOGIES: Dict[str, Dict[str, Any]] = {
    # A 7g.80gb GPU instance split in three compute instances, and a MIG-enabled GPU with none yet.
    "a100-80gb": {"driver_version": "550.54.15", "cuda_version": 12040, "gpus": [
        _gpu("NVIDIA A100-SXM4-80GB", "07", 80 * GIB, mig_enabled=True, migs=[
            {"profile": "3c.7g.80gb", "gi": 0, "ci": 0},
            {"profile": "2c.7g.80gb", "gi": 0, "ci": 1},
            {"profile": "1c.7g.80gb", "gi": 0, "ci": 2, "uuid": "MIG-11111111-2222-3333-4444-555555555555"},
        ]),
        _gpu("NVIDIA A100-SXM4-80GB", "0F", 80 * GIB, mig_enabled=True),
    ]},
    # Not MIG-capable (Ada), MIG-capable without a profile table here, MIG capability overridden off.
    "mixed-capability": {"driver_version": "550.54.15", "cuda_version": 12040, "gpus": [
        _gpu("NVIDIA L4", "01", 24 * GIB, compute_capability="8.9", architecture=8, pci_device_id="0x27B810DE"),
        _gpu("NVIDIA A30", "02", 24 * GIB, pci_device_id="0x20B710DE"),
        _gpu("NVIDIA A100-PCIE-40GB", "03", 40 * GIB, pci_device_id="0x20F110DE", mig_capable=False),
    ]},
}


@pytest.fixture(scope="module")
def topology_files(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    directory = tmp_path_factory.mktemp("mig-topologies")
    paths = {}
    for name, document in TOPOLOGIES.items():
        paths[name] = directory / f"{name}.json"
        paths[name].write_text(json.dumps(document))
    return paths


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100-mig", "dgx-h100-2"])
def test_walk_matches_the_preset(build_sim, preset: str) -> None:  # type: ignore[no-untyped-def]
    driver = build_sim(preset=preset)
    got = walk_mig(driver, driver.lib_dir)
    assert got == expected_walk(driver.topology)


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_walk_matches_a_topology_file(build_sim, topology_files: Dict[str, Path], name: str) -> None:  # type: ignore[no-untyped-def]
    driver = build_sim(preset=name, topology=topology_files[name])
    assert walk_mig(driver, driver.lib_dir) == expected_walk(driver.topology)


def test_the_walk_sees_what_the_topology_promises(build_sim) -> None:  # type: ignore[no-untyped-def]
    """Spot checks against the real H100-80GB table, independent of the expectation builder."""
    driver = build_sim(preset="dgx-h100-mig")
    gpus = walk_mig(driver, driver.lib_dir)["gpus"]
    names = [row[4]["name"] for row in gpus[0]["gi_profiles"] if row[3] == 0]
    assert names == ["MIG 1g.10gb", "MIG 2g.20gb", "MIG 3g.40gb", "MIG 4g.40gb", "MIG 7g.80gb", "MIG 1g.10gb+me",
                     "MIG 1g.20gb"]
    assert [row[4]["id"] for row in gpus[0]["gi_profiles"] if row[3] == 0] == [19, 14, 9, 5, 0, 20, 15]
    assert [m["name"].split(" MIG ")[1] for m in gpus[0]["migs"] if m["rc"] == 0] == [
        "2c.4g.40gb", "1c.4g.40gb", "2g.20gb", "1g.10gb"]
    assert dict((r[0], r[2]) for r in gpus[1]["remaining"] if r[1] == 0) == {0: 0, 5: 0, 9: 0, 14: 0, 15: 0,
                                                                            19: 1, 20: 0}
    assert gpus[2]["mig_mode"] == [0, [0, 0]] and gpus[2]["mig_by_index_0"] == 2
    assert {r[1] for r in gpus[2]["gi_profiles"]} == {3}


def _hide(root: Path, rel: str) -> None:
    os.unlink(root / rel.lstrip("/"))


def test_a_container_sees_only_its_instances(build_sim, copy_root: Any) -> None:  # type: ignore[no-untyped-def]
    """Without a GPU instance's access file its GPU instance and MIG devices vanish; without a compute
    instance's, only that compute instance; capacity still counts what the process cannot see."""
    driver = build_sim(preset="dgx-h100-mig")
    root = copy_root(driver)
    gpu0, gpu1 = driver.topology.gpus[0], driver.topology.gpus[1]
    _hide(root, f"/proc/driver/nvidia/capabilities/gpu{gpu0.minor}/mig/gi1/ci1/access")
    _hide(root, f"/proc/driver/nvidia/capabilities/gpu{gpu1.minor}/mig/gi2/access")
    got = walk_mig(driver, root / driver.lib_dir.relative_to(driver.root))
    assert got == expected_walk(driver.topology, hidden_gis={1: {2}}, hidden_cis={0: {(1, 1)}})
    assert len([m for m in got["gpus"][0]["migs"] if m["rc"] == 0]) == len(gpu0.migs) - 1


def nvlib_name(row: Dict[str, Any]) -> str:
    g, c = NVLIB_GI_SLICES[row["gi_profile"]], NVLIB_CI_SLICES[row["ci_profile"]]
    share = math.ceil(row["memory_mib"] * MIB / row["parent_total"] * 8) / 8
    gb = int(share * math.ceil(row["parent_total"] / GIB) + 0.5)
    suffix = "+me" if row["gi_profile"] == 7 else ""
    return f"{g}g.{gb}gb{suffix}" if c == g else f"{c}c.{g}g.{gb}gb{suffix}"


@pytest.mark.parametrize("source", ["dgx-a100", "dgx-h100-mig", "a100-80gb"])
def test_nvidia_tools_resolve_every_mig_device_to_its_profile(build_sim, topology_files: Dict[str, Path],  # type: ignore[no-untyped-def]
                                                              source: str) -> None:
    """The call sequence nvidia-ctk and the device plugin use (go-nvlib's MigDevice.GetProfile) finds
    each MIG device's GPU-instance and compute-instance profile, and names it as the topology does."""
    driver: SimulatedDriver = build_sim(preset=source, topology=topology_files.get(source))
    rows = run_nvml_script(driver, driver.lib_dir, NVLIB_SEQUENCE)
    migs = [m for gpu in driver.topology.gpus for m in gpu.migs]
    assert [r["uuid"] for r in rows] == [m.uuid for m in migs]
    assert [(r["gi_profile"], r["ci_profile"], r["engine_profile"]) for r in rows] == [
        (m.gi_profile.index, m.ci_profile.index, 0) for m in migs]
    assert [nvlib_name(r) for r in rows] == [m.name for m in migs]
