"""Discovery: find the driver, its components and the GPUs, under a driver root.

``discover(root="/")`` is the one entry point; it returns the frozen ``Driver`` snapshot.
With a root other than ``/`` every file comes from that root: NVML and libcuda are the
root's own (found through the root's ld.so.cache and loaded by path), never the host's.
Device nodes and /proc files come from ``dev_root`` (default: the driver root), as
NVIDIA's ``--dev-root`` does.
"""

from __future__ import annotations

import os

from nvcontainer.driver import Driver, Library
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)

if TYPE_CHECKING:
    from typing import List, Optional, Tuple

    from nvcontainer.bindings.nvml import Nvml

DEFAULT_LDCACHE = "/etc/ld.so.cache"


class DriverOptions(Record):
    """The original's driver options (``no-glvnd``, ``no-uvm``, ...) plus our roots."""

    no_glvnd: bool = False
    no_uvm: bool = False
    no_modeset: bool = False
    no_persistenced: bool = False
    no_fabricmanager: bool = False
    no_gsp_firmware: bool = False
    path_env: Optional[str] = None  # PATH searched for binaries; None = the process's or a default
    mps_pipe_dir: Optional[str] = None  # None = $CUDA_MPS_PIPE_DIRECTORY or /tmp/nvidia-mps


def _cuda_string(version: int) -> str:
    return f"{version // 1000}.{version % 100 // 10}"


def _check_root(root: str) -> None:
    """The original's NVML helper chroots into ``root`` first: "change root failed" when it cannot."""
    from nvcontainer.errors import InitializationError

    try:
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise InitializationError(f"change root failed: {root}: {reason}") from None
    os.close(fd)


def load_driver_nvml(root: str, ldcache: Optional[str] = None) -> Nvml:
    """The initialised NVML of the driver under ``root`` (found through its ld cache).

    The original dlopen()s NVML chrooted into ``root``, so through the root's own
    /etc/ld.so.cache whatever ``--ldcache`` says; here the ``ldcache`` given is tried first, then
    that one, and a bad ``ldcache`` is reported by discovery ("detection error: open failed").
    """
    from nvcontainer.bindings import nvml as nv
    from nvcontainer.discovery.ldcache import host_arch_flags, read_ldcache
    from nvcontainer.discovery.libraries import find_library
    from nvcontainer.errors import NvcError
    from nvcontainer.securepath import join_in_root

    real_root = os.path.realpath(root)
    if real_root != "/":
        _check_root(root)
    arch64, _arch32 = host_arch_flags()
    path = None
    for cache_path in dict.fromkeys((ldcache or DEFAULT_LDCACHE, DEFAULT_LDCACHE)):
        try:
            cache = read_ldcache(join_in_root(root, cache_path))
            path = find_library(root, cache, arch64, nv.SONAME)
        except NvcError:
            continue
        if path is not None:
            break
    if path is None:
        if real_root != "/":
            from nvcontainer.errors import LibraryLoadError

            raise LibraryLoadError(
                f"load library failed: {nv.SONAME}: cannot open shared object file: no such file or directory")
        path = nv.SONAME  # the loader's own search, as dlopen() in the original
    return nv.open_nvml(path)


def discover(root: str = "/", ldcache: Optional[str] = None, *, dev_root: Optional[str] = None,
             options: Optional[DriverOptions] = None) -> Driver:
    """Find the driver under ``root`` and describe it (raises ``NvcError`` with a stage)."""
    from nvcontainer.bindings import nvml as nv
    from nvcontainer.discovery import components as c
    from nvcontainer.discovery import devices, files, gpus, libraries
    from nvcontainer.discovery.ldcache import host_arch_flags, read_ldcache
    from nvcontainer.errors import DetectionError, NvcError, NvmlError
    from nvcontainer.securepath import join_in_root

    opts = options or DriverOptions()
    root = os.path.abspath(root)
    dev_root = os.path.abspath(dev_root) if dev_root else root
    lib = load_driver_nvml(root, ldcache)
    warnings: List[str] = []
    try:
        version = lib.driver_version()
        nvml_version = nv.optional(lib.nvml_version, default="") or ""
        cuda_int = nv.optional(lib.cuda_driver_version)
        if cuda_int is None:
            cuda_int = _cuda_from_libcuda(root, ldcache)
        majors = devices.char_majors(dev_root)
        caps_major = majors.get(c.CAPS_DEVICE_NAME)
        gpu_list = gpus.enumerate_gpus(lib, dev_root, caps_major)
    except NvmlError as exc:
        raise NvmlError(exc.code, exc.text, function=exc.function, stage="detection") from None

    arch64, arch32 = host_arch_flags()
    try:
        cache = read_ldcache(join_in_root(root, ldcache or DEFAULT_LDCACHE))
    except NvcError as exc:
        raise DetectionError(exc.message) from None
    libs, missing = libraries.find_libraries(root, cache, arch64, version, want64=True, no_glvnd=opts.no_glvnd)
    warnings += missing
    libs32: Tuple[Library, ...] = ()
    if arch32 is not None:
        libs32, missing32 = libraries.find_libraries(
            root, cache, arch32, version, want64=False, no_glvnd=opts.no_glvnd, missing_label="compat32 library")
        warnings += missing32
    path_env = opts.path_env if opts.path_env is not None else os.environ.get("PATH")
    nvml_dirs = [os.path.dirname(x.path) for x in libs if x.soname == nv.SONAME]
    driver_bin = os.path.join(os.path.dirname(nvml_dirs[0]), "bin") if nvml_dirs else None
    binaries = files.find_binaries(root, path_env, warnings, driver_bin_dir=driver_bin)
    ipcs = files.find_ipcs(root, warnings, no_persistenced=opts.no_persistenced,
                           no_fabricmanager=opts.no_fabricmanager,
                           mps_pipe_dir=opts.mps_pipe_dir or os.environ.get("CUDA_MPS_PIPE_DIRECTORY"))
    firmwares = () if opts.no_gsp_firmware else files.find_firmwares(root, version)
    from nvcontainer.log import logger as log

    log.info("discovered driver %s (CUDA %s) under %s: %d GPUs", version, _cuda_string(cuda_int), root, len(gpu_list))
    for lib_ in libs + libs32:
        log.info("selecting %s", lib_.host_path)
    for warning in warnings:
        log.warning("%s", warning)
    return Driver(
        root=root,
        dev_root=dev_root,
        nvrm_version=version,
        cuda_version=_cuda_string(cuda_int),
        cuda_version_int=cuda_int,
        nvml_version=nvml_version,
        gpus=gpu_list,
        control_nodes=devices.control_nodes(dev_root, majors, warnings, no_uvm=opts.no_uvm,
                                            no_modeset=opts.no_modeset),
        libraries=libs,
        libraries32=libs32,
        binaries=binaries,
        ipcs=ipcs,
        firmwares=firmwares,
        caps_major=caps_major,
        imex_major=majors.get(c.IMEX_DEVICE_NAME),
        warnings=tuple(warnings),
    )


def _cuda_from_libcuda(root: str, ldcache: Optional[str]) -> int:
    from nvcontainer.bindings.cuda import SONAME, cuda_driver_version
    from nvcontainer.discovery.ldcache import host_arch_flags, read_ldcache
    from nvcontainer.discovery.libraries import find_library
    from nvcontainer.errors import NvcError
    from nvcontainer.securepath import join_in_root

    path = None
    for cache_path in dict.fromkeys((ldcache or DEFAULT_LDCACHE, DEFAULT_LDCACHE)):  # as load_driver_nvml
        try:
            path = find_library(root, read_ldcache(join_in_root(root, cache_path)), host_arch_flags()[0], SONAME)
        except NvcError:
            continue
        if path is not None:
            break
    return cuda_driver_version(path or SONAME)
