"""nvc-ctk's own front (issues 18.16, 19.9): --version, help without ``<bool>``, and errors that
name the file or flag they are about."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import typer

import nvcontainer
from cli.manpage import commands

REPO = Path(__file__).resolve().parents[1]


def ctk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.ctk", *args], capture_output=True, text=True, cwd=str(REPO),
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version(flag: str) -> None:
    # nvidia-ctk: "NVIDIA Container Toolkit CLI version 1.20.0" (urfave/cli: "<name> version <version>")
    out = ctk(flag)
    assert (out.returncode, out.stdout, out.stderr) == (0, f"nvc-ctk version {nvcontainer.__version__}\n", "")
    assert out.stdout.split()[-1] == nvcontainer.__version__ and out.stdout.split()[-2] == "version"


def _all_commands() -> List[str]:
    from cli import ctk as ctk_app

    ctk_app._register()
    return [name for name, _ in commands("nvc-ctk", typer.main.get_command(ctk_app.app))]


@pytest.mark.parametrize("command", _all_commands())
def test_help_shows_no_bool_metavar(command: str) -> None:
    out = ctk(*command.split()[1:], "--help")
    assert out.returncode == 0, out.stderr
    assert "<bool>" not in out.stdout and "Usage: nvc-ctk" in out.stdout


def test_no_driver_hint_names_the_flag_the_command_takes(tmp_path: Path) -> None:
    out = ctk("cdi", "generate", f"--driver-root={tmp_path}")
    assert out.returncode == 1
    assert out.stderr.splitlines()[1].startswith("nvc-ctk: hint: no NVIDIA driver was found on this machine; "
                                                 "point --driver-root at a driver root")


@pytest.mark.parametrize("args, names", [
    (["runtime", "configure", "--runtime=docker", "--config={tmp}", "--runtime-path=/x"], "{tmp}"),
    (["runtime", "configure", "--runtime=containerd", "--config={tmp}/c.toml", "--drop-in-config={tmp}/d/99.toml",
      "--runtime-path=/x"], "{tmp}/c.toml"),
    (["config", "--config-file={tmp}"], "{tmp}"),
    (["config", "default", "--output={tmp}"], "{tmp}"),
])
def test_errors_about_a_file_name_it(tmp_path: Path, args: List[str], names: str) -> None:
    (tmp_path / "c.toml").write_text("not = [toml\n")
    out = ctk(*(a.format(tmp=tmp_path) for a in args))
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1, out.stderr
    assert names.format(tmp=tmp_path) in out.stderr and "Traceback" not in out.stderr
