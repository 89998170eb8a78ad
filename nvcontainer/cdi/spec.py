"""The CDI spec model: names, versions, files on disk.  No validation policy, no generation.

A spec is kept as the plain ``dict`` the CDI format is (what YAML/JSON load to); this module
holds the facts about it that every other CDI module shares:

* the naming rules of ``pkg/parser`` (kind ``vendor/class``, device names, qualified names
  ``vendor/class=name``);
* the known ``cdiVersion`` values and the minimum version the fields in use require
  (``specs-go/version.go``): the generator emits that minimum, the validator checks it;
* reading spec files (``.json``, ``.yaml``, ``.yml``) from spec directories, and writing one.
"""

from __future__ import annotations

import os

from nvcontainer.bounds import is_decimal
from nvcontainer.cdi.errors import CdiError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

DEFAULT_SPEC_DIRS: Tuple[str, ...] = ("/etc/cdi", "/var/run/cdi")
SPEC_SUFFIXES = (".json", ".yaml", ".yml")

# specs-go validSpecVersions, newest first; 0.3.0 is the earliest the loaders accept.
KNOWN_VERSIONS: Tuple[str, ...] = ("1.1.0", "1.0.0", "0.8.0", "0.7.0", "0.6.0", "0.5.0", "0.4.0", "0.3.0")
EARLIEST_VERSION = "0.3.0"
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ALNUM = _LETTERS | frozenset("0123456789")
_KIND_CHARS = _ALNUM | frozenset("_.-")
_NAME_CHARS = _KIND_CHARS | frozenset(":")


def _is_vendor_or_class(text: str) -> bool:
    """``[A-Za-z]([A-Za-z0-9_.-]*[A-Za-z0-9])?`` (pkg/parser), without importing re on the hot path."""
    return bool(text) and text[0] in _LETTERS and text[-1] in _ALNUM and all(c in _KIND_CHARS for c in text)


def _is_device_name(text: str) -> bool:
    """``[A-Za-z0-9]([A-Za-z0-9_.:-]*[A-Za-z0-9])?``."""
    return bool(text) and text[0] in _ALNUM and text[-1] in _ALNUM and all(c in _NAME_CHARS for c in text)
_MAX_VENDOR = 253
_MAX_NAME = 63


class QualifiedName(Record):
    """``vendor/class=name``."""

    vendor: str
    class_: str
    name: str

    @property
    def kind(self) -> str:
        return f"{self.vendor}/{self.class_}"

    def __str__(self) -> str:
        return f"{self.kind}={self.name}"


class SpecFile(Record):
    """One spec as read from disk: where it came from, its kind and its document."""

    path: str
    document: Dict[str, Any]
    priority: int  # index of its spec dir: later dirs win, as /var/run/cdi over /etc/cdi

    @property
    def kind(self) -> str:
        return str(self.document.get("kind", ""))

    @property
    def device_names(self) -> Tuple[str, ...]:
        return tuple(str(d.get("name")) for d in self.document.get("devices") or () if isinstance(d, dict))


# --- names ----------------------------------------------------------------------------------


def vendor_error(vendor: str) -> Optional[str]:
    """Why ``vendor`` is not a valid CDI vendor, or None."""
    if not vendor:
        return "empty vendor"
    if len(vendor) > _MAX_VENDOR:
        return f"vendor {vendor!r} longer than {_MAX_VENDOR} characters"
    if not _is_vendor_or_class(vendor):
        return f"invalid vendor {vendor!r}"
    return None


def class_error(class_: str) -> Optional[str]:
    """Why ``class_`` is not a valid CDI class, or None."""
    if not class_:
        return "empty class"
    if len(class_) > _MAX_NAME:
        return f"class {class_!r} longer than {_MAX_NAME} characters"
    if not _is_vendor_or_class(class_):
        return f"invalid class {class_!r}"
    return None


def kind_error(kind: str) -> Optional[str]:
    """Why ``kind`` is not ``vendor/class``, or None."""
    vendor, slash, class_ = kind.partition("/")
    if not slash:
        return f"invalid kind {kind!r}: not vendor/class"
    return vendor_error(vendor) or class_error(class_)


def device_name_error(name: str) -> Optional[str]:
    """Why ``name`` is not a valid CDI device name, or None."""
    if not name:
        return "empty device name"
    if not _is_device_name(name):
        return f"invalid device name {name!r}"
    return None


def parse_qualified_name(text: str) -> QualifiedName:
    """``vendor/class=name`` → ``QualifiedName``; ``CdiError`` naming what is wrong."""
    kind, eq, name = text.partition("=")
    if not eq:
        raise CdiError(f"unqualified device {text!r}, missing kind (vendor/class=name)")
    problem = kind_error(kind) or device_name_error(name)
    if problem:
        raise CdiError(f"invalid device {text!r}: {problem}")
    vendor, _, class_ = kind.partition("/")
    return QualifiedName(vendor, class_, name)


# --- versions -------------------------------------------------------------------------------


def version_tuple(version: str) -> Optional[Tuple[int, int, int]]:
    """``"0.5.0"`` (or ``"v0.5.0"``) → ``(0, 5, 0)``; None for anything not x.y.z."""
    text = version[1:] if version.startswith("v") else version
    parts = text.split(".")
    if len(parts) != 3 or not all(is_decimal(p) for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def _edits(document: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
    top = document.get("containerEdits")
    if isinstance(top, dict):
        yield top
    for device in document.get("devices") or ():
        if isinstance(device, dict) and isinstance(device.get("containerEdits"), dict):
            yield device["containerEdits"]


def _dicts(value: Any) -> List[Dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def minimum_version(document: Dict[str, Any]) -> str:
    """The lowest ``cdiVersion`` that allows every field ``document`` uses (specs-go/version.go)."""
    edits = list(_edits(document))
    devices = _dicts(document.get("devices"))
    needs = [EARLIEST_VERSION]
    if any("type" in m for e in edits for m in _dicts(e.get("mounts"))):
        needs.append("0.4.0")
    if any(str(d.get("name", ""))[:1].isdigit() for d in devices) or any(
            n.get("hostPath") for e in edits for n in _dicts(e.get("deviceNodes"))):
        needs.append("0.5.0")
    kind = str(document.get("kind", ""))
    if document.get("annotations") or any(d.get("annotations") for d in devices) or "." in kind.partition("/")[2]:
        needs.append("0.6.0")
    if any(e.get("intelRdt") is not None or e.get("additionalGids") for e in edits):
        needs.append("0.7.0")
    rdt: List[Dict[str, Any]] = [e["intelRdt"] for e in edits if isinstance(e.get("intelRdt"), dict)]
    if any(e.get("netDevices") for e in edits) or any("schemata" in r or "enableMonitoring" in r for r in rdt):
        needs.append("1.1.0")
    return max(needs, key=lambda v: version_tuple(v) or (0, 0, 0))


# --- files ----------------------------------------------------------------------------------


def parse_spec(text: str, path: str) -> Dict[str, Any]:
    """The document in ``text`` (JSON for ``.json``, else YAML); ``CdiError`` naming ``path``."""
    try:
        if path.endswith(".json"):
            import json

            document = json.loads(text)
        else:
            import yaml

            document = yaml.safe_load(text)
    except (ValueError, ImportError) as exc:  # json.JSONDecodeError is a ValueError
        raise CdiError(f"{path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: "
                       f"{_first_line(str(exc))}") from None
    except Exception as exc:  # yaml.YAMLError and friends
        raise CdiError(f"{path}: not valid YAML: {_first_line(str(exc))}") from None
    if not isinstance(document, dict):
        raise CdiError(f"{path}: not a CDI spec: the document is not a mapping")
    return document


MAX_SPEC_BYTES = 16 << 20  # an 8-GPU spec with MIG devices is ~30 KiB


def read_spec(path: str, priority: int = 0) -> SpecFile:
    from nvcontainer.regularfile import read_regular

    try:  # never blocks (a FIFO in a spec dir), never reads more than a spec can be
        text = read_regular(path, MAX_SPEC_BYTES).decode("utf-8")
    except OSError as exc:
        raise CdiError(f"{path}: {(exc.strerror or str(exc)).lower()}") from None
    except UnicodeDecodeError:
        raise CdiError(f"{path}: not valid UTF-8") from None
    return SpecFile(path, parse_spec(text, path), priority)


def spec_paths(spec_dirs: Sequence[str]) -> List[Tuple[str, int]]:
    """``(file, priority)`` of every spec file in ``spec_dirs``, in name order per directory."""
    out: List[Tuple[str, int]] = []
    for priority, directory in enumerate(spec_dirs):
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            if name.endswith(SPEC_SUFFIXES) and os.path.isfile(path):
                out.append((path, priority))
    return out


def dump_spec(document: Dict[str, Any], fmt: str) -> str:
    """``document`` as ``yaml`` (the layout of NVIDIA's tools, ``nvcontainer.cdi.yamlemit``) or
    ``json`` text, key order kept."""
    if fmt == "json":
        import json

        return json.dumps(document, indent=2) + "\n"
    if fmt == "yaml":
        from nvcontainer.cdi.yamlemit import dump

        try:
            return dump(document)
        except TypeError as exc:
            raise CdiError(f"cannot write the spec as YAML: {exc}") from None
    raise CdiError(f"unsupported output format {fmt!r}: use yaml or json")


def write_spec(document: Dict[str, Any], path: str, fmt: Optional[str] = None) -> None:
    """Write ``document`` to ``path`` atomically, mode 0644; the format follows the extension."""
    if fmt is None:
        fmt = "json" if path.endswith(".json") else "yaml"
    from nvcontainer.atomicfile import write_atomic

    text = dump_spec(document, fmt)
    try:
        write_atomic(path, text, mode=0o644)
    except OSError as exc:
        raise CdiError(f"{path}: cannot write: {(exc.strerror or str(exc)).lower()}") from None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:1]) if lines else "unknown error"
