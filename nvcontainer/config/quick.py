"""The three settings the shim's pass-through needs, without building the whole model.

``start``, ``state``, ``kill``, ``delete`` ... only need to know which runtime to exec and where
errors go.  Reading just those keys keeps that path to the TOML parser (the dataclass model costs
more to import than the rest of the pass-through).  ``create`` loads the full, checked model.
The defaults here must equal ``schema.RuntimeConfig``'s (a test holds them together).
"""

from __future__ import annotations

from nvcontainer.errors import InputError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Tuple

DEFAULT_RUNTIMES = ("runc", "crun")
DEFAULT_DEBUG = "/dev/null"
DEFAULT_LOG_LEVEL = "info"


class RuntimeSettings(Record):
    runtimes: Tuple[str, ...] = DEFAULT_RUNTIMES
    debug: str = DEFAULT_DEBUG
    log_level: str = DEFAULT_LOG_LEVEL


def runtime_settings(path: str, required: bool = False) -> RuntimeSettings:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        if required:
            raise InputError(f"{path}: config file not found") from None
        return RuntimeSettings()
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    section: Dict[str, Any] = table.get("nvidia-container-runtime") or {}
    if not isinstance(section, dict):
        raise InputError(f"{path}: 'nvidia-container-runtime' must be a table")
    runtimes = section.get("runtimes", list(DEFAULT_RUNTIMES))
    if not isinstance(runtimes, list) or not all(isinstance(r, str) for r in runtimes):
        raise InputError(f"{path}: 'nvidia-container-runtime.runtimes' must be a list of strings")
    debug = section.get("debug", DEFAULT_DEBUG)
    level = section.get("log-level", DEFAULT_LOG_LEVEL)
    for key, value in (("debug", debug), ("log-level", level)):
        if not isinstance(value, str):
            raise InputError(f"{path}: 'nvidia-container-runtime.{key}' must be a string")
    return RuntimeSettings(tuple(runtimes), debug, level)
