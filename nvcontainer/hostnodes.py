"""Host device nodes a container is about to get: IMEX channel nodes, and ``--load-kmods``.

NVIDIA's ``nvidia-container-cli --load-kmods`` (``-k``; its hook passes it by default) runs
nvidia-modprobe chrooted into the driver root: it loads the kernel modules and makes missing
device nodes there, IMEX channel nodes among them (unless ``--no-create-imex-channels``).
nvcontainer loads no kernel modules.  With ``load_kmods`` it

* reads the dev root's ``/proc/modules`` and logs each driver module that is not loaded;
* makes each IMEX channel node a Plan binds and the dev root lacks, as nvidia-modprobe makes it:
  ``<dev root>/dev/nvidia-caps-imex-channels/channel<N>``, a character device with the
  ``nvidia-caps-imex-channels`` major of the dev root's ``/proc/devices`` and minor N, mode, owner
  and group from ``/proc/driver/nvidia/params`` (``DeviceFileMode``, default 0666, ``DeviceFileUID``,
  ``DeviceFileGID``), the directory 0755, a ``/dev/char/<major>:<N>`` link where ``/dev/char``
  exists; only while the ``nvidia`` module is loaded, ``ModifyDeviceFiles`` is on and we are not
  in a user namespace (nvidia-modprobe's own conditions).

Every path is walked from the dev root one component at a time without following a symlink, a
node is only ever made in that root's ``dev/nvidia-caps-imex-channels`` (never when the dev root is
the container's rootfs or inside it), and an existing entry is never replaced: a node that is not
the channel's character device is an error.

``prepare_host_nodes`` runs on the host side of configure, before any cgroup rule is granted or
anything is mounted.  A channel node that is still missing then is a ``mount`` error naming it, with
nothing done (NVIDIA's 1.17 crashes after mounting in that case).
"""

from __future__ import annotations

import errno
import os
import stat

from nvcontainer.bounds import decimal
from nvcontainer.discovery import components as c
from nvcontainer.driver import DeviceNode
from nvcontainer.errors import MountError
from nvcontainer.log import logger as log

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Set, Tuple

    from nvcontainer.driver import Driver
    from nvcontainer.plans import Plan

DRIVER_MODULES = ("nvidia", "nvidia_uvm", "nvidia_modeset")
PROC_PARAMS = "/proc/driver/nvidia/params"
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_LIMIT = 1 << 20


class DeviceFileParams:
    """``DeviceFileUID``/``GID``/``Mode`` and ``ModifyDeviceFiles`` of the driver's params file."""

    __slots__ = ("uid", "gid", "mode", "modify")

    def __init__(self, uid: int = 0, gid: int = 0, mode: int = 0o666, modify: bool = True) -> None:
        self.uid, self.gid, self.mode, self.modify = uid, gid, mode, modify


def _read_small(path: str) -> Optional[str]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: List[bytes] = []
        size = 0
        while size < _READ_LIMIT:
            chunk = os.read(fd, _READ_LIMIT - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _in_root(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def loaded_modules(dev_root: str) -> Optional[Set[str]]:
    """Names in the dev root's ``/proc/modules`` (``-`` read as ``_``), None when it is unreadable."""
    text = _read_small(_in_root(dev_root, c.PROC_MODULES))
    if text is None:
        return None
    return {line.split(None, 1)[0].replace("-", "_") for line in text.splitlines() if line.strip()}


def check_modules(dev_root: str) -> bool:
    """Log which driver modules the dev root's kernel has not loaded; whether ``nvidia`` is loaded."""
    loaded = loaded_modules(dev_root)
    if loaded is None:
        log.warning("cannot read %s: not checking the kernel modules", _in_root(dev_root, c.PROC_MODULES))
        return False
    for name in DRIVER_MODULES:
        if name in loaded:
            log.info("kernel module %s is loaded", name)
        else:
            log.warning("kernel module %s is not loaded (nvcontainer loads no kernel modules: "
                        "run nvidia-modprobe or modprobe %s on the host)", name, name)
    return "nvidia" in loaded


def in_user_namespace(proc: str = "/proc/self") -> bool:
    """Whether we run in a user namespace other than the initial one (then nodes are not made).

    The initial namespace maps every id onto itself (``0 0 4294967295``) and allows setgroups."""
    for name in ("uid_map", "gid_map"):
        text = _read_small(f"{proc}/{name}")
        if text is None:
            return False  # no user namespaces in this kernel
        if text.split() != ["0", "0", "4294967295"]:
            return True
    return (_read_small(f"{proc}/setgroups") or "").startswith("deny")


def device_file_params(dev_root: str) -> DeviceFileParams:
    """The params file's device file settings, nvidia-modprobe's defaults where it says nothing."""
    params = DeviceFileParams()
    for line in (_read_small(_in_root(dev_root, PROC_PARAMS)) or "").splitlines():
        key, sep, value = line.partition(":")
        number = decimal(value.strip(), 10) if sep else None
        if number is None:
            continue
        key = key.strip()
        if key == "DeviceFileUID":
            params.uid = number
        elif key == "DeviceFileGID":
            params.gid = number
        elif key == "DeviceFileMode":
            params.mode = number & 0o777
        elif key in ("ModifyDeviceFiles", "DeviceFileModify"):
            params.modify = number == 1
    return params


def imex_nodes(plan: Plan) -> List[Tuple[int, DeviceNode]]:
    """The IMEX channel nodes of ``plan`` as ``(channel, node)``."""
    out = []
    for node in plan.devices:
        if node.path == c.IMEX_CHANNEL.format(channel=node.minor):
            out.append((node.minor, node))
    return out


def dev_root_of(node: DeviceNode) -> Optional[str]:
    """The dev root a Plan's node comes from: its ``host_path`` less its container ``path``."""
    if not node.host_path.endswith(node.path):
        return None
    return node.host_path[:len(node.host_path) - len(node.path)] or "/"


def _inside(path: str, directory: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(directory)
    return real == top or real.startswith(top.rstrip("/") + "/")


def _open_dir(parent: int, name: str, *, create: bool) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if not create:
            raise
    try:
        os.mkdir(name, 0o755, dir_fd=parent)
        os.chmod(name, 0o755, dir_fd=parent, follow_symlinks=True)
    except FileExistsError:
        pass  # made meanwhile by another configure
    return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _lstat(parent: int, name: str) -> Optional[os.stat_result]:
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _is_node(st: Optional[os.stat_result], major: int, minor: int) -> bool:
    return st is not None and stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (
        major, minor)


def _make_node(parent: int, name: str, node: DeviceNode, params: DeviceFileParams) -> None:
    os.mknod(name, stat.S_IFCHR | params.mode, os.makedev(node.major, node.minor), dir_fd=parent)
    try:
        # A root-owned directory of the host's: nobody but root can swap the new node for a link.
        os.chmod(name, params.mode, dir_fd=parent)
        os.chown(name, params.uid, params.gid, dir_fd=parent, follow_symlinks=False)
    except BaseException:
        os.unlink(name, dir_fd=parent)
        raise


def _link_char_dev(dev: int, node: DeviceNode) -> None:
    """``/dev/char/<major>:<minor>`` -> the node, where the root has ``/dev/char`` (as udev does)."""
    try:
        chardir = os.open("char", _DIR_FLAGS, dir_fd=dev)
    except OSError:
        return
    name = f"{node.major}:{node.minor}"
    target = f"../{os.path.basename(c.IMEX_CHANNELS_DIR)}/channel{node.minor}"
    try:
        st = _lstat(chardir, name)
        if st is not None:
            if not stat.S_ISLNK(st.st_mode):
                log.warning("not linking /dev/char/%s: it exists and is no symlink", name)
                return
            if os.readlink(name, dir_fd=chardir) == target:
                return
            os.unlink(name, dir_fd=chardir)
        os.symlink(target, name, dir_fd=chardir)
    except OSError as exc:
        log.warning("could not link /dev/char/%s: %s", name, os.strerror(exc.errno or errno.EIO).lower())
    finally:
        os.close(chardir)


def _error(channel: int, node: DeviceNode, why: str) -> MountError:
    return MountError(f"IMEX channel {channel}: {node.host_path}: {why}")


NOT_ASKED = "make it, or let --load-kmods make it"


def _ensure_channel(channel: int, node: DeviceNode, rootfs: str, creating: Optional[DeviceFileParams],
                    why_not: str) -> None:
    """Check (and with ``creating``, make) one channel node in its dev root; ``why_not`` says why
    a missing node is not made."""
    dev_root = dev_root_of(node)
    if dev_root is None:
        raise _error(channel, node, "not a path of the channel's node")
    if rootfs and _inside(dev_root, rootfs):
        raise _error(channel, node, "the dev root is the container's rootfs or inside it")
    missing = f"no such device node ({why_not})"
    name = f"channel{channel}"
    fds: List[int] = []
    try:
        try:
            fds.append(os.open(dev_root, _DIR_FLAGS & ~os.O_NOFOLLOW))  # the root itself may be a link
            fds.append(os.open("dev", _DIR_FLAGS, dir_fd=fds[-1]))
            fds.append(_open_dir(fds[-1], os.path.basename(c.IMEX_CHANNELS_DIR), create=creating is not None))
        except FileNotFoundError:
            raise _error(channel, node, missing) from None
        except OSError as exc:
            raise _error(channel, node, os.strerror(exc.errno or errno.EIO).lower()) from None
        st = _lstat(fds[-1], name)
        if st is None and creating is not None:
            try:
                _make_node(fds[-1], name, node, creating)
                log.info("created IMEX channel node %s (%d:%d, mode %o)", node.host_path, node.major, node.minor,
                         creating.mode)
            except FileExistsError:
                pass  # made meanwhile by another configure
            except OSError as exc:
                raise _error(channel, node, "could not make the device node: "
                             + os.strerror(exc.errno or errno.EIO).lower()) from None
            st = _lstat(fds[-1], name)
        if st is None:
            raise _error(channel, node, missing)
        if not _is_node(st, node.major, node.minor):
            raise _error(channel, node, f"not the character device {node.major}:{node.minor}")
        if creating is not None:
            _link_char_dev(fds[1], node)
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _creation(dev_root: str, create_imex_channels: bool) -> Tuple[Optional[DeviceFileParams], str]:
    """With --load-kmods: the params to make nodes with, or None and why none are made."""
    nvidia_loaded = check_modules(dev_root)
    if not create_imex_channels:
        return None, "IMEX channel creation is off"
    if in_user_namespace():
        return None, "not made in a user namespace"
    if not nvidia_loaded:
        return None, "not made: the nvidia kernel module is not loaded"
    params = device_file_params(dev_root)
    if not params.modify:
        return None, f"not made: ModifyDeviceFiles is 0 in {PROC_PARAMS}"
    return params, ""


def ensure_imex_channels(nodes: Iterable[Tuple[int, DeviceNode]], rootfs: str = "", *, load_kmods: bool = False,
                         create_imex_channels: bool = True) -> None:
    """Check that each channel node exists as its character device in its dev root; with
    ``load_kmods`` (and ``create_imex_channels``) make missing ones where nvidia-modprobe would."""
    todo = list(nodes)
    if not todo:
        return
    creating: Optional[DeviceFileParams] = None
    why_not = NOT_ASKED
    dev_root = dev_root_of(todo[0][1])
    if load_kmods and dev_root is not None:
        creating, why_not = _creation(dev_root, create_imex_channels)
        if creating is None:
            log.warning("not creating IMEX channel nodes: %s", why_not)
    for channel, node in todo:
        _ensure_channel(channel, node, rootfs, creating, why_not)


def prepare_host_nodes(plan: Plan, rootfs: str = "", *, load_kmods: bool = False,
                       create_imex_channels: bool = True) -> None:
    """Configure's host-side step for ``plan`` (see the module docstring); raises ``MountError``."""
    nodes = imex_nodes(plan)
    if load_kmods and not nodes and plan.devices:
        root = dev_root_of(plan.devices[0])
        if root is not None:
            check_modules(root)
        return
    ensure_imex_channels(nodes, rootfs, load_kmods=load_kmods, create_imex_channels=create_imex_channels)


def load_kmods(driver: Driver, channels: Iterable[int], *, create_imex_channels: bool = True) -> None:
    """``--load-kmods`` for a command that mounts nothing (``nvc-cli list``): check the modules and
    make the missing nodes of ``channels``, as the original does for every command; a problem is
    only logged there, and here."""
    nodes = []
    if driver.imex_major is not None:
        for channel in channels:
            path = c.IMEX_CHANNEL.format(channel=channel)
            nodes.append((channel, DeviceNode(path, _in_root(driver.dev_root, path), driver.imex_major, channel)))
    if not nodes:
        check_modules(driver.dev_root)
        return
    try:
        ensure_imex_channels(nodes, load_kmods=True, create_imex_channels=create_imex_channels)
    except MountError as exc:
        log.warning("%s", exc.message)
