/* nlcode's AVX2 code (chosen at run time by nlcode.c): the encoder's model pass, nlcode16's rANS
 * encoder for 16 rows, and nlcode16's 16-row wavefront decoder. */
#include <immintrin.h>
#include <string.h>

#include "gather_avx2.h"
#include "nlcode_wave.h"
/* activity class of g < 16 (thresholds 1, 2, 3, 4, 6, 8, 11); 16, 22, 32, 45 by comparisons */
#define ACT_TAB                                                                                                    \
    _mm256_setr_epi8(0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7, 7, 0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7, 7)

void sqz_nlcode_prep_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, int32_t *P, int32_t *G, int32_t *N)
{
    nl_prep_row(v, X, t0, t1, P, G, N);
}

/* nl_model_row, 16 elements at a time; same results as the C code. narrow: every value is at most
 * NARROW_MAX, so the prediction's sum fits 16-bit lanes (as in the decoder); bits8: 8-bit data;
 * else it is made in 32-bit lanes and the rest in 16-bit lanes (the activity sum saturates, which
 * keeps its class). */
static inline __attribute__((always_inline)) void model_row16(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1,
                                                              uint8_t *cx, uint16_t *zo, const int narrow, const int bits8)
{
    const uint16_t *u = v - X, *uu = v - 2 * X;
    const __m256i zero = _mm256_setzero_si256(), top = _mm256_set1_epi32(16 * 0xFFFF), low4 = _mm256_set1_epi32(15);
    const __m256i act_tab = ACT_TAB;
    uint64_t t = t0;
    for (; t + 16 <= t1; t += 16) {
        const __m256i W = LD(v + t - 1), WW = LD(v + t - 2), V = LD(v + t), N = LD(u + t), NW = LD(u + t - 1),
                      NE = LD(u + t + 1), NEE = LD(u + t + 2), NWW = LD(u + t - 2), NN = LD(uu + t);
        __m256i fp, f;
        if (narrow) {
            /* 6W + 3(N + NE + NEE + WW) + NW - 2NN - NWW, at least 0 */
            const __m256i t3 = _mm256_add_epi16(_mm256_add_epi16(N, NE), _mm256_add_epi16(NEE, WW));
            const __m256i w6 = _mm256_slli_epi16(_mm256_add_epi16(W, _mm256_slli_epi16(W, 1)), 1);
            const __m256i pos = _mm256_add_epi16(_mm256_add_epi16(w6, _mm256_add_epi16(t3, _mm256_slli_epi16(t3, 1))), NW);
            __m256i sp = _mm256_subs_epu16(pos, _mm256_add_epi16(_mm256_add_epi16(NN, NN), NWW));
            if (bits8) sp = _mm256_min_epu16(sp, _mm256_set1_epi16(16 * 0xFF));
            fp = _mm256_srli_epi16(sp, 4);
            f = _mm256_and_si256(sp, _mm256_set1_epi16(15));
        } else {
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
            fp = _mm256_packus_epi32(_mm256_srai_epi32(sh[0], 4), _mm256_srai_epi32(sh[1], 4));
            const __m256i out0 = _mm256_or_si256(_mm256_cmpgt_epi32(zero, sh[0]), _mm256_cmpgt_epi32(sh[0], top));
            const __m256i out1 = _mm256_or_si256(_mm256_cmpgt_epi32(zero, sh[1]), _mm256_cmpgt_epi32(sh[1], top));
            f = _mm256_andnot_si256(_mm256_packs_epi32(out0, out1),
                                    _mm256_packus_epi32(_mm256_and_si256(sh[0], low4), _mm256_and_si256(sh[1], low4)));
        }
        const __m256i mir = _mm256_cmpgt_epi16(f, _mm256_set1_epi16(8));
        const __m256i fm = _mm256_blendv_epi8(f, _mm256_sub_epi16(_mm256_set1_epi16(16), f), mir);
#define AD(a, b) _mm256_or_si256(_mm256_subs_epu16((a), (b)), _mm256_subs_epu16((b), (a)))
        __m256i g = _mm256_adds_epu16(_mm256_adds_epu16(AD(W, NW), AD(N, NW)), _mm256_adds_epu16(AD(N, NE), AD(W, WW)));
        g = _mm256_min_epu16(_mm256_adds_epu16(g, AD(N, NN)), _mm256_set1_epi16(45));
#undef AD
        __m256i act = _mm256_shuffle_epi8(act_tab, _mm256_min_epu16(g, _mm256_set1_epi16(15)));
        act = _mm256_sub_epi16(_mm256_sub_epi16(act, _mm256_cmpgt_epi16(g, _mm256_set1_epi16(15))),
                               _mm256_cmpgt_epi16(g, _mm256_set1_epi16(21)));
        act = _mm256_sub_epi16(_mm256_sub_epi16(act, _mm256_cmpgt_epi16(g, _mm256_set1_epi16(31))),
                               _mm256_cmpgt_epi16(g, _mm256_set1_epi16(44)));
        const __m256i ctx = _mm256_add_epi16(_mm256_mullo_epi16(fm, _mm256_set1_epi16(12)), act);
        const __m256i c8 = _mm256_permute4x64_epi64(_mm256_packus_epi16(ctx, ctx), 0x08);
        _mm_storeu_si128((__m128i *)(void *)(cx + t), _mm256_castsi256_si128(c8));
        __m256i r = _mm256_blendv_epi8(_mm256_sub_epi16(V, fp),
                                       _mm256_sub_epi16(_mm256_add_epi16(fp, _mm256_set1_epi16(1)), V), mir);
        __m256i z;
        if (bits8) {
            const __m256i ff = _mm256_set1_epi16(0xFF);
            r = _mm256_and_si256(r, ff);
            z = _mm256_and_si256(_mm256_xor_si256(_mm256_slli_epi16(r, 1), _mm256_cmpgt_epi16(r, _mm256_set1_epi16(127))), ff);
        } else {
            z = _mm256_xor_si256(_mm256_slli_epi16(r, 1), _mm256_srai_epi16(r, 15));
        }
        _mm256_storeu_si256((__m256i *)(void *)(zo + t), z);
    }
    if (bits8) nl_model_row(v, X, t, t1, 0xFF, cx, zo);
    else nl_model_row(v, X, t, t1, 0xFFFF, cx, zo);
}

void sqz_nlcode_model_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx,
                               uint16_t *zo)
{
    if (mask == 0xFF) model_row16(v, X, t0, t1, cx, zo, 1, 1);  /* 8-bit values (widened) */
    else if (max_u16(v - 2 * X, 2 * X + t1 + 2) <= NARROW_MAX) model_row16(v, X, t0, t1, cx, zo, 1, 0);
    else model_row16(v, X, t0, t1, cx, zo, 0, 0);
}

/* ---- nlcode16's rANS encoder, 16 rows at once ----
 * Row j of the group is in lane j; columns from the last, 16 at a time through a transpose. Per
 * symbol as rans_put in nlcode.c: renormalise (x >= f << 20: its low 16 bits to the lane's stream),
 * then x = (x / f) * 4096 + x mod f + cum. The quotient comes from a float product with 1/f made a
 * little larger (it is q or q + 1) and is corrected with the remainder. The lanes' chains are
 * latency bound, so the look-ups (vpgatherdd) and the word stores (all 16 lanes, no branches) stay
 * off them. */

/* x as float (x up to 2^32 - 1) */
static inline __m256 u32_to_ps(__m256i x)
{
    const __m256 f = _mm256_cvtepi32_ps(x);
    return _mm256_add_ps(f, _mm256_and_ps(_mm256_castsi256_ps(_mm256_srai_epi32(x, 31)), _mm256_set1_ps(4294967296.0f)));
}

/* 8 lanes: ent = f | cum << 16 of their symbols; *word: x before renormalising, *out: renormalised */
static inline __attribute__((always_inline)) __m256i rans_enc8(__m256i ent, __m256i x, __m256i *word, __m256i *out)
{
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i f = _mm256_and_si256(ent, _mm256_set1_epi32(0xFFFF)), cum = _mm256_srli_epi32(ent, 16);
    const __m256i nf = _mm256_sub_epi32(_mm256_set1_epi32(4096), f);
    /* 1/f (1 + 2^-21): three float roundings (2^-24 each) keep the estimate of x/f between q and q + 1.8 */
    const __m256 rcp = _mm256_div_ps(_mm256_set1_ps(1.0f + 0x1p-21f), _mm256_cvtepi32_ps(f));
    const __m256i o = _mm256_cmpgt_epi32(_mm256_srli_epi32(x, 20), _mm256_sub_epi32(f, one));
    *word = x;
    *out = o;
    x = _mm256_blendv_epi8(x, _mm256_srli_epi32(x, 16), o);
    const __m256i q = _mm256_cvttps_epi32(_mm256_mul_ps(u32_to_ps(x), rcp));
    const __m256i r = _mm256_sub_epi32(x, _mm256_mullo_epi32(q, f));
    /* q one too large: r < 0, and x mod f = r + f; the result is then nf smaller */
    const __m256i xn = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(q, 12), cum), r);
    return _mm256_sub_epi32(xn, _mm256_and_si256(_mm256_srai_epi32(r, 31), nf));
}

/* One column for the 16 lanes (ids: their symbols); p: the lanes' word offsets from base. */
static inline __attribute__((always_inline)) void rans_enc_col(const uint32_t *efc, __m256i ids, __m256i *x, __m256i *p,
                                                               uint8_t *base)
{
    const __m256i e0 = _mm256_i32gather_epi32((const int *)(const void *)efc, _mm256_cvtepu16_epi32(_mm256_castsi256_si128(ids)), 4);
    const __m256i e1 = _mm256_i32gather_epi32((const int *)(const void *)efc, _mm256_cvtepu16_epi32(_mm256_extracti128_si256(ids, 1)), 4);
    __m256i w0, w1, o0, o1;
    x[0] = rans_enc8(e0, x[0], &w0, &o0);
    x[1] = rans_enc8(e1, x[1], &w1, &o1);
    /* every lane stores its word below its stream; a lane that renormalised keeps it */
    const __m256i two = _mm256_set1_epi32(2);
    int32_t at[16];
    uint16_t wd[16];
    _mm256_storeu_si256((__m256i *)(void *)at, _mm256_sub_epi32(p[0], two));
    _mm256_storeu_si256((__m256i *)(void *)(at + 8), _mm256_sub_epi32(p[1], two));
    const __m256i low = _mm256_set1_epi32(0xFFFF);
    _mm256_storeu_si256((__m256i *)(void *)wd,
                        _mm256_permute4x64_epi64(_mm256_packus_epi32(_mm256_and_si256(w0, low), _mm256_and_si256(w1, low)), 0xD8));
    for (unsigned j = 0; j < 16; j++) memcpy(base + at[j], wd + j, 2);  /* little-endian host (x86) */
    p[0] = _mm256_sub_epi32(p[0], _mm256_and_si256(o0, two));
    p[1] = _mm256_sub_epi32(p[1], _mm256_and_si256(o1, two));
}

void sqz_nlcode_rans16_avx2(const uint32_t *efc, const uint16_t *idx, uint64_t X, uint32_t *xs, uint8_t **p)
{
    /* word offsets from the lowest stream pointer */
    uint8_t *base = p[0];
    for (unsigned j = 1; j < 16; j++) base = p[j] < base ? p[j] : base;
    int32_t off[16];
    for (unsigned j = 0; j < 16; j++) off[j] = (int32_t)(p[j] - base);
    __m256i x[2] = {_mm256_loadu_si256((const __m256i *)(const void *)xs),
                    _mm256_loadu_si256((const __m256i *)(const void *)(xs + 8))};
    __m256i po[2] = {_mm256_loadu_si256((const __m256i *)(const void *)off),
                     _mm256_loadu_si256((const __m256i *)(const void *)(off + 8))};
    __m256i in[16], col[16];
    uint64_t c = X;
    for (; c >= 16; c -= 16) {
        for (unsigned j = 0; j < 16; j++) in[j] = _mm256_loadu_si256((const __m256i *)(const void *)(idx + j * X + c - 16));
        transpose16(in, col);
        for (int i = 15; i >= 0; i--) rans_enc_col(efc, col[i], x, po, base);
    }
    if (c) {
        uint16_t tmp[16][16] __attribute__((aligned(32)));
        memset(tmp, 0, sizeof tmp);
        for (unsigned j = 0; j < 16; j++) memcpy(tmp[j], idx + j * X, c * sizeof *idx);
        for (unsigned j = 0; j < 16; j++) in[j] = _mm256_load_si256((const __m256i *)(const void *)tmp[j]);
        transpose16(in, col);
        for (int i = (int)c - 1; i >= 0; i--) rans_enc_col(efc, col[i], x, po, base);
    }
    _mm256_storeu_si256((__m256i *)(void *)xs, x[0]);
    _mm256_storeu_si256((__m256i *)(void *)(xs + 8), x[1]);
    _mm256_storeu_si256((__m256i *)(void *)off, po[0]);
    _mm256_storeu_si256((__m256i *)(void *)(off + 8), po[1]);
    for (unsigned j = 0; j < 16; j++) p[j] = base + off[j];
}

static inline __m256i set16(int32_t v) { return _mm256_set1_epi16((int16_t)v); }

static inline __m256i absdiff(__m256i a, __m256i b) { return _mm256_abs_epi32(_mm256_sub_epi32(a, b)); }
static inline __m256i absdiff16(__m256i a, __m256i b) { return _mm256_abs_epi16(_mm256_sub_epi16(a, b)); }


/* zigzag token -> residual */
static inline __m256i unzig(__m256i tk)
{
    const __m256i one = set1(1), half = _mm256_srli_epi32(_mm256_add_epi32(tk, one), 1), odd = _mm256_and_si256(tk, one);
    return _mm256_add_epi32(_mm256_xor_si256(half, _mm256_sub_epi32(_mm256_setzero_si256(), odd)), odd);
}

/* The AVX2 wavefront (steps: nlcode_wave.h). The rANS states are in two vectors of 8 x 32 bits. The
 * values are in one vector of 16 x 16 bits while every value is at most NARROW_MAX (the prediction's
 * sum, 19 times a value, fits in 16 bits), else in two vectors of 8 x 32 bits: a plane that shows a
 * larger value is decoded again that way. */

/* The rANS part of a step for lanes 8h .. 8h+7 with contexts ctx: their residuals (before the
 * mirror). *rare: lanes left to wave_slow, whose states before the step are then in w->x, w->p. */
INLINE __m256i rans_half(const wave_tabs *k, rans8 *hs, const unsigned h, const __m256i ctx, const __m256i live,
                         __m256i *rare_out, __m256i *badv, const int edges)
{
    const __m256i zero = _mm256_setzero_si256(), one = set1(1), two = set1(2);
    /* the lane's next word, loaded before it is known to be needed; the load stays in the stream
     * (a read past its end shows as p > end after the wave) */
    const __m256i word =
        _mm256_srli_epi32(gather_bytes((const uint8_t *)k->base, _mm256_sub_epi32(_mm256_min_epi32(hs->p, hs->end2), two)), 16);
    const __m256i slot = _mm256_and_si256(hs->x, set1(4095));
    const __m256i bucket = _mm256_add_epi32(_mm256_slli_epi32(ctx, 9), _mm256_srli_epi32(slot, 3));
    const __m256i ent = gather32(k->lut32, bucket);
    __m256i F = _mm256_and_si256(ent, set1(0x1FFF)), C = _mm256_and_si256(_mm256_srli_epi32(ent, 13), set1(4095));
    __m256i r = _mm256_srai_epi32(_mm256_slli_epi32(ent, 3), 28);
    __m256i rare = zero;
    const __m256i spec = _mm256_and_si256(ent, set1((int32_t)0xC0000000u));
    if (__builtin_expect(!_mm256_testz_si256(spec, live), 0)) {
        /* a bucket with more than one token: the slot's token from the bucket's row of ovf (none:
         * an unused context, for the scalar code); an escape token: its extra bits from the lane's
         * stream */
        const __m256i multi = _mm256_and_si256(live, _mm256_cmpgt_epi32(zero, ent));
        __m256i esc = _mm256_andnot_si256(multi, _mm256_and_si256(live, _mm256_cmpgt_epi32(spec, zero)));
        __m256i tk = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(ent, 25), set1(31)), set1(16));
        if (!_mm256_testz_si256(multi, multi)) {
            const __m256i oi = _mm256_and_si256(ent, set1(0x3FFFFFFF));
            const __m256i at = _mm256_add_epi32(_mm256_slli_epi32(oi, 3), _mm256_and_si256(slot, set1(7)));
            const __m256i t2 = _mm256_and_si256(gather_bytes((const uint8_t *)k->ovf, _mm256_and_si256(at, multi)), set1(0xFF));
            rare = _mm256_and_si256(multi, _mm256_cmpeq_epi32(oi, _mm256_setzero_si256()));
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
    const __m256i ld = edges ? _mm256_and_si256(need, live) : need;
    __m256i xnew = _mm256_blendv_epi8(xn, _mm256_or_si256(_mm256_slli_epi32(xn, 16), word), need);
    if (edges) xnew = _mm256_blendv_epi8(hs->x, xnew, live);
    if (__builtin_expect(!_mm256_testz_si256(rare, rare), 0)) {
        ST(k->w->x + 8 * h, hs->x);
        ST(k->w->p + 8 * h, hs->p);
    }
    hs->x = xnew;
    hs->p = _mm256_add_epi32(hs->p, _mm256_and_si256(ld, two));
    *rare_out = rare;
    return r;
}

/* Lanes rm of half h from the scalar code (clamped predictions sp, activity sums g): their values
 * into val, their states into hs. */
static __attribute__((noinline)) void slow_lanes(const wave_tabs *k, rans8 *hs, unsigned h, unsigned rm, const int32_t *sp,
                                                 const int32_t *g, int32_t *val)
{
    nl_wave *const w = k->w;
    int32_t xs[8], ps[8];
    ST(xs, hs->x);
    ST(ps, hs->p);
    ST(w->bc + 8 * h, hs->bc);
    for (unsigned i = 0; i < 8; i++) {
        if (!(rm >> i & 1)) continue;
        const unsigned j = 8 * h + i;
        val[i] = w->slow(w, j, sp[i], (uint32_t)g[i]);
        xs[i] = (int32_t)w->x[j];
        ps[i] = w->p[j];
    }
    hs->x = LD(xs);
    hs->p = LD(ps);
    hs->bc = LD(w->bc + 8 * h);
}

/* Neighbours outside the row replaced as docs/FORMAT.md says, for lanes at columns 0 (e0), 1 (e1),
 * X - 1 (r1) and X - 2 (r2); any lane width (the masks are all-ones lanes). */
INLINE void edge_substitutes(__m256i N, __m256i *W, __m256i *WW, __m256i *NW, __m256i *NWW, __m256i *NE, __m256i *NEE,
                             __m256i e0, __m256i e1, __m256i r1, __m256i r2)
{
    *W = _mm256_blendv_epi8(*W, N, e0);
    *WW = _mm256_blendv_epi8(_mm256_blendv_epi8(*WW, N, e0), *W, e1);
    *NW = _mm256_blendv_epi8(*NW, N, e0);
    *NWW = _mm256_blendv_epi8(*NWW, *NW, _mm256_or_si256(e0, e1));
    *NE = _mm256_blendv_epi8(*NE, N, r1);
    *NEE = _mm256_blendv_epi8(*NEE, *NE, _mm256_or_si256(r1, r2));
}

/* Row 0 of a plane (lanes m0): every neighbour but WW is W. Row 1 (m1): NN is N. */
INLINE void top_substitutes(__m256i W, __m256i *N, __m256i *NE, __m256i *NEE, __m256i *NW, __m256i *NWW, __m256i *NN,
                            __m256i m0, __m256i m1)
{
    *N = _mm256_blendv_epi8(*N, W, m0);
    *NE = _mm256_blendv_epi8(*NE, W, m0);
    *NEE = _mm256_blendv_epi8(*NEE, W, m0);
    *NW = _mm256_blendv_epi8(*NW, W, m0);
    *NWW = _mm256_blendv_epi8(*NWW, W, m0);
    *NN = _mm256_blendv_epi8(*NN, *N, _mm256_or_si256(m0, m1));
}

/* ---- values in 32-bit lanes ---- */

typedef struct {
    __m256i D1, D2, S1;              /* D of t-1, t-2; S of t-1 */
    __m256i col, rows;               /* each lane's column in its round (< 0: not started), rounds left */
    __m256i rows0;                   /* rounds at the start */
} vals32;

/* Values of step t in lanes 8h .. 8h+7 (N .. NN: their neighbours from the rows above). */
INLINE __m256i wave_step(const wave_tabs *k, rans8 *hs, vals32 *vs, const unsigned h, __m256i N, __m256i NE, __m256i NW,
                         __m256i NWW, __m256i NN, __m256i *badv, const int mode)
{
    const int edges = mode == WAVE_EDGES;
    const __m256i zero = _mm256_setzero_si256(), one = set1(1);
    __m256i NEE = vs->S1, W = vs->D1, WW = vs->D2, live = set1(-1);
    if (edges) {
        const __m256i x = vs->col;
        live = _mm256_and_si256(_mm256_and_si256(_mm256_cmpgt_epi32(x, set1(-1)), _mm256_cmpgt_epi32(set1(k->X), x)),
                                _mm256_cmpgt_epi32(vs->rows, zero));
        edge_substitutes(N, &W, &WW, &NW, &NWW, &NE, &NEE, _mm256_cmpeq_epi32(x, zero), _mm256_cmpeq_epi32(x, one),
                         _mm256_cmpeq_epi32(x, set1(k->X - 1)), _mm256_cmpeq_epi32(x, set1(k->X - 2)));
    }
    if (h == 0 && mode != WAVE_INNER && k->first) {
        /* lanes 0 and 1 in round 0 */
        const __m256i r0 = edges ? _mm256_cmpeq_epi32(vs->rows, vs->rows0) : set1(-1);
        top_substitutes(W, &N, &NE, &NEE, &NW, &NWW, &NN, _mm256_and_si256(r0, _mm256_setr_epi32(-1, 0, 0, 0, 0, 0, 0, 0)),
                        _mm256_and_si256(r0, _mm256_setr_epi32(0, -1, 0, 0, 0, 0, 0, 0)));
    }
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
    __m256i act = _mm256_shuffle_epi8(ACT_TAB, _mm256_min_epi32(g, set1(15)));
    act = _mm256_sub_epi32(_mm256_sub_epi32(act, _mm256_cmpgt_epi32(g, set1(15))), _mm256_cmpgt_epi32(g, set1(21)));
    act = _mm256_sub_epi32(_mm256_sub_epi32(act, _mm256_cmpgt_epi32(g, set1(31))), _mm256_cmpgt_epi32(g, set1(44)));
    const __m256i ctx = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(fm, 3), _mm256_slli_epi32(fm, 2)), act);
    __m256i rare;
    __m256i r = rans_half(k, hs, h, ctx, live, &rare, badv, edges);
    r = _mm256_blendv_epi8(r, _mm256_sub_epi32(one, r), mir);
    __m256i val = _mm256_and_si256(_mm256_add_epi32(fp, r), set1(k->mask));
    if (__builtin_expect(!_mm256_testz_si256(rare, rare), 0)) {
        int32_t a_sp[8], a_g[8], a_v[8];
        ST(a_sp, sp); ST(a_g, g); ST(a_v, val);
        slow_lanes(k, hs, h, (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(rare)), a_sp, a_g, a_v);
        val = LD(a_v);
    }
    vs->col = _mm256_add_epi32(vs->col, one);
    if (edges) {
        /* a lane that ends its round goes on to its next row, 16 rows down */
        const __m256i wrap = _mm256_cmpeq_epi32(vs->col, set1(k->period));
        vs->col = _mm256_andnot_si256(wrap, vs->col);
        vs->rows = _mm256_add_epi32(vs->rows, wrap);
    }
    return val;
}

/* Steps [t0, t1): both halves, then S_t into the ring of 8 and D_t into the value ring. */
INLINE void wave_steps(const wave_tabs *k, rans8 *hs, vals32 *vs, int32_t (*R)[24], const int32_t *f1, const int32_t *f2,
                       uint16_t *dbuf, uint64_t ring, uint64_t t0, uint64_t t1, __m256i *badv, const int mode)
{
    const __m256i rot = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
    const uint64_t P = (uint64_t)k->period;
    for (uint64_t t = t0; t < t1; t++) {
        const int32_t *const r3 = R[(t - 3) & 7], *const r2 = R[(t - 2) & 7], *const r4 = R[(t - 4) & 7];
        const int32_t *const r5 = R[(t - 5) & 7], *const r6 = R[(t - 6) & 7];
        const __m256i D0 = wave_step(k, &hs[0], &vs[0], 0, LD(r3 + 1), LD(r2 + 1), LD(r4 + 1), LD(r5 + 1), LD(r6), badv, mode);
        const __m256i D1 = wave_step(k, &hs[1], &vs[1], 1, LD(r3 + 9), LD(r2 + 9), LD(r4 + 9), LD(r5 + 9), LD(r6 + 8), badv, mode);
        ST(dbuf + 16 * (t & (ring - 1)), _mm256_permute4x64_epi64(_mm256_packus_epi32(D0, D1), 0xD8));
        const int32_t up1 = above(f1, dbuf, ring, P, t, 3, 15), up2 = above(f2, dbuf, ring, P, t, 6, 14);
        const __m256i pl = _mm256_permutevar8x32_epi32(D0, rot), ph = _mm256_permutevar8x32_epi32(D1, rot);
        const __m256i S0 = _mm256_blend_epi32(pl, set1(up1), 0x01), S1 = _mm256_blend_epi32(ph, pl, 0x01);
        int32_t *const rt = R[t & 7];
        rt[0] = up2;
        ST(rt + 1, S0);
        ST(rt + 9, S1);
        vs[0].S1 = S0; vs[1].S1 = S1;
        vs[0].D2 = vs[0].D1; vs[1].D2 = vs[1].D1;
        vs[0].D1 = D0; vs[1].D1 = D1;
    }
}

/* ---- values in 16-bit lanes ---- */

typedef struct {
    __m256i D1, D2, S1, col, rows;   /* as vals32's, all 16 lanes */
} vals16;

/* The step's constants, read from memory (set1 would cost GCC three instructions each, every step). */
typedef struct {
    __m256i c1, c8, c15, c16, c21, c31, c44, c63, ones, mask, spmax, X, X1, X2, period;
    __m256i lane0, lane1, rows0;     /* for the rows of a plane's top: lanes 0 and 1, rounds at the start */
} consts16;

static const consts16 *make_consts16(consts16 *c, const wave_tabs *k, uint32_t mask, __m256i rows0)
{
    c->lane0 = _mm256_setr_epi16(-1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    c->lane1 = _mm256_setr_epi16(0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    c->rows0 = rows0;
    c->c1 = set16(1); c->c8 = set16(8); c->c15 = set16(15); c->c16 = set16(16); c->c21 = set16(21);
    c->c31 = set16(31); c->c44 = set16(44); c->c63 = set16(63); c->ones = set16(-1);
    c->mask = set16(k->mask);
    c->spmax = set16(mask == 0xFF ? 16 * 0xFF : 0xFFFF);
    c->X = set16(k->X); c->X1 = set16(k->X - 1); c->X2 = set16(k->X - 2); c->period = set16(k->period);
    __asm__("" : "+r"(c) : : "memory");  /* the values now unknown to the compiler: loads, not rebuilt */
    return c;
}

INLINE __m256i wave_step16(const wave_tabs *k, const consts16 *c, rans8 *hs, vals16 *vs, __m256i N, __m256i NE, __m256i NW,
                           __m256i NWW, __m256i NN, __m256i *badv, __m256i *vmax, const int mode)
{
    const int edges = mode == WAVE_EDGES;
    const __m256i zero = _mm256_setzero_si256(), ones = c->ones;
    __m256i NEE = vs->S1, W = vs->D1, WW = vs->D2, live = ones, l0 = ones, l1 = ones;
    if (edges) {
        const __m256i x = vs->col;
        live = _mm256_and_si256(_mm256_and_si256(_mm256_cmpgt_epi16(x, ones), _mm256_cmpgt_epi16(c->X, x)),
                                _mm256_cmpgt_epi16(vs->rows, zero));
        edge_substitutes(N, &W, &WW, &NW, &NWW, &NE, &NEE, _mm256_cmpeq_epi16(x, zero), _mm256_cmpeq_epi16(x, c->c1),
                         _mm256_cmpeq_epi16(x, c->X1), _mm256_cmpeq_epi16(x, c->X2));
        l0 = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(live));
        l1 = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(live, 1));
    }
    if (mode != WAVE_INNER && k->first) {
        const __m256i r0 = edges ? _mm256_cmpeq_epi16(vs->rows, c->rows0) : ones;
        top_substitutes(W, &N, &NE, &NEE, &NW, &NWW, &NN, _mm256_and_si256(r0, c->lane0), _mm256_and_si256(r0, c->lane1));
    }
    /* 6W + 3(N + NE + NEE + WW) + NW - 2NN - NWW, at least 0 (the subtraction saturates) */
    const __m256i t3 = _mm256_add_epi16(_mm256_add_epi16(N, NE), _mm256_add_epi16(NEE, WW));
    const __m256i w6 = _mm256_slli_epi16(_mm256_add_epi16(W, _mm256_slli_epi16(W, 1)), 1);
    const __m256i pos = _mm256_add_epi16(_mm256_add_epi16(w6, _mm256_add_epi16(t3, _mm256_slli_epi16(t3, 1))), NW);
    const __m256i sp = _mm256_min_epu16(_mm256_subs_epu16(pos, _mm256_add_epi16(_mm256_add_epi16(NN, NN), NWW)), c->spmax);
    const __m256i f = _mm256_and_si256(sp, c->c15), fp = _mm256_srli_epi16(sp, 4);
    const __m256i mir = _mm256_cmpgt_epi16(f, c->c8);
    const __m256i fm = _mm256_blendv_epi8(f, _mm256_sub_epi16(c->c16, f), mir);
    __m256i g = _mm256_add_epi16(_mm256_add_epi16(absdiff16(W, NW), absdiff16(N, NW)),
                                 _mm256_add_epi16(absdiff16(N, NE), absdiff16(W, WW)));
    /* unsigned: a plane about to be decoded again (a value above NARROW_MAX) can wrap the sum */
    g = _mm256_min_epu16(_mm256_add_epi16(g, absdiff16(N, NN)), c->c63);
    __m256i act = _mm256_shuffle_epi8(ACT_TAB, _mm256_min_epi16(g, c->c15));
    act = _mm256_sub_epi16(_mm256_sub_epi16(act, _mm256_cmpgt_epi16(g, c->c15)), _mm256_cmpgt_epi16(g, c->c21));
    act = _mm256_sub_epi16(_mm256_sub_epi16(act, _mm256_cmpgt_epi16(g, c->c31)), _mm256_cmpgt_epi16(g, c->c44));
    const __m256i ctx = _mm256_add_epi16(_mm256_add_epi16(_mm256_slli_epi16(fm, 3), _mm256_slli_epi16(fm, 2)), act);
    __m256i rare0, rare1;
    const __m256i r0 = rans_half(k, &hs[0], 0, _mm256_cvtepu16_epi32(_mm256_castsi256_si128(ctx)), l0, &rare0, badv, edges);
    const __m256i r1 = rans_half(k, &hs[1], 1, _mm256_cvtepu16_epi32(_mm256_extracti128_si256(ctx, 1)), l1, &rare1, badv, edges);
    const __m256i low = set1(0xFFFF);
    __m256i r = _mm256_permute4x64_epi64(_mm256_packus_epi32(_mm256_and_si256(r0, low), _mm256_and_si256(r1, low)), 0xD8);
    r = _mm256_blendv_epi8(r, _mm256_sub_epi16(c->c1, r), mir);
    __m256i val = _mm256_and_si256(_mm256_add_epi16(fp, r), c->mask);
    if (__builtin_expect(!_mm256_testz_si256(_mm256_or_si256(rare0, rare1), ones), 0)) {
        uint16_t a_sp[16], a_g[16], a_v[16];
        ST(a_sp, sp); ST(a_g, g); ST(a_v, val);
        const __m256i rare[2] = {rare0, rare1};
        for (unsigned h = 0; h < 2; h++) {
            const unsigned rm = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(rare[h]));
            if (!rm) continue;
            int32_t s8[8], g8[8], v8[8];
            for (unsigned i = 0; i < 8; i++) {
                s8[i] = a_sp[8 * h + i];
                g8[i] = a_g[8 * h + i];
                v8[i] = a_v[8 * h + i];
            }
            slow_lanes(k, &hs[h], h, rm, s8, g8, v8);
            for (unsigned i = 0; i < 8; i++) a_v[8 * h + i] = (uint16_t)v8[i];
        }
        val = LD(a_v);
    }
    *vmax = _mm256_max_epu16(*vmax, edges ? _mm256_and_si256(val, live) : val);
    vs->col = _mm256_add_epi16(vs->col, c->c1);
    if (edges) {
        const __m256i wrap = _mm256_cmpeq_epi16(vs->col, c->period);
        vs->col = _mm256_andnot_si256(wrap, vs->col);
        vs->rows = _mm256_add_epi16(vs->rows, wrap);
    }
    return val;
}

/* Steps [t0, t1); the ring of 8 holds S_t at [16, 32) and lane 0's NN at [15]. */
INLINE void wave_steps16(const wave_tabs *k, const consts16 *c, rans8 *hs, vals16 *vs, uint16_t (*R)[48],
                         const int32_t *f1, const int32_t *f2, uint16_t *dbuf, uint64_t ring, uint64_t t0, uint64_t t1,
                         __m256i *badv, __m256i *vmax, const int mode)
{
    const uint64_t P = (uint64_t)k->period;
    for (uint64_t t = t0; t < t1; t++) {
        const __m256i D = wave_step16(k, c, hs, vs, LD(R[(t - 3) & 7] + 16), LD(R[(t - 2) & 7] + 16), LD(R[(t - 4) & 7] + 16),
                                      LD(R[(t - 5) & 7] + 16), LD(R[(t - 6) & 7] + 15), badv, vmax, mode);
        ST(dbuf + 16 * (t & (ring - 1)), D);
        const int32_t up1 = above(f1, dbuf, ring, P, t, 3, 15), up2 = above(f2, dbuf, ring, P, t, 6, 14);
        /* [up1, D0 .. D14] */
        const __m256i S = _mm256_alignr_epi8(D, _mm256_permute2x128_si256(set16(up1), D, 0x20), 14);
        uint16_t *const rt = R[t & 7];
        rt[15] = (uint16_t)up2;
        ST(rt + 16, S);
        vs->S1 = S;
        vs->D2 = vs->D1;
        vs->D1 = D;
    }
}

static void wave_wide(nl_wave *w, uint16_t *v, uint64_t X, uint64_t n_rows, uint32_t mask)
{
    wave_setup s;
    setup(w, v, X, n_rows, mask, &s);
    int32_t R[8][24] __attribute__((aligned(32)));
    memset(R, 0, sizeof R);
    for (int t = -6; t <= -1; t++) {
        R[t & 7][0] = s.f2[t + 6];
        R[t & 7][1] = s.f1[t + 3];
    }
    vals32 vs[2];
    for (int h = 0; h < 2; h++) {
        int32_t col[8], rl[8];
        for (int i = 0; i < 8; i++) {
            col[i] = -3 * (8 * h + i);
            rl[i] = (int32_t)s.rows[8 * h + i];
        }
        vs[h].col = LD(col);
        vs[h].rows = vs[h].rows0 = LD(rl);
        vs[h].D1 = vs[h].D2 = _mm256_setzero_si256();
        vs[h].S1 = LD(&R[7][1 + 8 * h]);
    }
    __m256i badv = _mm256_setzero_si256();
#define STEPS(a, b, E) wave_steps(&s.k, s.hs, vs, R, s.f1, s.f2, s.dbuf, s.ring, a, b, &badv, E)
#define CHECK() (void)0
    RUN_ALL(s, X, v, STEPS, CHECK);
#undef STEPS
#undef CHECK
    finish(w, s.hs, badv);
}

/* 0, or -1 where a value above NARROW_MAX was seen (w's states are then undefined) */
static int wave_narrow(nl_wave *w, uint16_t *v, uint64_t X, uint64_t n_rows, uint32_t mask)
{
    wave_setup s;
    if (setup(w, v, X, n_rows, mask, &s) > NARROW_MAX) return -1;
    uint16_t R[8][48] __attribute__((aligned(32)));
    memset(R, 0, sizeof R);
    for (int t = -6; t <= -1; t++) {
        R[t & 7][15] = (uint16_t)s.f2[t + 6];
        R[t & 7][16] = (uint16_t)s.f1[t + 3];
    }
    int16_t col[16], rl[16];
    for (int j = 0; j < 16; j++) {
        col[j] = (int16_t)(-3 * j);
        rl[j] = (int16_t)s.rows[j];
    }
    vals16 vs = {_mm256_setzero_si256(), _mm256_setzero_si256(), LD(&R[7][16]), LD(col), LD(rl)};
    __m256i badv = _mm256_setzero_si256(), vmax = _mm256_setzero_si256();
    const __m256i limit = set16(NARROW_MAX);
    consts16 cs;
    const consts16 *c = make_consts16(&cs, &s.k, mask, LD(rl));
#define STEPS(a, b, E) wave_steps16(&s.k, c, s.hs, &vs, R, s.f1, s.f2, s.dbuf, s.ring, a, b, &badv, &vmax, E)
#define CHECK()                                                                                                    \
    if (!_mm256_testz_si256(_mm256_subs_epu16(vmax, limit), _mm256_subs_epu16(vmax, limit))) return -1
    RUN_ALL(s, X, v, STEPS, CHECK);
#undef STEPS
#undef CHECK
    finish(w, s.hs, badv);
    return 0;
}

void sqz_nlcode_wave16_avx2(nl_wave *w, uint16_t *v, uint64_t X, uint64_t n_rows, uint32_t mask)
{
    if (w->narrow && X < 30000 && n_rows < 16 * 30000) {
        uint32_t x[16];
        int32_t p[16], bc[16];
        const uint32_t bad = w->bad;
        memcpy(x, w->x, sizeof x);
        memcpy(p, w->p, sizeof p);
        memcpy(bc, w->bc, sizeof bc);
        if (wave_narrow(w, v, X, n_rows, mask) == 0) return;
        memcpy(w->x, x, sizeof x);
        memcpy(w->p, p, sizeof p);
        memcpy(w->bc, bc, sizeof bc);
        w->bad = bad;
        w->narrow = 0;
    }
    wave_wide(w, v, X, n_rows, mask);
}
#undef LD
#undef ST
