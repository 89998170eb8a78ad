"""nvc-cli next to NVIDIA's nvidia-container-cli 1.17 run against the same simulated driver root
(the default ``sim_driver``: dgx-a100, Debian layout).  What NVIDIA's tool printed or wrote is
written down here as data; ours is compared with it (issue 18, points 3, 4 and 6)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from tests.containers import NVC, NamespaceProcess, make_rootfs

NVIDIA = "nvidia-container-cli"

# --- point 3: `list -b -i --no-persistenced` (the binary stays, only the socket goes) ---------------
NVIDIA_LIST_BINS_IPCS_NO_PERSISTENCED = """\
/usr/bin/nvidia-smi
/usr/bin/nvidia-debugdump
/usr/bin/nvidia-persistenced
/usr/bin/nvidia-cuda-mps-control
/usr/bin/nvidia-cuda-mps-server
/tmp/nvidia-mps
"""
NVIDIA_LIST_BINS_IPCS = """\
/usr/bin/nvidia-smi
/usr/bin/nvidia-debugdump
/usr/bin/nvidia-persistenced
/usr/bin/nvidia-cuda-mps-control
/usr/bin/nvidia-cuda-mps-server
/var/run/nvidia-persistenced/socket
/tmp/nvidia-mps
"""

# --- point 4: `configure --graphics --device=0,1,2`: the application profile and the tmpfs -----------
NVIDIA_APP_PROFILE_DEVICES_0_2 = (
    b'{ "profiles": [{"name": "_container_", "settings": ["EGLVisibleDGPUDevices", 0x7]}], '
    b'"rules": [{"pattern": [], "profile": "_container_"}]}')
NVIDIA_APP_PROFILE_MODE = 0o555
NVIDIA_TMPFS_MOUNT_OPTIONS = ["rw", "nosuid", "nodev", "noexec"]  # per-mount options, then relatime
NVIDIA_TMPFS_SUPER_OPTION = "mode=555"
APP_PROFILE_DIR = "etc/nvidia/nvidia-application-profiles-rc.d"
PROC_DRIVER = "proc/driver/nvidia"

# --- point 6: messages (exit status 1, nothing on stdout) ----------------------------------------
NVIDIA_UNKNOWN_OPTION = [
    "nvidia-container-cli: unrecognized option '--frobnicate'",
    "Try `nvidia-container-cli --help' or `nvidia-container-cli --usage' for more information.",
]
NVIDIA_UNKNOWN_INFO_OPTION = [
    "nvidia-container-cli info: unrecognized option '--frobnicate'",
    "Try `nvidia-container-cli info --help' or `nvidia-container-cli info --usage' for more information.",
]
NVIDIA_UNKNOWN_SHORT_LIST_OPTION = [
    "nvidia-container-cli list: invalid option -- 'z'",
    "Try `nvidia-container-cli list --help' or `nvidia-container-cli list --usage' for more information.",
]
NVIDIA_MISSING_ROOTFS = "nvidia-container-cli: container error: open failed: {rootfs}: no such file or directory"
NVIDIA_MISSING_ROOT = "nvidia-container-cli: initialization error: change root failed: no such file or directory"
NVIDIA_MISSING_LDCACHE = ("nvidia-container-cli: detection error: open failed: {root}/nonexistent: "
                          "no such file or directory")


def ours(line: str) -> str:
    return line.replace(NVIDIA, "nvc-cli")


def nvc(*args: str) -> subprocess.CompletedProcess:
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if k != "CUDA_MPS_PIPE_DIRECTORY"}
    return subprocess.run([*NVC, *args], capture_output=True, text=True, env=env,
                          preexec_fn=lambda: os.umask(0o022))  # NVIDIA's file modes are less the umask


def test_no_persistenced_keeps_the_program(sim_driver) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    out = nvc("--root", root, "list", "-b", "-i", "--no-persistenced")
    assert (out.returncode, out.stdout) == (0, NVIDIA_LIST_BINS_IPCS_NO_PERSISTENCED), out.stderr
    out = nvc("--root", root, "list", "-b", "-i")
    assert (out.returncode, out.stdout) == (0, NVIDIA_LIST_BINS_IPCS), out.stderr


@pytest.fixture
def nsproc():  # type: ignore[no-untyped-def]
    p = NamespaceProcess()
    yield p
    p.close()


def _mount_line(nsproc: NamespaceProcess, target: str) -> List[str]:
    lines = nsproc.run("cat", "/proc/self/mountinfo").stdout.splitlines()
    found = [line.split() for line in lines if line.split()[4] == target]
    assert found, f"nothing mounted on {target}"
    return found[-1]


def test_graphics_profile_and_tmpfs_are_nvidias(sim_driver, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    rootfs = make_rootfs(tmp_path / "rootfs", glibc=True)
    out = nvc("--root", root, "configure", f"--pid={nsproc.pid}", "--device=0,1,2", "--graphics", "--utility",
              str(rootfs))
    assert out.returncode == 0, out.stderr
    profile = f"{rootfs}/{APP_PROFILE_DIR}/10-container.conf"
    data = subprocess.run(["nsenter", "-t", str(nsproc.pid), "-m", "cat", profile], capture_output=True).stdout
    assert data == NVIDIA_APP_PROFILE_DEVICES_0_2 and len(data) == 138
    # NVIDIA's own reader (update_app_profile): the mask is the hex number after the first "0x"
    assert int(re.match(rb"[0-9a-fA-F]+", data[data.index(b"0x") + 2:]).group(), 16) == 0b111  # type: ignore[union-attr]
    mode = nsproc.run("stat", "-c", "%a", profile).stdout.strip()
    assert int(mode, 8) == NVIDIA_APP_PROFILE_MODE
    for target in (f"{rootfs}/{APP_PROFILE_DIR}", f"{rootfs}/{PROC_DRIVER}"):
        fields = _mount_line(nsproc, target)
        assert fields[5].split(",")[:4] == NVIDIA_TMPFS_MOUNT_OPTIONS, fields
        super_options = fields[fields.index("-") + 3].split(",")
        assert fields[fields.index("-") + 1] == "tmpfs" and NVIDIA_TMPFS_SUPER_OPTION in super_options, fields
    # Each /proc file keeps its source's mode (NVIDIA's file_create with the source's st_mode).
    for name in ("params", "version", "registry"):
        source = Path(root, PROC_DRIVER, name)
        want = stat.S_IMODE(source.stat().st_mode) & ~0o022
        got = nsproc.run("stat", "-c", "%a", f"{rootfs}/{PROC_DRIVER}/{name}").stdout.strip()
        assert int(got, 8) == want, name


def test_writable_tmpfs_stays_in_the_container_and_runs_nothing(sim_driver, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs")
    out = nvc("--root", str(sim_driver.root), "configure", f"--pid={nsproc.pid}", "--device=1", "--graphics",
              str(rootfs))
    assert out.returncode == 0, out.stderr
    for directory in (APP_PROFILE_DIR, PROC_DRIVER):
        script = f"{rootfs}/{directory}/run.sh"
        wrote = nsproc.run("sh", "-c", f"printf '#!/bin/sh\\necho ran\\n' > {script} && chmod 755 {script}")
        assert wrote.returncode == 0, wrote.stderr
        ran = nsproc.run(script)
        assert ran.returncode != 0 and "ran" not in ran.stdout, "noexec"
        assert not os.path.exists(os.path.join(rootfs, directory, "run.sh")), "the host's rootfs is untouched"
    assert not os.path.exists(os.path.join(str(sim_driver.root), PROC_DRIVER, "run.sh"))


def test_graphics_without_devices_gets_the_directory_but_no_profile(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    rootfs = make_rootfs(tmp_path / "rootfs")
    out = nvc("--root", str(sim_driver.root), "configure", "--dry-run", "--graphics", str(rootfs))
    assert out.returncode == 0, out.stderr
    tmpfs = {t["target"]: t for t in json.loads(out.stdout)["tmpfs"]}
    assert tmpfs["/" + APP_PROFILE_DIR]["files"] == []  # NVIDIA writes the file per device only


def test_unknown_options_are_argps_lines(sim_driver) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    for args, nvidia in ((["--frobnicate", "info"], NVIDIA_UNKNOWN_OPTION),
                         (["--root", root, "info", "--frobnicate"], NVIDIA_UNKNOWN_INFO_OPTION),
                         (["--root", root, "list", "-z"], NVIDIA_UNKNOWN_SHORT_LIST_OPTION)):
        out = nvc(*args)
        assert (out.returncode, out.stdout) == (1, "")
        assert out.stderr.splitlines() == [ours(line) for line in nvidia]


def test_missing_rootfs(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = str(tmp_path / "missing")
    for extra in ([], ["--dry-run"], ["--device=1"]):
        out = nvc("--root", str(sim_driver.root), "configure", "--utility", *extra, rootfs)
        assert (out.returncode, out.stdout) == (1, "")
        assert out.stderr.splitlines() == [ours(NVIDIA_MISSING_ROOTFS.format(rootfs=rootfs))]


def test_missing_root(tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = str(tmp_path / "missing")
    for command in (["info"], ["list"], ["configure", "--utility", str(tmp_path / "rootfs")]):
        out = nvc("--root", root, *command)
        assert (out.returncode, out.stdout) == (1, "")
        # NVIDIA's wording, naming the directory (issue 19: an error about a file names it)
        assert out.stderr.splitlines() == [
            ours(NVIDIA_MISSING_ROOT).replace("change root failed: ", f"change root failed: {root}: ")]


def test_missing_ldcache(sim_driver) -> None:  # type: ignore[no-untyped-def]
    root = str(sim_driver.root)
    for command in (["info"], ["list"]):
        out = nvc("--root", root, "--ldcache=/nonexistent", *command)
        assert (out.returncode, out.stdout) == (1, "")
        assert out.stderr.splitlines() == [ours(NVIDIA_MISSING_LDCACHE.format(root=root))]


def test_library_api_names_the_same_things(sim_driver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The messages come from the library, not the CLI: the same lines through the Python API."""
    from nvcontainer import container as conf
    from nvcontainer.discovery import discover
    from nvcontainer.errors import NvcError

    root = str(sim_driver.root)
    with pytest.raises(NvcError) as info:
        discover(root, "/nonexistent")
    assert info.value.line(NVIDIA) == NVIDIA_MISSING_LDCACHE.format(root=root)
    with pytest.raises(NvcError) as info:
        conf.plan(conf.Request(str(tmp_path / "missing")), root=root)
    assert info.value.line(NVIDIA) == NVIDIA_MISSING_ROOTFS.format(rootfs=tmp_path / "missing")
