"""Where one prestart hook run spends its time: interpreter start, imports, config and OCI state,
discovery (NVML included), the allocation record, the Plan, and applying it (mounts, ldconfig,
device cgroup), on the simulated driver or, with ``--root /``, the real one.

The hook runs as the ``python -I -S`` launcher would start it, against a fresh ``unshare -m``
process per run (see hooktarget.py); the phases are read from timestamps the instrumented start
writes to a file.  The table gives the median of each phase over the runs."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import ROOT_HELP, machine, median, table  # noqa: E402

BOOT = r"""
import sys, time
T = [("start", time.perf_counter())]
sys.path.extend(PATHS)
import nvcontainer.hook.main as hm, nvcontainer.hook.prestart as hp
T.append(("hook modules", time.perf_counter()))
import nvcontainer.container as C
T.append(("configure modules", time.perf_counter()))
def wrap(mod, name):
    f = getattr(mod, name)
    def timed(*a, **k):
        try:
            return f(*a, **k)
        finally:
            T.append((name, time.perf_counter()))
    setattr(mod, name, timed)
for mod, name in ((hp, "load_bundle_spec"), (hp, "parse_request"), (C, "_discover"), (C, "_claim"),
                  (C, "make_plan"), (C, "apply")):
    wrap(mod, name)
sys.argv = ["hook", "prestart"]
try:
    rc = hm.main()
finally:
    T.append(("end", time.perf_counter()))
    with open(OUTFILE, "a") as out:
        out.write(" ".join(f"{n.replace(' ', '_')}={(t - T[0][1]) * 1000:.3f}" for n, t in T) + "\n")
sys.exit(rc)
"""

PHASES = (("hook modules", "import of the hook, config and OCI-state modules"),
          ("configure modules", "import of the configure layer (discovery, policy, plans, apply)"),
          ("load_bundle_spec", "config.toml + OCI state + config.json"),
          ("parse_request", "NVIDIA_* variables -> request"),
          ("_discover", "discovery: the driver snapshot (NVML, ld cache, ELF checks, nodes when rebuilt)"),
          ("_claim", "allocation record"),
          ("make_plan", "the Plan"),
          ("apply", "apply: fork+setns, mounts, ldconfig, cgroup"),
          ("end", "exit"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--root", help=ROOT_HELP)
    parser.add_argument("--device", default="1")
    args = parser.parse_args()
    from benchmarks.hooktarget import HookTarget
    from nvcontainer.launchers import import_paths

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        target = HookTarget(tmp, {"NVIDIA_VISIBLE_DEVICES": args.device}, root=args.root)
        target.prime()  # the driver snapshot and the config cache stored, as on a node that ran a container
        outfile = os.path.join(tmp, "phases.txt")
        boot = BOOT.replace("PATHS", repr(import_paths())).replace("OUTFILE", repr(outfile))
        walls: List[float] = []
        for _ in range(args.runs + 1):
            result = target.run([sys.executable, "-I", "-S", "-c", boot])
            if result.returncode != 0:
                raise SystemExit(f"hook failed: {result.stderr[-800:]}")
            walls.append(result.ms)
        lines = open(outfile).read().splitlines()[1:]  # the first run warms the page cache
        marks: Dict[str, List[float]] = {}
        for line in lines:
            for item in line.split():
                name, value = item.split("=")
                marks.setdefault(name.replace("_", " ") if name.startswith(("hook_", "configure_")) else name,
                                 []).append(float(value))
        rows: List[List[object]] = []
        previous = 0.0
        for name, what in PHASES:
            at = median(marks[name])
            rows.append([what, at - previous, at])
            previous = at
        whole = median(walls[1:])
        rows.append(["interpreter start and exit (wall - in-process)", whole - previous, whole])
        print(table(f"One prestart hook run, 1 GPU, median of {args.runs} (ms)", ["phase", "ms", "at"], rows))


if __name__ == "__main__":
    main()
