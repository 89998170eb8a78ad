"""How configure's cost grows: 1, 8 and 64 simulated GPUs and 8 GPUs x 7 MIG devices (all devices
given to one container), and 32 containers configured concurrently.  Each configure goes into a
fresh `unshare -m` namespace standing for a created container; cost should grow linearly in mounts."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import REPO, machine, median, table  # noqa: E402

GIB = 1 << 30
MIG7 = [{"profile": "1g.5gb", "gi": gi, "ci": 0} for gi in range(7, 14)]


def topology(n: int, migs: bool = False) -> Dict[str, Any]:
    gpus = []
    for i in range(n):
        bus_id = f"00000000:{(i // 32) + 1:02x}:{i % 32:02x}.0"
        gpu: Dict[str, Any] = {"name": "NVIDIA A100-SXM4-40GB", "bus_id": bus_id, "minor": i,
                               "compute_capability": "8.0", "architecture": 7,
                               "pci_device_id": "0x20B010DE", "memory_total": 40 * GIB}
        if migs:
            gpu.update(mig_enabled=True, migs=MIG7)
        else:  # MIG needs a minor below 32 (the driver's mig-minors table): these GPUs do not use it
            gpu["mig_capable"] = False
        gpus.append(gpu)
    return {"driver_version": "550.54.15", "cuda_version": 12040, "gpus": gpus}


def one_configure(root: str, workdir: str, devices: str) -> Tuple[float, int]:
    from nvcontainer import Request, configure
    from nvcontainer.simulate.bundle import make_rootfs

    rootfs = make_rootfs(Path(tempfile.mkdtemp(dir=workdir)), glibc=True)
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "300"])
    try:
        own = os.readlink("/proc/self/ns/mnt")
        while os.readlink(f"/proc/{proc.pid}/ns/mnt") == own:
            time.sleep(0.005)
        start = time.perf_counter()
        result = configure(Request(str(rootfs), devices=devices, capabilities=["utility", "compute"],
                                   state_dir=os.path.join(workdir, "state")), pid=proc.pid, root=root)
        return (time.perf_counter() - start) * 1000, result.mounts
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from nvcontainer.simulate import build

    print(machine())
    rows: List[List[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, n, migs in (("1 GPU", 1, False), ("8 GPUs", 8, False), ("64 GPUs", 64, False),
                               ("8 GPUs x 7 MIG", 8, True)):
            topo = os.path.join(tmp, f"{n}-{migs}.json")
            with open(topo, "w") as f:
                json.dump(topology(n, migs), f)
            root = os.path.join(tmp, f"root-{n}-{migs}")
            build(root, topology=topo)
            # A fresh interpreter per size: NVML loads once per process and path.
            code = (f"import sys, json; sys.path.insert(0, {REPO!r}); from benchmarks.scale import one_configure; "
                    f"print(json.dumps([one_configure({root!r}, {tmp!r}, 'all') for _ in range({args.runs})]))")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            results = json.loads(out.stdout.splitlines()[-1])
            ms = median([r[0] for r in results])
            mounts = results[0][1]
            rows.append([label, mounts, ms, ms / mounts])
        print(table(f"configure of one container with all devices, median of {args.runs} (ms)",
                    ["driver", "mounts", "ms", "ms per mount"], rows))

        root = os.path.join(tmp, "root-8-False")
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=32) as pool:
            futures = [pool.submit(subprocess.run, [
                sys.executable, "-c", f"import sys; sys.path.insert(0, {REPO!r}); "
                f"from benchmarks.scale import one_configure; one_configure({root!r}, {tmp!r}, '{i % 8}')"],
                capture_output=True) for i in range(32)]
            codes = [f.result().returncode for f in futures]
        elapsed = time.perf_counter() - started
        print(table("32 concurrent configures (8 GPUs, one GPU each)", ["configures", "failures", "seconds",
                                                                        "per second"],
                    [[32, sum(1 for c in codes if c != 0), elapsed, 32 / elapsed]]))


if __name__ == "__main__":
    main()
