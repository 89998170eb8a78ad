"""Replace a file atomically: write a temporary file in the same directory, fsync it, rename it
over the target.  Readers see the old file or the new one, never a mix, and a failure (a full
disk, say) leaves the old file untouched and no temporary file behind."""

from __future__ import annotations

import os
import tempfile

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Optional, Union


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
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=tmp_dir or directory)
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
