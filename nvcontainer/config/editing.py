"""``nvc-ctk config --set KEY[=VALUE]``: change keys of a config.toml, keeping the rest as written.

The flags mean what ``nvidia-ctk config --set`` makes of them (toolkit 1.20,
cmd/nvidia-ctk/config/config.go):

* the key must name a value of the model (``nvidia-container-cli.root``), not a table;
* ``KEY`` alone means ``true`` for a boolean, and is an error for anything else;
* a boolean takes what Go's ``strconv.ParseBool`` takes (``1 t T TRUE true True`` and the
  ``0 f F FALSE false False`` counterparts); a ``features.*`` flag also takes ``nil``, which
  removes it;
* a list is split on the list separator (``:``) if the value holds one, else on ``,``;
* of several ``--set`` for one key, the last wins.

Unlike the toolkit, which re-renders the whole file (sorted, comments gone), the file is edited in
place with tomlkit: comments, order and formatting outside the keys set stay as written.  A key
set where the file has it commented out as a default (``#root = "/run/nvidia/driver"``, as
``nvc-ctk config default`` writes it) takes that line's place.  A missing file starts from the
default file.  The result is loaded once more so that a file the hook would refuse is never written.
"""

from __future__ import annotations

import re

from nvcontainer.config.schema import Config, toml_key
from nvcontainer.errors import InputError
from nvcontainer.records import fields, is_record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence, Tuple

TRUE = ("1", "t", "T", "TRUE", "true", "True")
FALSE = ("0", "f", "F", "FALSE", "false", "False")
_HEADER = re.compile(r"^\s*\[([^\[\]]+)\]\s*(?:#.*)?$")


def _default_for(parts: Sequence[str]) -> Any:
    """The model's default at the dotted key ``parts`` (raises for an unknown key or a table)."""
    node: Any = Config()
    for i, part in enumerate(parts):
        if not is_record(node):
            raise KeyError(".".join(parts[:i]))
        names = {toml_key(name): name for name in fields(type(node))}
        if part not in names:
            raise KeyError(part)
        node = getattr(node, names[part])
    return node


def parse_set(flag: str, separator: str = ":") -> Tuple[Tuple[str, ...], Any]:
    """``KEY[=VALUE]`` → (key parts, value); value ``None`` means: remove the key."""
    key, has_value, value = flag.partition("=")
    parts = tuple(key.split("."))
    where = f"invalid --set option {flag!r}"
    try:
        default = _default_for(parts)
    except KeyError as exc:
        raise InputError(f"{where}: config.toml has no key {exc.args[0]!r}") from None
    if is_record(default):
        raise InputError(f"{where}: {key!r} is a table, not a value")
    feature = parts[0] == "features"
    if isinstance(default, bool):
        if not has_value:
            return parts, True
        if feature and value == "nil":
            return parts, None
        if value in TRUE or value in FALSE:
            return parts, value in TRUE
        raise InputError(f"{where}: {value!r} is not a boolean (true, false, 1, 0, t, f)")
    if not has_value:
        raise InputError(f"{where}: expected KEY=VALUE")
    if isinstance(default, tuple):
        for sep in (separator, ","):
            if sep and sep in value:
                return parts, value.split(sep)
        return parts, [value]
    return parts, value


def _section(lines: List[str], table: Tuple[str, ...]) -> Tuple[int, int]:
    """The line range of ``table``'s own keys (the top level for ``()``); (-1, -1) if it has no header."""
    start = 0 if not table else -1
    for i, line in enumerate(lines):
        match = _HEADER.match(line)
        if not match:
            continue
        name = tuple(p.strip().strip("\"'") for p in match.group(1).split("."))
        if start >= 0:
            return start, i
        if name == table:
            start = i + 1
    return (start, len(lines)) if start >= 0 else (-1, -1)


def _uncomment(text: str, parts: Tuple[str, ...], value: Any) -> Optional[str]:
    """``text`` with the commented default ``#<key> = ...`` of ``parts`` replaced by the key, if there is one."""
    import tomlkit

    lines = text.split("\n")
    start, end = _section(lines, parts[:-1])
    pattern = re.compile(r"^(\s*)#\s*" + re.escape(parts[-1]) + r"\s*=")
    for i in range(max(start, 0), end):
        match = pattern.match(lines[i])
        if match and start >= 0:
            lines[i] = f"{match.group(1)}{parts[-1]} = {tomlkit.item(value).as_string()}"
            return "\n".join(lines)
    return None


def _table(doc: Any, parts: Sequence[str], create: bool) -> Any:
    import tomlkit

    node = doc
    for part in parts:
        if part not in node:
            if not create:
                return None
            node[part] = tomlkit.table(is_super_table=True)
        node = node[part]
        if not isinstance(node, dict):
            raise InputError(f"'{part}' is not a table in this file")
    return node


def apply_sets(text: Optional[str], sets: Sequence[Tuple[Tuple[str, ...], Any]], *, source: str) -> str:
    """``text`` (None: the file is missing, start from the default file) with ``sets`` applied."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from nvcontainer.config.rendering import render_default

    if text is None:
        text = render_default()
    last = {parts: value for parts, value in sets}  # the last --set of a key wins, in first-set order
    try:
        for parts, value in last.items():
            doc = tomlkit.parse(text)
            table = _table(doc, parts[:-1], create=value is not None)
            if value is None:
                if table is not None and parts[-1] in table:
                    del table[parts[-1]]
                    text = tomlkit.dumps(doc)
                continue
            if parts[-1] in table:
                table[parts[-1]] = value
                text = tomlkit.dumps(doc)
                continue
            uncommented = _uncomment(text, parts, value)
            if uncommented is not None:
                text = uncommented
                continue
            table[parts[-1]] = value
            text = tomlkit.dumps(doc)
    except TOMLKitError as exc:
        raise InputError(f"{source}: invalid TOML: {exc}") from None
    except InputError as exc:
        raise InputError(f"{source}: {exc.message}") from None
    return text
