"""docker's daemon.json: add our runtime (and optionally make it the default).

Every existing key keeps its value and place; ``features`` is merged, not replaced (the original
replaces a loaded ``features`` map when it enables CDI, losing e.g. ``buildkit``).  Output is
indented by 4 spaces like nvidia-ctk's.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from nvcontainer.engines.files import ConfigFileError

DEFAULT_PATH = "/etc/docker/daemon.json"


def edit(old: Optional[str], *, path: str, name: str, runtime_path: str, set_as_default: bool,
         enable_cdi: bool = False) -> str:
    config: Dict[str, Any] = {}
    if old is not None and old.strip():
        try:
            loaded = json.loads(old)
        except json.JSONDecodeError as exc:
            raise ConfigFileError(f"{path}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        if not isinstance(loaded, dict):
            raise ConfigFileError(f"{path}: invalid JSON: the top level is not an object")
        config = loaded
    runtimes = config.get("runtimes", {})
    if not isinstance(runtimes, dict):
        raise ConfigFileError(f"{path}: 'runtimes' is not an object")
    runtimes[name] = {"args": [], "path": runtime_path}
    config["runtimes"] = runtimes
    if set_as_default:
        config["default-runtime"] = name
    if enable_cdi:
        features = config.get("features", {})
        if not isinstance(features, dict):
            raise ConfigFileError(f"{path}: 'features' is not an object")
        features["cdi"] = True
        config["features"] = features
    return json.dumps(config, indent=4) + "\n"
