"""``nvc-cli doctor``: find out why GPU containers would not work on this machine, and say how to fix it.

``run_checks(DoctorOptions(root=...))`` returns a tuple of frozen ``Check`` results (``ok`` True,
False, or None for a note).  One module per group of checks: ``driver`` (kernel module, NVML,
persistenced), ``nodes`` (device nodes, /dev/char links), ``host`` (cgroups, ldconfig),
``engines``, ``cdi`` (spec freshness) and ``image`` (an image's requirements); ``probe`` looks at
the driver once for all of them and ``runner`` puts them in order.
"""

from __future__ import annotations

from nvcontainer.doctor.check import Check
from nvcontainer.doctor.engines import EngineFiles
from nvcontainer.doctor.runner import DoctorOptions, ImageEnv, run_checks

__all__ = ["Check", "DoctorOptions", "EngineFiles", "ImageEnv", "run_checks"]
