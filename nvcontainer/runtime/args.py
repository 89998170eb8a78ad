"""What the shim needs from a runc-style command line (pure).

runc's global flags come first (``--root DIR --log FILE --log-format json``), then the
subcommand and its flags: docker calls ``--root R --log F --log-format json create --bundle B
--pid-file P ID``; podman ``create --bundle B --pid-file P ID`` (global flags per its config).
Flags may carry one or two dashes and take their value as ``--flag=V`` or ``--flag V``.
"""

from __future__ import annotations

from nvcontainer.errors import InputError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Optional, Sequence


class LogOptions(Record):
    """runc's ``--log``, ``--log-format`` and ``--debug``: where the shim's errors must go too."""

    file: Optional[str] = None
    format: str = "text"
    debug: bool = False


def _flag_name(arg: str) -> Optional[str]:
    if not arg.startswith("-"):
        return None
    return arg.split("=", 1)[0].lstrip("-")


def is_bundle_flag(arg: str) -> bool:
    return _flag_name(arg) in ("b", "bundle")


def has_create_subcommand(args: Sequence[str]) -> bool:
    """True if some argument is ``create`` and not the value of a preceding bundle flag.

    (The toolkit's rule; a container literally named ``create`` would also match.)
    """
    previous_was_bundle = False
    for arg in args:
        if not previous_was_bundle and is_bundle_flag(arg) and "=" not in arg:
            previous_was_bundle = True
            continue
        if not previous_was_bundle and arg == "create":
            return True
        previous_was_bundle = False
    return False


def bundle_dir(args: Sequence[str]) -> str:
    """The bundle of ``create`` (last bundle flag wins); "" = the current directory, as in runc."""
    bundle = ""
    i = 0
    while i < len(args):
        arg = args[i]
        if is_bundle_flag(arg):
            if "=" in arg:
                bundle = arg.split("=", 1)[1]
            elif i + 1 == len(args):
                raise InputError("bundle option requires an argument")
            else:
                i += 1
                bundle = args[i]
        i += 1
    return bundle


def log_options(args: Sequence[str]) -> LogOptions:
    values: Dict[str, Optional[str]] = {"log": None, "log-format": None}
    debug = False
    i = 0
    while i < len(args):
        name = _flag_name(args[i])
        if name == "debug":
            debug = True
        elif name in values:
            if "=" in args[i]:
                values[name] = args[i].split("=", 1)[1]
            elif i + 1 < len(args):
                i += 1
                values[name] = args[i]
        i += 1
    return LogOptions(file=values["log"] or None, format=values["log-format"] or "text", debug=debug)


def wants_version(args: Sequence[str]) -> bool:
    return any(_flag_name(arg) == "version" for arg in args)
