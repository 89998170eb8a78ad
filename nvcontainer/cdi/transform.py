"""``nvc-ctk cdi transform root``: move the paths of a spec from one root to another.

As nvidia-ctk's root transform: ``--relative-to host`` (default) rewrites host paths (device
nodes' ``hostPath``, which gets ``path`` first when absent; mounts' ``hostPath``; every hook's
``path`` but a ``startContainer`` hook's, and the path arguments of hooks that run in the
runtime's namespace, i.e. neither ``createContainer`` nor ``startContainer``); ``--relative-to
container`` rewrites container paths (device nodes' ``path``, mounts' ``containerPath``, and the
``path`` and arguments of ``startContainer`` hooks, the arguments of ``createContainer`` hooks).
Arguments of the ``TARGET::LINK`` form have both halves rewritten.  ``--from`` equal to ``--to``
changes nothing.

One difference, on purpose: a path is under ``--from`` only at a component boundary.
nvidia-ctk compares strings, so ``--from /run/nvidia/driver`` also rewrote
``/run/nvidia/driver2/...`` (to ``<to>2/...``).
"""

from __future__ import annotations

import posixpath

from nvcontainer.cdi.errors import CdiError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict

RELATIVE_TO = ("host", "container")


def move(path: str, old: str, new: str) -> str:
    """``path`` with the root ``old`` replaced by ``new``; unchanged when it is not under ``old``."""
    if not isinstance(path, str):
        return path
    old_clean = posixpath.normpath(old) if old else ""
    if old_clean in ("", "/"):
        if not path.startswith("/"):
            return path
        rest = path
    elif path == old_clean or path.startswith(old_clean.rstrip("/") + "/"):
        rest = path[len(old_clean):]
    else:
        return path
    return posixpath.normpath(posixpath.join(new or "/", rest.lstrip("/"))) if rest.strip("/") else (
        posixpath.normpath(new or "/"))


def _arg(arg: str, old: str, new: str) -> str:
    if "::" in arg:
        target, _, link = arg.partition("::")
        return f"{move(target, old, new)}::{move(link, old, new)}"
    return move(arg, old, new)


def _edits(edits: Dict[str, Any], old: str, new: str, relative_to: str) -> None:
    host = relative_to == "host"
    for node in edits.get("deviceNodes") or ():
        if host:
            node["hostPath"] = move(node.get("hostPath") or node.get("path", ""), old, new)
        else:
            node["path"] = move(node.get("path", ""), old, new)
    for mount in edits.get("mounts") or ():
        key = "hostPath" if host else "containerPath"
        mount[key] = move(mount.get(key, ""), old, new)
    for hook in edits.get("hooks") or ():
        name = hook.get("hookName")
        in_container = name in ("createContainer", "startContainer")
        if host:
            if name != "startContainer":
                hook["path"] = move(hook.get("path", ""), old, new)
            if not in_container and hook.get("args"):
                hook["args"] = [_arg(a, old, new) for a in hook["args"]]
        else:
            if name == "startContainer":
                hook["path"] = move(hook.get("path", ""), old, new)
            if in_container and hook.get("args"):
                hook["args"] = [_arg(a, old, new) for a in hook["args"]]


def transform_root(document: Dict[str, Any], old: str, new: str, relative_to: str = "host") -> Dict[str, Any]:
    """A copy of the spec ``document`` with its ``relative_to`` paths moved from ``old`` to ``new``."""
    if relative_to not in RELATIVE_TO:
        raise CdiError(f"invalid --relative-to value: {relative_to!r}: use host or container")
    from copy import deepcopy

    out = deepcopy(document)
    if (old or "") == (new or ""):
        return out
    for device in out.get("devices") or ():
        if isinstance(device, dict) and isinstance(device.get("containerEdits"), dict):
            _edits(device["containerEdits"], old, new, relative_to)
    if isinstance(out.get("containerEdits"), dict):
        _edits(out["containerEdits"], old, new, relative_to)
    return out
