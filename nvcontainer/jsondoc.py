"""Bounded JSON reading for the hot path: a size limit, a nesting limit, one-line errors.

The hook reads two JSON documents per container start (the OCI state and config.json), both
hostile in the worst case.  ``loads`` refuses a document larger than its limit or nested deeper
than ``MAX_JSON_DEPTH`` before parsing it (Python's parser would otherwise recurse until a
``RecursionError``), and turns every decoding error into the caller's ``NvcError``.

It parses with the C scanner of CPython's ``_json`` directly: ``import json`` also imports ``re``,
``enum`` and more, several milliseconds per container start.  The documents are the same as
``json.loads`` gives (its scanner is this one); where ``_json`` is missing (another Python), or to
word an error, the ``json`` module is imported after all.  ``dumps`` writes with the C encoder the
same way.
"""

from __future__ import annotations

from nvcontainer.bounds import MAX_JSON_DEPTH, MAX_SPEC_BYTES

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Type

    from nvcontainer.errors import NvcError

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _Context:
    """What ``_json.make_scanner`` reads off a ``json.JSONDecoder``: plain decoding."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


def _make_scanner() -> Optional[Callable[[str, int], Any]]:
    try:
        import _json
    except ImportError:
        return None
    make = getattr(_json, "make_scanner", None)
    return None if make is None else make(_Context())


_scanner = _make_scanner()


def _make_encoder() -> Optional[Callable[[Any, int], Any]]:
    try:
        import _json
    except ImportError:
        return None
    make = getattr(_json, "make_encoder", None)
    if make is None:
        return None

    def refuse(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    # json.dumps(value, sort_keys=True) for documents of dicts, lists, strings, numbers and None.
    return make({}, refuse, _json.encode_basestring_ascii, None, ": ", ", ", True, False, True)


_encoder = _make_encoder()


def dumps(value: Any) -> str:
    """``json.dumps(value, sort_keys=True)`` (one line, ASCII), without importing ``json``."""
    if _encoder is not None:
        return "".join(_encoder(value, 0))
    import json

    return json.dumps(value, sort_keys=True)


def nesting_ok(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether no array or object in ``text`` is nested deeper than ``limit`` (brackets inside
    strings do not count).  Linear; nearly free for documents with few brackets."""
    if text.count("[") + text.count("{") <= limit:
        return True
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def loads(text: str | bytes, *, what: str, error: Type[NvcError], max_bytes: int = MAX_SPEC_BYTES,
          max_depth: int = MAX_JSON_DEPTH, lead: Optional[str] = None, syntax: Optional[str] = None) -> Any:
    """The document in ``text``; ``error("<lead>: <reason>")`` (``lead`` by default ``could not
    decode <what>``) when it is not one (``syntax``, if given, is then the reason), is larger than
    ``max_bytes`` or nested deeper than ``max_depth``."""
    lead = lead or f"could not decode {what}"
    if len(text) > max_bytes:
        raise error(f"{lead}: larger than {max_bytes} bytes")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{lead}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not nesting_ok(text, max_depth):
        raise error(f"{lead}: nested deeper than {max_depth} levels")
    if _scanner is not None:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = _scanner(text, start)
        except RecursionError:  # not reached within max_depth, but never a traceback
            raise error(f"{lead}: nested too deeply") from None
        except Exception:  # noqa: BLE001 - StopIteration, ValueError, SystemError: json words it
            pass
        else:
            if not text[end:].strip(_WHITESPACE):
                return value
    import json

    try:
        return json.loads(text)
    except RecursionError:
        raise error(f"{lead}: nested too deeply") from None
    except ValueError as exc:
        raise error(f"{lead}: {syntax or exc}") from None
