/* AVX2 bitshuffle kernels for 1- and 2-byte elements, 32 elements at a time; the scalar
 * code in bitshuffle.c is the reference and finishes what these leave. Built with -mavx2. */
#include <immintrin.h>
#include <string.h>

#include "bitshuffle.h"

/* Write the 8 bit planes of one byte-plane vector (32 elements) at row offset j (bytes). */
static inline void planes_from_bytes(__m256i v, uint8_t *out, size_t row, size_t b, size_t j)
{
    for (int k = 7; k >= 0; k--) {
        uint32_t m = (uint32_t)_mm256_movemask_epi8(v);
        memcpy(out + (b * 8 + (size_t)k) * row + j, &m, 4);
        v = _mm256_add_epi8(v, v);
    }
}

size_t sqz_bitshuffle_avx2(const uint8_t *in, uint8_t *out, size_t n8, size_t esize)
{
    const size_t row = n8 / 8, n32 = n8 / 32 * 32;
    if (esize == 1) {
        for (size_t e = 0; e < n32; e += 32)
            planes_from_bytes(_mm256_loadu_si256((const __m256i *)(in + e)), out, row, 0, e / 8);
        return n32;
    }
    if (esize == 2) {
        const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                               0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
        for (size_t e = 0; e < n32; e += 32) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(in + 2 * e));
            __m256i c = _mm256_loadu_si256((const __m256i *)(in + 2 * e + 32));
            a = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(a, split), 0xD8);
            c = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(c, split), 0xD8);
            planes_from_bytes(_mm256_permute2x128_si256(a, c, 0x20), out, row, 0, e / 8);
            planes_from_bytes(_mm256_permute2x128_si256(a, c, 0x31), out, row, 1, e / 8);
        }
        return n32;
    }
    return 0;
}

/* Rebuild one byte-plane vector (32 elements) from its 8 bit planes at row offset j. */
static inline __m256i bytes_from_planes(const uint8_t *in, size_t row, size_t b, size_t j)
{
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i acc = _mm256_setzero_si256();
    for (int k = 7; k >= 0; k--) {
        uint32_t w;
        memcpy(&w, in + (b * 8 + (size_t)k) * row + j, 4);
        __m256i t = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w), spread);
        __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(t, bit), bit);
        acc = _mm256_sub_epi8(_mm256_add_epi8(acc, acc), set);
    }
    return acc;
}

size_t sqz_bitunshuffle_avx2(const uint8_t *in, uint8_t *out, size_t n8, size_t esize)
{
    const size_t row = n8 / 8, n32 = n8 / 32 * 32;
    if (esize == 1) {
        for (size_t e = 0; e < n32; e += 32)
            _mm256_storeu_si256((__m256i *)(out + e), bytes_from_planes(in, row, 0, e / 8));
        return n32;
    }
    if (esize == 2) {
        for (size_t e = 0; e < n32; e += 32) {
            __m256i lo = bytes_from_planes(in, row, 0, e / 8), hi = bytes_from_planes(in, row, 1, e / 8);
            __m256i u = _mm256_unpacklo_epi8(lo, hi), v = _mm256_unpackhi_epi8(lo, hi);
            _mm256_storeu_si256((__m256i *)(out + 2 * e), _mm256_permute2x128_si256(u, v, 0x20));
            _mm256_storeu_si256((__m256i *)(out + 2 * e + 32), _mm256_permute2x128_si256(u, v, 0x31));
        }
        return n32;
    }
    return 0;
}
