"""One allocation record: which container (owner process) holds which units, how, since when.

Records are plain frozen data, stored as one JSON object per container by ``registry``.
"""

from __future__ import annotations

import time

from nvcontainer.allocation.units import Unit
from nvcontainer.bounds import shown
from nvcontainer.errors import InputError
from nvcontainer.fnv import fnv1a64
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional, Tuple

SHARED = "shared"
EXCLUSIVE = "exclusive"
ACCESS_MODES = (SHARED, EXCLUSIVE)

_KEY_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_KEY_CHARS = _KEY_FIRST | frozenset("_.-")
MAX_ID_LENGTH = 1024
MAX_KEY_LENGTH = 250  # a file name of at most 255 bytes with ".json"
_KEPT = MAX_KEY_LENGTH - 17  # a longer id keeps this much, then "." and 16 hex digits of its hash


def record_key(container_id: Optional[str], pid: int) -> str:
    """The registry key: the container id, or ``pid-<pid>`` for a container known by its pid only.

    An id is 1..1024 of ``[A-Za-z0-9_.-]``, not starting with ``_.-`` (runc takes longer ids than a
    file name can hold: past 250 characters the key is the id's start and a hash of the whole)."""
    if container_id is None or container_id == "":
        return f"pid-{pid}"
    if (len(container_id) > MAX_ID_LENGTH or container_id[0] not in _KEY_FIRST
            or not _KEY_CHARS.issuperset(container_id)):
        raise InputError(f"{shown(container_id)}: invalid container id")
    if len(container_id) > MAX_KEY_LENGTH:
        return f"{container_id[:_KEPT]}.{fnv1a64(container_id.encode('ascii')):016x}"
    return container_id


def timestamp(seconds: Optional[float] = None) -> str:
    """``2024-05-01T12:00:00Z``: UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if seconds is None else seconds))


class Owner(Record):
    """The process whose life an allocation lasts: its pid and that pid's start time.

    ``start_time`` is field 22 of ``/proc/<pid>/stat`` (clock ticks after boot): a pid reused by
    a later process has another start time, so its records are not mistaken for the new one's.
    """

    pid: int
    start_time: int
    container_id: Optional[str] = None
    cgroup: Optional[str] = None

    @property
    def key(self) -> str:
        return record_key(self.container_id, self.pid)


class Allocation(Record):
    """A container's hold on units; ``access`` is ``shared`` or ``exclusive``."""

    owner: Owner
    units: Tuple[Unit, ...]
    access: str = SHARED
    since: str = ""

    @property
    def key(self) -> str:
        return self.owner.key

    @property
    def exclusive(self) -> bool:
        return self.access == EXCLUSIVE

    @property
    def holder(self) -> str:
        """How messages and ``nvc-cli ps`` name the holder: the container id, else its pid."""
        return self.owner.container_id or str(self.owner.pid)

    def to_json(self) -> Dict[str, Any]:
        return {
            "key": self.key,
            "container_id": self.owner.container_id,
            "pid": self.owner.pid,
            "start_time": self.owner.start_time,
            "cgroup": self.owner.cgroup,
            "devices": [u.to_json() for u in self.units],
            "access": self.access,
            "since": self.since,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Allocation:
        """Raises KeyError/TypeError/ValueError on a malformed record."""
        access = str(data.get("access", SHARED))
        if access not in ACCESS_MODES:
            raise ValueError(f"unknown access mode {access!r}")
        cid = data.get("container_id")
        cgroup = data.get("cgroup")
        owner = Owner(int(data["pid"]), int(data["start_time"]), None if cid is None else str(cid),
                      None if cgroup is None else str(cgroup))
        return cls(owner, tuple(Unit.from_json(u) for u in data["devices"]), access, str(data.get("since", "")))
