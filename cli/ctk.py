"""``nvc-ctk``: our nvidia-ctk — configuration, engine set-up and CDI, one typer app.

Each group of commands lives in a module of its own (``cli/ctk_config.py``,
``cli/ctk_runtime.py``, ``cli/ctk_cdi.py``) exposing ``register(app)``.
"""

from __future__ import annotations

import importlib
from typing import List, Optional

from cli.main import make_app

PROG = "nvc-ctk"

app = make_app(PROG, "Tools to configure the NVIDIA container stack (nvcontainer).")

GROUPS = ("ctk_config", "ctk_runtime", "ctk_cdi")


def _register() -> None:
    for name in GROUPS:
        try:
            module = importlib.import_module(f"cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cli.{name}":
                raise
            continue
        module.register(app)


def run(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point: same error contract as nvc-cli (one line, exit 1)."""
    from cli.main import invoke

    _register()
    invoke(app, PROG, argv)


if __name__ == "__main__":
    run()
