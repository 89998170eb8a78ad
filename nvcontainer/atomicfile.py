"""Replace a file (or a symbolic link) atomically: write a temporary one in the same directory,
fsync it, rename it over the target.  Readers see the old file or the new one, never a mix, and a
failure (a full disk, say) leaves the old file untouched and no temporary file behind."""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Optional, Tuple, Union


def write_atomic(path: str, data: Union[str, bytes], *, mode: int = 0o644, keep_from: Optional[str] = None,
                 tmp_dir: Optional[str] = None) -> None:
    """Write ``data`` to ``path``.  ``keep_from`` (usually ``path`` itself): copy that file's
    permission bits and owner when it exists; else the file gets ``mode``.  ``tmp_dir``: where the
    temporary file is made (default: beside ``path``; it must be on the same file system, else the
    rename fails with EXDEV and nothing is written).  Raises ``OSError``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    owner = None
    if keep_from is not None:
        try:
            st = os.stat(keep_from)
            mode, owner = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
        except FileNotFoundError:
            pass
    fd, tmp = temporary_file(tmp_dir or directory, f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            if owner is not None:
                os.fchown(f.fileno(), *owner)
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def temporary_file(directory: str, prefix: str) -> Tuple[int, str]:
    """A new file ``<directory>/<prefix><random>`` (mode 0600, ``O_EXCL``): its fd and path.

    What ``tempfile.mkstemp`` does, without importing ``tempfile`` (and with it ``shutil``,
    ``random``, ``bz2``, ``lzma``): some 10 ms on every container start that writes a record."""
    for _ in range(100):
        name = os.path.join(directory, prefix + os.urandom(6).hex())
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", os.path.join(directory, prefix))


def replace_symlink(target: str, path: str) -> None:
    """Make ``path`` a symbolic link to ``target``, renamed over whatever is at ``path`` (a file
    or link; a directory fails).  Raises ``OSError``; no temporary link is left behind."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{os.urandom(6).hex()}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_small_text(path: str, limit: int = 1 << 16) -> Optional[str]:
    """The first ``limit`` bytes of ``path`` as text, if it is a regular file and not a symbolic
    link (``None`` otherwise, or when it cannot be read): how the installers recognise a file they
    wrote by its marker line before replacing or removing it."""
    from nvcontainer.regularfile import open_regular

    try:
        fd = open_regular(path, follow=False)
    except OSError:
        return None
    try:
        return os.read(fd, limit).decode("utf-8", errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)
