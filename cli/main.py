"""``nvc-cli``: the typer application, its global options, and the one place errors are printed.

Global options precede the command, as with nvidia-container-cli:
``nvc-cli --root DIR --debug FILE info``.  Every ``NvcError`` becomes one line
``nvc-cli: <stage> error: <message>`` on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import List, Optional

import typer

try:  # typer >= 0.26 vendors click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

import nvcontainer
from cli.context import GlobalOptions
from nvcontainer.errors import LibraryLoadError, NvcError

PROG = "nvc-cli"

def make_app(name: str, help_text: str) -> typer.Typer:
    """A typer app with the settings every nvcontainer front end shares."""
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


app = make_app(PROG, "Command line utility for manipulating NVIDIA GPU containers.")


def _version(value: bool) -> None:
    if value:
        typer.echo(
            f"cli-version: {nvcontainer.__version__}\n"
            f"lib-version: {nvcontainer.__version__}\n"
            f"build date: n/a (python package)\n"
            f"build revision: n/a\n"
            f"build compiler: {platform.python_implementation()} {platform.python_version()}\n"
            f"build platform: {platform.machine()}\n"
            f"build flags: n/a"
        )
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    root: Optional[str] = typer.Option(
        None, "--root", "-r", metavar="PATH",
        help="Path to the driver root directory (default: config.toml's nvidia-container-cli.root, else /)."),
    dev_root: Optional[str] = typer.Option(
        None, "--dev-root", metavar="PATH",
        help="Where device nodes and /proc/driver/nvidia are read from (default: the driver root)."),
    ldcache: Optional[str] = typer.Option(
        None, "--ldcache", "-l", metavar="FILE",
        help="Path to the system's DSO cache, inside the driver root (default /etc/ld.so.cache)."),
    debug: Optional[str] = typer.Option(None, "--debug", "-d", metavar="FILE", help="Log debug information."),
    user: Optional[str] = typer.Option(
        None, "--user", "-u", metavar="UID[:GID]", help="User and group to use for privilege separation."),
    load_kmods: bool = typer.Option(False, "--load-kmods", "-k", help="Load kernel modules."),
    no_pivot: bool = typer.Option(False, "--no-pivot", "-n", help="Do not use pivot_root (ldconfig sandbox)."),
    no_create_imex_channels: bool = typer.Option(
        False, "--no-create-imex-channels", help="Don't automatically create IMEX channel device nodes."),
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print program version."),
) -> None:
    """Command line utility for manipulating NVIDIA GPU containers."""
    if debug is None:
        debug = os.environ.get("NVC_DEBUG_FILE") or None
    if debug:
        from nvcontainer.log import attach_debug_file

        attach_debug_file(debug)
    if root is None:
        root, ldcache = _config_defaults(ldcache)
    ctx.obj = GlobalOptions(root=root, dev_root=dev_root, ldcache=ldcache, debug=debug, user=user,
                            load_kmods=load_kmods, no_pivot=no_pivot,
                            no_create_imex_channels=no_create_imex_channels)


def _config_defaults(ldcache: Optional[str]) -> tuple[str, Optional[str]]:
    """Engines call us as nvidia-container-cli without --root (ctr --gpus, docker through a hook):
    then config.toml's [nvidia-container-cli] root and ldcache apply, as for our OCI hook."""
    from nvcontainer.config.loading import load_config

    cli = load_config().nvidia_container_cli
    return cli.root or "/", ldcache or cli.ldcache or None


def _register() -> None:

    from cli import configure, info, listing

    info.register(app)
    listing.register(app)
    configure.register(app)
    register_modules(app, ("doctor", "ps"))


def register_modules(the_app: typer.Typer, names: tuple[str, ...]) -> None:
    """Add the commands of each ``cli.<name>`` module (one ``register(app)`` per module)."""
    import importlib

    for name in names:
        try:
            module = importlib.import_module(f"cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cli.{name}":
                raise
            continue
        module.register(the_app)


def _normalize(argv: List[str]) -> List[str]:
    """``--user`` takes an optional value (``--user`` alone = the caller's ids), as in the original."""
    out = []
    for arg in argv:
        out.append("--user=" if arg in ("--user", "-u") else arg)
    return out


def _no_driver_hint(exc: NvcError) -> Optional[str]:
    if isinstance(exc, LibraryLoadError) and "libnvidia-ml.so.1" in exc.message:
        return (f"{PROG}: hint: no NVIDIA driver was found on this machine; point --root at a driver root, "
                "e.g. one built by `python -m nvcontainer.simulate DIR`")
    return None


def run(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point."""
    _register()
    invoke(app, PROG, _normalize(list(sys.argv[1:] if argv is None else argv)))


def invoke(the_app: typer.Typer, prog: str, argv: Optional[List[str]] = None) -> None:
    """Run a typer app with nvcontainer's error contract: one line ``<prog>: <stage> error: ...``, exit 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of exiting.
        rc = the_app(args=args, prog_name=prog, standalone_mode=False)
    except NvcError as exc:
        print(exc.line(prog), file=sys.stderr)
        hint = _no_driver_hint(exc)
        if hint:
            hint = hint.replace(PROG, prog, 1)
            if prog != PROG:  # nvc-ctk's commands take the driver root as --driver-root
                hint = hint.replace("point --root", "point --driver-root", 1)
            print(hint, file=sys.stderr)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except click_exceptions.NoArgsIsHelpError as exc:
        print(exc.format_message(), file=sys.stderr)
        sys.exit(1)
    except click_exceptions.ClickException as exc:
        print(f"{prog}: input error: {exc.format_message()}", file=sys.stderr)
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    run()
