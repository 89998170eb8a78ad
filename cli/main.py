"""``nvc-cli``: the typer application, its global options, and the one place errors are printed.

Global options precede the command, as with nvidia-container-cli:
``nvc-cli --root DIR --debug FILE info``; short options belong to the command they follow
(``cli.argv``).  Every ``NvcError`` becomes one line ``nvc-cli: <stage> error: <message>`` on
stderr and exit status 1, never a traceback; a command line that cannot be parsed gets argp's two
lines (``cli.argv``), also with status 1.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional, Sequence

import typer

try:  # typer >= 0.26 vendors click
    from typer._click import core as click_core
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer
    from click import core as click_core  # type: ignore[no-redef]
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from cli import argv as argp
from cli.commands import global_options
from cli.context import usage_option, version_callback
from cli.errors import report, report_unexpected
from nvcontainer.errors import NvcError

PROG = "nvc-cli"
HELP_NAMES = ("-h", "-?", "--help")  # -? is argp's; -h ours


def make_app(name: str, help_text: str, help_names: Sequence[str] = ("-h", "--help")) -> typer.Typer:
    """A typer app with the settings every nvcontainer front end shares."""
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": list(help_names)},
    )


app = make_app(PROG, "Command line utility for manipulating NVIDIA GPU containers.", HELP_NAMES)


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
    version: bool = typer.Option(False, "--version", "-V", callback=version_callback, is_eager=True,
                                 help="Print program version."),
    usage: bool = usage_option(),
) -> None:
    """Command line utility for manipulating NVIDIA GPU containers."""
    ctx.obj = global_options(root=root, dev_root=dev_root, ldcache=ldcache, debug=debug, user=user,
                             load_kmods=load_kmods, no_pivot=no_pivot, no_create_imex_channels=no_create_imex_channels)


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


def _ordered_help_names() -> None:
    """click lists the help option's names in a set's (hash-seeded) order: keep ours (``-h,-?``)."""
    names = getattr(click_core.Command, "get_help_option_names", None)
    if names is None or getattr(names, "nvc_patched", False):
        return

    def get_help_option_names(self: Any, ctx: Any) -> List[str]:
        left = set(names(self, ctx))
        return [name for name in ctx.help_option_names if name in left]

    get_help_option_names.nvc_patched = True  # type: ignore[attr-defined]
    click_core.Command.get_help_option_names = get_help_option_names  # type: ignore[method-assign]


def run(argv: Optional[List[str]] = None) -> None:
    """Console-script entry point."""
    _register()
    _ordered_help_names()
    invoke(app, PROG, argp.normalize(list(sys.argv[1:] if argv is None else argv)), argp_errors=True)


def _argp_lines(exc: Any, prog: str, args: Sequence[str]) -> List[str]:
    """What NVIDIA's argp prints for a command line click could not parse (see ``cli.argv``)."""
    ctx = exc.ctx
    if ctx is not None:
        path = ctx.command_path
    else:  # click's option parser gives no context: the option is the last argument, whose is it?
        _, at = argp.split(args)
        path = f"{prog} {args[at]}" if at < len(args) - 1 else prog
    if isinstance(exc, click_exceptions.NoSuchOption):
        name = exc.option_name
        written = next((a for a in args if a.startswith(name + "=")), None)
        first = argp.option_error(path, name, written)
    elif isinstance(exc, click_exceptions.BadOptionUsage):
        name = exc.option_name
        if "does not take a value" in exc.message:
            first = f"{path}: option '{name}' doesn't allow an argument"
        else:
            first = argp.missing_value(path, name)
    else:  # a missing ROOTFS, no such command: argp_usage()
        if ctx is not None and hasattr(ctx.command, "commands"):
            arguments = "COMMAND [ARG...]"
        elif ctx is not None:
            arguments = " ".join((p.metavar or p.name or "").upper() for p in ctx.command.params
                                 if p.param_type_name == "argument")
        else:
            arguments = ""
        first = argp.short_usage(path, arguments)
    return [first, argp.try_line(path)]


def invoke(the_app: typer.Typer, prog: str, argv: Optional[List[str]] = None, *, argp_errors: bool = False) -> None:
    """Run a typer app with nvcontainer's error contract: one line ``<prog>: <stage> error: ...``, exit 1.

    ``argp_errors``: a command line that cannot be parsed gets argp's two lines (nvc-cli).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of exiting.
        rc = the_app(args=args, prog_name=prog, standalone_mode=False)
    except NvcError as exc:
        report(exc, prog)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except click_exceptions.NoArgsIsHelpError as exc:
        print(exc.format_message(), file=sys.stderr)
        sys.exit(1)
    except click_exceptions.ClickException as exc:
        usage = isinstance(exc, click_exceptions.UsageError) and not isinstance(exc, click_exceptions.BadParameter)
        if argp_errors and (usage or isinstance(exc, click_exceptions.MissingParameter)):
            for line in _argp_lines(exc, prog, args):
                print(line, file=sys.stderr)
        else:
            print(f"{prog}: input error: {exc.format_message()}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, its traceback in the debug log
        report_unexpected(exc, prog)
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":  # `python -m cli.main` runs as the console script does: fast path first
    from cli.entry import run as entry_run

    entry_run()
