"""Small real containers for the simulated driver: a busybox root filesystem (optionally with the
host's glibc so dynamically linked programs such as the simulated ``nvidia-smi`` run) and a runc
bundle around it with prestart hooks.  Used by the demo and the tests, and from the command line
to make an image-less container root for an engine (``podman run --rootfs``, ``docker import``)::

    python -m nvcontainer.simulate.bundle DIR [--no-glibc]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from nvcontainer.simulate.errors import SimulateError

APPLETS = ("sh", "ls", "cat", "stat", "echo", "test", "readlink", "find", "sleep", "true", "mount", "head")
GLIBC_FILES = (
    ("/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libc.so.6"),
    ("/lib/x86_64-linux-gnu/libm.so.6", "usr/lib/x86_64-linux-gnu/libm.so.6"),
    ("/lib64/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2"),
)


def _busybox() -> str:
    found = shutil.which("busybox") or "/bin/busybox"
    if not Path(found).is_file():
        raise SimulateError("busybox not found (apt-get install busybox-static)")
    return found


def make_rootfs(path: Path, *, debian: bool = True, glibc: bool = False) -> Path:
    """A busybox root filesystem at ``path``; ``glibc`` copies the host's loader and libc in and
    writes the rootfs's own ld.so.cache (``ldconfig -r``), as a Debian image would have."""
    path = Path(path)
    for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "usr/bin", "usr/lib", "sbin"):
        (path / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(_busybox(), path / "bin/busybox")
    for applet in APPLETS:
        link = path / "bin" / applet
        if not link.is_symlink():
            link.symlink_to("busybox")
    if debian:
        (path / "etc/debian_version").write_text("12.0\n")
    if glibc:
        for src, dst in GLIBC_FILES:
            (path / dst).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, path / dst)
        (path / "etc/ld.so.conf").write_text("/usr/lib/x86_64-linux-gnu\n/usr/lib/i386-linux-gnu\n")
        subprocess.run(["ldconfig", "-r", str(path)], check=True)
    return path


def make_runc_bundle(path: Path, args: Sequence[str], *, prestart: Optional[Sequence[Sequence[str]]] = None,
                     hook_env: Optional[Sequence[str]] = None, env: Optional[Dict[str, str]] = None,
                     glibc: bool = False) -> Path:
    """A runc bundle at ``path`` (rootfs in ``path/rootfs``) running ``args``; each ``prestart``
    entry is an argv whose first element is the hook's absolute path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    make_rootfs(path / "rootfs", glibc=glibc)
    subprocess.run(["runc", "spec"], cwd=path, check=True)
    config = json.loads((path / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = list(args)
    if env:
        config["process"]["env"] = list(config["process"].get("env", [])) + [f"{k}={v}" for k, v in env.items()]
    config["root"] = {"path": "rootfs", "readonly": False}
    if prestart:
        hooks: List[Dict[str, object]] = []
        for argv in prestart:
            hook: Dict[str, object] = {"path": argv[0], "args": list(argv)}
            if hook_env is not None:
                hook["env"] = list(hook_env)
            hooks.append(hook)
        config["hooks"] = {"prestart": hooks}
    (path / "config.json").write_text(json.dumps(config, indent=2))
    return path


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m nvcontainer.simulate.bundle DIR``: a busybox root filesystem with the host's glibc
    (so the simulated ``nvidia-smi`` runs in it) at DIR; one line and status 1 on failure."""
    parser = argparse.ArgumentParser(prog="nvc-simulate-rootfs",
                                     description="Make a small container root filesystem (busybox, glibc).")
    parser.add_argument("directory", metavar="DIR", help="root filesystem to create (or add to)")
    parser.add_argument("--no-glibc", action="store_true", help="busybox only (no dynamically linked programs)")
    args = parser.parse_args(argv)
    try:
        make_rootfs(Path(args.directory), glibc=not args.no_glibc)
    except SimulateError as exc:
        sys.stderr.write(f"nvc-simulate-rootfs: error: {exc.message}\n")
        return 1
    except OSError as exc:
        where = exc.filename or args.directory
        sys.stderr.write(f"nvc-simulate-rootfs: error: {where}: {(exc.strerror or str(exc)).lower()}\n")
        return 1
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(f"nvc-simulate-rootfs: error: {args.directory}: {exc.cmd[0]} failed ({exc.returncode})\n")
        return 1
    print(f"container root filesystem at {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
