"""Checks of the CDI specs on this machine: readable, and made for the driver that is installed.

A spec is *stale* when it names driver files of another driver version (``libcuda.so.535.104.05``
after an upgrade to 550, ``/lib/firmware/nvidia/535.104.05/``, ``--host-driver-version=...``)
or files that no longer exist; containers then fail to start or get mismatched libraries.
Only specs of NVIDIA kinds (vendor containing ``nvidia``) are judged; others are not ours.
"""

from __future__ import annotations

import json
import os
import re

from nvcontainer.discovery import components as c
from nvcontainer.doctor.check import Check, failed, noted, passed
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

DEFAULT_SPEC_DIRS: Tuple[str, ...] = ("/etc/cdi", "/var/run/cdi")
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
_SHOWN = 3
_DRIVER_PREFIXES = tuple(
    prefix for component, prefixes in c.LIBRARY_COMPONENTS if component != "graphics_compat" for prefix in prefixes)
# Driver versions are <major>.<minor>[.<patch>] with a three-digit major (390.157, 550.54.15).
_LIB_VERSION = re.compile(r"\.so\.([1-9]\d{2,}\.\d+(?:\.\d+)?)$")
_FIRMWARE_VERSION = re.compile(r"/firmware/nvidia/([1-9]\d{2,}\.\d+(?:\.\d+)?)/")
_HOOK_VERSION = re.compile(r"^--host-driver-version=(\S+)$")

REGENERATE_FIX = ("regenerate it for the installed driver: `nvc-ctk cdi generate{root} --output={path}` (as "
                  "`nvidia-ctk cdi generate`), and after every driver upgrade: the nvidia-cdi-refresh units "
                  "`nvc-ctk install-units` installs do that")


def root_flag(root: str) -> str:
    """`` --driver-root=DIR`` for a driver elsewhere than ``/`` (the flag `nvc-ctk cdi generate` takes)."""
    return "" if os.path.abspath(root) == "/" else f" --driver-root={root}"


class CdiSpec(Record):
    """One spec file as read: its kind, device names and the host files it refers to."""

    path: str
    kind: str
    devices: Tuple[str, ...]
    host_paths: Tuple[str, ...]
    hook_args: Tuple[str, ...]

    @property
    def is_nvidia(self) -> bool:
        return "nvidia" in self.kind.split("/", 1)[0].lower()


def spec_files(spec_dirs: Sequence[str]) -> List[str]:
    """The spec files in ``spec_dirs`` (``.yaml``, ``.yml``, ``.json``), in name order per directory."""
    files: List[str] = []
    for directory in spec_dirs:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        files += [os.path.join(directory, n) for n in names
                  if n.endswith(SPEC_SUFFIXES) and os.path.isfile(os.path.join(directory, n))]
    return files


def _edits(document: Dict[str, Any]) -> Iterable[Dict[str, Any]]:
    top = document.get("containerEdits")
    if isinstance(top, dict):
        yield top
    for device in document.get("devices") or ():
        if isinstance(device, dict) and isinstance(device.get("containerEdits"), dict):
            yield device["containerEdits"]


def _list(value: Any) -> List[Any]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def read_spec(path: str) -> CdiSpec:
    """Parse a spec (YAML, or JSON for ``.json``); ``ValueError`` when it is not a CDI spec."""
    import yaml

    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        document = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"not valid {'JSON' if path.endswith('.json') else 'YAML'}: "
                         f"{str(exc).splitlines()[0]}") from None
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        raise ValueError("not a CDI spec (no kind)")
    host_paths: List[str] = []
    hook_args: List[str] = []
    for edits in _edits(document):
        for node in _list(edits.get("deviceNodes")):
            host = node.get("hostPath") or node.get("path")
            if isinstance(host, str):
                host_paths.append(host)
        for mount in _list(edits.get("mounts")):
            if isinstance(mount.get("hostPath"), str):
                host_paths.append(mount["hostPath"])
        for hook in _list(edits.get("hooks")):
            if isinstance(hook.get("path"), str):
                host_paths.append(hook["path"])
            hook_args += [a for a in hook.get("args") or () if isinstance(a, str)]
    devices = tuple(str(d.get("name")) for d in _list(document.get("devices")))
    return CdiSpec(path=path, kind=document["kind"], devices=devices, host_paths=tuple(dict.fromkeys(host_paths)),
                   hook_args=tuple(hook_args))


def driver_versions_named(spec: CdiSpec) -> Tuple[str, ...]:
    """The driver versions that the spec's library, firmware and hook arguments are for."""
    found: List[str] = []
    for path in spec.host_paths:
        base = os.path.basename(path)
        match = _LIB_VERSION.search(base)
        if match and base.startswith(_DRIVER_PREFIXES):
            found.append(match.group(1))
        match = _FIRMWARE_VERSION.search(path)
        if match:
            found.append(match.group(1))
    for arg in spec.hook_args:
        match = _HOOK_VERSION.match(arg)
        if match:
            found.append(match.group(1))
    return tuple(dict.fromkeys(found))


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown if len(items) <= _SHOWN else f"{shown} and {len(items) - _SHOWN} more"


def spec_check(spec: CdiSpec, driver_version: Optional[str], root: str = "/") -> Check:
    """Whether one NVIDIA spec is fresh: its driver versions match and its files exist."""
    name = "cdi-spec"
    fix = REGENERATE_FIX.format(path=spec.path, root=root_flag(root))
    others = [v for v in driver_versions_named(spec) if v != driver_version]
    if driver_version and others:
        return failed(name, f"CDI spec {spec.path} is stale: made for driver {', '.join(others)}, "
                            f"installed driver is {driver_version}", fix)
    missing = [p for p in spec.host_paths if not os.path.lexists(p)]
    if missing:
        return failed(name, f"CDI spec {spec.path} is stale: {len(missing)} file(s) it names do not exist "
                            f"({_names(missing)})", fix)
    against = f"driver {driver_version}" if driver_version else "the files on this machine"
    return passed(name, f"CDI spec {spec.path} ({spec.kind}, {len(spec.devices)} devices) matches {against}")


def cdi_checks(spec_dirs: Sequence[str], driver_version: Optional[str], root: str = "/") -> List[Check]:
    """8. One check per NVIDIA spec file; one note when there is none."""
    checks: List[Check] = []
    for path in spec_files(spec_dirs):
        try:
            spec = read_spec(path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            checks.append(failed("cdi-spec", f"CDI spec {path} cannot be read: {reason}",
                                 "fix or remove it (or regenerate it with `nvc-ctk cdi generate`); CDI consumers "
                                 "report it as a spec error"))
            continue
        if spec.is_nvidia:
            checks.append(spec_check(spec, driver_version, root))
    if not checks:
        checks.append(noted("cdi-spec", f"no NVIDIA CDI specs in {', '.join(spec_dirs) or '(no directories)'} "
                                        "(needed for CDI mode, podman, and `--device nvidia.com/gpu=...`)"))
    return checks


def nvidia_spec_files(spec_dirs: Sequence[str]) -> List[str]:
    """The readable NVIDIA spec files (for the engine checks: podman uses CDI)."""
    out = []
    for path in spec_files(spec_dirs):
        try:
            if read_spec(path).is_nvidia:
                out.append(path)
        except (OSError, UnicodeDecodeError, ValueError):
            continue
    return out
