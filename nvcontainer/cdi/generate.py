"""Generate a CDI spec from the Plan: ``generate(driver, ...) -> dict``.

There is no second discovery path: every edit comes from ``build_plan``.

* **Common edits** are the Plan of an empty selection: control device nodes, binaries,
  libraries (64- and 32-bit), firmware and IPC sockets, plus hooks for what a spec cannot say
  statically: ``create-symlinks`` for the Plan's symlinks (``libcuda.so -> libcuda.so.1``, ...)
  and ``update-ldcache`` for the library directories.
* **A device's edits** are the Plan of selecting just that device, minus the common edits: its
  device node, for a MIG device also the parent's node and its access caps nodes, and the
  ``/proc`` entries (see below).  ``all`` is the Plan of ``all`` minus the common edits.

Container paths.  A CDI spec is written once per host and used for every image, so it cannot
pick an image's library directory (``/usr/lib/x86_64-linux-gnu`` vs ``/usr/lib64``) the way
``configure`` does by looking into the rootfs.  As ``nvidia-ctk cdi generate`` does, each file
goes to its own path relative to the driver root (for a driver installed at ``/``: containerPath
== hostPath), and the ``update-ldcache`` hook adds those directories to the image's ld cache,
so lookups by soname work in any image.  The Plan is built with a layout whose lib and bin
directories are the driver's own, and each file's target is then set to the file's driver path.

``/proc``.  For a driver whose ``/proc/driver/nvidia`` is the running kernel's (``dev_root`` is
``/``) the container's procfs already has it, and runc refuses bind mounts under ``/proc``
("cannot be mounted because it is inside /proc"): no ``/proc`` mounts are emitted.  For a
driver root whose proc files are plain files (a simulated driver, a driver container's
``--dev-root``) the spec mounts a tmpfs on ``/proc/driver``, binds the driver's
``version``/``params``/``registry`` files into it, and each device binds its
``/proc/driver/nvidia/gpus/<bus id>`` directory (MIG: its ``access`` files).  crun accepts that;
runc does not.  ``proc_mounts=True/False`` overrides the choice.

Hooks carry an absolute ``path`` and an explicit ``env`` (``NVIDIA_CTK_DEBUG=false``), so the
runtime never hands them the container's environment (CVE-2025-23266).  ``cdiVersion`` is the
lowest version that allows the fields used (``0.5.0`` as soon as a device node has a hostPath).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys

from nvcontainer.cdi import spec as model
from nvcontainer.cdi.errors import CdiError
from nvcontainer.discovery import components as c
from nvcontainer.driver import DeviceNode, Driver
from nvcontainer.plans import BindMount, Plan, PlanOptions, Symlink, build_plan
from nvcontainer.policy.capabilities import ALL_DRIVER_CAPABILITIES, Capabilities
from nvcontainer.policy.layout import BINS_DIR, CUDART_DIR, LDCONFIG_PATH, LIB32_DIR, LIB64_DIR, ContainerLayout
from nvcontainer.policy.selection import Selection, select_devices

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

STRATEGIES = ("index", "uuid", "type-index")
HOOK_NAME = "nvc-cdi-hook"
HOOK_ENV = ("NVIDIA_CTK_DEBUG=false",)
COMMON_ENV = ("NVIDIA_VISIBLE_DEVICES=void",)  # an nvidia runtime hook must not inject a second time
_OPTION_ORDER = ("ro", "nosuid", "nodev", "noexec")
_PROC_TMPFS = "/proc/driver"
_PROC_TMPFS_OPTIONS = ["nosuid", "nodev", "noexec", "mode=0555"]


def default_hook_path() -> str:
    """The installed ``nvc-cdi-hook`` script: beside this Python, else on PATH (links resolved)."""
    beside = os.path.join(os.path.dirname(sys.executable), HOOK_NAME)
    if os.access(beside, os.X_OK):
        return os.path.abspath(beside)
    found = shutil.which(HOOK_NAME)
    if found is None:
        raise CdiError(f"{HOOK_NAME} not found: install nvcontainer or pass --nvidia-cdi-hook-path")
    return os.path.realpath(found)


def driver_layout(driver: Driver) -> ContainerLayout:
    """The layout that puts the driver's files at their own paths (see the module docstring)."""
    libs = driver.libraries
    main = next((lib for lib in libs if lib.soname in ("libcuda.so.1", "libnvidia-ml.so.1")), None)
    libs_dir = os.path.dirname((main or libs[0]).path) if libs else LIB64_DIR
    libs32_dir = os.path.dirname(driver.libraries32[0].path) if driver.libraries32 else LIB32_DIR
    bins_dir = os.path.dirname(driver.binaries[0].path) if driver.binaries else BINS_DIR
    return ContainerLayout(bins_dir=bins_dir, libs_dir=libs_dir, libs32_dir=libs32_dir, cudart_dir=CUDART_DIR,
                           ldconfig=LDCONFIG_PATH)


def _driver_paths(driver: Driver) -> Dict[str, str]:
    """host path -> driver-root-relative path of every library and binary."""
    out = {lib.host_path: lib.path for lib in driver.libraries + driver.libraries32}
    out.update({b.host_path: b.path for b in driver.binaries})
    return out


def _relocated(plan: Plan, paths: Dict[str, str]) -> Tuple[List[BindMount], List[Symlink]]:
    """The Plan's mounts with libraries and binaries at their driver paths; its symlinks moved along."""
    mounts: List[BindMount] = []
    moved: Dict[str, str] = {}
    for m in plan.mounts:
        if m.what in ("library", "library32", "binary") and m.source in paths:
            moved[m.target] = paths[m.source]
            m = BindMount(m.source, paths[m.source], m.kind, m.flags, m.what, m.rdev, m.in_rootfs)
        mounts.append(m)
    links = []
    for link in plan.symlinks:
        directory = os.path.dirname(link.path)
        stem = link.target.split(".so", 1)[0] + ".so."
        for old, new in moved.items():
            if os.path.dirname(old) == directory and os.path.basename(old).startswith(stem):
                directory = os.path.dirname(new)
                break
        links.append(Symlink(f"{directory}/{os.path.basename(link.path)}", link.target))
    return mounts, links


def _mount_edit(m: BindMount) -> Dict[str, Any]:
    options = [flag for flag in _OPTION_ORDER if flag in m.flags] + ["bind"]
    return {"hostPath": m.source, "containerPath": m.target, "options": options}


def _node_edit(node: DeviceNode) -> Dict[str, Any]:
    return {"path": node.path, "hostPath": node.host_path}


def _hook(hook_path: str, *args: str) -> Dict[str, Any]:
    return {"hookName": "createContainer", "path": hook_path, "args": [HOOK_NAME, *args], "env": list(HOOK_ENV)}


def _edits(env: Sequence[str] = (), nodes: Sequence[DeviceNode] = (), mounts: Sequence[Dict[str, Any]] = (),
           hooks: Sequence[Dict[str, Any]] = ()) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if env:
        out["env"] = list(env)
    if nodes:
        out["deviceNodes"] = [_node_edit(n) for n in nodes]
    if mounts:
        out["mounts"] = list(mounts)
    if hooks:
        out["hooks"] = list(hooks)
    return out


class _Generator:
    def __init__(self, driver: Driver, caps: Capabilities, proc_mounts: bool) -> None:
        self.driver = driver
        self.caps = caps
        self.proc_mounts = proc_mounts
        self.layout = driver_layout(driver)
        self.options = PlanOptions(no_devbind=True, no_cgroups=True, compat32_machine=platform.machine())
        self.paths = _driver_paths(driver)
        self.common = self.plan(Selection())
        self.common_nodes = {n.path for n in self.common.devices}
        self.common_targets = {m.target for m in self.common.mounts}

    def plan(self, selection: Selection) -> Plan:
        return build_plan(self.driver, selection, self.caps, self.layout, self.options)

    def _keep(self, m: BindMount) -> bool:
        return m.what != "proc" or self.proc_mounts

    def device_edits(self, token: str) -> Dict[str, Any]:
        """The edits of the device ``token`` selects, less what every container gets anyway."""
        plan = self.plan(select_devices(self.driver, token))
        nodes = [n for n in plan.devices if n.path not in self.common_nodes]
        mounts = [_mount_edit(m) for m in plan.mounts if m.target not in self.common_targets and self._keep(m)]
        return _edits(nodes=nodes, mounts=mounts)

    def common_edits(self, hook_path: str) -> Dict[str, Any]:
        mounts, links = _relocated(self.common, self.paths)
        edits = [_mount_edit(m) for m in mounts if self._keep(m)]
        if self.proc_mounts:
            edits += self._proc_files()
        hooks = []
        if links:
            args = [arg for link in links for arg in ("--link", f"{link.target}::{link.path}")]
            hooks.append(_hook(hook_path, "create-symlinks", *args))
        folders: List[str] = []
        for m in mounts:
            if m.what in ("library", "library32") and os.path.dirname(m.target) not in folders:
                folders.append(os.path.dirname(m.target))
        if folders:
            hooks.append(_hook(hook_path, "update-ldcache", *[a for d in folders for a in ("--folder", d)]))
        return _edits(env=COMMON_ENV, nodes=self.common.devices, mounts=edits, hooks=hooks)

    def _proc_files(self) -> List[Dict[str, Any]]:
        """A tmpfs on /proc/driver and the driver's proc files from the Plan's /proc tmpfs, bound in."""
        out: List[Dict[str, Any]] = [{"hostPath": "tmpfs", "containerPath": _PROC_TMPFS, "type": "tmpfs",
                                      "options": list(_PROC_TMPFS_OPTIONS)}]
        for tmpfs in self.common.tmpfs:
            if tmpfs.target != c.PROC_DRIVER:
                continue
            for f in tmpfs.files:
                if f.source and os.path.isfile(f.source):
                    out.append({"hostPath": f.source, "containerPath": f"{tmpfs.target}/{f.name}",
                                "options": ["ro", "nosuid", "nodev", "noexec", "bind"]})
        return out


def device_names(driver: Driver, strategy: Union[str, Sequence[str]]) -> List[Tuple[str, str]]:
    """``(CDI device name, selection token)`` of every GPU, then every MIG device, per ``strategy``.

    Several strategies (as ``nvidia-ctk``'s default ``index`` + ``uuid``) give each device once per
    strategy, strategy by strategy.
    """
    if not isinstance(strategy, str):
        strategies = list(dict.fromkeys(strategy)) or ["index"]
        return [pair for one in strategies for pair in device_names(driver, one)]
    if strategy not in STRATEGIES:
        raise CdiError(f"invalid device name strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    out = []
    for gpu in driver.gpus:
        name = {"index": str(gpu.index), "uuid": gpu.uuid, "type-index": f"gpu{gpu.index}"}[strategy]
        out.append((name, gpu.uuid))
    for mig in driver.migs:
        index = f"{mig.parent_index}:{mig.index}"
        name = {"index": index, "uuid": mig.uuid, "type-index": f"mig{index}"}[strategy]
        out.append((name, mig.uuid))
    return out


def generate(
    driver: Driver,
    *,
    device_name_strategy: Union[str, Sequence[str]] = "index",
    vendor: str = "nvidia.com",
    class_: str = "gpu",
    all_device: bool = True,
    capabilities: Optional[Capabilities] = None,
    hook_path: Optional[str] = None,
    proc_mounts: Optional[bool] = None,
) -> Dict[str, Any]:
    """The CDI spec (a dict) for every GPU and MIG device of ``driver``, plus ``all``.

    ``capabilities`` default to all of them (a spec serves every container); ``hook_path`` to
    the installed ``nvc-cdi-hook``; ``proc_mounts`` to "only when the driver's /proc is not the
    kernel's".  Raises ``CdiError`` for a bad vendor, class or strategy.
    """
    kind = f"{vendor}/{class_}"
    problem = model.kind_error(kind)
    if problem:
        raise CdiError(problem)
    hook = hook_path or default_hook_path()
    if not os.path.isabs(hook):
        raise CdiError(f"invalid hook path {hook!r}: not an absolute path")
    if proc_mounts is None:
        proc_mounts = os.path.realpath(driver.dev_root) != "/"
    gen = _Generator(driver, capabilities or Capabilities(ALL_DRIVER_CAPABILITIES), proc_mounts)
    devices = [{"name": name, "containerEdits": gen.device_edits(token)}
               for name, token in device_names(driver, device_name_strategy)]
    if all_device and driver.gpus:
        devices.append({"name": "all", "containerEdits": gen.device_edits("all")})
    if not devices:
        raise CdiError("no devices found: a CDI spec needs at least one device")
    document: Dict[str, Any] = {"cdiVersion": "", "kind": kind, "devices": devices,
                                "containerEdits": gen.common_edits(hook)}
    document["cdiVersion"] = model.minimum_version(document)
    return document
