/* remap's grid (remap.h) for 2-byte elements with AVX-512: value = (k * A + B) >> S by vpmuludq,
 * even and odd 32-bit lanes apart; the encoder's index by a float multiply-add. Same results as
 * the scalar loops in remap.c (tests/test_lossless.py). */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "remap.h"

/* The grid's constants; its forward map needs S <= 32 (the encoder's grids have S <= 31), else
 * the kernels leave everything to the scalar loops. */
typedef struct {
    __m512i A, B, sr, so;  /* shift of the even lanes' products; of the odd ones', up into their high half */
} fwd_consts;

static fwd_consts consts(const sqz_grid *g)
{
    const fwd_consts f = {_mm512_set1_epi64((long long)g->A), _mm512_set1_epi64((long long)g->B),
                          _mm512_set1_epi64((long long)g->S), _mm512_set1_epi64(32 - (long long)g->S)};
    return f;
}

/* 16 indices (32-bit lanes, < 2^16) -> their values */
static inline __m512i fwd(const fwd_consts *f, __m512i k)
{
    const __m512i e = _mm512_srlv_epi64(_mm512_add_epi64(_mm512_mul_epu32(k, f->A), f->B), f->sr);
    const __m512i o = _mm512_sllv_epi64(_mm512_add_epi64(_mm512_mul_epu32(_mm512_srli_epi64(k, 32), f->A), f->B), f->so);
    return _mm512_mask_blend_epi32(0xAAAA, e, o);
}

#define LOAD16(p) _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define STORE16(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), _mm512_cvtepi32_epi16(v))

size_t sqz_grid_values16_avx512(const sqz_grid *g, const uint16_t *in, uint16_t *out, size_t n, uint32_t *worst)
{
    if (g->S > 32) return 0;
    const fwd_consts f = consts(g);
    __m512i top = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512i k0 = LOAD16(in + i), k1 = LOAD16(in + i + 16);
        top = _mm512_max_epu32(top, _mm512_max_epu32(k0, k1));
        STORE16(out + i, fwd(&f, k0));
        STORE16(out + i + 16, fwd(&f, k1));
    }
    const uint32_t t = (uint32_t)_mm512_reduce_max_epu32(top);
    *worst = t > *worst ? t : *worst;
    return i;
}

/* The encoder's index of 16 values, clamped to [0, K) */
static inline __m512i index16(__m512i v, __m512 r, __m512 c, __m512i last)
{
    const __m512i k = _mm512_cvttps_epi32(_mm512_fmadd_ps(_mm512_cvtepi32_ps(v), r, c));
    return _mm512_min_epi32(_mm512_max_epi32(k, _mm512_setzero_si512()), last);
}

size_t sqz_grid_index16_avx512(const sqz_grid *g, float r, float c, const uint16_t *in, uint16_t *out, size_t n)
{
    const __m512 rv = _mm512_set1_ps(r), cv = _mm512_set1_ps(c + 0.5f);
    const __m512i last = _mm512_set1_epi32((int)(g->K - 1));
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        STORE16(out + i, index16(LOAD16(in + i), rv, cv, last));
        STORE16(out + i + 16, index16(LOAD16(in + i + 16), rv, cv, last));
    }
    return i;
}

size_t sqz_grid_check16_avx512(const sqz_grid *g, float r, float c, const uint16_t *in, size_t n)
{
    if (g->S > 32) return 0;
    const fwd_consts f = consts(g);
    const __m512 rv = _mm512_set1_ps(r), cv = _mm512_set1_ps(c + 0.5f);
    const __m512i last = _mm512_set1_epi32((int)(g->K - 1));
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512i v0 = LOAD16(in + i), v1 = LOAD16(in + i + 16);
        const __mmask16 bad0 = _mm512_cmpneq_epi32_mask(fwd(&f, index16(v0, rv, cv, last)), v0);
        const __mmask16 bad1 = _mm512_cmpneq_epi32_mask(fwd(&f, index16(v1, rv, cv, last)), v1);
        if (bad0 | bad1) break;
    }
    return i;
}

int sqz_holds16_avx512(const uint16_t *in, size_t n, const uint32_t *v, int m)
{
    __m512i want[64];
    for (int j = 0; j < m && j < 64; j++) want[j] = _mm512_set1_epi16((short)v[j]);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512i x = _mm512_loadu_si512((const void *)(in + i));
        __mmask32 hit = 0;
        for (int j = 0; j < m && j < 64; j++) hit |= _mm512_cmpeq_epi16_mask(x, want[j]);
        if (hit) return 1;
    }
    for (; i < n; i++)
        for (int j = 0; j < m; j++)
            if (in[i] == v[j]) return 1;
    return 0;
}
