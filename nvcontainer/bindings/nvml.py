"""NVML through cffi in ABI mode: ``dlopen`` of ``libnvidia-ml.so.1``, no compiler needed.

Only the calls nvcontainer needs are declared, with the exact C layouts of ``nvml.h``
(``docs/nvml.md``; the tests compare them with nvidia-ml-py's ctypes structs).  Versioned
symbols (``nvmlInit_v2``, ``nvmlDeviceGetPciInfo_v3``...) are looked up by their real names,
as the ``nvml.h`` macros would.  Every failing call raises ``NvmlError`` with the return code
and ``nvmlErrorString``'s text; a missing library or symbol raises ``LibraryLoadError``.

A library is loaded and initialised once per process and path (``open_nvml``), and shut
down at exit.  Loading by path is how a driver root other than ``/`` gets its own NVML.
"""

from __future__ import annotations

import atexit
import threading

from nvcontainer.errors import LibraryLoadError, NvmlError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

SONAME = "libnvidia-ml.so.1"

SUCCESS = 0
ERROR_UNINITIALIZED = 1
ERROR_INVALID_ARGUMENT = 2
ERROR_NOT_SUPPORTED = 3
ERROR_NO_PERMISSION = 4
ERROR_NOT_FOUND = 6
ERROR_INSUFFICIENT_SIZE = 7
ERROR_DRIVER_NOT_LOADED = 9
ERROR_FUNCTION_NOT_FOUND = 13
ERROR_GPU_IS_LOST = 15
ERROR_LIB_RM_VERSION_MISMATCH = 18
ERROR_UNKNOWN = 999

DEVICE_MIG_ENABLE = 1



# Brand enum -> the names nvidia-container-cli prints (driver.c).
BRAND_NAMES = {
    1: "Quadro", 2: "Tesla", 3: "NVS", 4: "GRID", 5: "GeForce", 6: "TITAN", 7: "VApps",
    8: "VPC", 9: "VCS", 10: "VWS", 11: "CloudGaming", 12: "QuadroRTX", 13: "NvidiaRTX",
    14: "Nvidia", 15: "GeForceRTX", 16: "TitanRTX",
}

ARCH_NAMES = {
    2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing", 7: "Ampere", 8: "Ada",
    9: "Hopper", 10: "Blackwell", 13: "Rubin",
}

_STRING_BUFFER = 96  # >= every NVML *_BUFFER_SIZE we use (UUID v2 is the largest, 96)

_ffi: Any = None
_ffi_lock = threading.Lock()


def ffi() -> Any:
    """The shared cffi FFI with NVML's declarations (pre-parsed, see ffimodules; loaded on first use)."""
    global _ffi
    with _ffi_lock:
        if _ffi is None:
            from nvcontainer.bindings.ffimodules import load
            from nvcontainer.bindings.nvml_decl import CDEF

            _ffi = load("_nvml_ffi", CDEF)
    return _ffi


def _dlerror_text(exc: OSError, name: str) -> str:
    """cffi wraps dlerror() as "cannot load library 'X': <dlerror>"; keep dlerror, lower-cased tail."""
    text = str(exc)
    marker = f"cannot load library '{name}': "
    if text.startswith(marker):
        text = text[len(marker):]
    text = text.split("  Additionally,")[0].rstrip().rstrip(".")  # cffi's note about ctypes.util.find_library
    head, sep, tail = text.rpartition(":")
    return (head + sep + tail.lower()).strip() if sep else text.lower()


class PciInfo(Record):
    domain: int
    bus: int
    device: int
    pci_device_id: int
    pci_subsystem_id: int
    bus_id: str


class MemoryInfo(Record):
    total: int
    free: int
    used: int


class Attributes(Record):
    multiprocessor_count: int
    gpu_instance_slice_count: int
    compute_instance_slice_count: int
    memory_size_mb: int


class Nvml:
    """One loaded libnvidia-ml; methods mirror the NVML calls they make."""

    def __init__(self, path: str = SONAME) -> None:
        self.path = path
        self._ffi = ffi()
        try:
            self._lib = self._ffi.dlopen(path)
        except OSError as exc:
            raise LibraryLoadError(f"load library failed: {_dlerror_text(exc, path)}") from None
        self._initialized = False

    # -- plumbing ---------------------------------------------------------------------------------
    def _fn(self, name: str) -> Any:
        try:
            return getattr(self._lib, name)
        except AttributeError:
            raise LibraryLoadError(f"symbol lookup failed: {name}: undefined symbol in {self.path}") from None

    def error_string(self, code: int) -> str:
        try:
            ptr = self._fn("nvmlErrorString")(code)
        except LibraryLoadError:
            return f"error {code}"
        return self._ffi.string(ptr).decode("utf-8", "replace") if ptr != self._ffi.NULL else f"error {code}"

    def _call(self, name: str, *args: Any) -> None:
        rc = self._fn(name)(*args)
        if rc != SUCCESS:
            raise NvmlError(rc, self.error_string(rc), function=name)

    def _string(self, name: str, *head: Any) -> str:
        buf = self._ffi.new("char[]", _STRING_BUFFER)
        self._call(name, *head, buf, _STRING_BUFFER)
        return self._ffi.string(buf).decode("utf-8", "replace")

    def _uint(self, name: str, *head: Any) -> int:
        out = self._ffi.new("unsigned int *")
        self._call(name, *head, out)
        return int(out[0])

    # -- lifecycle ----------------------------------------------------------------------------------
    def init(self) -> None:
        if not self._initialized:
            self._call("nvmlInit_v2")
            self._initialized = True

    def shutdown(self) -> None:
        if self._initialized:
            self._initialized = False
            self._fn("nvmlShutdown")()

    # -- system -----------------------------------------------------------------------------------
    def driver_version(self) -> str:
        return self._string("nvmlSystemGetDriverVersion")

    def nvml_version(self) -> str:
        return self._string("nvmlSystemGetNVMLVersion")

    def cuda_driver_version(self) -> int:
        out = self._ffi.new("int *")
        self._call("nvmlSystemGetCudaDriverVersion", out)
        return int(out[0])

    # -- devices ----------------------------------------------------------------------------------
    def device_count(self) -> int:
        return self._uint("nvmlDeviceGetCount_v2")

    def _handle(self, name: str, key: Any) -> Any:
        out = self._ffi.new("nvmlDevice_t *")
        self._call(name, key, out)
        return out[0]

    def handle_by_index(self, index: int) -> Any:
        return self._handle("nvmlDeviceGetHandleByIndex_v2", index)

    def handle_by_uuid(self, uuid: str) -> Any:
        return self._handle("nvmlDeviceGetHandleByUUID", uuid.encode())

    def handle_by_pci_bus_id(self, bus_id: str) -> Any:
        return self._handle("nvmlDeviceGetHandleByPciBusId_v2", bus_id.encode())

    def name(self, h: Any) -> str:
        return self._string("nvmlDeviceGetName", h)

    def uuid(self, h: Any) -> str:
        return self._string("nvmlDeviceGetUUID", h)

    def brand(self, h: Any) -> int:
        out = self._ffi.new("int *")
        self._call("nvmlDeviceGetBrand", h, out)
        return int(out[0])

    def index(self, h: Any) -> int:
        return self._uint("nvmlDeviceGetIndex", h)

    def minor_number(self, h: Any) -> int:
        return self._uint("nvmlDeviceGetMinorNumber", h)

    def pci_info(self, h: Any) -> PciInfo:
        out = self._ffi.new("nvmlPciInfo_t *")
        self._call("nvmlDeviceGetPciInfo_v3", h, out)
        return PciInfo(
            int(out.domain), int(out.bus), int(out.device), int(out.pciDeviceId),
            int(out.pciSubSystemId), self._ffi.string(out.busId).decode("ascii", "replace"),
        )

    def memory_info(self, h: Any) -> MemoryInfo:
        out = self._ffi.new("nvmlMemory_t *")
        self._call("nvmlDeviceGetMemoryInfo", h, out)
        return MemoryInfo(int(out.total), int(out.free), int(out.used))

    def compute_capability(self, h: Any) -> Tuple[int, int]:
        major, minor = self._ffi.new("int *"), self._ffi.new("int *")
        self._call("nvmlDeviceGetCudaComputeCapability", h, major, minor)
        return int(major[0]), int(minor[0])

    def architecture(self, h: Any) -> int:
        return self._uint("nvmlDeviceGetArchitecture", h)

    def utilization(self, h: Any) -> Tuple[int, int]:
        out = self._ffi.new("nvmlUtilization_t *")
        self._call("nvmlDeviceGetUtilizationRates", h, out)
        return int(out.gpu), int(out.memory)

    def attributes(self, h: Any) -> Attributes:
        out = self._ffi.new("nvmlDeviceAttributes_t *")
        self._call("nvmlDeviceGetAttributes_v2", h, out)
        return Attributes(
            int(out.multiprocessorCount), int(out.gpuInstanceSliceCount),
            int(out.computeInstanceSliceCount), int(out.memorySizeMB),
        )

    def mig_mode(self, h: Any) -> Tuple[int, int]:
        current, pending = self._ffi.new("unsigned int *"), self._ffi.new("unsigned int *")
        self._call("nvmlDeviceGetMigMode", h, current, pending)
        return int(current[0]), int(pending[0])

    def is_mig_device_handle(self, h: Any) -> bool:
        return bool(self._uint("nvmlDeviceIsMigDeviceHandle", h))

    def max_mig_device_count(self, h: Any) -> int:
        return self._uint("nvmlDeviceGetMaxMigDeviceCount", h)

    def mig_device_handle_by_index(self, h: Any, index: int) -> Any:
        out = self._ffi.new("nvmlDevice_t *")
        self._call("nvmlDeviceGetMigDeviceHandleByIndex", h, index, out)
        return out[0]

    def gpu_instance_id(self, h: Any) -> int:
        return self._uint("nvmlDeviceGetGpuInstanceId", h)

    def compute_instance_id(self, h: Any) -> int:
        return self._uint("nvmlDeviceGetComputeInstanceId", h)

    def parent_of_mig(self, h: Any) -> Any:
        return self._handle("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", h)

    def mig_handles(self, h: Any) -> List[Any]:
        """The MIG device handles of a GPU in enumeration order (empty slots skipped)."""
        handles = []
        for i in range(self.max_mig_device_count(h)):
            try:
                handles.append(self.mig_device_handle_by_index(h, i))
            except NvmlError as exc:
                if exc.code != ERROR_NOT_FOUND:
                    raise
        return handles


_opened: Dict[str, Nvml] = {}
_opened_lock = threading.Lock()


def open_nvml(path: str = SONAME) -> Nvml:
    """The initialised NVML of ``path`` (a soname or a file), loaded once per process."""
    with _opened_lock:
        nvml = _opened.get(path)
        if nvml is None:
            nvml = Nvml(path)
            nvml.init()
            if not _opened:
                atexit.register(shutdown_all)
            _opened[path] = nvml
        return nvml


def shutdown_all() -> None:
    with _opened_lock:
        for nvml in _opened.values():
            nvml.shutdown()
        _opened.clear()


def optional(fn: Any, *args: Any, default: Optional[Any] = None) -> Any:
    """Call an NVML wrapper; NOT_SUPPORTED / FUNCTION_NOT_FOUND / missing symbol give ``default``."""
    try:
        return fn(*args)
    except NvmlError as exc:
        if exc.code in (ERROR_NOT_SUPPORTED, ERROR_FUNCTION_NOT_FOUND):
            return default
        raise
    except LibraryLoadError:
        return default
