/*
 * nvml_mig.c - MIG mode and MIG device handles of the simulated
 * libnvidia-ml: what NVIDIA's Kubernetes device plugin, DCGM and the
 * container toolkit use to enumerate MIG devices.
 *
 * Return codes follow nvml.h: a GPU that is not MIG-capable answers
 * NVML_ERROR_NOT_SUPPORTED; a MIG-capable GPU with MIG mode off has a
 * maximum of 0 MIG devices, so any MIG device index is an invalid argument.
 */
#define _GNU_SOURCE

#include "nvml_sim.h"

NVML_API nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode)
{
    RESOLVE(device);
    if (currentMode == NULL || pendingMode == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (mig != NULL || !gpu->mig.capable)
        return NVML_ERROR_NOT_SUPPORTED;
    *currentMode = gpu->mig.enabled ? NVML_DEVICE_MIG_ENABLE : NVML_DEVICE_MIG_DISABLE;
    *pendingMode = *currentMode;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceIsMigDeviceHandle(nvmlDevice_t device, unsigned int *isMigDevice)
{
    RESOLVE(device);
    (void)gpu;
    if (isMigDevice == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *isMigDevice = mig != NULL;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count)
{
    RESOLVE(device);
    if (count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (mig != NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    *count = gpu->mig.enabled ? gpu->mig.max_devices : 0;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                          nvmlDevice_t *migDevice)
{
    RESOLVE(device);
    if (migDevice == NULL || mig != NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!gpu->mig.capable)
        return NVML_ERROR_NOT_SUPPORTED;
    if (!gpu->mig.enabled || index >= gpu->mig.max_devices)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (index >= gpu->mig.ndev)
        return NVML_ERROR_NOT_FOUND;
    *migDevice = &nvsim_devices[device->gpu][index + 1];
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id)
{
    RESOLVE(device);
    (void)gpu;
    if (id == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (mig == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    *id = mig->gi;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int *id)
{
    RESOLVE(device);
    (void)gpu;
    if (id == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (mig == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    *id = mig->ci;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvmlDevice_t migDevice, nvmlDevice_t *device)
{
    RESOLVE(migDevice);
    (void)gpu;
    if (device == NULL || mig == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &nvsim_devices[migDevice->gpu][0];
    return NVML_SUCCESS;
}

/* A MIG device has its compute instance's SMs, its GPU instance's memory and shares that GPU
 * instance's engines. */
NVML_API nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes)
{
    const struct sim_gi_profile *gp;
    const struct sim_ci_profile *cp;
    RESOLVE(device);
    if (attributes == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (mig == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    gp = sim_gi_profile_of(&gpu->mig, &gpu->mig.gis[mig->gi_slot]);
    cp = sim_ci_profile_of(&gpu->mig, mig);
    memset(attributes, 0, sizeof(*attributes));
    attributes->multiprocessorCount = cp->sm_count;
    attributes->sharedCopyEngineCount = gp->copy_engines;
    attributes->sharedDecoderCount = gp->decoders;
    attributes->sharedEncoderCount = gp->encoders;
    attributes->sharedJpegCount = gp->jpegs;
    attributes->sharedOfaCount = gp->ofas;
    attributes->gpuInstanceSliceCount = gp->slices;
    attributes->computeInstanceSliceCount = cp->slices;
    attributes->memorySizeMB = gp->memory_mib;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetAttributes(nvmlDevice_t device, nvmlDeviceAttributes_t *attributes)
{
    return nvmlDeviceGetAttributes_v2(device, attributes);
}
