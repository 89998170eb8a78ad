"""A small YAML emitter for CDI documents: dicts, lists, strings, numbers, booleans, None.

``nvc-ctk cdi generate`` wrote its YAML with PyYAML, whose import and emitter cost ~40 ms per
run.  A CDI spec only ever holds block mappings and sequences of plain data, so this module
writes them directly, in the layout NVIDIA's tools produce (Go's ``gopkg.in/yaml.v3``, indent
4): a mapping's children are indented by 4, a sequence's items start with ``- `` at that
indent and a mapping inside an item continues two columns further::

    devices:
        - name: "0"
          containerEdits:
            deviceNodes:
                - path: /dev/nvidia0

Strings are written plain when no YAML reader can take them for anything else, otherwise
double-quoted with escapes.  "Anything else" is judged by the YAML 1.1 rules PyYAML applies
(``yes``/``on``/``1:20`` sexagesimal numbers, timestamps, ...) as well as YAML 1.2's, so the text
reads back as the same document in PyYAML, Go's yaml.v2/v3 (podman, containerd, NVIDIA's
tools) and any other conforming reader; a test checks that against PyYAML on every spec we
generate and on adversarial strings.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Pattern

INDENT = 4
# Characters a plain scalar may hold here (a conservative subset: no spaces, no flow or comment
# indicators, no quotes), and what it may not start with.
_PLAIN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=+@%~:-")
_BAD_START = set("-?:,[]{}#&*!|>'\"%@`")
# Scalars a YAML 1.1 or 1.2 reader resolves to something other than a string: SPECIAL, written as a
# pattern.  ``is_special`` decides almost every string a spec holds by the cheap checks below and
# compiles the pattern only for the rest (importing re costs 5-9 ms of a 40 ms cdi generate).
SPECIAL = r"""(?x)
    (?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
      |null|Null|NULL|~|<<|=)\Z
  | [-+]?(?:0b[0-1_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|(?:0|[1-9][0-9_]*)|[1-9][0-9_]*(?::[0-5]?[0-9])+)\Z
  | [-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?\Z
  | [-+]?[0-9][0-9_]*(?:[eE][-+]?[0-9]+)\Z
  | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*\Z
  | [-+]?\.(?:inf|Inf|INF)\Z | \.(?:nan|NaN|NAN)\Z
  | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}
"""
_WORDS = frozenset("y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF "
                   "null Null NULL ~ << =".split())
# Every character any alternative of SPECIAL but the timestamp (a prefix match) can hold.
_SPECIAL_CHARS = frozenset("0123456789_+-.:~<=" "yesYESnoNOtruTRUfalsFALSL" "bBxXabcdefABCDEF" "iInNfF")
_DIGITS = frozenset("0123456789")
_OCTAL = frozenset("01234567")
_pattern: List[Optional[Pattern[str]]] = [None]


def _timestamp_prefix(text: str) -> bool:
    """SPECIAL's last alternative: ``[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}`` at the start."""
    if len(text) < 8 or not _DIGITS.issuperset(text[:4]) or text[4] != "-":
        return False
    i = 5
    while i < len(text) and i < 7 and text[i] in _DIGITS:
        i += 1
    return i > 5 and i + 1 < len(text) and text[i] == "-" and text[i + 1] in _DIGITS


def is_special(text: str) -> bool:
    """Whether ``text`` matches SPECIAL."""
    if not text:
        return False
    if text in _WORDS or _timestamp_prefix(text):
        return True
    if not _SPECIAL_CHARS.issuperset(text) or text.isalpha():
        return False  # a character no number has, or letters that are not one of the words
    if text.isdigit():  # decimal, or octal 0[0-7]*
        return text[0] != "0" or _OCTAL.issuperset(text[1:])
    if text.count(".") > 1 or text[0] in "+-" and len(text) > 1 and text[1] in "+-":
        return False  # no alternative has two dots or two signs
    pattern = _pattern[0]
    if pattern is None:
        import re

        pattern = _pattern[0] = re.compile(SPECIAL)
    return pattern.match(text) is not None


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def scalar(value: Any) -> str:
    """One scalar as YAML text."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot write a {type(value).__name__} as YAML")
    if _is_plain(value):
        return value
    return _quoted(value)


def _is_plain(text: str) -> bool:
    if not text or text[0] in _BAD_START and not (text[0] == "-" and len(text) > 1 and text[1] == "-"):
        return False
    if not _PLAIN_CHARS.issuperset(text) or text.endswith(":") or text in ("---", "..."):
        return False
    if text[0].isdigit() and ":" in text:  # 1:20 is a base-60 number to YAML 1.1 readers
        return False
    return not is_special(text)


def _quoted(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or 0xD800 <= code < 0xE000 or code in (
                0xFEFF, 0x2028, 0x2029, 0xFFFE, 0xFFFF):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        elif code > 0xFFFF:
            out.append(f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"cannot write a {type(key).__name__} mapping key as YAML")
    return scalar(key)


def _mapping(value: Any, indent: int, first_prefix: str, lines: List[str]) -> None:
    """Keys at ``indent``; the first one after ``first_prefix`` (``- `` of a sequence item)."""
    pad = " " * indent
    for number, (key, item) in enumerate(value.items()):
        head = (first_prefix if number == 0 and first_prefix else pad) + _key(key) + ":"
        _value(item, indent, head, lines)


def _value(item: Any, indent: int, head: str, lines: List[str]) -> None:
    if isinstance(item, dict):
        if not item:
            lines.append(head + " {}")
            return
        lines.append(head)
        _mapping(item, indent + INDENT, "", lines)
    elif isinstance(item, (list, tuple)):
        if not item:
            lines.append(head + " []")
            return
        lines.append(head)
        _sequence(item, indent + INDENT, lines)
    else:
        lines.append(head + " " + scalar(item))


def _sequence(value: Any, indent: int, lines: List[str]) -> None:
    dash = " " * indent + "- "
    for item in value:
        if isinstance(item, dict) and item:
            # The item's keys continue two columns in; its children indent from the dash.
            _mapping_in_item(item, indent, dash, lines)
        elif isinstance(item, (list, tuple)) and item:
            lines.append(dash.rstrip())
            _sequence(item, indent + INDENT, lines)
        elif isinstance(item, dict):
            lines.append(dash + "{}")
        elif isinstance(item, (list, tuple)):
            lines.append(dash + "[]")
        else:
            lines.append(dash + scalar(item))


def _mapping_in_item(value: Any, indent: int, dash: str, lines: List[str]) -> None:
    pad = " " * (indent + 2)
    for number, (key, item) in enumerate(value.items()):
        head = (dash if number == 0 else pad) + _key(key) + ":"
        _value(item, indent, head, lines)


def dump(document: Any) -> str:
    """``document`` (a mapping) as a YAML document starting with ``---``."""
    if not isinstance(document, dict):
        raise TypeError("a YAML document here is a mapping")
    lines = ["---"]
    if not document:
        lines.append("{}")
    else:
        _mapping(document, 0, "", lines)
    return "\n".join(lines) + "\n"
