"""NVIDIA's program names as symbolic links to ours, for engines that call those names.

``ctr run --gpus`` calls ``nvidia-container-cli``, ``docker run --gpus`` needs
``nvidia-container-runtime-hook`` on dockerd's PATH, and configs written for the original name
``nvidia-container-runtime``.  ``install(prefix)`` checks every link first and only then makes
them, each atomically (a temporary link renamed into place), so a refusal changes nothing.
A link already pointing at a program of ours (by name, from any install) is ours to replace;
anything else there is refused unless ``force`` — and a directory always.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from typing import List, Optional, Tuple

from nvcontainer.errors import InputError

COMPAT_NAMES: Tuple[Tuple[str, str], ...] = (
    ("nvidia-container-cli", "nvc-cli"),
    ("nvidia-container-runtime-hook", "nvc-container-runtime-hook"),
    ("nvidia-container-runtime", "nvc-container-runtime"),
)


@dataclass(frozen=True)
class Link:
    path: str  # the link, e.g. /usr/local/bin/nvidia-container-cli
    target: str  # our program, e.g. /usr/local/bin/nvc-cli
    action: str  # "create", "replace" or "keep"


def installed(name: str) -> str:
    """Our installed program ``name``: beside this interpreter, else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        raise InputError(f"{name} is not installed (not beside {sys.executable}, not on PATH)")
    return os.path.abspath(found)


def _current(path: str) -> Optional[str]:
    try:
        return os.readlink(path)
    except OSError:
        return None


def plan(prefix: str, force: bool = False) -> List[Link]:
    """What ``install`` would do; raises (touching nothing) when a link may not be made."""
    links = []
    for theirs, ours in COMPAT_NAMES:
        path, target = os.path.join(prefix, theirs), installed(ours)
        current = _current(path)
        if current == target:
            links.append(Link(path, target, "keep"))
        elif current is not None and os.path.basename(current) == ours:
            links.append(Link(path, target, "replace"))
        elif os.path.isdir(path) and not os.path.islink(path):
            raise InputError(f"{path} is a directory")
        elif os.path.lexists(path):
            if not force:
                raise InputError(f"{path} exists and is not our link (use --force to replace it)")
            links.append(Link(path, target, "replace"))
        else:
            links.append(Link(path, target, "create"))
    return links


def install(prefix: str, force: bool = False) -> List[Link]:
    links = plan(prefix, force)
    try:
        os.makedirs(prefix, mode=0o755, exist_ok=True)
        for link in links:
            if link.action != "keep":
                tmp = os.path.join(prefix, f".{os.path.basename(link.path)}.{os.getpid()}.tmp")
                os.symlink(link.target, tmp)
                try:
                    os.replace(tmp, link.path)
                except OSError:
                    os.unlink(tmp)
                    raise
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise InputError(f"cannot link in {prefix}: {reason}") from None
    return links
