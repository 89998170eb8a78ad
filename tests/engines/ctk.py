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
    return ctk("runtime", "configure", f"--runtime={engine}", f"--config={path}", f"--runtime-path={SHIM}", *extra)


def load_toml(text: str) -> Dict[str, Any]:
    return tomllib.loads(text)
