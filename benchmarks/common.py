"""Shared by the benchmark scripts: timing, a table printer, the machine description.

Benchmarks print numbers and compare them with a baseline measured in the same run; they never
assert times (tests do not either)."""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Callable, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


ROOT_HELP = "a real driver root (e.g. /) instead of a simulated one"


def driver_root(root: Optional[str], workdir: str) -> str:
    """``root`` (a real driver, from ``--root``) or a simulated driver built under ``workdir``."""
    if root is not None:
        return root
    from nvcontainer.simulate import build

    path = os.path.join(workdir, "driver")
    build(path)
    return path


def machine() -> str:
    model = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        runc = subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        runc = "runc not found"
    return (f"{os.cpu_count()} cores, {model}, Linux {platform.release()}, "
            f"Python {platform.python_version()}, {runc}")


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def import_times(stderr: str) -> List[Tuple[str, int, int]]:
    """``(module, cumulative us, depth)`` for each line of ``python -X importtime`` output."""
    out = []
    for line in stderr.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            out.append((m.group(4), int(m.group(2)), (len(m.group(3)) - 1) // 2))
    return out


def top_level_import_ms(stderr: str, skip: Sequence[str] = ()) -> float:
    """Sum of the cumulative times of the top-level imports (depth 0) in ``-X importtime`` output, in ms."""
    return sum(us for name, us, depth in import_times(stderr) if depth == 0 and name not in skip) / 1000


def timed(fn: Callable[[], object], runs: int, warmup: int = 1) -> List[float]:
    """Wall times in ms of ``runs`` calls (after ``warmup`` untimed ones)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def run(argv: Sequence[str], **kwargs: object) -> Callable[[], object]:
    def call() -> object:
        return subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                              **kwargs)  # type: ignore[call-overload]
    return call


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def p95(xs: Sequence[float]) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, header))] + [[f"{c:.1f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [f"### {title}", "", "| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells[1:]]
    return "\n".join(lines) + "\n"


def stats_row(name: str, xs: Sequence[float], base: Tuple[float, ...] = ()) -> List[object]:
    row: List[object] = [name, median(xs), p95(xs)]
    if base:
        row += [median(xs) - base[0], median(xs) / base[0] if base[0] else float("nan")]
    return row
