"""``nvc-ctk config``: the config.toml the runtime shim and the hook read.

``nvc-ctk config [--config-file FILE] [--set KEY[=VALUE]]... [--in-place | --output FILE]`` prints
(or writes) the file with the keys set, as ``nvidia-ctk config`` does (``nvcontainer.config.editing``
says how values are read).  ``nvc-ctk config default`` (aliases ``create-default``,
``generate-default``) prints the default file; ``--output FILE`` writes it instead.
"""

from __future__ import annotations

import sys
from typing import List, Optional

import typer


def warn(prog: str, source: str, warnings: List[str]) -> None:
    """The config file's warnings, as one ``<prog>: warning: ...`` line on stderr."""
    if warnings:
        print(f"{prog}: warning: {source}: {'; '.join(warnings)}", file=sys.stderr)


def write_output(path: str, text: str, keep_from: Optional[str] = None) -> None:
    """Write ``text`` to ``path`` atomically (missing directories made and said), naming the file on error."""
    import os

    from nvcontainer.atomicfile import write_atomic
    from nvcontainer.engines.files import make_dirs
    from nvcontainer.errors import InputError

    for created in make_dirs(os.path.dirname(os.path.abspath(path))):
        typer.echo(f"created directory: {created}", err=True)
    try:
        write_atomic(path, text, keep_from=keep_from)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {(exc.strerror or str(exc)).lower()}") from None


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="config", help="Interact with the NVIDIA Container Toolkit configuration.",
                        invoke_without_command=True, no_args_is_help=False)

    @group.callback()
    def config(
        ctx: typer.Context,
        config_file: Optional[str] = typer.Option(
            None, "--config-file", "--config", "-c", metavar="FILE",
            help="The config file to read (default: $NVIDIA_CTK_CONFIG_FILE_PATH, else "
                 "${XDG_CONFIG_HOME:-/etc}/nvidia-container-runtime/config.toml); missing = the defaults."),
        sets: Optional[List[str]] = typer.Option(
            None, "--set", metavar="KEY[=VALUE]",
            help="Set a key (repeatable; the last for a key wins). KEY alone means true for a boolean; "
                 "lists are split on ':' (else ','); features.NAME=nil removes a feature."),
        separator: str = typer.Option(":", "--set-list-separator", hidden=True, metavar="SEP",
                                      help="The list separator for --set."),
        in_place: bool = typer.Option(False, "--in-place", "-i", help="Write the result back to the config file."),
        output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                             help="Write the result to FILE (default: standard output)."),
    ) -> None:
        """Print the config file with the --set keys applied (or write it: --in-place, --output)."""
        if ctx.invoked_subcommand is not None:
            return
        from nvcontainer.config.editing import apply_sets, parse_set
        from nvcontainer.config.loading import parse_config
        from nvcontainer.config.location import config_path
        from nvcontainer.errors import InputError

        if in_place and output:
            raise InputError("--in-place and --output cannot be used together")
        if not separator:
            raise InputError("--set-list-separator must not be empty")
        path, _ = config_path(config_file)
        parsed = [parse_set(flag, separator) for flag in sets or ()]
        try:
            with open(path, encoding="utf-8") as f:
                old: Optional[str] = f.read()
        except FileNotFoundError:
            old = None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise InputError(f"cannot read {path}: {reason.lower()}") from None
        text = apply_sets(old, parsed, source=path)
        warnings: List[str] = []
        parse_config(text, source=path, warnings=warnings)  # never write what the hook would refuse
        warn("nvc-ctk", path, warnings)
        target = path if in_place else output
        if target is None:
            typer.echo(text, nl=False)
        elif not (in_place and text == old):
            write_output(target, text, keep_from=path if in_place else None)

    def default(
        output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                             help="Write the default config to FILE instead of stdout."),
    ) -> None:
        """Print the default config.toml."""
        from nvcontainer.config import render_default

        text = render_default()
        if output:
            write_output(output, text)
            return
        typer.echo(text, nl=False)

    group.command("default")(default)
    for alias in ("create-default", "generate-default"):
        group.command(alias, hidden=True)(default)
    app.add_typer(group, name="config")
