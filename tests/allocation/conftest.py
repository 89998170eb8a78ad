"""Fixtures for the allocation tests: a varied 8-GPU topology, owner processes, a state dir."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from nvcontainer.discovery import discover
from nvcontainer.driver import Driver
from nvcontainer.simulate.presets import preset_document

GIB = 1024**3

# GPU index -> (memory_used GiB of 40, utilization_gpu %).  Ranked by free memory, then
# utilisation, then index: 5 (40 free, 0%), 2 (40, 10%), 7 (40, 10%), 0 (30, 5%), 3 (30, 50%),
# 1 (20, 0%), 6 (20, 90%), 4 (8, 0%).
USAGE = {0: (10, 5), 1: (20, 0), 2: (0, 10), 3: (10, 50), 4: (32, 0), 5: (0, 0), 6: (20, 90), 7: (0, 10)}
EXPECTED_ORDER = [5, 2, 7, 0, 3, 1, 6, 4]


@pytest.fixture(scope="session")
def varied_topology(tmp_path_factory: pytest.TempPathFactory) -> Path:
    document = preset_document("dgx-a100")
    document["name"] = "varied-8"
    for index, gpu in enumerate(document["gpus"]):
        gpu.pop("migs", None)
        gpu["mig_enabled"] = False
        used, util = USAGE[index]
        gpu["memory_used"] = used * GIB
        gpu["utilization_gpu"] = util
    path = tmp_path_factory.mktemp("topology") / "varied-8.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="session")
def varied_sim(build_sim, varied_topology):
    return build_sim(topology=varied_topology)


@pytest.fixture(scope="session")
def varied_driver(varied_sim) -> Driver:
    return discover(str(varied_sim.root))


@pytest.fixture(scope="session")
def mig_driver(sim_driver) -> Driver:
    return discover(str(sim_driver.root))


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "allocations")


@pytest.fixture
def sleeper() -> Iterator[Callable[[], subprocess.Popen]]:
    """Start ``sleep`` processes to own allocations; all are killed and reaped afterwards."""
    started: List[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(["sleep", "600"])
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
