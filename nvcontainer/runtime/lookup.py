"""Finding executables: the low-level runtime and the hook the shim inserts.

Names without ``/`` are searched in ``$PATH`` and then the default directories (the shim may run
with a minimal PATH); names with ``/`` are used as they are, if executable.
"""

from __future__ import annotations

import os
import sys

from nvcontainer.runtime.errors import ShimError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Iterable, List, Optional

DEFAULT_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
OUR_HOOK = "nvc-container-runtime-hook"
OUR_CDI_HOOK = "nvc-cdi-hook"
FALLBACK_HOOK = "/usr/bin/nvidia-container-runtime-hook"


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def search_dirs(path_env: Optional[str] = None) -> List[str]:
    env = os.environ.get("PATH", "") if path_env is None else path_env
    dirs = [d for d in env.split(os.pathsep) if d]
    return dirs + [d for d in DEFAULT_DIRS if d not in dirs]


def find_executable(name: str, path_env: Optional[str] = None) -> Optional[str]:
    if "/" in name:
        return name if _is_executable(name) else None
    for directory in search_dirs(path_env):
        candidate = os.path.join(directory, name)
        if _is_executable(candidate):
            return candidate
    return None


def find_runtime(candidates: Iterable[str], path_env: Optional[str] = None) -> str:
    """The first candidate found (the toolkit's NewLowLevelRuntime)."""
    names = list(candidates)
    for name in names:
        found = find_executable(name, path_env)
        if found:
            return os.path.abspath(found)
    raise ShimError(f"no runtime binary found from candidate list: [{' '.join(names)}]")


def find_hook(configured: str, path_env: Optional[str] = None) -> str:
    """The absolute path of the prestart hook to insert.

    ``configured`` absolute → as is; a name → PATH and default dirs; not found → our own
    ``nvc-container-runtime-hook`` installed next to this shim (not looked up in PATH: there
    it may be a wrapper, such as pyenv's, that needs a PATH the hook does not get).
    """
    if os.path.isabs(configured):
        return configured
    found = find_executable(configured, path_env) if configured else None
    if found:
        return os.path.abspath(found)
    # Beside this program only when argv[0] names its path: under `python -c` (the sh front) it is
    # "-c", and its "directory" would be the cwd (a bundle directory: never a place to find a hook).
    beside = [os.path.dirname(sys.argv[0])] if sys.argv and os.path.isabs(sys.argv[0]) else []
    for directory in beside + [os.path.dirname(sys.executable)]:
        candidate = os.path.join(directory, OUR_HOOK)
        if _is_executable(candidate):
            return candidate
    return FALLBACK_HOOK


def find_cdi_hook(path_env: Optional[str] = None) -> str:
    """The ``nvc-cdi-hook`` a jit-cdi spec names: beside this program (when argv[0] is its path),
    beside this Python, else in PATH and the default directories; absolute."""
    from nvcontainer.runtime.errors import ShimError

    beside = [os.path.dirname(sys.argv[0])] if sys.argv and os.path.isabs(sys.argv[0]) else []
    for directory in beside + [os.path.dirname(sys.executable)]:
        candidate = os.path.join(directory, OUR_CDI_HOOK)
        if _is_executable(candidate):
            return candidate
    found = find_executable(OUR_CDI_HOOK, path_env)
    if found:
        return os.path.abspath(found)
    raise ShimError(f"{OUR_CDI_HOOK} not found beside {sys.argv[0] if sys.argv else 'the shim'} or in PATH: "
                    "jit-cdi mode needs it")
