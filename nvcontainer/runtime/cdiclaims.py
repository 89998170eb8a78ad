"""The allocation registry in the shim's CDI modes (``cdi``, ``jit-cdi``, ``auto`` with CDI names).

A CDI container gets its devices from spec edits, not from our prestart hook, so nothing records
it.  Two rules keep legacy containers' exclusive GPUs exclusive all the same:

* a CDI container whose devices overlap a unit another live container holds exclusively is
  refused, with the line a legacy request gets (``device error: 1: held exclusively by
  container <id> since <time>``);
* a CDI container that asks for exclusive access (``NVIDIA_GPU_ACCESS`` where the operator
  allows it, or a ``gpu-access-annotations`` annotation) is refused: exclusivity is recorded,
  and so only available, in legacy mode.

The devices are the requested names' device parts (``nvidia.com/gpu=1`` -> ``1``; ``all``, an
index, a UUID, ``0:1``, a MIG UUID), as our specs and NVIDIA's name them.  A name of another
spelling falls back to the GPU nodes the edits gave the container (``/dev/nvidiaN``).  When no
live container holds anything exclusively, which a listing of the state directory tells, the
check costs nothing more.
"""

from __future__ import annotations

import os

from nvcontainer.bounds import decimal
from nvcontainer.config.schema import Config
from nvcontainer.runtime.errors import ShimError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Sequence, Tuple

    from nvcontainer.allocation.records import Allocation
    from nvcontainer.allocation.units import Unit
    from nvcontainer.driver import Driver

_GPU_NODE = "/dev/nvidia"


def check(original: Dict[str, Any], names: Sequence[str], edited: Dict[str, Any], config: Config) -> None:
    """Refuse the CDI container of ``original`` (edited into ``edited`` for ``names``) when it asks
    for exclusive access or gets a unit another container holds exclusively."""
    if _asks_exclusive(original, config):
        raise ShimError("exclusive GPU access (NVIDIA_GPU_ACCESS=exclusive or a gpu-access annotation) is only "
                        "recorded in legacy mode: set nvidia-container-runtime.mode = \"legacy\" for this container's "
                        "runtime, or ask for shared access")
    held = _exclusive_records(config)
    if not held:
        return
    from nvcontainer.allocation.picking import check_units

    check_units(_units(_driver(config), names, edited, config), held, False)


def _asks_exclusive(spec: Dict[str, Any], config: Config) -> bool:
    from nvcontainer.hook.request import asks_exclusive
    from nvcontainer.hook.state import container_spec

    return asks_exclusive(container_spec(spec), config)


def _exclusive_records(config: Config) -> Tuple[Allocation, ...]:
    from nvcontainer.allocation.registry import Registry, state_dir

    path = state_dir(configured=config.nvcontainer.state_dir)
    try:
        if not any(name.endswith(".json") for name in os.listdir(path)):
            return ()
    except OSError:
        return ()  # no registry yet: nobody holds anything
    return tuple(r for r in Registry(path).read(reclaim=False).values() if r.exclusive)


def _driver(config: Config) -> Driver:
    from nvcontainer.snapshot import discover_cached

    cli = config.nvidia_container_cli
    return discover_cached(cli.root or "/", cli.ldcache or None)


def _nvidia_kind(kind: str, config: Config) -> bool:
    """A kind whose device names are NVIDIA's GPU names: the default kind, ``runtime.nvidia.com/gpu``
    (jit-cdi), any ``nvidia.com/...``; another vendor's ``vendor.com/x=0`` is not GPU 0."""
    return (kind == config.nvidia_container_runtime.modes.cdi.default_kind
            or kind.startswith(("nvidia.com/", "runtime.nvidia.com/")))


def _units(driver: Driver, names: Sequence[str], edited: Dict[str, Any], config: Config) -> List[Unit]:
    from nvcontainer.allocation.units import selected_units
    from nvcontainer.errors import NvcError
    from nvcontainer.policy.selection import select_devices

    tokens = [name.partition("=")[2] if "=" in name else name for name in names
              if "=" not in name or _nvidia_kind(name.partition("=")[0], config)]
    if not tokens:
        return []  # only other vendors' devices
    try:
        return list(selected_units(driver, select_devices(driver, ",".join(tokens))))
    except NvcError:
        pass
    minors = set(_gpu_minors(edited))
    spec = ",".join(str(gpu.index) for gpu in driver.gpus if gpu.minor in minors)
    return list(selected_units(driver, select_devices(driver, spec))) if spec else []


def _gpu_minors(edited: Dict[str, Any]) -> List[int]:
    linux = edited.get("linux")
    devices = linux.get("devices") if isinstance(linux, dict) else None
    out = []
    for node in devices if isinstance(devices, list) else ():
        path = node.get("path") if isinstance(node, dict) else None
        minor = decimal(path[len(_GPU_NODE):]) if isinstance(path, str) and path.startswith(_GPU_NODE) else None
        if minor is not None:
            out.append(minor)
    return out
