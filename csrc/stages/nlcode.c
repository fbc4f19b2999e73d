/* nlcode: codec for wnl level indices (and any uint8/uint16 data, losslessly). A fused
 * predictor + context model + rANS: each element is predicted in 1/16 units from 8 causal
 * neighbours; the residual from the prediction's floor (mirrored when the fraction is above
 * 1/2) is coded with one of 108 per-block frequency tables chosen by the
 * prediction's fraction and the local activity. Large residuals are coded as a magnitude class
 * plus raw extra bits (the escape). Two lanes (even and odd rows), each with its own rANS
 * state and extra-bit stream. Integer arithmetic only. Bytes: docs/FORMAT.md, "nlcode". */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/error.h"
#include "stage.h"

#define NFRAC 9                 /* fraction classes 0/16 .. 8/16 (9/16..15/16 mirrored) */
#define NACT 12                 /* activity classes */
#define NCTX (NFRAC * NACT)
#define NTOK 40                 /* tokens for 16-bit residuals (24 for 8-bit) */
#define SCALE_BITS 12
#define SCALE (1u << SCALE_BITS)
#define RANS_L (1u << 16)       /* state lower bound; 16-bit renormalisation */
#define DEFAULT_BYTES (4u << 20)

typedef struct {
    uint8_t *ctx, *tok;          /* encoder: per element */
    uint16_t *wide;              /* uint8 data widened to uint16 */
    uint8_t *bits[2];            /* encoder: extra-bit streams per lane */
    uint8_t *rans;               /* encoder: rANS words, written downwards */
    size_t cap;
    uint32_t count[2][NCTX][NTOK];  /* encoder: even and odd elements (merged into [0]) */
    uint16_t freq[NCTX][NTOK], cum[NCTX][NTOK];
    uint64_t rcp[NCTX][NTOK];    /* encoder: ceil(2^44 / freq), for exact division */
    uint8_t lut[NCTX][SCALE];    /* decoder: slot -> token */
} nl_state;

static void free_state(void *p)
{
    nl_state *s = p;
    if (!s) return;
    free(s->ctx); free(s->tok); free(s->wide); free(s->bits[0]); free(s->bits[1]); free(s->rans); free(s);
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
        free(s->ctx); free(s->tok); free(s->wide); free(s->bits[0]); free(s->bits[1]); free(s->rans);
        s->ctx = malloc(n_elems);
        s->tok = malloc(n_elems);
        s->wide = malloc(2 * n_elems);
        s->bits[0] = malloc(2 * n_elems + 16);
        s->bits[1] = malloc(2 * n_elems + 16);
        s->rans = malloc(2 * n_elems + 32);
        s->cap = n_elems;
        if (!s->ctx || !s->tok || !s->wide || !s->bits[0] || !s->bits[1] || !s->rans) {
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

static void normalise(const uint32_t *count, unsigned ntok, uint16_t *freq)
{
    uint64_t total = 0;
    for (unsigned t = 0; t < ntok; t++) total += count[t];
    uint32_t sum = 0;
    unsigned big = 0;
    for (unsigned t = 0; t < ntok; t++) {
        uint32_t f = (uint32_t)((uint64_t)count[t] * SCALE / total);
        if (count[t] && !f) f = 1;
        freq[t] = (uint16_t)f;
        sum += f;
        if (f > freq[big]) big = t;
    }
    freq[big] = (uint16_t)(freq[big] + (int32_t)(SCALE - sum));
}

/* A lane's elements in reverse: [stop, k) is the rest of the current row segment. */
typedef struct {
    uint64_t k, stop;
} rcur;

/* Moves to the lane's previous row segment when the current one is done; 0 when none is left. */
static inline int rcur_next(rcur *c, int lane, uint64_t first, uint64_t X)
{
    while (c->k == c->stop) {
        if (!c->k) return 0;
        const uint64_t i = first + c->k - 1, x = i % X, len = x + 1 < c->k ? x + 1 : c->k;
        if ((int)((i / X) & 1) == lane) c->stop = c->k - len;
        else c->k = c->stop = c->k - len;
    }
    return 1;
}

static inline void rans_put(const nl_state *s, const uint8_t *cx, const uint8_t *tok, uint64_t k, uint32_t *xp, uint8_t **pp)
{
    const unsigned c = cx[k], tk = tok[k];
    const uint32_t f = s->freq[c][tk];
    uint32_t x = *xp;
    if ((uint64_t)x >= ((uint64_t)f << (32 - SCALE_BITS))) {
        *pp -= 2;
        sqz_wr16(*pp, (uint16_t)x);
        x >>= 16;
    }
    /* x / f, exactly: x < 2^32, f <= 2^12, rcp = ceil(2^44 / f) */
    const uint32_t qt = (uint32_t)(((unsigned __int128)x * s->rcp[c][tk]) >> 44);
    *xp = (qt << SCALE_BITS) + (x - qt * f) + s->cum[c][tk];
}

static int64_t nl_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t cap, void **state)
{
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
    bitw bw[2] = {{s->bits[0], 0, 0}, {s->bits[1], 0, 0}};
    uint64_t lane_n[2] = {0, 0};
    uint8_t *const cx = s->ctx, *const tok = s->tok;
    uint32_t (*const count)[NCTX][NTOK] = s->count;
    /* pass 1: contexts, tokens, extra bits */
    for (uint64_t k = 0; k < ne;) {
        const uint64_t i = blk->first_elem + k, x0 = i % g.X, row = i / g.X;
        const uint64_t len = g.X - x0 < ne - k ? g.X - x0 : ne - k, y = g.Y ? row % g.Y : 0;
        bitw *w = &bw[row & 1];
        lane_n[row & 1] += len;
        const int inner = x0 == 0 && len == g.X && g.Y && y >= 2 && k >= 2 * g.X && g.X >= 5;
        for (uint64_t t = 0; t < len; t++, k++) {
            const nbhd b = inner && t >= 2 && t + 2 < len ? neighbours_inner(v, k, g.X) : neighbours(v, k, x0 + t, y, &g);
            uint32_t fp;
            int mirror;
            const unsigned c = model(&b, mask, &fp, &mirror);
            const uint32_t z = residual_zig(v[k], fp, mirror, mask, bits);
            unsigned ex;
            const unsigned tk = token_of(z, &ex);
            if (ex) bw_put(w, z & ((1u << ex) - 1), ex);
            cx[k] = (uint8_t)c;
            tok[k] = (uint8_t)tk;
            count[k & 1][c][tk]++;
        }
    }
    for (unsigned c = 0; c < NCTX; c++)
        for (unsigned t = 0; t < NTOK; t++) count[0][c][t] += count[1][c][t];
    size_t bits_size[2];
    for (int l = 0; l < 2; l++) {
        if (bw[l].nb) { *bw[l].p++ = (uint8_t)bw[l].acc; bw[l].nb = 0; }
        bits_size[l] = (size_t)(bw[l].p - s->bits[l]);
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
            s->cum[c][t] = (uint16_t)cum;
            s->rcp[c][t] = f ? (((uint64_t)1 << 44) + f - 1) / f : 0;
            cum += f;
            if (f < 128) *o++ = (uint8_t)f;
            else { *o++ = (uint8_t)(0x80 | (f >> 8)); *o++ = (uint8_t)f; }
        }
    }
    SQZ_RETURN_IF((size_t)(end - o) < 12, SQZ_ERR_DST_TOO_SMALL, "nlcode");
    uint8_t *sizes = o;
    o += 12;
    /* pass 2: rANS, both lanes at once, symbols in reverse order, words written downwards
     * (lane 0 below 2*lane_n[0]+16 bytes of the scratch buffer, lane 1 above) */
    uint8_t *top[2] = {s->rans + 2 * lane_n[0] + 16, s->rans + 2 * ne + 32};
    uint8_t *pw[2] = {top[0], top[1]};
    uint32_t xs[2] = {RANS_L, RANS_L};
    rcur cur[2] = {{ne, ne}, {ne, ne}};
    for (;;) {
        const int more0 = rcur_next(&cur[0], 0, blk->first_elem, g.X), more1 = rcur_next(&cur[1], 1, blk->first_elem, g.X);
        if (!more0 && !more1) break;
        if (more0 && more1) {
            const uint64_t n0 = cur[0].k - cur[0].stop, n1 = cur[1].k - cur[1].stop, m = n0 < n1 ? n0 : n1;
            for (uint64_t j = 0; j < m; j++) {
                rans_put(s, cx, tok, --cur[0].k, &xs[0], &pw[0]);
                rans_put(s, cx, tok, --cur[1].k, &xs[1], &pw[1]);
            }
        } else {
            rcur *cu = &cur[more0 ? 0 : 1];
            const int l = more0 ? 0 : 1;
            while (cu->k > cu->stop) rans_put(s, cx, tok, --cu->k, &xs[l], &pw[l]);
        }
    }
    for (int l = 0; l < 2; l++) {
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
    sqz_wr32(sizes + 8, (uint32_t)bits_size[0]);
    for (int l = 0; l < 2; l++) {
        SQZ_RETURN_IF((size_t)(end - o) < bits_size[l], SQZ_ERR_DST_TOO_SMALL, "nlcode");
        memcpy(o, s->bits[l], bits_size[l]);
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
    if (r->nb < n) { *bad = 1; return 0; }
    const uint32_t v = (uint32_t)(r->acc & ((1u << n) - 1));
    r->acc >>= n;
    r->nb -= n;
    return v;
}

typedef struct {
    uint32_t x;
    const uint8_t *p, *end;
} ransr;

/* Decodes one element from its neighbours; a damaged stream sets *bad (1: a stream ends early,
 * 2: an unused context) and decoding goes on in bounds until the caller stops. */
static inline __attribute__((always_inline)) uint16_t
dec_one(const nl_state *s, const uint8_t *used, const nbhd *nb, uint32_t mask, ransr *r, bitr *b, int *bad)
{
    uint32_t fp;
    int mirror;
    const unsigned c = model(nb, mask, &fp, &mirror);
    if (!used[c]) *bad = 2;
    const uint32_t slot = r->x & (SCALE - 1);
    const unsigned tk = s->lut[c][slot];
    r->x = s->freq[c][tk] * (r->x >> SCALE_BITS) + slot - s->cum[c][tk];
    if (r->x < RANS_L) {
        if (r->end - r->p < 2) *bad = 1;
        else { r->x = (r->x << 16) | sqz_rd16(r->p); r->p += 2; }
    }
    uint32_t z = tk;
    if (tk >= 16) {
        const unsigned ex = 3 + (tk - 16) / 2;
        z = ((2u + ((tk - 16) & 1)) << ex) | br_get(b, ex, bad);
    }
    return (uint16_t)value_of(z, fp, mirror, mask);
}

static int64_t nl_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t dst_size, void **state)
{
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
    for (unsigned c = 0; c < NCTX; c++) {
        const unsigned ntok = in[c];
        if (!ntok) continue;
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
            s->freq[c][t] = (uint16_t)f;
            s->cum[c][t] = (uint16_t)cum;
            memset(s->lut[c] + cum, (int)t, f);
            cum += f;
        }
        SQZ_RETURN_IF(cum != SCALE, SQZ_ERR_CORRUPT_DATA, "nlcode: context %u frequencies sum to %u", c, cum);
    }
    SQZ_RETURN_IF((size_t)(end - p) < 12, SQZ_ERR_CORRUPT_DATA, "nlcode: sizes truncated");
    const uint32_t rs0 = sqz_rd32(p), rs1 = sqz_rd32(p + 4), bs0 = sqz_rd32(p + 8);
    p += 12;
    const size_t left = (size_t)(end - p);
    SQZ_RETURN_IF(rs0 > left || rs1 > left - rs0 || bs0 > left - rs0 - rs1, SQZ_ERR_CORRUPT_DATA,
                  "nlcode: stream sizes %u+%u+%u exceed the block's %zu bytes", rs0, rs1, bs0, left);
    uint64_t lane_n[2] = {0, 0};
    for (uint64_t k = 0; k < ne;) {
        const uint64_t i = blk->first_elem + k, x0 = i % g.X, len = g.X - x0 < ne - k ? g.X - x0 : ne - k;
        lane_n[(i / g.X) & 1] += len;
        k += len;
    }
    ransr rr[2];
    bitr br[2];
    const uint32_t rsz[2] = {rs0, rs1};
    const uint8_t *q = p;
    for (int l = 0; l < 2; l++) {
        SQZ_RETURN_IF(lane_n[l] ? rsz[l] < 4 || (rsz[l] - 4) % 2 : rsz[l] != 0, SQZ_ERR_CORRUPT_DATA,
                      "nlcode: lane %d rANS stream of %u bytes", l, rsz[l]);
        rr[l].x = lane_n[l] ? sqz_rd32(q) : RANS_L;
        rr[l].p = lane_n[l] ? q + 4 : q;
        rr[l].end = q + rsz[l];
        SQZ_RETURN_IF(rr[l].x < RANS_L, SQZ_ERR_CORRUPT_DATA, "nlcode: lane %d rANS state", l);
        q += rsz[l];
    }
    br[0] = (bitr){q, q + bs0, 0, 0};
    br[1] = (bitr){q + bs0, end, 0, 0};
    uint16_t *v = es == 1 ? s->wide : dst;
    int bad = 0;
    const uint64_t X = g.X;
    for (uint64_t k = 0; k < ne && !bad;) {
        const uint64_t i = blk->first_elem + k, x0 = i % X, row = i / X;
        const uint64_t len = X - x0 < ne - k ? X - x0 : ne - k, y = g.Y ? row % g.Y : 0;
        ransr *r = &rr[row & 1];
        bitr *b = &br[row & 1];
        if (x0 == 0 && g.Y && y >= 2 && y + 1 < g.Y && k >= 2 * X && ne - k >= 2 * X && X >= 5) {
            /* two rows at once (rows alternate lanes), the second three elements behind */
            ransr *r1 = &rr[(row + 1) & 1];
            bitr *b1 = &br[(row + 1) & 1];
            const uint64_t k1 = k + X;
            for (uint64_t x = 0; x < 2; x++) {
                const nbhd nb = neighbours(v, k + x, x, y, &g);
                v[k + x] = dec_one(s, in, &nb, mask, r, b, &bad);
            }
            {
                const nbhd nb = neighbours_inner(v, k + 2, X);
                v[k + 2] = dec_one(s, in, &nb, mask, r, b, &bad);
            }
            for (uint64_t x = 0; x < X; x++) {
                const uint64_t xa = x + 3;
                if (xa < X) {
                    const nbhd nb = xa + 2 < X ? neighbours_inner(v, k + xa, X) : neighbours(v, k + xa, xa, y, &g);
                    v[k + xa] = dec_one(s, in, &nb, mask, r, b, &bad);
                }
                const nbhd nb = x >= 2 && x + 2 < X ? neighbours_inner(v, k1 + x, X) : neighbours(v, k1 + x, x, y + 1, &g);
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
    SQZ_RETURN_IF(bad == 2, SQZ_ERR_CORRUPT_DATA, "nlcode: element in an unused context");
    SQZ_RETURN_IF(bad, SQZ_ERR_CORRUPT_DATA, "nlcode: a stream ends early");
    for (int l = 0; l < 2; l++) {
        SQZ_RETURN_IF(rr[l].x != RANS_L || rr[l].p != rr[l].end, SQZ_ERR_CORRUPT_DATA,
                      "nlcode: lane %d rANS stream does not end where the block does", l);
        SQZ_RETURN_IF(br[l].p != br[l].end || br[l].nb >= 8 || br[l].acc, SQZ_ERR_CORRUPT_DATA,
                      "nlcode: lane %d extra bits left over or padding not zero", l);
    }
    if (es == 1)
        for (uint64_t k = 0; k < ne; k++) ((uint8_t *)dst)[k] = (uint8_t)s->wide[k];
    return (int64_t)dst_size;
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
    .doc = "8-tap predictor in 1/16 units + 108 contexts (fraction, activity) + rANS, for wnl level indices",
    .check = nl_check, .encode = nl_encode, .decode = nl_decode, .release = nl_release,
    .block_elems = nl_block_elems,
};
