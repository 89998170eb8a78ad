"""The driver snapshot (nvcontainer.snapshot): reused while every input is as it was, never when one
changed.  Each input discovery reads is changed in turn on a copy of a simulated driver root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import pytest

from nvcontainer.discovery import DriverOptions, discover
from nvcontainer.simulate import SimulatedDriver
from nvcontainer.snapshot import discover_cached, fingerprint, state, store

LIBDIR = "usr/lib/x86_64-linux-gnu"


@pytest.fixture
def snapdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "snapshots"
    monkeypatch.setenv(store.SNAPSHOT_DIR_ENV, str(path))
    return path


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory, sim_driver: SimulatedDriver) -> List[Path]:
    """Private copies of the simulated driver, made at once and aged together past the race margin."""
    base = tmp_path_factory.mktemp("roots")
    made = []
    for i in range(40):
        subprocess.run(["cp", "-a", str(sim_driver.root), str(base / str(i))], check=True)
        made.append(base / str(i))
    time.sleep(fingerprint.RACE_MARGIN_NS / 1e9 + 0.1)
    return made


@pytest.fixture
def root(copies: List[Path]) -> Path:
    """A private copy of the simulated driver, old enough that its files are not "racy"."""
    return copies.pop()


def _stored(root: Path) -> None:
    first = discover_cached(str(root))
    assert state(str(root)) == "fresh"
    assert discover_cached(str(root)) == first == discover(str(root))


def test_a_snapshot_is_stored_and_used(snapdir: Path, root: Path) -> None:
    assert state(str(root)) == "absent"
    _stored(root)
    files = list(snapdir.iterdir())
    assert len(files) == 1 and files[0].name.startswith("driver-")
    assert files[0].stat().st_mode & 0o777 == 0o600 and snapdir.stat().st_mode & 0o777 == 0o700
    inode = files[0].stat().st_ino
    discover_cached(str(root))
    assert files[0].stat().st_ino == inode  # used, not rewritten


def _rewrite(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)


def _touch(path: Path) -> None:
    os.utime(path, None)


def _sim_file(root: Path) -> Path:
    return next((root / "proc/driver/nvidia/gpus").glob("*/simulated"))


CHANGES: Dict[str, Callable[[Path], None]] = {
    "ld.so.cache rewritten": lambda r: _rewrite(r / "etc/ld.so.cache"),
    "a library replaced": lambda r: _rewrite(next((r / LIBDIR).glob("libnvidia-ml.so.*.*"))),
    "a library touched": lambda r: _touch(next((r / LIBDIR).glob("libcuda.so.*.*"))),
    "a library chmod'ed": lambda r: next((r / LIBDIR).glob("libnvidia-cfg.so.*.*")).chmod(0o600),
    "a rejected candidate library touched": lambda r: _touch(next((r / LIBDIR).glob("libnvidia-ml.so.1"))),
    "a library removed": lambda r: next((r / LIBDIR).glob("libnvidia-encode.so.*.*")).unlink(),
    "a device node removed": lambda r: (r / "dev/nvidia3").unlink(),
    "a device node with another minor": lambda r: ((r / "dev/nvidia2").unlink(),
                                                    os.mknod(r / "dev/nvidia2", 0o20666, os.makedev(195, 7))),
    "nvidia-uvm removed": lambda r: (r / "dev/nvidia-uvm").unlink(),
    "/proc/devices changed": lambda r: (r / "proc/devices").write_text(
        (r / "proc/devices").read_text().replace("nvidia-uvm", "nvidia-uvx")),
    "the driver version file changed": lambda r: (r / "proc/driver/nvidia/version").write_text(
        (r / "proc/driver/nvidia/version").read_text() + " "),
    "a GPU's proc dir gone": lambda r: shutil.rmtree(sorted((r / "proc/driver/nvidia/gpus").iterdir())[-1]),
    "a GPU's simulated state rewritten": lambda r: _sim_file(r).write_text(_sim_file(r).read_text() + "\n"),
    "a MIG compute instance gone": lambda r: shutil.rmtree(
        next((r / "proc/driver/nvidia/capabilities").glob("gpu*/mig/gi*/ci*"))),
    "a binary removed from PATH": lambda r: (r / "usr/bin/nvidia-smi").unlink(),
    "a binary added to a PATH dir": lambda r: shutil.copy(r / "usr/bin/nvidia-smi", r / "usr/local/bin/nvidia-smi"),
    "the persistenced socket gone": lambda r: (r / "var/run/nvidia-persistenced/socket").unlink(),
    "a firmware file removed": lambda r: next((r / "lib/firmware/nvidia").glob("*/gsp*.bin")).unlink(),
    "the MPS pipe dir removed or created": lambda r: (r / "tmp/nvidia-mps").rmdir() if (r / "tmp/nvidia-mps").exists()
    else (r / "tmp/nvidia-mps").mkdir(parents=True),
    "mig-minors changed": lambda r: _touch(r / "proc/driver/nvidia-caps/mig-minors"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_input_makes_the_snapshot_stale(snapdir: Path, root: Path, change: str) -> None:
    _stored(root)
    (root / "usr/local/bin").mkdir(parents=True, exist_ok=True) if "PATH dir" in change else None
    time.sleep(0.01)
    CHANGES[change](root)
    assert state(str(root)) == "stale", change
    fresh = discover(str(root))
    assert discover_cached(str(root)) == fresh  # never the old one


def test_the_key_separates_roots_options_and_environment(snapdir: Path, root: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _stored(root)
    assert state(str(root), options=DriverOptions(no_persistenced=True)) == "absent"
    assert discover_cached(str(root), options=DriverOptions(no_persistenced=True)) == \
        discover(str(root), options=DriverOptions(no_persistenced=True))
    monkeypatch.setenv("PATH", "/usr/bin")
    assert state(str(root)) == "absent"
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", "/tmp/elsewhere")
    assert state(str(root)) == "absent"


@pytest.mark.parametrize("spoil", ["group-writable file", "world-readable file", "group-writable directory",
                                   "symlinked file", "garbage", "another uid"])
def test_a_snapshot_that_is_not_ours_is_never_read(snapdir: Path, root: Path, spoil: str) -> None:
    _stored(root)
    path = next(snapdir.iterdir())
    if spoil == "group-writable file":
        path.chmod(0o620)
    elif spoil == "world-readable file":
        path.chmod(0o604)
    elif spoil == "group-writable directory":
        snapdir.chmod(0o770)
    elif spoil == "symlinked file":
        real = snapdir.parent / "elsewhere.json"
        path.rename(real)
        path.symlink_to(real)
    elif spoil == "garbage":
        path.write_text("{not json")
    else:
        os.chown(path, 1234, 1234)
    assert state(str(root)) in ("absent", "stale")
    assert discover_cached(str(root)) == discover(str(root))


def test_a_tampered_driver_in_a_snapshot_with_a_wrong_fingerprint_is_refused(snapdir: Path, root: Path) -> None:
    import json

    _stored(root)
    path = next(snapdir.iterdir())
    doc = json.loads(path.read_text())
    doc["values"][0] = "forged"
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    assert state(str(root)) == "stale"


def test_a_change_during_the_build_is_not_stored(snapdir: Path, tmp_path: Path, sim_driver: SimulatedDriver) -> None:
    fresh_copy = tmp_path / "young"
    subprocess.run(["cp", "-a", str(sim_driver.root), str(fresh_copy)], check=True)  # ctimes: now
    assert discover_cached(str(fresh_copy)) == discover(str(fresh_copy))
    assert state(str(fresh_copy)) == "absent"


def test_snapshots_off(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv(store.SNAPSHOT_DIR_ENV, "off")
    assert discover_cached(str(root)) == discover(str(root))
    assert state(str(root)) == "absent"


def test_not_root_keeps_no_snapshot(snapdir: Path, root: Path) -> None:
    """Another user's process neither reads nor writes the store."""
    repo = str(Path(__file__).parents[1])
    code = (f"import os, sys; sys.path.insert(0, {repo!r}); os.setuid(65534); "
            "from nvcontainer.snapshot import store; print(store.directory())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, store.SNAPSHOT_DIR_ENV: str(snapdir)})
    assert out.stdout.strip() == "None", out.stderr
