"""Checks of the host machine the containers run on: device cgroups and the host ldconfig.

These look at the machine itself (``/proc``, ``/sys/fs/cgroup``, ``/sbin``), not at ``--root``:
the cgroup and the ldconfig that configure uses are always the host's.
"""

from __future__ import annotations

import os

from nvcontainer.doctor.check import Check, failed, passed
from nvcontainer.errors import NvcError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple
    BpfQuery = Callable[[int, int], Tuple[int, List[int]]]


CGROUP_V1_FIX = ("run as root with the devices cgroup hierarchy mounted read-write (/sys/fs/cgroup/devices); "
                 "otherwise leave device rules to the engine (`no-cgroups = true` in config.toml)")
CGROUP_V2_FIX = ("device access on cgroup v2 needs BPF: run as root (CAP_SYS_ADMIN and CAP_BPF), with a kernel "
                 "built with CONFIG_CGROUP_BPF and cgroup2 mounted read-write")
LDCONFIG_MISSING_FIX = "install glibc's ldconfig (Debian/Ubuntu: libc-bin, RHEL: glibc) on the host"
LDCONFIG_DYNAMIC_FIX = ("a host ldconfig runs inside containers from a sealed copy, so it must be a static "
                        "executable: point `ldconfig = \"@/sbin/ldconfig.real\"` (config.toml) or `--ldconfig` at "
                        "a static ldconfig (glibc's own is static)")


def cgroup_check(proc_root: str = "/", pid: Optional[int] = None, query: Optional[BpfQuery] = None) -> Check:
    """5. Which cgroup version this machine uses for devices, and whether we can set device rules."""
    from nvcontainer.apply.cgroups import detect_cgroup

    try:
        target = detect_cgroup(os.getpid() if pid is None else pid, proc_root)
    except NvcError as exc:
        return failed("cgroups", f"cannot find the devices cgroup: {exc.message}",
                      "mount the cgroup hierarchies (cgroup v1 `devices` or cgroup2 on /sys/fs/cgroup)")
    return cgroup_rules_check(target.version, target.path, query)


def cgroup_rules_check(version: int, path: str, query: Optional[BpfQuery] = None) -> Check:
    """Whether device rules can be set in the cgroup directory ``path`` of cgroup ``version``."""
    name = "cgroups"
    if version == 1:
        allow = os.path.join(path, "devices.allow")
        if os.path.exists(allow) and os.access(allow, os.W_OK):
            return passed(name, f"cgroup v1: device rules can be set ({allow} is writable)")
        why = "is not writable" if os.path.exists(allow) else "does not exist"
        return failed(name, f"cgroup v1: device rules cannot be set ({allow} {why})", CGROUP_V1_FIX)
    return _bpf_check(name, path, query)


def _bpf_check(name: str, path: str, query: Optional[BpfQuery]) -> Check:
    from nvcontainer.bindings import bpf

    run: BpfQuery = query if query is not None else bpf.prog_query
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        return failed(name, f"cgroup v2: cannot open {path}: {(exc.strerror or str(exc)).lower()}", CGROUP_V2_FIX)
    try:
        _flags, programs = run(fd, bpf.BPF_CGROUP_DEVICE)
    except OSError as exc:
        return failed(name, f"cgroup v2: BPF device programs cannot be queried at {path}: "
                            f"{(exc.strerror or str(exc)).lower()}", CGROUP_V2_FIX)
    finally:
        os.close(fd)
    return passed(name, f"cgroup v2: BPF device programs can be managed ({len(programs)} attached at {path})")


def _is_dynamic_elf(path: str) -> Optional[bool]:
    """True: dynamic ELF; False: static ELF; None: not an ELF file."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as stream:
        if stream.read(4) != b"\x7fELF":
            return None
        stream.seek(0)
        try:
            elf: Any = ELFFile(stream)
            return any(seg["p_type"] == "PT_INTERP" for seg in elf.iter_segments())
        except ELFError:
            return None


def ldconfig_check(host_root: str = "/") -> Check:
    """6. The host ldconfig configure runs by default exists and is static."""
    from nvcontainer.apply.ldconfig import HOST_PREFIX, default_host_ldconfig

    name = "ldconfig"
    program = default_host_ldconfig(host_root)[len(HOST_PREFIX):]
    path = os.path.join(host_root, program.lstrip("/"))
    if not os.path.isfile(path):
        return failed(name, f"no host ldconfig at {program}", LDCONFIG_MISSING_FIX)
    try:
        dynamic = _is_dynamic_elf(path)
    except OSError as exc:
        return failed(name, f"host ldconfig {program} cannot be read: {(exc.strerror or str(exc)).lower()}",
                      LDCONFIG_MISSING_FIX)
    if dynamic is None:
        return failed(name, f"host ldconfig {program} is not an ELF executable (a script?)", LDCONFIG_DYNAMIC_FIX)
    if dynamic:
        return failed(name, f"host ldconfig {program} is dynamically linked", LDCONFIG_DYNAMIC_FIX)
    return passed(name, f"host ldconfig {program} is a static executable")
