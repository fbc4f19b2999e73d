/* What nlcode's AVX2 and AVX-512 code share: the encoder's test for values in 16-bit lanes, and the
 * wavefront decoder's steps, value ring, copying rows out and set-up. Included by nlcode_avx2.c and
 * nlcode_avx512.c only. */
#ifndef SQZ_NLCODE_WAVE_H
#define SQZ_NLCODE_WAVE_H

#include <immintrin.h>
#include <string.h>

#include "nlcode_model.h"
#include "transpose16_avx2.h"

#define LD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define ST(p, x) _mm256_storeu_si256((__m256i *)(void *)(p), (x))
#define INLINE static inline __attribute__((always_inline))

static inline __m256i set1(int32_t v) { return _mm256_set1_epi32(v); }

/* the largest value for which 6W + 3(N + NE + NEE + WW) + NW (19 values) fits 16 bits */
#define NARROW_MAX 3449

/* The largest of n values. */
static inline uint32_t max_u16(const uint16_t *p, uint64_t n)
{
    __m256i m = _mm256_setzero_si256();
    uint64_t i = 0;
    for (; i + 16 <= n; i += 16) m = _mm256_max_epu16(m, _mm256_loadu_si256((const __m256i *)(const void *)(p + i)));
    uint16_t t[16];
    _mm256_storeu_si256((__m256i *)(void *)t, m);
    uint32_t r = 0;
    for (unsigned j = 0; j < 16; j++) r = t[j] > r ? t[j] : r;
    for (; i < n; i++) r = p[i] > r ? p[i] : r;
    return r;
}

/* ---- nlcode16: the 16-row wavefront decoder ----
 * Step t decodes column t - 3j of row j (lane j), so row j-1 is three columns ahead, as far as
 * row j's neighbours reach (NEE). S_t is D_t (the values of step t) moved up one lane, with row
 * y0-1 in lane 0; row j's N, NE, NEE, NW, NWW are S of steps t-3, t-2, t-1, t-4, t-5, and NN is
 * S of step t-6 moved up one more lane (row y0-2 in lane 0). A group from a plane's row 0 has no
 * rows above: lane 0 then sees the element before the plane, and top_substitutes gives rows 0
 * and 1 their own neighbours in round 0. While some lane is near a row end
 * (the first and last 47 steps), blends give columns outside the row the substitutes of
 * docs/FORMAT.md and lanes outside their row keep their state; their values are never used. */

typedef struct {
    __m256i x, p, end2;              /* rANS states, word offsets, stream ends - 2 */
    __m256i bs, bl, bc;              /* extra bits: stream offsets, lengths in bits, bits read */
} rans8;

typedef struct {
    const int *lut32, *fc, *base, *ovf;
    int32_t mask, n;
    int32_t X, period;
    int32_t first;                   /* nl_wave's */
    nl_wave *w;
} wave_tabs;

/* Which steps: every lane two columns inside its row; some lane near a row end; the inner steps
 * of round 0 when it holds rows 0 and 1 of a plane. */
enum { WAVE_INNER, WAVE_EDGES, WAVE_TOP };

/* The value of lane j at step s, from the ring. */
static inline int32_t ring_at(const uint16_t *dbuf, uint64_t ring, uint64_t s, unsigned j)
{
    return dbuf[16 * (s & (ring - 1)) + j];
}

/* The rows above (up1: lane 0's N at step t, up2: its NN): row y0-1 / y0-2 in round 0, then lane
 * 15's / 14's previous row, P - 48 steps back. */
INLINE int32_t above(const int32_t *f, const uint16_t *dbuf, uint64_t ring, uint64_t P, uint64_t t, uint64_t ahead,
                     unsigned lane)
{
    return t + ahead < P ? f[t + ahead] : ring_at(dbuf, ring, t + 48 - P, lane);
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

/* Set-up shared by both variants: the rows above in f1, f2 (their largest value is returned), the
 * lanes' rows, the last step T, the rANS vectors. */
typedef struct {
    int32_t *f1, *f2;
    uint16_t *dbuf;
    uint64_t P, ring, T, full;
    int64_t rows[16], tm[16], tc[16];
    rans8 hs[2];
    wave_tabs k;
} wave_setup;

static int32_t setup(nl_wave *w, uint16_t *v, uint64_t X, uint64_t n_rows, uint32_t mask, wave_setup *s)
{
    const uint16_t *u = w->first ? v : v - X, *uu = w->first ? v : v - 2 * X;
    s->P = nl_wave_period(X);
    s->ring = nl_wave_ring(X);
    s->f1 = (int32_t *)w->scratch + 8;
    s->f2 = s->f1 + s->P + 72;
    s->dbuf = (uint16_t *)(void *)(((uintptr_t)(s->f2 + s->P + 64) + 31) & ~(uintptr_t)31);
    int32_t top = 0;
    for (int64_t j = -8; j < (int64_t)s->P + 64; j++) {
        const uint64_t c = j < 0 ? 0 : (uint64_t)j >= X ? X - 1 : (uint64_t)j;
        /* a plane's row 0: lane 0's N in column 0 is the W that row 0 starts with (the rest is
         * replaced by top_substitutes) */
        s->f1[j] = w->first ? w->w0 : u[c];
        s->f2[j] = w->first ? w->w0 : uu[c];
        top = top > s->f1[j] ? top : s->f1[j];
        top = top > s->f2[j] ? top : s->f2[j];
    }
    s->k = (wave_tabs){(const int *)(const void *)w->lut32, (const int *)(const void *)w->fc, (const int *)(const void *)w->base,
                       (const int *)(const void *)w->ovf, (int32_t)mask, w->n, (int32_t)X, (int32_t)s->P, w->first, w};
    /* lane j: rows j, j + 16, ... (rows[j] of them); its last element at step 3j + P (rows[j] - 1) + X - 1 */
    s->T = 0;
    s->full = n_rows / 16;
    for (unsigned j = 0; j < 16; j++) {
        s->rows[j] = (int64_t)((n_rows + 15 - j) / 16);
        const uint64_t last = s->rows[j] ? 3 * j + s->P * (uint64_t)(s->rows[j] - 1) + X : 0;
        s->T = s->T > last ? s->T : last;
        s->tm[j] = 0;
        s->tc[j] = -3 * (int64_t)j;
    }
    for (int h = 0; h < 2; h++) {
        s->hs[h].x = LD(w->x + 8 * h);
        s->hs[h].p = LD(w->p + 8 * h);
        s->hs[h].end2 = _mm256_sub_epi32(LD(w->end + 8 * h), set1(2));
        s->hs[h].bs = LD(w->bs + 8 * h);
        s->hs[h].bl = LD(w->bl + 8 * h);
        s->hs[h].bc = LD(w->bc + 8 * h);
    }
    return top;
}

static void finish(nl_wave *w, const rans8 *hs, __m256i badv)
{
    for (int h = 0; h < 2; h++) {
        badv = _mm256_or_si256(badv, _mm256_cmpgt_epi32(hs[h].p, _mm256_add_epi32(hs[h].end2, set1(2))));
        ST(w->x + 8 * h, hs[h].x);
        ST(w->p + 8 * h, hs[h].p);
        ST(w->bc + 8 * h, hs[h].bc);
    }
    if (!_mm256_testz_si256(badv, badv)) w->bad |= 1;
}

/* Steps [t, END) in one variant (EDGES: WAVE_*), values out every 16 steps, CHECK() after every 16. */
#define RUN_SEGMENT(S, X, v, END, EDGES, STEPS, CHECK)                                                        \
    while (t < (END)) {                                                                                    \
        const uint64_t e_ = (t | 15) + 1 < (END) ? (t | 15) + 1 : (END);                                   \
        STEPS(t, e_, EDGES);                                                                               \
        t = e_;                                                                                            \
        for (; out + 16 <= t; out += 16) copy_out(v, X, (S).P, (S).dbuf, (S).ring, out, (S).tm, (S).tc, (S).rows); \
        CHECK();                                                                                           \
    }
/* All steps. In the rounds where every lane has a row, the steps with every lane two columns from
 * its row's ends skip the edge handling: [r P + 47, r P + X - 2). */
#define RUN_ALL(S, X, v, STEPS, CHECK)                                                                         \
    do {                                                                                                   \
        uint64_t t = 0, out = 0;                                                                           \
        for (uint64_t r = 0; r < (S).full && (X) > 49; r++) {                                              \
            RUN_SEGMENT(S, X, v, r * (S).P + 47, WAVE_EDGES, STEPS, CHECK)                                 \
            if (r == 0 && (S).k.first)                                                                     \
                RUN_SEGMENT(S, X, v, (X) - 2, WAVE_TOP, STEPS, CHECK)                                      \
            else                                                                                           \
                RUN_SEGMENT(S, X, v, r * (S).P + (X) - 2, WAVE_INNER, STEPS, CHECK)                        \
        }                                                                                                  \
        RUN_SEGMENT(S, X, v, (S).T, WAVE_EDGES, STEPS, CHECK)                                              \
        for (; out < (S).T; out += 16) copy_out(v, X, (S).P, (S).dbuf, (S).ring, out, (S).tm, (S).tc, (S).rows); \
    } while (0)

#endif
