"""Read config.toml into ``Config``, as leniently as the toolkit and no more.

A missing file means the defaults.  What the toolkit refuses we refuse, with one line naming the
file and the key: invalid TOML, a value of the wrong type (``disable-require = "yes"``), a table
where a value belongs, an ``ldconfig`` that is not host-relative.  What the toolkit accepts we
accept, with a warning: an existing NVIDIA config must never stop a container start.

* an unknown key (or table) is ignored;
* ``log-level`` outside the logrus levels means ``info`` (the runtime's fallback);
* ``cuda-compat-mode`` empty or unknown means what the hook makes of it: ``disabled``, or the
  CLI's default ``mount`` when ``features.allow-cuda-compat-libs-from-container`` is on;
* ``mode`` outside the known modes is kept: the runtime and the hook refuse it when they use it,
  as the toolkit's do;
* an unknown capability in ``supported-driver-capabilities`` and an ``environment`` entry that is
  not ``NAME=VALUE`` are dropped.

Warnings go to the debug log (``nvcontainer.log``) and, when the caller passes a list as
``warnings``, into that list (``nvc-ctk`` prints them as one ``nvc-ctk: warning: ...`` line).
"""

from __future__ import annotations

from nvcontainer.config.location import read_config_text
from nvcontainer.config.schema import (
    CUDA_COMPAT_MODES,
    LOG_LEVELS,
    MODES,
    SUPPORTED_DRIVER_CAPABILITIES,
    Config,
    toml_key,
)
from nvcontainer.errors import InputError
from nvcontainer.log import logger as log
from nvcontainer.records import fields, is_record, replace

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, TypeVar
    T = TypeVar("T")


def load_config(path: Optional[str] = None, *, required: Optional[bool] = None,
                warnings: Optional[List[str]] = None) -> Config:
    """Load ``path`` (default: ``config_path()``); a missing optional file gives the defaults."""
    chosen, text = read_config_text(path, required)
    if text is None:
        return Config()
    return parse_config(text, source=chosen, warnings=warnings)


def parse_config(text: str, *, source: str = "config.toml", warnings: Optional[List[str]] = None) -> Config:
    """Parse config.toml text (``source`` names it in errors and warnings)."""
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: invalid TOML: {exc}") from None
    found: List[str] = []
    config = _build(Config, table, "", source, found)
    config = _lenient(config, found)
    _check(config, source)
    for message in found:
        log.warning("%s: %s", source, message)
    if warnings is not None:
        warnings.extend(found)
    return config


def _build(cls: type[T], table: Mapping[str, Any], prefix: str, source: str, found: List[str]) -> T:
    defaults = cls()
    names = {toml_key(name): name for name in fields(cls)}
    values: Dict[str, Any] = {}
    for key, value in table.items():
        dotted = prefix + key
        name = names.get(key)
        if name is None:
            found.append(f"unknown {'table' if isinstance(value, dict) else 'key'} '{dotted}' ignored")
            continue
        values[name] = _convert(getattr(defaults, name), value, dotted, source, found)
    return replace(defaults, **values)  # type: ignore[type-var]


def _convert(default: Any, value: Any, dotted: str, source: str, found: List[str]) -> Any:
    if is_record(default):
        if not isinstance(value, dict):
            raise InputError(f"{source}: '{dotted}' must be a table")
        return _build(type(default), value, dotted + ".", source, found)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{source}: '{dotted}' must be a boolean")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise InputError(f"{source}: '{dotted}' must be a string")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InputError(f"{source}: '{dotted}' must be a list of strings")
        return tuple(value)
    raise AssertionError(f"no conversion for {dotted}")  # pragma: no cover - schema bug


def _lenient(config: Config, found: List[str]) -> Config:
    """The values the toolkit accepts but we would not use as written (see the module docstring)."""
    runtime = config.nvidia_container_runtime
    if runtime.mode not in MODES:
        found.append(f"'nvidia-container-runtime.mode' {runtime.mode!r} is not one of {', '.join(MODES)}: "
                     "the runtime and the hook will refuse GPU containers")
    if runtime.log_level not in LOG_LEVELS:
        found.append(f"'nvidia-container-runtime.log-level' {runtime.log_level!r} is not one of "
                     f"{', '.join(LOG_LEVELS)}: using 'info'")
        runtime = replace(runtime, log_level="info")
    legacy = runtime.modes.legacy
    if legacy.cuda_compat_mode not in CUDA_COMPAT_MODES:
        chosen = "mount" if config.features.allow_cuda_compat_libs_from_container else "disabled"
        found.append(f"'nvidia-container-runtime.modes.legacy.cuda-compat-mode' {legacy.cuda_compat_mode!r} is not "
                     f"one of {', '.join(CUDA_COMPAT_MODES)}: using {chosen!r}, as the toolkit's hook does")
        runtime = replace(runtime, modes=replace(runtime.modes, legacy=replace(legacy, cuda_compat_mode=chosen)))
    caps = config.supported_driver_capabilities
    if caps.strip() != "all":
        allowed = SUPPORTED_DRIVER_CAPABILITIES.split(",")
        names = [item.strip() for item in caps.split(",") if item.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown:
            found.append(f"'supported-driver-capabilities' names unknown capabilities "
                         f"{', '.join(repr(n) for n in unknown)}: ignored")
            config = replace(config, supported_driver_capabilities=",".join(n for n in names if n in allowed))
    cli = config.nvidia_container_cli
    bad = [entry for entry in cli.environment if "=" not in entry]
    if bad:
        found.append(f"'nvidia-container-cli.environment' entries that are not NAME=VALUE ignored: "
                     f"{', '.join(repr(e) for e in bad)}")
        cli = replace(cli, environment=tuple(e for e in cli.environment if "=" in e))
    return replace(config, nvidia_container_runtime=runtime, nvidia_container_cli=cli)


def _check(config: Config, source: str) -> None:
    """What the toolkit refuses at load time (its ``assertValid``)."""
    cli = config.nvidia_container_cli
    if cli.ldconfig and not cli.ldconfig.startswith("@") and not config.features.allow_ldconfig_from_container:
        raise InputError(f"{source}: 'nvidia-container-cli.ldconfig' value {cli.ldconfig!r} is not host-relative "
                         "(does not start with a '@')")
