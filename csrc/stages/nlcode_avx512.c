/* nlcode's AVX-512 code (F, BW, VL, VBMI), chosen at run time by nlcode.c: the encoder's model pass,
 * 32 elements at a time, and nlcode16's wavefront decoder. The decoder's steps are nlcode_avx2.c's
 * (nlcode_wave.h); here the 16 lanes' rANS states and values are each one vector of 16 x 32 bits,
 * lanes near a row's ends are masks, the gathers are the CPU's and the activity class is one byte
 * permute. Any value range, so a plane is never decoded twice. Same bytes and values as the AVX2 and
 * scalar code (tests/test_nlcode_simd.py). */
#include "nlcode_wave.h"

#define LDZ(p) _mm512_loadu_si512((const void *)(p))
#define STZ(p, x) _mm512_storeu_si512((void *)(p), (x))

static inline __m512i z1(int32_t v) { return _mm512_set1_epi32(v); }
static inline __m512i absdiffz(__m512i a, __m512i b) { return _mm512_abs_epi32(_mm512_sub_epi32(a, b)); }

typedef struct {
    __m512i x, p, end2, bs, bl, bc;  /* as rans8's, all 16 lanes */
} ransz;

typedef struct {
    __m512i D1, D2, S1, col, rows, rows0; /* as vals32's, all 16 lanes */
} valsz;

/* zigzag token -> residual */
static inline __m512i unzigz(__m512i tk)
{
    const __m512i one = z1(1), half = _mm512_srli_epi32(_mm512_add_epi32(tk, one), 1), odd = _mm512_and_si512(tk, one);
    return _mm512_add_epi32(_mm512_xor_si512(half, _mm512_sub_epi32(_mm512_setzero_si512(), odd)), odd);
}

/* ---- the encoder's model pass: model_row16 of nlcode_avx2.c, 32 elements at a time ---- */

/* the activity class of g = 0 .. 63 (thresholds 1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45) */
static const uint8_t k_act64[64] = {0,  1,  2,  3,  4,  4,  5,  5,  6,  6,  6,  7,  7,  7,  7,  7,
                                    8,  8,  8,  8,  8,  8,  9,  9,  9,  9,  9,  9,  9,  9,  9,  9,
                                    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11,
                                    11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11};

/* narrow: every value at most NARROW_MAX (the prediction's sum fits 16-bit lanes); bits8: 8-bit data */
static inline __attribute__((always_inline)) void model_row32(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1,
                                                              uint8_t *cx, uint16_t *zo, const int bits8)
{
    const uint16_t *u = v - X, *uu = v - 2 * X;
    const __m512i act_tab = LDZ(k_act64), one = _mm512_set1_epi16(1), c15 = _mm512_set1_epi16(15);
    uint64_t t = t0;
    for (; t + 32 <= t1; t += 32) {
        const __m512i W = LDZ(v + t - 1), WW = LDZ(v + t - 2), V = LDZ(v + t), N = LDZ(u + t), NW = LDZ(u + t - 1),
                      NE = LDZ(u + t + 1), NEE = LDZ(u + t + 2), NWW = LDZ(u + t - 2), NN = LDZ(uu + t);
        /* 6W + 3(N + NE + NEE + WW) + NW - 2NN - NWW, at least 0 */
        const __m512i t3 = _mm512_add_epi16(_mm512_add_epi16(N, NE), _mm512_add_epi16(NEE, WW));
        const __m512i w6 = _mm512_slli_epi16(_mm512_add_epi16(W, _mm512_slli_epi16(W, 1)), 1);
        const __m512i pos = _mm512_add_epi16(_mm512_add_epi16(w6, _mm512_add_epi16(t3, _mm512_slli_epi16(t3, 1))), NW);
        __m512i sp = _mm512_subs_epu16(pos, _mm512_add_epi16(_mm512_add_epi16(NN, NN), NWW));
        if (bits8) sp = _mm512_min_epu16(sp, _mm512_set1_epi16(16 * 0xFF));
        const __m512i fp = _mm512_srli_epi16(sp, 4), f = _mm512_and_si512(sp, c15);
        const __mmask32 mir = _mm512_cmpgt_epi16_mask(f, _mm512_set1_epi16(8));
        const __m512i fm = _mm512_mask_sub_epi16(f, mir, _mm512_set1_epi16(16), f);
#define AD(a, b) _mm512_or_si512(_mm512_subs_epu16((a), (b)), _mm512_subs_epu16((b), (a)))
        __m512i g = _mm512_adds_epu16(_mm512_adds_epu16(AD(W, NW), AD(N, NW)), _mm512_adds_epu16(AD(N, NE), AD(W, WW)));
        g = _mm512_min_epu16(_mm512_adds_epu16(g, AD(N, NN)), _mm512_set1_epi16(45));
#undef AD
        /* g's high bytes are 0, and so is the class of 0 */
        const __m512i act = _mm512_permutexvar_epi8(g, act_tab);
        const __m512i ctx = _mm512_add_epi16(_mm512_add_epi16(_mm512_slli_epi16(fm, 3), _mm512_slli_epi16(fm, 2)), act);
        _mm256_storeu_si256((__m256i *)(void *)(cx + t), _mm512_cvtepi16_epi8(ctx));
        __m512i r = _mm512_mask_sub_epi16(_mm512_sub_epi16(V, fp), mir, _mm512_add_epi16(fp, one), V);
        __m512i zz;
        if (bits8) {
            const __m512i ff = _mm512_set1_epi16(0xFF);
            r = _mm512_and_si512(r, ff);
            zz = _mm512_and_si512(_mm512_xor_si512(_mm512_slli_epi16(r, 1), _mm512_movm_epi16(_mm512_cmpgt_epi16_mask(r, _mm512_set1_epi16(127)))), ff);
        } else {
            zz = _mm512_xor_si512(_mm512_slli_epi16(r, 1), _mm512_srai_epi16(r, 15));
        }
        STZ(zo + t, zz);
    }
    if (bits8) nl_model_row(v, X, t, t1, 0xFF, cx, zo);
    else nl_model_row(v, X, t, t1, 0xFFFF, cx, zo);
}

void sqz_nlcode_model_row_avx512(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx,
                                 uint16_t *zo)
{
    if (mask == 0xFF) {
        model_row32(v, X, t0, t1, cx, zo, 1);  /* 8-bit values (widened) */
        return;
    }
    if (max_u16(v - 2 * X, 2 * X + t1 + 2) <= NARROW_MAX) model_row32(v, X, t0, t1, cx, zo, 0);
    else sqz_nlcode_model_row_avx2(v, X, t0, t1, mask, cx, zo);
}

/* ---- the wavefront decoder ---- */

/* rans_half of nlcode_avx2.c for all 16 lanes. */
INLINE __m512i rans_z(const wave_tabs *k, ransz *hs, const __m512i fm12, const __m512i act, const __mmask16 live,
                      __mmask16 *rare_out, __mmask16 *bad, const int edges)
{
    const __m512i zero = _mm512_setzero_si512(), one = z1(1), two = z1(2);
    /* the lane's next word, loaded before it is known to be needed (as in rans_half) */
    const __m512i word = _mm512_srli_epi32(
        _mm512_i32gather_epi32(_mm512_sub_epi32(_mm512_min_epi32(hs->p, hs->end2), two), (const void *)k->base, 1), 16);
    const __m512i slot = _mm512_and_si512(hs->x, z1(4095));
    /* (12 fm + act) << 9 | slot >> 3, fm's term last */
    const __m512i bucket =
        _mm512_add_epi32(_mm512_slli_epi32(fm12, 9), _mm512_add_epi32(_mm512_slli_epi32(act, 9), _mm512_srli_epi32(slot, 3)));
    const __m512i ent = _mm512_i32gather_epi32(bucket, (const void *)k->lut32, 4);
    __m512i F = _mm512_and_si512(ent, z1(0x1FFF)), C = _mm512_and_si512(_mm512_srli_epi32(ent, 13), z1(4095));
    __m512i r = _mm512_srai_epi32(_mm512_slli_epi32(ent, 3), 28);
    __mmask16 rare = 0;
    const __mmask16 spec = _mm512_mask_test_epi32_mask(live, ent, z1((int32_t)0xC0000000u));
    if (__builtin_expect(spec != 0, 0)) {
        const __mmask16 multi = _mm512_mask_cmplt_epi32_mask(live, ent, zero);
        __mmask16 esc = spec & (__mmask16)~multi;
        __m512i tk = _mm512_add_epi32(_mm512_and_si512(_mm512_srli_epi32(ent, 25), z1(31)), z1(16));
        if (multi) {
            /* a bucket with more than one token: the slot's token from the bucket's row of ovf (none:
             * an unused context, for the scalar code) */
            const __m512i ctx = _mm512_add_epi32(fm12, act), oi = _mm512_and_si512(ent, z1(0x3FFFFFFF));
            rare = _mm512_mask_cmpeq_epi32_mask(multi, oi, zero);
            const __m512i at = _mm512_add_epi32(_mm512_slli_epi32(oi, 3), _mm512_and_si512(slot, z1(7)));
            const __m512i t2 = _mm512_and_si512(_mm512_mask_i32gather_epi32(zero, multi, at, (const void *)k->ovf, 1), z1(0xFF));
            const __m512i fcv =
                _mm512_mask_i32gather_epi32(zero, multi, _mm512_add_epi32(_mm512_slli_epi32(ctx, 6), t2), (const void *)k->fc, 4);
            F = _mm512_mask_and_epi32(F, multi, fcv, z1(0xFFFF));
            C = _mm512_mask_srli_epi32(C, multi, fcv, 16);
            r = _mm512_mask_mov_epi32(r, multi, unzigz(t2));
            tk = _mm512_mask_mov_epi32(tk, multi, t2);
            esc |= _mm512_mask_cmpgt_epi32_mask(multi & (__mmask16)~rare, t2, z1(15));
        }
        if (esc) {
            /* token 16 + 2m + b: z = (2 + b) << ex | ex extra bits, ex = m + 3 */
            const __m512i te = _mm512_sub_epi32(tk, z1(16)), ex = _mm512_add_epi32(_mm512_srli_epi32(te, 1), z1(3));
            const __m512i hi = _mm512_sllv_epi32(_mm512_add_epi32(_mm512_and_si512(te, one), two), ex);
            const __m512i at = _mm512_add_epi32(hs->bs, _mm512_srli_epi32(hs->bc, 3));
            const __mmask16 ok = _mm512_cmpgt_epi32_mask(_mm512_add_epi32(hs->bl, one), _mm512_add_epi32(hs->bc, ex));
            const __mmask16 far = _mm512_mask_cmpgt_epi32_mask(esc, at, z1(k->n - 4));
            rare |= far;
            esc &= (__mmask16)~far;
            const __mmask16 ld = esc & ok;
            const __m512i w32 = _mm512_mask_i32gather_epi32(zero, ld, at, (const void *)k->base, 1);
            const __m512i bits = _mm512_and_si512(_mm512_srlv_epi32(w32, _mm512_and_si512(hs->bc, z1(7))),
                                                  _mm512_sub_epi32(_mm512_sllv_epi32(one, ex), one));
            const __m512i z = _mm512_or_si512(hi, bits);
            r = _mm512_mask_mov_epi32(r, esc, _mm512_xor_si512(_mm512_srli_epi32(z, 1), _mm512_sub_epi32(zero, _mm512_and_si512(z, one))));
            hs->bc = _mm512_mask_add_epi32(hs->bc, ld, hs->bc, ex);
            *bad |= esc & (__mmask16)~ok;
        }
    }
    const __m512i xn = _mm512_sub_epi32(_mm512_add_epi32(_mm512_mullo_epi32(F, _mm512_srli_epi32(hs->x, 12)), slot), C);
    const __mmask16 need = _mm512_cmplt_epu32_mask(xn, z1(65536));
    const __mmask16 ld = edges ? need & live : need;
    __m512i xnew = _mm512_mask_or_epi32(xn, need, _mm512_slli_epi32(xn, 16), word);
    if (edges) xnew = _mm512_mask_mov_epi32(hs->x, live, xnew);
    if (__builtin_expect(rare != 0, 0)) {
        STZ(k->w->x, hs->x);
        STZ(k->w->p, hs->p);
    }
    hs->x = xnew;
    hs->p = _mm512_mask_add_epi32(hs->p, ld, hs->p, two);
    *rare_out = rare;
    return r;
}

/* Lanes rm from the scalar code (clamped predictions sp, activity sums g): values into val, states into hs. */
static __attribute__((noinline)) void slow_lanesz(const wave_tabs *k, ransz *hs, unsigned rm, const int32_t *sp,
                                                  const int32_t *g, int32_t *val)
{
    nl_wave *const w = k->w;
    int32_t xs[16], ps[16];
    STZ(xs, hs->x);
    STZ(ps, hs->p);
    STZ(w->bc, hs->bc);
    for (unsigned j = 0; j < 16; j++) {
        if (!(rm >> j & 1)) continue;
        val[j] = w->slow(w, j, sp[j], (uint32_t)g[j]);
        xs[j] = (int32_t)w->x[j];
        ps[j] = w->p[j];
    }
    hs->x = LDZ(xs);
    hs->p = LDZ(ps);
    hs->bc = LDZ(w->bc);
}

/* The values of step t (N .. NN: the lanes' neighbours from the rows above). The prediction's
 * terms from W and NEE (the previous step's) are added last, and the mirror is applied to the
 * residual by one masked subtraction, to keep the chain from one step to the next short. */
INLINE __m512i wave_stepz(const wave_tabs *k, ransz *hs, valsz *vs, const __m512i act_tab, const __m512i fm12_tab, __m512i N, __m512i NE,
                          __m512i NW, __m512i NWW, __m512i NN, __mmask16 *bad, const int mode)
{
    const int edges = mode == WAVE_EDGES;
    const __m512i zero = _mm512_setzero_si512(), one = z1(1);
    __m512i NEE = vs->S1, W = vs->D1, WW = vs->D2;
    __mmask16 live = 0xFFFF;
    if (edges) {
        const __m512i x = vs->col;
        live = _mm512_cmpge_epi32_mask(x, zero) & _mm512_cmplt_epi32_mask(x, z1(k->X)) & _mm512_cmpgt_epi32_mask(vs->rows, zero);
        const __mmask16 e0 = _mm512_cmpeq_epi32_mask(x, zero), e1 = _mm512_cmpeq_epi32_mask(x, one);
        const __mmask16 r1 = _mm512_cmpeq_epi32_mask(x, z1(k->X - 1)), r2 = _mm512_cmpeq_epi32_mask(x, z1(k->X - 2));
        /* edge_substitutes of nlcode_avx2.c */
        W = _mm512_mask_mov_epi32(W, e0, N);
        WW = _mm512_mask_mov_epi32(_mm512_mask_mov_epi32(WW, e0, N), e1, W);
        NW = _mm512_mask_mov_epi32(NW, e0, N);
        NWW = _mm512_mask_mov_epi32(NWW, e0 | e1, NW);
        NE = _mm512_mask_mov_epi32(NE, r1, N);
        NEE = _mm512_mask_mov_epi32(NEE, r1 | r2, NE);
    }
    if (mode != WAVE_INNER && k->first) {
        /* top_substitutes: lanes 0 and 1 in round 0 */
        const __mmask16 r0 = edges ? _mm512_cmpeq_epi32_mask(vs->rows, vs->rows0) : (__mmask16)0xFFFF;
        const __mmask16 m0 = r0 & 1, m1 = r0 & 2;
        N = _mm512_mask_mov_epi32(N, m0, W);
        NE = _mm512_mask_mov_epi32(NE, m0, W);
        NEE = _mm512_mask_mov_epi32(NEE, m0, W);
        NW = _mm512_mask_mov_epi32(NW, m0, W);
        NWW = _mm512_mask_mov_epi32(NWW, m0, W);
        NN = _mm512_mask_mov_epi32(NN, m0 | m1, N);
    }
    /* 6W + 3(N + NE + NEE + WW) + NW - 2NN - NWW, clamped to [0, 16 mask] */
    const __m512i q3 = _mm512_add_epi32(_mm512_add_epi32(N, NE), WW);
    const __m512i a = _mm512_sub_epi32(_mm512_add_epi32(_mm512_add_epi32(q3, _mm512_slli_epi32(q3, 1)), NW),
                                       _mm512_add_epi32(_mm512_add_epi32(NN, NN), NWW));
    const __m512i b = _mm512_add_epi32(_mm512_slli_epi32(_mm512_add_epi32(W, _mm512_slli_epi32(W, 1)), 1),
                                       _mm512_add_epi32(NEE, _mm512_slli_epi32(NEE, 1)));
    const __m512i sp = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(a, b), zero), z1(16 * k->mask));
    const __m512i f = _mm512_and_si512(sp, z1(15)), fp = _mm512_srli_epi32(sp, 4);
    const __mmask16 mir = _mm512_cmpgt_epi32_mask(f, z1(8));
    const __m512i gn = _mm512_add_epi32(_mm512_add_epi32(absdiffz(N, NW), absdiffz(N, NE)), absdiffz(N, NN));
    const __m512i g = _mm512_min_epi32(_mm512_add_epi32(_mm512_add_epi32(absdiffz(W, NW), absdiffz(W, WW)), gn), z1(63));
    /* g's upper bytes are 0, and so is the class of 0 */
    const __m512i act = _mm512_permutexvar_epi8(g, act_tab);
    /* 12 fm, fm = f > 8 ? 16 - f : f (f's upper bytes are 0) */
    const __m512i fm12 = _mm512_shuffle_epi8(fm12_tab, f);
    __mmask16 rare;
    const __m512i r = rans_z(k, hs, fm12, act, live, &rare, bad, edges);
    __m512i val = _mm512_and_si512(_mm512_add_epi32(fp, _mm512_mask_sub_epi32(r, mir, one, r)), z1(k->mask));
    if (__builtin_expect(rare != 0, 0)) {
        int32_t a_sp[16], a_g[16], a_v[16];
        STZ(a_sp, sp); STZ(a_g, g); STZ(a_v, val);
        slow_lanesz(k, hs, rare, a_sp, a_g, a_v);
        val = LDZ(a_v);
    }
    vs->col = _mm512_add_epi32(vs->col, one);
    if (edges) {
        /* a lane that ends its round goes on to its next row, 16 rows down */
        const __mmask16 wrap = _mm512_cmpeq_epi32_mask(vs->col, z1(k->period));
        vs->col = _mm512_mask_mov_epi32(vs->col, wrap, zero);
        vs->rows = _mm512_mask_sub_epi32(vs->rows, wrap, vs->rows, one);
    }
    return val;
}

/* Steps [t0, t1); the ring of 8 holds S_t at [16, 32) and lane 0's NN at [15]. */
INLINE void wave_stepsz(const wave_tabs *k, ransz *hs, valsz *vs, const __m512i act_tab, const __m512i fm12_tab, int32_t (*R)[32],
                        const int32_t *f1, const int32_t *f2, uint16_t *dbuf, uint64_t ring, uint64_t t0, uint64_t t1,
                        __mmask16 *bad, const int mode)
{
    const uint64_t P = (uint64_t)k->period;
    for (uint64_t t = t0; t < t1; t++) {
        const __m512i D = wave_stepz(k, hs, vs, act_tab, fm12_tab, LDZ(R[(t - 3) & 7] + 16), LDZ(R[(t - 2) & 7] + 16),
                                     LDZ(R[(t - 4) & 7] + 16), LDZ(R[(t - 5) & 7] + 16), LDZ(R[(t - 6) & 7] + 15), bad, mode);
        ST(dbuf + 16 * (t & (ring - 1)), _mm512_cvtepi32_epi16(D));
        const int32_t up1 = above(f1, dbuf, ring, P, t, 3, 15), up2 = above(f2, dbuf, ring, P, t, 6, 14);
        /* [up1, D0 .. D14] */
        const __m512i S = _mm512_alignr_epi32(D, z1(up1), 15);
        int32_t *const rt = R[t & 7];
        rt[15] = up2;
        STZ(rt + 16, S);
        vs->S1 = S;
        vs->D2 = vs->D1;
        vs->D1 = D;
    }
}

void sqz_nlcode_wave16_avx512(nl_wave *w, uint16_t *v, uint64_t X, uint64_t n_rows, uint32_t mask)
{
    wave_setup s;
    setup(w, v, X, n_rows, mask, &s);
    int32_t R[8][32] __attribute__((aligned(64)));
    memset(R, 0, sizeof R);
    for (int t = -6; t <= -1; t++) {
        R[t & 7][15] = s.f2[t + 6];
        R[t & 7][16] = s.f1[t + 3];
    }
    int32_t col[16], rl[16];
    for (int j = 0; j < 16; j++) {
        col[j] = -3 * j;
        rl[j] = (int32_t)s.rows[j];
    }
    valsz vs = {_mm512_setzero_si512(), _mm512_setzero_si512(), LDZ(&R[7][16]), LDZ(col), LDZ(rl), LDZ(rl)};
    ransz hz = {LDZ(w->x), LDZ(w->p), _mm512_sub_epi32(LDZ(w->end), z1(2)), LDZ(w->bs), LDZ(w->bl), LDZ(w->bc)};
    const __m512i act_tab = LDZ(k_act64);
    const __m512i fm12_tab = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 12, 24, 36, 48, 60, 72, 84, 96, 84, 72, 60, 48, 36, 24, 12));
    __mmask16 bad = 0;
#define STEPS(a, b, E) wave_stepsz(&s.k, &hz, &vs, act_tab, fm12_tab, R, s.f1, s.f2, s.dbuf, s.ring, a, b, &bad, E)
#define CHECK() (void)0
    RUN_ALL(s, X, v, STEPS, CHECK);
#undef STEPS
#undef CHECK
    s.hs[0].x = _mm512_castsi512_si256(hz.x);
    s.hs[1].x = _mm512_extracti64x4_epi64(hz.x, 1);
    s.hs[0].p = _mm512_castsi512_si256(hz.p);
    s.hs[1].p = _mm512_extracti64x4_epi64(hz.p, 1);
    s.hs[0].bc = _mm512_castsi512_si256(hz.bc);
    s.hs[1].bc = _mm512_extracti64x4_epi64(hz.bc, 1);
    finish(w, s.hs, bad ? set1(-1) : _mm256_setzero_si256());
}
