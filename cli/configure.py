"""``nvc-cli configure``: give a container GPU support (or, with ``--dry-run``, print the Plan)."""

from __future__ import annotations

from typing import List, Optional

import typer

from cli.commands import CAPABILITY_FLAGS, parse_pid  # noqa: E402,F401 - kept importable from here
from cli.context import GlobalOptions, usage_option, version_option


def register(app: typer.Typer) -> None:
    @app.command("configure")
    def configure(
        ctx: typer.Context,
        rootfs: str = typer.Argument(..., metavar="ROOTFS", help="The container's root filesystem (absolute)."),
        pid: Optional[str] = typer.Option(None, "--pid", "-p", metavar="PID", help="Container PID."),
        device: Optional[List[str]] = typer.Option(
            None, "--device", "-d", metavar="ID", help="Device UUID(s) or index(es) to isolate."),
        require: Optional[List[str]] = typer.Option(
            None, "--require", "-r", metavar="EXPR", help="Check container requirements."),
        ldconfig: Optional[str] = typer.Option(
            None, "--ldconfig", "-l", metavar="PATH", help="Path to the ldconfig binary ('@' prefix: on the host)."),
        compute: bool = typer.Option(False, "--compute", "-c", help="Enable compute capability."),
        utility: bool = typer.Option(False, "--utility", "-u", help="Enable utility capability."),
        video: bool = typer.Option(False, "--video", "-v", help="Enable video capability."),
        graphics: bool = typer.Option(False, "--graphics", "-g", help="Enable graphics capability."),
        display: bool = typer.Option(False, "--display", "-D", help="Enable display capability."),
        ngx: bool = typer.Option(False, "--ngx", "-n", help="Enable ngx capability."),
        compat32: bool = typer.Option(False, "--compat32", help="Enable 32bits compatibility."),
        mig_config: Optional[List[str]] = typer.Option(
            None, "--mig-config", metavar="ID", help="Enable configuration of MIG devices (only 'all')."),
        mig_monitor: Optional[List[str]] = typer.Option(
            None, "--mig-monitor", metavar="ID", help="Enable monitoring of MIG devices (only 'all')."),
        imex_channel: Optional[List[str]] = typer.Option(
            None, "--imex-channel", metavar="CHANNEL", help="IMEX channel ID(s) to inject."),
        no_cgroups: bool = typer.Option(False, "--no-cgroups", help="Don't use cgroup enforcement."),
        no_devbind: bool = typer.Option(False, "--no-devbind", help="Don't bind mount devices."),
        no_persistenced: bool = typer.Option(
            False, "--no-persistenced", help="Don't include the NVIDIA persistenced socket."),
        no_fabricmanager: bool = typer.Option(
            False, "--no-fabricmanager", help="Don't include the NVIDIA fabricmanager socket."),
        no_gsp_firmware: bool = typer.Option(False, "--no-gsp-firmware", help="Don't include GSP Firmware."),
        cuda_compat_mode: str = typer.Option(
            "mount", "--cuda-compat-mode", metavar="MODE",
            help="CUDA compat libraries of the image newer than the driver: mount, ldconfig or disabled."),
        no_cntlibs: bool = typer.Option(False, "--no-cntlibs", help="Same as --cuda-compat-mode=disabled."),
        allow_container_ldconfig: bool = typer.Option(
            False, "--allow-container-ldconfig",
            help="Allow --ldconfig to name the container's own ldconfig (run sandboxed); default: host only."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the Plan as JSON and change nothing."),
        exclusive: bool = typer.Option(
            False, "--exclusive",
            help="Only GPUs no other container holds, and none of them for others while held (see nvc-cli ps)."),
        version: bool = version_option(),
        usage: bool = usage_option(),
    ) -> None:
        """Configure a container with GPU support by exposing device drivers to it.

        Enters the mount namespace of the container process PID (or, without --pid, of the
        parent process as seen through ROOTFS/proc) and mounts what the capabilities need.
        The container must be created but not started (no pivot_root yet).
        --device=auto:N (auto = auto:1) picks N GPUs no running container holds (exclusively),
        most free memory first; the GPUs are recorded as held by PID until it exits.
        """
        from cli import commands

        opts: GlobalOptions = ctx.obj
        flags = dict(utility=utility, compute=compute, video=video, graphics=graphics, display=display,
                     ngx=ngx, compat32=compat32)
        commands.configure(opts, rootfs, pid=pid, device=device, require=require, ldconfig=ldconfig,
                           capabilities=[k for k in CAPABILITY_FLAGS if flags[k]], mig_config=mig_config,
                           mig_monitor=mig_monitor, imex_channel=imex_channel, no_cgroups=no_cgroups,
                           no_devbind=no_devbind, no_persistenced=no_persistenced, no_fabricmanager=no_fabricmanager,
                           no_gsp_firmware=no_gsp_firmware, cuda_compat_mode=cuda_compat_mode, no_cntlibs=no_cntlibs,
                           allow_container_ldconfig=allow_container_ldconfig, dry_run=dry_run, exclusive=exclusive)
