"""Session fixtures shared by all test packages: simulated NVIDIA driver roots.

``sim_driver`` (dgx-a100, debian layout) and ``sim_driver_rhel`` (dgx-a100, rhel layout) are
built once per session; ``build_sim(preset=..., layout=..., topology=...)`` builds any other
root, cached per arguments.  All return ``nvcontainer.simulate.SimulatedDriver``; treat the
trees as read-only (copy one before changing it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

import pytest

from nvcontainer.simulate import SimulatedDriver, Topology, build

BuildSim = Callable[..., SimulatedDriver]


@pytest.fixture(scope="session")
def build_sim(tmp_path_factory: pytest.TempPathFactory) -> BuildSim:
    cache: Dict[Tuple[str, str, Optional[Union[Topology, str, Path]]], SimulatedDriver] = {}

    def factory(preset: str = "dgx-a100", layout: str = "debian",
                topology: Optional[Union[Topology, str, Path]] = None) -> SimulatedDriver:
        key = (preset, layout, topology)
        if key not in cache:
            directory = tmp_path_factory.mktemp(f"sim-{preset}-{layout}") / "root"
            cache[key] = build(directory, preset=preset, topology=topology, layout=layout)
        return cache[key]

    return factory


@pytest.fixture(scope="session")
def sim_driver(build_sim: BuildSim) -> SimulatedDriver:
    return build_sim()


@pytest.fixture(scope="session")
def sim_driver_rhel(build_sim: BuildSim) -> SimulatedDriver:
    return build_sim(layout="rhel")


@pytest.fixture(scope="session", autouse=True)
def _allocation_state_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the tests' GPU allocation records out of the host's /run/nvcontainer."""
    import os

    os.environ.setdefault("NVC_STATE_DIR", str(tmp_path_factory.mktemp("allocations")))
    # and their driver snapshots out of /run/nvcontainer/snapshots (made 0700 on first use)
    os.environ.setdefault("NVC_SNAPSHOT_DIR", str(tmp_path_factory.mktemp("snapshots") / "store"))
