"""``nvc-ctk``: our nvidia-ctk — configuration, engine set-up, CDI and host set-up, one typer app.

Each group of commands lives in a module of its own (``cli/ctk_config.py``, ``cli/ctk_runtime.py``,
``cli/ctk_cdi.py``, ``cli/ctk_system.py``, ``cli/ctk_units.py``) exposing ``register(app)``.
"""

from __future__ import annotations

from typing import Any, List, Optional

import typer

from cli.main import make_app

PROG = "nvc-ctk"

app = make_app(PROG, "Tools to configure the NVIDIA container stack (nvcontainer).")

GROUPS = ("ctk_config", "ctk_runtime", "ctk_cdi", "ctk_system", "ctk_units")


def _version(value: bool) -> None:
    if value:
        import nvcontainer

        # nvidia-ctk prints "<name> version <version>" (urfave/cli's default): scripts read the last word.
        typer.echo(f"{PROG} version {nvcontainer.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", "-v", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Tools to configure the NVIDIA container stack (nvcontainer)."""


def plain_flag_metavars() -> None:
    """Show flags without a type in help (typer's rich help prints ``<bool>`` beside ``--dry-run``,
    as if it took a value; 0.28 does not).  Idempotent; affects every typer app of this process."""
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(TyperOption, "_nvc_plain_flags", False):
        return  # typer < 0.29 shows no type for flags

    def display_type_rich(self: Any, ctx: Any) -> Optional[str]:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return original(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign,attr-defined,unused-ignore]
    TyperOption._nvc_plain_flags = True  # type: ignore[attr-defined]


def _register() -> None:
    from cli.main import register_modules

    plain_flag_metavars()
    register_modules(app, GROUPS)


def run(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point: same error contract as nvc-cli (one line, exit 1)."""
    from cli.main import invoke

    _register()
    invoke(app, PROG, argv)


if __name__ == "__main__":  # `python -m cli.ctk` runs as the console script does: fast path first
    from cli.entry import run_ctk

    run_ctk()
