/* A 16 x 16 transpose of 16-bit elements in AVX2 registers (predict and nlcode16 decoders):
 * o[c] lane r = r[r] lane c. */
#ifndef SQZ_TRANSPOSE16_AVX2_H
#define SQZ_TRANSPOSE16_AVX2_H

#include <immintrin.h>

static inline void transpose16(const __m256i *r, __m256i *o)
{
    __m256i a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm256_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
    }
    for (int m = 0; m < 4; m++) {  /* rows 4m..4m+3; b[4m + g]: columns 2g, 2g + 1 */
        b[4 * m + 0] = _mm256_unpacklo_epi32(a[4 * m], a[4 * m + 2]);
        b[4 * m + 1] = _mm256_unpackhi_epi32(a[4 * m], a[4 * m + 2]);
        b[4 * m + 2] = _mm256_unpacklo_epi32(a[4 * m + 1], a[4 * m + 3]);
        b[4 * m + 3] = _mm256_unpackhi_epi32(a[4 * m + 1], a[4 * m + 3]);
    }
    for (int u = 0; u < 2; u++)    /* rows 8u..8u+7; a[8u + c]: column c (and c + 8) */
        for (int g = 0; g < 4; g++) {
            a[8 * u + 2 * g] = _mm256_unpacklo_epi64(b[8 * u + g], b[8 * u + 4 + g]);
            a[8 * u + 2 * g + 1] = _mm256_unpackhi_epi64(b[8 * u + g], b[8 * u + 4 + g]);
        }
    for (int c = 0; c < 8; c++) {
        o[c] = _mm256_permute2x128_si256(a[c], a[8 + c], 0x20);
        o[c + 8] = _mm256_permute2x128_si256(a[c], a[8 + c], 0x31);
    }
}

#endif
