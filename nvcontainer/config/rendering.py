"""Write a ``Config`` as TOML the way the toolkit does (``nvidia-ctk config default``).

Keys are sorted within each table and tables follow their parents.  Where a value equals its
effective default and the toolkit shows a "commented default" for it, the key is written commented
out with that example value; keys the toolkit omits while at their default are left out.
"""

from __future__ import annotations

import json

from nvcontainer.config.schema import Config, toml_key
from nvcontainer.records import fields, is_record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, FrozenSet, List, Optional

# The toolkit's commentDefaults (api/config/v1/toml.go): key → example value shown commented out.
COMMENTED_DEFAULTS: Dict[str, Any] = {
    "accept-nvidia-visible-devices-as-volume-mounts": False,
    "accept-nvidia-visible-devices-envvar-when-unprivileged": True,
    "swarm-resource": "DOCKER_RESOURCE_GPU",
    "nvidia-container-cli.debug": "/var/log/nvidia-container-toolkit.log",
    "nvidia-container-cli.ldcache": "/etc/ld.so.cache",
    "nvidia-container-cli.no-cgroups": False,
    "nvidia-container-cli.path": "/usr/bin/nvidia-container-cli",
    "nvidia-container-cli.root": "/run/nvidia/driver",
    "nvidia-container-cli.user": "root:video",
    "nvidia-container-runtime.debug": "/var/log/nvidia-container-runtime.log",
}

# Keys (or whole tables) the toolkit does not write while they hold their default.
OMITTED_AT_DEFAULT: FrozenSet[str] = frozenset({
    "nvidia-container-cli.no-pivot",
    "nvidia-container-runtime.modes.csv.compat-container-root",
    "nvidia-container-runtime.modes.jit-cdi",
    "nvidia-container-runtime-hook.accept-gpu-access-envvar",  # ours: not in NVIDIA's default file
    "nvidia-container-runtime-hook.gpu-access-annotations",
    "features",
    "nvcontainer",  # ours: not in the toolkit's file
})


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def render(config: Config) -> str:
    """``config`` as TOML text."""
    out: List[str] = []
    _table(config, Config(), "", out)
    return "\n".join(out).rstrip("\n") + "\n"


def render_default() -> str:
    """The default config file, as ``nvidia-ctk config default`` prints it."""
    return render(Config())


def _table(obj: Any, default: Any, prefix: str, out: List[str], header: Optional[str] = None) -> None:
    if header is not None:
        if out and out[-1] != "":
            out.append("")
        out.append(f"[{header}]")
    subtables = []
    for name in sorted(fields(obj), key=toml_key):
        key = toml_key(name)
        dotted = prefix + key
        value, base = getattr(obj, name), getattr(default, name)
        if is_record(value):
            subtables.append((dotted, value, base))
            continue
        if dotted in OMITTED_AT_DEFAULT and value == base:
            continue
        if dotted in COMMENTED_DEFAULTS and value == base:
            out.append(f"#{key} = {_value(COMMENTED_DEFAULTS[dotted])}")
        else:
            out.append(f"{key} = {_value(value)}")
    for dotted, value, base in subtables:
        if dotted in OMITTED_AT_DEFAULT and value == base:
            continue
        _table(value, base, dotted + ".", out, header=dotted)
