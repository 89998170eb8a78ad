"""Topology loading and validation, presets, and the MIG minor numbering (no build needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvcontainer.simulate import PRESETS, SimulateError, load_topology
from nvcontainer.simulate.migminors import (
    CONFIG_MINOR,
    MONITOR_MINOR,
    ci_access_minor,
    gi_access_minor,
    mig_minors_text,
)
from nvcontainer.simulate.presets import A100_BUS_IDS, preset_document


def test_dgx_a100_preset() -> None:
    topo = load_topology("dgx-a100")
    assert topo.driver_version == "550.54.15"
    assert topo.nvml_version == "12.550.54.15"
    assert topo.cuda_version == 12040 and topo.cuda_version_string == "12.4"
    assert [g.bus_id for g in topo.gpus] == [f"00000000:{b}:00.0" for b in A100_BUS_IDS]
    assert [g.minor for g in topo.gpus] == list(range(8))
    assert {g.name for g in topo.gpus} == {"NVIDIA A100-SXM4-40GB"}
    assert all(g.pci_device_id == 0x20B010DE and g.pci_subsystem_id == 0x134710DE for g in topo.gpus)
    assert all((g.cc_major, g.cc_minor, g.architecture, g.brand) == (8, 0, 7, 14) for g in topo.gpus)
    assert all(g.memory_total == 42949672960 for g in topo.gpus)
    assert [(m.profile, m.gi, m.ci) for m in topo.gpus[0].migs] == [("3g.20gb", 1, 0), ("2g.10gb", 5, 0),
                                                                    ("1g.5gb", 13, 0)]
    assert all(m.uuid.startswith("MIG-") for m in topo.gpus[0].migs)
    assert topo.gpus[0].max_mig_devices == 7 and not any(g.migs for g in topo.gpus[1:])
    assert len({g.uuid for g in topo.gpus}) == 8


def test_uuids_are_stable() -> None:
    assert load_topology("dgx-a100") == load_topology("dgx-a100")
    assert [g.uuid for g in load_topology("dgx-a100").gpus] == [g.uuid for g in load_topology("dgx-a100-gpu-lost").gpus]


def test_h100_and_fault_presets() -> None:
    h100 = load_topology("dgx-h100-2")
    assert (h100.driver_version, h100.cuda_version, len(h100.gpus)) == ("570.124.06", 12080, 2)
    assert all(g.architecture == 9 and g.cc_major == 9 and not g.mig_enabled for g in h100.gpus)
    assert load_topology("dgx-a100-driver-not-loaded").init_error == 9
    assert load_topology("dgx-a100-rm-mismatch").init_error == 18
    assert load_topology("dgx-a100-no-permission").init_error == 4
    assert [g.lost for g in load_topology("dgx-a100-gpu-lost").gpus] == [i == 3 for i in range(8)]
    assert set(PRESETS) >= {"dgx-a100", "dgx-h100-2"}


def test_topology_file_round_trip(tmp_path: Path) -> None:
    document = preset_document("dgx-a100")
    document["gpus"].reverse()          # any order in the file; kept sorted by bus id
    document["fabricmanager"] = True
    path = tmp_path / "box.json"
    path.write_text(json.dumps(document))
    topo = load_topology(path)
    assert topo.gpus == load_topology("dgx-a100").gpus and topo.fabricmanager
    assert load_topology(str(path)) == topo


@pytest.mark.parametrize("change, message", [
    ({"driver_version": "x"}, "driver_version"),
    ({"init_error": 5}, "init_error"),
    ({"gpus": "none"}, "gpus"),
    ({"gpus": [{"name": "G", "bus_id": "zz"}]}, "bus id"),
])
def test_invalid_documents(tmp_path: Path, change: dict, message: str) -> None:
    document = preset_document("dgx-a100")
    document.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(SimulateError, match=message):
        load_topology(path)


def test_invalid_gpu_entries(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    for mutate, message in [
        (lambda d: d["gpus"][1].update(minor=0), "duplicate GPU minor"),
        (lambda d: d["gpus"][1].update(migs=[{"profile": "1g.5gb", "gi": 1}]), "mig_enabled"),
        (lambda d: d["gpus"][0]["migs"].append({"profile": "3g.20gb", "gi": 1, "ci": 0}), "duplicate MIG"),
        (lambda d: d["gpus"][0]["migs"].append({"profile": "9g.1gb", "gi": 2}), "profile"),
    ]:
        document = preset_document("dgx-a100")
        mutate(document)
        path.write_text(json.dumps(document))
        with pytest.raises(SimulateError, match=message):
            load_topology(path)


def test_unknown_source() -> None:
    with pytest.raises(SimulateError, match="unknown preset or topology file"):
        load_topology("no-such-preset")


def test_mig_minors_numbering_is_consistent() -> None:
    entries = dict(line.rsplit(" ", 1) for line in mig_minors_text().splitlines())
    minors = [int(v) for v in entries.values()]
    assert len(set(minors)) == len(minors) == 2 + 32 * 15 * 9
    assert sorted(minors) == list(range(1, len(minors) + 1))
    assert entries["config"] == str(CONFIG_MINOR) and entries["monitor"] == str(MONITOR_MINOR)
    for gpu in (0, 7, 31):
        for gi in (0, 1, 14):
            assert entries[f"gpu{gpu}/gi{gi}/access"] == str(gi_access_minor(gpu, gi))
            for ci in (0, 7):
                assert entries[f"gpu{gpu}/gi{gi}/ci{ci}/access"] == str(ci_access_minor(gpu, gi, ci))
    assert entries["gpu0/gi0/access"] == "3" and entries["gpu0/gi1/access"] == "12"
