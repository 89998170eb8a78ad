"""The driver snapshot: discovery stored under ``/run`` and reused while nothing it read changed.

Discovery (NVML, the ld cache, ELF checks, device nodes, ``/proc/driver/nvidia``) costs tens of
milliseconds here and more on a real host, where NVML without persistence mode takes a while to
come up.  ``discover_cached`` does it once, stores the ``Driver`` with a fingerprint of every input
it was built from (``fingerprint``), and on the next call compares the fingerprint (a hundred
``stat`` calls and a few small reads) instead:

* the snapshot's key: the roots, the ld cache, the options, ``PATH`` and ``CUDA_MPS_PIPE_DIRECTORY``,
  the architecture, our version and the field names of every Driver record;
* the inputs: the ld cache, every library the cache offers for a component (taken or not) and its
  directory, every binary, the ``PATH`` directories and the driver's ``bin``, the IPC paths, the
  firmware directory and files, ``/dev``, ``/dev/nvidia-caps``, every device node, ``/proc/devices``,
  the driver's version file, the ``gpus`` and ``capabilities`` trees, ``mig-minors``.

A snapshot whose fingerprint differs in any input is rebuilt; a stale one is never used.  What the
fingerprint cannot see is not taken from a snapshot: free memory and utilisation are as of the last
build, so ``auto:N`` allocation (which picks by free memory) and ``nvc-cli info --json`` discover
afresh.  Snapshots are root's (``store``); ``NVC_SNAPSHOT_DIR=off`` turns them off.
"""

from __future__ import annotations

import os
import time

from nvcontainer.snapshot import fingerprint, store

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from nvcontainer.discovery import DriverOptions
    from nvcontainer.driver import Driver

FORMAT = 1


def _record_fields() -> List[List[str]]:
    from nvcontainer import driver as d

    return [list(cls._fields) for cls in (d.Driver, d.Gpu, d.MigDevice, d.DeviceNode, d.Library, d.Binary,
                                          d.Ipc, d.Firmware)]


def snapshot_key(root: str, ldcache: Optional[str], dev_root: Optional[str], options: Optional[DriverOptions]) -> Any:
    """What a snapshot is for (see the module text)."""
    import nvcontainer
    from nvcontainer.records import asdict

    return {
        "format": FORMAT,
        "version": nvcontainer.__version__,
        "root": os.path.abspath(root),
        "ldcache": ldcache,
        "dev_root": os.path.abspath(dev_root) if dev_root else None,
        "options": asdict(options) if options is not None else None,
        "path": os.environ.get("PATH"),
        "mps_pipe_dir": os.environ.get("CUDA_MPS_PIPE_DIRECTORY"),
        "machine": os.uname().machine,
        "fields": _record_fields(),
    }


def discover_cached(root: str = "/", ldcache: Optional[str] = None, *, dev_root: Optional[str] = None,
                    options: Optional[DriverOptions] = None) -> Driver:
    """``nvcontainer.discover(...)``, from the snapshot when it is still exact (see the module text)."""
    key = snapshot_key(root, ldcache, dev_root, options)
    name = store.name_for("driver", key)
    document = store.read(name)
    if document is not None:
        driver = _valid(document, key)
        if driver is not None:
            return driver
    return _build(key, name, root, ldcache, dev_root, options)


def state(root: str = "/", ldcache: Optional[str] = None, *, dev_root: Optional[str] = None,
          options: Optional[DriverOptions] = None) -> str:
    """``"fresh"`` (a stored snapshot matches every input now), ``"stale"`` (one is stored but an
    input changed, or it is unreadable) or ``"absent"`` (none, or snapshots are off)."""
    key = snapshot_key(root, ldcache, dev_root, options)
    document = store.read(store.name_for("driver", key))
    if document is None:
        return "absent"
    return "fresh" if _valid(document, key) is not None else "stale"


def _valid(document: Dict[str, Any], key: Any) -> Optional[Driver]:
    if document.get("key") != key:
        return None
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or fingerprint.take(inputs) != document.get("values"):
        return None
    from nvcontainer.snapshot.codec import from_plain

    try:
        return from_plain(document["driver"])
    except (KeyError, TypeError, ValueError):
        return None


def _build(key: Any, name: str, root: str, ldcache: Optional[str], dev_root: Optional[str],
           options: Optional[DriverOptions]) -> Driver:
    from nvcontainer.discovery import discover

    procfs = _procfs_inputs(os.path.abspath(dev_root) if dev_root else os.path.abspath(root))
    before = fingerprint.take(procfs)
    started = time.time_ns()
    driver = discover(root, ldcache, dev_root=dev_root, options=options)
    inputs = procfs + _file_inputs(driver, ldcache, options)
    values = fingerprint.take(inputs)
    if values[:len(procfs)] != before or fingerprint.racy(inputs, values, started):
        return driver  # something changed while we looked: good for this run, not for the next
    from nvcontainer.snapshot.codec import to_plain

    store.write(name, {"key": key, "inputs": inputs, "values": values, "driver": to_plain(driver)})
    return driver


def _procfs_inputs(dev_root: str) -> List[List[str]]:
    from nvcontainer.discovery import components as c

    def at(path: str) -> str:
        return os.path.join(dev_root, path.lstrip("/"))

    return [["r", at(c.PROC_DEVICES)], ["r", at(c.PROC_DRIVER + "/version")], ["t", at(c.PROC_DRIVER + "/gpus")],
            ["t", at(c.PROC_DRIVER + "/capabilities")], ["l", at(c.MIG_MINORS)], ["s", at("/dev")],
            ["s", at(c.NVIDIA_CAPS_DIR)], ["s", at("/dev/nvidia-caps-imex-channels")]]


def _file_inputs(driver: Driver, ldcache: Optional[str], options: Optional[DriverOptions]) -> List[List[str]]:
    from nvcontainer.discovery import DEFAULT_LDCACHE
    from nvcontainer.discovery import components as c
    from nvcontainer.errors import NvcError
    from nvcontainer.securepath import join_in_root

    root = driver.root
    out: List[List[str]] = []
    seen = set()

    def add(kind: str, path: Optional[str]) -> None:
        if path and (kind, path) not in seen:
            seen.add((kind, path))
            out.append([kind, path])

    def in_root(path: str) -> Optional[str]:
        try:
            return join_in_root(root, path)
        except NvcError:
            return None

    cache = in_root(ldcache or DEFAULT_LDCACHE)
    add("s", cache)
    for candidate in _cache_candidates(root, cache):
        add("s", candidate)
        add("s", os.path.dirname(candidate))
    for lib in driver.libraries + driver.libraries32:
        add("l", lib.host_path)
        add("s", os.path.dirname(lib.host_path))
    path_env = options.path_env if options is not None and options.path_env is not None else os.environ.get("PATH")
    dirs = (path_env if path_env is not None else c.DEFAULT_PATH).split(":")
    nvml = [lib.path for lib in driver.libraries if lib.soname.startswith("libnvidia-ml.so")]
    if nvml:
        dirs.append(os.path.join(os.path.dirname(os.path.dirname(nvml[0])), "bin"))
    for d in dirs:
        bin_dir = in_root(os.path.join("/", d))
        add("l", bin_dir)
        add("s", bin_dir)
    for b in driver.binaries:
        add("l", b.host_path)
    mps = (options.mps_pipe_dir if options is not None else None) or os.environ.get("CUDA_MPS_PIPE_DIRECTORY")
    for ipc in (c.PERSISTENCED_SOCKET, c.FABRICMANAGER_SOCKET, mps or c.MPS_PIPE_DIR):
        ipc_path = in_root(ipc)
        add("l", ipc_path)
        add("s", ipc_path and os.path.dirname(ipc_path))
    firmware = in_root(c.FIRMWARE_DIR.format(version=driver.nvrm_version))
    add("s", firmware)
    for f in driver.firmwares:
        add("s", f.host_path)
    for node in (*driver.control_nodes, *(g.node for g in driver.gpus),
                 *(n for g in driver.gpus for m in g.migs for n in (m.gi_caps_node, m.ci_caps_node) if n)):
        add("l", node.host_path)
    return out


def _cache_candidates(root: str, cache_path: Optional[str]) -> Tuple[str, ...]:
    """Host paths of every cache entry whose name starts like a driver library (taken or not)."""
    from nvcontainer.discovery import components as c
    from nvcontainer.discovery.ldcache import read_ldcache
    from nvcontainer.errors import NvcError
    from nvcontainer.securepath import join_in_root

    if cache_path is None:
        return ()
    try:
        cache = read_ldcache(cache_path)
    except NvcError:
        return ()
    prefixes = tuple(p for _component, names in c.LIBRARY_COMPONENTS for p in names)
    out = []
    for entry in cache.entries:
        if entry.key.startswith(prefixes):
            try:
                out.append(join_in_root(root, entry.value))
            except NvcError:
                continue
    return tuple(out)
