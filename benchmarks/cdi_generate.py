"""The library side of ``nvc-ctk cdi generate`` (simulated 2-GPU and 8-GPU + MIG presets, or the real
driver with ``--root /``), each case a fresh process: discovery alone, then discovery + generation +
the semantic checks + our YAML emitter (what ``cdi generate`` runs below the CLI), and, for
comparison, the same spec checked with jsonschema and written with PyYAML (the old path).  The
baseline is ``python3 -c pass`` in the same run; the whole CLI (typer start-up included) last.
The issue's target for the library side: <= 120 ms (nvidia-ctk: 38 / 104 ms)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import REPO, ROOT_HELP, machine, median, run, stats_row, table, timed  # noqa: E402

PRELUDE = "import sys\nsys.path.insert(0, {repo!r})\nfrom nvcontainer.discovery import discover\n"
DISCOVER = "d = discover({root!r})\n"
OURS = ("from nvcontainer.cdi.generate import generate\nfrom nvcontainer.cdi.spec import dump_spec\n"
        "from nvcontainer.cdi.validate import validate\n"
        "s = generate(d, hook_path='/usr/bin/nvc-cdi-hook')\nvalidate(s, schema=False)\n"
        "sys.stdout.write(dump_spec(s, 'yaml'))\n")
OLD_WAY = ("from nvcontainer.cdi.generate import generate\nfrom nvcontainer.cdi.validate import validate\n"
           "import yaml\ns = generate(d, hook_path='/usr/bin/nvc-cdi-hook')\nvalidate(s)\n"
           "sys.stdout.write('---\\n' + yaml.safe_dump(s, sort_keys=False, default_flow_style=False))\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--root", help=ROOT_HELP)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        if args.root is not None:
            roots = [("real driver", args.root)]
        else:
            from nvcontainer.simulate import build

            roots = []
            for preset, label in (("dgx-h100-2", "2 GPUs"), ("dgx-a100", "8 GPUs + MIG")):
                path = os.path.join(tmp, preset)
                build(path, preset=preset)
                roots.append((label, path))
        cases = [("python3 -c pass (baseline)", run([sys.executable, "-c", "pass"]))]
        for label, root in roots:
            head = PRELUDE.format(repo=REPO) + DISCOVER.format(root=root)
            for what, code in (("discover()", head), ("discover + generate + checks + YAML", head + OURS),
                               ("the same, jsonschema + PyYAML (old)", head + OLD_WAY)):
                cases.append((f"{label}: {what}", run([sys.executable, "-c", code])))
            cli = [sys.executable, "-m", "cli.ctk", "cdi", "generate", "--driver-root", root,
                   "--nvidia-cdi-hook-path", "/usr/bin/nvc-cdi-hook"]
            cases.append((f"{label}: nvc-ctk cdi generate (CLI)", run(cli, cwd=REPO)))
        times: List[List[float]] = [[] for _ in cases]
        for _ in range(args.runs):  # interleaved run by run, so that load changes hit every case alike
            for i, (_, call) in enumerate(cases):
                times[i] += timed(call, 1, warmup=0)
        base = (median(times[0]),)
        rows = [stats_row(cases[0][0], times[0])] + [stats_row(n, t, base) for (n, _), t in zip(cases[1:], times[1:])]
        print(table("cdi generate (ms)", ["what", "median", "p95", "added vs python", "ratio"],
                    [r + [""] * (5 - len(r)) for r in rows]))


if __name__ == "__main__":
    main()
