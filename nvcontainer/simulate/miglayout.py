"""The MIG devices of one simulated GPU: the ``SimMig`` dataclass and the validation that turns a
topology's ``migs`` entries into GPU instances and compute instances a real GPU could hold.

An entry names a GPU-instance profile of the GPU's table (``"3g.20gb"``: one compute instance
spanning the GPU instance) or a compute-instance profile inside one (``"1c.3g.20gb"``), its GPU
instance id ``gi`` (which fixes the memory placement, see ``migprofiles``) and compute instance id
``ci``.  Entries with the same ``gi`` are compute instances of one GPU instance.  GPU instances
may not overlap in memory or exceed a profile's instance count (the profile tables' placements
keep them within the GPU's compute slices); compute instances are placed in their GPU instance
at ``ci_start`` when given, else at the lowest free placement (largest first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from nvcontainer.simulate.errors import SimulateError
from nvcontainer.simulate.migprofiles import ComputeInstanceProfile, GpuInstanceProfile, MigProfileTable

MIB = 1024 * 1024
MAX_COMPUTE_INSTANCE_ID = 7
_PROFILE = re.compile(r"^(?:([1-9])c\.)?([1-9]g\.[0-9]+gb(?:\+[a-z0-9.]+)?)$")
_DERIVED_KEYS = ("memory_total", "gi_slices", "ci_slices", "sm_count")


@dataclass(frozen=True)
class SimMig:
    """One MIG device: a compute instance (``ci``) inside a GPU instance (``gi``)."""

    gi_profile: GpuInstanceProfile
    ci_profile: ComputeInstanceProfile
    gi: int
    ci: int
    gi_start: int  # first memory slice of the GPU instance
    ci_start: int  # first compute slice of the compute instance inside its GPU instance
    uuid: str

    @property
    def profile(self) -> str:
        """The GPU-instance profile name (``3g.20gb``)."""
        return self.gi_profile.name

    @property
    def name(self) -> str:
        """The MIG device's profile name as NVML and nvidia-smi show it (``1c.3g.20gb``)."""
        return self.ci_profile.name

    @property
    def memory_total(self) -> int:
        return self.gi_profile.memory_mib * MIB

    @property
    def gi_slices(self) -> int:
        return self.gi_profile.slices

    @property
    def ci_slices(self) -> int:
        return self.ci_profile.slices

    @property
    def sm_count(self) -> int:
        return self.ci_profile.sm_count


@dataclass(frozen=True)
class MigEntry:
    """A ``migs`` entry after its own checks, before the GPU-wide ones."""

    gi_profile: GpuInstanceProfile
    ci_profile: ComputeInstanceProfile
    gi: int
    ci: int
    ci_start: Optional[int]
    uuid: str
    where: str


Fail = Callable[[str, str], SimulateError]


def _span(start: int, size: int) -> int:
    return ((1 << size) - 1) << start


def parse_entry(data: Any, where: str, table: MigProfileTable, uuid_for: Callable[[int, int], str],
                fail: Fail) -> MigEntry:
    """Check one ``migs`` entry against the GPU's profile table."""
    if not isinstance(data, dict):
        raise fail(where, "must be an object")
    for key in _DERIVED_KEYS:
        if key in data:
            raise fail(where, f"{key!r} is not accepted: it comes from the GPU's MIG profile table")
    profile = data.get("profile")
    match = _PROFILE.match(profile) if isinstance(profile, str) else None
    if match is None:
        raise fail(where, f"invalid MIG profile {profile!r}")
    gi_profile = table.by_name(match.group(2))
    if gi_profile is None:
        known = ", ".join(p.name for p in table.profiles)
        raise fail(where, f"no MIG profile {match.group(2)!r} in table {table.name} ({known})")
    slices = int(match.group(1)) if match.group(1) else gi_profile.slices
    ci_profile = gi_profile.compute_profile(slices)
    if ci_profile is None or (match.group(1) and slices == gi_profile.slices):
        raise fail(where, f"no compute instance profile {profile!r} in a {gi_profile.name} GPU instance")
    gi, ci = _small_int(data, "gi", where, None, 14, fail), _small_int(data, "ci", where, 0,
                                                                        MAX_COMPUTE_INSTANCE_ID, fail)
    ci_start = None
    if data.get("ci_start") is not None:
        ci_start = _small_int(data, "ci_start", where, None, 7, fail)
        if ci_start not in ci_profile.starts:
            raise fail(where, f"ci_start {ci_start} is not a placement of {ci_profile.name} "
                              f"(starts: {', '.join(map(str, ci_profile.starts))})")
    uuid = data.get("uuid", uuid_for(gi, ci))
    if not isinstance(uuid, str) or not uuid or any(c.isspace() for c in uuid):
        raise fail(where, "'uuid' must be a non-empty string without spaces")
    return MigEntry(gi_profile, ci_profile, gi, ci, ci_start, uuid, where)


def _small_int(data: Dict[str, Any], key: str, where: str, default: Optional[int], high: int, fail: Fail) -> int:
    value = data.get(key, default)
    if value is None:
        raise fail(where, f"missing {key!r}")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise fail(where, f"{key!r} must be an integer from 0 to {high}")
    return value


def lay_out(entries: List[MigEntry], where: str, fail: Fail) -> Tuple[SimMig, ...]:
    """Place every GPU instance and compute instance; SimMigs sorted by (gi, ci)."""
    by_gi: Dict[int, List[MigEntry]] = {}
    for entry in entries:
        group = by_gi.setdefault(entry.gi, [])
        if group and group[0].gi_profile != entry.gi_profile:
            raise fail(entry.where, f"GPU instance {entry.gi} is already a {group[0].gi_profile.name}")
        if any(other.ci == entry.ci for other in group):
            raise fail(entry.where, f"duplicate MIG (gi, ci) ({entry.gi}, {entry.ci})")
        group.append(entry)
    starts = _place_gpu_instances(by_gi, where, fail)
    migs: List[SimMig] = []
    for gi, group in by_gi.items():
        for entry, ci_start in _place_compute_instances(group, fail):
            migs.append(SimMig(entry.gi_profile, entry.ci_profile, gi, entry.ci, starts[gi], ci_start, entry.uuid))
    return tuple(sorted(migs, key=lambda m: (m.gi, m.ci)))


def _place_gpu_instances(by_gi: Dict[int, List[MigEntry]], where: str, fail: Fail) -> Dict[int, int]:
    starts: Dict[int, int] = {}
    memory = 0
    owner: Dict[int, int] = {}
    per_profile: Dict[int, int] = {}
    for gi, group in sorted(by_gi.items()):
        profile = group[0].gi_profile
        start = profile.start_of(gi)
        if start is None:
            ids = ", ".join(str(profile.gpu_instance_id(s)) for s in profile.starts)
            raise fail(group[0].where, f"GPU instance id {gi} is not a placement of {profile.name} (ids: {ids})")
        span = _span(start, profile.placement_size)
        if memory & span:
            other = next(g for g, s in owner.items() if s & span)
            raise fail(where, f"GPU instances {other} and {gi} overlap in memory")
        memory |= span
        owner[gi] = span
        starts[gi] = start
        per_profile[profile.index] = per_profile.get(profile.index, 0) + 1
        if per_profile[profile.index] > profile.instances:
            raise fail(where, f"more than {profile.instances} {profile.name} GPU instance(s)")
    return starts


def _place_compute_instances(group: List[MigEntry], fail: Fail) -> List[Tuple[MigEntry, int]]:
    busy = 0
    placed: List[Tuple[MigEntry, int]] = []
    fixed = [e for e in group if e.ci_start is not None]
    free = sorted((e for e in group if e.ci_start is None), key=lambda e: (-e.ci_profile.slices, e.ci))
    for entry in fixed + free:
        size = entry.ci_profile.slices
        choices = [entry.ci_start] if entry.ci_start is not None else list(entry.ci_profile.starts)
        start = next((s for s in choices if s is not None and not busy & _span(s, size)), None)
        if start is None:
            raise fail(entry.where, f"compute instance {entry.ci} ({entry.ci_profile.name}) does not fit in "
                                    f"GPU instance {entry.gi}")
        busy |= _span(start, size)
        placed.append((entry, start))
    return placed
