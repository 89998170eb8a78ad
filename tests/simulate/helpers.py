"""Plain helpers for the simulator's tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

from nvcontainer.simulate import SimulatedDriver

PROBE = Path(__file__).resolve().parent / "nvml_probe.py"
MIG_WALK = Path(__file__).resolve().parent / "mig_walk.py"
NVLIB_SEQUENCE = Path(__file__).resolve().parent / "nvlib_sequence.py"


def run_smi(root: Path, lib_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ROOT/usr/bin/nvidia-smi with LD_LIBRARY_PATH pointing at lib_dir."""
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(lib_dir)}
    return subprocess.run([str(root / "usr/bin/nvidia-smi"), *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def run_nvml_script(driver: SimulatedDriver, lib_dir: Path, script: Path) -> Any:
    """Run a Python script using nvidia-ml-py over the libnvidia-ml.so.1 in lib_dir, in a new process; its JSON."""
    env = {**driver.env(), "LD_LIBRARY_PATH": str(lib_dir), "PYTHONPATH": ":".join(sys.path)}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def walk_mig(driver: SimulatedDriver, lib_dir: Path) -> Dict[str, Any]:
    """The whole MIG tree as mig_walk.py reports it."""
    out: Dict[str, Any] = run_nvml_script(driver, lib_dir, MIG_WALK)
    return out
