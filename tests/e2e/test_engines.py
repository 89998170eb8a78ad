"""End to end with real engines, each started here and stopped by PID (engines.md):
docker --gpus (our hook on dockerd's PATH as nvidia-container-runtime-hook), docker
--runtime=nvidia (configured by nvc-ctk runtime configure), ctr run --gpus (our nvc-cli on ctr's
PATH as nvidia-container-cli), and the bad cases, which must stop the container with our line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from nvcontainer.simulate import SimulatedDriver
from nvcontainer.simulate.bundle import make_rootfs
from tests.containers import mountinfo
from tests.e2e.images import oci_archive

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
# This checkout's nvc-ctk (not the console script on PATH, which may be another checkout's): the
# launchers install-compat writes import nvcontainer from where nvc-ctk imported it.
CTK = [sys.executable, "-m", "cli.ctk"]
IMAGE = "docker.io/library/nvtest:latest"


class Daemon:
    def __init__(self, argv: List[str], env: Dict[str, str], log: Path, ready: List[str]) -> None:
        self.log = log
        self.proc = subprocess.Popen(argv, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while subprocess.run(ready, capture_output=True, env=env).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def setup(sim_driver: SimulatedDriver, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    d = tmp_path_factory.mktemp("engines")
    bindir = d / "bin"
    bindir.mkdir()
    # The names engines look for, made by `nvc-ctk install-compat`: nvidia-container-cli a link to
    # nvc-cli, the hook its python -I -S launcher (dockerd's environment cannot steer the
    # interpreter), the runtime its sh front (the shim for create, runc directly for the rest).
    made = subprocess.run([*CTK, "install-compat", f"--prefix={bindir}"], capture_output=True, text=True, cwd=REPO)
    assert made.returncode == 0, made.stderr
    # install-compat links nvidia-container-cli to the installed nvc-cli; this checkout's instead.
    cli = d / "nvc-cli"
    cli.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m cli.main "$@"\n')
    cli.chmod(0o755)
    (bindir / "nvidia-container-cli").unlink()
    (bindir / "nvidia-container-cli").symlink_to(cli)
    config = d / "config.toml"
    state = d / "allocations"
    # The allocation registry comes from config.toml, which every hook reads, however started.
    # This operator lets containers ask for exclusive GPUs (off by default: tests/security/test_policy.py).
    config.write_text(f'[nvidia-container-cli]\nroot = "{sim_driver.root}"\n\n'
                      f'[nvcontainer]\nstate-dir = "{state}"\n\n'
                      '[nvidia-container-runtime-hook]\naccept-gpu-access-envvar = true\n')
    rootfs = make_rootfs(d / "rootfs", glibc=True)
    return {"dir": d, "bin": bindir, "config": config, "rootfs": rootfs, "state": state}


def engine_env(setup: Dict[str, Path]) -> Dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{setup['bin']}:{BIN}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    env["NVIDIA_CTK_CONFIG_FILE_PATH"] = str(setup["config"])
    env.pop("NVC_STATE_DIR", None)  # no override: the registry is config.toml's nvcontainer.state-dir
    return env


@pytest.fixture(scope="module")
def docker(setup: Dict[str, Path]) -> Iterator[Dict[str, str]]:
    d = setup["dir"] / "docker"
    d.mkdir()
    env = engine_env(setup)
    sock = f"unix://{d}/sock"
    daemon_json = d / "daemon.json"
    daemon_json.write_text('{"log-level": "warn"}\n')
    configured = subprocess.run([*CTK, "runtime", "configure", "--runtime=docker", f"--config={daemon_json}",
                                 f"--runtime-path={setup['bin'] / 'nvidia-container-runtime'}"],
                                capture_output=True, text=True, cwd=REPO)
    assert configured.returncode == 0, configured.stderr
    env["DOCKER_HOST"] = sock
    env["NVC_STATE"] = str(setup["state"])  # for the tests (read by nothing else)
    daemon = Daemon(["dockerd", "--iptables=false", "--bridge=none", "--storage-driver=vfs",
                     f"--data-root={d}/data", f"--exec-root={d}/exec", f"--pidfile={d}/pid", "-H", sock,
                     f"--config-file={daemon_json}"], env, d / "log", ["docker", "info"])
    try:
        tar = subprocess.Popen(["tar", "-C", str(setup["rootfs"]), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-", "nvtest:latest"], stdin=tar.stdout, env=env, check=True,
                       capture_output=True)
        tar.wait()
        yield env
    finally:
        daemon.stop()


def docker_run(env: Dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "run", "--rm", "--network=none", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def gpu_lines(stdout: str) -> List[str]:
    return [line for line in stdout.splitlines() if line.startswith("GPU ")]


def expected(sim: SimulatedDriver, *indexes: int) -> List[str]:
    gpus = sim.topology.gpus
    return [f"GPU {i}: {gpus[n].name} (UUID: {gpus[n].uuid})" for i, n in enumerate(indexes)]


def test_docker_gpus_device(docker: Dict[str, str], sim_driver: SimulatedDriver) -> None:
    before = mountinfo()
    out = docker_run(docker, "--gpus", "device=1", "nvtest:latest", "nvidia-smi")
    assert out.returncode == 0, out.stderr
    assert gpu_lines(out.stdout) == expected(sim_driver, 1)
    assert mountinfo() == before


def test_docker_gpus_all(docker: Dict[str, str], sim_driver: SimulatedDriver) -> None:
    out = docker_run(docker, "--gpus", "all", "nvtest:latest", "nvidia-smi")
    assert out.returncode == 0, out.stderr
    assert gpu_lines(out.stdout) == expected(sim_driver, *range(len(sim_driver.topology.gpus)))


def test_docker_runtime_nvidia(docker: Dict[str, str], sim_driver: SimulatedDriver) -> None:
    out = docker_run(docker, "--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=0,2", "nvtest:latest", "nvidia-smi")
    assert out.returncode == 0, out.stderr
    assert gpu_lines(out.stdout) == expected(sim_driver, 0, 2)


@pytest.mark.parametrize("args,message", [
    (["--gpus", "device=9"], "nvc-cli: device error: 9: unknown device"),
    (["--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=1", "-e", "NVIDIA_REQUIRE_CUDA=cuda>=13.0"],
     "nvc-cli: requirement error: unsatisfied condition: cuda>=13.0, please update your driver"),
    (["--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=1", "-e", "NVIDIA_DRIVER_CAPABILITIES=compute,bogus"],
     "nvc-cli: input error: unsupported capabilities found in 'compute,bogus'"),
], ids=["unknown-device", "unsatisfied-cuda", "bad-capability"])
def test_docker_refuses_bad_requests(docker: Dict[str, str], args: List[str], message: str) -> None:
    before = mountinfo()
    out = docker_run(docker, *args, "nvtest:latest", "true")
    assert out.returncode != 0
    assert message in out.stderr
    assert mountinfo() == before


@pytest.fixture(scope="module")
def containerd(setup: Dict[str, Path]) -> Iterator[Dict[str, str]]:
    d = setup["dir"] / "containerd"
    d.mkdir()
    env = engine_env(setup)
    env["CONTAINERD_ADDRESS"] = f"{d}/sock"
    env["CONTAINERD_NAMESPACE"] = "nvtest"
    daemon = Daemon(["containerd", f"--root={d}/root", f"--state={d}/state", f"--address={d}/sock"], env,
                    d / "log", ["ctr", "version"])
    try:
        archive = oci_archive(setup["rootfs"], d / "image.tar", IMAGE)
        subprocess.run(["ctr", "images", "import", str(archive)], env=env, check=True, capture_output=True)
        yield env
    finally:
        daemon.stop()


def ctr_run(env: Dict[str, str], *args: str) -> subprocess.CompletedProcess:
    cid = "nvc-" + uuid.uuid4().hex[:8]
    return subprocess.run(["ctr", "run", "--rm", *args, IMAGE, cid, "nvidia-smi"], env=env, capture_output=True,
                          text=True, timeout=120)


def test_ctr_gpus(containerd: Dict[str, str], sim_driver: SimulatedDriver) -> None:
    before = mountinfo()
    out = ctr_run(containerd, "--gpus", "0")
    assert out.returncode == 0, out.stderr
    assert gpu_lines(out.stdout)[0] == expected(sim_driver, 0)[0]
    assert mountinfo() == before


def test_ctr_unknown_gpu(containerd: Dict[str, str]) -> None:
    out = ctr_run(containerd, "--gpus", "9")
    assert out.returncode != 0
    assert "nvc-cli: device error: 9: unknown device" in out.stderr


def test_docker_auto_exclusive_allocation(docker: Dict[str, str], sim_driver: SimulatedDriver) -> None:
    """NVIDIA_VISIBLE_DEVICES=auto:1 through the shim: a free whole GPU, recorded while it runs."""
    whole = [g.uuid for g in sim_driver.topology.gpus if not g.mig_enabled]
    out = docker_run(docker, "--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=auto:1", "-e",
                     "NVIDIA_GPU_ACCESS=exclusive", "nvtest:latest", "nvidia-smi")
    assert out.returncode == 0, out.stderr
    lines = gpu_lines(out.stdout)
    assert len(lines) == 1 and lines[0].split("UUID: ")[1].rstrip(")") in whole
    state = Path(docker["NVC_STATE"])
    assert os.path.isdir(state), "the configured registry was used"
    assert not [p for p in os.listdir(state) if p.endswith(".json")], "poststop released the record"


def nvc_ps(env: Dict[str, str]) -> List[List[str]]:
    out = subprocess.run([sys.executable, "-m", "cli.main", "ps"], env=env, capture_output=True, text=True,
                         cwd=REPO)
    assert out.returncode == 0, out.stderr
    return [line.split() for line in out.stdout.splitlines()[1:]]


@pytest.mark.parametrize("first,second", [
    (["--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=3"], ["--gpus", "device=3"]),
    (["--gpus", "device=3"], ["--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=3"]),
], ids=["runtime-then-gpus", "gpus-then-runtime"])
def test_exclusive_gpu_holds_across_runtime_and_gpus(docker: Dict[str, str], sim_driver: SimulatedDriver,
                                                      first: List[str], second: List[str]) -> None:
    """The hook our shim inserts (--runtime=nvidia) and the one docker calls for --gpus share one
    registry (config.toml's nvcontainer.state-dir): a GPU held exclusively by a container started
    one way is refused to a container started the other way, and free again once it is gone."""
    gpu = sim_driver.topology.gpus[3]
    holder = subprocess.run(["docker", "run", "-d", "--rm", "--network=none", *first, "-e",
                             "NVIDIA_GPU_ACCESS=exclusive", "nvtest:latest", "sleep", "120"],
                            env=docker, capture_output=True, text=True, timeout=120)
    assert holder.returncode == 0, holder.stderr
    cid = holder.stdout.strip()
    try:
        rows = nvc_ps(docker)  # nvc-cli ps finds the same registry through config.toml
        assert [(r[0], r[1], r[2], r[5]) for r in rows] == [("3", "gpu", gpu.uuid, "exclusive")]
        refused = docker_run(docker, *second, "nvtest:latest", "nvidia-smi")
        assert refused.returncode != 0
        assert "nvc-cli: device error: 3: held exclusively by container " in refused.stderr, refused.stderr
    finally:
        subprocess.run(["docker", "rm", "-f", cid], env=docker, capture_output=True, timeout=60)
    assert nvc_ps(docker) == []  # released (poststop) or reclaimed (its process is gone)
    again = docker_run(docker, *second, "nvtest:latest", "nvidia-smi")
    assert again.returncode == 0, again.stderr
    assert gpu_lines(again.stdout) == expected(sim_driver, 3)
