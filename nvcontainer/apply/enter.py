"""Run configure's work in a forked child inside the container's mount namespace, with a deadline.

The caller's process never changes namespace.  ``run_entered(target, work, timeout)`` forks once;
the child

1. asks to be killed when its parent dies (``PR_SET_PDEATHSIG``), so a killed ``nvc-cli`` or hook
   leaves nothing running;
2. seals its imports (``nvcontainer.apply.seal``): from here on no module is looked up by path;
3. joins the namespace (``setns``) and checks that the namespace's root is the host's root
   directory (``Target.host_root``) before it touches anything;
4. runs ``work(report, deadline)``, which reports each step done (mounted, created, linked) as a
   line, and sends back ``ok <count>`` or its error.

Nothing the child says is unpickled or evaluated: the report is lines of text, and an error comes
back as its stage, class name and message, made into an ``NvcError`` here.

The parent waits until ``timeout`` seconds have passed (the child keeps to that deadline itself,
e.g. by killing a hung ldconfig and undoing what it did) plus a grace period.  If the child is still
there then, it is killed, and a second child enters the namespace to undo what the first had
reported done; the error is ``<stage> error: ... timed out after N s``.
"""

from __future__ import annotations

import os
import select
import time

from nvcontainer import errors
from nvcontainer.apply.journal import undo_lines
from nvcontainer.apply.seal import seal_imports
from nvcontainer.bindings import linux
from nvcontainer.bindings.mntns import fork_with_pipe

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Callable, List, Tuple

    from nvcontainer.apply.target import Target

SIGKILL = 9  # Linux; the signal module costs an import of enum on every start
PR_SET_PDEATHSIG = 1
GRACE = 5.0  # seconds the parent waits past the child's own deadline
UNDO_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 60.0  # seconds a configure may take inside the container, ldconfig included


class _Child:
    """The child's side: report lines to the parent through ``fd``."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, line: str) -> None:
        data = (line.replace("\n", " ") + "\n").encode("utf-8", "surrogateescape")
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]


def _describe(exc: BaseException) -> Tuple[str, str, str]:
    """(stage, class name, message) of an exception raised in the child, without a traceback
    module: formatting one would read source files by path."""
    if isinstance(exc, errors.NvcError):
        return exc.stage, type(exc).__name__, exc.message
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename is not None else ""
        return "mount", "MountError", f"mount operation failed{where}: {(exc.strerror or str(exc)).lower()}"
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    at = f" at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}" if tb is not None else ""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return "internal", "NvcError", f"{type(exc).__name__}{at}: {text}"


def _child_main(target: Target, work: Callable[[Callable[[str], None], float], int], write_fd: int,
                parent: int, deadline: float) -> None:
    child = _Child(write_fd)
    code = 1
    try:
        try:
            linux.prctl(PR_SET_PDEATHSIG, SIGKILL)
            if os.getppid() != parent:  # the parent died before the request took effect
                os._exit(1)
            seal_imports()
            linux.setns(target.ns_fd, linux.CLONE_NEWNS)
            root = os.stat("/")
            if (root.st_dev, root.st_ino) != target.host_root:
                raise errors.ContainerError(f"pid {target.pid}: the root of its mount namespace is not the host's: "
                                            "refusing to configure it")
            count = work(child.send, deadline)
            child.send(f"ok {count}")
            code = 0
        except BaseException as exc:  # everything goes back to the parent as one line
            stage, name, message = _describe(exc)
            child.send(f"err {stage}\t{name}\t{message}")
    finally:
        os._exit(code)


def _collect(pid: int, read_fd: int, until: float) -> Tuple[List[str], bool]:
    """The child's lines until it closes the pipe or ``until`` (monotonic) passes; whether it
    timed out.  The child is reaped either way (killed first on a timeout)."""
    data = b""
    timed_out = False
    poller = select.poll()
    poller.register(read_fd, select.POLLIN | select.POLLHUP)
    try:
        while True:
            left = until - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if not poller.poll(int(left * 1000) + 1):
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_fd)
        if timed_out:
            try:
                os.kill(pid, SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(pid, 0)
    # Only "\n" ends a line (what send writes): str.splitlines would also split on \r, \x1c-\x1e,
    # \x85 and U+2028/9, which an image's link targets may carry into a reported path.
    lines = data.decode("utf-8", "surrogateescape").split("\n")
    return (lines[:-1] if lines and lines[-1] == "" else lines), timed_out


def _error(stage: str, name: str, message: str) -> errors.NvcError:
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, errors.NvcError) and cls.__init__ is errors.NvcError.__init__:
        return cls(message, stage=stage)
    return errors.NvcError(message, stage=stage)


def run_entered(target: Target, work: Callable[[Callable[[str], None], float], int], *, rootfs: str,
                timeout: float = DEFAULT_TIMEOUT, stage: str = "container") -> int:
    """Run ``work(report, deadline)`` in a child inside ``target``'s mount namespace (see the
    module text); returns what it returned, or raises its error (``stage`` words a timeout)."""
    parent = os.getpid()
    deadline = time.monotonic() + timeout
    pid, read_fd = fork_with_pipe(lambda fd: _child_main(target, work, fd, parent, deadline))
    lines, timed_out = _collect(pid, read_fd, deadline + GRACE)
    if timed_out:
        _undo(target, rootfs, lines)
        raise errors.NvcError(f"configure timed out after {timeout:g} s", stage=stage)
    last = lines[-1] if lines else ""
    if last.startswith("ok "):
        return int(last[3:])
    if last.startswith("err "):
        stage_name, _, rest = last[4:].partition("\t")
        name, _, message = rest.partition("\t")
        raise _error(stage_name, name, message)
    _undo(target, rootfs, lines)
    raise errors.ContainerError("configure process ended without a result")


def _undo(target: Target, rootfs: str, lines: List[str]) -> None:
    """From a fresh child in the namespace, undo what a killed child reported it had done."""
    if not any(line.split(" ", 1)[0] in ("mounted", "created", "linked") for line in lines):
        return

    def body(write_fd: int) -> None:
        linux.prctl(PR_SET_PDEATHSIG, SIGKILL)
        seal_imports()
        linux.setns(target.ns_fd, linux.CLONE_NEWNS)
        undo_lines(rootfs, lines)
        os._exit(0)

    pid, read_fd = fork_with_pipe(body)
    _collect(pid, read_fd, time.monotonic() + UNDO_TIMEOUT)
