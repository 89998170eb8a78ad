/*
 * nvml_sim.h - what the translation units of the simulated libnvidia-ml
 * share: the loaded system, the handle tables behind nvmlDevice_t,
 * nvmlGpuInstance_t and nvmlComputeInstance_t, and handle validation.
 *
 * nvml.c owns init, devices and queries; nvml_mig.c MIG mode and MIG
 * device handles; nvml_instances.c the GPU/compute instance API.  Built
 * with -fvisibility=hidden: only NVML_API functions are exported.
 */
#ifndef NVSIM_NVML_SIM_H
#define NVSIM_NVML_SIM_H

#include <stddef.h>

#include "nvml_types.h"
#include "simroot.h"

#define NVML_API __attribute__((visibility("default")))

struct nvmlDevice_st {
    unsigned int gpu;   /* slot in nvsim_sys.gpus */
    int mig;            /* -1: the GPU itself, else slot in gpu->mig.devs */
};

struct nvmlGpuInstance_st {
    unsigned int gpu;
    unsigned int slot;  /* in gpu->mig.gis */
};

struct nvmlComputeInstance_st {
    unsigned int gpu;
    unsigned int mig;   /* in gpu->mig.devs: a compute instance is a MIG device */
};

extern struct sim_system nvsim_sys;
extern struct nvmlDevice_st nvsim_devices[SIM_MAX_GPUS][1 + SIM_MAX_MIGS];
extern struct nvmlGpuInstance_st nvsim_gpu_instances[SIM_MAX_GPUS][SIM_MAX_GIS];
extern struct nvmlComputeInstance_st nvsim_compute_instances[SIM_MAX_GPUS][SIM_MAX_MIGS];

int nvsim_ready(void);
nvmlReturn_t nvsim_copy(char *dst, unsigned int length, const char *src);

/* Index of p in the table at base (count elements of elem bytes), or -1 if p is not one of them. */
long nvsim_table_index(const void *p, const void *base, size_t count, size_t elem);

/* Validate a device handle; on success *gpu is its GPU and *mig its MIG device (or NULL). */
nvmlReturn_t nvsim_resolve(nvmlDevice_t device, struct sim_gpu **gpu, struct sim_mig **mig);

#define RESOLVE(device)                                      \
    struct sim_gpu *gpu;                                     \
    struct sim_mig *mig;                                     \
    nvmlReturn_t rc_ = nvsim_resolve((device), &gpu, &mig);  \
    if (rc_ != NVML_SUCCESS)                                 \
        return rc_

#endif /* NVSIM_NVML_SIM_H */
