"""Seal a forked child's import system before it enters a container's mount namespace.

After ``setns`` every path the child opens resolves in the container's mount table.  Python's
import machinery opens files by path (``sys.path`` entries, ``encodings.<codec>`` looked up on
first use of a codec, ``linecache`` reading sources for a traceback): in a container whose files a
tenant controls, a module planted at one of those paths would run as root.  So the child imports
what it needs *before* it enters (the caller has: it imported the apply modules to fork at all),
then ``seal_imports`` makes every further import fail with ``ImportError`` instead of looking at
the file system.  A code path that still needs a module is then a visible failure, not a hole.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Sequence

# Codecs our code names (mountinfo and /proc files are read as ascii or utf-8); utf-8 is always loaded.
PRELOAD = ("encodings.ascii", "encodings.latin_1")


class SealedImports:
    """A meta path finder that refuses every import (modules already loaded are not asked for)."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        raise ImportError(f"import of {name!r} refused: this process may be inside a container", name=name)


def seal_imports(preload: Sequence[str] = PRELOAD) -> None:
    """Import ``preload`` now, then refuse every import to come (see the module text)."""
    for name in preload:
        __import__(name)
    sys.meta_path.insert(0, SealedImports)
    sys.path_importer_cache.clear()
    sys.path_hooks.clear()
    sys.path.clear()


def sealed() -> bool:
    return SealedImports in sys.meta_path
