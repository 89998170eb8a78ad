"""Family 7: faults.  The container dies while configure runs (0-60 ms in); NVML fails in the middle of the
enumeration; 32 configures run at once into 32 namespaces.  Every configure ends cleanly and
nothing on the host changes."""

from __future__ import annotations

import multiprocessing
import random
import subprocess
import time
from pathlib import Path
from typing import Any, List

import pytest

from tests.containers import NVC, NamespaceProcess, make_rootfs, mountinfo
from tests.security.harness import (
    BOARD,
    Arena,
    HostWatch,
    call_configure,
    classify_cli,
    mount_points,
    new_mounts,
    outside,
)

KILLS = 12
PARALLEL = 32


def _configure_in_child(queue: Any, request: Any, pid: int, root: str) -> None:
    outcome = call_configure(request, pid=pid, root=root)
    queue.put((outcome.kind, outcome.detail))


def test_container_dies_during_configure(arena: Arena) -> None:
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(20240132)
    kinds = []
    for i in range(KILLS):
        proc = arena.new_container()
        before = arena.watch.take()
        queue = ctx.Queue()
        child = ctx.Process(target=_configure_in_child,
                            args=(queue, arena.request(), proc.pid, str(arena.sim.root)))
        child.start()
        time.sleep(rng.uniform(0.0, 0.06))  # configure takes tens of ms now: kill within that window
        proc.close()
        child.join(60)
        assert not child.is_alive(), "configure hung after the container died"
        kind, detail = queue.get(timeout=5) if not queue.empty() else ("crash", f"exit {child.exitcode}")
        changes = arena.watch.changes(before)
        verdict = "escape" if changes else kind
        BOARD.record("faults", f"kill-{i}", verdict, "; ".join(changes) or detail)
        assert verdict in ("success", "refused"), (verdict, changes, detail)
        kinds.append(kind)
    assert "refused" in kinds, "no run was caught by the kill: the test lost its point"


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.6])
def test_container_dies_during_cli_configure(arena: Arena, delay: float) -> None:
    before = arena.watch.take()
    proc = arena.container
    cli = subprocess.Popen([*NVC, "--root", str(arena.sim.root), "configure", f"--pid={proc.pid}", "--device=all",
                            "--utility", "--compute", str(arena.rootfs)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.close()
    out, err = cli.communicate(timeout=60)
    outcome = classify_cli(subprocess.CompletedProcess(cli.args, cli.returncode, out, err))
    changes = arena.watch.changes(before)
    BOARD.record("faults", f"kill-cli-{delay}", "escape" if changes else outcome.kind, outcome.detail)
    assert not changes and outcome.kind in ("success", "refused"), (changes, outcome)


@pytest.mark.parametrize("device", ["all", "3", "0"])
def test_nvml_gpu_lost(arena_factory: Any, build_sim: Any, device: str) -> None:
    arena = arena_factory(sim=build_sim(preset="dgx-a100-gpu-lost"))
    out = arena.attack(f"gpu-lost-{device}", cli=[f"--device={device}", "--utility", "--compute"])
    if device != "0":
        assert out.kind == "refused", out.detail


def test_parallel_configures(tmp_path: Path, sim_driver: Any) -> None:
    containers: List[NamespaceProcess] = []
    rootfs = [make_rootfs(tmp_path / f"rootfs{i}") for i in range(PARALLEL)]
    watch = HostWatch([Path(sim_driver.root)], mount_scope=[tmp_path])
    try:
        containers = [NamespaceProcess() for _ in range(PARALLEL)]
        before_ns = [mountinfo(c.pid) for c in containers]
        before = watch.take()
        cmds = [[*NVC, "--root", str(sim_driver.root), "configure", f"--pid={c.pid}", "--device=all", "--utility",
                 "--compute", "--video", str(r)] for c, r in zip(containers, rootfs)]
        started = time.monotonic()
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in cmds]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=170 - (time.monotonic() - started))
            results.append(classify_cli(subprocess.CompletedProcess(p.args, p.returncode, out, err)))
        changes = watch.changes(before)
        for i, (c, r, outcome) in enumerate(zip(containers, rootfs, results)):
            stray = outside(mount_points(new_mounts(before_ns[i], mountinfo(c.pid))), r)
            verdict = "escape" if (changes or stray) else outcome.kind
            BOARD.record("faults", f"parallel-{i}", verdict, outcome.detail or "; ".join(changes + stray))
        assert not changes, changes
        assert all(o.kind == "success" for o in results), [o.detail for o in results if o.kind != "success"][:3]
    finally:
        for c in containers:
            c.close()


