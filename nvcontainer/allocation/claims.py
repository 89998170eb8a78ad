"""Allocating devices to a container and giving them back: the registry's public operations.

``allocate`` is the one critical section: under the registry lock it reclaims dead records, looks
at what live containers hold, picks (``auto:N``) or checks (explicit devices) the units, and
records them.  ``configure`` calls it before mounting and ``withdraw``s the claim if configuring
fails; a poststop hook calls ``release``.
"""

from __future__ import annotations

import os

from nvcontainer.allocation.picking import auto_request, auto_token, check_units, choose
from nvcontainer.allocation.processes import PROC
from nvcontainer.allocation.records import EXCLUSIVE, SHARED, Allocation, Owner, record_key, timestamp
from nvcontainer.allocation.registry import Registry
from nvcontainer.allocation.units import Unit, candidates, selected_units
from nvcontainer.bounds import shown
from nvcontainer.driver import Driver
from nvcontainer.errors import ContainerError, InputError
from nvcontainer.log import logger as log
from nvcontainer.policy.selection import select_devices
from nvcontainer.records import Record, replace

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

    from nvcontainer.allocation.picking import DeviceSpec

ACCESS_ENV = "NVIDIA_GPU_ACCESS"


class Claim(Record):
    """What ``allocate`` did: ``devices`` is the ``--device`` spec to plan with (UUIDs for ``auto:N``).

    ``allocation`` is the container's record now (``recorded`` False when nothing was selected and
    nothing written); ``previous`` its record before, restored by ``withdraw``.
    """

    allocation: Allocation
    devices: DeviceSpec
    recorded: bool
    previous: Optional[Allocation]
    state_dir: Optional[str] = None


def exclusive_from_env(env: Mapping[str, str], what: str = ACCESS_ENV) -> bool:
    """``NVIDIA_GPU_ACCESS``: unset, empty or ``shared`` → False; ``exclusive`` → True; else
    InputError naming ``what`` (the variable, or the annotation that carried the value)."""
    value = env.get(ACCESS_ENV, "").strip().lower()
    if value in ("", SHARED):
        return False
    if value == EXCLUSIVE:
        return True
    raise InputError(f"{what}={shown(env.get(ACCESS_ENV, ''))}: expected shared or exclusive")


def _merge(old: Sequence[Unit], new: Sequence[Unit]) -> Tuple[Unit, ...]:
    seen = {u.uuid for u in old}
    return tuple(old) + tuple(u for u in new if u.uuid not in seen)


def _resolve(driver: Driver, spec: DeviceSpec, others: Sequence[Allocation],
             exclusive: bool) -> Tuple[Tuple[Unit, ...], DeviceSpec]:
    request = auto_request(spec)
    if request is None:
        units = selected_units(driver, select_devices(driver, spec))
        check_units(units, others, exclusive)
        return units, spec
    count, kind = request
    token = auto_token(spec) or "auto"
    units = choose(candidates(driver, kind), others, count, exclusive, token, kind)
    return units, ",".join(u.uuid for u in units)


def resolve_devices(driver: Driver, spec: DeviceSpec, *, exclusive: bool = False,
                    records: Sequence[Allocation] = ()) -> DeviceSpec:
    """The ``--device`` spec ``spec`` stands for, given ``records``: pure, nothing is recorded.

    ``auto:N`` becomes the comma-joined UUIDs of the units it would pick; any other spec is
    returned as it is, once checked against the records.
    """
    return _resolve(driver, spec, records, exclusive)[1]


def allocate(driver: Driver, spec: DeviceSpec, owner: Owner, *, exclusive: bool = False,
             state_dir: Optional[str] = None, proc: str = PROC) -> Claim:
    """Pick (``auto:N``) or check (explicit devices) and record them for ``owner``, atomically.

    Raises ``DeviceError`` when the devices are not available (see ``picking``), and
    ``ContainerError`` when ``owner.key`` is recorded for another live process.  Calling it again
    for the same container adds devices to its record (access becomes exclusive if either is).
    """
    registry = Registry(state_dir, proc=proc)
    with registry.locked():
        records: Dict[str, Allocation] = registry.read()
        previous = records.pop(owner.key, None)
        if previous is not None and (previous.owner.pid, previous.owner.start_time) != (owner.pid, owner.start_time):
            raise ContainerError(f"container {owner.key} already holds devices as pid {previous.owner.pid}")
        others = tuple(records.values())
        units, devices = _resolve(driver, spec, others, exclusive)
        old_units: Tuple[Unit, ...] = previous.units if previous else ()
        strict = exclusive or bool(previous and previous.exclusive)
        if strict and not exclusive:
            check_units(units, others, True)
        elif strict and previous is not None and not previous.exclusive:
            check_units(old_units, others, True)
        merged = _merge(old_units, units)
        allocation = Allocation(owner, merged, EXCLUSIVE if strict else SHARED,
                                previous.since if previous else timestamp())
        if previous is not None:
            allocation = replace(allocation, owner=replace(owner, cgroup=owner.cgroup or previous.owner.cgroup))
        recorded = bool(merged) and allocation != previous
        if recorded:
            registry.write(allocation)
        return Claim(allocation, devices, bool(merged), previous, registry.path)


def withdraw(claim: Claim, *, proc: str = PROC) -> None:
    """Undo ``allocate`` (configuring failed): restore the container's previous record, or remove it."""
    if not claim.recorded:
        return
    registry = Registry(claim.state_dir, proc=proc)
    with registry.locked():
        if claim.previous is not None:
            registry.write(claim.previous)
        else:
            registry.remove(claim.allocation.key)


def release(target: Union[str, int], *, state_dir: Optional[str] = None, proc: str = PROC,
            pid: Optional[int] = None) -> bool:
    """Give back what a container holds: ``target`` is its container id (or ``pid-<pid>`` key) or pid.

    Idempotent: False when nothing was recorded for ``target``.  Dead owners' records are reclaimed
    on the way, whatever ``target`` is.  ``pid`` is the releasing container's own pid (a poststop
    hook's OCI state): then a record whose owner is alive and another process is left alone, so a
    container that reuses a running one's id (another runc root, another containerd namespace)
    cannot free its GPUs.
    """
    registry = Registry(state_dir, proc=proc)
    if not os.path.isdir(registry.path):
        return False
    with registry.locked():
        records = registry.read()  # live records only: the dead ones are gone now
        if isinstance(target, int):
            keys = [k for k, r in records.items() if r.owner.pid == target]
            if not keys:
                keys = [f"pid-{target}"]
        else:
            keys = [record_key(target, 0)]
        removed = False
        for key in keys:
            record = records.get(key)
            if pid is not None and record is not None and record.owner.pid != pid:
                log.warning("not releasing %s: held by running pid %d, not by pid %d", key, record.owner.pid, pid)
                continue
            removed = registry.remove(key) or removed
        return removed


def holdings(*, state_dir: Optional[str] = None, proc: str = PROC) -> Tuple[Allocation, ...]:
    """Every live record, oldest first; records of dead owners are reclaimed."""
    registry = Registry(state_dir, proc=proc)
    if not os.path.isdir(registry.path):
        return ()
    with registry.locked():
        records = registry.read()
    return tuple(sorted(records.values(), key=lambda r: (r.since, r.key)))


def peek(*, state_dir: Optional[str] = None, proc: str = PROC) -> Tuple[Allocation, ...]:
    """The live records without locking or deleting anything (for dry runs; may be a moment stale)."""
    registry = Registry(state_dir, proc=proc)
    if not os.path.isdir(registry.path):
        return ()
    records = registry.read(reclaim=False)
    return tuple(sorted(records.values(), key=lambda r: (r.since, r.key)))
