/* Kernels of the lossless pipeline remap -> predict -> huff (stages 24, 25, 40) for 1- and
 * 2-byte elements. The bytes are those of docs/FORMAT.md ("Lossless codec") and of the CPU
 * stages (csrc/stages/remap.c, predict.c, huff.c), which are the reference; what runs where:
 * docs/GPU.md. Same rules as kernels.cuh (compat.h): 1-D kernels, no shared memory. */
#ifndef SQZ_CUDA_KERNELS_HUFF_CUH
#define SQZ_CUDA_KERNELS_HUFF_CUH

#include "kernels.cuh"

extern "C" {
#include "../stages/huff.h"
#include "../stages/huff_codes.h"
#include "../stages/predict.h"
}

#define SQZK_NCTX SQZ_HUFF_NCTX
#define SQZK_MAXLEN SQZ_HUFF_MAXLEN
#define SQZK_NT 64      /* token slots per context (2-byte elements use all 64) */
#define SQZK_SOLE 15
#define SQZK_SEG 4096   /* the CPU encoder checks its output room every SQZK_SEG elements */
#define SQZK_TILE 256   /* stream elements per emission thread: 4 tiles per segment */
#define SQZK_BINFO 8    /* u64 per block: size, coded, table bytes, stream sizes 0..3 */

/* What predict and huff need besides sqzk_geo. mode < 0: no predict stage. */
struct sqzk_lgeo {
    uint64_t X, Y, plane;
    uint32_t flip;
    int mode;
};

SQZ_HD int sqzk_ilog2(uint64_t u)
{
#ifdef __CUDA_ARCH__
    return 63 - __clzll((long long)u);
#else
    return 63 - __builtin_clzll(u);
#endif
}

SQZ_HD uint32_t sqzk_ld(const uint8_t *p, uint32_t es, uint64_t i)
{
    return es == 1 ? p[i] : (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
}

SQZ_HD void sqzk_st(uint8_t *p, uint32_t es, uint64_t i, uint32_t v)
{
    if (es == 1) p[i] = (uint8_t)v;
    else { p[2 * i] = (uint8_t)v; p[2 * i + 1] = (uint8_t)(v >> 8); }
}

SQZ_HD uint32_t sqzk_mask(uint32_t es) { return es == 1 ? 0xFFu : 0xFFFFu; }

/* ---- predict (predict.h: sqz_pred_full; predict.c: pred_edge and the generic walk) ---- */

/* a / b and a % b in 32 bits where both fit (a 64-bit division costs the GPU ~5x more) */
SQZ_HD uint64_t sqzk_div(uint64_t a, uint64_t b) { return (a | b) >> 32 ? a / b : (uint32_t)a / (uint32_t)b; }
SQZ_HD uint64_t sqzk_mod(uint64_t a, uint64_t b) { return (a | b) >> 32 ? a % b : (uint32_t)a % (uint32_t)b; }

/* Prediction of block element k (chunk element i, column x = i % X; row_n: the row above is in
 * the same plane) from the values `val` of the block, in the sign-flipped domain; masked to the
 * element width. */
SQZ_HD uint32_t sqzk_pred_xy(const uint8_t *val, uint32_t es, const sqzk_lgeo &g, uint64_t i, uint64_t k, uint64_t x,
                             int row_n)
{
    const uint64_t X = g.X;
    const int hw = k > 0 && x > 0, hn = row_n && k >= X, hnw = hn && hw && k > X;
    const int hp = g.plane && i >= g.plane && k >= g.plane, hne = hn && x + 1 < X;
    const uint32_t f = g.flip;
    const uint64_t w = k ? sqzk_ld(val, es, k - 1) ^ f : 0, n = hn ? sqzk_ld(val, es, k - X) ^ f : 0;
    const uint64_t nw = hnw ? sqzk_ld(val, es, k - X - 1) ^ f : 0, p = hp ? sqzk_ld(val, es, k - g.plane) ^ f : 0;
    const uint64_t ne = hne ? sqzk_ld(val, es, k - X + 1) ^ f : n;
    const int mode = g.mode;
    uint64_t r;
    if (sqz_pred_row_mode(mode))  /* a missing NW or NE is N; without N, P or W */
        r = !hn ? (hp ? p : w) : sqz_pred_full(mode == SQZ_PRED_ROW3D && hp ? mode : SQZ_PRED_ROW, w, n, hnw ? nw : n, ne, p);
    else if (mode == SQZ_PRED_PLANE && hp) r = p;
    else if ((mode == SQZ_PRED_AVG3D && hp && hw && hn) || (mode == SQZ_PRED_MED && hw && hn && hnw) ||
             (mode == SQZ_PRED_AVGNE && hw && hn))
        r = sqz_pred_full(mode, w, n, nw, ne, p);
    else if (mode != SQZ_PRED_LEFT && hw && hn) r = (w + n) >> 1;
    else r = hw ? w : hn ? n : hp ? p : w;
    return (uint32_t)r & sqzk_mask(es);
}

/* The same for block element k of a block that starts at chunk element `first`. */
SQZ_HD uint32_t sqzk_pred_at(const uint8_t *val, uint32_t es, const sqzk_lgeo &g, uint64_t first, uint64_t k)
{
    const uint64_t i = first + k, X = g.X, r = sqzk_div(i, X);
    return sqzk_pred_xy(val, es, g, i, k, i - r * X, g.Y && sqzk_mod(r, g.Y) > 0);
}

SQZ_HD uint32_t sqzk_zig(uint32_t x, uint32_t pred, uint32_t es)
{
    const uint32_t m = sqzk_mask(es), r = (x - pred) & m;
    return ((r << 1) ^ (r >> (8 * es - 1) ? m : 0)) & m;
}

SQZ_HD uint32_t sqzk_unzig(uint32_t z, uint32_t pred, uint32_t es)
{
    return (pred + ((z >> 1) ^ (0u - (z & 1u)))) & sqzk_mask(es);
}

/* Residuals of every element of a chunk laid out in blocks (one thread per element). */
SQZ_KERNEL k_predict(const uint8_t *in, uint8_t *out, sqzk_geo g, sqzk_lgeo lg)
{
    for (uint64_t i = SQZ_TID; i < g.n_elems; i += SQZ_NTHREADS) {
        const uint64_t b = sqzk_div(i, g.block_elems), first = b * g.block_elems;
        const uint8_t *blk = in + first * g.es;
        const uint32_t pr = sqzk_pred_at(blk, g.es, lg, first, i - first);
        sqzk_st(out, g.es, i, sqzk_zig(sqzk_ld(in, g.es, i) ^ lg.flip, pr, g.es));
    }
}

/* Inverse prediction of the coded blocks (table word without the stored flag): one thread
 * per block, element after element, as each needs its decoded neighbours. */
SQZ_KERNEL k_predict_dec(const uint8_t *z, uint8_t *out, const uint8_t *table, sqzk_geo g, sqzk_lgeo lg)
{
    for (uint64_t b = SQZ_TID; b < g.n_blocks; b += SQZ_NTHREADS) {
        if (sqzk_rd32(table + 12 * b) & SQZK_STORED) continue;
        const uint64_t first = b * g.block_elems, m = sqzk_block_elems(g, b);
        const uint8_t *zb = z + first * g.es;
        uint8_t *ob = out + first * g.es;
        for (uint64_t k = 0; k < m; k++)
            sqzk_st(ob, g.es, k, sqzk_unzig(sqzk_ld(zb, g.es, k), sqzk_pred_at(ob, g.es, lg, first, k), g.es) ^ lg.flip);
    }
}

/* Inverse prediction as a wavefront (k_predict_dec_wave; the emulation runs the same schedule
 * with each step's writes held back to its end, sqzc::predict_dec_wave_emul). One CTA per coded
 * block, rows of the chunk across its threads. Row j starts at step S(j) and does column
 * t - S(j) at step t. After a row with a row above in its plane, S(j) = S(j-1) + 2: its left,
 * upper-left, upper, upper-right and previous-plane neighbours are done at earlier steps. The
 * first row of a plane may predict its first element from the element before it (the end of
 * the previous row), so it starts when that row is done: S(j) = S(j-1) + X. */
SQZ_HD uint64_t sqzk_wave_start(uint64_t r0, uint64_t j, uint64_t X, uint64_t Y)
{
    const uint64_t plane_starts = Y ? sqzk_div(r0 + j, Y) - sqzk_div(r0, Y) : j;  /* in rows r0+1 .. r0+j */
    return 2 * j + (X - 2) * plane_starts;
}

struct sqzk_wave {
    uint64_t first, m, r0, rows, steps;
};

SQZ_HD sqzk_wave sqzk_wave_of(const sqzk_geo &g, const sqzk_lgeo &lg, uint64_t b)
{
    sqzk_wave w;
    w.first = b * g.block_elems, w.m = sqzk_block_elems(g, b);
    w.r0 = sqzk_div(w.first, lg.X), w.rows = sqzk_div(w.first + w.m - 1, lg.X) - w.r0 + 1;
    w.steps = sqzk_wave_start(w.r0, w.rows - 1, lg.X, lg.Y) + lg.X;
    return w;
}

/* Row j at step t: 0 when it has nothing to do (stop: 2, the rows after j start later too),
 * else 1 with block element *k and its value *v. */
SQZ_HD int sqzk_wave_elem(const uint8_t *zb, const uint8_t *ob, uint32_t es, const sqzk_lgeo &lg, const sqzk_wave &w,
                          uint64_t j, uint64_t t, uint64_t *k, uint32_t *v)
{
    const uint64_t X = lg.X, s0 = sqzk_wave_start(w.r0, j, X, lg.Y);
    if (s0 > t) return 2;
    const uint64_t x = t - s0, i = (w.r0 + j) * X + x;
    if (x >= X || i < w.first || i >= w.first + w.m) return 0;
    *k = i - w.first;
    const uint32_t pr = sqzk_pred_xy(ob, es, lg, i, *k, x, lg.Y && sqzk_mod(w.r0 + j, lg.Y) > 0);
    *v = sqzk_unzig(sqzk_ld(zb, es, *k), pr, es) ^ lg.flip;
    return 1;
}

/* ---- remap ---- */

/* rank[table[i]] = i (the table: n little-endian values of es bytes). */
SQZ_KERNEL k_remap_rank(const uint8_t *tab, uint32_t n, uint32_t es, uint16_t *rank)
{
    for (uint64_t i = SQZ_TID; i < n; i += SQZ_NTHREADS) rank[sqzk_ld(tab, es, i)] = (uint16_t)i;
}

/* Values of the ranks of coded blocks; a rank >= n marks its block in *bad. */
SQZ_KERNEL k_remap_dec(const uint8_t *in, uint8_t *out, const uint8_t *table, sqzk_geo g, const uint16_t *values,
                       uint32_t n, unsigned long long *bad)
{
    for (uint64_t i = SQZ_TID; i < g.n_elems; i += SQZ_NTHREADS) {
        const uint64_t b = sqzk_div(i, g.block_elems);
        if (sqzk_rd32(table + 12 * b) & SQZK_STORED) continue;
        uint32_t r = sqzk_ld(in, g.es, i);
        if (r >= n) { sqz_atomic_min_u64(bad, b); r = 0; }
        sqzk_st(out, g.es, i, values[r]);
    }
}

/* ---- huff: contexts, tokens, tables (huff.c) ---- */

SQZ_HD unsigned sqzk_ctx_of(uint64_t act2)
{
    const uint64_t u = (act2 >> 1) + 1;
    const int nb = sqzk_ilog2(u);
    const int q = 2 * nb + (nb ? (int)((u >> (nb - 1)) & 1) : 0);
    return q < 19 ? (unsigned)q : 19u;
}

SQZ_HD unsigned sqzk_token_of(uint32_t z)
{
    if (z < 16) return z;
    const int nb = sqzk_ilog2(z);
    return 16 + (unsigned)(nb - 4) * 4 + ((z >> (nb - 2)) & 3);
}

SQZ_HD unsigned sqzk_extra_bits(unsigned t) { return t < 16 ? 0 : ((t - 16) >> 2) + 2; }
SQZ_HD uint32_t sqzk_token_base(unsigned t) { return t < 16 ? t : (4u | (t & 3u)) << sqzk_extra_bits(t); }
SQZ_HD unsigned sqzk_n_tokens(uint32_t es) { return es == 1 ? 32 : 64; }

/* Context of block element k at column x, from the block's residuals z. */
SQZ_HD unsigned sqzk_context_at(const uint8_t *z, uint32_t es, uint64_t k, uint64_t x, uint64_t X)
{
    if (k < X) return SQZ_HUFF_CTX_FIRST;
    const uint64_t n = sqzk_ld(z, es, k - X);
    const uint64_t nw = x >= 1 && k >= X + 1 ? sqzk_ld(z, es, k - X - 1) : n;
    const uint64_t nww = x >= 2 && k >= X + 2 ? sqzk_ld(z, es, k - X - 2) : n;
    const uint64_t ne = x + 1 < X ? sqzk_ld(z, es, k - X + 1) : n;
    const uint64_t nee = x + 2 < X ? sqzk_ld(z, es, k - X + 2) : n;
    return sqzk_ctx_of(2 * n + nw + ne + nww + nee);
}

/* Does block b take its codes from sampled rows (huff.h, SQZ_HUFF_SAMPLE_STEP)? */
SQZ_HD int sqzk_sampled(const sqzk_geo &g, uint64_t b)
{
    return g.es <= 2 && sqzk_block_elems(g, b) >= SQZ_HUFF_SAMPLE_MIN;
}

/* Is element k of block b (whose first element is chunk element `first`) in a row that the
 * histogram counts? Row r of a block holds its elements k with (first % X + k) / X == r. */
SQZ_HD int sqzk_counted(const sqzk_geo &g, uint64_t b, uint64_t first, uint64_t k, uint64_t X)
{
    return !sqzk_sampled(g, b) || sqzk_div(sqzk_mod(first, X) + k, X) % SQZ_HUFF_SAMPLE_STEP == 0;
}

/* ct[i] = context, ct[n_elems + i] = token; per-block histograms hist[(b*NCTX + c)*NT + t] of
 * the counted rows. */
SQZ_KERNEL k_ctx_tok(const uint8_t *z, sqzk_geo g, uint64_t X, uint8_t *ct, uint32_t *hist)
{
    for (uint64_t i = SQZ_TID; i < g.n_elems; i += SQZ_NTHREADS) {
        const uint64_t b = sqzk_div(i, g.block_elems), first = b * g.block_elems;
        const unsigned c = sqzk_context_at(z + first * g.es, g.es, i - first, sqzk_mod(i, X), X);
        const unsigned t = sqzk_token_of(sqzk_ld(z, g.es, i));
        ct[i] = (uint8_t)c;
        ct[g.n_elems + i] = (uint8_t)t;
        if (sqzk_counted(g, b, first, i - first, X)) sqz_atomic_add_u32(hist + (b * SQZK_NCTX + c) * SQZK_NT + t, 1);
    }
}

/* Sampled blocks, per (block, context): counts times STEP, plus one up to the largest token
 * counted; cover = that token + 1 (NT for blocks counted whole). hf_model's sampled_histogram. */
SQZ_KERNEL k_huff_cover(uint32_t *hist, sqzk_geo g, uint8_t *cover)
{
    for (uint64_t bc = SQZ_TID; bc < g.n_blocks * SQZK_NCTX; bc += SQZ_NTHREADS) {
        if (!sqzk_sampled(g, bc / SQZK_NCTX)) {
            cover[bc] = SQZK_NT;
            continue;
        }
        uint32_t *h = hist + bc * SQZK_NT;
        int top = -1;
        for (int t = 0; t < (int)sqzk_n_tokens(g.es); t++) if (h[t]) top = t;
        for (int t = 0; t <= top; t++) h[t] = h[t] * SQZ_HUFF_SAMPLE_STEP + 1;
        cover[bc] = (uint8_t)(top + 1);
    }
}

/* The exact count of every element whose token lies beyond its context's cover. */
SQZ_KERNEL k_huff_beyond(const uint8_t *ct, sqzk_geo g, const uint8_t *cover, uint32_t *hist)
{
    for (uint64_t i = SQZ_TID; i < g.n_elems; i += SQZ_NTHREADS) {
        const uint64_t bc = sqzk_div(i, g.block_elems) * SQZK_NCTX + ct[i];
        const unsigned t = ct[g.n_elems + i];
        if (t >= cover[bc]) sqz_atomic_add_u32(hist + bc * SQZK_NT + t, 1);
    }
}

SQZ_HUFF_DEFINE_BUILD_LENGTHS(gpu, SQZK_NT)  /* huff.c's, from huff_codes.h */

/* Per (block, context): nsym, the length nibbles as stored (15: sole token) and the emission
 * entries ent = code | length << 16 | (length + extra bits) << 24. */
SQZ_KERNEL k_huff_tables(const uint32_t *hist, uint64_t n_blocks, uint32_t es, uint8_t *nsym, uint8_t *lens, uint32_t *ent)
{
    for (uint64_t bc = SQZ_TID; bc < n_blocks * SQZK_NCTX; bc += SQZ_NTHREADS) {
        const uint32_t *h = hist + bc * SQZK_NT;
        uint8_t *l = lens + bc * SQZK_NT;
        uint32_t *e = ent + bc * SQZK_NT;
        const int ntok = (int)sqzk_n_tokens(es);
        uint8_t len[SQZK_NT];
        uint16_t code[SQZK_NT];
        for (int t = 0; t < SQZK_NT; t++) { len[t] = 0; code[t] = 0; }
        const int present = sqz_huff_build_lengths_gpu(h, ntok, len);
        int ns = 0;
        for (int t = 0; t < ntok; t++) if (h[t]) ns = t + 1;
        nsym[bc] = (uint8_t)ns;
        if (ns && present > 1) sqz_huff_build_codes(len, ntok, code);
        for (int t = 0; t < SQZK_NT; t++) {
            l[t] = ns && present == 1 && t == ns - 1 ? SQZK_SOLE : len[t];
            e[t] = code[t] | (uint32_t)len[t] << 16 | (uint32_t)(len[t] + sqzk_extra_bits((unsigned)t)) << 24;
        }
    }
}

/* tiles[(b*4 + s)*tps + t] = bits of stream s's elements SQZK_TILE*t .. +SQZK_TILE of block b. */
SQZ_KERNEL k_tile_bits(const uint8_t *ct, const uint32_t *ent, sqzk_geo g, uint64_t tps, uint64_t *tiles)
{
    for (uint64_t id = SQZ_TID; id < g.n_blocks * 4 * tps; id += SQZ_NTHREADS) {
        const uint64_t b = id / (4 * tps), s = id / tps % 4, t = id % tps;
        const uint64_t first = b * g.block_elems, m = sqzk_block_elems(g, b);
        const uint32_t *e = ent + b * SQZK_NCTX * SQZK_NT;
        uint64_t bits = 0;
        for (uint64_t j = SQZK_TILE * t; j < SQZK_TILE * (t + 1); j++) {
            const uint64_t k = 4 * j + s;
            if (k >= m) break;
            bits += e[ct[first + k] * SQZK_NT + ct[g.n_elems + first + k]] >> 24;
        }
        tiles[id] = bits;
    }
}

/* Per block: tile sums -> stream bit offsets (in place), stream sizes, and whether the CPU
 * encoder codes the block or stores it: it stores it when the coded block would not be
 * smaller, or when its room check (every SQZK_SEG elements) fails. */
SQZ_KERNEL k_block_plan(sqzk_geo g, uint64_t tps, uint64_t *tiles, const uint8_t *nsym, uint64_t *binfo)
{
    for (uint64_t b = SQZ_TID; b < g.n_blocks; b += SQZ_NTHREADS) {
        const uint64_t m = sqzk_block_elems(g, b), len = m * g.es, cap = len ? len - 1 : 0;
        const int64_t per_elem = (SQZK_MAXLEN + 8 * g.es - 3 + 7) / 8 + 1;
        uint64_t T = SQZK_NCTX;
        for (int c = 0; c < SQZK_NCTX; c++) T += (nsym[b * SQZK_NCTX + c] + 1u) / 2;
        int coded = cap >= T + 12;
        uint64_t bits[4] = {0, 0, 0, 0};
        for (uint64_t t = 0; t < tps; t++) {
            if (t % 4 == 0 && SQZK_TILE * 4 * t < m) {
                const uint64_t k = SQZK_TILE * 4 * t, seg = m - k < SQZK_SEG ? m - k : SQZK_SEG;
                const int64_t need = (int64_t)(seg / 4 + 1) * per_elem + 8;
                if ((int64_t)cap - (int64_t)T - 12 - (int64_t)(bits[0] / 8) < need) coded = 0;
                for (int s = 1; s < 4; s++)
                    if ((int64_t)len + 16 - (int64_t)(bits[s] / 8) < need) coded = 0;
            }
            for (int s = 0; s < 4; s++) {
                uint64_t *p = tiles + (b * 4 + s) * tps + t;
                const uint64_t v = *p;
                *p = bits[s];
                bits[s] += v;
            }
        }
        uint64_t *bi = binfo + b * SQZK_BINFO, sum = 0;
        for (int s = 0; s < 4; s++) { bi[3 + s] = (bits[s] + 7) / 8; sum += bi[3 + s]; }
        if (cap < T + 12 || cap - T - 12 < sum) coded = 0;
        bi[0] = coded ? T + 12 + sum : len;
        bi[1] = (uint64_t)coded;
        bi[2] = T;
    }
}

/* Payload offset (segs[b]) and size (segs[n + b]) of every block, and the chunk size. One thread. */
SQZ_KERNEL k_chunk_offsets(uint64_t n, const uint64_t *binfo, uint64_t head, uint64_t *segs, unsigned long long *total)
{
    if (SQZ_TID != 0) return;
    uint64_t off = 0;
    for (uint64_t b = 0; b < n; b++) {
        segs[b] = off;
        segs[n + b] = binfo[b * SQZK_BINFO];
        off += binfo[b * SQZK_BINFO];
    }
    *total = head + off;
}

SQZ_KERNEL k_fill_u32(uint32_t *p, uint64_t n, uint32_t v)
{
    for (uint64_t i = SQZ_TID; i < n; i += SQZ_NTHREADS) p[i] = v;
}

/* Stored blocks: the raw bytes into place. One thread per (block, 8-byte piece). */
SQZ_KERNEL k_place_stored(const uint8_t *raw, sqzk_geo g, const uint64_t *binfo, const uint64_t *segs, uint8_t *payload)
{
    const uint64_t bb = g.block_elems * g.es, pieces = (bb + 7) / 8;
    for (uint64_t id = SQZ_TID; id < g.n_blocks * pieces; id += SQZ_NTHREADS) {
        const uint64_t b = id / pieces, p0 = id % pieces * 8;
        if (binfo[b * SQZK_BINFO + 1]) continue;
        const uint64_t len = sqzk_block_elems(g, b) * g.es;
        for (uint64_t k = p0; k < p0 + 8 && k < len; k++) payload[segs[b] + k] = raw[b * bb + k];
    }
}

/* Coded blocks: n_sym, length nibbles and the three stream sizes. One thread per block. */
SQZ_KERNEL k_block_head(uint64_t n, const uint64_t *binfo, const uint64_t *segs, const uint8_t *nsym, const uint8_t *lens,
                        uint8_t *payload)
{
    for (uint64_t b = SQZ_TID; b < n; b += SQZ_NTHREADS) {
        const uint64_t *bi = binfo + b * SQZK_BINFO;
        if (!bi[1]) continue;
        uint8_t *out = payload + segs[b], *o = out + SQZK_NCTX;
        for (int c = 0; c < SQZK_NCTX; c++) {
            const unsigned ns = nsym[b * SQZK_NCTX + c];
            const uint8_t *l = lens + (b * SQZK_NCTX + c) * SQZK_NT;
            out[c] = (uint8_t)ns;
            for (unsigned k = 0; k < (ns + 1) / 2; k++) *o++ = (uint8_t)(l[2 * k] | (2 * k + 1 < ns ? l[2 * k + 1] : 0) << 4);
        }
        for (int s = 0; s < 3; s++) sqzk_wr32(o + 4 * s, (uint32_t)bi[3 + s]);
    }
}

/* OR v (n <= 32 bits) into an LSB-first bit stream at absolute bit `at` of a 4-byte aligned buffer. */
SQZ_DEV void sqzk_or_bits(uint32_t *words, uint64_t at, uint64_t v, unsigned n)
{
    if (!n) return;
    const uint64_t x = v << (at & 31);
    sqz_atomic_or_u32(words + at / 32, (uint32_t)x);
    if ((at & 31) + n > 32) sqz_atomic_or_u32(words + at / 32 + 1, (uint32_t)(x >> 32));
}

/* The bits of one tile of one stream of a coded block into the zeroed chunk buffer `out`
 * (payload at byte `head`). One thread per (block, stream, tile). */
SQZ_KERNEL k_emit(const uint8_t *z, const uint8_t *ct, const uint32_t *ent, sqzk_geo g, uint64_t tps, const uint64_t *tiles,
                  const uint64_t *binfo, const uint64_t *segs, uint64_t head, uint32_t *out)
{
    for (uint64_t id = SQZ_TID; id < g.n_blocks * 4 * tps; id += SQZ_NTHREADS) {
        const uint64_t b = id / (4 * tps), s = id / tps % 4, t = id % tps;
        const uint64_t *bi = binfo + b * SQZK_BINFO;
        if (!bi[1]) continue;
        uint64_t start = head + segs[b] + bi[2] + 12;
        for (uint64_t q = 0; q < s; q++) start += bi[3 + q];
        uint64_t at = start * 8 + tiles[id];
        const uint64_t first = b * g.block_elems, m = sqzk_block_elems(g, b);
        const uint32_t *e = ent + b * SQZK_NCTX * SQZK_NT;
        for (uint64_t j = SQZK_TILE * t; j < SQZK_TILE * (t + 1); j++) {
            const uint64_t k = 4 * j + s;
            if (k >= m) break;
            const unsigned tk = ct[g.n_elems + first + k];
            const uint32_t en = e[ct[first + k] * SQZK_NT + tk], l = (en >> 16) & 0xFF, tot = en >> 24;
            const uint32_t xmask = (1u << sqzk_extra_bits(tk)) - 1;
            sqzk_or_bits(out, at, (en & 0xFFFFu) | (uint64_t)(sqzk_ld(z, g.es, first + k) & xmask) << l, tot);
            at += tot;
        }
    }
}

/* Block table: size (| stored flag), hash of the decoded bytes, hash of the stored bytes. */
SQZ_KERNEL k_table_coded(uint64_t n, const uint64_t *binfo, const uint32_t *hash_dec, const uint32_t *hash_st, uint8_t *table)
{
    for (uint64_t b = SQZ_TID; b < n; b += SQZ_NTHREADS) {
        const uint64_t *bi = binfo + b * SQZK_BINFO;
        sqzk_wr32(table + 12 * b, (uint32_t)bi[0] | (bi[1] ? 0u : SQZK_STORED));
        sqzk_wr32(table + 12 * b + 4, hash_dec[b]);
        sqzk_wr32(table + 12 * b + 8, hash_st[b]);
    }
}

/* ---- huff decode: one thread per coded block (huff.c's hf_decode; any error marks *bad) ---- */

/* LSB-first bit reader with a 64-bit window; bytes past the end read as 0. */
struct sqzk_hbits {
    const uint8_t *p;
    uint64_t size, pos;  /* bytes; bits consumed */
    uint64_t next, win;  /* next byte to load; window of the bits from pos on */
    unsigned have;       /* valid bits in win */
};

SQZ_HD sqzk_hbits sqzk_hbits_at(const uint8_t *p, uint64_t size)
{
    sqzk_hbits r;
    r.p = p, r.size = size, r.pos = 0, r.next = 0, r.win = 0, r.have = 0;
    return r;
}

SQZ_HD uint32_t sqzk_peek(sqzk_hbits &r, unsigned n)  /* n <= 32 */
{
    if (r.have < 32) {  /* four independent byte loads */
        uint32_t w = 0;
        for (unsigned b = 0; b < 4; b++)
            if (r.next + b < r.size) w |= (uint32_t)r.p[r.next + b] << (8 * b);
        r.win |= (uint64_t)w << r.have;
        r.next += 4, r.have += 32;
    }
    return (uint32_t)(r.win & ((1ull << n) - 1));
}

SQZ_HD void sqzk_skip(sqzk_hbits &r, unsigned n)  /* after a peek of >= n bits */
{
    r.win >>= n, r.have -= n, r.pos += n;
}

SQZ_HD uint32_t sqzk_get_bits(sqzk_hbits &r, unsigned n)
{
    const uint32_t v = sqzk_peek(r, n);
    sqzk_skip(r, n);
    return v;
}

SQZ_HD uint32_t sqzk_rev(uint32_t v, unsigned n)  /* the low n bits, reversed */
{
#ifdef __CUDA_ARCH__
    return __brev(v) >> (32 - n);
#else
    uint32_t o = 0;
    for (unsigned i = 0; i < n; i++) o = o << 1 | ((v >> i) & 1u);
    return o;
#endif
}

/* A coded block's code tables and its 4 streams (hf_decode's layout and checks). */
#define SQZK_LUT_BITS 7  /* codes of up to this many bits decode with one lookup */

struct sqzk_htabs {
    uint8_t cnt[SQZK_NCTX][SQZK_MAXLEN + 1], sym[SQZK_NCTX][SQZK_NT];
    uint16_t lut[SQZK_NCTX][1 << SQZK_LUT_BITS];  /* token | length << 8 by the next bits; 0: longer code */
    int sole[SQZK_NCTX];  /* -2: unused context, -1: coded, else the sole token */
};

SQZ_HD void sqzk_huff_lut(sqzk_htabs &h, int c)
{
    for (int i = 0; i < 1 << SQZK_LUT_BITS; i++) h.lut[c][i] = 0;
    int code = 0, idx = 0;  /* canonical: codes of each length follow, first bit most significant */
    for (int l = 1; l <= SQZK_LUT_BITS; l++) {
        for (int j = 0; j < h.cnt[c][l]; j++, code++, idx++) {
            const int lo = code << (SQZK_LUT_BITS - l), hi = (code + 1) << (SQZK_LUT_BITS - l);
            for (int i = lo; i < hi; i++) h.lut[c][i] = (uint16_t)(h.sym[c][idx] | l << 8);
        }
        code <<= 1;
    }
}

/* The code tables at the start of a huff or huff64 block; *after: the first byte past them.
 * Returns 0, or 1 when they are corrupt. */
SQZ_HD int sqzk_huff_parse_tables(const uint8_t *in, uint64_t n, uint32_t es, sqzk_htabs &h, const uint8_t **after)
{
    if (n < SQZK_NCTX + 12) return 1;
    const uint8_t *end = in + n, *p = in + SQZK_NCTX;
    const unsigned ntok = sqzk_n_tokens(es);
    for (int c = 0; c < SQZK_NCTX; c++) {
        const unsigned ns = in[c];
        h.sole[c] = -2;
        if (!ns) continue;
        if (ns > ntok) return 1;
        const uint64_t bytes = (ns + 1) / 2;
        if ((uint64_t)(end - p) < bytes) return 1;
        uint8_t len[SQZK_NT];
        int count = 0;
        uint32_t kraft = 0;
        h.sole[c] = -1;
        for (unsigned t = 0; t < ns; t++) {
            len[t] = (uint8_t)((p[t / 2] >> (4 * (t & 1))) & 15);
            if (!len[t]) continue;
            count++;
            if (len[t] == SQZK_SOLE) h.sole[c] = (int)t;
            else if (len[t] > SQZK_MAXLEN) return 1;
            else kraft += (1u << SQZK_MAXLEN) >> len[t];
        }
        p += bytes;
        if (!len[ns - 1]) return 1;
        if (h.sole[c] >= 0) {
            if (count != 1) return 1;
            continue;
        }
        if (count < 2 || kraft != (1u << SQZK_MAXLEN)) return 1;
        for (int l = 0; l <= SQZK_MAXLEN; l++) h.cnt[c][l] = 0;
        for (unsigned t = 0; t < ns; t++) h.cnt[c][len[t]]++;
        int k = 0;
        for (int l = 1; l <= SQZK_MAXLEN; l++)
            for (unsigned t = 0; t < ns; t++) if (len[t] == l) h.sym[c][k++] = (uint8_t)t;
        sqzk_huff_lut(h, c);
    }
    *after = p;
    return 0;
}

/* Returns 0, or 1 when the block's tables or stream sizes are corrupt. */
SQZ_HD int sqzk_huff_parse(const uint8_t *in, uint64_t n, uint32_t es, sqzk_htabs &h, sqzk_hbits st[4])
{
    const uint8_t *end = in + n, *p;
    if (sqzk_huff_parse_tables(in, n, es, h, &p)) return 1;
    if (end - p < 12) return 1;
    const uint8_t *q = p + 12;
    for (int i = 0; i < 3; i++) {
        const uint64_t sz = sqzk_rd32(p + 4 * i);
        if (sz > (uint64_t)(end - q)) return 1;
        st[i] = sqzk_hbits_at(q, sz);
        q += sz;
    }
    st[3] = sqzk_hbits_at(q, (uint64_t)(end - q));
    return 0;
}

/* The token of coded context c whose code starts bits (the next SQZK_MAXLEN bits, reversed:
 * canonical codes, first bit most significant, so a prefix of length l is bits' top l), and its
 * length; -1: no code matches. */
SQZ_HD int sqzk_huff_token(const sqzk_htabs &h, unsigned c, uint32_t bits, unsigned *len)
{
    const unsigned e = h.lut[c][bits >> (SQZK_MAXLEN - SQZK_LUT_BITS)];
    if (e) {
        *len = e >> 8;
        return (int)(e & 0xFFu);
    }
    int fst = 0, idx = 0, l = 1, code;
    for (;; l++) {
        if (l > SQZK_MAXLEN) return -1;
        code = (int)(bits >> (SQZK_MAXLEN - l));
        const int count = h.cnt[c][l];
        if (code - fst < count) break;
        idx += count;
        fst = (fst + count) << 1;
    }
    *len = (unsigned)l;
    return h.sym[c][idx + code - fst];
}

/* Decodes block element k (column x of X) from its stream r; returns 0, or 1 when the code is
 * corrupt. */
SQZ_HD int sqzk_huff_decode_elem(const sqzk_htabs &h, sqzk_hbits &r, uint8_t *z, uint32_t es, uint64_t k,
                                 uint64_t x, uint64_t X)
{
    const unsigned c = sqzk_context_at(z, es, k, x, X);
    if (h.sole[c] == -2) return 1;
    unsigned t, len = 0;
    if (h.sole[c] >= 0) {
        t = (unsigned)h.sole[c];
    } else {
        const int tk = sqzk_huff_token(h, c, sqzk_rev(sqzk_peek(r, SQZK_MAXLEN), SQZK_MAXLEN), &len);
        if (tk < 0) return 1;
        sqzk_skip(r, len);
        t = (unsigned)tk;
    }
    sqzk_st(z, es, k, sqzk_token_base(t) | sqzk_get_bits(r, sqzk_extra_bits(t)));
    return 0;
}

SQZ_HD int sqzk_hbits_done(const sqzk_hbits &r)  /* all bits read, less than a byte left */
{
    return r.pos <= r.size * 8 && r.size * 8 - r.pos < 8;
}

/* Returns 0, or 1 when the block is corrupt. */
SQZ_HD int sqzk_huff_decode_block(const uint8_t *in, uint64_t n, uint8_t *z, uint32_t es, uint64_t m, uint64_t first,
                                  uint64_t X)
{
    sqzk_htabs h;
    sqzk_hbits st[4];
    if (sqzk_huff_parse(in, n, es, h, st)) return 1;
    for (uint64_t k = 0, x = sqzk_mod(first, X); k < m; k++, x = x + 1 < X ? x + 1 : 0)
        if (sqzk_huff_decode_elem(h, st[k & 3], z, es, k, x, X)) return 1;
    for (int i = 0; i < 4; i++)
        if (!sqzk_hbits_done(st[i])) return 1;
    return 0;
}


/* ---- huff64 decode (huff.c's h64_decode): huff's tables, 64 lanes of 32-bit states, four
 * word streams (docs/FORMAT.md) ---- */
#define SQZK_LANES64 64
#define SQZK_STATE_LOW (1u << 16)

struct sqzk_h64 {
    uint32_t x[SQZK_LANES64];            /* lane states */
    const uint8_t *w[4], *wend[4];       /* word streams of the lane groups */
};

/* The lane states and word streams after the tables at p; returns 0, or 1 when corrupt. */
SQZ_HD int sqzk_h64_parse(const uint8_t *p, const uint8_t *end, sqzk_h64 &s)
{
    if ((uint64_t)(end - p) < 4 * SQZK_LANES64 + 12) return 1;
    for (int l = 0; l < SQZK_LANES64; l++, p += 4)
        if ((s.x[l] = sqzk_rd32(p)) < SQZK_STATE_LOW) return 1;
    const uint8_t *q = p + 12;
    for (int g = 0; g < 4; g++) {
        const uint64_t sz = g < 3 ? sqzk_rd32(p + 4 * g) : (uint64_t)(end - q);
        if (sz > (uint64_t)(end - q) || sz % 2) return 1;
        s.w[g] = q;
        q += sz;
        s.wend[g] = q;
    }
    return 0;
}

/* A state below 2^16 takes the next word of its stream; returns 1 past the stream's end. */
SQZ_HD int sqzk_h64_refill(uint32_t &x, const uint8_t *&w, const uint8_t *wend)
{
    if (x >= SQZK_STATE_LOW) return 0;
    if (wend - w < 2) return 1;
    x = x << 16 | (uint32_t)w[0] | (uint32_t)w[1] << 8;
    w += 2;
    return 0;
}

/* The token of the code at the low bits of lane state x in context c, and its length; -1: the
 * context has no table. */
SQZ_HD int sqzk_h64_token(const sqzk_htabs &h, unsigned c, uint32_t x, unsigned *len)
{
    if (h.sole[c] == -2) return -1;
    if (h.sole[c] >= 0) {
        *len = 0;
        return h.sole[c];
    }
    return sqzk_huff_token(h, c, sqzk_rev(x & ((1u << SQZK_MAXLEN) - 1), SQZK_MAXLEN), len);
}

/* One thread per block, lanes one after another, as h64_segment. Returns 0, or 1 when corrupt. */
SQZ_HD int sqzk_h64_decode_block(const uint8_t *in, uint64_t n, uint8_t *z, uint32_t es, uint64_t m, uint64_t first,
                                 uint64_t X)
{
    sqzk_htabs h;
    sqzk_h64 s;
    const uint8_t *p;
    if (sqzk_huff_parse_tables(in, n, es, h, &p) || sqzk_h64_parse(p, in + n, s)) return 1;
    for (uint64_t k = 0; k < m;) {
        const uint64_t x0 = sqzk_mod(first + k, X), len = X - x0 < m - k ? X - x0 : m - k;
        for (uint64_t j = 0; j < len;) {  /* steps: a group's columns 16q .. 16q + 15 */
            const uint64_t x = x0 + j, stop = j + 16 - (x & 15) < len ? j + 16 - (x & 15) : len;
            const unsigned g = (unsigned)(x >> 4) & 3;
            uint8_t tok[16];
            for (uint64_t i = j; i < stop; i++) {
                uint32_t &st = s.x[16 * g + ((x0 + i) & 15)];
                unsigned cl;
                const int t = sqzk_h64_token(h, sqzk_context_at(z, es, k + i, x0 + i, X), st, &cl);
                if (t < 0) return 1;
                tok[i - j] = (uint8_t)t;
                st >>= cl;
                if (sqzk_h64_refill(st, s.w[g], s.wend[g])) return 1;
            }
            for (uint64_t i = j; i < stop; i++) {
                uint32_t &st = s.x[16 * g + ((x0 + i) & 15)];
                const unsigned xb = sqzk_extra_bits(tok[i - j]);
                sqzk_st(z, es, k + i, sqzk_token_base(tok[i - j]) | (st & ((1u << xb) - 1)));
                st >>= xb;
                if (sqzk_h64_refill(st, s.w[g], s.wend[g])) return 1;
            }
            j = stop;
        }
        k += len;
    }
    for (int g = 0; g < 4; g++)
        if (s.w[g] != s.wend[g]) return 1;
    for (int l = 0; l < SQZK_LANES64; l++)
        if (s.x[l] != SQZK_STATE_LOW) return 1;
    return 0;
}


/* One thread per coded block: huff, or huff64 (h64) with its lanes one after another. */
SQZ_KERNEL k_huff_decode(const uint8_t *payload, const uint64_t *offs, const uint64_t *slens, const uint8_t *table,
                         sqzk_geo g, uint64_t X, uint8_t *z, unsigned long long *bad, int h64)
{
    for (uint64_t b = SQZ_TID; b < g.n_blocks; b += SQZ_NTHREADS) {
        if (sqzk_rd32(table + 12 * b) & SQZK_STORED) continue;
        const uint64_t first = b * g.block_elems, m = sqzk_block_elems(g, b);
        uint8_t *zb = z + first * g.es;
        if (h64 ? sqzk_h64_decode_block(payload + offs[b], slens[b], zb, g.es, m, first, X)
                : sqzk_huff_decode_block(payload + offs[b], slens[b], zb, g.es, m, first, X))
            sqz_atomic_min_u64(bad, b);
    }
}

/* ---- GPU-only decoders: threads of one block cooperate between barriers, which the
 * emulation (threads one after another) cannot run; tests/test_gpu.py checks them on a GPU. ---- */
#ifndef SQZ_EMULATE

/* k_ctx_tok by slices of SQZK_CTX_SLICE elements of a block, one CTA each: the histogram in
 * shared memory, then its nonzero bins added to hist (zeroed before). */
#define SQZK_CTX_SLICE 8192
SQZ_KERNEL k_ctx_tok_cta(const uint8_t *z, sqzk_geo g, uint64_t X, uint8_t *ct, uint32_t *hist)
{
    __shared__ uint32_t h[SQZK_NCTX * SQZK_NT];
    const uint64_t per = (g.block_elems + SQZK_CTX_SLICE - 1) / SQZK_CTX_SLICE;
    for (uint64_t u = blockIdx.x; u < g.n_blocks * per; u += gridDim.x) {
        const uint64_t b = u / per, first = b * g.block_elems, m = sqzk_block_elems(g, b);
        const uint64_t k0 = (u % per) * SQZK_CTX_SLICE, k1 = k0 + SQZK_CTX_SLICE < m ? k0 + SQZK_CTX_SLICE : m;
        if (k0 >= m) continue;  /* the whole CTA */
        for (unsigned i = threadIdx.x; i < SQZK_NCTX * SQZK_NT; i += blockDim.x) h[i] = 0;
        __syncthreads();
        const uint8_t *zb = z + first * g.es;
        for (uint64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) {
            const uint64_t i = first + k;
            const unsigned c = sqzk_context_at(zb, g.es, k, sqzk_mod(i, X), X), t = sqzk_token_of(sqzk_ld(zb, g.es, k));
            ct[i] = (uint8_t)c;
            ct[g.n_elems + i] = (uint8_t)t;
            if (sqzk_counted(g, b, first, k, X)) atomicAdd(&h[c * SQZK_NT + t], 1u);
        }
        __syncthreads();
        for (unsigned i = threadIdx.x; i < SQZK_NCTX * SQZK_NT; i += blockDim.x)
            if (h[i]) atomicAdd(&hist[b * SQZK_NCTX * SQZK_NT + i], h[i]);
        __syncthreads();
    }
}

/* huff: 4 threads per coded block, one per stream (launch with a multiple of 4 threads per
 * CTA, so that a block's threads share a warp). An element's context reads the row above, at
 * most X - 2 elements back, so segments of X - 2 elements decode in parallel. Needs X >= 3. */
SQZ_KERNEL k_huff_decode4(const uint8_t *payload, const uint64_t *offs, const uint64_t *slens, const uint8_t *table,
                          sqzk_geo g, uint64_t X, uint8_t *z, unsigned long long *bad)
{
    const unsigned s = (unsigned)(SQZ_TID & 3), mask = 0xFu << (threadIdx.x & 28);
    for (uint64_t b = SQZ_TID >> 2; b < g.n_blocks; b += SQZ_NTHREADS >> 2) {
        if (sqzk_rd32(table + 12 * b) & SQZK_STORED) continue;  /* the whole group */
        const uint64_t first = b * g.block_elems, m = sqzk_block_elems(g, b), seg = X - 2;
        sqzk_htabs h;
        sqzk_hbits st[4];
        if (sqzk_huff_parse(payload + offs[b], slens[b], g.es, h, st)) {  /* the same in all 4 */
            if (!s) sqz_atomic_min_u64(bad, b);
            continue;
        }
        sqzk_hbits r = st[s];
        uint8_t *zb = z + first * g.es;
        int dead = 0;
        uint64_t k = s, x = sqzk_mod(first + s, X);  /* X >= 3: a step of 4 wraps at most twice */
        for (uint64_t a = 0; a < m; a += seg) {
            const uint64_t e = a + seg < m ? a + seg : m;
            for (; k < e && !dead; k += 4) {
                dead = sqzk_huff_decode_elem(h, r, zb, g.es, k, x, X);
                x += 4;
                while (x >= X) x -= X;
            }
            __syncwarp(mask);
        }
        if (dead || !sqzk_hbits_done(r)) sqz_atomic_min_u64(bad, b);
        __syncwarp(mask);
    }
}

/* huff64: a CTA of 64 threads per coded block, thread l = lane l (group l / 16), so each warp
 * holds two groups. Row segment after row segment (a barrier between them: contexts read the
 * row above); in a segment, round q gives group G the step at columns 16 (4q + G) .. + 15, and
 * the lanes of a group that refill take their stream's next words in lane order (a ballot and
 * the count of refilling lanes below). Launch with blockDim.x == 64. */
SQZ_KERNEL k_huff64_decode64(const uint8_t *payload, const uint64_t *offs, const uint64_t *slens, const uint8_t *table,
                             sqzk_geo g, uint64_t X, uint8_t *z, unsigned long long *bad)
{
    __shared__ sqzk_htabs h;
    __shared__ sqzk_h64 s;
    __shared__ int corrupt;
    const unsigned l = threadIdx.x, grp = l >> 4, j = l & 15, half = 16 * (grp & 1);
    for (uint64_t b = blockIdx.x; b < g.n_blocks; b += gridDim.x) {
        if (sqzk_rd32(table + 12 * b) & SQZK_STORED) continue;  /* the whole CTA */
        const uint64_t first = b * g.block_elems, m = sqzk_block_elems(g, b);
        uint8_t *zb = z + first * g.es;
        if (l == 0) {
            const uint8_t *in = payload + offs[b], *p;
            corrupt = sqzk_huff_parse_tables(in, slens[b], g.es, h, &p) || sqzk_h64_parse(p, in + slens[b], s);
        }
        __syncthreads();
        if (corrupt) {
            if (l == 0) sqz_atomic_min_u64(bad, b);
            __syncthreads();
            continue;
        }
        uint32_t x = s.x[l];
        const uint8_t *w = s.w[grp], *const wend = s.wend[grp];
        int err = 0;
        for (uint64_t k = 0; k < m;) {
            const uint64_t x0 = sqzk_mod(first + k, X), len = X - x0 < m - k ? X - x0 : m - k;
            __syncthreads();  /* the row above is in zb */
            for (uint64_t q = x0 >> 6; 64 * q < x0 + len; q++) {
                const uint64_t col = 64 * q + 16 * grp + j;
                const int live = col >= x0 && col < x0 + len;
                const uint64_t kk = k + (col - x0);
                unsigned t = 0, cl = 0;
                if (live) {
                    const int tk = sqzk_h64_token(h, sqzk_context_at(zb, g.es, kk, col, X), x, &cl);
                    err |= tk < 0;
                    t = tk < 0 ? 0 : (unsigned)tk;
                }
                for (int pass = 0; pass < 2; pass++) {  /* the code, then the extra bits */
                    const unsigned nb = pass ? (live ? sqzk_extra_bits(t) : 0) : cl;
                    const uint32_t v = x & ((1u << nb) - 1);
                    x >>= nb;
                    const int need = live && x < SQZK_STATE_LOW;
                    const unsigned ask = (__ballot_sync(0xFFFFFFFFu, need) >> half) & 0xFFFFu;
                    const uint8_t *at = w + 2 * __popc(ask & ((1u << j) - 1));
                    if (need) {
                        if (wend - at < 2) err = 1;
                        else x = x << 16 | (uint32_t)at[0] | (uint32_t)at[1] << 8;
                    }
                    w += 2 * __popc(ask);
                    if (pass && live) sqzk_st(zb, g.es, kk, sqzk_token_base(t) | v);
                }
            }
            k += len;
        }
        err |= w != wend || x != SQZK_STATE_LOW;
        if (__syncthreads_or(err) && l == 0) sqz_atomic_min_u64(bad, b);
    }
}

SQZ_KERNEL k_predict_dec_wave(const uint8_t *z, uint8_t *out, const uint8_t *table, sqzk_geo g, sqzk_lgeo lg)
{
    for (uint64_t b = blockIdx.x; b < g.n_blocks; b += gridDim.x) {
        if (sqzk_rd32(table + 12 * b) & SQZK_STORED) continue;  /* the whole CTA */
        const sqzk_wave w = sqzk_wave_of(g, lg, b);
        const uint8_t *zb = z + w.first * g.es;
        uint8_t *ob = out + w.first * g.es;
        for (uint64_t t = 0; t < w.steps; t++) {
            for (uint64_t j = threadIdx.x; j < w.rows; j += blockDim.x) {
                uint64_t k;
                uint32_t v;
                const int r = sqzk_wave_elem(zb, ob, g.es, lg, w, j, t, &k, &v);
                if (r == 2) break;
                if (r) sqzk_st(ob, g.es, k, v);
            }
            __syncthreads();
        }
    }
}

#endif
#endif
