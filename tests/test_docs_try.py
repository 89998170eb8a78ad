"""The README's "what to try next" and the quickstart's simulated-driver steps are run as written
(issue 19.10-11): each ``sh`` block line by line, in a private mount namespace where
``/var/run/cdi`` (and, for the quickstart's ``/tmp/...`` paths, ``/tmp``) are fresh tmpfs, so the
host keeps no spec and no file.  ``nvc-cli``/``nvc-ctk``/``python`` are this checkout's; podman
and runc are the machine's.  The README's Python block runs too, and a venv install puts the
programs where the quickstart says.  (simulate.md's docker and containerd steps are what
``tests/e2e/test_engines.py`` does with its own daemons.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List

import pytest

from tests.containers import mountinfo

if TYPE_CHECKING:
    from nvcontainer.simulate import SimulatedDriver

REPO = Path(__file__).resolve().parents[1]
PY = shlex.quote(sys.executable)
PRELUDE = [
    "set -e",
    f"export PYTHONPATH={shlex.quote(str(REPO))}",
    f'nvc-cli() {{ {PY} -m cli.main "$@"; }}',
    f'nvc-ctk() {{ {PY} -m cli.ctk "$@"; }}',
    f'python() {{ {PY} "$@"; }}',
]


def section(doc: Path, heading: str) -> str:
    text = doc.read_text()
    start = text.index(heading)
    following = text.find("\n## ", start + len(heading))
    return text[start:following if following != -1 else len(text)]


def sh_lines(text: str) -> List[str]:
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    lines = [re.sub(r"\s+#\s.*$", "", line).strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def run_in_sandbox(commands: List[str], cwd: Path, *, private_tmp: bool) -> List[str]:
    """Each command's output, separated; the first failure stops with its output."""
    os.makedirs("/run/cdi", exist_ok=True)  # the mount point (podman reads it; an empty dir is its default)
    lines = list(PRELUDE)
    lines.append("mount -t tmpfs -o mode=0755 tmpfs /run/cdi")
    if private_tmp:
        lines.append("mount -t tmpfs -o mode=1777 tmpfs /tmp")
    for i, command in enumerate(commands):
        lines.append(f"echo '=== {i}'")
        lines.append(command)
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-s"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, cwd=str(cwd), timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    parts = re.split(r"^=== \d+\n", out.stdout, flags=re.M)
    assert len(parts) == len(commands) + 1, out.stdout
    return parts[1:]


def host_mounts() -> List[str]:
    """The host table, without podman's own store mounts (they come and go with podman)."""
    return [m for m in mountinfo() if not m.split()[1].startswith("/var/lib/containers/storage")]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``./demo.sh`` leaves in a checkout: ``.sim/driver`` and ``.sim/bundle``."""
    work = tmp_path_factory.mktemp("readme")
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py")], capture_output=True, text=True,
                         cwd=str(work), timeout=300,
                         env={**os.environ, "NVC_DEMO_DIR": str(work / ".sim"), "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "GPU 1: NVIDIA A100-SXM4-40GB" in out.stdout, "the demo's container saw its second GPU"
    return work


def test_readme_what_to_try_next_runs_as_written(demo_dir: Path, sim_driver: SimulatedDriver) -> None:
    commands = sh_lines(section(REPO / "README.md", "## What to try next"))
    assert any(c.startswith("podman run ") for c in commands), "the README shows a real container"
    before = host_mounts()
    outputs = dict(zip(commands, run_in_sandbox(commands, demo_dir, private_tmp=False)))
    gpus = sim_driver.topology.gpus  # the default preset, as the demo and the page build it
    info = next(v for k, v in outputs.items() if k.endswith(" info"))
    assert f"GPU UUID:       {gpus[0].uuid}" in info and f"GPU UUID:       {gpus[7].uuid}" in info
    listed = next(v for k, v in outputs.items() if " list " in k)
    assert "/dev/nvidia0" in listed and "/dev/nvidia1" not in listed
    assert "nvidia.com/gpu=1" in next(v for k, v in outputs.items() if k.startswith("nvc-ctk cdi list"))
    container = next(v for k, v in outputs.items() if k.startswith("podman run "))
    assert container.splitlines() == [f"GPU 0: {gpus[1].name} (UUID: {gpus[1].uuid})"], "GPU 1, alone"
    assert host_mounts() == before


def test_readme_python_block_runs(demo_dir: Path) -> None:
    text = section(REPO / "README.md", "## As a library")
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(demo_dir),
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines[:8]] == [str(i) for i in range(8)], "eight simulated GPUs"
    mounts = lines[8].split()
    assert int(mounts[0]) > 5 and mounts[-1].startswith(str(demo_dir / ".sim" / "driver") + "/"), lines[8]


def test_quickstart_simulated_cdi_steps_run_as_written(tmp_path: Path, sim_driver: SimulatedDriver) -> None:
    commands = sh_lines(section(REPO / "docs" / "quickstart.md", "## A simulated driver with CDI"))
    assert commands[0] == "python -m nvcontainer.simulate /tmp/sim", "the page starts from nothing"
    before = host_mounts()
    outputs = run_in_sandbox(commands, tmp_path, private_tmp=True)
    gpus = sim_driver.topology.gpus  # the default preset, as the demo and the page build it
    runs = [out for command, out in zip(commands, outputs) if command.startswith("podman run ")]
    assert runs[0].splitlines() == [f"GPU 0: {gpus[1].name} (UUID: {gpus[1].uuid})"]
    assert {f"nvidia{i}" for i in range(8)} | {"nvidiactl", "nvidia-uvm"} <= set(runs[1].split())
    assert host_mounts() == before
    assert not Path("/tmp/sim").exists() and not Path("/var/run/cdi/sim.yaml").exists(), "nothing left on the host"


def test_a_venv_install_puts_the_programs_where_the_quickstart_says(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                                "--disable-pip-version-check", str(REPO)],
                               capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert installed.returncode == 0, installed.stderr[-2000:]
    page = (REPO / "docs" / "quickstart.md").read_text()
    names = re.findall(r"`(nvc-[a-z-]+)`", page.split("## Docker")[0])
    assert {"nvc-cli", "nvc-ctk", "nvc-container-runtime", "nvc-container-runtime-hook", "nvc-cdi-hook",
            "nvc-docker"} <= set(names)
    env = {"PATH": f"{venv / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path)}
    for name in set(names):
        found = subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True, text=True, env=env)
        assert found.stdout.strip() == str(venv / "bin" / name), name
    for name in set(names):  # our scripts (cli/bin), their first line rewritten by pip
        first = (venv / "bin" / name).read_text().splitlines()[0]
        assert first.startswith(f"#!{venv}/bin/python"), (name, first)
    ran = subprocess.run([str(venv / "bin" / "nvc-ctk"), "--version"], capture_output=True, text=True, env=env)
    assert ran.returncode == 0 and ran.stdout.startswith("nvc-ctk version "), ran.stderr
    prefix = tmp_path / "compat"
    made = subprocess.run([str(venv / "bin" / "nvc-ctk"), "install-compat", f"--prefix={prefix}"],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert made.returncode == 0, made.stderr
    assert os.readlink(prefix / "nvidia-container-cli") == str(venv / "bin" / "nvc-cli")
    assert str(venv) in (prefix / "nvidia-container-runtime").read_text(), "the front execs the venv's shim"
