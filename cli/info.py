"""``nvc-cli info``: report the driver and its GPUs (text as the original, ``--csv``, ``--json``)."""

from __future__ import annotations

import typer

from cli.context import GlobalOptions, usage_option, version_option
from nvcontainer.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command("info")
    def info(
        ctx: typer.Context,
        csv: bool = typer.Option(False, "--csv", help="Output in CSV format."),
        as_json: bool = typer.Option(False, "--json", help="Output the whole snapshot as JSON (MIG included)."),
        version: bool = version_option(),
        usage: bool = usage_option(),
    ) -> None:
        """Report information about the driver and devices."""
        if csv and as_json:
            raise InputError("--csv and --json cannot be used together")
        from cli import render
        from nvcontainer.discovery import discover

        opts: GlobalOptions = ctx.obj
        driver = discover(opts.root, opts.ldcache, dev_root=opts.dev_root)
        if as_json:
            typer.echo(render.info_json(driver), nl=False)
        elif csv:
            typer.echo(render.info_csv(driver), nl=False)
        else:
            typer.echo(render.info_text(driver), nl=False)
