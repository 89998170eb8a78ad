/*
 * cuda.c - the simulated libcuda.so.<driver version>: cuInit,
 * cuDriverGetVersion and cuDeviceGetCount over the same driver root the
 * simulated NVML reads (simroot.h).  CUDA version baked in at build time.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "simroot.h"

#ifndef NV_CUDA_VERSION
#error "NV_CUDA_VERSION must be defined"
#endif

#define CUDA_API __attribute__((visibility("default")))

typedef int CUresult;
#define CUDA_SUCCESS 0
#define CUDA_ERROR_INVALID_VALUE 1
#define CUDA_ERROR_NOT_INITIALIZED 3
#define CUDA_ERROR_NO_DEVICE 100
#define CUDA_ERROR_SYSTEM_DRIVER_MISMATCH 803
#define CUDA_ERROR_UNKNOWN 999

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_initialized;
static int g_count;
static struct sim_system g_sys;

CUDA_API CUresult cuInit(unsigned int flags)
{
    CUresult ret = CUDA_SUCCESS;
    if (flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    if (!g_initialized) {
        int status = sim_system_load((const void *)&cuInit, &g_sys);
        if (status == SIM_OK) {
            g_count = 0;
            for (unsigned int i = 0; i < g_sys.ngpus; i++)
                if (!g_sys.gpus[i].lost)
                    g_count++;
            g_initialized = 1;
        } else if (status == SIM_ERR_RM_MISMATCH) {
            ret = CUDA_ERROR_SYSTEM_DRIVER_MISMATCH;
        } else if (status == SIM_ERR_DRIVER_NOT_LOADED) {
            ret = CUDA_ERROR_NO_DEVICE;
        } else {
            ret = CUDA_ERROR_UNKNOWN;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return ret;
}

CUDA_API CUresult cuDriverGetVersion(int *driverVersion)
{
    if (driverVersion == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *driverVersion = NV_CUDA_VERSION;
    return CUDA_SUCCESS;
}

CUDA_API CUresult cuDeviceGetCount(int *count)
{
    int ready;
    if (count == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    ready = g_initialized;
    if (ready)
        *count = g_count;
    pthread_mutex_unlock(&g_lock);
    return ready ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}
