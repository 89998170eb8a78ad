"""The container's environment → what it asks for, with the toolkit's semantics (pure).

Only these variables are ever read from the container's config.json env: ``NVIDIA_*`` and
``CUDA_VERSION`` (plus the swarm-resource variables the *host's* config names).  Nothing else in
it can influence the hook (CVE-2025-23266).

* ``NVIDIA_VISIBLE_DEVICES``: ``all``; ``none`` (a GPU container without devices); ``void``, empty
  or unset (not a GPU container); otherwise a comma list passed through (indices, UUIDs, MIG).
  Unset in a legacy image (``CUDA_VERSION`` set, ``NVIDIA_REQUIRE_CUDA`` empty) means ``all``.
* ``NVIDIA_DRIVER_CAPABILITIES``: default ``utility,compute``; ``all`` = the config's supported set.
* ``NVIDIA_REQUIRE_*`` (not ``_JETPACK``) unless ``NVIDIA_DISABLE_REQUIRE``; legacy images add
  ``cuda>=MAJOR.MINOR``.
* ``NVIDIA_MIG_CONFIG_DEVICES`` / ``NVIDIA_MIG_MONITOR_DEVICES``: privileged containers only.
* ``NVIDIA_IMEX_CHANNELS``: a comma list of channel ids; ``all`` = every channel node the host has;
  ``none``, ``void``, empty or unset = none.
"""

from __future__ import annotations

import posixpath

from nvcontainer.bounds import MAX_LIST_ITEMS, check_length, is_decimal, shown, unique
from nvcontainer.config.schema import SUPPORTED_DRIVER_CAPABILITIES, Config
from nvcontainer.errors import InputError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

VISIBLE_DEVICES = "NVIDIA_VISIBLE_DEVICES"
DRIVER_CAPABILITIES = "NVIDIA_DRIVER_CAPABILITIES"
REQUIRE_PREFIX = "NVIDIA_REQUIRE_"
REQUIRE_JETPACK = "NVIDIA_REQUIRE_JETPACK"
REQUIRE_CUDA = "NVIDIA_REQUIRE_CUDA"
DISABLE_REQUIRE = "NVIDIA_DISABLE_REQUIRE"
MIG_CONFIG = "NVIDIA_MIG_CONFIG_DEVICES"
MIG_MONITOR = "NVIDIA_MIG_MONITOR_DEVICES"
IMEX_CHANNELS = "NVIDIA_IMEX_CHANNELS"
IMEX_ALL = "all"  # GpuRequest.imex_channels == ("all",): every channel node of the host
CUDA_VERSION = "CUDA_VERSION"
DEFAULT_CAPABILITIES = ("utility", "compute")
VOLUME_MOUNT_ROOT = "/var/run/nvidia-container-devices"
CAP_SYS_ADMIN = "CAP_SYS_ADMIN"

_TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool


class ContainerSpec(Record):
    """The parts of config.json the hook (and the shim's decision) look at."""

    env: Tuple[str, ...] = ()
    privileged: bool = False
    mounts: Tuple[Tuple[str, str], ...] = ()  # (source, destination)
    annotations: Tuple[Tuple[str, str], ...] = ()  # (name, value), string values only


class GpuRequest(Record):
    """A GPU container's request; ``devices`` None = no device (``NVIDIA_VISIBLE_DEVICES=none``)."""

    devices: Optional[Tuple[str, ...]]
    capabilities: Tuple[str, ...]
    requirements: Tuple[str, ...] = ()
    mig_config: Optional[str] = None
    mig_monitor: Optional[str] = None
    imex_channels: Tuple[str, ...] = ()  # ("all",): every channel node the host has
    exclusive: bool = False  # NVIDIA_GPU_ACCESS=exclusive: GPUs nobody else holds (nvcontainer.allocation)


def env_map(env: Iterable[str], extra: Sequence[str] = ()) -> Dict[str, str]:
    """``NAME=VALUE`` entries → dict, keeping only the variables the hook may read (last one wins).

    Each value kept is at most ``MAX_VALUE_LENGTH`` characters (``InputError`` naming it)."""
    wanted = set(extra)
    out: Dict[str, str] = {}
    for entry in env:
        name, sep, value = entry.partition("=")
        if not sep:
            continue
        if name.startswith("NVIDIA_") or name == CUDA_VERSION or name in wanted:
            out[name] = check_length(value, f"environment variable {name[:64]}", InputError)
    return out


def is_legacy(env: Mapping[str, str]) -> bool:
    return bool(env.get(CUDA_VERSION)) and not env.get(REQUIRE_CUDA)


def swarm_names(config: Config) -> Tuple[str, ...]:
    return tuple(name.strip() for name in config.swarm_resource.split(",") if name.strip())


def _device_list(value: str) -> Optional[Tuple[str, ...]]:
    """A device list value → devices; ``()`` = ``none``; None = not a GPU container.

    Linear in the length of ``value``; more than ``MAX_LIST_ITEMS`` distinct devices is an error."""
    items: Dict[str, None] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item == "all":
            return ("all",)
        if item == "none":
            return ()
        if item == "void":
            return None
        items[item] = None
        if len(items) > MAX_LIST_ITEMS:
            raise InputError(f"too many devices requested (more than {MAX_LIST_ITEMS})")
    return tuple(items) if items else None


def _from_mounts(spec: ContainerSpec) -> Tuple[List[str], List[str]]:
    """Devices and IMEX channels requested as ``-v /dev/null:/var/run/nvidia-container-devices/<x>``.

    CDI names (``.../cdi/<vendor>/<class>/<dev>``) are for the shim's cdi mode: ignored here.
    """
    devices: List[str] = []
    channels: List[str] = []
    for source, destination in spec.mounts:
        if _clean(source) != "/dev/null":
            continue
        dest = _clean(destination)
        if not dest.startswith(VOLUME_MOUNT_ROOT + "/"):
            continue
        rest = dest[len(VOLUME_MOUNT_ROOT) + 1:]
        if rest.startswith("cdi/"):
            continue
        if rest.startswith("imex/"):
            target = channels
            rest = rest[len("imex/"):]
        else:
            target = devices
        if rest:
            target.append(rest)
    return (unique(devices, "devices requested as volume mounts", InputError),
            unique(channels, "IMEX channels requested as volume mounts", InputError))


def _clean(path: str) -> str:
    return posixpath.normpath(path) if path else path


def requested_devices(spec: ContainerSpec, config: Config) -> Optional[Tuple[str, ...]]:
    """The devices a container asks for (the shim's "does it need GPUs?"): None = not a GPU container.

    Volume mounts (when the config accepts them) take precedence over the environment; the
    environment counts in unprivileged containers only if the config accepts that (default).
    """
    if config.accept_nvidia_visible_devices_as_volume_mounts:
        devices, _ = _from_mounts(spec)
        if devices:
            return tuple(devices)
    env = env_map(spec.env, swarm_names(config))
    if not (spec.privileged or config.accept_nvidia_visible_devices_envvar_when_unprivileged):
        return None
    swarm = [env[name] for name in swarm_names(config) if name in env]
    if swarm:
        return _device_list(",".join(swarm))
    value = env.get(VISIBLE_DEVICES)
    if value is None:
        return ("all",) if is_legacy(env) else None
    return _device_list(value)


def supported_capabilities(config: Config) -> Tuple[str, ...]:
    value = config.supported_driver_capabilities
    if value.strip() == "all":
        value = SUPPORTED_DRIVER_CAPABILITIES
    return tuple(sorted({item.strip() for item in value.split(",") if item.strip()}))


def driver_capabilities(env: Mapping[str, str], config: Config) -> Tuple[str, ...]:
    supported = supported_capabilities(config)
    value = env.get(DRIVER_CAPABILITIES)
    if value is None and is_legacy(env):
        return supported
    names = [item.strip() for item in (value or "").split(",") if item.strip()]
    if not names:
        return tuple(sorted(set(DEFAULT_CAPABILITIES) & set(supported)))
    if "all" in names:
        return supported
    unknown = [name for name in names if name not in supported]
    if unknown:
        raise InputError(f"unsupported capabilities found in '{value}' (allowed '{','.join(supported)}')")
    return tuple(sorted(set(names)))


def _cuda_requirement(version: str) -> str:
    parts = version.strip().lstrip("v").split(".")
    if len(parts) > 3 or not all(is_decimal(p) for p in parts):
        raise InputError(f"failed to get requirements: invalid CUDA_VERSION '{shown(version)}'")
    minor = parts[1] if len(parts) > 1 else "0"
    return f"cuda>={int(parts[0])}.{int(minor)}"


def requirements(env: Mapping[str, str], config: Config) -> Tuple[str, ...]:
    if config.disable_require or env.get(DISABLE_REQUIRE, "") in _TRUE:
        return ()
    found = [value for name, value in sorted(env.items())
             if name.startswith(REQUIRE_PREFIX) and name != REQUIRE_JETPACK and value.strip()]
    if is_legacy(env):
        found.append(_cuda_requirement(env[CUDA_VERSION]))
    return tuple(found)


def _mig(env: Mapping[str, str], name: str, privileged: bool) -> Optional[str]:
    value = env.get(name)
    if not value:
        return None
    if not privileged:
        raise InputError(f"cannot set {name[len('NVIDIA_'):]} in non privileged container")
    return value


def _imex_list(items: Iterable[str]) -> Tuple[str, ...]:
    """Channel ids with the toolkit's special values: ``void`` (or nothing) and ``none`` mean no
    channel and win over everything, then ``all`` (every channel the host has: ``("all",)``)."""
    kept = [item for item in (part.strip() for part in items) if item]
    if not kept or "void" in kept or "none" in kept:
        return ()
    if "all" in kept:
        return (IMEX_ALL,)
    return tuple(unique(kept, "IMEX channels", InputError))


def _imex(env: Mapping[str, str], spec: ContainerSpec, config: Config, mount_channels: List[str]) -> Tuple[str, ...]:
    """``NVIDIA_IMEX_CHANNELS`` (or ``imex/<id>`` volume mounts, which win when accepted).

    Unset means no channel, legacy image or not (the toolkit's rule since 1.17.2).  ``all`` gives
    every channel node the host has; NVIDIA's hook drops ``all`` and gives none (docs/migration.md)."""
    if config.features.ignore_imex_channel_requests:
        return ()
    if mount_channels:
        return _imex_list(mount_channels)
    if not (spec.privileged or config.accept_nvidia_visible_devices_envvar_when_unprivileged):
        return ()
    value = env.get(IMEX_CHANNELS)
    return () if value is None else _imex_list(value.split(","))


def parse_request(spec: ContainerSpec, config: Config) -> Optional[GpuRequest]:
    """What the container asks for, or None when it is not a GPU container."""
    devices = requested_devices(spec, config)
    if devices is None:
        return None
    env = env_map(spec.env, swarm_names(config))
    _, mount_channels = _from_mounts(spec) if config.accept_nvidia_visible_devices_as_volume_mounts else ([], [])
    return GpuRequest(
        devices=devices or None,
        capabilities=driver_capabilities(env, config),
        requirements=requirements(env, config),
        mig_config=_mig(env, MIG_CONFIG, spec.privileged),
        mig_monitor=_mig(env, MIG_MONITOR, spec.privileged),
        imex_channels=_imex(env, spec, config, mount_channels),
        exclusive=_exclusive(env, spec, config),
    )


def asks_exclusive(spec: ContainerSpec, config: Config) -> bool:
    """Whether the container asks for exclusive GPUs in a way the operator honours (``_exclusive``)."""
    return _exclusive(env_map(spec.env, swarm_names(config)), spec, config)


def _exclusive(env: Mapping[str, str], spec: ContainerSpec, config: Config) -> bool:
    """Whether the container gets exclusive GPUs: asked for by one of the annotations the operator
    named (``nvidia-container-runtime-hook.gpu-access-annotations``: an orchestrator sets those),
    or by ``NVIDIA_GPU_ACCESS`` only where the operator accepts that variable from containers
    (``accept-gpu-access-envvar``, off by default: an image's ``ENV NVIDIA_GPU_ACCESS=exclusive``
    with ``NVIDIA_VISIBLE_DEVICES=all`` would lock every GPU against every other tenant)."""
    from nvcontainer.allocation.claims import ACCESS_ENV, exclusive_from_env

    hook = config.nvidia_container_runtime_hook
    annotations = dict(spec.annotations)
    for name in hook.gpu_access_annotations:
        if name in annotations:
            return exclusive_from_env({ACCESS_ENV: annotations[name]}, what=f"annotation {name}")
    if not hook.accept_gpu_access_envvar:
        return False
    return exclusive_from_env(env)
