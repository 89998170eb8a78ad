"""``runtime configure`` as one call: which engine, which file, which edit, then the safe write.

``configure(RuntimeRequest(...))`` returns the ``files.Update`` it made (or, with ``dry_run``,
would make).  The source of the current settings is the file itself, or for containerd with
``config_source="command"`` the output of ``containerd config dump`` (as nvidia-ctk's
``--config-source=command``): the whole effective configuration is then written to the file.
"""

from __future__ import annotations

import functools
import os
import subprocess
from types import ModuleType

from nvcontainer.engines import containerd, crio, docker, files
from nvcontainer.errors import InputError
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Optional

ENGINES: Dict[str, ModuleType] = {"docker": docker, "containerd": containerd, "crio": crio}


class RuntimeRequest(Record):
    engine: str
    runtime_path: str
    config_path: Optional[str] = None  # None: the engine's default
    name: str = "nvidia"
    set_as_default: bool = False
    enable_cdi: bool = False
    config_source: str = "file"  # or "command" (containerd)
    executable_path: Optional[str] = None  # containerd, for config_source="command"
    dry_run: bool = False

    @property
    def path(self) -> str:
        return self.config_path or str(ENGINES[self.engine].DEFAULT_PATH)


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
    if req.config_source == "command" and req.engine != "containerd":
        raise InputError(f"--config-source=command is only supported for containerd, not {req.engine}")


def _dump(executable: str) -> str:
    try:
        out = subprocess.run([executable, "config", "dump"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise InputError(f"cannot run {executable}: {os.strerror(exc.errno or 0).lower()}") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"{executable} config dump failed: {last}")
    return out.stdout


def _from_source(edit: files.Edit, source: str) -> files.Edit:
    def from_source(_old: Optional[str]) -> str:
        return edit(source)

    return from_source


def configure(req: RuntimeRequest) -> files.Update:
    _check(req)
    kwargs = dict(path=req.path, name=req.name, runtime_path=req.runtime_path, set_as_default=req.set_as_default)
    if req.engine != "crio":
        kwargs["enable_cdi"] = req.enable_cdi
    edit: files.Edit = functools.partial(ENGINES[req.engine].edit, **kwargs)
    if req.config_source == "command":
        edit = _from_source(edit, _dump(req.executable_path or "containerd"))
    if req.dry_run:
        return files.preview(req.path, edit)
    return files.update(req.path, edit)
