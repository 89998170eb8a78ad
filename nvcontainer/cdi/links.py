"""Create symlinks inside a container rootfs without ever writing outside it.

The ``create-symlinks`` hook's job (``--link TARGET::LINK``).  The rootfs comes from an image
and may hold symlinks aimed at host directories (``/usr/lib/x86_64-linux-gnu -> /etc`` or
``-> ../../../../etc``); a hook that joined strings and called ``symlink()`` would follow them
and create files on the host (CVE-2024-0134; CVE-2025-23267 for ldconfig's side).  Here:

* the link's parent directory is resolved inside the rootfs with ``securepath`` (absolute
  symlinks restart at the rootfs, ``..`` stops there), missing directories are made the same way,
  and the directory is opened: everything after that happens relative to that descriptor;
* the link itself is made with ``symlinkat``; whatever else is there (an older link, a file of
  the image) is replaced atomically (``symlinkat`` to a temporary name, then ``renameat`` over
  it), as nvidia-cdi-hook 1.20 does; a directory there is an error;
* the link's *target* is only text stored in the link: a symlink is never followed here.
"""

from __future__ import annotations

import os
import stat

from nvcontainer.cdi.errors import CdiError
from nvcontainer.errors import NvcError
from nvcontainer.records import Record
from nvcontainer.securepath import mkdirs_in_root, open_in_root

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Sequence, Tuple


class Link(Record):
    target: str  # what the link points to (stored as is)
    path: str  # the link's path inside the container


def parse_link(value: str) -> Link:
    """``TARGET::LINK`` (the nvidia-cdi-hook syntax) → ``Link``."""
    target, sep, path = value.partition("::")
    if not sep or not target or not path:
        raise CdiError(f"invalid link {value!r}: expected TARGET::LINK")
    return Link(target, path)


def _split(path: str) -> Tuple[str, str]:
    parts = [p for p in path.split("/") if p]
    if not parts or parts[-1] in (".", ".."):
        raise CdiError(f"invalid link path {path!r}: no file name")
    return "/" + "/".join(parts[:-1]), parts[-1]


def create_link(rootfs: str, link: Link) -> str:
    """Make ``link`` inside ``rootfs``; returns what was done: ``created``, ``replaced`` or ``kept``."""
    parent, name = _split(link.path)
    try:
        mkdirs_in_root(rootfs, parent)
        dir_fd = open_in_root(rootfs, parent, os.O_RDONLY | os.O_DIRECTORY, follow_final=True)
    except NvcError as exc:
        raise CdiError(f"cannot create link {link.path}: {exc.message}") from None
    try:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            os.symlink(link.target, name, dir_fd=dir_fd)
            return "created"
        if stat.S_ISDIR(st.st_mode):
            raise CdiError(f"cannot create link {link.path}: a directory is there")
        if stat.S_ISLNK(st.st_mode) and os.readlink(name, dir_fd=dir_fd) == link.target:
            return "kept"
        tmp = f".{name}.nvc-{os.getpid()}"
        os.symlink(link.target, tmp, dir_fd=dir_fd)
        try:
            os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError:
            os.unlink(tmp, dir_fd=dir_fd)
            raise
        return "replaced"
    except OSError as exc:
        raise CdiError(f"cannot create link {link.path}: {(exc.strerror or str(exc)).lower()}") from None
    finally:
        os.close(dir_fd)


def create_links(rootfs: str, links: Sequence[Link]) -> List[str]:
    """``create_link`` for each of ``links``; the outcome of each, in order."""
    return [create_link(rootfs, link) for link in links]
