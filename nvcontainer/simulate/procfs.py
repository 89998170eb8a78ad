"""The ``proc/`` part of a simulated driver root, in the real kernel module's formats.

``proc/driver/nvidia/{version,params,registry}``, one ``gpus/<bus id>/`` directory per GPU
holding the real ``information`` file and the simulation-only ``simulated`` file (``simfile``),
the MIG ``capabilities`` tree,
``proc/driver/nvidia-caps/mig-minors`` and ``proc/devices``.

Init faults are realised the way a real machine shows them: 9 (driver not loaded) writes no
``version`` file, 18 (version mismatch) a ``version`` naming another driver, 4 (no permission)
the injection file ``proc/driver/nvidia/simulated`` with ``InitError: 4``.
"""

from __future__ import annotations

from pathlib import Path

from nvcontainer.simulate.devices import proc_devices_text
from nvcontainer.simulate.migminors import (
    CONFIG_MINOR,
    MONITOR_MINOR,
    ci_access_minor,
    gi_access_minor,
    mig_minors_text,
)
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


def capability_text(minor: int, mode: int) -> str:
    return f"DeviceFileMinor: {minor}\nDeviceFileMode: {mode}\nDeviceFileModify: 1\n"


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
    caps = nvidia / "capabilities"
    _write(caps / "mig/config", capability_text(CONFIG_MINOR, 0o400))
    _write(caps / "mig/monitor", capability_text(MONITOR_MINOR, 0o444))
    for position, gpu in enumerate(topology.gpus):
        gpu_dir = nvidia / "gpus" / gpu.proc_bus_id
        _write(gpu_dir / "information", information_text(gpu, irq=150 + position))
        _write(gpu_dir / "simulated", simulated_text(gpu))
        for mig in gpu.migs:
            gi_dir = caps / f"gpu{gpu.minor}/mig/gi{mig.gi}"
            _write(gi_dir / "access", capability_text(gi_access_minor(gpu.minor, mig.gi), 0o444))
            _write(gi_dir / f"ci{mig.ci}/access", capability_text(ci_access_minor(gpu.minor, mig.gi, mig.ci), 0o444))
    _write(root / "proc/driver/nvidia-caps/mig-minors", mig_minors_text())
    (root / "proc/driver/nvidia-uvm").mkdir(parents=True, exist_ok=True)
    _write(root / "proc/devices", proc_devices_text())
