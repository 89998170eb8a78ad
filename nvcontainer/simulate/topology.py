"""Topology of a simulated NVIDIA machine: frozen dataclasses and the JSON loader.

A topology file is one JSON object::

    {
      "name": "my-box",                    # optional, default: the file's stem
      "driver_version": "550.54.15",       # required, N.N or N.N.N
      "cuda_version": 12040,               # required, int (major*1000 + minor*10)
      "nvml_version": "12.550.54.15",      # optional, default "<cuda major>.<driver_version>"
      "init_error": 0,                     # optional: 0, 4 (no permission), 9 (driver not
                                           #   loaded) or 18 (library/RM version mismatch)
      "fabricmanager": false,              # optional: add nv-fabricmanager + its socket
      "gpus": [                            # required, 0..64 entries, any order
        {
          "name": "NVIDIA A100-SXM4-40GB", # required
          "bus_id": "00000000:07:00.0",    # required; 4- or 8-hex-digit domain accepted
          "uuid": "GPU-...",               # optional, default: stable uuid5 of name + bus id
          "minor": 0,                      # optional, default: position in this list; < 254
          "brand": 14,                     # optional, NVML brand enum, default 14 (NVIDIA)
          "compute_capability": "8.0",     # required ("M.m"), or cc_major + cc_minor ints
          "architecture": 7,               # required, NVML arch enum (AMPERE 7, HOPPER 9, ...)
          "pci_device_id": "0x20B010DE",   # required, int or hex string
          "pci_subsystem_id": "0x134710DE",# optional, default 0
          "memory_total": 42949672960,     # required, bytes
          "memory_used": 0,                # optional, bytes
          "utilization_gpu": 0,            # optional, percent
          "utilization_memory": 0,         # optional, percent
          "lost": false,                   # optional: NVML_ERROR_GPU_IS_LOST for this GPU
          "mig_capable": true,             # optional, default from the model name (A100, A30, H100,
                                           #   H200, B200, ...: see migprofiles.is_mig_capable_model)
          "mig_profiles": "a100-40gb",     # optional MIG profile table: a100-40gb, a100-80gb,
                                           #   h100-80gb or null; default from name and memory
          "mig_enabled": false,            # optional; only on a MIG-capable GPU
          "max_mig_devices": 7,            # optional, default 7 when mig_enabled else 0
          "migs": [                        # optional, only with mig_enabled and a profile table
            {"profile": "3g.20gb",         # a GPU-instance profile of the table (one compute
                                           #   instance spanning it), or "1c.3g.20gb" (a 1-slice
                                           #   compute instance inside a 3g.20gb GPU instance)
             "gi": 1,                      # GPU instance id: fixes the placement (1 = slices 0-3)
             "ci": 0,                      # optional compute instance id, default 0
             "ci_start": 0,                # optional compute-slice placement inside the GI
             "uuid": "MIG-..."}            # optional, default: stable uuid5
          ]
        }
      ]
    }

GPUs are kept sorted by bus id: a GPU's position in ``Topology.gpus`` is its NVML index when
all GPUs are visible.  MIG devices are kept sorted by (gi, ci): a MIG device's position is its
NVML MIG device index.  Entries with the same ``gi`` are compute instances of one GPU instance;
memory, slice, SM and engine counts all come from the profile table (``migprofiles``), and
GPU instances must fit the GPU as on real hardware (``miglayout``).  A MIG-capable GPU needs a
minor below 32, the range of the driver's ``mig-minors`` table.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, Optional, Tuple, Union

from nvcontainer.simulate.errors import SimulateError
from nvcontainer.simulate.miglayout import SimMig, lay_out, parse_entry
from nvcontainer.simulate.migprofiles import (
    MIG_PROFILE_TABLES,
    MigProfileTable,
    is_mig_capable_model,
    table_for_model,
)

NVML_BRAND_NVIDIA = 14
NVML_DEVICE_ARCH_AMPERE = 7
NVML_DEVICE_ARCH_HOPPER = 9
INIT_ERRORS = (0, 4, 9, 18)
MAX_GPUS = 64
MAX_MIG_GPU_MINOR = 32

_UUID_NAMESPACE = uuid.UUID("8f0c1c52-5a0e-4c8e-9d57-6e7673696d00")
_BUS_ID = re.compile(r"^([0-9A-Fa-f]{4}|[0-9A-Fa-f]{8}):([0-9A-Fa-f]{2}):([0-1][0-9A-Fa-f])\.([0-7])$")
_VERSION = re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True)
class SimGpu:
    """One physical GPU as NVML reports it."""

    name: str
    brand: int
    uuid: str
    minor: int
    bus_id: str
    pci_device_id: int
    pci_subsystem_id: int
    cc_major: int
    cc_minor: int
    architecture: int
    memory_total: int
    memory_used: int = 0
    utilization_gpu: int = 0
    utilization_memory: int = 0
    lost: bool = False
    mig_enabled: bool = False
    migs: Tuple[SimMig, ...] = ()
    max_mig_devices: int = 0
    mig_capable: bool = False
    mig_profiles: Optional[MigProfileTable] = None

    @property
    def pci_tuple(self) -> Tuple[int, int, int, int]:
        """(domain, bus, device, function) parsed from ``bus_id``."""
        domain, bus, rest = self.bus_id.split(":")
        device, function = rest.split(".")
        return int(domain, 16), int(bus, 16), int(device, 16), int(function, 16)

    @property
    def proc_bus_id(self) -> str:
        """The ``/proc/driver/nvidia/gpus/<dir>`` name: ``0000:07:00.0`` (lower case)."""
        domain, bus, device, function = self.pci_tuple
        return f"{domain:04x}:{bus:02x}:{device:02x}.{function:x}"


@dataclass(frozen=True)
class Topology:
    """A whole simulated machine: driver versions, GPUs, injected faults."""

    name: str
    driver_version: str
    cuda_version: int
    nvml_version: str
    gpus: Tuple[SimGpu, ...]
    init_error: int = 0
    fabricmanager: bool = False

    @property
    def cuda_version_string(self) -> str:
        """``12040`` -> ``"12.4"`` (the way nvidia-container-cli prints it)."""
        return f"{self.cuda_version // 1000}.{(self.cuda_version % 1000) // 10}"


TopologySource = Union[str, Path, Topology]


def stable_gpu_uuid(name: str, bus_id: str) -> str:
    return "GPU-" + str(uuid.uuid5(_UUID_NAMESPACE, f"gpu:{name}:{bus_id}"))


def stable_mig_uuid(gpu_uuid: str, gi: int, ci: int) -> str:
    return "MIG-" + str(uuid.uuid5(_UUID_NAMESPACE, f"mig:{gpu_uuid}:{gi}:{ci}"))


def _fail(where: str, message: str) -> SimulateError:
    return SimulateError(f"topology {where}: {message}")


def _int(data: Mapping[str, Any], key: str, where: str, default: Optional[int] = None,
         low: int = 0, high: int = 2**64 - 1) -> int:
    value = data.get(key, default)
    if value is None:
        raise _fail(where, f"missing {key!r}")
    if isinstance(value, str):
        try:
            value = int(value, 0)
        except ValueError:
            raise _fail(where, f"{key!r} is not a number: {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"{key!r} must be an integer")
    if not low <= value <= high:
        raise _fail(where, f"{key!r} out of range: {value}")
    return value


def _bool(data: Mapping[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise _fail(where, f"{key!r} must be true or false")
    return value


def _str(data: Mapping[str, Any], key: str, where: str, default: Optional[str] = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value or "\n" in value:
        raise _fail(where, f"{key!r} must be a non-empty one-line string")
    return value


def _bus_id(text: str, where: str) -> str:
    match = _BUS_ID.match(text)
    if match is None:
        raise _fail(where, f"invalid PCI bus id {text!r}")
    domain, bus, device, function = (int(g, 16) for g in match.groups())
    return f"{domain:08X}:{bus:02X}:{device:02X}.{function}"


def _mig_table(data: Mapping[str, Any], where: str, name: str, memory_total: int,
               capable: bool) -> Optional[MigProfileTable]:
    if "mig_profiles" not in data:
        return table_for_model(name, memory_total) if capable else None
    value = data["mig_profiles"]
    if value is None:
        return None
    if not capable:
        raise _fail(where, "'mig_profiles' given for a GPU that is not MIG-capable")
    if not isinstance(value, str) or value not in MIG_PROFILE_TABLES:
        raise _fail(where, f"'mig_profiles' must be one of {', '.join(sorted(MIG_PROFILE_TABLES))} or null")
    return MIG_PROFILE_TABLES[value]


def _parse_migs(data: Mapping[str, Any], where: str, gpu_uuid: str, enabled: bool,
                table: Optional[MigProfileTable]) -> Tuple[SimMig, ...]:
    raw = data.get("migs", [])
    if not isinstance(raw, list):
        raise _fail(where, "'migs' must be a list")
    if not raw:
        return ()
    if not enabled:
        raise _fail(where, "'migs' given but 'mig_enabled' is false")
    if table is None:
        raise _fail(where, "no MIG profile table for this GPU model: set 'mig_profiles'")
    entries = [parse_entry(m, f"{where}.migs[{i}]", table, lambda gi, ci: stable_mig_uuid(gpu_uuid, gi, ci), _fail)
               for i, m in enumerate(raw)]
    return lay_out(entries, where, _fail)


def _parse_gpu(data: Any, where: str, position: int) -> SimGpu:
    if not isinstance(data, dict):
        raise _fail(where, "must be an object")
    name = _str(data, "name", where)
    bus_id = _bus_id(_str(data, "bus_id", where), where)
    gpu_uuid = _str(data, "uuid", where, stable_gpu_uuid(name, bus_id))
    if "compute_capability" in data:
        cc = _str(data, "compute_capability", where)
        if not re.match(r"^[0-9]+\.[0-9]+$", cc):
            raise _fail(where, f"invalid compute capability {cc!r}")
        cc_major, cc_minor = (int(part) for part in cc.split("."))
    else:
        cc_major = _int(data, "cc_major", where, high=99)
        cc_minor = _int(data, "cc_minor", where, high=99)
    memory_total = _int(data, "memory_total", where, low=1)
    capable = _bool(data, "mig_capable", where, is_mig_capable_model(name))
    mig_enabled = _bool(data, "mig_enabled", where)
    if mig_enabled and not capable:
        raise _fail(where, "'mig_enabled' on a GPU that is not MIG-capable")
    table = _mig_table(data, where, name, memory_total, capable)
    migs = _parse_migs(data, where, gpu_uuid, mig_enabled, table)
    max_migs = _int(data, "max_mig_devices", where, 7 if mig_enabled else 0, high=8)
    if len(migs) > max_migs:
        raise _fail(where, f"{len(migs)} MIG devices exceed max_mig_devices {max_migs}")
    minor = _int(data, "minor", where, position, high=253)
    if capable and minor >= MAX_MIG_GPU_MINOR:
        raise _fail(where, f"a MIG-capable GPU needs a minor below {MAX_MIG_GPU_MINOR} (or 'mig_capable': false)")
    return SimGpu(
        name=name,
        brand=_int(data, "brand", where, NVML_BRAND_NVIDIA, high=17),
        uuid=gpu_uuid,
        minor=minor,
        bus_id=bus_id,
        pci_device_id=_int(data, "pci_device_id", where, high=0xFFFFFFFF),
        pci_subsystem_id=_int(data, "pci_subsystem_id", where, 0, high=0xFFFFFFFF),
        cc_major=cc_major,
        cc_minor=cc_minor,
        architecture=_int(data, "architecture", where, high=0xFFFFFFFF),
        memory_total=memory_total,
        memory_used=_int(data, "memory_used", where, 0),
        utilization_gpu=_int(data, "utilization_gpu", where, 0, high=100),
        utilization_memory=_int(data, "utilization_memory", where, 0, high=100),
        lost=_bool(data, "lost", where),
        mig_enabled=mig_enabled,
        migs=migs,
        max_mig_devices=max_migs,
        mig_capable=capable,
        mig_profiles=table,
    )


def parse_topology(data: Any, name: str) -> Topology:
    """Validate a decoded topology document (see the module docstring)."""
    if not isinstance(data, dict):
        raise _fail(name, "the document must be a JSON object")
    driver_version = _str(data, "driver_version", name)
    if not _VERSION.match(driver_version):
        raise _fail(name, f"invalid driver_version {driver_version!r}")
    cuda_version = _int(data, "cuda_version", name, low=1000, high=99990)
    raw_gpus = data.get("gpus")
    if not isinstance(raw_gpus, list) or len(raw_gpus) > MAX_GPUS:
        raise _fail(name, f"'gpus' must be a list of at most {MAX_GPUS} GPUs")
    gpus: List[SimGpu] = [_parse_gpu(g, f"{name}: gpus[{i}]", i) for i, g in enumerate(raw_gpus)]
    for attr in ("bus_id", "minor", "uuid"):
        values = [getattr(g, attr) for g in gpus]
        if len(set(values)) != len(values):
            raise _fail(name, f"duplicate GPU {attr}")
    init_error = _int(data, "init_error", name, 0)
    if init_error not in INIT_ERRORS:
        raise _fail(name, f"init_error must be one of {INIT_ERRORS}")
    return Topology(
        name=_str(data, "name", name, name),
        driver_version=driver_version,
        cuda_version=cuda_version,
        nvml_version=_str(data, "nvml_version", name, f"{cuda_version // 1000}.{driver_version}"),
        gpus=tuple(sorted(gpus, key=lambda g: g.pci_tuple)),
        init_error=init_error,
        fabricmanager=_bool(data, "fabricmanager", name),
    )


def load_topology(source: TopologySource) -> Topology:
    """A preset name, a path to a JSON topology file, or a Topology (returned as is)."""
    from nvcontainer.simulate.presets import PRESETS, preset_document

    if isinstance(source, Topology):
        return source
    text = str(source)
    if isinstance(source, str) and text in PRESETS:
        return parse_topology(preset_document(text), text)
    path = Path(text)
    if not path.is_file():
        known = ", ".join(sorted(PRESETS))
        raise SimulateError(f"unknown preset or topology file {text!r} (presets: {known})")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SimulateError(f"cannot read topology {text}: {exc}") from None
    return parse_topology(document, path.stem)
