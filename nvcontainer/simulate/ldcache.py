"""Run the host's ``ldconfig -r ROOT``: writes ``ROOT/etc/ld.so.cache`` and the SONAME links.

Afterwards the only link ldconfig does not make, the development link
``libcuda.so -> libcuda.so.1``, is added in each directory that holds libcuda.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

from nvcontainer.simulate.errors import SimulateError


def find_ldconfig() -> str:
    for candidate in ("/sbin/ldconfig", "/usr/sbin/ldconfig"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("ldconfig")
    if found is None:
        raise SimulateError("ldconfig not found")
    return found


def run_ldconfig(root: Path) -> None:
    result = subprocess.run([find_ldconfig(), "-r", str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, check=False)
    if result.returncode != 0 or not (root / "etc/ld.so.cache").is_file():
        lines = result.stdout.strip().splitlines()
        raise SimulateError(f"ldconfig -r failed: {lines[-1] if lines else result.returncode}")


def add_dev_links(lib_dirs: Iterable[Path]) -> None:
    for directory in lib_dirs:
        if (directory / "libcuda.so.1").is_symlink():
            link = directory / "libcuda.so"
            if not link.is_symlink():
                link.symlink_to("libcuda.so.1")
