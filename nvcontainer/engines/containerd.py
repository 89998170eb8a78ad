"""containerd's config.toml (versions 1, 2 and 3): add a runc-v2 runtime running our shim.

Two ways, as nvidia-ctk 1.20: by default (``drop_in``) a drop-in file
``/etc/containerd/conf.d/99-nvidia.toml`` is generated and the main config gets
``imports = ["/etc/containerd/conf.d/*.toml"]`` (``add_import``, an in-place edit).  containerd
before 2.1 merges imported files plugin by plugin (a drop-in's CRI plugin table *replaces* the main
file's), so the drop-in carries the main file's whole CRI plugin table with the runtime added.
Version-1 files, and ``--drop-in-config=""``, are edited in place (``edit``).

The in-place edit is made with tomlkit, so comments, ordering and formatting of everything we do not touch
survive byte for byte; the new table goes after the runtimes already there, and comments or blank
lines that stood in front of the next table header still stand in front of it.
Version: no file, or one with no keys → 2; a file without ``version`` → 1.
As nvidia-ctk does, the new runtime is a copy of the first of (the default runtime unless it is an
``nvidia*`` one, ``runc``, ``crun``) that exists, else runc-v2 defaults; then ``options.BinaryName``
is set.  An entry that already says exactly that is left alone, so a second run changes nothing.
"""

from __future__ import annotations

import copy
import os

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Comment, Table, Whitespace

from nvcontainer.engines import dropin
from nvcontainer.engines.files import ConfigFileError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

DEFAULT_PATH = "/etc/containerd/config.toml"
CRI_PLUGINS = {1: "cri", 2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime"}
RUNTIME_TYPE = "io.containerd.runc.v2"


def _table(parent: Any, key: str, where: str) -> Any:
    if key not in parent:
        parent[key] = tomlkit.table()
    if not isinstance(parent[key], dict):
        raise ConfigFileError(f"{where}: '{key}' is not a table")
    return parent[key]


def version_of(doc: Any, path: str) -> int:
    if not doc:
        return 2
    value = doc.get("version", 1)
    if isinstance(value, bool) or value not in CRI_PLUGINS:
        raise ConfigFileError(f"{path}: unsupported containerd config version: {value}")
    return int(value)


def cri_tables(doc: Any, version: int, path: str) -> Tuple[Any, Any, Any]:
    """(the CRI plugin table, its ``containerd`` table, its ``runtimes`` table), made where missing."""
    plugins = _table(doc, "plugins", path)
    cri = _table(plugins, CRI_PLUGINS[version], path)
    containerd = _table(cri, "containerd", path)
    return cri, containerd, _table(containerd, "runtimes", path)


def template_names(default: Optional[str]) -> List[str]:
    """Runtimes whose settings the new one copies, first found wins (engine.GetLowLevelRuntimes)."""
    return dropin.template_names(default)


def _trailing_at(table: Any) -> int:
    """Where the comments and blank lines ending the table's body start: tomlkit keeps what
    precedes the next table header (a comment about *it*, say) in the previous table."""
    body = table.value.body
    i = len(body)
    while i > 0 and body[i - 1][0] is None and isinstance(body[i - 1][1], (Whitespace, Comment)):
        i -= 1
    return i


def _last_table(table: Any) -> Any:
    """The table printed last within ``table`` (itself when it has no sub-table at its end)."""
    body = table.value.body
    last = body[_trailing_at(table) - 1][1] if _trailing_at(table) else None
    return _last_table(last) if isinstance(last, Table) else table


def _move_trailing(source: Any, target: Any) -> None:
    """Move the comments and blank lines ending ``source`` to the end of ``target`` (printed
    right after it), so they stay in front of the table header that follows; leave one blank line."""
    at = _trailing_at(source)
    moved = source.value.body[at:]
    if not moved:
        return
    del source.value.body[at:]
    source.value.body.append((None, Whitespace("\n")))
    for _, item in moved:
        target.value.body.append((None, item))


def _strip_trailing(table: Any) -> None:
    """Drop the comments and blank lines that a copied table brought from the end of its template."""
    last = _last_table(table)
    del last.value.body[_trailing_at(last):]


def new_runtime(runtimes: Any, default: Optional[str], runtime_path: str) -> Any:
    for name in template_names(default):
        template = runtimes.get(name)
        if isinstance(template, dict):
            runtime = copy.deepcopy(template)
            _strip_trailing(runtime)
            break
    else:
        runtime = tomlkit.table()
        runtime["runtime_type"] = RUNTIME_TYPE
        runtime["runtime_root"] = ""
        runtime["runtime_engine"] = ""
        runtime["privileged_without_host_devices"] = False
    if not isinstance(runtime.get("options"), dict):
        runtime["options"] = tomlkit.table()
    runtime["options"]["BinaryName"] = runtime_path
    return runtime


def edit(old: Optional[str], *, path: str, name: str, runtime_path: str, set_as_default: bool,
         enable_cdi: bool = False) -> str:
    try:
        doc = tomlkit.parse(old or "")
    except TOMLKitError as exc:
        raise ConfigFileError(f"{path}: invalid TOML: {exc}") from None
    try:
        _add_runtime(doc, path=path, name=name, runtime_path=runtime_path, set_as_default=set_as_default,
                     enable_cdi=enable_cdi)
        return tomlkit.dumps(doc)
    except (TOMLKitError, ValueError, TypeError) as exc:  # e.g. a table we must extend is written inline
        raise ConfigFileError(f"{path}: cannot edit: {exc}") from None


def _add_runtime(doc: Any, *, path: str, name: str, runtime_path: str, set_as_default: bool,
                 enable_cdi: bool) -> None:
    version = version_of(doc, path)
    if not doc:
        doc["version"] = version
    cri, containerd, runtimes = cri_tables(doc, version, path)
    default = containerd.get("default_runtime_name")
    runtime = new_runtime(runtimes, str(default) if default is not None else None, runtime_path)
    existing = runtimes.get(name)
    if existing is None or _plain(existing) != _plain(runtime):
        indent = runtime.trivia.indent if runtime.trivia.indent else None  # the template's
        before = _last_table(runtimes) if existing is None and isinstance(runtimes, Table) else None
        runtimes[name] = runtime
        _indent_like(_raw(runtimes, name), indent)
        options = runtimes[name]["options"]
        _indent_like(_raw(options, "BinaryName"), _key_indent(options, skip="BinaryName"))
        if before is not None:
            _move_trailing(before, _last_table(runtimes[name]))
    if set_as_default and default != name:
        containerd["default_runtime_name"] = name
    if enable_cdi and cri.get("enable_cdi") is not True:
        cri["enable_cdi"] = True
        _indent_like(_raw(cri, "enable_cdi"), _key_indent(cri))


def _key_indent(table: Any, skip: str = "") -> Optional[str]:
    """The indent of the table's plain keys (but ``skip``), if it has any."""
    for key, item in table.value.body:
        if key is None or key.key == skip:
            continue
        if not isinstance(item, (Table, AoT)) and hasattr(item, "trivia"):
            return str(item.trivia.indent)
    return None


def _raw(table: Any, key: str) -> Any:
    """The tomlkit item itself (indexing a table gives plain ``bool``/``str`` for scalars)."""
    container: Any = getattr(table, "value", None)
    return container.item(key) if hasattr(container, "item") else table[key]


def _indent_like(item: Any, indent: Optional[str]) -> None:
    """Undo tomlkit's re-indentation of an item placed in an indented document."""
    if indent is not None and hasattr(item, "trivia"):
        item.trivia.indent = indent


def _plain(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def source_version(text: Optional[str], path: str) -> int:
    """The config version of ``text`` (no file or no keys: 2; no ``version``: 1)."""
    return version_of(dropin.load(text, path), path)


def import_pattern(drop_in_path: str) -> str:
    """What the main config imports: every ``.toml`` of the drop-in's directory (as nvidia-ctk)."""
    return os.path.join(os.path.dirname(drop_in_path), "*.toml")


def drop_in(source_text: Optional[str], *, source: str, name: str, runtime_path: str, set_as_default: bool,
            enable_cdi: bool = False) -> str:
    """The drop-in: ``version``, and the source's CRI plugin table with the runtime added.

    As nvidia-ctk's: the runtime copies the first of (default, runc, crun) found, gets
    ``runtime_type`` when the copy has none, and ``options.BinaryName``; ``default_runtime_name``
    names it with ``set_as_default`` and is dropped without it when it named it."""
    data = dropin.load(source_text, source)
    version = version_of(data, source)
    plugin = CRI_PLUGINS[version]
    cri = dropin.table(dropin.table(data, "plugins", source, "plugins"), plugin, source, f"plugins.{plugin}")
    containerd: Dict[str, Any] = dropin.table(cri, "containerd", source, f"plugins.{plugin}.containerd")
    runtimes = dropin.table(containerd, "runtimes", source, f"plugins.{plugin}.containerd.runtimes")
    default = containerd.get("default_runtime_name")
    runtime = dropin.template(runtimes, default)
    if runtime is None:
        runtime = {"runtime_type": RUNTIME_TYPE, "runtime_root": "", "runtime_engine": "",
                   "privileged_without_host_devices": False}
    if not runtime.get("runtime_type"):
        runtime["runtime_type"] = RUNTIME_TYPE
    options = runtime.get("options")
    runtime["options"] = dict(options) if isinstance(options, dict) else {}
    runtime["options"]["BinaryName"] = runtime_path
    runtimes[name] = runtime
    containerd["runtimes"] = runtimes
    if set_as_default:
        containerd["default_runtime_name"] = name
    elif default == name:
        del containerd["default_runtime_name"]
    cri["containerd"] = containerd
    if enable_cdi:
        cri["enable_cdi"] = True
    return dropin.render({"version": version, "plugins": {plugin: cri}}, source)


def add_import(old: Optional[str], *, path: str, pattern: str, version: int) -> str:
    """The main config with ``pattern`` in its top-level ``imports`` (edited in place; unchanged
    when it is there already).  An empty or missing file also gets ``version``."""
    try:
        doc = tomlkit.parse(old or "")
    except TOMLKitError as exc:
        raise ConfigFileError(f"{path}: invalid TOML: {exc}") from None
    imports = doc.get("imports")
    if imports is not None and (not isinstance(imports, list) or not all(isinstance(i, str) for i in imports)):
        raise ConfigFileError(f"{path}: 'imports' is not a list of strings")
    if imports is not None and pattern in imports:
        return old or ""
    if not doc:
        doc["version"] = version
    if imports is None:
        doc["imports"] = [pattern]
    else:
        imports.append(pattern)
    text = tomlkit.dumps(doc)
    return text if text.endswith("\n") else text + "\n"
