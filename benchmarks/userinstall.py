"""A user's installation of nvcontainer for the benchmarks: a fresh virtual environment with
``pip install <repo>`` (not editable), so that what is measured is what a user runs: the console
scripts pip writes, site-packages without the editable-install finder, the package as pip built it.

``python benchmarks/userinstall.py [DIR]`` makes (or refreshes) it and prints its ``bin``;
``reexec_in_venv()`` runs the calling benchmark again under that environment's interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIR = os.environ.get("NVC_BENCH_VENV", "/tmp/nvc-bench-venv")
MARK = "NVC_BENCH_IN_VENV"


def ensure_venv(path: str = DEFAULT_DIR) -> str:
    """The ``bin`` directory of a virtual environment at ``path`` holding this checkout, installed
    with pip as a user would (dependencies from PyPI on the first run, the package itself every run)."""
    python = os.path.join(path, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", REPO], check=True)
    else:  # the package again (a local project is always rebuilt), its dependencies as setup.cfg now asks
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", REPO], check=True)
    return os.path.join(path, "bin")


def reexec_in_venv(path: Optional[str] = None) -> None:
    """Unless already there, re-run this program under the user installation's interpreter (the
    benchmark's own modules still come from the checkout; nvcontainer from site-packages)."""
    if os.environ.get(MARK):
        return
    bin_dir = ensure_venv(path or DEFAULT_DIR)
    python = os.path.join(bin_dir, "python")
    env = dict(os.environ, **{MARK: "1"})
    env.pop("PYTHONPATH", None)
    os.execve(python, [python, *sys.argv], env)


def installed_from_site_packages() -> bool:
    import nvcontainer

    return "site-packages" in (nvcontainer.__file__ or "")


if __name__ == "__main__":
    print(ensure_venv(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DIR))
