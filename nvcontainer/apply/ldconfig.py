"""Run ldconfig for a container in a sandbox, as libnvidia-container's ``nvc_ldcache.c`` does.

After the driver libraries are bind-mounted into a container, ``ldconfig`` must index them: make
the soname links and rewrite the container's ``/etc/ld.so.cache``.  The container's files are
untrusted, so the program runs locked in:

* a forked child unshares new PID and IPC namespaces and forks again, so that ldconfig is PID 1
  of a PID namespace of its own (it sees no other process);
* that grandchild joins the container's mount namespace, unshares a private copy of it, makes
  ``/`` private recursively, binds the rootfs on itself and pivots into it (``pivot_root``; with
  ``no_pivot``, ``MS_MOVE`` over ``/`` and ``chroot``), so that every path ldconfig opens, symlinks
  included, resolves inside the rootfs; nothing is ever mounted in the caller's namespace or the
  container's own; in that private copy every mount below the rootfs is made read-only (the
  rootfs itself keeps its state), so that ldconfig cannot write through a writable host
  directory mounted into the container (the MPS pipe dir, a volume) when the image's ``/etc``
  or lib dir is a symlink into it;
* ``/proc`` (a read-only procfs of the new PID namespace for a host ldconfig, a read-only tmpfs
  for the container's own), ``/sys`` and ``/dev`` (a read-only tmpfs holding ``fd ->
  /proc/self/fd``) are masked, where the rootfs has those directories;
* rlimits CPU 10 s, address space 2 GiB, 64 open files, 1 MiB file size;
* no ambient capabilities, an empty bounding set, and an inheritable set that is empty for the
  container's own ldconfig and holds only ``CAP_DAC_OVERRIDE`` for the host's (raised as ambient
  when the owner is not root), as in the original's secure mode;
* the supplementary groups are dropped and the process becomes the container owner (uid/gid),
  with ``PR_SET_NO_NEW_PRIVS``; every descriptor but stdin/stdout/stderr is closed;
* it runs ``ldconfig -f /etc/ld.so.conf -C /etc/ld.so.cache <dirs...>`` with an empty environment.

Which ldconfig (CVE fixes of 1.17.3): ``@/path`` names a program on the *host*.  It is opened
before entering the container, copied into a sealed memfd and executed from there
(``fexecve``), so the container can neither replace nor alter it.  It must be a static
executable: a dynamic one would look for its loader and libc in the container.  A plain path is
the container's own ldconfig, untrusted: refused unless ``allow_container_ldconfig``; it is
executed by path after the pivot, and when the container has none, there is nothing to do
(exec ENOENT is success, as in the original).

Decisions where the original leaves a choice:

* a rootfs without ``/etc`` is not fixed up: ldconfig cannot write its cache and fails, and the
  failure is reported (``process ldconfig failed with error code: 1``), as in the original;
* lib dirs missing in the rootfs are passed anyway; ldconfig skips them silently;
* mount points the rootfs lacks (``/proc``, ``/sys``, ``/dev``) are left alone rather than created;
* the image's own ldconfig gets a seccomp deny filter (``apply/seccomp.py``); the original has an
  allowlist, for the host's ldconfig too.

Errors are ``LdcacheError`` (stage ``ldcache``): ``open failed: <path>: <reason>`` for a host
ldconfig that cannot be opened, ``process ldconfig terminated with signal <n>`` and ``process
ldconfig failed with error code: <n>`` for the program's own end, and ``<step> failed: ...``
for a sandbox step that failed before ldconfig started.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import select
import stat
import time

from nvcontainer.apply import seccomp
from nvcontainer.apply.enter import DEFAULT_TIMEOUT
from nvcontainer.bindings import linux, mntns, mounts
from nvcontainer.errors import LdcacheError
from nvcontainer.log import logger as log
from nvcontainer.records import Record, replace
from nvcontainer.regularfile import open_regular, read_fd

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)

if TYPE_CHECKING:
    from typing import Any, Callable, Dict, NoReturn, Optional, Sequence, Set, Tuple

    import cffi


HOST_PREFIX = "@"
HOST_LDCONFIG = "@/sbin/ldconfig"
HOST_LDCONFIG_REAL = "@/sbin/ldconfig.real"  # Ubuntu: /sbin/ldconfig is a wrapper script
CACHE_PATH = "/etc/ld.so.cache"
CONF_PATH = "/etc/ld.so.conf"
_CACHE_TEMP = os.path.basename(CACHE_PATH) + "~"  # ldconfig writes here, then renames
PROCESS_NAME = "ldconfig"

# (resource, limit) applied as both soft and hard limit, as in the original.
RLIMITS: Tuple[Tuple[int, int], ...] = (
    (resource.RLIMIT_CPU, 10),
    (resource.RLIMIT_AS, 2 << 30),
    (resource.RLIMIT_NOFILE, 64),
    (resource.RLIMIT_FSIZE, 1 << 20),
)

_MASK_FLAGS = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
_COPY_CHUNK = 1 << 20
MAX_PROGRAM_BYTES = 64 << 20  # a host ldconfig is ~1 MiB
_SIGKILL = 9
_PR_SET_PDEATHSIG = 1

# prctl(2) options and capability numbers (linux/prctl.h, linux/capability.h, linux/securebits.h).
_PR_CAPBSET_DROP = 24
_PR_GET_SECUREBITS = 27
_PR_SET_SECUREBITS = 28
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SECBIT_NO_SETUID_FIXUP = 1 << 2
_CAP_DAC_OVERRIDE = 1
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class LdconfigRun(Record):
    """Everything the sandboxed ldconfig needs, opened and computed before any fork.

    ``ns_fd`` is the container's mount namespace, or None when the process running it is in that
    namespace already (configure's child).  ``exec_fd`` is the sealed memfd of a host ldconfig
    (None: exec ``argv[0]`` in the rootfs).  ``output_fd`` collects ldconfig's stdout and stderr
    for the debug log.  ``close()`` releases the descriptors.
    """

    rootfs: str
    argv: Tuple[str, ...]
    exec_fd: Optional[int]
    uid: int
    gid: int
    no_pivot: bool
    cap_last: int
    setgroups_allowed: bool
    output_fd: int
    ns_fd: Optional[int] = None

    @property
    def host(self) -> bool:
        return self.exec_fd is not None

    def close(self) -> None:
        for fd in (self.output_fd, self.exec_fd, self.ns_fd):
            if fd is not None:
                os.close(fd)


class _StepError(Exception):
    """A sandbox step failed before ldconfig could start; the message is the user-facing text."""


def default_host_ldconfig(root: str = "/") -> str:
    """The host ldconfig to use by default: ``@/sbin/ldconfig.real`` where the host has one.

    On Ubuntu ``/sbin/ldconfig`` is a shell script around ``/sbin/ldconfig.real``; a script cannot
    run from a memfd inside a container, the static binary behind it can.
    """
    real = os.path.join(root, HOST_LDCONFIG_REAL[len(HOST_PREFIX):].lstrip("/"))
    return HOST_LDCONFIG_REAL if os.path.isfile(real) else HOST_LDCONFIG


def prepare_ldconfig(
    rootfs: str,
    lib_dirs: Sequence[str],
    *,
    ldconfig: str = HOST_LDCONFIG,
    owner_uid: int,
    owner_gid: int,
    allow_container_ldconfig: bool = False,
    no_pivot: bool = False,
    ns_fd: Optional[int] = None,
) -> LdconfigRun:
    """Open and check everything an ldconfig run for ``rootfs`` needs, in the caller's (host)
    mount namespace: after entering the container nothing is opened by path (see the module text).

    ``ldconfig`` is ``@<host path>`` (the default) or a container path, which needs
    ``allow_container_ldconfig``.  ``ns_fd`` (taken over: closed by ``LdconfigRun.close``) is the
    container's mount namespace when the run does not start inside it.  Raises ``LdcacheError``.
    """
    if not ldconfig or ldconfig == HOST_PREFIX:
        raise LdcacheError("invalid ldconfig path: empty")
    host = ldconfig.startswith(HOST_PREFIX)
    path = ldconfig[len(HOST_PREFIX):] if host else ldconfig
    if not host and not allow_container_ldconfig:
        raise LdcacheError(
            f"refusing to run the container's ldconfig {path}: use a host ldconfig "
            f"('{HOST_PREFIX}{path}') or allow the container's explicitly")
    if not os.path.isabs(path):
        raise LdcacheError(f"invalid ldconfig path: {path}: not an absolute path")
    _caps_lib()  # load the FFI here: the children only call it
    argv = (path, "-f", CONF_PATH, "-C", CACHE_PATH, *lib_dirs)
    exec_fd = _host_program(path) if host else None
    try:
        # ldconfig's messages go to the debug log, not the caller's stderr: errors stay one line.
        output_fd = os.memfd_create("nvc-ldconfig-output", os.MFD_CLOEXEC)
    except BaseException:
        if exec_fd is not None:
            os.close(exec_fd)
        raise
    return LdconfigRun(rootfs=rootfs, argv=argv, exec_fd=exec_fd, uid=owner_uid, gid=owner_gid, no_pivot=no_pivot,
                       cap_last=_cap_last_cap(), setgroups_allowed=_setgroups_allowed(), output_fd=output_fd,
                       ns_fd=ns_fd)


def run_ldconfig(
    pid: int,
    rootfs: str,
    lib_dirs: Sequence[str],
    *,
    ldconfig: str = HOST_LDCONFIG,
    owner_uid: int,
    owner_gid: int,
    allow_container_ldconfig: bool = False,
    no_pivot: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Update the ld.so cache of the container whose process is ``pid`` and root is ``rootfs``.

    ``pid`` 0 means the caller's own mount namespace (``/proc/self/ns/mnt``), for a hook that
    already runs in the container's.  ``rootfs`` is the rootfs path as seen in that process's
    mount namespace; ``lib_dirs`` are container paths.  Runs as ``owner_uid``/``owner_gid``, for at
    most ``timeout`` seconds.  Raises ``LdcacheError``; the caller's process never changes
    namespace (the run happens in a forked child).
    """
    run = prepare_ldconfig(rootfs, lib_dirs, ldconfig=ldconfig, owner_uid=owner_uid, owner_gid=owner_gid,
                           allow_container_ldconfig=allow_container_ldconfig, no_pivot=no_pivot)
    try:
        try:
            # pid 0: our own mount namespace (a createContainer hook already runs in the container's).
            ns_fd = (mntns.open_mount_namespace(pid) if pid
                     else os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC))
        except OSError as exc:
            raise LdcacheError(f"open failed: /proc/{pid or 'self'}/ns/mnt: {_reason(exc)}") from None
        run = replace(run, ns_fd=ns_fd)
        deadline = time.monotonic() + timeout
        try:
            mntns.call_in_child(lambda: run_prepared(run, deadline), timeout=timeout + 5)
        except mntns.NamespaceCallError as exc:
            raise LdcacheError(f"ldconfig sandbox failed: {exc}") from None
        log_output(run)
    finally:
        run.close()


def log_output(run: LdconfigRun) -> None:
    """What ldconfig printed, into the debug log (call after ``run_prepared``)."""
    os.lseek(run.output_fd, 0, os.SEEK_SET)
    text = os.read(run.output_fd, 1 << 16).decode("utf-8", "replace")
    for line in text.splitlines():
        log.info("ldconfig: %s", line)


def _check_status(status: int) -> None:
    if os.WIFSIGNALED(status):
        raise LdcacheError(f"process {PROCESS_NAME} terminated with signal {os.WTERMSIG(status)}")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise LdcacheError(f"process {PROCESS_NAME} failed with error code: {code}")


# --- the host program: a sealed in-memory copy -------------------------------------------------


def _host_program(path: str) -> int:
    """A sealed, close-on-exec memfd holding a copy of the static executable ``path``.

    Opened without blocking and only if it is a regular file (a FIFO or ``/dev/zero`` named by
    ``--ldconfig`` would hang us), read up to ``MAX_PROGRAM_BYTES``.
    """
    try:
        src = open_regular(path)
    except OSError as exc:
        raise LdcacheError(f"open failed: {path}: {_reason(exc)}") from None
    memfd = -1
    try:
        memfd = os.memfd_create(PROCESS_NAME, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        copied = 0
        while True:
            chunk = os.read(src, _COPY_CHUNK)
            if not chunk:
                break
            copied += len(chunk)
            if copied > MAX_PROGRAM_BYTES:
                raise LdcacheError(f"invalid ldconfig binary: {path}: larger than {MAX_PROGRAM_BYTES} bytes")
            view = memoryview(chunk)
            while view:
                view = view[os.write(memfd, view):]
        seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, seals)
        _check_static(memfd, path)
    except OSError as exc:
        if memfd >= 0:
            os.close(memfd)
        raise LdcacheError(f"copy failed: {path}: {_reason(exc)}") from None
    except BaseException:
        if memfd >= 0:
            os.close(memfd)
        raise
    finally:
        os.close(src)
    return memfd


def _check_static(fd: int, path: str) -> None:
    """Refuse what cannot run from a memfd inside an arbitrary rootfs: scripts, dynamic ELF."""
    from nvcontainer.discovery import elfscan

    if os.pread(fd, 4, 0) != b"\x7fELF":
        raise LdcacheError(f"invalid ldconfig binary: {path}: not an ELF executable "
                           "(a host ldconfig must be a static binary)")
    try:
        e_type, dynamic = elfscan.executable_facts(fd)
    except ValueError as exc:
        raise LdcacheError(f"invalid ldconfig binary: {path}: {str(exc).lower()}") from None
    if e_type not in (elfscan.ET_EXEC, elfscan.ET_DYN):
        raise LdcacheError(f"invalid ldconfig binary: {path}: not an executable")
    if dynamic:
        raise LdcacheError(f"invalid ldconfig binary: {path}: dynamically linked; "
                           "a host ldconfig must be static to run inside the container")


# --- the children -----------------------------------------------------------------------------


def run_prepared(run: LdconfigRun, deadline: float) -> None:
    """Run ldconfig as prepared, from a process that may be given up (a forked child): it
    unshares new PID and IPC namespaces and forks the sandbox, PID 1 there, which it waits for
    until ``deadline`` (``time.monotonic()``); a sandbox still running then is killed.  Raises
    ``LdcacheError`` for a failed step, a timeout or ldconfig's own failure."""
    flags = linux.CLONE_NEWPID | linux.CLONE_NEWIPC
    if not run.host:  # the image's own program: no host network, hostname or cgroup view either
        flags |= linux.CLONE_NEWNET | linux.CLONE_NEWUTS | linux.CLONE_NEWCGROUP
    linux.unshare(flags)
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _sandbox(run, write_fd)
    os.close(write_fd)
    report, status = _wait(pid, read_fd, deadline)
    if report:
        raise LdcacheError(report.decode("utf-8", "replace"))
    if status is None:
        raise LdcacheError(f"process {PROCESS_NAME} timed out (still running after the configure deadline): killed")
    _check_status(status)


def _wait(pid: int, read_fd: int, deadline: float) -> Tuple[bytes, Optional[int]]:
    """The sandbox's step report and wait status; status None when ``deadline`` passed first
    (then the sandbox, and with it its PID namespace, is killed and reaped)."""
    report = b""
    try:
        pidfd: Optional[int] = linux.pidfd_open(pid)
    except OSError:
        pidfd = None  # before Linux 5.3: poll waitpid instead
    poller = select.poll()
    poller.register(read_fd, select.POLLIN | select.POLLHUP)
    open_pipe = True
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                if open_pipe:
                    report += _drain(read_fd)
                return report, status
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, _SIGKILL)
                os.waitpid(pid, 0)
                return report, None
            ready = poller.poll(min(int(left * 1000) + 1, 1000 if pidfd is not None else 5))
            for fd, _ in ready:
                if fd == read_fd and open_pipe:
                    chunk = os.read(read_fd, 4096)
                    report += chunk
                    if not chunk:
                        poller.unregister(read_fd)
                        open_pipe = False
    finally:
        os.close(read_fd)
        if pidfd is not None:
            os.close(pidfd)


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return out
        out += chunk


def _sandbox(run: LdconfigRun, report_fd: int) -> NoReturn:
    """In the grandchild, PID 1 of the new namespace: lock in, then exec ldconfig; never returns.

    A failed step writes its message to ``report_fd`` (close-on-exec: a successful exec closes it
    without a word) and exits.
    """
    try:
        try:
            # Dies with the process waiting for it.  (No getppid() check of a lost race: PID 1 of
            # a new PID namespace sees its parent as 0 whoever it is.)
            linux.prctl(_PR_SET_PDEATHSIG, _SIGKILL)
            _enter_rootfs(run)
            _mask_kernel_filesystems(run.host)
            _drop_privileges(run)
            _exec(run, report_fd)
        except _StepError as exc:
            message = str(exc)
        except BaseException as exc:  # anything else is a bug; report it rather than hang
            message = f"ldconfig sandbox failed: {exc!r}"
        _write_all(report_fd, message.encode("utf-8", "replace"))
    finally:
        os._exit(1)


def _step(name: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename is not None else ""
        raise _StepError(f"{name} failed{where}: {_reason(exc)}") from None


def _enter_rootfs(spec: LdconfigRun) -> None:
    """Join the container's mount namespace (unless already in it), take a private copy of it and
    make the rootfs ``/``."""
    if spec.ns_fd is not None:
        _step("setns", linux.setns, spec.ns_fd, linux.CLONE_NEWNS)
    _step("unshare", linux.unshare, linux.CLONE_NEWNS)
    _step("mount operation", linux.mount, None, "/", None, linux.MS_PRIVATE | linux.MS_REC)
    root_writable = not (_step("stat", os.statvfs, spec.rootfs).f_flag & os.ST_RDONLY)
    _step("mount operation", linux.mount, spec.rootfs, spec.rootfs, None, linux.MS_BIND | linux.MS_REC)
    submounts = _submounts(spec.rootfs)
    _step("change directory", os.chdir, spec.rootfs)
    if spec.no_pivot:
        _step("mount operation", linux.mount, ".", "/", None, linux.MS_MOVE)
        _step("change root", os.chroot, ".")
    else:
        _step("change root", linux.pivot_root, ".", ".")
        _step("unmount", linux.umount2, ".", linux.MNT_DETACH)
    _step("change directory", os.chdir, "/")
    _seal_submounts(root_writable, submounts)


def _submounts(rootfs: str) -> Tuple[str, ...]:
    """Mount points strictly below ``rootfs`` (as paths inside it), from this namespace's mountinfo
    (read only without the new mount API, where each needs its own remount)."""
    if linux.new_mount_api_available():
        return ()
    prefix = rootfs.rstrip("/") + "/"
    found = []
    try:
        fd = os.open("self/mountinfo", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=mounts.proc_fd())
        try:
            text = read_fd(fd, "/proc/self/mountinfo", 64 << 20).decode("utf-8", "surrogateescape")
        finally:
            os.close(fd)
    except OSError:
        return ()
    for line in text.split("\n"):  # only \n and " " delimit (see mounts.mountinfo_fields)
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        point = mounts.unescape(fields[4])
        if point.startswith(prefix):
            found.append("/" + point[len(prefix):])
    return tuple(found)


def _seal_submounts(root_writable: bool, submounts: Sequence[str]) -> None:
    """Make every mount below the new ``/`` read-only; ``/`` itself keeps its own state.

    ldconfig (root, and with CAP_DAC_OVERRIDE for the host's) only ever writes the cache in
    ``/etc`` and soname links in the library directories, all on the rootfs itself.  A submount
    that is writable is a host directory (the MPS pipe dir, ``/dev/nvidia-caps``, a volume): an
    image whose ``/etc`` or lib dir is a symlink into it would make ldconfig write on the host
    (the CVE-2025-23267 class).  This copy of the namespace is private to the sandbox, so the
    container's own mounts are not changed.
    """
    if linux.new_mount_api_available():
        _step("mount operation", linux.mount_setattr, linux.AT_FDCWD, "/", linux.AT_RECURSIVE,
              linux.MOUNT_ATTR_RDONLY)
        if root_writable:
            _step("mount operation", linux.mount_setattr, linux.AT_FDCWD, "/", 0, 0, linux.MOUNT_ATTR_RDONLY)
        return
    # Older kernels: each submount in turn (innermost last, so an outer one cannot hide it).
    for point in submounts:
        try:
            current = os.statvfs(point).f_flag & (linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
            linux.mount(None, point, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | current)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.EINVAL):  # gone or covered: nothing to seal
                raise _StepError(f"mount operation failed: {point}: {_reason(exc)}") from None


def _mask_kernel_filesystems(host: bool) -> None:
    """Hide the container's /proc, /sys and /dev behind read-only, nearly empty file systems."""
    proc_done = False
    if host and os.path.isdir("/proc"):
        # A procfs of the new PID namespace: it shows ldconfig alone.
        try:
            linux.mount("proc", "/proc", "proc", _MASK_FLAGS | linux.MS_RDONLY)
            proc_done = True
        except OSError:
            proc_done = False  # e.g. refused in a user namespace: tmpfs then
    for target in ("/sys",) if proc_done else ("/proc", "/sys"):
        if os.path.isdir(target):
            _step("mount operation", linux.mount, "tmpfs", target, "tmpfs", _MASK_FLAGS | linux.MS_RDONLY,
                  "size=0,mode=0555")
    if os.path.isdir("/dev"):
        _step("mount operation", linux.mount, "tmpfs", "/dev", "tmpfs", _MASK_FLAGS, "size=4k,mode=0755")
        _step("symlink", os.symlink, "/proc/self/fd", "/dev/fd")
        _step("mount operation", linux.mount, None, "/dev", None,
              linux.MS_REMOUNT | linux.MS_RDONLY | _MASK_FLAGS, "size=4k,mode=0755")


def _drop_privileges(spec: LdconfigRun) -> None:
    """Capabilities as in the original's secure mode, then the owner's ids and no new privileges."""
    keep = (1 << _CAP_DAC_OVERRIDE) if spec.host else 0
    _prctl("clear ambient capabilities", _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, ignore=(errno.EINVAL,))
    _set_inheritable(keep)
    for cap in range(spec.cap_last + 1):
        _prctl("drop bounding capability", _PR_CAPBSET_DROP, cap, ignore=(errno.EINVAL,))
    # Keep the permitted set across setuid so that an ambient capability can still be raised.
    bits = _prctl("get securebits", _PR_GET_SECUREBITS)
    _prctl("set securebits", _PR_SET_SECUREBITS, bits | _SECBIT_NO_SETUID_FIXUP)
    if spec.setgroups_allowed:
        _step("setgroups", os.setgroups, [])
    _step("change gid", os.setresgid, spec.gid, spec.gid, spec.gid)
    _step("change uid", os.setresuid, spec.uid, spec.uid, spec.uid)
    if keep and spec.uid != 0:
        _prctl("raise ambient capability", _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, _CAP_DAC_OVERRIDE)
    _prctl("set no_new_privs", _PR_SET_NO_NEW_PRIVS, 1)


def _exec(spec: LdconfigRun, report_fd: int) -> None:
    """Close every other descriptor, set the limits, exec with an empty environment."""
    # No terminal for ldconfig: a new session drops the controlling one (TIOCSTI would type into
    # the caller's shell), and stdin is not the caller's either.
    _step("setsid", os.setsid)
    os.dup2(spec.output_fd, 0)
    os.dup2(spec.output_fd, 1)
    os.dup2(spec.output_fd, 2)
    keep = sorted(fd for fd in (report_fd, spec.exec_fd) if fd is not None)
    low = 3
    for fd in keep:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max(resource.getrlimit(resource.RLIMIT_NOFILE)[0], low))
    for res, limit in RLIMITS:
        _step("set resource limit", resource.setrlimit, res, (limit, limit))
    if not spec.host:
        _step("install seccomp filter", seccomp.install, _caps_lib()[0], linux.prctl)
    target = spec.exec_fd if spec.exec_fd is not None else spec.argv[0]
    try:
        os.execve(target, list(spec.argv), {})
    except FileNotFoundError:
        os._exit(0)  # no ldconfig in the container: nothing to do, as in the original
    except OSError as exc:
        raise _StepError(f"exec failed: {spec.argv[0]}: {_reason(exc)}") from None


# --- capabilities and prctl (libc through cffi) -----------------------------------------------


def _caps_lib() -> Tuple[cffi.FFI, Any]:
    """libc through cffi, with prctl/capget/capset declared (``nvcontainer.bindings.linux``)."""
    return linux._libc()


def _prctl(what: str, option: int, *args: int, ignore: Tuple[int, ...] = ()) -> int:
    """``prctl(option, args...)``; an error whose errno is in ``ignore`` returns -1."""
    try:
        return linux.prctl(option, *args)
    except OSError as exc:
        if exc.errno in ignore:
            return -1
        raise _StepError(f"{what} failed: {_reason(exc)}") from None


def _set_inheritable(mask: int) -> None:
    """Set the inheritable capability set to ``mask``, keeping effective and permitted."""
    ffi, lib = _caps_lib()
    header = ffi.new("struct nvc_cap_header *")
    header.version, header.pid = _LINUX_CAPABILITY_VERSION_3, 0
    data = ffi.new("struct nvc_cap_data[2]")
    if lib.capget(header, data) != 0:
        raise _StepError(f"capget failed: {os.strerror(ffi.errno).lower()}")
    data[0].inheritable = mask & 0xFFFFFFFF
    data[1].inheritable = (mask >> 32) & 0xFFFFFFFF
    if lib.capset(header, data) != 0:
        raise _StepError(f"capset failed: {os.strerror(ffi.errno).lower()}")


# --- small helpers ----------------------------------------------------------------------------


def _cap_last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 63


def _setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups", encoding="ascii") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- undo ---------------------------------------------------------------------------------------


def list_dirs(rootfs: str, dirs: Sequence[str]) -> Dict[str, Set[str]]:
    """The names in each of ``dirs`` (container paths, resolved inside ``rootfs``), to undo links later."""
    from nvcontainer.errors import NvcError
    from nvcontainer.securepath import open_in_root

    out: Dict[str, Set[str]] = {}
    # The cache's directory too: a run that fails after writing leaves "ld.so.cache~" there.
    for d in (*dirs, os.path.dirname(CACHE_PATH)):
        if d in out:
            continue
        try:
            fd = open_in_root(rootfs, d, os.O_RDONLY | os.O_DIRECTORY, follow_final=True)
        except (NvcError, OSError):
            continue
        try:
            out[d] = set(os.listdir(fd))
        finally:
            os.close(fd)
    return out


def remove_new_links(rootfs: str, before: Dict[str, Set[str]]) -> None:
    """Remove what a failed ldconfig run left in the directories listed by ``list_dirs``: new
    symlinks, and the cache's temporary copy (``/etc/ld.so.cache~``)."""
    from nvcontainer.errors import NvcError
    from nvcontainer.securepath import open_in_root

    for d, names in before.items():
        try:
            fd = open_in_root(rootfs, d, os.O_RDONLY | os.O_DIRECTORY, follow_final=True)
        except (NvcError, OSError):
            continue
        try:
            for name in set(os.listdir(fd)) - names:
                try:
                    mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
                    temp_cache = d == os.path.dirname(CACHE_PATH) and name == _CACHE_TEMP and stat.S_ISREG(mode)
                    if stat.S_ISLNK(mode) or temp_cache:
                        os.unlink(name, dir_fd=fd)
                except OSError:
                    pass
        finally:
            os.close(fd)
