/* AVX-512 contexts and indices for 1- and 2-byte residuals, 32 per vector in 16-bit lanes;
 * huff.c's scalar code is the reference. Context classes and 1-byte tokens by table look-ups
 * (vpermt2w), 2-byte tokens from lzcnt: exact for every 16-bit value. */
#include <immintrin.h>

#include "huff.h"

#define LD(p) _mm512_loadu_si512((const void *)(p))
#define LD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))

/* 32 x u16 from 32 elements of 1 or 2 bytes at p */
static inline __m512i load32(size_t es, const void *p)
{
    return es == 2 ? LD(p) : _mm512_cvtepu8_epi16(LD256(p));
}

/* leading zeros of each nonzero 16-bit lane (a zero lane's result is not used: contexts have
 * u >= 1, and tokens of values < 16 are the values) */
static inline __m512i lzcnt16(__m512i v)
{
    const __m512i lo = _mm512_lzcnt_epi32(_mm512_slli_epi32(v, 16));
    const __m512i hi = _mm512_lzcnt_epi32(v);
    return _mm512_mask_blend_epi16(0xAAAAAAAAu, lo, _mm512_slli_epi32(hi, 16));
}

/* ctx_of by two look-ups: with v = act + 2, u = act/2 + 1 = v >> 1, and the class (2 floor(log2 u)
 * plus the bit below the top one, at most 19) is a function of v for v < 64 and of v >> 5 above
 * (its top two bits). So t[v] for v < 64, t[64 + (v >> 5)] up to v = 2047 (class 19 from there). */
static const uint16_t k_class[128] = {
    0, 0, 0, 0, 2, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7,
    8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    10, 10, 10, 11, 12, 12, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16,
    17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,
    19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19, 19};

typedef struct { __m512i t[4]; } class_tab;  /* k_class, or what it maps to, as 4 x 32 lanes */

static inline class_tab class_tab_of(const __m512i *ov)  /* ov: a value per class (32 lanes), or NULL: the class */
{
    class_tab c;
    for (int i = 0; i < 4; i++) c.t[i] = ov ? _mm512_permutexvar_epi16(LD(k_class + 32 * i), *ov) : LD(k_class + 32 * i);
    return c;
}

/* The class (or what the table maps it to) of 32 activities 2N + NW + NE + NWW + NEE (saturated). */
static inline __m512i ctx32w(__m512i act, const class_tab *c)
{
    const __m512i v = _mm512_min_epu16(_mm512_adds_epu16(act, _mm512_set1_epi16(2)), _mm512_set1_epi16(2047));
    const __m512i lo = _mm512_permutex2var_epi16(c->t[0], v, c->t[1]);  /* index: v's low 6 bits */
    const __m512i hi = _mm512_permutex2var_epi16(c->t[2], _mm512_srli_epi16(v, 5), c->t[3]);
    return _mm512_mask_blend_epi16(_mm512_cmplt_epu16_mask(v, _mm512_set1_epi16(64)), hi, lo);
}

static inline __m512i act32(size_t es, const uint8_t *up, size_t j)
{
    const __m512i nww = load32(es, up + (j - 2) * es), nw = load32(es, up + (j - 1) * es);
    const __m512i n = load32(es, up + j * es), ne = load32(es, up + (j + 1) * es), nee = load32(es, up + (j + 2) * es);
    const __m512i a = _mm512_adds_epu16(_mm512_adds_epu16(n, n), _mm512_adds_epu16(nw, ne));
    return _mm512_adds_epu16(a, _mm512_adds_epu16(nww, nee));
}

/* The same for a row of fewer than 34 + 2 elements (j1 < 34): loads stop at the row's end
 * (up[j1 + 1]) with masks, zeros after, which only the lanes from j1 on see. */
static inline __mmask32 row_lanes(size_t from, size_t j1) { return j1 + 2 > from ? (__mmask32)((1ull << (j1 + 2 - from)) - 1) : 0; }
static inline __m512i load32_upto(size_t es, const uint8_t *up, size_t from, size_t j1)
{
    const __mmask32 m = row_lanes(from, j1);
    return es == 2 ? _mm512_maskz_loadu_epi16(m, up + from * 2) : _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, up + from));
}
static inline __m512i act32_short(size_t es, const uint8_t *up, size_t j1)
{
    const __m512i nww = load32_upto(es, up, 0, j1), nw = load32_upto(es, up, 1, j1), n = load32_upto(es, up, 2, j1);
    const __m512i ne = load32_upto(es, up, 3, j1), nee = load32_upto(es, up, 4, j1);
    const __m512i a = _mm512_adds_epu16(_mm512_adds_epu16(n, n), _mm512_adds_epu16(nw, ne));
    return _mm512_adds_epu16(a, _mm512_adds_epu16(nww, nee));
}

/* 32 classes from position j on, as bytes (c8) or as table offsets offs[class] (c16), lanes in m */
static inline void put32(uint8_t *c8, uint16_t *c16, size_t j, __m512i cls, __mmask32 m)
{
    if (c16) _mm512_mask_storeu_epi16(c16 + j, m, cls);
    else _mm256_mask_storeu_epi8(c8 + j, m, _mm512_cvtepi16_epi8(cls));
}

/* A row's contexts [2, j1) into c8 or c16. Contexts depend on the row above only, so the last
 * vector may overlap the one before it; a row too short for one vector loads up to its end. */
static inline __attribute__((always_inline)) size_t
row_contexts(size_t es, const uint8_t *up, uint8_t *c8, uint16_t *c16, const __m512i *ov, size_t j1)
{
    size_t j = 2;
    if (es != 1 && es != 2) return j;
    const class_tab c = class_tab_of(ov);
    for (; j + 32 <= j1; j += 32) put32(c8, c16, j, ctx32w(act32(es, up, j), &c), ~0u);
    if (j < j1 && j1 >= 34) put32(c8, c16, j1 - 32, ctx32w(act32(es, up, j1 - 32), &c), ~0u);
    else if (j < j1) put32(c8, c16, 2, ctx32w(act32_short(es, up, j1), &c), (__mmask32)((1ull << (j1 - 2)) - 1));
    return j < j1 ? j1 : j;
}

size_t sqz_huff_ctx_avx512(size_t es, const void *up, uint8_t *ctx, size_t j1)
{
    return row_contexts(es, up, ctx, NULL, NULL, j1);
}

size_t sqz_huff_ctx16_avx512(size_t es, const void *up, const uint16_t *offs, uint16_t *ctx, size_t j1)
{
    const __m512i ov = _mm512_loadu_si512(offs);
    return row_contexts(es, up, NULL, ctx, &ov, j1);
}

/* 32 classes from position j on as huff's decoder tables: cp[j + i] = tab0 + class * 2^PBITS entries */
static inline void ptrs8(__m128i cls, __m512i base, const uint32_t **cp)
{
    const __m512i c = _mm512_cvtepu16_epi64(cls);
    _mm512_storeu_si512((void *)cp, _mm512_add_epi64(base, _mm512_slli_epi64(c, SQZ_HUFF_PBITS + 2)));
}

static inline void ptrs32(__m512i cls, __m512i base, const uint32_t **cp, size_t j)
{
    ptrs8(_mm512_castsi512_si128(cls), base, cp + j);
    ptrs8(_mm512_extracti32x4_epi32(cls, 1), base, cp + j + 8);
    ptrs8(_mm512_extracti32x4_epi32(cls, 2), base, cp + j + 16);
    ptrs8(_mm512_extracti32x4_epi32(cls, 3), base, cp + j + 24);
}

size_t sqz_huff_ctxp_avx512(size_t es, const void *up_, const uint32_t *tab0, const uint32_t **cp, size_t j1)
{
    size_t j = 2;
    if ((es != 1 && es != 2) || j1 < 34) return j;
    const uint8_t *up = up_;
    const class_tab c = class_tab_of(NULL);
    const __m512i base = _mm512_set1_epi64((long long)(uintptr_t)tab0);
    for (; j + 32 <= j1; j += 32) ptrs32(ctx32w(act32(es, up, j), &c), base, cp, j);
    if (j < j1) { ptrs32(ctx32w(act32(es, up, j1 - 32), &c), base, cp, j1 - 32); j = j1; }
    return j;
}

/* token_of for 32 values */
static inline __m512i tok32(__m512i z)
{
    const __m512i lz = lzcnt16(z);
    const __m512i m2 = _mm512_and_si512(_mm512_srli_epi16(_mm512_sllv_epi16(z, lz), 13), _mm512_set1_epi16(3));
    const __m512i t = _mm512_add_epi16(_mm512_sub_epi16(_mm512_set1_epi16(60), _mm512_slli_epi16(lz, 2)), m2);
    return _mm512_mask_blend_epi16(_mm512_cmplt_epu16_mask(z, _mm512_set1_epi16(16)), t, z);
}

/* token_of for 32 values below 256 by two look-ups: the token of z < 64 is k_token[z]; above, z's
 * top three bits, which z >> 2 keeps, make it: k_token[64 + (z >> 2)]. */
static const uint16_t k_token[128] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 16, 16, 16, 17, 17, 17, 17, 18, 18, 18, 18, 19, 19, 19, 19,
    20, 20, 20, 20, 20, 20, 20, 20, 21, 21, 21, 21, 21, 21, 21, 21, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23, 23,
    24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27, 27,
    28, 28, 28, 28, 28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29, 29, 30, 30, 30, 30, 30, 30, 30, 30, 31, 31, 31, 31, 31, 31, 31, 31};

static inline __m512i tok32_bytes(__m512i z, const __m512i t[4])
{
    const __m512i lo = _mm512_permutex2var_epi16(t[0], z, t[1]);
    const __m512i hi = _mm512_permutex2var_epi16(t[2], _mm512_srli_epi16(z, 2), t[3]);
    return _mm512_mask_blend_epi16(_mm512_cmplt_epu16_mask(z, _mm512_set1_epi16(64)), hi, lo);
}

size_t sqz_huff_idx_avx512(size_t es, const void *z_, const uint8_t *ctx, uint16_t *idx, size_t j1)
{
    size_t j = 0;
    if (es != 1 && es != 2) return j;
    const uint8_t *z = z_;
    const __m512i t[4] = {LD(k_token), LD(k_token + 32), LD(k_token + 64), LD(k_token + 96)};
    for (;; j += 32) {
        if (j + 32 > j1) {  /* the last vector may overlap the one before it */
            if (j == j1 || j1 < 32) break;
            j = j1 - 32;
        }
        const __m512i c = _mm512_slli_epi16(_mm512_cvtepu8_epi16(LD256(ctx + j)), 7);
        const __m512i v = load32(es, z + j * es);
        _mm512_storeu_si512((void *)(idx + j), _mm512_or_si512(c, es == 1 ? tok32_bytes(v, t) : tok32(v)));
    }
    return j;
}

size_t sqz_huff_count_beyond_avx512(const uint16_t *idx, size_t m, const uint16_t *cover, uint32_t *hist)
{
    const __m512i cv = LD(cover), tmask = _mm512_set1_epi16(127);
    size_t k = 0;
    for (; k + 32 <= m; k += 32) {
        const __m512i v = LD(idx + k);
        const __m512i lim = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 7), cv);
        for (__mmask32 b = _mm512_cmpge_epu16_mask(_mm512_and_si512(v, tmask), lim); b; b &= b - 1)
            hist[idx[k + (unsigned)__builtin_ctz(b)]]++;
    }
    return k;
}
