/* nlcode_model.h built with -mavx2 (chosen at run time by nlcode.c). */
#include <immintrin.h>
#include <string.h>

#include "nlcode_model.h"
#include "gather_avx2.h"
#include "transpose16_avx2.h"

void sqz_nlcode_prep_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, int32_t *P, int32_t *G, int32_t *N)
{
    nl_prep_row(v, X, t0, t1, P, G, N);
}

/* nl_model_row for 16-bit data, 16 elements at a time: the prediction in 32-bit lanes, the rest in
 * 16-bit lanes (the activity sum saturates, which keeps its class); same results as the C code. */
static void model_row16(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint8_t *cx, uint16_t *zo)
{
    const uint16_t *u = v - X, *uu = v - 2 * X;
    const __m256i zero = _mm256_setzero_si256(), top = _mm256_set1_epi32(16 * 0xFFFF), low4 = _mm256_set1_epi32(15);
    static const int16_t thr[11] = {1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45};
    uint64_t t = t0;
    for (; t + 16 <= t1; t += 16) {
#define LD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
        const __m256i W = LD(v + t - 1), WW = LD(v + t - 2), V = LD(v + t), N = LD(u + t), NW = LD(u + t - 1),
                      NE = LD(u + t + 1), NEE = LD(u + t + 2), NWW = LD(u + t - 2), NN = LD(uu + t);
#undef LD
        __m256i sh[2];
        for (int h = 0; h < 2; h++) {
#define W32(a) (h ? _mm256_unpackhi_epi16((a), zero) : _mm256_unpacklo_epi16((a), zero))
            const __m256i w = W32(W), t3 = _mm256_add_epi32(_mm256_add_epi32(W32(N), W32(NE)), _mm256_add_epi32(W32(WW), W32(NEE)));
            __m256i sp = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(w, 2), _mm256_slli_epi32(w, 1)),
                                          _mm256_add_epi32(t3, _mm256_slli_epi32(t3, 1)));
            sp = _mm256_sub_epi32(_mm256_add_epi32(sp, W32(NW)), _mm256_add_epi32(_mm256_slli_epi32(W32(NN), 1), W32(NWW)));
#undef W32
            sh[h] = sp;
        }
        /* fp = clamp(s) >> 4 (packus saturates); f = s & 15, 0 where s was clamped */
        const __m256i fp = _mm256_packus_epi32(_mm256_srai_epi32(sh[0], 4), _mm256_srai_epi32(sh[1], 4));
        const __m256i out0 = _mm256_or_si256(_mm256_cmpgt_epi32(zero, sh[0]), _mm256_cmpgt_epi32(sh[0], top));
        const __m256i out1 = _mm256_or_si256(_mm256_cmpgt_epi32(zero, sh[1]), _mm256_cmpgt_epi32(sh[1], top));
        const __m256i f = _mm256_andnot_si256(_mm256_packs_epi32(out0, out1),
                                              _mm256_packus_epi32(_mm256_and_si256(sh[0], low4), _mm256_and_si256(sh[1], low4)));
        const __m256i mir = _mm256_cmpgt_epi16(f, _mm256_set1_epi16(8));
        const __m256i fm = _mm256_blendv_epi8(f, _mm256_sub_epi16(_mm256_set1_epi16(16), f), mir);
#define AD(a, b) _mm256_or_si256(_mm256_subs_epu16((a), (b)), _mm256_subs_epu16((b), (a)))
        __m256i g = _mm256_adds_epu16(_mm256_adds_epu16(AD(W, NW), AD(N, NW)), _mm256_adds_epu16(AD(N, NE), AD(W, WW)));
        g = _mm256_min_epu16(_mm256_adds_epu16(g, AD(N, NN)), _mm256_set1_epi16(45));
#undef AD
        __m256i act = zero;
        for (int i = 0; i < 11; i++) act = _mm256_sub_epi16(act, _mm256_cmpgt_epi16(g, _mm256_set1_epi16((int16_t)(thr[i] - 1))));
        const __m256i ctx = _mm256_add_epi16(_mm256_mullo_epi16(fm, _mm256_set1_epi16(12)), act);
        const __m256i c8 = _mm256_permute4x64_epi64(_mm256_packus_epi16(ctx, ctx), 0x08);
        _mm_storeu_si128((__m128i *)(void *)(cx + t), _mm256_castsi256_si128(c8));
        const __m256i r = _mm256_blendv_epi8(_mm256_sub_epi16(V, fp),
                                             _mm256_sub_epi16(_mm256_add_epi16(fp, _mm256_set1_epi16(1)), V), mir);
        const __m256i z = _mm256_xor_si256(_mm256_slli_epi16(r, 1), _mm256_srai_epi16(r, 15));
        _mm256_storeu_si256((__m256i *)(void *)(zo + t), z);
    }
    nl_model_row(v, X, t, t1, 0xFFFF, cx, zo);
}

void sqz_nlcode_model_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx,
                               uint16_t *zo)
{
    if (mask == 0xFF) nl_model_row(v, X, t0, t1, 0xFF, cx, zo);
    else model_row16(v, X, t0, t1, cx, zo);
}

/* ---- nlcode16: the 16-row wavefront decoder ----
 * Step t decodes column t - 3j of row j (lane j), so row j-1 is three columns ahead, as far as
 * row j's neighbours reach (NEE). S_t is D_t (the values of step t) moved up one lane, with row
 * y0-1 in lane 0; row j's N, NE, NEE, NW, NWW are S of steps t-3, t-2, t-1, t-4, t-5, and NN is
 * S of step t-6 moved up one more lane (row y0-2 in lane 0). While some lane is near a row end
 * (the first and last 47 steps), blends give columns outside the row the substitutes of
 * docs/FORMAT.md and lanes outside their row keep their state; their values are never used. */

#define LD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define ST(p, x) _mm256_storeu_si256((__m256i *)(void *)(p), (x))

static inline __m256i set1(int32_t v) { return _mm256_set1_epi32(v); }

static inline __m256i absdiff(__m256i a, __m256i b) { return _mm256_abs_epi32(_mm256_sub_epi32(a, b)); }

/* zigzag token -> residual */
static inline __m256i unzig(__m256i tk)
{
    const __m256i one = set1(1), half = _mm256_srli_epi32(_mm256_add_epi32(tk, one), 1), odd = _mm256_and_si256(tk, one);
    return _mm256_add_epi32(_mm256_xor_si256(half, _mm256_sub_epi32(_mm256_setzero_si256(), odd)), odd);
}

typedef struct {
    __m256i x, p, end, D1, D2, S1;   /* rANS states, word offsets, stream ends; D of t-1, t-2; S of t-1 */
    __m256i bs, bl, bc;              /* extra bits: stream offsets, lengths in bits, bits read */
    __m256i col, rows;               /* each lane's column in its round (< 0: not started), rounds left */
} wave_half;

typedef struct {
    const int *lut32, *lut, *fc, *base;
    int32_t mask, n;
    int32_t X, period;
    nl_wave *w;
} wave_tabs;

/* Values of step t in lanes 8h .. 8h+7 (N .. NN: their neighbours from the rows above). */
static inline __attribute__((always_inline)) __m256i wave_step(const wave_tabs *k, wave_half *hs, const unsigned h,
                                                               __m256i N, __m256i NE, __m256i NW, __m256i NWW, __m256i NN,
                                                               __m256i *badv, const int edges)
{
    const __m256i zero = _mm256_setzero_si256(), one = set1(1), two = set1(2);
    __m256i NEE = hs->S1, W = hs->D1, WW = hs->D2, live = set1(-1);
    if (edges) {
        const __m256i x = hs->col;
        live = _mm256_and_si256(_mm256_and_si256(_mm256_cmpgt_epi32(x, set1(-1)), _mm256_cmpgt_epi32(set1(k->X), x)),
                                _mm256_cmpgt_epi32(hs->rows, zero));
        const __m256i e0 = _mm256_cmpeq_epi32(x, zero), e1 = _mm256_cmpeq_epi32(x, one);
        const __m256i r1 = _mm256_cmpeq_epi32(x, set1(k->X - 1)), r2 = _mm256_cmpeq_epi32(x, set1(k->X - 2));
        W = _mm256_blendv_epi8(W, N, e0);
        WW = _mm256_blendv_epi8(_mm256_blendv_epi8(WW, N, e0), W, e1);
        NW = _mm256_blendv_epi8(NW, N, e0);
        NWW = _mm256_blendv_epi8(NWW, NW, _mm256_or_si256(e0, e1));
        NE = _mm256_blendv_epi8(NE, N, r1);
        NEE = _mm256_blendv_epi8(NEE, NE, _mm256_or_si256(r1, r2));
    }
    /* the lane's next word, loaded before it is known to be needed */
    const __m256i okact = _mm256_and_si256(live, _mm256_cmpgt_epi32(hs->end, _mm256_add_epi32(hs->p, one)));
    /* lanes without a word read the block's first bytes */
    const __m256i word = _mm256_and_si256(
        _mm256_srli_epi32(gather_bytes((const uint8_t *)k->base, _mm256_and_si256(_mm256_sub_epi32(hs->p, two), okact)), 16),
        okact);
    /* prediction, fraction class, activity class, context */
    const __m256i t3 = _mm256_add_epi32(_mm256_add_epi32(N, NE), _mm256_add_epi32(NEE, WW));
    const __m256i w6 = _mm256_slli_epi32(_mm256_add_epi32(W, _mm256_slli_epi32(W, 1)), 1);
    __m256i sp = _mm256_add_epi32(_mm256_add_epi32(w6, _mm256_add_epi32(t3, _mm256_slli_epi32(t3, 1))), NW);
    sp = _mm256_sub_epi32(sp, _mm256_add_epi32(_mm256_add_epi32(NN, NN), NWW));
    sp = _mm256_min_epi32(_mm256_max_epi32(sp, zero), set1(16 * k->mask));
    const __m256i f = _mm256_and_si256(sp, set1(15)), fp = _mm256_srli_epi32(sp, 4);
    const __m256i mir = _mm256_cmpgt_epi32(f, set1(8));
    const __m256i fm = _mm256_blendv_epi8(f, _mm256_sub_epi32(set1(16), f), mir);
    __m256i g = _mm256_add_epi32(_mm256_add_epi32(absdiff(W, NW), absdiff(N, NW)), _mm256_add_epi32(absdiff(N, NE), absdiff(W, WW)));
    g = _mm256_min_epi32(_mm256_add_epi32(g, absdiff(N, NN)), set1(63));
    /* activity class: g < 16 (thresholds 1, 2, 3, 4, 6, 8, 11) from a table, 16, 22, 32, 45 by comparisons */
    const __m256i act_tab = _mm256_setr_epi8(0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7, 7, 0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6,
                                             7, 7, 7, 7, 7);
    __m256i act = _mm256_shuffle_epi8(act_tab, _mm256_min_epi32(g, set1(15)));
    act = _mm256_sub_epi32(_mm256_sub_epi32(act, _mm256_cmpgt_epi32(g, set1(15))), _mm256_cmpgt_epi32(g, set1(21)));
    act = _mm256_sub_epi32(_mm256_sub_epi32(act, _mm256_cmpgt_epi32(g, set1(31))), _mm256_cmpgt_epi32(g, set1(44)));
    const __m256i ctx = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(fm, 3), _mm256_slli_epi32(fm, 2)), act);
    /* rANS */
    const __m256i slot = _mm256_and_si256(hs->x, set1(4095));
    const __m256i bucket = _mm256_add_epi32(_mm256_slli_epi32(ctx, 9), _mm256_srli_epi32(slot, 3));
    const __m256i ent = gather32(k->lut32, bucket);
    __m256i F = _mm256_and_si256(ent, set1(0x1FFF)), C = _mm256_and_si256(_mm256_srli_epi32(ent, 13), set1(4095));
    __m256i r = _mm256_srai_epi32(_mm256_slli_epi32(ent, 3), 28);
    __m256i rare = zero;
    const __m256i spec = _mm256_and_si256(ent, set1((int32_t)0xC0000000u));
    if (__builtin_expect(!_mm256_testz_si256(spec, live), 0)) {
        /* a bucket with two tokens: the byte table says where the second starts (a bucket it does
         * not resolve, or an unused context, goes to the scalar code); an escape token: its extra
         * bits from the lane's stream */
        const __m256i multi = _mm256_and_si256(live, _mm256_cmpgt_epi32(zero, ent));
        __m256i esc = _mm256_andnot_si256(multi, _mm256_and_si256(live, _mm256_cmpgt_epi32(spec, zero)));
        __m256i tk = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(ent, 25), set1(31)), set1(16));
        if (!_mm256_testz_si256(multi, multi)) {
            const __m256i e = _mm256_and_si256(gather_bytes((const uint8_t *)k->lut, bucket), set1(0xFF));
            const __m256i t2 = _mm256_add_epi32(
                _mm256_and_si256(e, set1(31)),
                _mm256_srli_epi32(_mm256_add_epi32(_mm256_and_si256(slot, set1(7)), _mm256_srli_epi32(e, 5)), 3));
            rare = _mm256_and_si256(multi, _mm256_cmpeq_epi32(e, set1(31)));
            const __m256i fcv = gather32(k->fc, _mm256_add_epi32(_mm256_slli_epi32(ctx, 6), t2));
            F = _mm256_blendv_epi8(F, _mm256_and_si256(fcv, set1(0xFFFF)), multi);
            C = _mm256_blendv_epi8(C, _mm256_srli_epi32(fcv, 16), multi);
            r = _mm256_blendv_epi8(r, unzig(t2), multi);
            tk = _mm256_blendv_epi8(tk, t2, multi);
            esc = _mm256_or_si256(esc, _mm256_andnot_si256(rare, _mm256_and_si256(multi, _mm256_cmpgt_epi32(t2, set1(15)))));
        }
        if (!_mm256_testz_si256(esc, esc)) {
            /* token 16 + 2m + b: z = (2 + b) << ex | ex extra bits, ex = m + 3 */
            const __m256i te = _mm256_sub_epi32(tk, set1(16)), ex = _mm256_add_epi32(_mm256_srli_epi32(te, 1), set1(3));
            const __m256i hi = _mm256_sllv_epi32(_mm256_add_epi32(_mm256_and_si256(te, one), two), ex);
            const __m256i at = _mm256_add_epi32(hs->bs, _mm256_srli_epi32(hs->bc, 3));
            const __m256i ok = _mm256_cmpgt_epi32(_mm256_add_epi32(hs->bl, one), _mm256_add_epi32(hs->bc, ex));
            /* a 4-byte load that would leave the block: the scalar code */
            const __m256i far = _mm256_and_si256(esc, _mm256_cmpgt_epi32(at, set1(k->n - 4)));
            rare = _mm256_or_si256(rare, far);
            esc = _mm256_andnot_si256(far, esc);
            const __m256i ld = _mm256_and_si256(esc, ok);
            const __m256i w32 = gather_bytes((const uint8_t *)k->base, _mm256_and_si256(at, ld));
            const __m256i bits = _mm256_and_si256(_mm256_srlv_epi32(w32, _mm256_and_si256(hs->bc, set1(7))),
                                                  _mm256_sub_epi32(_mm256_sllv_epi32(one, ex), one));
            const __m256i z = _mm256_or_si256(hi, bits);
            r = _mm256_blendv_epi8(r, _mm256_xor_si256(_mm256_srli_epi32(z, 1), _mm256_sub_epi32(zero, _mm256_and_si256(z, one))), esc);
            hs->bc = _mm256_add_epi32(hs->bc, _mm256_and_si256(ld, ex));
            *badv = _mm256_or_si256(*badv, _mm256_andnot_si256(ok, esc));
        }
    }
    const __m256i xn = _mm256_sub_epi32(_mm256_add_epi32(_mm256_mullo_epi32(F, _mm256_srli_epi32(hs->x, 12)), slot), C);
    const __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(xn, 16), zero);
    const __m256i ld = _mm256_and_si256(need, okact);
    __m256i xnew = _mm256_blendv_epi8(xn, _mm256_or_si256(_mm256_slli_epi32(xn, 16), word), need);
    if (edges) xnew = _mm256_blendv_epi8(hs->x, xnew, live);
    __m256i pnew = _mm256_add_epi32(hs->p, _mm256_and_si256(ld, two));
    r = _mm256_blendv_epi8(r, _mm256_sub_epi32(one, r), mir);
    __m256i val = _mm256_and_si256(_mm256_add_epi32(fp, r), set1(k->mask));
    *badv = _mm256_or_si256(*badv, _mm256_andnot_si256(_mm256_or_si256(rare, okact), _mm256_and_si256(need, live)));
    if (__builtin_expect(!_mm256_testz_si256(rare, rare), 0)) {
        int32_t a_sp[8], a_g[8], a_x[8], a_p[8], a_xn[8], a_pn[8], a_v[8];
        ST(a_sp, sp); ST(a_g, g); ST(a_x, hs->x); ST(a_p, hs->p);
        ST(a_xn, xnew); ST(a_pn, pnew); ST(a_v, val);
        const unsigned rm = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(rare));
        nl_wave *const w = k->w;
        ST(w->bc + 8 * h, hs->bc);
        for (unsigned i = 0; i < 8; i++) {
            if (!(rm >> i & 1)) continue;
            const unsigned j = 8 * h + i;
            w->x[j] = (uint32_t)a_x[i];
            w->p[j] = a_p[i];
            a_v[i] = w->slow(w, j, a_sp[i], (uint32_t)a_g[i]);
            a_xn[i] = (int32_t)w->x[j];
            a_pn[i] = w->p[j];
        }
        xnew = LD(a_xn); pnew = LD(a_pn); val = LD(a_v);
        hs->bc = LD(w->bc + 8 * h);
    }
    hs->x = xnew;
    hs->p = pnew;
    hs->col = _mm256_add_epi32(hs->col, one);
    if (edges) {
        /* a lane that ends its round goes on to its next row, 16 rows down */
        const __m256i wrap = _mm256_cmpeq_epi32(hs->col, set1(k->period));
        hs->col = _mm256_andnot_si256(wrap, hs->col);
        hs->rows = _mm256_add_epi32(hs->rows, wrap);
    }
    return val;
}

/* The value of lane j at step s, from the ring. */
static inline int32_t ring_at(const uint16_t *dbuf, uint64_t ring, uint64_t s, unsigned j)
{
    return dbuf[16 * (s & (ring - 1)) + j];
}

/* Steps [t0, t1): both halves, then S_t into the ring of 8 and D_t into the value ring. Lane -1 is
 * row y0-1 in round 0, then lane 15's previous row (P - 48 steps back); lane -2 likewise row y0-2,
 * then lane 14's. */
static inline __attribute__((always_inline)) void wave_steps(const wave_tabs *k, wave_half *hs, int32_t (*R)[24],
                                                             const int32_t *f1, const int32_t *f2, uint16_t *dbuf,
                                                             uint64_t ring, uint64_t t0, uint64_t t1, __m256i *badv,
                                                             const int edges)
{
    const __m256i rot = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
    const uint64_t P = (uint64_t)k->period;
    for (uint64_t t = t0; t < t1; t++) {
        const int32_t *const r3 = R[(t - 3) & 7], *const r2 = R[(t - 2) & 7], *const r4 = R[(t - 4) & 7];
        const int32_t *const r5 = R[(t - 5) & 7], *const r6 = R[(t - 6) & 7];
        const __m256i D0 = wave_step(k, &hs[0], 0, LD(r3 + 1), LD(r2 + 1), LD(r4 + 1), LD(r5 + 1), LD(r6), badv, edges);
        const __m256i D1 = wave_step(k, &hs[1], 1, LD(r3 + 9), LD(r2 + 9), LD(r4 + 9), LD(r5 + 9), LD(r6 + 8), badv, edges);
        ST(dbuf + 16 * (t & (ring - 1)), _mm256_permute4x64_epi64(_mm256_packus_epi32(D0, D1), 0xD8));
        const int32_t up1 = t + 3 < P ? f1[t + 3] : ring_at(dbuf, ring, t + 48 - P, 15);
        const int32_t up2 = t + 6 < P ? f2[t + 6] : ring_at(dbuf, ring, t + 48 - P, 14);
        const __m256i pl = _mm256_permutevar8x32_epi32(D0, rot), ph = _mm256_permutevar8x32_epi32(D1, rot);
        const __m256i S0 = _mm256_blend_epi32(pl, set1(up1), 0x01), S1 = _mm256_blend_epi32(ph, pl, 0x01);
        int32_t *const rt = R[t & 7];
        rt[0] = up2;
        ST(rt + 1, S0);
        ST(rt + 9, S1);
        hs[0].S1 = S0; hs[1].S1 = S1;
        hs[0].D2 = hs[0].D1; hs[1].D2 = hs[1].D1;
        hs[0].D1 = D0; hs[1].D1 = D1;
    }
}

/* Values out of the ring for steps [t0, t0 + 16), transposed: lane j's 16 steps are 16 columns of
 * one of its rows unless they cross a round's end (tm, tc: round and column of the first one). */
static void copy_out(uint16_t *v, uint64_t X, uint64_t P, const uint16_t *dbuf, uint64_t ring, uint64_t t0,
                     int64_t *tm, int64_t *tc, const int64_t *rows)
{
    __m256i in[16], out[16];
    for (uint64_t i = 0; i < 16; i++) in[i] = LD(dbuf + 16 * ((t0 + i) & (ring - 1)));
    transpose16(in, out);
    for (unsigned j = 0; j < 16; j++) {
        const int64_t m = tm[j], c = tc[j];
        if (c >= 0 && c + 16 <= (int64_t)X && m < rows[j]) {
            ST(v + ((uint64_t)j + 16 * (uint64_t)m) * X + (uint64_t)c, out[j]);
        } else {
            /* the end of round m's row and the start of round m + 1's */
            uint16_t val[16];
            ST(val, out[j]);
            if (m < rows[j]) {
                uint16_t *const row = v + ((uint64_t)j + 16 * (uint64_t)m) * X;
                for (int64_t i = c < 0 ? -c : 0; i < 16 && c + i < (int64_t)X; i++) row[c + i] = val[i];
            }
            if (c + 16 > (int64_t)P && m + 1 < rows[j]) {
                uint16_t *const row = v + ((uint64_t)j + 16 * (uint64_t)(m + 1)) * X - P;
                for (int64_t i = (int64_t)P - c; i < 16 && c + i - (int64_t)P < (int64_t)X; i++) row[c + i] = val[i];
            }
        }
        tc[j] = c + 16;
        if (tc[j] >= (int64_t)P) { tc[j] -= (int64_t)P; tm[j]++; }
    }
}

void sqz_nlcode_wave16_avx2(nl_wave *w, uint16_t *v, uint64_t X, uint64_t n_rows, uint32_t mask)
{
    const uint16_t *u = v - X, *uu = v - 2 * X;
    const uint64_t P = nl_wave_period(X), ring = nl_wave_ring(X);
    int32_t *const f1 = (int32_t *)w->scratch + 8, *const f2 = f1 + P + 72;
    uint16_t *const dbuf = (uint16_t *)(void *)(((uintptr_t)(f2 + P + 64) + 31) & ~(uintptr_t)31);
    for (int64_t j = -8; j < (int64_t)P + 64; j++) {
        const uint64_t c = j < 0 ? 0 : (uint64_t)j >= X ? X - 1 : (uint64_t)j;
        f1[j] = u[c];
        f2[j] = uu[c];
    }
    int32_t R[8][24] __attribute__((aligned(32)));
    memset(R, 0, sizeof R);
    for (int s = -6; s <= -1; s++) {
        R[s & 7][0] = f2[s + 6];
        R[s & 7][1] = f1[s + 3];
    }
    const wave_tabs k = {(const int *)(const void *)w->lut32, (const int *)(const void *)w->lut,
                         (const int *)(const void *)w->fc, (const int *)(const void *)w->base, (int32_t)mask, w->n,
                         (int32_t)X, (int32_t)P, w};
    /* lane j: rows j, j + 16, ... (rows[j] of them); its last element at step 3j + P (rows[j] - 1) + X - 1 */
    int64_t rows[16], tm[16], tc[16];
    uint64_t T = 0;
    const uint64_t full = n_rows / 16;
    for (unsigned j = 0; j < 16; j++) {
        rows[j] = (int64_t)((n_rows + 15 - j) / 16);
        const uint64_t last = rows[j] ? 3 * j + P * (uint64_t)(rows[j] - 1) + X : 0;
        T = T > last ? T : last;
        tm[j] = 0;
        tc[j] = -3 * (int64_t)j;
    }
    wave_half hs[2];
    for (int h = 0; h < 2; h++) {
        int32_t col[8], rl[8];
        for (int i = 0; i < 8; i++) {
            col[i] = -3 * (8 * h + i);
            rl[i] = (int32_t)rows[8 * h + i];
        }
        hs[h].x = LD(w->x + 8 * h);
        hs[h].p = LD(w->p + 8 * h);
        hs[h].end = LD(w->end + 8 * h);
        hs[h].bs = LD(w->bs + 8 * h);
        hs[h].bl = LD(w->bl + 8 * h);
        hs[h].bc = LD(w->bc + 8 * h);
        hs[h].col = LD(col);
        hs[h].rows = LD(rl);
        hs[h].D1 = hs[h].D2 = _mm256_setzero_si256();
        hs[h].S1 = LD(&R[7][1 + 8 * h]);
    }
    __m256i badv = _mm256_setzero_si256();
    /* steps [t, END) in one variant, values out every 16 steps */
    uint64_t t = 0, out = 0;
#define RUN(END, EDGES)                                                                                        \
    while (t < (END)) {                                                                                        \
        const uint64_t e = (t | 15) + 1 < (END) ? (t | 15) + 1 : (END);                                        \
        wave_steps(&k, hs, R, f1, f2, dbuf, ring, t, e, &badv, EDGES);                                         \
        t = e;                                                                                                 \
        for (; out + 16 <= t; out += 16) copy_out(v, X, P, dbuf, ring, out, tm, tc, rows);                     \
    }
    /* in the rounds where every lane has a row, the steps with every lane two columns from its row's
     * ends skip the edge handling: [r P + 47, r P + X - 2) */
    for (uint64_t r = 0; r < full && X > 49; r++) {
        RUN(r * P + 47, 1)
        RUN(r * P + X - 2, 0)
    }
    RUN(T, 1)
#undef RUN
    for (; out < T; out += 16) copy_out(v, X, P, dbuf, ring, out, tm, tc, rows);
    for (int h = 0; h < 2; h++) {
        ST(w->x + 8 * h, hs[h].x);
        ST(w->p + 8 * h, hs[h].p);
        ST(w->bc + 8 * h, hs[h].bc);
    }
    if (!_mm256_testz_si256(badv, badv)) w->bad |= 1;
}
#undef LD
#undef ST
