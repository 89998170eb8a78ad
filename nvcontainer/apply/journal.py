"""A record of what applying a Plan did, so that a failure can undo all of it.

Mounts are undone innermost-last-first (lazy unmount of each), then symlinks and
placeholder files/directories we created are removed, newest first.
"""

from __future__ import annotations

import os

from nvcontainer.bindings import mounts
from nvcontainer.securepath import open_in_root, remove_created

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Tuple


class Journal:
    __slots__ = ("rootfs", "mount_fds", "created", "symlinks")

    def __init__(self, rootfs: str) -> None:
        self.rootfs = rootfs
        self.mount_fds: List[int] = []
        self.created: List[str] = []  # root-relative paths, in creation order
        self.symlinks: List[Tuple[str, str]] = []  # (parent dir, name)

    def mounted(self, fd: int) -> None:
        self.mount_fds.append(fd)

    def made(self, paths: List[str]) -> None:
        self.created.extend(paths)

    def undo(self) -> None:
        for fd in reversed(self.mount_fds):
            try:
                mounts.unmount_fd(fd)
            except OSError:
                pass  # already gone with a parent's lazy unmount
        self.close()
        for parent, name in reversed(self.symlinks):
            try:
                dir_fd = open_in_root(self.rootfs, parent, follow_final=True)
            except Exception:
                continue
            try:
                os.unlink(name, dir_fd=dir_fd)
            except OSError:
                pass
            finally:
                os.close(dir_fd)
        remove_created(self.rootfs, self.created)

    def close(self) -> None:
        for fd in self.mount_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.mount_fds = []
