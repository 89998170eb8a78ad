"""``nvc-ctk install-units``: the systemd units (nvidia-cdi-refresh) and the udev rule (/dev/char
links) of ``nvcontainer.system.units``, written for the installed ``nvc-ctk``; ``--uninstall``
removes them again."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("install-units")
    def install_units(
        systemd_dir: str = typer.Option("/etc/systemd/system", "--systemd-dir", metavar="DIR",
                                        help="Where the systemd units go."),
        udev_dir: str = typer.Option("/etc/udev/rules.d", "--udev-dir", metavar="DIR",
                                     help="Where the udev rule goes."),
        env_dir: str = typer.Option("/etc/nvidia-container-toolkit", "--env-dir", metavar="DIR",
                                    help="Where the service's settings file goes (never overwritten)."),
        nvc_ctk: Optional[str] = typer.Option(None, "--nvc-ctk", metavar="PATH",
                                              help="The nvc-ctk the units run (default: the installed one)."),
        force: bool = typer.Option(False, "--force", help="Replace existing files of those names."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be written; write nothing."),
        uninstall: bool = typer.Option(False, "--uninstall", help="Remove the files written here before."),
    ) -> None:
        """Install the systemd units that regenerate the CDI spec when the driver changes
        (nvidia-cdi-refresh.service, .path) and the udev rule that makes the /dev/char links."""
        from nvcontainer.engines.compat import installed
        from nvcontainer.system import units

        dirs = dict(systemd_dir=systemd_dir, udev_dir=udev_dir, env_dir=env_dir)
        if uninstall:
            planned = units.plan_uninstall(**dirs)
            for unit in planned:
                if unit.action == "remove":
                    typer.echo(f"{'would remove' if dry_run else 'removed'}: {unit.path}")
                elif unit.action == "foreign":
                    typer.echo(f"nvc-ctk: warning: {unit.path} is not ours (or was edited): left as it is", err=True)
            if not dry_run:
                units.uninstall(planned)
            return
        files = units.plan(nvc_ctk or installed("nvc-ctk"), force=force, **dirs)
        for unit in files:
            verb = {"create": "would write" if dry_run else "wrote", "replace": "would replace" if dry_run else
                    "replaced", "keep": "unchanged"}[unit.action]
            typer.echo(f"{verb}: {unit.path}")
        if dry_run:
            return
        units.install(files)
        typer.echo("then: " + " && ".join(units.NEXT_STEPS), err=True)
