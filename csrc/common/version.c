#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "device.h"
#include "error.h"
#include "sqeazy.h"

#define SQZ_STR_(x) #x
#define SQZ_STR(x) SQZ_STR_(x)

const char *sqz_version_string(void)
{
    return SQZ_STR(SQZ_VERSION_MAJOR) "." SQZ_STR(SQZ_VERSION_MINOR) "." SQZ_STR(SQZ_VERSION_PATCH);
}

int sqz_format_version(void) { return SQZ_FORMAT_VERSION; }

/* ---- the GPU backend, opened on demand (docs/GPU.md) ----
 * Signatures of csrc/cuda/sqz_cuda.h, repeated as pointers so that common/ includes no CUDA
 * header; the backend's sqz_cuda_abi() guards them. */
#define SQZ_CUDA_ABI_EXPECTED 1
typedef struct {
    int (*abi)(void);
    int (*probe)(char *, size_t);
    const char *(*last_error)(void);
    void *(*ctx_create)(int, int);
    int64_t (*encode)(void *, const void *, size_t, int, int, int, const uint64_t *, const sqz_options *, void *, size_t, int);
    int64_t (*decode)(void *, const void *, size_t, int, void *, size_t, int);
} cuda_api;

static cuda_api g_cuda;
static int g_cuda_devices;           /* usable GPUs (0: none, or no backend) */
static char g_cuda_why[300];         /* why not, for the fallback message */
static pthread_once_t g_cuda_once = PTHREAD_ONCE_INIT;

static void cuda_open(void)
{
    /* $SQEAZY_CUDA_LIBRARY, else next to this library (a build directory), else in the
     * package's cuda/ directory (sqeazy_filter/cuda/, outside the HDF5 plugin directory) */
    char path[1200] = "libsqeazy_cuda.so";
    const char *env = getenv("SQEAZY_CUDA_LIBRARY");
    Dl_info di;
    void *h = NULL;
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    } else if (dladdr((void *)cuda_open, &di) && di.dli_fname && strrchr(di.dli_fname, '/')) {
        const int dir = (int)(strrchr(di.dli_fname, '/') - di.dli_fname);
        snprintf(path, sizeof path, "%.*s/libsqeazy_cuda.so", dir, di.dli_fname);
        if (!(h = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
            snprintf(path, sizeof path, "%.*s/../cuda/libsqeazy_cuda.so", dir, di.dli_fname);
            h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        }
    }
    if (!h) {
        snprintf(g_cuda_why, sizeof g_cuda_why, "no GPU backend (%.250s)", dlerror());
        return;
    }
    cuda_api a;
    *(void **)&a.abi = dlsym(h, "sqz_cuda_abi");
    *(void **)&a.probe = dlsym(h, "sqz_cuda_probe");
    *(void **)&a.last_error = dlsym(h, "sqz_cuda_last_error");
    *(void **)&a.ctx_create = dlsym(h, "sqz_cuda_ctx_create");
    *(void **)&a.encode = dlsym(h, "sqz_cuda_encode");
    *(void **)&a.decode = dlsym(h, "sqz_cuda_decode");
    if (!a.abi || !a.probe || !a.last_error || !a.ctx_create || !a.encode || !a.decode || a.abi() != SQZ_CUDA_ABI_EXPECTED) {
        snprintf(g_cuda_why, sizeof g_cuda_why, "%.200s is not a matching GPU backend", path);
        dlclose(h);
        return;
    }
    char name[128];
    int n = a.probe(name, sizeof name);
    if (n <= 0) {
        snprintf(g_cuda_why, sizeof g_cuda_why, "no usable GPU (no device or no driver)");
        return;  /* keep the library: unloading the CUDA runtime is not worth the risk */
    }
    g_cuda = a;
    g_cuda_devices = n;
}

int sqz_cuda_available(void)
{
    pthread_once(&g_cuda_once, cuda_open);
    return g_cuda_devices;
}

int sqz_device_gpu_wanted(void)
{
    static int wanted = -1;
    if (wanted < 0) {
        const char *d = getenv("SQEAZY_DEVICE");
        wanted = d && (!strcasecmp(d, "gpu") || !strcasecmp(d, "cuda"));
    }
    return wanted;
}

/* Say once per process (and per kind of reason) that the CPU does the work. */
static void fallback_note(int kind, const char *why)
{
    static int said[2];
    if (__atomic_exchange_n(&said[kind], 1, __ATOMIC_RELAXED)) return;
    fprintf(stderr, "sqeazy: SQEAZY_DEVICE=gpu, but %s; using the CPU\n", why);
}

/* One context per thread (a context is not thread-safe); it lives as long as the thread. */
static void *thread_ctx(void)
{
    static __thread void *ctx;
    static __thread int failed;
    if (!ctx && !failed) {
        ctx = g_cuda.ctx_create(0, 2);
        if (!ctx) { failed = 1; fallback_note(0, g_cuda.last_error()); }
    }
    return ctx;
}

static int gpu_ready(void)
{
    if (!sqz_device_gpu_wanted()) return 0;
    if (!sqz_cuda_available()) { fallback_note(0, g_cuda_why); return 0; }
    return thread_ctx() != NULL;
}

int64_t sqz_device_encode(const void *src, size_t src_size, int dtype, int ndim, const uint64_t *shape,
                          const sqz_options *opt, void *dst, size_t dst_cap)
{
    if (gpu_ready()) {
        sqz_clear_error();
        int64_t r = g_cuda.encode(thread_ctx(), src, src_size, 0, dtype, ndim, shape, opt, dst, dst_cap, 0);
        if (r >= 0) return r;
        if (r != -SQZ_ERR_NO_GPU) return sqz_fail_verbatim((int)-r, g_cuda.last_error());
        fallback_note(1, g_cuda.last_error());
    }
    return sqz_encode(src, src_size, dtype, ndim, shape, opt, dst, dst_cap);
}

int64_t sqz_device_decode(const void *src, size_t src_size, void *dst, size_t dst_cap, int threads)
{
    if (gpu_ready()) {
        sqz_clear_error();
        int64_t r = g_cuda.decode(thread_ctx(), src, src_size, 0, dst, dst_cap, 0);
        if (r >= 0) return r;
        if (r != -SQZ_ERR_NO_GPU) return sqz_fail_verbatim((int)-r, g_cuda.last_error());
        fallback_note(1, g_cuda.last_error());
    }
    return sqz_decode(src, src_size, dst, dst_cap, threads);
}
