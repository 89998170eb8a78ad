"""Checks of the device nodes: present with the majors the driver uses, and their /dev/char links.

What to expect comes from the kernel side, not NVML (so it works when NVML fails): GPU minors
from ``/proc/driver/nvidia/gpus/*/information`` (plus NVML's, when it answered), the nvidia-uvm
major from ``/proc/devices``.  The ``/dev/char/<major>:<minor>`` links matter because systemd,
on ``daemon-reload``, re-applies a container's device rules by those paths: a node without a link
loses its access and the container sees "Failed to initialize NVML: Unknown Error".
"""

from __future__ import annotations

import os

from nvcontainer.bounds import decimal
from nvcontainer.discovery import components as c
from nvcontainer.discovery.devices import char_majors, key_values, node_rdev, read_text
from nvcontainer.doctor.check import Check, failed, noted, passed
from nvcontainer.doctor.probe import DriverProbe
from nvcontainer.errors import NvcError
from nvcontainer.records import Record
from nvcontainer.securepath import join_in_root

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional, Set, Tuple

DEV_CHAR = "/dev/char"
_SHOWN = 4  # paths named in a summary before "and N more"

NODES_FIX = ("create the missing nodes with `nvidia-modprobe -c=<minor> -u` (for every GPU minor), or load the "
             "modules (`modprobe nvidia nvidia-uvm`); a node with a wrong major must be removed and re-created "
             "(`mknod -m 666 /dev/nvidiaN c 195 N`)")
UVM_FIX = "load the unified memory module: `modprobe nvidia-uvm` (or `nvidia-modprobe -u -c=0`); CUDA needs it"
def dev_char_fix(dev_root: str = "/") -> str:
    """How to make the links: our command (nvidia-ctk's name for it too), and the udev rule that keeps them."""
    where = "" if os.path.abspath(dev_root) == "/" else f" --driver-root={dev_root}"
    return (f"create them with `nvc-ctk system create-dev-char-symlinks{where}` (as `nvidia-ctk system "
            "create-dev-char-symlinks`), and keep them across driver loads with the udev rule `nvc-ctk install-units` "
            "installs (ACTION==\"add\", DEVPATH==\"/bus/pci/drivers/nvidia\", RUN+=\"... system "
            "create-dev-char-symlinks --create-all\"); without them `systemctl daemon-reload` revokes the containers' "
            "GPU access ('Failed to initialize NVML: Unknown Error')")


DEV_CHAR_FIX = dev_char_fix()


class ExpectedNode(Record):
    path: str  # under the dev root, e.g. /dev/nvidia0
    major: int
    minor: int


def proc_gpu_minors(dev_root: str) -> Tuple[int, ...]:
    """``Device Minor`` of every GPU the kernel module lists under /proc/driver/nvidia/gpus."""
    try:
        directory = join_in_root(dev_root, c.PROC_DRIVER + "/gpus")
        entries = sorted(os.listdir(directory))
    except (OSError, NvcError):
        return ()
    minors: Set[int] = set()
    for entry in entries:
        text = read_text(dev_root, f"{c.PROC_DRIVER}/gpus/{entry}/information")
        minor = decimal(key_values(text or "").get("Device Minor", ""))
        if minor is not None:
            minors.add(minor)
    return tuple(sorted(minors))


def expected_nodes(probe: DriverProbe) -> Tuple[Tuple[ExpectedNode, ...], Optional[int]]:
    """The nodes this driver needs, and the nvidia-uvm major (None: nvidia-uvm is not loaded)."""
    minors = set(proc_gpu_minors(probe.dev_root))
    if probe.driver is not None:
        minors.update(gpu.minor for gpu in probe.driver.gpus)
    nodes = [ExpectedNode(c.NVIDIACTL, c.NV_DEVICE_MAJOR, c.NV_CTL_MINOR)]
    nodes += [ExpectedNode(c.NVIDIA_GPU.format(minor=m), c.NV_DEVICE_MAJOR, m) for m in sorted(minors)]
    uvm_major = char_majors(probe.dev_root).get(c.UVM_DEVICE_NAME)
    if uvm_major is not None:
        nodes += [ExpectedNode(c.NVIDIA_UVM, uvm_major, 0), ExpectedNode(c.NVIDIA_UVM_TOOLS, uvm_major, 1)]
    if node_rdev(probe.dev_root, c.NVIDIA_MODESET) is not None:  # optional: only with nvidia-modeset loaded
        nodes.append(ExpectedNode(c.NVIDIA_MODESET, c.NV_DEVICE_MAJOR, c.NV_MODESET_MINOR))
    return tuple(nodes), uvm_major


def _names(paths: List[str]) -> str:
    shown = ", ".join(paths[:_SHOWN])
    return shown if len(paths) <= _SHOWN else f"{shown} and {len(paths) - _SHOWN} more"


def device_nodes_check(probe: DriverProbe) -> Check:
    """4a. Every node exists and is the character device the driver's numbers say."""
    name = "device-nodes"
    nodes, uvm_major = expected_nodes(probe)
    missing: List[str] = []
    wrong: List[str] = []
    for node in nodes:
        found = node_rdev(probe.dev_root, node.path)
        if found is None:
            missing.append(node.path)
        elif found != (node.major, node.minor):
            wrong.append(f"{node.path} is {found[0]}:{found[1]}, expected {node.major}:{node.minor}")
    problems = []
    if missing:
        problems.append(f"missing {_names(missing)}")
    if wrong:
        problems.append("; ".join(wrong))
    if problems:
        return failed(name, "device nodes: " + "; ".join(problems), NODES_FIX)
    if uvm_major is None:
        return failed(name, f"device nodes present, but nvidia-uvm is not in {c.PROC_DEVICES} (module not loaded)",
                      UVM_FIX)
    gpus = sum(1 for n in nodes if n.path.startswith("/dev/nvidia") and n.path[len("/dev/nvidia"):].isdigit())
    return passed(name, f"device nodes present with the right numbers: /dev/nvidiactl 195:255, {gpus} GPU "
                        f"node{'s' if gpus != 1 else ''} (195:minor), /dev/nvidia-uvm {uvm_major}:0")


def dev_char_check(probe: DriverProbe) -> Check:
    """4b. ``/dev/char/<major>:<minor>`` leads to each node that exists."""
    name = "dev-char-symlinks"
    nodes, _ = expected_nodes(probe)
    present = [n for n in nodes if node_rdev(probe.dev_root, n.path) == (n.major, n.minor)]
    if not present:
        return noted(name, f"{DEV_CHAR} links not checked: no NVIDIA device nodes")
    missing = [f"{DEV_CHAR}/{n.major}:{n.minor}" for n in present
               if node_rdev(probe.dev_root, f"{DEV_CHAR}/{n.major}:{n.minor}") != (n.major, n.minor)]
    if missing:
        return failed(name, f"{len(missing)} of {len(present)} NVIDIA device nodes have no {DEV_CHAR} link "
                            f"({_names(missing)})", dev_char_fix(probe.dev_root))
    return passed(name, f"every NVIDIA device node has its {DEV_CHAR}/<major>:<minor> link")
