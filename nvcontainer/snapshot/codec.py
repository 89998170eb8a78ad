"""A ``Driver`` as plain JSON values and back, field by field (the snapshot's payload)."""

from __future__ import annotations

from nvcontainer.driver import Binary, DeviceNode, Driver, Firmware, Gpu, Ipc, Library, MigDevice
from nvcontainer.records import fields

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Type

    from nvcontainer.records import Record


def _plain(record: Record) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name in fields(record):
        value = getattr(record, name)
        if isinstance(value, tuple):
            value = [_plain(v) if hasattr(v, "_fields") else (list(v) if isinstance(v, tuple) else v) for v in value]
        elif hasattr(value, "_fields"):
            value = _plain(value)
        out[name] = value
    return out


def to_plain(driver: Driver) -> Dict[str, Any]:
    return _plain(driver)


def _node(data: Optional[Dict[str, Any]]) -> Optional[DeviceNode]:
    return None if data is None else DeviceNode(**data)


def _many(cls: Type[Record], items: List[Dict[str, Any]]) -> tuple:
    return tuple(cls(**item) for item in items)


def _mig(data: Dict[str, Any]) -> MigDevice:
    data = dict(data, gi_caps_node=_node(data["gi_caps_node"]), ci_caps_node=_node(data["ci_caps_node"]))
    return MigDevice(**data)


def _gpu(data: Dict[str, Any]) -> Gpu:
    data = dict(data, node=_node(data["node"]), migs=tuple(_mig(m) for m in data["migs"]))
    return Gpu(**data)


def from_plain(data: Dict[str, Any]) -> Driver:
    """The ``Driver`` that ``to_plain`` made ``data`` from (``KeyError``/``TypeError`` if it is not one)."""
    return Driver(**dict(
        data,
        gpus=tuple(_gpu(g) for g in data["gpus"]),
        control_nodes=_many(DeviceNode, data["control_nodes"]),
        libraries=_many(Library, data["libraries"]),
        libraries32=_many(Library, data["libraries32"]),
        binaries=_many(Binary, data["binaries"]),
        ipcs=_many(Ipc, data["ipcs"]),
        firmwares=_many(Firmware, data["firmwares"]),
        warnings=tuple(data["warnings"]),
    ))
