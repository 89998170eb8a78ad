"""The Driver snapshot: plain, frozen data describing one host's NVIDIA driver and GPUs.

Discovery (``nvcontainer.discovery``) produces it; policy, planning, CDI and the front ends read it.
Nothing here does I/O.  Paths come in pairs: ``path`` is the path as seen from the driver root
(what ``nvc-cli list`` prints and where the file goes in a container), ``host_path`` is where the
file is on this machine (the root joined in).
"""

from __future__ import annotations

from nvcontainer.records import Record, field

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Optional, Tuple


class DeviceNode(Record):
    """A character device: ``path`` inside the container (== relative to the dev root)."""

    path: str
    host_path: str
    major: int
    minor: int


class MigDevice(Record):
    """One MIG device (a compute instance inside a GPU instance) of a GPU."""

    index: int  # position in the parent's MIG list: the N of "gpu:N"
    parent_index: int
    uuid: str
    name: str
    gpu_instance_id: int
    compute_instance_id: int
    memory_total: int  # bytes
    gi_caps_path: str  # /proc/driver/nvidia/capabilities/gpuM/mig/giG/access
    ci_caps_path: str  # .../giG/ciC/access
    gi_caps_node: Optional[DeviceNode] = None
    ci_caps_node: Optional[DeviceNode] = None


class Gpu(Record):
    """One full GPU as NVML reports it."""

    index: int
    minor: int
    model: str
    brand: str  # the original's brand names: "Tesla", "Nvidia", "GeForce", ...
    uuid: str
    bus_id: str  # "%08x:%02x:%02x.0", lower case, as nvidia-container-cli prints it
    architecture: str  # compute capability "8.0"
    arch_name: str  # "Ampere", "Hopper", ... ("" when unknown)
    memory_total: int
    memory_free: int
    memory_used: int
    node: DeviceNode
    mig_enabled: bool = False
    mig_capable: bool = False  # NVML answers its MIG mode (A100, H100, ...), whether MIG is on or off
    migs: Tuple[MigDevice, ...] = ()
    utilization_gpu: Optional[int] = None  # percent
    utilization_memory: Optional[int] = None
    proc_dir: Optional[str] = None  # /proc/driver/nvidia/gpus/<bus id> as found under the dev root


class Library(Record):
    """A driver library found through the ld cache and accepted by the ELF checks."""

    path: str  # root-relative real file, symlinks resolved
    host_path: str
    capability: str  # utility | compute | video | graphics | ngx | dxcore
    soname: str  # the ld cache key that found it, e.g. "libcuda.so.1"
    compat32: bool = False


class Binary(Record):
    path: str
    host_path: str
    capability: str  # utility | compute


class Ipc(Record):
    """A socket or pipe directory of a driver daemon (persistenced, fabricmanager, MPS)."""

    path: str
    host_path: str
    kind: str  # persistenced | fabricmanager | mps
    capability: str
    is_dir: bool = False


class Firmware(Record):
    path: str  # as listed: /lib/firmware/nvidia/<ver>/gsp_*.bin (not resolved)
    host_path: str  # resolved file on the host


class Driver(Record):
    """Everything discovery found, in the order the original lists it."""

    root: str
    dev_root: str
    nvrm_version: str
    cuda_version: str  # "12.4"
    cuda_version_int: int  # 12040
    nvml_version: str
    gpus: Tuple[Gpu, ...]
    control_nodes: Tuple[DeviceNode, ...]  # nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset
    libraries: Tuple[Library, ...]
    libraries32: Tuple[Library, ...]
    binaries: Tuple[Binary, ...]
    ipcs: Tuple[Ipc, ...]
    firmwares: Tuple[Firmware, ...]
    caps_major: Optional[int] = None  # major of "nvidia-caps" in /proc/devices
    imex_major: Optional[int] = None  # major of "nvidia-caps-imex-channels"
    warnings: Tuple[str, ...] = field(default=(), compare=False)

    @property
    def migs(self) -> Tuple[MigDevice, ...]:
        return tuple(m for g in self.gpus for m in g.migs)
