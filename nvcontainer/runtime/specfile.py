"""config.json in and out, keeping everything the shim does not own.

Every field survives, unknown ones included, in its original order; the file is written back in
the layout it came in (compact, or indented with the same indent string, same trailing newline,
Go's ``\\u003c``-style escaping of ``<>&`` and ``\\uXXXX`` for non-ASCII if the writer used them),
so a spec whose hooks we edit differs only in the hooks.  Writes are atomic: a temporary file in
the bundle, then rename.
"""

from __future__ import annotations

import os

from nvcontainer import jsondoc
from nvcontainer.atomicfile import write_atomic
from nvcontainer.bounds import MAX_SPEC_BYTES
from nvcontainer.records import Record
from nvcontainer.regularfile import read_regular
from nvcontainer.runtime.errors import ShimError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


class Layout(Record):
    indent: Optional[str]
    trailing_newline: bool
    go_escaping: bool
    ascii_only: bool = False  # non-ASCII written as \uXXXX (Python's default) rather than raw UTF-8


class SpecFile(Record):
    """config.json as read: its path, the document, and the text (its ``layout`` is only worked
    out when the file is written back: a container without GPUs never pays for it)."""

    path: str
    spec: Dict[str, Any]
    text: str

    @property
    def layout(self) -> Layout:
        return detect_layout(self.text)


def detect_layout(text: str) -> Layout:
    body = text.rstrip("\n")
    indent: Optional[str] = None
    if "\n" in body:
        second = body.split("\n", 2)[1]
        indent = second[: len(second) - len(second.lstrip(" \t"))] or ""
    go = any(escaped in text for _, escaped in _GO_ESCAPES)
    import re  # only when writing the spec back

    ascii_only = text.isascii() and re.search(r"\\u(?!00[0-7])[0-9a-fA-F]{4}", text) is not None
    return Layout(indent=indent, trailing_newline=text.endswith("\n"), go_escaping=go, ascii_only=ascii_only)


def spec_path(bundle: str) -> str:
    return os.path.join(bundle, "config.json")


def load_spec(bundle: str) -> SpecFile:
    """``<bundle>/config.json``: read without blocking (a regular file, at most ``MAX_SPEC_BYTES``),
    parsed with size and depth limits (``nvcontainer.jsondoc``)."""
    path = spec_path(bundle)
    try:
        data = read_regular(path, MAX_SPEC_BYTES)
    except OSError as exc:
        raise ShimError(f"error loading OCI specification {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ShimError(f"error decoding OCI specification {path}: not UTF-8 ({exc.reason})") from None
    spec = jsondoc.loads(text, what=f"OCI specification {path}", error=ShimError,
                         lead=f"error decoding OCI specification {path}")
    if not isinstance(spec, dict):
        raise ShimError(f"error decoding OCI specification {path}: not a JSON object")
    return SpecFile(path, spec, text)


def render_spec(spec: Dict[str, Any], layout: Layout) -> str:
    import json

    if layout.indent is None:
        text = json.dumps(spec, ensure_ascii=layout.ascii_only, separators=(",", ":"))
    else:
        text = json.dumps(spec, ensure_ascii=layout.ascii_only, indent=layout.indent)
    if layout.go_escaping:
        # <, >, & and U+2028/9 can only occur inside JSON strings: replacing them is safe.
        for raw, escaped in _GO_ESCAPES:
            text = text.replace(raw, escaped)
    if not layout.ascii_only and not _encodable(text):
        # A lone surrogate (the file's own "\ud800") has no UTF-8 form: written back as it was
        # read, an escape; it too can only be inside a string.
        text = "".join(f"\\u{ord(ch):04x}" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text + ("\n" if layout.trailing_newline else "")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def write_spec(path: str, spec: Dict[str, Any], layout: Layout) -> None:
    """Replace ``path`` atomically, keeping its permission bits."""
    try:
        write_atomic(path, render_spec(spec, layout), keep_from=path)
    except OSError as exc:
        raise ShimError(f"error writing OCI specification {path}: {exc.strerror or exc}") from None
