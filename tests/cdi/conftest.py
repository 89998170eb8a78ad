"""Fixtures of the CDI tests: this checkout's nvc-cdi-hook, installed as a launcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cdi.helpers import write_hook_launcher


@pytest.fixture(scope="session")
def cdi_hook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hook_launcher(tmp_path_factory.mktemp("cdi-hook-bin"))
