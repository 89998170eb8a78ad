"""Run a function in a forked child, optionally inside another process's mount namespace.

The caller's process never changes namespace: a child is forked, joins the namespace with
``setns``, runs the function, and sends back its return value or exception (pickled) through a
pipe before leaving with ``os._exit`` (no atexit handlers, no second flush of the parent's stdio).
The function and its result must suit a forked child: no threads of the parent exist there, and
locks they held stay held, so keep it to system calls and plain Python.
"""

from __future__ import annotations

import errno
import os
import select
import sys
import time

from nvcontainer.bindings import linux

_SIGKILL = 9
_PR_SET_PDEATHSIG = 1

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple, TypeVar
    T = TypeVar("T")


class NamespaceCallError(RuntimeError):
    """The child failed without a usable exception: killed, exited early, or unpicklable data."""


class RemoteTraceback(Exception):
    """Set as ``__cause__`` of an exception re-raised from the child; holds its formatted traceback."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n(in the forked child)\n{self.text}"


def run_in_mount_namespace(pid: int, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a forked child that has joined the mount namespace of process ``pid``.

    Raises ``ProcessLookupError`` when ``pid`` is gone, whatever ``fn`` raised (traceback of the
    child as ``__cause__``), or ``NamespaceCallError``.
    """
    ns_fd = open_mount_namespace(pid)
    try:
        return run_in_namespace_fd(ns_fd, linux.CLONE_NEWNS, fn)
    finally:
        os.close(ns_fd)


def open_mount_namespace(pid: int) -> int:
    """An fd on ``/proc/<pid>/ns/mnt`` known to belong to ``pid`` itself, not to a reused pid.

    A pidfd is taken first; if the process is still alive after the namespace file was opened, the
    pid cannot have been reused in between.  (Kernels before 5.3 lack pidfds: /proc only.)
    """
    try:
        pidfd: Optional[int] = linux.pidfd_open(pid)
    except OSError as err:
        if err.errno != errno.ENOSYS:
            raise
        pidfd = None
    try:
        ns_fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        if pidfd is not None:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if poller.poll(0):
                os.close(ns_fd)
                raise ProcessLookupError(errno.ESRCH, os.strerror(errno.ESRCH), f"/proc/{pid}")
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return ns_fd


def run_in_namespace_fd(ns_fd: int, nstype: int, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a forked child after ``setns(ns_fd, nstype)``."""

    def enter_and_call() -> T:
        linux.setns(ns_fd, nstype)
        return fn()

    return call_in_child(enter_and_call)


def call_in_child(fn: Callable[[], T], *, timeout: Optional[float] = None) -> T:
    """Run ``fn`` in a forked child and return its result or raise its exception here.

    The child dies with the caller (``PR_SET_PDEATHSIG``).  With ``timeout`` (seconds), a child
    still running then is killed and ``NamespaceCallError`` raised.
    """
    parent = os.getpid()
    pid, read_fd = fork_with_pipe(lambda write_fd: _child(fn, write_fd, parent))
    reaped = timed_out = False
    try:
        payload, timed_out = _read_until(read_fd, None if timeout is None else time.monotonic() + timeout)
        if timed_out:
            raise NamespaceCallError(f"process timed out after {timeout:g} s")
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        os.close(read_fd)
        if not reaped:
            os.kill(pid, _SIGKILL)
            os.waitpid(pid, 0)
    return _outcome(payload, status)


def fork_with_pipe(body: Callable[[int], None]) -> Tuple[int, int]:
    """Fork a child that runs ``body(write_fd)`` and then leaves with ``os._exit(1)`` whatever
    happens (it never returns into the caller's code); returns (pid, read end of the pipe).  The
    caller's stdio is flushed first so that the child cannot write it a second time, and both ends
    are close-on-exec so that a program the child starts does not hold the pipe open."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.fork()
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:
        try:
            os.close(read_fd)
            body(write_fd)
        finally:
            os._exit(1)
    os.close(write_fd)
    return pid, read_fd


def _read_until(fd: int, deadline: Optional[float]) -> Tuple[bytes, bool]:
    """Everything until end of file, or (what came, True) when ``deadline`` passes first."""
    chunks: List[bytes] = []
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return b"".join(chunks), True
            if not poller.poll(int(left * 1000) + 1):
                continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)


def _outcome(payload: bytes, status: int) -> Any:
    if payload:
        import pickle

        kind, value, tb = pickle.loads(payload)
        if kind == "ok":
            return value
        value.__cause__ = RemoteTraceback(tb)
        raise value
    if os.WIFSIGNALED(status):
        raise NamespaceCallError(f"process terminated with signal {os.WTERMSIG(status)}")
    raise NamespaceCallError(f"process failed with error code: {os.waitstatus_to_exitcode(status)}")


def _child(fn: Callable[[], object], write_fd: int, parent: int) -> None:
    code = 1
    try:
        try:
            linux.prctl(_PR_SET_PDEATHSIG, _SIGKILL)
            if os.getppid() != parent:  # the caller died before the request took effect
                os._exit(1)
            payload = _dumps(("ok", fn(), ""))
        except BaseException as exc:  # everything, SystemExit included, goes back to the parent
            import traceback

            payload = _dumps_error(exc, traceback.format_exc())
        _write_all(write_fd, payload)
        code = 0
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except BaseException:  # exiting anyway
                pass
        os._exit(code)


def _dumps(message: Tuple[object, ...]) -> bytes:
    import pickle

    try:
        data = pickle.dumps(message)
    except Exception as exc:
        return _dumps_error(NamespaceCallError(f"result cannot be pickled: {exc!r}"), "")
    return data


def _dumps_error(exc: BaseException, tb: str) -> bytes:
    # An exception that pickles but cannot be rebuilt (custom __init__) would fail in the parent:
    # try the round trip here and send a generic error carrying its repr instead.
    import pickle

    try:
        data = pickle.dumps(("err", exc, tb))
        pickle.loads(data)
    except Exception:
        data = pickle.dumps(("err", NamespaceCallError(repr(exc)), tb))
    return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
