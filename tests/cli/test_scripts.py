"""The programs pip installs are our scripts in cli/bin (setup.cfg ``scripts``), not console_scripts
entry points, whose generated wrapper imports ``re`` (and ``enum``) on every start: each script is
listed, starts with the ``#!python`` line pip rewrites, calls a function that exists, and imports
nothing but ``sys`` and its module."""

from __future__ import annotations

import configparser
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "cli" / "bin"
NAMES = {"nvc-cli", "nvc-ctk", "nvc-docker", "nvc-container-runtime-hook", "nvc-container-runtime", "nvc-cdi-hook"}


def _listed() -> List[str]:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    assert not config.has_section("options.entry_points"), "no console_scripts: their wrapper imports re"
    return [line.strip() for line in config["options"]["scripts"].splitlines() if line.strip()]


def test_every_program_is_a_listed_script() -> None:
    listed = _listed()
    assert sorted(listed) == sorted(f"cli/bin/{name}" for name in NAMES)
    assert sorted(os.listdir(BIN)) == sorted(NAMES), "nothing unlisted in cli/bin"


def test_each_script_calls_a_function_that_exists() -> None:
    for name in NAMES:
        path = BIN / name
        assert os.access(path, os.X_OK), name
        text = path.read_text()
        assert text.startswith("#!python\n"), name
        code = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert code[0] == "import sys", name
        module, _, function = code[1].removeprefix("from ").partition(" import ")
        assert code[2] in (f"{function}()", f"sys.exit({function}())"), name
        target: Any = getattr(importlib.import_module(module), function)
        assert callable(target), name


def test_a_script_imports_no_re(sim_driver: Any) -> None:
    """``nvc-cli info`` run through its script (as pip installs it, but for the first line) loads
    neither re nor enum; pip's console_scripts wrapper would load both."""
    # -S and the site-packages directories by hand: no .pth file runs (this interpreter's import re);
    # exec, not runpy (which imports re itself)
    code = ("import site, sys\nsys.path += site.getsitepackages()\nsys.argv = sys.argv[1:]\n"
            "assert 're' not in sys.modules\ntry:\n"
            "    exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'), {'__name__': '__main__'})\nfinally:\n"
            "    print(sorted(m for m in ('re', 'enum', 'typer') if m in sys.modules), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(BIN / "nvc-cli"), "--root", str(sim_driver.root),
                          "info"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert "NVRM version:" in out.stdout
    assert out.stderr.strip().splitlines()[-1] == "[]", out.stderr
