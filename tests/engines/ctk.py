"""Run ``nvc-ctk`` as a user would: a child process, its output and exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

try:  # an independent parser (not tomlkit) to read what we wrote
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

BIN = Path(sys.executable).parent
CTK = [sys.executable, "-m", "cli.ctk"]
REPO = Path(__file__).resolve().parents[2]
SHIM = "/opt/nvc/shim"


def ctk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CTK, *args], capture_output=True, text=True, cwd=str(REPO))


def configure(engine: str, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Edit ``path`` in place (``--drop-in-config=''``, never the default drop-in under /etc) unless
    ``extra`` names a drop-in."""
    in_place = [] if engine == "docker" or any(a.startswith("--drop-in-config") for a in extra) else \
        ["--drop-in-config="]
    return ctk("runtime", "configure", f"--runtime={engine}", f"--config={path}", f"--runtime-path={SHIM}",
               *in_place, *extra)


def load_toml(text: str) -> Dict[str, Any]:
    return tomllib.loads(text)
