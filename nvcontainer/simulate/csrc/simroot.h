/*
 * simroot.h - how the simulated driver libraries see "the hardware".
 *
 * Shared (as static functions) by the simulated libnvidia-ml and libcuda.
 * Nothing here knows a host path: the driver root is found from the
 * library's own file name (dladdr), walking up until a directory holds
 * proc/driver/nvidia/.  Everything per GPU lives in
 * <root>/proc/driver/nvidia/gpus/<bus id>/{information,simulated} and a GPU
 * is visible only if <root>/dev/nvidia<minor> is char device 195:<minor>
 * that may be opened (ENXIO/ENODEV count as "may": there is no hardware).
 * Files are read with open/read into bounded buffers; anything malformed
 * is treated as absent.  The MIG part of a GPU is in simmig.h.  Include
 * after defining _GNU_SOURCE.
 */
#ifndef NVSIM_SIMROOT_H
#define NVSIM_SIMROOT_H

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#define SIM_FN static __attribute__((unused))
/* snprintf into an array; true when the result was not truncated. */
#define SIM_PATH(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

#define SIM_MAX_GPUS 64
#define SIM_ROOT_MAX 2048
#define SIM_PATH_MAX (SIM_ROOT_MAX + 256)
#define SIM_FILE_MAX 16384
#define SIM_NV_MAJOR 195u
#define SIM_CTL_MINOR 255u

/* Init outcomes, expressed as NVML return codes (libcuda maps them). */
#define SIM_OK 0
#define SIM_ERR_NO_PERMISSION 4
#define SIM_ERR_DRIVER_NOT_LOADED 9
#define SIM_ERR_RM_MISMATCH 18

#ifndef NV_DRIVER_VERSION
#error "NV_DRIVER_VERSION must be defined at compile time"
#endif

SIM_FN int sim_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Find the driver root from the file that holds `addr`.  0 on success. */
SIM_FN int sim_find_root(const void *addr, char *root, size_t size)
{
    Dl_info info;
    char path[SIM_ROOT_MAX];
    char probe[SIM_PATH_MAX];
    char *slash;

    if (dladdr(addr, &info) == 0 || info.dli_fname == NULL || info.dli_fname[0] == '\0')
        return -1;
    if (info.dli_fname[0] == '/') {
        if (snprintf(path, sizeof(path), "%s", info.dli_fname) >= (int)sizeof(path))
            return -1;
    } else {
        char cwd[SIM_ROOT_MAX / 2];
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return -1;
        if (snprintf(path, sizeof(path), "%s/%s", cwd, info.dli_fname) >= (int)sizeof(path))
            return -1;
    }
    /* Drop the file name, then test each ancestor directory. */
    while ((slash = strrchr(path, '/')) != NULL) {
        *slash = '\0';
        if (SIM_PATH(probe, "%s/proc/driver/nvidia", path) && sim_is_dir(probe)) {
            if (snprintf(root, size, "%s", path) >= (int)size)
                return -1;
            return 0;
        }
    }
    return -1;
}

/* Read a whole regular file into buf (NUL-terminated).  Length or -1. */
SIM_FN long sim_read_file(const char *path, char *buf, size_t size)
{
    struct stat st;
    size_t used = 0;
    int fd;

    if (size == 0)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    while (used < size - 1) {
        ssize_t n = read(fd, buf + used, size - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    return (long)used;
}

/*
 * Find the value of the first line "<key>:<ws><value>" in buf, starting at
 * *cursor (pass NULL to search the whole buffer; otherwise it is advanced
 * past the match so repeated keys can be walked).  Trailing whitespace is
 * trimmed.  1 if found.
 */
SIM_FN int sim_value(const char *buf, const char *key, const char **cursor, char *out, size_t size)
{
    size_t klen = strlen(key);
    const char *line = (cursor != NULL && *cursor != NULL) ? *cursor : buf;

    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == ':') {
            const char *v = line + klen + 1;
            const char *stop = line + len;
            size_t n;
            while (v < stop && (*v == ' ' || *v == '\t'))
                v++;
            while (stop > v && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r'))
                stop--;
            n = (size_t)(stop - v);
            if (n >= size)
                return 0;
            memcpy(out, v, n);
            out[n] = '\0';
            if (cursor != NULL)
                *cursor = end != NULL ? end + 1 : line + len;
            return 1;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    if (cursor != NULL)
        *cursor = NULL;
    return 0;
}

/* Parse an unsigned number (decimal or 0x hex) that fills the whole string. */
SIM_FN int sim_number(const char *text, unsigned long long *out)
{
    char *end = NULL;
    if (text[0] == '\0' || text[0] == '-')
        return 0;
    errno = 0;
    *out = strtoull(text, &end, 0);
    return errno == 0 && end != NULL && *end == '\0';
}

SIM_FN int sim_uint_value(const char *buf, const char *key, unsigned int *out)
{
    char text[64];
    unsigned long long v;
    if (!sim_value(buf, key, NULL, text, sizeof(text)) || !sim_number(text, &v) || v > 0xffffffffULL)
        return 0;
    *out = (unsigned int)v;
    return 1;
}

SIM_FN int sim_u64_value(const char *buf, const char *key, unsigned long long *out)
{
    char text[64];
    return sim_value(buf, key, NULL, text, sizeof(text)) && sim_number(text, out);
}

/* The driver version named by the kernel module's version file. */
SIM_FN int sim_rm_version(const char *text, char *out, size_t size)
{
    const char *p = strstr(text, "NVRM version:");
    const char *eol;
    if (p == NULL)
        return 0;
    eol = strchr(p, '\n');
    if (eol == NULL)
        eol = p + strlen(p);
    p += strlen("NVRM version:");
    while (p < eol) {
        const char *tok;
        size_t n;
        int dots = 0, ok = 1;
        while (p < eol && (*p == ' ' || *p == '\t'))
            p++;
        tok = p;
        while (p < eol && *p != ' ' && *p != '\t')
            p++;
        n = (size_t)(p - tok);
        for (size_t i = 0; i < n; i++) {
            if (tok[i] == '.')
                dots++;
            else if (tok[i] < '0' || tok[i] > '9')
                ok = 0;
        }
        if (ok && dots > 0 && n > 0 && n < size && tok[0] != '.') {
            memcpy(out, tok, n);
            out[n] = '\0';
            return 1;
        }
    }
    return 0;
}

/* Is the driver "loaded" under root?  Returns SIM_OK or an NVML code. */
SIM_FN int sim_driver_status(const char *root)
{
    char path[SIM_PATH_MAX];
    char text[4096];
    char version[64];
    unsigned int injected = 0;
    struct stat st;

    if (!SIM_PATH(path, "%s/proc/driver/nvidia/version", root))
        return SIM_ERR_DRIVER_NOT_LOADED;
    if (sim_read_file(path, text, sizeof(text)) < 0 || !sim_rm_version(text, version, sizeof(version)))
        return SIM_ERR_DRIVER_NOT_LOADED;
    if (strcmp(version, NV_DRIVER_VERSION) != 0)
        return SIM_ERR_RM_MISMATCH;
    if (!SIM_PATH(path, "%s/dev/nvidiactl", root) || stat(path, &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != SIM_NV_MAJOR
        || minor(st.st_rdev) != SIM_CTL_MINOR)
        return SIM_ERR_DRIVER_NOT_LOADED;
    /* Simulation-only fault injection (e.g. "InitError: 4"). */
    if (SIM_PATH(path, "%s/proc/driver/nvidia/simulated", root) && sim_read_file(path, text, sizeof(text)) >= 0 && sim_uint_value(text, "InitError", &injected)
        && injected != 0)
        return (int)injected;
    return SIM_OK;
}

/* Is `path` a char device with this minor (and major, unless major_number is -1) that this process
 * may open?  Opening succeeds or fails with ENXIO/ENODEV where no hardware is behind the node; a
 * device cgroup that denies it gives EPERM. */
SIM_FN int sim_node_usable(const char *path, int major_number, unsigned int minor_number)
{
    struct stat st;
    int fd;

    if (stat(path, &st) != 0 || !S_ISCHR(st.st_mode) || minor(st.st_rdev) != minor_number
        || (major_number >= 0 && major(st.st_rdev) != (unsigned int)major_number))
        return 0;
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0) {
        close(fd);
        return 1;
    }
    return errno == ENXIO || errno == ENODEV;
}

/* May this process use /dev/nvidia<minor> under root? */
SIM_FN int sim_device_usable(const char *root, unsigned int minor_number)
{
    char path[SIM_PATH_MAX];
    return SIM_PATH(path, "%s/dev/nvidia%u", root, minor_number)
        && sim_node_usable(path, (int)SIM_NV_MAJOR, minor_number);
}

/* May this process use the nvidia-caps node behind a MIG capability file under root?  As the real
 * driver, a MIG device exists for a process only where both its GPU-instance and compute-instance
 * access files are present and their /dev/nvidia-caps nodes can be opened (a container gets only
 * those of the MIG devices it was given). */
SIM_FN int sim_cap_usable(const char *root, const char *cap_file)
{
    char path[SIM_PATH_MAX];
    char text[512];
    unsigned int minor_number;

    if (!SIM_PATH(path, "%s%s", root, cap_file) || sim_read_file(path, text, sizeof(text)) < 0
        || !sim_uint_value(text, "DeviceFileMinor", &minor_number))
        return 0;
    return SIM_PATH(path, "%s/dev/nvidia-caps/nvidia-cap%u", root, minor_number)
        && sim_node_usable(path, -1, minor_number);
}

#include "simmig.h"

struct sim_gpu {
    char name[96];
    char uuid[96];
    unsigned int domain, bus, device, function;
    unsigned int minor;
    unsigned int brand;
    int cc_major, cc_minor;
    unsigned int arch;
    unsigned int pci_device_id;
    unsigned int pci_subsystem_id;
    unsigned long long mem_total;
    unsigned long long mem_used;
    unsigned int util_gpu, util_mem;
    int lost;
    struct sim_gpu_mig mig;
};

struct sim_system {
    char root[SIM_ROOT_MAX];   /* "" means "/" */
    unsigned int ngpus;
    struct sim_gpu gpus[SIM_MAX_GPUS];
};

SIM_FN int sim_gi_usable(const char *root, unsigned int gpu_minor, unsigned int gi)
{
    char file[128];
    snprintf(file, sizeof(file), "/proc/driver/nvidia/capabilities/gpu%u/mig/gi%u/access", gpu_minor, gi);
    return sim_cap_usable(root, file);
}

SIM_FN int sim_ci_usable(const char *root, unsigned int gpu_minor, const struct sim_mig *m)
{
    char file[128];
    snprintf(file, sizeof(file), "/proc/driver/nvidia/capabilities/gpu%u/mig/gi%u/ci%u/access", gpu_minor, m->gi,
             m->ci);
    return sim_cap_usable(root, file);
}

/* Keep the GPU instances' visibility and only the MIG devices this process may use. */
SIM_FN void sim_filter_migs(const char *root, struct sim_gpu *gpu)
{
    struct sim_gpu_mig *m = &gpu->mig;
    unsigned int kept = 0;
    for (unsigned int i = 0; i < m->ngi; i++)
        m->gis[i].visible = sim_gi_usable(root, gpu->minor, m->gis[i].id);
    for (unsigned int j = 0; j < m->ndev; j++)
        if (m->gis[m->devs[j].gi_slot].visible && sim_ci_usable(root, gpu->minor, &m->devs[j]))
            m->devs[kept++] = m->devs[j];
    m->ndev = kept;
}

SIM_FN int sim_parse_busid(const char *text, unsigned int *domain, unsigned int *bus, unsigned int *device,
                           unsigned int *function)
{
    int used = -1;
    if (sscanf(text, "%x:%x:%x.%x%n", domain, bus, device, function, &used) != 4 || used < 0
        || text[used] != '\0')
        return 0;
    return *bus <= 0xff && *device <= 0x1f && *function <= 7;
}

/* Fill gpu from its proc directory.  1 if well formed. */
SIM_FN int sim_load_gpu(const char *dir, struct sim_gpu *gpu)
{
    char path[SIM_PATH_MAX];
    static char info[SIM_FILE_MAX];
    static char sim[SIM_FILE_MAX];
    char text[64];

    if (!SIM_PATH(path, "%s/information", dir) || sim_read_file(path, info, sizeof(info)) < 0)
        return 0;
    if (!SIM_PATH(path, "%s/simulated", dir) || sim_read_file(path, sim, sizeof(sim)) < 0)
        return 0;
    if (!sim_value(info, "Model", NULL, gpu->name, sizeof(gpu->name))
        || !sim_value(info, "GPU UUID", NULL, gpu->uuid, sizeof(gpu->uuid))
        || !sim_uint_value(info, "Device Minor", &gpu->minor) || gpu->minor >= 254)
        return 0;
    if (!sim_uint_value(sim, "Brand", &gpu->brand) || !sim_uint_value(sim, "Architecture", &gpu->arch)
        || !sim_uint_value(sim, "PciDeviceId", &gpu->pci_device_id)
        || !sim_uint_value(sim, "PciSubSystemId", &gpu->pci_subsystem_id)
        || !sim_u64_value(sim, "MemoryTotal", &gpu->mem_total) || !sim_u64_value(sim, "MemoryUsed", &gpu->mem_used)
        || !sim_uint_value(sim, "UtilizationGpu", &gpu->util_gpu)
        || !sim_uint_value(sim, "UtilizationMemory", &gpu->util_mem)
        || !sim_value(sim, "ComputeCapability", NULL, text, sizeof(text))
        || sscanf(text, "%d.%d", &gpu->cc_major, &gpu->cc_minor) != 2)
        return 0;
    gpu->lost = sim_value(sim, "Lost", NULL, text, sizeof(text)) && strcmp(text, "Yes") == 0;
    sim_parse_mig(sim, &gpu->mig);
    return 1;
}

struct sim_busid {
    char name[32];
    unsigned int domain, bus, device, function;
};

SIM_FN int sim_busid_cmp(const void *a, const void *b)
{
    const struct sim_busid *x = a, *y = b;
    if (x->domain != y->domain)
        return x->domain < y->domain ? -1 : 1;
    if (x->bus != y->bus)
        return x->bus < y->bus ? -1 : 1;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->function != y->function)
        return x->function < y->function ? -1 : 1;
    return 0;
}

/* Enumerate the visible GPUs under sys->root, in bus id order. */
SIM_FN void sim_load_gpus(struct sim_system *sys)
{
    char path[SIM_PATH_MAX];
    struct sim_busid ids[SIM_MAX_GPUS];
    unsigned int nids = 0;
    struct dirent *entry;
    DIR *dir;

    sys->ngpus = 0;
    if (!SIM_PATH(path, "%s/proc/driver/nvidia/gpus", sys->root))
        return;
    dir = opendir(path);
    if (dir == NULL)
        return;
    while ((entry = readdir(dir)) != NULL && nids < SIM_MAX_GPUS) {
        struct sim_busid *id = &ids[nids];
        if (strlen(entry->d_name) >= sizeof(id->name))
            continue;
        if (!sim_parse_busid(entry->d_name, &id->domain, &id->bus, &id->device, &id->function))
            continue;
        strcpy(id->name, entry->d_name);
        nids++;
    }
    closedir(dir);
    qsort(ids, nids, sizeof(ids[0]), sim_busid_cmp);

    for (unsigned int i = 0; i < nids; i++) {
        struct sim_gpu *gpu = &sys->gpus[sys->ngpus];
        memset(gpu, 0, sizeof(*gpu));
        if (!SIM_PATH(path, "%s/proc/driver/nvidia/gpus/%s", sys->root, ids[i].name) || !sim_load_gpu(path, gpu))
            continue;
        if (!sim_device_usable(sys->root, gpu->minor))
            continue;
        sim_filter_migs(sys->root, gpu);
        gpu->domain = ids[i].domain;
        gpu->bus = ids[i].bus;
        gpu->device = ids[i].device;
        gpu->function = ids[i].function;
        sys->ngpus++;
    }
}

/* Find root, check the driver, enumerate GPUs.  SIM_OK or an NVML code. */
SIM_FN int sim_system_load(const void *self_addr, struct sim_system *sys)
{
    int status;
    sys->ngpus = 0;
    if (sim_find_root(self_addr, sys->root, sizeof(sys->root)) != 0)
        return SIM_ERR_DRIVER_NOT_LOADED;
    status = sim_driver_status(sys->root);
    if (status != SIM_OK)
        return status;
    sim_load_gpus(sys);
    return SIM_OK;
}

#endif /* NVSIM_SIMROOT_H */
