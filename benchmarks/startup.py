"""Start-up of the hook and the runtime shim: import time, a no-op hook run, and the shim's
pass-through (`nvc-container-runtime list`) against calling runc directly."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import BIN, machine, median, run, stats_row, table, timed  # noqa: E402


def import_ms(module: str) -> float:
    """Cumulative import time of ``module`` itself (python -X importtime), in ms; median of 5."""
    values = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                             text=True).stderr
        for line in out.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S+)$", line)
            if m and m.group(2) == module:
                values.append(int(m.group(1)) / 1000)
    return median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(machine())
    rows = [[m, import_ms(m)] for m in ("nvcontainer", "nvcontainer.hook.main", "nvcontainer.runtime.main",
                                        "cli.main")]
    print(table("Import time (ms, cumulative, median of 5)", ["module", "ms"], rows))
    base = timed(run([sys.executable, "-c", "pass"]), args.runs)
    hook = timed(run([os.path.join(BIN, "nvc-container-runtime-hook"), "poststart"]), args.runs)
    runc_list = timed(run(["runc", "list"]), args.runs)
    shim_list = timed(run([os.path.join(BIN, "nvc-container-runtime"), "list"]), args.runs)
    rows = [stats_row("python3 -c pass", base),
            stats_row("nvc-container-runtime-hook poststart", hook, (median(base),)),
            stats_row("runc list", runc_list),
            stats_row("nvc-container-runtime list (pass-through)", shim_list, (median(runc_list),))]
    print(table(f"Process start, {args.runs} runs (ms)", ["what", "median", "p95", "added vs baseline", "ratio"],
                [r + [""] * (5 - len(r)) for r in rows]))


if __name__ == "__main__":
    main()
