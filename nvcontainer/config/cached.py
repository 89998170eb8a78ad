"""config.toml through the snapshot store: parsed once per content, not on every container start.

The hook reads config.toml on every start; ``tomllib`` alone imports ``typing``, ``re``,
``datetime`` and more (15-20 ms).  ``load_config_cached`` keeps the parsed ``Config`` as JSON in the
snapshot store (``nvcontainer.snapshot.store``: root's, under ``/run``) next to the exact text it
came from: a stored entry is used only when the file's bytes now are the same bytes, so there is
nothing to go stale.  Anything else (a first read, an edit, no store) parses the file as
``load_config`` does.
"""

from __future__ import annotations

from nvcontainer.config.location import read_config_text
from nvcontainer.config.schema import Config
from nvcontainer.records import asdict, fields, is_record
from nvcontainer.snapshot import store

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

    from nvcontainer.records import Record

FORMAT = 1


def load_config_cached(path: Optional[str] = None, *, required: Optional[bool] = None) -> Config:
    """``nvcontainer.config.loading.load_config(path, required=...)``, from the store when the file
    is byte for byte what was parsed before."""
    chosen, text = read_config_text(path, required)
    if text is None:
        return Config()
    name = store.name_for("config", [FORMAT, chosen, _field_names(Config)])
    entry = store.read(name)
    if entry is not None and entry.get("path") == chosen and entry.get("text") == text:
        try:
            config = _from_plain(Config, entry["config"])
            assert isinstance(config, Config)
            return config
        except (KeyError, TypeError, ValueError):
            pass
    from nvcontainer.config.loading import parse_config

    config = parse_config(text, source=chosen)
    store.write(name, {"path": chosen, "text": text, "config": asdict(config)})
    return config


def _field_names(cls: type) -> Any:
    default = cls()
    return [[name, _field_names(type(getattr(default, name)))] if is_record(getattr(default, name)) else name
            for name in fields(cls)]


def _from_plain(cls: type, data: Dict[str, Any]) -> Record:
    """The record of class ``cls`` that ``asdict`` made ``data`` from (lists back to tuples)."""
    default = cls()
    values: Dict[str, Any] = {}
    for name in fields(cls):
        value = data[name]
        base = getattr(default, name)
        if is_record(base):
            value = _from_plain(type(base), value)
        elif isinstance(base, tuple):
            value = tuple(value)
        values[name] = value
    return cls(**values)
