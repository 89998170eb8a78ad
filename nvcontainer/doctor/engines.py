"""Checks of the container engines: which are installed, and which are configured to use us.

Engines are found by their binaries on ``PATH``; their configuration by their files (nothing
is imported from ``nvcontainer.engines``): docker's daemon.json must have a runtime whose path
is ``nvc-container-runtime`` (or NVIDIA's ``nvidia-container-runtime``), containerd's and
CRI-O's configuration (drop-ins included) must name one of them, and podman uses CDI specs.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

from nvcontainer.doctor.cdi import nvidia_spec_files
from nvcontainer.doctor.check import Check, failed, noted, passed
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence, Tuple

RUNTIME_NAMES = ("nvc-container-runtime", "nvidia-container-runtime")
DEFAULT_DOCKER_CONFIG = "/etc/docker/daemon.json"
DEFAULT_CONTAINERD_CONFIG = "/etc/containerd/config.toml"
DEFAULT_CRIO_CONFIG = "/etc/crio/crio.conf"

ENGINE_BINARIES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("docker", ("dockerd", "docker")),
    ("containerd", ("containerd", "ctr")),
    ("podman", ("podman",)),
    ("crio", ("crio",)),
)


def _configure_fix(runtime: str, then: str) -> str:
    return (f"run `nvc-ctk runtime configure --runtime={runtime}` (as `nvidia-ctk runtime configure "
            f"--runtime={runtime}`), then {then}")


DOCKER_FIX = _configure_fix("docker", "restart docker (`systemctl restart docker`)")
CONTAINERD_FIX = _configure_fix("containerd", "restart containerd")
CRIO_FIX = _configure_fix("crio", "restart crio")
PODMAN_FIX = ("generate a CDI spec: `nvc-ctk cdi generate --output=/etc/cdi/nvidia.yaml` (as `nvidia-ctk cdi "
              "generate`), then run `podman run --device nvidia.com/gpu=all ...`")


class EngineFiles(Record):
    """Where the engines' configuration is read from."""

    docker_config: str = DEFAULT_DOCKER_CONFIG
    containerd_config: str = DEFAULT_CONTAINERD_CONFIG
    crio_config: str = DEFAULT_CRIO_CONFIG
    cdi_spec_dirs: Tuple[str, ...] = ("/etc/cdi", "/var/run/cdi")


def is_our_runtime(path: str) -> bool:
    base = os.path.basename(path.strip())
    return any(base == n or base.startswith(n + ".") for n in RUNTIME_NAMES)


def installed(binaries: Sequence[str], path_env: Optional[str]) -> Optional[str]:
    """The first of ``binaries`` found on ``path_env`` (None: the engine is not installed)."""
    for binary in binaries:
        found = shutil.which(binary, path=path_env)
        if found:
            return found
    return None


def docker_runtime(config_path: str) -> Tuple[Optional[str], str]:
    """(``name -> path`` of our runtime in daemon.json, or None; why not, when None)."""
    try:
        with open(config_path, encoding="utf-8") as f:
            document: Any = json.load(f)
    except FileNotFoundError:
        return None, f"{config_path} does not exist"
    except (OSError, ValueError) as exc:
        return None, f"{config_path} cannot be read: {str(exc).splitlines()[0]}"
    runtimes = document.get("runtimes") if isinstance(document, dict) else None
    for name, entry in (runtimes or {}).items() if isinstance(runtimes, dict) else ():
        path = entry.get("path") if isinstance(entry, dict) else None
        if isinstance(path, str) and is_our_runtime(path):
            default = " (the default runtime)" if document.get("default-runtime") == name else ""
            return f"runtime '{name}' -> {path}{default}", ""
    return None, f"{config_path} has no runtime whose path is {' or '.join(RUNTIME_NAMES)}"


def _read_texts(paths: Sequence[str]) -> List[Tuple[str, str]]:
    out = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                out.append((path, f.read()))
        except OSError:
            continue
    return out


def containerd_files(config_path: str) -> List[str]:
    """config.toml and the files its top-level ``imports`` globs name (relative to its directory)."""
    files = [config_path]
    try:
        import tomllib

        with open(config_path, "rb") as f:
            document = tomllib.load(f)
    except (OSError, ValueError):
        return files
    imports = document.get("imports")
    for pattern in imports if isinstance(imports, list) else ():
        if isinstance(pattern, str):
            full = pattern if os.path.isabs(pattern) else os.path.join(os.path.dirname(config_path), pattern)
            files += sorted(glob.glob(full))
    return files


def crio_files(config_path: str) -> List[str]:
    """crio.conf and its drop-ins in ``<crio.conf>.d/*.conf``."""
    return [config_path] + sorted(glob.glob(os.path.join(config_path + ".d", "*.conf")))


def names_our_runtime(files: Sequence[str]) -> Optional[str]:
    """The first file that mentions one of our runtime binaries."""
    for path, text in _read_texts(files):
        if any(name in text for name in RUNTIME_NAMES):
            return path
    return None


def engine_check(engine: str, binary: Optional[str], files: EngineFiles) -> Check:
    name = f"engine-{engine}"
    if binary is None:
        return noted(name, f"{engine}: not installed")
    if engine == "docker":
        runtime, why = docker_runtime(files.docker_config)
        if runtime:
            return passed(name, f"docker ({binary}) is configured: {runtime} in {files.docker_config}")
        return failed(name, f"docker ({binary}) is not configured for GPUs: {why}", DOCKER_FIX)
    if engine in ("containerd", "crio"):
        config = files.containerd_config if engine == "containerd" else files.crio_config
        candidates = containerd_files(config) if engine == "containerd" else crio_files(config)
        found = names_our_runtime(candidates)
        if found:
            return passed(name, f"{engine} ({binary}) is configured: {found} names our runtime")
        why = "does not exist" if not os.path.exists(config) else f"(and its drop-ins) name no {RUNTIME_NAMES[0]}"
        return failed(name, f"{engine} ({binary}) is not configured for GPUs: {config} {why}",
                      CONTAINERD_FIX if engine == "containerd" else CRIO_FIX)
    specs = nvidia_spec_files(files.cdi_spec_dirs)
    if specs:
        return passed(name, f"podman ({binary}) can use CDI: {', '.join(specs)}")
    return failed(name, f"podman ({binary}) has no NVIDIA CDI spec in {', '.join(files.cdi_spec_dirs)}",
                  PODMAN_FIX)


def engine_checks(files: EngineFiles, path_env: Optional[str] = None) -> List[Check]:
    """7. One check per engine: not installed (a note), configured, or installed but not configured."""
    path = path_env if path_env is not None else os.environ.get("PATH", os.defpath)
    return [engine_check(engine, installed(binaries, path), files) for engine, binaries in ENGINE_BINARIES]
