"""The launchers engines start us through, written where engines look for NVIDIA's programs.

``write_launcher(DEST)`` writes a Python script whose shebang says ``python3 -I -S``: ``-I``
honours no ``PYTHON*`` variable and no user site (nothing in an engine's environment can choose our
code, see ``nvcontainer.hook.isolation``); ``-S`` skips site-packages processing at start (its
``.pth`` files cost 30-50 ms per start), with the import path recorded when the launcher is written
and site set up as usual only if the installation has moved since.  Kinds: the OCI hook (whose
entry ends the process without interpreter shutdown), the runtime shim, the CDI hook.

``write_runtime_front(DEST)`` writes the shim's ``sh`` front: ``create`` (and ``--version``) start
the shim the same way, every other call execs the low-level runtime directly (no interpreter).

``python -m nvcontainer.launchers [--runtime] DEST`` does either from the command line; ``nvc-ctk
install-compat`` writes both under NVIDIA's names.  Every file carries ``MARKER``, so that our own
files are recognised (and rewritten) and foreign ones left alone.
"""

from __future__ import annotations

import os
import sys

from nvcontainer.hook.isolation import interpreter

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import List, Optional, Sequence


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
    from {module} import {function} as main
except ImportError:
    import site

    site.main()
    from {module} import {function} as main
sys.exit(main())
'''

ENTRIES = {  # launcher kind -> (module, its entry function, description)
    "hook": ("nvcontainer.hook.main", "entry", "the nvcontainer OCI hook"),
    "runtime": ("nvcontainer.runtime.main", "main", "the nvcontainer runtime shim"),
    "cdi-hook": ("nvcontainer.cdi.hook", "main", "the nvcontainer CDI hook (nvc-cdi-hook)"),
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
    module, function, what = ENTRIES[kind]
    python = python or interpreter()
    paths = import_paths()
    _check_values(name=name, python=python, **{f"path {i}": p for i, p in enumerate(paths)})
    return LAUNCHER.format(python=python, name=name, what=what, module=module, function=function, paths=paths,
                           marker=MARKER)


def write_launcher(path: str, python: Optional[str] = None, name: str = "nvidia-container-runtime-hook",
                   kind: str = "hook") -> str:
    """Write an executable launcher at ``path`` whose interpreter runs with ``-I -S``."""
    from nvcontainer.atomicfile import write_atomic

    write_atomic(path, launcher_text(name, python, kind), mode=0o755)
    return path


RUNTIME_FRONT = """#!/bin/sh
# {marker}
# {name}: front of the nvcontainer runtime shim, written by
# `python -m nvcontainer.launchers --runtime`.  Only `create` changes anything (and `--version`
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


def cli(args: Sequence[str]) -> int:
    """``python -m nvcontainer.launchers [--runtime] DEST``: write a launcher (or the shim's front)."""
    args = list(args)
    runtime_front = args[:1] == ["--runtime"]
    if runtime_front:
        args = args[1:]
    if len(args) != 1:
        print("usage: python -m nvcontainer.launchers [--runtime] DEST", file=sys.stderr)
        return 2
    from nvcontainer.errors import NvcError

    try:
        if runtime_front:
            print(write_runtime_front(args[0]))
        else:
            print(write_launcher(args[0], name=os.path.basename(args[0])))
    except NvcError as exc:
        print(exc.line("nvc-launchers"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
