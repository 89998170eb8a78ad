"""Safe updates of an engine's configuration file.

``update(path, edit)`` holds an exclusive ``flock`` on ``<path>.lock`` while it reads the file,
computes the new text with ``edit`` (a pure function of the old text, None when absent), writes a
temporary file in the same directory (same mode and owner, fsync'ed) and renames it over the old
one.  Before that, the old text is saved (atomically too) as ``<path>.bak``: one backup, the
version before the latest change, replaced at each change; nothing is written (no backup either)
when the new text equals the old.  A ``path`` that is a symbolic link is followed, so the link
stays and its target is updated.  A failure at any point (ENOSPC included) leaves the original
file as it was and no temporary file behind.
"""

from __future__ import annotations

import errno
import fcntl
import os

from nvcontainer.atomicfile import write_atomic
from nvcontainer.errors import NvcError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Callable, Optional
    Edit = Callable[[Optional[str]], str]


class ConfigFileError(NvcError):
    stage = "config"


class Update(Record):
    path: str
    old: Optional[str]
    new: str
    backup: Optional[str]

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigFileError(f"open failed: {path}: {os.strerror(exc.errno or errno.EIO).lower()}") from None


def preview(path: str, edit: Edit) -> Update:
    """What ``update`` would write (``--dry-run``)."""
    old = _read(path)
    return Update(path, old, edit(old), None)


def update(path: str, edit: Edit) -> Update:
    path = os.path.realpath(path)
    directory = os.path.dirname(path) or "."
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ConfigFileError(f"lock failed: {path}.lock: {os.strerror(exc.errno or errno.EIO).lower()}") from None
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        old = _read(path)
        new = edit(old)
        if new == old:
            return Update(path, old, new, None)
        backup = None
        if old is not None:
            backup = path + ".bak"
            _write_atomic(backup, old, path)
        _write_atomic(path, new, path if old is not None else None)
        return Update(path, old, new, backup)
    finally:
        os.close(lock_fd)


def _write_atomic(path: str, text: str, like: Optional[str]) -> None:
    try:
        write_atomic(path, text, keep_from=like)
    except OSError as exc:
        raise ConfigFileError(f"write failed: {path}: {os.strerror(exc.errno or errno.EIO).lower()}") from None
