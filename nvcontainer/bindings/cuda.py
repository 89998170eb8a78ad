"""The CUDA driver version from libcuda (``cuDriverGetVersion``), cffi ABI mode.

Used only as the fallback when NVML cannot report the CUDA driver version.
"""

from __future__ import annotations

from nvcontainer.errors import LibraryLoadError

SONAME = "libcuda.so.1"


def cuda_driver_version(path: str = SONAME) -> int:
    """``cuDriverGetVersion`` of the libcuda at ``path`` (e.g. 12040)."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("int cuDriverGetVersion(int *driverVersion);")
    try:
        lib = ffi.dlopen(path)
    except OSError as exc:
        raise LibraryLoadError(f"load library failed: {exc}") from None
    out = ffi.new("int *")
    rc = lib.cuDriverGetVersion(out)
    if rc != 0:
        raise LibraryLoadError(f"cuda error: cuDriverGetVersion returned {rc}")
    return int(out[0])
