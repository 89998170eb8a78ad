"""The sandboxed ldconfig run against a busybox rootfs and a process in its own mount namespace.

Needs root (CI is root) and gcc, to build real shared libraries for ldconfig to index.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

from nvcontainer.apply.ldconfig import default_host_ldconfig, run_ldconfig
from nvcontainer.errors import LdcacheError
from tests.containers import NamespaceProcess, make_rootfs, mountinfo

LIBDIR = "/usr/lib/x86_64-linux-gnu"
EXTRA_APPLETS = ("env", "id", "mknod", "mkdir", "touch", "rm")
LIBS = {"libfoo.so.1.2.3": "libfoo.so.1", "libbar.so.7.0": "libbar.so.7"}


@pytest.fixture
def nsproc() -> Iterator[NamespaceProcess]:
    proc = NamespaceProcess()
    yield proc
    proc.close()


@pytest.fixture(scope="module")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real shared libraries (built once), named like a distribution's: file libfoo.so.1.2.3, soname libfoo.so.1."""
    out = tmp_path_factory.mktemp("libs")
    for filename, soname in LIBS.items():
        source = out / f"{soname}.c"
        source.write_text(f"int {soname.split('.')[0]}_answer(void) {{ return 42; }}\n")
        subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(out / filename), str(source)],
                       check=True)
    return out


@pytest.fixture
def rootfs(tmp_path: Path, libraries: Path) -> Path:
    root = make_rootfs(tmp_path / "rootfs")
    for applet in EXTRA_APPLETS:
        link = root / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    libdir = root / LIBDIR.lstrip("/")
    libdir.mkdir(parents=True, exist_ok=True)
    for filename in LIBS:
        shutil.copy2(libraries / filename, libdir / filename)
    return root


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A fresh directory under the host's /tmp, for markers a sandbox escape would leave."""
    path = Path("/tmp") / f"nvc-ldconfig-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def container_ldconfig(rootfs: Path, body: str, path: str = "sbin/ldconfig") -> Path:
    script = rootfs / path
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def cache_listing(rootfs: Path) -> str:
    out = subprocess.run(["ldconfig", "-p", "-C", str(rootfs / "etc/ld.so.cache")],
                         capture_output=True, text=True, check=True)
    return out.stdout


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def assert_indexed(rootfs: Path) -> None:
    listing = cache_listing(rootfs)
    for filename, soname in LIBS.items():
        assert f"{soname} (libc6,x86-64) => {LIBDIR}/{soname}" in listing, listing
        link = rootfs / LIBDIR.lstrip("/") / soname
        assert os.readlink(link) == filename


@pytest.mark.parametrize("no_pivot", [False, True], ids=["pivot_root", "no_pivot"])
def test_host_ldconfig_indexes_the_container_libraries(rootfs: Path, nsproc: NamespaceProcess,
                                                      no_pivot: bool) -> None:
    host_cache = digest("/etc/ld.so.cache")
    host_mounts, container_mounts = mountinfo(), mountinfo(nsproc.pid)
    own_ns = os.readlink("/proc/self/ns/mnt")
    run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR, "/usr/lib/i386-linux-gnu"], owner_uid=0, owner_gid=0,
                 no_pivot=no_pivot)
    assert_indexed(rootfs)
    assert digest("/etc/ld.so.cache") == host_cache
    assert mountinfo() == host_mounts, "nothing may stay mounted on the host"
    assert mountinfo(nsproc.pid) == container_mounts, "the sandbox mounts live in a namespace of their own"
    assert os.readlink("/proc/self/ns/mnt") == own_ns


def test_the_container_ldconfig_is_refused_by_default(rootfs: Path, nsproc: NamespaceProcess,
                                                      host_dir: Path) -> None:
    container_ldconfig(rootfs, f"mkdir -p {host_dir}\ntouch {host_dir}/pwned\ntouch /ran\n")
    with pytest.raises(LdcacheError, match="refusing to run the container's ldconfig /sbin/ldconfig") as info:
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="/sbin/ldconfig", owner_uid=0, owner_gid=0)
    assert info.value.stage == "ldcache"
    assert not (host_dir / "pwned").exists() and not (rootfs / "ran").exists()


def test_a_host_ldconfig_ignores_the_one_in_the_image(rootfs: Path, nsproc: NamespaceProcess,
                                                      host_dir: Path) -> None:
    container_ldconfig(rootfs, f"mkdir -p {host_dir}\ntouch {host_dir}/pwned\ntouch /ran\nexit 9\n")
    run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="@/sbin/ldconfig", owner_uid=0, owner_gid=0)
    assert_indexed(rootfs)
    assert not (host_dir / "pwned").exists() and not (rootfs / "ran").exists()


def test_an_allowed_container_ldconfig_runs_sandboxed(rootfs: Path, nsproc: NamespaceProcess, host_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVC_LDCONFIG_SECRET", "leaked")
    (host_dir / "witness").write_text("host\n")
    container_ldconfig(rootfs, (
        f"mkdir -p {host_dir} && touch {host_dir}/pwned\n"
        f"test -e {host_dir}/witness && echo sees-host > /report || echo host-hidden > /report\n"
        "echo pid=$$ >> /report\n"
        "echo nofile=$(ulimit -n) >> /report\n"
        "mknod /tmp/null c 1 3 && echo mknod-allowed >> /report || echo mknod-denied >> /report\n"
        "echo proc=$(ls /proc) >> /report\n"
        "echo args=\"$*\" >> /report\n"
        "env > /environment\n"
    ))
    run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="/sbin/ldconfig", allow_container_ldconfig=True,
                 owner_uid=0, owner_gid=0)
    assert not (host_dir / "pwned").exists(), "the container's ldconfig wrote on the host"
    assert (rootfs / host_dir.relative_to("/") / "pwned").exists(), "its writes land in the rootfs"
    report = (rootfs / "report").read_text().splitlines()
    assert report == ["host-hidden", "pid=1", "nofile=64", "mknod-denied", "proc=",
                      f"args=-f /etc/ld.so.conf -C /etc/ld.so.cache {LIBDIR}"]
    environment = (rootfs / "environment").read_text()
    assert "NVC_LDCONFIG_SECRET" not in environment and "HOME=" not in environment
    # Only what busybox sh sets for itself when started with nothing.
    names = {line.split("=", 1)[0] for line in environment.splitlines()}
    assert names <= {"PATH", "PWD", "SHLVL", "OLDPWD"}, names


def test_a_cache_symlinked_to_a_host_file_stays_in_the_rootfs(rootfs: Path, nsproc: NamespaceProcess,
                                                             host_dir: Path) -> None:
    host_file = host_dir / "ld.so.cache"
    host_file.write_bytes(b"host cache, keep out\n")
    before = digest(str(host_file))
    (rootfs / "etc/ld.so.cache").symlink_to(host_file)
    run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], owner_uid=0, owner_gid=0)
    assert digest(str(host_file)) == before
    assert sorted(os.listdir(host_dir)) == ["ld.so.cache"]
    assert not (rootfs / "etc/ld.so.cache").is_symlink()
    assert_indexed(rootfs)


def test_an_etc_symlinked_to_a_host_dir_is_not_followed_out(rootfs: Path, nsproc: NamespaceProcess,
                                                            host_dir: Path) -> None:
    shutil.rmtree(rootfs / "etc")
    (rootfs / "etc").symlink_to(host_dir)
    with pytest.raises(LdcacheError, match="^process ldconfig failed with error code: 1$"):
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], owner_uid=0, owner_gid=0)
    assert os.listdir(host_dir) == []


def test_a_rootfs_without_etc_is_reported_not_fixed(rootfs: Path, nsproc: NamespaceProcess) -> None:
    shutil.rmtree(rootfs / "etc")
    with pytest.raises(LdcacheError, match="^process ldconfig failed with error code: 1$"):
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], owner_uid=0, owner_gid=0)
    assert not (rootfs / "etc").exists()


def test_no_ldconfig_in_the_container_is_nothing_to_do(rootfs: Path, nsproc: NamespaceProcess) -> None:
    assert not (rootfs / "sbin/ldconfig").exists()
    run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="/sbin/ldconfig", allow_container_ldconfig=True,
                 owner_uid=0, owner_gid=0)
    assert not (rootfs / "etc/ld.so.cache").exists()


def test_exit_code_is_reported(rootfs: Path, nsproc: NamespaceProcess) -> None:
    container_ldconfig(rootfs, "exit 3\n", path="sbin/ldconfig.real")
    with pytest.raises(LdcacheError) as info:
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="/sbin/ldconfig.real",
                     allow_container_ldconfig=True, owner_uid=0, owner_gid=0)
    assert info.value.line() == "nvc-cli: ldcache error: process ldconfig failed with error code: 3"


def test_a_killed_ldconfig_is_reported_with_its_signal(rootfs: Path, nsproc: NamespaceProcess) -> None:
    # A CPU limit lowered to 1 s: at the hard limit the kernel kills even a namespace's PID 1.
    container_ldconfig(rootfs, "ulimit -t 1\nwhile :; do :; done\n")
    with pytest.raises(LdcacheError, match="^process ldconfig terminated with signal 9$"):
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="/sbin/ldconfig", allow_container_ldconfig=True,
                     owner_uid=0, owner_gid=0)


def test_runs_as_the_container_owner(rootfs: Path, nsproc: NamespaceProcess) -> None:
    # The host ldconfig keeps CAP_DAC_OVERRIDE (ambient for a non-root owner), as in the original:
    # it can write the root-owned /etc of the image.
    run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], owner_uid=1000, owner_gid=1000)
    assert_indexed(rootfs)
    st = os.stat(rootfs / "etc/ld.so.cache")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    # The container's own ldconfig gets no capability at all.
    container_ldconfig(rootfs, "id > /tmp/id\ntouch /etc/owned && exit 0 || exit 5\n")
    (rootfs / "tmp").chmod(0o1777)
    with pytest.raises(LdcacheError, match="^process ldconfig failed with error code: 5$"):
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="/sbin/ldconfig", allow_container_ldconfig=True,
                     owner_uid=1000, owner_gid=1001)
    assert (rootfs / "tmp/id").read_text().split() == ["uid=1000", "gid=1001"]


def test_a_missing_host_ldconfig(rootfs: Path, nsproc: NamespaceProcess) -> None:
    with pytest.raises(LdcacheError, match="^open failed: /nonexistent/ldconfig: no such file or directory$"):
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="@/nonexistent/ldconfig", owner_uid=0, owner_gid=0)


def test_a_host_ldconfig_must_be_static(rootfs: Path, nsproc: NamespaceProcess, host_dir: Path) -> None:
    dynamic = shutil.which("true") or "/bin/true"
    with pytest.raises(LdcacheError, match="dynamically linked"):
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="@" + dynamic, owner_uid=0, owner_gid=0)
    script = host_dir / "ldconfig"
    script.write_text("#!/bin/sh\nexec /sbin/ldconfig.real \"$@\"\n")
    script.chmod(0o755)
    with pytest.raises(LdcacheError, match="not an ELF executable"):
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig=f"@{script}", owner_uid=0, owner_gid=0)


def test_a_vanished_container_process(rootfs: Path) -> None:
    proc = NamespaceProcess()
    pid = proc.pid
    proc.close()
    with pytest.raises(LdcacheError, match=f"^open failed: /proc/{pid}/ns/mnt: "):
        run_ldconfig(pid, str(rootfs), [LIBDIR], owner_uid=0, owner_gid=0)


def test_default_host_ldconfig_prefers_the_real_binary(tmp_path: Path) -> None:
    (tmp_path / "sbin").mkdir()
    assert default_host_ldconfig(str(tmp_path)) == "@/sbin/ldconfig"
    (tmp_path / "sbin/ldconfig.real").write_bytes(b"")
    assert default_host_ldconfig(str(tmp_path)) == "@/sbin/ldconfig.real"


def test_no_children_are_left_behind(rootfs: Path, nsproc: NamespaceProcess) -> None:
    def children() -> List[str]:
        path = f"/proc/{os.getpid()}/task/{os.getpid()}/children"
        return Path(path).read_text().split()

    before = children()
    run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], owner_uid=0, owner_gid=0)
    assert children() == before


PROBE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(FILE *out, const char *what, long rc) {
    fprintf(out, "%s=%s\n", what, rc < 0 ? strerrorname_np(errno) : "allowed");
}

int main(void) {
    FILE *out = fopen("/report", "w");
    if (!out) return 9;
    int unix_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    report(out, "unix-socket", unix_fd);
    if (unix_fd >= 0) {
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        strcpy(addr.sun_path, "/host.sock");
        report(out, "connect", connect(unix_fd, (struct sockaddr *)&addr, sizeof addr));
    }
    report(out, "inet-socket", socket(AF_INET, SOCK_STREAM, 0));
    report(out, "socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, (int[2]){0, 0}));
    report(out, "user-namespace", unshare(CLONE_NEWUSER));
    report(out, "keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
    report(out, "io_uring_setup", syscall(SYS_io_uring_setup, 1, (char[120]){0}));
    report(out, "x32-getpid", syscall(0x40000000 | SYS_getpid));
    pid_t child = fork();
    if (child == 0) _exit(0);
    report(out, "fork", child);
    if (child > 0) waitpid(child, NULL, 0);
    fclose(out);
    return 0;
}
"""


def test_the_images_ldconfig_gets_no_socket_namespace_or_keyring(rootfs: Path, nsproc: NamespaceProcess,
                                                                  tmp_path: Path) -> None:
    """The image's own ldconfig (opt-in): no socket (a host service behind a socket file in the
    rootfs stays out of reach), no user namespace, keyring or io_uring, no x32 detour; fork works."""
    import socket

    source = tmp_path / "probe.c"
    source.write_text(PROBE)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(rootfs / "sbin/ldconfig"), str(source)], check=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(rootfs / "host.sock"))
    listener.listen(1)
    listener.setblocking(False)
    try:
        run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], ldconfig="/sbin/ldconfig", allow_container_ldconfig=True,
                     owner_uid=0, owner_gid=0)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    report = dict(line.split("=", 1) for line in (rootfs / "report").read_text().splitlines())
    assert report == {"unix-socket": "EPERM", "inet-socket": "EPERM", "socketpair": "EPERM",
                      "user-namespace": "EPERM", "keyctl": "EPERM", "io_uring_setup": "EPERM",
                      "x32-getpid": "EPERM", "fork": "allowed"}


def test_the_host_ldconfig_is_not_filtered(rootfs: Path, nsproc: NamespaceProcess) -> None:
    """The filter is for the image's program only: the host ldconfig runs as before."""
    from nvcontainer.apply import seccomp

    assert seccomp.FILTER is not None and len(seccomp.FILTER) % 8 == 0
    run_ldconfig(nsproc.pid, str(rootfs), [LIBDIR], owner_uid=0, owner_gid=0)
    assert_indexed(rootfs)
