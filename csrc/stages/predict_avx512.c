/* AVX-512 residuals of interior rows for 1- and 2-byte elements, 32 or 64 per vector: the AVX2
 * row's contract (predict.h), twice as wide. Built with -mavx512bw. */
#include <immintrin.h>

#include "predict.h"

#define LD(p) _mm512_loadu_si512((const void *)(p))

/* pred16 (32 x u16) and pred8 (64 x u8): U, I = the intrinsics' unsigned and integer suffixes */
#define DEFINE_PRED(NAME, U, I, MASK)                                                                     \
static inline __m512i NAME(int mode, __m512i w, __m512i n, __m512i nw, __m512i ne, __m512i p)            \
{                                                                                                        \
    const __m512i one = _mm512_set1_##I(1);                                                              \
    const __m512i avg = _mm512_sub_##I(_mm512_avg_##U(w, n), _mm512_and_si512(_mm512_xor_si512(w, n), one)); \
    switch (mode) {                                                                                      \
    case SQZ_PRED_LEFT: return w;                                                                        \
    case SQZ_PRED_PLANE: return p;                                                                       \
    case SQZ_PRED_AVG3D: return _mm512_avg_##U(avg, p);                                                  \
    case SQZ_PRED_AVGNE:                                                                                 \
        return _mm512_avg_##U(w, _mm512_sub_##I(_mm512_avg_##U(n, ne), _mm512_and_si512(_mm512_xor_si512(n, ne), one))); \
    case SQZ_PRED_MED: {                                                                                 \
        const __m512i mx = _mm512_max_##U(w, n), mn = _mm512_min_##U(w, n);                             \
        const __m512i g = _mm512_sub_##I(_mm512_add_##I(w, n), nw);                                      \
        const MASK ge = _mm512_cmpeq_##I##_mask(_mm512_max_##U(nw, mx), nw);                             \
        const MASK le = _mm512_cmpeq_##I##_mask(_mm512_min_##U(nw, mn), nw);                             \
        return _mm512_mask_blend_##I(ge, _mm512_mask_blend_##I(le, g, mx), mn);                          \
    }                                                                                                    \
    default: return avg;                                                                                 \
    }                                                                                                    \
}
DEFINE_PRED(pred16, epu16, epi16, __mmask32)
DEFINE_PRED(pred8, epu8, epi8, __mmask64)
#undef DEFINE_PRED

/* zigzag of 16- and 8-bit differences: 2r, or -2r - 1 where r < 0 */
static inline __m512i zig16(__m512i r) { return _mm512_xor_si512(_mm512_slli_epi16(r, 1), _mm512_srai_epi16(r, 15)); }
static inline __m512i zig8(__m512i r) { return _mm512_xor_si512(_mm512_add_epi8(r, r), _mm512_movm_epi8(_mm512_movepi8_mask(r))); }

/* The residuals of elements j .. j + 31 (res16) or j + 63 (res8) of a row */
#define DEFINE_RES(NAME, T, PRED, I, ZIG)                                                                 \
static inline void NAME(int mode, const T *cur, const T *up, const T *pp, T *out, size_t j, __m512i f)    \
{                                                                                                        \
    const __m512i x = _mm512_xor_si512(LD(cur + j), f), w = _mm512_xor_si512(LD(cur + j - 1), f);        \
    const __m512i n = _mm512_xor_si512(LD(up + j), f), nw = _mm512_xor_si512(LD(up + j - 1), f);         \
    const __m512i ne = _mm512_xor_si512(LD(up + j + 1), f);                                              \
    const __m512i p = pp ? _mm512_xor_si512(LD(pp + j), f) : _mm512_setzero_si512();                     \
    _mm512_storeu_si512((void *)(out + j), ZIG(_mm512_sub_##I(x, PRED(mode, w, n, nw, ne, p))));          \
}
DEFINE_RES(res16, uint16_t, pred16, epi16, zig16)
DEFINE_RES(res8, uint8_t, pred8, epi8, zig8)
#undef DEFINE_RES

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
