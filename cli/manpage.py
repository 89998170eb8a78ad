"""Man pages (``nvc-cli.1``, ``nvc-ctk.1``) generated from the typer apps themselves.

``python -m cli.manpage --output-dir DIR`` writes both (``man -l DIR/nvc-ctk.1`` reads one;
``DIR=/usr/local/share/man/man1`` installs them).  Every command and every option the programs
take is there, with its help text, so the pages cannot drift from the code: a test renders them
with groff and looks for each.  Hidden commands and options are left out, as in ``--help``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Iterator, List, Tuple

import typer

SKIPPED = ("help", "install_completion", "show_completion")


def escape(text: str) -> str:
    """Text safe in a roff line: backslashes and dashes escaped, no line starting as a request."""
    text = " ".join(text.split()).replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def commands(prog: str, cmd: Any) -> Iterator[Tuple[str, Any]]:
    """``(full name, click command)`` for ``cmd`` and every visible sub-command, depth first."""
    yield prog, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        if not getattr(sub, "hidden", False):
            yield from commands(f"{prog} {name}", sub)


def visible_params(cmd: Any) -> List[Any]:
    return [p for p in cmd.params if p.name not in SKIPPED and not getattr(p, "hidden", False)]


def _param(param: Any) -> List[str]:
    if getattr(param, "param_type_name", "") == "argument":
        label = f"\\fI{escape((param.metavar or param.name).upper())}\\fR"
    else:
        names = [*param.opts, *getattr(param, "secondary_opts", [])]
        label = ", ".join(f"\\fB{escape(n)}\\fR" for n in names)
        if not getattr(param, "is_flag", False):
            label += f" \\fI{escape(param.metavar or 'VALUE')}\\fR"
    lines = [".TP", label, escape(getattr(param, "help", None) or "")]
    envvar = getattr(param, "envvar", None)
    if envvar:
        names = [envvar] if isinstance(envvar, str) else list(envvar)
        lines += [".br", escape("Environment: " + ", ".join(f"${n}" for n in names) + ".")]
    return lines


def render(prog: str, app: typer.Typer) -> str:
    import nvcontainer

    root = typer.main.get_command(app)
    summary = (root.help or "").strip().split("\n\n")[0]
    lines = [f'.TH {prog.upper()} 1 "" "nvcontainer {nvcontainer.__version__}" "User Commands"',
             ".nh", ".ad l", ".SH NAME", f"{escape(prog)} \\- {escape(summary)}",
             ".SH SYNOPSIS", f".B {escape(prog)}", "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
             ".SH DESCRIPTION", escape(summary),
             "Errors are one line on standard error, \\fIprog\\fR: \\fIstage\\fR error: \\fImessage\\fR, "
             "and exit status 1."]
    for name, cmd in commands(prog, root):
        if name == prog:
            lines.append(".SH OPTIONS")
        else:
            if ".SH COMMANDS" not in lines:
                lines.append(".SH COMMANDS")
            doc = (cmd.help or "").strip().split("\n\n")[0]
            lines += [f'.SS "{escape(name)}"', escape(doc)]
        for param in visible_params(cmd):
            lines += _param(param)
    lines += [".SH FILES", "/etc/nvidia\\-container\\-runtime/config.toml", ".SH SEE ALSO",
              ", ".join(f"\\fB{escape(p)}\\fR(1)" for p in ("nvc-cli", "nvc-ctk") if p != prog)
              + ", the documentation in \\fIdocs/\\fR of the nvcontainer sources."]
    return "\n".join(lines) + "\n"


def pages() -> List[Tuple[str, str]]:
    """``(file name, text)`` of every page."""
    from cli import ctk
    from cli import main as nvc

    nvc._register()
    ctk._register()
    return [("nvc-cli.1", render("nvc-cli", nvc.app)), ("nvc-ctk.1", render("nvc-ctk", ctk.app))]


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.manpage", description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True, metavar="DIR", help="where to write nvc-cli.1 and nvc-ctk.1")
    args = parser.parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    for name, text in pages():
        path = os.path.join(args.output_dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
