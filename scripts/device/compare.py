"""Compare `nvc-cli info --json` with NVIDIA's own answers on a real GPU machine.

Usage: python3 compare.py INFO_JSON.  The references are nvidia-smi's CSV query and nvidia-ml-py
(NVIDIA's own Python NVML binding) where it is installed.  Prints one line per field checked and
exits 1 on any mismatch."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, List


def smi(fields: str) -> List[List[str]]:
    out = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return [[c.strip() for c in line.split(",")] for line in out.strip().splitlines()]


def main() -> int:
    with open(sys.argv[1]) as f:
        info = json.load(f)
    bad = 0

    def check(what: str, ours: Any, theirs: Any) -> None:
        nonlocal bad
        ok = ours == theirs
        bad += not ok
        print(f"{'ok  ' if ok else 'DIFF'} {what}: ours={ours!r} reference={theirs!r}")

    try:
        rows = smi("index,name,uuid,pci.bus_id,memory.total,driver_version,mig.mode.current,compute_cap")
        assert rows and all(len(r) == 8 for r in rows), rows
    except (OSError, subprocess.CalledProcessError, AssertionError) as e:
        print(f"DIFF nvidia-smi --query-gpu failed: {e}")
        bad += 1
        rows = []
    check("GPU count (nvidia-smi)", len(info["gpus"]), len(rows))
    if rows:
        check("driver version (nvidia-smi)", info["nvrm_version"], rows[0][5])
    for gpu, row in zip(info["gpus"], rows):
        i = gpu["index"]
        check(f"GPU {i} index", gpu["index"], int(row[0]))
        check(f"GPU {i} model", gpu["model"], row[1])
        check(f"GPU {i} uuid", gpu["uuid"], row[2])
        check(f"GPU {i} bus id (lower case, as the original)", gpu["bus_id"], row[3].lower())
        check(f"GPU {i} memory MiB", gpu["memory_total"] // (1024 * 1024), int(row[4]))
        check(f"GPU {i} MIG enabled", gpu["mig_enabled"], row[6] == "Enabled")
        check(f"GPU {i} compute capability", gpu["architecture"], row[7])
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        print("nvidia-ml-py not installed: NVML cross-check skipped")
        return 1 if bad else 0
    pynvml.nvmlInit()
    try:
        check("NVML version (nvidia-ml-py)", info["nvml_version"], pynvml.nvmlSystemGetNVMLVersion())
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        check("CUDA version int (nvidia-ml-py)", info["cuda_version_int"], cuda)
        check("CUDA version (nvidia-ml-py)", info["cuda_version"], f"{cuda // 1000}.{cuda % 1000 // 10}")
        for gpu in info["gpus"]:
            h = pynvml.nvmlDeviceGetHandleByIndex(gpu["index"])
            i = gpu["index"]
            check(f"GPU {i} minor (nvidia-ml-py)", gpu["minor"], pynvml.nvmlDeviceGetMinorNumber(h))
            check(f"GPU {i} uuid (nvidia-ml-py)", gpu["uuid"], pynvml.nvmlDeviceGetUUID(h))
            check(f"GPU {i} bus id (nvidia-ml-py)", gpu["bus_id"], pynvml.nvmlDeviceGetPciInfo(h).busId.lower())
            check(f"GPU {i} memory total (nvidia-ml-py)", gpu["memory_total"],
                  pynvml.nvmlDeviceGetMemoryInfo(h).total)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            check(f"GPU {i} architecture (nvidia-ml-py)", gpu["architecture"], f"{major}.{minor}")
            check(f"GPU {i} brand (nvidia-ml-py)", gpu["brand"].lower(),
                  {pynvml.NVML_BRAND_NVIDIA: "nvidia"}.get(pynvml.nvmlDeviceGetBrand(h),
                                                            str(pynvml.nvmlDeviceGetBrand(h))))
    finally:
        pynvml.nvmlShutdown()
    print(f"{bad} difference(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
