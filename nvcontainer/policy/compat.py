"""CUDA forward compatibility: the image's own ``/usr/local/cuda/compat`` libraries.

A CUDA image may carry a newer ``libcuda.so`` (and friends) than the host driver provides,
in ``<cudart_dir>/compat``.  Those files are untrusted (this path was the CVE-2025-23359
bypass): every one is resolved inside the rootfs, must be a regular file, and only libraries
whose major version is newer than the driver's are used.  Modes, as ``--cuda-compat-mode``:
``mount`` (bind them over the libs dir), ``ldconfig`` (index their directory first),
``disabled``.
"""

from __future__ import annotations

import os
import stat

from nvcontainer.bounds import leading_decimal
from nvcontainer.errors import InputError, NvcError
from nvcontainer.securepath import join_in_root, resolve_in_root

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Tuple

MODES = ("mount", "ldconfig", "disabled")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"invalid cuda-compat-mode: {mode}")
    return mode


def _major(name: str) -> int:
    """Leading digits of the version after ``.so.`` (``libcuda.so.555.42.02`` -> 555), -1 if none."""
    _, sep, version = name.partition(".so.")
    value, _ = leading_decimal(version if sep else "", 0, 9)
    return -1 if value is None else value


def find_compat_libs(rootfs: str, cudart_dir: str, driver_version: str) -> Tuple[str, ...]:
    """Container paths of the compat libraries newer than ``driver_version`` (resolved, unique)."""
    compat_dir = f"{cudart_dir.rstrip('/')}/compat"
    try:
        host_dir = join_in_root(rootfs, compat_dir)
        names = sorted(os.listdir(host_dir))
    except (OSError, NvcError):
        return ()
    driver_major = _major("x.so." + driver_version)
    found: List[str] = []
    for name in names:
        if not (name.startswith("lib") and name.find(".so.", 3) != -1):  # the glob lib*.so.*
            continue
        try:
            real = resolve_in_root(rootfs, f"{compat_dir}/{name}")
            st = os.lstat(join_in_root(rootfs, real, follow_final=False))
        except (OSError, NvcError):
            continue
        if not stat.S_ISREG(st.st_mode) or real in found:
            continue
        if _major(os.path.basename(real)) > driver_major:
            found.append(real)
    return tuple(found)
