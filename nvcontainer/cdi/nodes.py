"""Device nodes in a CDI spec, as nvidia-ctk writes them.

A node is looked for under the dev root and kept only if it is a character device there
(``lstat``: a symlink is not one); its edit carries what the CDI consumer would otherwise have
to stat again: ``path``, ``hostPath`` (left out when equal to ``path``), ``major``, ``minor``,
``fileMode`` (permission bits), ``permissions: rwm`` and ``gid`` when not 0 (Go's ``omitempty``
drops zero values: ``/dev/nvidia0`` has no ``minor``).  A node owned by a group and not
world-readable-and-writable also asks for that group in ``additionalGids`` (unless the
``no-additional-gids-for-device-nodes`` feature flag is set), as nvidia-ctk does.  The
``by-path`` links are made at their container path (nvidia-ctk writes the dev root's host path
there, wrong for any dev root but ``/``).

Per-GPU nodes: ``/dev/nvidia<minor>`` and the DRM nodes the host's sysfs lists for the GPU's
PCI bus id (``/sys/bus/pci/devices/<bus id>/drm``), with a ``create-symlinks`` hook for their
``/dev/dri/by-path`` links; per-MIG nodes: the parent's ``/dev/nvidia<minor>`` and the GI and CI
access capability nodes.
"""

from __future__ import annotations

import os
import stat

from nvcontainer import wildcard

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence

    from nvcontainer.driver import Gpu

CONTROL_NODES = ("/dev/nvidia-modeset", "/dev/nvidia-uvm-tools", "/dev/nvidia-uvm", "/dev/nvidiactl")
MANAGEMENT_PATTERNS = ("/dev/nvidia*", "/dev/nvidia-caps/nvidia-cap*", "/dev/nvidia-modeset", "/dev/nvidia-uvm-tools",
                       "/dev/nvidia-uvm", "/dev/nvidiactl", "/dev/nvidia-caps-imex-channels/channel*")
MANAGEMENT_BLOCKED = ("nvidia-fs", "nvidia-nvswitch", "nvidia-nvlink")
SYSFS_PCI = "/sys/bus/pci/devices"


def host_path(dev_root: str, path: str) -> str:
    return path if dev_root == "/" else os.path.join(dev_root, path.lstrip("/"))


def node_edit(dev_root: str, path: str) -> Optional[Dict[str, Any]]:
    """The ``deviceNodes`` entry of ``path`` (a container path such as ``/dev/nvidia0``), or None
    when the dev root has no character device there."""
    host = host_path(dev_root, path)
    try:
        st = os.lstat(host)
    except OSError:
        return None
    if not stat.S_ISCHR(st.st_mode):
        return None
    edit: Dict[str, Any] = {"path": path}
    if host != path:
        edit["hostPath"] = host
    major, minor, mode = os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode)
    if major:
        edit["major"] = major
    if minor:
        edit["minor"] = minor
    if mode:
        edit["fileMode"] = mode
    edit["permissions"] = "rwm"
    if st.st_gid:
        edit["gid"] = st.st_gid
    return edit


def additional_gid(edit: Dict[str, Any]) -> Optional[int]:
    """The group a container process needs for this node: its owner group, unless the node is
    readable and writable by everyone (or has no mode to judge by)."""
    gid, mode = edit.get("gid"), edit.get("fileMode")
    if not gid or mode is None or (mode & 0o004 and mode & 0o002):
        return None
    return int(gid)


def node_edits(dev_root: str, paths: Sequence[str]) -> List[Dict[str, Any]]:
    out = []
    for path in paths:
        edit = node_edit(dev_root, path)
        if edit is not None:
            out.append(edit)
    return out


def drm_nodes(bus_id: str) -> List[str]:
    """``/dev/dri/<name>`` of the DRM devices the host's sysfs lists for a PCI bus id."""
    try:
        names = sorted(os.listdir(os.path.join(SYSFS_PCI, pci_bus_id(bus_id), "drm")))
    except OSError:
        return []
    return [f"/dev/dri/{name}" for name in names]


def pci_bus_id(bus_id: str) -> str:
    """``00000000:0F:00.0`` (NVML) -> ``0000:0f:00.0`` (sysfs)."""
    domain, _, rest = bus_id.lower().partition(":")
    return f"{domain[-4:]:0>4}:{rest}" if rest else bus_id.lower()


def by_path_links(dev_root: str, nodes: Sequence[Dict[str, Any]]) -> List[str]:
    """``TARGET::LINK`` for each ``/dev/dri/by-path/pci-*-*`` link of the dev root aimed at one of ``nodes``."""
    wanted = {os.path.basename(n.get("hostPath", n["path"])) for n in nodes if n["path"].startswith("/dev/dri/")}
    if not wanted:
        return []
    directory = host_path(dev_root, "/dev/dri/by-path")
    try:
        names = sorted(wildcard.select(os.listdir(directory), "pci-*-*"))
    except OSError:
        return []
    out = []
    for name in names:
        try:
            target = os.readlink(os.path.join(directory, name))
        except OSError:
            continue
        if os.path.basename(target) in wanted:
            out.append(f"{target}::/dev/dri/by-path/{name}")
    return out


def gpu_paths(gpu: Gpu) -> List[str]:
    return [f"/dev/nvidia{gpu.minor}", *drm_nodes(gpu.bus_id)]


def management_paths(dev_root: str) -> List[str]:
    """The nodes of a management spec: every NVIDIA character device of the dev root, except the
    nvidia-fs, NVSwitch and NVLink ones."""
    out: List[str] = []
    for pattern in MANAGEMENT_PATTERNS:
        directory, _, name = pattern.rpartition("/")
        try:
            names = sorted(wildcard.select(os.listdir(host_path(dev_root, directory)), name))
        except OSError:
            continue
        for entry in names:
            path = f"{directory}/{entry}"
            if path not in out and not entry.startswith(MANAGEMENT_BLOCKED):
                out.append(path)
    return out
