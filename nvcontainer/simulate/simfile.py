"""The simulation-only per-GPU file ``/proc/driver/nvidia/gpus/<bus id>/simulated``.

It carries what a real driver keeps in the GPU and the kernel module, as ``Key: value`` lines
read by the simulated libnvidia-ml (``csrc/simroot.h``, ``csrc/simmig.h``): brand, architecture,
PCI ids, memory, utilisation, fault flags, MIG capability and mode, the GPU's MIG profile table
(one ``GpuInstanceProfile`` line per GPU-instance profile, one ``ComputeInstanceProfile`` line per
compute-instance profile inside it), and the GPU instances and compute instances that exist.
Lists of placements are comma separated.
"""

from __future__ import annotations

from typing import Iterable, List

from nvcontainer.simulate.migprofiles import GpuInstanceProfile
from nvcontainer.simulate.topology import SimGpu

HEADER = (
    "# Simulation-only data (nvcontainer.simulate); not present on a real machine.",
    "# GpuInstanceProfile: <index> <id> <name> <slices> <instances> <SMs> <CE> <DEC> <ENC> <JPEG> <OFA>"
    " <memory MiB> <P2P> <placement size> <placement starts>",
    "# ComputeInstanceProfile: <GI profile index> <index> <id> <name> <slices> <instances> <SMs>"
    " <placement starts>",
    "# GpuInstance: <id> <GI profile index> <placement start>",
    "# MigDevice: <GI id> <CI id> <CI profile index> <CI placement start> <uuid>",
)


def _starts(starts: Iterable[int]) -> str:
    return ",".join(str(s) for s in starts)


def _profile_lines(profile: GpuInstanceProfile) -> List[str]:
    p = profile
    lines = [f"GpuInstanceProfile: {p.index} {p.id} {p.name} {p.slices} {p.instances} {p.sm_count} "
             f"{p.copy_engines} {p.decoders} {p.encoders} {p.jpegs} {p.ofas} {p.memory_mib} {int(p.p2p)} "
             f"{p.placement_size} {_starts(p.starts)}"]
    for c in p.compute_profiles:
        lines.append(f"ComputeInstanceProfile: {p.index} {c.index} {c.id} {c.name} {c.slices} {c.instances} "
                     f"{c.sm_count} {_starts(c.starts)}")
    return lines


def simulated_text(gpu: SimGpu) -> str:
    lines: List[str] = list(HEADER) + [
        f"Brand: {gpu.brand}",
        f"ComputeCapability: {gpu.cc_major}.{gpu.cc_minor}",
        f"Architecture: {gpu.architecture}",
        f"PciDeviceId: 0x{gpu.pci_device_id:08X}",
        f"PciSubSystemId: 0x{gpu.pci_subsystem_id:08X}",
        f"MemoryTotal: {gpu.memory_total}",
        f"MemoryUsed: {gpu.memory_used}",
        f"UtilizationGpu: {gpu.utilization_gpu}",
        f"UtilizationMemory: {gpu.utilization_memory}",
        f"Lost: {'Yes' if gpu.lost else 'No'}",
        f"MigCapable: {'Yes' if gpu.mig_capable else 'No'}",
        f"MigMode: {'Enabled' if gpu.mig_enabled else 'Disabled'}",
        f"MaxMigDevices: {gpu.max_mig_devices}",
    ]
    if gpu.mig_profiles is not None:
        for profile in gpu.mig_profiles.profiles:
            lines += _profile_lines(profile)
    for gi in sorted({(m.gi, m.gi_profile.index, m.gi_start) for m in gpu.migs}):
        lines.append(f"GpuInstance: {gi[0]} {gi[1]} {gi[2]}")
    for mig in gpu.migs:
        lines.append(f"MigDevice: {mig.gi} {mig.ci} {mig.ci_profile.index} {mig.ci_start} {mig.uuid}")
    return "\n".join(lines) + "\n"
