"""The ``enable-cuda-compat`` hook: put an image's CUDA forward-compatibility libraries first.

A CUDA image may ship ``libcuda.so.<ver>`` of a newer driver in ``/usr/local/cuda/compat``
(``--cuda-compat-container-root``) for hosts whose driver is older.  As nvidia-cdi-hook 1.20:

* nothing to do without ``--host-driver-version`` and ``--host-cuda-version``, or when the
  directory does not hold exactly one regular ``libcuda.so.*.*``;
* the library's ``.note.cuda.fwd_compatibility`` note (owner ``NVIDIA Corporation``, JSON such
  as ``{"format":1,"CUDA version":"12.9","driver":[535,...,575],"device":[...]}``, keys matched
  case-insensitively as Go does), when present, decides: the host driver's major must be listed and the compat driver
  newer than the host's; without a host driver version, the note's CUDA version must be newer
  than ``--host-cuda-version``;
* without the note, the compat libraries are used when their major version is greater than the
  host driver's;
* "used" means a file ``/etc/ld.so.conf.d/00-compat-<random>.conf`` naming the directory (mode
  0644), which the ``update-ldcache`` hook that follows makes ldconfig read first.

The image's files are only read: the directory is resolved inside the rootfs (``securepath``),
the library is opened there and parsed by ``elfscan`` (bounded reads, nothing is loaded or run),
the conf file is created with ``O_EXCL|O_NOFOLLOW`` relative to a checked directory descriptor.
"""

from __future__ import annotations

import os
import stat

from nvcontainer import wildcard
from nvcontainer.bounds import is_decimal
from nvcontainer.cdi.errors import CdiError
from nvcontainer.errors import NvcError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

NOTE_SECTION = b".note.cuda.fwd_compatibility"
NOTE_OWNER = "NVIDIA Corporation"
LDSO_CONF_DIR = "/etc/ld.so.conf.d"
MAX_NOTE = 1 << 16


def parse_version(text: str) -> Optional[Tuple[int, int, int]]:
    """A loose semantic version (``570.124.06``, ``12.8``, ``v12``) -> (major, minor, patch); None if not one."""
    text = text.strip()
    if text.startswith("v"):
        text = text[1:]
    core = text.split("-", 1)[0].split("+", 1)[0]
    parts = core.split(".")
    if not 1 <= len(parts) <= 3 or not all(is_decimal(p) for p in parts):
        return None
    numbers = [int(p) for p in parts] + [0, 0]
    return numbers[0], numbers[1], numbers[2]


def compat_note(fd: int) -> Optional[Dict[str, Any]]:
    """The JSON of the file's forward-compatibility note, or None (no note, not NVIDIA's, not JSON)."""
    import struct

    from nvcontainer.discovery.elfscan import SHT_NOTE, section_by_name

    try:
        found = section_by_name(fd, NOTE_SECTION, SHT_NOTE)
    except (ValueError, struct.error, OSError):
        return None
    if found is None:
        return None
    data, align, order = found
    if len(data) < 12 or len(data) > MAX_NOTE:
        return None
    namesz, descsz, _ = struct.unpack_from(order + "III", data, 0)
    if not namesz or not descsz:
        return None
    align = max(int(align), 1)
    name_end = 12 + ((namesz + align - 1) // align) * align
    name = data[12:min(len(data), 12 + namesz)].strip(b"\0").decode("utf-8", "replace")
    if name != NOTE_OWNER:
        return None
    desc = data[name_end:name_end + descsz].strip(b"\0")
    import json  # only for a compat library's note: off the hook's start path

    try:
        note = json.loads(desc)
    except ValueError:
        return None
    if not isinstance(note, dict):
        return None
    # Go's encoding/json matches field names case-insensitively ("CUDA version", "driver").
    return {str(k).lower(): v for k, v in note.items()}


def use_compat(note: Optional[Dict[str, Any]], compat: Optional[Tuple[int, int, int]],
               host_driver: Optional[Tuple[int, int, int]], host_cuda: Optional[Tuple[int, int, int]],
               host_cuda_given: bool) -> bool:
    """Whether the container's compat libraries should be used (nvidia-cdi-hook's rules)."""
    if note is not None:
        if compat is None or host_driver is None:
            if host_cuda is None:
                return False
            container_cuda = parse_version(str(note.get("cuda version", "")))
            return container_cuda is not None and container_cuda > host_cuda
        drivers = note.get("driver")
        if not isinstance(drivers, list) or host_driver[0] not in drivers:
            return False
        return compat > host_driver
    if host_cuda_given:  # a CUDA version can only be judged from the note
        return False
    if host_driver is None or compat is None:
        return False
    return host_driver[0] < compat[0]


def enable(rootfs: str, host_driver_version: str, host_cuda_version: str,
           compat_root: str = "/usr/local/cuda/compat") -> Optional[str]:
    """Write the ld.so.conf.d file if the compat libraries are to be used; its root-relative path."""
    from nvcontainer.log import logger as log
    from nvcontainer.securepath import open_in_root, resolve_in_root

    if not host_driver_version and not host_cuda_version:
        return None
    try:
        directory = resolve_in_root(rootfs, compat_root)
        dir_fd = open_in_root(rootfs, directory, os.O_RDONLY | os.O_DIRECTORY)
    except NvcError:
        log.debug("no CUDA forward compatibility directory %s in the container", compat_root)
        return None
    try:
        libs = [name for name in sorted(os.listdir(dir_fd)) if wildcard.match(name, "libcuda.so.*.*")
                and stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)]
        if len(libs) != 1:
            if libs:
                log.warning("unexpected number of CUDA compat libraries in the container: %s", libs)
            return None
        name = libs[0]
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            note = compat_note(fd) if stat.S_ISREG(os.fstat(fd).st_mode) else None
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)
    compat = parse_version(name[len("libcuda.so."):])
    if not use_compat(note, compat, parse_version(host_driver_version), parse_version(host_cuda_version),
                      bool(host_cuda_version)):
        return None
    return write_conf(rootfs, directory)


def write_conf(rootfs: str, directory: str) -> str:
    """``/etc/ld.so.conf.d/00-compat-<random>.conf`` holding ``directory``, mode 0644."""
    from nvcontainer.securepath import open_dir_in_root

    try:
        conf_fd = open_dir_in_root(rootfs, LDSO_CONF_DIR, 0o755)
    except NvcError as exc:
        raise CdiError(f"failed to create ld.so.conf.d: {exc.message}") from None
    token = os.urandom(16).hex()
    name = f"00-compat-{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}-{token[20:]}.conf"
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=conf_fd)
        try:
            os.write(fd, (directory + "\n").encode())
            os.fchmod(fd, 0o644)  # readable by a non-root container user whatever the umask
        finally:
            os.close(fd)
    except OSError as exc:
        raise CdiError(f"failed to create config file {LDSO_CONF_DIR}/{name}: "
                       f"{(exc.strerror or str(exc)).lower()}") from None
    finally:
        os.close(conf_fd)
    return f"{LDSO_CONF_DIR}/{name}"
