"""The MIG part of csrc/nvml_types.h against nvidia-ml-py's ctypes structures, and the versioned
structure arguments of the simulated libnvidia-ml (right version filled, any other refused)."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple, Type

import pynvml

from nvcontainer.simulate import SimulatedDriver
from nvcontainer.simulate.compiler import CSRC

# nvml.h structures pynvml defines, by their C typedef.
PYNVML_STRUCTS: Dict[str, Type[ctypes.Structure]] = {
    "nvmlGpuInstancePlacement_t": pynvml.c_nvmlGpuInstancePlacement_t,
    "nvmlGpuInstanceProfileInfo_t": pynvml.c_nvmlGpuInstanceProfileInfo_t,
    "nvmlGpuInstanceProfileInfo_v2_t": pynvml.c_nvmlGpuInstanceProfileInfo_v2_t,
    "nvmlGpuInstanceInfo_t": pynvml.c_nvmlGpuInstanceInfo_t,
    "nvmlComputeInstancePlacement_t": pynvml.c_nvmlComputeInstancePlacement_t,
    "nvmlComputeInstanceProfileInfo_t": pynvml.c_nvmlComputeInstanceProfileInfo_t,
    "nvmlComputeInstanceProfileInfo_v2_t": pynvml.c_nvmlComputeInstanceProfileInfo_v2_t,
    "nvmlComputeInstanceInfo_t": pynvml.c_nvmlComputeInstanceInfo_t,
}
PYNVML_VERSIONS = {
    "nvmlGpuInstanceProfileInfo_v2": pynvml.nvmlGpuInstanceProfileInfo_v2,
    "nvmlComputeInstanceProfileInfo_v2": pynvml.nvmlComputeInstanceProfileInfo_v2,
}
PYNVML_CONSTANTS = {
    "NVML_GPU_INSTANCE_PROFILE_COUNT": pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT,
    "NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2": pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV2,
    "NVML_COMPUTE_INSTANCE_PROFILE_COUNT": pynvml.NVML_COMPUTE_INSTANCE_PROFILE_COUNT,
    "NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE": pynvml.NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE,
    "NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT": pynvml.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT,
}
# The v3 structures pynvml lacks: sizes as nvml.h's layout gives them on x86-64 (go-nvml's cgo-generated
# types_gen.go pads GpuInstanceProfileInfo_v3 to 152 bytes), and the field offsets that differ from v2.
V3_LAYOUT = {
    ("nvmlGpuInstanceProfileInfo_v3_t", "sizeof"): 152,
    ("nvmlGpuInstanceProfileInfo_v3_t", "sliceCount"): 8,
    ("nvmlGpuInstanceProfileInfo_v3_t", "memorySizeMB"): 40,
    ("nvmlGpuInstanceProfileInfo_v3_t", "name"): 48,
    ("nvmlGpuInstanceProfileInfo_v3_t", "capabilities"): 144,
    ("nvmlComputeInstanceProfileInfo_v3_t", "sizeof"): 140,
    ("nvmlComputeInstanceProfileInfo_v3_t", "capabilities"): 136,
}


def _probe_source() -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "nvml_types.h"', "int main(void) {"]
    for typedef, struct in PYNVML_STRUCTS.items():
        lines.append(f'    printf("{typedef} sizeof %zu\\n", sizeof({typedef}));')
        for field, _ in struct._fields_:
            lines.append(f'    printf("{typedef} {field} %zu\\n", offsetof({typedef}, {field}));')
    for (typedef, field), _ in V3_LAYOUT.items():
        expr = f"sizeof({typedef})" if field == "sizeof" else f"offsetof({typedef}, {field})"
        lines.append(f'    printf("{typedef} {field} %zu\\n", {expr});')
    for name in list(PYNVML_VERSIONS) + ["nvmlGpuInstanceProfileInfo_v3", "nvmlComputeInstanceProfileInfo_v3"]:
        lines.append(f'    printf("{name} value %u\\n", (unsigned int){name});')
    for name in PYNVML_CONSTANTS:
        lines.append(f'    printf("{name} value %u\\n", (unsigned int){name});')
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n"


def _probe(tmp_path: Path) -> List[Tuple[str, str, int]]:
    source = tmp_path / "abi.c"
    source.write_text(_probe_source())
    subprocess.run(["gcc", "-Wall", "-Werror", "-I", str(CSRC), "-o", str(tmp_path / "abi"), str(source)], check=True)
    out = subprocess.run([str(tmp_path / "abi")], capture_output=True, text=True, check=True).stdout
    return [(a, b, int(c)) for a, b, c in (line.split() for line in out.splitlines())]


def test_mig_struct_layouts_match_pynvml(tmp_path: Path) -> None:
    rows = _probe(tmp_path)
    checked = 0
    for typedef, what, value in rows:
        if what == "value":
            continue
        if (typedef, what) in V3_LAYOUT:
            assert value == V3_LAYOUT[(typedef, what)], (typedef, what)
        elif what == "sizeof":
            assert value == ctypes.sizeof(PYNVML_STRUCTS[typedef]), typedef
        else:
            assert value == getattr(PYNVML_STRUCTS[typedef], what).offset, (typedef, what)
        checked += 1
    assert checked == sum(1 + len(s._fields_) for s in PYNVML_STRUCTS.values()) + len(V3_LAYOUT)


def test_mig_versions_and_constants_match_pynvml(tmp_path: Path) -> None:
    values = {typedef: value for typedef, what, value in _probe(tmp_path) if what == "value"}
    for name, expected in {**PYNVML_VERSIONS, **PYNVML_CONSTANTS}.items():
        assert values[name] == expected, name
    # NVML_STRUCT_VERSION(data, ver) = sizeof | ver << 24
    assert values["nvmlGpuInstanceProfileInfo_v2"] == 0x02000098
    assert values["nvmlGpuInstanceProfileInfo_v3"] == 0x03000098
    assert values["nvmlComputeInstanceProfileInfo_v2"] == 0x02000088
    assert values["nvmlComputeInstanceProfileInfo_v3"] == 0x0300008C


VERSIONS_SCRIPT = r"""
import ctypes, json, sys
import pynvml as nv

class GiV3(ctypes.Structure):
    _fields_ = [(n, t) for n, t in nv.c_nvmlGpuInstanceProfileInfo_v2_t._fields_ if n != "isP2pSupported"] + [
        ("capabilities", ctypes.c_uint)]

class CiV3(ctypes.Structure):
    _fields_ = list(nv.c_nvmlComputeInstanceProfileInfo_v2_t._fields_) + [("capabilities", ctypes.c_uint)]

def dump(s):
    return {n: (getattr(s, n).decode() if isinstance(getattr(s, n), bytes) else getattr(s, n)) for n, _ in s._fields_}

nv.nvmlInit()
lib = nv.nvmlLib
gpu = nv.nvmlDeviceGetHandleByIndex(0)
out = {}
for label, struct, version in [("v2", nv.c_nvmlGpuInstanceProfileInfo_v2_t, 0x02000098), ("v3", GiV3, 0x03000098),
                               ("v1", GiV3, 0x01000098), ("v4", GiV3, 0x04000098), ("v2_size", GiV3, 0x020000A0)]:
    info = struct()
    info.version = version
    rc = lib.nvmlDeviceGetGpuInstanceProfileInfoV(gpu, 0, ctypes.byref(info))
    out["gi_" + label] = [rc, dump(info)]
    info = struct()
    info.version = version
    rc = lib.nvmlDeviceGetGpuInstanceProfileInfoByIdV(gpu, nv.nvmlDeviceGetGpuInstanceProfileInfo(gpu, 0).id,
                                                      ctypes.byref(info))
    out["gi_by_id_" + label] = rc
gi = nv.nvmlDeviceGetGpuInstanceById(gpu, int(sys.argv[1]))
for label, struct, version in [("v2", nv.c_nvmlComputeInstanceProfileInfo_v2_t, 0x02000088), ("v3", CiV3, 0x0300008C),
                               ("v3_v2size", CiV3, 0x03000088), ("zero", CiV3, 0)]:
    info = struct()
    info.version = version
    rc = lib.nvmlGpuInstanceGetComputeInstanceProfileInfoV(gi, 0, 0, ctypes.byref(info))
    out["ci_" + label] = [rc, dump(info)]
print(json.dumps(out))
"""


def test_versioned_structures(build_sim) -> None:  # type: ignore[no-untyped-def]
    driver: SimulatedDriver = build_sim()
    gi = driver.topology.gpus[0].migs[0].gi
    env = {**driver.env(), "PYTHONPATH": ":".join(sys.path)}
    result = subprocess.run([sys.executable, "-c", VERSIONS_SCRIPT, str(gi)], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    profile = driver.topology.gpus[0].mig_profiles.profiles[0]  # type: ignore[union-attr]
    rc, v2 = out["gi_v2"]
    assert rc == 0 and v2["version"] == 0x02000098 and v2["id"] == profile.id and v2["name"] == f"MIG {profile.name}"
    rc, v3 = out["gi_v3"]
    assert rc == 0 and v3["version"] == 0x03000098 and v3["capabilities"] == 0
    assert {k: v3[k] for k in v3 if k not in ("version", "capabilities")} == {
        k: v2[k] for k in v2 if k not in ("version", "isP2pSupported")}
    for label in ("v1", "v4", "v2_size"):
        rc, untouched = out["gi_" + label]
        assert rc == pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH, label
        assert untouched["id"] == 0 and untouched["name"] == "", label
        assert out["gi_by_id_" + label] == pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH
    assert out["gi_by_id_v2"] == out["gi_by_id_v3"] == 0
    rc, c2 = out["ci_v2"]
    rc3, c3 = out["ci_v3"]
    assert rc == rc3 == 0 and c3["capabilities"] == 0 and c2["name"].startswith("MIG ")
    assert {k: c3[k] for k in c2 if k != "version"} == {k: c2[k] for k in c2 if k != "version"}
    assert out["ci_v3_v2size"][0] == out["ci_zero"][0] == pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH
