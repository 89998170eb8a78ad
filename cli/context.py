"""What every nvc-cli command shares: the global options (they precede the command, as in the
original) and argp's built-in options, which the original has at every level (``-V``/``--version``,
``--usage``; ``-?`` is a help name of the app)."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import typer

from cli.commands import GlobalOptions

__all__ = ["GlobalOptions", "version_option", "version_callback", "usage_option", "version_text"]


def version_text() -> str:
    import platform

    import nvcontainer

    return (f"cli-version: {nvcontainer.__version__}\n"
            f"lib-version: {nvcontainer.__version__}\n"
            f"build date: n/a (python package)\n"
            f"build revision: n/a\n"
            f"build compiler: {platform.python_implementation()} {platform.python_version()}\n"
            f"build platform: {platform.machine()}\n"
            f"build flags: n/a")


def version_callback(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


def version_option() -> Any:
    return typer.Option(False, "--version", "-V", callback=version_callback, is_eager=True,
                        help="Print program version.")


def _usage_options(ctx: typer.Context) -> List[Tuple[Sequence[str], Optional[str]]]:
    out: List[Tuple[Sequence[str], Optional[str]]] = []
    for param in ctx.command.get_params(ctx):
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        if param.name in ("install_completion", "show_completion"):
            continue
        meta = None if getattr(param, "is_flag", False) else (param.metavar or "VALUE")
        if param.name == "user":  # an optional value, given attached
            meta = f"[{meta}]"
        out.append(([*param.opts, *param.secondary_opts], meta))
    return out


def usage_callback(ctx: typer.Context, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from cli import argv

    params = ctx.command.get_params(ctx)
    if hasattr(ctx.command, "commands"):
        arguments = "COMMAND [ARG...]"
    else:
        arguments = " ".join((p.metavar or p.name or "").upper() for p in params if p.param_type_name == "argument")
    typer.echo(argv.long_usage(ctx.command_path, _usage_options(ctx), arguments))
    raise typer.Exit()


def usage_option() -> Any:
    return typer.Option(False, "--usage", callback=usage_callback, is_eager=True,
                        help="Give a short usage message.")
