"""Checks of the container engines: which are installed, and which are configured to use us.

Engines are found by their binaries on ``PATH``; their configuration by their files (nothing
is imported from ``nvcontainer.engines``): docker's daemon.json must have a runtime whose path
is ``nvc-container-runtime`` (or NVIDIA's ``nvidia-container-runtime``), containerd's and
CRI-O's configuration (drop-ins included) must name one of them, and podman uses CDI specs.

``docker run --gpus`` needs more: dockerd registers its built-in "nvidia" device driver only if
``nvidia-container-runtime-hook`` is on *its own* PATH *when it starts* (moby daemon/nvidia_linux.go);
otherwise ``--gpus`` fails with ``could not select device driver "" with capabilities: [[gpu]]``.
``docker_gpus_check`` reads each running dockerd's PATH and start time from /proc (systemd's
default PATH when none runs) and looks the hook up there.  And CRI-O reads *every* file in
``crio.conf.d``: backups an earlier nvc-ctk left there are reported.
"""

from __future__ import annotations

import json
import os
import shutil

from nvcontainer.doctor.cdi import nvidia_spec_files, root_flag
from nvcontainer.doctor.check import Check, failed, noted, passed
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence, Tuple

RUNTIME_NAMES = ("nvc-container-runtime", "nvidia-container-runtime")
HOOK_NAME = "nvidia-container-runtime-hook"
SYSTEMD_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
GPUS_ERROR = "could not select device driver \"\" with capabilities: [[gpu]]"
STALE_SUFFIXES = (".bak", ".lock")
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
PODMAN_FIX = ("generate a CDI spec: `nvc-ctk cdi generate{root} --output=/etc/cdi/nvidia.yaml` (as `nvidia-ctk cdi "
              "generate`), then run `podman run --device nvidia.com/gpu=all ...`")
HOOK_FIX = ("make it with `nvc-ctk install-compat --prefix=DIR` for a DIR on that PATH (e.g. /usr/local/bin), "
            "then restart docker (`systemctl restart docker`): dockerd looks the hook up only when it starts")
RESTART_FIX = "restart docker (`systemctl restart docker`): dockerd looks the hook up only when it starts"
CRIO_STALE_FIX = ("run `nvc-ctk runtime configure --runtime=crio` again (it removes them) or delete them, "
                  "then restart crio")


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
    import glob

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
    """crio.conf and, as CRI-O reads them, every file under ``<crio.conf>.d`` in lexical order."""
    files = [config_path]
    for directory, subdirs, names in sorted(os.walk(config_path + ".d")):
        subdirs.sort()
        files += [os.path.join(directory, n) for n in sorted(names)]
    return files


def crio_stale_files(config_path: str) -> List[str]:
    """Backups and lock files in the drop-in directory (CRI-O reads them as configuration too)."""
    return [f for f in crio_files(config_path)[1:] if f.endswith(STALE_SUFFIXES)]


def names_our_runtime(files: Sequence[str]) -> Optional[str]:
    """The first file that mentions one of our runtime binaries."""
    for path, text in _read_texts(files):
        if any(name in text for name in RUNTIME_NAMES):
            return path
    return None


def engine_check(engine: str, binary: Optional[str], files: EngineFiles, root: str = "/") -> Check:
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
        stale = crio_stale_files(config) if engine == "crio" else []
        if found and stale:
            return failed(name, f"crio ({binary}) reads {', '.join(stale)} too (every file in {config}.d is "
                                "configuration, in name order): a stale copy can override the runtime", CRIO_STALE_FIX)
        if found:
            return passed(name, f"{engine} ({binary}) is configured: {found} names our runtime")
        why = "does not exist" if not os.path.exists(config) else f"(and its drop-ins) name no {RUNTIME_NAMES[0]}"
        return failed(name, f"{engine} ({binary}) is not configured for GPUs: {config} {why}",
                      CONTAINERD_FIX if engine == "containerd" else CRIO_FIX)
    specs = nvidia_spec_files(files.cdi_spec_dirs)
    if specs:
        return passed(name, f"podman ({binary}) can use CDI: {', '.join(specs)}")
    return failed(name, f"podman ({binary}) has no NVIDIA CDI spec in {', '.join(files.cdi_spec_dirs)}",
                  PODMAN_FIX.format(root=root_flag(root)))


class Dockerd(Record):
    """A running dockerd as /proc shows it."""

    pid: int
    path_env: Optional[str]  # its PATH; None when unreadable
    started: float  # seconds since the epoch


def _proc(proc_root: str, *parts: str) -> str:
    return os.path.join(proc_root, "proc", *parts)


def running_dockerds(proc_root: str = "/") -> List[Dockerd]:
    try:
        pids = sorted(int(p) for p in os.listdir(_proc(proc_root)) if p.isdigit())
        with open(_proc(proc_root, "stat"), encoding="ascii") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return []
    tick = os.sysconf("SC_CLK_TCK")
    found = []
    for pid in pids:
        try:
            with open(_proc(proc_root, str(pid), "comm"), encoding="utf-8", errors="replace") as f:
                if f.read().strip() != "dockerd":
                    continue
            with open(_proc(proc_root, str(pid), "stat"), encoding="utf-8", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            started = boot + int(fields[19]) / tick
        except (OSError, IndexError, ValueError):
            continue
        found.append(Dockerd(pid, _environ_path(proc_root, pid), started))
    return found


def _environ_path(proc_root: str, pid: int) -> Optional[str]:
    try:
        with open(_proc(proc_root, str(pid), "environ"), "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return None
    for entry in entries:
        if entry.startswith(b"PATH="):
            return entry[5:].decode("utf-8", errors="replace")
    return ""  # no PATH at all: dockerd's exec.LookPath finds nothing


def docker_gpus_check(dockerds: Sequence[Dockerd]) -> Check:
    """docker --gpus: the hook on each dockerd's PATH, there before it started (systemd's PATH when none runs)."""
    name = "docker-gpus"
    if not dockerds:
        hook = shutil.which(HOOK_NAME, path=SYSTEMD_DEFAULT_PATH)
        if hook is None:
            return failed(name, f"docker run --gpus will fail ('{GPUS_ERROR}'): no {HOOK_NAME} on the PATH systemd "
                                f"gives dockerd ({SYSTEMD_DEFAULT_PATH}); dockerd is not running", HOOK_FIX)
        return passed(name, f"docker run --gpus can work: {hook} is on the PATH systemd gives dockerd "
                            "(dockerd is not running)")
    for dockerd in dockerds:
        path = dockerd.path_env if dockerd.path_env is not None else SYSTEMD_DEFAULT_PATH
        hook = shutil.which(HOOK_NAME, path=path)
        if hook is None:
            return failed(name, f"docker run --gpus fails ('{GPUS_ERROR}'): no {HOOK_NAME} on the PATH of dockerd "
                                f"(pid {dockerd.pid}): {path}", HOOK_FIX)
        try:
            made = os.stat(hook).st_ctime
        except OSError:
            made = 0.0
        if made > dockerd.started + 1:
            return failed(name, f"docker run --gpus fails ('{GPUS_ERROR}') until dockerd (pid {dockerd.pid}) restarts: "
                                f"it started before {hook} was made", RESTART_FIX)
    hooks = sorted({str(shutil.which(HOOK_NAME, path=SYSTEMD_DEFAULT_PATH if d.path_env is None else d.path_env))
                    for d in dockerds})
    return passed(name, f"docker run --gpus can work: dockerd finds {', '.join(hooks)}")


def engine_checks(files: EngineFiles, path_env: Optional[str] = None, *, root: str = "/",
                  proc_root: str = "/") -> List[Check]:
    """7. One check per engine: not installed (a note), configured, or installed but not configured;
    with docker installed, whether ``docker run --gpus`` finds the hook."""
    path = path_env if path_env is not None else os.environ.get("PATH", os.defpath)
    checks = []
    for engine, binaries in ENGINE_BINARIES:
        binary = installed(binaries, path)
        checks.append(engine_check(engine, binary, files, root))
        if engine == "docker" and binary is not None:
            checks.append(docker_gpus_check(running_dockerds(proc_root)))
    return checks
