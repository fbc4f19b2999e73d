/* 8 x 32-bit gathers made of scalar loads and inserts (nlcode16's decoder, bench/gather_cost.c).
 * On the AMD EPYC VM this project is measured on they have twice the throughput of vpgatherdd and
 * less latency (docs/DESIGN.md, "Speed (session 5)"). */
#ifndef SQZ_GATHER_AVX2_H
#define SQZ_GATHER_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* tab[idx] */
static inline __m256i gather32(const int *tab, __m256i idx)
{
    const __m128i lo = _mm256_castsi256_si128(idx), hi = _mm256_extracti128_si256(idx, 1);
    const uint64_t a = (uint64_t)_mm_cvtsi128_si64(lo), b = (uint64_t)_mm_extract_epi64(lo, 1);
    const uint64_t c = (uint64_t)_mm_cvtsi128_si64(hi), d = (uint64_t)_mm_extract_epi64(hi, 1);
    __m128i rl = _mm_cvtsi32_si128(tab[(uint32_t)a]), rh = _mm_cvtsi32_si128(tab[(uint32_t)c]);
    rl = _mm_insert_epi32(rl, tab[a >> 32], 1);
    rh = _mm_insert_epi32(rh, tab[c >> 32], 1);
    rl = _mm_insert_epi32(rl, tab[(uint32_t)b], 2);
    rh = _mm_insert_epi32(rh, tab[(uint32_t)d], 2);
    rl = _mm_insert_epi32(rl, tab[b >> 32], 3);
    rh = _mm_insert_epi32(rh, tab[d >> 32], 3);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(rl), rh, 1);
}

/* 4 bytes, host order */
static inline int sqz_rd32_ne(const uint8_t *p)
{
    int v;
    memcpy(&v, p, 4);
    return v;
}

/* the 4 bytes at base + off */
static inline __m256i gather_bytes(const uint8_t *base, __m256i off)
{
    const __m128i lo = _mm256_castsi256_si128(off), hi = _mm256_extracti128_si256(off, 1);
    const uint64_t a = (uint64_t)_mm_cvtsi128_si64(lo), b = (uint64_t)_mm_extract_epi64(lo, 1);
    const uint64_t c = (uint64_t)_mm_cvtsi128_si64(hi), d = (uint64_t)_mm_extract_epi64(hi, 1);
    __m128i rl = _mm_cvtsi32_si128(sqz_rd32_ne(base + (uint32_t)a)), rh = _mm_cvtsi32_si128(sqz_rd32_ne(base + (uint32_t)c));
    rl = _mm_insert_epi32(rl, sqz_rd32_ne(base + (a >> 32)), 1);
    rh = _mm_insert_epi32(rh, sqz_rd32_ne(base + (c >> 32)), 1);
    rl = _mm_insert_epi32(rl, sqz_rd32_ne(base + (uint32_t)b), 2);
    rh = _mm_insert_epi32(rh, sqz_rd32_ne(base + (uint32_t)d), 2);
    rl = _mm_insert_epi32(rl, sqz_rd32_ne(base + (b >> 32)), 3);
    rh = _mm_insert_epi32(rh, sqz_rd32_ne(base + (d >> 32)), 3);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(rl), rh, 1);
}

#endif
