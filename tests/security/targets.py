"""Hostile targets for configure: processes that are not a created container in a namespace of
their own, and images that plant code where the interpreter would look for it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

REPO = str(Path(__file__).resolve().parents[2])
MARKER = "nvc-marker-ran"

PIVOT = f"""
import os, sys, time
sys.path.insert(0, {REPO!r})
from nvcontainer.bindings import linux
rootfs = sys.argv[1]
linux.unshare(linux.CLONE_NEWNS)
linux.mount(None, "/", None, linux.MS_PRIVATE | linux.MS_REC)
linux.mount(rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)
os.chdir(rootfs)
linux.pivot_root(".", ".")
linux.umount2(".", linux.MNT_DETACH)
os.chdir("/")
os.write(1, b"ready\\n")
time.sleep(600)
"""


class Started:
    """A process standing for a *started* container: its own mount namespace whose root is
    ``rootfs`` (``pivot_root`` done), as runc leaves a container's init once it runs."""

    def __init__(self, rootfs: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", PIVOT, str(rootfs)], stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == b"ready\n"
        self.pid = self.proc.pid

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Sleeper:
    """A process in the caller's own mount namespace (a host process, or a container run without
    a mount namespace of its own)."""

    def __init__(self, argv: Sequence[str] = ("sleep", "600")) -> None:
        self.proc = subprocess.Popen(list(argv))
        self.pid = self.proc.pid

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def interpreter_dirs() -> List[str]:
    """Every directory the interpreter would import from, as ``nvc-cli`` starts it here."""
    out = subprocess.run([sys.executable, "-c", "import sys; print('\\n'.join(p for p in sys.path if p))"],
                         capture_output=True, text=True, check=True, cwd=REPO)
    return sorted({os.path.realpath(p) for p in out.stdout.split()} | {REPO})


def plant_markers(rootfs: Path, dirs: Optional[Sequence[str]] = None) -> int:
    """Put a module that records that it ran at every stdlib module name (and codec) in every
    import directory, inside ``rootfs``; returns how many were planted.  The modules import
    nothing, so that an import refused around them cannot hide them."""
    names = set(sys.stdlib_module_names) | {"nvcontainer", "cli", "cffi", "_cffi_backend", "elftools", "tomli"}
    codecs = [n[:-3] for n in os.listdir(os.path.dirname(__import__("encodings").__file__)) if n.endswith(".py")]
    code = f'open("/{MARKER}", "a").write(__name__ + "\\n")\n'
    count = 0
    for d in dirs if dirs is not None else interpreter_dirs():
        base = rootfs / d.lstrip("/")
        base.mkdir(parents=True, exist_ok=True)
        for name in names:
            (base / f"{name}.py").write_text(code)
            count += 1
        (base / "encodings").mkdir(exist_ok=True)
        (base / "encodings" / "__init__.py").write_text(code)
        for codec in codecs:
            (base / "encodings" / f"{codec}.py").write_text(code)
            count += 1
    return count


def markers(rootfs: Path) -> str:
    path = rootfs / MARKER
    return path.read_text() if path.exists() else ""


def wait_gone(pids: Sequence[int], seconds: float = 5.0) -> List[int]:
    """The pids of ``pids`` still alive (not zombies of ours) after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        time.sleep(0.05)
    return alive


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> List[int]:
    """Every live descendant of ``pid`` (through /proc/<pid>/task/*/children)."""
    out: List[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out
