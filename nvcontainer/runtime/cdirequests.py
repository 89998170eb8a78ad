"""Which CDI devices a container asks for, in the shim's ``cdi`` and ``jit-cdi`` modes (pure).

As NVIDIA's runtime (internal/config/image, internal/modifier/cdi.go):

* **annotations** first: the values of every annotation whose key starts with one of
  ``nvidia-container-runtime.modes.cdi.annotation-prefixes`` (default ``cdi.k8s.io/``), keys in
  sorted order, each a comma list of fully qualified names; honoured in ``cdi`` mode only (and
  in ``auto``, which they make ``cdi``);
* else, where the config accepts them, volume mounts ``/dev/null`` ->
  ``/var/run/nvidia-container-devices/<dev>`` (``.../cdi/<vendor>/<class>/<dev>`` or
  ``.../cdi/<vendor>/<class>=<dev>`` name a CDI device);
* else ``NVIDIA_VISIBLE_DEVICES`` (or the swarm-resource variables), in unprivileged containers
  only where the config accepts that;
* an empty entry means ``none``, a name that is not fully qualified gets the default kind
  (``modes.cdi.default-kind``; in ``jit-cdi`` mode ``runtime.nvidia.com/gpu``), duplicates go.

One rule of ours on top (issue: the container's env is hostile input): a device asked for by the
image's environment or by a volume mount must be of the configured kind (``default-kind``, and
``runtime.nvidia.com/gpu`` in ``jit-cdi`` mode).  Otherwise an image could name any vendor's
device a spec directory offers (``vendor.com/x=...``, a management spec's ``all``) and get its
nodes and mounts; such a request is refused with one line.  Annotations, set by the
orchestrator (a device plugin's allocation), may name any kind, as in NVIDIA's runtime.
"""

from __future__ import annotations

import posixpath

from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

    from nvcontainer.config.schema import Config

AUTOMATIC_KIND = "runtime.nvidia.com/gpu"
VOLUME_ROOT = "/var/run/nvidia-container-devices"


class CdiRequest(Record):
    """The qualified names a container asks for and where they came from."""

    names: Tuple[str, ...]
    source: str  # "annotations", "mounts", "environment"


def is_qualified(name: str) -> bool:
    """``vendor/class=name`` (the CDI parser's IsQualifiedName).  (Without an ``=`` it is none, and
    the CDI package, which a container without CDI devices never needs, is not imported.)"""
    if "=" not in name:
        return False
    from nvcontainer.cdi.errors import CdiError
    from nvcontainer.cdi.spec import parse_qualified_name

    try:
        parse_qualified_name(name)
    except CdiError:
        return False
    return True


def annotation_requests(spec: Dict[str, Any], prefixes: Sequence[str]) -> List[str]:
    annotations = spec.get("annotations")
    if not prefixes or not isinstance(annotations, dict):
        return []
    keys = sorted(k for k, v in annotations.items() if isinstance(k, str) and isinstance(v, str)
                  and any(k.startswith(p) for p in prefixes))
    return [device for key in keys for device in annotations[key].split(",")]


def mount_requests(spec: Dict[str, Any]) -> List[str]:
    """Devices asked for as ``/dev/null`` volume mounts (CDI ones as qualified names), in order."""
    out: List[str] = []
    for mount in spec.get("mounts") or ():
        if not isinstance(mount, dict):
            continue
        source, destination = mount.get("source"), mount.get("destination")
        if not isinstance(source, str) or not isinstance(destination, str):
            continue
        if posixpath.normpath(source) != "/dev/null":
            continue
        dest = posixpath.normpath(destination)
        if not dest.startswith(VOLUME_ROOT + "/"):
            continue
        rest = dest[len(VOLUME_ROOT) + 1:]
        if rest.startswith("imex/"):
            continue
        if rest.startswith("cdi/"):
            name = _mount_cdi_name(rest[len("cdi/"):])
            if name is None:
                continue
            rest = name
        if rest not in out:
            out.append(rest)
    return out


def _mount_cdi_name(rest: str) -> Optional[str]:
    """``vendor/class/dev`` or ``vendor/class=dev`` -> ``vendor/class=dev`` (None if neither)."""
    if "=" in rest:
        return rest if is_qualified(rest) else None
    vendor, _, tail = rest.partition("/")
    class_, _, device = tail.partition("/")
    name = f"{vendor}/{class_}={device}"
    return name if device and "/" not in device and is_qualified(name) else None


def environment_requests(spec: Dict[str, Any], config: Config) -> Optional[List[str]]:
    """The devices of NVIDIA_VISIBLE_DEVICES (or swarm variables); None: not a GPU container."""
    from nvcontainer.hook.request import ContainerSpec, requested_devices
    from nvcontainer.hook.state import container_spec

    parsed = container_spec(spec)
    # Volume mounts are handled here (CDI names included): the env alone decides below.
    devices = requested_devices(ContainerSpec(env=parsed.env, privileged=parsed.privileged), config)
    if devices is None:
        return None
    return list(devices) if devices else [""]  # () is "none": one empty entry, as NVIDIA's image does


def requests(spec: Dict[str, Any], config: Config, mode: str) -> Optional[CdiRequest]:
    """The qualified CDI names the container asks for in ``mode`` (``cdi``, ``jit-cdi`` or ``auto``
    before resolution); None when it asks for no device."""
    modes = config.nvidia_container_runtime.modes.cdi
    default_kind = AUTOMATIC_KIND if mode == "jit-cdi" else modes.default_kind
    raw: List[str] = []
    source = "environment"
    if mode in ("cdi", "auto"):
        raw = annotation_requests(spec, modes.annotation_prefixes)
        source = "annotations" if raw else source
    if not raw and config.accept_nvidia_visible_devices_as_volume_mounts:
        raw = mount_requests(spec)
        source = "mounts" if raw else source
    if not raw:
        found = environment_requests(spec, config)
        if found is None:
            return None
        raw = found
    names: List[str] = []
    for entry in raw:
        name = entry.strip() or "none"
        if not is_qualified(name):
            name = f"{default_kind}={name}"
        if name not in names:
            names.append(name)
    if source != "annotations":
        check_kinds(names, allowed_kinds(config, mode), source)
    return CdiRequest(tuple(names), source)


def allowed_kinds(config: Config, mode: str) -> Tuple[str, ...]:
    kind = config.nvidia_container_runtime.modes.cdi.default_kind
    return (kind, AUTOMATIC_KIND) if mode == "jit-cdi" else (kind,)


def check_kinds(names: Sequence[str], kinds: Sequence[str], source: str) -> None:
    """Refuse names whose kind is not one of ``kinds`` (the container's env may not pick vendors)."""
    where = "NVIDIA_VISIBLE_DEVICES" if source == "environment" else "a volume mount"
    for name in names:
        kind = name.partition("=")[0]
        if kind not in kinds:
            from nvcontainer.cdi.errors import CdiError

            raise CdiError(f"refusing CDI device {name!r} requested by {where}: the container may only ask for "
                           f"{' or '.join(kinds)} devices (other kinds only through the orchestrator's CDI "
                           f"annotations)")


def only_qualified(spec: Dict[str, Any], config: Config) -> bool:
    """``auto`` mode's test: every device asked for is a fully qualified CDI name (NVIDIA's
    OnlyFullyQualifiedCDIDevices: annotations count)."""
    prefixes = config.nvidia_container_runtime.modes.cdi.annotation_prefixes
    raw = annotation_requests(spec, prefixes)
    if not raw and config.accept_nvidia_visible_devices_as_volume_mounts:
        raw = mount_requests(spec)
    if not raw:
        raw = environment_requests(spec, config) or []
    return bool(raw) and all(is_qualified(name) for name in raw)
