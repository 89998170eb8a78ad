"""NVIDIA device nodes under a driver root: those that exist, those that could, and making them.

``existing(root)`` lists the character devices ``/dev/nvidia*`` and ``/dev/nvidia-caps/nvidia-*``
(nvidia-fs, nvidia-nvswitch and nvidia-nvlink left out), in name order, as nvidia-ctk does.
``all_possible(root)`` lists every node the loaded driver can have, present or not: the control
nodes (nvidia-modeset, nvidiactl, nvidia-uvm, nvidia-uvm-tools), the MIG config/monitor caps, and
for each GPU ``/dev/nvidiaN`` and its MIG GPU/compute instance caps.  The majors come from the
root's ``/proc/devices`` (nvidia-uvm must be there, nvidia-caps too when MIG minors exist), the
MIG minors from ``/proc/driver/nvidia-caps/mig-minors``, the GPU count from the NVIDIA display
controllers in ``/sys/bus/pci/devices`` -- or, where the root has no sysfs (a simulated root),
from ``/proc/driver/nvidia/gpus``.
"""

from __future__ import annotations

import glob
import os
import stat
import subprocess

from nvcontainer.discovery import components as c
from nvcontainer.discovery.devices import char_majors, mig_minors, node_rdev
from nvcontainer.records import Record
from nvcontainer.system import SetupError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

BLOCKED_PREFIXES = ("nvidia-fs", "nvidia-nvswitch", "nvidia-nvlink")
GPU_MAJOR_NAMES = ("nvidia", "nvidia-frontend")
PCI_DEVICES = "/sys/bus/pci/devices"
NVIDIA_VENDOR = "0x10de"
GPU_CLASSES = ("0x030000", "0x030200")  # VGA and 3D controllers
KERNEL_MODULES = ("nvidia", "nvidia-uvm", "nvidia-modeset")


class Node(Record):
    path: str  # inside the root, e.g. /dev/nvidia0
    major: int
    minor: int

    @property
    def dev_char_name(self) -> str:
        return f"{self.major}:{self.minor}"


def _host(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def existing(root: str) -> List[Node]:
    """The NVIDIA character devices under ``<root>/dev`` (nodes reached through a link included)."""
    found: List[Node] = []
    for pattern in ("/dev/nvidia*", "/dev/nvidia-caps/nvidia-*"):
        for host_path in sorted(glob.glob(_host(root, pattern))):
            name = os.path.basename(host_path)
            if name.startswith(BLOCKED_PREFIXES):
                continue
            path = "/" + os.path.relpath(host_path, root)
            rdev = node_rdev(root, path)
            if rdev is not None:
                found.append(Node(path, rdev[0], rdev[1]))
    return found


def gpu_major(majors: Dict[str, int]) -> Optional[int]:
    for name in GPU_MAJOR_NAMES:
        if name in majors:
            return majors[name]
    return None


def gpu_count(root: str) -> int:
    """NVIDIA display controllers on the PCI bus; without a sysfs, the GPUs the driver lists."""
    pci = _host(root, PCI_DEVICES)
    if os.path.isdir(pci):
        count = 0
        for device in sorted(os.listdir(pci)):
            vendor = _read(os.path.join(pci, device, "vendor"))
            klass = _read(os.path.join(pci, device, "class"))
            if vendor == NVIDIA_VENDOR and klass in GPU_CLASSES:
                count += 1
        return count
    try:
        return len(os.listdir(_host(root, c.PROC_DRIVER + "/gpus")))
    except OSError:
        return 0


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(64).strip().lower()
    except OSError:
        return ""


def control_nodes(majors: Dict[str, int], root: str) -> List[Node]:
    """nvidia-modeset, nvidiactl, nvidia-uvm, nvidia-uvm-tools (nvidia-ctk's order)."""
    nv = gpu_major(majors)
    uvm = majors.get(c.UVM_DEVICE_NAME)
    if nv is None:
        raise SetupError(f"no NVIDIA device major in {_host(root, c.PROC_DEVICES)} (is the nvidia module loaded?)")
    if uvm is None:
        raise SetupError(f"missing required device major {c.UVM_DEVICE_NAME} in {_host(root, c.PROC_DEVICES)}")
    return [Node(c.NVIDIA_MODESET, nv, c.NV_MODESET_MINOR), Node(c.NVIDIACTL, nv, c.NV_CTL_MINOR),
            Node(c.NVIDIA_UVM, uvm, 0), Node(c.NVIDIA_UVM_TOOLS, uvm, 1)]


def all_possible(root: str) -> List[Node]:
    majors = char_majors(root)
    minors = mig_minors(root)
    caps = majors.get(c.CAPS_DEVICE_NAME)
    if minors and caps is None:
        raise SetupError(f"missing required device major {c.CAPS_DEVICE_NAME} in {_host(root, c.PROC_DEVICES)}")
    count = gpu_count(root)
    if count == 0:
        return []
    nodes = control_nodes(majors, root)

    def cap(key: str) -> Optional[Node]:
        minor = minors.get(key)
        return None if minor is None or caps is None else Node(c.NVIDIA_CAP.format(minor=minor), caps, minor)

    nodes += [n for n in (cap("config"), cap("monitor")) if n is not None]
    nv = gpu_major(majors)
    assert nv is not None  # control_nodes checked it
    for gpu in range(count):
        nodes.append(Node(c.NVIDIA_GPU.format(minor=gpu), nv, gpu))
        gi = 0
        while (gi_node := cap(f"gpu{gpu}/gi{gi}/access")) is not None:
            nodes.append(gi_node)
            ci = 0
            while (ci_node := cap(f"gpu{gpu}/gi{gi}/ci{ci}/access")) is not None:
                nodes.append(ci_node)
                ci += 1
            gi += 1
    return nodes


class NodeAction(Record):
    node: Node
    host_path: str
    action: str  # "create", "exists", "wrong" (exists with other numbers: left as it is)
    found: Optional[Tuple[int, int]] = None


def plan_control_nodes(root: str, dev_root: Optional[str] = None) -> List[NodeAction]:
    """What ``create_control_nodes`` would do."""
    dev_root = dev_root or root
    actions = []
    for node in control_nodes(char_majors(root), root):
        host_path = _host(dev_root, node.path)
        found = node_rdev(dev_root, node.path)
        if found is None and os.path.lexists(host_path):
            raise SetupError(f"{host_path} exists and is not a character device")
        if found is None:
            actions.append(NodeAction(node, host_path, "create"))
        else:
            actions.append(NodeAction(node, host_path, "exists" if found == (node.major, node.minor) else "wrong",
                                      found))
    return actions


def create_control_nodes(actions: List[NodeAction]) -> None:
    """mknod (mode 0666) every node to create; on a failure, remove those made and raise."""
    made: List[str] = []
    try:
        for act in actions:
            if act.action != "create":
                continue
            os.makedirs(os.path.dirname(act.host_path), mode=0o755, exist_ok=True)
            os.mknod(act.host_path, stat.S_IFCHR | 0o666, os.makedev(act.node.major, act.node.minor))
            made.append(act.host_path)
            os.chmod(act.host_path, 0o666)  # mknod's mode is cut by the umask
    except OSError as exc:
        for path in made:
            try:
                os.unlink(path)
            except OSError:
                pass
        raise SetupError(f"cannot create {exc.filename or 'device node'}: {(exc.strerror or str(exc)).lower()}") \
            from None


def modprobe_commands(root: str) -> List[List[str]]:
    """The commands that load the NVIDIA kernel modules (chrooted into a driver root other than /)."""
    prefix = [] if os.path.abspath(root) == "/" else ["chroot", root]
    return [[*prefix, "modprobe", module] for module in KERNEL_MODULES]


def load_kernel_modules(root: str) -> None:
    for argv in modprobe_commands(root):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SetupError(f"cannot run {' '.join(argv)}: {exc}") from None
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
            raise SetupError(f"{' '.join(argv)} failed: {last}")
