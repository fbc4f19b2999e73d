/* C API of libsqeazy_cuda.so, the GPU backend (docs/GPU.md). Nothing links to this library:
 * libh5sqeazy.so and Python open it with dlopen when asked for the GPU, so machines without
 * a GPU or driver never load it. It links the CUDA runtime statically and finds the driver
 * (libcuda.so.1) at run time. Chunks are the bytes of docs/FORMAT.md, identical to the CPU's.
 *
 * Pointers flagged *_dev are device pointers (cudaMalloc, CuPy, pycuda), others host memory.
 * Functions return 0 / a byte count, or -sqz_error (message in sqz_cuda_last_error()).
 * -SQZ_ERR_NO_GPU means "not here": no usable GPU, or a stage without a GPU kernel; callers
 * then use the CPU (sqz_encode / sqz_decode give the same bytes). */
#ifndef SQZ_CUDA_H
#define SQZ_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "sqeazy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SQZ_CUDA_ABI 1
#define SQZ_CUDA_API __attribute__((visibility("default")))

typedef struct sqz_cuda_ctx sqz_cuda_ctx;

SQZ_CUDA_API int sqz_cuda_abi(void);                         /* SQZ_CUDA_ABI */
/* Usable devices (0 without driver or GPU); name of device 0 into name[cap]. */
SQZ_CUDA_API int sqz_cuda_probe(char *name, size_t cap);
SQZ_CUDA_API const char *sqz_cuda_last_error(void);
/* 1 if the GPU encodes this pipeline for this dtype, 0 if not (the CPU then does). */
SQZ_CUDA_API int sqz_cuda_can_encode(const char *pipeline, int dtype, int ndim, const uint64_t *shape);

/* A persistent context: device buffers, pinned staging buffers and `slots` streams that
 * overlap copies and kernels of consecutive chunks. Not thread-safe: one per thread. */
SQZ_CUDA_API sqz_cuda_ctx *sqz_cuda_ctx_create(int device, int slots);
SQZ_CUDA_API void sqz_cuda_ctx_free(sqz_cuda_ctx *ctx);

SQZ_CUDA_API int64_t sqz_cuda_encode(sqz_cuda_ctx *ctx, const void *src, size_t src_size, int src_dev, int dtype, int ndim,
                        const uint64_t *shape, const sqz_options *opt, void *dst, size_t dst_cap, int dst_dev);
SQZ_CUDA_API int64_t sqz_cuda_decode(sqz_cuda_ctx *ctx, const void *src, size_t src_size, int src_dev, void *dst, size_t dst_cap,
                        int dst_dev);

/* n chunks of equal shape: chunk i = src + i * src_stride -> dst + i * dst_stride (each at
 * most dst_stride bytes, sqz_encode_bound), its size in sizes[i]. */
SQZ_CUDA_API int sqz_cuda_encode_batch(sqz_cuda_ctx *ctx, size_t n, const void *src, size_t src_stride, int src_dev, int dtype,
                          int ndim, const uint64_t *shape, const sqz_options *opt, void *dst, size_t dst_stride,
                          int64_t *sizes);
/* n chunks at src + offs[i], sizes[i] bytes (host memory) -> dst + i * dst_stride. */
SQZ_CUDA_API int sqz_cuda_decode_batch(sqz_cuda_ctx *ctx, size_t n, const void *src, const uint64_t *offs, const uint64_t *sizes,
                          void *dst, size_t dst_stride, int dst_dev);

#ifdef __cplusplus
}
#endif
#endif
