"""Real containers for tests: busybox root filesystems, processes in their own mount
namespace (``unshare -m``), and runc bundles with prestart hooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from nvcontainer.simulate.bundle import make_rootfs, make_runc_bundle

__all__ = ["make_rootfs", "make_runc_bundle", "NamespaceProcess", "mountinfo", "tree", "nvc", "runc_bundle",
           "configure_hook", "runc_run", "NVC", "UNIFIED"]

NVC = [sys.executable, "-m", "cli.main"]


def mountinfo(pid: Optional[int] = None) -> List[str]:
    """Mount points and options (without the ids that change between reads)."""
    lines = Path(f"/proc/{pid or 'self'}/mountinfo").read_text().splitlines()
    return sorted(" ".join(line.split()[3:]) for line in lines)


def tree(path: Path) -> Dict[str, str]:
    """A listing of every entry under ``path`` with its type, to detect any change."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, path)] = f"{st.st_mode:o} {st.st_size}"
    return out


class NamespaceProcess:
    """A ``sleep`` in a private mount namespace, like a created-not-started container."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "600"])
        own = os.readlink("/proc/self/ns/mnt")
        for _ in range(200):
            try:
                if os.readlink(f"/proc/{self.proc.pid}/ns/mnt") != own:
                    break
            except OSError:
                pass
            time.sleep(0.01)
        else:
            raise RuntimeError("unshare did not enter a new mount namespace")
        self.pid = self.proc.pid

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", "-t", str(self.pid), "-m", *argv], capture_output=True, text=True)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def nvc(*args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run([*NVC, *args], capture_output=True, text=True, env=env)


def runc_bundle(path: Path, args: Sequence[str], hook_argv: Optional[Sequence[str]] = None,
                glibc: bool = False) -> Path:
    """A runc bundle whose prestart hook runs ``hook_argv`` (with the OCI state on stdin)."""
    return make_runc_bundle(path, args, prestart=[hook_argv] if hook_argv else None, glibc=glibc)


def configure_hook(path: Path, nvc_args: Sequence[str]) -> List[str]:
    """A two-line prestart hook: read the container pid from the OCI state, exec nvc-cli configure."""
    script = path / "hook.sh"
    cmd = json.dumps([*NVC, *nvc_args])
    script.write_text(
        "#!/bin/sh\n"
        f"exec {sys.executable} -c 'import json,os,sys; a={cmd}; "
        "p=json.load(sys.stdin)[\"pid\"]; os.execv(a[0], a[:-1]+[\"--pid=%d\" % p, a[-1]])'\n"
    )
    script.chmod(0o755)
    return [str(script)]


RUNC_V2_ROOT = "/run/nvc-test-runc-v2"
UNIFIED = "/sys/fs/cgroup/unified"  # this host's view of the cgroup2 hierarchy


def runc_run(bundle: Path, *, cgroup2: bool = False) -> subprocess.CompletedProcess:
    """``runc run`` the bundle on cgroup v1 (this host's devices controller), or on cgroup v2:
    runc in a private mount namespace with cgroup2 on /sys/fs/cgroup (see engines.md)."""
    cid = ("nvc-cg2-" if cgroup2 else "nvc-cg1-") + uuid.uuid4().hex[:8]
    if not cgroup2:
        try:
            return subprocess.run(["runc", "run", "--bundle", str(bundle), cid], capture_output=True, text=True,
                                  timeout=120, stdin=subprocess.DEVNULL)
        finally:
            subprocess.run(["runc", "delete", "--force", cid], capture_output=True)
            assert not os.path.exists(f"/sys/fs/cgroup/devices/{cid}")
    runc = f"runc --root {RUNC_V2_ROOT}"
    script = (f"mount -t cgroup2 cgroup2 /sys/fs/cgroup && {{ {runc} run --bundle {bundle} {cid}; rc=$?; "
              f"{runc} delete --force {cid} >/dev/null 2>&1; exit $rc; }}")
    try:
        return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    finally:
        cleanup = f"mount -t cgroup2 cgroup2 /sys/fs/cgroup && {runc} delete --force {cid}"
        subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cleanup], capture_output=True)
        try:
            os.rmdir(RUNC_V2_ROOT)
        except OSError:
            pass
        assert not os.path.exists(f"{UNIFIED}/{cid}")
