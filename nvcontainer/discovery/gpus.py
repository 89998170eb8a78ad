"""GPUs and MIG devices as NVML reports them, with their device nodes."""

from __future__ import annotations

import os

from nvcontainer.bindings import nvml as nv
from nvcontainer.discovery import components as c
from nvcontainer.discovery.devices import cap_node, gpu_node
from nvcontainer.driver import Gpu, MigDevice
from nvcontainer.securepath import join_in_root

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple


def format_bus_id(domain: int, bus: int, device: int) -> str:
    """The original's "%08x:%02x:%02x.0" (lower-case hex)."""
    return f"{domain:08x}:{bus:02x}:{device:02x}.0"


def enumerate_gpus(lib: nv.Nvml, dev_root: str, caps_major: Optional[int]) -> Tuple[Gpu, ...]:
    gpus = []
    for index in range(lib.device_count()):
        h = lib.handle_by_index(index)
        gpus.append(_gpu(lib, h, index, dev_root, caps_major))
    return tuple(gpus)


def _gpu(lib: nv.Nvml, h: Any, index: int, dev_root: str, caps_major: Optional[int]) -> Gpu:
    minor = lib.minor_number(h)
    pci = lib.pci_info(h)
    cc = lib.compute_capability(h)
    memory = nv.optional(lib.memory_info, h)
    arch = nv.optional(lib.architecture, h, default=-1)
    util = nv.optional(lib.utilization, h)
    # As the original: a GPU whose MIG mode NVML reports is MIG-capable; MIG is enabled only when
    # the current mode is on and no change is pending.
    mig_mode = nv.optional(lib.mig_mode, h)
    mig_capable = mig_mode is not None
    mig_enabled = mig_capable and mig_mode[0] == nv.DEVICE_MIG_ENABLE and mig_mode[0] == mig_mode[1]
    migs = _migs(lib, h, index, minor, dev_root, caps_major) if mig_enabled else ()
    return Gpu(
        index=index,
        minor=minor,
        model=lib.name(h),
        brand=nv.BRAND_NAMES.get(lib.brand(h), "Unknown"),
        uuid=lib.uuid(h),
        bus_id=format_bus_id(pci.domain, pci.bus, pci.device),
        architecture=f"{cc[0]}.{cc[1]}",
        arch_name=nv.ARCH_NAMES.get(arch, ""),
        memory_total=memory.total if memory else 0,
        memory_free=memory.free if memory else 0,
        memory_used=memory.used if memory else 0,
        node=gpu_node(dev_root, minor),
        mig_enabled=mig_enabled,
        mig_capable=mig_capable,
        migs=migs,
        utilization_gpu=util[0] if util else None,
        utilization_memory=util[1] if util else None,
        proc_dir=proc_dir(dev_root, pci.domain, pci.bus, pci.device),
    )


def proc_dir(dev_root: str, domain: int, bus: int, device: int) -> Optional[str]:
    """The GPU's /proc/driver/nvidia/gpus directory: 8-hex-digit domain first, then 4, as the original."""
    for name in (format_bus_id(domain, bus, device), f"{domain:04x}:{bus:02x}:{device:02x}.0"):
        path = c.PROC_GPUS.format(bus_id=name)
        if os.path.isdir(join_in_root(dev_root, path)):
            return path
    return None


def _migs(lib: nv.Nvml, parent: Any, parent_index: int, minor: int, dev_root: str,
          caps_major: Optional[int]) -> Tuple[MigDevice, ...]:
    migs: List[MigDevice] = []
    for position, h in enumerate(lib.mig_handles(parent)):
        gi = lib.gpu_instance_id(h)
        ci = lib.compute_instance_id(h)
        gi_path = c.GI_ACCESS.format(minor=minor, gi=gi)
        ci_path = c.CI_ACCESS.format(minor=minor, gi=gi, ci=ci)
        memory = nv.optional(lib.memory_info, h)
        if memory is None:
            attrs = nv.optional(lib.attributes, h)
            total = attrs.memory_size_mb << 20 if attrs else 0
        else:
            total = memory.total
        migs.append(MigDevice(
            index=position,
            parent_index=parent_index,
            uuid=lib.uuid(h),
            name=lib.name(h),
            gpu_instance_id=gi,
            compute_instance_id=ci,
            memory_total=total,
            gi_caps_path=gi_path,
            ci_caps_path=ci_path,
            gi_caps_node=cap_node(dev_root, caps_major, gi_path),
            ci_caps_node=cap_node(dev_root, caps_major, ci_path),
        ))
    return tuple(migs)
