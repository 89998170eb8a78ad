/*
 * nvidia_smi.c - the simulated nvidia-smi: behaves like `nvidia-smi -L`
 * (with or without -L) on top of whatever libnvidia-ml.so.1 the dynamic
 * loader finds (no RPATH), plus `--version`.
 *
 * Init failures: 9 prints NVIDIA's "couldn't communicate" text, others
 * print "Failed to initialize NVML: <nvmlErrorString>"; the exit status is
 * the NVML return code, as with the real tool.
 */
#include <stdio.h>
#include <string.h>

#include "nvml_types.h"

nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlShutdown(void);
const char *nvmlErrorString(nvmlReturn_t result);
nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion);
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode);
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count);
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index, nvmlDevice_t *migDevice);

static void list_migs(nvmlDevice_t gpu)
{
    unsigned int current = 0, pending = 0, max = 0, shown = 0;

    if (nvmlDeviceGetMigMode(gpu, &current, &pending) != NVML_SUCCESS || current != NVML_DEVICE_MIG_ENABLE)
        return;
    if (nvmlDeviceGetMaxMigDeviceCount(gpu, &max) != NVML_SUCCESS)
        return;
    for (unsigned int i = 0; i < max; i++) {
        nvmlDevice_t mig;
        char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
        char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
        const char *profile;

        if (nvmlDeviceGetMigDeviceHandleByIndex(gpu, i, &mig) != NVML_SUCCESS)
            continue;
        if (nvmlDeviceGetName(mig, name, sizeof(name)) != NVML_SUCCESS
            || nvmlDeviceGetUUID(mig, uuid, sizeof(uuid)) != NVML_SUCCESS)
            continue;
        profile = strstr(name, "MIG ");
        profile = profile != NULL ? profile + 4 : name;
        printf("  MIG %-11s Device %2u: (UUID: %s)\n", profile, shown, uuid);
        shown++;
    }
}

static int print_version(void)
{
    char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
    int cuda = 0;
    nvmlReturn_t rc = nvmlInit_v2();
    if (rc != NVML_SUCCESS) {
        printf("Failed to initialize NVML: %s\n", nvmlErrorString(rc));
        return (int)rc;
    }
    nvmlSystemGetDriverVersion(driver, sizeof(driver));
    nvmlSystemGetCudaDriverVersion_v2(&cuda);
    printf("NVIDIA-SMI version  : %s\n", driver);
    printf("DRIVER version      : %s\n", driver);
    printf("CUDA Version        : %d.%d\n", cuda / 1000, (cuda % 1000) / 10);
    nvmlShutdown();
    return 0;
}

int main(int argc, char **argv)
{
    unsigned int count = 0;
    int status = 0;
    nvmlReturn_t rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0)
            return print_version();
    }
    rc = nvmlInit_v2();
    if (rc == NVML_ERROR_DRIVER_NOT_LOADED) {
        printf("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
               "Make sure that the latest NVIDIA driver is installed and running.\n\n");
        return (int)rc;
    }
    if (rc != NVML_SUCCESS) {
        printf("Failed to initialize NVML: %s\n", nvmlErrorString(rc));
        return (int)rc;
    }
    rc = nvmlDeviceGetCount_v2(&count);
    if (rc != NVML_SUCCESS || count == 0) {
        printf("No devices were found\n");
        nvmlShutdown();
        return 6;
    }
    for (unsigned int i = 0; i < count; i++) {
        nvmlDevice_t gpu;
        char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
        char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];

        rc = nvmlDeviceGetHandleByIndex_v2(i, &gpu);
        if (rc == NVML_SUCCESS)
            rc = nvmlDeviceGetName(gpu, name, sizeof(name));
        if (rc == NVML_SUCCESS)
            rc = nvmlDeviceGetUUID(gpu, uuid, sizeof(uuid));
        if (rc != NVML_SUCCESS) {
            printf("Unable to determine the device handle for GPU%u: %s\n", i, nvmlErrorString(rc));
            status = (int)rc;
            continue;
        }
        printf("GPU %u: %s (UUID: %s)\n", i, name, uuid);
        list_migs(gpu);
    }
    nvmlShutdown();
    return status;
}
