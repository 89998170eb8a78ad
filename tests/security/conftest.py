"""Fixtures of the security suite: the scoreboard, a per-test fake host, hostile containers.

``arena`` gives one test its world: a fake host tree (``host``) that hostile symlinks point
at, a busybox rootfs, a process in its own mount namespace standing for the container, and a
``HostWatch`` over the fake host, the simulated driver root and a few real host directories.
``arena.attack(case)`` runs configure and judges it (see ``tests.security.harness``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from nvcontainer.simulate import SimulatedDriver
from tests.security.harness import BOARD, Arena, Scoreboard

_STARTED = time.monotonic()


@pytest.fixture(scope="session")
def scoreboard() -> Iterator[Scoreboard]:
    yield BOARD


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("NVC_SECURITY_REPORT")
    if path and BOARD.families:
        BOARD.duration_s = round(time.monotonic() - _STARTED, 1)
        BOARD.write(path)


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the allocation registry of these tests out of /run/nvcontainer."""
    monkeypatch.setenv("NVC_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def arena_factory(tmp_path: Path, sim_driver: SimulatedDriver, scoreboard: Scoreboard,
                  request: pytest.FixtureRequest) -> Iterator[Any]:
    made: List[Arena] = []
    family = request.module.__name__.rsplit(".", 1)[-1].replace("test_", "")

    def make(name: str = "arena", sim: Optional[SimulatedDriver] = None) -> Arena:
        path = tmp_path / name
        path.mkdir()
        arena = Arena(path, sim or sim_driver, scoreboard, family)
        made.append(arena)
        return arena

    yield make
    for arena in made:
        arena.close()


@pytest.fixture
def arena(arena_factory: Any) -> Arena:
    return arena_factory()


