"""The doctor's docker --gpus check against a real dockerd (issue 19.7), and docker's own verdict.

dockerd registers its "nvidia" device driver only when nvidia-container-runtime-hook is on its
PATH as it starts; without it ``docker run --gpus all`` says
``could not select device driver "" with capabilities: [[gpu]]``.  Each case starts dockerd (by
hand, stopped by PID) with a PATH of our choosing, asks the doctor about that very process, and
then asks docker: the two must agree.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

from nvcontainer.doctor import Check
from nvcontainer.doctor.engines import GPUS_ERROR, docker_gpus_check, running_dockerds

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class Docker:
    def __init__(self, tmp: Path, path_env: str) -> None:
        self.env: Dict[str, str] = {"PATH": path_env, "DOCKER_HOST": f"unix://{tmp}/sock", "HOME": str(tmp)}
        self.proc = subprocess.Popen(
            ["dockerd", "--iptables=false", "--bridge=none", "--storage-driver=vfs", f"--data-root={tmp}/data",
             f"--exec-root={tmp}/exec", f"--pidfile={tmp}/pid", "-H", self.env["DOCKER_HOST"]],
            env=self.env, stdout=(tmp / "log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while self.docker("info").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"dockerd did not start: {(tmp / 'log').read_text()[-2000:]}")
            time.sleep(0.2)
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo("etc/hostname")
            tar.addfile(info, io.BytesIO(b""))
        self.docker("import", "-", "gpus:test", stdin=data.getvalue())

    def docker(self, *args: str, stdin: Optional[bytes] = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["docker", *args], env=self.env, input=stdin, capture_output=True, timeout=120)

    def gpus_error(self) -> str:
        out = self.docker("run", "--rm", "--network=none", "--gpus", "all", "gpus:test", "/bin/true")
        assert out.returncode != 0, "the image has no /bin/true: the run must fail, only the reason differs"
        return out.stderr.decode(errors="replace")

    def check(self) -> Check:
        mine = [d for d in running_dockerds() if d.pid == self.proc.pid]
        assert len(mine) == 1, "the doctor sees this dockerd in /proc"
        assert mine[0].path_env == self.env["PATH"]
        return docker_gpus_check(mine)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def hook_dir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    return d


def _install_compat(prefix: Path) -> None:
    made = subprocess.run([sys.executable, "-m", "cli.ctk", "install-compat", f"--prefix={prefix}"],
                          capture_output=True, text=True, cwd=str(REPO))
    assert made.returncode == 0, made.stderr


def _docker(tmp_path: Path, path_env: str) -> Iterator[Docker]:
    daemon = Docker(tmp_path / "d", path_env)
    try:
        yield daemon
    finally:
        daemon.stop()


def test_no_hook_on_dockerds_path(tmp_path: Path, hook_dir: Path) -> None:
    (tmp_path / "d").mkdir()
    for daemon in _docker(tmp_path, f"{hook_dir}:{SYSTEM_PATH}"):
        check = daemon.check()
        assert check.ok is False
        assert check.summary == (f"docker run --gpus fails ('{GPUS_ERROR}'): no nvidia-container-runtime-hook "
                                 f"on the PATH of dockerd (pid {daemon.proc.pid}): {hook_dir}:{SYSTEM_PATH}")
        assert "nvc-ctk install-compat --prefix=DIR" in check.fix
        assert GPUS_ERROR in daemon.gpus_error(), "docker agrees"
        # Installed while dockerd runs: still broken until a restart, and the doctor says so.
        _install_compat(hook_dir)
        late = daemon.check()
        assert late.ok is False and "until dockerd (pid" in late.summary
        assert late.fix.startswith("restart docker")
        assert GPUS_ERROR in daemon.gpus_error(), "docker agrees: a restart is needed"


def test_hook_there_before_dockerd_starts(tmp_path: Path, hook_dir: Path) -> None:
    (tmp_path / "d").mkdir()
    _install_compat(hook_dir)
    time.sleep(1.1)  # start times have clock-tick resolution; the hook must be clearly older
    for daemon in _docker(tmp_path, f"{hook_dir}:{SYSTEM_PATH}"):
        check = daemon.check()
        assert check.ok is True, check
        assert check.summary == (f"docker run --gpus can work: dockerd finds "
                                 f"{hook_dir}/nvidia-container-runtime-hook")
        assert GPUS_ERROR not in daemon.gpus_error(), "docker found its nvidia device driver"
