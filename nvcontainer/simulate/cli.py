"""``nvc-simulate``: build a simulated driver root from the command line.

    python -m nvcontainer.simulate DIR [--preset NAME | --topology FILE] [--layout debian|rhel|prefix]
                                       [--no-devices]

Prints a short summary on success.  Any failure is one line on stderr,
``nvc-simulate: error: <message>``, exit status 1, and nothing is left at DIR.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, NoReturn, Optional

from nvcontainer.simulate.builder import SimulatedDriver, build
from nvcontainer.simulate.errors import SimulateError
from nvcontainer.simulate.layout import LAYOUTS
from nvcontainer.simulate.presets import DEFAULT_PRESET, PRESETS

PROG = "nvc-simulate"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {message}\n")
        raise SystemExit(1)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Build a simulated NVIDIA driver root.")
    parser.add_argument("directory", metavar="DIR", help="driver root to create or replace")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", default=None, help=f"built-in topology (default {DEFAULT_PRESET}): "
                        + ", ".join(sorted(PRESETS)))
    source.add_argument("--topology", metavar="FILE", help="JSON topology file")
    parser.add_argument("--layout", default="debian", help="library layout: " + " or ".join(sorted(LAYOUTS)))
    parser.add_argument("--no-devices", action="store_true", help="do not create device nodes (no root needed)")
    return parser


def summary(driver: SimulatedDriver) -> str:
    topology = driver.topology
    migs = sum(len(gpu.migs) for gpu in topology.gpus)
    lines = [
        f"simulated driver {topology.driver_version} (CUDA {topology.cuda_version_string}) "
        f"at {driver.root}",
        f"  topology {topology.name}: {len(topology.gpus)} GPU(s), {migs} MIG device(s)"
        + (f", init error {topology.init_error}" if topology.init_error else ""),
        f"  layout {driver.layout}: libs {driver.lib_dir}"
        + (f", 32-bit libs {driver.lib32_dir}" if driver.lib32_dir else ", no 32-bit libs (gcc -m32 failed)"),
    ]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.layout not in LAYOUTS:
        sys.stderr.write(f"{PROG}: error: unknown layout {args.layout!r}\n")
        return 1
    try:
        if args.topology is not None:
            driver = build(args.directory, topology=args.topology, layout=args.layout,
                           devices=not args.no_devices)
        else:
            preset = args.preset or DEFAULT_PRESET
            if preset not in PRESETS:
                raise SimulateError(f"unknown preset {preset!r} (presets: {', '.join(sorted(PRESETS))})")
            driver = build(args.directory, preset=preset, layout=args.layout, devices=not args.no_devices)
    except SimulateError as exc:
        sys.stderr.write(f"{PROG}: error: {exc.message}\n")
        return 1
    print(summary(driver))
    return 0
