"""The allocation registry on the host: one JSON file per container in a small state directory.

``<state dir>/<key>.json`` holds one ``Allocation``; ``<state dir>/.lock`` is the lock file.  Every
read and change happens while holding an exclusive ``flock`` on it (``Registry.locked()``), so a
caller that looks at the holdings, picks devices and records them does all three in one critical
section.  Files are replaced atomically (write a temporary file, fsync, rename), and records whose
owner process is gone (or whose pid now belongs to a later process) are deleted on every read,
so a crashed container never keeps a GPU.

The state directory is, first found: the ``state_dir`` argument, ``$NVC_STATE_DIR`` (an
override), config.toml's ``nvcontainer.state-dir``, ``/run/nvcontainer/allocations`` (``/run`` is a
tmpfs: a reboot frees everything, as it should).  Every entry point (the hook however it is
started, its poststop, ``nvc-cli configure`` and ``ps``) resolves it this way, so they all meet in
one registry.
"""

from __future__ import annotations

import fcntl
import os

from nvcontainer import jsondoc
from nvcontainer.allocation.processes import PROC, is_alive
from nvcontainer.allocation.records import Allocation
from nvcontainer.atomicfile import temporary_file
from nvcontainer.errors import ContainerError, InputError, NvcError
from nvcontainer.log import logger as log
from nvcontainer.regularfile import read_regular, reason

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

DEFAULT_STATE_DIR = "/run/nvcontainer/allocations"
STATE_DIR_ENV = "NVC_STATE_DIR"
LOCK_NAME = ".lock"
_SUFFIX = ".json"
_TMP_PREFIX = ".tmp-"


class RegistryUnavailable(ContainerError):
    """The state directory or its lock file cannot be created or opened."""


def state_dir(path: Optional[str] = None, *, configured: Optional[str] = None) -> str:
    """The state directory to use: ``path``, else ``$NVC_STATE_DIR``, else ``configured`` (a loaded
    config's ``nvcontainer.state-dir``; None: read config.toml from its usual place), else the default."""
    if path:
        return path
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return override
    if configured is None:
        from nvcontainer.config.cached import load_config_cached

        configured = load_config_cached().nvcontainer.state_dir
    return configured or DEFAULT_STATE_DIR


class Registry:
    """The records in one state directory.  Use the methods inside ``with registry.locked():``."""

    def __init__(self, path: Optional[str] = None, *, proc: str = PROC) -> None:
        self.path = state_dir(path)
        self.proc = proc
        self._lock_fd: Optional[int] = None

    def locked(self) -> _Lock:
        """Hold the registry's exclusive lock (blocking) for the duration of a ``with`` block."""
        return _Lock(self)

    def _acquire(self) -> bool:
        """Take the lock; False when this registry holds it already (flock is per open file)."""
        if self._lock_fd is not None:
            return False
        try:
            os.makedirs(self.path, mode=0o755, exist_ok=True)
            fd = os.open(os.path.join(self.path, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise RegistryUnavailable(f"allocation registry {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        return True

    def _release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the lock

    def _require_lock(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("Registry used outside 'with registry.locked()'")

    def _file(self, key: str) -> str:
        return os.path.join(self.path, key + _SUFFIX)

    def read(self, *, reclaim: bool = True) -> Dict[str, Allocation]:
        """The live records by key.  With ``reclaim`` (lock required), dead and unreadable records are
        deleted; without, nothing is changed and no lock is needed (files are replaced atomically)."""
        if reclaim:
            self._require_lock()
        out: Dict[str, Allocation] = {}
        try:
            names = sorted(os.listdir(self.path))
        except FileNotFoundError:
            return out
        for name in names:
            path = os.path.join(self.path, name)
            if name.startswith(_TMP_PREFIX):
                if reclaim:  # left by a writer that died between write and rename
                    _unlink(path)
                continue
            if not name.endswith(_SUFFIX) or name.startswith("."):
                continue
            try:
                document = jsondoc.loads(read_regular(path), what=f"allocation record {path}", error=InputError)
                record = Allocation.from_json(document)
            except FileNotFoundError:
                continue
            except (OSError, NvcError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("allocation registry: dropping unreadable record %s: %s", path, exc)
                if reclaim:
                    _unlink(path)
                continue
            if record.key + _SUFFIX != name or not is_alive(record.owner, self.proc):
                if reclaim:
                    log.info("allocation registry: reclaimed %s (pid %d gone)", record.key, record.owner.pid)
                    _unlink(path)
                continue
            out[record.key] = record
        return out

    def write(self, record: Allocation) -> None:
        """Create or replace the record of ``record.key`` atomically."""
        self._require_lock()
        data = jsondoc.dumps(record.to_json()) + "\n"
        try:
            self._replace(record.key, data)
        except OSError as exc:
            raise ContainerError(f"allocation registry {self.path}: cannot record {record.key}: "
                                 f"{reason(exc)}") from None
        _fsync_dir(self.path)

    def _replace(self, key: str, data: str) -> None:
        fd, tmp = temporary_file(self.path, _TMP_PREFIX)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self._file(key))
        except BaseException:
            _unlink(tmp)
            raise

    def remove(self, key: str) -> bool:
        """Delete the record of ``key``; False when there was none."""
        self._require_lock()
        removed = _unlink(self._file(key))
        if removed:
            _fsync_dir(self.path)
        return removed


class _Lock:
    """``with registry.locked():`` (a class rather than ``contextlib``: the module is on the hot path)."""

    __slots__ = ("registry", "taken")

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.taken = False

    def __enter__(self) -> Registry:
        self.taken = self.registry._acquire()
        return self.registry

    def __exit__(self, *exc: Any) -> None:
        if self.taken:
            self.registry._release()


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
