"""CRI-O: a drop-in file declaring our runtime (``/etc/crio/crio.conf.d/99-nvidia.toml``)."""

from __future__ import annotations

from typing import Optional

import tomlkit
from tomlkit.exceptions import TOMLKitError

from nvcontainer.engines.files import ConfigFileError

DEFAULT_PATH = "/etc/crio/crio.conf.d/99-nvidia.toml"


def edit(old: Optional[str], *, path: str, name: str, runtime_path: str, set_as_default: bool) -> str:
    try:
        doc = tomlkit.parse(old or "")
    except TOMLKitError as exc:
        raise ConfigFileError(f"{path}: invalid TOML: {exc}") from None
    crio = doc.setdefault("crio", tomlkit.table())
    runtime_section = crio.setdefault("runtime", tomlkit.table())
    if set_as_default:
        runtime_section["default_runtime"] = name
    runtimes = runtime_section.setdefault("runtimes", tomlkit.table())
    entry = tomlkit.table()
    entry["runtime_path"] = runtime_path
    entry["runtime_type"] = "oci"
    runtimes[name] = entry
    return tomlkit.dumps(doc)
