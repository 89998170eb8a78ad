"""IMEX channels (issue 18, point 5): ``--load-kmods`` makes a missing channel node in the driver
root as NVIDIA's nvidia-container-cli 1.17 (through nvidia-modprobe) makes it, and binds it in;
``--no-create-imex-channels`` and the conditions nvidia-modprobe checks stop that; without ``-k`` a
missing node is one clean error with nothing done (NVIDIA 1.17 crashes after mounting there).

Each test works on its own copy of the simulated dgx-a100 root (``cp -a``: device nodes stay
nodes), which has channel 0 and an ``nvidia-caps-imex-channels`` major of 234.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Tuple

import pytest

from nvcontainer.container import Request, plan
from nvcontainer.driver import DeviceNode
from nvcontainer.errors import MountError
from nvcontainer.hostnodes import ensure_imex_channels, in_user_namespace
from tests.containers import NamespaceProcess, make_rootfs, mountinfo, nvc, tree

IMEX_MAJOR = 234  # the simulated root's /proc/devices
# What nvidia-modprobe makes for channel 5 with the simulated params (DeviceFileMode 438, UID 0, GID 0):
# crw-rw-rw- root root 234, 5 /dev/nvidia-caps-imex-channels/channel5, in a directory of mode 0755.
NVIDIA_CHANNEL5 = ("c", 0o666, 0, 0, IMEX_MAJOR, 5)
NVIDIA_CHANNEL_DIR_MODE = 0o755


def node_of(path: Path) -> Tuple[str, int, int, int, int, int]:
    st = os.lstat(path)
    kind = "c" if stat.S_ISCHR(st.st_mode) else "other"
    return kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, os.major(st.st_rdev), os.minor(st.st_rdev)


@pytest.fixture
def root(sim_driver, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    copy = tmp_path / "driver"
    subprocess.run(["cp", "-a", str(sim_driver.root), str(copy)], check=True)
    return copy


@pytest.fixture
def nsproc():  # type: ignore[no-untyped-def]
    p = NamespaceProcess()
    yield p
    p.close()


def channel(root: Path, n: int) -> Path:
    return root / f"dev/nvidia-caps-imex-channels/channel{n}"


def configure(root: Path, nsproc: NamespaceProcess, rootfs: Path, *args: str, global_args: Tuple[str, ...] = (),
              ) -> subprocess.CompletedProcess:
    return nvc(*global_args, "--root", str(root), "configure", f"--pid={nsproc.pid}", "--utility", *args,
               str(rootfs))


def test_load_kmods_makes_the_missing_channel_and_binds_it(root, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rootfs = make_rootfs(tmp_path / "rootfs")
    assert not os.path.lexists(channel(root, 5))
    out = configure(root, nsproc, rootfs, "--imex-channel=5", global_args=("--load-kmods",))
    assert out.returncode == 0, out.stderr
    assert node_of(channel(root, 5)) == NVIDIA_CHANNEL5
    st = nsproc.run("stat", "-c", "%F %t:%T %a", f"{rootfs}/dev/nvidia-caps-imex-channels/channel5")
    assert st.stdout.split() == ["character", "special", "file", f"{IMEX_MAJOR:x}:5", "666"]


def test_the_channel_directory_is_made_as_nvidia_makes_it(root, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for entry in (root / "dev/nvidia-caps-imex-channels").iterdir():
        entry.unlink()
    (root / "dev/nvidia-caps-imex-channels").rmdir()
    (root / "dev/char").mkdir()
    out = configure(root, nsproc, make_rootfs(tmp_path / "rootfs"), "--imex-channel=5", global_args=("-k",))
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE(os.lstat(root / "dev/nvidia-caps-imex-channels").st_mode) == NVIDIA_CHANNEL_DIR_MODE
    assert node_of(channel(root, 5)) == NVIDIA_CHANNEL5
    # udev's /dev/char link, which nvidia-modprobe makes too, where the root has /dev/char
    assert os.readlink(root / f"dev/char/{IMEX_MAJOR}:5") == "../nvidia-caps-imex-channels/channel5"


def test_params_decide_mode_and_owner(root, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    params = root / "proc/driver/nvidia/params"
    text = params.read_text().replace("DeviceFileMode: 438", "DeviceFileMode: 416").replace(
        "DeviceFileUID: 0", "DeviceFileUID: 1000").replace("DeviceFileGID: 0", "DeviceFileGID: 44")
    params.write_text(text)
    out = configure(root, nsproc, make_rootfs(tmp_path / "rootfs"), "--imex-channel=7", global_args=("-k",))
    assert out.returncode == 0, out.stderr
    assert node_of(channel(root, 7)) == ("c", 0o640, 1000, 44, IMEX_MAJOR, 7)


def missing_line(root: Path, n: int, why: str) -> str:
    return f"nvc-cli: mount error: IMEX channel {n}: {channel(root, n)}: no such device node ({why})"


@pytest.mark.parametrize("case", ["no -k", "no-create", "nvidia not loaded", "ModifyDeviceFiles 0"])
def test_missing_channel_is_one_error_and_nothing_done(root, nsproc, tmp_path, case: str) -> None:  # type: ignore[no-untyped-def]
    global_args: Tuple[str, ...] = ("-k",)
    why = {"no -k": "make it, or let --load-kmods make it", "no-create": "IMEX channel creation is off",
           "nvidia not loaded": "not made: the nvidia kernel module is not loaded",
           "ModifyDeviceFiles 0": "not made: ModifyDeviceFiles is 0 in /proc/driver/nvidia/params"}[case]
    if case == "no -k":
        global_args = ()
    elif case == "no-create":
        global_args = ("-k", "--no-create-imex-channels")
    elif case == "nvidia not loaded":
        modules = root / "proc/modules"
        modules.write_text("".join(line for line in modules.read_text().splitlines(keepends=True)
                                   if not line.startswith("nvidia ")))
    else:
        params = root / "proc/driver/nvidia/params"
        params.write_text(params.read_text().replace("ModifyDeviceFiles: 1", "ModifyDeviceFiles: 0"))
    rootfs = make_rootfs(tmp_path / "rootfs")
    before_ns, before_tree, before_dev = mountinfo(nsproc.pid), tree(rootfs), tree(root / "dev")
    log = tmp_path / "debug.log"
    out = configure(root, nsproc, rootfs, "--device=0", "--imex-channel=0,5",
                    global_args=("--debug", str(log), *global_args))
    assert out.returncode == 1
    assert out.stderr.splitlines() == [missing_line(root, 5, why)]
    assert mountinfo(nsproc.pid) == before_ns
    assert tree(rootfs) == before_tree
    assert tree(root / "dev") == before_dev
    if case == "nvidia not loaded":
        assert "kernel module nvidia is not loaded" in log.read_text()


def test_a_symlinked_channel_directory_is_not_followed(root, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    elsewhere = tmp_path / "elsewhere"
    subprocess.run(["cp", "-a", str(root / "dev/nvidia-caps-imex-channels"), str(elsewhere)], check=True)
    subprocess.run(["rm", "-r", str(root / "dev/nvidia-caps-imex-channels")], check=True)
    (root / "dev/nvidia-caps-imex-channels").symlink_to(elsewhere)
    before = tree(elsewhere)
    out = configure(root, nsproc, make_rootfs(tmp_path / "rootfs"), "--imex-channel=5", global_args=("-k",))
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"nvc-cli: mount error: IMEX channel 5: {channel(root, 5)}: not a directory"]
    assert tree(elsewhere) == before


def test_a_symlinked_dev_char_gets_no_link(root, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "dev/char").symlink_to(elsewhere)
    out = configure(root, nsproc, make_rootfs(tmp_path / "rootfs"), "--imex-channel=5", global_args=("-k",))
    assert out.returncode == 0, out.stderr
    assert node_of(channel(root, 5)) == NVIDIA_CHANNEL5
    assert list(elsewhere.iterdir()) == []


def test_an_existing_entry_that_is_not_the_node_is_refused(root, nsproc, tmp_path) -> None:  # type: ignore[no-untyped-def]
    channel(root, 5).write_text("not a device")
    out = configure(root, nsproc, make_rootfs(tmp_path / "rootfs"), "--imex-channel=5", global_args=("-k",))
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"nvc-cli: mount error: IMEX channel 5: {channel(root, 5)}: not the character device {IMEX_MAJOR}:5"]
    assert channel(root, 5).read_text() == "not a device"


def test_no_devbind_still_grants_the_channel(root, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = nvc("--root", str(root), "configure", "--dry-run", "--no-devbind", "--imex-channel=0", str(tmp_path))
    the_plan = json.loads(out.stdout)
    assert not [m for m in the_plan["mounts"] if "imex" in m["target"]]
    assert {"major": IMEX_MAJOR, "minor": 0, "access": "rw", "type": "c"} in the_plan["device_rules"]


def test_list_with_load_kmods_makes_the_node_too(root) -> None:  # type: ignore[no-untyped-def]
    plain = nvc("--root", str(root), "list", "--imex-channel=6")
    assert plain.returncode == 0 and "/dev/nvidia-caps-imex-channels/channel6" in plain.stdout.splitlines()
    assert not os.path.lexists(channel(root, 6))
    out = nvc("-k", "--root", str(root), "list", "--imex-channel=6")
    assert out.returncode == 0, out.stderr
    assert out.stdout == plain.stdout
    assert node_of(channel(root, 6)) == ("c", 0o666, 0, 0, IMEX_MAJOR, 6)


def test_all_channels_are_the_nodes_the_host_has(root, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for n in (3, 12):
        os.mknod(channel(root, n), 0o666 | stat.S_IFCHR, os.makedev(IMEX_MAJOR, n))
    os.mknod(channel(root, 4).with_name("channel04"), 0o666 | stat.S_IFCHR, os.makedev(IMEX_MAJOR, 4))
    os.mknod(channel(root, 8), 0o666 | stat.S_IFCHR, os.makedev(IMEX_MAJOR, 9))  # not channel 8's device
    channel(root, 9).symlink_to(channel(root, 3))  # a link is not a node
    the_plan = plan(Request(str(tmp_path), all_imex_channels=True, imex_channels="12,20"), root=str(root))
    imex = [d.path for d in the_plan.devices if "imex" in d.path]
    assert imex == [f"/dev/nvidia-caps-imex-channels/channel{n}" for n in (12, 20, 0, 3)]


def test_a_dev_root_inside_the_rootfs_is_refused(root, tmp_path) -> None:  # type: ignore[no-untyped-def]
    node = DeviceNode("/dev/nvidia-caps-imex-channels/channel5", str(channel(root, 5)), IMEX_MAJOR, 5)
    with pytest.raises(MountError) as info:
        ensure_imex_channels([(5, node)], str(root.parent), load_kmods=True)
    assert info.value.message.endswith("the dev root is the container's rootfs or inside it")
    assert not os.path.lexists(channel(root, 5))


@pytest.mark.parametrize("uid_map, setgroups, expected", [
    ("         0          0 4294967295\n", "allow\n", False),
    ("         0       1000          1\n", "allow\n", True),
    ("         0          0 4294967295\n", "deny\n", True),
])
def test_user_namespace_detection(tmp_path: Path, uid_map: str, setgroups: str, expected: bool) -> None:
    for name, text in (("uid_map", uid_map), ("gid_map", uid_map), ("setgroups", setgroups)):
        (tmp_path / name).write_text(text)
    assert in_user_namespace(str(tmp_path)) is expected
    assert in_user_namespace() is False  # the tests run as root of the host
