"""auto:N: which units are candidates, the order they are picked in, and the parsing of the spec."""

from __future__ import annotations

from typing import Any, List

import pytest

from nvcontainer.allocation import Allocation, Owner, Unit, auto_count, auto_request, candidates, resolve_devices
from nvcontainer.allocation.picking import choose, rank
from nvcontainer.container import Request, make_plan
from nvcontainer.errors import DeviceError
from tests.allocation.conftest import EXPECTED_ORDER, GIB, USAGE
from tests.containers import make_rootfs


def uuids(driver: Any, indices: List[int]) -> str:
    return ",".join(driver.gpus[i].uuid for i in indices)


def test_topology_numbers_reach_the_driver_snapshot(varied_driver) -> None:
    for gpu in varied_driver.gpus:
        used, util = USAGE[gpu.index]
        assert gpu.memory_used == used * GIB and gpu.memory_free == (40 - used) * GIB
        assert gpu.utilization_gpu == util and not gpu.mig_enabled


def test_rank_by_free_memory_then_utilisation_then_index(varied_driver) -> None:
    ranked = rank(candidates(varied_driver))
    assert [c.unit.label for c in ranked] == [str(i) for i in EXPECTED_ORDER]


@pytest.mark.parametrize("spec, expect", [
    ("auto", EXPECTED_ORDER[:1]), ("auto:1", EXPECTED_ORDER[:1]), ("AUTO:3", EXPECTED_ORDER[:3]),
    (["auto:8"], EXPECTED_ORDER),
])
def test_auto_picks_the_best(varied_driver, spec, expect) -> None:
    assert resolve_devices(varied_driver, spec) == uuids(varied_driver, expect)


def test_auto_skips_held_gpus_and_spreads_shared(varied_driver) -> None:
    g = varied_driver.gpus
    excl = Allocation(Owner(1, 1, "a"), (Unit(g[5].uuid, "5"),), "exclusive", "2024-01-01T00:00:00Z")
    shared = Allocation(Owner(2, 1, "b"), (Unit(g[2].uuid, "2"),), "shared", "2024-01-01T00:00:01Z")
    # exclusive: neither 5 (exclusive holder) nor 2 (shared holder)
    assert resolve_devices(varied_driver, "auto:2", exclusive=True, records=[excl, shared]) == uuids(
        varied_driver, [7, 0])
    # shared: not 5; 2 is allowed but ranked after every GPU nobody holds
    assert resolve_devices(varied_driver, "auto:7", records=[excl, shared]) == uuids(
        varied_driver, [7, 0, 3, 1, 6, 4, 2])


def test_too_few_free(varied_driver) -> None:
    g = varied_driver.gpus
    records = [Allocation(Owner(10 + i, 1, f"c{i}"), (Unit(g[i].uuid, str(i)),), "exclusive", "t")
               for i in range(6)]
    with pytest.raises(DeviceError) as info:
        resolve_devices(varied_driver, "auto:4", records=records)
    assert info.value.line() == "nvc-cli: device error: auto:4: only 2 GPUs are free"
    with pytest.raises(DeviceError, match=r"^auto:3: only 1 GPU is free$"):
        resolve_devices(varied_driver, "auto:3", records=records + [
            Allocation(Owner(99, 1, "z"), (Unit(g[6].uuid, "6"),), "shared", "t")], exclusive=True)
    with pytest.raises(DeviceError, match=r"^auto:9: only 8 GPUs are free$"):
        resolve_devices(varied_driver, "auto:9")
    with pytest.raises(DeviceError, match=r"^auto: no GPUs are free$"):
        choose(candidates(varied_driver), [Allocation(Owner(1, 1), tuple(Unit(x.uuid, str(x.index)) for x in g),
                                                      "exclusive", "t")], 1, False, "auto")


def test_auto_counts_whole_gpus_and_auto_mig_counts_mig_devices(mig_driver) -> None:
    # dgx-a100: GPU 0 is in MIG mode (three MIG devices), GPUs 1-7 are not.
    assert [c.unit.label for c in candidates(mig_driver)] == [str(i) for i in range(1, 8)]
    assert all(c.unit.kind == "gpu" for c in candidates(mig_driver))
    migs = candidates(mig_driver, "mig")
    assert [c.unit.label for c in migs] == ["0:0", "0:1", "0:2"]
    mig = migs[1]
    assert (mig.unit.kind, mig.unit.parent) == ("mig", mig_driver.gpus[0].uuid)
    assert mig.unit.uuid == mig_driver.gpus[0].migs[1].uuid
    # the MIG devices by size (3g.20gb, 2g.10gb, 1g.5gb)
    assert [c.unit.label for c in rank(migs)] == ["0:0", "0:1", "0:2"]
    got = str(resolve_devices(mig_driver, "auto:7")).split(",")
    assert got == [g.uuid for g in mig_driver.gpus[1:]]
    assert str(resolve_devices(mig_driver, "auto:mig:2")).split(",") == [m.uuid for m in mig_driver.gpus[0].migs[:2]]
    with pytest.raises(DeviceError, match=r"^auto:8: only 7 GPUs are free$"):
        resolve_devices(mig_driver, "auto:8")
    with pytest.raises(DeviceError, match=r"^auto:mig:4: only 3 MIG devices are free$"):
        resolve_devices(mig_driver, "auto:mig:4")


def test_make_plan_resolves_auto_without_a_registry(varied_driver, tmp_path) -> None:
    rootfs = make_rootfs(tmp_path / "rootfs")
    plan = make_plan(varied_driver, Request(str(rootfs), devices="auto:2"))
    nodes = [m.target for m in plan.mounts if m.what == "device" and m.target[-1].isdigit()]
    assert nodes == [varied_driver.gpus[5].node.path, varied_driver.gpus[2].node.path]


@pytest.mark.parametrize("spec, count", [("auto", 1), ("Auto:12", 12), ("0,1", None), (None, None), ("all", None),
                                         ([], None), (["auto:2"], 2), ("auto:mig", 1), ("AUTO:MIG:3", 3)])
def test_auto_count(spec, count) -> None:
    assert auto_count(spec) == count


@pytest.mark.parametrize("spec, request_", [("auto", (1, "gpu")), ("auto:4", (4, "gpu")), ("auto:mig", (1, "mig")),
                                            ("auto:mig:2", (2, "mig")), ("0:1", None)])
def test_auto_request(spec, request_) -> None:
    assert auto_request(spec) == request_


@pytest.mark.parametrize("spec, message", [
    ("auto:0", "auto:0: invalid device count"), ("auto:x", "auto:x: invalid device count"),
    ("auto:", "auto:: invalid device count"), ("auto:-1", "auto:-1: invalid device count"),
    ("auto:1,0", "auto:1: cannot be combined with other devices"),
    ("auto:mig:", "auto:mig:: invalid device count"), ("auto:mig:0", "auto:mig:0: invalid device count"),
    ("auto:gpu:2", "auto:gpu:2: invalid device count"), ("auto:2:mig", "auto:2:mig: invalid device count"),
    (["1", "auto"], "auto: cannot be combined with other devices"),
])
def test_auto_errors(spec, message) -> None:
    with pytest.raises(DeviceError) as info:
        auto_count(spec)
    assert info.value.message == message and info.value.stage == "device"
