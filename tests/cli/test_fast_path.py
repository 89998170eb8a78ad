"""The fast path (cli/fast.py) parses what typer parses, the same way, and leaves everything else to
typer: its option tables are the typer commands' own, generated command lines give the same values
under both parsers, and the output of a run is the same byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import argv as argp
from cli import fast

REPO = str(Path(__file__).resolve().parents[2])
DEFERRED = {"--help", "-h", "-?", "--version", "-V", "--usage", "--install-completion", "--show-completion"}


_APP: List[Any] = []


def _click_app() -> Any:
    """The click group typer builds for nvc-cli (built once: registering twice would add the commands twice)."""
    if not _APP:
        import typer

        from cli import main

        main._register()
        _APP.append(typer.main.get_command(main.app))
    return _APP[0]


def _table(command: Any) -> Dict[str, Tuple[str, str]]:
    out: Dict[str, Tuple[str, str]] = {}
    for param in command.params:
        if param.param_type_name != "option":
            continue
        for name in (*param.opts, *param.secondary_opts):
            if name in DEFERRED:
                continue
            kind = fast.FLAG if param.is_flag else fast.MULTI if param.multiple else fast.VALUE
            if param.name == "user":
                kind = fast.USER
            out[name] = (param.name, kind)
    return out


def test_the_tables_are_the_typer_commands_own() -> None:
    app = _click_app()
    assert fast.GLOBAL == _table(app)
    for name, table in fast.COMMANDS.items():
        assert table == _table(app.commands[name]), name
        arguments = [p for p in app.commands[name].params if p.param_type_name == "argument"]
        assert len(arguments) == fast.POSITIONAL[name]


def _click_parse(argv: List[str]) -> Optional[Tuple[str, Dict[str, Any], Dict[str, Any], List[str]]]:
    app = _click_app()
    args = argp.normalize(argv)
    ctx = app.make_context("nvc-cli", list(args), resilient_parsing=True)
    rest = [*ctx._protected_args, *ctx.args] if hasattr(ctx, "_protected_args") else [*ctx.protected_args, *ctx.args]
    name, sub_args = rest[0], rest[1:]
    sub = app.commands[name]
    sub_ctx = sub.make_context(name, list(sub_args), parent=ctx, resilient_parsing=True)
    positional = [sub_ctx.params.pop(p.name) for p in sub.params if p.param_type_name == "argument"]

    def clean(params: Dict[str, Any], defaults: Dict[str, Any]) -> Dict[str, Any]:
        out = {}
        for key, value in params.items():
            if key in ("version", "usage"):
                continue
            if isinstance(value, tuple):
                value = list(value) or None
            if value == defaults.get(key):
                continue
            out[key] = value
        return out

    def defaults(command: Any) -> Dict[str, Any]:
        return {p.name: (None if p.multiple else p.default) for p in command.params}

    return name, clean(ctx.params, defaults(app)), clean(sub_ctx.params, defaults(sub)), positional


def _fast_parse(argv: List[str]) -> Optional[Tuple[str, Dict[str, Any], Dict[str, Any], List[str]]]:
    parsed = fast.parse(argv)
    if parsed is None:
        return None
    command, globals_, values, positional = parsed
    return command, dict(globals_), dict(values), positional


VALUES = st.text(alphabet="abcXYZ019:./_=,", min_size=1, max_size=6).filter(lambda v: not v.startswith("-"))


@st.composite
def command_lines(draw: Any) -> List[str]:
    argv: List[str] = []

    def spell(table: Dict[str, Tuple[str, str]], name: str) -> List[str]:
        param, kind = table[name]
        if kind == fast.FLAG:
            return [name]
        if kind == fast.USER:
            value = draw(st.one_of(st.just(""), VALUES))
            return [name] if not value else [f"{name}={value}" if name.startswith("--") else f"{name}{value}"]
        value = draw(VALUES)
        if name.startswith("--"):
            return draw(st.sampled_from([[f"{name}={value}"], [name, value]]))
        return draw(st.sampled_from([[f"{name}{value}"], [name, value]]))

    def options(table: Dict[str, Tuple[str, str]]) -> List[str]:
        out: List[str] = []
        names = draw(st.lists(st.sampled_from(sorted(table)), max_size=6))
        flags = [n for n in names if table[n][1] == fast.FLAG and not n.startswith("--")]
        if len(flags) >= 2 and draw(st.booleans()):  # a cluster of short flags, perhaps ending in a value option
            cluster = "-" + "".join(f[1] for f in flags)
            values = [n for n in names if table[n][1] in (fast.VALUE, fast.MULTI) and not n.startswith("--")]
            if values and draw(st.booleans()):
                cluster += values[0][1] + draw(VALUES)
                names.remove(values[0])
            out.append(cluster)
            names = [n for n in names if n not in flags]
        for name in names:
            out += spell(table, name)
        return out

    argv += options(fast.GLOBAL)
    command = draw(st.sampled_from(sorted(fast.COMMANDS)))
    argv.append(command)
    parts = options(fast.COMMANDS[command])
    if fast.POSITIONAL[command]:
        at = draw(st.integers(0, len(parts)))
        # a positional may not land between an option and its separate value
        while at > 0 and parts[at - 1] in fast.COMMANDS[command] and fast.COMMANDS[command][parts[at - 1]][1] != \
                fast.FLAG:
            at -= 1
        parts.insert(at, "/rootfs" + draw(st.sampled_from(["", "/a"])))
    return argv + parts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(command_lines())
def test_generated_command_lines_parse_the_same_both_ways(argv: List[str]) -> None:
    ours = _fast_parse(argv)
    assert ours is not None, argv
    command, globals_, values, positional = ours
    theirs = _click_parse(argv)
    assert theirs is not None
    t_command, t_globals, t_values, t_positional = theirs
    if "user" in globals_:
        globals_["user"] = globals_["user"]  # '' stays '': click's --user= gives ''
    assert (command, globals_, values, positional) == (t_command, t_globals, t_values, t_positional), argv


@pytest.mark.parametrize("argv", [
    ["info", "--help"], ["-h"], ["--help"], ["info", "-?"], ["--usage"], ["info", "--usage"], ["-V"],
    ["configure", "--version", "/r"], ["info", "--frobnicate"], ["info", "--csv=1"], ["configure"],
    ["configure", "/a", "/b"], ["list", "extra"], ["configure", "--pid"], ["configure", "-p"],
    ["list", "--device"], ["ps"], ["doctor"], [], ["--root"], ["--bogus", "info"], ["info", "--"],
    ["configure", "--device", "-1", "/r"], ["configure", "-x", "/r"], ["-z", "info"],
])
def test_what_the_fast_path_leaves_to_typer(argv: List[str]) -> None:
    assert fast.parse(argv) is None


def _run(args: List[str], typer_only: bool = False) -> subprocess.CompletedProcess:
    code = "import sys; from cli.main import run; run(sys.argv[1:])" if typer_only else \
        "import sys; from cli.entry import run; run(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO)


@pytest.mark.parametrize("args", [
    ["info"], ["info", "--csv"], ["list"], ["list", "-lb"], ["list", "--device=0,1", "--json"],
    ["list", "-d", "0", "-i", "--no-persistenced"], ["list", "--mig-config=all", "-d", "0"],
    ["list", "--device", "99"], ["info", "--csv", "--json"], ["list", "--imex-channel", "x"],
    ["configure", "--dry-run", "-cu", "-d1", "/nonexistent-rootfs"],
])
def test_both_paths_print_the_same(sim_driver: Any, args: List[str]) -> None:
    full = ["--root", str(sim_driver.root), *args]
    assert fast.parse(full) is not None
    quick, slow = _run(full), _run(full, typer_only=True)
    assert (quick.returncode, quick.stdout, quick.stderr) == (slow.returncode, slow.stdout, slow.stderr)


def test_the_fast_path_imports_no_typer(sim_driver: Any) -> None:
    code = ("import sys; from cli.entry import run\ntry:\n    run(sys.argv[1:])\nfinally:\n"
            "    print(sorted(m for m in ('typer', 'click', 'rich', 'pydantic', 'tomllib', 'yaml', 'jsonschema') "
            "if m in sys.modules), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, "--root", str(sim_driver.root), "info"], capture_output=True,
                         text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "[]"
