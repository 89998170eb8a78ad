"""Run in a fresh process: resolve every MIG device to its profile with the NVML call sequence of
NVIDIA's go-nvlib (``MigDevice.GetProfile``, used by nvidia-ctk and the Kubernetes device plugin),
through nvidia-ml-py with the unversioned profile structures go-nvml passes.  Prints JSON: per MIG
device its UUID, the GI and CI profile indexes found, the CI engine profile, its memory (MiB) and
the parent's total memory (bytes), or the first call that failed.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pynvml as nv


def profile_of(mig: Any) -> Dict[str, Any]:
    parent = nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
    total = nv.nvmlDeviceGetMemoryInfo(parent).total
    attributes = nv.nvmlDeviceGetAttributes_v2(mig)
    gi = nv.nvmlDeviceGetGpuInstanceById(parent, nv.nvmlDeviceGetGpuInstanceId(mig))
    ci = nv.nvmlGpuInstanceGetComputeInstanceById(gi, nv.nvmlDeviceGetComputeInstanceId(mig))
    gi_info, ci_info = nv.nvmlGpuInstanceGetInfo(gi), nv.nvmlComputeInstanceGetInfo(ci)
    for i in range(nv.NVML_GPU_INSTANCE_PROFILE_COUNT):
        try:
            gi_profile = nv.nvmlDeviceGetGpuInstanceProfileInfo(parent, i, 1)
        except (nv.NVMLError_NotSupported, nv.NVMLError_InvalidArgument):
            continue
        if gi_profile.id != gi_info.profileId:
            continue
        for j in range(nv.NVML_COMPUTE_INSTANCE_PROFILE_COUNT):
            for k in range(nv.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT):
                try:
                    ci_profile = nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, j, k, 1)
                except (nv.NVMLError_NotSupported, nv.NVMLError_InvalidArgument):
                    continue
                if ci_profile.id == ci_info.profileId:
                    return {"gi_profile": i, "ci_profile": j, "engine_profile": k,
                            "memory_mib": attributes.memorySizeMB, "parent_total": total}
    return {"error": "no matching profile IDs found"}


def main() -> List[Dict[str, Any]]:
    nv.nvmlInit()
    out = []
    for index in range(nv.nvmlDeviceGetCount()):
        gpu = nv.nvmlDeviceGetHandleByIndex(index)
        for slot in range(nv.nvmlDeviceGetMaxMigDeviceCount(gpu)):
            try:
                mig = nv.nvmlDeviceGetMigDeviceHandleByIndex(gpu, slot)
            except (nv.NVMLError_NotFound, nv.NVMLError_InvalidArgument):
                continue
            entry: Dict[str, Any] = {"uuid": nv.nvmlDeviceGetUUID(mig)}
            try:
                entry.update(profile_of(mig))
            except nv.NVMLError as exc:
                entry["error"] = str(exc)
            out.append(entry)
    nv.nvmlShutdown()
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
