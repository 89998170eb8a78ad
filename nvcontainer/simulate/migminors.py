"""The nvidia-caps minor numbers of MIG capabilities, as the kernel module assigns them.

``config`` is 1, ``monitor`` 2; then for every GPU minor g in 0..31 and GPU instance i in 0..14
the GI access capability is ``3 + 135*g + 9*i`` followed by the 8 compute-instance access
capabilities ``+1 .. +8``.  ``/proc/driver/nvidia-caps/mig-minors`` lists them all.
"""

from __future__ import annotations

from typing import List

CONFIG_MINOR = 1
MONITOR_MINOR = 2
GPUS = 32
GPU_INSTANCES = 15
COMPUTE_INSTANCES = 8
_PER_GI = 1 + COMPUTE_INSTANCES
_PER_GPU = GPU_INSTANCES * _PER_GI


def gi_access_minor(gpu_minor: int, gi: int) -> int:
    if not (0 <= gpu_minor < GPUS and 0 <= gi < GPU_INSTANCES):
        raise ValueError(f"no MIG capability for gpu{gpu_minor}/gi{gi}")
    return 3 + gpu_minor * _PER_GPU + gi * _PER_GI


def ci_access_minor(gpu_minor: int, gi: int, ci: int) -> int:
    if not 0 <= ci < COMPUTE_INSTANCES:
        raise ValueError(f"no MIG capability for gpu{gpu_minor}/gi{gi}/ci{ci}")
    return gi_access_minor(gpu_minor, gi) + 1 + ci


def mig_minors_text() -> str:
    """The full text of ``/proc/driver/nvidia-caps/mig-minors``."""
    lines: List[str] = [f"config {CONFIG_MINOR}", f"monitor {MONITOR_MINOR}"]
    for g in range(GPUS):
        for i in range(GPU_INSTANCES):
            lines.append(f"gpu{g}/gi{i}/access {gi_access_minor(g, i)}")
            for c in range(COMPUTE_INSTANCES):
                lines.append(f"gpu{g}/gi{i}/ci{c}/access {ci_access_minor(g, i, c)}")
    return "\n".join(lines) + "\n"
