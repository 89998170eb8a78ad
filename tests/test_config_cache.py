"""config.toml through the snapshot store (nvcontainer.config.cached): parsed once per content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvcontainer.config.cached import load_config_cached
from nvcontainer.config.loading import load_config
from nvcontainer.errors import InputError
from nvcontainer.snapshot import store


@pytest.fixture
def snapdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "snapshots"
    monkeypatch.setenv(store.SNAPSHOT_DIR_ENV, str(path))
    return path


TEXT = """disable-require = true
[nvidia-container-cli]
root = "/run/driver"
environment = ["A=1", "B=2"]
[nvidia-container-runtime]
runtimes = ["crun", "runc"]
[nvidia-container-runtime.modes.cdi]
annotation-prefixes = ["x.example/"]
"""


def test_the_cache_gives_what_parsing_gives(snapdir: Path, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(TEXT)
    first = load_config_cached(str(path))
    assert first == load_config(str(path))
    entry = json.loads(next(snapdir.iterdir()).read_text())
    assert entry["text"] == TEXT and entry["path"] == str(path)
    second = load_config_cached(str(path))
    assert second == first and second.nvidia_container_cli.environment == ("A=1", "B=2")
    assert isinstance(second.nvidia_container_runtime.runtimes, tuple)


def test_an_edit_is_seen_at_once(snapdir: Path, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(TEXT)
    load_config_cached(str(path))
    path.write_text(TEXT.replace("/run/driver", "/run/other"))  # same size, same second
    assert load_config_cached(str(path)).nvidia_container_cli.root == "/run/other"


def test_a_stored_entry_for_other_text_is_not_used(snapdir: Path, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(TEXT)
    load_config_cached(str(path))
    entry_file = next(snapdir.iterdir())
    entry = json.loads(entry_file.read_text())
    entry["config"]["disable_require"] = False  # a forged result for the same text would be used...
    entry["text"] = "something else"  # ...but not for other text
    entry_file.write_text(json.dumps(entry))
    assert load_config_cached(str(path)).disable_require is True


def test_errors_are_those_of_the_parser(snapdir: Path, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[nvidia-container-cli\n")
    with pytest.raises(InputError, match="invalid TOML"):
        load_config_cached(str(path))
    with pytest.raises(InputError, match="config file not found"):
        load_config_cached(str(tmp_path / "missing.toml"), required=True)
    assert load_config_cached(str(tmp_path / "missing.toml"), required=False) == load_config(
        str(tmp_path / "missing.toml"), required=False)
