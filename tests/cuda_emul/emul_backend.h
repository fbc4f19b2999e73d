/* CPU EMULATION backend of the GPU engine (docs/GPU.md, "Emulation"): "device" memory is
 * host memory, streams are synchronous and kernels run thread after thread (compat.h).
 * Copies check their direction against the "device" allocations, so host code that hands a
 * host pointer where a device pointer belongs fails here as it would on a GPU. This is not
 * a GPU test: it checks the kernel and host code paths, not the hardware or nvcc. */
#ifndef SQZ_EMUL_BACKEND_H
#define SQZ_EMUL_BACKEND_H

#define SQZ_EMULATE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <mutex>

extern "C" {
#include "../../csrc/common/error.h"
}
#include "../../csrc/cuda/compat.h"

thread_local sqz_dim3 blockIdx, threadIdx, blockDim, gridDim;

typedef int sqzc_stream;

static std::map<const char *, size_t> g_dev_allocs;  /* emulated device allocations */
static std::mutex g_dev_lock;

static int emul_is_dev(const void *p, size_t n)
{
    std::lock_guard<std::mutex> lock(g_dev_lock);
    const char *c = (const char *)p;
    auto it = g_dev_allocs.upper_bound(c);
    if (it == g_dev_allocs.begin()) return 0;
    --it;
    return c >= it->first && c + n <= it->first + it->second;
}

static int sqzc_dev_alloc(void **p, size_t n)
{
    *p = malloc(n ? n : 1);
    if (!*p) return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "emulated device allocation of %zu bytes", n);
    memset(*p, 0xA5, n);  /* device memory is not zeroed */
    std::lock_guard<std::mutex> lock(g_dev_lock);
    g_dev_allocs[(const char *)*p] = n;
    return 0;
}

static void sqzc_dev_free(void *p)
{
    {
        std::lock_guard<std::mutex> lock(g_dev_lock);
        g_dev_allocs.erase((const char *)p);
    }
    free(p);
}

static int sqzc_host_alloc(void **p, size_t n)
{
    *p = malloc(n ? n : 1);
    return *p ? 0 : sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "pinned host allocation of %zu bytes", n);
}

static void sqzc_host_free(void *p) { free(p); }

static int sqzc_copy(void *dst, const void *src, size_t n, int kind, sqzc_stream s)
{
    (void)s;
    if (!n) return 0;
    const int dst_dev = emul_is_dev(dst, n), src_dev = emul_is_dev(src, n);
    const int want_dst = kind != 1, want_src = kind != 0;   /* 0 H2D, 1 D2H, 2 D2D */
    if (dst_dev != want_dst || src_dev != want_src) {
        fprintf(stderr, "emulation: copy kind %d with dst %s device, src %s device\n", kind, dst_dev ? "on" : "off",
                src_dev ? "on" : "off");
        abort();
    }
    memmove(dst, src, n);
    return 0;
}

static int sqzc_sync(sqzc_stream s) { (void)s; return 0; }
static int sqzc_stream_create(sqzc_stream *s) { *s = 0; return 0; }
static void sqzc_stream_destroy(sqzc_stream s) { (void)s; }
static int sqzc_launched(void) { return 0; }
static int sqzc_use_device(int device)
{
    return device == 0 ? 0 : sqz_fail(SQZ_ERR_NO_GPU, "emulation has one device, not %d", device);
}
static int sqzc_probe(char *name, size_t cap)
{
    if (name && cap) snprintf(name, cap, "CPU emulation (no GPU)");
    return 1;
}

#endif
