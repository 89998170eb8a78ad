"""What ``nvc-cli list`` prints: the driver's components for a selection, in the original's order.

Order: driver device nodes and the selected GPUs' nodes, MIG access files, IMEX channels,
mig-config / mig-monitor files, then binaries, libraries, 32-bit libraries, IPCs, firmware.
Paths are as seen from the driver root.
"""

from __future__ import annotations

from nvcontainer.discovery import components as c
from nvcontainer.discovery.devices import gpu_cap_minors, missing_node_warning
from nvcontainer.driver import Driver, Gpu
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)

if TYPE_CHECKING:
    from typing import Dict, List, Optional, Sequence

    from nvcontainer.policy.selection import Selection


class ListRequest(Record):
    devices: bool = False  # list device nodes (``--device`` given)
    gpus: Sequence[Gpu] = ()
    migs: Sequence = ()  # MigDevice
    libraries: bool = False
    binaries: bool = False
    ipcs: bool = False
    firmwares: bool = False
    compat32: bool = False
    mig_config: Sequence[Gpu] = ()
    mig_monitor: Sequence[Gpu] = ()
    imex_channels: Sequence[int] = ()


def _mig_cap_paths(driver: Driver, gpus: Sequence[Gpu], cap_file: str, mig_minors: Dict[str, int]) -> List[str]:
    """``--mig-config=all`` / ``--mig-monitor=all``: the capability file, then per GPU its
    capabilities directory; with an ``nvidia-caps`` major (the "dev" caps style) also the cap's
    node, ``/dev/nvidia-caps`` and every cap node of the GPU."""
    dev_style = driver.caps_major is not None
    out = [cap_file]
    if dev_style:
        minor = mig_minors.get(cap_file.rsplit("/", 1)[-1])
        if minor is not None:
            out.append(c.NVIDIA_CAP.format(minor=minor))
    for gpu in gpus:
        out.append(c.GPU_CAPS.format(minor=gpu.minor))
        if dev_style:
            out.append(c.NVIDIA_CAPS_DIR)
            out.extend(c.NVIDIA_CAP.format(minor=m) for m in gpu_cap_minors(mig_minors, gpu.minor))
    return out


def _listed_control_nodes(driver: Driver) -> List[str]:
    """The driver's control nodes as the original lists them: nvidia-modeset even where the host
    has none (discovery leaves an absent one out, so that no container is given it), unless the
    root has none of its warning either, i.e. it was left out on purpose (``no_modeset``)."""
    paths = [n.path for n in driver.control_nodes]
    if c.NVIDIA_MODESET not in paths and missing_node_warning(c.NVIDIA_MODESET) in driver.warnings:
        paths.append(c.NVIDIA_MODESET)
    return paths


def list_paths(driver: Driver, req: ListRequest, mig_minors: Optional[Dict[str, int]] = None) -> List[str]:
    out: List[str] = []
    if req.devices:
        out.extend(_listed_control_nodes(driver))
        out.extend(g.node.path for g in req.gpus)
    if not req.mig_config and not req.mig_monitor:
        for mig in req.migs:
            # Both access files, then (in the "dev" caps style) both cap nodes, as the original.
            out += [mig.gi_caps_path, mig.ci_caps_path]
            if driver.caps_major is not None:
                out += [n.path for n in (mig.gi_caps_node, mig.ci_caps_node) if n is not None]
    out.extend(c.IMEX_CHANNEL.format(channel=ch) for ch in req.imex_channels)
    if req.mig_config:
        out.extend(_mig_cap_paths(driver, req.mig_config, c.MIG_CONFIG_CAP, mig_minors or {}))
    if req.mig_monitor:
        out.extend(_mig_cap_paths(driver, req.mig_monitor, c.MIG_MONITOR_CAP, mig_minors or {}))
    if req.binaries:
        out.extend(b.path for b in driver.binaries)
    if req.libraries:
        out.extend(lib.path for lib in driver.libraries)
        if req.compat32:
            out.extend(lib.path for lib in driver.libraries32)
    if req.ipcs:
        out.extend(i.path for i in driver.ipcs)
    if req.firmwares:
        out.extend(f.path for f in driver.firmwares)
    return out


def docker_flags(driver: Driver, selection: Selection) -> List[str]:
    """``docker run`` flags giving a container the utility+compute parts for ``selection``, the
    manual way: device nodes as ``--device``, files bound read-only at the same path."""
    from nvcontainer.policy.capabilities import Capabilities, library_capabilities, wants_uvm

    caps = Capabilities(frozenset({"utility", "compute"}))
    wanted = library_capabilities(caps)
    flags = []
    for node in driver.control_nodes:
        if node.path == c.NVIDIA_MODESET or (node.path in (c.NVIDIA_UVM, c.NVIDIA_UVM_TOOLS) and not wants_uvm(caps)):
            continue
        flags.append(f"--device={node.host_path}:{node.path}")
    flags += [f"--device={g.node.host_path}:{g.node.path}" for g in selection.gpus]
    for mig in selection.migs:
        flags += [f"--device={n.host_path}:{n.path}" for n in (mig.gi_caps_node, mig.ci_caps_node) if n]
    flags += [f"-v={b.host_path}:{b.path}:ro" for b in driver.binaries if b.capability in wanted]
    flags += [f"-v={lib.host_path}:{lib.path}:ro" for lib in driver.libraries if lib.capability in wanted]
    return flags
