"""NVIDIA's program names, for engines that call those names.

``ctr run --gpus`` calls ``nvidia-container-cli``, ``docker run --gpus`` needs
``nvidia-container-runtime-hook`` on dockerd's PATH, and configs written for the original name
``nvidia-container-runtime``.  ``install(prefix)`` makes:

* ``nvidia-container-cli``: a symbolic link to our ``nvc-cli``;
* ``nvidia-container-runtime-hook``: the hook's ``python -I -S`` launcher, and
* ``nvidia-container-runtime``: the shim's ``sh`` front (both from ``nvcontainer.launchers``:
  the engine's environment cannot steer their interpreter, and they start 20-60 ms sooner than the
  console scripts; see docs/performance.md).

It checks every name first and only then writes them, each atomically, so a refusal changes
nothing.  A link pointing at a program of ours (by name, from any install) or a file one of our
launcher writers made is ours to replace; anything else there is refused unless ``force``, and a
directory always.
"""

from __future__ import annotations

import os
import shutil
import sys

from nvcontainer.errors import InputError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Tuple

# NVIDIA's name, ours, and how it is made: "link" to our program, or a generated "hook"/"runtime" file.
COMPAT_NAMES: Tuple[Tuple[str, str, str], ...] = (
    ("nvidia-container-cli", "nvc-cli", "link"),
    ("nvidia-container-runtime-hook", "nvc-container-runtime-hook", "hook"),
    ("nvidia-container-runtime", "nvc-container-runtime", "runtime"),
)
DESCRIPTIONS = {"hook": "hook launcher (python -I -S)", "runtime": "runtime shim front (sh)"}


class Link(Record):
    path: str  # e.g. /usr/local/bin/nvidia-container-cli
    target: str  # the link's target (our program), or what the written file is
    action: str  # "create", "replace" or "keep"
    content: Optional[str] = None  # the file to write; None for a link


def installed(name: str) -> str:
    """Our installed program ``name``: beside this interpreter, else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        raise InputError(f"{name} is not installed (not beside {sys.executable}, not on PATH)")
    return os.path.abspath(found)


FRONT_NAME = "nvc-container-runtime-front"


def runtime_front(dry_run: bool = False) -> Tuple[str, Optional[str]]:
    """The runtime an engine should be given by default, and a note about it: our shim's ``sh``
    front, written (or refreshed) beside the installed ``nvc-container-runtime`` as
    ``nvc-container-runtime-front``.  Every call but ``create`` then costs the engine a ``sh`` start
    (+1 ms, where the console script costs ~15 ms), ``create`` starts the shim under ``python -I -S``.
    Where the front cannot be written, or the name holds a file not ours, the console script and a
    note saying why."""
    script = installed("nvc-container-runtime")
    path = os.path.join(os.path.dirname(script), FRONT_NAME)
    if os.path.lexists(path) and _ours_file(path) is None:
        return script, f"{path} exists and is not ours: registering {script}"
    if dry_run:
        return path, None
    from nvcontainer.launchers import write_runtime_front

    try:
        write_runtime_front(path)
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        return script, f"cannot write {path} ({reason}): registering {script}"
    return path, f"wrote {path} (the runtime shim's sh front; run this again after changing config.toml's runtimes)"


def _current(path: str) -> Optional[str]:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _ours_file(path: str) -> Optional[str]:
    """The content of ``path`` if it is a regular file one of our launcher writers made."""
    from nvcontainer.atomicfile import read_small_text
    from nvcontainer.launchers import MARKER

    text = read_small_text(path)
    return text if text is not None and f"\n# {MARKER}\n" in text[:512] else None


def _file_makers() -> Dict[str, Callable[[str], str]]:
    from nvcontainer.launchers import launcher_text, runtime_front_text

    return {"hook": lambda name: launcher_text(name, kind="hook"), "runtime": runtime_front_text}


def plan(prefix: str, force: bool = False) -> List[Link]:
    """What ``install`` would do; raises (touching nothing) when a name may not be made."""
    links = []
    for theirs, ours, how in COMPAT_NAMES:
        path = os.path.join(prefix, theirs)
        if how == "link":
            target, content = installed(ours), None
        else:
            target, content = DESCRIPTIONS[how], _file_makers()[how](theirs)
        current = _current(path)
        existing = _ours_file(path)
        if (content is None and current == target) or (content is not None and existing == content):
            links.append(Link(path, target, "keep", content))
        elif (current is not None and os.path.basename(current) == ours) or existing is not None:
            links.append(Link(path, target, "replace", content))
        elif os.path.isdir(path) and not os.path.islink(path):
            raise InputError(f"{path} is a directory")
        elif os.path.lexists(path):
            if not force:
                raise InputError(f"{path} exists and is not ours (use --force to replace it)")
            links.append(Link(path, target, "replace", content))
        else:
            links.append(Link(path, target, "create", content))
    return links


def install(prefix: str, force: bool = False) -> List[Link]:
    from nvcontainer.atomicfile import replace_symlink, write_atomic

    links = plan(prefix, force)
    try:
        os.makedirs(prefix, mode=0o755, exist_ok=True)
        for link in links:
            if link.action == "keep":
                continue
            if link.content is not None:  # renamed over whatever is there, a link included
                write_atomic(link.path, link.content, mode=0o755)
                continue
            replace_symlink(link.target, link.path)
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise InputError(f"cannot write in {prefix}: {reason}") from None
    return links


def plan_uninstall(prefix: str) -> List[Link]:
    """What ``uninstall`` would do: "remove" for the names that are ours, "foreign" or "absent" for the rest."""
    links = []
    for theirs, ours, how in COMPAT_NAMES:
        path = os.path.join(prefix, theirs)
        current = _current(path)
        if (current is not None and os.path.basename(current) == ours) or _ours_file(path) is not None:
            links.append(Link(path, current or DESCRIPTIONS.get(how, ours), "remove"))
        elif os.path.lexists(path):
            links.append(Link(path, current or "", "foreign"))
        else:
            links.append(Link(path, "", "absent"))
    return links


def uninstall(prefix: str) -> List[Link]:
    """Remove the names ``install`` made in ``prefix`` (anything else there is left alone)."""
    links = plan_uninstall(prefix)
    for link in links:
        if link.action != "remove":
            continue
        try:
            os.unlink(link.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise InputError(f"cannot remove {link.path}: {os.strerror(exc.errno or 0).lower()}") from None
    return links
