"""Keep the hook's interpreter out of reach of the environment it was started with.

The threat (CVE-2025-23266 class): variables such as ``LD_PRELOAD`` or ``PYTHONPATH`` choosing code
that then runs as root on the host.  The container's own env never reaches us (we only parse its
NVIDIA_* variables; the shim gives the hook entry an explicit env).  What remains is the hook's
*own* environment — e.g. dockerd's, inherited by the hook dockerd adds for ``--gpus``.  What can be
done about it, honestly:

* ``LD_PRELOAD``/``LD_AUDIT``/``LD_LIBRARY_PATH`` act in the dynamic loader before ``main`` — no
  program started through a dynamically linked interpreter can refuse them.  We drop them so that
  nothing we run afterwards (the re-exec'd interpreter, any child) sees them.
* ``PYTHONPATH``, ``PYTHONHOME``, ``PYTHONSTARTUP``, ... act while the interpreter starts.  A
  console script started by plain ``python3`` has already honoured them by the time ``main`` runs
  (e.g. a ``sitecustomize.py`` on ``PYTHONPATH``); modules imported later would still come from
  there.  So ``ensure_isolated`` re-execs ``python3 -I -m nvcontainer.hook`` with those variables
  removed before anything else is imported, and ``write_launcher`` installs the hook as a script
  whose shebang already says ``python3 -I -S`` (``nvcontainer.launchers``) — started that way, none
  of them is ever honoured, and the interpreter starts 30-50 ms sooner.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Sequence

UNSAFE_PREFIXES = ("LD_", "PYTHON")
UNSAFE_NAMES = ("GCONV_PATH", "LOCPATH")  # glibc loads code / data chosen by these
# PYTHON* variables that choose no code: no re-exec for them (CI and engines commonly set these).
HARMLESS = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONHASHSEED",
            "PYTHONCOERCECLOCALE")
HOOK_MODULE = "nvcontainer.hook"


def unsafe_variables(environ: Mapping[str, str]) -> List[str]:
    return sorted(name for name in environ
                  if (name.startswith(UNSAFE_PREFIXES) or name in UNSAFE_NAMES) and name not in HARMLESS)


def clean_environment(environ: Mapping[str, str]) -> Dict[str, str]:
    unsafe = set(unsafe_variables(environ))
    return {name: value for name, value in environ.items() if name not in unsafe}


def interpreter() -> str:
    """The running interpreter's path (``sys.executable`` may be empty when started oddly)."""
    return sys.executable or os.readlink("/proc/self/exe")


def ensure_isolated(argv: Sequence[str], module: str = HOOK_MODULE) -> None:
    """Re-exec ``python -I -m module argv[1:]`` with a clean environment if anything unsafe is set.

    Returns (doing nothing) when the environment is clean: then ``-I`` would change nothing that
    matters for us, and not re-exec'ing keeps the hook's start-up at one interpreter.
    """
    if not unsafe_variables(os.environ):
        return
    python = interpreter()
    os.execve(python, [python, "-I", "-m", module, *argv[1:]], clean_environment(os.environ))


if __name__ == "__main__":  # the launchers' own module since they serve the shim too; kept for old docs
    from nvcontainer.launchers import cli

    sys.exit(cli(sys.argv[1:]))
