"""Man pages generated from the programs (issue 19.12): every command and option is in them,
and groff renders them without a warning."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from cli.manpage import commands, visible_params

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pages")  # not "man*": man(1) reads a man0/ path as a section tree
    made = subprocess.run([sys.executable, "-m", "cli.manpage", f"--output-dir={out}"], capture_output=True,
                          text=True, cwd=str(REPO))
    assert made.returncode == 0, made.stderr
    assert made.stdout.split() == [str(out / "nvc-cli.1"), str(out / "nvc-ctk.1")]
    return out


def rendered(path: Path) -> str:
    env = {**os.environ, "MANWIDTH": "2000"}
    out = subprocess.run(["man", "-l", str(path)], capture_output=True, text=True, env=env, check=True)
    return re.sub(".\x08", "", out.stdout)  # man's bold/underline overstrikes, when not on a terminal


@pytest.mark.parametrize("prog", ["nvc-cli", "nvc-ctk"])
def test_every_command_and_option_is_in_the_page(pages: Path, prog: str) -> None:
    from cli import ctk
    from cli import main as nvc

    nvc._register()
    ctk._register()
    app = nvc.app if prog == "nvc-cli" else ctk.app
    text = rendered(pages / f"{prog}.1")
    seen = 0
    for name, cmd in commands(prog, typer.main.get_command(app)):
        assert name == prog or f"\n   {name}\n" in text, f"command {name} missing"
        for param in visible_params(cmd):
            for opt in param.opts if param.param_type_name == "option" else []:
                assert opt in text, f"{name} {opt} missing"
                seen += 1
    assert seen > 20


@pytest.mark.parametrize("prog, must", [
    ("nvc-ctk", ["nvc-ctk system create-dev-char-symlinks", "--dev-char-path DEV_CHAR", "Environment: $DEV_CHAR_PATH.",
                 "nvc-ctk config", "--set KEY[=VALUE]", "--drop-in-config FILE", "nvc-ctk install-units"]),
    ("nvc-cli", ["nvc-cli configure", "--root, -r PATH", "nvc-cli doctor"]),
])
def test_the_new_commands_are_there(pages: Path, prog: str, must: list) -> None:
    text = rendered(pages / f"{prog}.1")
    for words in must:
        assert words in text, words


def test_groff_renders_them_cleanly(pages: Path) -> None:
    for page in ("nvc-cli.1", "nvc-ctk.1"):
        out = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(pages / page)], capture_output=True,
                             text=True)
        assert (out.returncode, out.stderr) == (0, ""), out.stderr
