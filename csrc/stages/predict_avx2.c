/* AVX2 residuals of interior rows for 1- and 2-byte elements; predict.c's scalar row is the
 * reference and finishes what this leaves. Built with -mavx2. */
#include <immintrin.h>

#include <stdlib.h>

#include "predict.h"
#include "transpose16_avx2.h"

#define LD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))

/* floor((a + b) / 2): vpavg rounds up */
static inline __m256i floor_avg(__m256i a, __m256i b)
{
    return _mm256_sub_epi16(_mm256_avg_epu16(a, b), _mm256_and_si256(_mm256_xor_si256(a, b), _mm256_set1_epi16(1)));
}
static inline __m256i floor_avg8(__m256i a, __m256i b)
{
    return _mm256_sub_epi8(_mm256_avg_epu8(a, b), _mm256_and_si256(_mm256_xor_si256(a, b), _mm256_set1_epi8(1)));
}

static inline __m256i pred16(int mode, __m256i w, __m256i n, __m256i nw, __m256i ne, __m256i p)
{
    const __m256i avg = floor_avg(w, n);
    switch (mode) {
    case SQZ_PRED_LEFT: return w;
    case SQZ_PRED_PLANE: return p;
    case SQZ_PRED_AVG3D: return _mm256_avg_epu16(avg, p);
    case SQZ_PRED_AVGNE: return _mm256_avg_epu16(w, floor_avg(n, ne));
    case SQZ_PRED_ROW:
    case SQZ_PRED_ROW3D: {  /* floor((NW + 2N + NE) / 4) */
        const __m256i r = floor_avg(floor_avg(nw, ne), n);
        return mode == SQZ_PRED_ROW ? r : _mm256_avg_epu16(r, p);
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
    const __m256i avg = floor_avg8(w, n);
    switch (mode) {
    case SQZ_PRED_LEFT: return w;
    case SQZ_PRED_PLANE: return p;
    case SQZ_PRED_AVG3D: return _mm256_avg_epu8(avg, p);
    case SQZ_PRED_AVGNE: return _mm256_avg_epu8(w, floor_avg8(n, ne));
    case SQZ_PRED_ROW:
    case SQZ_PRED_ROW3D: {  /* floor((NW + 2N + NE) / 4) */
        const __m256i r = floor_avg8(floor_avg8(nw, ne), n);
        return mode == SQZ_PRED_ROW ? r : _mm256_avg_epu8(r, p);
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
    __m256i acc[SQZ_PREDICT_COST_MODES];
    for (int c = 0; c < SQZ_PREDICT_COST_MODES; c++) acc[c] = _mm256_setzero_si256();
    for (; j + 16 <= lim; j += 16) {
        __m256i x = _mm256_xor_si256(LD(cur + j), f), w = _mm256_xor_si256(LD(cur + j - 1), f);
        __m256i n = _mm256_xor_si256(LD(up + j), f), nw = _mm256_xor_si256(LD(up + j - 1), f);
        __m256i ne = _mm256_xor_si256(LD(up + j + 1), f);
        __m256i p = pp ? _mm256_xor_si256(LD(pp + j), f) : _mm256_setzero_si256();
        for (int c = 0; c < n_modes && c < SQZ_PREDICT_COST_MODES; c++) {
            __m256i pr = pred16(modes[c], w, n, nw, ne, p);
            __m256i d = _mm256_or_si256(_mm256_subs_epu16(x, pr), _mm256_subs_epu16(pr, x));
            __m256i lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(d));
            __m256i hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(d, 1));
            lo = log4_32(_mm256_add_epi32(_mm256_add_epi32(lo, lo), one));
            hi = log4_32(_mm256_add_epi32(_mm256_add_epi32(hi, hi), one));
            acc[c] = _mm256_add_epi32(acc[c], _mm256_add_epi32(lo, hi));
        }
    }
    for (int c = 0; c < n_modes && c < SQZ_PREDICT_COST_MODES; c++) {
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

/* ROW and ROW3D's decoder of one interior row (predict.h), in place or not. As the AVX-512 one
 * (predict_avx512.c), the row above is held complemented: ~ROW is two vpavg, ~value = ~ROW - residual. */
#define DEFINE_DEC_ROW(NAME, T, LANES, I, U, SET1, UNZIG)                                                     \
static size_t NAME(int d3, const T *z, T *o, const T *u, const T *q, size_t lim, uint32_t flip)             \
{                                                                                                            \
    const __m256i f = SET1(flip), F = _mm256_xor_si256(f, _mm256_set1_epi32(-1));                            \
    size_t j = 1;                                                                                            \
    for (; j + LANES <= lim; j += LANES) {                                                                   \
        const __m256i nw = _mm256_xor_si256(LD(u + j - 1), F), n = _mm256_xor_si256(LD(u + j), F);           \
        const __m256i r = _mm256_avg_##U(_mm256_avg_##U(nw, _mm256_xor_si256(LD(u + j + 1), F)), n);       \
        __m256i v;                                                                                           \
        if (!d3) v = _mm256_xor_si256(_mm256_sub_##I(r, UNZIG(LD(z + j))), F);                              \
        else v = _mm256_xor_si256(_mm256_add_##I(_mm256_avg_##U(_mm256_xor_si256(r, _mm256_set1_epi32(-1)), \
                                                                 _mm256_xor_si256(LD(q + j), f)), UNZIG(LD(z + j))), f); \
        _mm256_storeu_si256((__m256i *)(void *)(o + j), v);                                                 \
    }                                                                                                        \
    return j;                                                                                                \
}
static inline __m256i unzig16(__m256i r) { return _mm256_xor_si256(_mm256_srli_epi16(r, 1), _mm256_srai_epi16(_mm256_slli_epi16(r, 15), 15)); }
static inline __m256i unzig8(__m256i r)
{
    const __m256i one = _mm256_set1_epi8(1);
    return _mm256_xor_si256(_mm256_and_si256(_mm256_srli_epi16(r, 1), _mm256_set1_epi8(0x7F)),
                            _mm256_cmpeq_epi8(_mm256_and_si256(r, one), one));
}
static inline __m256i set1_16(uint32_t v) { return _mm256_set1_epi16((short)v); }
static inline __m256i set1_8(uint32_t v) { return _mm256_set1_epi8((char)v); }
DEFINE_DEC_ROW(dec_row16, uint16_t, 16, epi16, epu16, set1_16, unzig16)
DEFINE_DEC_ROW(dec_row8, uint8_t, 32, epi8, epu8, set1_8, unzig8)
#undef DEFINE_DEC_ROW

size_t sqz_predict_dec_row_avx2(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                size_t X, uint32_t flip)
{
    const int d3 = mode == SQZ_PRED_ROW3D && pp;  /* X - 1: NE (up[j + 1]) is loaded and must lie in the row */
    if (es == 2) return d3 ? dec_row16(1, z, out, up, pp, X - 1, flip) : dec_row16(0, z, out, up, NULL, X - 1, flip);
    if (es == 1) return d3 ? dec_row8(1, z, out, up, pp, X - 1, flip) : dec_row8(0, z, out, up, NULL, X - 1, flip);
    return 1;
}

/* ---- Decoder: 16 rows at once ----
 * The averaging predictors and MED chain each value to its left neighbour, so one row decodes
 * serially. Here lane k of a vector holds row k, L columns behind row k - 1: one step of the
 * recurrence advances 16 rows, and every neighbour a lane reads (N, NW, NE: row k - 1) was computed
 * at an earlier step. L = 1 where there is no NE (AVG, AVG3D, MED: N is the step before's, NW the
 * one before that), L = 3 with NE (AVGNE: NE of step s is row k - 1's value of step s - 2, off the
 * chain). Residuals are transposed in and values out in 16 x 16 tiles, through row buffers padded
 * so that the skewed ends read and write inside them. */
#define PADL 48                        /* >= 3 * 15 and >= 7 */
#define PADR (3 * 15 + 16 + 24)        /* past X: the last tile, and up[s + 1 - 7 .. s + 9] */

/* v shifted up one lane, lane 0 from u16 element 7 of *lane0 (one load: lanes 0-6 unused). */
static inline __m256i shift_in(__m256i v, const uint16_t *lane0)
{
    return _mm256_alignr_epi8(v, _mm256_permute2x128_si256(LD(lane0), v, 0x20), 14);
}

/* One group: zp, pb = residuals (already mapped to deltas) and previous-plane rows, up = the row
 * above, all padded; values into ob (padded). Columns are s - L * k for lane k at step s; the
 * row above of step s + 1 (and NE of step s) is row k - 1's W of step s + 1 - L. */
static inline __attribute__((always_inline)) void
dec16(int mode, int narrow, int L, const uint16_t *zp, const uint16_t *pb, const uint16_t *up, uint16_t *ob,
      size_t Xp, size_t X, const __m256i *pv, __m256i *wv)
{
    const size_t steps = X + (size_t)L * 15, tiles = (steps + 15) / 16;
    const __m256i lanes = _mm256_mullo_epi16(_mm256_set1_epi16((short)-L),
                                             _mm256_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m256i last = _mm256_set1_epi16((short)(X - 1)), byte = _mm256_set1_epi16(0xFF);
    __m256i w1 = _mm256_setzero_si256(), w2 = w1;   /* W of steps s - 1, s - 2 */
    __m256i sh = shift_in(w1, up + PADL - 7);       /* N of step 0 */
    __m256i n1 = w1;                                /* N of step s - 1: NW of step s (MED, L == 1) */
    for (size_t t = 0; t < tiles; t++) {
        const size_t s0 = 16 * t;
        __m256i rows[16], D[16], P[16], W[16];
        for (int k = 0; k < 16; k++) rows[k] = LD(zp + k * Xp + PADL + s0 - (size_t)L * k);
        transpose16(rows, D);
        if (mode == SQZ_PRED_AVG3D && pv) {  /* the previous plane's vectors of these rows */
            for (int j = 0; j < 16; j++) P[j] = _mm256_load_si256(pv + s0 + j);
        } else if (mode == SQZ_PRED_AVG3D) {
            for (int k = 0; k < 16; k++) rows[k] = LD(pb + k * Xp + PADL + s0 - (size_t)L * k);
            transpose16(rows, P);
        }
        const int edges = s0 <= (size_t)L * 15 || s0 + 15 >= X - 1;
        __m256i col = _mm256_add_epi16(lanes, _mm256_set1_epi16((short)s0));
        for (int j = 0; j < 16; j++) {
            const size_t s = s0 + j;
            const __m256i n = sh, nw = n1;
            n1 = n;
            const __m256i ne = L == 3 ? shift_in(w2, up + PADL + s + 1 - 7) : n;  /* L == 1: no NE */
            __m256i w;
            if (mode == SQZ_PRED_AVGNE) {
                __m256i h = floor_avg(n, ne);
                if (edges) h = _mm256_blendv_epi8(h, n, _mm256_cmpeq_epi16(col, last));  /* last column: NE = N */
                w = _mm256_avg_epu16(w1, h);
            } else if (mode == SQZ_PRED_AVG3D) {
                w = _mm256_avg_epu16(floor_avg(w1, n), P[j]);
            } else if (mode == SQZ_PRED_MED) {
                const __m256i mx = _mm256_max_epu16(w1, n), mn = _mm256_min_epu16(w1, n);
                const __m256i ge = _mm256_cmpeq_epi16(_mm256_max_epu16(nw, mx), nw);
                const __m256i le = _mm256_cmpeq_epi16(_mm256_min_epu16(nw, mn), nw);
                w = _mm256_blendv_epi8(_mm256_blendv_epi8(_mm256_sub_epi16(_mm256_add_epi16(w1, n), nw), mx, le), mn, ge);
            } else {
                w = floor_avg(w1, n);
            }
            if (edges) w = _mm256_blendv_epi8(w, n, _mm256_cmpeq_epi16(col, _mm256_setzero_si256()));  /* column 0: N */
            w = _mm256_add_epi16(w, D[j]);
            if (narrow) w = _mm256_and_si256(w, byte);
            W[j] = w;
            w2 = w1;
            w1 = w;
            sh = L == 3 ? ne : shift_in(w, up + PADL + s + 1 - 7);
            col = _mm256_add_epi16(col, _mm256_set1_epi16(1));
        }
        if (wv) for (int j = 0; j < 16; j++) _mm256_store_si256(wv + s0 + j, W[j]);
        transpose16(W, rows);
        for (int k = 0; k < 16; k++)
            _mm256_storeu_si256((__m256i *)(void *)(ob + k * Xp + PADL + s0 - (size_t)L * k), rows[k]);
    }
}

static inline int lag(int mode) { return mode == SQZ_PRED_AVGNE ? 3 : 1; }

static void dec16_any(int mode, int narrow, const uint16_t *zp, const uint16_t *pb, const uint16_t *up, uint16_t *ob,
                      size_t Xp, size_t X, const __m256i *pv, __m256i *wv)
{
#define DEC16_CASE(M, NARROW) if (mode == (M) && narrow == (NARROW)) { dec16(M, NARROW, lag(M), zp, pb, up, ob, Xp, X, pv, wv); return; }
    DEC16_CASE(SQZ_PRED_AVG, 0) DEC16_CASE(SQZ_PRED_AVGNE, 0) DEC16_CASE(SQZ_PRED_AVG3D, 0) DEC16_CASE(SQZ_PRED_MED, 0)
    DEC16_CASE(SQZ_PRED_AVG, 1) DEC16_CASE(SQZ_PRED_AVGNE, 1) DEC16_CASE(SQZ_PRED_AVG3D, 1) DEC16_CASE(SQZ_PRED_MED, 1)
#undef DEC16_CASE
}

#define AT(p, i) (es == 1 ? ((const uint8_t *)(p))[i] : ((const uint16_t *)(p))[i])

/* A group's inputs into the padded 16-bit rows: the row above (ub), residuals as deltas (zp),
 * previous-plane rows (pb, when pp). es is a constant at each call. */
static inline __attribute__((always_inline)) void fill_group(size_t es, const void *z, const void *up, const void *pp,
                                                             uint16_t *zp, uint16_t *pb, uint16_t *ub, size_t Xp,
                                                             size_t X, size_t nr, uint32_t flip)
{
    for (size_t c = 0; c < X; c++) ub[c] = (uint16_t)(AT(up, c) ^ flip);
    for (size_t k = 0; k < nr; k++)
        for (size_t c = 0; c < X; c++) {
            const uint16_t v = AT(z, k * X + c);
            zp[k * Xp + PADL + c] = (uint16_t)((v >> 1) ^ (0u - (v & 1u)));
        }
    if (pp)
        for (size_t k = 0; k < nr; k++)
            for (size_t c = 0; c < X; c++) pb[k * Xp + PADL + c] = (uint16_t)(AT(pp, k * X + c) ^ flip);
}

static inline __attribute__((always_inline)) void store_group(size_t es, const uint16_t *ob, void *out, size_t Xp,
                                                              size_t X, size_t nr, uint32_t flip)
{
    for (size_t k = 0; k < nr; k++)
        for (size_t c = 0; c < X; c++) {
            const uint16_t v = (uint16_t)(ob[k * Xp + PADL + c] ^ flip);
            if (es == 1) ((uint8_t *)out)[k * X + c] = (uint8_t)v;
            else ((uint16_t *)out)[k * X + c] = v;
        }
}
#undef AT

size_t sqz_predict_dec_rows_avx2(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                 size_t X, size_t rows, uint32_t flip, sqz_pred_carry *carry)
{
    if ((mode != SQZ_PRED_AVG && mode != SQZ_PRED_AVGNE && mode != SQZ_PRED_AVG3D && mode != SQZ_PRED_MED) ||
        (mode == SQZ_PRED_AVG3D && !pp) ||
        es > 2 || rows < SQZ_PREDICT_DEC_MIN_ROWS || X < 2 || X > 30000)
        return 0;
    const size_t Xp = PADL + X + PADR;
    uint16_t *zp = calloc(49 * Xp, sizeof *zp);
    if (!zp) return 0;
    uint16_t *ob = zp + 16 * Xp, *pb = ob + 16 * Xp, *ub = pb + 16 * Xp + PADL;
    /* a last group of fewer than 16 rows runs with stale lanes below them: lane k reads lanes < k only */
    const size_t done = rows % 16 >= SQZ_PREDICT_DEC_MIN_ROWS ? rows : rows / 16 * 16;
    /* AVG (a 3-D chunk's first plane in the block) and AVG3D keep their vectors for the next plane */
    const size_t group_vecs = 16 * ((X + (size_t)lag(mode) * 15 + 15) / 16), groups = (done + 15) / 16;
    const int keep = carry && mode != SQZ_PRED_AVGNE && sqz_pred_carry_room(carry, groups * group_vecs * sizeof(__m256i));
    const int use = keep && mode == SQZ_PRED_AVG3D && carry->rows == pp && carry->X == X && carry->n_rows == rows &&
                    carry->es == es && carry->lanes == 16;
    const __m256i *pv = use ? carry->buf[carry->cur] : NULL;
    __m256i *wv = keep ? carry->buf[carry->cur ^ 1] : NULL;
    for (size_t r = 0; r < done; r += 16) {
        const size_t r0 = r * X, nr = done - r < 16 ? done - r : 16;
        const void *ug = r ? (const uint8_t *)out + (r0 - X) * es : up;
        const void *pg = mode == SQZ_PRED_AVG3D && !use ? (const uint8_t *)pp + r0 * es : NULL;
        if (es == 1) fill_group(1, (const uint8_t *)z + r0, ug, pg, zp, pb, ub, Xp, X, nr, flip);
        else fill_group(2, (const uint16_t *)z + r0, ug, pg, zp, pb, ub, Xp, X, nr, flip);
        dec16_any(mode, es == 1, zp, pb, ub - PADL, ob, Xp, X, pv ? pv + r / 16 * group_vecs : NULL,
                  wv ? wv + r / 16 * group_vecs : NULL);
        if (es == 1) store_group(1, ob, (uint8_t *)out + r0, Xp, X, nr, flip);
        else store_group(2, ob, (uint16_t *)out + r0, Xp, X, nr, flip);
    }
    free(zp);
    if (carry) {
        carry->rows = keep ? out : NULL;
        if (keep) { carry->X = X; carry->n_rows = rows; carry->es = es; carry->lanes = 16; carry->cur ^= 1; }
    }
    return done;
}
