"""End to end: a runc container given GPU 1 and the MIG device 0:1 by a prestart hook calling
nvc-cli configure.  Inside, the simulated nvidia-smi (found through the container's refreshed ld
cache, no LD_LIBRARY_PATH) lists exactly those devices, a program linked against libcuda.so.1
prints the CUDA driver version, and an unselected GPU's node is refused by the device cgroup.
Run on cgroup v1 and on cgroup v2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers import NVC, configure_hook, mountinfo, runc_bundle, runc_run

CUDAVER = r"""
#include <stdio.h>
int cuInit(unsigned int flags);
int cuDriverGetVersion(int *version);
int cuDeviceGetCount(int *count);
int main(void) {
    int version = 0, count = -1;
    int rc = cuInit(0);
    cuDriverGetVersion(&version);
    cuDeviceGetCount(&count);
    printf("cuda-driver-version %d devices %d init %d\n", version, count, rc);
    return 0;
}
"""

HOOK = r"""
import json, os, subprocess, sys
state = json.load(sys.stdin)
pid = state["pid"]
rc = subprocess.call({nvc} + ["--root", {root!r}, "configure", "--pid=%d" % pid, "--device=1,0:1",
                              "--utility", "--compute", {rootfs!r}])
if rc:
    sys.exit(rc)
# Test only: also bind an unselected GPU's node, with no cgroup rule, to see the cgroup refuse it.
target = {rootfs!r} + "/dev/nvidia-unselected"
subprocess.check_call(["/usr/bin/nsenter", "-t", str(pid), "-m", "/bin/sh", "-c",
                       "touch %s && mount --bind %s %s" % (target, {unselected!r}, target)],
                      env={{"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}})
"""

CHECK = ("nvidia-smi; echo rc=$?; cudaver; head -c1 /dev/nvidia{selected} 2>&1; "
         "head -c1 /dev/nvidia-unselected 2>&1; ls /usr/lib/x86_64-linux-gnu")


@pytest.fixture(scope="module")
def cudaver(sim_driver, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("cudaver")
    (d / "cudaver.c").write_text(CUDAVER)
    subprocess.run(["gcc", "-o", str(d / "cudaver"), str(d / "cudaver.c"), f"-L{sim_driver.lib_dir}", "-lcuda"],
                   check=True)
    return d / "cudaver"


@pytest.mark.parametrize("cgroup2", [False, True], ids=["cgroup-v1", "cgroup-v2"])
def test_gpu_and_mig_in_a_runc_container(sim_driver, cudaver, tmp_path, cgroup2: bool) -> None:  # type: ignore[no-untyped-def]
    topo = sim_driver.topology
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    rootfs = bundle / "rootfs"
    unselected = topo.gpus[2]
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK.format(nvc=json.dumps(NVC), root=str(sim_driver.root), rootfs=str(rootfs),
                                unselected=str(sim_driver.root / "dev" / f"nvidia{unselected.minor}")))
    runc_bundle(bundle, ["/bin/sh", "-c", CHECK.format(selected=topo.gpus[1].minor)],
                [sys.executable, str(hook)], glibc=True)
    (rootfs / "usr/bin/cudaver").write_bytes(cudaver.read_bytes())
    (rootfs / "usr/bin/cudaver").chmod(0o755)
    host_before = mountinfo()
    out = runc_run(bundle, cgroup2=cgroup2)
    assert out.returncode == 0, out.stderr + out.stdout
    assert mountinfo() == host_before
    lines = out.stdout.splitlines()
    gpu0, gpu1, mig = topo.gpus[0], topo.gpus[1], topo.gpus[0].migs[1]
    assert lines[:4] == [
        f"GPU 0: {gpu0.name} (UUID: {gpu0.uuid})",
        f"  MIG {mig.profile:<11} Device  0: (UUID: {mig.uuid})",
        f"GPU 1: {gpu1.name} (UUID: {gpu1.uuid})",
        "rc=0",
    ]
    assert lines[4] == f"cuda-driver-version {topo.cuda_version} devices 2 init 0"
    assert "No such device or address" in lines[5], "the selected GPU is allowed (ENXIO: no hardware)"
    assert "Operation not permitted" in lines[6], "an unselected GPU is refused by the device cgroup"
    libs = lines[7:]
    assert f"libcuda.so.{topo.driver_version}" in libs and "libcuda.so.1" in libs, "ldconfig made the soname links"


def test_driver_under_its_own_prefix(build_sim, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A driver under /usr/local/nvidia with wrapper scripts in /usr/bin (the layout of the H200
    machines this was checked on): the container gets the real ELF programs, so nvidia-smi runs
    inside it; a wrapper would exec /usr/local/nvidia/bin/nvidia-smi, which the container lacks."""
    sim = build_sim(layout="prefix")
    gpu = sim.topology.gpus[1]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    hook = configure_hook(tmp_path, ["--root", str(sim.root), "configure", "--device=1", "--utility",
                                     str(bundle / "rootfs")])
    runc_bundle(bundle, ["/bin/sh", "-c", "nvidia-smi -L; echo rc=$?; head -c4 /usr/bin/nvidia-smi | tail -c3"],
                hook, glibc=True)
    out = runc_run(bundle)
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.splitlines() == [f"GPU 0: {gpu.name} (UUID: {gpu.uuid})", "rc=0", "ELF"]
