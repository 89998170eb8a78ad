"""``nvc-cli list``: the driver components a container would get, one path per line."""

from __future__ import annotations

from typing import List, Optional

import typer

from cli.context import GlobalOptions, usage_option, version_option


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_(
        ctx: typer.Context,
        device: Optional[List[str]] = typer.Option(
            None, "--device", "-d", metavar="ID", help="Device UUID(s) or index(es) to list."),
        libraries: bool = typer.Option(False, "--libraries", "-l", help="List driver libraries."),
        binaries: bool = typer.Option(False, "--binaries", "-b", help="List driver binaries."),
        ipcs: bool = typer.Option(False, "--ipcs", "-i", help="List driver ipcs."),
        firmwares: bool = typer.Option(False, "--firmwares", "-f", help="List driver firmwares."),
        compat32: bool = typer.Option(False, "--compat32", help="Enable 32bits compatibility."),
        mig_config: Optional[List[str]] = typer.Option(
            None, "--mig-config", metavar="ID", help="MIG devices to list config capabilities files for."),
        mig_monitor: Optional[List[str]] = typer.Option(
            None, "--mig-monitor", metavar="ID", help="MIG devices to list monitor capabilities files for."),
        imex_channel: Optional[List[str]] = typer.Option(
            None, "--imex-channel", metavar="CHANNEL", help="IMEX channel ID(s) to inject."),
        no_persistenced: bool = typer.Option(
            False, "--no-persistenced", help="Don't include the NVIDIA persistenced socket."),
        no_fabricmanager: bool = typer.Option(
            False, "--no-fabricmanager", help="Don't include the NVIDIA fabricmanager socket."),
        no_gsp_firmware: bool = typer.Option(False, "--no-gsp-firmware", help="Don't include GSP Firmware."),
        as_json: bool = typer.Option(
            False, "--json", help='Output the listed paths as JSON: {"paths": [...]}, in the same order.'),
        docker_args: bool = typer.Option(
            False, "--docker-args",
            help="Print, one per line, the plain `docker run` flags (--device=HOST:CTR, -v=HOST:CTR:ro) "
                 "giving the selected devices the utility and compute parts."),
        version: bool = version_option(),
        usage: bool = usage_option(),
    ) -> None:
        """List driver components."""
        from cli import commands

        opts: GlobalOptions = ctx.obj
        commands.list_paths(opts, device=device, libraries=libraries, binaries=binaries, ipcs=ipcs,
                            firmwares=firmwares, compat32=compat32, mig_config=mig_config, mig_monitor=mig_monitor,
                            imex_channel=imex_channel, no_persistenced=no_persistenced,
                            no_fabricmanager=no_fabricmanager, no_gsp_firmware=no_gsp_firmware, as_json=as_json,
                            docker_args=docker_args)
