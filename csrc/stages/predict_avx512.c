/* AVX-512 residuals of interior rows for 1- and 2-byte elements, 32 or 64 per vector: the AVX2
 * row's contract (predict.h), twice as wide. Built with -mavx512bw. */
#include <immintrin.h>

#include "predict.h"

#define LD(p) _mm512_loadu_si512((const void *)(p))

static inline __m512i pred16(int mode, __m512i w, __m512i n, __m512i nw, __m512i ne, __m512i p)
{
    const __m512i one = _mm512_set1_epi16(1);
    const __m512i avg = _mm512_sub_epi16(_mm512_avg_epu16(w, n), _mm512_and_si512(_mm512_xor_si512(w, n), one));
    switch (mode) {
    case SQZ_PRED_LEFT: return w;
    case SQZ_PRED_PLANE: return p;
    case SQZ_PRED_AVG3D: return _mm512_avg_epu16(avg, p);
    case SQZ_PRED_AVGNE:
        return _mm512_avg_epu16(w, _mm512_sub_epi16(_mm512_avg_epu16(n, ne), _mm512_and_si512(_mm512_xor_si512(n, ne), one)));
    case SQZ_PRED_MED: {
        const __m512i mx = _mm512_max_epu16(w, n), mn = _mm512_min_epu16(w, n);
        const __m512i g = _mm512_sub_epi16(_mm512_add_epi16(w, n), nw);
        const __mmask32 ge = _mm512_cmpeq_epi16_mask(_mm512_max_epu16(nw, mx), nw);
        const __mmask32 le = _mm512_cmpeq_epi16_mask(_mm512_min_epu16(nw, mn), nw);
        return _mm512_mask_blend_epi16(ge, _mm512_mask_blend_epi16(le, g, mx), mn);
    }
    default: return avg;
    }
}

static inline __m512i pred8(int mode, __m512i w, __m512i n, __m512i nw, __m512i ne, __m512i p)
{
    const __m512i one = _mm512_set1_epi8(1);
    const __m512i avg = _mm512_sub_epi8(_mm512_avg_epu8(w, n), _mm512_and_si512(_mm512_xor_si512(w, n), one));
    switch (mode) {
    case SQZ_PRED_LEFT: return w;
    case SQZ_PRED_PLANE: return p;
    case SQZ_PRED_AVG3D: return _mm512_avg_epu8(avg, p);
    case SQZ_PRED_AVGNE:
        return _mm512_avg_epu8(w, _mm512_sub_epi8(_mm512_avg_epu8(n, ne), _mm512_and_si512(_mm512_xor_si512(n, ne), one)));
    case SQZ_PRED_MED: {
        const __m512i mx = _mm512_max_epu8(w, n), mn = _mm512_min_epu8(w, n);
        const __m512i g = _mm512_sub_epi8(_mm512_add_epi8(w, n), nw);
        const __mmask64 ge = _mm512_cmpeq_epi8_mask(_mm512_max_epu8(nw, mx), nw);
        const __mmask64 le = _mm512_cmpeq_epi8_mask(_mm512_min_epu8(nw, mn), nw);
        return _mm512_mask_blend_epi8(ge, _mm512_mask_blend_epi8(le, g, mx), mn);
    }
    default: return avg;
    }
}

static inline void res16(int mode, const uint16_t *cur, const uint16_t *up, const uint16_t *pp, uint16_t *out,
                         size_t j, __m512i f)
{
    const __m512i x = _mm512_xor_si512(LD(cur + j), f), w = _mm512_xor_si512(LD(cur + j - 1), f);
    const __m512i n = _mm512_xor_si512(LD(up + j), f), nw = _mm512_xor_si512(LD(up + j - 1), f);
    const __m512i ne = _mm512_xor_si512(LD(up + j + 1), f);
    const __m512i p = pp ? _mm512_xor_si512(LD(pp + j), f) : _mm512_setzero_si512();
    const __m512i r = _mm512_sub_epi16(x, pred16(mode, w, n, nw, ne, p));
    _mm512_storeu_si512((void *)(out + j), _mm512_xor_si512(_mm512_slli_epi16(r, 1), _mm512_srai_epi16(r, 15)));
}

static inline void res8(int mode, const uint8_t *cur, const uint8_t *up, const uint8_t *pp, uint8_t *out,
                        size_t j, __m512i f)
{
    const __m512i x = _mm512_xor_si512(LD(cur + j), f), w = _mm512_xor_si512(LD(cur + j - 1), f);
    const __m512i n = _mm512_xor_si512(LD(up + j), f), nw = _mm512_xor_si512(LD(up + j - 1), f);
    const __m512i ne = _mm512_xor_si512(LD(up + j + 1), f);
    const __m512i p = pp ? _mm512_xor_si512(LD(pp + j), f) : _mm512_setzero_si512();
    const __m512i r = _mm512_sub_epi8(x, pred8(mode, w, n, nw, ne, p));
    const __m512i sign = _mm512_movm_epi8(_mm512_movepi8_mask(r));
    _mm512_storeu_si512((void *)(out + j), _mm512_xor_si512(_mm512_add_epi8(r, r), sign));
}

/* Residuals depend on the input only, so the last vector may overlap the one before it. */
size_t sqz_predict_row_avx512(int mode, size_t es, const void *cur, const void *up, const void *pp, void *out,
                              size_t X, uint32_t flip)
{
    size_t j = 1;
    const size_t lim = X - 1;  /* NE (up[j+1]) is loaded and must lie in the row */
    if (es == 2) {
        const __m512i f = _mm512_set1_epi16((short)flip);
        for (; j + 32 <= lim; j += 32) res16(mode, cur, up, pp, out, j, f);
        if (j < lim && lim >= 33) { res16(mode, cur, up, pp, out, lim - 32, f); j = lim; }
        return j;
    }
    if (es == 1) {
        const __m512i f = _mm512_set1_epi8((char)flip);
        for (; j + 64 <= lim; j += 64) res8(mode, cur, up, pp, out, j, f);
        if (j < lim && lim >= 65) { res8(mode, cur, up, pp, out, lim - 64, f); j = lim; }
        return j;
    }
    return 1;
}
