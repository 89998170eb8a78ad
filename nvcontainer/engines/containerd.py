"""containerd's config.toml (versions 1, 2 and 3): add a runc-v2 runtime running our shim.

The edit is made with tomlkit, so comments, ordering and formatting of everything we do not touch
survive byte for byte.  Version: no file or an empty one → 2; a file without ``version`` → 1.
The new runtime copies the default runtime's options table when there is one, as nvidia-ctk does.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import tomlkit
from tomlkit.exceptions import TOMLKitError

from nvcontainer.engines.files import ConfigFileError

DEFAULT_PATH = "/etc/containerd/config.toml"
CRI_PLUGINS = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime"}


def _table(parent: Any, key: str) -> Any:
    if key not in parent:
        parent[key] = tomlkit.table()
    return parent[key]


def version_of(doc: Any, empty: bool) -> int:
    if empty:
        return 2
    value = doc.get("version", 1)
    if value not in CRI_PLUGINS:
        raise ConfigFileError(f"unsupported containerd config version: {value}")
    return int(value)


def runtimes_table(doc: Any, version: int) -> Tuple[Any, Any]:
    """(the CRI plugin's ``containerd`` table, its ``runtimes`` table), created where missing."""
    plugins = _table(doc, "plugins")
    cri = _table(plugins, CRI_PLUGINS[version])
    containerd = _table(cri, "containerd")
    return containerd, _table(containerd, "runtimes")


def edit(old: Optional[str], *, path: str, name: str, runtime_path: str, set_as_default: bool) -> str:
    empty = old is None or not old.strip()
    try:
        doc = tomlkit.parse(old or "")
    except TOMLKitError as exc:
        raise ConfigFileError(f"{path}: invalid TOML: {exc}") from None
    version = version_of(doc, empty)
    if empty:
        doc["version"] = version
    containerd, runtimes = runtimes_table(doc, version)
    default = str(containerd.get("default_runtime_name", "runc"))
    runtime = tomlkit.table()
    template = runtimes.get(default)
    for key in ("runtime_type", "runtime_root", "runtime_engine", "privileged_without_host_devices"):
        if template is not None and key in template:
            runtime[key] = template[key]
    runtime.setdefault("runtime_type", "io.containerd.runc.v2")
    options = tomlkit.table()
    if template is not None and isinstance(template.get("options"), dict):
        for key, value in template["options"].items():
            options[key] = value
    options["BinaryName"] = runtime_path
    runtime["options"] = options
    runtimes[name] = runtime
    if set_as_default:
        containerd["default_runtime_name"] = name
    return tomlkit.dumps(doc)
