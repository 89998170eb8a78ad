"""Shared by the hook and shim tests: our installed entry points, a config.toml pointing at the
simulated driver, and image env payloads that would leave a marker file if they ever ran."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List

BIN = Path(sys.executable).parent
HOOK = BIN / "nvc-container-runtime-hook"
SHIM = BIN / "nvc-container-runtime"

PAYLOAD_C = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void owned(void) {
    int fd = open("MARKER", O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) close(fd);
}
"""


def write_config(path: Path, root: Path, extra: str = "") -> Path:
    path.write_text(f'[nvidia-container-cli]\nroot = "{root}"\n{extra}')
    return path


def nvidia_smi_lines(stdout: str) -> List[str]:
    return [line for line in stdout.splitlines() if line.startswith("GPU ")]


def make_payloads(directory: Path, marker: Path) -> Dict[str, str]:
    """Env entries an attacker's image could carry; each creates ``marker`` if it is honoured:
    LD_PRELOAD/LD_AUDIT (a constructor), PYTHONPATH (sitecustomize and shadowed modules),
    PYTHONSTARTUP with PYTHONINSPECT (an interactive start-up file)."""
    directory.mkdir(parents=True, exist_ok=True)
    src = directory / "payload.c"
    src.write_text(PAYLOAD_C.replace("MARKER", str(marker)))
    so = directory / "payload.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    pydir = directory / "py"
    pydir.mkdir(exist_ok=True)
    code = f"open({str(marker)!r}, 'w').close()\n"
    for name in ("sitecustomize.py", "usercustomize.py", "tomllib.py", "json.py", "dataclasses.py"):
        (pydir / name).write_text(code)
    (directory / "startup.py").write_text(code)
    return {
        "LD_PRELOAD": str(so),
        "LD_AUDIT": str(so),
        "PYTHONPATH": str(pydir),
        "PYTHONSTARTUP": str(directory / "startup.py"),
        "PYTHONINSPECT": "1",
    }
