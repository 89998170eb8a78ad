"""Where snapshots live: root-only files in ``/run/nvcontainer/snapshots`` (``$NVC_SNAPSHOT_DIR``).

A snapshot is only a cache, so every failure here means "no snapshot": nothing is raised.  What
is read must be ours: the directory a real directory owned by our user with no access for anyone
else, the file a regular file owned by our user, mode 0600 (a file anyone else could have written
is not trusted, and never parsed).  Only root keeps snapshots (``/run`` is root's); for other users
``directory()`` is None.  Writes are atomic (a temporary file renamed over the old one).
"""

from __future__ import annotations

import os
import stat

from nvcontainer import jsondoc
from nvcontainer.atomicfile import temporary_file
from nvcontainer.errors import InputError
from nvcontainer.fnv import fnv1a64
from nvcontainer.regularfile import read_fd

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

SNAPSHOT_DIR_ENV = "NVC_SNAPSHOT_DIR"
DEFAULT_DIR = "/run/nvcontainer/snapshots"
DISABLED = ("", "0", "off", "none")
MAX_BYTES = 16 << 20


def directory() -> Optional[str]:
    """The snapshot directory, or None: snapshots off (``NVC_SNAPSHOT_DIR=off``) or not root."""
    path = os.environ.get(SNAPSHOT_DIR_ENV, DEFAULT_DIR)
    if path.lower() in DISABLED or os.geteuid() != 0:
        return None
    return path


def name_for(kind: str, key: Any) -> str:
    """A file name for ``key`` (any JSON value): ``<kind>-<64-bit FNV-1a of its JSON>.json``.  Two
    keys may share a name; the stored key is compared on read, so that only costs a rebuild."""
    return f"{kind}-{fnv1a64(jsondoc.dumps(key).encode('utf-8', 'surrogateescape')):016x}.json"


def _open_dir(path: str) -> Optional[int]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & 0o077:
        os.close(fd)
        return None
    return fd


def read(name: str) -> Optional[Dict[str, Any]]:
    """The snapshot document ``name``, or None (absent, not ours, unreadable, not JSON)."""
    base = directory()
    dir_fd = None if base is None else _open_dir(base)
    if dir_fd is None:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            return None
        document = jsondoc.loads(read_fd(fd, name, MAX_BYTES), what=f"snapshot {name}", error=InputError,
                                 max_bytes=MAX_BYTES)
    except (OSError, InputError):
        return None
    finally:
        os.close(fd)
    return document if isinstance(document, dict) else None


def write(name: str, document: Dict[str, Any]) -> bool:
    """Store ``document`` as ``name``; False when it could not be (no directory, a full disk, ...)."""
    base = directory()
    if base is None:
        return False
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
    except OSError:
        return False
    dir_fd = _open_dir(base)
    if dir_fd is None:
        return False
    os.close(dir_fd)
    data = (jsondoc.dumps(document) + "\n").encode("utf-8", "surrogateescape")
    try:
        fd, tmp = temporary_file(base, f".{name}.")
    except OSError:
        return False
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.close(fd)
        fd = -1
        os.replace(tmp, os.path.join(base, name))
    except OSError:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True
