"""The driver's user-space libraries: names, real SONAMEs, DT_NEEDED links and 32-bit copies.

Covers the component tables of libnvidia-container (utility, compute, video, graphics,
graphics_glvnd, graphics_compat, ngx; dxcore is WSL-only and skipped) for a 550-series driver.
Libraries gone from 550 drivers (libnvidia-fatbinaryloader, libnvidia-compiler, libnvidia-ifr)
are deliberately absent.  ``soname`` may contain ``{ver}`` (the driver version); ``needed``
names other entries of this table by ``name``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class LibSpec:
    """One driver library.  The file is ``<name>.so.<driver version>``."""

    name: str
    soname: str
    component: str
    symbol: str
    needed: Tuple[str, ...] = ()
    lib32: bool = False
    sources: Tuple[str, ...] = ()  # real C sources in csrc/, else a generated stub
    abi_note: bool = False         # carries .note.ABI-tag (Linux 2.3.99)

    def soname_for(self, driver_version: str) -> str:
        return self.soname.format(ver=driver_version)

    def file_name(self, driver_version: str) -> str:
        return f"{self.name}.so.{driver_version}"


_V = "{ver}"

LIBRARIES: Tuple[LibSpec, ...] = (
    # utility
    LibSpec("libnvidia-ml", "libnvidia-ml.so.1", "utility", "nvmlInit_v2", lib32=True,
            sources=("nvml.c", "nvml_mig.c", "nvml_instances.c")),
    LibSpec("libnvidia-cfg", "libnvidia-cfg.so.1", "utility", "nvCfgGetPciBusDevices"),
    LibSpec("libnvidia-nscq", "libnvidia-nscq.so.2", "utility", "nscq_session_create"),
    # compute
    LibSpec("libcuda", "libcuda.so.1", "compute", "cuInit", lib32=True, sources=("cuda.c",)),
    LibSpec("libcudadebugger", "libcudadebugger.so.1", "compute", "cudbgGetAPI"),
    LibSpec("libnvidia-opencl", "libnvidia-opencl.so.1", "compute", "clGetExtensionFunctionAddress", lib32=True),
    LibSpec("libnvidia-gpucomp", f"libnvidia-gpucomp.so.{_V}", "compute", "nvgpucomp_version", lib32=True),
    LibSpec("libnvidia-ptxjitcompiler", "libnvidia-ptxjitcompiler.so.1", "compute", "__cuda_CallJitEntryPoint",
            lib32=True),
    LibSpec("libnvidia-allocator", "libnvidia-allocator.so.1", "compute", "nvidia_allocator_version", lib32=True),
    LibSpec("libnvidia-pkcs11", f"libnvidia-pkcs11.so.{_V}", "compute", "C_GetFunctionList"),
    LibSpec("libnvidia-pkcs11-openssl3", f"libnvidia-pkcs11-openssl3.so.{_V}", "compute", "C_GetFunctionList"),
    LibSpec("libnvidia-nvvm", "libnvidia-nvvm.so.4", "compute", "nvvmVersion"),
    # video
    LibSpec("libnvcuvid", "libnvcuvid.so.1", "video", "cuvidCreateDecoder", lib32=True),
    LibSpec("libvdpau_nvidia", "libvdpau_nvidia.so.1", "video", "vdp_imp_device_create_x11", lib32=True),
    LibSpec("libnvidia-encode", "libnvidia-encode.so.1", "video", "NvEncodeAPICreateInstance",
            needed=("libnvcuvid",), lib32=True),
    LibSpec("libnvidia-opticalflow", "libnvidia-opticalflow.so.1", "video", "NvOFAPICreateInstanceCuda"),
    # graphics
    LibSpec("libnvidia-eglcore", f"libnvidia-eglcore.so.{_V}", "graphics", "nvidia_eglcore_version", lib32=True),
    LibSpec("libnvidia-glcore", f"libnvidia-glcore.so.{_V}", "graphics", "nvidia_glcore_version", lib32=True),
    LibSpec("libnvidia-tls", f"libnvidia-tls.so.{_V}", "graphics", "nvidia_tls_version", lib32=True,
            abi_note=True),
    LibSpec("libnvidia-glsi", f"libnvidia-glsi.so.{_V}", "graphics", "nvidia_glsi_version", lib32=True),
    LibSpec("libnvidia-fbc", "libnvidia-fbc.so.1", "graphics", "NvFBCCreateInstance", lib32=True),
    LibSpec("libnvidia-rtcore", f"libnvidia-rtcore.so.{_V}", "graphics", "nvidia_rtcore_version"),
    LibSpec("libnvoptix", "libnvoptix.so.1", "graphics", "optixQueryFunctionTable"),
    # graphics_glvnd
    LibSpec("libGLX_nvidia", "libGLX_nvidia.so.0", "graphics_glvnd", "__glx_Main",
            needed=("libnvidia-glcore", "libnvidia-tls"), lib32=True),
    LibSpec("libEGL_nvidia", "libEGL_nvidia.so.0", "graphics_glvnd", "__egl_Main",
            needed=("libnvidia-eglcore", "libnvidia-glsi"), lib32=True),
    LibSpec("libGLESv2_nvidia", "libGLESv2_nvidia.so.2", "graphics_glvnd", "glesv2_nvidia_version",
            needed=("libnvidia-eglcore",), lib32=True),
    LibSpec("libGLESv1_CM_nvidia", "libGLESv1_CM_nvidia.so.1", "graphics_glvnd", "glesv1_cm_nvidia_version",
            needed=("libnvidia-eglcore",), lib32=True),
    LibSpec("libnvidia-glvkspirv", f"libnvidia-glvkspirv.so.{_V}", "graphics_glvnd", "nvidia_glvkspirv_version",
            lib32=True),
    LibSpec("libnvidia-cbl", f"libnvidia-cbl.so.{_V}", "graphics_glvnd", "nvidia_cbl_version"),
    # graphics_compat (the no-glvnd driver's own GL front ends)
    LibSpec("libGL", "libGL.so.1", "graphics_compat", "glXGetProcAddress",
            needed=("libnvidia-glcore", "libnvidia-tls")),
    LibSpec("libEGL", "libEGL.so.1", "graphics_compat", "eglGetProcAddress",
            needed=("libnvidia-eglcore", "libnvidia-glsi")),
    LibSpec("libGLESv1_CM", "libGLESv1_CM.so.1", "graphics_compat", "glesv1_cm_version",
            needed=("libnvidia-eglcore",)),
    LibSpec("libGLESv2", "libGLESv2.so.2", "graphics_compat", "glesv2_version", needed=("libnvidia-eglcore",)),
    # ngx
    LibSpec("libnvidia-ngx", "libnvidia-ngx.so.1", "ngx", "NVSDK_NGX_GetVersion"),
)

BY_NAME: Dict[str, LibSpec] = {spec.name: spec for spec in LIBRARIES}

# Trivial driver utilities built from csrc/tool.c (nvidia-smi has its own source).
UTILITY_BINARIES: Tuple[str, ...] = ("nvidia-debugdump", "nvidia-persistenced")
COMPUTE_BINARIES: Tuple[str, ...] = ("nvidia-cuda-mps-control", "nvidia-cuda-mps-server")
FABRICMANAGER_BINARY = "nv-fabricmanager"
