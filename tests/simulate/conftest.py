"""Fixtures for the simulator's tests: the NVML probe in a fresh process, private copies of roots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Union

import pytest

from nvcontainer.simulate import SimulatedDriver
from tests.simulate.helpers import PROBE

NvmlReport = Callable[[Union[Path, str]], Dict[str, Any]]
CopyRoot = Callable[[SimulatedDriver], Path]


@pytest.fixture(scope="session")
def nvml_report() -> NvmlReport:
    """Load a libnvidia-ml by path in a new process and return the probe's JSON report."""

    def run(library: Union[Path, str]) -> Dict[str, Any]:
        result = subprocess.run([sys.executable, str(PROBE), str(library)], capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        report: Dict[str, Any] = json.loads(result.stdout)
        return report

    return run


@pytest.fixture
def copy_root(tmp_path: Path) -> CopyRoot:
    """Copy a built root (device nodes, sockets and links included) to a private directory."""

    def copy(driver: SimulatedDriver) -> Path:
        dest = tmp_path / "copy"
        subprocess.run(["cp", "-a", str(driver.root), str(dest)], check=True)
        return dest

    return copy

