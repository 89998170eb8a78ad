/*
 * nvml_instances.c - the MIG management API of the simulated libnvidia-ml:
 * GPU-instance and compute-instance profiles, their placements and
 * remaining capacity, and the GPU instances and compute instances that
 * exist, as nvidia-ctk, nvidia-ml-py and the Kubernetes device plugin read
 * them.  Instances are neither created nor destroyed: the topology fixes them.
 *
 * Return codes follow nvml.h: a GPU that is not MIG-capable, or a
 * MIG-capable GPU whose MIG mode is off, answers NVML_ERROR_NOT_SUPPORTED
 * (GPU-instance placements excepted: nvml.h gives them regardless of the
 * mode); a profile index from NVML_*_PROFILE_COUNT on, which ends an
 * enumeration, or a MIG device handle where a GPU is expected, is
 * NVML_ERROR_INVALID_ARGUMENT; a profile the GPU lacks is NOT_SUPPORTED; a
 * versioned structure of another version is ARGUMENT_VERSION_MISMATCH.
 */
#define _GNU_SOURCE

#include "nvml_sim.h"

/* ------------------------------------------------------------- handles */

/* A GPU handle (not a MIG device handle) of a MIG-capable GPU. */
static nvmlReturn_t nvsim_mig_gpu(nvmlDevice_t device, struct sim_gpu **out)
{
    RESOLVE(device);
    if (mig != NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!gpu->mig.capable)
        return NVML_ERROR_NOT_SUPPORTED;
    *out = gpu;
    return NVML_SUCCESS;
}

static unsigned int nvsim_gpu_slot(const struct sim_gpu *gpu)
{
    return (unsigned int)(gpu - nvsim_sys.gpus);
}

static nvmlReturn_t nvsim_resolve_gi(nvmlGpuInstance_t handle, struct sim_gpu **gpu, struct sim_gi **gi)
{
    long index;

    if (!nvsim_ready())
        return NVML_ERROR_UNINITIALIZED;
    index = nvsim_table_index(handle, nvsim_gpu_instances, SIM_MAX_GPUS * SIM_MAX_GIS,
                              sizeof(struct nvmlGpuInstance_st));
    if (index < 0 || handle->gpu >= nvsim_sys.ngpus)
        return NVML_ERROR_INVALID_ARGUMENT;
    *gpu = &nvsim_sys.gpus[handle->gpu];
    if (handle->slot >= (*gpu)->mig.ngi || !(*gpu)->mig.gis[handle->slot].visible)
        return NVML_ERROR_INVALID_ARGUMENT;
    *gi = &(*gpu)->mig.gis[handle->slot];
    return (*gpu)->lost ? NVML_ERROR_GPU_IS_LOST : NVML_SUCCESS;
}

static nvmlReturn_t nvsim_resolve_ci(nvmlComputeInstance_t handle, struct sim_gpu **gpu, struct sim_mig **ci)
{
    long index;

    if (!nvsim_ready())
        return NVML_ERROR_UNINITIALIZED;
    index = nvsim_table_index(handle, nvsim_compute_instances, SIM_MAX_GPUS * SIM_MAX_MIGS,
                              sizeof(struct nvmlComputeInstance_st));
    if (index < 0 || handle->gpu >= nvsim_sys.ngpus)
        return NVML_ERROR_INVALID_ARGUMENT;
    *gpu = &nvsim_sys.gpus[handle->gpu];
    if (handle->mig >= (*gpu)->mig.ndev)
        return NVML_ERROR_INVALID_ARGUMENT;
    *ci = &(*gpu)->mig.devs[handle->mig];
    return (*gpu)->lost ? NVML_ERROR_GPU_IS_LOST : NVML_SUCCESS;
}

/* ------------------------------------------------------------- helpers */

static const struct sim_gi_profile *nvsim_gi_profile_by_id(const struct sim_gpu_mig *m, unsigned int id,
                                                           unsigned int *index)
{
    for (unsigned int i = 0; i < SIM_MAX_GI_PROFILES; i++) {
        if (m->profiles[i].present && m->profiles[i].id == id) {
            *index = i;
            return &m->profiles[i];
        }
    }
    return NULL;
}

static const struct sim_ci_profile *nvsim_ci_profile_by_id(const struct sim_gi_profile *gp, unsigned int id,
                                                           unsigned int *index)
{
    for (unsigned int i = 0; i < SIM_MAX_CI_PROFILES; i++) {
        if (gp->ci[i].present && gp->ci[i].id == id) {
            *index = i;
            return &gp->ci[i];
        }
    }
    return NULL;
}

/* How many more instances fit in the free slices of busy (greedy over placements in order: optimal
 * for placements that are aligned to their size). */
static unsigned int nvsim_fit(const struct sim_placements *placements, unsigned int busy)
{
    unsigned int n = 0;
    for (unsigned int i = 0; i < placements->count; i++) {
        unsigned int span = sim_span(placements->start[i], placements->size);
        if ((busy & span) == 0) {
            busy |= span;
            n++;
        }
    }
    return n;
}

static unsigned int nvsim_min3(unsigned int a, unsigned int b, unsigned int c)
{
    unsigned int m = a < b ? a : b;
    return m < c ? m : c;
}

static unsigned int nvsim_compute_slices(const struct sim_gpu_mig *m)
{
    unsigned int slices = 0;
    for (unsigned int i = 0; i < SIM_MAX_GI_PROFILES; i++)
        if (m->profiles[i].present && m->profiles[i].slices > slices)
            slices = m->profiles[i].slices;
    return slices;
}

/* -------------------------------------------------- GPU-instance profiles */

static int nvsim_gi_version_ok(unsigned int version)
{
    return version == nvmlGpuInstanceProfileInfo_v2 || version == nvmlGpuInstanceProfileInfo_v3;
}

/* The checks every GPU-instance profile query makes (of info->version for a versioned structure). */
static nvmlReturn_t nvsim_gi_profile(nvmlDevice_t device, const void *info, int versioned, struct sim_gpu **gpu)
{
    nvmlReturn_t rc = nvsim_mig_gpu(device, gpu);
    if (rc != NVML_SUCCESS)
        return rc;
    if (info == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (versioned && !nvsim_gi_version_ok(((const nvmlGpuInstanceProfileInfo_v2_t *)info)->version))
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    return (*gpu)->mig.enabled ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

static nvmlReturn_t nvsim_gi_profile_by_index(const struct sim_gpu *gpu, unsigned int profile,
                                              const struct sim_gi_profile **out)
{
    if (profile >= NVML_GPU_INSTANCE_PROFILE_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!gpu->mig.profiles[profile].present)
        return NVML_ERROR_NOT_SUPPORTED;
    *out = &gpu->mig.profiles[profile];
    return NVML_SUCCESS;
}

#define NVSIM_GI_COUNTS(dst, p)                      \
    do {                                             \
        (dst)->id = (p)->id;                         \
        (dst)->sliceCount = (p)->slices;             \
        (dst)->instanceCount = (p)->instances;       \
        (dst)->multiprocessorCount = (p)->sm_count;  \
        (dst)->copyEngineCount = (p)->copy_engines;  \
        (dst)->decoderCount = (p)->decoders;         \
        (dst)->encoderCount = (p)->encoders;         \
        (dst)->jpegCount = (p)->jpegs;               \
        (dst)->ofaCount = (p)->ofas;                 \
        (dst)->memorySizeMB = (p)->memory_mib;       \
    } while (0)

/* Fill a v2 or v3 structure, whichever info->version names. */
static void nvsim_fill_gi_versioned(const struct sim_gi_profile *p, nvmlGpuInstanceProfileInfo_v2_t *info)
{
    unsigned int version = info->version;
    if (version == nvmlGpuInstanceProfileInfo_v3) {
        nvmlGpuInstanceProfileInfo_v3_t *v3 = (nvmlGpuInstanceProfileInfo_v3_t *)(void *)info;
        memset(v3, 0, sizeof(*v3));
        v3->version = version;
        NVSIM_GI_COUNTS(v3, p);
        snprintf(v3->name, sizeof(v3->name), "MIG %s", p->name);
        v3->capabilities = p->p2p ? NVML_GPU_INSTANCE_PROFILE_CAPS_P2P : 0;
        return;
    }
    memset(info, 0, sizeof(*info));
    info->version = version;
    NVSIM_GI_COUNTS(info, p);
    info->isP2pSupported = p->p2p;
    snprintf(info->name, sizeof(info->name), "MIG %s", p->name);
}

NVML_API nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfo(nvmlDevice_t device, unsigned int profile,
                                                          nvmlGpuInstanceProfileInfo_t *info)
{
    const struct sim_gi_profile *p;
    struct sim_gpu *gpu;
    nvmlReturn_t rc = nvsim_gi_profile(device, info, 0, &gpu);
    if (rc == NVML_SUCCESS)
        rc = nvsim_gi_profile_by_index(gpu, profile, &p);
    if (rc != NVML_SUCCESS)
        return rc;
    memset(info, 0, sizeof(*info));
    NVSIM_GI_COUNTS(info, p);
    info->isP2pSupported = p->p2p;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t device, unsigned int profile,
                                                           nvmlGpuInstanceProfileInfo_v2_t *info)
{
    const struct sim_gi_profile *p;
    struct sim_gpu *gpu;
    nvmlReturn_t rc = nvsim_gi_profile(device, info, 1, &gpu);
    if (rc == NVML_SUCCESS)
        rc = nvsim_gi_profile_by_index(gpu, profile, &p);
    if (rc != NVML_SUCCESS)
        return rc;
    nvsim_fill_gi_versioned(p, info);
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoByIdV(nvmlDevice_t device, unsigned int profileId,
                                                               nvmlGpuInstanceProfileInfo_v2_t *info)
{
    const struct sim_gi_profile *p;
    struct sim_gpu *gpu;
    unsigned int index;
    nvmlReturn_t rc = nvsim_gi_profile(device, info, 1, &gpu);
    if (rc != NVML_SUCCESS)
        return rc;
    p = nvsim_gi_profile_by_id(&gpu->mig, profileId, &index);
    if (p == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    nvsim_fill_gi_versioned(p, info);
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(nvmlDevice_t device, unsigned int profileId,
                                                                    nvmlGpuInstancePlacement_t *placements,
                                                                    unsigned int *count)
{
    const struct sim_gi_profile *p;
    struct sim_gpu *gpu;
    unsigned int index;
    nvmlReturn_t rc = nvsim_mig_gpu(device, &gpu);
    if (rc != NVML_SUCCESS)
        return rc;
    if (count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    p = nvsim_gi_profile_by_id(&gpu->mig, profileId, &index);
    if (p == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    /* As nvml.h specifies, a non-NULL array must hold every placement: *count is output only. */
    for (unsigned int i = 0; placements != NULL && i < p->placements.count; i++) {
        placements[i].start = p->placements.start[i];
        placements[i].size = p->placements.size;
    }
    *count = p->placements.count;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetGpuInstanceRemainingCapacity(nvmlDevice_t device, unsigned int profileId,
                                                                unsigned int *count)
{
    const struct sim_gi_profile *p;
    struct sim_gpu *gpu;
    unsigned int index, busy = 0, used = 0, same = 0, total;
    nvmlReturn_t rc = nvsim_mig_gpu(device, &gpu);
    if (rc != NVML_SUCCESS)
        return rc;
    if (count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!gpu->mig.enabled)
        return NVML_ERROR_NOT_SUPPORTED;
    p = nvsim_gi_profile_by_id(&gpu->mig, profileId, &index);
    if (p == NULL)
        return NVML_ERROR_NOT_SUPPORTED;
    /* Every GPU instance takes room, also those this process cannot see. */
    for (unsigned int i = 0; i < gpu->mig.ngi; i++) {
        const struct sim_gi *g = &gpu->mig.gis[i];
        const struct sim_gi_profile *gp = sim_gi_profile_of(&gpu->mig, g);
        busy |= sim_span(g->start, gp->placements.size);
        used += gp->slices;
        same += g->profile == index;
    }
    total = nvsim_compute_slices(&gpu->mig);
    *count = nvsim_min3(nvsim_fit(&p->placements, busy), used < total ? (total - used) / p->slices : 0,
                        same < p->instances ? p->instances - same : 0);
    return NVML_SUCCESS;
}

/* ------------------------------------------------------- GPU instances */

NVML_API nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t device, unsigned int profileId,
                                                nvmlGpuInstance_t *gpuInstances, unsigned int *count)
{
    struct sim_gpu *gpu;
    unsigned int index, n = 0;
    nvmlReturn_t rc = nvsim_mig_gpu(device, &gpu);
    if (rc != NVML_SUCCESS)
        return rc;
    if (gpuInstances == NULL || count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!gpu->mig.enabled)
        return NVML_ERROR_NOT_SUPPORTED;
    if (nvsim_gi_profile_by_id(&gpu->mig, profileId, &index) == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned int i = 0; i < gpu->mig.ngi; i++)
        if (gpu->mig.gis[i].visible && gpu->mig.gis[i].profile == index)
            gpuInstances[n++] = &nvsim_gpu_instances[nvsim_gpu_slot(gpu)][i];
    *count = n;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t device, unsigned int id,
                                                   nvmlGpuInstance_t *gpuInstance)
{
    struct sim_gpu *gpu;
    nvmlReturn_t rc = nvsim_mig_gpu(device, &gpu);
    if (rc != NVML_SUCCESS)
        return rc;
    if (gpuInstance == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!gpu->mig.enabled)
        return NVML_ERROR_NOT_SUPPORTED;
    for (unsigned int i = 0; i < gpu->mig.ngi; i++) {
        if (gpu->mig.gis[i].visible && gpu->mig.gis[i].id == id) {
            *gpuInstance = &nvsim_gpu_instances[nvsim_gpu_slot(gpu)][i];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

NVML_API nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t *info)
{
    const struct sim_gi_profile *p;
    struct sim_gpu *gpu;
    struct sim_gi *gi;
    nvmlReturn_t rc = nvsim_resolve_gi(gpuInstance, &gpu, &gi);
    if (rc != NVML_SUCCESS)
        return rc;
    if (info == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    p = sim_gi_profile_of(&gpu->mig, gi);
    memset(info, 0, sizeof(*info));
    info->device = &nvsim_devices[gpuInstance->gpu][0];
    info->id = gi->id;
    info->profileId = p->id;
    info->placement.start = gi->start;
    info->placement.size = p->placements.size;
    return NVML_SUCCESS;
}

/* ---------------------------------------------- compute-instance profiles */

static int nvsim_ci_version_ok(unsigned int version)
{
    return version == nvmlComputeInstanceProfileInfo_v2 || version == nvmlComputeInstanceProfileInfo_v3;
}

/* The checks every compute-instance profile query makes (of info->version for a versioned structure). */
static nvmlReturn_t nvsim_ci_profile(nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,
                                     const void *info, int versioned, const struct sim_gi_profile **gp,
                                     const struct sim_ci_profile **cp)
{
    struct sim_gpu *gpu;
    struct sim_gi *gi;
    nvmlReturn_t rc = nvsim_resolve_gi(gpuInstance, &gpu, &gi);
    if (rc != NVML_SUCCESS)
        return rc;
    if (info == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (versioned && !nvsim_ci_version_ok(((const nvmlComputeInstanceProfileInfo_v2_t *)info)->version))
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (profile >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT || engProfile >= NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    *gp = sim_gi_profile_of(&gpu->mig, gi);
    if (!(*gp)->ci[profile].present)
        return NVML_ERROR_NOT_SUPPORTED;
    *cp = &(*gp)->ci[profile];
    return NVML_SUCCESS;
}

/* The engines of a GPU instance are shared by its compute instances. */
#define NVSIM_CI_COUNTS(dst, gp, cp)                         \
    do {                                                     \
        (dst)->id = (cp)->id;                                \
        (dst)->sliceCount = (cp)->slices;                    \
        (dst)->instanceCount = (cp)->instances;              \
        (dst)->multiprocessorCount = (cp)->sm_count;         \
        (dst)->sharedCopyEngineCount = (gp)->copy_engines;   \
        (dst)->sharedDecoderCount = (gp)->decoders;          \
        (dst)->sharedEncoderCount = (gp)->encoders;          \
        (dst)->sharedJpegCount = (gp)->jpegs;                \
        (dst)->sharedOfaCount = (gp)->ofas;                  \
    } while (0)

NVML_API nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfo(nvmlGpuInstance_t gpuInstance,
                                                                   unsigned int profile, unsigned int engProfile,
                                                                   nvmlComputeInstanceProfileInfo_t *info)
{
    const struct sim_gi_profile *gp;
    const struct sim_ci_profile *cp;
    nvmlReturn_t rc = nvsim_ci_profile(gpuInstance, profile, engProfile, info, 0, &gp, &cp);
    if (rc != NVML_SUCCESS)
        return rc;
    memset(info, 0, sizeof(*info));
    NVSIM_CI_COUNTS(info, gp, cp);
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfoV(nvmlGpuInstance_t gpuInstance,
                                                                    unsigned int profile, unsigned int engProfile,
                                                                    nvmlComputeInstanceProfileInfo_v2_t *info)
{
    const struct sim_gi_profile *gp;
    const struct sim_ci_profile *cp;
    unsigned int version;
    nvmlReturn_t rc = nvsim_ci_profile(gpuInstance, profile, engProfile, info, 1, &gp, &cp);
    if (rc != NVML_SUCCESS)
        return rc;
    version = info->version;
    if (version == nvmlComputeInstanceProfileInfo_v3) {
        nvmlComputeInstanceProfileInfo_v3_t *v3 = (nvmlComputeInstanceProfileInfo_v3_t *)(void *)info;
        memset(v3, 0, sizeof(*v3));
        v3->version = version;
        NVSIM_CI_COUNTS(v3, gp, cp);
        snprintf(v3->name, sizeof(v3->name), "MIG %s", cp->name);
        return NVML_SUCCESS;
    }
    memset(info, 0, sizeof(*info));
    info->version = version;
    NVSIM_CI_COUNTS(info, gp, cp);
    snprintf(info->name, sizeof(info->name), "MIG %s", cp->name);
    return NVML_SUCCESS;
}

/* The GPU instance's profile and the compute-instance profile with this id, for the queries taking a
 * profile id: unknown ids in the NVML range are NOT_SUPPORTED, others invalid. */
static nvmlReturn_t nvsim_ci_profile_id(nvmlGpuInstance_t gpuInstance, unsigned int profileId, const void *out,
                                        struct sim_gpu **gpu, struct sim_gi **gi, const struct sim_ci_profile **cp,
                                        unsigned int *index)
{
    nvmlReturn_t rc = nvsim_resolve_gi(gpuInstance, gpu, gi);
    if (rc != NVML_SUCCESS)
        return rc;
    if (out == NULL || profileId >= NVML_COMPUTE_INSTANCE_PROFILE_COUNT)
        return NVML_ERROR_INVALID_ARGUMENT;
    *cp = nvsim_ci_profile_by_id(sim_gi_profile_of(&(*gpu)->mig, *gi), profileId, index);
    return *cp != NULL ? NVML_SUCCESS : NVML_ERROR_NOT_SUPPORTED;
}

NVML_API nvmlReturn_t nvmlGpuInstanceGetComputeInstancePossiblePlacements(nvmlGpuInstance_t gpuInstance,
                                                                          unsigned int profileId,
                                                                          nvmlComputeInstancePlacement_t *placements,
                                                                          unsigned int *count)
{
    const struct sim_ci_profile *cp;
    struct sim_gpu *gpu;
    struct sim_gi *gi;
    unsigned int index;
    nvmlReturn_t rc = nvsim_ci_profile_id(gpuInstance, profileId, count, &gpu, &gi, &cp, &index);
    if (rc != NVML_SUCCESS)
        return rc;
    for (unsigned int i = 0; placements != NULL && i < cp->placements.count; i++) {
        placements[i].start = cp->placements.start[i];
        placements[i].size = cp->placements.size;
    }
    *count = cp->placements.count;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlGpuInstanceGetComputeInstanceRemainingCapacity(nvmlGpuInstance_t gpuInstance,
                                                                         unsigned int profileId, unsigned int *count)
{
    const struct sim_gi_profile *gp;
    const struct sim_ci_profile *cp;
    struct sim_gpu *gpu;
    struct sim_gi *gi;
    unsigned int index, used;
    nvmlReturn_t rc = nvsim_ci_profile_id(gpuInstance, profileId, count, &gpu, &gi, &cp, &index);
    if (rc != NVML_SUCCESS)
        return rc;
    gp = sim_gi_profile_of(&gpu->mig, gi);
    used = (unsigned int)__builtin_popcount(gi->ci_busy);
    *count = nvsim_min3(nvsim_fit(&cp->placements, gi->ci_busy), used < gp->slices ? (gp->slices - used) / cp->slices : 0,
                        gi->ci_count[index] < cp->instances ? cp->instances - gi->ci_count[index] : 0);
    return NVML_SUCCESS;
}

/* --------------------------------------------------- compute instances */

NVML_API nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t gpuInstance, unsigned int profileId,
                                                         nvmlComputeInstance_t *computeInstances, unsigned int *count)
{
    const struct sim_ci_profile *cp;
    struct sim_gpu *gpu;
    struct sim_gi *gi;
    unsigned int index, n = 0;
    nvmlReturn_t rc = nvsim_ci_profile_id(gpuInstance, profileId, count, &gpu, &gi, &cp, &index);
    if (rc != NVML_SUCCESS)
        return rc;
    if (computeInstances == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned int m = 0; m < gpu->mig.ndev; m++) {
        const struct sim_mig *d = &gpu->mig.devs[m];
        if (d->gi_slot == gpuInstance->slot && d->ci_profile == index)
            computeInstances[n++] = &nvsim_compute_instances[gpuInstance->gpu][m];
    }
    *count = n;
    return NVML_SUCCESS;
}

NVML_API nvmlReturn_t nvmlGpuInstanceGetComputeInstanceById(nvmlGpuInstance_t gpuInstance, unsigned int id,
                                                            nvmlComputeInstance_t *computeInstance)
{
    struct sim_gpu *gpu;
    struct sim_gi *gi;
    nvmlReturn_t rc = nvsim_resolve_gi(gpuInstance, &gpu, &gi);
    if (rc != NVML_SUCCESS)
        return rc;
    if (computeInstance == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned int m = 0; m < gpu->mig.ndev; m++) {
        if (gpu->mig.devs[m].gi_slot == gpuInstance->slot && gpu->mig.devs[m].ci == id) {
            *computeInstance = &nvsim_compute_instances[gpuInstance->gpu][m];
            return NVML_SUCCESS;
        }
    }
    return NVML_ERROR_NOT_FOUND;
}

NVML_API nvmlReturn_t nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t computeInstance,
                                                    nvmlComputeInstanceInfo_t *info)
{
    const struct sim_ci_profile *cp;
    struct sim_gpu *gpu;
    struct sim_mig *ci;
    nvmlReturn_t rc = nvsim_resolve_ci(computeInstance, &gpu, &ci);
    if (rc != NVML_SUCCESS)
        return rc;
    if (info == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    cp = sim_ci_profile_of(&gpu->mig, ci);
    memset(info, 0, sizeof(*info));
    info->device = &nvsim_devices[computeInstance->gpu][0];
    info->gpuInstance = &nvsim_gpu_instances[computeInstance->gpu][ci->gi_slot];
    info->id = ci->ci;
    info->profileId = cp->id;
    info->placement.start = ci->ci_start;
    info->placement.size = cp->slices;
    return NVML_SUCCESS;
}

/* Unversioned: the original layout without the placement. */
NVML_API nvmlReturn_t nvmlComputeInstanceGetInfo(nvmlComputeInstance_t computeInstance,
                                                 nvmlComputeInstanceInfo_v1_t *info)
{
    nvmlComputeInstanceInfo_t full;
    nvmlReturn_t rc = nvmlComputeInstanceGetInfo_v2(computeInstance, info != NULL ? &full : NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    info->device = full.device;
    info->gpuInstance = full.gpuInstance;
    info->id = full.id;
    info->profileId = full.profileId;
    return NVML_SUCCESS;
}
