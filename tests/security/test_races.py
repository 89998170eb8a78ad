"""Family 3: TOCTOU races.  A helper process swaps a directory of the image with a symlink to a
host directory (``renameat2(RENAME_EXCHANGE)``, atomic) in a tight loop while configure runs,
again and again; nothing may land on the host, and every configure either succeeds with all its
mounts inside the rootfs or fails cleanly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.security.harness import LIBDIR, Arena

RUNS = 10  # configures per flipped path (3 paths: 30 in all)

FLIPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = (os.fsencode(p) for p in sys.argv[1:3])
AT_FDCWD, RENAME_EXCHANGE = -100, 2
while True:
    libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)
"""


def _flipper(path: Path, host_dir: Path) -> subprocess.Popen:
    twin = path.with_name(path.name + ".flip")
    twin.symlink_to(str(host_dir))
    return subprocess.Popen([sys.executable, "-c", FLIPPER, str(path), str(twin)])


@pytest.mark.parametrize("where", [LIBDIR, "/dev", "/usr/bin"])
def test_flip_dir_and_host_link(arena: Arena, where: str) -> None:
    path = arena.rootfs / where.lstrip("/")
    path.mkdir(parents=True, exist_ok=True)
    flipper = _flipper(path, arena.host / "lib")
    try:
        time.sleep(0.05)
        outcomes = []
        for i in range(RUNS):
            if i:
                arena.new_container()  # a fresh namespace: the mounts of the last run went with the old one
            outcomes.append(arena.attack(f"flip-{where}-{i}", check_tree=False, devices="0",
                                         capabilities=("utility", "compute")).kind)
    finally:
        flipper.kill()
        flipper.wait()
    assert set(outcomes) <= {"success", "refused"}
