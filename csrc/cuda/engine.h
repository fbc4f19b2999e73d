/* Host side of the GPU backend: plans a chunk with the CPU's own parser and header code,
 * enqueues the kernels of kernels.cuh on a stream, and implements the C API of sqz_cuda.h.
 *
 * Included by sqz_cuda.cu (CUDA runtime) and by tests/cuda_emul (emulation: host memory and
 * serial kernel launches), after the includer defined the backend:
 *   sqzc_stream; sqzc_dev_alloc/free, sqzc_host_alloc/free (pinned), sqzc_copy(dst, src, n,
 *   kind, stream), sqzc_sync(stream), sqzc_stream_create/destroy, sqzc_launched(), sqzc_probe.
 * The chunk bytes are those of docs/FORMAT.md; what runs on the GPU: docs/GPU.md. */
#ifndef SQZ_CUDA_ENGINE_H
#define SQZ_CUDA_ENGINE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <new>
#include <vector>

extern "C" {
#include "../common/bytes.h"
#include "../common/error.h"
#include "../pipeline/pipeline.h"
}
#include "kernels_huff.cuh"
#include "sqz_cuda.h"

enum { SQZC_H2D = 0, SQZC_D2H = 1, SQZC_D2D = 2 };

namespace sqzc {

const unsigned k_threads = 256;
const size_t k_meta_cap = 65536 * 8 + 64;   /* the CPU encoder's metadata buffer per stage */

/* SQEAZY_CUDA_SERIAL_DECODE=1: the kernels that the emulation also runs, instead of the GPU-only
 * ones (per-block decoders, shared-memory histograms); for A/B runs. */
int serial_decode()
{
    static const int on = getenv("SQEAZY_CUDA_SERIAL_DECODE") && atoi(getenv("SQEAZY_CUDA_SERIAL_DECODE"));
    return on;
}

#ifdef SQZ_EMULATE
/* k_predict_dec_wave's schedule, each step's writes held back to its end (a read of a value
 * written in the same step or later sees the poison): the wavefront's order, checked. */
void predict_dec_wave_emul(const uint8_t *z, uint8_t *out, const uint8_t *table, const sqzk_geo &g, const sqzk_lgeo &lg)
{
    for (uint64_t b = 0; b < g.n_blocks; b++) {
        if (sqzk_rd32(table + 12 * b) & SQZK_STORED) continue;
        const sqzk_wave w = sqzk_wave_of(g, lg, b);
        const uint8_t *zb = z + w.first * g.es;
        uint8_t *ob = out + w.first * g.es;
        memset(ob, 0xA5, w.m * g.es);
        std::vector<std::pair<uint64_t, uint32_t>> step;
        for (uint64_t t = 0; t < w.steps; t++) {
            step.clear();
            for (uint64_t j = 0; j < w.rows; j++) {
                uint64_t k;
                uint32_t v;
                const int r = sqzk_wave_elem(zb, ob, g.es, lg, w, j, t, &k, &v);
                if (r == 2) break;
                if (r) step.emplace_back(k, v);
            }
            for (auto &kv : step) sqzk_st(ob, g.es, kv.first, kv.second);
        }
    }
}
#endif

unsigned grid_for(uint64_t threads)
{
    uint64_t b = (threads + k_threads - 1) / k_threads;
    return b < 1 ? 1 : b > 16384 ? 16384 : (unsigned)b;
}

struct buf {
    void *p = nullptr;
    size_t cap = 0;
    int pinned = 0;
    template <class T> T *as() const { return (T *)p; }
};

int need(buf &b, size_t n)
{
    if (b.cap >= n && b.p) return 0;
    size_t want = n < 4096 ? 4096 : n + n / 8;
    if (b.p) { if (b.pinned) sqzc_host_free(b.p); else sqzc_dev_free(b.p); }
    b.p = nullptr;
    b.cap = 0;
    SQZ_FORWARD_IF_ERROR(b.pinned ? sqzc_host_alloc(&b.p, want) : sqzc_dev_alloc(&b.p, want));
    b.cap = want;
    return 0;
}

void release(buf &b)
{
    if (b.p) { if (b.pinned) sqzc_host_free(b.p); else sqzc_dev_free(b.p); }
    b.p = nullptr;
    b.cap = 0;
}

/* wnl tables for one parameter set (built on the host with the CPU's arithmetic). */
struct wnl_tables {
    int valid = 0;
    double params[4];
    uint32_t max = 0, n_levels = 0;
    uint16_t to_index[65536], level[65536], rec[65536];
};

enum { JOB_NONE, JOB_ENCODE, JOB_DECODE };

struct slot {
    sqzc_stream stream{};
    buf d_src, d_out, d_acc, d_hash, d_segs, d_lut, d_flags;
    buf d_z, d_a, d_ct, d_htab, d_tiles, d_binfo;   /* lossless pipeline */
    buf h_in, h_out, h_segs, h_flags, h_tab;   /* pinned */
    int job = JOB_NONE;
    void *user_dst = nullptr;
    size_t result = 0;                  /* bytes to deliver */
    uint64_t n_blocks = 0, len_bad = SQZK_NONE;
    size_t copy_back = 0;               /* bytes of h_out to copy to user_dst (0: dst on device) */
    int var = 0, dst_dev = 0;           /* encode: chunk size known on the GPU only (h_flags[0]) */
};

/* Everything the host knows about a chunk before the GPU touches it. */
struct plan {
    sqz_pipeline pl;
    int dtype = 0, ndim = 0;
    uint64_t shape[SQZ_MAX_NDIM];
    size_t es = 0, raw_size = 0, head = 0, pipe_size = 0;
    uint64_t n_elems = 0, block_elems = 0, n_blocks = 0;
    int wnl = 0;                        /* stage 0 is wnl (the only lossy stage the GPU runs) */
    int huff = 0, i_remap = -1, i_pred = -1;   /* [remap ->] [predict ->] huff */
    plan() { memset(&pl, 0, sizeof pl); }
    ~plan() { sqz_pipeline_free(&pl); }
    sqzk_geo geo() const { return sqzk_geo{n_elems, block_elems, n_blocks, (uint32_t)es}; }
};

}  // namespace sqzc

struct sqz_cuda_ctx {
    int device = 0;
    int n_slots = 0;
    sqzc::slot *slots = nullptr;
    sqzc::wnl_tables *wnl = nullptr;    /* last parameter set */
};

namespace sqzc {

enum { ID_RAW = 1, ID_REMAP = 24, ID_PREDICT = 25, ID_HUFF = 40, ID_HUFF64 = 44, ID_WNL = 64 };

/* Is the pipeline [remap ->] [predict ->] huff on 1- or 2-byte elements (or, given h64, which
 * the decoder does, huff64: *h64 says which)? Stage indices of remap and predict (-1: absent). */
int lossless_stages(const sqz_pipeline *pl, int *i_remap, int *i_pred, int *h64 = nullptr)
{
    *i_remap = *i_pred = -1;
    const int codec = pl->st[pl->n - 1].stage->id;
    if (!(codec == ID_HUFF || (h64 && codec == ID_HUFF64)) || sqz_dtype_size(pl->st[0].dtype) > 2) return 0;
    if (h64) *h64 = codec == ID_HUFF64;
    int s = 0;
    if (s + 1 < pl->n && pl->st[s].stage->id == ID_REMAP) *i_remap = s++;
    if (s + 1 < pl->n && pl->st[s].stage->id == ID_PREDICT) *i_pred = s++;
    return s + 1 == pl->n;
}

/* Can the GPU produce this pipeline's chunks? Codec raw (every block stored) after any
 * lossless filters without chunk analysis (they do not change stored blocks) and wnl as
 * the first stage (its reconstruction is what is stored); and [remap ->] [predict ->] huff
 * for 1- and 2-byte elements (their chunk analysis runs on the host). */
int gpu_encodes(const sqz_pipeline *pl, int *wnl, int *huff = nullptr)
{
    *wnl = 0;
    int ir, ip;
    if (lossless_stages(pl, &ir, &ip)) {
        if (huff) *huff = 1;
        return 0;
    }
    if (huff) *huff = 0;
    const sqz_stage *codec = pl->st[pl->n - 1].stage;
    SQZ_RETURN_IF(codec->id == ID_HUFF, SQZ_ERR_NO_GPU, "huff on the GPU: [remap->][predict->]huff of 1- and 2-byte elements only");
    SQZ_RETURN_IF(codec->id != ID_RAW, SQZ_ERR_NO_GPU, "codec '%s' has no GPU encoder yet (GPU: raw, huff)", codec->name);
    for (int s = 0; s + 1 < pl->n; s++) {
        const sqz_stage *st = pl->st[s].stage;
        SQZ_RETURN_IF(st->prepare, SQZ_ERR_NO_GPU, "stage '%s' analyses the chunk on the CPU", st->name);
        if (st->lossy) {
            SQZ_RETURN_IF(st->id != ID_WNL || s != 0, SQZ_ERR_NO_GPU, "lossy stage '%s' has no GPU kernel (GPU: wnl first)", st->name);
            *wnl = 1;
        }
    }
    return 0;
}

int plan_encode(plan &p, size_t src_size, int dtype, int ndim, const uint64_t *shape, const sqz_options *opt)
{
    static const sqz_options defaults = {};
    if (!opt) opt = &defaults;
    SQZ_FORWARD_IF_ERROR(sqz_check_geometry(dtype, ndim, shape, src_size, &p.n_elems));
    SQZ_RETURN_IF(opt->block_bytes > SQZ_MAX_BLOCK_BYTES, SQZ_ERR_BAD_ARGUMENT, "block_bytes above %u", SQZ_MAX_BLOCK_BYTES);
    p.dtype = dtype;
    p.ndim = ndim;
    for (int d = 0; d < ndim; d++) p.shape[d] = shape[d];
    p.es = sqz_dtype_size(dtype);
    p.raw_size = src_size;
    SQZ_FORWARD_IF_ERROR(sqz_pipeline_parse(opt->pipeline ? opt->pipeline : SQZ_DEFAULT_PIPELINE, &p.pl));
    SQZ_FORWARD_IF_ERROR(sqz_pipeline_bind(&p.pl, dtype, ndim, p.shape));
    SQZ_FORWARD_IF_ERROR(gpu_encodes(&p.pl, &p.wnl, &p.huff));
    p.block_elems = sqz_choose_block_elems(&p.pl, opt->block_bytes, p.es, p.n_elems);
    p.n_blocks = p.n_elems ? (p.n_elems + p.block_elems - 1) / p.block_elems : 0;
    for (int s = 0; s < p.pl.n; s++) p.pl.st[s].block_elems = p.block_elems;
    if (p.huff) {
        lossless_stages(&p.pl, &p.i_remap, &p.i_pred);
        for (int s = 0; s < p.pl.n; s++)
            if (p.pl.st[s].stage->prepare && !(p.pl.owned_meta[s] = (uint8_t *)malloc(k_meta_cap)))
                return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "stage metadata");
    }
    p.pipe_size = sqz_pipeline_serialized_size(&p.pl);
    SQZ_RETURN_IF(p.pipe_size > UINT16_MAX || p.n_blocks > UINT32_MAX, SQZ_ERR_BAD_ARGUMENT,
                  "pipeline metadata or block count too large for format v1");
    p.head = SQZ_FIXED_HEADER + 4 * (size_t)ndim + p.pipe_size + SQZ_TABLE_ENTRY * (size_t)p.n_blocks;
    return 0;
}

/* Per chunk: the prepare hooks of remap and predict on the host, on the chunk as given (as
 * the CPU encoder runs them: remap is stage 0 and predict prepares on the input), then the
 * header size with their metadata. */
int prepare_chunk(plan &p, const uint8_t *host_src)
{
    for (int s = 0; s < p.pl.n; s++) {
        sqz_stage_ctx *c = &p.pl.st[s];
        if (!c->stage->prepare) continue;
        size_t used = 0;
        SQZ_FORWARD_IF_ERROR(c->stage->prepare(c, host_src, p.raw_size, p.pl.owned_meta[s], k_meta_cap, &used));
        c->meta = p.pl.owned_meta[s];
        c->meta_size = (uint32_t)used;
    }
    p.pipe_size = sqz_pipeline_serialized_size(&p.pl);
    SQZ_RETURN_IF(p.pipe_size > UINT16_MAX, SQZ_ERR_BAD_ARGUMENT, "pipeline metadata too large for format v1");
    p.head = SQZ_FIXED_HEADER + 4 * (size_t)p.ndim + p.pipe_size + SQZ_TABLE_ENTRY * (size_t)p.n_blocks;
    return 0;
}

/* Predict geometry and mode in use (predict.c: geometry, flip_of, mode_of). */
sqzk_lgeo lossless_geo(const sqz_pipeline *pl, int i_pred)
{
    const sqz_stage_ctx *c = &pl->st[0];
    sqzk_lgeo g;
    g.X = c->shape[c->ndim - 1];
    g.Y = c->ndim >= 2 ? c->shape[c->ndim - 2] : 0;
    g.plane = c->ndim >= 3 ? g.X * g.Y : 0;
    g.flip = c->dtype == SQZ_INT8 ? 0x80u : c->dtype == SQZ_INT16 ? 0x8000u : 0u;
    g.mode = -1;
    if (i_pred >= 0) {
        const sqz_stage_ctx *pc = &pl->st[i_pred];
        g.mode = (int)pc->params[0];
        if (g.mode == SQZ_PRED_AUTO) g.mode = pc->meta_size == 1 ? (int)pc->meta[0] : (int)SQZ_PRED_AVG;
    }
    return g;
}

/* Fixed header (checksum 0), shape and pipeline section: header bytes before the table. */
void write_prefix(const plan &p, uint8_t *out)
{
    memcpy(out, SQZ_MAGIC, 4);
    out[4] = SQZ_FORMAT_VERSION;
    out[5] = (uint8_t)p.dtype;
    out[6] = (uint8_t)p.ndim;
    out[7] = 0;
    sqz_wr64(out + 8, p.raw_size);
    sqz_wr32(out + 16, (uint32_t)p.block_elems);
    sqz_wr32(out + 20, (uint32_t)p.n_blocks);
    sqz_wr16(out + 24, (uint16_t)p.pipe_size);
    sqz_wr16(out + 26, 0);
    sqz_wr32(out + 28, 0);
    for (int d = 0; d < p.ndim; d++) sqz_wr32(out + SQZ_FIXED_HEADER + 4 * d, (uint32_t)p.shape[d]);
    sqz_pipeline_serialize(&p.pl, out + SQZ_FIXED_HEADER + 4 * p.ndim);
}

const wnl_tables *get_wnl(sqz_cuda_ctx *ctx, const sqz_stage_ctx *c)
{
    const uint32_t max = sqz_dtype_size(c->dtype) == 1 ? 255 : 65535;
    wnl_tables *t = ctx->wnl;
    if (!t && !(t = ctx->wnl = new (std::nothrow) wnl_tables)) return nullptr;
    if (!t->valid || t->max != max || memcmp(t->params, c->params, sizeof t->params)) {
        memcpy(t->params, c->params, sizeof t->params);
        t->max = max;
        t->n_levels = sqzk_wnl_build(t->params, max, t->to_index, t->level);
        for (uint32_t v = 0; v <= max; v++) t->rec[v] = t->level[t->to_index[v]];
        t->valid = 1;
    }
    return t;
}

/* Hash segments [offs[i], offs[i]+lens[i]) of base into hash[0..n) (acc: 64 words each). */
void enqueue_hash(slot &s, const uint8_t *base, const uint64_t *offs, const uint64_t *lens, uint64_t n, uint32_t *acc,
                  uint32_t *hash)
{
    if (!n) return;
    SQZ_LAUNCH(k_hash_lanes, grid_for(n * SQZK_LANES), k_threads, s.stream, base, offs, lens, n, acc);
    SQZ_LAUNCH(k_hash_fold, grid_for(n), k_threads, s.stream, lens, n, (const uint32_t *)acc, hash);
}

int finish(sqz_cuda_ctx *ctx, slot &s, int64_t *out);

/* [remap ->] [predict ->] huff: the chunk analysis on the host, then everything per block on
 * the GPU into s.d_out; finish() copies the chunk out once its size is known. */
int enqueue_encode_huff(slot &s, plan &p, const void *src, int src_dev, void *dst, size_t dst_cap, int dst_dev)
{
    const uint64_t n = p.n_blocks, ne = p.n_elems;
    const size_t raw = p.raw_size;
    const uint32_t es = (uint32_t)p.es;
    if (raw) {
        SQZ_FORWARD_IF_ERROR(need(s.h_in, raw));
        if (src_dev) {
            SQZ_FORWARD_IF_ERROR(sqzc_copy(s.h_in.p, src, raw, SQZC_D2H, s.stream));
            SQZ_FORWARD_IF_ERROR(sqzc_sync(s.stream));
        } else {
            memcpy(s.h_in.p, src, raw);
        }
    }
    SQZ_FORWARD_IF_ERROR(prepare_chunk(p, s.h_in.as<uint8_t>()));
    const size_t total_max = p.head + raw, prefix = p.head - SQZ_TABLE_ENTRY * (size_t)n;
    SQZ_RETURN_IF(dst_cap < total_max, SQZ_ERR_DST_TOO_SMALL, "need %zu bytes for this chunk (blocks stored)", total_max);
    const sqzk_geo g = p.geo();
    const sqzk_lgeo lg = lossless_geo(&p.pl, p.i_pred);
    const uint64_t tps = (p.block_elems + 4 * SQZK_TILE - 1) / (4 * SQZK_TILE);
    const size_t hist_n = (size_t)n * SQZK_NCTX * SQZK_NT;
    const uint32_t n_tab = p.i_remap >= 0 ? sqz_rd32(p.pl.st[p.i_remap].meta) : 0;
    SQZ_FORWARD_IF_ERROR(need(s.d_out, (total_max + 8) / 4 * 4));
    SQZ_FORWARD_IF_ERROR(need(s.h_out, dst_dev ? prefix : total_max));
    SQZ_FORWARD_IF_ERROR(need(s.d_acc, (size_t)(n + 1) * SQZK_LANES * 4));
    SQZ_FORWARD_IF_ERROR(need(s.d_hash, (size_t)(2 * n + 1) * 4));
    SQZ_FORWARD_IF_ERROR(need(s.d_segs, (size_t)(4 * n + 2) * 8));
    SQZ_FORWARD_IF_ERROR(need(s.h_segs, (size_t)(4 * n + 2) * 8));
    SQZ_FORWARD_IF_ERROR(need(s.d_flags, 8 * 4));
    SQZ_FORWARD_IF_ERROR(need(s.h_flags, 8 * 4));
    SQZ_FORWARD_IF_ERROR(need(s.d_z, raw));
    SQZ_FORWARD_IF_ERROR(need(s.d_ct, 2 * (size_t)ne));
    SQZ_FORWARD_IF_ERROR(need(s.d_htab, hist_n * 9 + 2 * (size_t)n * SQZK_NCTX));
    SQZ_FORWARD_IF_ERROR(need(s.d_tiles, (size_t)n * 4 * tps * 8));
    SQZ_FORWARD_IF_ERROR(need(s.d_binfo, (size_t)n * SQZK_BINFO * 8));
    uint8_t *d_out = s.d_out.as<uint8_t>(), *payload = d_out + p.head;
    uint32_t *hist = s.d_htab.as<uint32_t>(), *ent = hist + hist_n;
    uint8_t *lens = (uint8_t *)(ent + hist_n), *nsym = lens + hist_n, *cover = nsym + (size_t)n * SQZK_NCTX;
    uint64_t *tiles = s.d_tiles.as<uint64_t>(), *binfo = s.d_binfo.as<uint64_t>(), *ds = s.d_segs.as<uint64_t>();
    uint8_t *ct = s.d_ct.as<uint8_t>();
    unsigned long long *d_flags = (unsigned long long *)s.d_flags.p;

    const uint8_t *d_src = (const uint8_t *)src;
    if (!src_dev && raw) {
        SQZ_FORWARD_IF_ERROR(need(s.d_src, raw));
        SQZ_FORWARD_IF_ERROR(sqzc_copy(s.d_src.p, s.h_in.p, raw, SQZC_H2D, s.stream));
        d_src = s.d_src.as<uint8_t>();
    }
    const uint8_t *cur = d_src;
    if (n && n_tab) {
        const size_t codes = (size_t)1 << (8 * es);
        SQZ_FORWARD_IF_ERROR(need(s.d_lut, codes * 2 + (size_t)n_tab * es));
        SQZ_FORWARD_IF_ERROR(need(s.h_tab, (size_t)n_tab * es));
        SQZ_FORWARD_IF_ERROR(need(s.d_a, raw));
        memcpy(s.h_tab.p, p.pl.st[p.i_remap].meta + 4, (size_t)n_tab * es);
        uint16_t *rank = s.d_lut.as<uint16_t>();
        uint8_t *d_tab = s.d_lut.as<uint8_t>() + codes * 2;
        SQZ_FORWARD_IF_ERROR(sqzc_copy(d_tab, s.h_tab.p, (size_t)n_tab * es, SQZC_H2D, s.stream));
        SQZ_LAUNCH(k_remap_rank, grid_for(n_tab), k_threads, s.stream, (const uint8_t *)d_tab, n_tab, es, rank);
        SQZ_LAUNCH(k_lut, grid_for(ne), k_threads, s.stream, cur, s.d_a.as<uint8_t>(), ne, es, (const uint16_t *)rank,
                   (uint32_t)codes, d_flags + 3);
        cur = s.d_a.as<uint8_t>();
    }
    if (n && lg.mode >= 0) {
        SQZ_LAUNCH(k_predict, grid_for(ne), k_threads, s.stream, cur, s.d_z.as<uint8_t>(), g, lg);
        cur = s.d_z.as<uint8_t>();
    }
    if (n) {
        SQZ_LAUNCH(k_fill_u32, grid_for(hist_n), k_threads, s.stream, hist, (uint64_t)hist_n, 0u);
#ifndef SQZ_EMULATE
        if (!serial_decode()) {
            const uint64_t ctas = n * ((p.block_elems + SQZK_CTX_SLICE - 1) / SQZK_CTX_SLICE);
            SQZ_LAUNCH(k_ctx_tok_cta, ctas < 65536 ? (unsigned)ctas : 65536u, k_threads, s.stream, cur, g, lg.X, ct, hist);
        } else
#endif
            SQZ_LAUNCH(k_ctx_tok, grid_for(ne), k_threads, s.stream, cur, g, lg.X, ct, hist);
        SQZ_LAUNCH(k_huff_cover, grid_for(n * SQZK_NCTX), k_threads, s.stream, hist, g, cover);
        SQZ_LAUNCH(k_huff_beyond, grid_for(ne), k_threads, s.stream, (const uint8_t *)ct, g, (const uint8_t *)cover, hist);
        SQZ_LAUNCH(k_huff_tables, grid_for(n * SQZK_NCTX), k_threads, s.stream, (const uint32_t *)hist, n, es, nsym, lens, ent);
        SQZ_LAUNCH(k_tile_bits, grid_for(n * 4 * tps), k_threads, s.stream, (const uint8_t *)ct, (const uint32_t *)ent, g, tps,
                   tiles);
        SQZ_LAUNCH(k_block_plan, grid_for(n), k_threads, s.stream, g, tps, tiles, (const uint8_t *)nsym, binfo);
    }
    SQZ_LAUNCH(k_chunk_offsets, 1, 1, s.stream, n, (const uint64_t *)binfo, (uint64_t)p.head, ds, d_flags);
    SQZ_LAUNCH(k_fill_u32, grid_for((total_max + 3) / 4), k_threads, s.stream, (uint32_t *)d_out, (uint64_t)((total_max + 3) / 4), 0u);
    if (n) {
        SQZ_LAUNCH(k_place_stored, grid_for(n * ((p.block_elems * es + 7) / 8)), k_threads, s.stream, d_src, g,
                   (const uint64_t *)binfo, (const uint64_t *)ds, payload);
        SQZ_LAUNCH(k_block_head, grid_for(n), k_threads, s.stream, n, (const uint64_t *)binfo, (const uint64_t *)ds,
                   (const uint8_t *)nsym, (const uint8_t *)lens, payload);
        SQZ_LAUNCH(k_emit, grid_for(n * 4 * tps), k_threads, s.stream, (const uint8_t *)cur, (const uint8_t *)ct,
                   (const uint32_t *)ent, g, tps, (const uint64_t *)tiles, (const uint64_t *)binfo, (const uint64_t *)ds,
                   (uint64_t)p.head, (uint32_t *)d_out);
    }

    /* hashes (decoded bytes: the raw blocks; stored bytes: the payload), table, header */
    uint64_t *hs = s.h_segs.as<uint64_t>();
    for (uint64_t i = 0; i < n; i++) {
        hs[2 * n + i] = i * p.block_elems * es;
        hs[3 * n + i] = sqzk_block_elems(g, i) * es;
    }
    hs[4 * n] = SQZ_FIXED_HEADER;
    hs[4 * n + 1] = p.head - SQZ_FIXED_HEADER;
    SQZ_FORWARD_IF_ERROR(sqzc_copy(ds + 2 * n, hs + 2 * n, (size_t)(2 * n + 2) * 8, SQZC_H2D, s.stream));
    uint32_t *acc = s.d_acc.as<uint32_t>(), *hash = s.d_hash.as<uint32_t>();
    if (n) {
        enqueue_hash(s, d_src, ds + 2 * n, ds + 3 * n, n, acc, hash);
        enqueue_hash(s, payload, ds, ds + n, n, acc, hash + n);
        SQZ_LAUNCH(k_table_coded, grid_for(n), k_threads, s.stream, n, (const uint64_t *)binfo, (const uint32_t *)hash,
                   (const uint32_t *)(hash + n), d_out + prefix);
    }
    write_prefix(p, s.h_out.as<uint8_t>());
    SQZ_FORWARD_IF_ERROR(sqzc_copy(d_out, s.h_out.p, prefix, SQZC_H2D, s.stream));
    SQZ_LAUNCH(k_hash_lanes, grid_for(SQZK_LANES), k_threads, s.stream, (const uint8_t *)d_out, (const uint64_t *)(ds + 4 * n),
               (const uint64_t *)(ds + 4 * n + 1), (uint64_t)1, acc + n * SQZK_LANES);
    SQZ_LAUNCH(k_header_finish, 1, 1, s.stream, d_out, (uint64_t)p.head, (const uint32_t *)(acc + n * SQZK_LANES));
    SQZ_FORWARD_IF_ERROR(sqzc_launched());
    SQZ_FORWARD_IF_ERROR(sqzc_copy(s.h_flags.p, d_flags, 8, SQZC_D2H, s.stream));
    s.job = JOB_ENCODE;
    s.var = 1;
    s.dst_dev = dst_dev;
    s.user_dst = dst;
    s.result = 0;
    s.copy_back = 0;
    s.n_blocks = n;
    s.len_bad = SQZK_NONE;
    return 0;
}

/* Enqueue the encoding of one chunk on slot s; the result is collected by finish(). */
int enqueue_encode(sqz_cuda_ctx *ctx, slot &s, plan &p, const void *src, int src_dev, void *dst, size_t dst_cap,
                   int dst_dev)
{
    s.var = 0;
    if (p.huff) return enqueue_encode_huff(s, p, src, src_dev, dst, dst_cap, dst_dev);
    const size_t total = p.head + p.raw_size, prefix = p.head - SQZ_TABLE_ENTRY * (size_t)p.n_blocks;
    SQZ_RETURN_IF(dst_cap < total, SQZ_ERR_DST_TOO_SMALL, "need %zu bytes for this chunk (blocks stored)", total);
    const uint64_t n = p.n_blocks;
    SQZ_FORWARD_IF_ERROR(need(s.d_acc, (size_t)(n + 1) * SQZK_LANES * 4));
    SQZ_FORWARD_IF_ERROR(need(s.d_hash, (size_t)(n + 1) * 4));
    SQZ_FORWARD_IF_ERROR(need(s.d_segs, (size_t)(2 * n + 2) * 8));
    SQZ_FORWARD_IF_ERROR(need(s.h_segs, (size_t)(2 * n + 2) * 8));
    SQZ_FORWARD_IF_ERROR(need(s.h_out, dst_dev ? prefix : total));
    if (!dst_dev) SQZ_FORWARD_IF_ERROR(need(s.d_out, total));
    uint8_t *d_out = dst_dev ? (uint8_t *)dst : s.d_out.as<uint8_t>();
    uint8_t *payload = d_out + p.head;

    /* the decoded bytes, stored as they are */
    const uint8_t *d_src = (const uint8_t *)src;
    if (!src_dev && p.raw_size) {
        SQZ_FORWARD_IF_ERROR(need(s.h_in, p.raw_size));
        memcpy(s.h_in.p, src, p.raw_size);
        if (p.wnl) {
            SQZ_FORWARD_IF_ERROR(need(s.d_src, p.raw_size));
            SQZ_FORWARD_IF_ERROR(sqzc_copy(s.d_src.p, s.h_in.p, p.raw_size, SQZC_H2D, s.stream));
            d_src = s.d_src.as<uint8_t>();
        } else {
            SQZ_FORWARD_IF_ERROR(sqzc_copy(payload, s.h_in.p, p.raw_size, SQZC_H2D, s.stream));
        }
    } else if (p.raw_size && !p.wnl) {
        SQZ_FORWARD_IF_ERROR(sqzc_copy(payload, d_src, p.raw_size, SQZC_D2D, s.stream));
    }
    if (p.wnl && p.raw_size) {
        const wnl_tables *t = get_wnl(ctx, &p.pl.st[0]);
        SQZ_RETURN_IF(!t, SQZ_ERR_OUT_OF_MEMORY, "wnl tables");
        SQZ_FORWARD_IF_ERROR(need(s.d_lut, 65536 * 2));
        SQZ_FORWARD_IF_ERROR(need(s.d_flags, 8 * 4));
        SQZ_FORWARD_IF_ERROR(sqzc_copy(s.d_lut.p, t->rec, (t->max + 1) * 2, SQZC_H2D, s.stream));
        SQZ_LAUNCH(k_lut, grid_for(p.n_elems), k_threads, s.stream, d_src, payload, p.n_elems, (uint32_t)p.es,
                   s.d_lut.as<const uint16_t>(), t->max + 1, (unsigned long long *)s.d_flags.p);
    }

    /* block table: every block stored, hash of its bytes twice */
    uint64_t *hs = s.h_segs.as<uint64_t>();
    for (uint64_t i = 0; i < n; i++) {
        hs[i] = i * p.block_elems * p.es;
        hs[n + i] = sqzk_block_elems(p.geo(), i) * p.es;
    }
    hs[2 * n] = SQZ_FIXED_HEADER;
    hs[2 * n + 1] = p.head - SQZ_FIXED_HEADER;
    uint64_t *ds = s.d_segs.as<uint64_t>();
    SQZ_FORWARD_IF_ERROR(sqzc_copy(ds, hs, (size_t)(2 * n + 2) * 8, SQZC_H2D, s.stream));
    uint32_t *acc = s.d_acc.as<uint32_t>(), *hash = s.d_hash.as<uint32_t>();
    enqueue_hash(s, payload, ds, ds + n, n, acc, hash);
    if (n) SQZ_LAUNCH(k_table_stored, grid_for(n), k_threads, s.stream, n, (const uint64_t *)(ds + n), (const uint32_t *)hash,
                      d_out + prefix);

    /* header, then its checksum over the finished table */
    write_prefix(p, s.h_out.as<uint8_t>());
    SQZ_FORWARD_IF_ERROR(sqzc_copy(d_out, s.h_out.p, prefix, SQZC_H2D, s.stream));
    SQZ_LAUNCH(k_hash_lanes, grid_for(SQZK_LANES), k_threads, s.stream, (const uint8_t *)d_out, (const uint64_t *)(ds + 2 * n),
               (const uint64_t *)(ds + 2 * n + 1), (uint64_t)1, acc + n * SQZK_LANES);
    SQZ_LAUNCH(k_header_finish, 1, 1, s.stream, d_out, (uint64_t)p.head, (const uint32_t *)(acc + n * SQZK_LANES));
    SQZ_FORWARD_IF_ERROR(sqzc_launched());
    if (!dst_dev) SQZ_FORWARD_IF_ERROR(sqzc_copy(s.h_out.p, d_out, total, SQZC_D2H, s.stream));
    s.job = JOB_ENCODE;
    s.user_dst = dst;
    s.result = total;
    s.copy_back = dst_dev ? 0 : total;
    s.n_blocks = n;
    s.len_bad = SQZK_NONE;
    return 0;
}

/* Coded blocks of [remap ->] [predict ->] huff or huff64 (h64): the codec into z, inverse
 * prediction, values of the ranks; failures mark the lowest corrupt block in *bad. */
int enqueue_decode_huff(slot &s, const sqz_pipeline &pl, int i_remap, int i_pred, int h64, const sqz_header &h,
                        const uint8_t *payload, const uint64_t *ds, const uint8_t *d_table, uint8_t *d_dst,
                        unsigned long long *bad)
{
    const uint32_t es = (uint32_t)sqz_dtype_size(h.dtype);
    const uint64_t n = h.n_blocks;
    const sqzk_geo g{h.n_elems, h.block_elems, n, es};
    const sqzk_lgeo lg = lossless_geo(&pl, i_pred);
    const uint32_t n_tab = i_remap >= 0 ? sqz_rd32(pl.st[i_remap].meta) : 0;
    const int pred = lg.mode >= 0;
    uint8_t *z = d_dst, *a = d_dst;
    if (pred && n_tab) {
        SQZ_FORWARD_IF_ERROR(need(s.d_z, h.raw_size));
        SQZ_FORWARD_IF_ERROR(need(s.d_a, h.raw_size));
        z = s.d_z.as<uint8_t>();
        a = s.d_a.as<uint8_t>();
    } else if (pred || n_tab) {
        SQZ_FORWARD_IF_ERROR(need(s.d_z, h.raw_size));
        z = a = s.d_z.as<uint8_t>();
    }
    if (h64) {
#ifndef SQZ_EMULATE
        if (!serial_decode())
            SQZ_LAUNCH(k_huff64_decode64, n < 65536 ? (unsigned)n : 65536u, 64u, s.stream, payload, ds, (const uint64_t *)(ds + n),
                       d_table, g, lg.X, z, bad);
        else
#endif
            SQZ_LAUNCH(k_huff_decode, grid_for(n), k_threads, s.stream, payload, ds, (const uint64_t *)(ds + n), d_table, g,
                       lg.X, z, bad, 1);
    } else
#ifndef SQZ_EMULATE
    if (!serial_decode() && lg.X >= 3) {
        SQZ_LAUNCH(k_huff_decode4, grid_for(4 * n), k_threads, s.stream, payload, ds, (const uint64_t *)(ds + n), d_table,
                   g, lg.X, z, bad);
    } else
#endif
        SQZ_LAUNCH(k_huff_decode, grid_for(n), k_threads, s.stream, payload, ds, (const uint64_t *)(ds + n), d_table, g,
                   lg.X, z, bad, 0);
    if (pred && !serial_decode() && lg.X >= 8) {
#ifndef SQZ_EMULATE
        SQZ_LAUNCH(k_predict_dec_wave, n < 65536 ? (unsigned)n : 65536u, 256u, s.stream, (const uint8_t *)z, n_tab ? a : d_dst, d_table, g, lg);
#else
        predict_dec_wave_emul(z, n_tab ? a : d_dst, d_table, g, lg);
#endif
    } else if (pred) {
        SQZ_LAUNCH(k_predict_dec, grid_for(n), k_threads, s.stream, (const uint8_t *)z, n_tab ? a : d_dst, d_table, g, lg);
    }
    if (n_tab) {
        SQZ_FORWARD_IF_ERROR(need(s.h_tab, (size_t)n_tab * 2));
        SQZ_FORWARD_IF_ERROR(need(s.d_lut, (size_t)n_tab * 2));
        uint16_t *v = s.h_tab.as<uint16_t>();
        const uint8_t *m = pl.st[i_remap].meta + 4;
        for (uint32_t i = 0; i < n_tab; i++) v[i] = es == 1 ? m[i] : sqz_rd16(m + 2 * i);
        SQZ_FORWARD_IF_ERROR(sqzc_copy(s.d_lut.p, s.h_tab.p, (size_t)n_tab * 2, SQZC_H2D, s.stream));
        SQZ_LAUNCH(k_remap_dec, grid_for(h.n_elems), k_threads, s.stream, (const uint8_t *)a, d_dst, d_table, g,
                   (const uint16_t *)s.d_lut.p, n_tab, bad);
    }
    return 0;
}

/* Read and check a chunk header on the host (from device memory: two small copies). */
int read_header(slot &s, const void *src, size_t src_size, int src_dev, sqz_header *h, sqz_pipeline *pl,
                const uint8_t **host_head)
{
    if (!src_dev) {
        *host_head = (const uint8_t *)src;
        return sqz_header_read((const uint8_t *)src, src_size, h, pl);
    }
    uint8_t fixed[SQZ_FIXED_HEADER] = {0};
    size_t got = src_size < SQZ_FIXED_HEADER ? src_size : SQZ_FIXED_HEADER;
    SQZ_FORWARD_IF_ERROR(sqzc_copy(fixed, src, got, SQZC_D2H, s.stream));
    SQZ_FORWARD_IF_ERROR(sqzc_sync(s.stream));
    uint64_t claimed = got < SQZ_FIXED_HEADER ? got
                       : SQZ_FIXED_HEADER + 4ull * fixed[6] + sqz_rd16(fixed + 24) + SQZ_TABLE_ENTRY * (uint64_t)sqz_rd32(fixed + 20);
    if (claimed > src_size) claimed = src_size;
    SQZ_FORWARD_IF_ERROR(need(s.h_in, (size_t)claimed));
    SQZ_FORWARD_IF_ERROR(sqzc_copy(s.h_in.p, src, (size_t)claimed, SQZC_D2H, s.stream));
    SQZ_FORWARD_IF_ERROR(sqzc_sync(s.stream));
    *host_head = s.h_in.as<uint8_t>();
    /* the claimed header fits in src: pass its true size only when the header says it is shorter */
    return sqz_header_read(s.h_in.as<uint8_t>(), (size_t)claimed, h, pl);
}

int enqueue_decode(sqz_cuda_ctx *ctx, slot &s, const void *src, size_t src_size, int src_dev, void *dst, size_t dst_cap,
                   int dst_dev)
{
    (void)ctx;
    sqz_header h;
    sqz_pipeline pl;
    const uint8_t *hh = nullptr;
    SQZ_FORWARD_IF_ERROR(read_header(s, src, src_size, src_dev, &h, &pl, &hh));
    SQZ_RETURN_IF(!dst || dst_cap < h.raw_size, SQZ_ERR_DST_TOO_SMALL, "chunk decodes to %llu bytes, buffer has %zu",
                  (unsigned long long)h.raw_size, dst_cap);
    SQZ_FORWARD_IF_ERROR(sqz_pipeline_bind(&pl, h.dtype, h.ndim, h.shape));
    const uint64_t n = h.n_blocks;
    const size_t es = sqz_dtype_size(h.dtype);
    const uint8_t *table = hh + (h.header_size - SQZ_TABLE_ENTRY * n);
    int i_remap, i_pred, h64 = 0, coded = 0;
    const int lossless = lossless_stages(&pl, &i_remap, &i_pred, &h64);
    SQZ_FORWARD_IF_ERROR(need(s.h_segs, (size_t)(4 * n + 1) * 8));
    uint64_t *hs = s.h_segs.as<uint64_t>();  /* stored offsets, stored sizes, decoded offsets, decoded sizes */
    const sqzk_geo g{h.n_elems, h.block_elems, n, (uint32_t)es};
    uint64_t off = 0;
    s.len_bad = SQZK_NONE;
    for (uint64_t i = 0; i < n; i++) {
        const uint32_t word = sqz_rd32(table + SQZ_TABLE_ENTRY * i);
        const uint64_t sz = word & ~SQZ_STORED_FLAG, len = sqzk_block_elems(g, i) * es;
        SQZ_RETURN_IF(off + sz > src_size - h.header_size, SQZ_ERR_TRUNCATED,
                      "block %llu ends past the end of the chunk (%zu bytes)", (unsigned long long)i, src_size);
        SQZ_RETURN_IF(!(word & SQZ_STORED_FLAG) && !lossless, SQZ_ERR_NO_GPU,
                      "block %llu is coded with '%s', which has no GPU decoder yet (GPU: stored blocks, huff, huff64)",
                      (unsigned long long)i, pl.st[pl.n - 1].stage->name);
        coded |= !(word & SQZ_STORED_FLAG);
        if ((word & SQZ_STORED_FLAG) && sz != len && s.len_bad == SQZK_NONE) s.len_bad = i;
        hs[i] = off;
        hs[n + i] = sz;
        hs[2 * n + i] = i * h.block_elems * es;
        hs[3 * n + i] = len;
        off += sz;
    }
    SQZ_RETURN_IF(off != src_size - h.header_size, SQZ_ERR_CORRUPT_DATA, "%llu stray bytes after the last block",
                  (unsigned long long)(src_size - h.header_size - off));

    SQZ_FORWARD_IF_ERROR(need(s.d_acc, (size_t)(n + 1) * SQZK_LANES * 4));
    SQZ_FORWARD_IF_ERROR(need(s.d_hash, (size_t)(n + 1) * 4));
    SQZ_FORWARD_IF_ERROR(need(s.d_segs, (size_t)(4 * n + 1) * 8));
    SQZ_FORWARD_IF_ERROR(need(s.d_flags, 8 * 4));
    SQZ_FORWARD_IF_ERROR(need(s.h_flags, 8 * 4));
    const uint8_t *d_src = (const uint8_t *)src;
    if (!src_dev) {
        SQZ_FORWARD_IF_ERROR(need(s.h_in, src_size));
        memcpy(s.h_in.p, src, src_size);
        SQZ_FORWARD_IF_ERROR(need(s.d_src, src_size));
        SQZ_FORWARD_IF_ERROR(sqzc_copy(s.d_src.p, s.h_in.p, src_size, SQZC_H2D, s.stream));
        d_src = s.d_src.as<uint8_t>();
    }
    if (!dst_dev) {
        SQZ_FORWARD_IF_ERROR(need(s.d_out, h.raw_size));
        SQZ_FORWARD_IF_ERROR(need(s.h_out, h.raw_size));
    }
    uint8_t *d_dst = dst_dev ? (uint8_t *)dst : s.d_out.as<uint8_t>();
    unsigned long long *flags = (unsigned long long *)s.h_flags.p, *d_flags = (unsigned long long *)s.d_flags.p;
    for (int f = 0; f < 4; f++) flags[f] = SQZK_NONE;
    SQZ_FORWARD_IF_ERROR(sqzc_copy(d_flags, flags, 4 * 8, SQZC_H2D, s.stream));
    uint64_t *ds = s.d_segs.as<uint64_t>();
    SQZ_FORWARD_IF_ERROR(sqzc_copy(ds, hs, (size_t)(4 * n) * 8 + 8, SQZC_H2D, s.stream));
    const uint8_t *payload = d_src + h.header_size, *d_table = d_src + (h.header_size - SQZ_TABLE_ENTRY * n);
    uint32_t *acc = s.d_acc.as<uint32_t>(), *hash = s.d_hash.as<uint32_t>();
    if (n) {
        enqueue_hash(s, payload, ds, ds + n, n, acc, hash);
        SQZ_LAUNCH(k_hash_check, grid_for(n), k_threads, s.stream, n, (const uint32_t *)hash, d_table, 8u, d_flags);
        SQZ_LAUNCH(k_copy_stored, grid_for(n * ((h.block_elems * es + 7) / 8)), k_threads, s.stream, payload,
                   (const uint64_t *)ds, (const uint64_t *)(ds + n), d_table, g, d_dst);
        if (coded) SQZ_FORWARD_IF_ERROR(enqueue_decode_huff(s, pl, i_remap, i_pred, h64, h, payload, ds, d_table, d_dst, d_flags + 2));
        enqueue_hash(s, d_dst, ds + 2 * n, ds + 3 * n, n, acc, hash);
        SQZ_LAUNCH(k_hash_check, grid_for(n), k_threads, s.stream, n, (const uint32_t *)hash, d_table, 4u, d_flags + 1);
    }
    SQZ_FORWARD_IF_ERROR(sqzc_launched());
    SQZ_FORWARD_IF_ERROR(sqzc_copy(flags, d_flags, 4 * 8, SQZC_D2H, s.stream));
    if (!dst_dev && h.raw_size) SQZ_FORWARD_IF_ERROR(sqzc_copy(s.h_out.p, d_dst, h.raw_size, SQZC_D2H, s.stream));
    s.job = JOB_DECODE;
    s.user_dst = dst;
    s.result = h.raw_size;
    s.copy_back = dst_dev ? 0 : h.raw_size;
    s.n_blocks = n;
    return 0;
}

/* Wait for slot s, check what the kernels found, deliver the bytes. Errors name the lowest
 * failing block with the CPU decoder's checks in its order (stored hash, size, decoded hash). */
int finish(sqz_cuda_ctx *ctx, slot &s, int64_t *out)
{
    (void)ctx;
    if (s.job == JOB_NONE) return 0;
    const int job = s.job;
    s.job = JOB_NONE;
    SQZ_FORWARD_IF_ERROR(sqzc_sync(s.stream));
    if (job == JOB_DECODE) {
        const unsigned long long *f = (const unsigned long long *)s.h_flags.p;
        const unsigned long long stored_bad = f[0], dec_bad = f[1], corrupt = f[2];
        unsigned long long first = stored_bad < s.len_bad ? stored_bad : s.len_bad;
        if (dec_bad < first) first = dec_bad;
        if (corrupt < first) first = corrupt;
        if (first != SQZK_NONE) {
            if (first == stored_bad)
                return sqz_fail(SQZ_ERR_CHECKSUM, "block %llu: stored bytes fail their checksum (corrupt chunk)", first);
            if (first == s.len_bad)
                return sqz_fail(SQZ_ERR_CORRUPT_DATA, "stored block %llu does not have the block's size", first);
            if (first == corrupt) return sqz_fail(SQZ_ERR_CORRUPT_DATA, "block %llu: corrupt coded data", first);
            return sqz_fail(SQZ_ERR_CHECKSUM, "block %llu decodes to data that fails its checksum (corrupt chunk)", first);
        }
    }
    if (job == JOB_ENCODE && s.var) {
        const size_t total = (size_t)*(const unsigned long long *)s.h_flags.p;
        SQZ_FORWARD_IF_ERROR(sqzc_copy(s.dst_dev ? s.user_dst : s.h_out.p, s.d_out.p, total, s.dst_dev ? SQZC_D2D : SQZC_D2H,
                                       s.stream));
        SQZ_FORWARD_IF_ERROR(sqzc_sync(s.stream));
        s.result = total;
        s.copy_back = s.dst_dev ? 0 : total;
    }
    if (s.copy_back) memcpy(s.user_dst, s.h_out.p, s.copy_back);
    if (out) *out = (int64_t)s.result;
    return 0;
}

int ctx_ok(sqz_cuda_ctx *ctx)
{
    SQZ_RETURN_IF(!ctx || !ctx->n_slots, SQZ_ERR_BAD_ARGUMENT, "no GPU context");
    return 0;
}

/* Wait for every slot (after an error: drop their results). */
void drain(sqz_cuda_ctx *ctx)
{
    for (int i = 0; i < ctx->n_slots; i++) {
        sqzc_sync(ctx->slots[i].stream);
        ctx->slots[i].job = JOB_NONE;
    }
}

}  // namespace sqzc

/* ---- the C API (sqz_cuda.h) ---- */

extern "C" {

int sqz_cuda_abi(void) { return SQZ_CUDA_ABI; }

const char *sqz_cuda_last_error(void) { return sqz_last_error(); }

int sqz_cuda_probe(char *name, size_t cap) { return sqzc_probe(name, cap); }

int sqz_cuda_can_encode(const char *pipeline, int dtype, int ndim, const uint64_t *shape)
{
    sqz_clear_error();
    sqzc::plan p;
    if (sqz_pipeline_parse(pipeline ? pipeline : SQZ_DEFAULT_PIPELINE, &p.pl) < 0) return 0;
    if (!sqz_dtype_size(dtype) || ndim < 1 || ndim > SQZ_MAX_NDIM || !shape) return 0;
    int wnl;
    return sqz_pipeline_bind(&p.pl, dtype, ndim, shape) >= 0 && sqzc::gpu_encodes(&p.pl, &wnl) >= 0;
}

sqz_cuda_ctx *sqz_cuda_ctx_create(int device, int slots)
{
    sqz_clear_error();
    if (slots < 1) slots = 1;
    if (slots > 16) slots = 16;
    if (sqzc_use_device(device) < 0) return nullptr;
    sqz_cuda_ctx *ctx = new (std::nothrow) sqz_cuda_ctx;
    if (!ctx) { sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "GPU context"); return nullptr; }
    ctx->device = device;
    ctx->slots = new (std::nothrow) sqzc::slot[slots];
    if (!ctx->slots) { delete ctx; sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "GPU context"); return nullptr; }
    for (int i = 0; i < slots; i++) {
        sqzc::slot &s = ctx->slots[i];
        s.h_in.pinned = s.h_out.pinned = s.h_segs.pinned = s.h_flags.pinned = s.h_tab.pinned = 1;
        if (sqzc_stream_create(&s.stream) < 0) { ctx->n_slots = i; sqz_cuda_ctx_free(ctx); return nullptr; }
    }
    ctx->n_slots = slots;
    return ctx;
}

void sqz_cuda_ctx_free(sqz_cuda_ctx *ctx)
{
    if (!ctx) return;
    for (int i = 0; i < ctx->n_slots; i++) {
        sqzc::slot &s = ctx->slots[i];
        sqzc_sync(s.stream);
        sqzc::buf *all[] = {&s.d_src, &s.d_out, &s.d_acc, &s.d_hash, &s.d_segs, &s.d_lut, &s.d_flags,
                            &s.d_z, &s.d_a, &s.d_ct, &s.d_htab, &s.d_tiles, &s.d_binfo,
                            &s.h_in, &s.h_out, &s.h_segs, &s.h_flags, &s.h_tab};
        for (sqzc::buf *b : all) sqzc::release(*b);
        sqzc_stream_destroy(s.stream);
    }
    delete[] ctx->slots;
    delete ctx->wnl;
    delete ctx;
}

int64_t sqz_cuda_encode(sqz_cuda_ctx *ctx, const void *src, size_t src_size, int src_dev, int dtype, int ndim,
                        const uint64_t *shape, const sqz_options *opt, void *dst, size_t dst_cap, int dst_dev)
{
    sqz_clear_error();
    SQZ_FORWARD_IF_ERROR(sqzc::ctx_ok(ctx));
    SQZ_RETURN_IF(!src && src_size, SQZ_ERR_BAD_ARGUMENT, "no input buffer");
    SQZ_RETURN_IF(!dst, SQZ_ERR_BAD_ARGUMENT, "no output buffer");
    sqzc::plan p;
    SQZ_FORWARD_IF_ERROR(sqzc::plan_encode(p, src_size, dtype, ndim, shape, opt));
    int64_t r = 0;
    int rc = sqzc::enqueue_encode(ctx, ctx->slots[0], p, src, src_dev, dst, dst_cap, dst_dev);
    if (rc >= 0) rc = sqzc::finish(ctx, ctx->slots[0], &r);
    if (rc < 0) { sqzc::drain(ctx); return rc; }
    return r;
}

int64_t sqz_cuda_decode(sqz_cuda_ctx *ctx, const void *src, size_t src_size, int src_dev, void *dst, size_t dst_cap,
                        int dst_dev)
{
    sqz_clear_error();
    SQZ_FORWARD_IF_ERROR(sqzc::ctx_ok(ctx));
    SQZ_RETURN_IF(!src, SQZ_ERR_BAD_ARGUMENT, "no input");
    int64_t r = 0;
    int rc = sqzc::enqueue_decode(ctx, ctx->slots[0], src, src_size, src_dev, dst, dst_cap, dst_dev);
    if (rc >= 0) rc = sqzc::finish(ctx, ctx->slots[0], &r);
    if (rc < 0) { sqzc::drain(ctx); return rc; }
    return r;
}

int sqz_cuda_encode_batch(sqz_cuda_ctx *ctx, size_t n, const void *src, size_t src_stride, int src_dev, int dtype,
                          int ndim, const uint64_t *shape, const sqz_options *opt, void *dst, size_t dst_stride,
                          int64_t *sizes)
{
    sqz_clear_error();
    SQZ_FORWARD_IF_ERROR(sqzc::ctx_ok(ctx));
    SQZ_RETURN_IF((n && (!src || !dst || !sizes)), SQZ_ERR_BAD_ARGUMENT, "no buffers");
    size_t chunk = sqz_dtype_size(dtype);
    for (int d = 0; d < ndim && d < SQZ_MAX_NDIM && shape; d++) chunk *= shape[d];
    SQZ_RETURN_IF(n > 1 && src_stride < chunk, SQZ_ERR_BAD_ARGUMENT, "chunks overlap (stride %zu < %zu bytes)", src_stride, chunk);
    sqzc::plan p;
    SQZ_FORWARD_IF_ERROR(sqzc::plan_encode(p, chunk, dtype, ndim, shape, opt));
    int rc = 0;
    size_t done = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        sqzc::slot &s = ctx->slots[i % ctx->n_slots];
        if (i >= (size_t)ctx->n_slots) rc = sqzc::finish(ctx, s, &sizes[done++]);
        if (rc >= 0)
            rc = sqzc::enqueue_encode(ctx, s, p, (const uint8_t *)src + i * src_stride, src_dev,
                                      (uint8_t *)dst + i * dst_stride, dst_stride, 0);
    }
    for (; done < n && rc >= 0; done++) rc = sqzc::finish(ctx, ctx->slots[done % ctx->n_slots], &sizes[done]);
    if (rc < 0) sqzc::drain(ctx);
    return rc < 0 ? rc : 0;
}

int sqz_cuda_decode_batch(sqz_cuda_ctx *ctx, size_t n, const void *src, const uint64_t *offs, const uint64_t *sizes,
                          void *dst, size_t dst_stride, int dst_dev)
{
    sqz_clear_error();
    SQZ_FORWARD_IF_ERROR(sqzc::ctx_ok(ctx));
    SQZ_RETURN_IF((n && (!src || !offs || !sizes || !dst)), SQZ_ERR_BAD_ARGUMENT, "no buffers");
    int rc = 0;
    size_t done = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        sqzc::slot &s = ctx->slots[i % ctx->n_slots];
        if (i >= (size_t)ctx->n_slots) { rc = sqzc::finish(ctx, s, nullptr); done++; }
        if (rc >= 0)
            rc = sqzc::enqueue_decode(ctx, s, (const uint8_t *)src + offs[i], (size_t)sizes[i], 0,
                                      (uint8_t *)dst + i * dst_stride, dst_stride, dst_dev);
    }
    for (; done < n && rc >= 0; done++) rc = sqzc::finish(ctx, ctx->slots[done % ctx->n_slots], nullptr);
    if (rc < 0) sqzc::drain(ctx);
    return rc < 0 ? rc : 0;
}

}  // extern "C"

#endif
