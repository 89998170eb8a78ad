"""The ``update-application-profile`` hook: tell the driver's EGL/Vulkan which GPUs the container has.

As nvidia-cdi-hook 1.20: the minors of the ``/dev/nvidia<N>`` character devices in the
container's ``/dev`` (those below 64) become a bit mask, written as the driver's application
profile ``/etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf`` (mode 0444, the
directory 0555)::

    {"profiles":[{"name":"_container_","settings":["EGLVisibleDGPUDevices",0x5]}],"rules":[{"pattern":[],"profile":"_container_"}]}

(``0x5``: the driver's profile parser takes hex numbers; the text is not strict JSON).  No GPU
node, no file.  The file is written to a temporary name and renamed over, relative to a
directory descriptor resolved inside the rootfs, so an image's symlink there leads nowhere.
"""

from __future__ import annotations

import os
import stat

from nvcontainer.cdi.errors import CdiError
from nvcontainer.errors import NvcError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional

PROFILE_DIR = "/etc/nvidia/nvidia-application-profiles-rc.d"
PROFILE_NAME = "10-container.conf"


def _is_gpu_node(name: str) -> bool:
    """``nvidia[0-9]+`` (not nvidiactl, nvidia-uvm, ...)."""
    digits = name[len("nvidia"):]
    return name.startswith("nvidia") and digits.isdigit() and digits.isascii()


def gpu_minors(rootfs: str) -> List[int]:
    """Minors of the container's ``/dev/nvidia<N>`` character devices, in directory order."""
    from nvcontainer.securepath import open_in_root

    try:
        dev = open_in_root(rootfs, "/dev", os.O_RDONLY | os.O_DIRECTORY)
    except NvcError:
        return []
    try:
        minors = []
        for name in os.listdir(dev):
            if not _is_gpu_node(name):
                continue
            st = os.stat(name, dir_fd=dev, follow_symlinks=False)
            if stat.S_ISCHR(st.st_mode):
                minors.append(os.minor(st.st_rdev))
        return minors
    finally:
        os.close(dev)


def profile_text(mask: int) -> bytes:
    return (f'{{"profiles":[{{"name":"_container_","settings":["EGLVisibleDGPUDevices",0x{mask:x}]}}],'
            f'"rules":[{{"pattern":[],"profile":"_container_"}}]}}').encode()


def update_profile(rootfs: str) -> Optional[str]:
    """Write the profile for the container's GPUs; its path, or None when there are none."""
    from nvcontainer.log import logger as log
    from nvcontainer.securepath import open_dir_in_root

    mask = 0
    for minor in gpu_minors(rootfs):
        if 0 <= minor < 64:
            mask |= 1 << minor
        else:
            log.warning("dropping invalid minor number %d: must be in range [0, 63]", minor)
    if not mask:
        return None
    try:
        dir_fd = open_dir_in_root(rootfs, PROFILE_DIR, 0o555)
    except NvcError as exc:
        raise CdiError(f"failed to create application profiles directory: {exc.message}") from None
    tmp = f".{PROFILE_NAME}.nvc-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o444, dir_fd=dir_fd)
        try:
            os.write(fd, profile_text(mask))
            os.fchmod(fd, 0o444)
        finally:
            os.close(fd)
        os.rename(tmp, PROFILE_NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise CdiError(f"failed to write application profile: {(exc.strerror or str(exc)).lower()}") from None
    finally:
        os.close(dir_fd)
    return f"{PROFILE_DIR}/{PROFILE_NAME}"
