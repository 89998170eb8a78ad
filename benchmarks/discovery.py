"""Discovery cost (simulated driver, or the real one with ``--root /``): nvc-cli info/list,
discover() in a fresh process and repeated in-process (and, on a real driver, nvidia-smi), and our
ld.so.cache reader against `ldconfig -p` (the host's cache and a 5,000-entry cache)."""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import BIN, ROOT_HELP, driver_root, machine, median, run, stats_row, table, timed  # noqa: E402


def synthetic_cache(path: str, entries: int) -> None:
    """A new-format ld.so.cache with ``entries`` x86-64 entries (the layout of ldcache.py).

    Laid out as ldconfig does: each key (the soname) is not a string of its own but the tail of
    its value (the path), so the key offset points into the middle of the value."""
    directory = b"/usr/lib/x86_64-linux-gnu/"
    strings = bytearray()
    offsets = []
    header_size, entry_size = 48, 24
    base = header_size + entries * entry_size
    for i in range(entries):
        value = base + len(strings)
        strings += directory + f"libbench{i}.so.1".encode() + b"\0"
        offsets.append((value + len(directory), value))
    out = bytearray(b"glibc-ld.so.cache" + b"1.1" + struct.pack("<II5I", entries, len(strings), 0, 0, 0, 0, 0))
    for k, v in offsets:
        out += struct.pack("<iIIIQ", 0x0303, k, v, 0, 0)
    out += strings
    with open(path, "wb") as f:
        f.write(out)


def ldconfig_count(path: str) -> int:
    """How many entries ``ldconfig -p -C path`` lists (-1 if it rejects the file)."""
    out = subprocess.run(["ldconfig", "-p", "-C", path], capture_output=True, text=True)
    if out.returncode != 0:
        return -1
    return sum(1 for line in out.stdout.splitlines() if " => " in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--root", help=ROOT_HELP)
    args = parser.parse_args()
    from nvcontainer.discovery.ldcache import read_ldcache

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        root = driver_root(args.root, tmp)
        script = os.path.join(BIN, "nvc-cli")
        nvc = [script] if os.path.exists(script) else [sys.executable, "-m", "cli.main"]
        nvc += ["--root", root]
        fresh = [sys.executable, "-c", f"from nvcontainer import discover; discover({root!r})"]
        base = timed(run([sys.executable, "-c", "pass"]), args.runs)
        rows = [stats_row("python3 -c pass (baseline)", base),
                stats_row("discover() in a fresh process", timed(run(fresh), args.runs), (median(base),)),
                stats_row("nvc-cli info", timed(run([*nvc, "info"]), args.runs), (median(base),)),
                stats_row("nvc-cli list", timed(run([*nvc, "list"]), args.runs), (median(base),))]
        smi = shutil.which("nvidia-smi")
        if args.root is not None and smi:
            rows += [stats_row(f"nvidia-smi {flag}", timed(run([smi, flag]), args.runs), (median(base),))
                     for flag in ("-L", "-q")]
        from nvcontainer import discover

        discover(root)
        rows.append(stats_row("discover() again in-process", timed(lambda: discover(root), args.runs)))
        print(table("Discovery (ms)", ["what", "median", "p95", "added vs python", "ratio"],
                    [r + [""] * (5 - len(r)) for r in rows]))

        big = os.path.join(tmp, "big.ld.so.cache")
        synthetic_cache(big, 5000)
        rows = []
        for name, path in (("host /etc/ld.so.cache", "/etc/ld.so.cache"), ("synthesized, 5,000", big)):
            n = len(read_ldcache(path).entries)
            ours = timed(lambda p=path: read_ldcache(p), args.runs * 3)  # type: ignore[misc]
            theirs = timed(run(["ldconfig", "-p", "-C", path]), args.runs * 3)
            rows.append([name, n, ldconfig_count(path), median(ours), median(theirs), median(theirs) / median(ours)])
        print(table("ld.so.cache: our reader (in-process) vs ldconfig -p (a process) (ms)",
                    ["cache", "entries (ours)", "entries (ldconfig -p)", "ours", "ldconfig -p", "ldconfig/ours"],
                    rows))


if __name__ == "__main__":
    main()
