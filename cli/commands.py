"""What ``nvc-cli info``, ``list`` and ``configure`` do, without typer.

The typer commands (``cli/info.py``, ``cli/listing.py``, ``cli/configure.py``) parse their options
and call these; so does the fast path (``cli/fast.py``), which parses the common command lines
itself so that a container start or a quick ``info`` does not pay for importing typer.  One body
per command, whichever parser ran: the two cannot drift apart in what they do.  Output goes to
``out`` (stdout), nothing here exits.
"""

from __future__ import annotations

import os
import sys

from nvcontainer.errors import InputError
from nvcontainer.records import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence, TextIO

CAPABILITY_FLAGS = ("utility", "compute", "video", "graphics", "display", "ngx", "compat32")


class GlobalOptions(Record):
    """The options before the command (they precede it, as in the original)."""

    root: str = "/"
    dev_root: Optional[str] = None
    ldcache: Optional[str] = None
    debug: Optional[str] = None
    user: Optional[str] = None
    load_kmods: bool = False
    no_pivot: bool = False
    no_create_imex_channels: bool = False


def global_options(root: Optional[str] = None, dev_root: Optional[str] = None, ldcache: Optional[str] = None,
                   debug: Optional[str] = None, user: Optional[str] = None, load_kmods: bool = False,
                   no_pivot: bool = False, no_create_imex_channels: bool = False) -> GlobalOptions:
    """The global options in effect: the debug log attached (also ``$NVC_DEBUG_FILE``), and without
    ``--root`` config.toml's ``[nvidia-container-cli]`` root and ldcache, as for our OCI hook
    (engines call us as nvidia-container-cli without ``--root``: ctr --gpus, docker through a hook)."""
    if debug is None:
        debug = os.environ.get("NVC_DEBUG_FILE") or None
    if debug:
        attach_debug(debug)
    if root is None:
        from nvcontainer.config.cached import load_config_cached

        cli = load_config_cached().nvidia_container_cli
        root, ldcache = cli.root or "/", ldcache or cli.ldcache or None
    return GlobalOptions(root=root, dev_root=dev_root, ldcache=ldcache, debug=debug, user=user,
                         load_kmods=load_kmods, no_pivot=no_pivot, no_create_imex_channels=no_create_imex_channels)


def attach_debug(path: str) -> None:
    """The debug log, or one line naming it (the original silently logs nothing)."""
    from nvcontainer.log import attach_debug_file

    try:
        attach_debug_file(path)
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        raise InputError(f"debug log {path}: {reason}") from None


def info(opts: GlobalOptions, *, csv: bool = False, as_json: bool = False, out: Optional[TextIO] = None) -> None:
    """``nvc-cli info``: from the driver snapshot, but ``--json`` (free memory and utilisation now)."""
    if csv and as_json:
        raise InputError("--csv and --json cannot be used together")
    from cli import render

    if as_json:
        from nvcontainer.discovery import discover

        driver = discover(opts.root, opts.ldcache, dev_root=opts.dev_root)
        text = render.info_json(driver)
    else:
        from nvcontainer.snapshot import discover_cached

        driver = discover_cached(opts.root, opts.ldcache, dev_root=opts.dev_root)
        text = render.info_csv(driver) if csv else render.info_text(driver)
    (out or sys.stdout).write(text)


def list_paths(opts: GlobalOptions, *, device: Optional[Sequence[str]] = None, libraries: bool = False,
               binaries: bool = False, ipcs: bool = False, firmwares: bool = False, compat32: bool = False,
               mig_config: Optional[Sequence[str]] = None, mig_monitor: Optional[Sequence[str]] = None,
               imex_channel: Optional[Sequence[str]] = None, no_persistenced: bool = False,
               no_fabricmanager: bool = False, no_gsp_firmware: bool = False, as_json: bool = False,
               docker_args: bool = False, out: Optional[TextIO] = None) -> None:
    """``nvc-cli list``: the paths a container would get (from the driver snapshot)."""
    from nvcontainer.discovery import DriverOptions
    from nvcontainer.listing import ListRequest
    from nvcontainer.listing import list_paths as paths_of
    from nvcontainer.policy.imex import parse_imex_channels
    from nvcontainer.policy.selection import mig_config_gpus, mig_monitor_gpus, select_devices
    from nvcontainer.snapshot import discover_cached

    write = (out or sys.stdout).write
    channels = parse_imex_channels(list(imex_channel or []))
    nothing_chosen = not any((device, libraries, binaries, ipcs, firmwares, compat32, mig_config,
                              mig_monitor, no_persistenced, no_fabricmanager, no_gsp_firmware))
    if nothing_chosen:  # the original: no option (or only --imex-channel) lists everything
        device, libraries, binaries, ipcs, firmwares, compat32 = ["all"], True, True, True, True, True
    if no_gsp_firmware:
        firmwares = False
    driver = discover_cached(opts.root, opts.ldcache, dev_root=opts.dev_root, options=DriverOptions(
        no_persistenced=no_persistenced, no_fabricmanager=no_fabricmanager, no_gsp_firmware=no_gsp_firmware))
    if opts.load_kmods:
        from nvcontainer.hostnodes import load_kmods

        load_kmods(driver, channels, create_imex_channels=not opts.no_create_imex_channels)
    selection = select_devices(driver, list(device) if device else device)
    cfg = mig_config_gpus(selection, list(mig_config) if mig_config else None).gpus
    mon = mig_monitor_gpus(selection, list(mig_monitor) if mig_monitor else None).gpus
    from nvcontainer.discovery.devices import mig_minors

    minors = mig_minors(driver.dev_root) if (cfg or mon) else {}
    req = ListRequest(devices=bool(device), gpus=selection.gpus, migs=selection.migs, libraries=libraries,
                      binaries=binaries, ipcs=ipcs, firmwares=firmwares, compat32=compat32,
                      mig_config=cfg, mig_monitor=mon, imex_channels=channels)
    if docker_args:
        from nvcontainer.listing import docker_flags

        for flag in docker_flags(driver, selection):
            write(flag + "\n")
        sys.stderr.write("note: plain docker flags give no ldconfig run, no /proc/driver/nvidia masking and no "
                         "device-cgroup rules beyond docker's own --device handling; prefer --gpus or "
                         "--runtime=nvidia\n")
        return
    found = paths_of(driver, req, minors)
    if as_json:
        from cli import render

        write(render.to_json({"paths": found}))
    else:
        write("".join(p + "\n" for p in found))


def parse_pid(text: Optional[str]) -> Optional[int]:
    """``--pid`` as the original reads it (``strtoimax`` into a ``pid_t``: leading space, a sign,
    decimal digits); a value <= 0 means standalone (None), as there."""
    if text is None:
        return None
    digits = text.lstrip(" \t\n\v\f\r")
    body = digits[1:] if digits[:1] in ("+", "-") else digits
    if not (body and body.isascii() and body.isdigit()):
        raise InputError("parse pid failed: invalid argument")
    if len(body.lstrip("0")) > 10:  # beyond any pid_t, and int() is never given thousands of digits
        raise InputError("parse pid failed: numerical result out of range")
    value = int(digits)
    if not -(2**31) <= value <= 2**31 - 1:
        raise InputError("parse pid failed: numerical result out of range")
    return value if value > 0 else None


def configure(opts: GlobalOptions, rootfs: str, *, pid: Optional[str] = None, device: Optional[List[str]] = None,
              require: Optional[List[str]] = None, ldconfig: Optional[str] = None,
              capabilities: Sequence[str] = (), mig_config: Optional[List[str]] = None,
              mig_monitor: Optional[List[str]] = None, imex_channel: Optional[List[str]] = None,
              no_cgroups: bool = False, no_devbind: bool = False, no_persistenced: bool = False,
              no_fabricmanager: bool = False, no_gsp_firmware: bool = False, cuda_compat_mode: str = "mount",
              no_cntlibs: bool = False, allow_container_ldconfig: bool = False, dry_run: bool = False,
              exclusive: bool = False, out: Optional[TextIO] = None) -> None:
    """``nvc-cli configure``: give the container GPUs (``dry_run``: print the Plan as JSON)."""
    from nvcontainer import container as conf
    from nvcontainer.discovery import DriverOptions

    container_pid = parse_pid(pid)
    request = conf.Request(
        rootfs=rootfs, devices=device, capabilities=[k for k in CAPABILITY_FLAGS if k in capabilities],
        requirements=require or [], mig_config=mig_config, mig_monitor=mig_monitor,
        imex_channels=imex_channel, no_cgroups=no_cgroups, no_devbind=no_devbind,
        cuda_compat_mode="disabled" if no_cntlibs else cuda_compat_mode, ldconfig=ldconfig,
        allow_container_ldconfig=allow_container_ldconfig, no_pivot=opts.no_pivot, exclusive=exclusive,
        load_kmods=opts.load_kmods, no_create_imex_channels=opts.no_create_imex_channels)
    driver_options = DriverOptions(no_persistenced=no_persistenced, no_fabricmanager=no_fabricmanager,
                                   no_gsp_firmware=no_gsp_firmware)
    if dry_run:
        from cli import render

        the_plan = conf.plan(request, root=opts.root, ldcache=opts.ldcache, dev_root=opts.dev_root,
                             options=driver_options)
        (out or sys.stdout).write(render.to_json(the_plan))
        return
    conf.configure(request, pid=container_pid, root=opts.root, ldcache=opts.ldcache, dev_root=opts.dev_root,
                   options=driver_options)
