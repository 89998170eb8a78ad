"""``nvc-ctk``: our nvidia-ctk — configuration, engine set-up and CDI, one typer app.

Each group of commands lives in a module of its own (``cli/ctk_config.py``,
``cli/ctk_runtime.py``, ``cli/ctk_cdi.py``) exposing ``register(app)``.
"""

from __future__ import annotations

from typing import List, Optional

from cli.main import make_app

PROG = "nvc-ctk"

app = make_app(PROG, "Tools to configure the NVIDIA container stack (nvcontainer).")

GROUPS = ("ctk_config", "ctk_runtime", "ctk_cdi")


def _register() -> None:
    from cli.main import register_modules

    register_modules(app, GROUPS)


def run(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point: same error contract as nvc-cli (one line, exit 1)."""
    from cli.main import invoke

    _register()
    invoke(app, PROG, argv)


if __name__ == "__main__":
    run()
