"""The ``chmod`` hook: set the mode of paths inside the container (nvidia-cdi-hook's ``chmod``).

nvidia-ctk writes it only when asked (``--enable-hook chmod``), for device directories such as
``/dev/dri`` that a runtime created with a restrictive mode.  Each path is resolved inside the
rootfs (``securepath``: the image's symlinks never lead out of it); a missing path is skipped, a
path already at the mode is left alone, and a permission error is ignored (a read-only ``/dev``
mounted from the host, nvidia-cdi-hook's issue #143).  The mode is changed through the
descriptor of the resolved file, so a path swapped after it was resolved changes nothing else.
"""

from __future__ import annotations

import errno
import os
import stat

from nvcontainer.cdi.errors import CdiError
from nvcontainer.errors import NvcError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Sequence

MODE_BITS = 0o7777


def parse_mode(text: str) -> int:
    """An octal mode (``755``); ``CdiError`` for an empty or malformed one."""
    if not text.strip():
        raise CdiError("chmod: a non-empty mode must be specified")
    try:
        mode = int(text.strip(), 8)
    except ValueError:
        raise CdiError(f"chmod: failed to parse mode as octal: {text!r}") from None
    if mode < 0 or mode > MODE_BITS:
        raise CdiError(f"chmod: invalid mode {text!r}: not within 0-7777")
    return mode


def change_modes(rootfs: str, paths: Sequence[str], mode: int) -> List[str]:
    """Apply ``mode`` to each of ``paths`` inside ``rootfs``; the root-relative paths changed."""
    from nvcontainer.log import logger as log
    from nvcontainer.securepath import open_in_root

    changed = []
    for path in paths:
        try:
            fd = open_in_root(rootfs, path, os.O_PATH, follow_final=True)
        except NvcError as exc:
            log.debug("chmod: skipping %s: %s", path, exc.message)
            continue
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) == mode:
                continue
            try:
                os.chmod(f"/proc/self/fd/{fd}", mode)
            except OSError as exc:
                if exc.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
                    log.debug("chmod: ignoring permission error on %s: %s", path, exc)
                    continue
                raise CdiError(f"chmod: {path}: {(exc.strerror or str(exc)).lower()}") from None
            changed.append(path)
        finally:
            os.close(fd)
    return changed
