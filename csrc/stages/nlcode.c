/* nlcode: codec for wnl level indices (and any uint8/uint16 data, losslessly). A fused
 * predictor + context model + rANS: each element is predicted in 1/16 units from 8 causal
 * neighbours; the residual from the prediction's floor (mirrored when the fraction is above
 * 1/2) is coded with one of 108 per-block frequency tables chosen by the
 * prediction's fraction and the local activity. Large residuals are coded as a magnitude class
 * plus raw extra bits (the escape). Rows take turns in lanes (nlcode: 2, even and odd rows;
 * nlcode16: 16, row mod 16), each with its own rANS state and extra-bit stream; nlcode16's AVX2
 * decoder runs 16 rows at once, and so does its encoder's rANS pass (nlcode_avx2.c). The bytes
 * depend on integer arithmetic only. Bytes: docs/FORMAT.md, "nlcode". */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/cpu.h"
#include "../common/error.h"
#include "nlcode_model.h"
#include "stage.h"

#define NFRAC 9                 /* fraction classes 0/16 .. 8/16 (9/16..15/16 mirrored) */
#define NACT 12                 /* activity classes */
#define NCTX (NFRAC * NACT)
#define NTOK 40                 /* tokens for 16-bit residuals (24 for 8-bit) */
#define SCALE_BITS 12
#define SCALE (1u << SCALE_BITS)
#define RANS_L (1u << 16)       /* state lower bound; 16-bit renormalisation */
#define DEFAULT_BYTES (4u << 20)
/* the least the decoder hands to its sink at once (elements), and about the most (bytes) */
#define SINK_MIN 4096
#define SINK_BYTES (256u << 10)
#define LUT_SHIFT 3             /* decoder: slots per bucket of the token table: 8 */
#define OVF_MAX (NCTX * (NTOK - 1)) /* buckets with more than one token: each holds a token's start */
#define MAX_LANES 16            /* nlcode: 2 lanes (rows alternate), nlcode16: 16 (row mod 16) */

typedef struct {
    uint64_t rcp;                /* ceil(2^44 / freq), for exact division */
    uint32_t xm1;                /* (freq << 20) - 1: renormalise above it */
    uint32_t nf, cum;            /* SCALE - freq, cumulative frequency (32 bits: memory operands) */
} enc_sym;

typedef struct {
    uint8_t *ctx;                /* encoder: per element */
    uint16_t *idx;               /* encoder: per element, context * NTOK + token (z while pass 1 runs) */
    uint16_t *wide;              /* uint8 data widened to uint16 */
    uint8_t *bits;               /* encoder: extra-bit streams, one region per lane */
    uint8_t *rans;               /* encoder: rANS words, written downwards */
    size_t cap;
    uint32_t count[4][NCTX][NTOK];  /* encoder: elements k mod 4 (merged into [0]) */
    uint16_t freq[NCTX][NTOK];
    enc_sym esym[NCTX * NTOK];
    uint32_t efc[NCTX * NTOK];   /* encoder (nlcode16, AVX2): freq | cum << 16 */
    uint16_t dF[NCTX][64], dC[NCTX][64];  /* decoder: frequency, cumulative frequency (SCALE after the last) */
    uint32_t fc[NCTX][64];       /* decoder (nlcode16): dF | dC << 16 */
    /* decoder (nlcode16): per bucket with one token t, dF | dC << 13 | code << 25 with code = the
     * residual (4 bits) for t < 16, 32 | t - 16 for an escape; 0x80000000 | i: more than one token,
     * those of its 8 slots in ovf[i] (i = 0: an unused context) */
    uint32_t lut32[NCTX][SCALE >> LUT_SHIFT];
    uint8_t ovf[OVF_MAX + 1][8];
    uint8_t ovf_pad[4];          /* the vector decoders read 4 bytes at a token */
    /* scalar decoder: per bucket of slots, first token | (8 - first slot of the next token) << 5; 31: search */
    uint8_t lut[NCTX][SCALE >> LUT_SHIFT];
    int32_t *pre;                /* decoder: P, G, N of a row (3 * pre_cap) */
    uint64_t pre_cap;
    void *wave;                  /* decoder (nlcode16): nl_wave scratch */
    uint64_t wave_cap;
    uint8_t unused[NCTX];        /* decoder: 2 for a context absent from the block */
    uint16_t ctab[16 << 6];      /* decoder: context << 6 of (fraction, activity sum) */
    int32_t rtab[16 << 4];       /* decoder: residual of (fraction, token) */
} nl_state;

static void free_state(void *p)
{
    nl_state *s = p;
    if (!s) return;
    free(s->ctx); free(s->idx); free(s->wide); free(s->bits); free(s->rans); free(s->pre); free(s->wave); free(s);
}

/* One state per thread outlives the chunk (a released state waits in a thread-local slot), so
 * chunk after chunk reuses warm buffers. */
#define CACHE_MAX ((size_t)16 << 20)
static pthread_key_t g_cache_key;
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;
static int g_cache_ok;

static void make_cache_key(void) { g_cache_ok = pthread_key_create(&g_cache_key, free_state) == 0; }

static void nl_release(void *p)
{
    if (!p) return;
    pthread_once(&g_cache_once, make_cache_key);
    const nl_state *s = p;
    if (g_cache_ok && s->cap <= CACHE_MAX && !pthread_getspecific(g_cache_key) && pthread_setspecific(g_cache_key, p) == 0)
        return;
    free_state(p);
}

static nl_state *get_state(void **state, size_t n_elems)
{
    nl_state *s = *state;
    if (!s) {
        pthread_once(&g_cache_once, make_cache_key);
        if (g_cache_ok && (s = pthread_getspecific(g_cache_key)) != NULL) pthread_setspecific(g_cache_key, NULL);
        if (!s && !(s = calloc(1, sizeof *s))) return NULL;
        *state = s;
    }
    if (s->cap < n_elems) {
        free(s->ctx); free(s->idx); free(s->wide); free(s->bits); free(s->rans);
        s->ctx = malloc(n_elems);
        s->idx = malloc(2 * n_elems);
        s->wide = malloc(2 * n_elems);
        s->bits = malloc(2 * n_elems + 16 * MAX_LANES);
        s->rans = malloc(2 * n_elems + 16 * MAX_LANES);
        s->cap = n_elems;
        if (!s->ctx || !s->idx || !s->wide || !s->bits || !s->rans) {
            s->cap = 0;
            return NULL;
        }
    }
    return s;
}

/* Activity class: the number of thresholds {1,2,3,4,6,8,11,16,22,32,45} that g reaches. */
static const uint8_t k_act[46] = {0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 9,
                                  9, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 11};
static inline unsigned act_class(uint32_t g) { return g >= 45 ? NACT - 1 : k_act[g]; }
static inline uint32_t absd(uint32_t a, uint32_t b) { return a > b ? a - b : b - a; }

static inline unsigned token_of(uint32_t z, unsigned *nextra)
{
    if (z < 16) { *nextra = 0; return z; }
    const unsigned m = 31u - (unsigned)__builtin_clz(z);
    *nextra = m - 1;
    return 16 + 2 * (m - 4) + ((z >> (m - 1)) & 1);
}

typedef struct {
    uint32_t w, n, nw, ne, ww, nn, nww, nee;
} nbhd;

typedef struct {
    uint64_t X, Y;   /* row length; rows per plane (0: 1-D) */
} geo;

/* Neighbours of block element k (column x, row y of its plane), missing ones substituted
 * (docs/FORMAT.md). */
static inline nbhd neighbours(const uint16_t *v, uint64_t k, uint64_t x, uint64_t y, const geo *g)
{
    const uint64_t X = g->X;
    const int hn = g->Y && y > 0 && k >= X, hnn = hn && y > 1 && k >= 2 * X;
    nbhd b;
    b.w = x >= 1 && k >= 1 ? v[k - 1] : hn ? v[k - X] : k >= 1 ? v[k - 1] : 0;
    b.n = hn ? v[k - X] : b.w;
    b.nw = hn && x >= 1 && k >= X + 1 ? v[k - X - 1] : b.n;
    b.ne = hn && x + 1 < X ? v[k - X + 1] : b.n;
    b.ww = x >= 2 && k >= 2 ? v[k - 2] : b.w;
    b.nn = hnn ? v[k - 2 * X] : b.n;
    b.nww = hn && x >= 2 && k >= X + 2 ? v[k - X - 2] : b.nw;
    b.nee = hn && x + 2 < X ? v[k - X + 2] : b.ne;
    return b;
}

/* All neighbours inside the block (row y >= 2 of its plane, 2 <= x < X-2, k >= 2X). */
static inline nbhd neighbours_inner(const uint16_t *v, uint64_t k, uint64_t X)
{
    const uint16_t *u = v + k - X;
    return (nbhd){v[k - 1], u[0], u[-1], u[1], v[k - 2], u[-(int64_t)X], u[-2], u[2]};
}

/* Context and the prediction's floor (fp) and mirror flag of an element. */
static inline unsigned model(const nbhd *b, uint32_t mask, uint32_t *fp, int *mirror)
{
    const int32_t s = (int32_t)(6 * b->w + 3 * b->n + b->nw + 3 * b->ne + 3 * b->ww + 3 * b->nee) - (int32_t)(2 * b->nn + b->nww);
    const uint32_t p16 = s < 0 ? 0 : s > (int32_t)(16 * mask) ? 16 * mask : (uint32_t)s;
    const uint32_t f = p16 & 15;
    const uint32_t g = absd(b->w, b->nw) + absd(b->n, b->nw) + absd(b->n, b->ne) + absd(b->w, b->ww) + absd(b->n, b->nn);
    *fp = p16 >> 4;
    *mirror = f > 8;
    return (f > 8 ? 16 - f : f) * NACT + act_class(g);
}

static inline uint32_t residual_zig(uint32_t v, uint32_t fp, int mirror, uint32_t mask, unsigned bits)
{
    const uint32_t r = (mirror ? fp + 1 - v : v - fp) & mask;
    return ((r << 1) ^ ((r >> (bits - 1)) ? mask : 0)) & mask;
}

static inline uint32_t value_of(uint32_t z, uint32_t fp, int mirror, uint32_t mask)
{
    const uint32_t r = (z >> 1) ^ (0u - (z & 1));
    return (mirror ? fp + 1 - r : fp + r) & mask;
}

static geo geometry(const sqz_stage_ctx *ctx)
{
    geo g = {1, 0};
    if (ctx->ndim >= 1 && ctx->shape[ctx->ndim - 1]) g.X = ctx->shape[ctx->ndim - 1];
    if (ctx->ndim >= 2) g.Y = ctx->shape[ctx->ndim - 2];
    return g;
}

/* ---- encoder ---- */

typedef struct {
    uint8_t *p;
    uint64_t acc;
    unsigned nb;
} bitw;

static inline void bw_put(bitw *w, uint32_t v, unsigned n)
{
    w->acc |= (uint64_t)v << w->nb;
    w->nb += n;
    while (w->nb >= 8) { *w->p++ = (uint8_t)w->acc; w->acc >>= 8; w->nb -= 8; }
}

/* Frequencies summing to SCALE. A boundary between two tokens of at least one bucket each moves to
 * the nearest bucket edge: the decoder's bucket table then names one token per bucket there, and
 * fewer look-ups need the second, branchy step (docs/DESIGN.md, "Speed (session 17)"). */
static void normalise(const uint32_t *count, unsigned ntok, uint16_t *freq)
{
    const uint32_t bucket = 1u << LUT_SHIFT;
    uint64_t total = 0;
    for (unsigned t = 0; t < ntok; t++) total += count[t];
    uint32_t sum = 0, present = 0;
    unsigned big = 0;
    for (unsigned t = 0; t < ntok; t++) {
        uint32_t f = (uint32_t)((uint64_t)count[t] * SCALE / total);
        if (count[t] && !f) f = 1;
        freq[t] = (uint16_t)f;
        sum += f;
        present += f > 0;
        if (f > freq[big]) big = t;
    }
    freq[big] = (uint16_t)(freq[big] + (int32_t)(SCALE - sum));
    /* cum: the exact boundary after token t; at: where it goes (each present token keeps >= 1 slot) */
    uint32_t cum = 0, at = 0;
    for (unsigned t = 0; t + 1 < ntok; t++) {
        const uint32_t f = freq[t], start = at;
        cum += f;
        if (!f) continue;
        present--;
        uint32_t b = f >= bucket && freq[t + 1] >= bucket ? (cum + bucket / 2) & ~(bucket - 1) : cum;
        b = b < start + 1 ? start + 1 : b > SCALE - present ? SCALE - present : b;
        freq[t] = (uint16_t)(b - start);
        at = b;
    }
    freq[ntok - 1] = (uint16_t)(SCALE - at);
}

/* Block elements [*lo, *hi) of chunk row r. */
static inline void row_span(uint64_t r, uint64_t first, uint64_t ne, uint64_t X, uint64_t *lo, uint64_t *hi)
{
    *lo = (r * X > first ? r * X : first) - first;
    *hi = ((r + 1) * X < first + ne ? (r + 1) * X : first + ne) - first;
}

static inline void rans_put(const enc_sym *es, const uint16_t *idx, uint64_t k, uint32_t *xp, uint8_t **pp)
{
    const enc_sym *e = &es[idx[k]];
    uint32_t x = *xp;
    /* the word is always stored (in the lane's free space); kept when renormalising. Shifts,
     * not a branch: renormalising is unpredictable */
    const uint32_t out = x > e->xm1;
    sqz_wr16(*pp - 2, (uint16_t)x);
    *pp -= out << 1;
    x >>= out << 4;
    /* x / f, exactly: x < f * 2^20, rcp = ceil(2^44 / f), so the product stays below 2^64 */
    const uint32_t qt = (uint32_t)(((uint64_t)x * e->rcp) >> 44);
    *xp = x + qt * e->nf + e->cum;
}

/* Contexts and z of the elements [t0, t1) of an inner row (v: the row). */
static void model_row(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx, uint16_t *zo)
{
#ifdef SQZ_HAVE_AVX512
    if (sqz_simd_get() >= SQZ_SIMD_AVX512) {
        sqz_nlcode_model_row_avx512(v, X, t0, t1, mask, cx, zo);
        return;
    }
#endif
#ifdef SQZ_HAVE_AVX2
    if (sqz_simd_get() >= SQZ_SIMD_AVX2) {
        sqz_nlcode_model_row_avx2(v, X, t0, t1, mask, cx, zo);
        return;
    }
#endif
    if (mask == 0xFF) nl_model_row(v, X, t0, t1, 0xFF, cx, zo);
    else nl_model_row(v, X, t0, t1, 0xFFFF, cx, zo);
}

extern const sqz_stage sqz_stage_nlcode16;

/* nlcode16's AVX2 code: the encoder's rANS pass and the wavefront decoder (nlcode_avx2.c) */
static int avx2_in_use(void)
{
#ifdef SQZ_HAVE_AVX2
    return sqz_simd_get() >= SQZ_SIMD_AVX2;
#else
    return 0;
#endif
}

/* Lanes of the stage: nlcode 2, nlcode16 16 (the only difference between the two). */
static unsigned lanes(const sqz_stage_ctx *ctx) { return ctx->stage == &sqz_stage_nlcode16 ? 16 : 2; }

/* Elements of each lane (lane of a row: row mod nl, rows counted from the chunk's start). */
static void count_lanes(const sqz_block *blk, uint64_t ne, uint64_t X, unsigned nl, uint64_t *lane_n)
{
    memset(lane_n, 0, nl * sizeof *lane_n);
    for (uint64_t k = 0; k < ne;) {
        const uint64_t i = blk->first_elem + k, len = X - i % X < ne - k ? X - i % X : ne - k;
        lane_n[(i / X) % nl] += len;
        k += len;
    }
}

static int64_t nl_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t cap, void **state)
{
    const unsigned nl = lanes(ctx);
    const size_t es = sqz_dtype_size(ctx->dtype);
    const uint64_t ne = n / es;
    nl_state *s = get_state(state, ne ? ne : 1);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "nlcode buffers");
    const uint16_t *v = src;
    if (es == 1) {
        for (uint64_t k = 0; k < ne; k++) s->wide[k] = ((const uint8_t *)src)[k];
        v = s->wide;
    }
    const unsigned bits = es == 1 ? 8 : 16, ntok_max = es == 1 ? 24 : NTOK;
    const uint32_t mask = es == 1 ? 0xFF : 0xFFFF;
    const geo g = geometry(ctx);
    memset(s->count, 0, sizeof s->count);
    uint64_t lane_n[MAX_LANES];
    count_lanes(blk, ne, g.X, nl, lane_n);
    /* lane l's extra bits and rANS words in regions of 2 * lane_n[l] + 16 bytes */
    bitw bw[MAX_LANES];
    uint8_t *top[MAX_LANES];
    for (size_t l = 0, off = 0; l < nl; off += 2 * lane_n[l] + 16, l++) {
        bw[l] = (bitw){s->bits + off, 0, 0};
        top[l] = s->rans + off + 2 * lane_n[l] + 16;
    }
    uint8_t *const cx = s->ctx;
    uint16_t *const idx = s->idx;
    uint32_t *const cnt[4] = {&s->count[0][0][0], &s->count[1][0][0], &s->count[2][0][0], &s->count[3][0][0]};
    /* pass 1: contexts and z, then tokens, extra bits and counts */
    uint64_t bulk_end = 0;
    for (uint64_t k = 0; k < ne;) {
        const uint64_t i = blk->first_elem + k, x0 = i % g.X, row = i / g.X;
        const uint64_t len = g.X - x0 < ne - k ? g.X - x0 : ne - k, y = g.Y ? row % g.Y : 0;
        bitw *w = &bw[row % nl];
        const int inner = x0 == 0 && len == g.X && g.Y && y >= 2 && k >= 2 * g.X && g.X >= 5;
        if (inner && k >= bulk_end) {
            /* the inner rows from here to the plane's or the block's end in one pass; the row ends it
             * computes too are overwritten below */
            const uint64_t nr = g.Y - y < (ne - k) / g.X ? g.Y - y : (ne - k) / g.X;
            model_row(v + k, g.X, 2, nr * g.X - 2, mask, cx + k, idx + k);
            bulk_end = k + nr * g.X;
        }
        for (uint64_t t = 0; t < len; t++) {
            if (inner && t == 2) {
                t = len - 3;
                continue;
            }
            const nbhd b = neighbours(v, k + t, x0 + t, y, &g);
            uint32_t fp;
            int mirror;
            cx[k + t] = (uint8_t)model(&b, mask, &fp, &mirror);
            idx[k + t] = (uint16_t)residual_zig(v[k + t], fp, mirror, mask, bits);
        }
        /* elements count into 4 tables in turn (no store-to-load waits on repeats; the tables are
         * summed); groups of 8 without an escape token take the short way */
#define TOKEN(K)                                                                                                   \
    do {                                                                                                       \
        const uint32_t z = idx[K];                                                                             \
        unsigned tk = z;                                                                                       \
        if (__builtin_expect(z >= 16, 0)) {                                                                    \
            unsigned ex;                                                                                       \
            tk = token_of(z, &ex);                                                                             \
            bw_put(w, z & ((1u << ex) - 1), ex);                                                               \
        }                                                                                                      \
        const unsigned id = cx[K] * NTOK + tk;                                                                 \
        idx[K] = (uint16_t)id;                                                                                 \
        cnt[(K) & 3][id]++;                                                                                    \
    } while (0)
        const uint64_t kend = k + len;
        /* after a group with an escape, the next one goes the long way without looking */
        for (int plain = 1; k + 8 <= kend; k += 8) {
            uint32_t any = 0;
            if (plain)
                for (unsigned j = 0; j < 8; j++) any |= idx[k + j];
            if (!plain || any >= 16) {
                plain = 1;
                for (unsigned j = 0; j < 8; j++) {
                    plain &= idx[k + j] < 16;
                    TOKEN(k + j);
                }
                continue;
            }
            uint16_t id[8];
            for (unsigned j = 0; j < 8; j++) id[j] = (uint16_t)(cx[k + j] * NTOK + idx[k + j]);
            memcpy(idx + k, id, sizeof id);
            for (unsigned j = 0; j < 8; j++) cnt[j & 3][id[j]]++;
        }
        for (; k < kend; k++) TOKEN(k);
#undef TOKEN
    }
    uint32_t (*const count)[NCTX][NTOK] = s->count;
    for (unsigned c = 0; c < NCTX; c++)
        for (unsigned t = 0; t < NTOK; t++) count[0][c][t] += count[1][c][t] + count[2][c][t] + count[3][c][t];
    size_t bits_size[MAX_LANES];
    for (size_t l = 0, off = 0; l < nl; off += 2 * lane_n[l] + 16, l++) {
        if (bw[l].nb) { *bw[l].p++ = (uint8_t)bw[l].acc; bw[l].nb = 0; }
        bits_size[l] = (size_t)(bw[l].p - (s->bits + off));
    }
    /* tables */
    uint8_t *out = dst, *const end = out + cap;
    SQZ_RETURN_IF(cap < NCTX, SQZ_ERR_DST_TOO_SMALL, "nlcode");
    uint8_t *o = out + NCTX;
    for (unsigned c = 0; c < NCTX; c++) {
        unsigned ntok = ntok_max;
        while (ntok && !count[0][c][ntok - 1]) ntok--;
        out[c] = (uint8_t)ntok;
        if (!ntok) continue;
        normalise(count[0][c], ntok, s->freq[c]);
        SQZ_RETURN_IF((size_t)(end - o) < 2 * ntok, SQZ_ERR_DST_TOO_SMALL, "nlcode");
        uint32_t cum = 0;
        for (unsigned t = 0; t < ntok; t++) {
            const uint32_t f = s->freq[c][t];
            enc_sym *e = &s->esym[c * NTOK + t];
            e->rcp = f ? (((uint64_t)1 << 44) + f - 1) / f : 0;
            e->xm1 = (uint32_t)(((uint64_t)f << (32 - SCALE_BITS)) - 1);
            e->nf = SCALE - f;
            e->cum = cum;
            s->efc[c * NTOK + t] = f | cum << 16;
            cum += f;
            if (f < 128) *o++ = (uint8_t)f;
            else { *o++ = (uint8_t)(0x80 | (f >> 8)); *o++ = (uint8_t)f; }
        }
    }
    const size_t sizes_bytes = 4 * (2 * (size_t)nl - 1);
    SQZ_RETURN_IF((size_t)(end - o) < sizes_bytes, SQZ_ERR_DST_TOO_SMALL, "nlcode");
    uint8_t *sizes = o;
    o += sizes_bytes;
    /* pass 2: rANS, symbols in reverse order, each lane's words written downwards */
    uint8_t *pw[MAX_LANES];
    uint32_t xs[MAX_LANES];
    const enc_sym *const esym = s->esym;
    for (unsigned l = 0; l < nl; l++) {
        pw[l] = top[l];
        xs[l] = RANS_L;
    }
    /* rows from the last, 2 (nlcode) or 4 (nlcode16) at a time: that many lanes, whose dependency
     * chains (a multiply each) overlap */
    const uint64_t first = blk->first_elem, r0 = first / g.X;
    const unsigned rows_at_once = nl >= 4 ? 4 : 2;
    /* nlcode16 with AVX2: 16 rows wholly in the block ([full_lo, full_hi)) at once */
    const uint64_t full_lo = (first + g.X - 1) / g.X, full_hi = (first + ne) / g.X;
    const int simd16 = nl == 16 && g.X >= 16 && avx2_in_use();
    for (uint64_t r = ne ? (first + ne - 1) / g.X + 1 : r0; r > r0;) {
#ifdef SQZ_HAVE_AVX2
        if (simd16 && r <= full_hi && r >= full_lo + 16) {
            uint32_t xg[16];
            uint8_t *pg[16];
            for (unsigned j = 0; j < 16; j++) {
                xg[j] = xs[(r + j) % 16];
                pg[j] = pw[(r + j) % 16];
            }
            sqz_nlcode_rans16_avx2(s->efc, idx + (r - 16) * g.X - first, g.X, xg, pg);
            for (unsigned j = 0; j < 16; j++) {
                xs[(r + j) % 16] = xg[j];
                pw[(r + j) % 16] = pg[j];
            }
            r -= 16;
            continue;
        }
#endif
        uint64_t lo[4] = {0, 0, 0, 0}, kk[4] = {0, 0, 0, 0};
        unsigned ln[4];
        uint32_t x[4];
        uint8_t *pp[4];
        for (unsigned j = 0; j < rows_at_once; j++) {
            ln[j] = (unsigned)((r - 1) % nl);
            if (r > r0) row_span(--r, first, ne, g.X, &lo[j], &kk[j]);
            x[j] = xs[ln[j]];
            pp[j] = pw[ln[j]];
        }
        if (rows_at_once == 4) {
            /* locals, not the arrays: the states stay in registers */
            uint64_t m = kk[0] - lo[0];
            for (unsigned j = 1; j < 4; j++) m = kk[j] - lo[j] < m ? kk[j] - lo[j] : m;
            uint64_t k0 = kk[0], k1 = kk[1], k2 = kk[2], k3 = kk[3];
            uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
            uint8_t *p0 = pp[0], *p1 = pp[1], *p2 = pp[2], *p3 = pp[3];
            for (uint64_t i = 0; i < m; i++) {
                rans_put(esym, idx, --k0, &x0, &p0);
                rans_put(esym, idx, --k1, &x1, &p1);
                rans_put(esym, idx, --k2, &x2, &p2);
                rans_put(esym, idx, --k3, &x3, &p3);
            }
            kk[0] = k0; kk[1] = k1; kk[2] = k2; kk[3] = k3;
            x[0] = x0; x[1] = x1; x[2] = x2; x[3] = x3;
            pp[0] = p0; pp[1] = p1; pp[2] = p2; pp[3] = p3;
        } else {
            const uint64_t m = kk[0] - lo[0] < kk[1] - lo[1] ? kk[0] - lo[0] : kk[1] - lo[1];
            uint64_t k0 = kk[0], k1 = kk[1];
            uint32_t x0 = x[0], x1 = x[1];
            uint8_t *p0 = pp[0], *p1 = pp[1];
            for (uint64_t i = 0; i < m; i++) {
                rans_put(esym, idx, --k0, &x0, &p0);
                rans_put(esym, idx, --k1, &x1, &p1);
            }
            kk[0] = k0; kk[1] = k1;
            x[0] = x0; x[1] = x1;
            pp[0] = p0; pp[1] = p1;
        }
        for (unsigned j = 0; j < rows_at_once; j++) {
            while (kk[j] > lo[j]) rans_put(esym, idx, --kk[j], &x[j], &pp[j]);
            xs[ln[j]] = x[j];
            pw[ln[j]] = pp[j];
        }
    }
    for (unsigned l = 0; l < nl; l++) {
        size_t rsize = 0;
        if (lane_n[l]) {
            pw[l] -= 4;
            sqz_wr32(pw[l], xs[l]);
            rsize = (size_t)(top[l] - pw[l]);
            SQZ_RETURN_IF((size_t)(end - o) < rsize, SQZ_ERR_DST_TOO_SMALL, "nlcode");
            memcpy(o, pw[l], rsize);
            o += rsize;
        }
        sqz_wr32(sizes + 4 * l, (uint32_t)rsize);
    }
    for (size_t l = 0, off = 0; l < nl; off += 2 * lane_n[l] + 16, l++) {
        if (l + 1 < nl) sqz_wr32(sizes + 4 * (nl + l), (uint32_t)bits_size[l]);
        SQZ_RETURN_IF((size_t)(end - o) < bits_size[l], SQZ_ERR_DST_TOO_SMALL, "nlcode");
        memcpy(o, s->bits + off, bits_size[l]);
        o += bits_size[l];
    }
    return (int64_t)(o - out);
}

/* ---- decoder ---- */

typedef struct {
    const uint8_t *p, *end;
    uint64_t acc;
    unsigned nb;
} bitr;

/* Reads n <= 15 bits; returns 0 when the stream is exhausted (sets *bad). */
static inline uint32_t br_get(bitr *r, unsigned n, int *bad)
{
    while (r->nb < n && r->p < r->end) { r->acc |= (uint64_t)*r->p++ << r->nb; r->nb += 8; }
    if (r->nb < n) { *bad |= 1; return 0; }
    const uint32_t v = (uint32_t)(r->acc & ((1u << n) - 1));
    r->acc >>= n;
    r->nb -= n;
    return v;
}

typedef struct {
    uint32_t x;
    const uint8_t *p, *end;
} ransr;

/* Token of a slot: searched for a bucket of more than 2 tokens, flagged for an unused context. */
static inline __attribute__((always_inline)) unsigned find_slow(const nl_state *s, unsigned c, uint32_t slot, uint32_t *bad)
{
    if (s->unused[c]) {
        *bad |= 2;
        return 0;
    }
    unsigned t = 0;
    while (s->dC[c][t + 1] <= slot) t++;
    return t;
}

static inline __attribute__((always_inline)) unsigned find_sym(const nl_state *s, unsigned c, uint32_t slot, uint32_t *bad)
{
    const unsigned e = s->lut[c][slot >> LUT_SHIFT];
    if (__builtin_expect(e == 31, 0)) return find_slow(s, c, slot, bad);
    return (e & 31) + (((slot & 7) + (e >> 5)) >> 3);
}

/* Decodes one element from its neighbours; a damaged stream sets *bad (bit 0: a stream ends early,
 * bit 1: an unused context) and decoding goes on in bounds until the caller stops. */
static inline __attribute__((always_inline)) uint16_t
dec_one(const nl_state *s, const uint8_t *used, const nbhd *nb, uint32_t mask, ransr *r, bitr *b, int *bad)
{
    static const uint8_t k_zero[2] = {0, 0};
    uint32_t fp;
    int mirror;
    (void)used;
    const unsigned c = model(nb, mask, &fp, &mirror);
    uint32_t x = r->x, ub = 0;
    const uint32_t slot = x & (SCALE - 1);
    const unsigned tk = find_sym(s, c, slot, &ub);
    *bad |= (int)ub;
    x = s->dF[c][tk] * (x >> SCALE_BITS) + slot - s->dC[c][tk];
    /* renormalise without a branch; a missing word reads zeros and flags the stream */
    const uint32_t need = x < RANS_L, ok = r->end - r->p >= 2;
    const uint32_t word = sqz_rd16(ok ? r->p : k_zero);
    *bad |= need & !ok;
    r->p += (need & ok) << 1;
    r->x = (x << (need << 4)) | (word & (0u - need));
    uint32_t z = tk;
    if (__builtin_expect(tk >= 16, 0)) {
        const unsigned ex = 3 + (tk - 16) / 2;
        z = ((2u + ((tk - 16) & 1)) << ex) | br_get(b, ex, bad);
    }
    return (uint16_t)value_of(z, fp, mirror, mask);
}


/* ctab[f << 6 | g]: context << 6 for fraction f and activity sum g (<= 63); rtab[f << 4 | tk]:
 * residual of token tk < 16, mirrored for f > 8. */
static void make_small_tables(nl_state *s)
{
    for (unsigned f = 0; f < 16; f++)
        for (unsigned g = 0; g < 64; g++)
            s->ctab[f << 6 | g] = (uint16_t)(((f > 8 ? 16 - f : f) * NACT + act_class(g)) << 6);
    for (unsigned f = 0; f < 16; f++)
        for (int tk = 0; tk < 16; tk++) {
            const int32_t r = (tk & 1) ? -(tk + 1) / 2 : tk / 2;
            s->rtab[f << 4 | tk] = f > 8 ? 1 - r : r;
        }
}

/* One element from its clamped prediction sp (1/16 units) and activity sum gg (<= 63).
 * checked = 0: the caller made sure that the lane has 2 bytes for every element it decodes. */
static inline __attribute__((always_inline)) int32_t
dec_core(const nl_state *s, int32_t sp, uint32_t gg, uint32_t mask, uint32_t *xs, const uint8_t **ps, const uint8_t *end,
         bitr *b, uint32_t *bad, const int checked)
{
    static const uint8_t k_zero[2] = {0, 0};
    const uint32_t f = (uint32_t)sp & 15, fp = (uint32_t)sp >> 4;
    const unsigned c6 = s->ctab[f << 6 | gg];
    uint32_t x = *xs;
    const uint32_t slot = x & (SCALE - 1);
    const unsigned e = (&s->lut[0][0])[c6 * 8 + (slot >> LUT_SHIFT)];
    unsigned tk = (e & 31) + (((slot & 7) + (e >> 5)) >> 3);
    if (__builtin_expect(e == 31, 0)) tk = find_slow(s, c6 >> 6, slot, bad);
    x = (&s->dF[0][0])[c6 + tk] * (x >> SCALE_BITS) + slot - (&s->dC[0][0])[c6 + tk];
    const uint8_t *p = *ps;
    const uint32_t need = x < RANS_L;
    if (checked) {
        const uint32_t ok = end - p >= 2;
        const uint32_t word = sqz_rd16(ok ? p : k_zero);
        *bad |= need & !ok;
        *ps = p + ((need & ok) << 1);
        *xs = (x << (need << 4)) | (word & (0u - need));
    } else {
        const uint32_t word = sqz_rd16(p);
#if defined(__x86_64__) && defined(__GNUC__)
        uint32_t xn = (x << 16) | word, xo = x;
        __asm__("cmpl $65536, %1\n\tcmovb %2, %0" : "+r"(xo) : "r"(x), "r"(xn) : "cc");
        *xs = xo;
#else
        *xs = (x << (need << 4)) | (word & (0u - need));
#endif
        *ps = p + (need << 1);
    }
    if (__builtin_expect(tk < 16, 1)) return (int32_t)((fp + (uint32_t)s->rtab[f << 4 | tk]) & mask);
    const unsigned ex = 3 + (tk - 16) / 2;
    int bb = 0;
    const uint32_t z = ((2u + ((tk - 16) & 1)) << ex) | br_get(b, ex, &bb);
    *bad |= (uint32_t)bb;
    return (int32_t)value_of(z, fp, f > 8, mask);
}

/* One inner element from P, G, N (see nl_prep_row) and the two previous values w and ww. */
static inline __attribute__((always_inline)) int32_t
dec_fast(const nl_state *s, int32_t P, int32_t G, int32_t N, int32_t w, int32_t ww, int32_t pmax, uint32_t mask,
         uint32_t *xs, const uint8_t **ps, const uint8_t *end, bitr *b, uint32_t *bad, const int checked)
{
    int32_t sp = 6 * w + 3 * ww + P;
    /* clamping is rare: a predicted branch keeps it off the dependency chain */
    if (__builtin_expect((uint32_t)sp > (uint32_t)pmax, 0)) sp = sp < 0 ? 0 : pmax;
    uint32_t gg = (uint32_t)(G + abs(w - N) + abs(w - ww));
    gg = gg > 63 ? 63 : gg;
    return dec_core(s, sp, gg, mask, xs, ps, end, b, bad, checked);
}

/* A lane's decoder inside a row pair. */
typedef struct {
    uint32_t x;
    int32_t w, ww;               /* the last two values of the row */
    const uint8_t *p, *end;
    bitr *b;
} lane;

/* Row b's element x from row a (the row above, decoded to x + 2) and the row above that. */
static inline __attribute__((always_inline)) void pgn_at(const uint16_t *ua, const uint16_t *uua, uint64_t x, int32_t *P,
                                                         int32_t *G, int32_t *N)
{
    const int32_t n = ua[x], nw = ua[x - 1], ne = ua[x + 1], nee = ua[x + 2], nww = ua[x - 2], nn = uua[x];
    *P = 3 * (n + ne + nee) + nw - 2 * nn - nww;
    *G = abs(n - nw) + abs(n - ne) + abs(n - nn);
    *N = nw;
}

/* Elements x in [x0, x1) of row b and x + 3 of row a (vb = va + X), all inner; row a's P, G, N
 * precomputed (PA, GA, NA), row b's computed from row a as it is decoded. */
static inline __attribute__((always_inline)) void run_rows(const nl_state *s, uint16_t *va, const int32_t *PA,
                                                           const int32_t *GA, const int32_t *NA, uint64_t X, uint64_t x0,
                                                           uint64_t x1, lane *la, lane *lb, uint32_t *bad,
                                                           const uint32_t mask, const int checked)
{
    const int32_t pmax = (int32_t)(16 * mask);
    uint16_t *const vb = va + X;
    const uint16_t *const uua = va - X;
    uint32_t xa = la->x, xb = lb->x;
    const uint8_t *pa = la->p, *pb = lb->p;
    int32_t wa = la->w, wwa = la->ww, wb = lb->w, wwb = lb->ww;
    for (uint64_t x = x0; x < x1; x++) {
        const int32_t da = dec_fast(s, PA[x + 3], GA[x + 3], NA[x + 3], wa, wwa, pmax, mask, &xa, &pa, la->end, la->b, bad,
                                    checked);
        va[x + 3] = (uint16_t)da;
        wwa = wa; wa = da;
        int32_t P, G, N;
        pgn_at(va, uua, x, &P, &G, &N);
        const int32_t db = dec_fast(s, P, G, N, wb, wwb, pmax, mask, &xb, &pb, lb->end, lb->b, bad, checked);
        vb[x] = (uint16_t)db;
        wwb = wb; wb = db;
    }
    la->x = xa; la->p = pa; la->w = wa; la->ww = wwa;
    lb->x = xb; lb->p = pb; lb->w = wb; lb->ww = wwb;
}

#define RUN_CHUNK 64

static __attribute__((noinline)) void run_rows16(const nl_state *s, uint16_t *va, const int32_t *pre, uint64_t X,
                                                uint64_t x0, uint64_t x1, lane *la, lane *lb, uint32_t *bad)
{
    for (uint64_t x = x0; x < x1; x += RUN_CHUNK) {
        const uint64_t e = x1 - x < RUN_CHUNK ? x1 : x + RUN_CHUNK;
        if (la->end - la->p >= (int64_t)(2 * (e - x)) && lb->end - lb->p >= (int64_t)(2 * (e - x)))
            run_rows(s, va, pre, pre + X, pre + 2 * X, X, x, e, la, lb, bad, 0xFFFF, 0);
        else
            run_rows(s, va, pre, pre + X, pre + 2 * X, X, x, e, la, lb, bad, 0xFFFF, 1);
    }
}

static __attribute__((noinline)) void run_rows8(const nl_state *s, uint16_t *va, const int32_t *pre, uint64_t X,
                                               uint64_t x0, uint64_t x1, lane *la, lane *lb, uint32_t *bad)
{
    for (uint64_t x = x0; x < x1; x += RUN_CHUNK) {
        const uint64_t e = x1 - x < RUN_CHUNK ? x1 : x + RUN_CHUNK;
        if (la->end - la->p >= (int64_t)(2 * (e - x)) && lb->end - lb->p >= (int64_t)(2 * (e - x)))
            run_rows(s, va, pre, pre + X, pre + 2 * X, X, x, e, la, lb, bad, 0xFF, 0);
        else
            run_rows(s, va, pre, pre + X, pre + 2 * X, X, x, e, la, lb, bad, 0xFF, 1);
    }
}

/* Rows 0 and 1 of a plane (row 0 at block element k, rows in lanes ra and rb): row 0 has no row
 * above, so each of its neighbours but WW is W (s = 13W + 3WW, g = |W - WW|); row 1's NN is its N.
 * Row 1 runs three elements behind row 0. Same values as dec_one with neighbours(). */
static __attribute__((noinline)) void dec_rows01(const nl_state *s, uint16_t *v, uint64_t k, uint64_t X,
                                                 const uint32_t mask, ransr *ra, bitr *ba, ransr *rb, bitr *bb, int *bad)
{
    uint16_t *const a = v + k, *const b = a + X;
    const int32_t pmax = (int32_t)(16 * mask), w0 = k ? v[k - 1] : 0;
    uint32_t flags = 0;
    for (uint64_t t = 0; t < X + 3; t++) {
        if (t < X) {
            const int32_t W = t ? a[t - 1] : w0, WW = t >= 2 ? a[t - 2] : W;
            const int32_t sp = 13 * W + 3 * WW;
            const uint32_t gg = (uint32_t)abs(W - WW);
            a[t] = (uint16_t)dec_core(s, sp > pmax ? pmax : sp, gg > 63 ? 63 : gg, mask, &ra->x, &ra->p, ra->end, ba,
                                      &flags, 1);
        }
        if (t >= 3) {
            const uint64_t x = t - 3;
            const int32_t N = a[x], NW = x ? a[x - 1] : N, NE = x + 1 < X ? a[x + 1] : N;
            const int32_t NWW = x >= 2 ? a[x - 2] : NW, NEE = x + 2 < X ? a[x + 2] : NE;
            const int32_t W = x ? b[x - 1] : N, WW = x >= 2 ? b[x - 2] : W;
            b[x] = (uint16_t)dec_fast(s, N + NW + 3 * NE + 3 * NEE - NWW, abs(N - NW) + abs(N - NE), NW, W, WW, pmax, mask,
                                      &rb->x, &rb->p, rb->end, bb, &flags, 1);
        }
    }
    *bad |= (int)flags;
}

/* One element of a lane through dec_one (edges). */
static inline __attribute__((always_inline)) void lane_one(const nl_state *s, const uint8_t *used, uint16_t *v, uint64_t k,
                                                           uint64_t x, uint64_t y, const geo *g, uint32_t mask, lane *l, int *bad)
{
    ransr r = {l->x, l->p, l->end};
    const nbhd nb = neighbours(v, k + x, x, y, g);
    const uint16_t d = dec_one(s, used, &nb, mask, &r, l->b, bad);
    v[k + x] = d;
    l->x = r.x;
    l->p = r.p;
    l->ww = l->w;
    l->w = d;
}

/* Rows y (lane ra) and y + 1 (lane rb) of a plane, y >= 2, row y starting at block element k, X >= 32:
 * two dependency chains at once, the second row three elements behind. */
static inline __attribute__((always_inline)) void
dec_pair(nl_state *s, const uint8_t *used, uint16_t *v, uint64_t k, uint64_t y, const geo *g, const uint32_t mask,
         ransr *ra, bitr *ba, ransr *rb, bitr *bb, int *bad)
{
    const uint64_t X = g->X;
    uint16_t *const va = v + k, *const vb = va + X;
    int32_t *const pre = s->pre;
    uint32_t flags = 0;
#ifdef SQZ_HAVE_AVX2
    if (sqz_simd_get() >= SQZ_SIMD_AVX2) sqz_nlcode_prep_row_avx2(va, X, 2, X - 2, pre, pre + X, pre + 2 * X);
    else nl_prep_row(va, X, 2, X - 2, pre, pre + X, pre + 2 * X);
#else
    nl_prep_row(va, X, 2, X - 2, pre, pre + X, pre + 2 * X);
#endif
    lane la = {ra->x, 0, 0, ra->p, ra->end, ba}, lb = {rb->x, 0, 0, rb->p, rb->end, bb};
    const int32_t pmax = (int32_t)(16 * mask);
    for (uint64_t x = 0; x < 2; x++) lane_one(s, used, v, k, x, y, g, mask, &la, bad);
    for (uint64_t x = 2; x < 5; x++) {
        const int32_t d = dec_fast(s, pre[x], pre[X + x], pre[2 * X + x], la.w, la.ww, pmax, mask, &la.x, &la.p, la.end,
                                   la.b, &flags, 1);
        va[x] = (uint16_t)d;
        la.ww = la.w;
        la.w = d;
        if (x >= 3) lane_one(s, used, v, k + X, x - 3, y + 1, g, mask, &lb, bad);
    }
    (mask == 0xFF ? run_rows8 : run_rows16)(s, va, pre, X, 2, X - 5, &la, &lb, &flags);
    for (uint64_t x = X - 5; x < X; x++) {
        if (x + 3 < X) lane_one(s, used, v, k, x + 3, y, g, mask, &la, bad);
        if (x + 2 < X) {
            int32_t P, G, N;
            pgn_at(va, va - X, x, &P, &G, &N);
            const int32_t d = dec_fast(s, P, G, N, lb.w, lb.ww, pmax, mask, &lb.x, &lb.p, lb.end, lb.b, &flags, 1);
            vb[x] = (uint16_t)d;
            lb.ww = lb.w;
            lb.w = d;
        } else {
            lane_one(s, used, v, k + X, x, y + 1, g, mask, &lb, bad);
        }
    }
    ra->x = la.x; ra->p = la.p;
    rb->x = lb.x; rb->p = lb.p;
    *bad |= (int)flags;
}

static __attribute__((noinline)) void dec_pair16(nl_state *s, const uint8_t *used, uint16_t *v, uint64_t k, uint64_t y,
                                                const geo *g, ransr *ra, bitr *ba, ransr *rb, bitr *bb, int *bad)
{
    dec_pair(s, used, v, k, y, g, 0xFFFF, ra, ba, rb, bb, bad);
}

static __attribute__((noinline)) void dec_pair8(nl_state *s, const uint8_t *used, uint16_t *v, uint64_t k, uint64_t y,
                                               const geo *g, ransr *ra, bitr *ba, ransr *rb, bitr *bb, int *bad)
{
    dec_pair(s, used, v, k, y, g, 0xFF, ra, ba, rb, bb, bad);
}

/* ---- nlcode16: 16 rows at once (nlcode_avx2.c) ---- */

typedef struct {
    const nl_state *s;
    uint32_t mask;
} wave_arg;

/* Bit reader of a stream at `start` after `used` bits (br_get keeps fewer than 8 bits buffered). */
static bitr bits_at(const uint8_t *start, const uint8_t *end, int64_t used)
{
    bitr b = {start + (used + 7) / 8, end, 0, (unsigned)((8 - used % 8) % 8)};
    if (b.nb) b.acc = b.p[-1] >> (8 - b.nb);
    return b;
}

static int32_t wave_slow(nl_wave *w, unsigned j, int32_t sp, uint32_t gg)
{
    const wave_arg *a = w->arg;
    uint32_t x = w->x[j], bad = 0;
    const uint8_t *p = w->base + w->p[j], *const bstart = w->base + w->bs[j];
    bitr b = bits_at(bstart, bstart + w->bl[j] / 8, w->bc[j]);
    const int32_t d = dec_core(a->s, sp, gg, a->mask, &x, &p, w->base + w->end[j], &b, &bad, 1);
    w->x[j] = x;
    w->p[j] = (int32_t)(p - w->base);
    w->bc[j] = (int32_t)((b.p - bstart) * 8 - b.nb);
    w->bad |= bad;
    return d;
}

/* `rows` rows of a plane from row y0 (v: row y0; its first row in lane `lane0`), y0 = 0 (first;
 * w0: the element before the plane, or 0) or y0 >= 2; bstart: where each lane's extra-bit stream
 * starts. */
static void wave_group(nl_state *s, const uint8_t *in, size_t n, uint16_t *v, uint64_t X, uint64_t rows, unsigned lane0,
                       int first, uint16_t w0, uint32_t mask, ransr *rr, bitr *br, const uint8_t *const *bstart,
                       int *narrow, int *bad)
{
#ifdef SQZ_HAVE_AVX2
    nl_wave w = {.lut32 = &s->lut32[0][0], .ovf = &s->ovf[0][0], .fc = &s->fc[0][0], .base = in, .n = (int32_t)n,
                 .slow = wave_slow, .scratch = s->wave, .narrow = *narrow, .first = first, .w0 = w0};
    wave_arg a = {s, mask};
    w.arg = &a;
    for (unsigned j = 0; j < 16; j++) {
        const unsigned l = (lane0 + j) % 16;
        w.x[j] = rr[l].x;
        w.p[j] = (int32_t)(rr[l].p - in);
        w.end[j] = (int32_t)(rr[l].end - in);
        w.bs[j] = (int32_t)(bstart[l] - in);
        w.bl[j] = (int32_t)(8 * (br[l].end - bstart[l]));
        w.bc[j] = (int32_t)(8 * (br[l].p - bstart[l]) - br[l].nb);
    }
#ifdef SQZ_HAVE_AVX512
    if (sqz_simd_get() >= SQZ_SIMD_AVX512) sqz_nlcode_wave16_avx512(&w, v, X, rows, mask);
    else
#endif
        sqz_nlcode_wave16_avx2(&w, v, X, rows, mask);
    for (unsigned j = 0; j < 16; j++) {
        const unsigned l = (lane0 + j) % 16;
        rr[l].x = w.x[j];
        rr[l].p = in + w.p[j];
        br[l] = bits_at(bstart[l], br[l].end, w.bc[j]);
    }
    *bad |= (int)w.bad;
    *narrow = w.narrow;
#else
    (void)s; (void)in; (void)n; (void)v; (void)X; (void)rows; (void)lane0; (void)first; (void)w0; (void)mask; (void)rr;
    (void)br; (void)bstart; (void)narrow;
    *bad |= 4;
#endif
}

static int64_t nl_decode_sink(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                              void *dst, size_t dst_size, void **state, sqz_sink *sink)
{
    const unsigned nl = lanes(ctx);
    const size_t es = sqz_dtype_size(ctx->dtype);
    SQZ_RETURN_IF(dst_size % es, SQZ_ERR_CORRUPT_DATA, "nlcode: block of %zu bytes", dst_size);
    const uint64_t ne = dst_size / es;
    nl_state *s = get_state(state, ne ? ne : 1);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "nlcode buffers");
    const unsigned ntok_max = es == 1 ? 24 : NTOK;
    const uint32_t mask = es == 1 ? 0xFF : 0xFFFF;
    const geo g = geometry(ctx);
    const uint8_t *in = src, *const end = in + n;
    SQZ_RETURN_IF(n < NCTX, SQZ_ERR_CORRUPT_DATA, "nlcode: block of %zu bytes is too short", n);
    const uint8_t *p = in + NCTX;
    unsigned n_ovf = 0;
    if (nl == 16) memset(s->ovf[0], 0, sizeof s->ovf[0]);
    for (unsigned c = 0; c < NCTX; c++) {
        const unsigned ntok = in[c];
        s->unused[c] = ntok ? 0 : 2;
        if (!ntok) {
            memset(s->lut[c], 31, sizeof s->lut[c]);
            for (unsigned bk = 0; bk < (SCALE >> LUT_SHIFT); bk++) s->lut32[c][bk] = 0x80000000u;
            continue;
        }
        SQZ_RETURN_IF(ntok > ntok_max, SQZ_ERR_CORRUPT_DATA, "nlcode: context %u has %u tokens", c, ntok);
        uint32_t cum = 0;
        for (unsigned t = 0; t < ntok; t++) {
            SQZ_RETURN_IF(p >= end, SQZ_ERR_CORRUPT_DATA, "nlcode: tables truncated");
            uint32_t f = *p++;
            if (f & 0x80) {
                SQZ_RETURN_IF(p >= end, SQZ_ERR_CORRUPT_DATA, "nlcode: tables truncated");
                f = ((f & 0x7F) << 8) | *p++;
                SQZ_RETURN_IF(f < 128, SQZ_ERR_CORRUPT_DATA, "nlcode: frequency %u in two bytes", f);
            }
            SQZ_RETURN_IF(f > SCALE - cum, SQZ_ERR_CORRUPT_DATA, "nlcode: context %u frequencies exceed %u", c, SCALE);
            SQZ_RETURN_IF(t + 1 == ntok && !f, SQZ_ERR_CORRUPT_DATA, "nlcode: context %u last token absent", c);
            s->dF[c][t] = (uint16_t)f;
            s->dC[c][t] = (uint16_t)cum;
            cum += f;
        }
        SQZ_RETURN_IF(cum != SCALE, SQZ_ERR_CORRUPT_DATA, "nlcode: context %u frequencies sum to %u", c, cum);
        const uint16_t *cm = s->dC[c];
        s->dC[c][ntok] = SCALE;
        if (nl == 16)
            for (unsigned t = 0; t < ntok; t++) s->fc[c][t] = s->dF[c][t] | (uint32_t)s->dC[c][t] << 16;
        for (unsigned bk = 0, t = 0; bk < (SCALE >> LUT_SHIFT);) {
            const uint32_t lo = bk << LUT_SHIFT, hi = lo + (1u << LUT_SHIFT) - 1;
            while (cm[t + 1] <= lo) t++;
            /* residual of tokens < 16 (zigzag, 4 bits), or the escape flag */
            const uint32_t code = t < 16 ? (uint32_t)((t & 1) ? -(int32_t)(t + 1) / 2 : (int32_t)t / 2) & 15
                                         : 1u << 5 | (t - 16);
            const unsigned whole_end = cm[t + 1] >> LUT_SHIFT;  /* buckets [bk, whole_end) lie in token t */
            if (whole_end > bk) {
                memset(&s->lut[c][bk], t >= 31 ? 31 : (int)t, whole_end - bk);
                if (nl == 16) {
                    const uint32_t e = s->dF[c][t] | (uint32_t)cm[t] << 13 | code << 25;
                    for (unsigned b = bk; b < whole_end; b++) s->lut32[c][b] = e;
                }
                bk = whole_end;
                continue;
            }
            unsigned t2 = t;
            while (cm[t2 + 1] <= hi) t2++;
            /* t2 == t + 1: token t + 1 starts at slot cm[t + 1] of the bucket */
            s->lut[c][bk] = (uint8_t)(t >= 31 || t2 > t + 1 ? 31 : t | ((8 - (cm[t2] - lo)) << 5));
            if (nl == 16) {
                s->lut32[c][bk] = 0x80000000u | ++n_ovf;
                for (unsigned i = 0, tt = t; i < 8; i++) {
                    while (cm[tt + 1] <= lo + i) tt++;
                    s->ovf[n_ovf][i] = (uint8_t)tt;
                }
            }
            bk++;
        }
    }
    const size_t sizes_bytes = 4 * (2 * (size_t)nl - 1);
    SQZ_RETURN_IF((size_t)(end - p) < sizes_bytes, SQZ_ERR_CORRUPT_DATA, "nlcode: sizes truncated");
    const size_t left = (size_t)(end - p) - sizes_bytes;
    uint32_t rsz[MAX_LANES], bsz[MAX_LANES];
    size_t used = 0;
    for (unsigned l = 0; l < 2 * nl - 1; l++) {
        const uint32_t z = sqz_rd32(p + 4 * l);
        SQZ_RETURN_IF(z > left - used, SQZ_ERR_CORRUPT_DATA, "nlcode: stream sizes exceed the block's %zu bytes", left);
        used += z;
        if (l < nl) rsz[l] = z;
        else bsz[l - nl] = z;
    }
    bsz[nl - 1] = (uint32_t)(left - used);
    p += sizes_bytes;
    uint64_t lane_n[MAX_LANES];
    count_lanes(blk, ne, g.X, nl, lane_n);
    ransr rr[MAX_LANES];
    bitr br[MAX_LANES];
    const uint8_t *q = p;
    for (unsigned l = 0; l < nl; l++) {
        SQZ_RETURN_IF(lane_n[l] ? rsz[l] < 4 || (rsz[l] - 4) % 2 : rsz[l] != 0, SQZ_ERR_CORRUPT_DATA,
                      "nlcode: lane %u rANS stream of %u bytes", l, rsz[l]);
        rr[l].x = lane_n[l] ? sqz_rd32(q) : RANS_L;
        rr[l].p = lane_n[l] ? q + 4 : q;
        rr[l].end = q + rsz[l];
        SQZ_RETURN_IF(rr[l].x < RANS_L, SQZ_ERR_CORRUPT_DATA, "nlcode: lane %u rANS state", l);
        q += rsz[l];
    }
    const uint8_t *bstart[MAX_LANES];
    for (unsigned l = 0; l < nl; l++) {
        br[l] = (bitr){q, q + bsz[l], 0, 0};
        bstart[l] = q;
        q += bsz[l];
    }
    uint16_t *v = es == 1 ? s->wide : dst;
    make_small_tables(s);
    if (g.Y && g.X >= 32 && s->pre_cap < g.X) {
        free(s->pre);
        s->pre = malloc(3 * g.X * sizeof *s->pre);
        s->pre_cap = s->pre ? g.X : 0;
        SQZ_RETURN_IF(!s->pre, SQZ_ERR_OUT_OF_MEMORY, "nlcode buffers");
    }
    const int wave = nl == 16 && g.Y >= 10 && g.X >= 8 && n < ((size_t)1 << 28) && avx2_in_use();
    if (wave && s->wave_cap < g.X) {
        free(s->wave);
        s->wave = malloc(nl_wave_scratch_bytes(g.X));
        s->wave_cap = s->wave ? g.X : 0;
        SQZ_RETURN_IF(!s->wave, SQZ_ERR_OUT_OF_MEMORY, "nlcode buffers");
    }
    int bad = 0, narrow = 1;
    const uint64_t X = g.X;
    uint64_t put = 0;  /* elements handed to sink: nothing reads them again */
    /* rows per wavefront call (whole rounds of 16), so that the sink sees them in cache */
    const uint64_t sink_rows = SINK_BYTES / (32 * X) > 1 ? SINK_BYTES / (32 * X) * 16 : 16;
    for (uint64_t k = 0; k < ne && !bad;) {
        const uint64_t i = blk->first_elem + k, x0 = i % X, row = i / X;
        const uint64_t len = X - x0 < ne - k ? X - x0 : ne - k, y = g.Y ? row % g.Y : 0;
        /* a plane reads one element of the one before; other rows, two rows back */
        const uint64_t final = x0 == 0 && y == 0 && k ? k - 1 : k > 2 * X + 2 ? k - 2 * X - 2 : 0;
        if (sink && es == 2 && final >= put + SINK_MIN) {
            const int rc = sink->put(sink, put * 2, (final - put) * 2);
            if (rc < 0) return rc;
            put = final;
        }
        /* the rows left in the plane and block; a last round of 1 or 2 rows (most lanes idle) costs
         * more in the wavefront than in the scalar code (docs/DESIGN.md, session 9) */
        uint64_t run = g.Y - y < (ne - k) / X ? g.Y - y : (ne - k) / X;
        if (run > 16 && run % 16 < 3) run -= run % 16;
        if (sink && es == 2 && run > sink_rows + 16) run = sink_rows;
        if (wave && x0 == 0 && (y == 0 || (y >= 2 && k >= 2 * X)) && run >= 8) {
            wave_group(s, in, n, v + k, X, run, (unsigned)(row % 16), y == 0, k ? v[k - 1] : 0, mask, rr, br, bstart,
                       &narrow, &bad);
            k += run * X;
            continue;
        }
        ransr *r = &rr[row % nl];
        bitr *b = &br[row % nl];
        ransr *r1 = &rr[(row + 1) % nl];
        bitr *b1 = &br[(row + 1) % nl];
        if (x0 == 0 && g.Y && y >= 2 && y + 1 < g.Y && k >= 2 * X && ne - k >= 2 * X && X >= 32 && s->pre) {
            (es == 1 ? dec_pair8 : dec_pair16)(s, in, v, k, y, &g, r, b, r1, b1, &bad);
            k += 2 * X;
            continue;
        }
        if (x0 == 0 && g.Y && y == 0 && g.Y >= 2 && ne - k >= 2 * X) {
            dec_rows01(s, v, k, X, mask, r, b, r1, b1, &bad);
            k += 2 * X;
            continue;
        }
        if (x0 == 0 && g.Y && (y >= 2 ? k >= 2 * X : y == 0) && y + 1 < g.Y && ne - k >= 2 * X && X >= 5) {
            /* two rows at once (in two lanes), the second three elements behind; the first two
             * rows of a plane with all neighbours substituted */
            const uint64_t k1 = k + X;
            const int deep = y >= 2;
            for (uint64_t x = 0; x < 3; x++) {
                const nbhd nb = deep && x == 2 ? neighbours_inner(v, k + 2, X) : neighbours(v, k + x, x, y, &g);
                v[k + x] = dec_one(s, in, &nb, mask, r, b, &bad);
            }
            for (uint64_t x = 0; x < X; x++) {
                const uint64_t xa = x + 3;
                if (xa < X) {
                    const nbhd nb = deep && xa + 2 < X ? neighbours_inner(v, k + xa, X) : neighbours(v, k + xa, xa, y, &g);
                    v[k + xa] = dec_one(s, in, &nb, mask, r, b, &bad);
                }
                const nbhd nb = deep && x >= 2 && x + 2 < X ? neighbours_inner(v, k1 + x, X)
                                                             : neighbours(v, k1 + x, x, y + 1, &g);
                v[k1 + x] = dec_one(s, in, &nb, mask, r1, b1, &bad);
            }
            k += 2 * X;
            continue;
        }
        const int inner = x0 == 0 && len == X && g.Y && y >= 2 && k >= 2 * X && X >= 5;
        for (uint64_t t = 0; t < len; t++, k++) {
            const nbhd nb = inner && t >= 2 && t + 2 < len ? neighbours_inner(v, k, X) : neighbours(v, k, x0 + t, y, &g);
            v[k] = dec_one(s, in, &nb, mask, r, b, &bad);
        }
    }
    SQZ_RETURN_IF(bad & 2, SQZ_ERR_CORRUPT_DATA, "nlcode: element in an unused context");
    SQZ_RETURN_IF(bad, SQZ_ERR_CORRUPT_DATA, "nlcode: a stream ends early");
    for (unsigned l = 0; l < nl; l++) {
        SQZ_RETURN_IF(rr[l].x != RANS_L || rr[l].p != rr[l].end, SQZ_ERR_CORRUPT_DATA,
                      "nlcode: lane %u rANS stream does not end where the block does", l);
        SQZ_RETURN_IF(br[l].p != br[l].end || br[l].nb >= 8 || br[l].acc, SQZ_ERR_CORRUPT_DATA,
                      "nlcode: lane %u extra bits left over or padding not zero", l);
    }
    if (es == 1)
        for (uint64_t k = 0; k < ne; k++) ((uint8_t *)dst)[k] = (uint8_t)s->wide[k];
    return (int64_t)dst_size;
}

static int64_t nl_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t dst_size, void **state)
{
    return nl_decode_sink(ctx, blk, src, n, dst, dst_size, state, NULL);
}

static int nl_check(const sqz_stage_ctx *ctx)
{
    SQZ_RETURN_IF(ctx->dtype != SQZ_UINT16 && ctx->dtype != SQZ_INT16 && ctx->dtype != SQZ_UINT8,
                  SQZ_ERR_UNSUPPORTED_DTYPE, "nlcode codes uint16, int16 (as uint16) or uint8");
    return 0;
}

/* Whole rows of about 2 MiB. */
static uint64_t nl_block_elems(const sqz_stage_ctx *ctx, uint64_t n_elems, uint32_t block_bytes)
{
    (void)n_elems;
    if (ctx->ndim < 1) return 0;
    const uint64_t X = ctx->shape[ctx->ndim - 1];
    const uint64_t target = (block_bytes ? block_bytes : DEFAULT_BYTES) / sqz_dtype_size(ctx->dtype);
    if (!X) return 0;
    const uint64_t rows = (target + X / 2) / X;
    return (rows ? rows : 1) * X;
}

const sqz_stage sqz_stage_nlcode = {
    .id = 41, .name = "nlcode", .kind = SQZ_STAGE_CODEC,
    .doc = "8-tap predictor in 1/16 units + 108 contexts (fraction, activity) + rANS in 2 lanes, for wnl level indices",
    .check = nl_check, .encode = nl_encode, .decode = nl_decode, .release = nl_release,
    .block_elems = nl_block_elems, .decode_sink = nl_decode_sink,
};

const sqz_stage sqz_stage_nlcode16 = {
    .id = 42, .name = "nlcode16", .kind = SQZ_STAGE_CODEC,
    .doc = "nlcode with 16 rANS lanes (row mod 16), decoded 16 rows at once with AVX2",
    .check = nl_check, .encode = nl_encode, .decode = nl_decode, .release = nl_release,
    .block_elems = nl_block_elems, .decode_sink = nl_decode_sink,
};
