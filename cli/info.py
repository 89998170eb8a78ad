"""``nvc-cli info``: report the driver and its GPUs (text as the original, ``--csv``, ``--json``)."""

from __future__ import annotations

import typer

from cli.context import GlobalOptions, usage_option, version_option


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
        from cli import commands

        opts: GlobalOptions = ctx.obj
        commands.info(opts, csv=csv, as_json=as_json)
