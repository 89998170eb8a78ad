"""Family 8: mount propagation.  A "host" namespace in which the directory holding the rootfs is a
*shared* mount, and a "container" namespace cloned from it whose copy of that mount is a peer
(``--propagation unchanged``), slave or private.  Before the fix every mount configure made in a
peer container showed up in the host's mount table (27 of 27); now the mount receiving ours is
made a slave first, and the host's table never changes, on success or failure."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from nvcontainer import container as conf
from tests.containers import make_rootfs, mountinfo
from tests.security.harness import (
    BOARD,
    LIBDIR,
    call_configure,
    mount_points,
    new_mounts,
    outside,
    propagation_free,
)


class World:
    """A host namespace with ``base`` bind-mounted shared, and a container namespace cloned from it."""

    def __init__(self, base: Path, propagation: str) -> None:
        self.base = base
        ready = base.parent / "host-ready"
        self.host = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                      f"mount --bind {base} {base} && mount --make-shared {base} && "
                                      f"touch {ready} && exec sleep 600"])
        for _ in range(500):
            if ready.exists():
                break
            time.sleep(0.01)
        else:
            raise RuntimeError("host namespace not ready")
        self.container = subprocess.Popen(["nsenter", "-t", str(self.host.pid), "-m", "unshare", "-m",
                                           "--propagation", propagation, "sleep", "600"])
        host_ns = subprocess.run(["readlink", f"/proc/{self.host.pid}/ns/mnt"], capture_output=True,
                                 text=True).stdout
        for _ in range(500):
            now = subprocess.run(["readlink", f"/proc/{self.container.pid}/ns/mnt"], capture_output=True,
                                 text=True).stdout
            if now and now != host_ns:
                break
            time.sleep(0.01)

    def close(self) -> None:
        for proc in (self.container, self.host):
            proc.kill()
            proc.wait()


@pytest.fixture
def worlds() -> Iterator[List[World]]:
    made: List[World] = []
    yield made
    for world in made:
        world.close()


@pytest.mark.parametrize("fail", [False, True], ids=["success", "failure"])
@pytest.mark.parametrize("propagation", ["unchanged", "shared", "slave", "private"])
def test_no_mount_reaches_the_host(tmp_path: Path, sim_driver, worlds: List[World],  # type: ignore[no-untyped-def]
                                   propagation: str, fail: bool) -> None:
    base = tmp_path / "base"
    base.mkdir()
    rootfs = make_rootfs(base / "rootfs")
    if fail:  # a directory where a library goes: fails midway, after many mounts were made
        (rootfs / LIBDIR.lstrip("/") / f"libnvidia-ml.so.{sim_driver.topology.driver_version}").mkdir(parents=True)
    world = World(base, propagation)
    worlds.append(world)
    host_before = mountinfo(world.host.pid)
    own_before = mountinfo()
    ctr_before = mountinfo(world.container.pid)
    outcome = call_configure(conf.Request(str(rootfs), devices="all", capabilities=("utility", "compute")),
                             pid=world.container.pid, root=str(sim_driver.root))
    host_after = mountinfo(world.host.pid)
    ctr_after = mountinfo(world.container.pid)
    leaked = new_mounts(host_before, host_after) + new_mounts(own_before, mountinfo())
    case = f"{propagation}-{'failure' if fail else 'success'}"
    if leaked:
        BOARD.record("propagation", case, "escape", "; ".join(leaked[:5]))
    elif outcome.kind == "crash":
        BOARD.record("propagation", case, "crash", outcome.detail)
    else:
        BOARD.record("propagation", case, outcome.kind)
    assert not leaked, f"{len(leaked)} mounts propagated to the host, e.g. {leaked[:2]}"
    assert outcome.kind == ("refused" if fail else "success"), outcome.detail
    if fail:
        # Undone completely; only the receiving mount's propagation may have become master:N.
        assert propagation_free(ctr_after) == propagation_free(ctr_before)
    else:
        added = new_mounts(propagation_free(ctr_before), propagation_free(ctr_after))
        assert len(added) == outcome.mounts and not outside(mount_points(added), rootfs)
        assert host_after == host_before
