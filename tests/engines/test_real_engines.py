"""The real engines read what we write: dockerd 20.10 and containerd 1.6 started (by hand, stopped
by PID) on a configuration made by ``nvc-ctk runtime configure``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, List

import pytest

from nvcontainer.engines.compat import FRONT_NAME, installed
from tests.engines.ctk import ctk
from tests.engines.test_containerd_config import variant

# What runtime configure registers by default: the shim's sh front, written beside the console script.
SHIM = os.path.join(os.path.dirname(installed("nvc-container-runtime")), FRONT_NAME)


def start(argv: List[str], log: Path, ready: Callable[[], bool]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 15
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise AssertionError(f"{argv[0]} did not start: {log.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_dockerd_lists_our_runtime_as_default(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text('{\n    "log-level": "warn",\n    "features": {"buildkit": true}\n}\n')
    out = ctk("runtime", "configure", "--runtime=docker", f"--config={config}", "--set-as-default")
    assert out.returncode == 0, out.stderr
    sock = f"unix://{tmp_path}/docker.sock"

    def info(fmt: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "-H", sock, "info", "--format", fmt], capture_output=True, text=True)

    proc = start(["dockerd", "--iptables=false", "--bridge=none", "--storage-driver=vfs",
                  f"--data-root={tmp_path}/data", f"--exec-root={tmp_path}/exec", f"--pidfile={tmp_path}/pid",
                  "-H", sock, f"--config-file={config}"], tmp_path / "log",
                 lambda: info("{{.ID}}").returncode == 0)
    try:
        runtimes = json.loads(info("{{json .Runtimes}}").stdout)
        assert runtimes["nvidia"]["path"] == SHIM
        assert "runc" in runtimes
        assert info("{{.DefaultRuntime}}").stdout.strip() == "nvidia"
    finally:
        stop(proc)
    assert proc.returncode is not None


@pytest.mark.parametrize("source", ["default", "v1", "drop-in"])
def test_containerd_loads_our_runtime(tmp_path: Path, source: str) -> None:
    config = tmp_path / "config.toml"
    if source == "v1":
        text = variant(1).replace('snapshotter = \'overlayfs\'', "snapshotter = 'native'")
    else:
        text = subprocess.run(["containerd", "config", "default"], capture_output=True, text=True, check=True).stdout
    config.write_text(text)
    drop_in = f"--drop-in-config={tmp_path}/conf.d/99-nvidia.toml" if source == "drop-in" else "--drop-in-config="
    out = ctk("runtime", "configure", "--runtime=containerd", f"--config={config}", drop_in, "--set-as-default")
    assert out.returncode == 0, out.stderr
    sock = f"{tmp_path}/containerd.sock"

    def plugins() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", "--address", sock, "plugins", "ls"], capture_output=True, text=True)

    log = tmp_path / "log"
    proc = start(["containerd", "--config", str(config), "--root", f"{tmp_path}/root", "--state",
                  f"{tmp_path}/state", "--address", sock], log, lambda: plugins().returncode == 0)
    try:
        cri = [line.split() for line in plugins().stdout.splitlines() if " cri " in f" {line} "]
        assert cri and cri[0][-1] == "ok", plugins().stdout
        deadline = time.monotonic() + 10
        while "Start cri plugin with config" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        started = next(line for line in log.read_text().splitlines() if "Start cri plugin with config" in line)
        assert "DefaultRuntimeName:nvidia " in started
        assert "nvidia:{Type:io.containerd.runc.v2 " in started
        assert f"BinaryName:{SHIM} " in started
    finally:
        stop(proc)
