"""Run in a fresh process: load a libnvidia-ml by path with ctypes and report what it says, as JSON.

Usage: python nvml_probe.py LIBRARY.  Structures come from pynvml (nvidia-ml-py), an independent
definition of the NVML ABI.
"""

from __future__ import annotations

import ctypes
import json
import sys
from typing import Any, Dict, List

import pynvml

NVML_ERRORS = [0, 1, 2, 3, 4, 6, 7, 9, 15, 18, 25, 999]


def main(path: str) -> Dict[str, Any]:
    lib = ctypes.CDLL(path)
    lib.nvmlErrorString.restype = ctypes.c_char_p
    report: Dict[str, Any] = {
        "errors": {str(code): lib.nvmlErrorString(code).decode() for code in NVML_ERRORS},
    }
    count = ctypes.c_uint(0)
    report["count_before_init"] = lib.nvmlDeviceGetCount_v2(ctypes.byref(count))
    report["init"] = lib.nvmlInit_v2()
    if report["init"] != 0:
        return report
    report["init_again"] = lib.nvmlInit()
    buf = ctypes.create_string_buffer(96)
    lib.nvmlSystemGetDriverVersion(buf, 96)
    report["driver_version"] = buf.value.decode()
    report["driver_version_small_buffer"] = lib.nvmlSystemGetDriverVersion(buf, 4)
    lib.nvmlSystemGetNVMLVersion(buf, 96)
    report["nvml_version"] = buf.value.decode()
    cuda = ctypes.c_int(0)
    lib.nvmlSystemGetCudaDriverVersion_v2(ctypes.byref(cuda))
    report["cuda_version"] = cuda.value
    report["count_rc"] = lib.nvmlDeviceGetCount_v2(ctypes.byref(count))
    report["count"] = count.value
    report["index_out_of_range"] = lib.nvmlDeviceGetHandleByIndex_v2(count.value, ctypes.byref(ctypes.c_void_p()))
    gpus: List[Dict[str, Any]] = []
    for index in range(count.value):
        handle = ctypes.c_void_p()
        gpu: Dict[str, Any] = {"rc": lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle))}
        gpus.append(gpu)
        if gpu["rc"] != 0:
            continue
        gpu.update(_describe(lib, handle))
        mig_mode = (ctypes.c_uint(9), ctypes.c_uint(9))
        gpu["mig_mode_rc"] = lib.nvmlDeviceGetMigMode(handle, ctypes.byref(mig_mode[0]), ctypes.byref(mig_mode[1]))
        gpu["mig_mode"] = [mig_mode[0].value, mig_mode[1].value]
        max_migs = ctypes.c_uint(99)
        lib.nvmlDeviceGetMaxMigDeviceCount(handle, ctypes.byref(max_migs))
        gpu["max_migs"] = max_migs.value
        gpu["attributes_rc"] = lib.nvmlDeviceGetAttributes_v2(handle, ctypes.byref(pynvml.c_nvmlDeviceAttributes()))
        util = pynvml.c_nvmlUtilization_t()
        lib.nvmlDeviceGetUtilizationRates(handle, ctypes.byref(util))
        gpu["utilization"] = [util.gpu, util.memory]
        migs = []
        for slot in range(max_migs.value):
            mig = ctypes.c_void_p()
            rc = lib.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot, ctypes.byref(mig))
            if rc != 0:
                migs.append({"rc": rc})
                continue
            entry: Dict[str, Any] = {"rc": 0}
            entry.update(_describe(lib, mig))
            value = ctypes.c_uint(99)
            lib.nvmlDeviceGetGpuInstanceId(mig, ctypes.byref(value))
            entry["gi"] = value.value
            lib.nvmlDeviceGetComputeInstanceId(mig, ctypes.byref(value))
            entry["ci"] = value.value
            attrs = pynvml.c_nvmlDeviceAttributes()
            entry["attributes_rc"] = lib.nvmlDeviceGetAttributes_v2(mig, ctypes.byref(attrs))
            entry["attributes"] = {name: getattr(attrs, name) for name, _ in attrs._fields_}
            parent = ctypes.c_void_p()
            lib.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig, ctypes.byref(parent))
            entry["parent_is_gpu"] = parent.value == handle.value
            migs.append(entry)
        gpu["migs"] = migs
    report["gpus"] = gpus
    report["by_bad_uuid"] = lib.nvmlDeviceGetHandleByUUID(b"GPU-nope", ctypes.byref(ctypes.c_void_p()))
    report["shutdown"] = [lib.nvmlShutdown(), lib.nvmlShutdown(), lib.nvmlShutdown()]
    report["count_after_shutdown"] = lib.nvmlDeviceGetCount_v2(ctypes.byref(count))
    return report


def _text(value: Any) -> str:
    """pynvml's structures may already decode char arrays to str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe(lib: ctypes.CDLL, handle: ctypes.c_void_p) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    buf = ctypes.create_string_buffer(96)
    out["name_rc"] = lib.nvmlDeviceGetName(handle, buf, 96)
    out["name"] = buf.value.decode()
    out["uuid_rc"] = lib.nvmlDeviceGetUUID(handle, buf, 96)
    out["uuid"] = buf.value.decode()
    value = ctypes.c_uint(999)
    out["minor_rc"] = lib.nvmlDeviceGetMinorNumber(handle, ctypes.byref(value))
    out["minor"] = value.value
    out["index_rc"] = lib.nvmlDeviceGetIndex(handle, ctypes.byref(value))
    out["index"] = value.value
    lib.nvmlDeviceIsMigDeviceHandle(handle, ctypes.byref(value))
    out["is_mig"] = value.value
    lib.nvmlDeviceGetBrand(handle, ctypes.byref(value))
    out["brand"] = value.value
    lib.nvmlDeviceGetArchitecture(handle, ctypes.byref(value))
    out["arch"] = value.value
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    lib.nvmlDeviceGetCudaComputeCapability(handle, ctypes.byref(major), ctypes.byref(minor))
    out["cc"] = [major.value, minor.value]
    pci = pynvml.nvmlPciInfo_t()
    out["pci_rc"] = lib.nvmlDeviceGetPciInfo_v3(handle, ctypes.byref(pci))
    out["pci"] = {
        "busId": _text(pci.busId), "busIdLegacy": _text(pci.busIdLegacy), "domain": pci.domain,
        "bus": pci.bus, "device": pci.device, "pciDeviceId": pci.pciDeviceId, "pciSubSystemId": pci.pciSubSystemId,
    }
    legacy = pynvml.nvmlPciInfo_t()
    lib.nvmlDeviceGetPciInfo(handle, ctypes.byref(legacy))
    out["pci_v1"] = {"busId": _text(legacy.busIdLegacy), "bus": legacy.bus, "pciDeviceId": legacy.pciDeviceId}
    memory = pynvml.c_nvmlMemory_t()
    lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory))
    out["memory"] = [memory.total, memory.free, memory.used]
    memory2 = pynvml.c_nvmlMemory_v2_t()
    memory2.version = pynvml.nvmlMemory_v2
    out["memory_v2_rc"] = lib.nvmlDeviceGetMemoryInfo_v2(handle, ctypes.byref(memory2))
    out["memory_v2_total"] = memory2.total
    memory2.version = 1
    out["memory_v2_bad_version_rc"] = lib.nvmlDeviceGetMemoryInfo_v2(handle, ctypes.byref(memory2))
    found = ctypes.c_void_p()
    out["by_uuid_rc"] = lib.nvmlDeviceGetHandleByUUID(out["uuid"].encode(), ctypes.byref(found))
    out["by_uuid_same"] = found.value == handle.value
    if not out["is_mig"]:
        out["by_bus_rc"] = lib.nvmlDeviceGetHandleByPciBusId_v2(out["pci"]["busId"].encode(), ctypes.byref(found))
        out["by_bus_same"] = found.value == handle.value
        lib.nvmlDeviceGetHandleByPciBusId(out["pci"]["busIdLegacy"].lower().encode(), ctypes.byref(found))
        out["by_legacy_bus_same"] = found.value == handle.value
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
