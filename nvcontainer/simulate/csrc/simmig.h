/*
 * simmig.h - the MIG state of one simulated GPU, parsed from its
 * proc/driver/nvidia/gpus/<bus id>/simulated file (written by
 * nvcontainer/simulate/simfile.py): MIG capability and mode, the GPU's
 * profile table (GPU-instance profiles and the compute-instance profiles
 * inside each), and the GPU instances and compute instances (MIG devices)
 * that exist.  Malformed or inconsistent lines are ignored.
 *
 * Included by simroot.h after its line helpers (sim_value, sim_number).
 */
#ifndef NVSIM_SIMMIG_H
#define NVSIM_SIMMIG_H

#define SIM_MAX_GI_PROFILES 18   /* NVML_GPU_INSTANCE_PROFILE_COUNT */
#define SIM_MAX_CI_PROFILES 9    /* NVML_COMPUTE_INSTANCE_PROFILE_COUNT */
#define SIM_MAX_PLACEMENTS 8
#define SIM_MAX_GIS 8
#define SIM_MAX_MIGS 8
#define SIM_MEMORY_SLICES 8
#define SIM_PROFILE_NAME 32

struct sim_placements {
    unsigned int size;    /* slices each placement occupies */
    unsigned int count;
    unsigned int start[SIM_MAX_PLACEMENTS];
};

struct sim_ci_profile {
    int present;
    unsigned int id, slices, instances, sm_count;
    struct sim_placements placements;   /* compute slices inside the GPU instance */
    char name[SIM_PROFILE_NAME];
};

struct sim_gi_profile {
    int present;
    unsigned int id, slices, instances, sm_count;
    unsigned int copy_engines, decoders, encoders, jpegs, ofas, p2p;
    unsigned long long memory_mib;
    struct sim_placements placements;   /* memory slices */
    char name[SIM_PROFILE_NAME];
    struct sim_ci_profile ci[SIM_MAX_CI_PROFILES];
};

struct sim_gi {
    unsigned int id;
    unsigned int profile;     /* NVML GPU-instance profile index */
    unsigned int start;       /* first memory slice */
    int visible;              /* its access capability is usable by this process */
    unsigned int ci_busy;     /* compute slices held by its compute instances, visible or not */
    unsigned int ci_count[SIM_MAX_CI_PROFILES];
};

struct sim_mig {              /* one compute instance: a MIG device */
    unsigned int gi;          /* GPU instance id */
    unsigned int ci;
    unsigned int ci_profile;  /* NVML compute-instance profile index */
    unsigned int ci_start;
    unsigned int gi_slot;     /* its GPU instance in sim_gpu_mig.gis */
    char uuid[96];
};

struct sim_gpu_mig {
    int capable;
    int enabled;
    unsigned int max_devices;
    struct sim_gi_profile profiles[SIM_MAX_GI_PROFILES];
    unsigned int ngi;
    struct sim_gi gis[SIM_MAX_GIS];
    unsigned int ndev;        /* after sim_load_gpus: the MIG devices this process may use */
    struct sim_mig devs[SIM_MAX_MIGS];
};

SIM_FN unsigned int sim_span(unsigned int start, unsigned int size)
{
    if (size == 0 || start + size > 32)
        return 0;
    return (size == 32 ? 0xffffffffu : ((1u << size) - 1u)) << start;
}

/* "0,2,4" -> placements; every start must leave room for size slices within limit. */
SIM_FN int sim_parse_starts(const char *text, unsigned int size, unsigned int limit, struct sim_placements *out)
{
    const char *p = text;
    out->size = size;
    out->count = 0;
    while (*p != '\0') {
        char *end = NULL;
        unsigned long v;
        if (*p < '0' || *p > '9' || out->count == SIM_MAX_PLACEMENTS)
            return 0;
        v = strtoul(p, &end, 10);
        if (end == p || v + size > limit)
            return 0;
        out->start[out->count++] = (unsigned int)v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p != '\0')
            return 0;
    }
    return out->count > 0;
}

SIM_FN int sim_placement_allowed(const struct sim_placements *p, unsigned int start)
{
    for (unsigned int i = 0; i < p->count; i++)
        if (p->start[i] == start)
            return 1;
    return 0;
}

SIM_FN void sim_parse_gi_profiles(const char *sim, struct sim_gpu_mig *m)
{
    const char *cursor = NULL;
    char line[256];

    while (sim_value(sim, "GpuInstanceProfile", &cursor, line, sizeof(line))) {
        struct sim_gi_profile p;
        char starts[64];
        unsigned int index;
        int used = -1;
        memset(&p, 0, sizeof(p));
        if (sscanf(line, "%u %u %31s %u %u %u %u %u %u %u %u %llu %u %u %63s%n", &index, &p.id, p.name, &p.slices,
                   &p.instances, &p.sm_count, &p.copy_engines, &p.decoders, &p.encoders, &p.jpegs, &p.ofas,
                   &p.memory_mib, &p.p2p, &p.placements.size, starts, &used) == 15
            && used >= 0 && line[used] == '\0' && index < SIM_MAX_GI_PROFILES && p.slices > 0
            && sim_parse_starts(starts, p.placements.size, SIM_MEMORY_SLICES, &p.placements)) {
            p.present = 1;
            m->profiles[index] = p;
        }
        if (cursor == NULL)
            break;
    }
}

SIM_FN void sim_parse_ci_profiles(const char *sim, struct sim_gpu_mig *m)
{
    const char *cursor = NULL;
    char line[256];

    while (sim_value(sim, "ComputeInstanceProfile", &cursor, line, sizeof(line))) {
        struct sim_ci_profile c;
        char starts[64];
        unsigned int gi_index, index;
        int used = -1;
        memset(&c, 0, sizeof(c));
        if (sscanf(line, "%u %u %u %31s %u %u %u %63s%n", &gi_index, &index, &c.id, c.name, &c.slices,
                   &c.instances, &c.sm_count, starts, &used) == 8
            && used >= 0 && line[used] == '\0' && gi_index < SIM_MAX_GI_PROFILES && index < SIM_MAX_CI_PROFILES
            && m->profiles[gi_index].present && c.slices > 0
            && sim_parse_starts(starts, c.slices, m->profiles[gi_index].slices, &c.placements)) {
            c.present = 1;
            m->profiles[gi_index].ci[index] = c;
        }
        if (cursor == NULL)
            break;
    }
}

SIM_FN int sim_find_gi(const struct sim_gpu_mig *m, unsigned int id)
{
    for (unsigned int i = 0; i < m->ngi; i++)
        if (m->gis[i].id == id)
            return (int)i;
    return -1;
}

SIM_FN void sim_parse_gpu_instances(const char *sim, struct sim_gpu_mig *m)
{
    const char *cursor = NULL;
    char line[128];
    unsigned int memory_busy = 0;

    m->ngi = 0;
    while (m->ngi < SIM_MAX_GIS && sim_value(sim, "GpuInstance", &cursor, line, sizeof(line))) {
        struct sim_gi g;
        unsigned int span;
        int used = -1;
        memset(&g, 0, sizeof(g));
        if (sscanf(line, "%u %u %u%n", &g.id, &g.profile, &g.start, &used) == 3 && used >= 0 && line[used] == '\0'
            && g.profile < SIM_MAX_GI_PROFILES && m->profiles[g.profile].present
            && sim_placement_allowed(&m->profiles[g.profile].placements, g.start) && sim_find_gi(m, g.id) < 0) {
            span = sim_span(g.start, m->profiles[g.profile].placements.size);
            if ((memory_busy & span) == 0) {
                memory_busy |= span;
                m->gis[m->ngi++] = g;
            }
        }
        if (cursor == NULL)
            break;
    }
}

/* Every compute instance; the GPU instances' occupancy counts them all. */
SIM_FN void sim_parse_mig_devices(const char *sim, struct sim_gpu_mig *m)
{
    const char *cursor = NULL;
    char line[256];

    m->ndev = 0;
    while (m->ndev < SIM_MAX_MIGS && sim_value(sim, "MigDevice", &cursor, line, sizeof(line))) {
        struct sim_mig d;
        int used = -1, slot;
        memset(&d, 0, sizeof(d));
        if (sscanf(line, "%u %u %u %u %95s%n", &d.gi, &d.ci, &d.ci_profile, &d.ci_start, d.uuid, &used) == 5
            && used >= 0 && line[used] == '\0' && (slot = sim_find_gi(m, d.gi)) >= 0
            && d.ci_profile < SIM_MAX_CI_PROFILES) {
            struct sim_gi *g = &m->gis[slot];
            const struct sim_ci_profile *c = &m->profiles[g->profile].ci[d.ci_profile];
            unsigned int span = sim_span(d.ci_start, c->slices);
            int duplicate = 0;
            for (unsigned int i = 0; i < m->ndev; i++)
                duplicate |= m->devs[i].gi == d.gi && m->devs[i].ci == d.ci;
            if (c->present && !duplicate && sim_placement_allowed(&c->placements, d.ci_start)
                && (g->ci_busy & span) == 0) {
                d.gi_slot = (unsigned int)slot;
                g->ci_busy |= span;
                g->ci_count[d.ci_profile]++;
                m->devs[m->ndev++] = d;
            }
        }
        if (cursor == NULL)
            break;
    }
}

/* The MIG part of a GPU's simulated file. */
SIM_FN void sim_parse_mig(const char *sim, struct sim_gpu_mig *m)
{
    char text[64];

    memset(m, 0, sizeof(*m));
    m->capable = sim_value(sim, "MigCapable", NULL, text, sizeof(text)) && strcmp(text, "Yes") == 0;
    m->enabled = m->capable && sim_value(sim, "MigMode", NULL, text, sizeof(text)) && strcmp(text, "Enabled") == 0;
    if (!m->capable)
        return;
    sim_parse_gi_profiles(sim, m);
    sim_parse_ci_profiles(sim, m);
    if (!m->enabled)
        return;
    if (!sim_uint_value(sim, "MaxMigDevices", &m->max_devices) || m->max_devices > SIM_MAX_MIGS)
        m->max_devices = 7;
    sim_parse_gpu_instances(sim, m);
    sim_parse_mig_devices(sim, m);
    if (m->ndev > m->max_devices)
        m->ndev = m->max_devices;
}

SIM_FN const struct sim_gi_profile *sim_gi_profile_of(const struct sim_gpu_mig *m, const struct sim_gi *g)
{
    return &m->profiles[g->profile];
}

SIM_FN const struct sim_ci_profile *sim_ci_profile_of(const struct sim_gpu_mig *m, const struct sim_mig *d)
{
    return &m->profiles[m->gis[d->gi_slot].profile].ci[d->ci_profile];
}

#endif /* NVSIM_SIMMIG_H */
