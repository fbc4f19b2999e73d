/* qhuff: entropy codec for prediction residuals, built to decode fast. Each element z is split by a
 * shift k, chosen per block for each activity level of the row above: the quotient z >> k is Huffman
 * coded with one table per block, so a decoder resolves up to 8 quotients per table look-up; the k
 * remainder bits go raw into a stream of their own, which a decoder reads 8 elements per pdep.
 * Bytes: docs/FORMAT.md; reasons and numbers: docs/DESIGN.md. */
#include <pthread.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/cpu.h"
#include "../common/error.h"
#include "huff_codes.h"
#include "qhuff.h"
#include "rows.h"
#include "stage.h"

#define NK SQZ_QH_NK
#define ESC SQZ_QH_ESC
#define NSYM SQZ_QH_NSYM
#define HEADER SQZ_QH_HEADER
#define MAXLEN SQZ_HUFF_MAXLEN
#define SOLE 15                  /* length nibble: the block's only quotient symbol, coded with 0 bits */
#define TBITS 12                 /* multi-symbol table: up to 8 quotients of a 12-bit window */
#define TSIZE (1u << TBITS)
#define DEFAULT_BYTES (256u * 1024u)
#define CACHE_MAX (16u << 20)
#define TRIALS 4                 /* the encoder's shift trials: m = 1, 2, 4, 8 */
#define TRIAL_Q ((1u << (5 + TRIALS - 1)) + 1)

static unsigned kmax_of(size_t es) { return es == 1 ? 7 : 14; }

typedef struct {
    uint8_t *lv;                 /* levels: encoder per element of the block, decoder per element of a row */
    uint8_t *q;                  /* decoder: the block's quotient symbols */
    uint8_t *kk;                 /* decoder: k per element of a row */
    uint8_t *buf;                /* encoder: the six streams */
    size_t cap, buf_cap;
    uint64_t tab[TSIZE];         /* decoder: 6-bit quotients | count << 48 | bits << 52 */
    uint16_t one[1u << MAXLEN];  /* decoder: symbol | code length << 8 */
    uint8_t built[NSYM];         /* code lengths tab and one were built for */
    uint32_t trial[NK][TRIAL_Q]; /* encoder: sampled elements per level and min(z >> smallest trial shift, 256) */
    int have_built;
} qh_state;

static pthread_key_t g_cache_key;
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;
static int g_cache_ok;

static void free_state(void *p)
{
    qh_state *s = p;
    if (!s) return;
    free(s->lv); free(s->q); free(s->kk); free(s->buf); free(s);
}

static void make_cache_key(void) { g_cache_ok = pthread_key_create(&g_cache_key, free_state) == 0; }

static qh_state *get_state(void **state, size_t n_elems, size_t buf_bytes)
{
    qh_state *s = *state;
    if (!s) {
        pthread_once(&g_cache_once, make_cache_key);
        if (g_cache_ok && (s = pthread_getspecific(g_cache_key)) != NULL) pthread_setspecific(g_cache_key, NULL);
        if (!s && !(s = calloc(1, sizeof *s))) return NULL;
        *state = s;
    }
    if (s->cap < n_elems) {
        free(s->lv); free(s->q); free(s->kk);
        s->lv = malloc(n_elems + 64);
        s->q = malloc(n_elems + 64);
        s->kk = malloc(n_elems + 64);
        s->cap = s->lv && s->q && s->kk ? n_elems : 0;
        if (!s->cap) return NULL;
    }
    if (s->buf_cap < buf_bytes) {
        free(s->buf);
        s->buf = malloc(buf_bytes);
        s->buf_cap = s->buf ? buf_bytes : 0;
        if (!s->buf) return NULL;
    }
    return s;
}

static void qh_release(void *p)
{
    if (!p) return;
    pthread_once(&g_cache_once, make_cache_key);
    qh_state *old = g_cache_ok ? pthread_getspecific(g_cache_key) : p;
    const qh_state *s = p;
    if (!old && s->cap <= CACHE_MAX && s->buf_cap <= CACHE_MAX && pthread_setspecific(g_cache_key, p) == 0) return;
    free_state(p);
}

#define elem sqz_elem

void sqz_qh_levels_scalar(size_t es, const void *up, uint8_t *lv, size_t j0, size_t j1)
{
    for (size_t j = j0; j < j1; j++)
        lv[j] = (uint8_t)sqz_qh_level(2 * elem(up, es, j) + elem(up, es, j - 1) + elem(up, es, j + 1) +
                                      elem(up, es, j - 2) + elem(up, es, j + 2));
}

#ifndef SQZ_HAVE_AVX2
size_t sqz_qh_levels_avx2(size_t es, const void *up, uint8_t *lv, size_t j1) { (void)es; (void)up; (void)lv; (void)j1; return 2; }
size_t sqz_qh_rows_avx2(size_t es, const uint8_t *q, const uint8_t *k, const uint8_t *rem, uint64_t *off, void *z, size_t n)
{ (void)es; (void)q; (void)k; (void)rem; (void)off; (void)z; (void)n; return 0; }
size_t sqz_qh_lookup_avx2(const uint8_t *kt, const uint8_t *lv, uint8_t *kk, size_t n, uint64_t *sum)
{ (void)kt; (void)lv; (void)kk; (void)n; (void)sum; return 0; }
uint32_t sqz_qh_escapes_avx2(const uint8_t *q, size_t n) { (void)q; (void)n; return 0; }
size_t sqz_qh_symbols_avx2(size_t es, const void *z, const uint8_t *k, uint8_t *sym, size_t n)
{ (void)es; (void)z; (void)k; (void)sym; (void)n; return 0; }
size_t sqz_qh_pack_rem_avx2(size_t es, const void *z, const uint8_t *k, size_t n, sqz_bit_writer *w)
{ (void)es; (void)z; (void)k; (void)n; (void)w; return 0; }
#endif

/* Level of block element k at column x from the row above (sqz_row_activity, below 2^19 for 2-byte
 * elements); the first row gets SQZ_QH_FIRST. */
static inline uint8_t level_at(size_t es, const void *z, uint64_t k, uint64_t x, uint64_t X)
{
    return k < X ? SQZ_QH_FIRST : (uint8_t)sqz_qh_level((uint32_t)sqz_row_activity(es, z, k, x, X));
}

/* Levels of block elements [k, k+len), one row segment from column x0, to lv[0, len). */
static void segment_levels(size_t es, const void *z, uint64_t k, uint64_t len, uint64_t x0, uint64_t X, uint8_t *lv)
{
    if (x0 == 0 && len == X && k >= X && X >= 5) {
        const uint8_t *up = (const uint8_t *)z + (k - X) * es;
        for (uint64_t x = 0; x < 2; x++) lv[x] = level_at(es, z, k + x, x, X);
        for (uint64_t x = X - 2; x < X; x++) lv[x] = level_at(es, z, k + x, x, X);
        size_t done = sqz_simd_get() >= SQZ_SIMD_AVX2 ? sqz_qh_levels_avx2(es, up, lv, X - 2) : 2;
        sqz_qh_levels_scalar(es, up, lv, done, X - 2);
        return;
    }
    for (uint64_t j = 0; j < len; j++) lv[j] = level_at(es, z, k + j, x0 + j, X);
}

/* ---- encoder ---- */

SQZ_HUFF_DEFINE_BUILD_LENGTHS(qh, NSYM)

typedef sqz_bit_writer bit_writer;
#define put_bits sqz_put_bits

static size_t writer_bytes(const bit_writer *w, const uint8_t *start) { return (size_t)(w->p - start) + (w->cnt > 0); }

/* Shift of each level: the largest k <= kmax with m 2^k <= mean + 1/2 (0 for unused levels). */
static void shifts_for(const uint64_t *sum, const uint64_t *cnt, unsigned m, unsigned kmax, uint8_t *kt)
{
    for (int l = 0; l < NK; l++) {
        unsigned k = 0;
        if (cnt[l])
            while (k < kmax && ((2 * cnt[l] * m) << (k + 1)) <= 2 * sum[l] + cnt[l]) k++;
        kt[l] = (uint8_t)k;
    }
}

/* sum[l] and cnt[l]: the elements of each level and their total. Four partial tables break the
 * store-to-load chains of neighbours on one level; each entry packs sum << 21 | count over at most
 * 2^20 elements. */
static void level_stats(size_t es, const void *z, const uint8_t *lv, uint64_t m, uint64_t *sum, uint64_t *cnt)
{
    memset(sum, 0, NK * sizeof *sum);
    memset(cnt, 0, NK * sizeof *cnt);
    for (uint64_t k0 = 0; k0 < m; k0 += 1u << 20) {
        const uint64_t k1 = m - k0 > (1u << 20) ? k0 + (1u << 20) : m;
        uint64_t p4[4][NK] = {{0}};
        uint64_t k = k0;
        for (; k + 4 <= k1; k += 4)
            for (unsigned i = 0; i < 4; i++) p4[i][lv[k + i]] += (uint64_t)elem(z, es, k + i) << 21 | 1;
        for (; k < k1; k++) p4[0][lv[k]] += (uint64_t)elem(z, es, k) << 21 | 1;
        for (int l = 0; l < NK; l++)
            for (unsigned i = 0; i < 4; i++) {
                sum[l] += p4[i][l] >> 21;
                cnt[l] += p4[i][l] & ((1u << 21) - 1);
            }
    }
}

/* kk[k] = kt[lv[k]], sym[k] = min(z >> kk[k], ESC) and the histogram of sym */
static void symbols(size_t es, const void *z, const uint8_t *lv, const uint8_t *kt, uint64_t m, int fast,
                    uint8_t *kk, uint8_t *sym, uint32_t *hist)
{
    uint64_t k = 0, unused = 0;
    if (fast) {
        k = sqz_qh_lookup_avx2(kt, lv, kk, m, &unused);
        k = sqz_qh_symbols_avx2(es, z, kk, sym, k);
    }
    for (; k < m; k++) {
        kk[k] = kt[lv[k]];
        const uint32_t q = elem(z, es, k) >> kk[k];
        sym[k] = (uint8_t)(q < ESC ? q : ESC);
    }
    uint32_t h4[4][NSYM] = {{0}};
    for (k = 0; k + 4 <= m; k += 4)
        for (unsigned i = 0; i < 4; i++) h4[i][sym[k + i]]++;
    for (; k < m; k++) h4[0][sym[k]]++;
    for (int t = 0; t < NSYM; t++) hist[t] = h4[0][t] + h4[1][t] + h4[2][t] + h4[3][t];
}

/* four quotients, two pair entries, one flush */
static inline void put4(bit_writer *w, const uint32_t *pair, const uint8_t *sym)
{
    const uint32_t a = pair[sym[0] | sym[1] << 6], b = pair[sym[2] | sym[3] << 6];
    sqz_put_bits(w, (a & 0xFFFFFF) | (uint64_t)(b & 0xFFFFFF) << (a >> 24), (a >> 24) + (b >> 24));
}

/* The four quotient streams (quarters of the block), two symbols per table entry: bits | length << 24 */
static void write_quotients(const uint8_t *sym, uint64_t m, const uint8_t *len, const uint16_t *code,
                            bit_writer *qw)
{
    _Static_assert(2 * 2 * MAXLEN + 7 <= 64, "two pairs per flush");
    uint32_t pair[NSYM << 6];
    for (unsigned a = 0; a < NSYM; a++)
        for (unsigned b = 0; b < NSYM; b++)
            pair[a | b << 6] = ((uint32_t)code[a] | (uint32_t)code[b] << len[a]) | (uint32_t)(len[a] + len[b]) << 24;
    uint64_t k[4], end[4];
    for (unsigned j = 0; j < 4; j++) { k[j] = m * j / 4; end[j] = m * (j + 1) / 4; }
    const uint64_t common = (end[0] - k[0]) & ~(uint64_t)3;  /* the first quarter is the shortest */
    for (unsigned j = 0; j < 4; j += 2) {  /* two streams at a time: their writers stay in registers */
        bit_writer w0 = qw[j], w1 = qw[j + 1];
        for (uint64_t i = 0; i < common; i += 4) {
            put4(&w0, pair, sym + k[j] + i);
            put4(&w1, pair, sym + k[j + 1] + i);
        }
        qw[j] = w0;
        qw[j + 1] = w1;
    }
    for (unsigned j = 0; j < 4; j++)
        for (uint64_t kk = k[j] + common; kk < end[j]; kk++) sqz_put_bits(&qw[j], code[sym[kk]], len[sym[kk]]);
}

/* The remainder stream: the low kk[k] bits of every element, then the escape stream */
static void write_remainders(size_t es, const void *z, const uint8_t *kk, const uint8_t *sym, uint64_t m, int fast,
                             uint32_t escapes, bit_writer *rw, bit_writer *ew)
{
    uint64_t k = fast ? sqz_qh_pack_rem_avx2(es, z, kk, m, rw) : 0;
    for (; k < m; k++) sqz_put_bits(rw, elem(z, es, k) & ((1u << kk[k]) - 1), kk[k]);
    if (!escapes) return;
    k = 0;
    if (fast)
        for (; k + 32 <= m; k += 32)
            for (uint32_t e = sqz_qh_escapes_avx2(sym + k, 32); e; e &= e - 1) {
                const uint64_t i = k + (unsigned)__builtin_ctz(e);
                sqz_put_bits(ew, (elem(z, es, i) >> kk[i]) - ESC, 8 * (unsigned)es);
            }
    for (; k < m; k++)
        if (sym[k] == ESC) sqz_put_bits(ew, (elem(z, es, k) >> kk[k]) - ESC, 8 * (unsigned)es);
}

/* The shifts: each level's mean over m = 1, 2, 4 or 8, whichever costs least (quotient codes,
 * remainders, escapes) on every 4th element. One pass gathers, per level, the sampled quotients at
 * the smallest trial's shift; the others' shifts are at most 3 larger, so their histograms follow. */
static void choose_shifts(size_t es, const void *z, const uint8_t *lv, uint64_t m, const uint64_t *sum,
                          const uint64_t *cnt, unsigned kmax, uint32_t (*h)[TRIAL_Q], uint8_t *kt)
{
    uint8_t tk[TRIALS][NK];
    for (unsigned i = 0; i < TRIALS; i++) shifts_for(sum, cnt, 1u << i, kmax, tk[i]);
    const uint8_t *const kmin = tk[TRIALS - 1];
    memset(h, 0, sizeof(uint32_t[NK][TRIAL_Q]));
    for (uint64_t k = 0; k < m; k += 4) {
        const uint32_t q = elem(z, es, k) >> kmin[lv[k]];
        h[lv[k]][q < TRIAL_Q - 1 ? q : TRIAL_Q - 1]++;
    }
    uint64_t n_l[NK];
    unsigned top[NK];
    for (int l = 0; l < NK; l++) {
        n_l[l] = 0;
        top[l] = 0;
        for (unsigned q = 0; q < TRIAL_Q; q++)
            if (h[l][q]) { n_l[l] += h[l][q]; top[l] = q + 1; }
    }
    uint64_t best = UINT64_MAX;
    for (unsigned i = 0; i < TRIALS; i++) {
        uint32_t hist[NSYM] = {0};
        uint64_t raw = 0;
        for (int l = 0; l < NK; l++) {
            if (!n_l[l]) continue;
            const unsigned d = tk[i][l] - kmin[l];  /* 0 .. TRIALS - 1 */
            raw += n_l[l] * tk[i][l];
            for (unsigned q = 0; q < top[l]; q++) hist[(q >> d) < ESC ? q >> d : ESC] += h[l][q];
        }
        raw += (uint64_t)hist[ESC] * 8 * es;
        uint8_t len[NSYM];
        if (sqz_huff_build_lengths_qh(hist, NSYM, len) > 1)
            for (int t = 0; t < NSYM; t++) raw += (uint64_t)hist[t] * len[t];
        if (raw < best) { best = raw; memcpy(kt, tk[i], NK); }
    }
}

static int fast_ok(void);

static int64_t qh_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n, void *dst,
                         size_t cap, void **state)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    SQZ_RETURN_IF(es != 1 && es != 2, SQZ_ERR_UNSUPPORTED_DTYPE, "qhuff codes 1- and 2-byte elements (use huff)");
    const uint64_t X = ctx->shape[ctx->ndim - 1], m = n / es, first = blk->first_elem;
    SQZ_RETURN_IF(n % es || m != blk->n_elems || !m, SQZ_ERR_BAD_ARGUMENT, "qhuff block of %zu bytes", n);
    const size_t qcap = (m / 4 + 1) * 2 + 16, rcap = 2 * m + 16;
    qh_state *s = get_state(state, m, 4 * qcap + 2 * rcap);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "qhuff buffers for %llu elements", (unsigned long long)m);
    const int fast = fast_ok();
    for (uint64_t k = 0; k < m;) {
        const uint64_t x = (first + k) % X, len = X - x < m - k ? X - x : m - k;
        segment_levels(es, src, k, len, x, X, s->lv + k);
        k += len;
    }
    uint64_t sum[NK], cnt[NK];
    level_stats(es, src, s->lv, m, sum, cnt);
    const unsigned kmax = kmax_of(es);
    uint8_t kt[NK];
    uint32_t hist[NSYM];
    choose_shifts(es, src, s->lv, m, sum, cnt, kmax, s->trial, kt);
    symbols(es, src, s->lv, kt, m, fast, s->kk, s->q, hist);
    uint8_t len[NSYM];
    uint16_t code[NSYM] = {0};
    const int present = sqz_huff_build_lengths_qh(hist, NSYM, len);
    if (present == 1) {
        for (int t = 0; t < NSYM; t++) if (hist[t]) len[t] = SOLE;
    } else {
        sqz_huff_build_codes(len, NSYM, code);
    }
    if (cap < HEADER) return -SQZ_ERR_DST_TOO_SMALL;
    uint8_t *out = dst;
    memcpy(out, kt, NK);
    for (int b = 0; b < 17; b++) out[NK + b] = (uint8_t)(len[2 * b] | (2 * b + 1 < NSYM ? len[2 * b + 1] : 0) << 4);
    if (present == 1) memset(len, 0, sizeof len);  /* 0 bits from here on */

    uint8_t *const qb = s->buf, *const rb = qb + 4 * qcap, *const eb = rb + rcap;
    bit_writer rw = {rb, 0, 0}, ew = {eb, 0, 0}, qw[4];
    for (unsigned j = 0; j < 4; j++) qw[j] = (bit_writer){qb + j * qcap, 0, 0};
    write_quotients(s->q, m, len, code, qw);
    write_remainders(es, src, s->kk, s->q, m, fast, hist[ESC], &rw, &ew);
    size_t sz[6];
    for (unsigned j = 0; j < 4; j++) sz[j] = writer_bytes(&qw[j], qb + j * qcap);
    sz[4] = writer_bytes(&rw, rb);
    sz[5] = writer_bytes(&ew, eb);
    const uint8_t *const from[6] = {qb, qb + qcap, qb + 2 * qcap, qb + 3 * qcap, rb, eb};
    size_t total = HEADER;
    for (int j = 0; j < 6; j++) total += sz[j];
    if (total > cap) return -SQZ_ERR_DST_TOO_SMALL;
    uint8_t *o = out + HEADER;
    for (int j = 0; j < 6; j++) {
        if (j < 5) sqz_wr32(out + NK + 17 + 4 * j, (uint32_t)sz[j]);
        memcpy(o, from[j], sz[j]);
        o += sz[j];
    }
    return (int64_t)total;
}

/* ---- decoder ---- */

/* A bounds-checked LSB-first bit reader: past the end it reads zeros and counts them in `over`. */
typedef struct { const uint8_t *p, *end; uint64_t buf; unsigned cnt; size_t over; } bit_reader;

static inline void refill(bit_reader *r)
{
    if (r->end - r->p >= 8) {
        r->buf |= sqz_rd64(r->p) << r->cnt;
        r->p += (63 - r->cnt) >> 3;
        r->cnt |= 56;
    } else {
        while (r->cnt < 56) {
            const uint64_t byte = r->p < r->end ? *r->p++ : (r->over++, 0);
            r->buf |= byte << r->cnt;
            r->cnt += 8;
        }
    }
}

static inline uint32_t get_bits(bit_reader *r, unsigned nb)
{
    refill(r);
    const uint32_t v = (uint32_t)(r->buf & ((1ull << nb) - 1));
    r->buf >>= nb;
    r->cnt -= nb;
    return v;
}

/* A reader at bit `bit` of the stream [start, end) */
static bit_reader reader_at(const uint8_t *start, const uint8_t *end, uint64_t bit)
{
    bit_reader r = {start + (bit >> 3), end, 0, 0, 0};
    if (r.p > end) { r.over = (size_t)(r.p - end); r.p = end; }
    if (bit & 7) get_bits(&r, (unsigned)(bit & 7));
    return r;
}

static int reader_done(const bit_reader *r, const uint8_t *start, size_t size, const char *what)
{
    const uint64_t used = ((uint64_t)(r->p - start) + r->over) * 8 - r->cnt;
    SQZ_RETURN_IF(used > (uint64_t)size * 8, SQZ_ERR_CORRUPT_DATA, "qhuff: %s stream truncated", what);
    SQZ_RETURN_IF((uint64_t)size * 8 - used >= 8, SQZ_ERR_CORRUPT_DATA, "qhuff: stray bytes after the %s stream", what);
    return 0;
}

static inline uint8_t next_symbol(bit_reader *r, const uint16_t *one)
{
    refill(r);
    const unsigned e = one[r->buf & ((1u << MAXLEN) - 1)], l = e >> 8;
    r->buf >>= l;
    r->cnt -= l;
    return (uint8_t)e;
}

static void build_tables(qh_state *s, const uint8_t *len)
{
    if (s->have_built && !memcmp(s->built, len, NSYM)) return;
    uint16_t code[NSYM];
    sqz_huff_build_codes(len, NSYM, code);
    for (unsigned t = 0; t < NSYM; t++)
        if (len[t])
            for (unsigned j = code[t]; j < (1u << MAXLEN); j += 1u << len[t]) s->one[j] = (uint16_t)(t | len[t] << 8);
    for (unsigned idx = 0; idx < TSIZE; idx++) {
        unsigned used = 0, c = 0;
        uint64_t syms = 0;
        while (c < 8) {
            const unsigned e = s->one[(idx >> used) & ((1u << MAXLEN) - 1)], l = e >> 8;
            if (used + l > TBITS) break;
            syms |= (uint64_t)(e & 63) << (6 * c++);
            used += l;
        }
        s->tab[idx] = syms | (uint64_t)c << 48 | (uint64_t)used << 52;
    }
    memcpy(s->built, len, NSYM);
    s->have_built = 1;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The four quotient streams while every one has 8 output bytes and 16 input bytes to spare: one
 * look-up per 1-8 quotients. bit[j] is stream j's position; o[j] its next output. */
__attribute__((target("bmi,bmi2"))) static void quotients_bmi2(const uint64_t *T, const uint8_t *const *st, uint64_t *bit,
                                                                uint8_t **o, uint8_t *const *oend, const uint8_t *lim)
{
    for (;;) {
        uint64_t steps = UINT64_MAX;
        for (int j = 0; j < 4; j++) {
            const uint64_t out_left = (uint64_t)(oend[j] - o[j]) / 8;  /* a step writes 8 bytes, keeps 1-8 */
            const uint8_t *at = st[j] + (bit[j] >> 3);
            const uint64_t in_left = at + 16 <= lim ? (uint64_t)(lim - at - 16) * 8 / TBITS : 0;
            steps = steps < out_left ? steps : out_left;
            steps = steps < in_left ? steps : in_left;
        }
        if (steps < 4) return;
        const uint8_t *const s0 = st[0], *const s1 = st[1], *const s2 = st[2], *const s3 = st[3];
        uint8_t *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
        uint64_t b0 = bit[0], b1 = bit[1], b2 = bit[2], b3 = bit[3];
#define QSTEP(S, B, O)                                                                      \
        do {                                                                                \
            const uint64_t e_ = T[(sqz_rd64(S + (B >> 3)) >> (B & 7)) & (TSIZE - 1)];       \
            const uint64_t v_ = _pdep_u64(e_, 0x3F3F3F3F3F3F3F3Full);                       \
            memcpy(O, &v_, 8);                                                              \
            O += (e_ >> 48) & 15;                                                           \
            B += e_ >> 52;                                                                  \
        } while (0)
        for (uint64_t i = 0; i < steps; i++) {
            QSTEP(s0, b0, o0); QSTEP(s1, b1, o1); QSTEP(s2, b2, o2); QSTEP(s3, b3, o3);
        }
#undef QSTEP
        o[0] = o0; o[1] = o1; o[2] = o2; o[3] = o3;
        bit[0] = b0; bit[1] = b1; bit[2] = b2; bit[3] = b3;
    }
}

static int fast_ok(void)
{
    static int v = -1;
    if (v < 0) {
        __builtin_cpu_init();
        /* pdep is microcoded (tens of cycles) before AMD Zen 3 */
        v = __builtin_cpu_supports("bmi2") && !__builtin_cpu_is("znver1") && !__builtin_cpu_is("znver2");
    }
    return v && sqz_simd_get() >= SQZ_SIMD_AVX2;
}
#else
static int fast_ok(void) { return 0; }
#endif

static int64_t qh_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n, void *dst,
                         size_t dst_size, void **state)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    SQZ_RETURN_IF(es != 1 && es != 2, SQZ_ERR_CORRUPT_DATA, "qhuff: elements of %zu bytes", es);
    const uint64_t X = ctx->shape[ctx->ndim - 1], m = dst_size / es, first = blk->first_elem;
    SQZ_RETURN_IF(dst_size % es || m != blk->n_elems || !m, SQZ_ERR_CORRUPT_DATA, "qhuff block of %zu bytes", dst_size);
    SQZ_RETURN_IF(n < HEADER, SQZ_ERR_CORRUPT_DATA, "qhuff block of %zu bytes has no header", n);
    qh_state *s = get_state(state, m, 0);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "qhuff decoding buffers");
    const uint8_t *in = src, *const end = in + n;
    const unsigned kmax = kmax_of(es), bits = 8 * (unsigned)es;
    for (int l = 0; l < NK; l++)
        SQZ_RETURN_IF(in[l] > kmax, SQZ_ERR_CORRUPT_DATA, "qhuff: shift %u above %u", in[l], kmax);
    uint8_t len[NSYM];
    int sole = -1, count = 0;
    uint32_t kraft = 0;
    for (int t = 0; t < NSYM; t++) {
        len[t] = (uint8_t)((in[NK + t / 2] >> (4 * (t & 1))) & 15);
        if (!len[t]) continue;
        count++;
        if (len[t] == SOLE) sole = t;
        else if (len[t] > MAXLEN) return sqz_fail(SQZ_ERR_CORRUPT_DATA, "qhuff: code length %u", len[t]);
        else kraft += (1u << MAXLEN) >> len[t];
    }
    SQZ_RETURN_IF(in[NK + 16] >> 4, SQZ_ERR_CORRUPT_DATA, "qhuff: code length of a symbol past the last");
    SQZ_RETURN_IF(sole >= 0 && count != 1, SQZ_ERR_CORRUPT_DATA, "qhuff: a sole symbol among others");
    SQZ_RETURN_IF(sole < 0 && (count < 2 || kraft != (1u << MAXLEN)), SQZ_ERR_CORRUPT_DATA, "qhuff: code is not complete");
    const uint8_t *st[6];
    size_t sn[6];
    const uint8_t *p = in + HEADER;
    for (int j = 0; j < 6; j++) {
        sn[j] = j < 5 ? sqz_rd32(in + NK + 17 + 4 * j) : (size_t)(end - p);
        SQZ_RETURN_IF(sn[j] > (size_t)(end - p), SQZ_ERR_CORRUPT_DATA, "qhuff: stream %d of %zu bytes exceeds the block", j, sn[j]);
        st[j] = p;
        p += sn[j];
    }
    const int fast = fast_ok();

    /* quotient symbols of the whole block */
    uint8_t *const q = s->q;
    memset(q + m, 0, 32);  /* the escape scan reads whole groups of 32 */
    if (sole >= 0) {
        for (int j = 0; j < 4; j++) SQZ_RETURN_IF(sn[j], SQZ_ERR_CORRUPT_DATA, "qhuff: stray bytes in a quotient stream");
        memset(q, sole, m);
    } else {
        build_tables(s, len);
        uint64_t bit[4] = {0};
        uint8_t *o[4], *oend[4];
        for (int j = 0; j < 4; j++) {
            o[j] = q + m * (uint64_t)j / 4;
            oend[j] = q + m * (uint64_t)(j + 1) / 4;
        }
#if defined(__x86_64__) && defined(__GNUC__)
        if (fast) quotients_bmi2(s->tab, st, bit, o, oend, end);
#endif
        for (int j = 0; j < 4; j++) {
            bit_reader r = reader_at(st[j], st[j] + sn[j], bit[j]);
            for (uint8_t *w = o[j]; w < oend[j]; w++) *w = next_symbol(&r, s->one);
            SQZ_FORWARD_IF_ERROR(reader_done(&r, st[j], sn[j], "quotient"));
        }
    }

    /* rows: each element's shift from the row above, then its remainder bits and escape */
    uint64_t roff = 0;
    bit_reader er = {st[5], st[5] + sn[5], 0, 0, 0};
    uint32_t bad = 0;
    for (uint64_t k = 0; k < m;) {
        const uint64_t x = (first + k) % X, len_ = X - x < m - k ? X - x : m - k;
        uint8_t *const kk = s->kk;
        segment_levels(es, dst, k, len_, x, X, s->lv);
        uint64_t row_bits = 0, j = fast ? sqz_qh_lookup_avx2(in, s->lv, kk, len_, &row_bits) : 0;
        for (; j < len_; j++) row_bits += kk[j] = in[s->lv[j]];
        const uint8_t *const qk = q + k;
        const uint8_t *const rat = st[4] + (roff >> 3);
        j = 0;
        if (fast && rat <= end && (uint64_t)(end - rat) >= row_bits / 8 + 16)
            j = sqz_qh_rows_avx2(es, qk, kk, st[4], &roff, (uint8_t *)dst + k * es, len_);
        if (j < len_) {
            bit_reader rr = reader_at(st[4], st[4] + sn[4], roff);
            for (; j < len_; j++) {
                const uint32_t r = get_bits(&rr, kk[j]), qq = qk[j] & (ESC - 1), z = qq << kk[j] | r;
                bad |= z >> bits;
                if (es == 1) ((uint8_t *)dst)[k + j] = (uint8_t)z;
                else ((uint16_t *)dst)[k + j] = (uint16_t)z;
                roff += kk[j];
            }
        }
        for (j = 0; j < (len[ESC] ? len_ : 0); j += 32) {  /* no escape symbol in the code: none to fix */
            uint32_t esc = 0;
            if (fast) {
                esc = sqz_qh_escapes_avx2(qk + j, len_ - j);
            } else {
                for (uint64_t i = 0; i < 32 && j + i < len_; i++) esc |= (uint32_t)(qk[j + i] == ESC) << i;
            }
            for (; esc; esc &= esc - 1) {
                const uint64_t e = j + (unsigned)__builtin_ctz(esc), qq = ESC + (uint64_t)get_bits(&er, bits);
                bad |= (uint32_t)((qq << kk[e]) >> bits);
                if (es == 1) ((uint8_t *)dst)[k + e] |= (uint8_t)(qq << kk[e]);
                else ((uint16_t *)dst)[k + e] |= (uint16_t)(qq << kk[e]);
            }
        }
        SQZ_RETURN_IF(bad, SQZ_ERR_CORRUPT_DATA, "qhuff: a value exceeds %u bits", bits);
        k += len_;
    }
    {
        const bit_reader rr = reader_at(st[4], st[4] + sn[4], roff);
        SQZ_FORWARD_IF_ERROR(reader_done(&rr, st[4], sn[4], "remainder"));
    }
    SQZ_FORWARD_IF_ERROR(reader_done(&er, st[5], sn[5], "escape"));
    return (int64_t)dst_size;
}

static int qh_check(const sqz_stage_ctx *ctx)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    SQZ_RETURN_IF(es != 1 && es != 2, SQZ_ERR_UNSUPPORTED_DTYPE, "qhuff codes 1- and 2-byte elements; use huff for 4-byte ones");
    return 0;
}

/* Whole rows, about DEFAULT_BYTES (or the requested size) per block. */
static uint64_t qh_block_elems(const sqz_stage_ctx *ctx, uint64_t n_elems, uint32_t block_bytes)
{
    (void)n_elems;
    return sqz_rows_block_elems(ctx, block_bytes, DEFAULT_BYTES);
}

const sqz_stage sqz_stage_qhuff = {
    .id = 43, .name = "qhuff", .kind = SQZ_STAGE_CODEC,
    .doc = "residuals split by a shift per activity level of the row above: Huffman-coded quotients "
           "(one table per block, four streams) and raw remainders; decodes fast",
    .check = qh_check, .encode = qh_encode, .decode = qh_decode, .release = qh_release, .block_elems = qh_block_elems,
};
