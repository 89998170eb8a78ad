"""Mounting by file descriptor, so that a path swapped after it was opened cannot redirect a mount.

Sources and targets are ``O_PATH`` descriptors opened (safely) by the caller.  With the new mount
API (Linux >= 5.12) a mount is built detached (``open_tree``/``fsmount``), given its flags
(``mount_setattr``) and attached with ``move_mount`` onto the target descriptor.  Without it the
classic ``mount(2)`` is used on ``/proc/self/fd/<N>`` paths, which needs a procfs at ``/proc`` that
shows the calling process.

Every helper returns an ``O_PATH`` descriptor on the root of the new mount (close-on-exec; the caller
closes it).  It is what ``remount_fd`` and ``unmount_fd`` take, and an ``openat`` dirfd for writing
into a fresh tmpfs.  Flags only ever add restrictions: a clone keeps those of its source mount.

A source opened in another mount namespace can only be cloned, not bound, from inside the target
namespace: call ``clone_mount`` where the source lives and ``attach_mount`` where the target lives
(``run_in_mount_namespace`` passes descriptors across).  Errors are ``OSError`` as in ``linux``.
"""

from __future__ import annotations

import errno
import os

from nvcontainer.bindings import linux

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Tuple

# MS_*, MOUNT_ATTR_* and statvfs' ST_* agree on these four bits, so one value serves all three.
_ATTR_BITS = (linux.MS_RDONLY, linux.MS_NOSUID, linux.MS_NODEV, linux.MS_NOEXEC)
_ATTR_MASK = linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC


def mount_flags(*, readonly: bool, nosuid: bool, nodev: bool, noexec: bool) -> int:
    """The ``MS_*`` (equal to ``MOUNT_ATTR_*``) bits for the four per-mount restrictions."""
    wanted = (readonly, nosuid, nodev, noexec)
    return sum(bit for bit, on in zip(_ATTR_BITS, wanted) if on)


def _use_new_api(new_api: Optional[bool]) -> bool:
    return linux.new_mount_api_available() if new_api is None else new_api


def _fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def clone_mount(src_fd: int, *, readonly: bool, nosuid: bool, nodev: bool, noexec: bool,
                recursive: bool = False) -> int:
    """A detached bind mount of ``src_fd`` carrying the given restrictions (new mount API only)."""
    flags = linux.OPEN_TREE_CLONE | linux.OPEN_TREE_CLOEXEC | linux.AT_EMPTY_PATH
    if recursive:
        flags |= linux.AT_RECURSIVE
    tree_fd = linux.open_tree(src_fd, "", flags)
    try:
        attrs = mount_flags(readonly=readonly, nosuid=nosuid, nodev=nodev, noexec=noexec)
        if attrs:
            setattr_flags = linux.AT_EMPTY_PATH | (linux.AT_RECURSIVE if recursive else 0)
            linux.mount_setattr(tree_fd, "", setattr_flags, attrs)
    except BaseException:
        os.close(tree_fd)
        raise
    return tree_fd


def attach_mount(mount_fd: int, dst_fd: int) -> None:
    """Attach the detached mount ``mount_fd`` onto the object ``dst_fd`` refers to."""
    flags = linux.MOVE_MOUNT_F_EMPTY_PATH | linux.MOVE_MOUNT_T_EMPTY_PATH
    linux.move_mount(mount_fd, "", dst_fd, "", flags)


def bind_mount_fd(src_fd: int, dst_fd: int, *, readonly: bool, nosuid: bool, nodev: bool, noexec: bool,
                  recursive: bool = False, new_api: Optional[bool] = None) -> int:
    """Bind-mount the object of ``src_fd`` onto that of ``dst_fd``; both in the current mount ns.

    ``new_api`` forces (True) or refuses (False) the new mount API; None probes.  Without it the
    restrictions are applied by a remount of the new mount only, even when ``recursive``.
    """
    if _use_new_api(new_api):
        tree_fd = clone_mount(src_fd, readonly=readonly, nosuid=nosuid, nodev=nodev, noexec=noexec,
                              recursive=recursive)
        try:
            attach_mount(tree_fd, dst_fd)
        except BaseException:
            os.close(tree_fd)
            raise
        return tree_fd

    src_st = os.fstat(src_fd)
    linux.mount(_fd_path(src_fd), _fd_path(dst_fd), None, linux.MS_BIND | (linux.MS_REC if recursive else 0))
    mount_fd = _open_mount_on(dst_fd, lambda fd, _: _same_file(os.fstat(fd), src_st))
    try:
        remount_fd(mount_fd, readonly=readonly, nosuid=nosuid, nodev=nodev, noexec=noexec, new_api=False)
    except BaseException:
        unmount_fd(mount_fd)
        os.close(mount_fd)
        raise
    return mount_fd


def tmpfs_mount_fd(dst_fd: int, mode: int, flags: int = 0, *, new_api: Optional[bool] = None) -> int:
    """Mount a fresh tmpfs (root directory ``mode``) on the directory ``dst_fd``.

    ``flags`` may hold MS_RDONLY, MS_NOSUID, MS_NODEV and MS_NOEXEC.  To fill it first, mount it
    without them, write through ``openat(returned_fd, ...)``, then ``remount_fd``.
    """
    if flags & ~_ATTR_MASK:
        raise ValueError(f"unsupported tmpfs mount flags: {flags:#x}")
    if _use_new_api(new_api):
        fs_fd = linux.fsopen("tmpfs", linux.FSOPEN_CLOEXEC)
        try:
            linux.fsconfig(fs_fd, linux.FSCONFIG_SET_STRING, "mode", f"{mode:o}")
            linux.fsconfig(fs_fd, linux.FSCONFIG_CMD_CREATE)
            mount_fd = linux.fsmount(fs_fd, linux.FSMOUNT_CLOEXEC, flags)
        finally:
            os.close(fs_fd)
        try:
            attach_mount(mount_fd, dst_fd)
        except BaseException:
            os.close(mount_fd)
            raise
        return mount_fd

    linux.mount("tmpfs", _fd_path(dst_fd), "tmpfs", flags, f"mode={mode:o}")
    return _open_mount_on(dst_fd, lambda _, fstype: fstype == "tmpfs")


def remount_fd(mount_fd: int, *, readonly: bool, nosuid: bool, nodev: bool, noexec: bool,
               new_api: Optional[bool] = None) -> None:
    """Add restrictions to the mount whose root ``mount_fd`` refers to (never lifts one)."""
    attrs = mount_flags(readonly=readonly, nosuid=nosuid, nodev=nodev, noexec=noexec)
    if _use_new_api(new_api):
        if attrs:
            linux.mount_setattr(mount_fd, "", linux.AT_EMPTY_PATH, attrs)
        return
    # A bind remount resets every flag it is not given, and in a user namespace may not clear
    # locked ones: keep the current restrictions.
    current = os.fstatvfs(mount_fd).f_flag & _ATTR_MASK
    linux.mount(None, _fd_path(mount_fd), None, linux.MS_BIND | linux.MS_REMOUNT | attrs | current)


def unmount_fd(mount_fd: int, *, detach: bool = True) -> None:
    """Unmount the mount whose root ``mount_fd`` refers to (the descriptor stays open).

    ``umount2`` takes a path only: ``self/fd/<N>`` relative to the kernel's ``/proc`` as opened by
    ``proc_fd``, never ``/proc`` as the current mount namespace has it."""
    here = os.open(".", os.O_PATH | os.O_CLOEXEC)
    try:
        os.fchdir(proc_fd())
        linux.umount2(f"self/fd/{mount_fd}", linux.MNT_DETACH if detach else 0)
    finally:
        os.fchdir(here)
        os.close(here)


_proc: Optional[int] = None


def proc_fd() -> int:
    """An ``O_PATH`` descriptor of ``/proc``, opened on the first call and kept.

    Made in the host's namespace before a child enters a container, it lets that child read its
    own ``fdinfo`` and ``mountinfo`` (``self/...`` resolves for whoever looks) without resolving
    ``/proc`` through the container's mount table."""
    global _proc
    if _proc is None:
        _proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return _proc


def _open_proc(name: str) -> int:
    return os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=proc_fd())


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def unescape(field: str) -> str:
    """Undo the octal escapes (``\\040`` ...) the kernel puts in mountinfo paths."""
    if "\\" not in field:
        return field
    out, i = bytearray(), 0
    raw = field.encode()
    while i < len(raw):
        if raw[i] == 0x5C and i + 4 <= len(raw) and all(0x30 <= c <= 0x37 for c in raw[i + 1:i + 4]):
            out.append(int(raw[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))


def mnt_id(fd: int) -> int:
    """The id of the mount ``fd`` is on (``mnt_id`` in /proc/self/fdinfo)."""
    with open(_open_proc(f"self/fdinfo/{fd}"), encoding="ascii") as fdinfo:
        for line in fdinfo:
            if line.startswith("mnt_id:"):
                return int(line.split()[1])
    raise OSError(errno.ENOTSUP, "no mnt_id in fdinfo", f"/proc/self/fdinfo/{fd}")


def mountinfo_fields(mount_id: int) -> Optional[List[str]]:
    """The space-split ``/proc/self/mountinfo`` line of mount ``mount_id`` (None: not there).  Only
    "\n" ends a line and only " " separates fields: the kernel escapes those two (and tab and
    backslash) in a mount point, but not \r or U+0085, which str.split/splitlines also break on."""
    with open(_open_proc("self/mountinfo"), encoding="utf-8", errors="surrogateescape", newline="\n") as mountinfo:
        for line in mountinfo:
            fields = line.rstrip("\n").split(" ")
            if fields and int(fields[0]) == mount_id:
                return fields
    return None


def _mount_entry(mount_id: int) -> Optional[Tuple[int, str]]:
    """(parent mount id, fstype) of mount ``mount_id``."""
    fields = mountinfo_fields(mount_id)
    return None if fields is None else (int(fields[1]), fields[fields.index("-") + 1])


def _open_mount_on(dst_fd: int, matches: Callable[[int, str], bool]) -> int:
    """An O_PATH fd on the mount just stacked on ``dst_fd`` (classic API fallback).

    ``/proc/self/fd/<dst_fd>`` still names the covered object, not the new mount on top of it, so a
    remount through it would hit the wrong mount.  Walk the path again and check that what we reach
    is a mount whose parent is ``dst_fd``'s mount and that ``matches(fd, fstype)``; otherwise the
    path changed under us (ESTALE).
    """
    path = os.readlink(_fd_path(dst_fd))
    stale = OSError(errno.ESTALE, "mount target changed while mounting", path)
    if not path.startswith("/") or path.endswith(" (deleted)"):
        raise stale
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        entry = _mount_entry(mnt_id(fd))
        if entry is None or entry[0] != mnt_id(dst_fd) or not matches(fd, entry[1]):
            raise stale
    except BaseException:
        os.close(fd)
        raise
    return fd
