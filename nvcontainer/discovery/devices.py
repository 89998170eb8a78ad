"""Device nodes and the /proc files that describe them, read from the dev root.

Majors come from ``<dev_root>/proc/devices``; the nodes themselves are stat'ed under
``<dev_root>/dev``.  A node whose ``st_rdev`` differs from what the driver says is not used.
"""

from __future__ import annotations

import os
import stat

from nvcontainer.bounds import decimal, leading_decimal
from nvcontainer.discovery import components as c
from nvcontainer.driver import DeviceNode
from nvcontainer.errors import NvcError
from nvcontainer.securepath import join_in_root

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple


def read_text(root: str, path: str) -> Optional[str]:
    """A small text file inside ``root``, or None when it is absent or unreadable."""
    try:
        with open(join_in_root(root, path), encoding="utf-8", errors="replace") as f:
            return f.read(1 << 20)
    except (OSError, NvcError):
        return None


def char_majors(dev_root: str) -> Dict[str, int]:
    """``name -> major`` of the "Character devices:" section of /proc/devices."""
    text = read_text(dev_root, c.PROC_DEVICES) or ""
    majors: Dict[str, int] = {}
    in_char = False
    for line in text.splitlines():
        line = line.strip()
        if line.endswith(":"):
            in_char = line == "Character devices:"
            continue
        parts = line.split(None, 1)
        major = decimal(parts[0], 9) if in_char and len(parts) == 2 else None
        if major is not None:
            majors.setdefault(parts[1], major)
    return majors


def key_values(text: str) -> Dict[str, str]:
    """``Key: value`` lines (the format of the driver's /proc files)."""
    out: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def cap_minor(dev_root: str, proc_path: str) -> Optional[int]:
    """``DeviceFileMinor`` of a capability file such as .../mig/gi1/access."""
    text = read_text(dev_root, proc_path)
    if text is None:
        return None
    value = key_values(text).get("DeviceFileMinor", "")
    return decimal(value, 9)


def node_rdev(dev_root: str, path: str) -> Optional[Tuple[int, int]]:
    """(major, minor) of the char device at ``path`` under dev_root, None if absent or not a char dev."""
    try:
        st = os.stat(join_in_root(dev_root, path))
    except (OSError, NvcError):
        return None
    if not stat.S_ISCHR(st.st_mode):
        return None
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def make_node(dev_root: str, path: str, major: int, minor: int) -> DeviceNode:
    return DeviceNode(path=path, host_path=join_in_root(dev_root, path), major=major, minor=minor)


def missing_node_warning(path: str) -> str:
    """The warning discovery records for a control node the host lacks (``Driver.warnings``)."""
    return f"missing device {path}"


def control_nodes(dev_root: str, majors: Dict[str, int], warnings: List[str], *,
                  no_uvm: bool = False, no_modeset: bool = False) -> Tuple[DeviceNode, ...]:
    """nvidiactl (always); nvidia-uvm, nvidia-uvm-tools and nvidia-modeset when present (a headless
    machine often has no nvidia-modeset module: a missing node is left out with a warning).  `nvc-cli
    list` prints nvidia-modeset anyway, as the original does (``nvcontainer.listing``)."""
    nodes = [make_node(dev_root, c.NVIDIACTL, c.NV_DEVICE_MAJOR, c.NV_CTL_MINOR)]
    if not no_uvm:
        uvm_major = majors.get(c.UVM_DEVICE_NAME)
        for path, minor in ((c.NVIDIA_UVM, 0), (c.NVIDIA_UVM_TOOLS, 1)):
            found = node_rdev(dev_root, path)
            if found is None:
                warnings.append(missing_node_warning(path))
            elif uvm_major is not None and found != (uvm_major, minor):
                warnings.append(f"skipping {path}: device {found[0]}:{found[1]} is not nvidia-uvm {uvm_major}:{minor}")
            else:
                nodes.append(make_node(dev_root, path, found[0], found[1]))
    if not no_modeset:
        found = node_rdev(dev_root, c.NVIDIA_MODESET)
        if found is None:
            warnings.append(missing_node_warning(c.NVIDIA_MODESET))
        else:
            nodes.append(make_node(dev_root, c.NVIDIA_MODESET, found[0], found[1]))
    return tuple(nodes)


def gpu_node(dev_root: str, minor: int) -> DeviceNode:
    return make_node(dev_root, c.NVIDIA_GPU.format(minor=minor), c.NV_DEVICE_MAJOR, minor)


def cap_node(dev_root: str, caps_major: Optional[int], proc_path: str) -> Optional[DeviceNode]:
    """The /dev/nvidia-caps/nvidia-capN node behind a capability /proc file."""
    minor = cap_minor(dev_root, proc_path)
    if minor is None or caps_major is None:
        return None
    return make_node(dev_root, c.NVIDIA_CAP.format(minor=minor), caps_major, minor)


def mig_minors(dev_root: str) -> Dict[str, int]:
    """``gpu0/gi1/access -> minor`` (and ``config``/``monitor``) from nvidia-caps/mig-minors."""
    text = read_text(dev_root, c.MIG_MINORS) or ""
    out: Dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        minor = decimal(parts[1], 9) if len(parts) == 2 else None
        if minor is not None:
            out[parts[0]] = minor
    return out


def gpu_cap_minors(minors: Dict[str, int], gpu_minor: int) -> List[int]:
    """The cap minors of one GPU in ``mig_minors`` (file order: numeric on a real driver): the
    lines ``gpu<N><rest> <minor>`` with N the GPU's minor, as the original's
    ``sscanf(line, "gpu%u%s %u")`` picks them."""
    out = []
    for key, minor in minors.items():
        if not key.startswith("gpu"):
            continue
        value, end = leading_decimal(key, 3, 9)
        if value == gpu_minor and end < len(key):
            out.append(minor)
    return out


def imex_channel_nodes(dev_root: str, major: int) -> Tuple[int, ...]:
    """The IMEX channels whose node ``/dev/nvidia-caps-imex-channels/channel<N>`` the dev root has:
    a character device ``major:N`` itself, not a link to one; in channel order.  (What
    ``NVIDIA_IMEX_CHANNELS=all`` gives a container.)"""
    found = []
    try:
        directory = join_in_root(dev_root, c.IMEX_CHANNELS_DIR, follow_final=False)
        with os.scandir(directory) as entries:
            for entry in entries:
                channel = decimal(entry.name[len("channel"):], 7) if entry.name.startswith("channel") else None
                if channel is None or entry.name != f"channel{channel}":
                    continue  # "channel05" is not channel 5's node
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, channel):
                    found.append(channel)
    except (OSError, NvcError):
        return ()
    return tuple(sorted(found))
