"""``nvc-ctk cdi generate``'s fast path (cli/ctk_fast.py) parses what typer parses, the same way,
declines the rest (help, other commands, the command's environment variables, ``--no-driver-proc``),
and a run prints and writes the same bytes either way."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import ctk_fast, fast

REPO = str(Path(__file__).resolve().parents[2])
DEFERRED = {"--help", "-h"}
_CMD: List[Any] = []


def _generate_command() -> Any:
    """The click command typer builds for ``nvc-ctk cdi generate`` (built once)."""
    if not _CMD:
        import typer

        from cli import ctk

        ctk._register()
        group = typer.main.get_command(ctk.app)
        _CMD.append(group.commands["cdi"].commands["generate"])  # type: ignore[attr-defined]
    return _CMD[0]


def test_the_table_is_the_typer_commands_own() -> None:
    table: Dict[str, Tuple[str, str]] = {}
    for param in _generate_command().params:
        for name in param.opts:
            if name not in DEFERRED:
                table[name] = (param.name, fast.FLAG if param.is_flag else fast.MULTI if param.multiple else fast.VALUE)
    assert ctk_fast.GENERATE == table
    secondary = [name for param in _generate_command().params for name in param.secondary_opts]
    assert secondary == ["--no-driver-proc"], "each secondary spelling is declined: see test_what_typer_keeps"


def test_the_variables_are_the_typer_commands_own() -> None:
    envvars = sorted(param.envvar for param in _generate_command().params if param.envvar)
    assert sorted(ctk_fast.ENVVARS) == envvars


def _click_values(argv: List[str]) -> Dict[str, Any]:
    command = _generate_command()
    ctx = command.make_context("generate", list(argv[2:]), resilient_parsing=True)
    defaults = {p.name: (None if p.multiple else p.default) for p in command.params}
    out = {}
    for key, value in ctx.params.items():
        if isinstance(value, tuple):
            value = list(value) or None
        if value != defaults.get(key):
            out[key] = value
    return out


VALUES = st.text(alphabet="abcXYZ019:./_=,", min_size=1, max_size=6).filter(lambda v: not v.startswith("-"))


@st.composite
def command_lines(draw: Any) -> List[str]:
    argv = ["cdi", "generate"]
    for name in draw(st.lists(st.sampled_from(sorted(ctk_fast.GENERATE)), max_size=8)):
        kind = ctk_fast.GENERATE[name][1]
        if kind == fast.FLAG:
            argv.append(name)
            continue
        value = draw(VALUES)
        if name.startswith("--"):
            argv += draw(st.sampled_from([[f"{name}={value}"], [name, value]]))
        else:
            argv += draw(st.sampled_from([[f"{name}{value}"], [name, value]]))
    return argv


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(command_lines())
def test_generated_command_lines_parse_the_same_both_ways(argv: List[str]) -> None:
    ours = ctk_fast.parse(argv)
    assert ours is not None, argv
    assert ours == _click_values(argv), argv


@pytest.mark.parametrize("argv", [
    ["cdi", "generate", "--help"], ["cdi", "generate", "-h"], ["cdi", "--help"], ["cdi"], ["--version"],
    ["cdi", "list"], ["cdi", "validate"], ["cdi", "generate", "--no-driver-proc"], ["cdi", "generate", "extra"],
    ["cdi", "generate", "--frobnicate"], ["cdi", "generate", "--output"], ["cdi", "generate", "-o"],
    ["cdi", "generate", "--no-all-device=1"], ["cdi", "generate", "--output", "-x"], ["cdi", "generate", "--"],
    ["runtime", "configure"], [], ["cdi", "generate", "-x"],
])
def test_what_typer_keeps(argv: List[str]) -> None:
    assert ctk_fast.parse(argv) is None


@pytest.mark.parametrize("name", ctk_fast.ENVVARS)
def test_a_set_variable_leaves_it_to_typer(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ctk_fast.parse(["cdi", "generate"]) is not None
    monkeypatch.setenv(name, "")
    assert ctk_fast.parse(["cdi", "generate"]) is None


def _run(args: List[str], cwd: Path, typer_only: bool = False) -> Tuple[int, str, str, Dict[str, bytes]]:
    code = "import sys; from cli.ctk import run; run(sys.argv[1:])" if typer_only else \
        "import sys; from cli.entry import run_ctk; run_ctk(sys.argv[1:])"
    for leftover in cwd.iterdir():
        leftover.unlink()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=str(cwd),
                         env={**os.environ, "PYTHONPATH": REPO})
    files = {p.name: p.read_bytes() for p in sorted(cwd.iterdir())}
    return out.returncode, out.stdout, out.stderr, files


@pytest.mark.parametrize("args", [
    [], ["--format", "json"], ["-o", "spec.yaml"], ["--output=spec"], ["--output", "spec.json", "--format=yaml"],
    ["--device-name-strategy", "uuid", "--device", "0", "--no-all-device"], ["--device=none"],
    ["--disable-hook", "all"], ["--enable-hook=chmod", "--compat32", "--mps-pipe-dir"], ["--mode", "management"],
    ["--mode=csv"], ["--format", "toml"], ["--nvidia-cdi-hook-path", "relative/hook"], ["--device-id", "9"],
    ["--vendor", "example.com", "--class=gpu"], ["--dev-root", "/nonexistent-dev-root"],
])
def test_both_paths_print_and_write_the_same(sim_driver: Any, tmp_path: Path, args: List[str]) -> None:
    full = ["cdi", "generate", "--driver-root", str(sim_driver.root), *args]
    assert ctk_fast.parse(full) is not None
    quick, slow = _run(full, tmp_path), _run(full, tmp_path, typer_only=True)
    assert quick == slow


def test_the_fast_path_imports_no_typer(sim_driver: Any) -> None:
    code = ("import sys; from cli.entry import run_ctk\ntry:\n    run_ctk(sys.argv[1:])\nfinally:\n"
            "    print(sorted(m for m in ('typer', 'click', 'rich', 'pydantic', 'yaml', 'jsonschema') "
            "if m in sys.modules), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, "cdi", "generate", "--driver-root", str(sim_driver.root)],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("---\ncdiVersion:")
    assert out.stderr.strip().splitlines()[-1] == "[]"


def test_generate_from_the_snapshot_is_the_spec_of_now(tmp_path: Path) -> None:
    """cdi generate reads the driver snapshot while it is exact: the spec is the one a fresh discovery
    gives, and a change to the root (a GPU's node gone, a library replaced) is in the next spec."""
    from nvcontainer.simulate import build
    from nvcontainer.snapshot.fingerprint import RACE_MARGIN_NS

    root = tmp_path / "root"
    build(root, preset="dgx-h100-2")
    env = {**os.environ, "PYTHONPATH": REPO, "NVC_SNAPSHOT_DIR": str(tmp_path / "snapshots")}
    code = "import sys; from cli.entry import run_ctk; run_ctk(sys.argv[1:])"
    argv = [sys.executable, "-c", code, "cdi", "generate", "--driver-root", str(root), "--nvidia-cdi-hook-path=/h"]

    def spec_now() -> str:  # a fresh discovery, in a process of its own (NVML is loaded once per process)
        out = subprocess.run(argv, capture_output=True, text=True, env={**env, "NVC_SNAPSHOT_DIR": "off"})
        assert out.returncode == 0, out.stderr
        return out.stdout

    for change in (None, lambda: (root / "dev" / "nvidia1").unlink(),
                   lambda: next((root / "usr/lib/x86_64-linux-gnu").glob("libnvidia-ptxjitcompiler.so.*.*")).unlink()):
        if change is not None:
            change()
        time.sleep(RACE_MARGIN_NS / 1e9 + 0.1)  # a file changed less than this ago is never trusted to a snapshot
        first = subprocess.run(argv, capture_output=True, text=True, env=env)
        again = subprocess.run(argv, capture_output=True, text=True, env=env)
        assert first.returncode == again.returncode == 0, first.stderr + again.stderr
        assert first.stdout == again.stdout == spec_now()
    assert "/dev/nvidia1" not in first.stdout and "libnvidia-ptxjitcompiler" not in first.stdout
    assert os.listdir(tmp_path / "snapshots"), "the runs went through the snapshot"
