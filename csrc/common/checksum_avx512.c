/* AVX-512 stripes of sqz_hash32: 4 vectors of 16 lanes, a rotate instruction. Built with -mavx512f. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "checksum.h"

#define STRIPE (SQZ_HASH_LANES * 4)

void sqz_hash32_stripes_avx512(uint32_t acc[SQZ_HASH_LANES], const uint8_t *p, size_t n_stripes)
{
    const __m512i p1 = _mm512_set1_epi32((int)2654435761u), p2 = _mm512_set1_epi32((int)2246822519u);
    __m512i a[4];
    for (int v = 0; v < 4; v++) a[v] = _mm512_loadu_si512(acc + 16 * v);
    for (size_t s = 0; s < n_stripes; s++, p += STRIPE)
        for (int v = 0; v < 4; v++) {
            const __m512i x = _mm512_add_epi32(a[v], _mm512_mullo_epi32(_mm512_loadu_si512(p + 64 * v), p2));
            a[v] = _mm512_mullo_epi32(_mm512_rol_epi32(x, 13), p1);
        }
    for (int v = 0; v < 4; v++) _mm512_storeu_si512(acc + 16 * v, a[v]);
}
