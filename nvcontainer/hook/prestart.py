"""``prestart``: OCI state + bundle → ``configure.Request`` → ``configure.configure`` in-process."""

from __future__ import annotations

import os

from nvcontainer.config.schema import Config
from nvcontainer.errors import InputError
from nvcontainer.hook.request import IMEX_ALL, GpuRequest, parse_request
from nvcontainer.hook.state import BundleSpec, HookState, load_bundle_spec, parse_state
from nvcontainer.log import logger as log

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)

if TYPE_CHECKING:
    from typing import Optional

    from nvcontainer.container import Request


NOT_LEGACY = ("invoking the NVIDIA Container Runtime Hook directly (e.g. specifying the docker --gpus flag) is not "
              "supported. Please use the NVIDIA Container Runtime (e.g. specify the --runtime=nvidia flag) instead")

_COMPAT_MODES = {"ldconfig": "ldconfig", "mount": "mount", "hook": "disabled", "disabled": "disabled"}


def check_mode(config: Config) -> None:
    """The hook only serves the legacy mode (the toolkit's assertModeIsLegacy)."""
    if config.nvidia_container_runtime_hook.skip_mode_detection:
        return
    mode = config.nvidia_container_runtime.mode
    if mode == "auto":
        log.info("Auto-detected mode as 'legacy'")
        return
    if mode != "legacy":
        raise InputError(NOT_LEGACY)


def build_request(gpu: GpuRequest, bundle: BundleSpec, state: HookState, config: Config) -> Request:
    """The ``nvcontainer.container.Request`` for ``gpu`` (imports the configure layer)."""
    from nvcontainer.allocation import state_dir
    from nvcontainer.container import Request

    cli = config.nvidia_container_cli
    features = config.features
    all_imex = gpu.imex_channels == (IMEX_ALL,)
    return Request(
        rootfs=bundle.rootfs,
        devices=list(gpu.devices) if gpu.devices else None,
        capabilities=list(gpu.capabilities),
        requirements=list(gpu.requirements),
        mig_config=gpu.mig_config,
        mig_monitor=gpu.mig_monitor,
        imex_channels=None if all_imex else (list(gpu.imex_channels) or None),
        all_imex_channels=all_imex,
        load_kmods=cli.load_kmods,
        no_create_imex_channels=features.disable_imex_channel_creation,
        no_cgroups=cli.no_cgroups,
        cuda_compat_mode=_COMPAT_MODES[config.nvidia_container_runtime.modes.legacy.cuda_compat_mode],
        ldconfig=cli.ldconfig or None,
        allow_container_ldconfig=features.allow_ldconfig_from_container,
        no_pivot=cli.no_pivot,
        container_id=state.container_id,
        exclusive=gpu.exclusive,
        state_dir=state_dir(configured=config.nvcontainer.state_dir),
    )


def poststop(state_text: str, config: Config) -> bool:
    """Release the container's GPUs in the allocation registry (harmless when it holds none)."""
    from nvcontainer.allocation import release, state_dir

    state = parse_state(state_text)
    key = state.container_id or state.pid
    # pid: only this container's own record (or a dead owner's) is released, not a running one's
    # that shares its id under another runtime root
    return bool(key) and release(key, state_dir=state_dir(configured=config.nvcontainer.state_dir), pid=state.pid)


def prestart(state_text: str, config: Config) -> Optional[int]:
    """Configure the container described by ``state_text``; returns the mount count, or None when
    the container does not ask for GPUs."""
    state = parse_state(state_text)
    bundle = load_bundle_spec(state.bundle)
    gpu = parse_request(bundle.container, config)
    if gpu is None:
        log.info("not a GPU container: nothing to do")
        return None
    check_mode(config)
    if state.pid <= 0:
        raise InputError("container state has no pid")
    request = build_request(gpu, bundle, state, config)
    cli = config.nvidia_container_cli
    for entry in cli.environment:  # the toolkit's env for nvidia-container-cli; we run in-process
        name, _, value = entry.partition("=")
        os.environ[name] = value
    from nvcontainer.container import configure

    log.info("configuring %s (pid %d): devices=%s capabilities=%s", bundle.rootfs, state.pid,
             request.devices, ",".join(gpu.capabilities))
    result = configure(request, pid=state.pid, root=cli.root or "/", ldcache=cli.ldcache or None)
    return result.mounts
