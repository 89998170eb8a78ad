"""Family: namespaces.  configure must act only in the mount namespace of a *created* container:
never in the host's own (``--pid`` of a host process, a container without a mount namespace), never
in a started container's (whose paths are all the image's: a planted stdlib module would run as
root), never in one found through the image's ``/proc`` (standalone mode), and never on a rootfs
that is the host's ``/`` under another spelling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from nvcontainer.apply import enter
from nvcontainer.apply.target import Target, open_target
from nvcontainer.errors import ContainerError, NvcError
from tests.containers import NVC, NamespaceProcess, make_rootfs, mountinfo, tree
from tests.hook.helpers import HOOK, write_config
from tests.security.harness import Arena, run_cli
from tests.security.targets import Sleeper, Started, markers, plant_markers

OWN_NS = "is not in a mount namespace of its own"
STARTED = "has already started"


def _refused(arena: Arena, case: str, outcome_line: str, expect_in: str) -> None:
    assert outcome_line.startswith("nvc-cli: container error: ") or outcome_line.startswith("nvc-cli: input error: "), \
        outcome_line
    assert expect_in in outcome_line, outcome_line
    arena.board.record(arena.family, case, "refused", outcome_line)


def _cli(arena: Arena, pid: int, rootfs: str) -> str:
    outcome = run_cli("--root", str(arena.sim.root), "configure", f"--pid={pid}", "--device=0", "--utility",
                      "--compute", rootfs)
    assert outcome.kind == "refused", outcome.detail
    return outcome.detail


def _hook(arena: Arena, pid: int, bundle: Path) -> subprocess.CompletedProcess:
    config = write_config(arena.tmp / "config.toml", arena.sim.root)
    state = json.dumps({"ociVersion": "1.0.2", "id": "hostile", "pid": pid, "bundle": str(bundle)})
    env = {"PATH": os.environ["PATH"], "NVIDIA_CTK_CONFIG_FILE_PATH": str(config),
           "NVC_STATE_DIR": os.environ["NVC_STATE_DIR"]}
    return subprocess.run([str(HOOK), "prestart"], input=state, capture_output=True, text=True, env=env, timeout=60)


def _bundle(arena: Arena) -> Path:
    bundle = arena.tmp / "bundle"
    bundle.mkdir(exist_ok=True)
    config = {"ociVersion": "1.0.2", "root": {"path": str(arena.rootfs)},
              "process": {"env": ["NVIDIA_VISIBLE_DEVICES=0"], "args": ["true"]}}
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


# --- a started container: its paths are the image's ------------------------------------------------


def test_started_container_is_refused_and_no_planted_module_runs(arena: Arena) -> None:
    image = make_rootfs(arena.tmp / "started-image")
    planted = plant_markers(image)
    assert planted > 1000
    started = Started(image)
    try:
        before_host, before_ns = arena.watch.take(), mountinfo(started.pid)
        for case, rootfs in (("existing rootfs", str(arena.rootfs)), ("its own root", f"/proc/{started.pid}/root"),
                             ("a path in the image", "/usr")):
            _refused(arena, f"started: {case}", _cli(arena, started.pid, rootfs), STARTED)
        hooked = _hook(arena, started.pid, _bundle(arena))
        expected = (f"nvc-cli: container error: pid {started.pid} {STARTED} (its root directory is not the host's): "
                    "configure a container after it is created and before it starts")
        assert hooked.returncode == 1 and hooked.stderr.strip() == expected, hooked.stderr
        from nvcontainer import container as conf

        with pytest.raises(ContainerError, match=STARTED):
            conf.configure(conf.Request(str(arena.rootfs), devices="0"), pid=started.pid, root=str(arena.sim.root))
        assert markers(image) == ""
        assert arena.watch.changes(before_host) == []
        assert mountinfo(started.pid) == before_ns
    finally:
        started.close()


def test_the_sealed_child_imports_nothing_inside_a_hostile_namespace(arena: Arena) -> None:
    """The import seal on its own: a child let into a started container's namespace (the root check
    forged to pass) tries the imports a code path could make; each is refused, none runs."""
    image = make_rootfs(arena.tmp / "hostile-image")
    plant_markers(image)
    started = Started(image)
    try:
        root = os.stat(image)
        probe = open_target.__module__  # noqa: F841 - the target module is loaded, as in configure
        ns_fd = os.open(f"/proc/{started.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        target = Target(started.pid, ns_fd, 0, 0, (root.st_dev, root.st_ino))

        # Modules this process has not imported (the seal only refuses what is not loaded yet).
        candidates = ("colorsys", "wave", "tabnanny", "pyclbr", "mailbox", "xml.dom.minidom", "json.tool",
                      "nvcontainer.doctor.runner", "elftools.elf.sections", "netrc", "sched", "graphlib")
        names = [n for n in candidates if n not in sys.modules and n.split(".")[0] not in sys.modules][:6]
        assert len(names) >= 4, names
        codec = next(c for c in ("cp1252", "cp437", "mac_roman", "koi8_r") if f"encodings.{c}" not in sys.modules)

        def work(report, deadline) -> int:  # type: ignore[no-untyped-def]
            refused = 0
            attempts = [lambda n=n: __import__(n) for n in names] + [lambda: "é".encode(codec)]
            for attempt in attempts:
                try:
                    attempt()
                except (ImportError, LookupError):
                    refused += 1
            return refused

        try:
            assert enter.run_entered(target, work, rootfs="/") == len(names) + 1
        finally:
            target.close()
        assert markers(image) == ""
    finally:
        started.close()


# --- our own mount namespace -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["host sleep", "pid 1", "the caller", "the caller's parent"])
def test_a_process_in_the_host_namespace_is_refused(arena: Arena, who: str) -> None:
    sleeper = Sleeper() if who == "host sleep" else None
    pid = {"host sleep": sleeper.pid if sleeper else 0, "pid 1": 1, "the caller": os.getpid(),
           "the caller's parent": os.getppid()}[who]
    try:
        before_host, before_tree = arena.watch.take(), tree(arena.rootfs)
        line = _cli(arena, pid, str(arena.rootfs))
        if who == "pid 1" and "permission denied" in line:  # a sandbox may hide pid 1's namespace from us
            expected = "open failed: /proc/1/ns/mnt: permission denied"
        else:
            expected = f"pid {pid} {OWN_NS}"
        _refused(arena, f"own namespace: {who}", line, expected)
        assert arena.watch.changes(before_host) == [] and tree(arena.rootfs) == before_tree
    finally:
        if sleeper:
            sleeper.close()


def test_the_hook_refuses_an_oci_state_pid_in_the_host_namespace(arena: Arena) -> None:
    sleeper = Sleeper()
    try:
        before = arena.watch.take()
        out = _hook(arena, sleeper.pid, _bundle(arena))
        assert out.returncode == 1, out.stderr
        assert out.stderr.strip().splitlines() == [
            f"nvc-cli: container error: pid {sleeper.pid} {OWN_NS} (it is ours): refusing to mount into the host's "
            "mount table"]
        assert arena.watch.changes(before) == []
    finally:
        sleeper.close()


def test_runc_container_without_a_mount_namespace_is_refused(arena: Arena, tmp_path: Path) -> None:
    from tests.containers import configure_hook, runc_bundle, runc_run

    bundle = runc_bundle(tmp_path / "nomntns", ["/bin/true"],
                         configure_hook(tmp_path, ["--root", str(arena.sim.root), "configure", "--device=0",
                                                   "--utility", str(tmp_path / "nomntns" / "rootfs")]))
    config = json.loads((bundle / "config.json").read_text())
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "mount"]
    # runc masks /proc and /sys entries only in a namespace of the container's own
    config["linux"]["maskedPaths"], config["linux"]["readonlyPaths"] = [], []
    (bundle / "config.json").write_text(json.dumps(config))
    before = set(mountinfo())
    try:
        out = runc_run(bundle)
        assert out.returncode != 0
        assert OWN_NS in out.stderr, out.stderr
        # runc itself mounts /dev, /proc, /sys ... of such a container into the host's table; none of
        # the driver's files may be among the new mounts.
        added = [line for line in mountinfo() if line not in before]
        ours = [line for line in added if "nvidia" in line or "libcuda" in line or str(arena.sim.root) in line]
        assert ours == []
    finally:
        for line in sorted(set(mountinfo()) - before, key=lambda m: -len(m.split()[1])):
            subprocess.run(["umount", "-l", line.split()[1]], capture_output=True)


# --- standalone mode (no --pid): never through the image's /proc -------------------------------------


def test_standalone_ignores_the_images_proc(arena: Arena) -> None:
    """Without --pid the parent's namespace counts, read from the kernel's /proc: links the image
    plants at <rootfs>/proc/<ppid>/ns/mnt (to the host's namespace, to another container's) or a
    /proc that points at the host's change nothing; our parent (the test) shares our namespace, so
    configure refuses."""
    other = NamespaceProcess()
    try:
        ppid = os.getpid()  # nvc-cli's parent
        decoys = {
            "ns link to the host": lambda p: (p / f"proc/{ppid}/ns").mkdir(parents=True)
            or (p / f"proc/{ppid}/ns/mnt").symlink_to("/proc/1/ns/mnt"),
            "ns link to another container": lambda p: (p / f"proc/{ppid}/ns").mkdir(parents=True)
            or (p / f"proc/{ppid}/ns/mnt").symlink_to(f"/proc/{other.pid}/ns/mnt"),
            "proc is the host's": lambda p: (p / "proc").rmdir() or (p / "proc").symlink_to("/proc"),
        }
        for case, plant in decoys.items():
            rootfs = make_rootfs(arena.tmp / f"standalone-{len(os.listdir(arena.tmp))}")
            plant(rootfs)
            before_host, before_other = arena.watch.take(), mountinfo(other.pid)
            out = subprocess.run([*NVC, "--root", str(arena.sim.root), "configure", "--device=0", "--utility",
                                  str(rootfs)], capture_output=True, text=True, timeout=60)
            assert out.returncode == 1, out.stderr
            assert out.stderr.strip() == (f"nvc-cli: container error: pid {ppid} {OWN_NS} (it is ours): refusing "
                                          "to mount into the host's mount table"), (case, out.stderr)
            assert arena.watch.changes(before_host) == [] and mountinfo(other.pid) == before_other, case
            arena.board.record(arena.family, f"standalone: {case}", "refused", out.stderr.strip())
    finally:
        other.close()


STANDALONE_PARENT = """
import os, subprocess, sys
sys.path.insert(0, {repo!r})
from nvcontainer.bindings import linux
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(w)
    os.read(r, 1)  # wait until the parent is in its own namespace
    os.execv(sys.executable, [sys.executable, *{argv!r}])
os.close(r)
linux.unshare(linux.CLONE_NEWNS)
linux.mount(None, "/", None, linux.MS_PRIVATE | linux.MS_REC)
os.write(w, b"x")
_, status = os.waitpid(child, 0)
with open("/proc/self/mountinfo") as f:
    print(f.read(), end="")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_standalone_configures_the_parents_own_namespace(arena: Arena) -> None:
    """The legitimate standalone case: nvc-cli's parent has a mount namespace of its own."""
    repo = str(Path(__file__).resolve().parents[2])
    argv = ["-m", "cli.main", "--root", str(arena.sim.root), "configure", "--device=0", "--utility",
            str(arena.rootfs)]
    before = arena.watch.take()
    out = subprocess.run([sys.executable, "-c", STANDALONE_PARENT.format(repo=repo, argv=argv)], capture_output=True,
                         text=True, timeout=120, cwd=repo)
    assert out.returncode == 0, out.stderr
    nvsmi = [line for line in out.stdout.splitlines() if f"{arena.rootfs}/usr/bin/nvidia-smi" in line]
    assert nvsmi, out.stdout[-2000:]
    assert arena.watch.changes(before) == []


# --- a rootfs that is the host's / ---------------------------------------------------------------------


def _host_root_spellings(arena: Arena) -> List[str]:
    link = arena.tmp / "link-to-root"
    link.symlink_to("/")
    chain = arena.tmp / "chain"
    chain.symlink_to(str(link))
    bound = arena.tmp / "bound-root"
    bound.mkdir()
    subprocess.run(["mount", "--bind", "/", str(bound)], check=True)
    spellings = ["//", "//tmp/..", "/./", "/tmp/../", "/proc/self/root", f"/proc/{os.getpid()}/root",
                 f"/proc/{arena.container.pid}/root", str(link), str(chain), f"{link}/", f"{link}/tmp/..", str(bound)]
    try:
        os.stat("/proc/1/root")
        spellings.append("/proc/1/root")
    except PermissionError:  # a sandbox may hide pid 1 from us
        pass
    return spellings


def test_a_rootfs_that_is_the_host_root_is_refused(arena: Arena) -> None:
    spellings = _host_root_spellings(arena)
    bound = str(arena.tmp / "bound-root")
    try:
        for rootfs in spellings:
            before_host, before_ns = arena.watch.take(), mountinfo(arena.container.pid)
            out = run_cli("--root", str(arena.sim.root), "configure", f"--pid={arena.container.pid}", "--device=0",
                          "--utility", "--compute", rootfs)
            assert out.kind == "refused", (rootfs, out.detail)
            assert out.detail.startswith("nvc-cli: input error: invalid rootfs directory"), (rootfs, out.detail)
            assert arena.watch.changes(before_host) == [], rootfs
            assert mountinfo(arena.container.pid) == before_ns, rootfs
            arena.board.record(arena.family, f"host root as rootfs: {rootfs}", "refused", out.detail)
    finally:
        subprocess.run(["umount", bound], check=True)


def test_a_rootfs_that_is_the_host_root_only_inside_the_container_is_refused(arena: Arena) -> None:
    """The path is an empty directory on the host, but the container's namespace has the host's /
    bound there: only the check inside the namespace can see it."""
    target = arena.tmp / "root-inside"
    target.mkdir()
    bound = arena.container.run("mount", "--bind", "/", str(target))
    assert bound.returncode == 0, bound.stderr
    before_host, before_ns = arena.watch.take(), mountinfo(arena.container.pid)
    out = run_cli("--root", str(arena.sim.root), "configure", f"--pid={arena.container.pid}", "--device=0",
                  "--utility", str(target))
    assert out.kind == "refused" and out.detail.startswith("nvc-cli: input error: invalid rootfs directory: "), \
        out.detail
    assert arena.watch.changes(before_host) == [] and mountinfo(arena.container.pid) == before_ns
    arena.board.record(arena.family, "host root bound in the container's namespace", "refused", out.detail)


@pytest.mark.parametrize("pid", [0, -1, 2**22 + 1, 2**31, 2**63, 2**70])
def test_invalid_target_pids(pid: int) -> None:
    if pid == 0:  # 0 is "no pid" (standalone), as in NVIDIA's CLI: the parent's namespace, ours here
        with pytest.raises(ContainerError, match=OWN_NS):
            open_target(os.getpid())
        return
    with pytest.raises(NvcError) as info:
        open_target(pid)
    assert info.value.line().startswith("nvc-cli: container error: invalid pid ")


# --- after setns: no host path, no import, no exec but the sealed ldconfig ---------------------------


def _after_setns(trace: str) -> List[str]:
    """The syscalls of the child that entered the namespace (from its setns on) and of the processes
    it made (until they exec ldconfig): ``<pid> <call>(...)`` lines."""
    import re

    lines = trace.splitlines()
    entered: set = set()
    exec_done: set = set()
    out: List[str] = []
    for line in lines:
        pid, _, call = line.partition(" ")
        call = re.sub(r"\)\s+=\s+", ") = ", call.strip())
        if re.match(r"setns\(\d+, CLONE_NEWNS\) = 0", call):
            entered.add(pid)
            continue
        if pid not in entered or pid in exec_done:
            continue
        born = re.match(r"(?:clone3?|fork|vfork)\(.*\) = (\d+)$", call)
        if born:
            entered.add(born.group(1))
        if call.startswith("execve"):
            exec_done.add(pid)
        out.append(f"{pid} {call}")
    return out


def test_after_entering_nothing_is_opened_by_host_path(arena: Arena, tmp_path: Path) -> None:
    """strace of a real configure: once the child has joined the container's namespace, every open is
    relative to a descriptor or a path inside the rootfs, and the only exec is the sealed ldconfig
    memfd (``execveat(fd, "", AT_EMPTY_PATH)``)."""
    trace_file = tmp_path / "trace"
    out = subprocess.run(["strace", "-f", "-qq", "-o", str(trace_file), "-e",
                          "trace=setns,open,openat,openat2,execve,execveat,clone,clone3,fork,vfork,"
                          "chdir,chroot,pivot_root,mount,move_mount,open_tree",
                          *NVC, "--root", str(arena.sim.root), "configure", f"--pid={arena.container.pid}",
                          "--device=0", "--utility", "--compute", "--graphics", str(arena.rootfs)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    calls = _after_setns(trace_file.read_text())
    assert any("execveat(" in c for c in calls), "ldconfig ran"
    rootfs = str(arena.rootfs)
    bad = []
    for call in calls:
        name = call.split(" ", 1)[1].split("(", 1)[0]
        first = call.split("(", 1)[1] if "(" in call else ""
        if name in ("open", "openat", "openat2"):
            path_arg = first.split(", ")[1] if name != "open" else first.split(", ")[0]
            absolute = (name == "open" or first.startswith("AT_FDCWD")) and path_arg.startswith('"/')
            if absolute and not path_arg.strip('"').startswith(rootfs):
                bad.append(call)
        elif name in ("execve",):
            bad.append(call)
        elif name == "execveat" and ', "", ' not in call:
            bad.append(call)
        elif name == "mount" and first.startswith('"/') and not first.startswith(f'"{rootfs}'):
            bad.append(call)  # a bind from a host path (the sandbox mounts only "tmpfs", "proc", the rootfs)
    assert bad == [], "\n".join(bad[:20])
