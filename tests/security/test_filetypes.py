"""Family 2: the wrong kind of file where configure creates or mounts something.

A directory, FIFO, socket or device node where a file goes, a file where a directory goes, a
read-only rootfs, an immutable file or directory (``chattr +i``): configure succeeds with every
mount inside the rootfs or fails cleanly; the host never changes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pytest

from tests.security.harness import LIBDIR, Arena

Plant = Callable[[Arena], None]


def _replace(path: Path, make: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    make(path)


def _socket(path: Path) -> None:
    """A unix socket at ``path`` (bound by a relative name: tmp paths exceed sun_path)."""
    sock = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        sock.bind(path.name)
    finally:
        os.chdir(cwd)
        sock.close()


def _lib(a: Arena, name: str) -> Path:
    return a.rootfs / LIBDIR.lstrip("/") / f"{name}.so.{a.version}"


CASES: Dict[str, Plant] = {
    "dir-at-lib": lambda a: _replace(_lib(a, "libcuda"), Path.mkdir),
    "dir-at-bin": lambda a: _replace(a.rootfs / "usr/bin/nvidia-smi", Path.mkdir),
    "dir-at-dev-node": lambda a: _replace(a.rootfs / "dev/nvidiactl", Path.mkdir),
    "dir-at-socket": lambda a: _replace(a.rootfs / "var/run/nvidia-persistenced/socket", Path.mkdir),
    "fifo-at-lib": lambda a: _replace(_lib(a, "libnvidia-ml"), lambda p: os.mkfifo(p)),
    "fifo-at-dev-node": lambda a: _replace(a.rootfs / "dev/nvidia0", lambda p: os.mkfifo(p)),
    "socket-at-lib": lambda a: _replace(_lib(a, "libcuda"), _socket),
    "socket-at-bin": lambda a: _replace(a.rootfs / "usr/bin/nvidia-smi", _socket),
    "chardev-at-lib": lambda a: _replace(_lib(a, "libcuda"), lambda p: os.mknod(p, 0o600 | 0o020000, os.makedev(1, 3))),
    "blockdev-at-dev-node": lambda a: _replace(a.rootfs / "dev/nvidiactl",
                                               lambda p: os.mknod(p, 0o600 | 0o060000, os.makedev(7, 0))),
    "wrong-chardev-at-dev-node": lambda a: _replace(a.rootfs / "dev/nvidia0",
                                                    lambda p: os.mknod(p, 0o600 | 0o020000, os.makedev(1, 3))),
    "file-at-libdir": lambda a: _replace(a.rootfs / LIBDIR.lstrip("/"), lambda p: p.write_text("x")),
    "file-at-mps-dir": lambda a: _replace(a.rootfs / "tmp/nvidia-mps", lambda p: p.write_text("x")),
    "file-at-proc-driver": lambda a: _replace(a.rootfs / "proc/driver", lambda p: p.write_text("x")),
    "file-at-nvidia-caps": lambda a: _replace(a.rootfs / "dev/nvidia-caps", lambda p: p.write_text("x")),
    "file-at-firmware-dir": lambda a: _replace(a.rootfs / "lib/firmware", lambda p: p.write_text("x")),
    "fifo-at-ld-so-cache": lambda a: _replace(a.rootfs / "etc/ld.so.cache", lambda p: os.mkfifo(p)),
    "dir-at-ld-so-cache": lambda a: _replace(a.rootfs / "etc/ld.so.cache", Path.mkdir),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_wrong_file_type(arena: Arena, case: str) -> None:
    CASES[case](arena)
    arena.attack(case, mig_config="all", mig_monitor="all")


def test_read_only_rootfs(arena: Arena) -> None:
    for argv in (["mount", "--bind", str(arena.rootfs), str(arena.rootfs)],
                 ["mount", "-o", "remount,bind,ro", str(arena.rootfs)]):
        out = arena.container.run(*argv)
        assert out.returncode == 0, out.stderr
    arena.attack("read-only-rootfs", expect="refused")


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """``chattr +i`` (undone afterwards); the project's machines (ext4, root) support it."""
    marked: List[Path] = []

    def mark(path: Path) -> None:
        out = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, f"chattr +i failed: {out.stderr.strip()}"
        marked.append(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


@pytest.mark.parametrize("what", ["libdir", "placeholder", "ld-so-cache", "etc"])
def test_immutable(arena: Arena, immutable: Callable[[Path], None], what: str) -> None:
    lib = arena.rootfs / LIBDIR.lstrip("/")
    lib.mkdir(parents=True, exist_ok=True)
    if what == "libdir":
        immutable(lib)
    elif what == "placeholder":
        target = _lib(arena, "libcuda")
        target.touch()
        immutable(target)
    elif what == "ld-so-cache":
        (arena.rootfs / "etc/ld.so.cache").write_bytes(b"")
        immutable(arena.rootfs / "etc/ld.so.cache")
    else:
        immutable(arena.rootfs / "etc")
    arena.attack(f"immutable-{what}", check_tree=True)
