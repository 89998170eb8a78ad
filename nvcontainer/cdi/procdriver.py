"""Our ``mount-driver-proc`` hook: a simulated driver's ``/proc/driver/nvidia`` inside the container.

A real driver's ``/proc/driver/nvidia`` is the kernel's and every container's procfs has it.
A simulated driver (``nvcontainer.simulate``) keeps those files in a plain directory of its
root, and its libraries look for them at ``/proc/driver/nvidia``.  A CDI ``mounts`` entry there
is refused by runc ("cannot be mounted because it is inside /proc") and NVIDIA's specs have
none, so the spec of such a root names this hook instead (nvc-ctk adds it only for a dev root
whose ``/proc/driver/nvidia`` is a directory of files; ``--no-driver-proc`` leaves it out).

In the container's mount namespace, before ``pivot_root``: the rootfs's ``/proc`` is resolved
inside the rootfs and must be a procfs (the runtime's, not a directory of the image); on its
``driver`` entry a tmpfs is mounted (nosuid, nodev, noexec), ``nvidia`` made in it, the source
directory bound there read-only (recursive), and the tmpfs made read-only.  A procfs that
already has ``/proc/driver/nvidia`` (a real driver) is left alone.  Mounts go through the
descriptors of what was checked (``nvcontainer.bindings.mounts``); on failure what was mounted
is unmounted again.
"""

from __future__ import annotations

import os

from nvcontainer.cdi.errors import CdiError
from nvcontainer.errors import NvcError

PROC = "/proc"


def _fstype(fd: int) -> str:
    from nvcontainer.bindings.mounts import mnt_id, mountinfo_fields

    fields = mountinfo_fields(mnt_id(fd))
    return fields[fields.index("-") + 1] if fields and "-" in fields else ""


def mount_driver_proc(rootfs: str, source: str) -> bool:
    """Show ``source`` at ``/proc/driver/nvidia`` in the rootfs; False when there was nothing to do."""
    from nvcontainer.bindings import mounts
    from nvcontainer.log import logger as log
    from nvcontainer.securepath import open_in_root

    try:
        src = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise CdiError(f"mount-driver-proc: {source}: {(exc.strerror or str(exc)).lower()}") from None
    opened = [src]
    mounted = []
    try:
        try:
            proc = open_in_root(rootfs, PROC, os.O_PATH)
        except NvcError as exc:
            raise CdiError(f"mount-driver-proc: no /proc in the container: {exc.message}") from None
        opened.append(proc)
        if _fstype(proc) != "proc":
            raise CdiError("mount-driver-proc: the container's /proc is not a procfs")
        try:
            driver = os.open("driver", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=proc)
        except OSError as exc:
            raise CdiError(f"mount-driver-proc: /proc/driver: {(exc.strerror or str(exc)).lower()}") from None
        opened.append(driver)
        try:
            os.stat("nvidia", dir_fd=driver, follow_symlinks=False)
            log.info("the container's procfs has /proc/driver/nvidia: a real driver, left alone")
            return False
        except FileNotFoundError:
            pass
        tmpfs = mounts.tmpfs_mount_fd(driver, 0o755)
        opened.append(tmpfs)
        mounted.append(tmpfs)
        os.mkdir("nvidia", 0o555, dir_fd=tmpfs)
        target = os.open("nvidia", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=tmpfs)
        opened.append(target)
        bound = mounts.bind_mount_fd(src, target, readonly=True, nosuid=True, nodev=True, noexec=True,
                                     recursive=True)
        opened.append(bound)
        mounted.append(bound)
        mounts.remount_fd(tmpfs, readonly=True, nosuid=True, nodev=True, noexec=True)
        mounted.clear()
        return True
    except OSError as exc:
        raise CdiError(f"mount-driver-proc: {(exc.strerror or str(exc)).lower()}") from None
    finally:
        for fd in reversed(mounted):
            try:
                mounts.unmount_fd(fd)
            except OSError:
                pass
        for fd in reversed(opened):
            os.close(fd)
