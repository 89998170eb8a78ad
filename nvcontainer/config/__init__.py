"""config.toml: the settings the runtime shim, the hook and nvc-ctk share.

``load_config(path=None) -> Config`` reads ``$NVIDIA_CTK_CONFIG_FILE_PATH`` or
``/etc/nvidia-container-runtime/config.toml`` (a missing default file = the defaults);
``render_default()`` is what ``nvc-ctk config default`` prints.  ``quick`` reads the few keys the
shim's pass-through needs without building the model.  Names load lazily: the shim and the hook
import only the modules they use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any

_EXPORTS = {
    "config_path": "location", "load_config": "loading", "parse_config": "loading",
    "render": "rendering", "render_default": "rendering",
    "CONFIG_PATH_ENV": "location", "DEFAULT_CONFIG_PATH": "location", "SUPPORTED_DRIVER_CAPABILITIES": "schema",
    "CdiModeConfig": "schema", "Config": "schema", "ContainerCliConfig": "schema", "CsvModeConfig": "schema",
    "CtkConfig": "schema", "Features": "schema", "HookConfig": "schema", "JitCdiModeConfig": "schema",
    "LegacyModeConfig": "schema", "ModesConfig": "schema", "NvcontainerConfig": "schema", "RuntimeConfig": "schema",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nvcontainer.config' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"nvcontainer.config.{module}"), name)
    globals()[name] = value
    return value
