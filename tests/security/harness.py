"""The attack harness: watch the "host", run one configure, judge the outcome.

Every adversarial case follows one shape:

1. snapshot the host: the test process's mount table, a full listing with checksums of the
   watched directories (the per-test fake host tree symlinks point at, the simulated driver
   root, which *is* the host's driver), and a shallow listing of a few real host directories
   (``/etc``, ``/usr/bin``, the lib dir, NVIDIA nodes in ``/dev``);
2. run ``configure`` (library call or ``nvc-cli`` subprocess) against a hostile rootfs;
3. classify: ``success`` (every new mount of the container's namespace lies below the rootfs),
   ``refused`` (an ``NvcError`` / exactly one ``nvc-cli: <stage> error: ...`` line and exit 1,
   the container's mount table unchanged), ``crash`` (a traceback, another exit code, a hang)
   or ``escape`` (anything on the host changed, or a mount landed outside the rootfs);
4. record it on the ``Scoreboard`` (written as JSON to ``$NVC_SECURITY_REPORT``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from nvcontainer.simulate import SimulatedDriver
from tests.containers import NVC, NamespaceProcess, make_rootfs, mountinfo, tree

ALL_CAPS = ("utility", "compute", "video", "graphics", "display", "ngx", "compat32")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
REAL_HOST_DIRS = ("/etc", "/etc/ld.so.conf.d", "/usr/bin", "/usr/lib/x86_64-linux-gnu", "/lib/firmware",
                  "/usr/lib64", "/sbin")
HOST_MOUNT_SCOPE = ("/etc", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/dev/nvidia", "/dev/nvidia-caps",
                    "/proc/driver", "/tmp/nvidia-mps", "/run/nvidia", "/var/run/nvidia")
OUTCOMES = ("success", "refused", "escape", "crash")


# --- what the host looks like ------------------------------------------------------------------


def _describe(path: str, st: os.stat_result, checksum: bool) -> str:
    kind = stat.S_IFMT(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return f"link {os.readlink(path)}"
    if stat.S_ISREG(st.st_mode) and checksum:
        try:
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
        except OSError as exc:
            digest = f"unreadable {exc.errno}"
        return f"file {st.st_mode:o} {st.st_size} {digest}"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return f"node {kind:o} {st.st_mode:o} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    return f"{kind:o} {st.st_mode:o} {st.st_size if stat.S_ISREG(st.st_mode) else ''} {st.st_mtime_ns}"


def deep_listing(root: Path) -> Dict[str, str]:
    """Every entry under ``root`` (symlinks not followed) with its type, mode and checksum."""
    out: Dict[str, str] = {}
    top = str(root)
    try:
        out["."] = _describe(top, os.lstat(top), True)
    except FileNotFoundError:
        return {".": "missing"}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            try:
                out[os.path.relpath(p, top)] = _describe(p, os.lstat(p), True)
            except OSError:
                out[os.path.relpath(p, top)] = "vanished"
    return out


def shallow_listing(directory: str, prefix: str = "") -> Dict[str, str]:
    """The names directly in ``directory`` (starting with ``prefix``) with type, size and mtime."""
    out: Dict[str, str] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return {".": "missing"}
    for name in names:
        if not name.startswith(prefix):
            continue
        p = os.path.join(directory, name)
        try:
            out[name] = _describe(p, os.lstat(p), False)
        except OSError:
            out[name] = "vanished"
    return out


@dataclass
class HostState:
    mounts: List[str]
    deep: Dict[str, Dict[str, str]]
    shallow: Dict[str, Dict[str, str]]


class HostWatch:
    """Snapshots of everything an escape could touch, and the differences between two of them."""

    def __init__(self, deep: Sequence[Path], shallow: Sequence[str] = REAL_HOST_DIRS,
                 mount_scope: Sequence[Path] = ()) -> None:
        self.deep = list(deep)
        self.shallow = list(shallow)
        # Other software on the machine (container engines) mounts and unmounts concurrently; a
        # mount counts when its root or mount point lies where configure could have put one.
        self.mount_scope = tuple(str(p) for p in (*deep, *mount_scope)) + HOST_MOUNT_SCOPE

    def _relevant(self, line: str) -> bool:
        root, point = line.split()[:2]
        return any(path == scope or path.startswith(scope.rstrip("/") + "/")
                   for path in (root, point) for scope in self.mount_scope)

    def take(self) -> HostState:
        return HostState(
            mounts=[m for m in mountinfo() if self._relevant(m)],
            deep={str(p): deep_listing(p) for p in self.deep},
            shallow={**{d: shallow_listing(d) for d in self.shallow}, "/dev": shallow_listing("/dev", "nvidia")},
        )

    def changes(self, before: HostState) -> List[str]:
        after = self.take()
        found: List[str] = []
        added = sorted(set(after.mounts) - set(before.mounts))
        removed = sorted(set(before.mounts) - set(after.mounts))
        found += [f"host mount added: {m}" for m in added] + [f"host mount removed: {m}" for m in removed]
        for group in ("deep", "shallow"):
            old_all, new_all = getattr(before, group), getattr(after, group)
            for top, old in old_all.items():
                new = new_all[top]
                for name in sorted(set(old) | set(new)):
                    if old.get(name) != new.get(name):
                        found.append(f"host file changed: {top}/{name}: {old.get(name)} -> {new.get(name)}")
        return found


# --- outcomes ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str  # success | refused | crash  (escape is decided by the checks afterwards)
    detail: str = ""
    mounts: int = 0


def call_configure(request: object, **kwargs: object) -> Outcome:
    """``nvcontainer.container.configure(request, **kwargs)`` classified; never raises."""
    from nvcontainer import container as conf
    from nvcontainer.errors import NvcError

    try:
        result = conf.configure(request, **kwargs)  # type: ignore[arg-type]
    except NvcError as exc:
        line = exc.line()
        if "\n" in line or not line.startswith("nvc-cli: "):
            return Outcome("crash", f"malformed error line: {line!r}")
        return Outcome("refused", line)
    except Exception:  # anything but NvcError is a crash of the library contract
        return Outcome("crash", traceback.format_exc())
    return Outcome("success", mounts=result.mounts)


def classify_cli(proc: subprocess.CompletedProcess) -> Outcome:
    """An ``nvc-cli`` run: exit 0, or exit 1 with one ``nvc-cli: <stage> error: ...`` line."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode == 0:
        if "Traceback" in proc.stderr:
            return Outcome("crash", proc.stderr)
        return Outcome("success")
    if proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("nvc-cli: ") and " error" in lines[0]:
        return Outcome("refused", lines[0])
    return Outcome("crash", f"exit {proc.returncode}: {proc.stderr[-2000:]}")


def run_cli(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 60) -> Outcome:
    try:
        proc = subprocess.run([*NVC, *args], capture_output=True, text=True, env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Outcome("crash", f"hang: nvc-cli {' '.join(args)}")
    return classify_cli(proc)


def new_mounts(before: Iterable[str], after: Iterable[str]) -> List[str]:
    old = set(before)
    return [m for m in after if m not in old]


def mount_points(lines: Iterable[str]) -> List[str]:
    """Mount points (second field of ``tests.containers.mountinfo`` lines), unescaped."""
    out = []
    for line in lines:
        point = line.split()[1]
        out.append(point.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\"))
    return out


def outside(points: Iterable[str], rootfs: Path) -> List[str]:
    prefix = str(rootfs).rstrip("/") + "/"
    return [p for p in points if not p.startswith(prefix)]


def propagation_free(lines: Iterable[str]) -> List[str]:
    """Mount lines without the optional propagation fields (``shared:N``, ``master:N``)."""
    out = []
    for line in lines:
        fields = line.split()
        out.append(" ".join(f for f in fields if not f.startswith(("shared:", "master:", "propagate_from:",
                                                                   "unbindable"))))
    return sorted(out)


# --- the tally -----------------------------------------------------------------------------------


@dataclass
class Scoreboard:
    """Per family: how many cases ran and how each ended; dumped as JSON for docs/security.md."""

    families: Dict[str, Dict[str, int]] = field(default_factory=dict)
    failures: List[Tuple[str, str, str]] = field(default_factory=list)
    duration_s: float = 0.0

    def record(self, family: str, case: str, kind: str, detail: str = "") -> None:
        counts = self.families.setdefault(family, {k: 0 for k in ("cases", *OUTCOMES)})
        counts["cases"] += 1
        counts[kind] += 1
        if kind in ("escape", "crash"):
            self.failures.append((family, case, detail[:2000]))

    def summary(self) -> Dict[str, object]:
        total = {k: sum(f[k] for f in self.families.values()) for k in ("cases", *OUTCOMES)}
        return {
            "cases": total["cases"],
            "succeeded": total["success"],
            "refused": total["refused"],
            "escapes": total["escape"],
            "crashes": total["crash"],
            "families": self.families,
            "failures": [{"family": f, "case": c, "detail": d} for f, c, d in self.failures],
            "duration_s": self.duration_s,
            "python": sys.version.split()[0],
            "kernel": os.uname().release,
        }

    def write(self, path: str) -> None:
        Path(path).write_text(json.dumps(self.summary(), indent=2, sort_keys=True) + "\n")


BOARD = Scoreboard()


# --- one test's world ----------------------------------------------------------------------------


def make_host_tree(path: Path) -> Path:
    """A small fake host: what hostile symlinks in an image point at; must never change."""
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
        "etc/ld.so.cache": "not a cache, but the host's\n",
        "etc/ld.so.conf.d/host.conf": "/opt/host/lib\n",
        "lib/libhost.so.1": "host library\n",
        "bin/tool": "#!/bin/sh\necho host tool\n",
        "firmware/gsp.bin": "host firmware\n",
        "cuda-compat/libcuda.so.999.0.0": "host compat library\n",
        "mps/control": "host mps\n",
    }
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content)
    for d in ("dev", "proc", "empty"):
        (path / d).mkdir(parents=True, exist_ok=True)
    return path


class Arena:
    """One test's world; ``attack`` runs configure against it and records the verdict."""

    def __init__(self, tmp_path: Path, sim: SimulatedDriver, board: Scoreboard, family: str) -> None:
        self.tmp = tmp_path
        self.sim = sim
        self.board = board
        self.family = family
        self.host = make_host_tree(tmp_path / "host")
        self.rootfs = make_rootfs(tmp_path / "rootfs")
        self.watch = HostWatch([self.host, Path(sim.root)], mount_scope=[tmp_path])
        self._containers: List[NamespaceProcess] = []
        self.container = self.new_container()

    @property
    def version(self) -> str:
        return self.sim.topology.driver_version

    def new_container(self) -> NamespaceProcess:
        proc = NamespaceProcess()
        self._containers.append(proc)
        self.container = proc
        return proc

    def close(self) -> None:
        for proc in self._containers:
            proc.close()

    def request(self, **fields: Any) -> Any:
        from nvcontainer import container as conf

        fields.setdefault("devices", "all")
        fields.setdefault("capabilities", ALL_CAPS)
        return conf.Request(str(self.rootfs), **fields)

    def attack(self, case: str, *, cli: Optional[Sequence[str]] = None, expect: Optional[str] = None,
               check_tree: bool = True, root: Optional[str] = None, **fields: Any) -> Outcome:
        """Run configure (library, or ``nvc-cli`` with ``cli`` args) and judge it; asserts no escape."""
        pid = self.container.pid
        root = root or str(self.sim.root)
        before_host = self.watch.take()
        before_ns = mountinfo(pid)
        before_tree = tree(self.rootfs) if check_tree else {}
        if cli is not None:
            outcome = run_cli("--root", root, "configure", f"--pid={pid}", *cli, str(self.rootfs))
        else:
            outcome = call_configure(self.request(**fields), pid=pid, root=root)
        verdict, detail = judge(outcome, self.watch.changes(before_host), before_ns, mountinfo(pid), self.rootfs)
        if verdict == "refused" and check_tree and tree(self.rootfs) != before_tree:
            verdict, detail = "crash", f"unclean failure: rootfs tree changed ({outcome.detail})"
        self.board.record(self.family, case, verdict, detail)
        assert verdict != "escape", detail
        assert verdict != "crash", detail
        if expect is not None:
            assert verdict == expect, f"{case}: expected {expect}, got {verdict}: {outcome.detail}"
        outcome.kind = verdict
        return outcome


def judge(outcome: Outcome, host_changes: List[str], before_ns: List[str], after_ns: List[str],
          rootfs: Path) -> Tuple[str, str]:
    """The verdict on one configure: escape, crash, refused or success, with the evidence."""
    if host_changes:
        return "escape", "; ".join(host_changes[:10])
    if outcome.kind == "crash":
        return "crash", outcome.detail
    added = new_mounts(before_ns, after_ns)
    if outcome.kind == "success":
        stray = outside(mount_points(added), rootfs)
        if stray:
            return "escape", f"mounted outside the rootfs: {stray[:5]}"
        return "success", ""
    if after_ns != before_ns:
        return "crash", f"unclean failure: container mounts left behind ({outcome.detail}): {added[:3]}"
    return "refused", outcome.detail


def deep_up(levels: int = 24) -> str:
    """A relative prefix that climbs from anywhere in the tmp tree to the real ``/``."""
    return "../" * levels


def relink(path: Path, target: str) -> None:
    """Replace whatever is at ``path`` with a symlink to ``target`` (parents made as needed)."""
    import shutil

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.symlink_to(target)


def ns_listing(arena: Arena, path: str) -> List[str]:
    out = arena.container.run("ls", "-a", path)
    return out.stdout.split()

