"""The ``nvc-cli`` and ``nvc-ctk`` console scripts: the fast path for the common command lines,
typer for the rest.

This module imports nothing heavy: ``cli.fast`` runs ``info``, ``list`` and ``configure`` command
lines without typer, ``cli.ctk_fast`` runs ``cdi generate``; only when they decline is the typer
application (``cli.main``, ``cli.ctk``) imported."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional


def run(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    from cli import fast

    code = fast.try_run(args)
    if code is not None:
        sys.exit(code)
    from cli import main

    main.run(args)


def run_ctk(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    from cli import ctk_fast

    code = ctk_fast.try_run(args)
    if code is not None:
        sys.exit(code)
    from cli import ctk

    ctk.run(args)


if __name__ == "__main__":
    run()
