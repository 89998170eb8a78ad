"""``nvc-ctk runtime configure`` (docker, containerd, CRI-O) and ``nvc-ctk install-compat``."""

from __future__ import annotations

import functools
import os
import shutil
import sys
from typing import Optional

import typer

COMPAT_NAMES = (
    ("nvidia-container-cli", "nvc-cli"),
    ("nvidia-container-runtime-hook", "nvc-container-runtime-hook"),
    ("nvidia-container-runtime", "nvc-container-runtime"),
)


def _installed(name: str) -> str:
    """Our installed script ``name``: beside this interpreter, else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.path.isfile(beside) else (shutil.which(name) or beside)


def register(app: typer.Typer) -> None:
    runtime = typer.Typer(help="Configure container engines to use the nvcontainer runtime.", no_args_is_help=True)
    app.add_typer(runtime, name="runtime")

    @runtime.command("configure")
    def configure(
        engine: str = typer.Option("docker", "--runtime", help="The engine: docker, containerd or crio."),
        config: Optional[str] = typer.Option(None, "--config", help="The engine's configuration file."),
        name: str = typer.Option("nvidia", "--nvidia-runtime-name", "--runtime-name",
                                 help="The name to register the runtime under."),
        runtime_path: Optional[str] = typer.Option(
            None, "--nvidia-runtime-path", "--runtime-path",
            help="Path of the runtime shim (default: the installed nvc-container-runtime)."),
        set_as_default: bool = typer.Option(False, "--set-as-default", "--nvidia-set-as-default",
                                            help="Make it the engine's default runtime."),
        enable_cdi: bool = typer.Option(False, "--cdi.enabled", "--enable-cdi",
                                        help="docker: turn on the daemon's CDI feature."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the new file and write nothing."),
    ) -> None:
        """Register the runtime in an engine's configuration (atomic write, backup, locked)."""
        from nvcontainer.engines import containerd, crio, docker, files
        from nvcontainer.errors import InputError

        modules = {"docker": docker, "containerd": containerd, "crio": crio}
        if engine not in modules:
            raise InputError(f"unsupported runtime: {engine} (docker, containerd or crio)")
        module = modules[engine]
        path = config or module.DEFAULT_PATH
        shim = runtime_path or _installed("nvc-container-runtime")
        if engine != "docker" and not os.path.isabs(shim):
            raise InputError(f"the runtime path must be absolute for {engine}: {shim}")
        kwargs = dict(path=path, name=name, runtime_path=shim, set_as_default=set_as_default)
        if engine == "docker":
            kwargs["enable_cdi"] = enable_cdi
        elif enable_cdi:
            raise InputError(f"--cdi.enabled is only supported for docker here, not {engine}")
        edit = functools.partial(module.edit, **kwargs)  # type: ignore[arg-type]
        if dry_run:
            typer.echo(files.preview(path, edit).new, nl=False)
            return
        result = files.update(path, edit)
        typer.echo(f"{'updated' if result.changed else 'unchanged'}: {path}"
                   + (f" (backup: {result.backup})" if result.backup else ""), err=True)

    @app.command("install-compat")
    def install_compat(
        prefix: str = typer.Option("/usr/local/bin", "--prefix", help="Where to make the links."),
        force: bool = typer.Option(False, "--force", help="Replace existing files of those names."),
    ) -> None:
        """Link NVIDIA's program names to ours, so engines that look for them find nvcontainer."""
        from nvcontainer.errors import InputError

        os.makedirs(prefix, exist_ok=True)
        for theirs, ours in COMPAT_NAMES:
            link, target = os.path.join(prefix, theirs), _installed(ours)
            if os.path.lexists(link):
                if os.path.islink(link) and os.readlink(link) == target:
                    continue
                if not force:
                    raise InputError(f"{link} exists and is not our link (use --force to replace it)")
                os.unlink(link)
            os.symlink(target, link)
            typer.echo(f"{link} -> {target}")
