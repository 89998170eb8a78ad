"""CRI-O: our runtime in a drop-in file (``/etc/crio/crio.conf.d/99-nvidia.toml``).

As nvidia-ctk 1.20: the main config (``/etc/crio/crio.conf``, or ``crio status config``) is only
read; ``drop_in`` generates ``[crio.runtime.runtimes.<name>]`` as a copy of the first of (the
default runtime unless it is an ``nvidia*`` one, runc, crun) found there -- ``monitor_path``,
``runtime_root``, ``allowed_annotations`` and the rest -- with ``runtime_path`` ours and
``runtime_type = "oci"``, and ``crio.runtime.default_runtime`` naming it when asked.
CRI-O reads every file of ``crio.conf.d`` in lexical order, so nothing else is left there
(``files``).  With ``--drop-in-config=""`` the file named by ``--config`` is edited in place
(``edit``: tomlkit, whatever else it holds survives as written).
"""

from __future__ import annotations

import tomlkit
from tomlkit.exceptions import TOMLKitError

from nvcontainer.engines import dropin
from nvcontainer.engines.files import ConfigFileError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

DEFAULT_PATH = "/etc/crio/crio.conf"
DEFAULT_DROP_IN = "/etc/crio/crio.conf.d/99-nvidia.toml"


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


def drop_in(source_text: Optional[str], *, source: str, name: str, runtime_path: str, set_as_default: bool) -> str:
    """The drop-in for ``name``, from the source config's text."""
    data = dropin.load(source_text, source)
    runtime_table = dropin.table(dropin.table(data, "crio", source, "crio"), "runtime", source, "crio.runtime")
    runtimes = dropin.table(runtime_table, "runtimes", source, "crio.runtime.runtimes")
    entry = dropin.template(runtimes, runtime_table.get("default_runtime")) or {}
    entry["runtime_path"] = runtime_path
    entry["runtime_type"] = "oci"
    section: Dict[str, Any] = {}
    if set_as_default:
        section["default_runtime"] = name
    section["runtimes"] = {name: entry}
    return dropin.render({"crio": {"runtime": section}}, source)
