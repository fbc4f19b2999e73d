/* Per-chunk work on the GPU when asked (SQEAZY_DEVICE=gpu), else on the CPU; docs/GPU.md.
 * The GPU backend is libsqeazy_cuda.so, opened with dlopen on first use: nothing here links
 * to CUDA. Without a usable GPU, or for a pipeline without GPU kernels, these run the CPU
 * code (same bytes) and say why once on stderr. */
#ifndef SQZ_DEVICE_H
#define SQZ_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "sqeazy.h"

/* 1 when SQEAZY_DEVICE is "gpu" or "cuda" (read once). */
int sqz_device_gpu_wanted(void);
int64_t sqz_device_encode(const void *src, size_t src_size, int dtype, int ndim, const uint64_t *shape,
                          const sqz_options *opt, void *dst, size_t dst_cap);
int64_t sqz_device_decode(const void *src, size_t src_size, void *dst, size_t dst_cap, int threads);

#endif
