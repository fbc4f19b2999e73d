/* huff: entropy codec for prediction residuals. Each element's token (a hybrid integer code)
 * is Huffman coded with one of 21 tables chosen by the residual sizes of the row above; tables
 * are built per block; element k goes to bit stream k mod 4 so that a decoder works on four
 * at once. Bytes: docs/FORMAT.md; reasons and numbers: docs/DESIGN.md. */
#include <pthread.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/cpu.h"
#include "../common/error.h"
#include "huff.h"
#include "huff_codes.h"
#include "rows.h"
#include "stage.h"

#define NCTX SQZ_HUFF_NCTX
#define CTX_FIRST SQZ_HUFF_CTX_FIRST
#define MAXLEN SQZ_HUFF_MAXLEN
#define TABSIZE (1u << MAXLEN)
#define PBITS SQZ_HUFF_PBITS  /* decoder's first-level table: codes of <= 8 bits (> 99% of symbols) */
#define PSIZE (1u << PBITS)
/* Decoder entries (1-2 byte elements): code length in bits 0-7, extra bits in 8-15 (the control word
 * of BMI's bextr), value base in 16-31. Code lengths are <= MAXLEN, so bit 7 marks the others. */
#define FAST_LONG 0x80u        /* code longer than PBITS: look in the full table */
#define FAST_BAD 0x8000u       /* a context without a table (with FAST_LONG: leaves the fast path) */
#define NTOK 128
#define TILE 4096         /* encoder: elements whose bits are computed at once (and room checked) */
#define SOLE 15          /* length nibble: the context's only token, coded with 0 bits */
#define DEFAULT_BYTES (256u * 1024u)
#define CACHE_MAX (16u << 20)  /* larger per-thread buffers are freed, not kept */

typedef struct {
    uint8_t *ctx, *tok;  /* per element of a block */
    uint16_t *idx;       /* encoder, 1-2 byte elements: context * NTOK + token per element;
                            huff64's AVX-512 decoder: each element's table offset, a row at a time */
    const uint32_t **cp; /* decoder, 1-2 byte elements: the first-level table of each element of a row */
    uint8_t *spill;      /* encoder: bit streams 1..3 */
    uint16_t *words;     /* huff64 encoder: the four word streams */
    uint8_t *pad;        /* decoders: the block's last bytes, zeros after (padded_copy) */
    size_t pad_cap;
    size_t words_cap;
    size_t cap, spill_cap;
    uint32_t hist[NCTX][NTOK];
    uint32_t part[8][NCTX][NTOK];
    uint32_t ent[NCTX * NTOK];
    uint32_t bits[TILE], nbits[TILE];  /* encoder: one tile's codes with extra bits, and lengths */
    uint64_t pbits[TILE / 2];          /* the same, two symbols of a stream at once */
    uint32_t pnbits[TILE / 2];
    uint16_t *tab;       /* decoder: NCTX * TABSIZE entries, token << 6 | bits consumed */
    uint32_t (*ftab)[TABSIZE];   /* decoder, 1-2 byte elements: NCTX tables of FAST_* entries */
    uint32_t ptab[NCTX][PSIZE];  /* the same for codes <= PBITS, else FAST_LONG */
} huff_state;

/* One state per thread outlives the chunk (released states wait in a thread-local slot), so
 * chunk after chunk reuses warm buffers instead of faulting in fresh pages. */
static pthread_key_t g_cache_key;
static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;
static int g_cache_ok;

static void free_state(void *p)
{
    huff_state *s = p;
    if (!s) return;
    free(s->ctx); free(s->tok); free(s->cp); free(s->idx); free(s->spill); free(s->words); free(s->pad); free(s->tab); free(s->ftab); free(s);
}

static void make_cache_key(void) { g_cache_ok = pthread_key_create(&g_cache_key, free_state) == 0; }

/* n_elems: elements whose contexts and tokens are kept (the block; a row segment to decode) */
static huff_state *get_state(void **state, size_t n_elems, size_t n_bytes, int dec)
{
    huff_state *s = *state;
    if (!s) {
        pthread_once(&g_cache_once, make_cache_key);
        if (g_cache_ok && (s = pthread_getspecific(g_cache_key)) != NULL) pthread_setspecific(g_cache_key, NULL);
        if (!s && !(s = calloc(1, sizeof *s))) return NULL;
        *state = s;
    }
    if (dec && !s->tab && !(s->tab = malloc(sizeof(uint16_t) * NCTX * TABSIZE))) return NULL;
    if (dec && !s->ftab && !(s->ftab = malloc(sizeof(uint32_t) * NCTX * TABSIZE))) return NULL;
    if (s->cap < n_elems) {
        free(s->ctx); free(s->tok); free(s->cp); free(s->idx);
        s->cp = NULL;
        s->idx = NULL;
        s->ctx = malloc(n_elems);
        s->tok = malloc(n_elems);
        s->cap = s->ctx && s->tok ? n_elems : 0;
        if (!s->cap) return NULL;
    }
    if (dec && !s->cp && !(s->cp = malloc(s->cap * sizeof *s->cp))) return NULL;
    if (!s->idx && !(s->idx = malloc(s->cap * sizeof *s->idx))) return NULL;
    if (!dec && s->spill_cap < 3 * (n_bytes + 16)) {
        free(s->spill);
        s->spill = malloc(3 * (n_bytes + 16));
        s->spill_cap = s->spill ? 3 * (n_bytes + 16) : 0;
        if (!s->spill) return NULL;
    }
    return s;
}

/* [from, end) and then `zeros` zero bytes, in the state's pad buffer; NULL without memory. */
static uint8_t *padded_copy(huff_state *s, const uint8_t *from, const uint8_t *end, size_t zeros)
{
    const size_t have = from < end ? (size_t)(end - from) : 0;
    if (s->pad_cap < have + zeros) {
        free(s->pad);
        s->pad = malloc(have + zeros);
        s->pad_cap = s->pad ? have + zeros : 0;
        if (!s->pad) return NULL;
    }
    memcpy(s->pad, from, have);
    memset(s->pad + have, 0, zeros);
    return s->pad;
}

static void hf_release(void *p)
{
    if (!p) return;
    pthread_once(&g_cache_once, make_cache_key);
    huff_state *old = g_cache_ok ? pthread_getspecific(g_cache_key) : p;
    const huff_state *s = p;
    if (!old && s->spill_cap <= CACHE_MAX && s->cap <= CACHE_MAX && pthread_setspecific(g_cache_key, p) == 0) return;
    free_state(p);
}

/* Activity class: q = floor(2*log2(u)) rounded down to the top two bits of u, u = act2/2 + 1. */
static inline int ctx_of(uint64_t act2)
{
    const uint64_t u = (act2 >> 1) + 1;
    const int nb = 63 - __builtin_clzll(u);
    const int q = 2 * nb + (int)((2 * u >> nb) & 1);  /* the bit below the top one; 0 for u = 1 */
    return q < 19 ? q : 19;
}

static inline unsigned token_of(uint32_t z)
{
    if (z < 16) return z;
    int nb = 31 - __builtin_clz(z);
    return 16 + (unsigned)(nb - 4) * 4 + ((z >> (nb - 2)) & 3);
}

#define elem sqz_elem

static inline int ctx_above(size_t es, const void *up, size_t j)
{
    return ctx_of(2 * (uint64_t)elem(up, es, j) + elem(up, es, j - 1) + elem(up, es, j + 1) + elem(up, es, j - 2) +
                  elem(up, es, j + 2));
}

void sqz_huff_ctx_scalar(size_t es, const void *up, uint8_t *ctx, size_t j0, size_t j1)
{
    for (size_t j = j0; j < j1; j++) ctx[j] = (uint8_t)ctx_above(es, up, j);
}

void sqz_huff_tok_scalar(size_t es, const void *z, uint8_t *tok, size_t j0, size_t j1)
{
    for (size_t j = j0; j < j1; j++) tok[j] = (uint8_t)token_of(elem(z, es, j));
}

void sqz_huff_pairs_scalar(const uint32_t *v, const uint32_t *nb, uint64_t *pv, uint32_t *pn, size_t g0, size_t g1)
{
    for (size_t g = g0; g < g1; g++)
        for (size_t i = 0; i < 4; i++) {
            const size_t k = 8 * g + i;
            pv[4 * g + i] = v[k] | (uint64_t)v[k + 4] << nb[k];
            pn[4 * g + i] = nb[k] + nb[k + 4];
        }
}

void sqz_huff_idx_scalar(size_t es, const void *z, const uint8_t *ctx, uint16_t *idx, size_t j0, size_t j1)
{
    for (size_t j = j0; j < j1; j++) idx[j] = (uint16_t)(ctx[j] * NTOK + token_of(elem(z, es, j)));
}

void sqz_huff_bits_scalar(size_t es, const void *z, const uint16_t *idx, const uint32_t *ent, uint32_t *v,
                          uint32_t *nb, size_t j0, size_t n)
{
    for (size_t j = j0; j < n; j++) {
        const unsigned t = idx[j] % NTOK, xb = t < 16 ? 0 : ((t - 16) >> 2) + 2;
        const uint32_t e = ent[idx[j]];
        v[j] = (e & 0xFFFFu) | (elem(z, es, j) & ((1u << xb) - 1)) << ((e >> 16) & 0xFF);
        nb[j] = e >> 24;
    }
}

#ifndef SQZ_HAVE_AVX2
size_t sqz_huff_pairs_avx2(size_t es, const void *z, const uint16_t *idx, const uint32_t *ent, uint64_t *pv,
                           uint32_t *pn, size_t n)
{ (void)es; (void)z; (void)idx; (void)ent; (void)pv; (void)pn; (void)n; return 0; }
size_t sqz_huff_idx_avx2(size_t es, const void *z, const uint8_t *ctx, uint16_t *idx, size_t j1)
{ (void)es; (void)z; (void)ctx; (void)idx; (void)j1; return 0; }
size_t sqz_huff_ctx_avx2(size_t es, const void *up, uint8_t *ctx, size_t j1) { (void)es; (void)up; (void)ctx; (void)j1; return 2; }
size_t sqz_huff_ctxp_avx2(size_t es, const void *up, const uint32_t *tab0, const uint32_t **cp, size_t j1)
{ (void)es; (void)up; (void)tab0; (void)cp; (void)j1; return 2; }
size_t sqz_huff_tok_avx2(size_t es, const void *z, uint8_t *tok, size_t j1) { (void)es; (void)z; (void)tok; (void)j1; return 0; }
#endif
#ifndef SQZ_HAVE_AVX512
size_t sqz_huff_ctx_avx512(size_t es, const void *up, uint8_t *ctx, size_t j1) { (void)es; (void)up; (void)ctx; (void)j1; return 2; }
size_t sqz_huff_ctx16_avx512(size_t es, const void *up, const uint16_t *offs, uint16_t *ctx, size_t j1)
{ (void)es; (void)up; (void)offs; (void)ctx; (void)j1; return 2; }
size_t sqz_huff_ctxp_avx512(size_t es, const void *up, const uint32_t *tab0, const uint32_t **cp, size_t j1)
{ (void)es; (void)up; (void)tab0; (void)cp; (void)j1; return 2; }
size_t sqz_huff_idx_avx512(size_t es, const void *z, const uint8_t *ctx, uint16_t *idx, size_t j1)
{ (void)es; (void)z; (void)ctx; (void)idx; (void)j1; return 0; }
#endif

/* ctx[2, j1) of a row from the row above, the widest vectors first (returns how far) */
static size_t ctx_simd(size_t es, const void *up, uint8_t *ctx, size_t j1)
{
    const int level = sqz_simd_get();
    return level >= SQZ_SIMD_AVX512 ? sqz_huff_ctx_avx512(es, up, ctx, j1)
         : level >= SQZ_SIMD_AVX2 ? sqz_huff_ctx_avx2(es, up, ctx, j1) : 2;
}

static size_t idx_simd(size_t es, const void *z, const uint8_t *ctx, uint16_t *idx, size_t j1)
{
    const int level = sqz_simd_get();
    return level >= SQZ_SIMD_AVX512 ? sqz_huff_idx_avx512(es, z, ctx, idx, j1)
         : level >= SQZ_SIMD_AVX2 ? sqz_huff_idx_avx2(es, z, ctx, idx, j1) : 0;
}

/* Context of block element k at column x from the row above (sqz_row_activity). */
static inline uint8_t context_at(size_t es, const void *z, uint64_t k, uint64_t x, uint64_t X)
{
    return k < X ? CTX_FIRST : (uint8_t)ctx_of(sqz_row_activity(es, z, k, x, X));
}

/* context_at of a whole row's first two and last two elements (X >= 5; up = the row above):
 * their neighbours past the row's ends count as N. */
static inline void edge_contexts(size_t es, const void *up, uint64_t X, uint8_t c[4])
{
    const uint64_t a0 = elem(up, es, 0), a1 = elem(up, es, 1), a2 = elem(up, es, 2), a3 = elem(up, es, 3);
    const uint64_t b1 = elem(up, es, X - 1), b2 = elem(up, es, X - 2), b3 = elem(up, es, X - 3), b4 = elem(up, es, X - 4);
    c[0] = (uint8_t)ctx_of(4 * a0 + a1 + a2);
    c[1] = (uint8_t)ctx_of(3 * a1 + a0 + a2 + a3);
    c[2] = (uint8_t)ctx_of(3 * b2 + b1 + b3 + b4);
    c[3] = (uint8_t)ctx_of(4 * b1 + b2 + b3);
}

/* Contexts of block elements [k, k+len), one row segment starting at column x0, to c[0, len). */
static void segment_contexts(size_t es, const void *z, uint64_t k, uint64_t len, uint64_t x0, uint64_t X, uint8_t *c)
{
    if (x0 == 0 && len == X && k >= X && X >= 5) {
        const uint8_t *up = (const uint8_t *)z + (k - X) * es;
        uint8_t e[4];
        edge_contexts(es, up, X, e);
        c[0] = e[0]; c[1] = e[1]; c[X - 2] = e[2]; c[X - 1] = e[3];
        size_t done = ctx_simd(es, up, c, X - 2);
        sqz_huff_ctx_scalar(es, up, c, done, X - 2);
        return;
    }
    for (uint64_t j = 0; j < len; j++) c[j] = context_at(es, z, k + j, x0 + j, X);
}

/* The same as huff64's table offsets offs[context], for the AVX-512 decoder. */
static void segment_offsets(size_t es, const void *z, uint64_t k, uint64_t len, uint64_t x0, uint64_t X,
                            const uint16_t *offs, uint16_t *c)
{
    if (x0 == 0 && len == X && k >= X && X >= 5) {
        const uint8_t *up = (const uint8_t *)z + (k - X) * es;
        uint8_t e[4];
        edge_contexts(es, up, X, e);
        c[0] = offs[e[0]]; c[1] = offs[e[1]]; c[X - 2] = offs[e[2]]; c[X - 1] = offs[e[3]];
        sqz_huff_ctx16_avx512(es, up, offs, c, X - 2);  /* all of [2, X - 2) */
        return;
    }
    for (uint64_t j = 0; j < len; j++) c[j] = offs[context_at(es, z, k + j, x0 + j, X)];
}

/* The same as first-level decoder tables, ptab[context], for 1- and 2-byte elements. */
static void segment_tables(size_t es, const void *z, uint64_t k, uint64_t len, uint64_t x0, uint64_t X,
                           const uint32_t (*ptab)[PSIZE], const uint32_t **cp)
{
    if (x0 == 0 && len == X && k >= X && X >= 5) {
        const uint8_t *up = (const uint8_t *)z + (k - X) * es;
        uint8_t e[4];
        edge_contexts(es, up, X, e);
        cp[0] = ptab[e[0]]; cp[1] = ptab[e[1]]; cp[X - 2] = ptab[e[2]]; cp[X - 1] = ptab[e[3]];
        const int level = sqz_simd_get();
        size_t j = level >= SQZ_SIMD_AVX512 ? sqz_huff_ctxp_avx512(es, up, ptab[0], cp, X - 2) : 2;
        if (j < X - 2 && level >= SQZ_SIMD_AVX2) j = sqz_huff_ctxp_avx2(es, up, ptab[0], cp, X - 2);
        for (; j < X - 2; j++) cp[j] = ptab[ctx_above(es, up, j)];
        return;
    }
    for (uint64_t j = 0; j < len; j++) cp[j] = ptab[context_at(es, z, k + j, x0 + j, X)];
}

static unsigned n_tokens(size_t es) { return es == 1 ? 32 : es == 2 ? 64 : NTOK; }
static unsigned extra_bits(unsigned t) { return t < 16 ? 0 : ((t - 16) >> 2) + 2; }
static uint32_t token_base(unsigned t) { return t < 16 ? t : (4u | (t & 3u)) << extra_bits(t); }

SQZ_HUFF_DEFINE_BUILD_LENGTHS(cpu, NTOK)

/* rows.h's bit writer: at least 8 bytes must be free at p (checked per row segment). */
typedef sqz_bit_writer bit_writer;
#define put_bits sqz_put_bits

/* Write the codes of elements 0..m-1 to the four streams (element k to stream k mod 4);
 * ent[c * NTOK + t] = code | length << 16 | (length + extra bits) << 24. Returns -1 when a
 * stream might run past its limit (checked per 4096 elements). */
#define DEFINE_EMIT(T, SUF)                                                                              \
static int emit_##SUF(const T *z, uint64_t m, const uint8_t *cx, const uint8_t *tk, const uint32_t *ent, \
                      const uint32_t *mask, bit_writer *w, uint8_t *const *lim, size_t per_elem)          \
{                                                                                                        \
    bit_writer w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];                                               \
    for (uint64_t k = 0; k < m;) {                                                                       \
        const uint64_t seg = m - k < 4096 ? m - k : 4096, stop = k + seg;  /* k stays a multiple of 4 */ \
        const uint64_t need = (seg / 4 + 1) * per_elem + 8;                                              \
        if ((uint64_t)(lim[0] - w0.p) < need || (uint64_t)(lim[1] - w1.p) < need ||                      \
            (uint64_t)(lim[2] - w2.p) < need || (uint64_t)(lim[3] - w3.p) < need)                        \
            return -1;                                                                                   \
        for (; k + 4 <= stop; k += 4) {                                                                  \
            EMIT_ONE(w0, k); EMIT_ONE(w1, k + 1); EMIT_ONE(w2, k + 2); EMIT_ONE(w3, k + 3);              \
        }                                                                                                \
        if (k < stop) { EMIT_ONE(w0, k); k++; }                                                          \
        if (k < stop) { EMIT_ONE(w1, k); k++; }                                                          \
        if (k < stop) { EMIT_ONE(w2, k); k++; }                                                          \
    }                                                                                                    \
    w[0] = w0; w[1] = w1; w[2] = w2; w[3] = w3;                                                          \
    return 0;                                                                                            \
}

#define EMIT_ONE(W, K)                                                                                   \
    do {                                                                                                 \
        const unsigned t_ = tk[K];                                                                       \
        const uint32_t e_ = ent[cx[K] * NTOK + t_];                                                      \
        put_bits(&W, (e_ & 0xFFFFu) | (uint64_t)(z[K] & mask[t_]) << ((e_ >> 16) & 0xFF), e_ >> 24);   \
    } while (0)

DEFINE_EMIT(uint32_t, u32)

#define APPEND(W, K) do { W.acc |= (uint64_t)v[K] << W.cnt; W.cnt += nb[K]; } while (0)
#define FLUSH(W) do { sqz_wr64(W.p, W.acc); W.p += W.cnt >> 3; W.acc >>= W.cnt & ~7u; W.cnt &= 7; } while (0)

/* Groups of 8 elements [0, n8) as pairs (sqz_huff_pairs_*): two symbols (<= 48 bits) of a stream
 * between flushes. */
#define DEFINE_EMIT_RUN(SUF, ATTR)                                                                       \
static ATTR void emit_run_##SUF(bit_writer *w, const uint64_t *v, const uint32_t *nb, uint64_t n8)      \
{                                                                                                        \
    bit_writer w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];                                               \
    for (uint64_t k = 0; k < n8 / 2; k += 4) {                                                           \
        APPEND(w0, k); FLUSH(w0); APPEND(w1, k + 1); FLUSH(w1);                                          \
        APPEND(w2, k + 2); FLUSH(w2); APPEND(w3, k + 3); FLUSH(w3);                                      \
    }                                                                                                    \
    w[0] = w0; w[1] = w1; w[2] = w2; w[3] = w3;                                                          \
}
DEFINE_EMIT_RUN(c, )
#if defined(__x86_64__) && defined(__GNUC__)
DEFINE_EMIT_RUN(bmi2, __attribute__((target("bmi,bmi2"))))
static int has_bmi2(void);
#endif

/* emit for 1- and 2-byte elements: the bits of a tile of elements first (vectorised), then
 * the bit streams. */
static int emit_tiles(size_t es, const void *z, uint64_t m, const uint16_t *idx, const uint32_t *ent,
                      bit_writer *w, uint8_t *const *lim, size_t per_elem, uint32_t *v, uint32_t *nb,
                      uint64_t *pv, uint32_t *pn)
{
    const int simd = sqz_simd_get() >= SQZ_SIMD_AVX2;
    void (*run)(bit_writer *, const uint64_t *, const uint32_t *, uint64_t) = emit_run_c;
#if defined(__x86_64__) && defined(__GNUC__)
    if (has_bmi2()) run = emit_run_bmi2;
#endif
    for (uint64_t k0 = 0; k0 < m; k0 += TILE) {
        const uint64_t seg = m - k0 < TILE ? m - k0 : TILE;  /* k0 stays a multiple of 4 */
        const uint64_t need = (seg / 4 + 1) * per_elem + 8;
        if ((uint64_t)(lim[0] - w[0].p) < need || (uint64_t)(lim[1] - w[1].p) < need ||
            (uint64_t)(lim[2] - w[2].p) < need || (uint64_t)(lim[3] - w[3].p) < need)
            return -1;
        const void *zt = (const uint8_t *)z + k0 * es;
        const uint64_t n8 = seg / 8 * 8;
        size_t done = simd ? sqz_huff_pairs_avx2(es, zt, idx + k0, ent, pv, pn, n8) : 0;
        sqz_huff_bits_scalar(es, zt, idx + k0, ent, v, nb, done, seg);
        sqz_huff_pairs_scalar(v, nb, pv, pn, done / 8, n8 / 8);
        run(w, pv, pn, n8);
        for (uint64_t k = n8; k < seg; k++) { APPEND(w[k & 3], k); FLUSH(w[k & 3]); }
    }
    return 0;
}

/* idx[0, n) into `parts` (2 or 8) partial histograms: repeated bins do not wait on each other's
 * stores. Small blocks take 2, which are quicker to clear and to sum. */
#define SMALL_BLOCK 16384
static void count_idx(uint32_t (*part)[NCTX][NTOK], unsigned parts, const uint16_t *ix, uint64_t n)
{
    uint32_t *const p0 = part[0][0], *const p1 = part[1][0];
    uint64_t j = 0;
    if (parts == 2) {
        for (; j + 2 <= n; j += 2) { p0[ix[j]]++; p1[ix[j + 1]]++; }
    } else {
        uint32_t *const p2 = part[2][0], *const p3 = part[3][0], *const p4 = part[4][0], *const p5 = part[5][0];
        uint32_t *const p6 = part[6][0], *const p7 = part[7][0];
        for (; j + 8 <= n; j += 8) { p0[ix[j]]++; p1[ix[j + 1]]++; p2[ix[j + 2]]++; p3[ix[j + 3]]++;
            p4[ix[j + 4]]++; p5[ix[j + 5]]++; p6[ix[j + 6]]++; p7[ix[j + 7]]++; }
    }
    for (; j < n; j++) p0[ix[j]]++;
}

static void clear_parts(huff_state *s, unsigned parts, unsigned ntok)
{
    for (unsigned p = 0; p < parts; p++)
        for (int c = 0; c < NCTX; c++) memset(s->part[p][c], 0, ntok * sizeof s->part[p][c][0]);
}

static void sum_parts(huff_state *s, unsigned parts, unsigned ntok)
{
    for (int c = 0; c < NCTX; c++)
        for (unsigned t = 0; t < ntok; t++) {
            uint32_t sum = 0;
            for (unsigned p = 0; p < parts; p++) sum += s->part[p][c][t];
            s->hist[c][t] = sum;
        }
}

/* Codes from sampled rows (huff.h, SQZ_HUFF_SAMPLE_STEP): the elements beyond the sampled tokens
 * are counted by one vector scan. The decoder reads the code lengths and does not know. */
#ifndef SQZ_HAVE_AVX512
size_t sqz_huff_count_beyond_avx512(const uint16_t *idx, size_t m, const uint16_t *cover, uint32_t *hist)
{ (void)idx; (void)m; (void)cover; (void)hist; return 0; }
#endif
#ifndef SQZ_HAVE_AVX2
size_t sqz_huff_count_beyond_avx2(const uint16_t *idx, size_t m, const uint16_t *cover, uint32_t *hist)
{ (void)idx; (void)m; (void)cover; (void)hist; return 0; }
#endif

static void sampled_histogram(huff_state *s, size_t es, uint64_t m, unsigned step)
{
    uint16_t cover[32] = {0};
    for (int c = 0; c < NCTX; c++) {
        int top = -1;
        for (int t = 0; t < (int)n_tokens(es); t++) if (s->hist[c][t]) top = t;
        for (int t = 0; t <= top; t++) s->hist[c][t] = s->hist[c][t] * step + 1;
        cover[c] = (uint16_t)(top + 1);
    }
    uint32_t *const flat = s->hist[0];  /* flat[c * NTOK + t]: indexed by idx */
    const int level = sqz_simd_get();
    size_t k = level >= SQZ_SIMD_AVX512 ? sqz_huff_count_beyond_avx512(s->idx, m, cover, flat)
             : level >= SQZ_SIMD_AVX2 ? sqz_huff_count_beyond_avx2(s->idx, m, cover, flat) : 0;
    for (; k < m; k++)
        if (s->idx[k] % NTOK >= cover[s->idx[k] / NTOK]) flat[s->idx[k]]++;  /* rare: a branch, no stores */
}

/* Contexts, histograms and codes of a block: writes its tables (n_sym, code lengths) to dst and
 * ent[c * NTOK + t] = code | length << 16 | (length + extra bits) << 24 to s->ent. For 1-2 byte
 * elements s->idx holds each element's context * NTOK + token, else s->ctx and s->tok. Returns
 * the bytes written or -sqz_error. */
static int64_t hf_model(size_t es, uint64_t X, uint64_t first, const void *src, uint64_t m, huff_state *s,
                        uint8_t *dst, size_t cap)
{
    const unsigned step = es <= 2 && m >= SQZ_HUFF_SAMPLE_MIN ? SQZ_HUFF_SAMPLE_STEP : 1;
    const unsigned ntok = n_tokens(es), parts = es > 2 ? 4 : m < SMALL_BLOCK ? 2 : 8;
    uint32_t (*hist)[NTOK] = s->hist;
    clear_parts(s, parts, ntok);
    uint64_t row = 0;
    for (uint64_t k = 0; k < m;) {  /* row by row: contexts, and for 1-2 byte elements indices and counts, in cache */
        uint64_t x = (first + k) % X, len = X - x < m - k ? X - x : m - k;
        segment_contexts(es, src, k, len, x, X, s->ctx + k);
        if (es <= 2) {  /* one index (context, token) per element, for the histogram and the codes */
            const void *zk = (const uint8_t *)src + k * es;
            size_t done = idx_simd(es, zk, s->ctx + k, s->idx + k, len);
            sqz_huff_idx_scalar(es, zk, s->ctx + k, s->idx + k, done, len);
            if (row++ % step == 0) count_idx(s->part, parts, s->idx + k, len);
        }
        k += len;
    }
    if (es > 2) {  /* 4-byte elements: contexts and tokens */
        const int simd = sqz_simd_get() >= SQZ_SIMD_AVX2;
        size_t done = simd ? sqz_huff_tok_avx2(es, src, s->tok, m) : 0;
        sqz_huff_tok_scalar(es, src, s->tok, done, m);
        uint64_t k = 0;
        const uint8_t *cx = s->ctx, *tk = s->tok;
        for (; k + 4 <= m; k += 4) {
            s->part[0][cx[k]][tk[k]]++;
            s->part[1][cx[k + 1]][tk[k + 1]]++;
            s->part[2][cx[k + 2]][tk[k + 2]]++;
            s->part[3][cx[k + 3]][tk[k + 3]]++;
        }
        for (; k < m; k++) s->part[0][cx[k]][tk[k]]++;
    }
    sum_parts(s, parts, ntok);
    if (step > 1) sampled_histogram(s, es, m, step);

    uint8_t len[NCTX][NTOK], tot[NCTX][NTOK];
    uint16_t code[NCTX][NTOK];
    memset(code, 0, sizeof code);
    memset(len, 0, sizeof len);
    uint8_t *out = dst, *o = out + NCTX;
    if (cap < NCTX + 12) return -SQZ_ERR_DST_TOO_SMALL;
    for (int c = 0; c < NCTX; c++) {
        int present = sqz_huff_build_lengths_cpu(hist[c], (int)ntok, len[c]);
        unsigned nsym = 0;
        for (unsigned t = 0; t < ntok; t++) if (hist[c][t]) nsym = t + 1;
        out[c] = (uint8_t)nsym;
        if (!nsym) continue;
        if (present == 1) len[c][nsym - 1] = SOLE;
        else sqz_huff_build_codes(len[c], (int)ntok, code[c]);
        size_t bytes = ((size_t)nsym + 1) / 2;
        if ((size_t)(out + cap - o) < bytes + 12) return -SQZ_ERR_DST_TOO_SMALL;
        for (size_t b = 0; b < bytes; b++) {
            unsigned lo = len[c][2 * b], hi = 2 * b + 1 < nsym ? len[c][2 * b + 1] : 0;
            o[b] = (uint8_t)(lo | hi << 4);
        }
        o += bytes;
        if (present == 1) len[c][nsym - 1] = 0;  /* 0 bits from here on */
    }
    for (int c = 0; c < NCTX; c++)
        for (unsigned t = 0; t < ntok; t++) tot[c][t] = (uint8_t)(len[c][t] + extra_bits(t));

    uint32_t *const ent = s->ent;  /* tokens from ntok on never occur */
    for (int c = 0; c < NCTX; c++)
        for (unsigned t = 0; t < ntok; t++)
            ent[c * NTOK + t] = code[c][t] | (uint32_t)len[c][t] << 16 | (uint32_t)tot[c][t] << 24;
    return (int64_t)(o - out);
}

static int64_t hf_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t cap, void **state)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    const uint64_t X = ctx->shape[ctx->ndim - 1], m = n / es;
    SQZ_RETURN_IF(n % es || m != blk->n_elems, SQZ_ERR_BAD_ARGUMENT, "huff block of %zu bytes", n);
    huff_state *s = get_state(state, m, n, 0);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "huff buffers for %llu elements", (unsigned long long)m);
    const int64_t head = hf_model(es, X, blk->first_elem, src, m, s, dst, cap);
    if (head < 0) return head;
    uint8_t *const out = dst, *const o = out + head;
    uint32_t mask[NTOK];
    for (unsigned t = 0; t < NTOK; t++) mask[t] = (uint32_t)((1ull << extra_bits(t)) - 1);
    const uint32_t *const ent = s->ent;
    /* stream 0 goes straight after the three size words, streams 1..3 to the spill buffer */
    const size_t per_elem = (MAXLEN + 8 * es - 3 + 7) / 8 + 1;
    uint8_t *const s0 = o + 12, *const end0 = out + cap;
    uint8_t *const sp[3] = {s->spill, s->spill + n + 16, s->spill + 2 * (n + 16)};
    if (end0 < s0) return -SQZ_ERR_DST_TOO_SMALL;
    bit_writer w[4] = {{s0, 0, 0}, {sp[0], 0, 0}, {sp[1], 0, 0}, {sp[2], 0, 0}};
    uint8_t *const lim[4] = {end0, sp[0] + n + 16, sp[1] + n + 16, sp[2] + n + 16};
    int rc = es <= 2 ? emit_tiles(es, src, m, s->idx, s->ent, w, lim, per_elem, s->bits, s->nbits, s->pbits, s->pnbits)
                     : emit_u32(src, m, s->ctx, s->tok, ent, mask, w, lim, per_elem);
    if (rc < 0) return -SQZ_ERR_DST_TOO_SMALL;
    bit_writer w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
    const size_t sz[4] = {(size_t)(w0.p - s0) + (w0.cnt > 0), (size_t)(w1.p - sp[0]) + (w1.cnt > 0),
                          (size_t)(w2.p - sp[1]) + (w2.cnt > 0), (size_t)(w3.p - sp[2]) + (w3.cnt > 0)};
    if ((size_t)(end0 - s0) < sz[0] + sz[1] + sz[2] + sz[3]) return -SQZ_ERR_DST_TOO_SMALL;
    uint8_t *q = s0 + sz[0];
    for (int i = 0; i < 3; i++) {
        sqz_wr32(o + 4 * i, (uint32_t)sz[i]);
        memcpy(q, sp[i], sz[i + 1]);
        q += sz[i + 1];
    }
    return (int64_t)(q - out);
}

#define REFILL(P, END, BUF, CNT, OVER)                                                                   \
    do {                                                                                                 \
        if ((END) - (P) >= 8) {                                                                          \
            BUF |= sqz_rd64(P) << CNT;                                                                   \
            P += (63 - CNT) >> 3;                                                                        \
            CNT |= 56;                                                                                   \
        } else {                                                                                         \
            while (CNT < 56) {                                                                           \
                uint64_t byte_ = P < (END) ? *P++ : (OVER++, 0);                                         \
                BUF |= byte_ << CNT;                                                                     \
                CNT += 8;                                                                                \
            }                                                                                            \
        }                                                                                                \
    } while (0)

#define DECODE_ONE32(P, END, BUF, CNT, OVER, K)                                                         \
    do {                                                                                                 \
        REFILL(P, END, BUF, CNT, OVER);                                                                  \
        unsigned n_;                                                                                     \
        SYM(BUF, K, n_, VALUE_C);                                                                        \
        BUF >>= n_;                                                                                      \
        CNT -= n_;                                                                                       \
    } while (0)

#define DECODE_ONE(P, END, BUF, CNT, OVER, K)                                                           \
    do {                                                                                                 \
        REFILL(P, END, BUF, CNT, OVER);                                                                  \
        const unsigned c_ = cx[(K) - kb];                                                                \
        bad |= unused[c_];                                                                               \
        const unsigned e_ = tabs[c_][BUF & (TABSIZE - 1)], n_ = e_ & 63, t_ = e_ >> 6;                  \
        z[K] = (__typeof__(*z))(base[t_] | (uint32_t)((BUF >> ((n_ - xb[t_]) & 63)) & mask[t_]));                            \
        BUF >>= n_;                                                                                      \
        CNT -= n_;                                                                                       \
    } while (0)

/* Decoding for 1- and 2-byte elements (two-level FAST_* tables). A symbol takes at most
 * MAXLEN + 13 = 24 bits, so 57 bits from one load serve two symbols of a stream.
 * SYM: element K from the bits in B (code first), N = bits used; XB: the value (base + extra bits). */
#define VALUE_C(BUF, E) (((E) >> 16) + ((uint32_t)((BUF) >> ((E) & 255)) & ((1u << (((E) >> 8) & 255)) - 1)))
#define VALUE_BMI2(BUF, E) (_bextr_u32(E, 16, 16) + (uint32_t)__bextr_u64(BUF, E))
#define SYM(B, K, N, XB)                                                                                 \
    do {                                                                                                 \
        const uint32_t *const t_ = cp[(K) - kb];                                                         \
        uint32_t e_ = t_[(B) & (PSIZE - 1)];                                                             \
        if (__builtin_expect(e_ & FAST_LONG, 0)) e_ = long_entry(lt, t_, B);                             \
        z[K] = (__typeof__(*z))(XB(B, e_));                                                              \
        N = (e_ & 255) + ((e_ >> 8) & 255);                                                              \
    } while (0)
/* Codes longer than PBITS, and contexts without a table (flagged, decoded as 0 bits) */
typedef struct { const uint32_t *ptab0; const uint32_t (*ftab)[TABSIZE]; uint32_t flags; } long_tables;
static __attribute__((noinline, cold)) uint32_t long_entry(long_tables *lt, const uint32_t *t, uint64_t b)
{
    const uint32_t e = t[b & (PSIZE - 1)];
    lt->flags |= e;
    return e & FAST_BAD ? 0 : lt->ftab[(t - lt->ptab0) >> PBITS][b & (TABSIZE - 1)];
}

/* Bit positions (relative to stream 0's pointer) instead of bit buffers: a load per stream
 * and two symbols, nothing to spill. */
#define PAIR_FAST(POS, K)                                                                                \
    do {                                                                                                 \
        uint64_t b_ = sqz_rd64(o + ((POS) >> 3)) >> ((POS) & 7);                                         \
        unsigned n1_, n2_;                                                                               \
        SYM(b_, K, n1_, VALUE);                                                                          \
        b_ >>= n1_;                                                                                      \
        SYM(b_, (K) + 4, n2_, VALUE);                                                                    \
        POS += n1_ + n2_;                                                                                \
    } while (0)
#define ONE_FAST(POS, K)                                                                                 \
    do {                                                                                                 \
        const uint64_t b_ = sqz_rd64(o + ((POS) >> 3)) >> ((POS) & 7);                                   \
        unsigned n_;                                                                                     \
        SYM(b_, K, n_, VALUE);                                                                           \
        POS += n_;                                                                                       \
    } while (0)

/* Elements [k, stop) of a row segment (element k in stream k % 4, the lanes below rotated to
 * match), when every stream can read ((stop - k) / 4 + 2) * 3 + 16 bytes before the block ends
 * (checked by the caller). cp[j]: the first-level table of element kb + j. */
#define DEFINE_FAST_RUN(T, SUF, ATTR)                                                                    \
static ATTR void fast_run_##SUF(void *zv, const uint32_t *const *cp, uint64_t kb, uint64_t k, uint64_t stop, \
                                hf_stream *st, long_tables *lt)                                          \
{                                                                                                        \
    T *const z = zv;                                                                                     \
    const uint8_t *const o = st[0].p;                                                                    \
    const unsigned r = (unsigned)(k & 3);                                                                \
    int64_t q[4];                                                                                        \
    for (unsigned i = 0; i < 4; i++) q[i] = (st[(r + i) & 3].p - o) * 8 - (int64_t)st[(r + i) & 3].cnt;  \
    int64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];                                                  \
    for (; k + 8 <= stop; k += 8) {                                                                      \
        PAIR_FAST(q0, k); PAIR_FAST(q1, k + 1); PAIR_FAST(q2, k + 2); PAIR_FAST(q3, k + 3);              \
    }                                                                                                    \
    if (k + 4 <= stop) {                                                                                 \
        ONE_FAST(q0, k); ONE_FAST(q1, k + 1); ONE_FAST(q2, k + 2); ONE_FAST(q3, k + 3);                  \
        k += 4;                                                                                          \
    }                                                                                                    \
    if (k < stop) ONE_FAST(q0, k);                                                                       \
    if (k + 1 < stop) ONE_FAST(q1, k + 1);                                                               \
    if (k + 2 < stop) ONE_FAST(q2, k + 2);                                                               \
    q[0] = q0; q[1] = q1; q[2] = q2; q[3] = q3;                                                          \
    for (unsigned i = 0; i < 4; i++) {  /* back to pointer + buffer: 56 - (q & 7) bits from 7 bytes */  \
        const uint8_t *at = o + (q[i] >> 3);                                                             \
        st[(r + i) & 3] = (hf_stream){at + 7, (sqz_rd64(at) & ((1ull << 56) - 1)) >> (q[i] & 7), 56 - (unsigned)(q[i] & 7)}; \
    }                                                                                                    \
}

typedef struct { const uint8_t *p; uint64_t buf; unsigned cnt; } hf_stream;
typedef void (*fast_run_fn)(void *, const uint32_t *const *, uint64_t, uint64_t, uint64_t, hf_stream *, long_tables *);
#define VALUE VALUE_C
DEFINE_FAST_RUN(uint8_t, u8, )
DEFINE_FAST_RUN(uint16_t, u16, )
#undef VALUE
#if defined(__x86_64__) && defined(__GNUC__)
#define VALUE VALUE_BMI2
DEFINE_FAST_RUN(uint8_t, u8_bmi2, __attribute__((target("bmi,bmi2"))))
DEFINE_FAST_RUN(uint16_t, u16_bmi2, __attribute__((target("bmi,bmi2"))))
#undef VALUE
static int has_bmi2(void)
{
    static int v = -1;
    if (v < 0) { __builtin_cpu_init(); v = sqz_simd_get() >= SQZ_SIMD_AVX2 && __builtin_cpu_supports("bmi2"); }
    return v;
}
#endif

static fast_run_fn fast_run_for(size_t es)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (has_bmi2()) return es == 1 ? fast_run_u8_bmi2 : fast_run_u16_bmi2;
#endif
    return es == 1 ? fast_run_u8 : fast_run_u16;
}

#define STREAM_END_CHECK(P, START, SIZE, CNT, OVER)                                                      \
    do {                                                                                                 \
        uint64_t used_ = ((uint64_t)(P - START) + OVER) * 8 - CNT;                                       \
        SQZ_RETURN_IF(used_ > (uint64_t)(SIZE) * 8, SQZ_ERR_CORRUPT_DATA, "huff: bit stream truncated"); \
        SQZ_RETURN_IF((uint64_t)(SIZE) * 8 - used_ >= 8, SQZ_ERR_CORRUPT_DATA, "huff: stray bytes after a bit stream"); \
    } while (0)

/* 1-2 byte elements: the fast decoder's tables; 4-byte ones: the token tables */
#define DECODE_ANY(P, END, BUF, CNT, OVER, K)                                                           \
    do {                                                                                                 \
        if (sizeof(*z) <= 2) DECODE_ONE32(P, END, BUF, CNT, OVER, K);                                   \
        else DECODE_ONE(P, END, BUF, CNT, OVER, K);                                                      \
    } while (0)

#define DEFINE_DECODE(T, SUF)                                                                            \
static int decode_##SUF(T *z, uint64_t m, uint64_t first, uint64_t X, const uint16_t *const *tabs,      \
                        huff_state *hs,                                                                  \
                        const uint8_t *unused, uint8_t *cx, const uint32_t **cp, const uint8_t *const *st, \
                        const size_t *sn, const uint8_t *lim)                                            \
{                                                                                                        \
    uint32_t base[NTOK], mask[NTOK];                                                                     \
    uint8_t xb[NTOK];                                                                                    \
    for (unsigned t = 0; t < NTOK; t++) {                                                                \
        base[t] = token_base(t); xb[t] = (uint8_t)extra_bits(t); mask[t] = (uint32_t)((1ull << xb[t]) - 1); \
    }                                                                                                    \
    const fast_run_fn run = sizeof(T) <= 2 ? fast_run_for(sizeof(T)) : NULL;                             \
    const uint32_t (*const ptab)[PSIZE] = hs->ptab, (*const ftab)[TABSIZE] = (const uint32_t (*)[TABSIZE])hs->ftab; \
    long_tables lt_ = {ptab[0], ftab, 0}, *const lt = &lt_;                                              \
    const uint8_t *p0 = st[0], *p1 = st[1], *p2 = st[2], *p3 = st[3];                                    \
    const uint8_t *const e0 = p0 + sn[0], *const e1 = p1 + sn[1], *const e2 = p2 + sn[2], *const e3 = p3 + sn[3]; \
    uint64_t buf0 = 0, buf1 = 0, buf2 = 0, buf3 = 0;                                                     \
    unsigned cnt0 = 0, cnt1 = 0, cnt2 = 0, cnt3 = 0;                                                     \
    size_t over0 = 0, over1 = 0, over2 = 0, over3 = 0;                                                   \
    int bad = 0;                                                                                         \
    for (uint64_t k = 0; k < m;) {                                                                       \
        uint64_t x = (first + k) % X, len = X - x < m - k ? X - x : m - k;                               \
        if (sizeof(T) <= 2) segment_tables(sizeof(T), z, k, len, x, X, ptab, cp);                           \
        else segment_contexts(sizeof(T), z, k, len, x, X, cx);                                           \
        const uint64_t kb = k;  /* cx or cp: this segment's contexts */                                  \
        const uint64_t stop = k + len;                                                                   \
        if (sizeof(T) <= 2) {                                                                            \
            /* bytes a stream may read here: 3 per symbol, 8 per refill; the block's end bounds \
             * every stream (one that reads into the next is caught by STREAM_END_CHECK). Streams \
             * nearer than that to the end read a copy of it, zeros after: the slow path's bytes \
             * past the end, so a flat region's last rows keep the fast path. */                   \
            const size_t need_ = ((stop - k) / 4 + 2) * 3 + 16;                                         \
            hf_stream fs[4] = {{p0, buf0, cnt0}, {p1, buf1, cnt1}, {p2, buf2, cnt2}, {p3, buf3, cnt3}};  \
            const uint8_t *lo_ = NULL;                                                                   \
            for (int i_ = 0; i_ < 4; i_++)                                                               \
                if ((fs[i_].p > lim || (size_t)(lim - fs[i_].p) < need_) && (!lo_ || fs[i_].p < lo_)) lo_ = fs[i_].p; \
            if (lo_ && !(over0 | over1 | over2 | over3)) {                                               \
                /* from 8 bytes before: the buffered bits are re-read from their bytes */            \
                const uint8_t *from_ = lo_ - (lo_ - st[0] < 8 ? lo_ - st[0] : 8);                       \
                SQZ_RETURN_IF(!padded_copy(hs, from_, lim, need_ + 8), SQZ_ERR_OUT_OF_MEMORY, "huff stream padding"); \
                for (int i_ = 0; i_ < 4; i_++) if (fs[i_].p >= lo_) fs[i_].p = hs->pad + (fs[i_].p - from_); \
            }                                                                                            \
            if (!(over0 | over1 | over2 | over3)) {  /* zero-filled bytes past a stream's end: slow path */ \
                const uint8_t *at_[4] = {fs[0].p, fs[1].p, fs[2].p, fs[3].p};                            \
                run(z, cp, kb, k, stop, fs, lt);                                                         \
                const uint8_t *was_[4] = {p0, p1, p2, p3};                                               \
                for (int i_ = 0; i_ < 4; i_++) fs[i_].p = was_[i_] + (fs[i_].p - at_[i_]);              \
                p0 = fs[0].p; buf0 = fs[0].buf; cnt0 = fs[0].cnt; p1 = fs[1].p; buf1 = fs[1].buf; cnt1 = fs[1].cnt; \
                p2 = fs[2].p; buf2 = fs[2].buf; cnt2 = fs[2].cnt; p3 = fs[3].p; buf3 = fs[3].buf; cnt3 = fs[3].cnt; \
                k = stop;                                                                                \
                continue;                                                                                \
            }                                                                                            \
        }                                                                                                \
        while ((k & 3) && k < stop) {                                                                    \
            if ((k & 3) == 1) DECODE_ANY(p1, e1, buf1, cnt1, over1, k);                                  \
            else if ((k & 3) == 2) DECODE_ANY(p2, e2, buf2, cnt2, over2, k);                             \
            else DECODE_ANY(p3, e3, buf3, cnt3, over3, k);                                               \
            k++;                                                                                         \
        }                                                                                                \
        for (; k + 4 <= stop; k += 4) {                                                                  \
            DECODE_ANY(p0, e0, buf0, cnt0, over0, k);                                                    \
            DECODE_ANY(p1, e1, buf1, cnt1, over1, k + 1);                                                \
            DECODE_ANY(p2, e2, buf2, cnt2, over2, k + 2);                                                \
            DECODE_ANY(p3, e3, buf3, cnt3, over3, k + 3);                                                \
        }                                                                                                \
        if (k < stop) { DECODE_ANY(p0, e0, buf0, cnt0, over0, k); k++; }                                 \
        if (k < stop) { DECODE_ANY(p1, e1, buf1, cnt1, over1, k); k++; }                                 \
        if (k < stop) { DECODE_ANY(p2, e2, buf2, cnt2, over2, k); k++; }                                 \
    }                                                                                                    \
    SQZ_RETURN_IF(bad || (lt_.flags & FAST_BAD), SQZ_ERR_CORRUPT_DATA, "huff: element in a context without a table"); \
    STREAM_END_CHECK(p0, st[0], sn[0], cnt0, over0);                                                     \
    STREAM_END_CHECK(p1, st[1], sn[1], cnt1, over1);                                                     \
    STREAM_END_CHECK(p2, st[2], sn[2], cnt2, over2);                                                     \
    STREAM_END_CHECK(p3, st[3], sn[3], cnt3, over3);                                                     \
    return 0;                                                                                            \
}

DEFINE_DECODE(uint8_t, u8)
DEFINE_DECODE(uint16_t, u16)
DEFINE_DECODE(uint32_t, u32)

static uint32_t fast_entry(unsigned t, unsigned len)
{
    const unsigned xb = extra_bits(t);
    return token_base(t) << 16 | xb << 8 | len;
}

/* The fast decoder's tables of context c (1-2 byte elements): codes of <= PBITS bits in ptab,
 * longer ones behind a FAST_LONG entry in ftab (only those entries are ever read). */
static void fast_tables(huff_state *s, int c, const uint8_t *len, const uint16_t *code, unsigned nsym)
{
    for (unsigned t = 0; t < nsym; t++) {
        if (!len[t]) continue;
        const uint32_t e = fast_entry(t, len[t]);
        if (len[t] <= PBITS) {
            for (unsigned j = code[t]; j < PSIZE; j += 1u << len[t]) s->ptab[c][j] = e;
        } else {
            s->ptab[c][code[t] & (PSIZE - 1)] = FAST_LONG;
            for (unsigned j = code[t]; j < TABSIZE; j += 1u << len[t]) s->ftab[c][j] = e;
        }
    }
}

/* A block's tables as stored: per context the number of tokens and their code lengths
 * (sole: the context's only token, coded with 0 bits, else -1). */
typedef struct { unsigned nsym; int sole; uint8_t len[NTOK]; uint16_t code[NTOK]; } hf_spec;

/* Reads and checks the tables at the start of a block of n bytes; returns the bytes they take
 * or -sqz_error. */
static int64_t hf_parse(const uint8_t *in, size_t n, size_t es, hf_spec *spec)
{
    SQZ_RETURN_IF(n < NCTX, SQZ_ERR_CORRUPT_DATA, "huff block of %zu bytes has no tables", n);
    const uint8_t *end = in + n, *p = in + NCTX;
    const unsigned ntok = n_tokens(es);
    for (int c = 0; c < NCTX; c++) {
        hf_spec *sp = &spec[c];
        const unsigned nsym = in[c];
        sp->nsym = nsym;
        sp->sole = -1;
        if (!nsym) continue;
        SQZ_RETURN_IF(nsym > ntok, SQZ_ERR_CORRUPT_DATA, "huff: context %d has %u tokens (at most %u)", c, nsym, ntok);
        size_t bytes = (nsym + 1) / 2;
        SQZ_RETURN_IF((size_t)(end - p) < bytes, SQZ_ERR_CORRUPT_DATA, "huff tables truncated");
        memset(sp->len, 0, sizeof sp->len);
        int count = 0;
        uint32_t kraft = 0;
        for (unsigned t = 0; t < nsym; t++) {
            sp->len[t] = (uint8_t)((p[t / 2] >> (4 * (t & 1))) & 15);
            if (!sp->len[t]) continue;
            count++;
            if (sp->len[t] == SOLE) sp->sole = (int)t;
            else if (sp->len[t] > MAXLEN) return sqz_fail(SQZ_ERR_CORRUPT_DATA, "huff: code length %u", sp->len[t]);
            else kraft += TABSIZE >> sp->len[t];
        }
        p += bytes;
        SQZ_RETURN_IF(!sp->len[nsym - 1], SQZ_ERR_CORRUPT_DATA, "huff: context %d table does not end with a token", c);
        if (sp->sole >= 0) {
            SQZ_RETURN_IF(count != 1, SQZ_ERR_CORRUPT_DATA, "huff: context %d mixes a sole token with others", c);
            continue;
        }
        SQZ_RETURN_IF(count < 2 || kraft != TABSIZE, SQZ_ERR_CORRUPT_DATA, "huff: context %d code is not complete", c);
        sqz_huff_build_codes(sp->len, (int)nsym, sp->code);
    }
    return (int64_t)(p - in);
}

static int64_t hf_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t dst_size, void **state)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    const uint64_t X = ctx->shape[ctx->ndim - 1], m = dst_size / es;
    SQZ_RETURN_IF(dst_size % es || m != blk->n_elems, SQZ_ERR_CORRUPT_DATA, "huff block of %zu bytes", dst_size);
    huff_state *s = get_state(state, X < m ? X : m, dst_size, 1);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "huff decoding tables");
    const uint8_t *in = src, *end = in + n;
    hf_spec spec[NCTX];
    const int64_t head = hf_parse(in, n, es, spec);
    if (head < 0) return head;
    static const uint16_t k_empty[TABSIZE] = {[0 ... TABSIZE - 1] = (NTOK - 1) << 6};  /* unused contexts: an invalid token, 0 bits */
    uint8_t unused[NCTX];
    const uint16_t *tabs[NCTX];
    for (int c = 0; c < NCTX; c++) {
        const hf_spec *sp = &spec[c];
        uint16_t *tab = s->tab + (size_t)c * TABSIZE;
        unused[c] = sp->nsym == 0;
        tabs[c] = sp->nsym ? tab : k_empty;
        if (!sp->nsym) {
            if (es <= 2) for (unsigned j = 0; j < PSIZE; j++) s->ptab[c][j] = FAST_BAD | FAST_LONG;
            continue;
        }
        if (sp->sole >= 0) {
            if (es <= 2) {
                for (unsigned j = 0; j < PSIZE; j++) s->ptab[c][j] = fast_entry((unsigned)sp->sole, 0);
                continue;
            }
            const uint16_t e = (uint16_t)(sp->sole << 6 | extra_bits((unsigned)sp->sole));
            for (unsigned j = 0; j < TABSIZE; j++) tab[j] = e;
            continue;
        }
        if (es <= 2) {
            fast_tables(s, c, sp->len, sp->code, sp->nsym);
            continue;
        }
        for (unsigned t = 0; t < sp->nsym; t++) {
            if (!sp->len[t]) continue;
            const uint16_t e = (uint16_t)(t << 6 | (sp->len[t] + extra_bits(t)));
            for (unsigned j = sp->code[t]; j < TABSIZE; j += 1u << sp->len[t]) tab[j] = e;
        }
    }
    const uint8_t *p = in + head;
    SQZ_RETURN_IF(end - p < 12, SQZ_ERR_CORRUPT_DATA, "huff: no stream sizes");
    const uint8_t *st[4];
    size_t sn[4];
    const uint8_t *q = p + 12;
    for (int i = 0; i < 3; i++) {
        sn[i] = sqz_rd32(p + 4 * i);
        SQZ_RETURN_IF(sn[i] > (size_t)(end - q), SQZ_ERR_CORRUPT_DATA, "huff: stream %d of %zu bytes exceeds the block", i, sn[i]);
        st[i] = q;
        q += sn[i];
    }
    st[3] = q;
    sn[3] = (size_t)(end - q);
    if (es == 1) SQZ_FORWARD_IF_ERROR(decode_u8(dst, m, blk->first_elem, X, tabs, s, unused, s->ctx, s->cp, st, sn, end));
    else if (es == 2) SQZ_FORWARD_IF_ERROR(decode_u16(dst, m, blk->first_elem, X, tabs, s, unused, s->ctx, s->cp, st, sn, end));
    else SQZ_FORWARD_IF_ERROR(decode_u32(dst, m, blk->first_elem, X, tabs, s, unused, s->ctx, s->cp, st, sn, end));
    return (int64_t)dst_size;
}

/* ---- huff64: the same tables and codes in 64 lanes of 32-bit states (docs/FORMAT.md) ---- */
#define LANES64 64
#define STATE_LOW (1u << 16)

/* The vector loops in use: SQZ_SIMD_AVX512, SQZ_SIMD_AVX2 or SQZ_SIMD_SCALAR */
static int huff64_simd(void)
{
    const int level = sqz_simd_get();
#ifdef SQZ_HAVE_AVX512
    if (level >= SQZ_SIMD_AVX512) return SQZ_SIMD_AVX512;
#endif
#ifdef SQZ_HAVE_AVX2
    if (level >= SQZ_SIMD_AVX2) return SQZ_SIMD_AVX2;
#endif
    return SQZ_SIMD_SCALAR;
}

#ifndef SQZ_HAVE_AVX512
uint32_t sqz_huff64_segment_avx512(size_t es, const uint32_t *tab, const uint16_t *cx, void *z, uint64_t x0,
                                   uint64_t len, uint32_t *xs, const uint8_t **p)
{ (void)es; (void)tab; (void)cx; (void)z; (void)x0; (void)len; (void)xs; (void)p; return 0x80; }
void sqz_huff64_encode_avx512(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, uint64_t x0,
                              uint64_t len, uint32_t *xs, uint16_t **w)
{ (void)es; (void)ent; (void)idx; (void)z; (void)x0; (void)len; (void)xs; (void)w; }
#endif
#ifndef SQZ_HAVE_AVX2
uint32_t sqz_huff64_segment_avx2(size_t es, const uint32_t *tab, const uint8_t *cx, void *z, uint64_t x0,
                                 uint64_t len, uint32_t *xs, const uint8_t **p)
{ (void)es; (void)tab; (void)cx; (void)z; (void)x0; (void)len; (void)xs; (void)p; return 0x80; }
void sqz_huff64_encode_avx2(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, uint64_t x0,
                            uint64_t len, uint32_t *xs, uint16_t **w)
{ (void)es; (void)ent; (void)idx; (void)z; (void)x0; (void)len; (void)xs; (void)w; }
#endif

/* How many of the block's elements [first, first + m) sit in lane group g (columns x with
 * (x >> 4) & 3 == g in rows of X) */
static uint64_t group_cols(uint64_t x, unsigned g)  /* of columns [0, x) */
{
    const uint64_t r = x % 64, lo = 16u * g;
    return x / 64 * 16 + (r <= lo ? 0 : r - lo < 16 ? r - lo : 16);
}

static uint64_t group_elems(uint64_t first, uint64_t m, uint64_t X, unsigned g)
{
    const uint64_t a = first % X, head = X - a < m ? X - a : m, rest = m - head;
    return group_cols(a + head, g) - group_cols(a, g) + rest / X * group_cols(X, g) + group_cols(rest % X, g);
}

/* The part of a row segment for the AVX2 loops: from its start at a step (x0 % 16 == 0), to its
 * end unless the partial last step has so few lanes that the scalar code is faster */
#define AVX2_TAIL_MIN 4
static uint64_t avx2_part(uint64_t x0, uint64_t len)
{
    return x0 % 16 ? 0 : len % 16 >= AVX2_TAIL_MIN ? len : len & ~(uint64_t)15;
}

/* nb bits onto a lane's state, its low 16 bits going out first when they would overflow. Without
 * branches (they would be unpredictable): the word is stored below *w (free) either way. */
static inline void push_bits(uint32_t *x, uint32_t bits, unsigned nb, uint16_t **w)
{
    const unsigned out = ((uint64_t)*x >> (32 - nb)) != 0;  /* nb = 0: never */
    (*w)[-1] = (uint16_t)*x;
    *w -= out;
    *x = (out ? *x >> 16 : *x) << nb | bits;
}

/* The reference encoder of one row segment: steps backward; in a step, extra bits then codes,
 * lanes backward. */
static void h64_encode_segment(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, uint64_t x0,
                               uint64_t len, uint32_t *xs, uint16_t **w)
{
    for (uint64_t j = len; j > 0;) {
        const uint64_t x = x0 + j - 1, a = j - 1 - ((x & 15) < j - 1 ? (x & 15) : j - 1);
        const unsigned g = (unsigned)(x >> 4) & 3;
        uint32_t *const xl = xs + 16 * g;
        for (uint64_t i = j; i-- > a;) {
            const unsigned xb = extra_bits(idx[i] % NTOK);
            push_bits(&xl[(x0 + i) & 15], sqz_elem(z, es, i) & ((1u << xb) - 1), xb, &w[g]);
        }
        for (uint64_t i = j; i-- > a;) {
            const uint32_t e = ent[idx[i]];
            push_bits(&xl[(x0 + i) & 15], e & 0xFFFFu, (e >> 16) & 0xFF, &w[g]);
        }
        j = a;
    }
}

static int64_t h64_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                          void *dst, size_t cap, void **state)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    const uint64_t X = ctx->shape[ctx->ndim - 1], m = n / es, first = blk->first_elem;
    SQZ_RETURN_IF(n % es || m != blk->n_elems || es > 2, SQZ_ERR_BAD_ARGUMENT, "huff64 block of %zu bytes", n);
    huff_state *s = get_state(state, m, n, 0);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "huff64 buffers for %llu elements", (unsigned long long)m);
    const int64_t head = hf_model(es, X, first, src, m, s, dst, cap);
    if (head < 0) return head;
    /* each group's words go backward from the end of its area: at most 24 bits per element of the
     * group, and 64 words to spare (vector stores reach below the stream's end) */
    size_t words[4], total_words = 0;
    for (unsigned g = 0; g < 4; g++) total_words += words[g] = 3 * (size_t)group_elems(first, m, X, g) / 2 + 64;
    if (s->words_cap < total_words) {
        free(s->words);
        s->words = malloc(total_words * sizeof *s->words);
        s->words_cap = s->words ? total_words : 0;
        SQZ_RETURN_IF(!s->words, SQZ_ERR_OUT_OF_MEMORY, "huff64 word buffers");
    }
    uint16_t *end[4], *w[4];
    for (size_t g = 0, at = 0; g < 4; g++) end[g] = w[g] = s->words + (at += words[g]);
    uint32_t xs[LANES64];
    for (int l = 0; l < LANES64; l++) xs[l] = STATE_LOW;
    const uint32_t *const ent = s->ent;
    const uint16_t *const idx = s->idx;
    const int simd = huff64_simd();
    uint64_t k = m;
    while (k > 0) {  /* row segments backward */
        const uint64_t xl = (first + k - 1) % X, len = xl + 1 < k ? xl + 1 : k, x0 = xl + 1 - len;
        k -= len;
        const uint8_t *const zk = (const uint8_t *)src + k * es;
        if (simd == SQZ_SIMD_AVX512) {
            sqz_huff64_encode_avx512(es, ent, idx + k, zk, x0, len, xs, w);
            continue;
        }
        const uint64_t v = simd == SQZ_SIMD_AVX2 ? avx2_part(x0, len) : 0;  /* the rest (encoded first): scalar */
        if (v < len) h64_encode_segment(es, ent, idx + k + v, zk + v * es, x0 + v, len - v, xs, w);
        if (v) sqz_huff64_encode_avx2(es, ent, idx + k, zk, x0, v, xs, w);
    }
    size_t sz[4], total = (size_t)head + 4 * LANES64 + 12;
    for (int g = 0; g < 4; g++) { sz[g] = (size_t)(end[g] - w[g]) * 2; total += sz[g]; }
    if (total > cap) return -SQZ_ERR_DST_TOO_SMALL;
    uint8_t *o = (uint8_t *)dst + head;
    for (int l = 0; l < LANES64; l++, o += 4) sqz_wr32(o, xs[l]);
    for (int g = 0; g < 3; g++, o += 4) sqz_wr32(o, (uint32_t)sz[g]);
    for (int g = 0; g < 4; g++) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(o, w[g], sz[g]);
        o += sz[g];
#else
        for (size_t i = 0; i < sz[g] / 2; i++, o += 2) sqz_wr16(o, w[g][i]);
#endif
    }
    return (int64_t)total;
}

/* A lane's refill where the stream has room for the segment (h64_decode sees to it): arithmetic
 * instead of a branch, which depends on each code's length and predicts badly */
static inline void h64_refill_room(uint32_t *x, const uint8_t **p)
{
    const uint32_t need = *x < STATE_LOW, w = (uint32_t)(*p)[0] | (uint32_t)(*p)[1] << 8;
    *x = *x << (need << 4) | (w & (0u - need));
    *p += need << 1;
}

/* The reference decoder of one row segment: lanes one at a time. */
static void h64_segment(size_t es, const uint32_t *tab, const uint8_t *cx, void *z, uint64_t x0, uint64_t len,
                        uint32_t *xs, const uint8_t **p, uint32_t *flags)
{
    for (uint64_t j = 0; j < len;) {
        const uint64_t x = x0 + j, stop = j + 16 - (x & 15) < len ? j + 16 - (x & 15) : len;
        const unsigned g = (unsigned)(x >> 4) & 3;
        uint32_t *const xl = xs + 16 * g, e[16];
        for (uint64_t i = j; i < stop; i++) {
            uint32_t *const st = &xl[(x0 + i) & 15];
            e[i - j] = tab[(size_t)cx[i] << SQZ_HUFF64_LBITS | (*st & ((1u << SQZ_HUFF64_LBITS) - 1))];
            *flags |= e[i - j];
            *st >>= e[i - j] & 31;
            h64_refill_room(st, &p[g]);
        }
        for (uint64_t i = j; i < stop; i++) {
            uint32_t *const st = &xl[(x0 + i) & 15];
            const unsigned xb = (e[i - j] >> 24) & 31;
            const uint32_t v = (e[i - j] >> 8) + (*st & ((1u << xb) - 1));
            *st >>= xb;
            h64_refill_room(st, &p[g]);
            if (es == 1) ((uint8_t *)z)[i] = (uint8_t)v;
            else ((uint16_t *)z)[i] = (uint16_t)v;
        }
        j = stop;
    }
}

/* huff64's decoder entries: code length in bits 0-7 (FAST_LONG: bit 7), value base in 8-23, extra
 * bits in 24-31, so the base needs no mask where values are stored truncated. */
#define H64_BAD (FAST_LONG | 0xFF000000u)
static uint32_t h64_entry(unsigned t, unsigned len) { return extra_bits(t) << 24 | token_base(t) << 8 | len; }

/* t[s] = the entry of the code that s's low bits begin with, for s < 2^bits (bits >= the longest
 * code; hf_parse checked that the code is complete). By doubling: the table of 2^L slots is copied
 * above itself, then the codes of L + 1 bits go in; 2^bits entries copied in all instead of
 * 2^bits strided stores. */
static void h64_code_table(uint32_t *t, const hf_spec *sp, unsigned bits)
{
    uint8_t order[NTOK];  /* tokens by code length */
    unsigned start[MAXLEN + 2] = {0}, at[MAXLEN + 1];
    for (unsigned k = 0; k < sp->nsym; k++) start[sp->len[k] + 1]++;
    for (unsigned L = 1; L <= MAXLEN + 1; L++) start[L] += start[L - 1];
    memcpy(at, start, sizeof at);
    for (unsigned k = 0; k < sp->nsym; k++) order[at[sp->len[k]]++] = (uint8_t)k;
    t[0] = H64_BAD;
    for (unsigned L = 1; L <= bits; L++) {
        const unsigned half = 1u << (L - 1);
        if (half >= 64) memcpy(t + half, t, sizeof *t * half);
        else for (unsigned i = 0; i < half; i++) t[half + i] = t[i];  /* short: no call, no rep movs */
        for (unsigned i = start[L]; i < start[L + 1]; i++) t[sp->code[order[i]]] = h64_entry(order[i], L);
    }
}

static int64_t h64_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                          void *dst, size_t dst_size, void **state)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    const uint64_t X = ctx->shape[ctx->ndim - 1], m = dst_size / es, first = blk->first_elem;
    SQZ_RETURN_IF(dst_size % es || m != blk->n_elems || es > 2, SQZ_ERR_CORRUPT_DATA, "huff64 block of %zu bytes", dst_size);
    huff_state *s = get_state(state, X < m ? X : m, dst_size, 1);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "huff64 decoding tables");
    const uint8_t *in = src, *end = in + n;
    hf_spec spec[NCTX];
    const int64_t head = hf_parse(in, n, es, spec);
    if (head < 0) return head;
    /* The AVX-512 decoder reads context c's table at offs[c] = c << LBITS | (its size - 1): 2^(the
     * longest code) entries, one for a context without codes. The others read 2^LBITS. */
    const int simd = huff64_simd(), small = simd == SQZ_SIMD_AVX512;
    uint32_t *const tab = &s->ftab[0][0];
    uint16_t offs[32] = {0};
    for (int c = 0; c < NCTX; c++) {
        const hf_spec *sp = &spec[c];
        uint32_t *const t = tab + (size_t)c * TABSIZE;
        offs[c] = (uint16_t)(c << SQZ_HUFF64_LBITS);
        if (!sp->nsym || sp->sole >= 0) {
            const uint32_t e = sp->nsym ? h64_entry((unsigned)sp->sole, 0) : H64_BAD;
            for (unsigned j = 0; j < (small ? 1 : TABSIZE); j++) t[j] = e;
            continue;
        }
        unsigned bits = MAXLEN;
        if (small) {
            bits = 0;
            for (unsigned k = 0; k < sp->nsym; k++) bits = sp->len[k] > bits ? sp->len[k] : bits;
            offs[c] |= (uint16_t)((1u << bits) - 1);
        }
        h64_code_table(t, sp, bits);
    }
    const uint8_t *p = in + head;
    SQZ_RETURN_IF((size_t)(end - p) < 4 * LANES64 + 12, SQZ_ERR_CORRUPT_DATA, "huff64: no lane states");
    uint32_t xs[LANES64];
    for (int l = 0; l < LANES64; l++, p += 4) {
        xs[l] = sqz_rd32(p);
        SQZ_RETURN_IF(xs[l] < STATE_LOW, SQZ_ERR_CORRUPT_DATA, "huff64: lane %d starts below 2^16", l);
    }
    const uint8_t *st[4], *pend[4];
    const uint8_t *q = p + 12;
    for (int g = 0; g < 4; g++) {
        const size_t sz = g < 3 ? sqz_rd32(p + 4 * g) : (size_t)(end - q);
        SQZ_RETURN_IF(sz > (size_t)(end - q) || sz % 2, SQZ_ERR_CORRUPT_DATA, "huff64: word stream %d of %zu bytes", g, sz);
        st[g] = q;
        q += sz;
        pend[g] = q;
    }
    uint32_t flags = 0;
    for (uint64_t k = 0; k < m;) {
        const uint64_t x0 = (first + k) % X, len = X - x0 < m - k ? X - x0 : m - k;
        void *const zk = (uint8_t *)dst + k * es;
        /* A row reads at most `need` bytes from each stream (loads past the words it takes
         * included). Streams nearer than that to the block's end read a copy of the end, padded
         * with zeros: every decoder below runs without bounds checks, and a stream that runs past
         * its end is caught after the row. */
        const size_t need = (len / 64 + 2) * 64 + 32;
        const uint8_t *at[4], *sp[4], *lo = NULL;
        for (int g = 0; g < 4; g++)
            if ((size_t)(end - st[g]) < need && (!lo || st[g] < lo)) lo = st[g];
        SQZ_RETURN_IF(lo && !padded_copy(s, lo, end, need), SQZ_ERR_OUT_OF_MEMORY, "huff64 stream padding");
        for (int g = 0; g < 4; g++) sp[g] = at[g] = lo && st[g] >= lo ? s->pad + (st[g] - lo) : st[g];
        if (simd == SQZ_SIMD_AVX512) {
            segment_offsets(es, dst, k, len, x0, X, offs, s->idx);
            flags |= sqz_huff64_segment_avx512(es, tab, s->idx, zk, x0, len, xs, sp);
        } else {
            const uint64_t done = simd == SQZ_SIMD_AVX2 ? avx2_part(x0, len) : 0;
            segment_contexts(es, dst, k, len, x0, X, s->ctx);
            if (done) flags |= sqz_huff64_segment_avx2(es, tab, s->ctx, zk, x0, done, xs, sp);
            if (done < len) h64_segment(es, tab, s->ctx + done, (uint8_t *)zk + done * es, x0 + done, len - done, xs, sp, &flags);
        }
        for (int g = 0; g < 4; g++) {
            const size_t used = (size_t)(sp[g] - at[g]);
            SQZ_RETURN_IF(used > (size_t)(pend[g] - st[g]), SQZ_ERR_CORRUPT_DATA, "huff64: word stream %d truncated", g);
            st[g] += used;
        }
        k += len;
    }
    SQZ_RETURN_IF(flags & FAST_LONG, SQZ_ERR_CORRUPT_DATA, "huff64: element in a context without a table");
    for (int g = 0; g < 4; g++)
        SQZ_RETURN_IF(st[g] != pend[g], SQZ_ERR_CORRUPT_DATA, "huff64: word stream %d %s", g, st[g] < pend[g] ? "has words left over" : "truncated");
    for (int l = 0; l < LANES64; l++)
        SQZ_RETURN_IF(xs[l] != STATE_LOW, SQZ_ERR_CORRUPT_DATA, "huff64: lane %d ends in state %u, not 2^16", l, xs[l]);
    return (int64_t)dst_size;
}

static int h64_check(const sqz_stage_ctx *ctx)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    SQZ_RETURN_IF(es != 1 && es != 2, SQZ_ERR_UNSUPPORTED_DTYPE, "huff64 codes 1- and 2-byte elements; use huff for 4-byte ones");
    return 0;
}

/* Whole rows, about DEFAULT_BYTES (or the requested size) per block: fewer tables to store. */
static uint64_t hf_block_elems(const sqz_stage_ctx *ctx, uint64_t n_elems, uint32_t block_bytes)
{
    (void)n_elems;
    return sqz_rows_block_elems(ctx, block_bytes, DEFAULT_BYTES);
}

const sqz_stage sqz_stage_huff = {
    .id = 40, .name = "huff", .kind = SQZ_STAGE_CODEC,
    .doc = "context-modelled Huffman coding of residuals (21 tables per block, chosen by the row above), four streams",
    .encode = hf_encode, .decode = hf_decode, .release = hf_release, .block_elems = hf_block_elems,
};

const sqz_stage sqz_stage_huff64 = {
    .id = 44, .name = "huff64", .kind = SQZ_STAGE_CODEC,
    .doc = "huff's contexts and codes in 64 interleaved lanes (rANS-style states, shared word streams): a SIMD decoder",
    .check = h64_check, .encode = h64_encode, .decode = h64_decode, .release = hf_release, .block_elems = hf_block_elems,
};
