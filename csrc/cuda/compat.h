/* One kernel source, two compilers: nvcc (the GPU backend, sqz_cuda.cu) and a host C++
 * compiler with SQZ_EMULATE (the CPU emulation of tests/cuda_emul). docs/GPU.md.
 *
 * Rules that keep the emulation faithful: kernels are 1-D; a thread's work depends only on
 * its global index; no shared memory, no __syncthreads, no warp intrinsics; the only
 * cross-thread operations are integer atomics whose result does not depend on the order
 * (min, add, or): the emulation runs threads one after another, so plain ones are exact.
 * Anything that needs a barrier is split into two kernels. */
#ifndef SQZ_CUDA_COMPAT_H
#define SQZ_CUDA_COMPAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef SQZ_EMULATE
struct sqz_dim3 { unsigned x, y, z; };
/* set by sqz_emul_launch for each (block, thread) in turn */
extern thread_local sqz_dim3 blockIdx, threadIdx, blockDim, gridDim;
#define SQZ_HD static inline
#define SQZ_DEV static inline
#define SQZ_KERNEL [[maybe_unused]] static void
#define SQZ_RESTRICT __restrict__
static inline void sqz_atomic_min_u64(unsigned long long *p, unsigned long long v) { if (v < *p) *p = v; }
static inline void sqz_atomic_add_u32(uint32_t *p, uint32_t v) { *p += v; }
static inline void sqz_atomic_or_u32(uint32_t *p, uint32_t v) { *p |= v; }

template <class K, class... A>
static void sqz_emul_launch(K kernel, unsigned grid, unsigned block, A... args)
{
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned b = 0; b < grid; b++) {
        blockIdx = {b, 0, 0};
        for (unsigned t = 0; t < block; t++) {
            threadIdx = {t, 0, 0};
            kernel(args...);
        }
    }
}
#define SQZ_LAUNCH(kernel, grid, block, stream, ...) ((void)(stream), sqz_emul_launch(kernel, grid, block, __VA_ARGS__))
#else
#define SQZ_HD static __host__ __device__ __forceinline__
#define SQZ_DEV static __device__ __forceinline__   /* device-only helpers (atomics) */
#define SQZ_KERNEL static __global__ void
#define SQZ_RESTRICT __restrict__
static __device__ __forceinline__ void sqz_atomic_min_u64(unsigned long long *p, unsigned long long v) { atomicMin(p, v); }
static __device__ __forceinline__ void sqz_atomic_add_u32(uint32_t *p, uint32_t v) { atomicAdd((unsigned int *)p, v); }
static __device__ __forceinline__ void sqz_atomic_or_u32(uint32_t *p, uint32_t v) { atomicOr((unsigned int *)p, v); }
#define SQZ_LAUNCH(kernel, grid, block, stream, ...) kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#endif

/* Global thread index and grid size (grid-stride loops cover any n). */
#define SQZ_TID ((uint64_t)blockIdx.x * blockDim.x + threadIdx.x)
#define SQZ_NTHREADS ((uint64_t)gridDim.x * blockDim.x)

#endif
