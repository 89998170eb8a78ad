"""Container start overhead: `runc run` of a busybox container (a) bare, (b) with our prestart hook
giving it 1 GPU, (c) every GPU with every capability; on the simulated driver (dgx-a100 preset: 8
GPUs) or, with ``--root /``, on the machine's real driver.

The hook is our ``nvc-container-runtime-hook prestart`` with only its own env, as runc gives it,
started two ways: the console script pip writes, and the ``python -I -S`` launcher written by
``python -m nvcontainer.launchers`` (what to install under the name engines call).
Target: median added <= 60 ms for (b)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import BIN, ROOT_HELP, driver_root, machine, median, stats_row, table, timed  # noqa: E402


def bundle(path: str, env: Optional[Dict[str, str]], config: str, hook: str) -> str:
    from nvcontainer.simulate.bundle import make_runc_bundle

    make_runc_bundle(Path(path), ["/bin/true"], prestart=[[hook, "prestart"]] if env else None,
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
    parser.add_argument("--root", help=ROOT_HELP)
    parser.add_argument("--device", default="1", help="the GPU of case (b) (default 1)")
    args = parser.parse_args()

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        root = driver_root(args.root, tmp)
        config = os.path.join(tmp, "config.toml")
        with open(config, "w") as f:
            f.write(f'[nvidia-container-cli]\nroot = "{root}"\n')
        from nvcontainer.launchers import write_launcher

        script = os.path.join(BIN, "nvc-container-runtime-hook")  # the console script pip writes
        launcher = write_launcher(os.path.join(tmp, "nvidia-container-runtime-hook"))  # python -I -S
        one = {"NVIDIA_VISIBLE_DEVICES": args.device}
        every = {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "all"}
        cases = [("(a) bare runc run", None, script),
                 ("(b) hook (console script), 1 GPU, utility+compute", one, script),
                 ("(b) hook (-I -S launcher), 1 GPU, utility+compute", one, launcher),
                 ("(c) hook (console script), all GPUs, all capabilities", every, script),
                 ("(c) hook (-I -S launcher), all GPUs, all capabilities", every, launcher)]
        paths = [bundle(os.path.join(tmp, f"b{i}"), env, config, hook) for i, (_, env, hook) in enumerate(cases)]
        results: List[List[float]] = [[] for _ in cases]
        for path in paths:  # warm-up
            runc(path)
        for _ in range(args.runs):  # interleaved, so that load changes on the machine hit every case alike
            for path, xs in zip(paths, results):
                xs += timed(lambda p=path: runc(p), 1, warmup=0)  # type: ignore[misc]
        base = (median(results[0]),)
        rows = [stats_row(name, xs, base if i else ()) for i, ((name, _, _), xs) in enumerate(zip(cases, results))]
        print(table(f"Container start, {args.runs} runs each (ms); added/ratio vs (a)",
                    ["case", "median", "p95", "added", "ratio"], [r + [""] * (5 - len(r)) for r in rows]))


if __name__ == "__main__":
    main()
