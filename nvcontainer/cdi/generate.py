"""Generate a CDI spec for a driver: ``generate(driver, ...) -> dict``, as ``nvidia-ctk cdi generate`` 1.20.

The spec is what NVIDIA's generator writes for the same driver root (a k8s device plugin, a
script comparing specs and a later NVIDIA run all depend on it), from one ``Driver`` snapshot:

* **devices** (``mode="nvml"``): each full GPU not in MIG mode, and each MIG device, once per
  naming strategy (default ``index`` and ``uuid``: ``0``, ``GPU-...``, ``0:1``, ``MIG-...``),
  plus ``all``.  A GPU's edits are its ``/dev/nvidiaN`` and DRM nodes, a MIG device's the
  parent's node and its GI and CI access capability nodes (``nodes``).  ``device_ids`` limits
  the devices (``all``, ``none``, an index, a UUID, ``i:j``).
* **common edits**: the control nodes, the driver's files (``nvfiles``), the hooks
  ``create-symlinks`` (graphics links, then the library links), ``enable-cuda-compat
  --host-driver-version=<ver>``, ``update-ldcache --folder <lib dir>``,
  ``disable-device-node-modification`` and ``update-application-profile`` (``hookspec``), and
  ``NVIDIA_CTK_LIBCUDA_DIR`` / ``NVIDIA_VISIBLE_DEVICES=void``.
* ``mode="management"``: one ``all`` device with every NVIDIA device node, and the driver's
  files without graphics, control nodes or the device-node and application-profile hooks.
  ``csv`` (Tegra) and ``wsl`` are refused: this generator has no source for them.
* then nvidia-ctk's transforms (``edits``): dedupe, move shared entries out of devices, sort,
  and ``cdiVersion`` the lowest version the fields need.

A device whose nodes the dev root does not have is refused, as nvidia-ctk does ("invalid
device, empty device edits"): a spec naming nodes that do not exist would fail every container.

Our extras, each behind an option (``docs/migration.md``): ``compat32`` adds the 32-bit
libraries; ``mps_dir`` the MPS pipe directory; ``driver_proc`` (default: on exactly when the dev
root's ``/proc/driver/nvidia`` is a plain directory, i.e. a simulated driver) adds our
``mount-driver-proc`` hook, which shows that directory at ``/proc/driver/nvidia`` in the
container (a spec mount there is refused by runc: "inside /proc").
"""

from __future__ import annotations

import os
import sys

from nvcontainer.cdi import edits as ed
from nvcontainer.cdi import hookspec, nodes
from nvcontainer.cdi import spec as model
from nvcontainer.cdi.errors import CdiError

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

    from nvcontainer.driver import Driver, Gpu, MigDevice

STRATEGIES = ("index", "uuid", "type-index")
DEFAULT_STRATEGIES = ("index", "uuid")
MODES = ("auto", "nvml", "management", "csv", "wsl", "gdrcopy", "gds", "imex", "mofed", "nvswitch")
HOOK_NAME = "nvc-cdi-hook"
FEATURE_EXPLICIT_LIBRARIES = "enable-explicit-driver-libraries"
FEATURE_NO_IPC = "disable-ipc-discoverer"
FEATURE_NO_GIDS = "no-additional-gids-for-device-nodes"
EMPTY_DEVICE_ENV = "NVCT_EMPTY_DEVICE="
PROC_DRIVER = "/proc/driver/nvidia"


def default_hook_path() -> str:
    """The installed ``nvc-cdi-hook``: beside this Python, else on PATH (links resolved)."""
    beside = os.path.join(os.path.dirname(sys.executable), HOOK_NAME)
    if os.access(beside, os.X_OK):
        return os.path.abspath(beside)
    import shutil

    found = shutil.which(HOOK_NAME)
    if found is None:
        raise CdiError(f"{HOOK_NAME} not found: install nvcontainer or pass --nvidia-cdi-hook-path")
    return os.path.realpath(found)


def resolve_mode(mode: str, driver: Driver) -> str:
    """``auto`` -> ``wsl`` for a WSL driver (dxcore), else ``nvml``; unsupported modes refused."""
    if mode not in MODES:
        raise CdiError(f"invalid discovery mode {mode!r}: use one of {', '.join(MODES)}")
    if mode == "auto":
        mode = "wsl" if any(lib.capability == "dxcore" for lib in driver.libraries) else "nvml"
    if mode == "csv":
        raise CdiError("mode 'csv' is not supported: nvc-ctk has no Tegra (CSV mount spec) support; "
                       "use nvidia-ctk cdi generate on Jetson")
    if mode == "wsl":
        raise CdiError("mode 'wsl' is not supported: nvc-ctk has no WSL2 (dxcore) support; "
                       "use nvidia-ctk cdi generate under WSL2")
    if mode not in ("nvml", "management"):
        raise CdiError(f"mode {mode!r} is not supported by nvc-ctk: use nvml or management")
    return mode


def _strategies(strategy: Union[str, Sequence[str]]) -> List[str]:
    names = [strategy] if isinstance(strategy, str) else list(dict.fromkeys(strategy))
    for name in names:
        if name not in STRATEGIES:
            raise CdiError(f"invalid device name strategy {name!r}: use one of {', '.join(STRATEGIES)}")
    return names or list(DEFAULT_STRATEGIES)


def gpu_names(gpu: Gpu, strategies: Sequence[str]) -> List[str]:
    return [{"index": str(gpu.index), "uuid": gpu.uuid, "type-index": f"gpu{gpu.index}"}[s] for s in strategies]


def mig_names(mig: MigDevice, strategies: Sequence[str]) -> List[str]:
    index = f"{mig.parent_index}:{mig.index}"
    return [{"index": index, "uuid": mig.uuid, "type-index": f"mig{index}"}[s] for s in strategies]


def device_names(driver: Driver, strategy: Union[str, Sequence[str]] = DEFAULT_STRATEGIES) -> List[Tuple[str, str]]:
    """``(CDI device name, UUID)`` of every device a spec of ``driver`` defines, before sorting."""
    strategies = _strategies(strategy)
    out = []
    for target in select(driver, ["all"]) or ():
        names = gpu_names(target, strategies) if _is_gpu(target) else mig_names(target, strategies)
        out += [(name, target.uuid) for name in names]
    return out


def _is_gpu(target: Any) -> bool:
    return hasattr(target, "minor")


def select(driver: Driver, ids: Sequence[str]) -> Optional[List[Any]]:
    """The GPUs and MIG devices ``ids`` name (nvidia-ctk's ``--device-id``), in order: ``all`` =
    every full GPU not in MIG mode and every MIG device; ``none`` (None) = no device.  As in
    nvidia-ctk, the first ``all`` or ``none`` decides."""
    out: List[Any] = []
    for token in ids:
        token = token.strip()
        if token == "none":
            return None
        if token == "all":
            return [g for g in driver.gpus if not g.mig_enabled] + list(driver.migs)
        found = _lookup(driver, token)
        if found not in out:
            out.append(found)
    return out


def _lookup(driver: Driver, token: str) -> Any:
    for gpu in driver.gpus:
        if token in (gpu.uuid, str(gpu.index)):
            return gpu
        for mig in gpu.migs:
            if token in (mig.uuid, f"{mig.parent_index}:{mig.index}"):
                return mig
    if token.isdigit() or token.startswith(("GPU-", "MIG-")) or (
            token.count(":") == 1 and all(p.isdigit() for p in token.split(":"))):
        raise CdiError(f"unknown device {token!r}: no such GPU or MIG device")
    raise CdiError(f"identifier is not a valid UUID or index: {token!r}")


class _Spec:
    """One generation: options resolved once, edits built per device and for the spec."""

    def __init__(self, driver: Driver, hooks: hookspec.HookCreator, *, gids: bool, files_options: Dict[str, Any],
                 compat32: bool, driver_proc: bool) -> None:
        self.driver = driver
        self.dev_root = os.path.abspath(driver.dev_root)
        self.hooks = hooks
        self.gids = gids
        self.files_options = files_options
        self.compat32 = compat32
        self.driver_proc = driver_proc

    def _node_edits(self, paths: Sequence[str]) -> ed.Edits:
        found = nodes.node_edits(self.dev_root, paths)
        out: ed.Edits = {"deviceNodes": found}
        if self.gids:
            out["additionalGids"] = [g for g in (nodes.additional_gid(n) for n in found) if g is not None]
        return out

    def gpu_edits(self, gpu: Gpu) -> ed.Edits:
        out = self._node_edits(nodes.gpu_paths(gpu))
        hook = self.hooks.create(hookspec.CREATE_SYMLINKS, *nodes.by_path_links(self.dev_root, out["deviceNodes"]))
        if hook:
            out["hooks"] = [hook]
        return out

    def mig_edits(self, mig: MigDevice) -> ed.Edits:
        parent = self.driver.gpus[mig.parent_index]
        if mig.gi_caps_node is None or mig.ci_caps_node is None:
            raise CdiError(f"MIG device {mig.parent_index}:{mig.index}: no GI/CI capability device nodes "
                           f"(is {self.dev_root}/proc/driver/nvidia-caps/mig-minors readable?)")
        return self._node_edits([f"/dev/nvidia{parent.minor}", mig.gi_caps_node.path, mig.ci_caps_node.path])

    def devices(self, ids: Sequence[str], strategies: Sequence[str]) -> List[Dict[str, Any]]:
        out = []
        targets = select(self.driver, ids)
        if targets is None:
            return [{"name": "none", "containerEdits": {"env": [EMPTY_DEVICE_ENV]}}]
        for target in targets:
            if _is_gpu(target):
                edits, names = self.gpu_edits(target), gpu_names(target, strategies)
            else:
                edits, names = self.mig_edits(target), mig_names(target, strategies)
            out += [{"name": name, "containerEdits": ed.ordered(edits)} for name in names]
        return out

    def management_devices(self) -> List[Dict[str, Any]]:
        edits = self._node_edits(nodes.management_paths(self.dev_root))
        if not edits["deviceNodes"]:
            raise CdiError(f"no NVIDIA device nodes found under {self.dev_root}/dev")
        return [{"name": "all", "containerEdits": ed.ordered(edits)}]

    def common_edits(self, management: bool) -> ed.Edits:
        from nvcontainer.cdi import nvfiles

        files = nvfiles.driver_files(self.driver, graphics=not management, **self.files_options)
        out: ed.Edits = {} if management else self._node_edits(nodes.CONTROL_NODES)
        hooks: List[Optional[Dict[str, Any]]] = []
        if self.driver_proc:
            hooks.append(self.hooks.create(hookspec.MOUNT_DRIVER_PROC, "--source",
                                           nodes.host_path(self.dev_root, PROC_DRIVER)))
        libraries = list(files.libraries)
        ldcache_dirs = list(files.ldcache_dirs)
        links = list(files.links)
        if self.compat32:
            extra = nvfiles.compat32_mounts(self.driver)
            finder = nvfiles.Finder(self.driver)
            libraries += extra
            links += [link for link in finder.links(extra) if link not in links]
            ldcache_dirs += [d for d in finder.ldcache_dirs(extra) if d not in ldcache_dirs]
        hooks.append(self.hooks.create(hookspec.CREATE_SYMLINKS, *files.graphics_links))
        hooks.append(self.hooks.create(hookspec.CREATE_SYMLINKS, *links))
        compat_args = [f"--host-driver-version={files.version}"] if files.version and "*" not in files.version else []
        hooks.append(self.hooks.create(hookspec.ENABLE_CUDA_COMPAT, *compat_args))
        if ldcache_dirs:
            hooks.append(self.hooks.create(hookspec.UPDATE_LDCACHE, *ldcache_dirs))
        if not management:
            hooks.append(self.hooks.create(hookspec.DISABLE_DEVICE_NODE_MODIFICATION))
            hooks.append(self.hooks.create(hookspec.UPDATE_APPLICATION_PROFILE))
        out["hooks"] = [h for h in hooks if h is not None]
        out["env"] = [f"NVIDIA_CTK_LIBCUDA_DIR={':'.join(files.lib_dirs)}", "NVIDIA_VISIBLE_DEVICES=void"]
        mounts = [*files.graphics, *libraries, *files.ipcs, *files.firmwares, *files.binaries]
        out["mounts"] = nvfiles.as_dicts(mounts)
        return ed.ordered(out)


def wants_driver_proc(driver: Driver) -> bool:
    """True when the dev root's /proc/driver/nvidia is not the kernel's but a directory of files
    (a simulated driver): then only our hook can show it to a container."""
    if os.path.realpath(driver.dev_root) == "/":
        return False
    return os.path.isfile(nodes.host_path(os.path.abspath(driver.dev_root), PROC_DRIVER + "/version"))


def generate(
    driver: Driver,
    *,
    device_name_strategy: Union[str, Sequence[str]] = DEFAULT_STRATEGIES,
    vendor: str = "nvidia.com",
    class_: str = "gpu",
    all_device: bool = True,
    hook_path: Optional[str] = None,
    mode: str = "auto",
    device_ids: Sequence[str] = ("all",),
    disabled_hooks: Sequence[str] = (),
    enabled_hooks: Sequence[str] = (),
    ldconfig_path: Optional[str] = None,
    library_search_paths: Sequence[str] = (),
    config_search_paths: Sequence[str] = (),
    feature_flags: Sequence[str] = (),
    compat32: bool = False,
    mps_dir: bool = False,
    driver_proc: Optional[bool] = None,
) -> Dict[str, Any]:
    """The CDI spec (a dict) of ``driver``'s devices, as nvidia-ctk 1.20 writes it (module docstring).

    Raises ``CdiError`` for a bad vendor, class, strategy, mode or device id, and for a device
    whose nodes the dev root does not have.
    """
    kind = f"{vendor}/{class_}"
    problem = model.vendor_error(vendor) or model.class_error(class_)
    if problem:
        raise CdiError(f"invalid CDI {'vendor' if model.vendor_error(vendor) else 'class'} name: {problem}")
    hook = hook_path or default_hook_path()
    if not os.path.isabs(hook):
        raise CdiError(f"invalid hook path {hook!r}: not an absolute path")
    strategies = _strategies(device_name_strategy)
    mode = resolve_mode(mode, driver)
    disabled = list(disabled_hooks)
    if mode == "management":
        disabled.append(hookspec.DISABLE_DEVICE_NODE_MODIFICATION)
    hooks = hookspec.HookCreator(hook, disabled=disabled, enabled=enabled_hooks, ldconfig_path=ldconfig_path)
    flags = set(feature_flags)
    files_options = {"library_search_paths": tuple(library_search_paths),
                     "config_search_paths": tuple(config_search_paths),
                     "explicit_libraries": FEATURE_EXPLICIT_LIBRARIES in flags, "ipc": FEATURE_NO_IPC not in flags,
                     "mps_dir": mps_dir}
    gen = _Spec(driver, hooks, gids=FEATURE_NO_GIDS not in flags, files_options=files_options, compat32=compat32,
                driver_proc=wants_driver_proc(driver) if driver_proc is None else driver_proc)
    ids = [i.strip() for i in device_ids] or ["all"]
    if mode == "management":
        devices = gen.management_devices()
    else:
        devices = gen.devices(ids, strategies)
        if "none" in ids:
            all_device = False
    common = ed.simplify(gen.common_edits(mode == "management"), devices)
    if all_device and devices and "all" not in [d["name"] for d in devices]:
        devices.append(ed.merged(devices, "all"))
        common = ed.simplify(common, devices)
    for device in devices:
        if ed.is_empty(device["containerEdits"]):
            raise CdiError(f"invalid device {device['name']!r}: invalid device, empty device edits "
                           f"(no device node for it under {gen.dev_root}/dev)")
    if not devices:
        raise CdiError("no devices found: a CDI spec needs at least one device")
    document: Dict[str, Any] = {"cdiVersion": "", "kind": kind, "devices": devices}
    if common:
        document["containerEdits"] = common
    document["cdiVersion"] = model.minimum_version(document)
    return document
