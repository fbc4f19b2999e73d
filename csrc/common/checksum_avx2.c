/* AVX2 stripes of sqz_hash32: 8 vectors of 8 lanes, independent chains. Built with -mavx2. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "checksum.h"

#define STRIPE (SQZ_HASH_LANES * 4)

void sqz_hash32_stripes_avx2(uint32_t acc[SQZ_HASH_LANES], const uint8_t *p, size_t n_stripes)
{
    const __m256i p1 = _mm256_set1_epi32((int)2654435761u), p2 = _mm256_set1_epi32((int)2246822519u);
    __m256i a[8];
    for (int v = 0; v < 8; v++) a[v] = _mm256_loadu_si256((const __m256i *)(acc + 8 * v));
    for (size_t s = 0; s < n_stripes; s++, p += STRIPE) {
        for (int v = 0; v < 8; v++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(p + 32 * v));
            __m256i x = _mm256_add_epi32(a[v], _mm256_mullo_epi32(w, p2));
            x = _mm256_or_si256(_mm256_slli_epi32(x, 13), _mm256_srli_epi32(x, 19));
            a[v] = _mm256_mullo_epi32(x, p1);
        }
    }
    for (int v = 0; v < 8; v++) _mm256_storeu_si256((__m256i *)(acc + 8 * v), a[v]);
}
