"""The Plan: everything a container gets, as plain data.  Building it is pure.

``build_plan(driver, selection, caps, layout, ...)`` turns a Driver snapshot, a device
selection, capabilities and the container's layout into bind mounts, tmpfs directories,
symlinks, generated files, device cgroup rules and the directories ldconfig must index.
``nvc-cli configure --dry-run`` prints it, ``apply`` mounts it, the CDI generator serialises it.

The order of ``Plan.mounts`` is the order of the original's ``driver_mount`` and
``device_mount``: binaries, libraries, 32-bit libraries, firmware, IPCs, driver device
nodes, then per GPU its node and /proc directory, then MIG access files and nodes, IMEX.
"""

from __future__ import annotations

import os

from nvcontainer.discovery import components as c
from nvcontainer.discovery.devices import gpu_cap_minors
from nvcontainer.driver import DeviceNode, Driver, Gpu
from nvcontainer.policy import capabilities as capmod
from nvcontainer.policy.capabilities import Capabilities
from nvcontainer.policy.layout import ContainerLayout
from nvcontainer.policy.selection import Selection
from nvcontainer.records import Record, field

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence, Tuple

# Remount flags of each kind of mount (nvc_mount.c).
LIB_FLAGS = ("ro", "nodev", "nosuid")
DEVICE_FLAGS = ("ro", "nosuid", "noexec")
IPC_FLAGS = ("nodev", "nosuid", "noexec")
PROC_FLAGS = ("ro", "nodev", "nosuid", "noexec")
CAPS_DIR_FLAGS = ("nosuid", "noexec")


class BindMount(Record):
    """Bind ``source`` (host) onto ``target`` (container path), then remount with ``flags``."""

    source: str
    target: str
    kind: str  # file | dir | chardev | socket: what the source must be and the placeholder to make
    flags: Tuple[str, ...]
    what: str  # binary | library | library32 | compat | firmware | ipc | device | proc
    rdev: Optional[Tuple[int, int]] = None  # for devices: the (major, minor) the source must have
    in_rootfs: bool = False  # the source is a path inside the container (CUDA compat libraries)


class TmpfsFile(Record):
    """A file written into a tmpfs: copied from ``source`` (with substitutions) or ``content``.

    ``mode`` None: the source file's permissions, as the original copies them (both less the umask).
    """

    name: str
    source: Optional[str] = None
    content: Optional[str] = None
    substitutions: Tuple[Tuple[str, str], ...] = ()
    mode: Optional[int] = None


class Tmpfs(Record):
    """A tmpfs at ``target`` (root directory ``mode``) holding ``files``, mounted as the original
    leaves it: writable, ``nosuid,nodev,noexec``; it lives in the container's mount namespace only."""

    target: str
    mode: int
    files: Tuple[TmpfsFile, ...] = ()


class Symlink(Record):
    path: str  # container path of the link
    target: str  # what it points to (relative, in the same directory)


class DeviceRule(Record):
    """A device cgroup rule: allow ``access`` to ``type`` major:minor."""

    major: int
    minor: int
    access: str = "rw"
    type: str = "c"


class Plan(Record):
    layout: ContainerLayout
    tmpfs: Tuple[Tmpfs, ...]
    mounts: Tuple[BindMount, ...]
    symlinks: Tuple[Symlink, ...]
    device_rules: Tuple[DeviceRule, ...]
    ldconfig_dirs: Tuple[str, ...]
    devices: Tuple[DeviceNode, ...] = ()  # every device node the container gets, in mount order
    environment: Tuple[Tuple[str, str], ...] = ()
    warnings: Tuple[str, ...] = field(default=(), compare=False)


class PlanOptions(Record):
    no_devbind: bool = False
    no_cgroups: bool = False
    compat32_machine: str = "x86_64"
    mig_config: Tuple[Gpu, ...] = ()  # GPUs whose MIG config capability is given (--mig-config)
    mig_monitor: Tuple[Gpu, ...] = ()
    imex_channels: Tuple[int, ...] = ()
    mig_minors: Tuple[Tuple[str, int], ...] = ()  # nvidia-caps/mig-minors in file order, for mig-config/monitor
    cuda_compat_mode: str = "mount"  # mount | ldconfig | disabled
    compat_libs: Tuple[str, ...] = ()  # the image's compat libraries newer than the driver


def _node_mount(node: DeviceNode) -> BindMount:
    return BindMount(node.host_path, node.path, "chardev", DEVICE_FLAGS, "device", (node.major, node.minor))


APP_PROFILE_NAME = "10-container.conf"
APP_PROFILE_MODE = 0o555
# The original's text, byte for byte: its parser finds the mask as the first "0x" and reads it
# as hex ("invalid application profile" otherwise); no newline at the end.
APP_PROFILE = ('{ "profiles": [{"name": "_container_", "settings": ["EGLVisibleDGPUDevices", 0x%x]}], '
               '"rules": [{"pattern": [], "profile": "_container_"}]}')


def app_profile(gpus: Sequence[Gpu]) -> Optional[str]:
    """The EGL application profile that makes EGL see only the container's GPUs (bit = minor);
    None without GPUs, when the original writes no file (its device_mount ORs each GPU's bit into
    the file, which comes to the same text)."""
    if not gpus:
        return None
    mask = 0
    for gpu in gpus:
        mask |= 1 << gpu.minor
    return APP_PROFILE % mask


class _Builder:
    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.mounts: List[BindMount] = []
        self.devices: List[DeviceNode] = []
        self.rules: List[DeviceRule] = []
        self.warnings: List[str] = []
        self._targets: Dict[str, BindMount] = {}

    def mount(self, m: BindMount) -> None:
        if m.target in self._targets:  # first one wins, like a library picked once
            return
        self._targets[m.target] = m
        self.mounts.append(m)

    def device(self, node: DeviceNode, *, bind: bool, rule: bool) -> None:
        if any(d.path == node.path for d in self.devices):
            return
        self.devices.append(node)
        if bind:
            self.mount(_node_mount(node))
        if rule:
            self.rules.append(DeviceRule(node.major, node.minor))


def build_plan(driver: Driver, selection: Selection, caps: Capabilities, layout: ContainerLayout,
               options: Optional[PlanOptions] = None) -> Plan:
    opts = options or PlanOptions()
    b = _Builder(driver)
    lib_caps = capmod.library_capabilities(caps)
    bin_caps = capmod.binary_capabilities(caps)
    bind_devices = not opts.no_devbind
    rules = not opts.no_cgroups

    tmpfs = [Tmpfs(c.PROC_DRIVER, 0o555, tuple(
        TmpfsFile(name, source=os.path.join(driver.dev_root.rstrip("/") or "/", c.PROC_DRIVER.lstrip("/"), name),
                  substitutions=(("ModifyDeviceFiles: 1", "ModifyDeviceFiles: 0"),) if name == "params" else ())
        for name in c.PROC_DRIVER_FILES))]
    if capmod.wants_app_profile(caps):
        profile = app_profile(selection.gpus)
        files = () if profile is None else (TmpfsFile(APP_PROFILE_NAME, content=profile, mode=APP_PROFILE_MODE),)
        tmpfs.append(Tmpfs(c.APP_PROFILE_DIR, 0o555, files))

    for binary in driver.binaries:
        if binary.capability in bin_caps:
            b.mount(BindMount(binary.host_path, f"{layout.bins_dir}/{os.path.basename(binary.path)}", "file",
                              LIB_FLAGS, "binary"))
    for lib in driver.libraries:
        if lib.capability in lib_caps:
            b.mount(BindMount(lib.host_path, f"{layout.libs_dir}/{os.path.basename(lib.path)}", "file",
                              LIB_FLAGS, "library"))
    ldconfig_dirs = [layout.libs_dir]
    if capmod.wants_compat32(caps, opts.compat32_machine) and layout.libs32_dir:
        for lib in driver.libraries32:
            if lib.capability in lib_caps:
                b.mount(BindMount(lib.host_path, f"{layout.libs32_dir}/{os.path.basename(lib.path)}", "file",
                                  LIB_FLAGS, "library32"))
        ldconfig_dirs.append(layout.libs32_dir)
    symlinks = _symlinks([m for m in b.mounts if m.what in ("library", "library32")], driver.nvrm_version)
    if opts.compat_libs and capmod.wants_compat_libs(caps):
        if opts.cuda_compat_mode == "mount":
            for compat in opts.compat_libs:
                b.mount(BindMount(compat, f"{layout.libs_dir}/{os.path.basename(compat)}", "file", LIB_FLAGS,
                                  "compat", in_rootfs=True))
        elif opts.cuda_compat_mode == "ldconfig":
            ldconfig_dirs.insert(0, os.path.dirname(opts.compat_libs[0]))
    for fw in driver.firmwares:
        b.mount(BindMount(fw.host_path, fw.path, "file", LIB_FLAGS, "firmware"))
    for ipc in driver.ipcs:
        if ipc.capability in lib_caps:
            b.mount(BindMount(ipc.host_path, ipc.path, "dir" if ipc.is_dir else "socket", IPC_FLAGS, "ipc"))

    for node in driver.control_nodes:
        if node.path in (c.NVIDIA_UVM, c.NVIDIA_UVM_TOOLS) and not capmod.wants_uvm(caps):
            continue
        if node.path == c.NVIDIA_MODESET and not capmod.wants_modeset(caps):
            continue
        b.device(node, bind=bind_devices, rule=rules)
    for gpu in selection.gpus:
        b.device(gpu.node, bind=bind_devices, rule=rules)
        if gpu.proc_dir:
            b.mount(BindMount(os.path.join(driver.dev_root, gpu.proc_dir.lstrip("/")), gpu.proc_dir, "dir",
                              PROC_FLAGS, "proc"))
        else:
            b.warnings.append(f"missing /proc/driver/nvidia/gpus directory of {gpu.bus_id}")
    if not opts.mig_config and not opts.mig_monitor:
        for mig in selection.migs:
            for proc_path, cap in ((mig.gi_caps_path, mig.gi_caps_node), (mig.ci_caps_path, mig.ci_caps_node)):
                b.mount(BindMount(os.path.join(driver.dev_root, proc_path.lstrip("/")), proc_path, "file",
                                  PROC_FLAGS, "proc"))
                if cap is not None:
                    b.device(cap, bind=bind_devices, rule=rules)
    minors = dict(opts.mig_minors)
    for gpus, cap_name in ((opts.mig_config, "config"), (opts.mig_monitor, "monitor")):
        if gpus:
            _mig_caps(b, driver, gpus, cap_name, minors, bind_devices, rules)
    for ch in opts.imex_channels:
        if driver.imex_major is None:
            b.warnings.append("no nvidia-caps-imex-channels major in /proc/devices")
            break
        path = c.IMEX_CHANNEL.format(channel=ch)
        b.device(DeviceNode(path, os.path.join(driver.dev_root, path.lstrip("/")), driver.imex_major, ch),
                 bind=bind_devices, rule=rules)
    return Plan(layout=layout, tmpfs=tuple(tmpfs), mounts=tuple(b.mounts), symlinks=tuple(symlinks),
                device_rules=tuple(b.rules), ldconfig_dirs=tuple(ldconfig_dirs), devices=tuple(b.devices),
                warnings=tuple(b.warnings))


def _mig_caps(b: _Builder, driver: Driver, gpus: Sequence[Gpu], cap: str, minors: Dict[str, int],
              bind: bool, rules: bool) -> None:
    """--mig-config / --mig-monitor: the whole capabilities tree and every cap node of the GPUs."""
    root = driver.dev_root
    b.mount(BindMount(os.path.join(root, c.PROC_CAPABILITIES.lstrip("/")), c.PROC_CAPABILITIES, "dir",
                      PROC_FLAGS, "proc"))
    if driver.caps_major is None:
        b.warnings.append("no nvidia-caps major in /proc/devices")
        return
    b.mount(BindMount(os.path.join(root, c.NVIDIA_CAPS_DIR.lstrip("/")), c.NVIDIA_CAPS_DIR, "dir",
                      CAPS_DIR_FLAGS, "device"))
    # The original's order: the config (monitor) cap, then per GPU in selection order every cap
    # minor mig-minors lists for it, in the file's order.
    wanted = [minors[cap]] if cap in minors else []
    for gpu in gpus:
        wanted += gpu_cap_minors(minors, gpu.minor)
    for minor in wanted:
        path = c.NVIDIA_CAP.format(minor=minor)
        node = DeviceNode(path, os.path.join(root, path.lstrip("/")), driver.caps_major, minor)
        # The caps directory itself is bound; the nodes only need their cgroup rules.
        b.device(node, bind=False, rule=rules)


def _symlinks(libs: Sequence[BindMount], version: str) -> List[Symlink]:
    """The links the original adds next to the mounted libraries (ldconfig makes the soname ones)."""
    out = []
    for m in libs:
        d, name = os.path.split(m.target)
        if name.startswith("libcuda.so."):
            out.append(Symlink(f"{d}/libcuda.so", "libcuda.so.1"))
        elif name.startswith("libGLX_nvidia.so."):
            out.append(Symlink(f"{d}/libGLX_indirect.so.0", f"libGLX_nvidia.so.{version}"))
        elif name.startswith("libnvidia-opticalflow.so."):
            out.append(Symlink(f"{d}/libnvidia-opticalflow.so", "libnvidia-opticalflow.so.1"))
    return out
