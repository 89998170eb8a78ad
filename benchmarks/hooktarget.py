"""One prestart hook run outside runc, for benchmarks that need the hook process on its own.

``HookTarget(tmp)`` builds a simulated driver (or uses ``root``, a real one), a config.toml
pointing at it and a runc bundle asking for one GPU.  ``run(argv)`` starts an ``unshare -m``
process standing for the created container, feeds the OCI state runc would give the hook on stdin,
and returns the hook's wall time, exit status and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Sequence

from benchmarks.common import BIN, driver_root

HOOK = os.path.join(BIN, "nvc-container-runtime-hook")


class HookRun(NamedTuple):
    ms: float
    returncode: int
    stderr: str


class HookTarget:
    def __init__(self, workdir: str, env: Optional[Dict[str, str]] = None, root: Optional[str] = None,
                 snapshots: bool = True) -> None:
        from nvcontainer.simulate.bundle import make_runc_bundle

        self.snapshots = snapshots
        self.workdir = workdir
        self.root = driver_root(root, workdir)
        self.config = os.path.join(workdir, "config.toml")
        with open(self.config, "w") as f:
            f.write(f'[nvidia-container-cli]\nroot = "{self.root}"\n')
        self.bundle = os.path.join(workdir, "bundle")
        make_runc_bundle(Path(self.bundle), ["/bin/true"], env=env or {"NVIDIA_VISIBLE_DEVICES": "1"}, glibc=True)
        self.built = time.monotonic()

    def prime(self, argv: Sequence[str] = (HOOK, "prestart")) -> HookRun:
        """Wait until the driver just built is older than the snapshot's race margin, then run the
        hook once, so that the snapshot and the config cache are stored for the runs to come."""
        from nvcontainer.snapshot.fingerprint import RACE_MARGIN_NS

        time.sleep(max(0.0, self.built + RACE_MARGIN_NS / 1e9 + 0.1 - time.monotonic()))
        return self.run(argv)

    def run(self, argv: Sequence[str] = (HOOK, "prestart")) -> HookRun:
        """One hook run against a fresh mount namespace (a fresh copy of nothing: the rootfs is reused,
        the namespace is new, so every run mounts into a clean view)."""
        holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "300"])
        try:
            own = os.readlink("/proc/self/ns/mnt")
            while os.readlink(f"/proc/{holder.pid}/ns/mnt") == own:
                time.sleep(0.002)
            state = json.dumps({"ociVersion": "1.0.2", "id": f"bench-{holder.pid}", "pid": holder.pid,
                                "bundle": self.bundle, "status": "creating"}).encode()
            env = {"NVIDIA_CTK_CONFIG_FILE_PATH": self.config,
                   "NVC_STATE_DIR": os.path.join(self.workdir, "state"),
                   "NVC_SNAPSHOT_DIR": os.path.join(self.workdir, "snapshots") if self.snapshots else "off"}
            with tempfile.TemporaryFile() as err:
                start = time.perf_counter()
                proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err,
                                        env=env)
                assert proc.stdin is not None
                proc.stdin.write(state)
                proc.stdin.close()
                proc.wait()
                ms = (time.perf_counter() - start) * 1000
                err.seek(0)
                text = err.read().decode(errors="replace")
            return HookRun(ms, proc.returncode, text)
        finally:
            holder.kill()
            holder.wait()
