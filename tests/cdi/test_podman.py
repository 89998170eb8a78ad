"""Real podman (4.3) with our generated spec in a CDI spec dir, under crun and runc alike: the
simulated nvidia-smi inside sees exactly the devices asked for, and only because our hooks ran
(update-ldcache made libnvidia-ml.so.1 findable in an image whose own ld.so.cache does not know
it; mount-driver-proc showed the simulated driver's /proc files, which a spec mount under /proc
could not: runc refuses those).

podman 4.3 has no ``--cdi-spec-dir``: the spec goes to ``/var/run/cdi`` under a file name of
its own, with a class of its own (``nvidia.com/gpu-<random>``) so that no other spec on the
machine can conflict.  The hook is this checkout's, installed as a launcher.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence

import pytest

from nvcontainer.cdi.generate import generate
from nvcontainer.cdi.spec import write_spec
from tests.cdi.helpers import driver_of
from tests.containers import make_rootfs, mountinfo

SPEC_DIR = Path("/var/run/cdi")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CONTAINERS_CONF for this machine's rlimits, and crun's hugetlb mount (once per boot)."""
    hugetlb = "/sys/fs/cgroup/hugetlb"
    if subprocess.run(["mountpoint", "-q", hugetlb]).returncode != 0:
        os.makedirs(hugetlb, exist_ok=True)
        subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", hugetlb], check=True)
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
    return conf


def _install(spec_name: str, document: Dict[str, Any]) -> Path:
    SPEC_DIR.mkdir(parents=True, exist_ok=True)
    path = SPEC_DIR / spec_name
    write_spec(document, str(path))
    return path


@pytest.fixture(scope="module", params=["debian", "rhel"])
def kind(request: pytest.FixtureRequest, build_sim, cdi_hook: Path) -> Iterator[str]:
    sim = build_sim(layout=request.param)
    class_ = f"gpu-{uuid.uuid4().hex[:8]}"
    path = _install(f"nvc-test-{class_}.yaml", generate(driver_of(sim), class_=class_, hook_path=str(cdi_hook)))
    try:
        yield f"nvidia.com/{class_}"
    finally:
        path.unlink()


@pytest.fixture(params=["crun", "runc"])
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def podman(conf: Path, rootfs: Path, *args: str, env: Sequence[str] = (), runtime: str = "crun",
           ) -> subprocess.CompletedProcess:
    argv = ["podman", "run", "--rm", "--network=none", "--runtime", runtime]
    for item in env:
        argv += ["-e", item]
    return subprocess.run([*argv, *args[:-1], "--rootfs", str(rootfs), *args[-1].split()], capture_output=True,
                          text=True, timeout=180, env={**os.environ, "CONTAINERS_CONF": str(conf)},
                          stdin=subprocess.DEVNULL)


def fresh_rootfs(tmp_path: Path) -> Path:
    rootfs = make_rootfs(tmp_path / "rootfs", glibc=True)
    listing = subprocess.run(["ldconfig", "-p", "-C", str(rootfs / "etc/ld.so.cache")], capture_output=True,
                             text=True).stdout
    assert "libnvidia-ml" not in listing  # only the update-ldcache hook can make nvidia-smi work
    return rootfs


def driver_mounts(sim_root: Path) -> List[str]:
    """The host's mounts a hook of ours could have leaked (podman mounts its own storage meanwhile)."""
    return [line for line in mountinfo() if "/proc/driver" in line or str(sim_root) in line or "nvidia" in line]


def gpu_lines(text: str) -> List[str]:
    return [line for line in text.splitlines() if line.startswith("GPU ")]


def test_one_gpu(engine: Path, kind: str, tmp_path: Path, sim_driver, runtime: str) -> None:
    out = podman(engine, fresh_rootfs(tmp_path), "--device", f"{kind}=1", "nvidia-smi", runtime=runtime)
    assert out.returncode == 0, out.stderr
    uuid1 = sim_driver.topology.gpus[1].uuid
    assert gpu_lines(out.stdout) == [f"GPU 0: NVIDIA A100-SXM4-40GB (UUID: {uuid1})"]


def test_all_gpus(engine: Path, kind: str, tmp_path: Path, sim_driver, runtime: str) -> None:
    out = podman(engine, fresh_rootfs(tmp_path), "--device", f"{kind}=all", "nvidia-smi", runtime=runtime)
    assert out.returncode == 0, out.stderr
    assert [line.split("UUID: ")[1].rstrip(")") for line in gpu_lines(out.stdout)] == [
        g.uuid for g in sim_driver.topology.gpus]
    assert out.stdout.count("  MIG ") == 3


def test_a_mig_device(engine: Path, kind: str, tmp_path: Path, sim_driver, runtime: str) -> None:
    out = podman(engine, fresh_rootfs(tmp_path), "--device", f"{kind}=0:1", "nvidia-smi", runtime=runtime)
    assert out.returncode == 0, out.stderr
    gpu0 = sim_driver.topology.gpus[0]
    assert gpu_lines(out.stdout) == [f"GPU 0: NVIDIA A100-SXM4-40GB (UUID: {gpu0.uuid})"]
    [mig] = [line for line in out.stdout.splitlines() if "MIG " in line]
    assert gpu0.migs[1].uuid in mig


def test_what_the_hooks_did_inside(engine: Path, kind: str, tmp_path: Path, sim_driver, runtime: str) -> None:
    """The create-symlinks, update-application-profile and mount-driver-proc hooks as the container sees them;
    no mount of theirs is left on the host."""
    rootfs = fresh_rootfs(tmp_path)
    (rootfs / "check.sh").write_text(
        "cat /etc/nvidia/nvidia-application-profiles-rc.d/10-container.conf; echo\n"
        "for f in /usr/lib/x86_64-linux-gnu/libcuda.so /usr/lib64/libcuda.so; do [ -L $f ] && readlink $f; done\n"
        "cat /proc/driver/nvidia/version | head -n 1\n"
        "ls /dev | grep '^nvidia[0-9]'\n")
    before = driver_mounts(sim_driver.root)
    out = podman(engine, rootfs, "--device", f"{kind}=2", "/bin/sh /check.sh", runtime=runtime)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        '{"profiles":[{"name":"_container_","settings":["EGLVisibleDGPUDevices",0x4]}],'
        '"rules":[{"pattern":[],"profile":"_container_"}]}',
        "libcuda.so.1",
        (sim_driver.root / "proc/driver/nvidia/version").read_text().splitlines()[0],
        "nvidia2"]
    assert driver_mounts(sim_driver.root) == before


def test_unknown_device_is_podmans_cdi_error(engine: Path, kind: str, tmp_path: Path) -> None:
    out = podman(engine, fresh_rootfs(tmp_path), "--device", f"{kind}=9", "nvidia-smi")
    assert out.returncode == 126
    assert f"Error: setting up CDI devices: unresolvable CDI devices {kind}=9" in out.stderr


def test_hooks_get_only_their_own_env(engine: Path, build_sim, tmp_path: Path, cdi_hook: Path) -> None:
    """CVE-2025-23266: the image's/engine's env (LD_PRELOAD!) never reaches the hook."""
    record = tmp_path / "hook-env"
    wrapper = tmp_path / "hook-wrapper"
    wrapper.write_text(f"#!/bin/sh\n/usr/bin/env >> {record}\necho --- >> {record}\n"
                       f"exec {cdi_hook} \"$@\"\n")
    wrapper.chmod(0o755)
    class_ = f"gpu-{uuid.uuid4().hex[:8]}"
    path = _install(f"nvc-test-{class_}.yaml", generate(driver_of(build_sim()), class_=class_,
                                                        hook_path=str(wrapper)))
    try:
        out = podman(engine, fresh_rootfs(tmp_path), "--device", f"nvidia.com/{class_}=1", "nvidia-smi",
                     env=["LD_PRELOAD=/proc/self/cwd/evil.so", "SECRET_FROM_IMAGE=1"])
    finally:
        path.unlink()
    assert out.returncode == 0, out.stderr
    runs = [chunk.split() for chunk in record.read_text().split("---") if chunk.strip()]
    assert len(runs) == 7  # mount-driver-proc, then nvidia-ctk's six
    for env in runs:
        assert "NVIDIA_CTK_DEBUG=false" in env
        assert not [e for e in env if e.startswith(("LD_PRELOAD=", "SECRET_FROM_IMAGE=", "PATH=/usr/local"))]
