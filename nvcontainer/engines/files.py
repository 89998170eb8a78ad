"""Safe updates of an engine's configuration files: a main file edited in place, or a drop-in.

``update(path, edit)`` holds an exclusive ``flock`` on ``<path>.lock`` while it reads the file,
computes the new text with ``edit`` (a pure function of the old text, None when absent), writes a
temporary file in the same directory (same mode and owner, fsync'ed) and renames it over the old
one.  Before that, the old text is saved (atomically too) as ``<path>.bak``: one backup, the
version before the latest change, replaced at each change; nothing is written (no backup either)
when the new text equals the old.  A ``path`` that is a symbolic link is followed, so the link
stays and its target is updated.  A failure at any point (ENOSPC included) leaves the original
file as it was and no temporary file behind.

A drop-in directory (``crio.conf.d``, ``conf.d``: any directory whose name ends in ``.d``) is read
whole by its engine: CRI-O reads *every* file in it in lexical order, whatever its name, so a
``99-nvidia.toml.bak`` there would override the next configure.  So a file in such a directory is
written drop-in style: the lock is an ``flock`` on the directory itself, the temporary file is made
in the directory above when that is the same file system, there is no backup, and the
``<name>.bak`` / ``<name>.lock`` that earlier versions left there are removed.  Missing
directories are made and reported (``Update.created``).
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
    from typing import Callable, List, Optional, Tuple
    Edit = Callable[[Optional[str]], str]

STALE_SUFFIXES = (".bak", ".lock")


class ConfigFileError(NvcError):
    stage = "config"


class Update(Record):
    path: str
    old: Optional[str]
    new: str
    backup: Optional[str]
    created: Tuple[str, ...] = ()  # directories made for it
    removed: Tuple[str, ...] = ()  # stale files of earlier versions taken out of its drop-in directory

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno or errno.EIO).lower()


def is_drop_in_dir(directory: str) -> bool:
    return os.path.basename(os.path.normpath(directory)).endswith(".d")


def read(path: str) -> Optional[str]:
    """The file's text; None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = _reason(exc) if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigFileError(f"open failed: {path}: {reason}") from None


def missing_dirs(directory: str) -> List[str]:
    """The directories ``make_dirs(directory)`` would create, outermost first."""
    missing: List[str] = []
    current = os.path.abspath(directory)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return missing[::-1]


def make_dirs(directory: str) -> List[str]:
    """Create ``directory`` and its missing parents (mode 0755); return those created."""
    created = missing_dirs(directory)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise ConfigFileError(f"cannot create directory {directory}: {_reason(exc)}") from None
    return created


def _drop_in(directory: str, drop_in: Optional[bool]) -> bool:
    return is_drop_in_dir(directory) if drop_in is None else drop_in


def preview(path: str, edit: Edit, *, drop_in: Optional[bool] = None) -> Update:
    """What ``update`` would write (``--dry-run``)."""
    path = os.path.abspath(path)
    old = read(path)
    directory = os.path.dirname(path)
    stale = tuple(path + s for s in STALE_SUFFIXES if os.path.isfile(path + s)) if _drop_in(directory, drop_in) else ()
    return Update(path, old, edit(old), None, tuple(missing_dirs(directory)), stale)


class _Locked:
    """An exclusive flock held on a file or a directory while the ``with`` block runs."""

    def __init__(self, path: str, directory: bool) -> None:
        self.path = path
        self.directory = directory
        self.fd = -1

    def __enter__(self) -> _Locked:
        try:
            if self.directory:
                self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            else:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            if self.fd >= 0:
                os.close(self.fd)
            raise ConfigFileError(f"lock failed: {self.path}: {_reason(exc)}") from None
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


def locked(path: str, *, drop_in: Optional[bool] = None) -> _Locked:
    """The lock ``update`` takes for ``path``: its directory's when that is a drop-in directory."""
    directory = os.path.dirname(path) or "."
    return _Locked(directory, True) if _drop_in(directory, drop_in) else _Locked(path + ".lock", False)


def update(path: str, edit: Edit, *, lock: bool = True, drop_in: Optional[bool] = None) -> Update:
    """Replace ``path`` with ``edit(old)`` (see the module docstring).  ``drop_in``: write it
    drop-in style (None: when its directory's name ends in ``.d``); ``lock=False`` when the caller
    already holds ``locked(path)``."""
    path = os.path.realpath(path)
    directory = os.path.dirname(path) or "."
    created = make_dirs(directory)
    style = _drop_in(directory, drop_in)
    if not lock:
        return _update(path, edit, created, style)
    with locked(path, drop_in=style):
        return _update(path, edit, created, style)


def _update(path: str, edit: Edit, created: List[str], drop_in: bool) -> Update:
    old = read(path)
    new = edit(old)
    removed = _remove_stale(path) if drop_in else []
    if new == old:
        return Update(path, old, new, None, tuple(created), tuple(removed))
    backup = None
    if old is not None and not drop_in:
        backup = path + ".bak"
        _write_atomic(backup, old, path)
    _write_atomic(path, new, path if old is not None else None, drop_in)
    return Update(path, old, new, backup, tuple(created), tuple(removed))


def restore(update: Update, *, drop_in: bool = False) -> None:
    """Undo ``update`` as best we can (the other half of a two-file change failed)."""
    if not update.changed:
        return
    try:
        if update.old is None:
            os.unlink(update.path)
        else:
            _write_atomic(update.path, update.old, update.path, drop_in)
    except (OSError, ConfigFileError):
        pass


def _remove_stale(path: str) -> List[str]:
    """``<path>.bak`` / ``<path>.lock`` that earlier versions left in a drop-in directory."""
    removed = []
    for suffix in STALE_SUFFIXES:
        stale = path + suffix
        if os.path.isfile(stale) and not os.path.islink(stale):
            try:
                os.unlink(stale)
            except OSError as exc:
                raise ConfigFileError(f"cannot remove {stale}: {_reason(exc)} (the engine reads every file "
                                      f"in {os.path.dirname(path)})") from None
            removed.append(stale)
    return removed


def _write_atomic(path: str, text: str, like: Optional[str], drop_in: bool = False) -> None:
    try:
        if drop_in:
            _write_beside_dir(path, text, like)
        else:
            write_atomic(path, text, keep_from=like)
    except OSError as exc:
        raise ConfigFileError(f"write failed: {path}: {_reason(exc)}") from None


def _write_beside_dir(path: str, text: str, like: Optional[str]) -> None:
    """Atomic write whose temporary file is made outside the drop-in directory (a crash must not
    leave a file the engine would read); in it only when the directory above is another file system."""
    directory = os.path.dirname(path)
    try:
        write_atomic(path, text, keep_from=like, tmp_dir=os.path.dirname(directory))
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        write_atomic(path, text, keep_from=like)
