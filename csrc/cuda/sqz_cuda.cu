/* The CUDA backend of the GPU engine (engine.h): device memory, streams and kernel launches
 * through the CUDA runtime, which is linked statically and opens the driver itself, so this
 * library loads on machines without a driver and then reports no device (docs/GPU.md). */
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" {
#include "../common/error.h"
}
#include "compat.h"

typedef cudaStream_t sqzc_stream;

static int cuda_fail(cudaError_t e, const char *what)
{
    const int no_gpu = e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorInitializationError ||
                       e == cudaErrorInvalidDevice;
    return sqz_fail(no_gpu ? SQZ_ERR_NO_GPU : SQZ_ERR_GENERIC, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

#define SQZC_CUDA(call, what)                                    \
    do {                                                         \
        cudaError_t e_ = (call);                                 \
        if (e_ != cudaSuccess) return cuda_fail(e_, what);       \
    } while (0)

static int sqzc_dev_alloc(void **p, size_t n)
{
    SQZC_CUDA(cudaMalloc(p, n ? n : 1), "cudaMalloc");
    return 0;
}
static void sqzc_dev_free(void *p) { cudaFree(p); }
static int sqzc_host_alloc(void **p, size_t n)
{
    SQZC_CUDA(cudaHostAlloc(p, n ? n : 1, cudaHostAllocDefault), "cudaHostAlloc (pinned staging)");
    return 0;
}
static void sqzc_host_free(void *p) { cudaFreeHost(p); }

/* Unified addressing tells the direction; `kind` documents it (and the emulation checks it). */
static int sqzc_copy(void *dst, const void *src, size_t n, int kind, sqzc_stream s)
{
    (void)kind;
    if (!n) return 0;
    SQZC_CUDA(cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, s), "cudaMemcpyAsync");
    return 0;
}

static int sqzc_sync(sqzc_stream s)
{
    SQZC_CUDA(cudaStreamSynchronize(s), "kernel or copy failed");
    return 0;
}

static int sqzc_stream_create(sqzc_stream *s)
{
    SQZC_CUDA(cudaStreamCreateWithFlags(s, cudaStreamNonBlocking), "cudaStreamCreate");
    return 0;
}
static void sqzc_stream_destroy(sqzc_stream s) { cudaStreamDestroy(s); }

static int sqzc_launched(void)
{
    SQZC_CUDA(cudaGetLastError(), "kernel launch");
    return 0;
}

static int sqzc_use_device(int device)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) { cudaGetLastError(); return cuda_fail(e, "no usable GPU"); }
    SQZ_RETURN_IF(device < 0 || device >= n, SQZ_ERR_NO_GPU, "GPU %d requested, %d present", device, n);
    SQZC_CUDA(cudaSetDevice(device), "cudaSetDevice");
    return 0;
}

static int sqzc_probe(char *name, size_t cap)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        if (name && cap) name[0] = '\0';
        return 0;
    }
    if (name && cap) {
        cudaDeviceProp prop;
        if (n > 0 && cudaGetDeviceProperties(&prop, 0) == cudaSuccess) snprintf(name, cap, "%s", prop.name);
        else name[0] = '\0';
    }
    return n;
}

#include "engine.h"
