"""Tests of the Linux system bindings: raw calls, fd-based mounts, and running in a mount namespace.

They need root and real namespaces; a throw-away namespace is made with ``unshare -m`` so the
host's mount table is never touched (each test that mounts checks that).
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

import pytest

from nvcontainer.bindings import linux, mntns, mounts

T = TypeVar("T")


API_MODES = [
    pytest.param(True, id="new-api"),
    pytest.param(False, id="classic-mount"),
]


def _require(new_api: bool) -> None:
    if new_api and not linux.new_mount_api_available():
        pytest.fail("new mount API not available")


def _own_ns() -> str:
    return os.readlink("/proc/self/ns/mnt")


def _mountinfo() -> str:
    return Path("/proc/self/mountinfo").read_text()


class Sandbox:
    """A process sleeping in a private mount namespace of its own."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.pid = proc.pid

    def run(self, *argv: str) -> str:
        cmd = ["nsenter", "-t", str(self.pid), "-m", *argv]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    def options(self, path: Path) -> List[str]:
        return self.run("findmnt", "-n", "-o", "OPTIONS", "--target", str(path)).strip().split(",")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sleep", "60"])
    try:
        deadline = time.monotonic() + 10
        while os.readlink(f"/proc/{proc.pid}/ns/mnt") == _own_ns():
            assert time.monotonic() < deadline, "unshare did not enter a new mount namespace"
            time.sleep(0.01)
        yield Sandbox(proc)
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def host_unchanged() -> Iterator[None]:
    """Fails the test if the caller's mount namespace or mount table changed."""
    ns, table = _own_ns(), _mountinfo()
    yield
    assert _own_ns() == ns
    assert _mountinfo() == table


def _in_private_ns(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a forked child that has a private mount namespace of its own."""

    def body() -> T:
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        return fn()

    return mntns.call_in_child(body)


def _open_path(path: Path) -> int:
    return os.open(path, os.O_PATH | os.O_CLOEXEC)


def _statvfs_flags(path: Path) -> int:
    return os.statvfs(path).f_flag & (os.ST_RDONLY | os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC)


# --- module hygiene ------------------------------------------------------------------------------


def test_import_does_not_load_cffi() -> None:
    code = (
        "import sys\n"
        "import nvcontainer.bindings.linux, nvcontainer.bindings.mounts, nvcontainer.bindings.mntns\n"
        "assert 'cffi' not in sys.modules, 'cffi imported at module import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _header_numbers(path: Path) -> Dict[str, int]:
    found = re.findall(r"#define\s+__NR3?2?_(\w+)\s+(\d+)\s*$", path.read_text(), re.MULTILINE)
    return {name: int(nr) for name, nr in found}


@pytest.mark.parametrize(
    "machine, header",
    [
        ("x86_64", "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
        ("aarch64", "/usr/include/asm-generic/unistd.h"),
    ],
)
def test_syscall_numbers_match_kernel_headers(machine: str, header: str) -> None:
    if not Path(header).exists():
        pytest.fail(f"{header} not installed")
    numbers = _header_numbers(Path(header))
    for name, nr in linux._SYSCALLS[machine].items():
        assert numbers[name] == nr, name


def test_new_mount_api_probe_is_cached() -> None:
    first = linux.new_mount_api_available()
    assert isinstance(first, bool)
    assert linux.new_mount_api_available() is first


# --- errors --------------------------------------------------------------------------------------


def test_mount_error_carries_errno_and_paths(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        linux.mount(tmp_path / "no-such-source", tmp_path / "no-such-target", None, linux.MS_BIND)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == str(tmp_path / "no-such-source")
    assert info.value.filename2 == str(tmp_path / "no-such-target")
    assert info.value.strerror == os.strerror(errno.ENOENT)


def test_umount_of_a_plain_directory_is_einval(tmp_path: Path) -> None:
    with pytest.raises(OSError) as info:
        linux.umount2(tmp_path, linux.UMOUNT_NOFOLLOW)
    assert info.value.errno == errno.EINVAL
    assert info.value.filename == str(tmp_path)


def test_setns_on_a_bad_fd_is_ebadf() -> None:
    with pytest.raises(OSError) as info:
        linux.setns(987654, linux.CLONE_NEWNS)
    assert info.value.errno == errno.EBADF


def test_openat2_missing_file(tmp_path: Path) -> None:
    root = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(FileNotFoundError) as info:
            linux.openat2(root, "missing", os.O_RDONLY, resolve=linux.RESOLVE_IN_ROOT)
        assert info.value.filename == "missing"
    finally:
        os.close(root)


# --- openat2 -------------------------------------------------------------------------------------


@pytest.fixture
def fake_root(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("inside\n")
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    (tmp_path / "abs-etc").symlink_to("/etc")
    (tmp_path / "up").symlink_to("../../../../../../etc")
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def _read_at(root_fd: int, path: str, resolve: int) -> str:
    fd = linux.openat2(root_fd, path, os.O_RDONLY | os.O_CLOEXEC, resolve=resolve)
    with os.fdopen(fd) as handle:
        return handle.read()


@pytest.mark.parametrize("path", ["../../etc/passwd", "sub/dir/../../../../etc/passwd", "abs-etc/passwd",
                                  "up/passwd", "/etc/passwd"])
def test_openat2_in_root_stays_in_root(fake_root: int, path: str) -> None:
    assert _read_at(fake_root, path, linux.RESOLVE_IN_ROOT) == "inside\n"


def test_openat2_beneath_refuses_escape(fake_root: int) -> None:
    with pytest.raises(OSError) as info:
        _read_at(fake_root, "../etc/passwd", linux.RESOLVE_BENEATH)
    assert info.value.errno == errno.EXDEV


def test_openat2_no_symlinks(fake_root: int) -> None:
    with pytest.raises(OSError) as info:
        _read_at(fake_root, "abs-etc/passwd", linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_SYMLINKS)
    assert info.value.errno == errno.ELOOP


# --- namespaces ----------------------------------------------------------------------------------


def test_unshare_and_setns_back_in_a_child() -> None:
    def body() -> List[str]:
        old = os.open("/proc/self/ns/mnt", os.O_RDONLY)
        seen = [_own_ns()]
        linux.unshare(linux.CLONE_NEWNS)
        seen.append(_own_ns())
        linux.setns(old, linux.CLONE_NEWNS)
        seen.append(_own_ns())
        return seen

    before = _own_ns()
    first, unshared, back = mntns.call_in_child(body)
    assert first == back == before != unshared
    assert _own_ns() == before


def test_run_in_mount_namespace_enters_the_target(sandbox: Sandbox, host_unchanged: None) -> None:
    target = os.readlink(f"/proc/{sandbox.pid}/ns/mnt")
    assert mntns.run_in_mount_namespace(sandbox.pid, _own_ns) == target


def test_run_in_mount_namespace_of_a_dead_process() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    with pytest.raises(ProcessLookupError):
        mntns.run_in_mount_namespace(proc.pid, _own_ns)


class _Unrebuildable(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")


def test_exceptions_come_back(sandbox: Sandbox, host_unchanged: None) -> None:
    def fails() -> None:
        os.stat("/definitely/not/here")

    with pytest.raises(FileNotFoundError) as info:
        mntns.run_in_mount_namespace(sandbox.pid, fails)
    assert info.value.filename == "/definitely/not/here"
    assert isinstance(info.value.__cause__, mntns.RemoteTraceback)
    assert "fails" in info.value.__cause__.text


def test_unpicklable_exception_becomes_generic_error(sandbox: Sandbox) -> None:
    def fails() -> None:
        raise _Unrebuildable(7, "boom")

    with pytest.raises(mntns.NamespaceCallError, match="_Unrebuildable.*7: boom"):
        mntns.run_in_mount_namespace(sandbox.pid, fails)


def test_unpicklable_result_becomes_generic_error(sandbox: Sandbox) -> None:
    with pytest.raises(mntns.NamespaceCallError, match="cannot be pickled"):
        mntns.run_in_mount_namespace(sandbox.pid, lambda: (lambda: 1))


def test_child_killed_by_signal() -> None:
    with pytest.raises(mntns.NamespaceCallError, match="signal 9"):
        mntns.call_in_child(lambda: os.kill(os.getpid(), 9))


def test_child_output_is_not_duplicated(capfd: pytest.CaptureFixture[str]) -> None:
    print("before", end="")
    mntns.call_in_child(lambda: print("child", end=""))
    assert capfd.readouterr().out == "beforechild"


def test_large_results_do_not_deadlock() -> None:
    assert len(mntns.call_in_child(lambda: b"x" * (1 << 20))) == 1 << 20


# --- fd-based mounts -----------------------------------------------------------------------------


@pytest.mark.parametrize("new_api", API_MODES)
def test_bind_mount_fd_in_a_container_namespace(
    sandbox: Sandbox, host_unchanged: None, tmp_path: Path, new_api: bool
) -> None:
    _require(new_api)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_text("driver library\n")
    dst.write_text("")

    def inside() -> str:
        src_fd, dst_fd = _open_path(src), _open_path(dst)
        try:
            mount_fd = mounts.bind_mount_fd(src_fd, dst_fd, readonly=True, nosuid=True, nodev=True,
                                            noexec=False, new_api=new_api)
            os.close(mount_fd)
        finally:
            os.close(src_fd)
            os.close(dst_fd)
        return dst.read_text()

    assert mntns.run_in_mount_namespace(sandbox.pid, inside) == "driver library\n"
    assert sandbox.run("cat", str(dst)) == "driver library\n"
    options = sandbox.options(dst)
    assert {"ro", "nosuid", "nodev"} <= set(options)
    assert "noexec" not in options
    assert dst.read_text() == ""


@pytest.mark.parametrize("new_api", API_MODES)
def test_bind_mount_fd_onto_a_mount_point_remounts_the_new_mount(
    host_unchanged: None, tmp_path: Path, new_api: bool
) -> None:
    # The target is itself a mount root: a remount through the target's own fd would hit it.
    _require(new_api)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()

    def body() -> List[int]:
        linux.mount(dst, dst, None, linux.MS_BIND)
        src_fd, dst_fd = _open_path(src), _open_path(dst)
        mount_fd = mounts.bind_mount_fd(src_fd, dst_fd, readonly=True, nosuid=False, nodev=False,
                                        noexec=True, new_api=new_api)
        flags = [_statvfs_flags(dst), os.statvfs(f"/proc/self/fd/{dst_fd}").f_flag & os.ST_RDONLY]
        mounts.unmount_fd(mount_fd)
        return flags

    top, below = _in_private_ns(body)
    assert top & os.ST_RDONLY and top & os.ST_NOEXEC
    assert not below


def test_clone_on_host_attach_in_container(sandbox: Sandbox, host_unchanged: None, tmp_path: Path) -> None:
    _require(True)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_text("from the host\n")
    dst.write_text("")
    src_fd = _open_path(src)
    try:
        tree_fd = mounts.clone_mount(src_fd, readonly=True, nosuid=True, nodev=True, noexec=True)
    finally:
        os.close(src_fd)

    def inside() -> None:
        dst_fd = _open_path(dst)
        try:
            mounts.attach_mount(tree_fd, dst_fd)
        finally:
            os.close(dst_fd)

    try:
        mntns.run_in_mount_namespace(sandbox.pid, inside)
    finally:
        os.close(tree_fd)
    assert sandbox.run("cat", str(dst)) == "from the host\n"
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(sandbox.options(dst))


def test_bind_from_another_namespace_is_refused(
    sandbox: Sandbox, host_unchanged: None, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_text("")
    dst.write_text("")
    src_fd = _open_path(src)

    def inside() -> None:
        dst_fd = _open_path(dst)
        mounts.bind_mount_fd(src_fd, dst_fd, readonly=True, nosuid=True, nodev=True, noexec=True)

    try:
        with pytest.raises(OSError) as info:
            mntns.run_in_mount_namespace(sandbox.pid, inside)
    finally:
        os.close(src_fd)
    assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize("new_api", API_MODES)
def test_tmpfs_mount_fd_fill_then_remount(sandbox: Sandbox, host_unchanged: None, tmp_path: Path,
                                          new_api: bool) -> None:
    _require(new_api)
    target = tmp_path / "driver"
    target.mkdir()

    def inside() -> Dict[str, object]:
        dst_fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        mount_fd = mounts.tmpfs_mount_fd(dst_fd, 0o555, new_api=new_api)
        try:
            fd = os.open("version", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o444, dir_fd=mount_fd)
            os.write(fd, b"NVRM version: 550.54.14\n")
            os.close(fd)
            mounts.remount_fd(mount_fd, readonly=True, nosuid=True, nodev=True, noexec=True,
                              new_api=new_api)
            refused: Optional[int] = None
            try:
                os.open("params", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, dir_fd=mount_fd)
            except OSError as err:
                refused = err.errno
            return {"mode": os.stat(target).st_mode & 0o7777, "refused": refused,
                    "listing": sorted(os.listdir(target))}
        finally:
            os.close(mount_fd)
            os.close(dst_fd)

    seen = mntns.run_in_mount_namespace(sandbox.pid, inside)
    assert seen == {"mode": 0o555, "refused": errno.EROFS, "listing": ["version"]}
    assert sandbox.run("cat", str(target / "version")) == "NVRM version: 550.54.14\n"
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(sandbox.options(target))
    assert sandbox.run("findmnt", "-n", "-o", "FSTYPE", str(target)).strip() == "tmpfs"
    assert os.listdir(target) == []


def test_classic_bind_follows_a_renamed_parent(
    host_unchanged: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tmp_path / "lib"
    parent.mkdir()
    src, dst = tmp_path / "src", parent / "dst"
    src.write_text("real\n")
    dst.write_text("")
    real_mount = linux.mount

    def mount_then_swap(source: Optional[str], target: str, fstype: Optional[str], flags: int) -> None:
        real_mount(source, target, fstype, flags)
        if flags == linux.MS_BIND:
            # Between the bind and the remount, the directory is moved and a decoy put in its place.
            parent.rename(tmp_path / "moved")
            parent.mkdir()
            dst.write_text("decoy\n")

    monkeypatch.setattr(linux, "mount", mount_then_swap)

    def body() -> Tuple[str, int, str, int]:
        src_fd, dst_fd = _open_path(src), _open_path(dst)
        mounts.bind_mount_fd(src_fd, dst_fd, readonly=True, nosuid=True, nodev=True, noexec=True,
                             new_api=False)
        moved = tmp_path / "moved" / "dst"
        return moved.read_text(), _statvfs_flags(moved), dst.read_text(), _statvfs_flags(dst)

    text, flags, decoy_text, decoy_flags = _in_private_ns(body)
    assert (text, decoy_text) == ("real\n", "decoy\n")
    assert flags == os.ST_RDONLY | os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC
    assert not decoy_flags & os.ST_RDONLY


def test_classic_fallback_refuses_a_target_without_the_new_mount(tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    dst.write_text("")
    dst_fd = _open_path(dst)
    try:
        with pytest.raises(OSError) as info:
            mounts._open_mount_on(dst_fd, lambda fd, fstype: True)
    finally:
        os.close(dst_fd)
    assert info.value.errno == errno.ESTALE


def test_tmpfs_mount_fd_rejects_other_flags() -> None:
    with pytest.raises(ValueError):
        mounts.tmpfs_mount_fd(0, 0o755, linux.MS_BIND)


@pytest.mark.parametrize("new_api", API_MODES)
def test_remount_adds_restrictions_and_keeps_existing(host_unchanged: None, tmp_path: Path,
                                                      new_api: bool) -> None:
    _require(new_api)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()

    def body() -> List[int]:
        src_fd, dst_fd = _open_path(src), _open_path(dst)
        mount_fd = mounts.bind_mount_fd(src_fd, dst_fd, readonly=False, nosuid=True, nodev=False,
                                        noexec=False, new_api=new_api)
        seen = [_statvfs_flags(dst)]
        mounts.remount_fd(mount_fd, readonly=True, nosuid=False, nodev=True, noexec=False,
                          new_api=new_api)
        seen.append(_statvfs_flags(dst))
        return seen

    first, second = _in_private_ns(body)
    assert first & os.ST_NOSUID and not first & os.ST_RDONLY
    assert second & os.ST_NOSUID and second & os.ST_RDONLY and second & os.ST_NODEV


def test_mount_setattr_sets_and_clears(host_unchanged: None, tmp_path: Path) -> None:
    _require(True)
    (tmp_path / "dir").mkdir()

    def body() -> List[int]:
        path = tmp_path / "dir"
        linux.mount(path, path, None, linux.MS_BIND)
        set_flags = linux.MOUNT_ATTR_RDONLY | linux.MOUNT_ATTR_NOEXEC | linux.MOUNT_ATTR_NODEV
        linux.mount_setattr(linux.AT_FDCWD, path, 0, set_flags)
        seen = [_statvfs_flags(path)]
        linux.mount_setattr(linux.AT_FDCWD, path, 0, 0, linux.MOUNT_ATTR_RDONLY)
        seen.append(_statvfs_flags(path))
        return seen

    first, second = _in_private_ns(body)
    assert first == os.ST_RDONLY | os.ST_NOEXEC | os.ST_NODEV
    assert second == os.ST_NOEXEC | os.ST_NODEV


def test_unmount_fd(host_unchanged: None, tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()

    def body() -> List[bool]:
        dst_fd = _open_path(tmp_path / "dir")
        mount_fd = mounts.tmpfs_mount_fd(dst_fd, 0o755)
        mounted = os.path.ismount(tmp_path / "dir")
        mounts.unmount_fd(mount_fd)
        return [mounted, os.path.ismount(tmp_path / "dir")]

    assert _in_private_ns(body) == [True, False]


# --- pivot_root ----------------------------------------------------------------------------------


def test_pivot_root_in_a_forked_child(host_unchanged: None, tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("container\n")

    def body() -> List[object]:
        linux.mount(root, root, None, linux.MS_BIND | linux.MS_REC)
        os.chdir(root)
        linux.pivot_root(".", ".")
        linux.umount2(".", linux.MNT_DETACH)
        os.chdir("/")
        return [sorted(os.listdir("/")), Path("/etc/hostname").read_text()]

    assert _in_private_ns(body) == [["etc"], "container\n"]


def test_pivot_root_error_names_the_path(tmp_path: Path) -> None:
    def body() -> None:
        linux.pivot_root(tmp_path / "missing", tmp_path / "missing")

    with pytest.raises(FileNotFoundError) as info:
        _in_private_ns(body)
    assert info.value.filename == str(tmp_path / "missing")
