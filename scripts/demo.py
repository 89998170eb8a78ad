"""The demo: a simulated GPU host and a real runc container on it, start to finish.

1. builds the simulated NVIDIA driver in .sim/driver (unless a real driver is present),
2. prints `nvc-cli info`,
3. makes a busybox+glibc container bundle in .sim/bundle whose prestart hook gives the
   container GPUs with nvcontainer,
4. runs it with runc and prints what `nvidia-smi` says from inside.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
# NVC_DEMO_DIR: another place for .sim (the README test runs the demo in its own directory).
SIM = Path(os.environ.get("NVC_DEMO_DIR") or HERE / ".sim")
DEVICES = os.environ.get("NVC_DEMO_DEVICES", "0,1")


def step(message: str) -> float:
    print(f">> {message}", flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"   done in {time.monotonic() - started:.1f}s", flush=True)


def main() -> int:
    from nvcontainer.simulate import build
    from nvcontainer.simulate.bundle import make_runc_bundle

    driver_root = SIM / "driver"
    t = step(f"building the simulated NVIDIA driver in {driver_root} (gcc, ldconfig, mknod)")
    build(driver_root)
    done(t)

    nvc = [sys.executable, "-m", "cli.main", "--root", str(driver_root)]
    step("nvc-cli info")
    subprocess.run([*nvc, "info"], check=True)

    bundle = SIM / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    hook = SIM / "prestart-hook.py"
    rootfs = bundle / "rootfs"
    hook.write_text(
        "import json, os, sys\n"
        "pid = json.load(sys.stdin)['pid']\n"
        f"argv = {json.dumps(nvc)} + ['configure', '--pid=%d' % pid, '--device={DEVICES}', '--utility', "
        f"'--compute', {str(rootfs)!r}]\n"
        "os.execv(argv[0], argv)\n"
    )
    t = step(f"making a busybox container in {bundle} whose prestart hook gives it GPUs {DEVICES}")
    make_runc_bundle(bundle, ["/bin/sh", "-c", "echo '$ nvidia-smi -L'; nvidia-smi -L; echo; ls /dev | grep nvidia"],
                     prestart=[[sys.executable, str(hook)]], glibc=True)
    done(t)

    cid = "nvc-demo-" + uuid.uuid4().hex[:8]
    step(f"runc run {cid}: the container's own output follows")
    try:
        result = subprocess.run(["runc", "run", "--bundle", str(bundle), cid], stdin=subprocess.DEVNULL)
    finally:
        subprocess.run(["runc", "delete", "--force", cid], capture_output=True)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
