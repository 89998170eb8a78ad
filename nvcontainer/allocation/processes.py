"""Process identity from ``/proc``: is the owner of an allocation still the process it was?

A pid alone is not an identity (pids are reused); the pair (pid, start time) is.  A zombie counts
as gone: it holds no GPU any more.
"""

from __future__ import annotations

import os

from nvcontainer.allocation.records import Owner
from nvcontainer.errors import ContainerError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Optional, Tuple

PROC = "/proc"


def _stat_fields(pid: int, proc: str) -> Optional[Tuple[str, ...]]:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 onwards), or None."""
    try:
        with open(os.path.join(proc, str(pid), "stat"), "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    close = text.rfind(")")
    if close < 0:
        return None
    return tuple(text[close + 1:].split())


def start_time(pid: int, proc: str = PROC) -> Optional[int]:
    """The start time (field 22) of a live, non-zombie ``pid``; None when there is no such process."""
    if pid <= 0:
        return None
    fields = _stat_fields(pid, proc)
    if fields is None or len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return None
    try:
        return int(fields[19])
    except ValueError:
        return None


def cgroup_of(pid: int, proc: str = PROC) -> Optional[str]:
    """The cgroup v2 path of ``pid``, else its v1 ``devices`` cgroup; None if unreadable."""
    try:
        with open(os.path.join(proc, str(pid), "cgroup"), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    found: Optional[str] = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if "devices" in parts[1].split(","):
            return parts[2]
        if parts[0] == "0" and parts[1] == "":
            found = parts[2]
    return found


def owner_of(pid: int, container_id: Optional[str] = None, proc: str = PROC) -> Owner:
    """The ``Owner`` for a live ``pid``; ``ContainerError`` when there is no such process."""
    started = start_time(pid, proc)
    if started is None:
        raise ContainerError(f"{pid}: no such process")
    return Owner(pid, started, container_id or None, cgroup_of(pid, proc))


def is_alive(owner: Owner, proc: str = PROC) -> bool:
    """True while ``owner.pid`` runs and is still the process that started at ``owner.start_time``."""
    return start_time(owner.pid, proc) == owner.start_time
