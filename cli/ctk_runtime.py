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
        engine: str = typer.Option("docker", "--runtime", help="The engine: docker, containerd or crio."),
        config: Optional[str] = typer.Option(
            None, "--config",
            help="The file to write (default: /etc/docker/daemon.json, /etc/containerd/config.toml, "
                 "or the CRI-O drop-in /etc/crio/crio.conf.d/99-nvidia.toml)."),
        name: str = typer.Option("nvidia", "--nvidia-runtime-name", "--runtime-name",
                                 help="The name to register the runtime under."),
        runtime_path: Optional[str] = typer.Option(
            None, "--nvidia-runtime-path", "--runtime-path",
            help="Path of the runtime shim (default: the installed nvc-container-runtime)."),
        set_as_default: bool = typer.Option(False, "--set-as-default", "--nvidia-set-as-default",
                                            help="Make it the engine's default runtime."),
        enable_cdi: bool = typer.Option(False, "--cdi.enabled", "--cdi.enable", "--enable-cdi",
                                        help="docker, containerd: turn on the engine's CDI support."),
        config_source: str = typer.Option(
            "file", "--config-source",
            help="Where the current settings come from: file, or command (containerd: `containerd config dump`)."),
        executable_path: Optional[str] = typer.Option(
            None, "--executable-path", help="containerd binary for --config-source=command."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the new file and write nothing."),
    ) -> None:
        """Register the runtime in an engine's configuration (locked, backed up, written atomically)."""
        from nvcontainer.engines.compat import installed
        from nvcontainer.engines.runtime import RuntimeRequest
        from nvcontainer.engines.runtime import configure as configure_engine

        req = RuntimeRequest(engine=engine, config_path=config, name=name,
                             runtime_path=runtime_path or installed("nvc-container-runtime"),
                             set_as_default=set_as_default, enable_cdi=enable_cdi, config_source=config_source,
                             executable_path=executable_path, dry_run=dry_run)
        result = configure_engine(req)
        if dry_run:
            typer.echo(result.new, nl=False)
            return
        typer.echo(f"{'updated' if result.changed else 'unchanged'}: {req.path}"
                   + (f" (backup: {result.backup})" if result.backup else ""), err=True)

    @app.command("install-compat")
    def install_compat(
        prefix: str = typer.Option("/usr/local/bin", "--prefix", help="Where to make them."),
        force: bool = typer.Option(False, "--force", help="Replace existing files of those names."),
    ) -> None:
        """Make NVIDIA's program names: nvidia-container-cli (a link to nvc-cli), nvidia-container-runtime-hook
        (the hook's python -I -S launcher), nvidia-container-runtime (the shim's sh front)."""
        from nvcontainer.engines.compat import install

        for link in install(prefix, force):
            typer.echo(f"{link.path} -> {link.target}" + (" (unchanged)" if link.action == "keep" else ""))
