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
``CdiError``.  ``schema=False`` checks only the rules above: what ``nvc-ctk cdi generate`` runs on
the specs it builds itself (their shape is right by construction, and jsonschema costs ~50 ms to
import); ``nvc-ctk cdi validate`` always runs both.  ``stale_problems`` reports host paths that no
longer exist (a spec written for a driver since removed or upgraded): podman and the runtime
would fail every container that asks for such a device.
"""

from __future__ import annotations

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
        import json

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


_LISTS = {"env": str, "deviceNodes": dict, "mounts": dict, "hooks": dict, "netDevices": dict}
_NODE_INTS = ("major", "minor", "fileMode", "uid", "gid")


def _typed_list(value: Any, kind: type, where: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        return [f"{where}: not a list of {'strings' if kind is str else 'integers' if kind is int else 'objects'}"]
    return []


def _edits_shape(edits: Any, where: str) -> List[str]:
    if not isinstance(edits, dict):
        return [f"{where}: not an object"]
    out = []
    for key, kind in _LISTS.items():
        if key in edits and edits[key] is not None:
            out += _typed_list(edits[key], kind, f"{where}.{key}")
    for i, node in enumerate(edits.get("deviceNodes") or () if not out else ()):
        out += [f"{where}.deviceNodes[{i}].{k}: not an integer" for k in _NODE_INTS
                if node.get(k) is not None and (not isinstance(node[k], int) or isinstance(node[k], bool))]
        out += [f"{where}.deviceNodes[{i}].{k}: not a string" for k in ("path", "hostPath", "type", "permissions")
                if node.get(k) is not None and not isinstance(node[k], str)]
    for i, mount in enumerate(edits.get("mounts") or () if not out else ()):
        out += [f"{where}.mounts[{i}].{k}: not a string" for k in ("hostPath", "containerPath", "type")
                if k in mount and not isinstance(mount[k], str)]
        if mount.get("options") is not None:
            out += _typed_list(mount["options"], str, f"{where}.mounts[{i}].options")
    for i, hook in enumerate(edits.get("hooks") or () if not out else ()):
        for k in ("args", "env"):
            if hook.get(k) is not None:
                out += _typed_list(hook[k], str, f"{where}.hooks[{i}].{k}")
        if hook.get("timeout") is not None and (not isinstance(hook["timeout"], int) or hook["timeout"] < 0):
            out.append(f"{where}.hooks[{i}].timeout: not a non-negative integer")
    gids = edits.get("additionalGids")
    if gids is not None:
        out += _typed_list(gids, int, f"{where}.additionalGids")
        if isinstance(gids, list) and any(isinstance(g, int) and not 0 <= g < 1 << 32 for g in gids):
            out.append(f"{where}.additionalGids: not a list of 32-bit unsigned integers")
    if edits.get("intelRdt") is not None and not isinstance(edits["intelRdt"], dict):
        out.append(f"{where}.intelRdt: not an object")
    return out


def shape_problems(document: Any) -> List[str]:
    """The types the CDI Go types impose (what loading a spec with yaml.UnmarshalStrict checks),
    without jsonschema: strings, integers, lists and objects where the fields need them."""
    if not isinstance(document, dict):
        return ["spec: not an object"]
    out = [f"{k}: not a string" for k in ("cdiVersion", "kind") if not isinstance(document.get(k), str)]
    devices = document.get("devices")
    if not isinstance(devices, list):
        out.append("devices: not a list")
        devices = []
    for i, device in enumerate(devices):
        if not isinstance(device, dict):
            out.append(f"devices[{i}]: not an object")
            continue
        if not isinstance(device.get("name"), str):
            out.append(f"devices[{i}].name: not a string")
        if "containerEdits" not in device:
            out.append(f"devices[{i}]: 'containerEdits' is a required property")
        else:
            out += _edits_shape(device["containerEdits"], f"devices[{i}].containerEdits")
    if document.get("containerEdits") is not None:
        out += _edits_shape(document["containerEdits"], "containerEdits")
    if document.get("annotations") is not None and not (
            isinstance(document["annotations"], dict)
            and all(isinstance(v, str) for v in document["annotations"].values())):
        out.append("annotations: not a map of strings")
    return out


def problems(document: Any, path: str = "<spec>", schema: bool = True) -> List[str]:
    """Every problem of ``document``, each one line ``<path>: <where>: <what>``; [] when valid.

    ``schema=False`` replaces the JSON schema by ``shape_problems`` (no jsonschema import)."""
    found = schema_problems(document) if schema else shape_problems(document)
    if isinstance(document, dict) and not found:
        found = semantic_problems(document)
    return [f"{path}: {p}" for p in found]


def stale_problems(document: Dict[str, Any], path: str = "<spec>") -> List[str]:
    """The host paths of ``document`` (device nodes, bind mounts, hook programs) that do not exist."""
    out: List[str] = []
    missing_programs: List[str] = []  # each reported once
    places = [("containerEdits", document.get("containerEdits"))]
    places += [(f"devices[{i}].containerEdits", d.get("containerEdits"))
               for i, d in enumerate(document.get("devices") or ()) if isinstance(d, dict)]
    for where, edits in places:
        if not isinstance(edits, dict):
            continue
        for i, node in enumerate(edits.get("deviceNodes") or ()):
            host = node.get("hostPath") or node.get("path") if isinstance(node, dict) else None
            if isinstance(host, str) and not os.path.lexists(host):
                out.append(f"{path}: {where}.deviceNodes[{i}]: stale: device node {host} does not exist")
        for i, mount in enumerate(edits.get("mounts") or ()):
            if not isinstance(mount, dict) or mount.get("type") not in (None, "", "bind", "rbind"):
                continue
            host = mount.get("hostPath")
            if isinstance(host, str) and host.startswith("/") and not os.path.lexists(host):
                out.append(f"{path}: {where}.mounts[{i}]: stale: {host} does not exist")
        for i, hook in enumerate(edits.get("hooks") or ()):
            program = hook.get("path") if isinstance(hook, dict) else None
            if isinstance(program, str) and program not in missing_programs and not os.path.exists(program):
                missing_programs.append(program)
                out.append(f"{path}: {where}.hooks[{i}]: stale: hook program {program} does not exist")
    return out


def validate(document: Any, path: str = "<spec>", schema: bool = True) -> None:
    """Raise ``CdiError`` with the first problem of ``document``."""
    found = problems(document, path, schema)
    if found:
        raise CdiError(found[0])


def validate_file(path: str) -> model.SpecFile:
    """Read and validate the spec file ``path``; the ``SpecFile`` or ``CdiError``."""
    spec = model.read_spec(path)
    validate(spec.document, path)
    return spec


def check_files(paths: Sequence[str], stale: bool = True) -> List[str]:
    """Every problem of the spec files ``paths``, one line each, plus devices that two files of
    the same directory define (a conflict: the CDI cache drops both) and, with ``stale``, host
    paths that no longer exist."""
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
        if stale:
            out += stale_problems(spec.document, path)
        directory = os.path.dirname(os.path.abspath(path))
        for name in spec.device_names:
            qualified = f"{spec.kind}={name}"
            other = owners.setdefault((directory, qualified), path)
            if other != path:
                out.append(f"{path}: device {qualified} conflicts with {other}")
    return out
