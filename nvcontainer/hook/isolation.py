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
  whose shebang already says ``python3 -I -S`` — started that way, none of them is ever honoured,
  and the interpreter starts 30-50 ms sooner (no site-packages processing; the import path is
  recorded in the launcher).  Install the hook under the name engines look for
  (``nvidia-container-runtime-hook``) with ``python -m nvcontainer.hook.isolation DEST``, not as a
  symlink to the console script.  ``--runtime DEST`` writes the shim's front: a ``sh`` script that
  starts the shim the same way for ``create`` and execs the low-level runtime for everything else.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Optional, Sequence

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


MARKER = "nvcontainer-launcher"  # in every file written here: how install-compat knows its own

LAUNCHER = '''#!{python} -IS
# {marker}
"""{name}: {what}, started by an isolated interpreter without site (python -I -S).

-I: no PYTHON* variable and no user site is honoured.  -S: no site-packages processing at start
(its .pth files cost 30-50 ms per start); the import path is the one recorded when this launcher
was written, and site is set up as usual only if the installation has moved since.
"""
import sys

sys.path.extend({paths!r})
try:
    from {module} import main
except ImportError:
    import site

    site.main()
    from {module} import main
sys.exit(main())
'''

ENTRIES = {  # launcher kind -> (module with main(), description)
    "hook": ("nvcontainer.hook.main", "the nvcontainer OCI hook"),
    "runtime": ("nvcontainer.runtime.main", "the nvcontainer runtime shim"),
    "cdi-hook": ("nvcontainer.cdi.hook", "the nvcontainer CDI hook (nvc-cdi-hook)"),
}
# What the hook and the shim import from outside the standard library (elftools and pycparser only
# on rare paths: compat GL checks, a cffi that cannot read the pre-parsed declarations; yaml and
# jsonschema in the shim's CDI mode).
DEPENDENCIES = ("nvcontainer", "cffi", "_cffi_backend", "elftools", "pycparser", "tomli", "yaml", "jsonschema",
                "tomlkit")


def import_paths(names: Sequence[str] = DEPENDENCIES) -> List[str]:
    """The sys.path entries ``names`` are imported from here (found without importing them)."""
    import importlib.util

    out: List[str] = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
            continue
        path = os.path.dirname(spec.origin)
        if spec.submodule_search_locations is not None:  # a package: its parent is the entry
            path = os.path.dirname(path)
        if path not in out and not _in_stdlib(path):
            out.append(path)
    return out


def _in_stdlib(path: str) -> bool:
    import sysconfig

    return path in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])


def _check_values(**values: str) -> None:
    """Refuse what could break out of the generated files: control characters (a newline ends a
    comment or a shebang), quotes, and whitespace in the interpreter of a shebang."""
    from nvcontainer.errors import InputError

    for what, value in values.items():
        bad = any(ord(ch) < 0x20 or ch == "\x7f" for ch in value) or "'" in value or '"' in value
        if bad or (what == "python" and (" " in value or len(value) > 200)):
            raise InputError(f"cannot write a launcher with this {what}: {value!r}")


def launcher_text(name: str = "nvidia-container-runtime-hook", python: Optional[str] = None,
                  kind: str = "hook") -> str:
    """The launcher ``write_launcher`` writes: ``kind``'s main() under ``python -I -S``."""
    module, what = ENTRIES[kind]
    python = python or interpreter()
    paths = import_paths()
    _check_values(name=name, python=python, **{f"path {i}": p for i, p in enumerate(paths)})
    return LAUNCHER.format(python=python, name=name, what=what, module=module, paths=paths, marker=MARKER)


def write_launcher(path: str, python: Optional[str] = None, name: str = "nvidia-container-runtime-hook",
                   kind: str = "hook") -> str:
    """Write an executable launcher at ``path`` whose interpreter runs with ``-I -S``."""
    from nvcontainer.atomicfile import write_atomic

    write_atomic(path, launcher_text(name, python, kind), mode=0o755)
    return path


RUNTIME_FRONT = """#!/bin/sh
# {marker}
# {name}: front of the nvcontainer runtime shim, written by
# `python -m nvcontainer.hook.isolation --runtime`.  Only `create` changes anything (and `--version`
# prints ours first): those start the shim under python -I -S.  Every other call (start, state,
# kill, delete, ...) goes straight to {runtime}, the low-level runtime config.toml named when this
# file was written: no interpreter start for them.  Write it again after changing
# [nvidia-container-runtime] runtimes or reinstalling.
for arg in "$@"; do
    case "$arg" in
    create|--version|-version|--version=*|-version=*) exec '{python}' -IS -c '{boot}' "$0" "$@" ;;
    esac
done
exec '{runtime}' "$@"
"""

RUNTIME_BOOT = """import sys
sys.argv[0:2] = sys.argv[1:2]
sys.path.extend({paths})
try:
    from nvcontainer.runtime.main import main
except ImportError:
    import site
    site.main()
    from nvcontainer.runtime.main import main
sys.exit(main())"""


def runtime_front_text(name: str, python: Optional[str] = None, runtime: Optional[str] = None) -> str:
    """The shim's ``sh`` front: ``create``/``--version`` run the shim (python -I -S), anything
    else execs ``runtime`` (default: the one config.toml's runtimes name now)."""
    import json


    if runtime is None:
        from nvcontainer.config.location import config_path
        from nvcontainer.config.quick import runtime_settings
        from nvcontainer.runtime.lookup import find_runtime

        runtime = find_runtime(runtime_settings(*config_path()).runtimes)
    python = python or interpreter()
    paths = import_paths()
    # Everything is single-quoted in the script; the paths go into the boot code as JSON strings.
    _check_values(name=name, python=python, runtime=runtime, **{f"path {i}": p for i, p in enumerate(paths)})
    boot = RUNTIME_BOOT.format(paths=json.dumps(paths))
    return RUNTIME_FRONT.format(name=name, python=python, runtime=runtime, boot=boot, marker=MARKER)


def write_runtime_front(path: str, python: Optional[str] = None, runtime: Optional[str] = None) -> str:
    """Write the shim's ``sh`` front (``runtime_front_text``) at ``path``."""
    from nvcontainer.atomicfile import write_atomic

    write_atomic(path, runtime_front_text(os.path.basename(path), python, runtime), mode=0o755)
    return path


if __name__ == "__main__":
    args = sys.argv[1:]
    runtime_front = args[:1] == ["--runtime"]
    if runtime_front:
        args = args[1:]
    if len(args) != 1:
        print("usage: python -m nvcontainer.hook.isolation [--runtime] DEST", file=sys.stderr)
        sys.exit(2)
    if runtime_front:
        from nvcontainer.errors import NvcError

        try:
            print(write_runtime_front(args[0]))
        except NvcError as exc:
            print(exc.line("nvc-runtime-front"), file=sys.stderr)
            sys.exit(1)
    else:
        print(write_launcher(args[0], name=os.path.basename(args[0])))
