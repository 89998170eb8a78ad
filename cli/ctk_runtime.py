"""``nvc-ctk runtime configure`` (docker, containerd, CRI-O) and ``nvc-ctk install-compat``.

The work is in ``nvcontainer.engines``; this module only maps flags (nvidia-ctk's spellings
included) onto ``RuntimeRequest`` and prints the outcome.
"""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    runtime = typer.Typer(help="Configure container engines to use the nvcontainer runtime.", no_args_is_help=True)
    app.add_typer(runtime, name="runtime")

    @runtime.command("configure")
    def configure(
        engine: str = typer.Option("docker", "--runtime", metavar="ENGINE",
                                   help="The engine: docker, containerd or crio."),
        config: Optional[str] = typer.Option(
            None, "--config", metavar="FILE",
            help="The engine's main config, read for its current settings (default: /etc/docker/daemon.json, "
                 "/etc/containerd/config.toml, /etc/crio/crio.conf); written only for docker, for a containerd "
                 "config of version 1, with --drop-in-config='', and (containerd) to add the drop-in's import."),
        drop_in: Optional[str] = typer.Option(
            None, "--drop-in-config", metavar="FILE",
            help="containerd, crio: the file the runtime is written to (default: "
                 "/etc/containerd/conf.d/99-nvidia.toml, /etc/crio/crio.conf.d/99-nvidia.toml); '' edits --config "
                 "in place instead."),
        name: str = typer.Option("nvidia", "--nvidia-runtime-name", "--runtime-name", metavar="NAME",
                                 help="The name to register the runtime under."),
        runtime_path: Optional[str] = typer.Option(
            None, "--nvidia-runtime-path", "--runtime-path", metavar="PATH",
            help="Path of the runtime shim (default: nvc-container-runtime-front, the sh front of the installed "
                 "nvc-container-runtime, written beside it)."),
        set_as_default: bool = typer.Option(False, "--set-as-default", "--nvidia-set-as-default",
                                            help="Make it the engine's default runtime."),
        enable_cdi: bool = typer.Option(False, "--cdi.enabled", "--cdi.enable", "--enable-cdi",
                                        help="docker, containerd: turn on the engine's CDI support."),
        config_source: str = typer.Option(
            "file", "--config-source", metavar="SOURCE",
            help="Where the current settings come from: file (--config), or command (`containerd config dump`, "
                 "`crio status config`)."),
        executable_path: Optional[str] = typer.Option(
            None, "--executable-path", metavar="PATH", help="The engine's binary for --config-source=command."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the new file(s) and write nothing."),
    ) -> None:
        """Register the runtime in an engine's configuration (locked, written atomically; a main config is
        backed up, a drop-in directory gets nothing but the drop-in)."""
        from nvcontainer.engines.compat import runtime_front
        from nvcontainer.engines.runtime import RuntimeRequest
        from nvcontainer.engines.runtime import configure as configure_engine

        front_note = None
        if runtime_path is None:
            runtime_path, front_note = runtime_front(dry_run=dry_run)
        req = RuntimeRequest(engine=engine, config_path=config, drop_in_path=drop_in, name=name,
                             runtime_path=runtime_path,
                             set_as_default=set_as_default, enable_cdi=enable_cdi, config_source=config_source,
                             executable_path=executable_path, dry_run=dry_run)
        result = configure_engine(req)
        if front_note:
            typer.echo(f"note: {front_note}", err=True)
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
        several = len(result.updates) > 1
        said = set()
        for update in result.updates:
            if dry_run:
                if several:
                    typer.echo(f"# {update.path}")
                typer.echo(update.new, nl=False)
            for directory in (d for d in update.created if d not in said):
                said.add(directory)
                typer.echo(f"{'would create' if dry_run else 'created'} directory: {directory}", err=True)
            for stale in update.removed:
                typer.echo(f"{'would remove' if dry_run else 'removed'}: {stale} (left by an earlier version; "
                           f"{engine} reads every file there)", err=True)
            if not dry_run:
                typer.echo(f"{'updated' if update.changed else 'unchanged'}: {update.path}"
                           + (f" (backup: {update.backup})" if update.backup else ""), err=True)
        if result.changed and not dry_run:
            typer.echo(f"restart {engine} to use it (e.g. `systemctl restart {engine}`)", err=True)

    @app.command("install-compat")
    def install_compat(
        prefix: str = typer.Option("/usr/local/bin", "--prefix", metavar="DIR", help="Where to make them."),
        force: bool = typer.Option(False, "--force", help="Replace existing files of those names."),
        uninstall: bool = typer.Option(False, "--uninstall",
                                       help="Remove the names made here before (files not ours are left alone)."),
    ) -> None:
        """Make NVIDIA's program names: nvidia-container-cli (a link to nvc-cli), nvidia-container-runtime-hook
        (the hook's python -I -S launcher), nvidia-container-runtime (the shim's sh front)."""
        from nvcontainer.engines import compat

        if uninstall:
            for link in compat.uninstall(prefix):
                if link.action == "remove":
                    typer.echo(f"removed: {link.path}")
                elif link.action == "foreign":
                    typer.echo(f"nvc-ctk: warning: {link.path} is not ours: left as it is", err=True)
            return
        for link in compat.install(prefix, force):
            typer.echo(f"{link.path} -> {link.target}" + (" (unchanged)" if link.action == "keep" else ""))
