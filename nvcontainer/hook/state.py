"""The OCI state on the hook's stdin and the bundle's config.json, reduced to what the hook needs."""

from __future__ import annotations

import os

from nvcontainer import jsondoc
from nvcontainer.bounds import MAX_SPEC_BYTES, MAX_STATE_BYTES, PID_MAX
from nvcontainer.errors import InputError
from nvcontainer.hook.request import CAP_SYS_ADMIN, ContainerSpec
from nvcontainer.records import Record
from nvcontainer.regularfile import read_regular

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple


class HookState(Record):
    """``pid``, ``id`` and ``bundle`` (``bundlePath`` from runc before 17.06) of the OCI state."""

    pid: int
    bundle: str
    container_id: Optional[str] = None


class BundleSpec(Record):
    """config.json: the absolute rootfs and the parts ``request.parse_request`` reads."""

    oci_version: str
    rootfs: str
    container: ContainerSpec


def parse_state(data: str) -> HookState:
    state = jsondoc.loads(data, what="container state", error=InputError, max_bytes=MAX_STATE_BYTES)
    if not isinstance(state, dict):
        raise InputError("could not decode container state: not a JSON object")
    pid = state.get("pid", 0)
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 <= pid <= PID_MAX:
        shown = repr(pid) if not isinstance(pid, int) or pid.bit_length() < 200 else "(a huge number)"
        raise InputError(f"could not decode container state: invalid pid {shown[:64]}")
    bundle = state.get("bundle") or state.get("bundlePath") or ""
    if not isinstance(bundle, str):
        raise InputError("could not decode container state: invalid bundle")
    cid = state.get("id")
    return HookState(pid=pid, bundle=bundle, container_id=cid if isinstance(cid, str) and cid else None)


def _privileged(process: Dict[str, Any]) -> bool:
    caps = process.get("capabilities")
    if isinstance(caps, list):  # OCI 1.0.0-rc1 .. rc4: a plain list
        return CAP_SYS_ADMIN in caps
    if isinstance(caps, dict):
        return CAP_SYS_ADMIN in _list(caps.get("bounding"))
    return False


def _list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []


def _mounts(spec: Dict[str, Any]) -> Tuple[Tuple[str, str], ...]:
    out: List[Tuple[str, str]] = []
    for mount in _list(spec.get("mounts")):
        if isinstance(mount, dict):
            source, destination = mount.get("source"), mount.get("destination")
            if isinstance(source, str) and isinstance(destination, str):
                out.append((source, destination))
    return tuple(out)


def container_spec(spec: Dict[str, Any]) -> ContainerSpec:
    """The env, privilege and mounts of a parsed config.json (shared with the runtime shim)."""
    process = spec.get("process") if isinstance(spec.get("process"), dict) else {}
    assert isinstance(process, dict)
    env = _list(process.get("env"))
    raw = spec.get("annotations")
    annotations = tuple((k, v) for k, v in raw.items() if isinstance(v, str)) if isinstance(raw, dict) else ()
    return ContainerSpec(env=tuple(e for e in env if isinstance(e, str)), privileged=_privileged(process),
                         mounts=_mounts(spec), annotations=annotations)


def load_bundle_spec(bundle: str) -> BundleSpec:
    """Read ``<bundle>/config.json`` (relative ``root.path`` is relative to the bundle)."""
    bundle_dir = os.path.abspath(bundle or ".")
    path = os.path.join(bundle_dir, "config.json")
    try:
        data = read_regular(path, MAX_SPEC_BYTES)
    except OSError as exc:
        raise InputError(f"could not load OCI spec {path}: {exc.strerror or exc}") from None
    spec = jsondoc.loads(data, what=f"OCI spec {path}", error=InputError, max_bytes=MAX_SPEC_BYTES)
    if not isinstance(spec, dict):
        raise InputError(f"could not decode OCI spec {path}: not a JSON object")
    version = spec.get("ociVersion")
    if not isinstance(version, str) or not version:
        raise InputError("version is empty in OCI spec")
    if not isinstance(spec.get("process"), dict):
        raise InputError("process is empty in OCI spec")
    root = spec.get("root")
    if not isinstance(root, dict) or not isinstance(root.get("path"), str) or not root.get("path"):
        raise InputError("root is empty in OCI spec")
    rootfs = os.path.normpath(os.path.join(bundle_dir, root["path"]))
    return BundleSpec(oci_version=version, rootfs=rootfs, container=container_spec(spec))
