"""``runtime configure`` as one call: which engine, which files, which edits, then the safe writes.

``configure(RuntimeRequest(...))`` returns a ``Configured``: the ``files.Update`` of every file it
wrote (or, with ``dry_run``, would write).  The flags are nvidia-ctk 1.20's:

* ``config_path`` (``--config``) is the engine's main config, the *source* of the current settings
  (``config_source="command"``: what ``containerd config dump`` / ``crio status config`` print);
* ``drop_in_path`` (``--drop-in-config``) is where containerd and CRI-O get the runtime: by default
  ``/etc/containerd/conf.d/99-nvidia.toml`` (the main config then imports ``conf.d/*.toml``) and
  ``/etc/crio/crio.conf.d/99-nvidia.toml``.  ``""`` edits the main config in place instead, as
  does a containerd config of version 1.  docker has no drop-ins.
"""

from __future__ import annotations

import functools
import os
import subprocess
from types import ModuleType

from nvcontainer.engines import containerd, crio, docker, files
from nvcontainer.errors import InputError
from nvcontainer.records import Record, replace

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

ENGINES: Dict[str, ModuleType] = {"docker": docker, "containerd": containerd, "crio": crio}
DROP_INS: Dict[str, str] = {"containerd": "/etc/containerd/conf.d/99-nvidia.toml",
                            "crio": crio.DEFAULT_DROP_IN}
DUMP_COMMANDS: Dict[str, Tuple[Tuple[str, ...], ...]] = {
    "containerd": (("config", "dump"),),
    "crio": (("status", "config"),),  # then `crio-status config`, as nvidia-ctk
}


class RuntimeRequest(Record):
    engine: str
    runtime_path: str
    config_path: Optional[str] = None  # None: the engine's default main config
    drop_in_path: Optional[str] = None  # None: the engine's default drop-in; "": none (edit config_path)
    name: str = "nvidia"
    set_as_default: bool = False
    enable_cdi: bool = False
    config_source: str = "file"  # or "command" (containerd, crio)
    executable_path: Optional[str] = None  # the engine's binary for config_source="command"
    dry_run: bool = False

    @property
    def path(self) -> str:
        """The main config."""
        return self.config_path or str(ENGINES[self.engine].DEFAULT_PATH)

    @property
    def drop_in(self) -> Optional[str]:
        """The drop-in to write, or None (edit the main config)."""
        if self.drop_in_path is None:
            return DROP_INS.get(self.engine)
        return self.drop_in_path or None


class Configured(Record):
    """What ``configure`` did: the files in the order written, and why a drop-in was not used."""

    updates: Tuple[files.Update, ...]
    notes: Tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return any(u.changed or u.removed for u in self.updates)


def _check(req: RuntimeRequest) -> None:
    if req.engine not in ENGINES:
        raise InputError(f"unsupported runtime: {req.engine} (docker, containerd or crio)")
    if not req.name.strip():
        raise InputError(f"invalid runtime name: {req.name!r}")
    if req.engine != "docker" and not os.path.isabs(req.runtime_path):
        raise InputError(f"the runtime path must be absolute for {req.engine}: {req.runtime_path}")
    if req.enable_cdi and req.engine == "crio":
        raise InputError("--cdi.enabled is not supported for crio (CRI-O always has CDI)")
    if req.config_source not in ("file", "command"):
        raise InputError(f"unsupported config source: {req.config_source} (file or command)")
    if req.config_source == "command" and req.engine == "docker":
        raise InputError("--config-source=command is only supported for containerd and crio, not docker")
    drop_in = req.drop_in
    if drop_in is None:
        return
    if req.engine == "docker":
        raise InputError("runtime docker does not support drop-in configs (--drop-in-config)")
    if not os.path.isabs(drop_in):
        raise InputError(f"the drop-in-config path {drop_in!r} is not an absolute path")
    if req.engine == "containerd":
        if not drop_in.endswith(".toml"):
            raise InputError(f"the drop-in-config {drop_in} must end in .toml: containerd imports "
                             f"{containerd.import_pattern(drop_in)}")
        main = os.path.abspath(req.path)
        if os.path.dirname(main) == os.path.dirname(drop_in) and main.endswith(".toml"):
            raise InputError(f"the drop-in-config {drop_in} is beside the main config {main}: containerd would "
                             f"import {containerd.import_pattern(drop_in)}, the main config included; give the "
                             "drop-in a directory of its own")
    if os.path.abspath(drop_in) == os.path.abspath(req.path):
        raise InputError(f"--drop-in-config and --config name the same file ({drop_in}); "
                         "use --drop-in-config='' to edit it in place")


def _run(argv: List[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise InputError(f"cannot run {argv[0]}: {os.strerror(exc.errno or 0).lower()}") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"{' '.join(argv)} did not answer within 60 s") from None


def _dump(engine: str, executable: Optional[str]) -> str:
    """The engine's own view of its configuration (``--config-source=command``)."""
    binary = executable or engine
    argv = [binary, *DUMP_COMMANDS[engine][0]]
    out = _run(argv)
    if out.returncode != 0 and engine == "crio" and executable is None:
        fallback = _run(["crio-status", "config"])
        if fallback.returncode == 0:
            return fallback.stdout
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"{' '.join(argv)} failed: {last}")
    return out.stdout


def _source(req: RuntimeRequest) -> Tuple[Optional[str], str]:
    """(the current settings, what they were read from)."""
    if req.config_source == "command":
        return _dump(req.engine, req.executable_path), f"`{req.executable_path or req.engine} " \
            f"{' '.join(DUMP_COMMANDS[req.engine][0])}`"
    return files.read(req.path), req.path


def _in_place(req: RuntimeRequest, source: Optional[str]) -> files.Edit:
    kwargs = dict(path=req.path, name=req.name, runtime_path=req.runtime_path, set_as_default=req.set_as_default)
    if req.engine != "crio":
        kwargs["enable_cdi"] = req.enable_cdi
    edit: files.Edit = functools.partial(ENGINES[req.engine].edit, **kwargs)
    if req.config_source == "command":
        def from_source(_old: Optional[str]) -> str:
            return edit(source)

        return from_source
    return edit


def configure(req: RuntimeRequest) -> Configured:
    _check(req)
    source, source_name = _source(req)
    drop_in = req.drop_in
    notes: List[str] = []
    if drop_in is not None and req.engine == "containerd":
        main_text = source if req.config_source == "file" else files.read(req.path)
        if main_text is not None and containerd.source_version(main_text, req.path) == 1:
            notes.append(f"{req.path} is a version 1 containerd config: edited in place (no drop-in)")
            drop_in = None
    if drop_in is None:
        edit = _in_place(req, source)
        if req.dry_run:
            return Configured((files.preview(req.path, edit),), tuple(notes))
        return Configured((files.update(req.path, edit),), tuple(notes))
    if req.engine == "crio":
        text = crio.drop_in(source, source=source_name, name=req.name, runtime_path=req.runtime_path,
                            set_as_default=req.set_as_default)
    else:
        text = containerd.drop_in(source, source=source_name, name=req.name, runtime_path=req.runtime_path,
                                  set_as_default=req.set_as_default, enable_cdi=req.enable_cdi)

    def generated(_old: Optional[str]) -> str:
        return text

    if req.engine == "crio":
        if req.dry_run:
            return Configured((files.preview(drop_in, generated, drop_in=True),))
        return Configured((files.update(drop_in, generated, drop_in=True),))
    version = containerd.source_version(source, source_name)
    add_import = functools.partial(containerd.add_import, path=req.path,
                                   pattern=containerd.import_pattern(os.path.abspath(drop_in)), version=version)
    if req.dry_run:
        return Configured((files.preview(drop_in, generated, drop_in=True), files.preview(req.path, add_import)))
    return Configured(_two_files(drop_in, generated, req.path, add_import))


def _two_files(drop_in: str, generated: files.Edit, main: str, add_import: files.Edit) -> Tuple[files.Update, ...]:
    """The drop-in, then the main config's import, under the drop-in directory's lock; when the
    second write fails the first is undone, so no half-configured engine is left."""
    created = files.make_dirs(os.path.dirname(os.path.realpath(drop_in)) or ".")
    with files.locked(os.path.realpath(drop_in), drop_in=True):
        first = files.update(drop_in, generated, lock=False, drop_in=True)
        first = replace(first, created=tuple(created))
        try:
            second = files.update(main, add_import)
        except BaseException:
            files.restore(first, drop_in=True)
            raise
    return first, second
