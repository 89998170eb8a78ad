/* Run inside a container on a real GPU: loads libcuda.so.1 the way CUDA programs do (through the
 * container's ld cache), creates a context and allocates device memory.  Prints one line per device;
 * exit status 0 only if every step succeeded. */
#include <dlfcn.h>
#include <stdio.h>

typedef int (*fn_i)(unsigned int);
typedef int (*fn_pi)(int *);
typedef int (*fn_dev)(int *, int);
typedef int (*fn_name)(char *, int, int);
typedef int (*fn_ctx)(void **, unsigned int, int);
typedef int (*fn_alloc)(unsigned long long *, size_t);
typedef int (*fn_free)(unsigned long long);

#define NEED(var, type, name) type var = (type)dlsym(lib, name); if (!var) { printf("missing %s\n", name); return 2; }

int main(void) {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (!lib) { printf("dlopen libcuda.so.1: %s\n", dlerror()); return 2; }
    NEED(init, fn_i, "cuInit");
    NEED(version, fn_pi, "cuDriverGetVersion");
    NEED(count, fn_pi, "cuDeviceGetCount");
    NEED(get, fn_dev, "cuDeviceGet");
    NEED(name, fn_name, "cuDeviceGetName");
    NEED(create, fn_ctx, "cuCtxCreate_v2");
    NEED(alloc, fn_alloc, "cuMemAlloc_v2");
    NEED(release, fn_free, "cuMemFree_v2");
    int rc = init(0), v = 0, n = 0;
    if (rc) { printf("cuInit: %d\n", rc); return 1; }
    version(&v);
    count(&n);
    printf("cuda driver %d, %d device(s)\n", v, n);
    for (int i = 0; i < n; i++) {
        int dev = 0; char buf[128] = {0}; void *ctx = 0; unsigned long long ptr = 0;
        get(&dev, i);
        name(buf, sizeof buf, dev);
        rc = create(&ctx, 0, dev);
        if (!rc) rc = alloc(&ptr, 64 << 20);
        if (!rc) rc = release(ptr);
        printf("device %d: %s, context + 64 MiB alloc: %s (%d)\n", i, buf, rc ? "FAILED" : "ok", rc);
        if (rc) return 1;
    }
    return n > 0 ? 0 : 1;
}
