"""Run in a fresh process: walk the whole MIG tree with nvidia-ml-py (pynvml) and print it as JSON.

Usage: LD_LIBRARY_PATH=<driver lib dir> python mig_walk.py.  For every GPU: MIG mode, the
GPU-instance profiles (v1 and v2 structures, one index past NVML_GPU_INSTANCE_PROFILE_COUNT),
placements, remaining capacity and GPU instances for every profile id in a range, then per GPU
instance its info, compute-instance profiles, placements, capacity and compute instances, then
the MIG device handles.  Every call records its return code, so the test compares error paths too.
"""

from __future__ import annotations

import ctypes
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

import pynvml as nv

GI_PROFILE_IDS = range(24)
GPU_INSTANCE_IDS = range(16)
CI_IDS = range(8)
GI_FIELDS = ("id", "isP2pSupported", "sliceCount", "instanceCount", "multiprocessorCount", "copyEngineCount",
             "decoderCount", "encoderCount", "jpegCount", "ofaCount", "memorySizeMB")
CI_FIELDS = ("id", "sliceCount", "instanceCount", "multiprocessorCount", "sharedCopyEngineCount",
             "sharedDecoderCount", "sharedEncoderCount", "sharedJpegCount", "sharedOfaCount")
ATTRIBUTE_FIELDS = ("multiprocessorCount", "sharedCopyEngineCount", "sharedDecoderCount", "sharedEncoderCount",
                    "sharedJpegCount", "sharedOfaCount", "gpuInstanceSliceCount", "computeInstanceSliceCount",
                    "memorySizeMB")


class ComputeInstanceInfoV1(ctypes.Structure):
    """The unversioned nvmlComputeInstanceGetInfo's structure: pynvml's without the placement."""

    _fields_ = [(name, kind) for name, kind in nv.c_nvmlComputeInstanceInfo_t._fields_ if name != "placement"]


def call(fn: Callable[..., Any], *args: Any) -> Tuple[int, Any]:
    try:
        return 0, fn(*args)
    except nv.NVMLError as exc:
        return int(exc.value), None


def address(handle: Any) -> Optional[int]:
    return ctypes.cast(handle, ctypes.c_void_p).value


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def fields(struct: Any, names: Tuple[str, ...], named: bool) -> Dict[str, Any]:
    out = {name: getattr(struct, name) for name in names}
    if named:
        out["name"] = text(struct.name)
        out["version"] = struct.version
    return out


def gi_profiles(gpu: Any) -> List[List[Any]]:
    rows = []
    for index in range(nv.NVML_GPU_INSTANCE_PROFILE_COUNT + 1):
        rc1, v1 = call(nv.nvmlDeviceGetGpuInstanceProfileInfo, gpu, index, 1)
        rc2, v2 = call(nv.nvmlDeviceGetGpuInstanceProfileInfo, gpu, index, 2)
        rows.append([index, rc1, fields(v1, GI_FIELDS, False) if v1 else None,
                     rc2, fields(v2, GI_FIELDS, True) if v2 else None])
    return rows


def placements(fn: Callable[..., Any], owner: Any, profile_id: int, kind: Any) -> List[Any]:
    count = ctypes.c_uint(0)
    rc, _ = call(fn, owner, profile_id, None, ctypes.byref(count))
    if rc != 0:
        return [profile_id, rc, None]
    array = (kind * max(count.value, 1))()
    rc, _ = call(fn, owner, profile_id, array, ctypes.byref(count))
    return [profile_id, rc, [[array[i].start, array[i].size] for i in range(count.value)] if rc == 0 else None]


def compute_instance(ci: Any, gpu: Any, gi: Any, lib: ctypes.CDLL) -> Dict[str, Any]:
    info = nv.nvmlComputeInstanceGetInfo(ci)
    legacy = ComputeInstanceInfoV1()
    rc_v1 = lib.nvmlComputeInstanceGetInfo(ci, ctypes.byref(legacy))
    rc, same = call(nv.nvmlGpuInstanceGetComputeInstanceById, gi, info.id)
    return {
        "id": info.id, "profile_id": info.profileId, "placement": [info.placement.start, info.placement.size],
        "device_is_gpu": address(info.device) == address(gpu), "gi_is_parent": address(info.gpuInstance) == address(gi),
        "by_id_same": rc == 0 and address(same) == address(ci),
        "v1": [rc_v1, legacy.id, legacy.profileId, address(legacy.device) == address(gpu),
               address(legacy.gpuInstance) == address(gi)],
    }


def gpu_instance(gi: Any, gpu: Any, lib: ctypes.CDLL) -> Dict[str, Any]:
    info = nv.nvmlGpuInstanceGetInfo(gi)
    rc, same = call(nv.nvmlDeviceGetGpuInstanceById, gpu, info.id)
    out: Dict[str, Any] = {
        "id": info.id, "profile_id": info.profileId, "placement": [info.placement.start, info.placement.size],
        "device_is_gpu": address(info.device) == address(gpu), "by_id_same": rc == 0 and address(same) == address(gi),
        "ci_profiles": [], "ci_placements": [], "ci_remaining": [], "compute_instances": [],
    }
    for index in range(nv.NVML_COMPUTE_INSTANCE_PROFILE_COUNT + 1):
        rc1, v1 = call(nv.nvmlGpuInstanceGetComputeInstanceProfileInfo, gi, index, 0, 1)
        rc2, v2 = call(nv.nvmlGpuInstanceGetComputeInstanceProfileInfo, gi, index, 0, 2)
        out["ci_profiles"].append([index, rc1, fields(v1, CI_FIELDS, False) if v1 else None,
                                   rc2, fields(v2, CI_FIELDS, True) if v2 else None])
        out["ci_placements"].append(placements(nv.nvmlGpuInstanceGetComputeInstancePossiblePlacements, gi, index,
                                               nv.c_nvmlComputeInstancePlacement_t))
        out["ci_remaining"].append([index, *call(nv.nvmlGpuInstanceGetComputeInstanceRemainingCapacity, gi, index)])
        array = (nv.c_nvmlComputeInstance_t * 8)()
        count = ctypes.c_uint(0)
        rc, _ = call(nv.nvmlGpuInstanceGetComputeInstances, gi, index, array, ctypes.byref(count))
        out["compute_instances"].append([index, rc, [compute_instance(array[i], gpu, gi, lib)
                                                     for i in range(count.value)] if rc == 0 else None])
    out["ci_by_id"] = [[ci, call(nv.nvmlGpuInstanceGetComputeInstanceById, gi, ci)[0]] for ci in CI_IDS]
    bad = nv.c_nvmlComputeInstanceProfileInfo_v2_t()
    bad.version = 1
    out["ci_profile_bad_version"] = lib.nvmlGpuInstanceGetComputeInstanceProfileInfoV(gi, 0, 0, ctypes.byref(bad))
    out["ci_engine_profile_1"] = call(nv.nvmlGpuInstanceGetComputeInstanceProfileInfo, gi, 0, 1)[0]
    return out


def mig_devices(gpu: Any, count: int) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for index in range(count):
        rc, mig = call(nv.nvmlDeviceGetMigDeviceHandleByIndex, gpu, index)
        if rc != 0:
            out.append({"rc": rc})
            continue
        attrs = nv.nvmlDeviceGetAttributes_v2(mig)
        uuid = text(nv.nvmlDeviceGetUUID(mig))
        out.append({
            "rc": 0, "uuid": uuid, "name": text(nv.nvmlDeviceGetName(mig)),
            "gi": nv.nvmlDeviceGetGpuInstanceId(mig), "ci": nv.nvmlDeviceGetComputeInstanceId(mig),
            "is_mig": int(nv.nvmlDeviceIsMigDeviceHandle(mig).value),
            "parent_is_gpu": address(nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)) == address(gpu),
            "by_uuid_same": address(nv.nvmlDeviceGetHandleByUUID(uuid)) == address(mig),
            "memory_total": nv.nvmlDeviceGetMemoryInfo(mig).total,
            "attributes": {name: getattr(attrs, name) for name in ATTRIBUTE_FIELDS},
            "gi_profile_on_mig_handle": call(nv.nvmlDeviceGetGpuInstanceProfileInfo, mig, 0)[0],
        })
    return out


def walk_gpu(gpu: Any, lib: ctypes.CDLL) -> Dict[str, Any]:
    mode_rc, mode = call(nv.nvmlDeviceGetMigMode, gpu)
    max_rc, max_migs = call(nv.nvmlDeviceGetMaxMigDeviceCount, gpu)
    out: Dict[str, Any] = {
        "minor": nv.nvmlDeviceGetMinorNumber(gpu), "mig_mode": [mode_rc, mode], "max_migs": [max_rc, max_migs],
        "gi_profiles": gi_profiles(gpu),
        "gi_profiles_by_id": [[pid, call(nv.nvmlDeviceGetGpuInstanceProfileInfoById, gpu, pid)[0]]
                              for pid in GI_PROFILE_IDS],
        "placements": [placements(nv.nvmlDeviceGetGpuInstancePossiblePlacements, gpu, pid,
                                  nv.c_nvmlGpuInstancePlacement_t) for pid in GI_PROFILE_IDS],
        "remaining": [[pid, *call(nv.nvmlDeviceGetGpuInstanceRemainingCapacity, gpu, pid)] for pid in GI_PROFILE_IDS],
        "gpu_instances": [],
        "gi_by_id": [[gi, call(nv.nvmlDeviceGetGpuInstanceById, gpu, gi)[0]] for gi in GPU_INSTANCE_IDS],
        "mig_by_index_0": call(nv.nvmlDeviceGetMigDeviceHandleByIndex, gpu, 0)[0] if not max_migs else None,
    }
    for pid in GI_PROFILE_IDS:
        array = (nv.c_nvmlGpuInstance_t * 8)()
        count = ctypes.c_uint(0)
        rc, _ = call(nv.nvmlDeviceGetGpuInstances, gpu, pid, array, ctypes.byref(count))
        out["gpu_instances"].append([pid, rc, [gpu_instance(array[i], gpu, lib) for i in range(count.value)]
                                     if rc == 0 else None])
    bad = nv.c_nvmlGpuInstanceProfileInfo_v2_t()
    bad.version = nv.nvmlGpuInstanceProfileInfo_v2 - 1
    out["gi_profile_bad_version"] = lib.nvmlDeviceGetGpuInstanceProfileInfoV(gpu, 0, ctypes.byref(bad))
    out["migs"] = mig_devices(gpu, max_migs or 0)
    return out


def main() -> Dict[str, Any]:
    nv.nvmlInit()
    lib = nv.nvmlLib  # the library pynvml loaded: the simulated one, by SONAME
    lib.nvmlComputeInstanceGetInfo.argtypes = [nv.c_nvmlComputeInstance_t, ctypes.POINTER(ComputeInstanceInfoV1)]
    gpus = [walk_gpu(nv.nvmlDeviceGetHandleByIndex(i), lib) for i in range(nv.nvmlDeviceGetCount())]
    nv.nvmlShutdown()
    return {"gpus": gpus}


if __name__ == "__main__":
    print(json.dumps(main()))
