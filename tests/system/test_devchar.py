"""``nvc-ctk system create-dev-char-symlinks`` and ``create-device-nodes`` (issues 18.16, 19.7).

NVIDIA's behaviour, as data (toolkit 1.20, cmd/nvidia-ctk/system/): a link per node named
``MAJOR:MINOR`` pointing at the node's path (``195:0 -> /dev/nvidia0``); existing nodes are
``/dev/nvidia*`` then ``/dev/nvidia-caps/nvidia-*``, each in name order, without nvidia-fs*,
nvidia-nvswitch*, nvidia-nvlink*; ``--create-all`` lists nvidia-modeset, nvidiactl, nvidia-uvm,
nvidia-uvm-tools, the MIG config/monitor caps, then per GPU ``/dev/nvidiaN`` and its GI/CI caps
(all.go); the control nodes are made as ``mknod --mode=0666 PATH c MAJOR MINOR`` (mknod.go).
The doctor's dev-char check, failing before and passing after, is the proof that the links work.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import List

from nvcontainer.simulate import SimulatedDriver
from tests.doctor.helpers import by_name, dev_root_copy, isolated

REPO = Path(__file__).resolve().parents[2]


def ctk(*args: str, env: dict = None) -> subprocess.CompletedProcess[str]:  # type: ignore[assignment]
    return subprocess.run([sys.executable, "-m", "cli.ctk", "system", *args], capture_output=True, text=True,
                          cwd=str(REPO), env=env)


def links(directory: Path) -> List[str]:
    return sorted(f"{name} -> {os.readlink(directory / name)}" for name in os.listdir(directory)
                  if os.path.islink(directory / name))


def test_links_to_existing_nodes_and_the_doctor_agrees(sim_driver: SimulatedDriver, tmp_path: Path) -> None:
    root = dev_root_copy(str(sim_driver.root), tmp_path / "root", char_links=False)
    before = by_name(json.loads(isolated(tmp_path, str(sim_driver.root), "--json", dev_root=root).stdout),
                     "dev-char-symlinks")
    assert before["ok"] is False and "nvc-ctk system create-dev-char-symlinks" in before["fix"]
    out = ctk("create-dev-char-symlinks", f"--driver-root={root}")
    assert out.returncode == 0, out.stderr
    # NVIDIA's order: the /dev/nvidia* glob, name order ('-' < digits < 'c').
    names = ["nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools"] + [f"nvidia{i}" for i in range(8)] + ["nvidiactl"]
    numbers = ["195:254", "510:0", "510:1"] + [f"195:{i}" for i in range(8)] + ["195:255"]
    assert out.stdout.splitlines() == [f"Creating link {root}/dev/char/{n} => /dev/{name}"
                                       for n, name in zip(numbers, names)]
    assert links(Path(root) / "dev/char") == sorted(f"{n} -> /dev/{name}" for n, name in zip(numbers, names))
    after = by_name(json.loads(isolated(tmp_path, str(sim_driver.root), "--json", dev_root=root).stdout),
                    "dev-char-symlinks")
    assert after["ok"] is True, after
    again = ctk("create-dev-char-symlinks", f"--driver-root={root}")
    assert again.returncode == 0 and all(line.startswith("Keeping link ") for line in again.stdout.splitlines())


def _mknod(path: Path, major: int, minor: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))


def test_blocked_nodes_caps_and_what_is_there_already(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    _mknod(dev / "nvidia0", 195, 0)
    _mknod(dev / "nvidia1", 195, 1)
    _mknod(dev / "nvidiactl", 195, 255)
    _mknod(dev / "nvidia-nvswitch0", 241, 0)
    _mknod(dev / "nvidia-nvlink", 242, 0)
    _mknod(dev / "nvidia-fs0", 243, 0)
    _mknod(dev / "nvidia-caps" / "nvidia-cap2", 511, 2)
    (dev / "char").mkdir()
    os.symlink("../nvidia0", dev / "char" / "195:0")  # as udev makes them: kept
    os.symlink("/dev/nvidia9", dev / "char" / "195:1")  # stale: replaced
    (dev / "char" / "195:255").write_text("")  # not a link: left alone
    out = ctk("create-dev-char-symlinks", f"--driver-root={tmp_path}")
    assert out.returncode == 0, out.stderr
    char = f"{tmp_path}/dev/char"
    assert out.stdout.splitlines() == [
        f"Keeping link {char}/195:0 => ../nvidia0",
        f"Replacing link {char}/195:1 => /dev/nvidia1 (was => /dev/nvidia9)",
        f"Creating link {char}/511:2 => /dev/nvidia-caps/nvidia-cap2",
    ]
    assert out.stderr == f"nvc-ctk: warning: {char}/195:255 exists and is not a symbolic link: left as it is\n"
    assert links(dev / "char")[:2] == ["195:0 -> ../nvidia0", "195:1 -> /dev/nvidia1"]
    assert (dev / "char" / "195:255").read_text() == ""


def test_a_link_outside_the_root_points_at_the_host_path(tmp_path: Path) -> None:
    _mknod(tmp_path / "root/dev/nvidia0", 195, 0)
    out = ctk("create-dev-char-symlinks", f"--driver-root={tmp_path}/root", f"--dev-char-path={tmp_path}/char")
    assert out.returncode == 0, out.stderr
    assert links(tmp_path / "char") == [f"195:0 -> {tmp_path}/root/dev/nvidia0"]
    assert os.stat(tmp_path / "char/195:0").st_rdev == os.makedev(195, 0)


def _possible_root(root: Path, gpus: int) -> None:
    """A driver root with the files --create-all reads: /proc/devices, mig-minors, PCI devices."""
    (root / "proc/driver/nvidia-caps").mkdir(parents=True)
    (root / "proc/devices").write_text("Character devices:\n  1 mem\n195 nvidia-frontend\n508 nvidia-uvm\n"
                                       "509 nvidia-caps\n\nBlock devices:\n  8 sd\n")
    (root / "proc/driver/nvidia-caps/mig-minors").write_text(
        "config 1\nmonitor 2\ngpu0/gi0/access 3\ngpu0/gi0/ci0/access 4\ngpu0/gi1/access 12\n"
        "gpu1/gi0/access 30\ngpu1/gi2/access 40\n")
    pci = root / "sys/bus/pci/devices"
    for i in range(gpus):
        device = pci / f"0000:{i + 1:02x}:00.0"
        device.mkdir(parents=True)
        (device / "vendor").write_text("0x10de\n")
        (device / "class").write_text("0x030200\n")
    other = pci / "0000:00:1f.0"
    other.mkdir(parents=True)
    (other / "vendor").write_text("0x8086\n")
    (other / "class").write_text("0x060100\n")


def test_create_all_lists_every_possible_node(tmp_path: Path) -> None:
    _possible_root(tmp_path, gpus=2)
    out = ctk("create-dev-char-symlinks", f"--driver-root={tmp_path}", "--create-all", "--dry-run")
    assert out.returncode == 0, out.stderr
    expected = [("195:254", "nvidia-modeset"), ("195:255", "nvidiactl"), ("508:0", "nvidia-uvm"),
                ("508:1", "nvidia-uvm-tools"), ("509:1", "nvidia-caps/nvidia-cap1"),
                ("509:2", "nvidia-caps/nvidia-cap2"), ("195:0", "nvidia0"), ("509:3", "nvidia-caps/nvidia-cap3"),
                ("509:4", "nvidia-caps/nvidia-cap4"), ("509:12", "nvidia-caps/nvidia-cap12"), ("195:1", "nvidia1"),
                ("509:30", "nvidia-caps/nvidia-cap30")]  # gpu1/gi1 missing: gpu1/gi2 is not reached
    assert out.stdout.splitlines() == [f"Would create link {tmp_path}/dev/char/{n} => /dev/{p}" for n, p in expected]
    assert not (tmp_path / "dev").exists(), "a dry run changes nothing"


def test_create_all_with_device_nodes(tmp_path: Path) -> None:
    _possible_root(tmp_path, gpus=1)
    out = ctk("create-dev-char-symlinks", f"--driver-root={tmp_path}", "--create-all", "--create-device-nodes")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:4] == [f"Running: mknod --mode=0666 {tmp_path}/dev/{name} c {major} {minor}" for name, major, minor in
                         (("nvidia-modeset", 195, 254), ("nvidiactl", 195, 255), ("nvidia-uvm", 508, 0),
                          ("nvidia-uvm-tools", 508, 1))]
    ctl = os.stat(tmp_path / "dev/nvidiactl")
    assert stat.S_ISCHR(ctl.st_mode) and ctl.st_rdev == os.makedev(195, 255) and ctl.st_mode & 0o777 == 0o666
    assert os.readlink(tmp_path / "dev/char/195:255") == "/dev/nvidiactl"
    again = ctk("create-device-nodes", f"--root={tmp_path}", "--control-devices")
    assert again.returncode == 0 and f"Skipping: {tmp_path}/dev/nvidiactl already exists" in again.stdout


def test_flags_that_need_create_all_are_ignored_with_a_warning(tmp_path: Path) -> None:
    out = ctk("create-dev-char-symlinks", f"--driver-root={tmp_path}", "--create-device-nodes")
    assert out.returncode == 0
    assert out.stderr == ("nvc-ctk: warning: --create-device-nodes is only applicable when --create-all is set; "
                          "ignoring\n")
    assert out.stdout == f"No NVIDIA devices found in {tmp_path}\n"


def test_environment_variables_as_nvidia_ctk(tmp_path: Path) -> None:
    _possible_root(tmp_path, gpus=1)
    env = {**os.environ, "NVIDIA_DRIVER_ROOT": str(tmp_path), "CREATE_ALL": "true", "DRY_RUN": "true",
           "DEV_CHAR_PATH": str(tmp_path / "c")}
    out = ctk("create-dev-char-symlinks", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == f"Would create link {tmp_path}/c/195:254 => /dev/nvidia-modeset"


def test_a_missing_major_is_one_error_line_and_nothing_is_made(tmp_path: Path) -> None:
    _possible_root(tmp_path, gpus=1)
    (tmp_path / "proc/devices").write_text("Character devices:\n195 nvidia\n509 nvidia-caps\n")
    out = ctk("create-dev-char-symlinks", f"--driver-root={tmp_path}", "--create-all")
    assert out.returncode == 1
    assert out.stderr == (f"nvc-ctk: system error: missing required device major nvidia-uvm in "
                          f"{tmp_path}/proc/devices\n")
    assert not (tmp_path / "dev").exists()


def test_kernel_modules_are_loaded_with_modprobe(tmp_path: Path) -> None:
    dry = ctk("create-device-nodes", f"--root={tmp_path}", "--load-kernel-modules", "--dry-run")
    assert dry.stdout.splitlines() == [f"Would run: chroot {tmp_path} modprobe {m}"
                                       for m in ("nvidia", "nvidia-uvm", "nvidia-modeset")]
    real = ctk("create-device-nodes", f"--root={tmp_path}", "--load-kernel-modules")
    assert real.returncode == 1 and len(real.stderr.splitlines()) == 1
    assert real.stderr.startswith(f"nvc-ctk: system error: chroot {tmp_path} modprobe nvidia failed: ")
