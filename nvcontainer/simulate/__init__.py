"""A simulated NVIDIA driver: a driver root that is real to everything above NVML.

``build(dir, preset="dgx-a100", topology=None, layout="debian")`` compiles, with the system gcc,
a libnvidia-ml and a libcuda that read their "hardware" from ``<root>/proc/driver/nvidia`` and
``<root>/dev`` (so they keep working inside ``chroot`` or a container that bind-mounts them),
stub libraries with the real file names and SONAMEs, nvidia-smi and the other driver binaries,
and lays out proc files, device nodes, firmware, IPC sockets and an ld.so.cache.  Topologies
are presets or JSON files (schema in ``nvcontainer.simulate.topology``).

Command line: ``python -m nvcontainer.simulate DIR [--preset NAME | --topology FILE]
[--layout debian|rhel|prefix] [--no-devices]``.
"""

from __future__ import annotations

from nvcontainer.simulate.builder import SimulatedDriver, build
from nvcontainer.simulate.errors import SimulateError
from nvcontainer.simulate.miglayout import SimMig
from nvcontainer.simulate.presets import DEFAULT_PRESET, PRESETS
from nvcontainer.simulate.topology import SimGpu, Topology, load_topology

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "SimGpu",
    "SimMig",
    "SimulateError",
    "SimulatedDriver",
    "Topology",
    "build",
    "load_topology",
]
