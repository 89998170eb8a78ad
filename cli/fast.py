"""``nvc-cli`` without typer for the command lines engines and scripts run all the time.

Importing typer costs 25-30 ms (and typer 0.29 75 ms more); ``nvc-cli info`` takes NVIDIA's C
tool 12-23 ms in all.  So ``cli.entry`` first hands the command line to ``try_run``: when it is a
plain ``info``, ``list`` or ``configure`` invocation (the options below, spelled as click accepts
them), it is parsed here and run through the same command bodies the typer commands call
(``cli.commands``).  Anything else (help, ``--usage``, ``--version``, another command, a spelling
this parser is not sure of, an error in the command line) returns None untouched, and typer parses
it as always: its messages, help and argp errors stay the only ones.  A test parses generated
command lines both ways and compares (``tests/cli/test_fast_path.py``).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

PROG = "nvc-cli"
FLAG, VALUE, MULTI, USER = "flag", "value", "multi", "user"

# option spelling -> (parameter, kind); each table is the typer command's, checked by a test.
GLOBAL: Dict[str, Tuple[str, str]] = {
    "--root": ("root", VALUE), "-r": ("root", VALUE),
    "--dev-root": ("dev_root", VALUE),
    "--ldcache": ("ldcache", VALUE), "-l": ("ldcache", VALUE),
    "--debug": ("debug", VALUE), "-d": ("debug", VALUE),
    "--user": ("user", USER), "-u": ("user", USER),
    "--load-kmods": ("load_kmods", FLAG), "-k": ("load_kmods", FLAG),
    "--no-pivot": ("no_pivot", FLAG), "-n": ("no_pivot", FLAG),
    "--no-create-imex-channels": ("no_create_imex_channels", FLAG),
}
_CAPS = {"--compute": "c", "--utility": "u", "--video": "v", "--graphics": "g", "--display": "D", "--ngx": "n"}
COMMANDS: Dict[str, Dict[str, Tuple[str, str]]] = {
    "info": {"--csv": ("csv", FLAG), "--json": ("as_json", FLAG)},
    "list": {
        "--device": ("device", MULTI), "-d": ("device", MULTI),
        "--libraries": ("libraries", FLAG), "-l": ("libraries", FLAG),
        "--binaries": ("binaries", FLAG), "-b": ("binaries", FLAG),
        "--ipcs": ("ipcs", FLAG), "-i": ("ipcs", FLAG),
        "--firmwares": ("firmwares", FLAG), "-f": ("firmwares", FLAG),
        "--compat32": ("compat32", FLAG),
        "--mig-config": ("mig_config", MULTI), "--mig-monitor": ("mig_monitor", MULTI),
        "--imex-channel": ("imex_channel", MULTI),
        "--no-persistenced": ("no_persistenced", FLAG), "--no-fabricmanager": ("no_fabricmanager", FLAG),
        "--no-gsp-firmware": ("no_gsp_firmware", FLAG),
        "--json": ("as_json", FLAG), "--docker-args": ("docker_args", FLAG),
    },
    "configure": {
        "--pid": ("pid", VALUE), "-p": ("pid", VALUE),
        "--device": ("device", MULTI), "-d": ("device", MULTI),
        "--require": ("require", MULTI), "-r": ("require", MULTI),
        "--ldconfig": ("ldconfig", VALUE), "-l": ("ldconfig", VALUE),
        **{long: (long[2:], FLAG) for long in _CAPS},
        **{f"-{short}": (long[2:], FLAG) for long, short in _CAPS.items()},
        "--compat32": ("compat32", FLAG),
        "--mig-config": ("mig_config", MULTI), "--mig-monitor": ("mig_monitor", MULTI),
        "--imex-channel": ("imex_channel", MULTI),
        "--no-cgroups": ("no_cgroups", FLAG), "--no-devbind": ("no_devbind", FLAG),
        "--no-persistenced": ("no_persistenced", FLAG), "--no-fabricmanager": ("no_fabricmanager", FLAG),
        "--no-gsp-firmware": ("no_gsp_firmware", FLAG),
        "--cuda-compat-mode": ("cuda_compat_mode", VALUE),
        "--no-cntlibs": ("no_cntlibs", FLAG),
        "--allow-container-ldconfig": ("allow_container_ldconfig", FLAG),
        "--dry-run": ("dry_run", FLAG), "--exclusive": ("exclusive", FLAG),
    },
}
POSITIONAL = {"info": 0, "list": 0, "configure": 1}


class _NotMine(Exception):
    """A command line this parser leaves to typer."""


def _take(table: Dict[str, Tuple[str, str]], values: Dict[str, Any], name: str, value: Optional[str]) -> None:
    param, kind = table[name]
    if kind == FLAG:
        if value is not None:
            raise _NotMine(name)
        values[param] = True
    elif kind == MULTI:
        values.setdefault(param, []).append(value)
    else:
        values[param] = value


def _value(args: Sequence[str], i: int) -> str:
    if i >= len(args) or args[i].startswith("-"):  # click's reading of such a value is typer's business
        raise _NotMine("value")
    return args[i]


def _options(args: Sequence[str], i: int, table: Dict[str, Tuple[str, str]], values: Dict[str, Any],
             positional: List[str], stop_at_positional: bool) -> int:
    """Parse ``args[i:]`` against ``table``; returns the index where parsing stopped."""
    while i < len(args):
        token = args[i]
        if token == "--" or token == "-" or not token.startswith("-"):
            if stop_at_positional or token in ("--", "-"):
                return i
            positional.append(token)
            i += 1
            continue
        if token.startswith("--"):
            name, eq, attached = token.partition("=")
            if name not in table:
                raise _NotMine(name)
            kind = table[name][1]
            if kind == USER:
                values[table[name][0]] = attached if eq else ""
                i += 1
            elif kind == FLAG or eq:
                _take(table, values, name, attached if eq else None)
                i += 1
            else:
                _take(table, values, name, _value(args, i + 1))
                i += 2
            continue
        # a cluster of short options: flags, then at most one option whose value follows
        j = 1
        i += 1
        while j < len(token):
            name = "-" + token[j]
            if name not in table:
                raise _NotMine(name)
            kind = table[name][1]
            rest = token[j + 1:]
            if kind == FLAG:
                _take(table, values, name, None)
                j += 1
                continue
            if kind == USER:
                values[table[name][0]] = rest
            elif rest:
                _take(table, values, name, rest)
            else:
                _take(table, values, name, _value(args, i))
                i += 1
            break
    return i


def parse(argv: Sequence[str]) -> Optional[Tuple[str, Dict[str, Any], Dict[str, Any], List[str]]]:
    """``(command, global options, command options, positional arguments)`` for a command line this
    fast path runs, else None (typer's turn)."""
    args = list(argv)
    try:
        globals_: Dict[str, Any] = {}
        i = _options(args, 0, GLOBAL, globals_, [], stop_at_positional=True)
        if i >= len(args) or args[i] not in COMMANDS:
            return None
        command = args[i]
        values: Dict[str, Any] = {}
        positional: List[str] = []
        end = _options(args, i + 1, COMMANDS[command], values, positional, stop_at_positional=False)
    except _NotMine:
        return None
    if end != len(args) or len(positional) != POSITIONAL[command]:
        return None
    return command, globals_, values, positional


def _run(command: str, globals_: Dict[str, Any], values: Dict[str, Any], positional: List[str]) -> None:
    from cli import commands

    opts = commands.global_options(**globals_)
    if command == "info":
        commands.info(opts, **values)
    elif command == "list":
        commands.list_paths(opts, **values)
    else:
        caps = [name for name in commands.CAPABILITY_FLAGS if values.pop(name, False)]
        commands.configure(opts, positional[0], capabilities=caps, **values)


def try_run(argv: Sequence[str]) -> Optional[int]:
    """Run ``argv`` (without the program name) if it is a command line of this fast path: its exit
    status (0, or 1 after one ``nvc-cli: <stage> error: ...`` line); None when typer must."""
    parsed = parse(argv)
    if parsed is None:
        return None
    return run_reporting(lambda: _run(*parsed), PROG)


def run_reporting(call: Callable[[], None], prog: str) -> int:
    """``call()``'s exit status under the front ends' error contract: 0, or 1 after one
    ``<prog>: <stage> error: ...`` line (an unexpected exception too: never a traceback)."""
    from nvcontainer.errors import NvcError

    try:
        call()
    except NvcError as exc:
        from cli.errors import report

        report(exc, prog)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (the bug is in the debug log)
        from cli.errors import report_unexpected

        report_unexpected(exc, prog)
        return 1
    sys.stdout.flush()
    return 0
