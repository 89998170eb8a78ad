"""``configure``: give a container its GPUs — discover, decide (a Plan), apply.

``plan(...)`` is the pure half (no root needed): the Plan a container would get.
``configure(...)`` also applies it inside the mount namespace of process ``pid``, from a
forked child, so the caller's process (perhaps a long-lived library user) never changes
namespace.  Without ``pid``, the original's standalone meaning: the namespace of our parent
process as seen through ``<rootfs>/proc``.

GPU allocation (``nvcontainer.allocation``): ``Request(devices="auto:N")`` picks N free GPUs and
``Request(exclusive=True)`` asks for GPUs nobody else holds.  ``configure`` records what the
container gets in the host's allocation registry *before* mounting (pick + record is one locked
step, and the lock is not held while mounting) and withdraws the record if configuring fails.
``plan`` resolves ``auto:N`` against the registry without recording; ``make_plan`` is pure and
resolves it against the driver alone.
"""

from __future__ import annotations

import os
import platform

from nvcontainer import allocation
from nvcontainer.discovery import DriverOptions, discover
from nvcontainer.discovery.devices import mig_minors
from nvcontainer.driver import Driver
from nvcontainer.errors import ContainerError, InputError
from nvcontainer.log import logger as log
from nvcontainer.plans import Plan, PlanOptions, build_plan
from nvcontainer.policy.capabilities import Capabilities, parse_capability_flags
from nvcontainer.policy.compat import check_mode, find_compat_libs
from nvcontainer.policy.imex import parse_imex_channels
from nvcontainer.policy.layout import detect_layout
from nvcontainer.policy.requirements import check_requirements, requirement_targets
from nvcontainer.policy.selection import mig_config_gpus, mig_monitor_gpus, select_devices
from nvcontainer.records import Record, replace

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Optional, Sequence, Union
    DeviceSpec = Union[str, Sequence[str], None]


class Request(Record):
    """What a container asks for, in the terms of ``nvc-cli configure``'s options."""

    rootfs: str
    devices: DeviceSpec = None
    capabilities: Union[Capabilities, Sequence[str]] = ("utility",)
    requirements: Sequence[str] = ()
    mig_config: DeviceSpec = None
    mig_monitor: DeviceSpec = None
    imex_channels: Union[str, Sequence[str], None] = None
    no_cgroups: bool = False
    no_devbind: bool = False
    cuda_compat_mode: str = "mount"  # mount | ldconfig | disabled
    ldconfig: Optional[str] = None  # "@/host/path" or a container path; None = the host's
    allow_container_ldconfig: bool = False  # run the image's own ldconfig (sandboxed) if asked to
    no_pivot: bool = False
    exclusive: bool = False  # GPUs nobody else holds, and nobody else gets while held
    container_id: Optional[str] = None  # the allocation record's name (default: the pid)
    state_dir: Optional[str] = None  # allocation registry (default: see nvcontainer.allocation.state_dir)


class Result(Record):
    plan: Plan
    mounts: int


def _check_rootfs(rootfs: str) -> str:
    if not rootfs or not os.path.isabs(rootfs) or os.path.normpath(rootfs) == "/":
        raise InputError("invalid rootfs directory")
    return os.path.normpath(rootfs)


def make_plan(driver: Driver, request: Request) -> Plan:
    """The Plan for ``request`` against an already discovered ``driver`` (pure but for layout)."""
    rootfs = _check_rootfs(request.rootfs)
    caps = request.capabilities
    if not isinstance(caps, Capabilities):
        caps = parse_capability_flags(list(caps))
    selection = select_devices(driver, _pure_devices(driver, request))
    mig_cfg = mig_config_gpus(selection, request.mig_config)
    mig_mon = mig_monitor_gpus(selection, request.mig_monitor)
    check_requirements(list(request.requirements), driver, requirement_targets(selection))
    minors = tuple(sorted(mig_minors(driver.dev_root).items())) if (mig_cfg.all or mig_mon.all) else ()
    layout = detect_layout(rootfs)
    compat_mode = check_mode(request.cuda_compat_mode)
    compat_libs = () if compat_mode == "disabled" else find_compat_libs(rootfs, layout.cudart_dir,
                                                                        driver.nvrm_version)
    options = PlanOptions(
        no_devbind=request.no_devbind,
        no_cgroups=request.no_cgroups,
        compat32_machine=platform.machine(),
        mig_config=mig_cfg.gpus,
        mig_monitor=mig_mon.gpus,
        imex_channels=parse_imex_channels(request.imex_channels),
        mig_minors=minors,
        cuda_compat_mode=compat_mode,
        compat_libs=compat_libs,
    )
    return build_plan(driver, selection, caps, layout, options)


def _pure_devices(driver: Driver, request: Request) -> DeviceSpec:
    if allocation.auto_count(request.devices) is None:
        return request.devices
    return allocation.resolve_devices(driver, request.devices, exclusive=request.exclusive)


def plan(request: Request, *, root: str = "/", ldcache: Optional[str] = None, dev_root: Optional[str] = None,
         options: Optional[DriverOptions] = None) -> Plan:
    """Discover the driver under ``root`` and return the Plan for ``request``; touches nothing.

    ``auto:N`` is resolved against the allocation registry as it is now (nothing is recorded).
    """
    driver = discover(root, ldcache, dev_root=dev_root, options=options)
    if allocation.auto_count(request.devices) is not None:
        devices = allocation.resolve_devices(driver, request.devices, exclusive=request.exclusive,
                                             records=allocation.peek(state_dir=request.state_dir))
        request = replace(request, devices=devices)
    return make_plan(driver, request)


def _grant_cgroups(the_plan: Plan, pid: Optional[int], rootfs: str) -> None:
    from nvcontainer.apply.cgroups import detect_cgroup, grant_devices

    if not the_plan.device_rules:
        return
    if pid:
        target = detect_cgroup(pid)
    else:
        target = detect_cgroup(os.getppid(), proc_root=rootfs)
    grant_devices(target, the_plan.device_rules)
    log.info("granted %d device rules in cgroup v%d %s", len(the_plan.device_rules), target.version, target.path)


def apply(the_plan: Plan, rootfs: str, pid: Optional[int] = None, *, request: Optional[Request] = None) -> Result:
    """Apply ``the_plan`` in the mount namespace of ``pid`` (from a forked child).

    Device cgroup rules are granted first (unless ``request.no_cgroups``); then the mounts are
    made and ldconfig refreshes the container's cache; a failure there undoes the mounts.
    """
    from nvcontainer.apply.ldconfig import default_host_ldconfig, list_dirs, remove_new_links, run_ldconfig
    from nvcontainer.apply.mounting import apply_plan, owner_of
    from nvcontainer.bindings import mntns

    rootfs = _check_rootfs(rootfs)
    req = request or Request(rootfs)
    owner = owner_of(pid, rootfs)
    if not req.no_cgroups:
        _grant_cgroups(the_plan, pid, rootfs)
    ldconfig = req.ldconfig or default_host_ldconfig()

    def refresh_ldcache() -> None:
        before = list_dirs(rootfs, the_plan.ldconfig_dirs)
        try:
            run_ldconfig(pid or os.getppid(), rootfs, the_plan.ldconfig_dirs, ldconfig=ldconfig,
                         owner_uid=owner.uid, owner_gid=owner.gid,
                         allow_container_ldconfig=req.allow_container_ldconfig, no_pivot=req.no_pivot)
        except BaseException:
            remove_new_links(rootfs, before)  # soname links of a run that failed: nothing half-done
            raise
        log.info("ran ldconfig %s for %s", ldconfig, " ".join(the_plan.ldconfig_dirs))

    def work() -> int:
        return apply_plan(the_plan, rootfs, owner, after=refresh_ldcache)

    try:
        if pid:
            count = mntns.run_in_mount_namespace(pid, work)
        else:
            ns_path = os.path.join(rootfs, "proc", str(os.getppid()), "ns", "mnt")
            fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                count = mntns.run_in_namespace_fd(fd, mntns.linux.CLONE_NEWNS, work)
            finally:
                os.close(fd)
    except (ProcessLookupError, FileNotFoundError) as exc:
        raise ContainerError(f"open failed: {exc.filename or pid}: no such process") from None
    except mntns.NamespaceCallError as exc:
        raise ContainerError(str(exc)) from None
    return Result(the_plan, count)


def configure(request: Request, *, pid: Optional[int] = None, root: str = "/", ldcache: Optional[str] = None,
              dev_root: Optional[str] = None, options: Optional[DriverOptions] = None) -> Result:
    """Give the container of ``pid`` (rootfs ``request.rootfs``) what ``request`` asks for.

    The devices are recorded in the allocation registry as held by ``pid`` (by the parent process
    without ``pid``) under ``request.container_id``, until that process exits or
    ``nvcontainer.allocation.release`` is called.
    """
    driver = discover(root, ldcache, dev_root=dev_root, options=options)
    claim = _claim(driver, request, pid or os.getppid())
    resolved = request if claim is None else replace(request, devices=claim.devices)
    try:
        the_plan = make_plan(driver, resolved)
        for warning in the_plan.warnings:
            log.warning("%s", warning)
        return apply(the_plan, request.rootfs, pid, request=resolved)
    except BaseException:
        if claim is not None:
            allocation.withdraw(claim)
        raise


def _claim(driver: Driver, request: Request, pid: int) -> Optional[allocation.Claim]:
    """Allocate the request's devices to ``pid`` (None: nothing to hold, or a plain request that
    cannot be recorded, which then proceeds as without a registry)."""
    if not request.devices:
        return None
    strict = request.exclusive or allocation.auto_count(request.devices) is not None
    if allocation.start_time(pid) is None:
        if strict:
            raise ContainerError(f"open failed: {pid}: no such process")
        return None  # apply reports the missing process
    owner = allocation.owner_of(pid, request.container_id)
    try:
        return allocation.allocate(driver, request.devices, owner, exclusive=request.exclusive,
                                   state_dir=request.state_dir)
    except allocation.RegistryUnavailable as exc:
        if strict:
            raise
        log.warning("%s: devices not recorded", exc.message)
        return None
