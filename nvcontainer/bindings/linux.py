"""Thin bindings to the Linux calls Python lacks: namespaces, mounts, the new mount API, openat2.

Everything goes through cffi in ABI mode against the already-loaded libc; the FFI is built on the
first call, so importing this module costs nothing.  The syscall numbers are those of x86_64 and
aarch64; the calls added since Linux 5.2 (``open_tree`` .. ``mount_setattr``) come from the unified
syscall table and are the same on both, ``pivot_root`` is not.

Errors: every function raises ``OSError`` built as ``OSError(errno, strerror, filename[, filename2])``,
so Python picks the subclass (``FileNotFoundError``, ``PermissionError``, ...).  ``filename`` is the
path the call was given, or ``/proc/self/fd/<N>`` when it was handed a file descriptor and an empty
path; for ``mount`` it is the source and ``filename2`` the target.  Callers above turn it into
``MountError(f"mount operation failed: {src}: {err.strerror.lower()}")``.
"""

from __future__ import annotations

import errno as _errno
import os

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)

if TYPE_CHECKING:
    from typing import Any, Optional, Tuple, Union
    PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
    import cffi


# Namespace types (sched.h).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags (linux/mount.h).
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOSYMFOLLOW = 0x100
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

# umount2(2) flags.
MNT_FORCE = 0x1
MNT_DETACH = 0x2
MNT_EXPIRE = 0x4
UMOUNT_NOFOLLOW = 0x8

# *at() flags (fcntl.h).
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

# New mount API (linux/mount.h).
OPEN_TREE_CLONE = 0x1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_SYMLINKS = 0x01
MOVE_MOUNT_F_AUTOMOUNTS = 0x02
MOVE_MOUNT_F_EMPTY_PATH = 0x04
MOVE_MOUNT_T_SYMLINKS = 0x10
MOVE_MOUNT_T_AUTOMOUNTS = 0x20
MOVE_MOUNT_T_EMPTY_PATH = 0x40
FSOPEN_CLOEXEC = 0x1
FSMOUNT_CLOEXEC = 0x1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_SET_BINARY = 2
FSCONFIG_SET_PATH = 3
FSCONFIG_SET_PATH_EMPTY = 4
FSCONFIG_SET_FD = 5
FSCONFIG_CMD_CREATE = 6
FSCONFIG_CMD_RECONFIGURE = 7
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR_NOSYMFOLLOW = 0x00200000

# openat2(2) resolve flags (linux/openat2.h).
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10



# Calls from the unified table (Linux >= 5.2) share their numbers on every architecture we support.
_UNIFIED = {
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "pidfd_open": 434,
    "openat2": 437,
    "mount_setattr": 442,
}
_SYSCALLS = {
    "x86_64": dict(_UNIFIED, pivot_root=155),
    "aarch64": dict(_UNIFIED, pivot_root=41),
}

_loaded: Optional[Tuple[cffi.FFI, Any]] = None
_new_api: Optional[bool] = None


def _libc() -> Tuple[cffi.FFI, Any]:
    global _loaded
    if _loaded is None:
        from nvcontainer.bindings.ffimodules import load
        from nvcontainer.bindings.linux_decl import CDEF

        ffi = load("_linux_ffi", CDEF)
        _loaded = (ffi, ffi.dlopen(None))
    return _loaded


def _nr(name: str) -> int:
    machine = os.uname().machine
    try:
        return _SYSCALLS[machine][name]
    except KeyError:
        raise OSError(_errno.ENOSYS, f"{name}: no syscall number known for {machine}") from None


def _path(value: Optional[PathArg]) -> Optional[bytes]:
    return None if value is None else os.fsencode(value)


def _name(dirfd: int, path: Optional[bytes]) -> str:
    if path:
        return os.fsdecode(path)
    return "." if dirfd == AT_FDCWD else f"/proc/self/fd/{dirfd}"


def _raise(err: int, filename: Optional[str], filename2: Optional[str] = None) -> None:
    if filename2 is None:
        raise OSError(err, os.strerror(err), filename)
    raise OSError(err, os.strerror(err), filename, None, filename2)


def _cstr(ffi: cffi.FFI, value: Optional[bytes]) -> Any:
    return ffi.NULL if value is None else ffi.new("char[]", value)


def _syscall(name: str, *args: Any, filename: Optional[str] = None) -> int:
    """Call ``syscall(nr, ...)``; ints are passed as ``long``, cdata as is (variadic ABI)."""
    ffi, lib = _libc()
    cargs = [ffi.cast("long", a) if isinstance(a, int) else a for a in args]
    ret = int(lib.syscall(ffi.cast("long", _nr(name)), *cargs))
    if ret < 0:
        _raise(ffi.errno, filename)
    return ret


def setns(fd: int, nstype: int = 0) -> None:
    """Move the calling thread into the namespace ``fd`` (an ns file or, on Linux >= 5.8, a pidfd)."""
    ffi, lib = _libc()
    if lib.setns(fd, nstype) != 0:
        _raise(ffi.errno, f"/proc/self/fd/{fd}")


def prctl(option: int, *args: int) -> int:
    """``prctl(option, args...)`` (up to four unsigned long arguments, zero-filled)."""
    ffi, lib = _libc()
    cargs = [ffi.cast("unsigned long", a) for a in args]
    cargs += [ffi.cast("unsigned long", 0)] * (4 - len(cargs))
    ret = int(lib.prctl(option, *cargs))
    if ret < 0:
        _raise(ffi.errno, None)
    return ret


def unshare(flags: int) -> None:
    ffi, lib = _libc()
    if lib.unshare(flags) != 0:
        _raise(ffi.errno, None)


def mount(
    source: Optional[PathArg],
    target: PathArg,
    fstype: Optional[str] = None,
    flags: int = 0,
    data: Optional[Union[str, bytes]] = None,
) -> None:
    ffi, lib = _libc()
    src, dst = _path(source), os.fsencode(target)
    fs = None if fstype is None else fstype.encode()
    opts = None if data is None else os.fsencode(data)
    ret = lib.mount(_cstr(ffi, src), _cstr(ffi, dst), _cstr(ffi, fs), flags, _cstr(ffi, opts))
    if ret != 0:
        _raise(ffi.errno, os.fsdecode(src) if src is not None else "none", os.fsdecode(dst))


def umount2(target: PathArg, flags: int = 0) -> None:
    ffi, lib = _libc()
    dst = os.fsencode(target)
    if lib.umount2(dst, flags) != 0:
        _raise(ffi.errno, os.fsdecode(dst))


def pivot_root(new_root: PathArg, put_old: PathArg) -> None:
    ffi, _ = _libc()
    new, old = os.fsencode(new_root), os.fsencode(put_old)
    _syscall("pivot_root", _cstr(ffi, new), _cstr(ffi, old), filename=os.fsdecode(new))


def pidfd_open(pid: int, flags: int = 0) -> int:
    """A pidfd for ``pid`` (always close-on-exec)."""
    return _syscall("pidfd_open", pid, flags, filename=f"/proc/{pid}")


def open_tree(dirfd: int, path: PathArg, flags: int) -> int:
    """With ``OPEN_TREE_CLONE``: a detached copy of the mount at ``path``, as an fd."""
    ffi, _ = _libc()
    raw = os.fsencode(path)
    return _syscall("open_tree", dirfd, _cstr(ffi, raw), flags, filename=_name(dirfd, raw))


def move_mount(from_dirfd: int, from_path: PathArg, to_dirfd: int, to_path: PathArg, flags: int) -> None:
    ffi, _ = _libc()
    src, dst = os.fsencode(from_path), os.fsencode(to_path)
    _syscall(
        "move_mount",
        from_dirfd,
        _cstr(ffi, src),
        to_dirfd,
        _cstr(ffi, dst),
        flags,
        filename=_name(to_dirfd, dst),
    )


def mount_setattr(
    dirfd: int, path: PathArg, flags: int, attr_set: int, attr_clr: int = 0, propagation: int = 0
) -> None:
    """Change the per-mount attributes (``MOUNT_ATTR_*``) of the mount at ``dirfd``/``path``."""
    ffi, _ = _libc()
    raw = os.fsencode(path)
    attr = ffi.new("struct mount_attr *")
    attr.attr_set, attr.attr_clr, attr.propagation = attr_set, attr_clr, propagation
    size = ffi.sizeof("struct mount_attr")
    _syscall("mount_setattr", dirfd, _cstr(ffi, raw), flags, attr, size, filename=_name(dirfd, raw))


def fsopen(fstype: str, flags: int = FSOPEN_CLOEXEC) -> int:
    ffi, _ = _libc()
    return _syscall("fsopen", _cstr(ffi, fstype.encode()), flags, filename=fstype)


def fsconfig(
    fs_fd: int, cmd: int, key: Optional[str] = None, value: Optional[str] = None, aux: int = 0
) -> None:
    ffi, _ = _libc()
    ckey = _cstr(ffi, None if key is None else key.encode())
    cvalue = _cstr(ffi, None if value is None else value.encode())
    _syscall("fsconfig", fs_fd, cmd, ckey, cvalue, aux, filename=key)


def fsmount(fs_fd: int, flags: int = FSMOUNT_CLOEXEC, attr_flags: int = 0) -> int:
    """A detached mount of the superblock created on ``fs_fd``."""
    return _syscall("fsmount", fs_fd, flags, attr_flags, filename=f"/proc/self/fd/{fs_fd}")


def openat2(dirfd: int, path: PathArg, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """``openat2(2)``: ``resolve`` holds ``RESOLVE_*`` flags; ``flags`` are passed as given."""
    ffi, _ = _libc()
    raw = os.fsencode(path)
    how = ffi.new("struct open_how *")
    how.flags, how.mode, how.resolve = flags, mode, resolve
    size = ffi.sizeof("struct open_how")
    return _syscall("openat2", dirfd, _cstr(ffi, raw), how, size, filename=_name(dirfd, raw))


def new_mount_api_available() -> bool:
    """Whether open_tree, move_mount, mount_setattr, fsopen, fsconfig and fsmount can be used.

    Probed once, with invalid flags so that a present call fails with EINVAL/EBADF and does nothing.
    ENOSYS (old kernel) and EPERM (a seccomp filter that blocks the calls) mean unavailable.
    """
    global _new_api
    if _new_api is None:
        bad = 0xFFFFFFFF
        probes = (
            ("open_tree", (-1, b"", bad)),
            ("move_mount", (-1, b"", -1, b"", bad)),
            ("mount_setattr", (-1, b"", bad, None, 0)),
            ("fsopen", (b"", bad)),
            ("fsconfig", (-1, bad, None, None, 0)),
            ("fsmount", (-1, bad, 0)),
        )
        ffi, _ = _libc()
        available = True
        for name, args in probes:
            cargs = [a if isinstance(a, int) else _cstr(ffi, a) for a in args]
            try:
                _syscall(name, *cargs)
            except OSError as err:
                if err.errno in (_errno.ENOSYS, _errno.EPERM):
                    available = False
                    break
        _new_api = available
    return _new_api
