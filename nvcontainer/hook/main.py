"""``nvc-container-runtime-hook [-debug] [-config FILE] prestart|poststart|poststop``.

Flags as the toolkit's Go ``flag`` parser takes them (one or two dashes, ``-config=FILE`` or
``-config FILE``, flags before the command).  ``prestart`` configures the container; the other two
are no-ops; anything else prints the usage and exits 2.

Errors: one line ``nvc-cli: <stage> error: <message>`` on stderr, exit 1.  The toolkit's hook
shows the line of the nvidia-container-cli it execs; we configure in-process, so we show the line
our ``nvc-cli`` would print for the same failure (one error contract for every front end).  The
line also goes to the debug file (``-debug`` = stderr, else ``nvidia-container-cli.debug``).

Start-up stays light: this module imports nothing but ``sys``/``os`` and our isolation check; the
config, the OCI parsing and the configure layer load only when ``prestart`` runs.
"""

from __future__ import annotations

import os
import sys

from nvcontainer.hook.isolation import ensure_isolated
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, NoReturn, Optional, Sequence

PROG = "nvc-container-runtime-hook"
ERROR_PROG = "nvc-cli"
COMMANDS = ("prestart", "poststart", "poststop")
USAGE = f"""Usage of {PROG}:
  {PROG} [-debug] [-config FILE] [-version] COMMAND

Commands:
  prestart    configure the container (reads the OCI state from stdin)
  poststart   no-op
  poststop    release the container's GPUs in the allocation registry

Flags:
  -config string
        the config file to use (default $NVIDIA_CTK_CONFIG_FILE_PATH or /etc/nvidia-container-runtime/config.toml)
  -debug
        enable debug output (to stderr)
  -version
        print the version and exit
"""


class UsageError(Exception):
    pass


class HookArgs(Record):
    command: Optional[str] = None
    config: Optional[str] = None
    debug: bool = False
    version: bool = False
    help: bool = False


def parse_args(args: Sequence[str]) -> HookArgs:
    """Go-``flag``-style parsing: flags until the first non-flag argument, which is the command."""
    config: Optional[str] = None
    debug = version = want_help = False
    rest: List[str] = list(args)
    while rest and rest[0].startswith("-") and rest[0] not in ("-", "--"):
        arg = rest.pop(0)
        name, eq, value = arg.lstrip("-").partition("=")
        if name == "debug":
            debug = value.lower() not in ("false", "0", "f") if eq else True
        elif name == "version":
            version = True
        elif name in ("h", "help"):
            want_help = True
        elif name == "config":
            if not eq:
                if not rest:
                    raise UsageError("flag needs an argument: -config")
                value = rest.pop(0)
            config = value
        else:
            raise UsageError(f"flag provided but not defined: -{name}")
    if rest and rest[0] == "--":
        rest.pop(0)
    command = rest[0] if rest else None
    return HookArgs(command=command, config=config, debug=debug, version=version, help=want_help)


def _attach_debug(path: str) -> None:
    from nvcontainer.log import attach_debug_file

    try:
        attach_debug_file(path)
    except OSError:
        pass  # an unwritable debug file must not fail the container


def run(args: Sequence[str], stdin_text: Optional[str] = None) -> int:
    """The hook without process set-up (testable): returns the exit status."""
    try:
        opts = parse_args(args)
    except UsageError as exc:
        print(f"{exc}\n{USAGE}", end="", file=sys.stderr)
        return 2
    if opts.help:
        print(USAGE, end="", file=sys.stderr)
        return 0
    if opts.version:
        import nvcontainer

        print(f"{PROG} version {nvcontainer.__version__}")
        return 0
    if opts.command not in COMMANDS:
        print(USAGE, end="", file=sys.stderr)
        return 2
    if opts.command == "poststart":
        return 0
    if opts.command == "poststop":
        return _poststop(stdin_text, opts.config)
    from nvcontainer.errors import NvcError

    try:
        from nvcontainer.config.cached import load_config_cached

        if opts.debug:
            _attach_debug("/dev/stderr")
        config = load_config_cached(opts.config)
        if not opts.debug and config.nvidia_container_cli.debug:
            _attach_debug(config.nvidia_container_cli.debug)
        from nvcontainer.hook.prestart import prestart

        prestart(sys.stdin.read() if stdin_text is None else stdin_text, config)
    except NvcError as exc:
        _report(exc.line(ERROR_PROG))
        return 1
    except Exception as exc:  # noqa: BLE001 - the hook must answer with one line, never a traceback
        from nvcontainer.log import logger

        logger.debug("unexpected error", exc_info=True)
        _report(f"{ERROR_PROG}: internal error: {exc}")
        return 1
    return 0


def _poststop(stdin_text: Optional[str], config_file: Optional[str]) -> int:
    """Never fails a container's teardown: a problem is reported and the hook exits 0."""
    try:
        from nvcontainer.config.loading import load_config
        from nvcontainer.hook.prestart import poststop

        config = load_config(config_file)  # where the registry is (nvcontainer.state-dir)
        poststop(sys.stdin.read() if stdin_text is None else stdin_text, config)
    except Exception as exc:  # noqa: BLE001
        print(f"{ERROR_PROG}: poststop: {exc}", file=sys.stderr)
    return 0


def _report(line: str) -> None:
    from nvcontainer.log import logger

    logger.error("%s", line)
    print(line, file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The hook on ``argv`` (default: the process's, isolated first); returns the exit status."""
    if argv is None:
        ensure_isolated(sys.argv)
        argv = sys.argv
    return run(list(argv)[1:])


def entry() -> NoReturn:
    """Console-script and launcher entry point: ``main()``, then the process ends at once.

    Interpreter shutdown (module teardown, garbage collection) costs a hook some 2 ms of every
    container start and does nothing a hook needs: stdio is flushed here, and the debug log's
    handler writes every record as it comes."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
