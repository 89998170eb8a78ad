"""What the containerd and CRI-O drop-ins share: reading the source config, choosing the runtime
whose settings are copied, and writing the generated file.

A drop-in is generated, not edited: each ``runtime configure`` writes it afresh from the source
(the engine's main config, or what the engine itself reports with ``--config-source=command``),
so it always says what the last command asked for, as nvidia-ctk's does.
"""

from __future__ import annotations

import copy

from nvcontainer.engines.files import ConfigFileError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional

HEADER = ("Written by `nvc-ctk runtime configure` from {source}, and written again at each run:\n"
          "change that, or the command's flags, rather than this file.")


def load(text: Optional[str], source: str) -> Dict[str, Any]:
    """The source config as plain data (``{}`` for a missing or empty file)."""
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]
    try:
        return tomllib.loads(text or "")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{source}: invalid TOML: {exc}") from None


def table(parent: Mapping[str, Any], key: str, source: str, where: str) -> Dict[str, Any]:
    """``parent[key]`` (a copy), ``{}`` when absent; an error naming the file when it is not a table."""
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise ConfigFileError(f"{source}: '{where}' is not a table")
    return copy.deepcopy(value)


def template_names(default: Optional[str]) -> List[str]:
    """Runtimes whose settings the new one copies, first found wins (the toolkit's GetLowLevelRuntimes:
    the default runtime unless it is an ``nvidia*`` one, then runc, then crun)."""
    names = [default] if isinstance(default, str) and default and not default.startswith("nvidia") else []
    return [*names, "runc", "crun"]


def template(runtimes: Mapping[str, Any], default: Optional[str]) -> Optional[Dict[str, Any]]:
    for name in template_names(default):
        found = runtimes.get(name)
        if isinstance(found, dict):
            return copy.deepcopy(found)
    return None


def render(data: Mapping[str, Any], source: str) -> str:
    import tomlkit

    doc = tomlkit.document()
    for line in HEADER.format(source=source).splitlines():
        doc.add(tomlkit.comment(line))
    for key, value in data.items():
        doc[key] = value
    return tomlkit.dumps(doc)
