"""Validate a CDI spec: the JSON schema, then the rules the schema does not express.

The schema is the CNCF project's ``schema.json``/``defs.json`` (package data under
``nvcontainer/cdi/schema/``; schema.json refers to defs.json by relative path, so both are put
in one ``referencing`` registry).  The schema misses what ``pkg/cdi`` checks at load time, so
``problems`` adds, in this order:

* ``cdiVersion`` is a known version, and not lower than the fields in use require;
* ``kind`` is ``vendor/class`` with valid vendor and class;
* at least one device; device names valid and unique; no empty device ``containerEdits``;
* ``env`` entries are ``KEY=VALUE`` with a non-empty key (the schema's env rule is a typo'd
  ``ref`` and never applies);
* device nodes: absolute ``path`` and ``hostPath``, ``type`` one of ``b c u p``, ``permissions``
  a subset of ``rwm``; mounts: absolute ``containerPath``, absolute ``hostPath`` for bind
  mounts; hooks: a known ``hookName``, an absolute ``path``, valid ``env``.

Each problem is one line ``<file>: <where>: <what>``; ``validate_file`` raises the first as a
``CdiError``.
"""

from __future__ import annotations

import json
import os

from nvcontainer.cdi import spec as model
from nvcontainer.cdi.errors import CdiError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

_SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "schema")
_validator: Optional[Any] = None


def _schema_validator() -> Any:
    global _validator
    if _validator is None:
        from jsonschema import Draft7Validator
        from referencing import Registry
        from referencing.jsonschema import DRAFT7

        with open(os.path.join(_SCHEMA_DIR, "schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
        with open(os.path.join(_SCHEMA_DIR, "defs.json"), encoding="utf-8") as f:
            defs = json.load(f)
        registry: Registry = Registry().with_resource("defs.json", DRAFT7.create_resource(defs))
        _validator = Draft7Validator(schema, registry=registry)
    return _validator


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "spec"


def schema_problems(document: Any) -> List[str]:
    """Schema violations as ``<where>: <message>`` lines, in document order."""
    errors = sorted(_schema_validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_where(e.absolute_path)}: {e.message}" for e in errors]


def _is_abs(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/")


def _env_problems(env: Any, where: str) -> List[str]:
    out = []
    for i, item in enumerate(env if isinstance(env, list) else ()):
        if not isinstance(item, str) or item.find("=") <= 0:
            out.append(f"{where}.env[{i}]: invalid environment variable {item!r}: not KEY=VALUE")
    return out


def _edits_problems(edits: Dict[str, Any], where: str) -> List[str]:
    out = _env_problems(edits.get("env"), where)
    for i, node in enumerate(edits.get("deviceNodes") or ()):
        here = f"{where}.deviceNodes[{i}]"
        if not isinstance(node, dict):
            continue
        if not _is_abs(node.get("path")):
            out.append(f"{here}.path: {node.get('path')!r} is not an absolute path")
        if "hostPath" in node and not _is_abs(node["hostPath"]):
            out.append(f"{here}.hostPath: {node['hostPath']!r} is not an absolute path")
        if node.get("type", "") not in ("", "b", "c", "u", "p"):
            out.append(f"{here}.type: invalid device type {node['type']!r}")
        perms = node.get("permissions")
        if isinstance(perms, str) and (not perms or set(perms) - set("rwm")):
            out.append(f"{here}.permissions: invalid permissions {perms!r}: not a subset of 'rwm'")
    for i, mount in enumerate(edits.get("mounts") or ()):
        here = f"{where}.mounts[{i}]"
        if not isinstance(mount, dict):
            continue
        if not _is_abs(mount.get("containerPath")):
            out.append(f"{here}.containerPath: {mount.get('containerPath')!r} is not an absolute path")
        is_bind = mount.get("type") in (None, "", "bind", "rbind") or "bind" in (mount.get("options") or ()) \
            or "rbind" in (mount.get("options") or ())
        if is_bind and not _is_abs(mount.get("hostPath")):
            out.append(f"{here}.hostPath: {mount.get('hostPath')!r} is not an absolute path")
    for i, hook in enumerate(edits.get("hooks") or ()):
        here = f"{where}.hooks[{i}]"
        if not isinstance(hook, dict):
            continue
        if hook.get("hookName") not in model.HOOK_NAMES:
            out.append(f"{here}.hookName: invalid hook name {hook.get('hookName')!r}")
        if not _is_abs(hook.get("path")):
            out.append(f"{here}.path: {hook.get('path')!r} is not an absolute path")
        out += _env_problems(hook.get("env"), here)
    return out


def semantic_problems(document: Dict[str, Any]) -> List[str]:
    """The ``pkg/cdi`` load-time rules the schema misses, as ``<where>: <message>`` lines."""
    out: List[str] = []
    version = str(document.get("cdiVersion", ""))
    have = model.version_tuple(version)
    known = {model.version_tuple(v) for v in model.KNOWN_VERSIONS}
    if have is None or have not in known:
        out.append(f"cdiVersion: unsupported version {version!r}")
    else:
        need = model.minimum_version(document)
        if have < (model.version_tuple(need) or (0, 0, 0)):
            out.append(f"cdiVersion: version {version} too low for the fields used: needs at least {need}")
    kind_problem = model.kind_error(str(document.get("kind", "")))
    if kind_problem:
        out.append(f"kind: {kind_problem}")
    devices = document.get("devices")
    if not devices:
        out.append("devices: invalid spec, no devices")
    seen: Dict[str, int] = {}
    for i, device in enumerate(devices if isinstance(devices, list) else ()):
        if not isinstance(device, dict):
            continue
        here = f"devices[{i}]"
        name = str(device.get("name", ""))
        problem = model.device_name_error(name)
        if problem:
            out.append(f"{here}.name: {problem}")
        elif name in seen:
            out.append(f"{here}.name: device {name!r} defined more than once (also devices[{seen[name]}])")
        else:
            seen[name] = i
        edits = device.get("containerEdits")
        if not isinstance(edits, dict) or not any(edits.values()):
            out.append(f"{here}.containerEdits: invalid device {name!r}: empty containerEdits")
        else:
            out += _edits_problems(edits, f"{here}.containerEdits")
    top = document.get("containerEdits")
    if isinstance(top, dict):
        out += _edits_problems(top, "containerEdits")
    return out


def problems(document: Any, path: str = "<spec>") -> List[str]:
    """Every problem of ``document``, each one line ``<path>: <where>: <what>``; [] when valid."""
    found = schema_problems(document)
    if isinstance(document, dict) and not found:
        found = semantic_problems(document)
    return [f"{path}: {p}" for p in found]


def validate(document: Any, path: str = "<spec>") -> None:
    """Raise ``CdiError`` with the first problem of ``document``."""
    found = problems(document, path)
    if found:
        raise CdiError(found[0])


def validate_file(path: str) -> model.SpecFile:
    """Read and validate the spec file ``path``; the ``SpecFile`` or ``CdiError``."""
    spec = model.read_spec(path)
    validate(spec.document, path)
    return spec


def check_files(paths: Sequence[str]) -> List[str]:
    """Every problem of the spec files ``paths``, one line each, plus devices that two files of
    the same directory define (a conflict: the CDI cache drops both)."""
    out: List[str] = []
    owners: Dict[Tuple[str, str], str] = {}
    for path in paths:
        try:
            spec = model.read_spec(path)
        except CdiError as exc:
            out.append(exc.message)
            continue
        found = problems(spec.document, path)
        out += found
        if found:
            continue
        directory = os.path.dirname(os.path.abspath(path))
        for name in spec.device_names:
            qualified = f"{spec.kind}={name}"
            other = owners.setdefault((directory, qualified), path)
            if other != path:
                out.append(f"{path}: device {qualified} conflicts with {other}")
    return out
