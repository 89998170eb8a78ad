"""Apply CDI devices to an OCI runtime spec: ``inject(spec_dirs, device_names, oci_spec) -> dict``.

For the runtime shim's ``mode = "cdi"``.  It does what ``pkg/cdi``'s cache does for podman and
containerd:

* every spec file in ``spec_dirs`` is read and validated; an invalid one is skipped (logged);
  a device defined in more than one directory comes from the later one (``/var/run/cdi``
  over ``/etc/cdi``), twice in the same directory is a conflict;
* each qualified name (``nvidia.com/gpu=1``) must resolve, else ``unresolvable CDI devices
  <names>`` (``UnresolvableDevicesError``), and nothing is changed;
* the spec-level ``containerEdits`` of each spec used are applied once, before its devices' own;
* ``env`` sets ``process.env`` (an existing variable of the same name is replaced);
  ``deviceNodes`` become ``linux.devices`` (type, major, minor and mode filled from ``hostPath``,
  or ``path``, when the spec leaves them out) and ``linux.resources.devices`` allow rules
  (``permissions`` or ``rwm``); ``mounts`` replace mounts of the same destination and are then
  sorted parents-first (stable); ``hooks`` are appended to their stage; ``additionalGids``
  and ``intelRdt`` go to ``process.user`` and ``linux``.

The input dict is not modified: a new one is returned.
"""

from __future__ import annotations

import os
import stat

from nvcontainer.cdi import spec as model
from nvcontainer.cdi.errors import CdiError, UnresolvableDevicesError
from nvcontainer.log import logger as log

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Sequence, Tuple
    Registry = Dict[str, Tuple[model.SpecFile, Dict[str, Any]]]  # qualified name -> (spec, device)


def scan(spec_dirs: Sequence[str]) -> Tuple[Registry, Dict[str, List[str]], List[str]]:
    """Every valid device of the specs in ``spec_dirs``, the conflicting names (name -> files) and
    the problems found (one line each: an unreadable or invalid spec file), as the CDI cache sees them."""
    from nvcontainer.cdi.validate import problems

    devices: Registry = {}
    conflicts: Dict[str, List[str]] = {}
    found: List[str] = []
    for path, priority in model.spec_paths(spec_dirs):
        try:
            spec = model.read_spec(path, priority)
        except CdiError as exc:
            log.warning("skipping CDI spec: %s", exc.message)
            found.append(exc.message)
            continue
        # As pkg/cdi without its optional schema validator (podman, containerd, NVIDIA's runtime):
        # the types and load-time rules, not jsonschema (~50 ms to import on a container start).
        spec_problems = problems(spec.document, path, schema=False)
        if spec_problems:
            log.warning("skipping invalid CDI spec: %s", spec_problems[0])
            found.append(spec_problems[0])
            continue
        for device in spec.document["devices"]:
            name = f"{spec.kind}={device['name']}"
            old = devices.get(name)
            if old is not None and old[0].priority == spec.priority:
                conflicts.setdefault(name, [old[0].path]).append(path)
            if old is None or old[0].priority <= spec.priority:
                devices[name] = (spec, device)
    return devices, conflicts, found


def load_registry(spec_dirs: Sequence[str]) -> Tuple[Registry, Dict[str, List[str]]]:
    """Every valid device of the specs in ``spec_dirs``, and the conflicting names (name -> files)."""
    devices, conflicts, _ = scan(spec_dirs)
    return devices, conflicts


def resolve(spec_dirs: Sequence[str], device_names: Sequence[str]) -> List[Tuple[model.SpecFile, Dict[str, Any]]]:
    """The ``(spec, device)`` of each qualified name, in order; raises for unknown or conflicting ones."""
    for name in device_names:
        model.parse_qualified_name(name)
    registry, conflicts = load_registry(spec_dirs)
    missing = [n for n in device_names if n not in registry]
    if missing:
        raise UnresolvableDevicesError(missing)
    for name in device_names:
        if name in conflicts:
            raise CdiError(f"conflicting CDI device {name}: defined in {' and '.join(conflicts[name])}")
    return [registry[n] for n in device_names]


def inject(spec_dirs: Sequence[str], device_names: Sequence[str], oci_spec: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of ``oci_spec`` with the CDI edits of ``device_names`` applied (see the module docstring)."""
    resolved = resolve(spec_dirs, device_names)
    out = _deepcopy(oci_spec)
    applied_specs: List[str] = []
    for spec, device in resolved:
        if spec.path not in applied_specs:
            applied_specs.append(spec.path)
            top = spec.document.get("containerEdits")
            if isinstance(top, dict):
                apply_edits(out, top)
        apply_edits(out, device["containerEdits"])
    _sort_mounts(out)
    return out


def inject_spec(document: Dict[str, Any], oci_spec: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of ``oci_spec`` with every device of the in-memory spec ``document`` applied, then the
    spec's own edits (the order of NVIDIA's jit-cdi modifier); the spec is checked first."""
    from nvcontainer.cdi.validate import problems

    found = problems(document, "<generated>", schema=False)
    if found:
        raise CdiError(found[0])
    out = _deepcopy(oci_spec)
    for device in document["devices"]:
        apply_edits(out, device["containerEdits"])
    if isinstance(document.get("containerEdits"), dict):
        apply_edits(out, document["containerEdits"])
    _sort_mounts(out)
    return out


def apply_edits(oci: Dict[str, Any], edits: Dict[str, Any]) -> None:
    """Apply one ``containerEdits`` mapping to ``oci`` in place."""
    for entry in edits.get("env") or ():
        _set_env(oci, entry)
    for node in edits.get("deviceNodes") or ():
        _add_device(oci, node)
    for mount in edits.get("mounts") or ():
        _add_mount(oci, mount)
    for hook in edits.get("hooks") or ():
        entry = {k: hook[k] for k in ("path", "args", "env", "timeout") if k in hook}
        oci.setdefault("hooks", {}).setdefault(hook["hookName"], []).append(entry)
    gids = edits.get("additionalGids")
    if gids:
        user = oci.setdefault("process", {}).setdefault("user", {"uid": 0, "gid": 0})
        have = user.setdefault("additionalGids", [])
        have.extend(g for g in gids if g not in have)
    if edits.get("intelRdt"):
        oci.setdefault("linux", {})["intelRdt"] = _deepcopy(edits["intelRdt"])



def _deepcopy(value: Any) -> Any:
    from copy import deepcopy  # copy (and weakref) only for a container that gets CDI edits

    return deepcopy(value)


def _set_env(oci: Dict[str, Any], entry: str) -> None:
    env: List[str] = oci.setdefault("process", {}).setdefault("env", [])
    key = entry.split("=", 1)[0] + "="
    env[:] = [e for e in env if not e.startswith(key)]
    env.append(entry)


def _device_info(node: Dict[str, Any]) -> Dict[str, Any]:
    info: Dict[str, Any] = {"path": node["path"]}
    source = node.get("hostPath") or node["path"]
    need_stat = node.get("type") in (None, "") or node.get("major") is None or node.get("minor") is None
    st = None
    if need_stat or node.get("fileMode") is None:
        try:
            st = os.stat(source)
        except OSError as exc:
            if need_stat:
                raise CdiError(f"device node {source}: {(exc.strerror or str(exc)).lower()}") from None
    if st is not None and need_stat:
        if stat.S_ISCHR(st.st_mode):
            kind = "c"
        elif stat.S_ISBLK(st.st_mode):
            kind = "b"
        elif stat.S_ISFIFO(st.st_mode):
            kind = "p"
        else:
            raise CdiError(f"device node {source}: not a device")
        info["type"] = node.get("type") or kind
        info["major"] = node["major"] if node.get("major") is not None else os.major(st.st_rdev)
        info["minor"] = node["minor"] if node.get("minor") is not None else os.minor(st.st_rdev)
    else:
        info.update(type=node["type"], major=node["major"], minor=node["minor"])
    if node.get("fileMode") is not None:
        info["fileMode"] = node["fileMode"]
    elif st is not None:
        info["fileMode"] = stat.S_IMODE(st.st_mode)
    for key in ("uid", "gid"):
        if node.get(key) is not None:
            info[key] = node[key]
    return info


def _add_device(oci: Dict[str, Any], node: Dict[str, Any]) -> None:
    info = _device_info(node)
    linux = oci.setdefault("linux", {})
    devices = linux.setdefault("devices", [])
    devices[:] = [d for d in devices if d.get("path") != info["path"]]
    devices.append(info)
    if info["type"] == "p":
        return
    access = node.get("permissions") or "rwm"
    rules = linux.setdefault("resources", {}).setdefault("devices", [])
    rules.append({"allow": True, "type": info["type"], "major": info["major"], "minor": info["minor"],
                  "access": access})


def _add_mount(oci: Dict[str, Any], mount: Dict[str, Any]) -> None:
    mounts = oci.setdefault("mounts", [])
    mounts[:] = [m for m in mounts if m.get("destination") != mount["containerPath"]]
    entry: Dict[str, Any] = {"destination": mount["containerPath"], "source": mount["hostPath"],
                             "type": mount.get("type") or "bind"}
    if mount.get("options"):
        entry["options"] = list(mount["options"])
    mounts.append(entry)


def _sort_mounts(oci: Dict[str, Any]) -> None:
    """Parents before children (stable), as the CDI library does before handing the spec on."""
    mounts = oci.get("mounts")
    if mounts:
        mounts.sort(key=lambda m: len([p for p in str(m.get("destination", "")).split("/") if p]))
