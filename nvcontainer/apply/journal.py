"""A record of what applying a Plan did, so that a failure can undo all of it.

Mounts are undone innermost-last-first (lazy unmount of each), then symlinks and
placeholder files/directories we created are removed, newest first.

A journal can also *report* each step as it happens (``report``, a callable taking one line):
the child applying a Plan sends them to its parent, which can still undo them from another
child if this one has to be killed (see ``nvcontainer.apply.enter``).  ``undo_lines`` is that
second undo, from the reported lines alone.
"""

from __future__ import annotations

import os

from nvcontainer.bindings import mounts
from nvcontainer.securepath import open_in_root, remove_created

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Sequence, Tuple

MOUNTED, CREATED, LINKED = "mounted", "created", "linked"


class Journal:
    __slots__ = ("rootfs", "mount_fds", "created", "symlinks", "report")

    def __init__(self, rootfs: str, report: Optional[Callable[[str], None]] = None) -> None:
        self.rootfs = rootfs
        self.mount_fds: List[int] = []
        self.created: List[str] = []  # root-relative paths, in creation order
        self.symlinks: List[Tuple[str, str]] = []  # (parent dir, name)
        self.report = report

    def mounted(self, fd: int, target: str = "") -> None:
        self.mount_fds.append(fd)
        if self.report is not None:
            self.report(f"{MOUNTED} {target}")

    def made(self, paths: List[str]) -> None:
        self.created.extend(paths)
        if self.report is not None:
            for path in paths:
                self.report(f"{CREATED} {path}")

    def linked(self, parent: str, name: str) -> None:
        self.symlinks.append((parent, name))
        if self.report is not None:
            self.report(f"{LINKED} {parent.rstrip('/')}/{name}")

    def undo(self) -> None:
        for fd in reversed(self.mount_fds):
            try:
                mounts.unmount_fd(fd)
            except OSError:
                pass  # already gone with a parent's lazy unmount
        self.close()
        _unlink_all(self.rootfs, self.symlinks)
        remove_created(self.rootfs, self.created)

    def close(self) -> None:
        for fd in self.mount_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.mount_fds = []


def _unlink_all(rootfs: str, links: Sequence[Tuple[str, str]]) -> None:
    for parent, name in reversed(links):
        try:
            dir_fd = open_in_root(rootfs, parent, follow_final=True)
        except Exception:  # noqa: BLE001 - best effort: the link's directory is gone or changed
            continue
        try:
            os.unlink(name, dir_fd=dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def undo_lines(rootfs: str, lines: Sequence[str]) -> None:
    """Undo, from inside the container's mount namespace, the steps a killed child reported:
    unmount each reported mount target (newest first), remove its links and placeholders."""
    mounted = [line.partition(" ")[2] for line in lines if line.startswith(MOUNTED + " ")]
    created = [line.partition(" ")[2] for line in lines if line.startswith(CREATED + " ")]
    links = [line.partition(" ")[2].rpartition("/")[::2] for line in lines if line.startswith(LINKED + " ")]
    for target in reversed(mounted):
        try:
            fd = open_in_root(rootfs, target, follow_final=False)
        except Exception:  # noqa: BLE001 - nothing there any more
            continue
        try:
            mounts.unmount_fd(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
    _unlink_all(rootfs, [(parent or "/", name) for parent, name in links])
    remove_created(rootfs, created)
