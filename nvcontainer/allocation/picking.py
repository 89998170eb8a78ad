"""Deciding who gets which unit: ``auto`` parsing, ranking, and conflicts with current holders.

``auto:N`` (``auto`` = ``auto:1``) asks for N whole GPUs, ``auto:mig:N`` (``auto:mig`` = one) for N
MIG devices.

Pure: works on ``Candidate``/``Unit`` values and the live ``Allocation`` records it is given.

Rules:

- ``exclusive`` wants units nobody holds; ``shared`` wants units nobody holds exclusively.
- ``auto:N`` ranks the available candidates by fewest current holders (shared requests spread
  over GPUs before doubling up), then most free memory, then least utilisation, then GPU index
  (MIG devices by their index inside the GPU): deterministic for one driver snapshot.
"""

from __future__ import annotations

from nvcontainer.allocation.records import Allocation
from nvcontainer.allocation.units import GPU, KIND_NAMES, MIG, Candidate, Unit
from nvcontainer.bounds import decimal, shown
from nvcontainer.errors import DeviceError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, Tuple, Union
    DeviceSpec = Union[str, Sequence[str], None]


def _tokens(spec: DeviceSpec) -> List[str]:
    if spec is None:
        return []
    joined = spec if isinstance(spec, str) else ",".join(spec)
    return [t for t in joined.split(",") if t]


def auto_token(spec: DeviceSpec) -> Optional[str]:
    """The ``auto``/``auto:N`` token of ``spec`` (as written), or None when it names devices."""
    tokens = _tokens(spec)
    autos = [t for t in tokens if t.strip().lower() == "auto" or t.strip().lower().startswith("auto:")]
    if not autos:
        return None
    if len(tokens) != 1:
        raise DeviceError(f"{autos[0]}: cannot be combined with other devices")
    return autos[0]


def auto_request(spec: DeviceSpec) -> Optional[Tuple[int, str]]:
    """(N, kind) for ``auto[:N]`` (whole GPUs) and ``auto:mig[:N]`` (MIG devices), None for any
    other spec; DeviceError when malformed."""
    token = auto_token(spec)
    if token is None:
        return None
    rest = token.strip().lower().split(":")[1:]
    kind = GPU
    if rest and rest[0] == MIG:
        kind, rest = MIG, rest[1:]
    if not rest:
        return 1, kind
    value = decimal(rest[0], 6) if len(rest) == 1 else None
    if value is None or value < 1:
        raise DeviceError(f"{shown(token)}: invalid device count")
    return value, kind


def auto_count(spec: DeviceSpec) -> Optional[int]:
    """N for ``auto:N`` / ``auto:mig:N``, None for any other spec; DeviceError when malformed."""
    request = auto_request(spec)
    return None if request is None else request[0]


def holders_of(unit: Unit, records: Sequence[Allocation]) -> Tuple[Allocation, ...]:
    """The records holding ``unit`` or a unit overlapping it, oldest first."""
    found = [r for r in records if any(u.overlaps(unit) for u in r.units)]
    return tuple(sorted(found, key=lambda r: (r.since, r.key)))


def available(unit: Unit, records: Sequence[Allocation], exclusive: bool) -> bool:
    holders = holders_of(unit, records)
    if exclusive:
        return not holders
    return not any(r.exclusive for r in holders)


def _count(n: int, kind: str = GPU) -> str:
    one, many = KIND_NAMES[kind]
    if n == 0:
        return f"no {many} are free"
    return f"only {n} {one} is free" if n == 1 else f"only {n} {many} are free"


def rank(candidates: Sequence[Candidate], records: Sequence[Allocation] = ()) -> Tuple[Candidate, ...]:
    """``candidates`` best first: fewest holders, most free memory, least utilisation, lowest index."""
    def key(c: Candidate) -> Tuple[int, int, int, Tuple[int, int]]:
        return (len(holders_of(c.unit, records)), -c.memory_free, c.utilization, c.order)

    return tuple(sorted(candidates, key=key))


def choose(candidates: Sequence[Candidate], records: Sequence[Allocation], count: int, exclusive: bool,
           token: str, kind: str = GPU) -> Tuple[Unit, ...]:
    """The ``count`` best available units; ``DeviceError("<token>: only K GPUs are free")`` if too few
    (``MIG devices`` for ``kind`` mig)."""
    free = [c for c in candidates if available(c.unit, records, exclusive)]
    if len(free) < count:
        raise DeviceError(f"{token}: {_count(len(free), kind)}")
    return tuple(c.unit for c in rank(free, records)[:count])


def check_units(units: Sequence[Unit], records: Sequence[Allocation], exclusive: bool) -> None:
    """Refuse explicitly named units that others hold exclusively (or at all, for ``exclusive``).

    ``DeviceError("1: held exclusively by container <id> since <time>")`` names the oldest holder.
    """
    for unit in units:
        holders = holders_of(unit, records)
        strict = [r for r in holders if r.exclusive]
        if strict:
            r = strict[0]
            raise DeviceError(f"{unit.label}: held exclusively by container {r.holder} since {r.since}")
        if exclusive and holders:
            r = holders[0]
            raise DeviceError(f"{unit.label}: held by container {r.holder} since {r.since}")
