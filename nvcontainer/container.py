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
import stat

from nvcontainer import allocation
from nvcontainer.apply.enter import DEFAULT_TIMEOUT
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
    from typing import Callable, Optional, Sequence, Tuple, Union
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
    all_imex_channels: bool = False  # also every channel node the host has (the hook's NVIDIA_IMEX_CHANNELS=all)
    load_kmods: bool = False  # --load-kmods: check the driver's modules, make missing IMEX channel nodes
    no_create_imex_channels: bool = False  # with load_kmods: make no IMEX channel nodes
    no_cgroups: bool = False
    no_devbind: bool = False
    cuda_compat_mode: str = "mount"  # mount | ldconfig | disabled
    ldconfig: Optional[str] = None  # "@/host/path" or a container path; None = the host's
    allow_container_ldconfig: bool = False  # run the image's own ldconfig (sandboxed) if asked to
    no_pivot: bool = False
    exclusive: bool = False  # GPUs nobody else holds, and nobody else gets while held
    container_id: Optional[str] = None  # the allocation record's name (default: the pid)
    state_dir: Optional[str] = None  # allocation registry (default: see nvcontainer.allocation.state_dir)
    timeout: float = DEFAULT_TIMEOUT  # seconds the work inside the container (mounts, ldconfig) may take
    snapshot: bool = True  # discovery from the driver snapshot when it is still exact (nvcontainer.snapshot)


class Result(Record):
    plan: Plan
    mounts: int


def _check_rootfs(rootfs: str) -> str:
    """The rootfs as given, normalised; the text must be absolute and not ``/``.  (Whether it *is*
    the host's root, through ``//``, ``/proc/self/root`` or a symlink, is checked by identity once
    inside the container's namespace: see ``_enter_rootfs``.)"""
    if not isinstance(rootfs, str) or not rootfs or not os.path.isabs(rootfs) or "\0" in rootfs:
        raise InputError("invalid rootfs directory")
    normal = os.path.normpath(rootfs)
    if normal in ("/", "//"):
        raise InputError("invalid rootfs directory")
    return normal


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
    minors = tuple(mig_minors(driver.dev_root).items()) if (mig_cfg.all or mig_mon.all) else ()
    layout = detect_layout(rootfs)
    compat_mode = check_mode(request.cuda_compat_mode)
    compat_libs = () if compat_mode == "disabled" else find_compat_libs(rootfs, layout.cudart_dir,
                                                                        driver.nvrm_version)
    options = PlanOptions(
        no_devbind=request.no_devbind,
        no_cgroups=request.no_cgroups,
        compat32_machine=os.uname().machine,
        mig_config=mig_cfg.gpus,
        mig_monitor=mig_mon.gpus,
        imex_channels=_imex_channels(driver, request),
        mig_minors=minors,
        cuda_compat_mode=compat_mode,
        compat_libs=compat_libs,
    )
    return build_plan(driver, selection, caps, layout, options)


def _discover(request: Request, root: str, ldcache: Optional[str], dev_root: Optional[str],
              options: Optional[DriverOptions]) -> Driver:
    """The driver, from the snapshot (``nvcontainer.snapshot``) unless ``request.snapshot`` is off
    or it asks for ``auto:N``, which picks GPUs by their free memory now."""
    if not request.snapshot or allocation.auto_count(request.devices) is not None:
        return discover(root, ldcache, dev_root=dev_root, options=options)
    from nvcontainer.snapshot import discover_cached

    return discover_cached(root, ldcache, dev_root=dev_root, options=options)


def _imex_channels(driver: Driver, request: Request) -> Tuple[int, ...]:
    channels = parse_imex_channels(request.imex_channels)
    if not request.all_imex_channels or driver.imex_major is None:
        return channels
    from nvcontainer.discovery.devices import imex_channel_nodes

    present = imex_channel_nodes(driver.dev_root, driver.imex_major)
    return channels + tuple(ch for ch in present if ch not in channels)


def _pure_devices(driver: Driver, request: Request) -> DeviceSpec:
    if allocation.auto_count(request.devices) is None:
        return request.devices
    return allocation.resolve_devices(driver, request.devices, exclusive=request.exclusive)


def plan(request: Request, *, root: str = "/", ldcache: Optional[str] = None, dev_root: Optional[str] = None,
         options: Optional[DriverOptions] = None) -> Plan:
    """Discover the driver under ``root`` and return the Plan for ``request``; touches nothing.

    ``auto:N`` is resolved against the allocation registry as it is now (nothing is recorded).
    """
    driver = _discover(request, root, ldcache, dev_root, options)
    if allocation.auto_count(request.devices) is not None:
        devices = allocation.resolve_devices(driver, request.devices, exclusive=request.exclusive,
                                             records=allocation.peek(state_dir=request.state_dir))
        request = replace(request, devices=devices)
    return make_plan(driver, request)


def _grant_cgroups(the_plan: Plan, pid: int) -> None:
    from nvcontainer.apply.cgroups import detect_cgroup, grant_devices

    if not the_plan.device_rules:
        return
    target = detect_cgroup(pid)
    grant_devices(target, the_plan.device_rules)
    log.info("granted %d device rules in cgroup v%d %s", len(the_plan.device_rules), target.version, target.path)


def _enter_rootfs(rootfs: str, host_root: Tuple[int, int]) -> None:
    """In the child, inside the namespace: the rootfs must be a directory that is not the host's root."""
    try:
        st = os.stat(rootfs)
    except OSError as exc:
        raise ContainerError(f"rootfs {rootfs}: {(exc.strerror or str(exc)).lower()}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise InputError("invalid rootfs directory")
    if (st.st_dev, st.st_ino) == host_root:
        raise InputError(f"invalid rootfs directory: {rootfs} is the host's root directory")


def _check_host_side(rootfs: str, host_root: Tuple[int, int]) -> None:
    """The rootfs as the host sees it must not be the host's root either: checked before anything is
    granted (``//``, ``/proc/self/root``, a link to ``/`` are the same in both namespaces)."""
    try:
        st = os.stat(rootfs)
    except OSError:
        return  # only in the container's namespace: the child checks it there
    if (st.st_dev, st.st_ino) == host_root:
        raise InputError(f"invalid rootfs directory: {rootfs} is the host's root directory")


def apply(the_plan: Plan, rootfs: str, pid: Optional[int] = None, *, request: Optional[Request] = None) -> Result:
    """Apply ``the_plan`` in the mount namespace of ``pid`` (without it: of our parent process).

    Everything is checked and opened here, in the caller's namespace: the target process
    (``nvcontainer.apply.target``), the driver's files as detached mounts, the generated files'
    content, the host ldconfig as a sealed memfd; device cgroup rules are granted (unless
    ``request.no_cgroups``).  Then one forked child enters the container's namespace, attaches the
    mounts, makes the links and runs ldconfig, which refreshes the container's cache; a failure
    there undoes the mounts.  The whole takes at most ``request.timeout`` seconds.
    """
    from nvcontainer.apply import enter
    from nvcontainer.apply.ldconfig import (
        default_host_ldconfig,
        list_dirs,
        log_output,
        prepare_ldconfig,
        remove_new_links,
        run_prepared,
    )
    from nvcontainer.apply.mounting import Owner, apply_plan, prepare_sources
    from nvcontainer.apply.target import open_target
    from nvcontainer.bindings import linux, mounts

    rootfs = _check_rootfs(rootfs)
    req = request or Request(rootfs)
    standalone = pid is None or pid <= 0  # NVIDIA's: no pid (or 0, or negative) is the parent process
    target = open_target(os.getppid() if standalone else pid, what="parent pid" if standalone else "pid")
    try:
        owner = Owner(target.uid, target.gid)
        _check_host_side(rootfs, target.host_root)
        linux.new_mount_api_available()  # probed and libc loaded here, never from inside the container
        mounts.proc_fd()
        # Host side, before anything is granted or mounted: the IMEX channel nodes the plan binds
        # must exist in the dev root (--load-kmods makes missing ones there).
        from nvcontainer.hostnodes import prepare_host_nodes

        prepare_host_nodes(the_plan, rootfs, load_kmods=req.load_kmods,
                           create_imex_channels=not req.no_create_imex_channels)
        if not req.no_cgroups:
            _grant_cgroups(the_plan, target.pid)
        prepared = prepare_sources(the_plan)
        try:
            run = prepare_ldconfig(rootfs, the_plan.ldconfig_dirs, ldconfig=req.ldconfig or default_host_ldconfig(),
                                   owner_uid=owner.uid, owner_gid=owner.gid,
                                   allow_container_ldconfig=req.allow_container_ldconfig, no_pivot=req.no_pivot)
            try:
                def work(report: Callable[[str], None], deadline: float) -> int:
                    _enter_rootfs(rootfs, target.host_root)

                    def refresh_ldcache() -> None:
                        before = list_dirs(rootfs, the_plan.ldconfig_dirs)
                        try:
                            run_prepared(run, deadline)
                        except BaseException:
                            remove_new_links(rootfs, before)  # soname links of a run that failed: nothing half-done
                            raise

                    return apply_plan(the_plan, rootfs, owner, after=refresh_ldcache, prepared=prepared, report=report)

                count = enter.run_entered(target, work, rootfs=rootfs, timeout=req.timeout)
                log_output(run)
                log.info("ran ldconfig %s for %s", run.argv[0], " ".join(the_plan.ldconfig_dirs))
            finally:
                run.close()
        finally:
            prepared.close()
    finally:
        target.close()
    return Result(the_plan, count)


def configure(request: Request, *, pid: Optional[int] = None, root: str = "/", ldcache: Optional[str] = None,
              dev_root: Optional[str] = None, options: Optional[DriverOptions] = None) -> Result:
    """Give the container of ``pid`` (rootfs ``request.rootfs``) what ``request`` asks for.

    The devices are recorded in the allocation registry as held by ``pid`` (by the parent process
    without ``pid``) under ``request.container_id``, until that process exits or
    ``nvcontainer.allocation.release`` is called.
    """
    driver = _discover(request, root, ldcache, dev_root, options)
    claim = _claim(driver, request, pid if pid is not None and pid > 0 else os.getppid())
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
