"""Device nodes of the simulated driver (``<root>/dev``) and the majors in ``/proc/devices``.

Numbers are the real ones: 195 for the GPU nodes (nvidiactl 255, nvidia-modeset 254,
nvidia<minor>), dynamic majors for nvidia-uvm, nvidia-caps and the IMEX channels (fixed here so
tests are reproducible).  As on a real host, there is one ``/dev/nvidia-caps/nvidia-cap<minor>``
for every capability file (``capabilities``), with that file's ``DeviceFileMinor`` and
``DeviceFileMode``.  Creating nodes needs root (CAP_MKNOD).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import List

from nvcontainer.simulate.capabilities import capability_files
from nvcontainer.simulate.errors import SimulateError
from nvcontainer.simulate.topology import Topology

NV_MAJOR = 195
NV_CTL_MINOR = 255
NV_MODESET_MINOR = 254
IMEX_MAJOR = 234
NVLINK_MAJOR = 235
UVM_MAJOR = 510
CAPS_MAJOR = 511


@dataclass(frozen=True)
class DeviceNode:
    """A character device to create: root-relative path, numbers and permission bits."""

    path: str
    major: int
    minor: int
    mode: int


def device_nodes(topology: Topology) -> List[DeviceNode]:
    nodes = [
        DeviceNode("/dev/nvidiactl", NV_MAJOR, NV_CTL_MINOR, 0o666),
        DeviceNode("/dev/nvidia-modeset", NV_MAJOR, NV_MODESET_MINOR, 0o666),
        DeviceNode("/dev/nvidia-uvm", UVM_MAJOR, 0, 0o666),
        DeviceNode("/dev/nvidia-uvm-tools", UVM_MAJOR, 1, 0o666),
        DeviceNode("/dev/nvidia-caps-imex-channels/channel0", IMEX_MAJOR, 0, 0o666),
    ]
    nodes += [DeviceNode(f"/dev/nvidia{gpu.minor}", NV_MAJOR, gpu.minor, 0o666) for gpu in topology.gpus]
    nodes += [DeviceNode(f"/dev/nvidia-caps/nvidia-cap{cap.minor}", CAPS_MAJOR, cap.minor, cap.mode)
              for cap in capability_files(topology)]
    return nodes


def create_device_nodes(root: Path, topology: Topology) -> None:
    """mknod every node of ``device_nodes`` under root (which must be ours to write)."""
    for node in device_nodes(topology):
        path = root / node.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mknod(path, stat.S_IFCHR | node.mode, os.makedev(node.major, node.minor))
        except PermissionError:
            raise SimulateError("creating device nodes needs root (CAP_MKNOD); use --no-devices") from None
        os.chmod(path, node.mode)


def proc_devices_text() -> str:
    """``/proc/devices`` of a machine with the NVIDIA modules loaded."""
    chars = [
        (1, "mem"), (4, "/dev/vc/0"), (4, "tty"), (4, "ttyS"), (5, "/dev/tty"), (5, "/dev/console"),
        (5, "/dev/ptmx"), (7, "vcs"), (10, "misc"), (13, "input"), (21, "sg"), (29, "fb"), (128, "ptm"),
        (136, "pts"), (180, "usb"), (189, "usb_device"), (NV_MAJOR, "nvidia-frontend"), (226, "drm"),
        (IMEX_MAJOR, "nvidia-caps-imex-channels"), (NVLINK_MAJOR, "nvidia-nvlink"), (240, "hidraw"),
        (UVM_MAJOR, "nvidia-uvm"), (CAPS_MAJOR, "nvidia-caps"),
    ]
    blocks = [(7, "loop"), (8, "sd"), (9, "md"), (11, "sr"), (65, "sd"), (253, "device-mapper"),
              (254, "mdp"), (259, "blkext")]
    out = ["Character devices:"] + [f"{major:3d} {name}" for major, name in chars]
    out += ["", "Block devices:"] + [f"{major:3d} {name}" for major, name in blocks]
    return "\n".join(out) + "\n"
