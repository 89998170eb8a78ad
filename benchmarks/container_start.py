"""Container start overhead: `runc run` of a busybox container (a) bare, (b) with our prestart hook
giving it 1 GPU, (c) all 8 GPUs with every capability, on the simulated driver; and the peak RSS
of the hook process."""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import uuid
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import BIN, machine, median, stats_row, table, timed  # noqa: E402


def bundle(path: str, env: Optional[Dict[str, str]], config: str) -> str:
    from nvcontainer.simulate.bundle import make_runc_bundle

    hook = os.path.join(BIN, "nvc-container-runtime-hook")
    make_runc_bundle(path, ["/bin/true"], prestart=[[hook, "prestart"]] if env else None,
                     hook_env=[f"NVIDIA_CTK_CONFIG_FILE_PATH={config}", f"NVC_STATE_DIR={path}/state"],
                     env=env, glibc=True)
    return path


def runc(path: str) -> None:
    cid = "nvc-bench-" + uuid.uuid4().hex[:8]
    out = subprocess.run(["runc", "run", "--bundle", path, cid], capture_output=True, stdin=subprocess.DEVNULL)
    subprocess.run(["runc", "delete", "--force", cid], capture_output=True)
    if out.returncode != 0:
        raise SystemExit(f"runc failed: {out.stderr.decode()[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    from nvcontainer.simulate import build

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "driver")
        build(root)
        config = os.path.join(tmp, "config.toml")
        with open(config, "w") as f:
            f.write(f'[nvidia-container-cli]\nroot = "{root}"\n')
        cases = [("(a) bare runc run", None),
                 ("(b) hook, 1 GPU, utility+compute", {"NVIDIA_VISIBLE_DEVICES": "1"}),
                 ("(c) hook, 8 GPUs, all capabilities", {"NVIDIA_VISIBLE_DEVICES": "all",
                                                         "NVIDIA_DRIVER_CAPABILITIES": "all"})]
        results: List[List[float]] = []
        for i, (_, env) in enumerate(cases):
            path = bundle(os.path.join(tmp, f"b{i}"), env, config)
            results.append(timed(lambda p=path: runc(p), args.runs, warmup=2))  # type: ignore[misc]
        base = (median(results[0]),)
        rows = [stats_row(name, xs, base if i else ()) for i, ((name, _), xs) in enumerate(zip(cases, results))]
        print(table(f"Container start, {args.runs} runs each (ms)",
                    ["case", "median", "p95", "added", "ratio"], [r + [""] * (5 - len(r)) for r in rows]))

        # Peak RSS of one hook run (the hook is the child whose max RSS this reports).
        path = os.path.join(tmp, "b1")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        runc(path)
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"peak RSS of the largest child (runc or the hook) in a hook run: {max(before, after) / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
