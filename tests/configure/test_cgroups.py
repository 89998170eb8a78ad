"""Device cgroup access: detection on synthetic /proc files, the BPF rule blocks, and real runc
containers on cgroup v1 (this machine's devices controller) and v2 (runc in a private mount
namespace with cgroup2 on /sys/fs/cgroup, where runc attaches a BPF device filter).

The containers open two nodes made with mknod, c 195:0 and c 195:1, bound in by a prestart hook
that grants only 195:1.  With no driver behind major 195, an allowed open fails with ENXIO ("No
such device or address") and a denied one with EPERM ("Operation not permitted").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvcontainer.apply import cgroups
from nvcontainer.apply.cgroups import (
    ALU32_AND_K,
    ALU32_MOV_K,
    ALU32_MOV_X,
    EXIT,
    JNE_K,
    JNE_X,
    LDX_H,
    LDX_W,
    CgroupTarget,
    Insn,
    assemble,
    decode,
    detect_cgroup,
    grant_devices,
    prelude,
)
from nvcontainer.bindings import bpf
from nvcontainer.errors import CgroupError
from nvcontainer.plans import DeviceRule
from tests.containers import UNIFIED, runc_bundle, runc_run

REPO = Path(__file__).resolve().parents[2]
ALLOWED = "No such device or address"
DENIED = "Operation not permitted"

# --- detection on synthetic /proc files -----------------------------------------------------------

HOST_MOUNTS = """\
22 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw
31 22 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V1_CGROUP = "12:pids:/docker/abc\n5:devices:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n"
V2_CGROUP = "0::/system.slice/docker-abc.scope\n"


def fake_proc(root: Path, pid: int, cgroup: str, mounts: Optional[str], container_mounts: Optional[str] = None,
              dirs: tuple = ()) -> Path:
    (root / "proc" / str(pid)).mkdir(parents=True)
    (root / "proc" / str(pid) / "cgroup").write_text(cgroup)
    if mounts is not None:
        (root / "proc/self").mkdir(parents=True)
        (root / "proc/self/mountinfo").write_text(mounts)
    if container_mounts is not None:
        (root / "proc" / str(pid) / "mountinfo").write_text(container_mounts)
    for d in dirs:
        (root / d.lstrip("/")).mkdir(parents=True)
    return root


def test_v1_path_from_the_devices_mount(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 42, V1_CGROUP, HOST_MOUNTS, dirs=("sys/fs/cgroup/devices/docker/abc",))
    target = detect_cgroup(42, proc_root=str(root))
    assert target == CgroupTarget(1, str(root / "sys/fs/cgroup/devices/docker/abc"))


def test_v1_mount_root_is_trimmed(tmp_path: Path) -> None:
    # Inside a container the devices hierarchy is mounted from the container's own cgroup.
    mounts = "22 1 0:21 / / rw - ext4 /dev/vda1 rw\n" \
             "36 22 0:33 /docker/abc /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n"
    root = fake_proc(tmp_path, 7, V1_CGROUP, mounts, dirs=("sys/fs/cgroup/devices",))
    assert detect_cgroup(7, proc_root=str(root)).path == str(root / "sys/fs/cgroup/devices")


def test_v2_path_from_the_cgroup2_mount(tmp_path: Path) -> None:
    mounts = "22 1 0:21 / / rw - ext4 /dev/vda1 rw\n30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
    root = fake_proc(tmp_path, 9, V2_CGROUP, mounts, dirs=("sys/fs/cgroup/system.slice/docker-abc.scope",))
    target = detect_cgroup(9, proc_root=str(root))
    assert target == CgroupTarget(2, str(root / "sys/fs/cgroup/system.slice/docker-abc.scope"))


def test_v2_on_a_hybrid_host_uses_the_unified_mount(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 9, "1:name=systemd:/x\n0::/x\n", HOST_MOUNTS, dirs=("sys/fs/cgroup/unified/x",))
    assert detect_cgroup(9, proc_root=str(root)) == CgroupTarget(2, str(root / "sys/fs/cgroup/unified/x"))


def test_a_hidden_mount_is_skipped(tmp_path: Path) -> None:
    # runc run from a private namespace: cgroup2 mounted over /sys/fs/cgroup hides .../unified.
    mounts = HOST_MOUNTS + "900 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
    root = fake_proc(tmp_path, 5, "0::/ctr\n", mounts, dirs=("sys/fs/cgroup/unified/ctr", "sys/fs/cgroup/ctr"))
    assert detect_cgroup(5, proc_root=str(root)).path == str(root / "sys/fs/cgroup/ctr")
    visible = {m.mountpoint for m in cgroups.visible_mounts(cgroups.parse_mountinfo(mounts))}
    assert visible == {"/", "/sys/fs/cgroup"}


def _hidden_by_definition(entries, entry) -> bool:  # type: ignore[no-untyped-def]
    """The rule as first written (quadratic): a non-ancestor mount on the point or above it hides it."""
    by_id = {e.mount_id: e for e in entries}
    ancestors, parent = set(), by_id.get(entry.parent_id)
    while parent is not None and parent.mount_id not in ancestors and parent is not entry:
        ancestors.add(parent.mount_id)
        parent = by_id.get(parent.parent_id)
    return any(o is not entry and o.mount_id not in ancestors and cgroups._is_under(entry.mountpoint, o.mountpoint)
               for o in entries)


POINTS = ["/", "/sys", "/sys/fs", "/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/devices", "/a", "/a/b"]


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.sampled_from(POINTS)), min_size=1, max_size=12))
def test_visibility_is_the_definition(table: List[Tuple[int, str]]) -> None:
    """The linear index agrees with the definition on random mount tables (parents may be missing,
    stacked, or form cycles)."""
    lines = [f"{i + 1} {parent} 0:{i} / {point} rw - tmpfs tmpfs rw" for i, (parent, point) in enumerate(table)]
    entries = cgroups.parse_mountinfo("\n".join(lines) + "\n")
    expected = [e for e in entries if not _hidden_by_definition(entries, e)]
    assert cgroups.visible_mounts(entries) == expected


def test_the_containers_own_mount_table_is_the_fallback(tmp_path: Path) -> None:
    # Our mount table has no cgroup2; the container's has one: reached through /proc/<pid>/root.
    container = "500 400 0:21 / / rw - ext4 /dev/vda1 rw\n501 500 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    root = fake_proc(tmp_path, 5, "0::/ctr\n", "22 1 0:21 / / rw - ext4 /dev/vda1 rw\n", container,
                     dirs=("proc/5/root/sys/fs/cgroup/ctr",))
    assert detect_cgroup(5, proc_root=str(root)).path == str(root / "proc/5/root/sys/fs/cgroup/ctr")


def test_escaped_mount_points(tmp_path: Path) -> None:
    mounts = "22 1 0:21 / / rw - ext4 /dev/vda1 rw\n36 22 0:33 / /cg\\040devices rw - cgroup cgroup rw,devices\n"
    root = fake_proc(tmp_path, 3, "4:devices:/a\n", mounts, dirs=("cg devices/a",))
    assert detect_cgroup(3, proc_root=str(root)).path == str(root / "cg devices/a")


@pytest.mark.parametrize("cgroup, message", [
    ("4:memory:/a\n1:name=systemd:/a\n", "no devices or unified cgroup entries found"),
    ("garbage\n", "malformed cgroup entry: garbage"),
])
def test_detection_errors(tmp_path: Path, cgroup: str, message: str) -> None:
    root = fake_proc(tmp_path, 3, cgroup, HOST_MOUNTS)
    with pytest.raises(CgroupError) as info:
        detect_cgroup(3, proc_root=str(root))
    assert info.value.message == message
    assert info.value.line() == f"nvc-cli: container error: {message}"


def test_no_mount_holds_the_cgroup(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 3, V1_CGROUP, HOST_MOUNTS)  # the directory does not exist
    with pytest.raises(CgroupError, match="cgroup path not found"):
        detect_cgroup(3, proc_root=str(root))
    with pytest.raises(CgroupError, match="no such process"):
        detect_cgroup(4, proc_root=str(root))


def test_detects_this_process() -> None:
    target = detect_cgroup(os.getpid())
    assert os.path.isdir(target.path)
    if target.version == 1:
        assert os.path.exists(os.path.join(target.path, "devices.allow"))


# --- the BPF rule blocks ---------------------------------------------------------------------------


def test_prelude_decodes_to_the_intended_program() -> None:
    rules = [DeviceRule(195, 1), DeviceRule(10, -1, "rwm", "a")]
    raw = assemble(prelude(rules))
    assert len(raw) % 8 == 0
    assert raw[:8] == bytes([0x69, 0x12, 0, 0, 0, 0, 0, 0])  # ldxh r2, [r1+0]
    assert decode(raw) == [
        Insn(LDX_H, 2, 1, 0),
        Insn(LDX_W, 3, 1, 0),
        Insn(0x74, 3, imm=16),  # r3 >>= 16 (32-bit)
        Insn(LDX_W, 4, 1, 4),
        Insn(LDX_W, 5, 1, 8),
        # block 1: char, access within rw, 195:1
        Insn(JNE_K, 2, off=7, imm=2),
        Insn(ALU32_MOV_X, 0, 3),
        Insn(ALU32_AND_K, 0, imm=6),
        Insn(JNE_X, 0, 3, off=4),
        Insn(JNE_K, 4, off=3, imm=195),
        Insn(JNE_K, 5, off=2, imm=1),
        Insn(ALU32_MOV_K, 0, imm=1),
        Insn(EXIT),
        # block 2: any type, any access, major 10, any minor
        Insn(JNE_K, 4, off=2, imm=10),
        Insn(ALU32_MOV_K, 0, imm=1),
        Insn(EXIT),
    ]


def test_every_jump_lands_at_the_end_of_its_block() -> None:
    insns = prelude([DeviceRule(195, n) for n in range(4)])
    ends = {i + 1 for i, insn in enumerate(insns) if insn.code == EXIT}
    for i, insn in enumerate(insns):
        if insn.code in (JNE_K, JNE_X):
            assert i + 1 + insn.off in ends
    assert max(ends) == len(insns)  # the last block falls through to what follows


@pytest.mark.parametrize("rule", [DeviceRule(195, 0, access="rx"), DeviceRule(195, 0, type="z")])
def test_invalid_rules(rule: DeviceRule) -> None:
    with pytest.raises(CgroupError):
        prelude([rule])


# --- real containers --------------------------------------------------------------------------------

HOOK = """\
import json, os, subprocess, sys
sys.path.insert(0, {repo!r})
from nvcontainer.bindings import bpf
from nvcontainer.apply.cgroups import detect_cgroup, grant_devices
from nvcontainer.plans import DeviceRule
state = json.load(sys.stdin)
pid = state["pid"]
rootfs = {rootfs!r}
for src, name in {nodes!r}:
    dst = rootfs + "/dev/" + name
    script = "touch " + dst + " && mount --bind " + src + " " + dst
    subprocess.run(["/usr/bin/nsenter", "-t", str(pid), "-m", "/bin/sh", "-c", script], check=True,
                   env={{"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}})
target = detect_cgroup(pid)

def attached(target):
    if target.version == 1:
        return []
    fd = os.open(target.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)[1]
    finally:
        os.close(fd)

rules = [DeviceRule(195, 1)]
before = attached(target)
if {grant!r}:
    grant_devices(target, rules)
    grant_devices(target, rules)  # twice: harmless
with open({record!r}, "w") as f:
    json.dump({{"version": target.version, "path": target.path, "before": before, "after": attached(target)}}, f)
"""

CHECK = "head -c1 /dev/nvidia1; head -c1 /dev/nvidia0; head -c1 /dev/null && echo done"


def make_bundle(tmp_path: Path, grant: bool = True) -> Path:
    nodes = tmp_path / "nodes"
    nodes.mkdir()
    pairs = []
    for minor in (0, 1):
        node = nodes / f"nvidia{minor}"
        os.mknod(node, 0o666 | 0o020000, os.makedev(195, minor))
        pairs.append((str(node), f"nvidia{minor}"))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    hook = tmp_path / "hook.py"
    source = HOOK.format(repo=str(REPO), rootfs=str(bundle / "rootfs"), nodes=pairs,
                         record=str(tmp_path / "target.json"), grant=grant)
    hook.write_text(source)
    runc_bundle(bundle, ["sh", "-c", CHECK], [sys.executable, str(hook)])
    return bundle


def run_v1(bundle: Path) -> subprocess.CompletedProcess:
    return runc_run(bundle, cgroup2=False)


def run_v2(bundle: Path) -> subprocess.CompletedProcess:
    return runc_run(bundle, cgroup2=True)


def opened(out: subprocess.CompletedProcess) -> List[str]:
    """For /dev/nvidia1 and /dev/nvidia0: the error the container got opening it."""
    result = []
    for name in ("nvidia1", "nvidia0"):
        lines = [line for line in out.stderr.splitlines() if f"/dev/{name}" in line]
        assert len(lines) == 1, out.stderr
        result.append(ALLOWED if ALLOWED in lines[0] else DENIED if DENIED in lines[0] else lines[0])
    return result


def test_runc_v1_grants_only_the_rule(tmp_path: Path) -> None:
    out = run_v1(make_bundle(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "done" in out.stdout
    assert opened(out) == [ALLOWED, DENIED]
    target = json.loads((tmp_path / "target.json").read_text())
    assert target["version"] == 1 and target["path"].startswith("/sys/fs/cgroup/devices/nvc-cg1-")


def test_runc_v1_without_grant_denies_both(tmp_path: Path) -> None:
    out = run_v1(make_bundle(tmp_path, grant=False))
    assert out.returncode == 0, out.stderr
    assert opened(out) == [DENIED, DENIED]


def test_runc_v2_grants_only_the_rule(tmp_path: Path) -> None:
    out = run_v2(make_bundle(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "done" in out.stdout  # /dev/null, allowed by runc's own program, still opens
    assert opened(out) == [ALLOWED, DENIED]
    target = json.loads((tmp_path / "target.json").read_text())
    assert target["version"] == 2 and target["path"].startswith("/sys/fs/cgroup/nvc-cg2-")
    # runc's program was replaced, twice, by one that allows more: still one program, a new one.
    assert len(target["before"]) == 1 and len(target["after"]) == 1
    assert target["before"] != target["after"]


def test_runc_v2_without_grant_denies_both(tmp_path: Path) -> None:
    out = run_v2(make_bundle(tmp_path, grant=False))
    assert out.returncode == 0, out.stderr
    assert opened(out) == [DENIED, DENIED]
    target = json.loads((tmp_path / "target.json").read_text())
    assert target["before"] == target["after"] and len(target["after"]) == 1


def test_v1_write_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CgroupError) as info:
        grant_devices(CgroupTarget(1, str(tmp_path / "missing")), [DeviceRule(195, 0)])
    assert info.value.stage == "mount"
    assert info.value.message == f"open failed: {tmp_path}/missing/devices.allow: no such file or directory"


def test_hybrid_v2_placement_is_v2() -> None:
    # runc on cgroup2 in a hybrid host: v1 controllers still listed, at the root.
    text = "5:devices:/\n4:memory:/\n0::/ctr\n"
    assert cgroups.parse_proc_cgroup(text) == (2, "/ctr")
    assert cgroups.parse_proc_cgroup("5:devices:/\n0::/\n") == (1, "/")
    assert cgroups.parse_proc_cgroup("5:devices:/a\n0::/b\n") == (1, "/a")


# --- BPF on a cgroup of our own ----------------------------------------------------------------------


@pytest.fixture
def v2_cgroup() -> Iterator[Tuple[str, int]]:
    path = os.path.join(UNIFIED, "nvc-test-" + uuid.uuid4().hex[:8])
    os.mkdir(path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    yield path, fd
    for prog_id in bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)[1]:
        prog = bpf.prog_get_fd_by_id(prog_id)
        bpf.prog_detach(fd, prog, bpf.BPF_CGROUP_DEVICE)
        os.close(prog)
    os.close(fd)
    os.rmdir(path)


def deny_all() -> bytes:
    return assemble([Insn(ALU32_MOV_K, 0, imm=0), Insn(EXIT)])


def test_grant_rebuilds_each_attached_program(v2_cgroup: Tuple[str, int]) -> None:
    path, fd = v2_cgroup
    progs = [bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, deny_all(), "GPL") for _ in range(2)]
    for prog in progs:
        bpf.prog_attach(fd, prog, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
        os.close(prog)
    flags, before = bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)
    assert flags == bpf.BPF_F_ALLOW_MULTI and len(before) == 2
    rules = [DeviceRule(195, 1), DeviceRule(195, 255)]
    grant_devices(CgroupTarget(2, path), rules)
    _, after = bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)
    assert len(after) == 2 and not set(after) & set(before)
    for prog_id in after:
        prog = bpf.prog_get_fd_by_id(prog_id)
        prog_type, raw = bpf.prog_info(prog)
        os.close(prog)
        assert prog_type == bpf.BPF_PROG_TYPE_CGROUP_DEVICE
        assert raw == assemble(prelude(rules)) + deny_all()


def test_grant_swaps_a_single_program(v2_cgroup: Tuple[str, int]) -> None:
    path, fd = v2_cgroup
    prog = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, deny_all(), "GPL")
    bpf.prog_attach(fd, prog, bpf.BPF_CGROUP_DEVICE, 0)
    os.close(prog)
    grant_devices(CgroupTarget(2, path), [DeviceRule(195, 0)])
    flags, after = bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)
    assert flags == 0 and len(after) == 1
    prog = bpf.prog_get_fd_by_id(after[0])
    assert bpf.prog_info(prog)[1] == assemble(prelude([DeviceRule(195, 0)])) + deny_all()
    os.close(prog)


def test_grant_leaves_an_unfiltered_cgroup_alone(v2_cgroup: Tuple[str, int]) -> None:
    path, fd = v2_cgroup
    grant_devices(CgroupTarget(2, path), [DeviceRule(195, 0)])
    assert bpf.prog_query(fd, bpf.BPF_CGROUP_DEVICE)[1] == []


def test_bpf_load_errors_carry_the_verifier_log() -> None:
    with pytest.raises(bpf.BpfLoadError) as info:
        bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, assemble([Insn(EXIT)]), "GPL")
    assert "R0" in info.value.verifier_log


def test_v2_errors_name_the_cgroup(tmp_path: Path) -> None:
    with pytest.raises(CgroupError) as info:
        grant_devices(CgroupTarget(2, str(tmp_path)), [DeviceRule(195, 0)])
    assert info.value.stage == "mount"
    assert info.value.message.startswith(f"bpf_prog_query(BPF_CGROUP_DEVICE) failed: {tmp_path}: ")


@pytest.mark.parametrize("odd", ["\r", "\x85", "\u2028", "\x1c", "\x0b"])
def test_mount_points_with_line_breaks_other_than_newline(odd: str) -> None:
    """The kernel escapes " ", tab, newline and backslash in mountinfo, not these: one line each."""
    text = (f"22 1 0:21 / / rw - ext4 /dev/vda1 rw\n"
            f"40 22 0:40 / /data{odd}mounted rw - tmpfs tmpfs rw\n"
            f"30 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    entries = cgroups.parse_mountinfo(text)
    assert [e.mountpoint for e in entries] == ["/", f"/data{odd}mounted", "/sys/fs/cgroup"]
    assert cgroups.candidate_dirs(2, "/ctr", entries) == ["/sys/fs/cgroup/ctr"]


@pytest.mark.parametrize("odd", ["\r", "\x85", "\u2028"])
def test_the_childs_report_lines_split_only_on_newline(odd: str) -> None:
    """A reported path that holds another line break stays one line (it could otherwise forge an
    undo instruction for the parent)."""
    from nvcontainer.apply import enter

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        child = enter._Child(write_fd)
        child.send(f"created /a{odd}mounted /dev")
        child.send("ok 1")
        os._exit(0)
    os.close(write_fd)
    lines, timed_out = enter._collect(pid, read_fd, time.monotonic() + 30)
    assert not timed_out
    assert lines == [f"created /a{odd}mounted /dev", "ok 1"]
