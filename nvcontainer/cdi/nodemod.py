"""The ``disable-device-node-modification`` hook: a container must not make the driver create nodes.

With ``ModifyDeviceFiles: 1`` in the host's ``/proc/driver/nvidia/params``, the driver library
in a container (re)creates ``/dev/nvidia*`` nodes it thinks are missing, which would expose
every GPU.  As nvidia-cdi-hook 1.20, the hook shows the container a copy of that file with
``ModifyDeviceFiles: 0``, bound read-only over ``/proc/driver/nvidia/params`` of its rootfs;
nothing is done when the host has no params file, or already says ``0``.

How it differs, on purpose: the copy lives on a tmpfs that is never attached anywhere
(``fsopen``/``fsmount``, then ``open_tree`` + ``move_mount`` of just the file), where
nvidia-cdi-hook leaves a tmpfs mounted at ``/run/nvidia-ctk-hook<uuid>`` inside the container.
On kernels without the new mount API the copy goes through such a scratch directory, which is
unmounted and removed again.  A rootfs without the params file (no driver in its procfs) is left
alone rather than failing the container.
"""

from __future__ import annotations

import os
import stat

from nvcontainer.cdi.errors import CdiError
from nvcontainer.errors import NvcError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Optional

PARAMS = "/proc/driver/nvidia/params"
COPY_NAME = "nvct-params"
MAX_PARAMS = 1 << 20


def modified_contents(text: str) -> Optional[bytes]:
    """``text`` with ``ModifyDeviceFiles: 1`` turned to ``0``; None when there is nothing to change."""
    out = []
    changed = False
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in (raw[:-1] if raw.endswith("\r") else raw for raw in lines):  # Go's bufio.ScanLines
        if line.startswith("ModifyDeviceFiles: "):
            if line == "ModifyDeviceFiles: 0":
                return None
            if line == "ModifyDeviceFiles: 1":
                line = "ModifyDeviceFiles: 0"
                changed = True
        out.append(line + "\n")
    return "".join(out).encode() if changed else None


def modified_params(path: str = PARAMS) -> Optional[bytes]:
    """The container's copy of the host's params file, or None when none is needed."""
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_PARAMS).decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CdiError(f"failed to load params file {path}: {(exc.strerror or str(exc)).lower()}") from None
    return modified_contents(text)


def disable_modification(rootfs: str) -> bool:
    """Bind the modified params over the rootfs's; True if that was done."""
    from nvcontainer.log import logger as log
    from nvcontainer.securepath import open_in_root

    contents = modified_params()
    if contents is None:
        return False
    try:
        target = open_in_root(rootfs, PARAMS, os.O_PATH)
    except NvcError:
        log.info("no %s in the container: nothing to hide", PARAMS)
        return False
    try:
        if not stat.S_ISREG(os.fstat(target).st_mode):
            raise CdiError(f"{PARAMS} in the container is not a regular file")
        try:
            _bind_copy(rootfs, target, contents)
        except OSError as exc:
            raise CdiError(f"failed to mount modified params file: {(exc.strerror or str(exc)).lower()}") from None
    finally:
        os.close(target)
    return True


def _bind_copy(rootfs: str, target: int, contents: bytes) -> None:
    from nvcontainer.bindings import linux

    if not linux.new_mount_api_available():
        _bind_copy_classic(rootfs, target, contents)
        return
    fs_fd = linux.fsopen("tmpfs", linux.FSOPEN_CLOEXEC)
    try:
        linux.fsconfig(fs_fd, linux.FSCONFIG_SET_STRING, "size", str(max(len(contents), 4096)))
        linux.fsconfig(fs_fd, linux.FSCONFIG_SET_STRING, "mode", "0555")
        linux.fsconfig(fs_fd, linux.FSCONFIG_CMD_CREATE)
        mount_fd = linux.fsmount(fs_fd, linux.FSMOUNT_CLOEXEC, 0)
    finally:
        os.close(fs_fd)
    try:
        _write_copy(mount_fd, contents)
        tree = linux.open_tree(mount_fd, COPY_NAME, linux.OPEN_TREE_CLONE | linux.OPEN_TREE_CLOEXEC)
        try:
            linux.mount_setattr(tree, "", linux.AT_EMPTY_PATH, linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NODEV
                                | linux.MOUNT_ATTR_NOSUID | linux.MOUNT_ATTR_NOEXEC | linux.MOUNT_ATTR_NOSYMFOLLOW)
            linux.move_mount(tree, "", target, "", linux.MOVE_MOUNT_F_EMPTY_PATH | linux.MOVE_MOUNT_T_EMPTY_PATH)
        finally:
            os.close(tree)
    finally:
        os.close(mount_fd)


def _write_copy(dir_fd: int, contents: bytes) -> None:
    fd = os.open(COPY_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o444,
                 dir_fd=dir_fd)
    try:
        os.write(fd, contents)
    finally:
        os.close(fd)


def _bind_copy_classic(rootfs: str, target: int, contents: bytes) -> None:
    """Without the new mount API: a scratch tmpfs in the rootfs's /run, removed after the bind."""
    from nvcontainer.bindings import mounts
    from nvcontainer.securepath import mkdirs_in_root, open_in_root, remove_created

    scratch = "/run/nvidia-ctk-hook" + os.urandom(8).hex()
    created = mkdirs_in_root(rootfs, scratch, 0o755)
    try:
        dir_fd = open_in_root(rootfs, scratch, os.O_PATH)
        try:
            tmpfs = mounts.tmpfs_mount_fd(dir_fd, 0o555, new_api=False)
        finally:
            os.close(dir_fd)
        try:
            _write_copy(tmpfs, contents)
            copy = os.open(COPY_NAME, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=tmpfs)
            try:
                mount = mounts.bind_mount_fd(copy, target, readonly=True, nosuid=True, nodev=True, noexec=True,
                                             new_api=False)
                os.close(mount)
            finally:
                os.close(copy)
        finally:
            mounts.unmount_fd(tmpfs)
            os.close(tmpfs)
    finally:
        remove_created(rootfs, created)
