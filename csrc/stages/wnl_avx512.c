/* wnl's decoder look-up with AVX-512 (F, BW), chosen at run time by wnl.c: while every index in
 * the range is below 256, the levels of 32 indices come from vpermi2w over the first 64, 128, 192
 * or 256 table entries held in registers, instead of one load each. */
#include <immintrin.h>
#include <stdint.h>
#include <stddef.h>

#include "wnl_simd.h"

static inline __attribute__((always_inline)) __m512i levels32(__m512i x, const __m512i *T, const int k)
{
    __m512i r = _mm512_permutex2var_epi16(T[0], x, T[1]);
    if (k < 2) return r;
    const __mmask32 b6 = _mm512_test_epi16_mask(x, _mm512_set1_epi16(64));
    r = _mm512_mask_mov_epi16(r, b6, _mm512_permutex2var_epi16(T[2], x, T[3]));
    if (k < 3) return r;
    __m512i hi = _mm512_permutex2var_epi16(T[4], x, T[5]);
    if (k > 3) hi = _mm512_mask_mov_epi16(hi, b6, _mm512_permutex2var_epi16(T[6], x, T[7]));
    return _mm512_mask_mov_epi16(r, _mm512_test_epi16_mask(x, _mm512_set1_epi16(128)), hi);
}

static inline __attribute__((always_inline)) void lookup(const uint16_t *in, uint16_t *out, size_t n, const __m512i *T,
                                                         const int k)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) _mm512_storeu_si512(out + i, levels32(_mm512_loadu_si512(in + i), T, k));
    if (i < n) {
        const __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        _mm512_mask_storeu_epi16(out + i, m, levels32(_mm512_maskz_loadu_epi16(m, in + i), T, k));
    }
}

int sqz_wnl_decode16_avx512(const uint16_t *in, uint16_t *out, size_t n, const uint16_t *level, uint32_t *worst)
{
    __m512i m = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) m = _mm512_max_epu16(m, _mm512_loadu_si512(in + i));
    if (i < n) m = _mm512_max_epu16(m, _mm512_maskz_loadu_epi16((__mmask32)((1ull << (n - i)) - 1), in + i));
    const __m256i m16 = _mm256_max_epu16(_mm512_castsi512_si256(m), _mm512_extracti64x4_epi64(m, 1));
    __m128i m8 = _mm_max_epu16(_mm256_castsi256_si128(m16), _mm256_extracti128_si256(m16, 1));
    m8 = _mm_max_epu16(m8, _mm_srli_si128(m8, 8));
    m8 = _mm_max_epu16(m8, _mm_srli_si128(m8, 4));
    m8 = _mm_max_epu16(m8, _mm_srli_si128(m8, 2));
    *worst = (uint32_t)_mm_extract_epi16(m8, 0);
    if (*worst >= 256) return 0;
    const int k = (int)(*worst >> 6) + 1;  /* 64 entries per pair of registers */
    __m512i T[8];
    for (int j = 0; j < 2 * k; j++) T[j] = _mm512_loadu_si512(level + 32 * j);
    switch (k) {
    case 1: lookup(in, out, n, T, 1); break;
    case 2: lookup(in, out, n, T, 2); break;
    case 3: lookup(in, out, n, T, 3); break;
    default: lookup(in, out, n, T, 4); break;
    }
    return 1;
}
