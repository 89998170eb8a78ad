"""Running ``nvc-cli doctor`` as a user does, and dev roots built from a simulated driver."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]


def doctor(*args: str, path_env: Optional[str] = None, root: Optional[str] = None,
           dev_root: Optional[str] = None, spec_dirs: Tuple[str, ...] = (),
           docker_config: Optional[str] = None) -> subprocess.CompletedProcess:
    """``nvc-cli [--root R] [--dev-root D] doctor ARGS``; PATH is ``path_env`` (engines looked for there)."""
    env = dict(os.environ)
    if path_env is not None:
        env["PATH"] = path_env
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    argv = [sys.executable, "-m", "cli.main"]
    if root is not None:
        argv += ["--root", root]
    if dev_root is not None:
        argv += ["--dev-root", dev_root]
    argv.append("doctor")
    for directory in spec_dirs:
        argv += ["--cdi-spec-dir", directory]
    if docker_config is not None:
        argv += ["--docker-config", docker_config]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120, cwd=str(REPO), env=env)


def isolated(tmp: Path, sim_root: str, *args: str, dev_root: Optional[str] = None,
             bin_dir: Optional[Path] = None, docker_config: Optional[str] = None,
             spec_dirs: Tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Doctor on ``sim_root`` with no engines on PATH (or only ``bin_dir``) and empty CDI dirs by default."""
    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)
    return doctor(*args, path_env=str(bin_dir or empty), root=sim_root, dev_root=dev_root,
                  spec_dirs=spec_dirs or (str(empty),),
                  docker_config=docker_config or str(tmp / "no-daemon.json"))


def as_json(out: subprocess.CompletedProcess) -> List[Dict[str, Any]]:
    assert "Traceback" not in out.stderr, out.stderr
    data: List[Dict[str, Any]] = json.loads(out.stdout)
    return data


def by_name(checks: List[Dict[str, Any]], name: str) -> Dict[str, Any]:
    """The one check called ``name``."""
    found = [c for c in checks if c["name"] == name]
    assert len(found) == 1, (name, checks)
    return found[0]


def fake_binary(bin_dir: Path, name: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


def _link_node(source: str, target: str) -> None:
    """A second directory entry for the char device ``source`` (hard link, else mknod)."""
    try:
        os.link(source, target)
    except OSError:
        st = os.stat(source)
        os.mknod(target, stat.S_IFCHR | 0o666, st.st_rdev)


def dev_root_copy(sim_root: str, dest: Path, *, char_links: bool, skip: Tuple[str, ...] = (),
                  swap: Optional[Tuple[str, str]] = None) -> str:
    """A dev root like the simulated one: its /proc copied, its /dev nodes linked, plus /dev/char.

    ``skip`` names /dev entries to leave out; ``swap=(a, b)`` makes /dev/<a> the node of /dev/<b>.
    """
    shutil.copytree(os.path.join(sim_root, "proc"), dest / "proc")
    dev = dest / "dev"
    (dev / "char").mkdir(parents=True)
    source_dev = os.path.join(sim_root, "dev")
    for name in sorted(os.listdir(source_dev)):
        source = os.path.join(source_dev, name)
        if name in skip or not stat.S_ISCHR(os.lstat(source).st_mode):
            continue
        if swap and name == swap[0]:
            source = os.path.join(source_dev, swap[1])
        _link_node(source, str(dev / name))
        if char_links:
            rdev = os.stat(source).st_rdev
            os.symlink(f"../{name}", dev / "char" / f"{os.major(rdev)}:{os.minor(rdev)}")
    return str(dest)
