"""Read a file that must be a regular file, without ever blocking on it.

``open()`` of a FIFO blocks until a writer comes, and reading ``/dev/zero`` never ends: a path
that a tenant can point somewhere (an image file, a config file on a shared volume, ``--ldconfig``)
would hang the hook forever.  ``read_regular`` opens with ``O_NONBLOCK`` (an open that cannot
block), checks with ``fstat`` that it got a regular file, and reads at most ``max_bytes``.
"""

from __future__ import annotations

import os
import stat

from nvcontainer.bounds import MAX_CONFIG_BYTES

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional

    from nvcontainer.errors import NvcError

_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a fifo", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket", stat.S_IFLNK: "a symbolic link"}


class NotRegular(OSError):
    """The path is there but is no regular file, or is larger than allowed."""


def open_regular(path: str, *, follow: bool = True, dir_fd: Optional[int] = None) -> int:
    """An ``O_RDONLY`` descriptor of ``path``, which must be a regular file (``NotRegular``
    otherwise; ``OSError`` as ``open`` raises it).  Never blocks."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags, dir_fd=dir_fd)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise NotRegular(0, f"{kind}, not a regular file", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_fd(fd: int, path: str, max_bytes: int) -> bytes:
    """All of ``fd`` (from its current offset), at most ``max_bytes`` (``NotRegular`` beyond)."""
    chunks: List[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise NotRegular(0, f"larger than {max_bytes} bytes", path)


def read_regular(path: str, max_bytes: int = MAX_CONFIG_BYTES, *, follow: bool = True,
                 dir_fd: Optional[int] = None) -> bytes:
    """The bytes of the regular file ``path`` (see ``open_regular``), at most ``max_bytes``."""
    fd = open_regular(path, follow=follow, dir_fd=dir_fd)
    try:
        return read_fd(fd, path, max_bytes)
    finally:
        os.close(fd)


def reason(exc: OSError) -> str:
    """The lower-case reason of ``exc`` for a one-line error (``no such file or directory``)."""
    return (exc.strerror or str(exc)).lower()


def error_for(exc: OSError, path: str, error: type[NvcError], verb: str = "open failed") -> NvcError:
    """``error("<verb>: <path>: <reason>")`` for a failed read of ``path``."""
    return error(f"{verb}: {path}: {reason(exc)}")
