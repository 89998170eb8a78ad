"""Read config.toml into ``Config``: every key checked, every error one line naming the key.

A missing file means the defaults.  Unknown keys, values of the wrong type and values outside a
key's vocabulary raise ``InputError("<file>: ...")``; the toolkit ignores unknown keys, we do not,
because a misspelt key would otherwise silently leave a security-relevant default in place.
"""

from __future__ import annotations

from nvcontainer.config.location import config_path
from nvcontainer.config.schema import (
    CUDA_COMPAT_MODES,
    LOG_LEVELS,
    MODES,
    SUPPORTED_DRIVER_CAPABILITIES,
    Config,
    toml_key,
)
from nvcontainer.errors import InputError
from nvcontainer.records import fields, is_record, replace

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional, Tuple, TypeVar
    T = TypeVar("T")


_CHOICES: Dict[str, Tuple[str, ...]] = {
    "nvidia-container-runtime.mode": MODES,
    "nvidia-container-runtime.log-level": LOG_LEVELS,
    "nvidia-container-runtime.modes.legacy.cuda-compat-mode": CUDA_COMPAT_MODES,
}


def load_config(path: Optional[str] = None, *, required: Optional[bool] = None) -> Config:
    """Load ``path`` (default: ``config_path()``); a missing optional file gives the defaults."""
    chosen, must_exist = config_path(path)
    if required is not None:
        must_exist = required
    try:
        with open(chosen, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if must_exist:
            raise InputError(f"{chosen}: config file not found") from None
        return Config()
    except OSError as exc:
        raise InputError(f"{chosen}: {exc.strerror or exc}") from None
    return parse_config(data.decode("utf-8", errors="replace"), source=chosen)


def parse_config(text: str, *, source: str = "config.toml") -> Config:
    """Parse config.toml text (``source`` names it in errors)."""
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: invalid TOML: {exc}") from None
    config = _build(Config, table, "", source)
    _check(config, source)
    return config


def _build(cls: type[T], table: Mapping[str, Any], prefix: str, source: str) -> T:
    defaults = cls()
    names = {toml_key(name): name for name in fields(cls)}
    values: Dict[str, Any] = {}
    for key, value in table.items():
        dotted = prefix + key
        name = names.get(key)
        if name is None:
            raise InputError(f"{source}: unknown key '{dotted}'")
        values[name] = _convert(getattr(defaults, name), value, dotted, source)
    return replace(defaults, **values)  # type: ignore[type-var]


def _convert(default: Any, value: Any, dotted: str, source: str) -> Any:
    if is_record(default):
        if not isinstance(value, dict):
            raise InputError(f"{source}: '{dotted}' must be a table")
        return _build(type(default), value, dotted + ".", source)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{source}: '{dotted}' must be a boolean")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise InputError(f"{source}: '{dotted}' must be a string")
        choices = _CHOICES.get(dotted)
        if choices and value not in choices:
            raise InputError(f"{source}: '{dotted}' must be one of {', '.join(choices)} (got {value!r})")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InputError(f"{source}: '{dotted}' must be a list of strings")
        return tuple(value)
    raise AssertionError(f"no conversion for {dotted}")  # pragma: no cover - schema bug


def _check(config: Config, source: str) -> None:
    """Rules that span keys (the toolkit's load-time checks)."""
    cli = config.nvidia_container_cli
    if cli.ldconfig and not cli.ldconfig.startswith("@") and not config.features.allow_ldconfig_from_container:
        raise InputError(f"{source}: 'nvidia-container-cli.ldconfig' value {cli.ldconfig!r} is not host-relative "
                         "(does not start with a '@')")
    caps = config.supported_driver_capabilities
    if caps != "all":
        allowed = set(SUPPORTED_DRIVER_CAPABILITIES.split(","))
        for name in (item.strip() for item in caps.split(",")):
            if name not in allowed:
                raise InputError(f"{source}: 'supported-driver-capabilities' has unknown capability {name!r}")
    for entry in cli.environment:
        if "=" not in entry:
            raise InputError(f"{source}: 'nvidia-container-cli.environment' entry {entry!r} is not NAME=VALUE")
