"""Where driver files go inside a container: the original's container directory defaults.

The only policy module that looks at files: it checks a few paths in the container rootfs, each
resolved inside the rootfs (symlinks followed, never out of it), as ``nvc_container.c`` does.
"""

from __future__ import annotations

import os

from nvcontainer.errors import ContainerError, PathError
from nvcontainer.records import Record
from nvcontainer.securepath import join_in_root

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Optional, Tuple

BINS_DIR = "/usr/bin"
CUDART_DIR = "/usr/local/cuda"
LDCONFIG_PATH = "/sbin/ldconfig"
LDCONFIG_REAL_PATH = "/sbin/ldconfig.real"  # Debian's ldconfig, behind a wrapper script
LIB64_DIR = "/usr/lib64"
LIB32_DIR = "/usr/lib32"
LIB32_ALT_DIR = "/usr/lib"

# machine -> (libs_dir, libs32_dir) for Debian-style multiarch rootfs.
_MULTIARCH: Dict[str, Tuple[str, str]] = {
    "x86_64": ("/usr/lib/x86_64-linux-gnu", "/usr/lib/i386-linux-gnu"),
    "aarch64": ("/usr/lib/aarch64-linux-gnu", "/var/empty"),
    "ppc64le": ("/usr/lib/powerpc64le-linux-gnu", "/var/empty"),
}
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


class ContainerLayout(Record):
    """Container-relative directories for bins and libs, and the ldconfig to run."""

    bins_dir: str
    libs_dir: str
    libs32_dir: str
    cudart_dir: str
    ldconfig: str


def _in_root(rootfs: str, path: str) -> str:
    try:
        return join_in_root(rootfs, path)
    except PathError as exc:
        # The original fails container creation here, e.g. on a symlink loop in the rootfs.
        raise ContainerError(exc.message) from exc


def _exists_in(rootfs: str, path: str) -> bool:
    return os.path.exists(_in_root(rootfs, path))


def _libs32_dir(rootfs: str, libs_dir: str) -> str:
    if _exists_in(rootfs, LIB32_DIR):
        return LIB32_DIR
    # /usr/lib only counts when it is not the 64-bit dir itself (e.g. /usr/lib64 -> lib).
    alt = _in_root(rootfs, LIB32_ALT_DIR)
    if os.path.exists(alt) and alt != _in_root(rootfs, libs_dir):
        return LIB32_ALT_DIR
    return LIB32_DIR


def _check_rootfs(rootfs: str) -> None:
    """The original's first look into the rootfs opens it as a directory: "open failed" if it cannot."""
    try:
        fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise ContainerError(f"open failed: {rootfs}: {reason}") from None
    os.close(fd)


def detect_layout(rootfs: str, machine: Optional[str] = None, ldconfig: Optional[str] = None) -> ContainerLayout:
    """The layout for the container at host path ``rootfs`` on a ``machine`` (default: this one).

    Debian-like rootfs (``/etc/debian_version`` present) use the multiarch dirs; others use
    ``/usr/lib64`` and ``/usr/lib32``, or ``/usr/lib`` when only that exists and is a different
    directory.  ``libs32_dir`` is always set, as in the original, even when it does not exist.
    ``ldconfig`` (``--ldconfig``) is taken as given; by default it is ``/sbin/ldconfig.real``
    when the rootfs has one, else ``/sbin/ldconfig`` (both container paths).
    """
    _check_rootfs(rootfs)
    arch = os.uname().machine if machine is None else machine
    arch = _MACHINE_ALIASES.get(arch, arch)
    if arch not in _MULTIARCH:
        raise ContainerError(f"unsupported architecture: {arch}")
    if _exists_in(rootfs, "/etc/debian_version"):
        libs_dir, libs32_dir = _MULTIARCH[arch]
    else:
        libs_dir = LIB64_DIR
        libs32_dir = _libs32_dir(rootfs, libs_dir)
    if ldconfig is None:
        ldconfig = LDCONFIG_REAL_PATH if _exists_in(rootfs, LDCONFIG_REAL_PATH) else LDCONFIG_PATH
    return ContainerLayout(
        bins_dir=BINS_DIR,
        libs_dir=libs_dir,
        libs32_dir=libs32_dir,
        cudart_dir=CUDART_DIR,
        ldconfig=ldconfig,
    )
