"""End to end through nvc-cli: auto:1 --exclusive into real mount namespaces, nvc-cli ps, and a
killed container's GPU going to the next request."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from nvcontainer import container as conf
from nvcontainer.allocation import holdings, owner_of
from nvcontainer.errors import ContainerError, RequirementError
from tests.containers import NamespaceProcess, make_rootfs, nvc

SINCE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@pytest.fixture
def env(state: str) -> Dict[str, str]:
    return {**os.environ, "NVC_STATE_DIR": state}


@pytest.fixture
def procs() -> Iterator[List[NamespaceProcess]]:
    started: List[NamespaceProcess] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.close()


def gpu_nodes(proc: NamespaceProcess, rootfs: Path) -> List[str]:
    out = proc.run("chroot", str(rootfs), "/bin/ls", "/dev")
    assert out.returncode == 0, out.stderr
    return sorted(n for n in out.stdout.split() if re.fullmatch(r"nvidia\d+", n))


def configure(root: str, proc: NamespaceProcess, rootfs: Path, env: Dict[str, str], *extra: str):
    return nvc("--root", root, "configure", "--device=auto:1", *extra, f"--pid={proc.pid}", "--utility",
               str(rootfs), env=env)


def test_two_containers_get_different_gpus_and_a_dead_ones_gpu_is_reused(
        sim_driver, tmp_path, env, state, procs) -> None:
    root, topo = str(sim_driver.root), sim_driver.topology
    rootfs = [make_rootfs(tmp_path / f"rootfs{i}") for i in range(3)]
    first, second = NamespaceProcess(), NamespaceProcess()
    procs += [first, second]
    for proc, fs in ((first, rootfs[0]), (second, rootfs[1])):
        out = configure(root, proc, fs, env, "--exclusive")
        assert out.returncode == 0, out.stderr
    # dgx-a100: GPU 0 is in MIG mode (not a whole GPU for auto); GPUs 1..7 are equal: lowest index wins
    assert gpu_nodes(first, rootfs[0]) == [f"nvidia{topo.gpus[1].minor}"]
    assert gpu_nodes(second, rootfs[1]) == [f"nvidia{topo.gpus[2].minor}"]

    ps = nvc("ps", env=env)
    assert ps.returncode == 0, ps.stderr
    lines = ps.stdout.splitlines()
    assert lines[0].split() == ["DEVICE", "KIND", "UUID", "CONTAINER", "PID", "ACCESS", "SINCE"]
    rows = [line.split() for line in lines[1:]]
    assert [r[:6] for r in rows] == [
        ["1", "gpu", topo.gpus[1].uuid, str(first.pid), str(first.pid), "exclusive"],
        ["2", "gpu", topo.gpus[2].uuid, str(second.pid), str(second.pid), "exclusive"],
    ]
    assert all(re.fullmatch(SINCE, r[6]) for r in rows)
    ps_json = json.loads(nvc("ps", "--json", env=env).stdout)
    assert [(r["pid"], r["access"], [d["uuid"] for d in r["devices"]]) for r in ps_json] == [
        (first.pid, "exclusive", [topo.gpus[1].uuid]), (second.pid, "exclusive", [topo.gpus[2].uuid])]

    # an explicit request for a GPU held exclusively is refused, naming the holder
    third = NamespaceProcess()
    procs.append(third)
    out = nvc("--root", root, "configure", "--device=1", f"--pid={third.pid}", "--utility", str(rootfs[2]),
              env=env)
    assert out.returncode == 1
    assert re.fullmatch(f"nvc-cli: device error: 1: held exclusively by container {first.pid} since {SINCE}\n",
                        out.stderr), out.stderr
    assert gpu_nodes(third, rootfs[2]) == []

    # the first container dies: its GPU is the best free one again
    first.close()
    out = configure(root, third, rootfs[2], env, "--exclusive")
    assert out.returncode == 0, out.stderr
    assert gpu_nodes(third, rootfs[2]) == [f"nvidia{topo.gpus[1].minor}"]
    rows = [line.split() for line in nvc("ps", env=env).stdout.splitlines()[1:]]
    assert [(r[0], r[4]) for r in rows] == [("1", str(third.pid)), ("2", str(second.pid))]
    assert sorted(os.listdir(state)) == [".lock", f"pid-{second.pid}.json", f"pid-{third.pid}.json"]


def test_dry_run_resolves_auto_without_recording(sim_driver, tmp_path, env, state, procs) -> None:
    root, topo = str(sim_driver.root), sim_driver.topology
    holder = NamespaceProcess()
    procs.append(holder)
    out = configure(root, holder, make_rootfs(tmp_path / "held"), env, "--exclusive")
    assert out.returncode == 0, out.stderr
    rootfs = make_rootfs(tmp_path / "rootfs")
    out = nvc("--root", root, "configure", "--device=auto:2", "--exclusive", "--dry-run", str(rootfs), env=env)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    text = json.dumps(plan)
    assert f"/dev/nvidia{topo.gpus[2].minor}" in text and f"/dev/nvidia{topo.gpus[3].minor}" in text
    assert f"/dev/nvidia{topo.gpus[1].minor}\"" not in text
    assert [r.owner.pid for r in holdings(state_dir=state)] == [holder.pid]


def test_shell_errors_are_one_line(sim_driver, tmp_path, env, procs) -> None:
    root = str(sim_driver.root)
    proc = NamespaceProcess()
    procs.append(proc)
    rootfs = make_rootfs(tmp_path / "rootfs")
    out = nvc("--root", root, "configure", "--device=auto:11", f"--pid={proc.pid}", str(rootfs), env=env)
    # auto counts whole GPUs: dgx-a100's GPUs 1-7 (GPU 0 is in MIG mode; its MIG devices are auto:mig's)
    assert (out.returncode, out.stderr) == (1, "nvc-cli: device error: auto:11: only 7 GPUs are free\n")
    out = nvc("--root", root, "configure", "--device=auto:mig:4", f"--pid={proc.pid}", str(rootfs), env=env)
    assert (out.returncode, out.stderr) == (1, "nvc-cli: device error: auto:mig:4: only 3 MIG devices are free\n")
    out = nvc("--root", root, "configure", "--device=auto:1", "--pid=999999999", str(rootfs), env=env)
    assert (out.returncode, out.stderr) == (1, "nvc-cli: container error: open failed: 999999999: no such process\n")
    ps = nvc("ps", env=env)
    assert (ps.returncode, ps.stdout) == (0, "DEVICE   KIND   UUID   CONTAINER   PID   ACCESS   SINCE\n")


def test_library_configure_withdraws_on_failure_and_records_container_id(
        sim_driver, tmp_path, state, procs) -> None:
    root = str(sim_driver.root)
    proc = NamespaceProcess()
    procs.append(proc)
    rootfs = make_rootfs(tmp_path / "rootfs")
    bad = conf.Request(str(rootfs), devices="auto:1", exclusive=True, requirements=["cuda>=99.0"],
                       container_id="ctr-1", state_dir=state)
    with pytest.raises(RequirementError):
        conf.configure(bad, pid=proc.pid, root=root)
    assert holdings(state_dir=state) == ()
    good = conf.Request(str(rootfs), devices="auto:1", exclusive=True, container_id="ctr-1", state_dir=state)
    conf.configure(good, pid=proc.pid, root=root)
    (record,) = holdings(state_dir=state)
    assert (record.key, record.owner, record.exclusive) == ("ctr-1", owner_of(proc.pid, "ctr-1"), True)
    with pytest.raises(ContainerError, match="^open failed: 999999999: no such process$"):
        conf.configure(conf.Request(str(rootfs), devices="1", exclusive=True, state_dir=state), pid=999999999,
                       root=root)
