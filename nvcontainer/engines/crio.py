"""CRI-O: a drop-in file declaring our runtime (``/etc/crio/crio.conf.d/99-nvidia.toml``).

``[crio.runtime.runtimes.<name>]`` gets ``runtime_path`` and ``runtime_type = "oci"``, and
``crio.runtime.default_runtime`` names it when asked.  An existing drop-in is edited with tomlkit,
so whatever else it holds survives as written.
"""

from __future__ import annotations

import tomlkit
from tomlkit.exceptions import TOMLKitError

from nvcontainer.engines.files import ConfigFileError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Optional

DEFAULT_PATH = "/etc/crio/crio.conf.d/99-nvidia.toml"


def _table(parent: Any, key: str, path: str) -> Any:
    if key not in parent:
        parent[key] = tomlkit.table()
    if not isinstance(parent[key], dict):
        raise ConfigFileError(f"{path}: '{key}' is not a table")
    return parent[key]


def edit(old: Optional[str], *, path: str, name: str, runtime_path: str, set_as_default: bool) -> str:
    try:
        doc = tomlkit.parse(old or "")
    except TOMLKitError as exc:
        raise ConfigFileError(f"{path}: invalid TOML: {exc}") from None
    try:
        runtime_section = _table(_table(doc, "crio", path), "runtime", path)
        if set_as_default and runtime_section.get("default_runtime") != name:
            runtime_section["default_runtime"] = name
        entry = _table(_table(runtime_section, "runtimes", path), name, path)
        for key, value in (("runtime_path", runtime_path), ("runtime_type", "oci")):
            if entry.get(key) != value:
                entry[key] = value
        return tomlkit.dumps(doc)
    except (TOMLKitError, ValueError, TypeError) as exc:
        raise ConfigFileError(f"{path}: cannot edit: {exc}") from None
