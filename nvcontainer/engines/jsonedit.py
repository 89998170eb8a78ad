"""Format-preserving edits of a JSON document: set one value at a key path, touch nothing else.

``set_value(text, ["runtimes", "nvidia"], {...})`` splices the new value into the text: every
other byte (key order, indentation, number spelling such as ``1e3``, ``\\u00e9`` escapes,
duplicate keys) stays as it was.  The new text is laid out like its neighbours: a multi-line
object gets the new member on a line of its own at the same indent, a one-line object gets it
inline.  Like ``json.loads`` (and Go's decoder), the last of duplicate keys is the one edited.

The text must already be valid JSON whose top level is an object; callers check that first.
"""

from __future__ import annotations

import json

from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"
INDENT = "    "


class Member(Record):
    key: str
    key_start: int  # the key's opening quote
    value_start: int
    value_end: int  # one past the value's last character


class ObjectSpan(Record):
    open: int  # the '{'
    close: int  # the '}'
    members: Tuple[Member, ...]

    def last(self, key: str) -> Optional[Member]:
        found = [m for m in self.members if m.key == key]
        return found[-1] if found else None


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def parse_object(text: str, start: int) -> ObjectSpan:
    """The members of the object whose ``{`` is at ``start`` (the text is valid JSON)."""
    assert text[start] == "{"
    members: List[Member] = []
    i = _skip(text, start + 1)
    if text[i] == "}":
        return ObjectSpan(start, i, ())
    while True:
        key_start = i
        key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        i = _skip(text, i)
        assert text[i] == ":"
        value_start = _skip(text, i + 1)
        _, value_end = _DECODER.raw_decode(text, value_start)
        members.append(Member(key, key_start, value_start, value_end))
        i = _skip(text, value_end)
        if text[i] == "}":
            return ObjectSpan(start, i, tuple(members))
        assert text[i] == ","
        i = _skip(text, i + 1)


def _line_indent(text: str, pos: int) -> str:
    """The leading whitespace of the line holding ``pos``."""
    begin = text.rfind("\n", 0, pos) + 1
    end = begin
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[begin:end]


def _layout(text: str, obj: ObjectSpan, multiline_if_empty: bool, unit: str) -> Tuple[bool, str]:
    """(multi-line?, the indent of the object's members)."""
    outer = _line_indent(text, obj.open)
    if not obj.members:
        return multiline_if_empty, outer + unit
    gap = text[obj.open + 1:obj.members[0].key_start]
    if "\n" not in gap:
        return False, ""
    return True, gap[gap.rfind("\n") + 1:]


def _unit(text: str, obj: ObjectSpan) -> str:
    """The document's indent step, read off the top-level object (4 spaces when it has none)."""
    multiline, indent = _layout(text, obj, True, INDENT)
    outer = _line_indent(text, obj.open)
    if multiline and obj.members and indent.startswith(outer) and len(indent) > len(outer):
        return indent[len(outer):]
    return INDENT


def _render(value: Any, multiline: bool, indent: str, unit: str) -> str:
    if not multiline:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", "\n" + indent)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (``True`` is not ``1`` here)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def set_value(text: str, path: List[str], value: Any) -> str:
    """``text`` with ``doc[path[0]]...[path[-1]] = value``; objects on the way are created."""
    top = parse_object(text, _skip(text, 0))
    return _set_in(text, top, path, value, True, _unit(text, top))


def _set_in(text: str, obj: ObjectSpan, path: List[str], value: Any, multiline_if_empty: bool, unit: str) -> str:
    key, rest = path[0], path[1:]
    member = obj.last(key)
    multiline, indent = _layout(text, obj, multiline_if_empty, unit)
    if member is not None:
        current, _ = _DECODER.raw_decode(text, member.value_start)
        if rest and isinstance(current, dict):
            return _set_in(text, parse_object(text, member.value_start), rest, value, multiline, unit)
        new = _nest(rest, value)
        if _same(current, new):
            return text
        member_indent = _line_indent(text, member.key_start) if multiline else ""
        return text[:member.value_start] + _render(new, multiline, member_indent, unit) + text[member.value_end:]
    entry = json.dumps(key, ensure_ascii=False) + ": " + _render(_nest(rest, value), multiline, indent, unit)
    if obj.members:
        at = obj.members[-1].value_end
        sep = ",\n" + indent if multiline else ", "
        return text[:at] + sep + entry + text[at:]
    if not multiline:
        return text[:obj.open + 1] + entry + text[obj.close:]
    closing = _line_indent(text, obj.open)
    return text[:obj.open + 1] + "\n" + indent + entry + "\n" + closing + text[obj.close:]


def _nest(path: List[str], value: Any) -> Any:
    for key in reversed(path):
        value = {key: value}
    return value
