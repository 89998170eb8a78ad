"""Tests for resolving, opening and creating paths inside a root without escaping it.

The reference implementation is the kernel itself: a forked child ``chroot``s into the root
and asks ``os.stat`` / ``os.path.realpath`` there, where no path can leave the root.  The tests
run as root (``chroot``, ``chown``), as CI does.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcontainer import securepath as sp
from nvcontainer.errors import PathError

Reference = Tuple[int, str]  # (errno of the kernel's stat in the chroot or 0, realpath there)


def chroot_reference(root: str, paths: List[str], follow_final: bool = True) -> List[Reference]:
    """What the kernel and ``realpath`` say about ``paths`` inside ``chroot(root)``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            os.close(read_end)
            os.chroot(root)
            os.chdir("/")
            results = []
            for path in paths:
                full = "/" + path
                try:
                    os.stat(full, follow_symlinks=follow_final)
                    err = 0
                except OSError as exc:
                    err = exc.errno or -1
                if follow_final:
                    real = os.path.realpath(full)
                else:
                    head, _, tail = full.rstrip("/").rpartition("/")
                    real = os.path.join(os.path.realpath(head or "/"), tail)
                results.append((err, real))
            with os.fdopen(write_end, "w") as out:
                json.dump(results, out)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0 and text, "reference child failed"
    return [(int(err), str(real)) for err, real in json.loads(text)]


def snapshot(top: str) -> Dict[str, Tuple[int, int]]:
    """Every entry under ``top`` (without following links): path -> (mode, size)."""
    found: Dict[str, Tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st_ = os.lstat(full)
            found[full] = (st_.st_mode, st_.st_size)
    return found


def assert_safe(root: str, resolved: str, follow_final: bool) -> None:
    """The host path ``root + resolved`` crosses no symlink (but maybe a final one) and no ``..``."""
    assert resolved.startswith("/")
    parts = [p for p in resolved.split("/") if p]
    assert all(p not in (".", "..") for p in parts)
    assert resolved == "/" + "/".join(parts)
    current = root
    for index, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        last = index == len(parts) - 1
        if stat.S_ISLNK(mode):
            assert last and not follow_final, f"{resolved} crosses symlink {current}"
        elif not last:
            assert stat.S_ISDIR(mode)


@pytest.fixture()
def tree(tmp_path: Path) -> Iterator[Tuple[str, str]]:
    """(root, outside): a root full of hostile links, and a sibling directory it must not reach."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    for d in ("usr/lib", "etc", "dev", "a/b/c"):
        (root / d).mkdir(parents=True)
    (root / "etc/passwd").write_text("inside")
    (root / "usr/lib/libcuda.so.1").write_text("")
    (root / "dev/fifo").parent.mkdir(exist_ok=True)
    os.mkfifo(root / "dev/fifo")
    links = {
        "abs_etc": "/etc",
        "abs_outside": str(outside),
        "rel_escape": "../../../../../../../../etc",
        "rel_outside": "../outside",
        "usr/lib/escape": "../../../../../../outside/secret",
        "chain1": "chain2",
        "chain2": "/a/b/../../chain3",
        "chain3": "../../../etc",
        "loop1": "loop2",
        "loop2": "loop1",
        "self": "self",
        "dangling": "/nonexistent/thing",
        "dangling_rel": "../../nowhere/x",
        "lib": "usr/lib",
        "usr/lib/libcuda.so": "libcuda.so.1",
        "usr/lib/abs_cuda": "/usr/lib/libcuda.so.1",
        "a/b/c/up": "../../..",
        "a/b/c/root": "/",
        "dot": ".",
        "proc_self": "/proc/self/root",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    yield str(root), str(outside)


CASES = [
    ("/", "/", "/"),
    ("", "/", "/"),
    ("etc/passwd", "/etc/passwd", "/etc/passwd"),
    ("/../../../etc/passwd", "/etc/passwd", "/etc/passwd"),
    ("..", "/", "/"),
    ("abs_etc/passwd", "/etc/passwd", "/etc/passwd"),
    ("abs_etc", "/etc", "/abs_etc"),
    ("abs_outside/secret", None, None),  # root + host path of outside, which does not exist inside
    ("rel_escape/passwd", "/etc/passwd", "/etc/passwd"),
    ("rel_outside/secret", "/outside/secret", "/outside/secret"),
    ("usr/lib/escape", "/outside/secret", "/usr/lib/escape"),
    ("chain1/passwd", "/etc/passwd", "/etc/passwd"),
    ("chain1", "/etc", "/chain1"),
    ("dangling", "/nonexistent/thing", "/dangling"),
    ("dangling_rel", "/nowhere/x", "/dangling_rel"),
    ("dangling/../../x", "/x", "/x"),
    ("lib/libcuda.so", "/usr/lib/libcuda.so.1", "/usr/lib/libcuda.so"),
    ("lib/abs_cuda", "/usr/lib/libcuda.so.1", "/usr/lib/abs_cuda"),
    ("a/b/c/up/etc", "/etc", "/etc"),
    ("a/b/c/up/../../etc", "/etc", "/etc"),
    ("a/b/c/root/../etc/passwd", "/etc/passwd", "/etc/passwd"),
    ("dot/dot/dot/etc", "/etc", "/etc"),
    ("missing/dir/../file", "/missing/file", "/missing/file"),
    ("missing/../../../etc", "/etc", "/etc"),
    ("usr//lib/./libcuda.so.1/", "/usr/lib/libcuda.so.1", "/usr/lib/libcuda.so.1"),
    ("proc_self/etc", "/proc/self/root/etc", "/proc/self/root/etc"),
]


@pytest.mark.parametrize("path, followed, unfollowed", CASES)
def test_resolution_cases(tree: Tuple[str, str], path: str, followed: Optional[str], unfollowed: Optional[str]) -> None:
    root, outside = tree
    if followed is None:
        followed = unfollowed = outside + "/secret"
    assert sp.resolve_in_root(root, path) == followed
    assert sp.resolve_in_root(root, path, follow_final=False) == unfollowed
    assert sp.join_in_root(root, path) == (root if followed == "/" else root + followed)
    assert_safe(root, followed, True)
    assert unfollowed is not None
    assert_safe(root, unfollowed, False)


def test_cases_agree_with_chroot(tree: Tuple[str, str]) -> None:
    root, _ = tree
    paths = [c[0] for c in CASES if not c[0].startswith("proc_self")]
    for follow in (True, False):
        for path, (err, real) in zip(paths, chroot_reference(root, paths, follow)):
            if follow or path.rstrip("/").rpartition("/")[2] not in ("", ".", ".."):
                assert sp.resolve_in_root(root, path, follow_final=follow) == real, (path, err)


@pytest.mark.parametrize("path", ["loop1", "self/x", "loop2/../etc"])
def test_loops(tree: Tuple[str, str], path: str) -> None:
    root, _ = tree
    with pytest.raises(PathError, match=f"^too many levels of symbolic links: {path}$"):
        sp.resolve_in_root(root, path)


def test_final_loop_not_followed(tree: Tuple[str, str]) -> None:
    root, _ = tree
    assert sp.resolve_in_root(root, "loop1", follow_final=False) == "/loop1"


def test_symlink_limit_is_forty(tmp_path: Path) -> None:
    for count in range(1, 42):
        os.symlink(f"l{count - 1}" if count > 1 else "target", tmp_path / f"l{count}")
    (tmp_path / "target").mkdir()
    assert sp.resolve_in_root(str(tmp_path), "l40") == "/target"
    with pytest.raises(PathError, match="too many levels"):
        sp.resolve_in_root(str(tmp_path), "l41")


def test_not_a_directory(tree: Tuple[str, str]) -> None:
    root, _ = tree
    for path in ("etc/passwd/x", "etc/passwd/..", "lib/libcuda.so/x"):
        with pytest.raises(PathError, match=f"^not a directory: {path}$"):
            sp.resolve_in_root(root, path)


def test_strict_mode(tree: Tuple[str, str]) -> None:
    root, _ = tree
    for path in ("..", "/../etc", "rel_escape", "a/b/c/up/..", "chain1"):
        with pytest.raises(PathError, match=f"^path error: {path} resolves outside of {root}$"):
            sp.resolve_in_root(root, path, strict=True)
    assert sp.resolve_in_root(root, "a/b/../../etc", strict=True) == "/etc"
    assert sp.resolve_in_root(root, "abs_etc/passwd", strict=True) == "/etc/passwd"


def test_bad_root(tmp_path: Path) -> None:
    with pytest.raises(PathError, match="no such file or directory"):
        sp.resolve_in_root(str(tmp_path / "nope"), "/x")
    (tmp_path / "file").write_text("")
    with pytest.raises(PathError, match="not a directory"):
        sp.resolve_in_root(str(tmp_path / "file"), "/x")


def test_no_descriptor_leaks(tree: Tuple[str, str]) -> None:
    root, _ = tree
    before = len(os.listdir("/proc/self/fd"))
    for path, _, _ in CASES:
        sp.resolve_in_root(root, path)
    for path in ("loop1", "etc/passwd/x"):
        with pytest.raises(PathError):
            sp.resolve_in_root(root, path)
    with pytest.raises(PathError):
        sp.create_file_in_root(root, "a/b")
    assert len(os.listdir("/proc/self/fd")) == before


# --- open_in_root ------------------------------------------------------------------------------


def _fd_target(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_open_in_root(tree: Tuple[str, str]) -> None:
    root, _ = tree
    fd = sp.open_in_root(root, "rel_escape/passwd")
    try:
        assert _fd_target(fd) == root + "/etc/passwd"
        assert os.get_inheritable(fd) is False
    finally:
        os.close(fd)
    fd = sp.open_in_root(root, "lib/libcuda.so")  # O_PATH of the final symlink itself
    try:
        assert stat.S_ISLNK(os.fstat(fd).st_mode)
        assert _fd_target(fd) == root + "/usr/lib/libcuda.so"
    finally:
        os.close(fd)
    fd = sp.open_in_root(root, "abs_etc/passwd", os.O_RDONLY)
    try:
        assert os.read(fd, 100) == b"inside"
    finally:
        os.close(fd)
    fd = sp.open_in_root(root, "lib/libcuda.so", os.O_RDONLY, follow_final=True)
    try:
        assert _fd_target(fd) == root + "/usr/lib/libcuda.so.1"
    finally:
        os.close(fd)
    fd = sp.open_in_root(root, "/../..", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert _fd_target(fd) == root
    finally:
        os.close(fd)


def test_open_in_root_errors(tree: Tuple[str, str]) -> None:
    root, _ = tree
    with pytest.raises(PathError, match="^too many levels of symbolic links: lib/libcuda.so$"):
        sp.open_in_root(root, "lib/libcuda.so", os.O_RDONLY)
    with pytest.raises(PathError, match="^no such file or directory: dangling$"):
        sp.open_in_root(root, "dangling", follow_final=True)
    with pytest.raises(PathError, match="^no such file or directory: abs_outside/secret$"):
        sp.open_in_root(root, "abs_outside/secret", os.O_RDONLY)


# --- creation ----------------------------------------------------------------------------------


def test_create_file_through_escaping_links(tree: Tuple[str, str]) -> None:
    root, outside = tree
    before = snapshot(outside)
    made = sp.create_file_in_root(root, "abs_outside/new/lib.so", 0o640, uid=1234, gid=5678)
    host_outside = outside.lstrip("/").split("/")
    expected_dirs = ["/" + "/".join(host_outside[: i + 1]) for i in range(len(host_outside))]
    assert made == expected_dirs + [outside + "/new", outside + "/new/lib.so"]
    target = root + outside + "/new/lib.so"
    st_ = os.lstat(target)
    assert stat.S_ISREG(st_.st_mode) and stat.S_IMODE(st_.st_mode) == 0o640
    assert (st_.st_uid, st_.st_gid) == (1234, 5678)
    parent = os.lstat(root + outside + "/new")
    assert stat.S_IMODE(parent.st_mode) == 0o755 and (parent.st_uid, parent.st_gid) == (1234, 5678)
    assert sp.create_file_in_root(root, "rel_outside/other") == ["/outside", "/outside/other"]
    assert sp.create_file_in_root(root, "usr/lib/escape/x") == ["/outside/secret", "/outside/secret/x"]
    assert snapshot(outside) == before
    sp.remove_created(root, made)
    assert not os.path.lexists(root + "/" + host_outside[0])


def test_create_reuses_and_refuses(tree: Tuple[str, str]) -> None:
    root, _ = tree
    assert sp.create_file_in_root(root, "lib/../lib/libcuda.so.1") == []
    assert sp.create_file_in_root(root, "chain1/passwd") == []
    assert sp.mkdirs_in_root(root, "lib/../../a/b/c") == []
    refusals = [
        (lambda p: sp.create_file_in_root(root, p), "usr/lib", "existing directory where a file is expected"),
        (lambda p: sp.create_file_in_root(root, p), "/", "not a file name"),
        (lambda p: sp.create_file_in_root(root, p), "new/..", "not a file name"),
        (lambda p: sp.create_file_in_root(root, p), "etc/", "existing directory where a file is expected"),
        (lambda p: sp.create_file_in_root(root, p), "lib/libcuda.so", "existing symbolic link where a file"),
        (lambda p: sp.create_file_in_root(root, p), "dangling", "existing symbolic link where a file"),
        (lambda p: sp.create_file_in_root(root, p), "dev/fifo", "existing fifo where a file is expected"),
        (lambda p: sp.mkdirs_in_root(root, p), "etc/passwd", "existing regular file where a directory"),
        (lambda p: sp.mkdirs_in_root(root, p), "etc/passwd/x", "not a directory"),
        (lambda p: sp.mkdirs_in_root(root, p), "dev/fifo", "existing fifo where a directory"),
        (lambda p: sp.mkdirs_in_root(root, p), "loop1/x", "too many levels of symbolic links"),
    ]
    for func, path, message in refusals:
        with pytest.raises(PathError) as info:
            func(path)
        assert info.value.message.startswith(message), info.value.message
        assert info.value.message.endswith(": " + path)
    assert sp.create_file_in_root(root, "dev/fifo", reuse_types=(stat.S_IFREG, stat.S_IFIFO)) == []


def test_mkdirs_in_root(tree: Tuple[str, str]) -> None:
    root, outside = tree
    before = snapshot(outside)
    old = os.umask(0o077)
    try:
        made = sp.mkdirs_in_root(root, "rel_outside/x/y", 0o751, uid=99, gid=98)
    finally:
        os.umask(old)
    assert made == ["/outside", "/outside/x", "/outside/x/y"]
    for path in made:
        st_ = os.lstat(root + path)
        assert stat.S_ISDIR(st_.st_mode) and stat.S_IMODE(st_.st_mode) == 0o751
        assert (st_.st_uid, st_.st_gid) == (99, 98)
    assert sp.mkdirs_in_root(root, "rel_outside/x/y") == []
    assert snapshot(outside) == before
    (Path(root) / "outside/x/y/keep").write_text("data")
    sp.remove_created(root, made)
    assert os.path.exists(root + "/outside/x/y/keep")  # non-empty directories stay


def test_failed_creation_is_undone(tree: Tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = tree
    with pytest.raises(PathError, match="^invalid owner 4294967296:-1: fresh/dir/file$"):
        sp.create_file_in_root(root, "fresh/dir/file", uid=2**32)
    assert not os.path.lexists(root + "/fresh")
    calls: List[int] = []
    real_fchown = os.fchown

    def failing_fchown(fd: int, uid: int, gid: int) -> None:
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.EPERM, "Operation not permitted")
        real_fchown(fd, uid, gid)

    monkeypatch.setattr(sp.os, "fchown", failing_fchown)
    with pytest.raises(PathError, match="^operation not permitted: fresh/dir/file$"):
        sp.create_file_in_root(root, "fresh/dir/file", uid=7, gid=7)
    assert len(calls) == 3
    assert not os.path.lexists(root + "/fresh")


# --- property tests on random trees ------------------------------------------------------------

NAMES = ["a", "b", "c"]
COMPONENT = st.sampled_from(NAMES + ["..", ".", ""])


def _path(parts: List[str], absolute: bool) -> str:
    return ("/" if absolute else "") + "/".join(parts)


PATHS = st.builds(_path, st.lists(COMPONENT, max_size=6), st.booleans())
ENTRY = st.tuples(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3),
    st.sampled_from(["dir", "file", "link", "link_outside"]),
    PATHS,
)


def _build_tree(base: str, entries: List[Tuple[List[str], str, str]]) -> Tuple[str, str]:
    root = os.path.join(base, "root")
    outside = os.path.join(base, "outside")
    os.makedirs(root)
    os.makedirs(os.path.join(outside, "a"))
    Path(outside, "a", "b").write_text("outside")
    for parts, kind, target in entries:
        full = os.path.join(root, *parts)
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            if kind == "dir":
                os.mkdir(full)
            elif kind == "file":
                Path(full).write_text("x")
            elif kind == "link":
                os.symlink(target or ".", full)
            else:
                # Relative and absolute links towards the sibling directory outside the root.
                depth = len(parts)
                rel = "../" * depth + "outside/" + target.lstrip("/")
                os.symlink(rel if len(target) % 2 else outside + "/" + target, full)
        except OSError:
            pass  # a component is already a file or link: keep the tree as it is
    return root, outside


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ENTRY, max_size=10), st.lists(PATHS, min_size=1, max_size=8))
def test_random_trees_stay_inside_and_match_chroot(
    entries: List[Tuple[List[str], str, str]], queries: List[str]
) -> None:
    base = tempfile.mkdtemp(prefix="securepath-")
    try:
        root, outside = _build_tree(base, entries)
        outside_before = snapshot(outside)
        base_before = set(os.listdir(base))
        reference = chroot_reference(root, queries)
        for query, (err, real) in zip(queries, reference):
            for follow in (True, False):
                try:
                    resolved = sp.resolve_in_root(root, query, follow_final=follow)
                except PathError as exc:
                    assert "\n" not in exc.message
                    if follow:
                        assert err in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT), (query, err)
                    continue
                assert_safe(root, resolved, follow)
                if follow:
                    assert err != errno.ELOOP, query
                    assert resolved == real, (query, err, real, resolved)
        for query in queries:
            try:
                made = sp.create_file_in_root(root, query)
            except PathError:
                continue
            for path in made:
                assert_safe(root, path, True)
                assert not stat.S_ISLNK(os.lstat(root + path).st_mode)
            if made:
                assert stat.S_ISREG(os.lstat(root + made[-1]).st_mode)
                continue
            # Nothing made: an existing regular file was reused.  (When something was made the
            # query may no longer resolve: "a/../b" with a -> b names another thing once b exists.)
            leaf = sp.resolve_in_root(root, query, follow_final=False)
            assert stat.S_ISREG(os.lstat(root + leaf).st_mode)
        assert snapshot(outside) == outside_before
        assert set(os.listdir(base)) == base_before
    finally:
        shutil.rmtree(base)
