/* AVX2 contexts and tokens for 1- and 2-byte residuals; huff.c's scalar code is the reference.
 * floor(log2) comes from the float exponent: exact because the values are < 2^24. Built with -mavx2. */
#include <immintrin.h>

#include "../common/cpu.h"
#include "gather_avx2.h"
#include "huff.h"

#define LD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define LD128(p) _mm_loadu_si128((const __m128i *)(const void *)(p))

/* 16 x i32 (two vectors) -> 16 bytes */
static inline __m128i pack_bytes(__m256i a, __m256i b)
{
    __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
    __m256i y = _mm256_packus_epi16(w, w);
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(y, 0x08));
}

/* context of 8 activities (2*zN + zNW + zNE, saturated at 65535) */
static inline __m256i ctx8(__m256i act2)
{
    __m256i u = _mm256_add_epi32(_mm256_srli_epi32(act2, 1), _mm256_set1_epi32(1));
    __m256i q = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(u)), 22), _mm256_set1_epi32(254));
    return _mm256_min_epi32(q, _mm256_set1_epi32(19));
}

/* token of 8 values < 2^16 */
static inline __m256i tok8(__m256i z)
{
    __m256i t = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(z)), 21), _mm256_set1_epi32(508));
    __m256i small = _mm256_cmpgt_epi32(_mm256_set1_epi32(16), z);
    return _mm256_blendv_epi8(t, z, small);
}

/* 2*N + NW + NE + NWW + NEE, saturated (the context is the top one long before 65535) */
static inline __m256i act16(__m256i nww, __m256i nw, __m256i n, __m256i ne, __m256i nee)
{
    __m256i a = _mm256_adds_epu16(_mm256_adds_epu16(n, n), _mm256_adds_epu16(nw, ne));
    return _mm256_adds_epu16(a, _mm256_adds_epu16(nww, nee));
}

static inline __m256i act_above(size_t es, const void *up_, size_t j)
{
    __m256i a;
    if (es == 2) {
        const uint16_t *up = up_;
        a = act16(LD(up + j - 2), LD(up + j - 1), LD(up + j), LD(up + j + 1), LD(up + j + 2));
    } else {
        const uint8_t *up = up_;
        a = act16(_mm256_cvtepu8_epi16(LD128(up + j - 2)), _mm256_cvtepu8_epi16(LD128(up + j - 1)),
                  _mm256_cvtepu8_epi16(LD128(up + j)), _mm256_cvtepu8_epi16(LD128(up + j + 1)),
                  _mm256_cvtepu8_epi16(LD128(up + j + 2)));
    }
    return a;
}

static inline void ctx16(size_t es, const void *up, uint8_t *ctx, size_t j)
{
    __m256i a = act_above(es, up, j);
    __m256i lo = ctx8(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(a)));
    __m256i hi = ctx8(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(a, 1)));
    _mm_storeu_si128((__m128i *)(void *)(ctx + j), pack_bytes(lo, hi));
}

/* 8 contexts -> 8 table pointers base + ctx * 2^(PBITS + 2) bytes */
static inline void ptrs8(__m256i c, __m256i base, const uint32_t **cp)
{
    const int sh = SQZ_HUFF_PBITS + 2;
    __m256i p0 = _mm256_add_epi64(base, _mm256_slli_epi64(_mm256_cvtepu32_epi64(_mm256_castsi256_si128(c)), sh));
    __m256i p1 = _mm256_add_epi64(base, _mm256_slli_epi64(_mm256_cvtepu32_epi64(_mm256_extracti128_si256(c, 1)), sh));
    _mm256_storeu_si256((__m256i *)(void *)cp, p0);
    _mm256_storeu_si256((__m256i *)(void *)(cp + 4), p1);
}

static inline void ctxp16(size_t es, const void *up, __m256i base, const uint32_t **cp, size_t j)
{
    __m256i a = act_above(es, up, j);
    ptrs8(ctx8(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(a))), base, cp + j);
    ptrs8(ctx8(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(a, 1))), base, cp + j + 8);
}

/* Contexts depend on the row above only, so the last vector may overlap the one before it. */
size_t sqz_huff_ctx_avx2(size_t es, const void *up, uint8_t *ctx, size_t j1)
{
    size_t j = 2;
    if (es != 1 && es != 2) return j;
    for (; j + 16 <= j1; j += 16) ctx16(es, up, ctx, j);
    if (j < j1 && j1 >= 18) { ctx16(es, up, ctx, j1 - 16); j = j1; }
    return j;
}

size_t sqz_huff_ctxp_avx2(size_t es, const void *up, const uint32_t *tab0, const uint32_t **cp, size_t j1)
{
    size_t j = 2;
    if (es != 1 && es != 2) return j;
    const __m256i base = _mm256_set1_epi64x((long long)(uintptr_t)tab0);
    for (; j + 16 <= j1; j += 16) ctxp16(es, up, base, cp, j);
    if (j < j1 && j1 >= 18) { ctxp16(es, up, base, cp, j1 - 16); j = j1; }
    return j;
}

static inline __attribute__((always_inline)) size_t
pairs(size_t es, const void *z_, const uint16_t *idx, const uint32_t *ent, uint64_t *pv, uint32_t *pn, size_t n,
      const int hw_gather)
{
    size_t j = 0;
    if (es != 1 && es != 2) return 0;
    const __m256i c16 = _mm256_set1_epi32(16), one = _mm256_set1_epi32(1), lo16 = _mm256_set1_epi32(0xFFFF);
    for (; j + 8 <= n; j += 8) {
        __m256i i8 = _mm256_cvtepu16_epi32(LD128(idx + j));
        __m256i t = _mm256_and_si256(i8, _mm256_set1_epi32(127));
        __m256i z = es == 2 ? _mm256_cvtepu16_epi32(LD128((const uint16_t *)z_ + j))
                            : _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)((const uint8_t *)z_ + j)));
        __m256i e = hw_gather ? _mm256_i32gather_epi32((const int *)(const void *)ent, i8, 4)
                              : gather32((const int *)(const void *)ent, i8);
        /* extra bits: tokens >= 16 have ((t - 16) >> 2) + 2 */
        __m256i xb = _mm256_andnot_si256(_mm256_cmpgt_epi32(c16, t), _mm256_add_epi32(_mm256_srli_epi32(_mm256_sub_epi32(t, c16), 2), _mm256_set1_epi32(2)));
        __m256i extra = _mm256_and_si256(z, _mm256_sub_epi32(_mm256_sllv_epi32(one, xb), one));
        __m256i len = _mm256_and_si256(_mm256_srli_epi32(e, 16), _mm256_set1_epi32(0xFF));
        __m256i bits = _mm256_or_si256(_mm256_and_si256(e, lo16), _mm256_sllv_epi32(extra, len));
        const __m256i n = _mm256_srli_epi32(e, 24);
        const __m128i nlo = _mm256_castsi256_si128(n);
        const __m256i first = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(bits));
        const __m256i second = _mm256_cvtepu32_epi64(_mm256_extracti128_si256(bits, 1));
        _mm256_storeu_si256((__m256i *)(void *)(pv + j / 2), _mm256_or_si256(first, _mm256_sllv_epi64(second, _mm256_cvtepu32_epi64(nlo))));
        _mm_storeu_si128((__m128i *)(void *)(pn + j / 2), _mm_add_epi32(nlo, _mm256_extracti128_si256(n, 1)));
    }
    return j;
}

/* vpgatherdd where the CPU has AVX-512 (Intel since Skylake-SP: faster here, docs/DESIGN.md
 * "Speed (session 22)"), scalar loads elsewhere (twice vpgatherdd's throughput on the AMD EPYC of
 * session 5) */
size_t sqz_huff_pairs_avx2(size_t es, const void *z, const uint16_t *idx, const uint32_t *ent, uint64_t *pv,
                           uint32_t *pn, size_t n)
{
    return sqz_simd_get() >= SQZ_SIMD_AVX512 ? pairs(es, z, idx, ent, pv, pn, n, 1) : pairs(es, z, idx, ent, pv, pn, n, 0);
}

/* context * 128 + token of 16 values */
static inline void idx16(__m256i zlo, __m256i zhi, const uint8_t *ctx, uint16_t *idx)
{
    __m256i t = _mm256_permute4x64_epi64(_mm256_packus_epi32(tok8(zlo), tok8(zhi)), 0xD8);
    __m256i c = _mm256_slli_epi16(_mm256_cvtepu8_epi16(LD128(ctx)), 7);
    _mm256_storeu_si256((__m256i *)(void *)idx, _mm256_or_si256(c, t));
}

/* The last vector may overlap the one before it. */
size_t sqz_huff_idx_avx2(size_t es, const void *z_, const uint8_t *ctx, uint16_t *idx, size_t j1)
{
    size_t j = 0;
    if (es != 1 && es != 2) return j;
    for (;; j += 16) {
        if (j + 16 > j1) {
            if (j == j1 || j1 < 16) break;
            j = j1 - 16;
        }
        if (es == 2) {
            const uint16_t *z = z_;
            idx16(_mm256_cvtepu16_epi32(LD128(z + j)), _mm256_cvtepu16_epi32(LD128(z + j + 8)), ctx + j, idx + j);
        } else {
            const __m128i v = LD128((const uint8_t *)z_ + j);
            idx16(_mm256_cvtepu8_epi32(v), _mm256_cvtepu8_epi32(_mm_srli_si128(v, 8)), ctx + j, idx + j);
        }
    }
    return j;
}

size_t sqz_huff_tok_avx2(size_t es, const void *z_, uint8_t *tok, size_t j1)
{
    size_t j = 0;
    if (es == 2) {
        const uint16_t *z = z_;
        for (; j + 16 <= j1; j += 16) {
            __m256i lo = tok8(_mm256_cvtepu16_epi32(LD128(z + j)));
            __m256i hi = tok8(_mm256_cvtepu16_epi32(LD128(z + j + 8)));
            _mm_storeu_si128((__m128i *)(void *)(tok + j), pack_bytes(lo, hi));
        }
    } else if (es == 1) {
        const uint8_t *z = z_;
        for (; j + 16 <= j1; j += 16) {
            __m128i v = LD128(z + j);
            __m256i lo = tok8(_mm256_cvtepu8_epi32(v));
            __m256i hi = tok8(_mm256_cvtepu8_epi32(_mm_srli_si128(v, 8)));
            _mm_storeu_si128((__m128i *)(void *)(tok + j), pack_bytes(lo, hi));
        }
    }
    return j;
}

/* sqz_huff_count_beyond_avx512 with 32 indices per step: contexts and tokens packed to bytes,
 * each context's cover by two byte shuffles (contexts 0-15 and 16-31). */
size_t sqz_huff_count_beyond_avx2(const uint16_t *idx, size_t m, const uint16_t *cover, uint32_t *hist)
{
    uint8_t lo[16], hi[16];
    for (int c = 0; c < 16; c++) { lo[c] = (uint8_t)cover[c]; hi[c] = (uint8_t)cover[16 + c]; }
    const __m256i tlo = _mm256_broadcastsi128_si256(LD128(lo)), thi = _mm256_broadcastsi128_si256(LD128(hi));
    const __m256i t127 = _mm256_set1_epi16(127);
    size_t k = 0;
    for (; k + 32 <= m; k += 32) {
        const __m256i a = LD(idx + k), b = LD(idx + k + 16);
        /* byte i: a[i] (i < 8), b[i - 8], a[i - 8] (16 <= i < 24), b[i - 16]: packs work per 128-bit half */
        const __m256i ctx = _mm256_packus_epi16(_mm256_srli_epi16(a, 7), _mm256_srli_epi16(b, 7));
        const __m256i tok = _mm256_packus_epi16(_mm256_and_si256(a, t127), _mm256_and_si256(b, t127));
        const __m256i cv = _mm256_blendv_epi8(_mm256_shuffle_epi8(tlo, ctx), _mm256_shuffle_epi8(thi, ctx),
                                              _mm256_slli_epi16(ctx, 3));  /* context bit 4 -> bit 7 */
        for (unsigned bad = ~(unsigned)_mm256_movemask_epi8(_mm256_cmpgt_epi8(cv, tok)); bad; bad &= bad - 1) {
            const unsigned i = (unsigned)__builtin_ctz(bad);
            hist[idx[k + (i & 7) + (i & 8 ? 16 : 0) + (i & 16 ? 8 : 0)]]++;
        }
    }
    return k;
}
