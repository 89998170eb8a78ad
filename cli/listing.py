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
        from cli import render
        from nvcontainer.discovery import DriverOptions, discover
        from nvcontainer.listing import ListRequest, list_paths
        from nvcontainer.policy.imex import parse_imex_channels
        from nvcontainer.policy.selection import mig_config_gpus, mig_monitor_gpus, select_devices

        opts: GlobalOptions = ctx.obj
        channels = parse_imex_channels(imex_channel or [])
        nothing_chosen = not any((device, libraries, binaries, ipcs, firmwares, compat32, mig_config,
                                  mig_monitor, no_persistenced, no_fabricmanager, no_gsp_firmware))
        if nothing_chosen:  # the original: no option (or only --imex-channel) lists everything
            device, libraries, binaries, ipcs, firmwares, compat32 = ["all"], True, True, True, True, True
        if no_gsp_firmware:
            firmwares = False
        driver = discover(opts.root, opts.ldcache, dev_root=opts.dev_root, options=DriverOptions(
            no_persistenced=no_persistenced, no_fabricmanager=no_fabricmanager, no_gsp_firmware=no_gsp_firmware))
        if opts.load_kmods:
            from nvcontainer.hostnodes import load_kmods

            load_kmods(driver, channels, create_imex_channels=not opts.no_create_imex_channels)
        selection = select_devices(driver, device)
        cfg = mig_config_gpus(selection, mig_config).gpus
        mon = mig_monitor_gpus(selection, mig_monitor).gpus
        from nvcontainer.discovery.devices import mig_minors

        minors = mig_minors(driver.dev_root) if (cfg or mon) else {}
        req = ListRequest(devices=bool(device), gpus=selection.gpus, migs=selection.migs, libraries=libraries,
                          binaries=binaries, ipcs=ipcs, firmwares=firmwares, compat32=compat32,
                          mig_config=cfg, mig_monitor=mon, imex_channels=channels)
        if docker_args:
            from nvcontainer.listing import docker_flags

            for flag in docker_flags(driver, selection):
                typer.echo(flag)
            typer.echo("note: plain docker flags give no ldconfig run, no /proc/driver/nvidia masking and no "
                       "device-cgroup rules beyond docker's own --device handling; prefer --gpus or --runtime=nvidia",
                       err=True)
            return
        paths = list_paths(driver, req, minors)
        if as_json:
            typer.echo(render.to_json({"paths": paths}), nl=False)
        else:
            for p in paths:
                typer.echo(p)
