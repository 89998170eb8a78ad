"""Peak RSS of the hook process: one prestart run (1 GPU, and 8 GPUs with every capability), against
a bare interpreter and the no-op ``poststart``.

Measured as the hook process's own ``VmHWM`` (``/proc/self/status``, read at exit by a wrapper that
then runs the hook's ``main`` in the same interpreter).  Not ``ru_maxrss`` of the child: Linux
carries the high-water mark across ``exec``, so a child forked from this (larger) benchmark process
would report at least the benchmark's own RSS.  The hook's forked mount child is a process of its
own and is not included."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine, median, table  # noqa: E402
from benchmarks.hooktarget import HookTarget  # noqa: E402

MARK = "nvc-bench VmHWM kB:"
WRAPPER = ("import atexit, sys\n"
           "def report():\n"
           "    for line in open('/proc/self/status'):\n"
           "        if line.startswith('VmHWM:'):\n"
           f"            sys.stderr.write('{MARK} ' + line.split()[1] + '\\n')\n"
           "atexit.register(report)\n"
           "if sys.argv[1:2] != ['none']:\n"
           "    from nvcontainer.hook.main import main\n"
           "    sys.exit(main(['nvc-container-runtime-hook', *sys.argv[1:]]))\n")


def wrapped(command: str) -> List[str]:
    return [sys.executable, "-c", WRAPPER, command]


def hwm_mib(stderr: str) -> float:
    for line in stderr.splitlines():
        if line.startswith(MARK):
            return int(line.split()[-1]) / 1024
    raise SystemExit(f"no VmHWM reported: {stderr[-800:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    rows: List[List[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        one = HookTarget(os.path.join(tmp, "one"))
        cases = [("python3 (baseline: the wrapper alone)", one, wrapped("none")),
                 ("hook poststart (no-op)", one, wrapped("poststart")),
                 ("hook prestart, 1 GPU", one, wrapped("prestart"))]
        all8 = HookTarget(os.path.join(tmp, "all"), env={"NVIDIA_VISIBLE_DEVICES": "all",
                                                         "NVIDIA_DRIVER_CAPABILITIES": "all"})
        cases.append(("hook prestart, 8 GPUs, all capabilities", all8, wrapped("prestart")))
        base = 0.0
        for name, target, argv in cases:
            target.prime(argv)
            runs = [target.run(argv) for _ in range(args.runs)]
            failed = [r for r in runs if r.returncode != 0]
            if failed:
                raise SystemExit(f"{name} failed: {failed[0].stderr[-800:]}")
            mib = median([hwm_mib(r.stderr) for r in runs])
            base = base or mib
            rows.append([name, mib, mib - base, median([r.ms for r in runs])])
    print(table(f"Peak RSS of the process (MiB, median of {args.runs})", ["process", "peak RSS", "added", "wall ms"],
                rows))


if __name__ == "__main__":
    main()
