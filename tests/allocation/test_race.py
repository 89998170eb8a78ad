"""Pick + record is one critical section: 32 processes racing for 8 GPUs exclusively.

Each child process waits at a barrier, then calls ``allocate(driver, "auto:1", owner,
exclusive=True)`` for an owner of its own (a live ``sleep``).  Writing a record is slowed down
(in the children only) so that, were the registry lock missing, the picks would overlap and some
GPU would be handed out twice.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

from nvcontainer.allocation import allocate, holdings, owner_of
from nvcontainer.allocation.registry import Registry
from nvcontainer.errors import DeviceError

REQUESTS = 32


def _child(driver: Any, pid: int, state: str, barrier: Any, results: Any) -> None:
    slow_write = Registry.write

    def write(self: Registry, record: Any) -> None:
        time.sleep(0.02)  # widen the window between reading the holdings and recording
        slow_write(self, record)

    Registry.write = write  # type: ignore[method-assign]
    owner = owner_of(pid, f"race-{pid}")
    barrier.wait()
    try:
        claim = allocate(driver, "auto:1", owner, exclusive=True, state_dir=state)
    except DeviceError as exc:
        results.put(("refused", pid, exc.line()))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("crashed", pid, repr(exc)))
    else:
        results.put(("granted", pid, claim.devices))


def test_32_exclusive_auto_requests_on_8_gpus(varied_driver, state, sleeper) -> None:
    ctx = multiprocessing.get_context("fork")
    owners = [sleeper() for _ in range(REQUESTS)]
    barrier = ctx.Barrier(REQUESTS)
    results = ctx.Queue()
    children = [ctx.Process(target=_child, args=(varied_driver, p.pid, state, barrier, results))
                for p in owners]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert [o for o in outcomes if o[0] == "crashed"] == []
    granted = [o for o in outcomes if o[0] == "granted"]
    refused = [o for o in outcomes if o[0] == "refused"]
    assert len(granted) == 8 and len(refused) == 24
    all_uuids = {g.uuid for g in varied_driver.gpus}
    assert sorted(o[2] for o in granted) == sorted(all_uuids), "a GPU was granted twice"
    assert {o[2] for o in refused} == {"nvc-cli: device error: auto:1: no GPUs are free"}
    # the registry agrees: 8 records, one GPU each, every GPU once, each held by its grantee
    records = holdings(state_dir=state)
    assert len(records) == 8
    recorded = [u.uuid for r in records for u in r.units]
    assert sorted(recorded) == sorted(all_uuids)
    assert {(r.owner.pid, r.units[0].uuid) for r in records} == {(o[1], o[2]) for o in granted}
    on_disk = [json.loads(p.read_text()) for p in Path(state).glob("*.json")]
    assert sorted(d["devices"][0]["uuid"] for d in on_disk) == sorted(all_uuids)
