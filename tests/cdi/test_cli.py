"""``nvc-ctk cdi generate|list`` as a user runs them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from nvcontainer.cdi.validate import problems


def ctk(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.ctk", *args], capture_output=True, text=True)


def test_generate_to_stdout_and_files_then_list(sim_driver_rhel, tmp_path: Path) -> None:
    root = str(sim_driver_rhel.root)
    out = ctk("cdi", "generate", "--driver-root", root, "--device-name-strategy", "uuid")
    assert out.returncode == 0, out.stderr
    document = yaml.safe_load(out.stdout)
    assert out.stdout.startswith("---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\n")
    assert problems(document) == []
    assert document["devices"][0]["name"] == sim_driver_rhel.topology.gpus[0].uuid
    specs = tmp_path / "cdi"
    target = specs / "nvidia.json"
    out = ctk("cdi", "generate", "--driver-root", root, "--dev-root", root, "--output", str(target),
              "--vendor", "example.com", "--class", "acc", "--no-all-device",
              "--device-name-strategy", "index", "--device-name-strategy", "type-index")
    assert out.returncode == 0 and out.stdout == "", out.stderr
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    document = json.loads(target.read_text())  # JSON because of the file name
    names = [d["name"] for d in document["devices"]]
    assert "all" not in names and names[:2] == ["0", "1"] and "gpu0" in names and "mig0:2" in names
    out = ctk("cdi", "list", "--spec-dir", str(specs))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"example.com/acc={n}" for n in names]
    out = ctk("cdi", "validate", str(target))
    assert out.returncode == 0 and out.stdout == f"{target}: valid\n"


def test_generate_errors_are_one_line(tmp_path: Path, sim_driver) -> None:
    out = ctk("cdi", "generate", "--driver-root", str(sim_driver.root), "--format", "toml")
    assert out.returncode == 1
    assert out.stderr == "nvc-ctk: cdi error: unsupported output format 'toml': use yaml or json\n"
    out = ctk("cdi", "generate", "--driver-root", str(sim_driver.root), "--vendor", "bad vendor")
    assert (out.returncode, out.stderr) == (1, "nvc-ctk: cdi error: invalid vendor 'bad vendor'\n")
    out = ctk("cdi", "generate", "--driver-root", str(sim_driver.root), "--device-name-strategy", "x")
    assert out.returncode == 1
    assert out.stderr == "nvc-ctk: cdi error: invalid device name strategy 'x': use one of index, uuid, type-index\n"
    out = ctk("cdi", "generate", "--driver-root", str(tmp_path))
    assert out.returncode == 1 and out.stderr.startswith("nvc-ctk: ") and "libnvidia-ml.so.1" in out.stderr
