"""Built-in topologies, written as topology documents (the JSON schema of ``topology.py``).

``dgx-a100`` (the default) models a DGX A100: 8 x A100-SXM4-40GB on the real DGX bus ids, GPU 0
in MIG mode with 3g.20gb + 2g.10gb + 1g.5gb.  ``dgx-h100-2`` is two H100s on a newer driver.
``dgx-h100-mig`` is three H100s: GPU 0 in MIG mode with a 4g.40gb GPU instance holding a
2c.4g.40gb and a 1c.4g.40gb compute instance (one compute slice left), 2g.20gb and 1g.10gb; GPU 1
with 3g.40gb (as 2c + 1c), 1g.20gb and 1g.10gb+me (room left for one 1g.10gb); GPU 2
MIG-capable with MIG mode off.  The ``dgx-a100-*``
variants inject one fault each: NVML init errors 9, 18 and 4, or GPU 3 lost.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Tuple

A100_BUS_IDS = ("07", "0F", "47", "4E", "87", "90", "B7", "BD")
GIB = 1024**3


def _dgx_a100() -> Dict[str, Any]:
    gpus: List[Dict[str, Any]] = []
    for minor, bus in enumerate(A100_BUS_IDS):
        gpus.append({
            "name": "NVIDIA A100-SXM4-40GB",
            "brand": 14,
            "bus_id": f"00000000:{bus}:00.0",
            "minor": minor,
            "compute_capability": "8.0",
            "architecture": 7,
            "pci_device_id": "0x20B010DE",
            "pci_subsystem_id": "0x134710DE",
            "memory_total": 40 * GIB,
        })
    gpus[0]["mig_enabled"] = True
    gpus[0]["migs"] = [
        {"profile": "3g.20gb", "gi": 1, "ci": 0},
        {"profile": "2g.10gb", "gi": 5, "ci": 0},
        {"profile": "1g.5gb", "gi": 13, "ci": 0},
    ]
    return {
        "driver_version": "550.54.15",
        "nvml_version": "12.550.54.15",
        "cuda_version": 12040,
        "gpus": gpus,
    }


def _h100(minor: int, bus: str) -> Dict[str, Any]:
    return {
        "name": "NVIDIA H100 80GB HBM3",
        "brand": 14,
        "bus_id": f"00000000:{bus}:00.0",
        "minor": minor,
        "compute_capability": "9.0",
        "architecture": 9,
        "pci_device_id": "0x233010DE",
        "pci_subsystem_id": "0x16C110DE",
        "memory_total": 80 * GIB,
    }


def _dgx_h100(bus_ids: Tuple[str, ...]) -> Dict[str, Any]:
    return {
        "driver_version": "570.124.06",
        "nvml_version": "12.570.124.06",
        "cuda_version": 12080,
        "gpus": [_h100(minor, bus) for minor, bus in enumerate(bus_ids)],
    }


def _dgx_h100_2() -> Dict[str, Any]:
    return _dgx_h100(("18", "2A"))


def _dgx_h100_mig() -> Dict[str, Any]:
    document = _dgx_h100(("18", "2A", "3A"))
    first, second = document["gpus"][0], document["gpus"][1]
    first["mig_enabled"] = True
    first["migs"] = [
        {"profile": "2c.4g.40gb", "gi": 1, "ci": 0},
        {"profile": "1c.4g.40gb", "gi": 1, "ci": 1},
        {"profile": "2g.20gb", "gi": 5, "ci": 0},
        {"profile": "1g.10gb", "gi": 13, "ci": 0},
    ]
    second["mig_enabled"] = True
    second["migs"] = [
        {"profile": "1g.20gb", "gi": 3, "ci": 0},
        {"profile": "1g.10gb+me", "gi": 9, "ci": 0},
        {"profile": "2c.3g.40gb", "gi": 2, "ci": 0},
        {"profile": "1c.3g.40gb", "gi": 2, "ci": 1},
    ]
    return document


def _with(base: Callable[[], Dict[str, Any]], **changes: Any) -> Callable[[], Dict[str, Any]]:
    def make() -> Dict[str, Any]:
        document = base()
        document.update(changes)
        return document

    return make


def _gpu_lost() -> Dict[str, Any]:
    document = _dgx_a100()
    document["gpus"][3]["lost"] = True
    return document


PRESETS: Dict[str, Callable[[], Dict[str, Any]]] = {
    "dgx-a100": _dgx_a100,
    "dgx-h100-2": _dgx_h100_2,
    "dgx-h100-mig": _dgx_h100_mig,
    "dgx-a100-driver-not-loaded": _with(_dgx_a100, init_error=9),
    "dgx-a100-rm-mismatch": _with(_dgx_a100, init_error=18),
    "dgx-a100-no-permission": _with(_dgx_a100, init_error=4),
    "dgx-a100-gpu-lost": _gpu_lost,
}

DEFAULT_PRESET = "dgx-a100"


def preset_document(name: str) -> Dict[str, Any]:
    """A fresh copy of a preset's topology document (KeyError for unknown names)."""
    document = copy.deepcopy(PRESETS[name]())
    document["name"] = name
    return document
