"""The ``proc/`` part of a simulated driver root, in the real kernel module's formats.

``proc/driver/nvidia/{version,params,registry}``, one ``gpus/<bus id>/`` directory per GPU
holding the real ``information`` file and the simulation-only ``simulated`` file (``simfile``),
the ``capabilities`` tree (``capabilities``), ``proc/driver/nvidia-caps/mig-minors``,
``proc/devices`` and ``proc/modules``.

Init faults are realised the way a real machine shows them: 9 (driver not loaded) writes no
``version`` file and no nvidia modules in ``modules``, 18 (version mismatch) a ``version``
naming another driver, 4 (no permission) the injection file ``proc/driver/nvidia/simulated``
with ``InitError: 4``.
"""

from __future__ import annotations

from pathlib import Path

from nvcontainer.simulate.capabilities import capability_dirs, capability_files
from nvcontainer.simulate.devices import proc_devices_text
from nvcontainer.simulate.migminors import mig_minors_text
from nvcontainer.simulate.simfile import simulated_text
from nvcontainer.simulate.topology import SimGpu, Topology

NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18

_BUILD_DATES = {
    "550.54.15": "Tue Mar  5 22:23:56 UTC 2024",
    "570.124.06": "Wed Feb 26 01:08:47 UTC 2025",
}
_DEFAULT_DATE = "Mon Jan  1 00:00:00 UTC 2024"
MISMATCH_VERSION = "535.161.08"

PARAMS = (
    ("ResmanDebugLevel", "4294967295"), ("RmLogonRC", "1"), ("ModifyDeviceFiles", "1"),
    ("DeviceFileUID", "0"), ("DeviceFileGID", "0"), ("DeviceFileMode", "438"),
    ("InitializeSystemMemoryAllocations", "1"), ("UsePageAttributeTable", "4294967295"),
    ("EnableMSI", "1"), ("EnablePCIeGen3", "0"), ("MemoryPoolSize", "0"), ("KMallocHeapMaxSize", "0"),
    ("VMallocHeapMaxSize", "0"), ("IgnoreMMIOCheck", "0"), ("TCEBypassMode", "0"),
    ("EnableStreamMemOPs", "0"), ("EnableUserNUMAManagement", "1"), ("NvLinkDisable", "0"),
    ("RmProfilingAdminOnly", "1"), ("PreserveVideoMemoryAllocations", "0"),
    ("EnableS0ixPowerManagement", "0"), ("S0ixPowerManagementVideoMemoryThreshold", "256"),
    ("DynamicPowerManagement", "3"), ("DynamicPowerManagementVideoMemoryThreshold", "200"),
    ("RegisterPCIDriver", "1"), ("EnablePCIERelaxedOrderingMode", "0"), ("EnableResizableBar", "0"),
    ("EnableGpuFirmware", "18"), ("EnableGpuFirmwareLogs", "2"), ("RmNvlinkBandwidthLinkCount", "0"),
    ("EnableDbgBreakpoint", "0"), ("OpenRmEnableUnsupportedGpus", "1"), ("DmaRemapPeerMmio", "1"),
    ("ImexChannelCount", "2048"), ("CreateImexChannel0", "0"), ("GrdmaPciTopoCheckOverride", "0"),
    ("RegistryDwords", '""'), ("RegistryDwordsPerDevice", '""'), ("RmMsg", '""'), ("GpuBlacklist", '""'),
    ("TemporaryFilePath", '""'), ("ExcludedGpus", '""'),
)


def version_text(driver_version: str) -> str:
    date = _BUILD_DATES.get(driver_version, _DEFAULT_DATE)
    return (
        f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {driver_version}  {date}\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14) \n"
    )


def information_text(gpu: SimGpu, irq: int) -> str:
    domain, bus, device, function = gpu.pci_tuple
    return (
        f"Model: \t\t {gpu.name}\n"
        f"IRQ:   \t\t {irq}\n"
        f"GPU UUID: \t {gpu.uuid}\n"
        "Video BIOS: \t 92.00.36.00.10\n"
        "Bus Type: \t PCIe\n"
        "DMA Size: \t 47 bits\n"
        "DMA Mask: \t 0x7fffffffffff\n"
        f"Bus Location: \t {domain:04x}:{bus:02x}:{device:02x}.{function:x}\n"
        f"Device Minor: \t {gpu.minor}\n"
        "GPU Excluded:\t No\n"
    )


# /proc/modules of a loaded driver: name, size, use count, users, state, address, taints.
DRIVER_MODULES = (
    ("nvidia_uvm", 1810432, 0, "-"),
    ("nvidia_drm", 122880, 0, "-"),
    ("nvidia_modeset", 1437696, 1, "nvidia_drm,"),
    ("nvidia", 62590976, 2, "nvidia_uvm,nvidia_modeset,"),
)
OTHER_MODULES = (
    ("drm_kms_helper", 212992, 1, "nvidia_drm,"),
    ("drm", 614400, 4, "nvidia_drm,drm_kms_helper,"),
    ("video", 65536, 1, "nvidia_modeset,"),
    ("ipmi_msghandler", 73728, 1, "nvidia,"),
    ("overlay", 163840, 0, "-"),
    ("br_netfilter", 32768, 0, "-"),
)


def modules_text(driver_loaded: bool) -> str:
    """``/proc/modules``: the NVIDIA modules and those that use them only when the driver is loaded."""
    rows = DRIVER_MODULES + OTHER_MODULES if driver_loaded else tuple(r for r in OTHER_MODULES if r[3] == "-")
    lines = []
    for name, size, count, users in rows:
        taints = " (POE)" if name.startswith("nvidia") else ""  # proprietary, out-of-tree, unsigned
        lines.append(f"{name} {size} {count} {users} Live 0x0000000000000000{taints}\n")
    return "".join(lines)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_procfs(root: Path, topology: Topology) -> None:
    """Create ``root/proc`` for the topology."""
    nvidia = root / "proc/driver/nvidia"
    nvidia.mkdir(parents=True, exist_ok=True)
    if topology.init_error == NVML_ERROR_LIB_RM_VERSION_MISMATCH:
        other = MISMATCH_VERSION if topology.driver_version != MISMATCH_VERSION else "550.54.15"
        _write(nvidia / "version", version_text(other))
    elif topology.init_error != NVML_ERROR_DRIVER_NOT_LOADED:
        _write(nvidia / "version", version_text(topology.driver_version))
    if topology.init_error == NVML_ERROR_NO_PERMISSION:
        _write(nvidia / "simulated", f"# Simulation-only fault injection.\nInitError: {topology.init_error}\n")
    _write(nvidia / "params", "".join(f"{key}: {value}\n" for key, value in PARAMS))
    _write(nvidia / "registry", 'Binary: ""\n')
    (nvidia / "gpus").mkdir(exist_ok=True)
    for position, gpu in enumerate(topology.gpus):
        gpu_dir = nvidia / "gpus" / gpu.proc_bus_id
        _write(gpu_dir / "information", information_text(gpu, irq=150 + position))
        _write(gpu_dir / "simulated", simulated_text(gpu))
    for rel in capability_dirs(topology):
        (root / rel.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for cap in capability_files(topology):
        _write(root / cap.path.lstrip("/"), cap.text)
    _write(root / "proc/driver/nvidia-caps/mig-minors", mig_minors_text())
    (root / "proc/driver/nvidia-uvm").mkdir(parents=True, exist_ok=True)
    _write(root / "proc/devices", proc_devices_text())
    _write(root / "proc/modules", modules_text(topology.init_error != NVML_ERROR_DRIVER_NOT_LOADED))
