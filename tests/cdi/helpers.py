"""Shared pieces of the CDI tests: discovering a simulated driver, walking a spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List

from nvcontainer.discovery import discover
from nvcontainer.driver import Driver
from nvcontainer.simulate import SimulatedDriver

HOOK_ENV = ["NVIDIA_CTK_DEBUG=false"]


def driver_of(sim: SimulatedDriver) -> Driver:
    return discover(str(sim.root))


def device(spec: Dict[str, Any], name: str) -> Dict[str, Any]:
    [found] = [d for d in spec["devices"] if d["name"] == name]
    return found["containerEdits"]


def all_edits(spec: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    yield spec["containerEdits"]
    for d in spec["devices"]:
        yield d["containerEdits"]


def node_paths(edits: Dict[str, Any]) -> List[str]:
    return [n["path"] for n in edits.get("deviceNodes", [])]


def mount_targets(edits: Dict[str, Any]) -> List[str]:
    return [m["containerPath"] for m in edits.get("mounts", [])]


def write_hook_launcher(directory: Path) -> Path:
    """This checkout's nvc-cdi-hook as an installed ``-I -S`` launcher (the console script on PATH
    runs /work/main's code)."""
    from nvcontainer.launchers import write_launcher

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "nvc-cdi-hook"
    write_launcher(str(path), name="nvc-cdi-hook", kind="cdi-hook")
    return path
