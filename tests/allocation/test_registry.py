"""The allocation registry: records, reclaiming dead owners, shared vs exclusive, release."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from nvcontainer import allocation
from nvcontainer.allocation import Owner, allocate, holdings, owner_of, release, withdraw
from nvcontainer.allocation.records import timestamp
from nvcontainer.errors import ContainerError, DeviceError, InputError

SINCE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def files(state: str) -> list:
    return sorted(p.name for p in Path(state).iterdir() if not p.name.startswith("."))


def test_record_format_and_holdings(varied_driver, state, sleeper) -> None:
    proc = sleeper()
    owner = owner_of(proc.pid, "c1")
    claim = allocate(varied_driver, "auto:2", owner, exclusive=True, state_dir=state)
    g = varied_driver.gpus
    assert claim.devices == f"{g[5].uuid},{g[2].uuid}" and claim.recorded
    assert files(state) == ["c1.json"]
    data = json.loads((Path(state) / "c1.json").read_text())
    stat = Path(f"/proc/{proc.pid}/stat").read_text()
    assert data["pid"] == proc.pid and data["start_time"] == int(stat[stat.rfind(")") + 2:].split()[19])
    assert data["container_id"] == "c1" and data["access"] == "exclusive" and re.fullmatch(SINCE, data["since"])
    assert [d["uuid"] for d in data["devices"]] == [g[5].uuid, g[2].uuid]
    assert [d["label"] for d in data["devices"]] == ["5", "2"]
    assert data["cgroup"] and data["cgroup"].startswith("/")
    assert holdings(state_dir=state) == (claim.allocation,)
    # a pid-only owner is recorded as pid-<pid>
    other = sleeper()
    allocate(varied_driver, "3", owner_of(other.pid), state_dir=state)
    assert files(state) == ["c1.json", f"pid-{other.pid}.json"]


def test_exited_owner_is_reclaimed(varied_driver, state, sleeper) -> None:
    proc = sleeper()
    allocate(varied_driver, "auto:8", owner_of(proc.pid, "gone"), exclusive=True, state_dir=state)
    later = sleeper()
    with pytest.raises(DeviceError, match="^auto:1: no GPUs are free$"):
        allocate(varied_driver, "auto:1", owner_of(later.pid, "later"), state_dir=state)
    proc.kill()
    proc.wait()
    claim = allocate(varied_driver, "auto:1", owner_of(later.pid, "later"), state_dir=state)
    assert claim.devices == varied_driver.gpus[5].uuid
    assert files(state) == ["later.json"]


def test_zombie_owner_is_reclaimed(varied_driver, state, sleeper) -> None:
    proc = sleeper()
    allocate(varied_driver, "1", owner_of(proc.pid, "z"), exclusive=True, state_dir=state)
    os.kill(proc.pid, signal.SIGKILL)
    for _ in range(500):  # killed but not reaped yet: a zombie, which holds nothing
        if Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1].startswith("Z"):
            break
        time.sleep(0.01)
    assert allocation.start_time(proc.pid) is None
    assert holdings(state_dir=state) == () and files(state) == []


def test_reused_pid_is_reclaimed(varied_driver, state, sleeper) -> None:
    proc = sleeper()
    live = owner_of(proc.pid, "old")
    # the record of an earlier process that had this pid: same pid, other start time
    stale = Owner(live.pid, live.start_time - 1, "old")
    allocate(varied_driver, "4", stale, exclusive=True, state_dir=state)
    assert files(state) == ["old.json"]
    assert holdings(state_dir=state) == ()
    assert files(state) == []


def test_unreadable_records_and_temporary_files_are_dropped(varied_driver, state, sleeper) -> None:
    proc = sleeper()
    allocate(varied_driver, "4", owner_of(proc.pid, "ok"), state_dir=state)
    (Path(state) / "broken.json").write_text("{not json")
    (Path(state) / ".tmp-abc").write_text("half")
    (Path(state) / "renamed.json").write_text((Path(state) / "ok.json").read_text())  # key != file name
    assert [r.key for r in holdings(state_dir=state)] == ["ok"]
    assert sorted(os.listdir(state)) == [".lock", "ok.json"]


def test_exclusive_holder_refuses_everyone(varied_driver, state, sleeper) -> None:
    a, b = sleeper(), sleeper()
    held = allocate(varied_driver, "1", owner_of(a.pid, "ctr-a"), exclusive=True, state_dir=state)
    since = held.allocation.since
    for exclusive in (False, True):
        with pytest.raises(DeviceError) as info:
            allocate(varied_driver, "0,1", owner_of(b.pid, "ctr-b"), exclusive=exclusive, state_dir=state)
        assert info.value.line() == f"nvc-cli: device error: 1: held exclusively by container ctr-a since {since}"
    with pytest.raises(DeviceError, match=f"^1: held exclusively by container ctr-a since {since}$"):
        allocate(varied_driver, varied_driver.gpus[1].uuid, owner_of(b.pid, "ctr-b"), state_dir=state)
    assert files(state) == ["ctr-a.json"]  # a refused request records nothing
    # a pid-only holder is named by its pid
    c = sleeper()
    allocate(varied_driver, "6", owner_of(c.pid), exclusive=True, state_dir=state)
    with pytest.raises(DeviceError, match=f"^6: held exclusively by container {c.pid} since "):
        allocate(varied_driver, "6", owner_of(b.pid), state_dir=state)


def test_shared_holders_share_but_block_exclusive(varied_driver, state, sleeper) -> None:
    a, b, c = sleeper(), sleeper(), sleeper()
    first = allocate(varied_driver, "2", owner_of(a.pid, "a"), state_dir=state)
    allocate(varied_driver, "2", owner_of(b.pid, "b"), state_dir=state)  # shared + shared: fine
    assert [r.key for r in holdings(state_dir=state)] == ["a", "b"]
    with pytest.raises(DeviceError) as info:
        allocate(varied_driver, "2", owner_of(c.pid, "c"), exclusive=True, state_dir=state)
    assert info.value.message == f"2: held by container a since {first.allocation.since}"
    # auto exclusive avoids the shared GPU: 5 is the best, 2 the second best
    claim = allocate(varied_driver, "auto:2", owner_of(c.pid, "c"), exclusive=True, state_dir=state)
    g = varied_driver.gpus
    assert claim.devices == f"{g[5].uuid},{g[7].uuid}"


def test_mig_device_and_its_gpu_overlap(mig_driver, state, sleeper) -> None:
    a, b = sleeper(), sleeper()
    allocate(mig_driver, "0:1", owner_of(a.pid, "a"), exclusive=True, state_dir=state)
    with pytest.raises(DeviceError, match="^0: held exclusively by container a since "):
        allocate(mig_driver, "0", owner_of(b.pid, "b"), state_dir=state)
    with pytest.raises(DeviceError, match="^0:1: held exclusively by container a since "):
        allocate(mig_driver, mig_driver.gpus[0].migs[1].uuid, owner_of(b.pid, "b"), state_dir=state)
    claim = allocate(mig_driver, "0:2", owner_of(b.pid, "b"), exclusive=True, state_dir=state)  # another MIG
    assert [u.label for u in claim.allocation.units] == ["0:2"]
    # all: GPUs 1-7 and the three MIG devices of GPU 0; 0:1 and 0:2 are held exclusively
    c = sleeper()
    with pytest.raises(DeviceError, match="^0:1: held exclusively"):
        allocate(mig_driver, "all", owner_of(c.pid, "c"), state_dir=state)
    labels = [c.unit.label for c in allocation.candidates(mig_driver)]
    assert "0" not in labels


def test_same_container_adds_devices_and_withdraw_restores(varied_driver, state, sleeper) -> None:
    a = sleeper()
    owner = owner_of(a.pid, "a")
    first = allocate(varied_driver, "1", owner, state_dir=state)
    second = allocate(varied_driver, "auto:1", owner, exclusive=True, state_dir=state)
    assert second.devices == varied_driver.gpus[5].uuid
    assert [u.label for u in second.allocation.units] == ["1", "5"] and second.allocation.exclusive
    assert second.previous == first.allocation and second.allocation.since == first.allocation.since
    withdraw(second)
    assert holdings(state_dir=state) == (first.allocation,)
    withdraw(first)
    assert holdings(state_dir=state) == ()
    # the same container id, recorded for another live process
    b = sleeper()
    allocate(varied_driver, "1", owner, state_dir=state)
    with pytest.raises(ContainerError, match=f"^container a already holds devices as pid {a.pid}$"):
        allocate(varied_driver, "2", owner_of(b.pid, "a"), state_dir=state)


def test_release_by_id_or_pid_is_idempotent(varied_driver, state, sleeper) -> None:
    assert release("nothing", state_dir=state) is False  # no state dir yet
    a, b = sleeper(), sleeper()
    allocate(varied_driver, "1", owner_of(a.pid, "a"), exclusive=True, state_dir=state)
    allocate(varied_driver, "2", owner_of(b.pid), exclusive=True, state_dir=state)
    assert release("a", state_dir=state) is True
    assert release("a", state_dir=state) is False
    assert release(b.pid, state_dir=state) is True
    assert release(b.pid, state_dir=state) is False
    assert holdings(state_dir=state) == () and files(state) == []
    with pytest.raises(InputError, match=r"^\.\./x: invalid container id$"):
        release("../x", state_dir=state)


def test_a_poststop_of_another_container_with_the_same_id_keeps_the_record(varied_driver, state, sleeper) -> None:
    """A poststop hook names its own pid: a live owner that is another process keeps its GPUs (a
    container that reused a running one's id under another runc root cannot free them)."""
    victim, attacker = sleeper(), sleeper()
    allocate(varied_driver, "1", owner_of(victim.pid, "shared-id"), exclusive=True, state_dir=state)
    for other in (attacker.pid, 0, victim.pid + 100000):
        assert release("shared-id", state_dir=state, pid=other) is False
        assert [r.key for r in holdings(state_dir=state)] == ["shared-id"]
    assert release("shared-id", state_dir=state, pid=victim.pid) is True
    assert holdings(state_dir=state) == ()
    # a dead owner's record goes whoever asks
    gone = sleeper()
    allocate(varied_driver, "2", owner_of(gone.pid, "old"), state_dir=state)
    gone.kill()
    gone.wait()
    assert release("old", state_dir=state, pid=attacker.pid) is False  # reclaimed on the way, not "released"
    assert holdings(state_dir=state) == () and files(state) == []


def test_ids_longer_than_a_file_name_get_a_hashed_key(varied_driver, state, sleeper) -> None:
    """runc takes ids longer than a file name may be: their key is their start and a hash."""
    from nvcontainer.allocation.records import MAX_KEY_LENGTH, record_key

    a, b = sleeper(), sleeper()
    long_a, long_b = "c" * 252, "c" * 251 + "d"
    assert len(record_key(long_a, 0)) == MAX_KEY_LENGTH and record_key(long_a, 0) != record_key(long_b, 0)
    assert record_key("c" * MAX_KEY_LENGTH, 0) == "c" * MAX_KEY_LENGTH
    allocate(varied_driver, "1", owner_of(a.pid, long_a), exclusive=True, state_dir=state)
    allocate(varied_driver, "2", owner_of(b.pid, long_b), state_dir=state)
    assert sorted(r.owner.container_id for r in holdings(state_dir=state)) == [long_a, long_b]
    with pytest.raises(DeviceError, match=f"^1: held exclusively by container {long_a} since "):
        allocate(varied_driver, "1", owner_of(b.pid, long_b), state_dir=state)
    assert release(long_a, state_dir=state, pid=a.pid) is True
    assert [r.owner.container_id for r in holdings(state_dir=state)] == [long_b]
    with pytest.raises(InputError, match="invalid container id"):
        record_key("c" * 1025, 0)


def test_state_dir_from_environment(varied_driver, tmp_path, sleeper, monkeypatch) -> None:
    monkeypatch.setenv("NVC_STATE_DIR", str(tmp_path / "env-state"))
    a = sleeper()
    allocate(varied_driver, "1", owner_of(a.pid, "a"), state_dir=None)
    assert (tmp_path / "env-state" / "a.json").exists()
    assert [r.key for r in holdings()] == ["a"]


def test_owner_of_a_missing_process() -> None:
    with pytest.raises(ContainerError, match="^999999999: no such process$"):
        owner_of(999999999)


@pytest.mark.parametrize("value, exclusive", [(None, False), ("", False), ("shared", False), ("exclusive", True),
                                              (" Exclusive ", True)])
def test_access_from_env(value, exclusive) -> None:
    env = {} if value is None else {"NVIDIA_GPU_ACCESS": value}
    assert allocation.exclusive_from_env(env) is exclusive


def test_access_from_env_refuses_other_values() -> None:
    with pytest.raises(InputError, match="^NVIDIA_GPU_ACCESS=private: expected shared or exclusive$"):
        allocation.exclusive_from_env({"NVIDIA_GPU_ACCESS": "private"})


def test_timestamp_format() -> None:
    assert timestamp(0) == "1970-01-01T00:00:00Z"


def test_a_full_registry_is_a_stage_error(varied_driver, tmp_path, sleeper) -> None:
    """No inode left for the temporary file: one ContainerError naming the registry, nothing left."""
    import subprocess

    state = tmp_path / "full"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "nr_inodes=2,size=64k", "tmpfs", str(state)], check=True)
    try:
        a = sleeper()
        with pytest.raises(ContainerError, match=f"^allocation registry {state}: cannot record a: "):
            allocate(varied_driver, "1", owner_of(a.pid, "a"), state_dir=str(state))
        assert [n for n in os.listdir(state) if not n.startswith(".lock")] == []
    finally:
        subprocess.run(["umount", str(state)], check=True)
