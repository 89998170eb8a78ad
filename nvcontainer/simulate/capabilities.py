"""The capability files of a simulated driver, ``/proc/driver/nvidia/capabilities/**``, from which the
``/dev/nvidia-caps/nvidia-cap<minor>`` nodes are derived.

As the kernel module lays them out: ``mig/config`` and ``mig/monitor`` always; a ``gpu<minor>/mig``
directory for every MIG-capable GPU, whether MIG mode is on or off; in it ``gi<G>/access`` for
every GPU instance and ``gi<G>/ci<C>/access`` for every compute instance.  Each file holds its
``DeviceFileMinor`` (the number ``/proc/driver/nvidia-caps/mig-minors`` gives that capability)
and ``DeviceFileMode``; a real host has an ``nvidia-caps`` char device (the major of
``nvidia-caps`` in ``/proc/devices``) with that minor and mode for each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from nvcontainer.simulate.migminors import CONFIG_MINOR, MONITOR_MINOR, ci_access_minor, gi_access_minor
from nvcontainer.simulate.topology import Topology

CAPABILITIES_DIR = "/proc/driver/nvidia/capabilities"
CONFIG_MODE = 0o400
MONITOR_MODE = 0o444
ACCESS_MODE = 0o444


@dataclass(frozen=True)
class CapabilityFile:
    """One capability file: root-relative path, and the minor and mode of its nvidia-caps node."""

    path: str
    minor: int
    mode: int

    @property
    def text(self) -> str:
        return f"DeviceFileMinor: {self.minor}\nDeviceFileMode: {self.mode}\nDeviceFileModify: 1\n"


def capability_dirs(topology: Topology) -> List[str]:
    """The ``gpu<minor>/mig`` directory of every MIG-capable GPU (root-relative)."""
    return [f"{CAPABILITIES_DIR}/gpu{gpu.minor}/mig" for gpu in topology.gpus if gpu.mig_capable]


def capability_files(topology: Topology) -> List[CapabilityFile]:
    """Every capability file, system-wide ones first, then per GPU by GPU instance and compute instance."""
    files = [CapabilityFile(f"{CAPABILITIES_DIR}/mig/config", CONFIG_MINOR, CONFIG_MODE),
             CapabilityFile(f"{CAPABILITIES_DIR}/mig/monitor", MONITOR_MINOR, MONITOR_MODE)]
    for gpu in topology.gpus:
        base = f"{CAPABILITIES_DIR}/gpu{gpu.minor}/mig"
        for gi in sorted({mig.gi for mig in gpu.migs}):
            files.append(CapabilityFile(f"{base}/gi{gi}/access", gi_access_minor(gpu.minor, gi), ACCESS_MODE))
            for mig in (m for m in gpu.migs if m.gi == gi):
                files.append(CapabilityFile(f"{base}/gi{gi}/ci{mig.ci}/access",
                                            ci_access_minor(gpu.minor, gi, mig.ci), ACCESS_MODE))
    return files
