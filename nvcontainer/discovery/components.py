"""The driver's components as data: which libraries, binaries, sockets, firmware and device
nodes belong to which capability.  The code that walks them lives elsewhere.

The lists are nvidia-container-cli's (nvc_info.c); library names are ld cache key *prefixes*.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time (see nvcontainer.records)
if TYPE_CHECKING:
    from typing import Dict, Tuple

# Library prefixes per component, in the original's lookup order (also the order `list` prints).
LIBRARY_COMPONENTS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("utility", ("libnvidia-ml.so", "libnvidia-cfg.so", "libnvidia-nscq.so")),
    ("compute", (
        "libcuda.so", "libcudadebugger.so", "libnvidia-opencl.so", "libnvidia-gpucomp.so",
        "libnvidia-ptxjitcompiler.so", "libnvidia-fatbinaryloader.so", "libnvidia-allocator.so",
        "libnvidia-compiler.so", "libnvidia-pkcs11.so", "libnvidia-pkcs11-openssl3.so", "libnvidia-nvvm.so",
    )),
    ("ngx", ("libnvidia-ngx.so",)),
    ("video", ("libvdpau_nvidia.so", "libnvidia-encode.so", "libnvidia-opticalflow.so", "libnvcuvid.so")),
    ("graphics", (
        "libnvidia-eglcore.so", "libnvidia-glcore.so", "libnvidia-tls.so", "libnvidia-glsi.so",
        "libnvidia-fbc.so", "libnvidia-ifr.so", "libnvidia-rtcore.so", "libnvoptix.so",
    )),
    ("graphics_glvnd", (
        "libGLX_nvidia.so", "libEGL_nvidia.so", "libGLESv2_nvidia.so", "libGLESv1_CM_nvidia.so",
        "libnvidia-glvkspirv.so", "libnvidia-cbl.so",
    )),
    ("graphics_compat", ("libGL.so", "libEGL.so", "libGLESv1_CM.so", "libGLESv2.so")),
)

# The capability that mounts a component's libraries.
COMPONENT_CAPABILITY: Dict[str, str] = {
    "utility": "utility",
    "compute": "compute",
    "ngx": "ngx",
    "video": "video",
    "graphics": "graphics",
    "graphics_glvnd": "graphics",
    "graphics_compat": "graphics",
}

TLS_PREFIX = "libnvidia-tls.so"
COMPAT_GL_PREFIXES = ("libGL.so", "libEGL.so", "libGLESv1_CM.so", "libGLESv2.so")

UTILITY_BINARIES = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nv-fabricmanager")
COMPUTE_BINARIES = ("nvidia-cuda-mps-control", "nvidia-cuda-mps-server")
BINARY_COMPONENTS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("utility", UTILITY_BINARIES),
    ("compute", COMPUTE_BINARIES),
)

# Used when the process has no PATH (an OCI hook's environment has none).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

PERSISTENCED_SOCKET = "/var/run/nvidia-persistenced/socket"
FABRICMANAGER_SOCKET = "/var/run/nvidia-fabricmanager/socket"
MPS_PIPE_DIR = "/tmp/nvidia-mps"

FIRMWARE_DIR = "/lib/firmware/nvidia/{version}"
FIRMWARE_GLOB = "gsp*.bin"
FIRMWARE_PREFIX, FIRMWARE_SUFFIX = "gsp", ".bin"  # the glob above, as a test

# Device nodes.
NV_DEVICE_MAJOR = 195
NV_CTL_MINOR = 255
NV_MODESET_MINOR = 254
NVIDIACTL = "/dev/nvidiactl"
NVIDIA_MODESET = "/dev/nvidia-modeset"
NVIDIA_UVM = "/dev/nvidia-uvm"
NVIDIA_UVM_TOOLS = "/dev/nvidia-uvm-tools"
NVIDIA_GPU = "/dev/nvidia{minor}"
NVIDIA_CAPS_DIR = "/dev/nvidia-caps"
NVIDIA_CAP = "/dev/nvidia-caps/nvidia-cap{minor}"
IMEX_CHANNELS_DIR = "/dev/nvidia-caps-imex-channels"
IMEX_CHANNEL = "/dev/nvidia-caps-imex-channels/channel{channel}"

# /proc/devices names of the dynamic majors.
UVM_DEVICE_NAME = "nvidia-uvm"
CAPS_DEVICE_NAME = "nvidia-caps"
IMEX_DEVICE_NAME = "nvidia-caps-imex-channels"

# /proc files of the driver.
PROC_DRIVER = "/proc/driver/nvidia"
PROC_DRIVER_FILES = ("params", "version", "registry")
PROC_GPUS = "/proc/driver/nvidia/gpus/{bus_id}"
PROC_CAPABILITIES = "/proc/driver/nvidia/capabilities"
MIG_CONFIG_CAP = "/proc/driver/nvidia/capabilities/mig/config"
MIG_MONITOR_CAP = "/proc/driver/nvidia/capabilities/mig/monitor"
GPU_CAPS = "/proc/driver/nvidia/capabilities/gpu{minor}"
GI_ACCESS = "/proc/driver/nvidia/capabilities/gpu{minor}/mig/gi{gi}/access"
CI_ACCESS = "/proc/driver/nvidia/capabilities/gpu{minor}/mig/gi{gi}/ci{ci}/access"
MIG_MINORS = "/proc/driver/nvidia-caps/mig-minors"
PROC_MODULES = "/proc/modules"
PROC_DEVICES = "/proc/devices"

APP_PROFILE_DIR = "/etc/nvidia/nvidia-application-profiles-rc.d"
CUDA_RUNTIME_DIR = "/usr/local/cuda"
