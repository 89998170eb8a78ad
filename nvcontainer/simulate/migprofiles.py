"""The MIG profile tables of real GPUs: GPU-instance profiles, their compute-instance profiles,
placements, and which GPU models are MIG-capable.

A GPU-instance (GI) profile is what ``nvidia-smi mig -lgip`` lists: its NVML profile index
(``NVML_GPU_INSTANCE_PROFILE_*``), its profile id (19 for 1g.5gb, 0 for 7g.40gb, ...), compute
slices, instance count, SM and engine counts, memory, and the memory-slice placements it may
take (``-lgipp``).  The tables here are those of the A100-40GB, A100-80GB and H100-80GB.

Compute-instance (CI) profiles are derived, as the hardware builds them: inside a GI of S compute
slices a CI may have s slices (s in 1, 2, 3, 4, 7) when s == S or 2s <= S + 1; its placements
start at multiples of s rounded up to a power of two; its profile id is its profile index; a full
CI has the GI's SMs, a partial one s times the SMs of a one-slice GI; engines are shared.

GPU-instance ids follow the placement, as the driver's swizzle ids do on an 8-memory-slice GPU:
a GI occupying m slices from start p has id ``8/m - 1 + p/m`` (0 the whole GPU, 1-2 halves,
3-6 quarters, 7-14 eighths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

MEMORY_SLICES = 8
# NVML_COMPUTE_INSTANCE_PROFILE_{1,2,3,4,7}_SLICE: compute slices -> profile index.
CI_PROFILE_INDEX = {1: 0, 2: 1, 3: 2, 4: 3, 7: 4}

# The model name fragments of MIG-capable GPUs (Ampere GA100, Hopper, Blackwell data centre parts).
_MIG_CAPABLE = re.compile(r"\b(A100|A30|A800|H100|H800|H200|H20|GH200|B200|B300|GB200|GB300)\b")


@dataclass(frozen=True)
class ComputeInstanceProfile:
    """One compute-instance profile inside a GPU-instance profile (shared engines are the GI's)."""

    index: int              # NVML_COMPUTE_INSTANCE_PROFILE_*
    id: int
    name: str               # "1c.3g.20gb", or the GI's name for a full CI
    slices: int             # compute slices
    instances: int
    sm_count: int
    starts: Tuple[int, ...]  # placements: first compute slice; size is ``slices``


@dataclass(frozen=True)
class GpuInstanceProfile:
    """One GPU-instance profile of a GPU model, as ``nvidia-smi mig -lgip`` shows it."""

    index: int              # NVML_GPU_INSTANCE_PROFILE_*
    id: int
    name: str               # "3g.20gb", "1g.5gb+me"
    slices: int             # compute slices (sliceCount)
    instances: int
    sm_count: int
    copy_engines: int
    decoders: int
    encoders: int
    jpegs: int
    ofas: int
    memory_mib: int
    placement_size: int     # memory slices occupied
    starts: Tuple[int, ...]  # placements: first memory slice
    slice_sm_count: int = 0  # SMs per compute slice of a partial compute instance
    p2p: bool = False

    @property
    def compute_profiles(self) -> Tuple[ComputeInstanceProfile, ...]:
        return _compute_profiles(self)

    def compute_profile(self, slices: int) -> Optional[ComputeInstanceProfile]:
        return next((p for p in self.compute_profiles if p.slices == slices), None)

    def gpu_instance_id(self, start: int) -> int:
        """The GI id of an instance of this profile placed at memory slice ``start``."""
        return MEMORY_SLICES // self.placement_size - 1 + start // self.placement_size

    def start_of(self, gi: int) -> Optional[int]:
        """The placement whose GI id is ``gi``, or None when ``gi`` is not one of this profile's."""
        return next((s for s in self.starts if self.gpu_instance_id(s) == gi), None)


@dataclass(frozen=True)
class MigProfileTable:
    """The GI profiles of one GPU model, in NVML profile-index order."""

    name: str
    profiles: Tuple[GpuInstanceProfile, ...]

    @property
    def compute_slices(self) -> int:
        return max(p.slices for p in self.profiles)

    def by_name(self, name: str) -> Optional[GpuInstanceProfile]:
        return next((p for p in self.profiles if p.name == name), None)


def _pow2_at_least(value: int) -> int:
    result = 1
    while result < value:
        result *= 2
    return result


def _compute_profiles(gi: GpuInstanceProfile) -> Tuple[ComputeInstanceProfile, ...]:
    out = []
    for slices, index in sorted(CI_PROFILE_INDEX.items(), key=lambda item: item[1]):
        full = slices == gi.slices
        if slices > gi.slices or (not full and 2 * slices > gi.slices + 1):
            continue
        align = _pow2_at_least(slices)
        starts = tuple(s for s in range(0, gi.slices, align) if s + slices <= gi.slices)
        out.append(ComputeInstanceProfile(
            index=index,
            id=index,
            name=gi.name if full else f"{slices}c.{gi.name}",
            slices=slices,
            instances=len(starts),
            sm_count=gi.sm_count if full else slices * gi.slice_sm_count,
            starts=starts,
        ))
    return tuple(out)


_Row = Tuple[int, int, str, int, int, int, int, int, int, int, int, int, int, Tuple[int, ...]]


def _table(name: str, rows: Tuple[_Row, ...]) -> MigProfileTable:
    """Rows: index, id, name, slices, instances, SMs, CE, DEC, ENC, JPEG, OFA, MiB, placement size,
    placement starts.  A partial CI gets, per compute slice, the SMs of the one-slice profile."""
    slice_sms = next(row[5] for row in rows if row[0] == 0)
    profiles = tuple(GpuInstanceProfile(*row, slice_sm_count=slice_sms) for row in rows)
    return MigProfileTable(name, tuple(sorted(profiles, key=lambda p: p.index)))


_ALL_SEVEN = (0, 1, 2, 3, 4, 5, 6)
_QUARTERS = (0, 2, 4, 6)

A100_40GB = _table("a100-40gb", (
    (0, 19, "1g.5gb", 1, 7, 14, 1, 0, 0, 0, 0, 4864, 1, _ALL_SEVEN),
    (7, 20, "1g.5gb+me", 1, 1, 14, 1, 1, 0, 1, 1, 4864, 1, _ALL_SEVEN),
    (9, 15, "1g.10gb", 1, 4, 14, 1, 1, 0, 0, 0, 9856, 2, _QUARTERS),
    (1, 14, "2g.10gb", 2, 3, 28, 2, 1, 0, 0, 0, 9856, 2, (0, 2, 4)),
    (2, 9, "3g.20gb", 3, 2, 42, 3, 2, 0, 0, 0, 19968, 4, (0, 4)),
    (3, 5, "4g.20gb", 4, 1, 56, 4, 2, 0, 0, 0, 19968, 4, (0,)),
    (4, 0, "7g.40gb", 7, 1, 98, 7, 5, 0, 1, 1, 40192, 8, (0,)),
))
A100_80GB = _table("a100-80gb", (
    (0, 19, "1g.10gb", 1, 7, 14, 1, 0, 0, 0, 0, 9856, 1, _ALL_SEVEN),
    (7, 20, "1g.10gb+me", 1, 1, 14, 1, 1, 0, 1, 1, 9856, 1, _ALL_SEVEN),
    (9, 15, "1g.20gb", 1, 4, 14, 1, 1, 0, 0, 0, 19968, 2, _QUARTERS),
    (1, 14, "2g.20gb", 2, 3, 28, 2, 1, 0, 0, 0, 19968, 2, (0, 2, 4)),
    (2, 9, "3g.40gb", 3, 2, 42, 3, 2, 0, 0, 0, 40192, 4, (0, 4)),
    (3, 5, "4g.40gb", 4, 1, 56, 4, 2, 0, 0, 0, 40192, 4, (0,)),
    (4, 0, "7g.80gb", 7, 1, 98, 7, 5, 0, 1, 1, 80384, 8, (0,)),
))
H100_80GB = _table("h100-80gb", (
    (0, 19, "1g.10gb", 1, 7, 16, 1, 1, 0, 1, 0, 9984, 1, _ALL_SEVEN),
    (7, 20, "1g.10gb+me", 1, 1, 16, 1, 1, 0, 1, 1, 9984, 1, _ALL_SEVEN),
    (9, 15, "1g.20gb", 1, 4, 26, 1, 1, 0, 1, 0, 20096, 2, _QUARTERS),
    (1, 14, "2g.20gb", 2, 3, 32, 2, 2, 0, 2, 0, 20096, 2, (0, 2, 4)),
    (2, 9, "3g.40gb", 3, 2, 60, 3, 3, 0, 3, 0, 40448, 4, (0, 4)),
    (3, 5, "4g.40gb", 4, 1, 64, 4, 4, 0, 4, 0, 40448, 4, (0,)),
    (4, 0, "7g.80gb", 7, 1, 132, 8, 7, 0, 7, 1, 81152, 8, (0,)),
))

MIG_PROFILE_TABLES: Dict[str, MigProfileTable] = {t.name: t for t in (A100_40GB, A100_80GB, H100_80GB)}

GIB = 1024**3


def is_mig_capable_model(name: str) -> bool:
    """Whether a GPU model (its NVML name) supports MIG."""
    return _MIG_CAPABLE.search(name) is not None


def table_for_model(name: str, memory_total: int) -> Optional[MigProfileTable]:
    """The built-in profile table of a GPU model, chosen by name and memory size; None if unknown."""
    if re.search(r"\bA100\b", name):
        return A100_40GB if memory_total <= 48 * GIB else A100_80GB
    if re.search(r"\bH100\b", name) and 64 * GIB < memory_total <= 88 * GIB:
        return H100_80GB
    return None
