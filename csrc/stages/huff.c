/* huff: entropy codec for prediction residuals. Each element's token (a hybrid integer code)
 * is Huffman coded with one of NCTX tables chosen by the residual sizes of the row above;
 * tables are built per block. Bytes: docs/FORMAT.md; reasons and numbers: docs/DESIGN.md. */
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/error.h"
#include "stage.h"

#define NCTX 21          /* 0..19: activity classes; 20: no row above in the block */
#define CTX_FIRST 20
#define MAXLEN 11
#define TABSIZE (1u << MAXLEN)
#define NTOK 128
#define SOLE 15          /* length nibble: the context's only token, coded with 0 bits */
#define DEFAULT_BYTES (256u * 1024u)

typedef struct {
    uint8_t *ctx, *tok;  /* encoder: per element */
    size_t cap;
    uint32_t hist[NCTX][NTOK];
    uint16_t *tab;       /* decoder: NCTX * TABSIZE entries, token << 4 | length */
} huff_state;

static huff_state *get_state(void **state, size_t n_elems, int dec)
{
    huff_state *s = *state;
    if (!s && !(s = *state = calloc(1, sizeof *s))) return NULL;
    if (dec) {
        if (!s->tab && !(s->tab = malloc(sizeof(uint16_t) * NCTX * TABSIZE))) return NULL;
    } else if (s->cap < n_elems) {
        free(s->ctx); free(s->tok);
        s->ctx = malloc(n_elems);
        s->tok = malloc(n_elems);
        s->cap = s->ctx && s->tok ? n_elems : 0;
        if (!s->cap) return NULL;
    }
    return s;
}

static void hf_release(void *p)
{
    huff_state *s = p;
    if (!s) return;
    free(s->ctx); free(s->tok); free(s->tab); free(s);
}

static inline int ilog2_64(uint64_t v) { return 63 - __builtin_clzll(v); }

/* Activity class of zN + (zNW + zNE)/2: about 2*log2(1 + activity), at most 19. */
static inline int ctx_of(uint64_t twice_act)
{
    uint64_t u = (twice_act >> 1) + 1;
    int nb = ilog2_64(u);
    int q = 2 * nb + (nb ? (int)((u >> (nb - 1)) & 1) : 0);
    return q < 19 ? q : 19;
}

static inline unsigned token_of(uint32_t z)
{
    if (z < 16) return z;
    int nb = 31 - __builtin_clz(z);
    return 16 + (unsigned)(nb - 4) * 4 + ((z >> (nb - 2)) & 3);
}

static unsigned n_tokens(size_t es) { return es == 1 ? 32 : es == 2 ? 64 : NTOK; }

/* Huffman code lengths (<= MAXLEN) for counts[0..n); lengths of absent tokens are 0.
 * Returns the number of present tokens. */
static int build_lengths(const uint32_t *counts, int n, uint8_t *len)
{
    int sym[NTOK], m = 0;
    uint64_t w[2 * NTOK];
    int parent[2 * NTOK], depth[2 * NTOK];
    memset(len, 0, (size_t)n);
    for (int t = 0; t < n; t++) if (counts[t]) sym[m++] = t;
    if (m <= 1) return m;
    uint32_t c[NTOK];
    for (int i = 0; i < m; i++) c[i] = counts[sym[i]];
    for (;;) {
        /* leaves sorted by weight (insertion sort; m <= 128) */
        int order[NTOK];
        for (int i = 0; i < m; i++) {
            int j = i;
            while (j > 0 && c[order[j - 1]] > c[i]) { order[j] = order[j - 1]; j--; }
            order[j] = i;
        }
        for (int i = 0; i < m; i++) w[i] = c[order[i]];
        int li = 0, ii = m;
        for (int next = m; next < 2 * m - 1; next++) {
            int pick[2];
            for (int k = 0; k < 2; k++) {
                if (li < m && (ii >= next || w[li] <= w[ii])) pick[k] = li++;
                else pick[k] = ii++;
            }
            w[next] = w[pick[0]] + w[pick[1]];
            parent[pick[0]] = parent[pick[1]] = next;
        }
        depth[2 * m - 2] = 0;
        int maxd = 0;
        for (int i = 2 * m - 3; i >= 0; i--) {
            depth[i] = depth[parent[i]] + 1;
            if (depth[i] > maxd) maxd = depth[i];
        }
        if (maxd <= MAXLEN) {
            for (int i = 0; i < m; i++) len[sym[order[i]]] = (uint8_t)depth[i];
            return m;
        }
        for (int i = 0; i < m; i++) c[i] = (c[i] >> 1) | 1;  /* flatten and retry */
    }
}

/* Canonical codes, bit-reversed for an LSB-first stream. */
static void build_codes(const uint8_t *len, int n, uint16_t *code)
{
    int bl[MAXLEN + 1] = {0};
    uint32_t next[MAXLEN + 2];
    for (int t = 0; t < n; t++) bl[len[t]]++;
    bl[0] = 0;
    uint32_t c = 0;
    for (int b = 1; b <= MAXLEN; b++) { c = (c + (uint32_t)bl[b - 1]) << 1; next[b] = c; }
    for (int t = 0; t < n; t++) {
        if (!len[t]) continue;
        uint32_t v = next[len[t]]++, r = 0;
        for (int b = 0; b < len[t]; b++) r |= ((v >> b) & 1u) << (len[t] - 1 - b);
        code[t] = (uint16_t)r;
    }
}

typedef struct { uint8_t *p, *end; uint64_t acc; unsigned cnt; int overflow; } bit_writer;

static inline void put_bits(bit_writer *bw, uint64_t v, unsigned n)
{
    bw->acc |= v << bw->cnt;
    bw->cnt += n;
    if (bw->cnt >= 32) {
        if (bw->end - bw->p < 4) bw->overflow = 1;
        else { sqz_wr32(bw->p, (uint32_t)bw->acc); bw->p += 4; }
        bw->acc >>= 32;
        bw->cnt -= 32;
    }
}

/* Context of element k (block-local) from the residuals of the row above in the block. */
#define CTX_AT(z, k, x, X) \
    ((k) < (X) ? CTX_FIRST : ctx_of(2u * (uint64_t)(z)[(k) - (X)] \
        + (uint64_t)((x) > 0 && (k) > (X) ? (z)[(k) - (X) - 1] : (z)[(k) - (X)]) \
        + (uint64_t)((x) + 1 < (X) ? (z)[(k) - (X) + 1] : (z)[(k) - (X)])))

#define DEFINE_HUFF(T, SUF)                                                                              \
static void analyse_##SUF(const T *z, uint64_t n, uint64_t first, uint64_t X, uint8_t *cx, uint8_t *tk,  \
                          uint32_t (*hist)[NTOK])                                                        \
{                                                                                                        \
    for (uint64_t k = 0; k < n;) {                                                                       \
        uint64_t x = (first + k) % X, len = X - x < n - k ? X - x : n - k;                               \
        for (uint64_t j = 0; j < len; j++, k++, x++) {                                                   \
            int c = CTX_AT(z, k, x, X);                                                                  \
            unsigned t = token_of(z[k]);                                                                 \
            cx[k] = (uint8_t)c;                                                                          \
            tk[k] = (uint8_t)t;                                                                          \
            hist[c][t]++;                                                                                \
        }                                                                                                \
    }                                                                                                    \
}                                                                                                        \
static int decode_##SUF(T *z, uint64_t n, uint64_t first, uint64_t X, const uint16_t *const *tabs,              \
                        const uint8_t *unused, const uint8_t *src, size_t src_n)                          \
{                                                                                                        \
    const uint8_t *p = src, *end = src + src_n;                                                          \
    uint64_t buf = 0;                                                                                    \
    unsigned cnt = 0;                                                                                    \
    size_t over = 0;                                                                                     \
    int bad = 0;                                                                                         \
    for (uint64_t k = 0; k < n;) {                                                                       \
        uint64_t x = (first + k) % X, len = X - x < n - k ? X - x : n - k;                               \
        for (uint64_t j = 0; j < len; j++, k++, x++) {                                                   \
            if (end - p >= 8) {                                                                          \
                buf |= sqz_rd64(p) << cnt;                                                               \
                p += (63 - cnt) >> 3;                                                                    \
                cnt |= 56;                                                                               \
            } else {                                                                                     \
                while (cnt <= 56) {                                                                      \
                    uint64_t byte = p < end ? *p++ : (over++, 0);                                        \
                    buf |= byte << cnt;                                                                  \
                    cnt += 8;                                                                            \
                }                                                                                        \
            }                                                                                            \
            int c = CTX_AT(z, k, x, X);                                                                  \
            bad |= unused[c];                                                                            \
            unsigned e = tabs[c][buf & (TABSIZE - 1)], l = e & 15, t = e >> 4;       \
            buf >>= l;                                                                                   \
            cnt -= l;                                                                                    \
            uint32_t v = t;                                                                              \
            if (t >= 16) {                                                                               \
                unsigned nb = ((t - 16) >> 2) + 4, xb = nb - 2;                                          \
                v = ((4u | (t & 3u)) << xb) | (uint32_t)(buf & ((1ull << xb) - 1));                      \
                buf >>= xb;                                                                              \
                cnt -= xb;                                                                               \
            }                                                                                            \
            z[k] = (T)v;                                                                                 \
        }                                                                                                \
    }                                                                                                    \
    SQZ_RETURN_IF(bad, SQZ_ERR_CORRUPT_DATA, "huff: element in a context without a table");            \
    uint64_t consumed = ((uint64_t)(p - src) + over) * 8 - cnt;                                          \
    SQZ_RETURN_IF(consumed > (uint64_t)src_n * 8, SQZ_ERR_CORRUPT_DATA, "huff: bit stream truncated");   \
    SQZ_RETURN_IF((uint64_t)src_n * 8 - consumed >= 8, SQZ_ERR_CORRUPT_DATA, "huff: stray bytes after the bit stream"); \
    return 0;                                                                                            \
}

DEFINE_HUFF(uint8_t, u8)
DEFINE_HUFF(uint16_t, u16)
DEFINE_HUFF(uint32_t, u32)

static inline uint32_t elem(const void *z, size_t es, uint64_t k)
{
    return es == 1 ? ((const uint8_t *)z)[k] : es == 2 ? ((const uint16_t *)z)[k] : ((const uint32_t *)z)[k];
}

static int64_t hf_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t cap, void **state)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    const uint64_t X = ctx->shape[ctx->ndim - 1], m = n / es;
    SQZ_RETURN_IF(n % es || m != blk->n_elems, SQZ_ERR_BAD_ARGUMENT, "huff block of %zu bytes", n);
    huff_state *s = get_state(state, m, 0);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "huff buffers for %llu elements", (unsigned long long)m);
    uint32_t (*hist)[NTOK] = s->hist;
    memset(hist, 0, sizeof s->hist);
    if (es == 1) analyse_u8(src, m, blk->first_elem, X, s->ctx, s->tok, hist);
    else if (es == 2) analyse_u16(src, m, blk->first_elem, X, s->ctx, s->tok, hist);
    else analyse_u32(src, m, blk->first_elem, X, s->ctx, s->tok, hist);

    const int ntok = (int)n_tokens(es);
    uint8_t len[NCTX][NTOK];
    uint16_t code[NCTX][NTOK];
    memset(code, 0, sizeof code);
    uint8_t *out = dst, *o = out + NCTX;
    if (cap < NCTX) return -SQZ_ERR_DST_TOO_SMALL;
    for (int c = 0; c < NCTX; c++) {
        int present = build_lengths(hist[c], ntok, len[c]);
        int nsym = 0;
        for (int t = 0; t < ntok; t++) if (hist[c][t]) nsym = t + 1;
        out[c] = (uint8_t)nsym;
        if (!nsym) continue;
        if (present == 1) len[c][nsym - 1] = SOLE;
        else build_codes(len[c], ntok, code[c]);
        size_t bytes = ((size_t)nsym + 1) / 2;
        if ((size_t)(out + cap - o) < bytes) return -SQZ_ERR_DST_TOO_SMALL;
        for (size_t b = 0; b < bytes; b++) {
            unsigned lo = len[c][2 * b], hi = 2 * b + 1 < (size_t)nsym ? len[c][2 * b + 1] : 0;
            o[b] = (uint8_t)(lo | hi << 4);
        }
        o += bytes;
        if (present == 1) len[c][nsym - 1] = 0;  /* 0 bits from here on */
    }
    bit_writer bw = {o, out + cap, 0, 0, 0};
    for (uint64_t k = 0; k < m; k++) {
        unsigned c = s->ctx[k], t = s->tok[k];
        put_bits(&bw, code[c][t], len[c][t]);
        if (t >= 16) {
            unsigned xb = ((t - 16) >> 2) + 2;
            put_bits(&bw, elem(src, es, k) & ((1u << xb) - 1), xb);
        }
        if (bw.overflow) return -SQZ_ERR_DST_TOO_SMALL;
    }
    while (bw.cnt > 0) {
        if (bw.p >= bw.end) return -SQZ_ERR_DST_TOO_SMALL;
        *bw.p++ = (uint8_t)bw.acc;
        bw.acc >>= 8;
        bw.cnt = bw.cnt > 8 ? bw.cnt - 8 : 0;
    }
    return bw.p - out;
}

static int64_t hf_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t dst_size, void **state)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    const uint64_t X = ctx->shape[ctx->ndim - 1], m = dst_size / es;
    SQZ_RETURN_IF(dst_size % es || m != blk->n_elems, SQZ_ERR_CORRUPT_DATA, "huff block of %zu bytes", dst_size);
    huff_state *s = get_state(state, m, 1);
    SQZ_RETURN_IF(!s, SQZ_ERR_OUT_OF_MEMORY, "huff decoding tables");
    const uint8_t *in = src, *end = in + n, *p = in + NCTX;
    SQZ_RETURN_IF(n < NCTX, SQZ_ERR_CORRUPT_DATA, "huff block of %zu bytes has no tables", n);
    const unsigned ntok = n_tokens(es);
    static const uint16_t k_empty[TABSIZE];  /* tables of unused contexts: token 0, flagged */
    uint8_t unused[NCTX];
    const uint16_t *tabs[NCTX];
    for (int c = 0; c < NCTX; c++) {
        unsigned nsym = in[c];
        uint16_t *tab = s->tab + (size_t)c * TABSIZE;
        unused[c] = nsym == 0;
        tabs[c] = nsym ? tab : k_empty;
        if (!nsym) continue;
        SQZ_RETURN_IF(nsym > ntok, SQZ_ERR_CORRUPT_DATA, "huff: context %d has %u tokens (at most %u)", c, nsym, ntok);
        size_t bytes = (nsym + 1) / 2;
        SQZ_RETURN_IF((size_t)(end - p) < bytes, SQZ_ERR_CORRUPT_DATA, "huff tables truncated");
        uint8_t len[NTOK] = {0};
        uint16_t code[NTOK];
        int sole = -1, count = 0;
        uint32_t kraft = 0;
        for (unsigned t = 0; t < nsym; t++) {
            len[t] = (uint8_t)((p[t / 2] >> (4 * (t & 1))) & 15);
            if (!len[t]) continue;
            count++;
            if (len[t] == SOLE) sole = (int)t;
            else if (len[t] > MAXLEN) return sqz_fail(SQZ_ERR_CORRUPT_DATA, "huff: code length %u", len[t]);
            else kraft += TABSIZE >> len[t];
        }
        p += bytes;
        SQZ_RETURN_IF(!len[nsym - 1], SQZ_ERR_CORRUPT_DATA, "huff: context %d table does not end with a token", c);
        if (sole >= 0) {
            SQZ_RETURN_IF(count != 1, SQZ_ERR_CORRUPT_DATA, "huff: context %d mixes a sole token with others", c);
            for (unsigned j = 0; j < TABSIZE; j++) tab[j] = (uint16_t)(sole << 4);
            continue;
        }
        SQZ_RETURN_IF(count < 2 || kraft != TABSIZE, SQZ_ERR_CORRUPT_DATA, "huff: context %d code is not complete", c);
        build_codes(len, (int)nsym, code);
        for (unsigned t = 0; t < nsym; t++) {
            if (!len[t]) continue;
            for (unsigned j = code[t]; j < TABSIZE; j += 1u << len[t]) tab[j] = (uint16_t)(t << 4 | len[t]);
        }
    }
    const size_t rest = (size_t)(end - p);
    if (es == 1) SQZ_FORWARD_IF_ERROR(decode_u8(dst, m, blk->first_elem, X, tabs, unused, p, rest));
    else if (es == 2) SQZ_FORWARD_IF_ERROR(decode_u16(dst, m, blk->first_elem, X, tabs, unused, p, rest));
    else SQZ_FORWARD_IF_ERROR(decode_u32(dst, m, blk->first_elem, X, tabs, unused, p, rest));
    return (int64_t)dst_size;
}

/* Whole rows, about DEFAULT_BYTES (or the requested size) per block: fewer tables to store. */
static uint64_t hf_block_elems(const sqz_stage_ctx *ctx, uint64_t n_elems, uint32_t block_bytes)
{
    (void)n_elems;
    const uint64_t X = ctx->shape[ctx->ndim - 1];
    const uint64_t target = (block_bytes ? block_bytes : DEFAULT_BYTES) / sqz_dtype_size(ctx->dtype);
    if (!X) return 0;
    uint64_t rows = (target + X / 2) / X;
    return (rows ? rows : 1) * X;
}

const sqz_stage sqz_stage_huff = {
    .id = 40, .name = "huff", .kind = SQZ_STAGE_CODEC,
    .doc = "context-modelled Huffman coding of residuals (21 tables per block, chosen by the row above)",
    .encode = hf_encode, .decode = hf_decode, .release = hf_release, .block_elems = hf_block_elems,
};
