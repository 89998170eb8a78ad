"""Checks of the driver itself: kernel module, NVML, and the persistence daemon.

NVML's error codes become explanations a user can act on; the codes are nvmlReturn_t values
(9 driver not loaded, 18 library/kernel-module version mismatch, 4 no permission, 15 GPU lost).
"""

from __future__ import annotations

import os
import stat

from nvcontainer.discovery import components as c
from nvcontainer.doctor.check import Check, failed, passed
from nvcontainer.doctor.probe import PROC_VERSION, DriverProbe
from nvcontainer.errors import LibraryLoadError, NvcError, NvmlError
from nvcontainer.securepath import join_in_root

NVML_NO_PERMISSION = 4
NVML_DRIVER_NOT_LOADED = 9
NVML_GPU_IS_LOST = 15
NVML_LIB_RM_VERSION_MISMATCH = 18

LOAD_MODULE_FIX = ("load the kernel module: `modprobe nvidia` (or `nvidia-modprobe -c=0 -u`, which also creates "
                   "the device nodes); if that fails, (re)install the NVIDIA driver for the running kernel "
                   "and check `dmesg` for NVRM errors")
MISMATCH_FIX = ("the loaded kernel module is not the one the installed libraries belong to (a driver upgrade "
                "without a reboot): reboot, or reinstall the driver version that matches the loaded module")
PERMISSION_FIX = ("the device nodes /dev/nvidiactl and /dev/nvidia* must be readable and writable by this user: "
                  "check `ls -l /dev/nvidia*` (mode 0666, or a group such as `video` that the user is in; see the "
                  "module parameters NVreg_DeviceFileMode / NVreg_DeviceFileGID), or run as root")
GPU_LOST_FIX = ("the GPU stopped responding (fell off the bus): check `dmesg` for Xid errors (79: fallen off the "
                "bus), reset it with `nvidia-smi -r -i <index>` or reboot; if it recurs, check power, cooling and "
                "the PCIe slot")
NO_DRIVER_FIX = ("install the NVIDIA driver, or point --root at a driver root (e.g. one built by "
                 "`python -m nvcontainer.simulate DIR`: `nvc-cli --root DIR doctor`)")
PERSISTENCED_FIX = "start nvidia-persistenced (slow container starts, 'driver rpc error: timed out')"


def kernel_module_check(probe: DriverProbe) -> Check:
    """1. The NVIDIA kernel module is loaded, and which version."""
    name = "kernel-module"
    version = probe.kernel_version
    if version is None:
        return failed(name, f"NVIDIA kernel module is not loaded (no {PROC_VERSION})", LOAD_MODULE_FIX)
    if not version:
        return passed(name, f"NVIDIA kernel module is loaded (version not found in {PROC_VERSION})")
    return passed(name, f"NVIDIA kernel module {version} is loaded")


def nvml_check(probe: DriverProbe) -> Check:
    """2. NVML loads and agrees with the kernel module."""
    name = "nvml"
    exc = probe.error
    if exc is None and probe.driver is not None:
        driver = probe.driver
        kernel = probe.kernel_version
        if kernel and kernel != driver.nvrm_version:
            return failed(name, f"NVML reports driver {driver.nvrm_version} but kernel module {kernel} is loaded",
                          MISMATCH_FIX)
        gpus = len(driver.gpus)
        return passed(name, f"NVML {driver.nvml_version or '?'} loads: driver {driver.nvrm_version}, "
                            f"CUDA {driver.cuda_version}, {gpus} GPU{'s' if gpus != 1 else ''}")
    if isinstance(exc, LibraryLoadError):
        return failed(name, f"no NVIDIA driver found: {exc.message}", NO_DRIVER_FIX)
    if isinstance(exc, NvmlError):
        return _nvml_error_check(name, exc, probe)
    message = exc.line("nvc-cli") if isinstance(exc, NvcError) else "discovery failed"
    return failed(name, f"driver discovery failed: {message}",
                  "check that the driver root holds a complete NVIDIA driver installation (`nvc-cli info` "
                  "shows the same error; `--debug FILE` logs details)")


def _nvml_error_check(name: str, exc: NvmlError, probe: DriverProbe) -> Check:
    code = exc.code
    if code == NVML_DRIVER_NOT_LOADED:
        return failed(name, "NVML cannot initialize: the NVIDIA kernel driver is not loaded", LOAD_MODULE_FIX)
    if code == NVML_LIB_RM_VERSION_MISMATCH:
        library = probe.library_version or "?"
        kernel = probe.kernel_version or "?"
        return failed(name, f"NVML cannot initialize: driver/library version mismatch "
                            f"(libnvidia-ml {library}, kernel module {kernel})", MISMATCH_FIX)
    if code == NVML_NO_PERMISSION:
        return failed(name, "NVML cannot initialize: insufficient permissions on the NVIDIA device nodes",
                      PERMISSION_FIX)
    if code == NVML_GPU_IS_LOST:
        lost = ", ".join(str(i) for i in probe.lost_gpus)
        which = f"GPU {lost} is" if len(probe.lost_gpus) == 1 else (f"GPUs {lost} are" if lost else "a GPU is")
        return failed(name, f"NVML reports that {which} lost", GPU_LOST_FIX.replace("<index>", lost or "<index>"))
    return failed(name, f"NVML error {code}: {exc.text}",
                  "run `nvidia-smi` to see the same error and check `dmesg` for NVRM/Xid messages")


def persistenced_check(root: str) -> Check:
    """3. nvidia-persistenced runs (without it every container start re-initialises the GPUs)."""
    name = "persistenced"
    path = c.PERSISTENCED_SOCKET
    try:
        st = os.stat(join_in_root(root, path))
        running = stat.S_ISSOCK(st.st_mode)
    except (OSError, NvcError):
        running = False
    if running:
        return passed(name, f"nvidia-persistenced is running ({path})")
    return failed(name, f"nvidia-persistenced is not running (no socket {path})", PERSISTENCED_FIX)
