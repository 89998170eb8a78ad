"""The units of allocation: whole GPUs and MIG devices, and which of them a request names.

A container holds *units* of two kinds: whole GPUs (``gpu``) and MIG devices (``mig``).
``auto:N`` picks N whole GPUs: the GPUs not in MIG mode (a GPU in MIG mode runs work only through
its MIG devices).  ``auto:mig:N`` picks N MIG devices of the GPUs in MIG mode.  Explicit requests
may still name a MIG-mode GPU as a whole (``--device=0``): that unit overlaps every MIG device of
the GPU (``overlaps``).  ``nvc-cli ps`` shows each held unit with its kind.  Pure: reads a
``Driver`` snapshot only.
"""

from __future__ import annotations

from nvcontainer.driver import Driver, Gpu, MigDevice
from nvcontainer.policy.selection import Selection
from nvcontainer.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Tuple


GPU = "gpu"
MIG = "mig"
KIND_NAMES = {GPU: ("GPU", "GPUs"), MIG: ("MIG device", "MIG devices")}


class Unit(Record):
    """One allocatable device: ``label`` is ``"1"`` (GPU index) or ``"0:1"`` (GPU 0, MIG 1)."""

    uuid: str
    label: str
    parent: Optional[str] = None  # the GPU's UUID for a MIG device

    @property
    def kind(self) -> str:
        return MIG if self.parent is not None else GPU

    def overlaps(self, other: Unit) -> bool:
        """Same device, or a MIG device and its own GPU (two MIGs of one GPU do not overlap)."""
        return self.uuid == other.uuid or self.parent == other.uuid or other.parent == self.uuid

    def to_json(self) -> Dict[str, Any]:
        return {"uuid": self.uuid, "label": self.label, "parent": self.parent, "kind": self.kind}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Unit:
        parent = data.get("parent")
        return cls(str(data["uuid"]), str(data.get("label", "")), None if parent is None else str(parent))


class Candidate(Record):
    """A unit ``auto:N`` may pick, with the numbers it is ranked by."""

    unit: Unit
    memory_free: int  # bytes
    utilization: int  # percent, 0 when unknown
    order: Tuple[int, int]  # (GPU index, MIG index or -1): the deterministic tie-break


def gpu_unit(gpu: Gpu) -> Unit:
    return Unit(gpu.uuid, str(gpu.index))


def mig_unit(gpu: Gpu, mig: MigDevice) -> Unit:
    return Unit(mig.uuid, f"{gpu.index}:{mig.index}", gpu.uuid)


def candidates(driver: Driver, kind: str = GPU) -> Tuple[Candidate, ...]:
    """Every unit of ``kind`` that ``auto`` may pick: the GPUs not in MIG mode (``gpu``), or the
    MIG devices of the GPUs that are (``mig``).

    A MIG device's free memory is its size (NVML has no per-MIG usage here) and its utilisation
    that of its GPU.
    """
    out: List[Candidate] = []
    for gpu in driver.gpus:
        util = gpu.utilization_gpu or 0
        if kind == GPU and not gpu.mig_enabled:
            out.append(Candidate(gpu_unit(gpu), gpu.memory_free, util, (gpu.index, -1)))
        elif kind == MIG and gpu.mig_enabled:
            for mig in gpu.migs:
                out.append(Candidate(mig_unit(gpu, mig), mig.memory_total, util, (gpu.index, mig.index)))
    return tuple(out)


def selected_units(driver: Driver, selection: Selection) -> Tuple[Unit, ...]:
    """The units an explicit selection holds: its GPUs, then its MIG devices.

    Selected MIG devices are units; a selected GPU is a unit unless it is only there as the parent
    of selected MIG devices (``select_devices`` adds the parent of every MIG it selects).
    """
    parents = {mig.parent_index for mig in selection.migs}
    by_index = {gpu.index: gpu for gpu in driver.gpus}
    units: List[Unit] = []
    for gpu in selection.gpus:
        if gpu.index not in parents:
            units.append(gpu_unit(gpu))
    for mig in selection.migs:
        units.append(mig_unit(by_index[mig.parent_index], mig))
    return tuple(units)
