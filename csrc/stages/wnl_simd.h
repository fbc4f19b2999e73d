/* wnl's SIMD kernels (wnl_avx512.c). */
#ifndef SQZ_WNL_SIMD_H
#define SQZ_WNL_SIMD_H

#include <stddef.h>
#include <stdint.h>

/* out[i] = level[in[i]] for n indices and *worst = their largest, if that is below 256 (returns 1);
 * else only *worst (returns 0). in may be out. */
int sqz_wnl_decode16_avx512(const uint16_t *in, uint16_t *out, size_t n, const uint16_t *level, uint32_t *worst);

#endif
