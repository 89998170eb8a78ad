"""nvc-cli list --docker-args: the plain `docker run` flags for the selected GPUs, one per line."""

from __future__ import annotations

import subprocess
import sys

from nvcontainer.simulate import SimulatedDriver
from tests.engines.ctk import REPO


def test_list_docker_args(sim_driver: SimulatedDriver) -> None:
    out = subprocess.run([sys.executable, "-m", "cli.main", "--root", str(sim_driver.root), "list", "--docker-args",
                          "--device=1"], capture_output=True, text=True, cwd=str(REPO))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    gpus = sim_driver.topology.gpus
    root = sim_driver.root
    assert f"--device={root}/dev/nvidia{gpus[1].minor}:/dev/nvidia{gpus[1].minor}" in lines
    assert f"--device={root}/dev/nvidia{gpus[0].minor}:/dev/nvidia{gpus[0].minor}" not in lines
    assert f"--device={root}/dev/nvidiactl:/dev/nvidiactl" in lines
    lib = f"/usr/lib/x86_64-linux-gnu/libcuda.so.{sim_driver.topology.driver_version}"
    assert f"-v={root}{lib}:{lib}:ro" in lines
    assert all(line.startswith(("--device=", "-v=")) for line in lines)
    assert "no ldconfig run" in out.stderr and "/proc/driver/nvidia" in out.stderr
