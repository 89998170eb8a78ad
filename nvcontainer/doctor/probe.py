"""Look at the driver once for every check: the kernel module's version and what NVML says.

``probe_driver`` never raises for a broken driver; it records what failed.  When discovery fails
only because a GPU is lost, NVML itself still answers, so the probe keeps a version-only
``Driver`` (no GPUs) that the image check can still judge requirements against, and lists the
indices of the lost GPUs.
"""

from __future__ import annotations

import os
import re

from nvcontainer.discovery import components as c
from nvcontainer.discovery.devices import read_text
from nvcontainer.driver import Driver
from nvcontainer.errors import NvcError, NvmlError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Optional, Tuple

PROC_VERSION = c.PROC_DRIVER + "/version"
NVML_GPU_IS_LOST = 15
_KERNEL_VERSION = re.compile(r"Kernel Module(?:\s+for\s+\S+)?\s+(\d+(?:\.\d+)+)")


class DriverProbe(Record):
    """What the doctor learned about the driver under ``root`` / ``dev_root``."""

    root: str
    dev_root: str
    kernel_version: Optional[str]  # from <dev_root>/proc/driver/nvidia/version; None: module not loaded
    driver: Optional[Driver]  # the full snapshot, or a version-only one when a GPU is lost
    error: Optional[NvcError] = None  # why discovery failed (None when it did not)
    library_version: Optional[str] = None  # the version in libnvidia-ml.so.<version>'s file name
    lost_gpus: Tuple[int, ...] = ()

    @property
    def installed_version(self) -> Optional[str]:
        """The driver version as best known: NVML's, else the library file's, else the kernel's."""
        if self.driver is not None:
            return self.driver.nvrm_version
        return self.library_version or self.kernel_version


def kernel_module_version(dev_root: str) -> Optional[str]:
    """The loaded kernel module's version from /proc/driver/nvidia/version (None: not loaded)."""
    text = read_text(dev_root, PROC_VERSION)
    if text is None:
        return None
    match = _KERNEL_VERSION.search(text)
    return match.group(1) if match else ""


def nvml_library_version(root: str, ldcache: Optional[str]) -> Optional[str]:
    """The version suffix of the libnvidia-ml the driver root's ld cache leads to (no loading)."""
    from nvcontainer.bindings.nvml import SONAME
    from nvcontainer.discovery import DEFAULT_LDCACHE
    from nvcontainer.discovery.ldcache import host_arch_flags, read_ldcache
    from nvcontainer.discovery.libraries import find_library
    from nvcontainer.securepath import join_in_root

    try:
        cache = read_ldcache(join_in_root(root, ldcache or DEFAULT_LDCACHE))
        path = find_library(root, cache, host_arch_flags()[0], SONAME)
    except NvcError:
        return None
    if path is None:
        return None
    name = os.path.basename(os.path.realpath(path))
    prefix = "libnvidia-ml.so."
    return name[len(prefix):] if name.startswith(prefix) and name != SONAME else None


def probe_driver(root: str = "/", dev_root: Optional[str] = None, ldcache: Optional[str] = None) -> DriverProbe:
    from nvcontainer.discovery import discover

    root = os.path.abspath(root)
    dev_root = os.path.abspath(dev_root) if dev_root else root
    kernel = kernel_module_version(dev_root)
    library = nvml_library_version(root, ldcache)
    try:
        driver = discover(root, ldcache, dev_root=dev_root)
    except NvcError as exc:
        lost: Tuple[int, ...] = ()
        partial: Optional[Driver] = None
        if isinstance(exc, NvmlError) and exc.code == NVML_GPU_IS_LOST:
            lost, partial = _lost_gpus(root, dev_root, ldcache)
        return DriverProbe(root=root, dev_root=dev_root, kernel_version=kernel, driver=partial, error=exc,
                           library_version=library, lost_gpus=lost)
    return DriverProbe(root=root, dev_root=dev_root, kernel_version=kernel, driver=driver,
                       library_version=library)


def _lost_gpus(root: str, dev_root: str, ldcache: Optional[str]) -> Tuple[Tuple[int, ...], Optional[Driver]]:
    """Indices of the GPUs NVML reports lost, and a version-only Driver (None if NVML fails too)."""
    from nvcontainer.bindings import nvml as nv
    from nvcontainer.discovery import load_driver_nvml

    try:
        lib = load_driver_nvml(root, ldcache)
        lost = []
        for index in range(lib.device_count()):
            try:
                lib.handle_by_index(index)
            except NvmlError as exc:
                if exc.code == NVML_GPU_IS_LOST:
                    lost.append(index)
        version = lib.driver_version()
        cuda = nv.optional(lib.cuda_driver_version) or 0
        nvml_version = nv.optional(lib.nvml_version, default="") or ""
    except NvcError:
        return (), None
    driver = Driver(root=root, dev_root=dev_root, nvrm_version=version,
                    cuda_version=f"{cuda // 1000}.{cuda % 100 // 10}" if cuda else "", cuda_version_int=cuda,
                    nvml_version=nvml_version, gpus=(), control_nodes=(), libraries=(), libraries32=(),
                    binaries=(), ipcs=(), firmwares=())
    return tuple(lost), driver
