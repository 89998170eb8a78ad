"""The fingerprint of a snapshot: a value per input, cheap to take again and compare.

An input is ``[kind, path]``:

* ``"l"``: ``lstat`` identity — device, inode, type and mode, size, modification and change times
  (ns), and the device number of a device node; ``None`` when absent.  ``"s"`` is the same through
  symlinks.  A replaced, rewritten, chmod'ed or re-created file, and a directory that gained or lost
  an entry (its mtime moves), all change it;
* ``"r"``: the content of a small file (``/proc/devices``, the driver's version file), for procfs
  files whose times say nothing;
* ``"t"``: a tree — every name below the directory, with the identity of each regular file that has
  a size (procfs files report 0: for them the names count, and a MIG reconfiguration or a GPU that
  comes or goes changes the names).

A snapshot is *racy* when one of its inputs changed while discovery read it: files whose change
time is not older than the start of the build, or procfs values that differ before and after.
A racy snapshot is used for that one run, not stored.
"""

from __future__ import annotations

import os
import stat

from nvcontainer.bounds import MAX_CONFIG_BYTES

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence

MAX_TREE_ENTRIES = 4096
# File times come from a coarse clock (a kernel tick behind, more on network file systems): a
# change this close to the start of a build counts as during it.
RACE_MARGIN_NS = 2_000_000_000


def _identity(st: os.stat_result) -> List[int]:
    rdev = st.st_rdev if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else 0
    return [st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, rdev]


def _stat(path: str, follow: bool) -> Optional[List[int]]:
    try:
        return _identity(os.stat(path, follow_symlinks=follow))
    except OSError:
        return None


def _read(path: str) -> Optional[str]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, MAX_CONFIG_BYTES).decode("utf-8", "surrogateescape")
    except OSError:
        return None
    finally:
        os.close(fd)


def _tree(top: str) -> Optional[List[Any]]:
    out: List[Any] = []
    todo = [""]
    while todo:
        rel = todo.pop()
        try:
            with os.scandir(os.path.join(top, rel) if rel else top) as entries:
                items = sorted((e.name, e) for e in entries)
        except OSError:
            if not rel:
                return None
            out.append([rel, "unreadable"])
            continue
        for name, entry in items:
            path = f"{rel}/{name}" if rel else name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                out.append([path, None])
                continue
            if stat.S_ISDIR(st.st_mode):
                out.append([path, "dir"])
                todo.append(path)
            elif stat.S_ISREG(st.st_mode) and st.st_size:
                out.append([path, _identity(st)])
            else:
                out.append([path, stat.S_IFMT(st.st_mode)])
            if len(out) > MAX_TREE_ENTRIES:
                return out
    return out


_TAKE = {
    "l": lambda path: _stat(path, False),
    "s": lambda path: _stat(path, True),
    "r": _read,
    "t": _tree,
}


def take(inputs: Sequence[Sequence[str]]) -> List[Any]:
    """The current value of each input (see the module text)."""
    return [_TAKE[kind](path) for kind, path in inputs]


def racy(inputs: Sequence[Sequence[str]], values: Sequence[Any], started_ns: int) -> bool:
    """Whether a file input changed around or after ``started_ns`` (``time.time_ns()`` when the
    build started; within ``RACE_MARGIN_NS`` before it counts)."""
    since = started_ns - RACE_MARGIN_NS
    for (kind, _path), value in zip(inputs, values):
        if kind in ("l", "s") and value is not None and max(value[4], value[5]) >= since:
            return True
        if kind == "t" and value:
            for _name, ident in value:
                if isinstance(ident, list) and max(ident[4], ident[5]) >= since:
                    return True
    return False
