"""The config.toml model: one frozen dataclass per table, field name = TOML key with ``_`` for ``-``.

Defaults are the toolkit's *effective* defaults (api/config/v1/config.go ``GetDefault``), which
are not always the values the default rendering shows commented out (see ``rendering``).
Differences from the original: ``nvidia-container-cli.user`` defaults to "" everywhere (no SUSE
detection), and the default ldconfig is ``@/sbin/ldconfig.real`` only where the host has one.
"""

from __future__ import annotations

import os

from nvcontainer.records import Record, field

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Tuple

SUPPORTED_DRIVER_CAPABILITIES = "compat32,compute,display,graphics,ngx,utility,video"
MODES = ("auto", "legacy", "csv", "cdi", "jit-cdi")
LOG_LEVELS = ("panic", "fatal", "error", "warn", "warning", "info", "debug", "trace")
CUDA_COMPAT_MODES = ("ldconfig", "mount", "hook", "disabled")


def default_ldconfig() -> str:
    """``@/sbin/ldconfig.real`` where the host has it (Ubuntu), else ``@/sbin/ldconfig``."""
    return "@/sbin/ldconfig.real" if os.path.isfile("/sbin/ldconfig.real") else "@/sbin/ldconfig"


class ContainerCliConfig(Record):
    """``[nvidia-container-cli]``: what the hook does when it configures a container."""

    root: str = ""
    path: str = ""
    environment: Tuple[str, ...] = ()
    debug: str = ""
    ldcache: str = ""
    ldconfig: str = field(default_factory=default_ldconfig)
    load_kmods: bool = True
    no_pivot: bool = False
    no_cgroups: bool = False
    user: str = ""


class CdiModeConfig(Record):
    spec_dirs: Tuple[str, ...] = ("/etc/cdi", "/var/run/cdi")
    default_kind: str = "nvidia.com/gpu"
    annotation_prefixes: Tuple[str, ...] = ("cdi.k8s.io/",)


class CsvModeConfig(Record):
    mount_spec_path: str = "/etc/nvidia-container-runtime/host-files-for-container.d"
    compat_container_root: str = ""


class JitCdiModeConfig(Record):
    nvcdi_feature_flags: Tuple[str, ...] = ()
    nvcdi_disable_hooks: Tuple[str, ...] = ()


class LegacyModeConfig(Record):
    cuda_compat_mode: str = "ldconfig"


class ModesConfig(Record):
    cdi: CdiModeConfig = CdiModeConfig()
    csv: CsvModeConfig = CsvModeConfig()
    jit_cdi: JitCdiModeConfig = JitCdiModeConfig()
    legacy: LegacyModeConfig = LegacyModeConfig()


class RuntimeConfig(Record):
    """``[nvidia-container-runtime]``: the runtime shim."""

    debug: str = "/dev/null"
    log_level: str = "info"
    mode: str = "auto"
    runtimes: Tuple[str, ...] = ("runc", "crun")
    modes: ModesConfig = ModesConfig()


class HookConfig(Record):
    """``[nvidia-container-runtime-hook]``: the path the shim inserts, and the hook's mode check.

    Ours besides NVIDIA's keys: who may ask for exclusive GPUs (``nvcontainer.allocation``).
    ``accept-gpu-access-envvar`` honours ``NVIDIA_GPU_ACCESS`` from the container's environment
    (which the image sets); ``gpu-access-annotations`` names OCI annotations, set by an
    orchestrator the operator trusts, whose value (``shared``/``exclusive``) decides instead."""

    path: str = "nvidia-container-runtime-hook"
    skip_mode_detection: bool = False
    accept_gpu_access_envvar: bool = False
    gpu_access_annotations: Tuple[str, ...] = ()


class CtkConfig(Record):
    path: str = "nvidia-ctk"


class Features(Record):
    allow_cuda_compat_libs_from_container: bool = False
    allow_ldconfig_from_container: bool = False
    allow_unknown_oci_spec_fields: bool = False
    disable_cuda_compat_lib_hook: bool = False
    disable_imex_channel_creation: bool = False
    ignore_imex_channel_requests: bool = False
    no_additional_gids_for_device_nodes: bool = False


class NvcontainerConfig(Record):
    """``[nvcontainer]``: settings of ours the toolkit does not have (it ignores this table)."""

    state_dir: str = ""  # the GPU allocation registry ("" = /run/nvcontainer/allocations)


class Config(Record):
    """The whole file; ``load_config`` fills it, every table optional."""

    accept_nvidia_visible_devices_as_volume_mounts: bool = False
    accept_nvidia_visible_devices_envvar_when_unprivileged: bool = True
    disable_require: bool = False
    supported_driver_capabilities: str = SUPPORTED_DRIVER_CAPABILITIES
    swarm_resource: str = ""
    nvidia_container_cli: ContainerCliConfig = ContainerCliConfig()
    nvidia_container_runtime: RuntimeConfig = RuntimeConfig()
    nvidia_container_runtime_hook: HookConfig = HookConfig()
    nvidia_ctk: CtkConfig = CtkConfig()
    features: Features = Features()
    nvcontainer: NvcontainerConfig = NvcontainerConfig()


def toml_key(name: str) -> str:
    """The TOML key of a dataclass field: ``load_kmods`` → ``load-kmods``."""
    return name.replace("_", "-")
