/* Bit-plane transposition kernels (Sqeazy's bitswap1). Layout in docs/FORMAT.md. */
#ifndef SQZ_BITSHUFFLE_H
#define SQZ_BITSHUFFLE_H

#include <stddef.h>
#include <stdint.h>

/* Transpose elements [first, first+count) of groups of 8, count a multiple of 8; the scalar
 * functions do any range and are the reference; the AVX2 ones return how many they did. */
void sqz_bitshuffle_scalar(const uint8_t *in, uint8_t *out, size_t n8, size_t esize, size_t g0, size_t g1);
void sqz_bitunshuffle_scalar(const uint8_t *in, uint8_t *out, size_t n8, size_t esize, size_t g0, size_t g1);
size_t sqz_bitshuffle_avx2(const uint8_t *in, uint8_t *out, size_t n8, size_t esize);
size_t sqz_bitunshuffle_avx2(const uint8_t *in, uint8_t *out, size_t n8, size_t esize);

#endif
