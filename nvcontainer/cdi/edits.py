"""``containerEdits`` as plain dicts, and the transforms nvidia-ctk applies before writing a spec.

nvidia-ctk builds each device's edits and the spec-level ones separately, then (pkg/nvcdi/transform):

* **dedupe**: identical entries (same JSON) kept once, in first-seen order (additional gids sorted);
* **simplify**: a device's entries that the spec-level edits already hold are removed from it
  (a device left with nothing keeps what it had);
* **sort**: device nodes and mounts by path depth, then path (byte order); devices by name;
* **merge**: the ``all`` device is the concatenation of every device's edits, then the above again.

Keys come out in the order of the CDI Go types (``env``, ``deviceNodes``, ``netDevices``, ``hooks``,
``mounts``, ``intelRdt``, ``additionalGids``), empty ones left out.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Set

    Edits = Dict[str, Any]

LIST_FIELDS = ("env", "deviceNodes", "netDevices", "hooks", "mounts")
FIELDS = ("env", "deviceNodes", "netDevices", "hooks", "mounts", "intelRdt", "additionalGids")


def ordered(edits: Edits) -> Edits:
    """``edits`` with its keys in the Go types' order and empty fields dropped."""
    return {key: edits[key] for key in FIELDS if edits.get(key)}


def append(into: Edits, other: Edits) -> None:
    """Add ``other``'s entries after ``into``'s (CDI's ContainerEdits.Append)."""
    for key in LIST_FIELDS + ("additionalGids",):
        if other.get(key):
            into.setdefault(key, []).extend(other[key])
    if other.get("intelRdt"):
        into["intelRdt"] = other["intelRdt"]


def is_empty(edits: Edits) -> bool:
    return not any(edits.get(key) for key in ("env", "deviceNodes", "hooks", "mounts"))


def _key(entry: Any) -> Any:
    """A hashable key equal for equal entries (JSON values: dicts compare without their order)."""
    if isinstance(entry, dict):
        return ("{", tuple(sorted((k, _key(v)) for k, v in entry.items())))
    if isinstance(entry, list):
        return ("[", tuple(_key(v) for v in entry))
    return (type(entry).__name__, entry)


def dedupe(edits: Edits) -> Edits:
    out = dict(edits)
    for key in LIST_FIELDS:
        if key in out:
            seen = set()
            kept = []
            for entry in out[key]:
                k = _key(entry)
                if k not in seen:
                    seen.add(k)
                    kept.append(entry)
            out[key] = kept
    if out.get("additionalGids"):
        out["additionalGids"] = sorted(set(out["additionalGids"]))
    return out


def entity_ids(edits: Edits) -> Set[str]:
    return {_key(entry) for key in ("env", "deviceNodes", "hooks", "mounts") for entry in edits.get(key) or ()}


def without(edits: Edits, ids: Set[str]) -> Edits:
    """``edits`` less every entry whose id (``entity_ids``) is in ``ids``."""
    out = dict(edits)
    for key in ("env", "deviceNodes", "hooks", "mounts"):
        if key in out:
            out[key] = [entry for entry in out[key] if _key(entry) not in ids]
    return out


def _depth_key(path: Any) -> tuple:
    clean = os.path.normpath(str(path))
    return (clean.count("/"), str(path))


def sort_edits(edits: Edits) -> Edits:
    out = dict(edits)
    if out.get("deviceNodes"):
        out["deviceNodes"] = sorted(out["deviceNodes"], key=lambda n: _depth_key(n.get("path", "")))
    if out.get("mounts"):
        out["mounts"] = sorted(out["mounts"], key=lambda m: _depth_key(m.get("containerPath", "")))
    return out


def simplify(common: Edits, devices: List[Dict[str, Any]]) -> Edits:
    """Dedupe, simplify and sort ``common`` and ``devices`` (in place for the devices); the new common."""
    common = sort_edits(dedupe(common))
    ids = entity_ids(common)
    for device in devices:
        edits = dedupe(device["containerEdits"])
        reduced = without(edits, ids) if ids else edits
        device["containerEdits"] = ordered(sort_edits(edits if is_empty(reduced) else reduced))
    devices.sort(key=lambda d: str(d["name"]))
    return ordered(common)


def merged(devices: List[Dict[str, Any]], name: str) -> Dict[str, Any]:
    """One device holding the edits of all ``devices``."""
    edits: Edits = {}
    for device in devices:
        append(edits, device["containerEdits"])
    return {"name": name, "containerEdits": ordered(edits)}
