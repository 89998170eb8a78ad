"""docs/install.md is run as written (issue 19.12): every command of its ``sh`` blocks, in order, in
a private mount namespace whose /etc and /usr/local are overlays on this machine's, so nothing
outside the test's directory changes.  After each command the files it left are compared with
what the page says it leaves.  ``pip`` lines are checked by building the package's file tree
(the unit files must be in it)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Set

import pytest

if TYPE_CHECKING:
    from nvcontainer.simulate import SimulatedDriver

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "install.md"
SKIPPED = ("pip ", "systemctl ", "udevadm ")


def doc_commands() -> List[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.S)
    lines = [re.sub(r"\s+#.*$", "", line).strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def runnable() -> List[str]:
    return [c for c in doc_commands() if not c.startswith(SKIPPED)]


def test_the_page_has_the_commands_the_issue_asks_for() -> None:
    commands = doc_commands()
    for needed in ("pip install .", "nvc-ctk install-compat --prefix /usr/local/bin --uninstall",
                   "nvc-ctk runtime configure --runtime=crio", "nvc-ctk install-units",
                   "nvc-ctk install-units --uninstall", "python -m cli.manpage --output-dir /usr/local/share/man/man1",
                   "pip uninstall nvcontainer"):
        assert needed in commands, needed


def _sandbox(tmp: Path, commands: List[str]) -> Dict[str, Set[str]]:
    """Run ``commands`` in the sandbox; the files under the overlays' upper dirs after each (after
    its first run, for a command the page gives twice)."""
    uppers = {"etc": tmp / "etc-upper", "usr/local": tmp / "local-upper"}
    lines = ["set -e", f'nvc-ctk() {{ {shlex.quote(sys.executable)} -m cli.ctk "$@"; }}',
             f'python() {{ {shlex.quote(sys.executable)} "$@"; }}']
    for name, upper in uppers.items():
        work = tmp / f"{upper.name}-work"
        upper.mkdir()
        work.mkdir()
        lines.append(f"mount -t overlay overlay -o lowerdir=/{name},upperdir={upper},workdir={work} /{name}")
    for i, command in enumerate(commands):
        lines.append(f"echo '=== {i}'")
        lines.append(command + " >/dev/null 2>&1 || { echo \"failed: $?\"; " + command + "; exit 1; }")
        for name, upper in uppers.items():
            lines.append(f"(cd {upper} && find . \\( -type f -o -type l \\) | sed 's|^\\.|/{name}|')")
    script = tmp / "script.sh"
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", str(script)], capture_output=True,
                         text=True, cwd=str(REPO), timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    after: List[Set[str]] = []
    for line in out.stdout.splitlines():
        if line.startswith("=== "):
            after.append(set())
        elif after:
            after[-1].add(line)
    assert len(after) == len(commands)
    return {command: after[commands.index(command)] for command in commands}


def test_every_command_runs_and_leaves_what_the_page_says(tmp_path: Path) -> None:
    states = _sandbox(tmp_path, runnable())
    bin_names = {f"/usr/local/bin/{n}" for n in ("nvidia-container-cli", "nvidia-container-runtime",
                                                  "nvidia-container-runtime-hook")}
    state = states["nvc-ctk install-compat --prefix /usr/local/bin"]
    assert bin_names <= state
    assert not bin_names & states["nvc-ctk install-compat --prefix /usr/local/bin --uninstall"]
    assert "/etc/docker/daemon.json" in states["nvc-ctk runtime configure --runtime=docker"]
    assert "/etc/docker/daemon.json" not in states["rm /etc/docker/daemon.json"]
    containerd = states["nvc-ctk runtime configure --runtime=containerd"]
    assert {"/etc/containerd/conf.d/99-nvidia.toml", "/etc/containerd/config.toml"} <= containerd
    if os.path.exists("/etc/containerd/config.toml"):
        assert "/etc/containerd/config.toml.bak" in containerd, "backed up when it existed"
    assert "/etc/containerd/conf.d/99-nvidia.toml" not in states["rm /etc/containerd/conf.d/99-nvidia.toml"]
    crio = states["nvc-ctk runtime configure --runtime=crio"]
    assert [p for p in crio if p.startswith("/etc/crio/")] == ["/etc/crio/crio.conf.d/99-nvidia.toml"], \
        "nothing but the drop-in in crio.conf.d"
    assert not [p for p in states["rm /etc/crio/crio.conf.d/99-nvidia.toml"] if p.startswith("/etc/crio/")]
    units = {"/etc/systemd/system/nvidia-cdi-refresh.path", "/etc/systemd/system/nvidia-cdi-refresh.service",
             "/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env", "/etc/udev/rules.d/71-nvidia-dev-char.rules"}
    assert units <= states["nvc-ctk install-units"]
    assert not units & states["nvc-ctk install-units --uninstall"]
    pages = {"/usr/local/share/man/man1/nvc-cli.1", "/usr/local/share/man/man1/nvc-ctk.1"}
    assert pages <= states["python -m cli.manpage --output-dir /usr/local/share/man/man1"]
    assert not pages & states["rm /usr/local/share/man/man1/nvc-cli.1 /usr/local/share/man/man1/nvc-ctk.1"]
    assert not os.path.exists("/etc/crio/crio.conf.d/99-nvidia.toml"), "the machine itself is untouched"


@pytest.mark.parametrize("kept", ["nvcontainer/system/units/nvidia-cdi-refresh.service",
                                  "nvcontainer/system/units/nvidia-cdi-refresh.path",
                                  "nvcontainer/system/units/nvidia-cdi-refresh.env",
                                  "nvcontainer/system/units/71-nvidia-dev-char.rules",
                                  "cli/manpage.py"])
def test_pip_install_carries_the_unit_files(tmp_path: Path, kept: str) -> None:
    """What `pip install .` installs is setuptools' build of the package tree."""
    built = subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "egg_info",
                            f"--egg-base={tmp_path}", "build_py", f"--build-lib={tmp_path}/lib"],
                           capture_output=True, text=True, cwd=str(REPO))
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "lib" / kept).is_file()


def test_ctk_pages_simulated_driver_example(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    """docs/ctk.md's example, as written, DIR being a copy (cp -a: device nodes too) of a simulated root."""
    import json

    from tests.doctor.helpers import by_name

    text = (REPO / "docs" / "ctk.md").read_text()
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in text.splitlines() if line.startswith("    nvc-")]
    assert [line.split()[:2] for line in lines] == [["nvc-ctk", "system"], ["nvc-cli", "--root"],
                                                     ["nvc-ctk", "system"]]
    root = tmp_path / "dir"
    subprocess.run(["cp", "-a", str(sim_driver.root), str(root)], check=True)
    modules = {"nvc-ctk": "cli.ctk", "nvc-cli": "cli.main"}
    outputs = []
    for line in lines:
        prog, *args = line.replace("DIR", str(root)).split()
        outputs.append(subprocess.run([sys.executable, "-m", modules[prog], *args, *(["--json"] if prog == "nvc-cli"
                                                                                     else [])],
                                      capture_output=True, text=True, cwd=str(REPO)))
    assert outputs[0].returncode == 0 and os.readlink(root / "dev/char/195:0") == "/dev/nvidia0"
    assert by_name(json.loads(outputs[1].stdout), "dev-char-symlinks")["ok"] is True
    assert outputs[2].returncode == 0 and outputs[2].stdout.splitlines()[0].endswith("32-bit libraries found")
