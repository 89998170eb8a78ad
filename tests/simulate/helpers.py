"""Plain helpers for the simulator's tests (fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

PROBE = Path(__file__).resolve().parent / "nvml_probe.py"


def run_smi(root: Path, lib_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ROOT/usr/bin/nvidia-smi with LD_LIBRARY_PATH pointing at lib_dir."""
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(lib_dir)}
    return subprocess.run([str(root / "usr/bin/nvidia-smi"), *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
