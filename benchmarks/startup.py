"""Start-up of the hook and the runtime shim: import time of their modules, the imports one real
prestart run pays, a no-op hook run against bare Python, and the shim's pass-through subcommands
(`list`, `state`/`delete` of a container that does not exist) against calling runc directly, each
started three ways: the console script, the ``python -I -S`` launcher, and the ``sh`` front that
execs runc itself for everything but ``create``.

Targets: import of the hook and shim modules <= 30 ms; shim pass-through overhead <= 25 ms."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from typing import List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import BIN, import_times, machine, median, run, stats_row, table, timed, top_level_import_ms  # noqa: E402

MODULES = ("nvcontainer", "nvcontainer.hook.main", "nvcontainer.runtime.main", "cli.main")
# Imported by every interpreter before any code of ours runs: reported apart from our own imports.
INTERPRETER = ("site", "encodings", "encodings.utf_8", "_signal", "io", "zipimport", "_frozen_importlib_external",
               "_codecs", "codecs", "encodings.aliases", "_abc", "abc", "marker", "_io", "marshal", "posix",
               "time", "_thread", "_warnings", "_weakref", "winreg", "_imp", "nt")


def module_import_ms(module: str, repeats: int = 5) -> float:
    """Cumulative import time of ``module`` itself (``python -X importtime -c 'import M'``), ms, median."""
    values: List[float] = []
    for _ in range(repeats):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True,
                             text=True).stderr
        values += [us / 1000 for name, us, depth in import_times(err) if name == module and depth == 0]
    return median(values)


def prestart_imports(repeats: int) -> List[List[object]]:
    """Imports of one real prestart run (1 GPU): ours vs the interpreter's own ``site`` work."""
    from benchmarks.hooktarget import HookTarget

    ours: List[float] = []
    site: List[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        target = HookTarget(tmp)
        for _ in range(repeats):
            result = target.run([sys.executable, "-X", "importtime", "-m", "nvcontainer.hook", "prestart"])
            if result.returncode != 0:
                raise SystemExit(f"hook failed: {result.stderr[-800:]}")
            ours.append(top_level_import_ms(result.stderr, skip=INTERPRETER))
            site.append(sum(us for name, us, depth in import_times(result.stderr) if name == "site" and depth == 0)
                        / 1000)
    return [["site (interpreter start-up: .pth files, editable-install finder)", median(site)],
            ["our imports during one prestart run (sum of top-level cumulative)", median(ours)]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(machine())
    rows = [[m, module_import_ms(m)] for m in MODULES] + prestart_imports(3)
    print(table("Import time (ms, cumulative, median of 5; the prestart rows median of 3)", ["module", "ms"], rows))

    from nvcontainer.launchers import write_launcher, write_runtime_front

    with tempfile.TemporaryDirectory() as tmp:
        shim = os.path.join(BIN, "nvc-container-runtime")
        hook = os.path.join(BIN, "nvc-container-runtime-hook")
        front = write_runtime_front(os.path.join(tmp, "nvidia-container-runtime"), runtime=shutil.which("runc"))
        fast_shim = write_launcher(os.path.join(tmp, "nvc-runtime-launcher"), kind="runtime")
        fast_hook = write_launcher(os.path.join(tmp, "nvidia-container-runtime-hook"))
        base = timed(run([sys.executable, "-c", "pass"]), args.runs)
        rows = [stats_row("python3 -c pass", base),
                stats_row("python3 -I -S -c pass", timed(run([sys.executable, "-I", "-S", "-c", "pass"]), args.runs),
                          (median(base),)),
                stats_row("hook poststart (no-op), console script", timed(run([hook, "poststart"]), args.runs),
                          (median(base),)),
                stats_row("hook poststart (no-op), -I -S launcher", timed(run([fast_hook, "poststart"]), args.runs),
                          (median(base),))]
        for sub in (["list"], ["state", "nvc-bench-none"], ["delete", "nvc-bench-none"]):
            direct = timed(run(["runc", *sub]), args.runs)
            rows.append(stats_row(f"runc {' '.join(sub)}", direct))
            for label, program in (("console script", shim), ("-I -S launcher", fast_shim), ("sh front", front)):
                through = timed(run([program, *sub]), args.runs)
                rows.append(stats_row(f"shim {' '.join(sub)} (pass-through, {label})", through, (median(direct),)))
    print(table(f"Process start, {args.runs} runs (ms); added = vs python3 -c pass, or vs runc for the shim",
                ["what", "median", "p95", "added", "ratio"], [r + [""] * (5 - len(r)) for r in rows]))


if __name__ == "__main__":
    main()
