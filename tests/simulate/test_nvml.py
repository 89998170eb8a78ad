"""The simulated libnvidia-ml and libcuda: C ABI, behaviour through ctypes, injected faults."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pynvml
import pytest

from nvcontainer.simulate import SimulatedDriver
from nvcontainer.simulate.compiler import CSRC

ABI_PROBE = r"""
#include <stddef.h>
#include <stdio.h>
#include "nvml_types.h"
#define S(t) printf(#t " size %zu\n", sizeof(t))
#define O(t, f) printf(#t " " #f " %zu\n", offsetof(t, f))
int main(void) {
    S(nvmlPciInfo_t); O(nvmlPciInfo_t, busIdLegacy); O(nvmlPciInfo_t, domain); O(nvmlPciInfo_t, bus);
    O(nvmlPciInfo_t, device); O(nvmlPciInfo_t, pciDeviceId); O(nvmlPciInfo_t, pciSubSystemId);
    O(nvmlPciInfo_t, busId);
    S(nvmlMemory_t); O(nvmlMemory_t, total); O(nvmlMemory_t, free); O(nvmlMemory_t, used);
    S(nvmlMemory_v2_t); O(nvmlMemory_v2_t, version); O(nvmlMemory_v2_t, total); O(nvmlMemory_v2_t, reserved);
    O(nvmlMemory_v2_t, free); O(nvmlMemory_v2_t, used);
    S(nvmlDeviceAttributes_t); O(nvmlDeviceAttributes_t, multiprocessorCount);
    O(nvmlDeviceAttributes_t, sharedCopyEngineCount); O(nvmlDeviceAttributes_t, sharedDecoderCount);
    O(nvmlDeviceAttributes_t, sharedEncoderCount); O(nvmlDeviceAttributes_t, sharedJpegCount);
    O(nvmlDeviceAttributes_t, sharedOfaCount); O(nvmlDeviceAttributes_t, gpuInstanceSliceCount);
    O(nvmlDeviceAttributes_t, computeInstanceSliceCount); O(nvmlDeviceAttributes_t, memorySizeMB);
    S(nvmlUtilization_t); O(nvmlUtilization_t, gpu); O(nvmlUtilization_t, memory);
    printf("nvmlMemory_v2 version %u\n", nvmlMemory_v2);
    return 0;
}
"""

PYNVML_STRUCTS = {
    "nvmlPciInfo_t": pynvml.nvmlPciInfo_t,
    "nvmlMemory_t": pynvml.c_nvmlMemory_t,
    "nvmlMemory_v2_t": pynvml.c_nvmlMemory_v2_t,
    "nvmlDeviceAttributes_t": pynvml.c_nvmlDeviceAttributes,
    "nvmlUtilization_t": pynvml.c_nvmlUtilization_t,
}


def test_struct_layouts_match_pynvml(tmp_path: Path) -> None:
    source = tmp_path / "abi.c"
    source.write_text(ABI_PROBE)
    subprocess.run(["gcc", "-Wall", "-Werror", "-I", str(CSRC), "-o", str(tmp_path / "abi"), str(source)],
                   check=True)
    lines = subprocess.run([str(tmp_path / "abi")], capture_output=True, text=True, check=True).stdout
    compared = 0
    for line in lines.splitlines():
        words = line.split()
        if words[0] == "nvmlMemory_v2":
            assert int(words[2]) == pynvml.nvmlMemory_v2
            continue
        struct = PYNVML_STRUCTS[words[0]]
        if words[1] == "size":
            assert int(words[2]) == ctypes.sizeof(struct), line
        else:
            assert int(words[2]) == getattr(struct, words[1]).offset, line
        compared += 1
    assert compared == 5 + 7 + 3 + 5 + 9 + 2


@pytest.mark.parametrize("source", ["nvml.c", "nvml_mig.c", "nvml_instances.c", "cuda.c", "nvidia_smi.c"])
@pytest.mark.parametrize("bits", ["-m64", "-m32"])
def test_c_sources_compile_without_warnings(tmp_path: Path, source: str, bits: str) -> None:
    defines = ['-DNV_DRIVER_VERSION="1.2.3"', '-DNV_NVML_VERSION="12.1.2.3"', "-DNV_CUDA_VERSION=12040"]
    result = subprocess.run(["gcc", bits, "-c", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", *defines, "-I",
                             str(CSRC), "-o", str(tmp_path / "out.o"), str(CSRC / source)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100-mig"])
def test_nvml_reports_the_topology(build_sim: Any, nvml_report: Any, preset: str) -> None:
    driver = build_sim(preset=preset)
    report: Dict[str, Any] = nvml_report(driver.nvml_library)
    topo = driver.topology
    assert report["count_before_init"] == pynvml.NVML_ERROR_UNINITIALIZED
    assert report["init"] == 0 and report["init_again"] == 0
    assert report["driver_version"] == topo.driver_version
    assert report["driver_version_small_buffer"] == pynvml.NVML_ERROR_INSUFFICIENT_SIZE
    assert report["nvml_version"] == topo.nvml_version and report["cuda_version"] == topo.cuda_version
    assert report["count"] == len(topo.gpus)
    assert report["index_out_of_range"] == pynvml.NVML_ERROR_INVALID_ARGUMENT
    assert report["by_bad_uuid"] == pynvml.NVML_ERROR_NOT_FOUND
    for index, (gpu, got) in enumerate(zip(topo.gpus, report["gpus"])):
        domain, bus, device, _ = gpu.pci_tuple
        assert got["rc"] == 0
        assert (got["name"], got["uuid"], got["minor"], got["index"]) == (gpu.name, gpu.uuid, gpu.minor, index)
        assert (got["brand"], got["arch"], got["cc"]) == (gpu.brand, gpu.architecture, [gpu.cc_major, gpu.cc_minor])
        assert got["pci"] == {"busId": gpu.bus_id, "busIdLegacy": f"{domain:04X}:{bus:02X}:{device:02X}.0",
                              "domain": domain, "bus": bus, "device": device, "pciDeviceId": gpu.pci_device_id,
                              "pciSubSystemId": gpu.pci_subsystem_id}
        assert got["pci_v1"] == {"busId": got["pci"]["busIdLegacy"], "bus": bus, "pciDeviceId": gpu.pci_device_id}
        assert got["memory"] == [gpu.memory_total, gpu.memory_total - gpu.memory_used, gpu.memory_used]
        assert got["memory_v2_rc"] == 0 and got["memory_v2_total"] == gpu.memory_total
        assert got["memory_v2_bad_version_rc"] == pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH
        assert got["utilization"] == [gpu.utilization_gpu, gpu.utilization_memory]
        assert got["by_uuid_same"] and got["by_bus_same"] and got["by_legacy_bus_same"]
        assert got["is_mig"] == 0
        assert got["attributes_rc"] == pynvml.NVML_ERROR_NOT_SUPPORTED
        assert got["mig_mode"] == [int(gpu.mig_enabled)] * 2
        assert got["max_migs"] == (gpu.max_mig_devices if gpu.mig_enabled else 0)
        assert [m["rc"] for m in got["migs"]] == [0] * len(gpu.migs) + [pynvml.NVML_ERROR_NOT_FOUND] * (
            got["max_migs"] - len(gpu.migs))
        for mig, mgot in zip(gpu.migs, got["migs"]):
            assert mgot["name"] == f"{gpu.name} MIG {mig.name}" and mgot["uuid"] == mig.uuid
            assert (mgot["gi"], mgot["ci"], mgot["is_mig"], mgot["parent_is_gpu"]) == (mig.gi, mig.ci, 1, True)
            assert mgot["by_uuid_rc"] == 0 and mgot["by_uuid_same"]
            assert mgot["attributes_rc"] == 0
            assert mgot["attributes"]["memorySizeMB"] == mig.memory_total // (1024 * 1024)
            assert mgot["attributes"]["multiprocessorCount"] == mig.sm_count
            assert mgot["attributes"]["gpuInstanceSliceCount"] == mig.gi_slices
            assert mgot["attributes"]["computeInstanceSliceCount"] == mig.ci_slices
            assert mgot["memory"][0] == mig.memory_total and mgot["pci"] == got["pci"]
    assert report["shutdown"] == [0, 0, pynvml.NVML_ERROR_UNINITIALIZED]
    assert report["count_after_shutdown"] == pynvml.NVML_ERROR_UNINITIALIZED


def test_error_strings(sim_driver: SimulatedDriver, nvml_report: Any) -> None:
    errors = nvml_report(sim_driver.nvml_library)["errors"]
    assert errors["9"] == "Driver Not Loaded"
    assert errors["18"] == "RM has detected an NVML/RM version mismatch."
    assert errors["4"] == "Insufficient Permissions"
    assert errors["15"] == "GPU is lost"
    assert (errors["1"], errors["2"], errors["3"]) == ("Uninitialized", "Invalid Argument", "Not Supported")
    assert (errors["6"], errors["7"], errors["999"]) == ("Not Found", "Insufficient Size", "Unknown Error")


@pytest.mark.parametrize("preset", ["dgx-a100-driver-not-loaded", "dgx-a100-rm-mismatch", "dgx-a100-no-permission"])
def test_init_errors(build_sim: Any, nvml_report: Any, preset: str) -> None:
    driver = build_sim(preset=preset)
    assert driver.topology.init_error != 0
    assert nvml_report(driver.nvml_library)["init"] == driver.topology.init_error


def test_lost_gpu(build_sim: Any, nvml_report: Any) -> None:
    driver = build_sim(preset="dgx-a100-gpu-lost")
    report = nvml_report(driver.nvml_library)
    assert report["init"] == 0 and report["count"] == len(driver.topology.gpus)
    expected = [pynvml.NVML_ERROR_GPU_IS_LOST if gpu.lost else 0 for gpu in driver.topology.gpus]
    assert [g["rc"] for g in report["gpus"]] == expected
    assert pynvml.NVML_ERROR_GPU_IS_LOST in expected


def test_pynvml_works_against_it(sim_driver: SimulatedDriver) -> None:
    """pynvml loads libnvidia-ml.so.1 by SONAME: LD_LIBRARY_PATH makes it find the simulated one."""
    script = (
        "import pynvml as n\n"
        "n.nvmlInit()\n"
        "h = n.nvmlDeviceGetHandleByIndex(0)\n"
        "print(n.nvmlSystemGetDriverVersion(), n.nvmlDeviceGetCount(), n.nvmlDeviceGetUUID(h),"
        " n.nvmlDeviceGetPciInfo(h).busId)\n"
    )
    env = {**sim_driver.env(), "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    gpu = sim_driver.topology.gpus[0]
    assert out.split() == [sim_driver.topology.driver_version, str(len(sim_driver.topology.gpus)), gpu.uuid,
                           gpu.bus_id]


CUDA_SCRIPT = (
    "import ctypes, sys\n"
    "lib = ctypes.CDLL(sys.argv[1])\n"
    "v = ctypes.c_int(0); n = ctypes.c_int(-1)\n"
    "before = lib.cuDeviceGetCount(ctypes.byref(n))\n"
    "lib.cuDriverGetVersion(ctypes.byref(v))\n"
    "init = lib.cuInit(0)\n"
    "after = lib.cuDeviceGetCount(ctypes.byref(n))\n"
    "print(before, v.value, init, after, n.value)\n"
)


@pytest.mark.parametrize("preset, init_rc", [("dgx-a100", 0), ("dgx-a100-gpu-lost", 0),
                                             ("dgx-a100-driver-not-loaded", 100), ("dgx-a100-rm-mismatch", 803)])
def test_libcuda(build_sim: Any, preset: str, init_rc: int) -> None:
    driver = build_sim(preset=preset)
    out = subprocess.run([sys.executable, "-c", CUDA_SCRIPT, str(driver.cuda_library)], capture_output=True,
                         text=True, check=True).stdout.split()
    usable = sum(1 for gpu in driver.topology.gpus if not gpu.lost)
    assert out[:3] == ["3", str(driver.topology.cuda_version), str(init_rc)]
    if init_rc == 0:
        assert out[3:] == ["0", str(usable)]
    else:
        assert out[3] == "3"
