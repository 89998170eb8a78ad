"""``nvc-cli info`` and ``nvc-cli list`` on simulated MIG roots agree with what nvidia-ml-py's walk of
the same root finds: the same MIG devices, and for each its access files and nvidia-caps nodes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from nvcontainer.simulate import SimulatedDriver
from tests.simulate.helpers import walk_mig

CAPS = "/proc/driver/nvidia/capabilities"


def nvc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, check=False)


def _device_file_minor(root: Path, proc_path: str) -> int:
    fields = dict(line.split(": ", 1) for line in (root / proc_path.lstrip("/")).read_text().splitlines())
    return int(fields["DeviceFileMinor"])


def _cap_lines(driver: SimulatedDriver, minor: int, mig: Dict[str, Any]) -> List[str]:
    gi_path = f"{CAPS}/gpu{minor}/mig/gi{mig['gi']}/access"
    ci_path = f"{CAPS}/gpu{minor}/mig/gi{mig['gi']}/ci{mig['ci']}/access"
    # nvidia-container-cli's order: both access files, then both cap nodes.
    return [gi_path, ci_path, f"/dev/nvidia-caps/nvidia-cap{_device_file_minor(driver.root, gi_path)}",
            f"/dev/nvidia-caps/nvidia-cap{_device_file_minor(driver.root, ci_path)}"]


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100-mig"])
def test_info_json_agrees_with_the_walk(build_sim, preset: str) -> None:  # type: ignore[no-untyped-def]
    driver = build_sim(preset=preset)
    walked = walk_mig(driver, driver.lib_dir)["gpus"]
    out = nvc("--root", str(driver.root), "info", "--json")
    assert out.returncode == 0, out.stderr
    gpus = json.loads(out.stdout)["gpus"]
    assert [[(m["uuid"], m["name"], m["gpu_instance_id"], m["compute_instance_id"], m["memory_total"])
             for m in gpu["migs"]] for gpu in gpus] == [
        [(m["uuid"], m["name"], m["gi"], m["ci"], m["memory_total"]) for m in w["migs"] if m["rc"] == 0]
        for w in walked]
    assert [(gpu["minor"], gpu["mig_enabled"]) for gpu in gpus] == [
        (w["minor"], w["mig_mode"] == [0, [1, 1]]) for w in walked]
    assert sum(len(g["migs"]) for g in gpus) == sum(len(g.migs) for g in driver.topology.gpus) > 0


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100-mig"])
def test_list_agrees_with_the_walk(build_sim, preset: str) -> None:  # type: ignore[no-untyped-def]
    driver = build_sim(preset=preset)
    walk_gpus = walk_mig(driver, driver.lib_dir)["gpus"]
    lines = nvc("--root", str(driver.root), "list").stdout.splitlines()
    listed = [line for line in lines if line.startswith((CAPS, "/dev/nvidia-caps/"))]
    expected = [line for gpu in walk_gpus for mig in gpu["migs"] if mig["rc"] == 0
                for line in _cap_lines(driver, gpu["minor"], mig)]
    assert listed == expected
    for gpu in walk_gpus:
        for mig in (m for m in gpu["migs"] if m["rc"] == 0):
            one = nvc("--root", str(driver.root), "list", "--device", mig["uuid"]).stdout.splitlines()
            assert [line for line in one if line.startswith((CAPS, "/dev/nvidia-caps/"))] == _cap_lines(
                driver, gpu["minor"], mig)
            assert f"/dev/nvidia{gpu['minor']}" in one
