"""Run every benchmark with modest defaults and print their tables (about 5 minutes on 2 cores).

``--runs-scale F`` multiplies every script's run count (e.g. 0.3 for a quick look)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.common import machine  # noqa: E402

SCRIPTS = (("targets.py", 20), ("startup.py", 20), ("discovery.py", 10), ("phases.py", 15), ("scale.py", 5),
           ("memory.py", 3), ("cdi_generate.py", 10), ("container_start.py", 30), ("parsers.py", 5))

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs-scale", type=float, default=1.0)
    args = parser.parse_args()
    print(f"# nvcontainer benchmarks\n\nMachine: {machine()}\n", flush=True)
    started = time.perf_counter()
    for script, runs in SCRIPTS:
        print(f"\n## {script}\n", flush=True)
        count = max(1, round(runs * args.runs_scale))
        subprocess.run([sys.executable, os.path.join(HERE, script), "--runs", str(count)], check=True,
                       cwd=os.path.dirname(HERE))
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")
