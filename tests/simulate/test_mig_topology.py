"""MIG in the topology format: capability and profile tables from the model, the real profile tables,
and the validation of GPU instances and compute instances (no build needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

from nvcontainer.simulate import SimulateError, load_topology
from nvcontainer.simulate.migprofiles import A100_40GB, A100_80GB, H100_80GB, MIG_PROFILE_TABLES
from nvcontainer.simulate.presets import preset_document

GIB = 1024**3


def _load(tmp_path: Path, document: Dict[str, Any]):  # type: ignore[no-untyped-def]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document))
    return load_topology(path)


def _one_gpu(name: str, memory_gib: int, **extra: Any) -> Dict[str, Any]:
    gpu = {"name": name, "bus_id": "00000000:07:00.0", "compute_capability": "8.0", "architecture": 7,
           "pci_device_id": "0x20B010DE", "memory_total": memory_gib * GIB}
    gpu.update(extra)
    return {"driver_version": "550.54.15", "cuda_version": 12040, "gpus": [gpu]}


@pytest.mark.parametrize("name, memory, capable, table", [
    ("NVIDIA A100-SXM4-40GB", 40, True, "a100-40gb"),
    ("NVIDIA A100-PCIE-40GB", 40, True, "a100-40gb"),
    ("NVIDIA A100-SXM4-80GB", 80, True, "a100-80gb"),
    ("NVIDIA A100 80GB PCIe", 80, True, "a100-80gb"),
    ("NVIDIA H100 80GB HBM3", 80, True, "h100-80gb"),
    ("NVIDIA H100 NVL", 94, True, None),
    ("NVIDIA A30", 24, True, None),
    ("NVIDIA H200", 141, True, None),
    ("NVIDIA L4", 24, False, None),
    ("Tesla V100-SXM2-16GB", 16, False, None),
    ("NVIDIA A10", 24, False, None),
])
def test_capability_and_table_follow_the_model(tmp_path: Path, name: str, memory: int, capable: bool,
                                               table: Any) -> None:
    gpu = _load(tmp_path, _one_gpu(name, memory)).gpus[0]
    assert gpu.mig_capable is capable
    assert (gpu.mig_profiles.name if gpu.mig_profiles else None) == table
    assert not gpu.mig_enabled and gpu.migs == () and gpu.max_mig_devices == 0


def test_capability_and_table_can_be_overridden(tmp_path: Path) -> None:
    off = _load(tmp_path, _one_gpu("NVIDIA A100-SXM4-40GB", 40, mig_capable=False)).gpus[0]
    assert not off.mig_capable and off.mig_profiles is None
    on = _load(tmp_path, _one_gpu("Prototype GPU", 80, mig_capable=True, mig_profiles="h100-80gb")).gpus[0]
    assert on.mig_capable and on.mig_profiles == H100_80GB
    bare = _load(tmp_path, _one_gpu("NVIDIA A100-SXM4-40GB", 40, mig_profiles=None)).gpus[0]
    assert bare.mig_capable and bare.mig_profiles is None


def test_real_profile_tables() -> None:
    """nvidia-smi mig -lgip of the real GPUs: profile ids, slices, instances, SMs, memory, placements."""
    def rows(table):  # type: ignore[no-untyped-def]
        return [(p.name, p.id, p.slices, p.instances, p.sm_count, p.memory_mib) for p in table.profiles]

    assert rows(A100_40GB) == [("1g.5gb", 19, 1, 7, 14, 4864), ("2g.10gb", 14, 2, 3, 28, 9856),
                               ("3g.20gb", 9, 3, 2, 42, 19968), ("4g.20gb", 5, 4, 1, 56, 19968),
                               ("7g.40gb", 0, 7, 1, 98, 40192), ("1g.5gb+me", 20, 1, 1, 14, 4864),
                               ("1g.10gb", 15, 1, 4, 14, 9856)]
    assert [r[0] for r in rows(A100_80GB)] == ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb", "1g.10gb+me",
                                               "1g.20gb"]
    assert rows(H100_80GB) == [("1g.10gb", 19, 1, 7, 16, 9984), ("2g.20gb", 14, 2, 3, 32, 20096),
                               ("3g.40gb", 9, 3, 2, 60, 40448), ("4g.40gb", 5, 4, 1, 64, 40448),
                               ("7g.80gb", 0, 7, 1, 132, 81152), ("1g.10gb+me", 20, 1, 1, 16, 9984),
                               ("1g.20gb", 15, 1, 4, 26, 20096)]
    assert [p.index for p in H100_80GB.profiles] == [0, 1, 2, 3, 4, 7, 9]
    placements = {p.name: (p.starts, p.placement_size) for p in A100_40GB.profiles}
    assert placements == {"1g.5gb": ((0, 1, 2, 3, 4, 5, 6), 1), "1g.5gb+me": ((0, 1, 2, 3, 4, 5, 6), 1),
                          "1g.10gb": ((0, 2, 4, 6), 2), "2g.10gb": ((0, 2, 4), 2), "3g.20gb": ((0, 4), 4),
                          "4g.20gb": ((0,), 4), "7g.40gb": ((0,), 8)}
    for table in MIG_PROFILE_TABLES.values():
        for p in table.profiles:
            assert len(p.starts) == p.instances or p.name.endswith("+me")
            # GPU-instance ids are the driver's swizzle ids: whole 0, halves 1-2, quarters 3-6, eighths 7-14.
            assert [p.gpu_instance_id(s) for s in p.starts] == [8 // p.placement_size - 1 + s // p.placement_size
                                                                for s in p.starts]


def test_compute_instance_profiles() -> None:
    seven = H100_80GB.by_name("7g.80gb")
    assert seven is not None
    assert [(c.name, c.index, c.instances, c.sm_count, c.starts) for c in seven.compute_profiles] == [
        ("1c.7g.80gb", 0, 7, 16, (0, 1, 2, 3, 4, 5, 6)), ("2c.7g.80gb", 1, 3, 32, (0, 2, 4)),
        ("3c.7g.80gb", 2, 2, 48, (0, 4)), ("4c.7g.80gb", 3, 1, 64, (0,)), ("7g.80gb", 4, 1, 132, (0,))]
    four = A100_40GB.by_name("4g.20gb")
    assert four is not None and [c.name for c in four.compute_profiles] == ["1c.4g.20gb", "2c.4g.20gb", "4g.20gb"]
    three = A100_40GB.by_name("3g.20gb")
    assert three is not None and [(c.name, c.starts) for c in three.compute_profiles] == [
        ("1c.3g.20gb", (0, 1, 2)), ("2c.3g.20gb", (0,)), ("3g.20gb", (0,))]


def test_mig_devices_are_laid_out_and_sorted(tmp_path: Path) -> None:
    migs = [{"profile": "1c.3g.20gb", "gi": 2, "ci": 1}, {"profile": "2c.3g.20gb", "gi": 2, "ci": 0},
            {"profile": "1c.4g.20gb", "gi": 1, "ci": 3, "ci_start": 3}]
    gpu = _load(tmp_path, _one_gpu("NVIDIA A100-SXM4-40GB", 40, mig_enabled=True, migs=migs)).gpus[0]
    assert [(m.gi, m.ci, m.name, m.gi_start, m.ci_start) for m in gpu.migs] == [
        (1, 3, "1c.4g.20gb", 0, 3), (2, 0, "2c.3g.20gb", 4, 0), (2, 1, "1c.3g.20gb", 4, 2)]
    m = gpu.migs[1]
    assert (m.profile, m.memory_total, m.gi_slices, m.ci_slices, m.sm_count) == ("3g.20gb", 19968 << 20, 3, 2, 28)


def _mig(*migs: Dict[str, Any]) -> Callable[[Dict[str, Any]], None]:
    def mutate(document: Dict[str, Any]) -> None:
        document["gpus"][0]["migs"] = list(migs)

    return mutate


def _gpu_update(**changes: Any) -> Callable[[Dict[str, Any]], None]:
    def mutate(document: Dict[str, Any]) -> None:
        document["gpus"][0].update(changes)

    return mutate


@pytest.mark.parametrize("mutate, message", [
    (_mig({"profile": "2g.20gb", "gi": 3}), "no MIG profile '2g.20gb' in table a100-40gb"),
    (_mig({"profile": "3c.4g.20gb", "gi": 1}), "no compute instance profile '3c.4g.20gb'"),
    (_mig({"profile": "1c.1g.5gb", "gi": 7}), "no compute instance profile '1c.1g.5gb'"),
    (_mig({"profile": "MIG 1g.5gb", "gi": 7}), "invalid MIG profile"),
    (_mig({"profile": "3g.20gb", "gi": 3}), r"GPU instance id 3 is not a placement of 3g.20gb \(ids: 1, 2\)"),
    (_mig({"profile": "3g.20gb", "gi": 1}, {"profile": "2g.10gb", "gi": 4}), "GPU instances 1 and 4 overlap"),
    (_mig({"profile": "3g.20gb", "gi": 1}, {"profile": "2c.4g.20gb", "gi": 1, "ci": 1}), "already a 3g.20gb"),
    (_mig({"profile": "1g.5gb+me", "gi": 7}, {"profile": "1g.5gb+me", "gi": 8}), "more than 1 1g.5gb\\+me"),
    (_mig({"profile": "2c.3g.20gb", "gi": 1}, {"profile": "2c.3g.20gb", "gi": 1, "ci": 1}), "does not fit"),
    (_mig({"profile": "1c.3g.20gb", "gi": 1, "ci_start": 5}), "ci_start 5 is not a placement"),
    (_mig({"profile": "3g.20gb", "gi": 1, "memory_total": 1}), "'memory_total' is not accepted"),
    (_mig({"profile": "3g.20gb", "gi": 1, "sm_count": 1}), "'sm_count' is not accepted"),
    (_mig({"profile": "3g.20gb", "gi": 1, "ci": 8}), "'ci' must be an integer from 0 to 7"),
    (_mig({"profile": "3g.20gb", "gi": 1, "uuid": "MIG x"}), "'uuid' must be"),
    (_gpu_update(mig_profiles="a100-20gb"), "'mig_profiles' must be one of"),
    (_gpu_update(minor=40), "a MIG-capable GPU needs a minor below 32"),
])
def test_invalid_mig_layouts(tmp_path: Path, mutate: Callable[[Dict[str, Any]], None], message: str) -> None:
    document = preset_document("dgx-a100")
    mutate(document)
    with pytest.raises(SimulateError, match=message):
        _load(tmp_path, document)


@pytest.mark.parametrize("gpu, message", [
    (dict(name="NVIDIA L4", mig_enabled=True), "'mig_enabled' on a GPU that is not MIG-capable"),
    (dict(name="NVIDIA L4", mig_profiles="a100-40gb"), "'mig_profiles' given for a GPU that is not MIG-capable"),
    (dict(name="NVIDIA A30", mig_enabled=True, migs=[{"profile": "1g.6gb", "gi": 7}]), "no MIG profile table"),
])
def test_invalid_mig_capability(tmp_path: Path, gpu: Dict[str, Any], message: str) -> None:
    with pytest.raises(SimulateError, match=message):
        _load(tmp_path, _one_gpu(memory_gib=24, **gpu))


def test_mig_capable_gpus_of_the_presets() -> None:
    assert all(g.mig_capable and not g.migs for g in load_topology("dgx-a100").gpus[1:])
    assert all(g.mig_capable and not g.mig_enabled for g in load_topology("dgx-h100-2").gpus)
    h100 = load_topology("dgx-h100-mig")
    assert [(g.mig_capable, g.mig_enabled) for g in h100.gpus] == [(True, True), (True, True), (True, False)]
    names = {m.name for g in h100.gpus for m in g.migs}
    assert names == {"2c.4g.40gb", "1c.4g.40gb", "2g.20gb", "1g.10gb", "2c.3g.40gb", "1c.3g.40gb", "1g.20gb",
                     "1g.10gb+me"}
    assert {g.mig_profiles for g in h100.gpus} == {H100_80GB}
