/* AVX2 residuals of interior rows for 1- and 2-byte elements; predict.c's scalar row is the
 * reference and finishes what this leaves. Built with -mavx2. */
#include <immintrin.h>

#include "predict.h"

#define LD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))

static inline __m256i pred16(int mode, __m256i w, __m256i n, __m256i nw, __m256i ne, __m256i p)
{
    const __m256i one = _mm256_set1_epi16(1);
    __m256i avg = _mm256_sub_epi16(_mm256_avg_epu16(w, n), _mm256_and_si256(_mm256_xor_si256(w, n), one));
    switch (mode) {
    case SQZ_PRED_LEFT: return w;
    case SQZ_PRED_PLANE: return p;
    case SQZ_PRED_AVG3D: return _mm256_avg_epu16(avg, p);
    case SQZ_PRED_AVGNE: {
        __m256i h = _mm256_sub_epi16(_mm256_avg_epu16(n, ne), _mm256_and_si256(_mm256_xor_si256(n, ne), one));
        return _mm256_avg_epu16(w, h);
    }
    case SQZ_PRED_MED: {
        __m256i mx = _mm256_max_epu16(w, n), mn = _mm256_min_epu16(w, n);
        __m256i g = _mm256_sub_epi16(_mm256_add_epi16(w, n), nw);
        __m256i ge = _mm256_cmpeq_epi16(_mm256_max_epu16(nw, mx), nw);
        __m256i le = _mm256_cmpeq_epi16(_mm256_min_epu16(nw, mn), nw);
        return _mm256_blendv_epi8(_mm256_blendv_epi8(g, mx, le), mn, ge);
    }
    default: return avg;
    }
}

static inline __m256i pred8(int mode, __m256i w, __m256i n, __m256i nw, __m256i ne, __m256i p)
{
    const __m256i one = _mm256_set1_epi8(1);
    __m256i avg = _mm256_sub_epi8(_mm256_avg_epu8(w, n), _mm256_and_si256(_mm256_xor_si256(w, n), one));
    switch (mode) {
    case SQZ_PRED_LEFT: return w;
    case SQZ_PRED_PLANE: return p;
    case SQZ_PRED_AVG3D: return _mm256_avg_epu8(avg, p);
    case SQZ_PRED_AVGNE: {
        __m256i h = _mm256_sub_epi8(_mm256_avg_epu8(n, ne), _mm256_and_si256(_mm256_xor_si256(n, ne), one));
        return _mm256_avg_epu8(w, h);
    }
    case SQZ_PRED_MED: {
        __m256i mx = _mm256_max_epu8(w, n), mn = _mm256_min_epu8(w, n);
        __m256i g = _mm256_sub_epi8(_mm256_add_epi8(w, n), nw);
        __m256i ge = _mm256_cmpeq_epi8(_mm256_max_epu8(nw, mx), nw);
        __m256i le = _mm256_cmpeq_epi8(_mm256_min_epu8(nw, mn), nw);
        return _mm256_blendv_epi8(_mm256_blendv_epi8(g, mx, le), mn, ge);
    }
    default: return avg;
    }
}

static inline void res16(int mode, const uint16_t *cur, const uint16_t *up, const uint16_t *pp, uint16_t *out,
                         size_t j, __m256i f)
{
    __m256i x = _mm256_xor_si256(LD(cur + j), f), w = _mm256_xor_si256(LD(cur + j - 1), f);
    __m256i n = _mm256_xor_si256(LD(up + j), f), nw = _mm256_xor_si256(LD(up + j - 1), f);
    __m256i p = pp ? _mm256_xor_si256(LD(pp + j), f) : _mm256_setzero_si256();
    __m256i ne = _mm256_xor_si256(LD(up + j + 1), f);
    __m256i r = _mm256_sub_epi16(x, pred16(mode, w, n, nw, ne, p));
    _mm256_storeu_si256((__m256i *)(void *)(out + j), _mm256_xor_si256(_mm256_slli_epi16(r, 1), _mm256_srai_epi16(r, 15)));
}

static inline void res8(int mode, const uint8_t *cur, const uint8_t *up, const uint8_t *pp, uint8_t *out,
                        size_t j, __m256i f)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i x = _mm256_xor_si256(LD(cur + j), f), w = _mm256_xor_si256(LD(cur + j - 1), f);
    __m256i n = _mm256_xor_si256(LD(up + j), f), nw = _mm256_xor_si256(LD(up + j - 1), f);
    __m256i p = pp ? _mm256_xor_si256(LD(pp + j), f) : zero;
    __m256i ne = _mm256_xor_si256(LD(up + j + 1), f);
    __m256i r = _mm256_sub_epi8(x, pred8(mode, w, n, nw, ne, p));
    _mm256_storeu_si256((__m256i *)(void *)(out + j), _mm256_xor_si256(_mm256_add_epi8(r, r), _mm256_cmpgt_epi8(zero, r)));
}

/* 4*log2(u) to a quarter, exact for u < 2^24: exponent and the top two mantissa bits */
static inline __m256i log4_32(__m256i u)
{
    return _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(u)), 21), _mm256_set1_epi32(508));
}

size_t sqz_predict_cost_avx2(const int *modes, int n_modes, const uint16_t *cur, const uint16_t *up,
                             const uint16_t *pp, size_t X, uint32_t flip, uint64_t *cost)
{
    size_t j = 1;
    const size_t lim = X - 1;
    const __m256i f = _mm256_set1_epi16((short)flip), one = _mm256_set1_epi32(1);
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (; j + 16 <= lim; j += 16) {
        __m256i x = _mm256_xor_si256(LD(cur + j), f), w = _mm256_xor_si256(LD(cur + j - 1), f);
        __m256i n = _mm256_xor_si256(LD(up + j), f), nw = _mm256_xor_si256(LD(up + j - 1), f);
        __m256i ne = _mm256_xor_si256(LD(up + j + 1), f);
        __m256i p = pp ? _mm256_xor_si256(LD(pp + j), f) : _mm256_setzero_si256();
        for (int c = 0; c < n_modes && c < 4; c++) {
            __m256i pr = pred16(modes[c], w, n, nw, ne, p);
            __m256i d = _mm256_or_si256(_mm256_subs_epu16(x, pr), _mm256_subs_epu16(pr, x));
            __m256i lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(d));
            __m256i hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(d, 1));
            lo = log4_32(_mm256_add_epi32(_mm256_add_epi32(lo, lo), one));
            hi = log4_32(_mm256_add_epi32(_mm256_add_epi32(hi, hi), one));
            acc[c] = _mm256_add_epi32(acc[c], _mm256_add_epi32(lo, hi));
        }
    }
    for (int c = 0; c < n_modes && c < 4; c++) {
        uint32_t v[8];
        _mm256_storeu_si256((__m256i *)(void *)v, acc[c]);
        for (int k = 0; k < 8; k++) cost[c] += v[k];
    }
    return j;
}

/* Residuals depend on the input only, so the last vector may overlap the one before it. */
size_t sqz_predict_row_avx2(int mode, size_t es, const void *cur_, const void *up_, const void *pp_, void *out_,
                            size_t X, uint32_t flip)
{
    size_t j = 1;
    const size_t lim = X - 1;  /* NE (up[j+1]) is loaded and must lie in the row */
    if (es == 2) {
        const __m256i f = _mm256_set1_epi16((short)flip);
        for (; j + 16 <= lim; j += 16) res16(mode, cur_, up_, pp_, out_, j, f);
        if (j < lim && lim >= 17) { res16(mode, cur_, up_, pp_, out_, lim - 16, f); j = lim; }
        return j;
    }
    if (es == 1) {
        const __m256i f = _mm256_set1_epi8((char)flip);
        for (; j + 32 <= lim; j += 32) res8(mode, cur_, up_, pp_, out_, j, f);
        if (j < lim && lim >= 33) { res8(mode, cur_, up_, pp_, out_, lim - 32, f); j = lim; }
        return j;
    }
    return 1;
}
