"""nvidia-container-cli's argp conventions on top of click: the argv before click sees it, and
argp's words for a command line it cannot parse.

- Global options precede the command; every short option after the command is that command's
  (``nvc-cli -u configure -u ROOTFS``: the first ``-u`` is ``--user``, the second ``--utility``).
- ``--user`` / ``-u`` takes an *optional* value, given only attached (``--user=1000``, ``-u1000``);
  click has no optional values, so a bare one becomes ``--user=`` (the caller's ids).
- A usage error is the two lines glibc's getopt and argp print, with argp's exit status
  (NVIDIA sets it to 1)::

      nvc-cli info: unrecognized option '--frobnicate'
      Try `nvc-cli info --help' or `nvc-cli info --usage' for more information.
"""

from __future__ import annotations

import textwrap
from typing import List, Optional, Sequence, Tuple

# The global options that take a value (the next argument unless attached).
VALUE_LONG = ("--root", "--dev-root", "--ldcache", "--debug")
VALUE_SHORT = "rld"
USER_LONG, USER_SHORT = "--user", "u"


def _global_short(token: str, nxt: Optional[str]) -> Tuple[List[str], int]:
    """One global short-option cluster (``-kn``, ``-r/x``, ``-u1000``) as separate click tokens,
    and how many argv entries it used."""
    out: List[str] = []
    letters = token[1:]
    for i, ch in enumerate(letters):
        rest = letters[i + 1:]
        if ch == USER_SHORT:
            out.append(f"{USER_LONG}={rest}")
            return out, 1
        if ch in VALUE_SHORT:
            if rest:
                out.append(f"-{ch}{rest}")
                return out, 1
            out.append(f"-{ch}")
            if nxt is None:
                return out, 1
            out.append(nxt)
            return out, 2
        out.append(f"-{ch}")
    return out, 1


def split(argv: Sequence[str]) -> Tuple[List[str], int]:
    """``argv`` with the global options normalised, and the index of the command in the result
    (``len(result)`` when there is none)."""
    out: List[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if token == "--" or token == "-" or not token.startswith("-"):
            break
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            if token == USER_LONG:
                out.append(f"{USER_LONG}=")
                i += 1
            elif "=" not in token and name in VALUE_LONG and nxt is not None:
                out += [token, nxt]
                i += 2
            else:
                out.append(token)
                i += 1
            continue
        tokens, used = _global_short(token, nxt)
        out += tokens
        i += used
    command = len(out)
    return out + list(argv[i:]), command


def normalize(argv: Sequence[str]) -> List[str]:
    return split(argv)[0]


def try_line(path: str) -> str:
    return f"Try `{path} --help' or `{path} --usage' for more information."


def option_error(path: str, option: str, token: Optional[str] = None) -> str:
    """getopt's line for an option it does not know (``token``: the argument as written)."""
    if option.startswith("--"):
        return f"{path}: unrecognized option '{token or option}'"
    return f"{path}: invalid option -- '{option[1:2]}'"


def missing_value(path: str, option: str) -> str:
    if option.startswith("--"):
        return f"{path}: option '{option}' requires an argument"
    return f"{path}: option requires an argument -- '{option[1:2]}'"


def short_usage(path: str, arguments: str) -> str:
    """argp_usage()'s first line, e.g. ``Usage: nvc-cli configure [OPTION...] ROOTFS``."""
    return f"Usage: {path} [OPTION...] {arguments}".rstrip()


def long_usage(path: str, options: Sequence[Tuple[Sequence[str], Optional[str]]], arguments: str) -> str:
    """``--usage``: argp's listing of every option, e.g. ``[-kn] [-r PATH] [--root=PATH]``.

    ``options`` holds each option's names and its value's metavar: None for a flag, in brackets
    for an optional value (``[UID[:GID]]``, given attached: ``-u1000``, ``--user=1000``).
    """
    def short(name: str, meta: str) -> str:
        return f"[{name}{meta}]" if meta.startswith("[") else f"[{name} {meta}]"

    def long(name: str, meta: Optional[str]) -> str:
        if meta is None:
            return f"[{name}]"
        return f"[{name}[={meta[1:-1]}]]" if meta.startswith("[") else f"[{name}={meta}]"

    flags = "".join(n[1] for names, meta in options if meta is None for n in names if not n.startswith("--"))
    parts = [f"[-{flags}]"] if flags else []
    parts += [short(n, meta) for names, meta in options if meta is not None for n in names if not n.startswith("--")]
    parts += [long(n, meta) for names, meta in options for n in names if n.startswith("--")]
    if arguments:
        parts.append(arguments)
    # argp never breaks inside one option's brackets: no-break spaces while filling.
    text = " ".join(part.replace(" ", "\xa0") for part in parts)
    filled = textwrap.fill(text, width=79, initial_indent=f"Usage: {path} ", subsequent_indent=" " * 12,
                           break_on_hyphens=False, break_long_words=False)
    return filled.replace("\xa0", " ")
