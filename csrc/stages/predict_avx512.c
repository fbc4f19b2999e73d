/* AVX-512 residuals of interior rows for 1- and 2-byte elements, 32 or 64 per vector: the AVX2
 * row's contract (predict.h), twice as wide; and the decoder of whole rows, 32 at once. Built with
 * -mavx512bw. */
#include <immintrin.h>

#include <stdlib.h>
#include <string.h>

#include "predict.h"

#define LD(p) _mm512_loadu_si512((const void *)(p))

/* pred16 (32 x u16) and pred8 (64 x u8): U, I = the intrinsics' unsigned and integer suffixes;
 * FA(a, b) = floor((a + b) / 2) (vpavg rounds up) */
#define DEFINE_PRED(NAME, FA, U, I, MASK)                                                                 \
static inline __m512i FA(__m512i a, __m512i b)                                                           \
{                                                                                                        \
    return _mm512_sub_##I(_mm512_avg_##U(a, b), _mm512_and_si512(_mm512_xor_si512(a, b), _mm512_set1_##I(1))); \
}                                                                                                        \
static inline __m512i NAME(int mode, __m512i w, __m512i n, __m512i nw, __m512i ne, __m512i p)            \
{                                                                                                        \
    const __m512i avg = FA(w, n);                                                                        \
    switch (mode) {                                                                                      \
    case SQZ_PRED_LEFT: return w;                                                                        \
    case SQZ_PRED_PLANE: return p;                                                                       \
    case SQZ_PRED_AVG3D: return _mm512_avg_##U(avg, p);                                                  \
    case SQZ_PRED_AVGNE: return _mm512_avg_##U(w, FA(n, ne));                                            \
    case SQZ_PRED_ROW:                                                                                   \
    case SQZ_PRED_ROW3D: {  /* floor((NW + 2N + NE) / 4) */                                              \
        const __m512i r = FA(FA(nw, ne), n);                                                             \
        return mode == SQZ_PRED_ROW ? r : _mm512_avg_##U(r, p);                                          \
    }                                                                                                    \
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
DEFINE_PRED(pred16, floor_avg16, epu16, epi16, __mmask32)
DEFINE_PRED(pred8, floor_avg8, epu8, epi8, __mmask64)
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

static inline __m512i unzig16(__m512i r) { return _mm512_xor_si512(_mm512_srli_epi16(r, 1), _mm512_srai_epi16(_mm512_slli_epi16(r, 15), 15)); }
static inline __m512i unzig8(__m512i r)
{
    return _mm512_xor_si512(_mm512_and_si512(_mm512_srli_epi16(r, 1), _mm512_set1_epi8(0x7F)),
                            _mm512_movm_epi8(_mm512_test_epi8_mask(r, _mm512_set1_epi8(1))));
}
static inline __m512i set1_16(uint32_t v) { return _mm512_set1_epi16((short)v); }
static inline __m512i set1_8(uint32_t v) { return _mm512_set1_epi8((char)v); }
/* lane l <- lane l - 1, lane 0 <- lane 0 */
#define W16 _mm512_set_epi16(30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, \
                             6, 5, 4, 3, 2, 1, 0, 0)
#define W8 _mm512_set_epi8(62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, \
                           38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, \
                           14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0)
/* lane l <- lane l + 1 of (cur, next): l + 1 */
#define E16 _mm512_set_epi16(32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, \
                             8, 7, 6, 5, 4, 3, 2, 1)
#define E8 _mm512_set_epi8(64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, \
                           40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, \
                           16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
/* ROW and ROW3D's decoder of `rows` interior rows (predict.h), whole rows, in place or not. The row
 * above is loaded only at the addresses its vectors were stored to (a load that spans two recent
 * stores waits for them to retire); NW and NE come from neighbouring vectors by permutes. A
 * vector at a row's start takes NW = N in lane 0, the one at its end NE = N in the last lane.
 * The row above is held complemented (a' = ~a): floor((a + b) / 2) = ~avg(a', b'), so ROW's two
 * floor averages are two vpavg, and ~value = ~ROW - residual. */
#define DEFINE_DEC_ROWS(NAME, T, LANES, MASK, I, U, SET1, MASKZ_LD, MASK_ST, UNZIG, PERM_W, PERM_E)              \
static inline __attribute__((always_inline)) __m512i NAME##_vec(int d3, __m512i nw, __m512i n, __m512i ne,   \
                                                                 __m512i p, __m512i zz, __m512i f, __m512i F) \
{                                                                                                            \
    const __m512i r = _mm512_avg_##U(_mm512_avg_##U(nw, ne), n);  /* ~ROW */                                 \
    if (!d3) return _mm512_xor_si512(_mm512_sub_##I(r, UNZIG(zz)), F);                                       \
    const __m512i t = _mm512_avg_##U(_mm512_ternarylogic_epi32(r, r, r, 0x55), _mm512_xor_si512(p, f)); /* ROW3D */ \
    return _mm512_xor_si512(_mm512_add_##I(t, UNZIG(zz)), f);                                                \
}                                                                                                            \
static inline __attribute__((always_inline)) void NAME##_loop(int d3, const T *z, T *out, const T *up,        \
                                                               const T *pp, size_t X, size_t rows, __m512i f) \
{                                                                                                            \
    const __m512i F = _mm512_ternarylogic_epi32(f, f, f, 0x55), w0 = PERM_W, e0 = PERM_E, wl = _mm512_mask_mov_##I(w0, (MASK)1, SET1(2 * LANES - 1)), zero = _mm512_setzero_si512(); \
    const MASK mlast = (MASK)(~(MASK)0 >> (LANES - 1 - (X - 1) % LANES));  /* the last vector's lanes */    \
    const size_t jl = (X - 1) / LANES * LANES;                               /* and its column */         \
    for (size_t r = 0; r < rows; r++, z += X, out += X, up = out - X, pp = d3 ? pp + X : pp) {             \
        __m512i cur = _mm512_xor_si512(jl ? _mm512_loadu_si512((const void *)up) : MASKZ_LD(mlast, up), F);   \
        __m512i prev = _mm512_permutexvar_##I(zero, cur);  /* NW of lane 0 = N */                             \
        size_t j = 0;                                                                                        \
        for (; j < jl; j += LANES) {                                                                         \
            const __m512i next = _mm512_xor_si512(j + LANES < jl ? _mm512_loadu_si512((const void *)(up + j + LANES)) \
                                                              : MASKZ_LD(mlast, up + jl), F);                \
            const __m512i p = d3 ? _mm512_loadu_si512((const void *)(pp + j)) : zero;                        \
            const __m512i v = NAME##_vec(d3, _mm512_permutex2var_##I(cur, wl, prev), cur,                     \
                                         _mm512_permutex2var_##I(cur, e0, next), p,                          \
                                         _mm512_loadu_si512((const void *)(z + j)), f, F);                   \
            _mm512_storeu_si512((void *)(out + j), v);                                                       \
            prev = cur;                                                                                      \
            cur = next;                                                                                      \
        }                                                                                                    \
        const __m512i ne = _mm512_mask_blend_##I((MASK)(mlast >> 1), cur, _mm512_permutex2var_##I(cur, e0, zero)); \
        const __m512i p = d3 ? MASKZ_LD(mlast, pp + j) : zero;                                               \
        MASK_ST(out + j, mlast, NAME##_vec(d3, _mm512_permutex2var_##I(cur, wl, prev), cur, ne, p, MASKZ_LD(mlast, z + j), f, F)); \
    }                                                                                                        \
}                                                                                                            \
static void NAME(int mode, const T *z, T *out, const T *up, const T *pp, size_t X, size_t rows, uint32_t flip) \
{                                                                                                            \
    const __m512i f = SET1(flip);                                                                            \
    if (mode == SQZ_PRED_ROW3D && pp) NAME##_loop(1, z, out, up, pp, X, rows, f);                            \
    else NAME##_loop(0, z, out, up, NULL, X, rows, f);                                                       \
}
DEFINE_DEC_ROWS(dec_rows16, uint16_t, 32, __mmask32, epi16, epu16, set1_16, _mm512_maskz_loadu_epi16,
                _mm512_mask_storeu_epi16, unzig16, W16, E16)
DEFINE_DEC_ROWS(dec_rows8, uint8_t, 64, __mmask64, epi8, epu8, set1_8, _mm512_maskz_loadu_epi8,
                _mm512_mask_storeu_epi8, unzig8, W8, E8)
#undef DEFINE_DEC_ROWS

size_t sqz_predict_dec_rowwise_avx512(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                      size_t X, size_t rows, uint32_t flip)
{
    if (!sqz_pred_row_mode(mode) || X < 2) return 0;
    if (es == 2) dec_rows16(mode, z, out, up, pp, X, rows, flip);
    else if (es == 1) dec_rows8(mode, z, out, up, pp, X, rows, flip);
    else return 0;
    return rows;
}

/* ---- Decoder: 32 rows at once ----
 * predict_avx2.c's wavefront (lane k = row k, L columns behind row k - 1) with 32 lanes of 16 bits.
 * Values are kept complemented (v' = ~v): floor((a + b) / 2) = ~avg(~a, ~b), so the average of
 * W and N is one vpavgw. Residuals are loaded and values stored straight from and to the rows,
 * masked at the skewed ends, so the decoder may run in place; a last group of fewer than
 * 32 rows leaves the lanes below it unused. */
#define UPAD 32  /* before column 0 of the row above: shift_in32 reads 31 words back */

/* v one lane up, lane 0 from p[31] */
static inline __m512i shift_in32(__m512i v, const uint16_t *p)
{
    return _mm512_alignr_epi8(v, _mm512_alignr_epi64(v, LD(p), 6), 14);
}

/* r[c] lane k <- r[k] lane c, for 32 x 32 16-bit elements */
static inline __attribute__((always_inline)) void transpose32(__m512i *r)
{
    __m512i a[32], b[32];
    for (int i = 0; i < 16; i++) {  /* rows 2i, 2i + 1: a[i] columns 0-3 of each 128-bit lane, a[16 + i] 4-7 */
        a[i] = _mm512_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
        a[16 + i] = _mm512_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++)
        for (int m = 0; m < 8; m++) {  /* rows 4m..4m+3; b[16h + 2m + e]: columns 4h + 2e, 4h + 2e + 1 */
            b[16 * h + 2 * m] = _mm512_unpacklo_epi32(a[16 * h + 2 * m], a[16 * h + 2 * m + 1]);
            b[16 * h + 2 * m + 1] = _mm512_unpackhi_epi32(a[16 * h + 2 * m], a[16 * h + 2 * m + 1]);
        }
    for (int h = 0; h < 2; h++)
        for (int e = 0; e < 2; e++)
            for (int g = 0; g < 4; g++) {  /* rows 8g..8g+7; a[8g + q]: column q of each 128-bit lane */
                const __m512i x = b[16 * h + 4 * g + e], y = b[16 * h + 4 * g + 2 + e];
                a[8 * g + 4 * h + 2 * e] = _mm512_unpacklo_epi64(x, y);
                a[8 * g + 4 * h + 2 * e + 1] = _mm512_unpackhi_epi64(x, y);
            }
    for (int q = 0; q < 8; q++) {  /* 128-bit lane l of a[8g + q] -> lane g of r[8l + q] */
        const __m512i x0 = _mm512_shuffle_i64x2(a[q], a[8 + q], 0x88), x1 = _mm512_shuffle_i64x2(a[q], a[8 + q], 0xDD);
        const __m512i x2 = _mm512_shuffle_i64x2(a[16 + q], a[24 + q], 0x88);
        const __m512i x3 = _mm512_shuffle_i64x2(a[16 + q], a[24 + q], 0xDD);
        r[q] = _mm512_shuffle_i64x2(x0, x2, 0x88);
        r[16 + q] = _mm512_shuffle_i64x2(x0, x2, 0xDD);
        r[8 + q] = _mm512_shuffle_i64x2(x1, x3, 0x88);
        r[24 + q] = _mm512_shuffle_i64x2(x1, x3, 0xDD);
    }
}

/* What every tile of a call shares: the row above, complemented, UPAD words before column 0
 * (ub); which of 32 columns from column c lie in the row (cols[c + off]); per step, the lanes
 * at column 0 (m0) and at column X - 1 (ml). */
typedef struct {
    uint16_t *ub;
    uint32_t *cols, *m0, *ml;
    size_t X, off, tiles;  /* tiles: those run; finish_tail does the steps after them */
} dec_geo;

static inline __mmask32 mask_at(const uint32_t *m) { return _load_mask32((__mmask32 *)(void *)m); }

/* 32 elements from element at of a row, 1 or 2 bytes each (mask m), as 16-bit values. Nothing is
 * read where m is 0: such an address may lie past the buffer, and the core's fault suppression
 * there costs hundreds of cycles. */
static inline __m512i load_row(size_t es, const void *base, ptrdiff_t at, __mmask32 m)
{
    if (!m) return _mm512_setzero_si512();
    return es == 1 ? _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, (const uint8_t *)base + at))
                   : _mm512_maskz_loadu_epi16(m, (const uint16_t *)base + at);
}

/* One tile: steps s0 .. s0 + 31 of 32 rows (nr of them real) from residuals z into out.
 * st: the complemented W of steps s - 1 and s - 2, N of s - 1, and N of step s, carried from tile to tile. */
static inline __attribute__((always_inline)) void
tile32(int mode, size_t es, int L, int edges, int full, const dec_geo *g, const void *z, void *out, const void *pp, size_t nr,
       size_t s0, uint16_t flip, const __m512i *pv, __m512i *wv, __m512i *st)
{
    const size_t X = g->X;
    const __m512i ones = _mm512_set1_epi16(-1), hi8 = _mm512_set1_epi16((short)0xFF00);
    __m512i R[32], P[32];
    __mmask32 M[32];
    for (size_t k = 0; k < 32; k++) {
        const ptrdiff_t c = (ptrdiff_t)s0 - L * (ptrdiff_t)k, at = (ptrdiff_t)(k * X) + c;
        M[k] = k < nr ? mask_at(g->cols + g->off + c) : 0;
        if (full)
            R[k] = es == 1 ? _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)((const uint8_t *)z + at)))
                           : _mm512_loadu_si512((const void *)((const uint16_t *)z + at));
        else
            R[k] = load_row(es, z, at, M[k]);
        if (mode == SQZ_PRED_AVG3D && !pv) P[k] = _mm512_xor_si512(load_row(es, pp, at, M[k]), _mm512_set1_epi16((short)flip));
    }
    transpose32(R);
    if (mode == SQZ_PRED_AVG3D) {
        if (pv) for (int j = 0; j < 32; j++) P[j] = _mm512_load_si512(pv + s0 + (size_t)j);
        else transpose32(P);
    }
    __m512i w1 = st[0], w2 = st[1], n1 = st[2], sh = st[3];
#pragma GCC unroll 32
    for (int j = 0; j < 32; j++) {
        const size_t s = s0 + (size_t)j;
        const __m512i n = sh, nw = n1;
        n1 = n;
        const __m512i d = unzig16(R[j]);
        __m512i ne = n, w;
        if (mode == SQZ_PRED_AVGNE) {  /* w = ~(pr + d) = ~d - pr, pr = avg(w, floor((n + ne) / 2)) */
            ne = shift_in32(w2, g->ub + UPAD + s + 1 - 31);
            if (edges) ne = _mm512_mask_mov_epi16(ne, mask_at(g->ml + s), n);
            __m512i pr = _mm512_avg_epu16(_mm512_xor_si512(w1, ones), _mm512_xor_si512(_mm512_avg_epu16(n, ne), ones));
            if (edges) pr = _mm512_mask_mov_epi16(pr, mask_at(g->m0 + s), _mm512_xor_si512(n, ones));
            w = _mm512_sub_epi16(_mm512_xor_si512(d, ones), pr);
        } else if (mode == SQZ_PRED_AVG3D) {
            __m512i pr = _mm512_avg_epu16(_mm512_xor_si512(_mm512_avg_epu16(w1, n), ones), P[j]);
            if (edges) pr = _mm512_mask_mov_epi16(pr, mask_at(g->m0 + s), _mm512_xor_si512(n, ones));
            w = _mm512_sub_epi16(_mm512_xor_si512(d, ones), pr);
        } else {  /* MED commutes with the complement */
            __m512i f = mode == SQZ_PRED_MED ? pred16(SQZ_PRED_MED, w1, n, nw, n, n) : _mm512_avg_epu16(w1, n);
            if (edges) f = _mm512_mask_mov_epi16(f, mask_at(g->m0 + s), n);
            w = _mm512_sub_epi16(f, d);
        }
        if (es == 1) w = _mm512_or_si512(w, hi8);
        R[j] = w;
        w2 = w1;
        w1 = w;
        sh = L == 3 ? ne : shift_in32(w, g->ub + UPAD + s + 1 - 31);
    }
    st[0] = w1; st[1] = w2; st[2] = n1; st[3] = sh;
    if (wv) for (int j = 0; j < 32; j++) _mm512_store_si512(wv + s0 + (size_t)j, _mm512_xor_si512(R[j], ones));
    transpose32(R);
    const __m512i outx = _mm512_set1_epi16((short)(uint16_t)~flip);
    for (size_t k = 0; k < nr; k++) {
        const ptrdiff_t at = (ptrdiff_t)(k * X) + (ptrdiff_t)s0 - L * (ptrdiff_t)k;
        const __m512i v = _mm512_xor_si512(R[k], outx);
        if (full && es == 1) _mm256_storeu_si256((__m256i *)(void *)((uint8_t *)out + at), _mm512_cvtepi16_epi8(v));
        else if (full) _mm512_storeu_si512((void *)((uint16_t *)out + at), v);
        else if (!M[k]) continue;  /* as load_row: no masked access outside the rows */
        else if (es == 1) _mm512_mask_cvtepi16_storeu_epi8((uint8_t *)out + at, M[k], v);
        else _mm512_mask_storeu_epi16((uint16_t *)out + at, M[k], v);
    }
}

static inline int lag(int mode) { return mode == SQZ_PRED_AVGNE ? 3 : 1; }

/* One group of up to 32 rows */
static inline __attribute__((always_inline)) void
dec32(int mode, size_t es, const dec_geo *g, const void *z, void *out, const void *pp, size_t nr, uint16_t flip,
      const __m512i *pv, __m512i *wv)
{
    const int L = lag(mode);
    const size_t tiles = g->tiles;
    __m512i st[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                     shift_in32(_mm512_setzero_si512(), g->ub + UPAD - 31)};
    for (size_t t = 0; t < tiles; t++) {
        const size_t s0 = 32 * t;
        if (s0 <= 31 * (size_t)L || (mode == SQZ_PRED_AVGNE && s0 + 31 >= g->X - 1))
            tile32(mode, es, L, 1, 0, g, z, out, pp, nr, s0, flip, pv, wv, st);
        else if (nr == 32 && s0 + 32 <= g->X)
            tile32(mode, es, L, 0, 1, g, z, out, pp, nr, s0, flip, pv, wv, st);
        else
            tile32(mode, es, L, 0, 0, g, z, out, pp, nr, s0, flip, pv, wv, st);
    }
}

#define DEC32(M, ES) dec32(M, ES, g, zg, og, pg, nr, (uint16_t)flip, pvg, wvg)
static void dec32_any(int mode, size_t es, const dec_geo *g, const void *zg, void *og, const void *pg, size_t nr,
                      uint32_t flip, const __m512i *pvg, __m512i *wvg)
{
    if (es == 1) {
        if (mode == SQZ_PRED_AVG) DEC32(SQZ_PRED_AVG, 1);
        else if (mode == SQZ_PRED_AVGNE) DEC32(SQZ_PRED_AVGNE, 1);
        else if (mode == SQZ_PRED_AVG3D) DEC32(SQZ_PRED_AVG3D, 1);
        else DEC32(SQZ_PRED_MED, 1);
    } else {
        if (mode == SQZ_PRED_AVG) DEC32(SQZ_PRED_AVG, 2);
        else if (mode == SQZ_PRED_AVGNE) DEC32(SQZ_PRED_AVGNE, 2);
        else if (mode == SQZ_PRED_AVG3D) DEC32(SQZ_PRED_AVG3D, 2);
        else DEC32(SQZ_PRED_MED, 2);
    }
}
#undef DEC32

/* The elements of a group's last steps (column c of row k where c + L k >= s_end), when so few that
 * a tile would cost more: one by one, rows in order, as predict.c's reference decodes them. */
static void finish_tail(int mode, size_t es, const void *z, void *out, const void *up, const void *pp, size_t X,
                        size_t nr, size_t s_end, uint32_t flip)
{
    const size_t L = (size_t)lag(mode);
    const uint32_t mask = es == 1 ? 0xFFu : 0xFFFFu;
#define AT(base, i) ((es == 1 ? ((const uint8_t *)(base))[i] : ((const uint16_t *)(base))[i]) ^ flip)
    for (size_t k = 0; k < nr; k++) {
        const void *above = k ? (const uint8_t *)out + (k - 1) * X * es : up;
        for (size_t c = s_end - L * k; c < X; c++) {  /* c >= X - 4 > 0: the tiles ran all but the last 4 steps */
            const size_t i = k * X + c;
            const uint64_t w = AT(out, i - 1), n = AT(above, c), nw = AT(above, c - 1);
            const uint64_t ne = c + 1 < X ? AT(above, c + 1) : n, p = pp ? AT(pp, i) : 0;
            const uint32_t zz = es == 1 ? ((const uint8_t *)z)[i] : ((const uint16_t *)z)[i];
            const uint32_t v = ((uint32_t)sqz_pred_full(mode, w, n, nw, ne, p) + ((zz >> 1) ^ (0u - (zz & 1u)))) & mask;
            if (es == 1) ((uint8_t *)out)[i] = (uint8_t)(v ^ flip);
            else ((uint16_t *)out)[i] = (uint16_t)(v ^ flip);
        }
    }
#undef AT
}

size_t sqz_predict_dec_rows_avx512(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                   size_t X, size_t rows, uint32_t flip, sqz_pred_carry *carry)
{
    if ((mode != SQZ_PRED_AVG && mode != SQZ_PRED_AVGNE && mode != SQZ_PRED_AVG3D && mode != SQZ_PRED_MED) ||
        (mode == SQZ_PRED_AVG3D && !pp) || es > 2 || X > 30000)
        return 0;
    if (rows < 24 || X < (lag(mode) == 1 ? 32u : 128u)) return 0;  /* the skew or idle lanes cost more than 16 rows at once */
    const size_t L = (size_t)lag(mode), tiles = (X + 31 * L + 31) / 32, steps = 32 * tiles, groups = (rows + 31) / 32;
    const size_t off = 31 * L, n_cols = off + steps;
    /* a last tile of at most 4 steps with values: those few elements one by one */
    const size_t run = X + 31 * L - 32 * (tiles - 1) <= 4 ? tiles - 1 : tiles;
    dec_geo g = {.X = X, .off = off, .tiles = run};
    g.ub = calloc(UPAD + steps + 32, sizeof *g.ub);
    g.cols = malloc((n_cols + 2 * steps) * sizeof *g.cols);
    if (!g.ub || !g.cols) { free(g.ub); free(g.cols); return 0; }
    g.m0 = g.cols + n_cols;
    g.ml = g.m0 + steps;
    for (size_t i = 0; i < n_cols; i++) {
        const ptrdiff_t c = (ptrdiff_t)i - (ptrdiff_t)off;
        const ptrdiff_t lo = c < 0 ? -c : 0, hi = (ptrdiff_t)X - c < 32 ? (ptrdiff_t)X - c : 32;
        g.cols[i] = hi <= lo ? 0 : (uint32_t)(((1ull << hi) - 1) & ~((1ull << lo) - 1));
    }
    memset(g.m0, 0, 2 * steps * sizeof *g.m0);
    for (size_t k = 0; k < 32; k++) {  /* lane k is at column s - L * k */
        g.m0[L * k] |= 1u << k;
        if (X - 1 + L * k < steps) g.ml[X - 1 + L * k] |= 1u << k;
    }
    const size_t group_vecs = steps;
    const int keep = carry && mode != SQZ_PRED_AVGNE && sqz_pred_carry_room(carry, groups * group_vecs * sizeof(__m512i));
    const int use = keep && mode == SQZ_PRED_AVG3D && carry->rows == pp && carry->X == X && carry->n_rows == rows &&
                    carry->es == es && carry->lanes == 32;
    const __m512i *pv = use ? carry->buf[carry->cur] : NULL;
    __m512i *wv = keep ? carry->buf[carry->cur ^ 1] : NULL;
    const __m512i notflip = _mm512_set1_epi16((short)(uint16_t)~flip);
    for (size_t r = 0; r < rows; r += 32) {
        const size_t nr = rows - r < 32 ? rows - r : 32, at = r * X * es;
        const void *ug = r ? (const uint8_t *)out + at - X * es : up;
        for (size_t c = 0; c < X; c += 32) {  /* the row above, complemented */
            const __mmask32 m = X - c >= 32 ? (__mmask32)~0u : (__mmask32)((1u << (X - c)) - 1);
            _mm512_storeu_si512((void *)(g.ub + UPAD + c), _mm512_xor_si512(load_row(es, ug, (ptrdiff_t)c, m), notflip));
        }
        dec32_any(mode, es, &g, (const uint8_t *)z + at, (uint8_t *)out + at,
                  mode == SQZ_PRED_AVG3D && !use ? (const uint8_t *)pp + at : NULL, nr, flip,
                  pv ? pv + r / 32 * group_vecs : NULL, wv ? wv + r / 32 * group_vecs : NULL);
        if (run < tiles)
            finish_tail(mode, es, (const uint8_t *)z + at, (uint8_t *)out + at, ug,
                        mode == SQZ_PRED_AVG3D ? (const uint8_t *)pp + at : NULL, X, nr, 32 * run, flip);
    }
    free(g.ub);
    free(g.cols);
    if (carry) {
        carry->rows = keep ? out : NULL;
        if (keep) { carry->X = X; carry->n_rows = rows; carry->es = es; carry->lanes = 32; carry->cur ^= 1; }
    }
    return rows;
}
