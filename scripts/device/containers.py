"""Real-GPU container checks: runc containers started with our prestart hook on the machine's real
driver (run by check.sh on a lent GPU machine, as root, with runc and busybox installed).

Each case prints the container's output; the script exits 1 if any expectation fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from nvcontainer.simulate.bundle import make_runc_bundle  # noqa: E402

HOOK = os.path.join(os.path.dirname(sys.executable), "nvc-container-runtime-hook")
CUDACHECK = HERE.parent.parent / ".devcarry/bin/cudacheck"
# Real driver programs and libcuda need these beside libc (glibc >= 2.34 keeps them as stubs).
EXTRA_LIBS = ("libdl.so.2", "libpthread.so.0", "librt.so.1", "libgcc_s.so.1")
SCRIPT = ("ls /dev | grep nvidia | tr '\\n' ' '; echo; nvidia-smi -L; "
          "cat /proc/driver/nvidia/version | head -1; /usr/bin/cudacheck; echo cudacheck=$?")


def mounts() -> List[str]:
    return sorted(" ".join(line.split()[3:]) for line in Path("/proc/self/mountinfo").read_text().splitlines())


def bundle(tmp: str, name: str, env: Dict[str, str], config: str) -> Path:
    path = Path(tmp) / name
    make_runc_bundle(path, ["sh", "-c", SCRIPT], prestart=[[HOOK, "prestart"]],
                     hook_env=[f"NVIDIA_CTK_CONFIG_FILE_PATH={config}", f"NVC_STATE_DIR={tmp}/state"],
                     env=env, glibc=True)
    libdir = path / "rootfs/usr/lib/x86_64-linux-gnu"
    for lib in EXTRA_LIBS:
        if os.path.exists(f"/lib/x86_64-linux-gnu/{lib}"):
            shutil.copy2(f"/lib/x86_64-linux-gnu/{lib}", libdir / lib)
    shutil.copy2(CUDACHECK, path / "rootfs/usr/bin/cudacheck")
    subprocess.run(["ldconfig", "-r", str(path / "rootfs")], check=True)
    return path


def runc(path: Path) -> subprocess.CompletedProcess:
    cid = "nvc-dev-" + uuid.uuid4().hex[:8]
    try:
        return subprocess.run(["runc", "run", "--bundle", str(path), cid], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60)
    finally:
        subprocess.run(["runc", "delete", "--force", cid], capture_output=True)


def main() -> int:
    uuid0 = subprocess.run(["nvidia-smi", "--query-gpu=uuid", "--format=csv,noheader", "-i", "0"],
                           capture_output=True, text=True).stdout.strip()
    cases = [  # name, env, should succeed, text the output must hold
        ("GPU 0 by index", {"NVIDIA_VISIBLE_DEVICES": "0"}, True, "cudacheck=0"),
        ("GPU 0 by UUID, all capabilities", {"NVIDIA_VISIBLE_DEVICES": uuid0, "NVIDIA_DRIVER_CAPABILITIES": "all"},
         True, "cudacheck=0"),
        ("all GPUs", {"NVIDIA_VISIBLE_DEVICES": "all"}, True, "cudacheck=0"),
        ("no GPU (void): no driver at all", {"NVIDIA_VISIBLE_DEVICES": "void"}, True, "cudacheck=2"),
        ("unknown GPU 7 refused", {"NVIDIA_VISIBLE_DEVICES": "7"}, False, "unknown device"),
        ("CUDA 99 required: refused", {"NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_REQUIRE_CUDA": "cuda>=99.0"}, False,
         "requirement error"),
    ]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "config.toml")
        Path(config).write_text(f'[nvidia-container-cli]\nroot = "{os.environ.get("NVC_CHECK_ROOT", "/")}"\n')
        before = mounts()
        for i, (name, env, ok, expect) in enumerate(cases):
            out = runc(bundle(tmp, f"c{i}", env, config))
            text = out.stdout + out.stderr
            good = (out.returncode == 0) == ok and expect in text
            failures += not good
            print(f"--- {'ok  ' if good else 'FAIL'} {name} (runc rc={out.returncode})")
            print(text.rstrip())
        after = mounts()
        same = before == after
        failures += not same
        print(f"--- {'ok  ' if same else 'FAIL'} host mount table unchanged after {len(cases)} containers")
        if not same:
            print("\n".join(sorted(set(before) ^ set(after))))
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
