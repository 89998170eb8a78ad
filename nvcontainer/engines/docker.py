"""docker's daemon.json: add our runtime (and optionally make it the default, or turn on CDI).

The file is edited in place, not re-serialized: every byte outside the values we set stays as it
was (key order, indentation, number spelling, escapes), so no existing key or value can be lost.
``features`` is merged, not replaced — the original replaces a loaded ``features`` map when it
enables CDI, losing e.g. ``buildkit``.  A new file is written like nvidia-ctk's (4-space indent).
"""

from __future__ import annotations

import copy
import json

from nvcontainer.engines import jsonedit
from nvcontainer.engines.files import ConfigFileError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

DEFAULT_PATH = "/etc/docker/daemon.json"


def _load(old: Optional[str], path: str) -> Dict[str, Any]:
    if old is None or not old.strip():
        return {}
    try:
        loaded = json.loads(old)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{path}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(loaded, dict):
        raise ConfigFileError(f"{path}: invalid JSON: the top level is not an object")
    return loaded


def changes(*, name: str, runtime_path: str, set_as_default: bool,
            enable_cdi: bool = False) -> List[Tuple[List[str], Any]]:
    """The (key path, value) pairs we set, in order."""
    wanted: List[Tuple[List[str], Any]] = [(["runtimes", name], {"args": [], "path": runtime_path})]
    if set_as_default:
        wanted.append((["default-runtime"], name))
    if enable_cdi:
        wanted.append((["features", "cdi"], True))
    return wanted


def edit(old: Optional[str], *, path: str, name: str, runtime_path: str, set_as_default: bool,
         enable_cdi: bool = False) -> str:
    config = _load(old, path)
    wanted = changes(name=name, runtime_path=runtime_path, set_as_default=set_as_default, enable_cdi=enable_cdi)
    expected = copy.deepcopy(config)
    for keys, value in wanted:
        node = expected
        for key in keys[:-1]:
            if not isinstance(node.setdefault(key, {}), dict):
                raise ConfigFileError(f"{path}: '{key}' is not an object")
            node = node[key]
        node[keys[-1]] = value
    if old is None or not config and not old.strip():
        return json.dumps(expected, indent=4, ensure_ascii=False) + "\n"
    text = old
    for keys, value in wanted:
        text = jsonedit.set_value(text, keys, value)
    # The splice must mean exactly the merged document; if it ever does not, write that instead.
    if json.dumps(json.loads(text)) != json.dumps(expected):
        return json.dumps(expected, indent=4, ensure_ascii=False) + "\n"
    return text
