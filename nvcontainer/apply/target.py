"""The container process configure works on, verified before anything is done to it.

``open_target(pid)`` answers, from the kernel's own ``/proc`` (never one inside a rootfs):

* that ``pid`` is a process id at all (1 .. 2**22) and the process exists: a pidfd is taken
  first, and the namespace file opened afterwards is kept only if the process is still alive then,
  so a reused pid cannot hand us another process's namespace;
* that its mount namespace is not ours, nor pid 1's: configuring our own namespace would mount
  the driver into the host's mount table under the rootfs, where it outlives the container;
* that it has not started yet: its root directory is the host's root (``pivot_root`` not done),
  as NVIDIA's configure assumes.  After ``setns`` a child sees that namespace's root; for a
  started container that is the image, where every path (a Python module, a library, ldconfig)
  is the tenant's;
* who owns it (the placeholders we create belong to that user).

Errors are ``ContainerError`` naming the pid.
"""

from __future__ import annotations

import errno
import os
import select

from nvcontainer.bindings import linux
from nvcontainer.bounds import check_pid
from nvcontainer.errors import ContainerError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Optional, Tuple


class Target(Record):
    """A verified container process: its mount namespace (an open fd the caller closes), its
    owner, and the identity ``(st_dev, st_ino)`` of the host's root directory, which the
    namespace's root must be and the rootfs must not be."""

    pid: int
    ns_fd: int
    uid: int
    gid: int
    host_root: Tuple[int, int]

    def close(self) -> None:
        os.close(self.ns_fd)


def _identity(st: os.stat_result) -> Tuple[int, int]:
    return st.st_dev, st.st_ino


def _gone(pid: int) -> ContainerError:
    return ContainerError(f"open failed: /proc/{pid}/ns/mnt: no such process")


def open_target(pid: object, *, what: str = "pid") -> Target:
    """Verify process ``pid`` as a container to configure (see the module text)."""
    pid = check_pid(pid, what, ContainerError)
    try:
        pidfd: Optional[int] = linux.pidfd_open(pid)
    except OSError as err:
        if err.errno == errno.ESRCH:
            raise _gone(pid) from None
        if err.errno != errno.ENOSYS:
            raise ContainerError(f"open failed: /proc/{pid}: {os.strerror(err.errno or errno.EIO).lower()}") from None
        pidfd = None  # a kernel before 5.3: /proc alone
    ns_fd = -1
    try:
        try:
            ns_fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            ns = _identity(os.fstat(ns_fd))
            root = _identity(os.stat(f"/proc/{pid}/root"))
            owner = os.stat(f"/proc/{pid}")
        except FileNotFoundError:
            raise _gone(pid) from None
        except OSError as err:
            raise ContainerError(f"open failed: /proc/{pid}/ns/mnt: {(err.strerror or str(err)).lower()}") from None
        if pidfd is not None:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if poller.poll(0):  # it exited: the files above may belong to a new process of that pid
                raise _gone(pid)
        host_root = _identity(os.stat("/"))
        for other, name in (("/proc/self/ns/mnt", "ours"), ("/proc/1/ns/mnt", "that of pid 1")):
            try:
                same = _identity(os.stat(other)) == ns
            except OSError:
                same = False
            if same:
                raise ContainerError(f"pid {pid} is not in a mount namespace of its own (it is {name}): "
                                     "refusing to mount into the host's mount table")
        if root != host_root:
            raise ContainerError(f"pid {pid} has already started (its root directory is not the host's): "
                                 "configure a container after it is created and before it starts")
        target = Target(pid, ns_fd, owner.st_uid, owner.st_gid, host_root)
        ns_fd = -1
        return target
    finally:
        if ns_fd >= 0:
            os.close(ns_fd)
        if pidfd is not None:
            os.close(pidfd)
