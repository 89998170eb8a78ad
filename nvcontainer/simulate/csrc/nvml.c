/*
 * nvml.c - the simulated libnvidia-ml.so.<driver version>: init, error
 * strings, system versions, device handles and per-device queries.
 *
 * Implements the nvml.h C ABI (types in nvml_types.h) over the driver root
 * described by simroot.h; MIG lives in nvml_mig.c and nvml_instances.c
 * (shared declarations in nvml_sim.h).  Driver, NVML and CUDA versions are
 * baked in at compile time (-DNV_DRIVER_VERSION, -DNV_NVML_VERSION,
 * -DNV_CUDA_VERSION), as in a real driver build.  Only nvml* symbols are
 * exported.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>

#include "nvml_sim.h"

#ifndef NV_NVML_VERSION
#error "NV_NVML_VERSION must be defined"
#endif
#ifndef NV_CUDA_VERSION
#error "NV_CUDA_VERSION must be defined"
#endif

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int g_refcount;

struct sim_system nvsim_sys;
struct nvmlDevice_st nvsim_devices[SIM_MAX_GPUS][1 + SIM_MAX_MIGS];
struct nvmlGpuInstance_st nvsim_gpu_instances[SIM_MAX_GPUS][SIM_MAX_GIS];
struct nvmlComputeInstance_st nvsim_compute_instances[SIM_MAX_GPUS][SIM_MAX_MIGS];

static void nvsim_init_handles(void)
{
    for (unsigned int g = 0; g < SIM_MAX_GPUS; g++) {
        for (unsigned int m = 0; m <= SIM_MAX_MIGS; m++) {
            nvsim_devices[g][m].gpu = g;
            nvsim_devices[g][m].mig = (int)m - 1;
        }
        for (unsigned int i = 0; i < SIM_MAX_GIS; i++) {
            nvsim_gpu_instances[g][i].gpu = g;
            nvsim_gpu_instances[g][i].slot = i;
        }
        for (unsigned int c = 0; c < SIM_MAX_MIGS; c++) {
            nvsim_compute_instances[g][c].gpu = g;
            nvsim_compute_instances[g][c].mig = c;
        }
    }
}

/* ------------------------------------------------------------------ init */

static nvmlReturn_t nvsim_init(void)
{
    nvmlReturn_t ret = NVML_SUCCESS;
    pthread_mutex_lock(&g_lock);
    if (g_refcount == 0) {
        int status = sim_system_load((const void *)&nvsim_init, &nvsim_sys);
        if (status != SIM_OK)
            ret = (nvmlReturn_t)status;
        else
            nvsim_init_handles();
    }
    if (ret == NVML_SUCCESS)
        g_refcount++;
    pthread_mutex_unlock(&g_lock);
    return ret;
}

NVML_API nvmlReturn_t nvmlInit_v2(void)
{
    return nvsim_init();
}

NVML_API nvmlReturn_t nvmlInit(void)
{
    return nvsim_init();
}

NVML_API nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    if ((flags & ~(unsigned int)(NVML_INIT_FLAG_NO_GPUS | NVML_INIT_FLAG_NO_ATTACH)) != 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    return nvsim_init();
}

NVML_API nvmlReturn_t nvmlShutdown(void)
{
    nvmlReturn_t ret = NVML_SUCCESS;
    pthread_mutex_lock(&g_lock);
    if (g_refcount == 0)
        ret = NVML_ERROR_UNINITIALIZED;
    else
        g_refcount--;
    pthread_mutex_unlock(&g_lock);
    return ret;
}

int nvsim_ready(void)
{
    return __atomic_load_n(&g_refcount, __ATOMIC_ACQUIRE) > 0;
}

NVML_API const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupt request issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires restart";
    case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request.";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
    case NVML_ERROR_IN_USE: return "In use by another client";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No data";
    case NVML_ERROR_VGPU_ECC_NOT_SUPPORTED:
        return "The requested vgpu operation is not available on target device, because ECC is enabled";
    case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Ran out of critical resources, other than memory";
    case NVML_ERROR_FREQ_NOT_SUPPORTED: return "Ran out of critical resources, other than memory";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    case NVML_ERROR_DEPRECATED: return "Deprecated";
    case NVML_ERROR_NOT_READY: return "Not Ready";
    case NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
    case NVML_ERROR_INVALID_STATE: return "Invalid state";
    case NVML_ERROR_RESET_TYPE_NOT_SUPPORTED: return "Reset type not supported";
    default: return "Unknown Error";
    }
}

/* ---------------------------------------------------------------- system */

nvmlReturn_t nvsim_copy(char *dst, unsigned int length, const char *src)
{
    size_t n = strlen(src);
    if (dst == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if ((size_t)length < n + 1)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, n + 1);
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    if (!nvsim_ready())
        return NVML_ERROR_UNINITIALIZED;
    return nvsim_copy(version, length, NV_DRIVER_VERSION);
}

NVML_API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    return nvsim_copy(version, length, NV_NVML_VERSION);
}

NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    if (!nvsim_ready())
        return NVML_ERROR_UNINITIALIZED;
    if (cudaDriverVersion == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *cudaDriverVersion = NV_CUDA_VERSION;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    return nvmlSystemGetCudaDriverVersion(cudaDriverVersion);
}

/* ---------------------------------------------------------------- lookup */

NVML_API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    if (!nvsim_ready())
        return NVML_ERROR_UNINITIALIZED;
    if (deviceCount == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = nvsim_sys.ngpus;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
    return nvmlDeviceGetCount_v2(deviceCount);
}

static nvmlReturn_t nvsim_gpu_handle(unsigned int slot, nvmlDevice_t *device)
{
    if (nvsim_sys.gpus[slot].lost)
        return NVML_ERROR_GPU_IS_LOST;
    *device = &nvsim_devices[slot][0];
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (!nvsim_ready())
        return NVML_ERROR_UNINITIALIZED;
    if (device == NULL || index >= nvsim_sys.ngpus)
        return NVML_ERROR_INVALID_ARGUMENT;
    return nvsim_gpu_handle(index, device);
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
    if (!nvsim_ready())
        return NVML_ERROR_UNINITIALIZED;
    if (uuid == NULL || device == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned int g = 0; g < nvsim_sys.ngpus; g++) {
        const struct sim_gpu *gpu = &nvsim_sys.gpus[g];
        if (strcmp(gpu->uuid, uuid) == 0)
            return nvsim_gpu_handle(g, device);
        for (unsigned int m = 0; m < gpu->mig.ndev; m++) {
            if (strcmp(gpu->mig.devs[m].uuid, uuid) == 0) {
                if (gpu->lost)
                    return NVML_ERROR_GPU_IS_LOST;
                *device = &nvsim_devices[g][m + 1];
                return NVML_SUCCESS;
            }
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *pciBusId, nvmlDevice_t *device)
{
    unsigned int domain = 0, bus = 0, dev = 0, fn = 0;
    int used = -1;

    if (!nvsim_ready())
        return NVML_ERROR_UNINITIALIZED;
    if (pciBusId == NULL || device == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (sscanf(pciBusId, "%x:%x:%x.%x%n", &domain, &bus, &dev, &fn, &used) != 4 || pciBusId[used] != '\0') {
        domain = 0;
        used = -1;
        if (sscanf(pciBusId, "%x:%x.%x%n", &bus, &dev, &fn, &used) != 3 || pciBusId[used] != '\0')
            return NVML_ERROR_INVALID_ARGUMENT;
    }
    for (unsigned int g = 0; g < nvsim_sys.ngpus; g++) {
        const struct sim_gpu *gpu = &nvsim_sys.gpus[g];
        if (gpu->domain == domain && gpu->bus == bus && gpu->device == dev)
            return nvsim_gpu_handle(g, device);
    }
    return NVML_ERROR_NOT_FOUND;
}

NVML_API nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *pciBusId, nvmlDevice_t *device)
{
    return nvmlDeviceGetHandleByPciBusId_v2(pciBusId, device);
}

long nvsim_table_index(const void *p, const void *base, size_t count, size_t elem)
{
    uintptr_t start = (uintptr_t)base;
    uintptr_t at = (uintptr_t)p;
    if (p == NULL || at < start || at >= start + count * elem || (at - start) % elem != 0)
        return -1;
    return (long)((at - start) / elem);
}

nvmlReturn_t nvsim_resolve(nvmlDevice_t device, struct sim_gpu **gpu, struct sim_mig **mig)
{
    long index;

    if (!nvsim_ready())
        return NVML_ERROR_UNINITIALIZED;
    index = nvsim_table_index(device, nvsim_devices, SIM_MAX_GPUS * (1 + SIM_MAX_MIGS), sizeof(struct nvmlDevice_st));
    if (index < 0 || device->gpu >= nvsim_sys.ngpus)
        return NVML_ERROR_INVALID_ARGUMENT;
    *gpu = &nvsim_sys.gpus[device->gpu];
    *mig = NULL;
    if (device->mig >= 0) {
        if ((unsigned int)device->mig >= (*gpu)->mig.ndev)
            return NVML_ERROR_INVALID_ARGUMENT;
        *mig = &(*gpu)->mig.devs[device->mig];
    }
    if ((*gpu)->lost)
        return NVML_ERROR_GPU_IS_LOST;
    return NVML_SUCCESS;
}

/* --------------------------------------------------------------- queries */

NVML_API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    char text[NVML_DEVICE_NAME_V2_BUFFER_SIZE + 64];
    RESOLVE(device);
    if (mig != NULL) {
        snprintf(text, sizeof(text), "%s MIG %s", gpu->name, sim_ci_profile_of(&gpu->mig, mig)->name);
        return nvsim_copy(name, length, text);
    }
    return nvsim_copy(name, length, gpu->name);
}

NVML_API nvmlReturn_t nvmlDeviceGetBrand(nvmlDevice_t device, nvmlBrandType_t *type)
{
    RESOLVE(device);
    (void)mig;
    if (type == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *type = (nvmlBrandType_t)gpu->brand;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    RESOLVE(device);
    if (index == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (mig != NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    *index = (unsigned int)(gpu - nvsim_sys.gpus);
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    RESOLVE(device);
    return nvsim_copy(uuid, length, mig != NULL ? mig->uuid : gpu->uuid);
}

NVML_API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minorNumber)
{
    RESOLVE(device);
    if (minorNumber == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (mig != NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    *minorNumber = gpu->minor;
    return NVML_SUCCESS;
}

static void nvsim_fill_pci(const struct sim_gpu *gpu, nvmlPciInfo_t *pci)
{
    memset(pci, 0, sizeof(*pci));
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), NVML_DEVICE_PCI_BUS_ID_LEGACY_FMT, gpu->domain & 0xffff,
             gpu->bus, gpu->device);
    snprintf(pci->busId, sizeof(pci->busId), NVML_DEVICE_PCI_BUS_ID_FMT, gpu->domain, gpu->bus, gpu->device);
    pci->domain = gpu->domain;
    pci->bus = gpu->bus;
    pci->device = gpu->device;
    pci->pciDeviceId = gpu->pci_device_id;
    pci->pciSubSystemId = gpu->pci_subsystem_id;
}

NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    RESOLVE(device);
    (void)mig;
    if (pci == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvsim_fill_pci(gpu, pci);
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    return nvmlDeviceGetPciInfo_v3(device, pci);
}

/* Unversioned: the original 52-byte layout (busId[16] first, reserved tail). */
NVML_API nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_v1_t *pci)
{
    nvmlPciInfo_t full;
    RESOLVE(device);
    (void)mig;
    if (pci == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvsim_fill_pci(gpu, &full);
    memset(pci, 0, sizeof(*pci));
    memcpy(pci->busId, full.busIdLegacy, sizeof(pci->busId));
    pci->domain = full.domain;
    pci->bus = full.bus;
    pci->device = full.device;
    pci->pciDeviceId = full.pciDeviceId;
    pci->pciSubSystemId = full.pciSubSystemId;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major_, int *minor_)
{
    RESOLVE(device);
    (void)mig;
    if (major_ == NULL || minor_ == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *major_ = gpu->cc_major;
    *minor_ = gpu->cc_minor;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, nvmlDeviceArchitecture_t *arch)
{
    RESOLVE(device);
    (void)mig;
    if (arch == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *arch = gpu->arch;
    return NVML_SUCCESS;
}

static void nvsim_memory(const struct sim_gpu *gpu, const struct sim_mig *mig, unsigned long long *total,
                         unsigned long long *used)
{
    *total = mig != NULL ? sim_gi_profile_of(&gpu->mig, &gpu->mig.gis[mig->gi_slot])->memory_mib << 20
                         : gpu->mem_total;
    *used = mig != NULL ? 0 : gpu->mem_used;
    if (*used > *total)
        *used = *total;
}

NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    unsigned long long total, used;
    RESOLVE(device);
    if (memory == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvsim_memory(gpu, mig, &total, &used);
    memory->total = total;
    memory->used = used;
    memory->free = total - used;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    unsigned long long total, used;
    RESOLVE(device);
    if (memory == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (memory->version != nvmlMemory_v2)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    nvsim_memory(gpu, mig, &total, &used);
    memory->total = total;
    memory->reserved = 0;
    memory->used = used;
    memory->free = total - used;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    RESOLVE(device);
    if (utilization == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (mig != NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    utilization->gpu = gpu->util_gpu;
    utilization->memory = gpu->util_mem;
    return NVML_SUCCESS;
}
