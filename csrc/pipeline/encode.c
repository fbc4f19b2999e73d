/* Chunk encoder: header, pipeline section, block table, then blocks encoded in parallel. */
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/checksum.h"
#include "../common/error.h"
#include "../common/parallel.h"
#include "pipeline.h"
#include "workers.h"

typedef struct {
    sqz_pipeline *pl;
    const uint8_t *src;
    size_t esize, raw_size;
    uint64_t block_elems;
    uint8_t *payload;     /* slot mode: block i at payload + i * block bytes */
    uint8_t *table;
    sqz_workers w;
    size_t seq_cap;       /* single-thread mode: bytes left after the running offset */
    size_t seq_off;
    int slots;
    int last_lossy;       /* index of the last lossy stage, -1 if none */
} enc_job;

static size_t block_len(const enc_job *j, uint64_t i, uint64_t *first)
{
    *first = i * j->block_elems;
    uint64_t n = j->raw_size / j->esize - *first;
    if (n > j->block_elems) n = j->block_elems;
    return (size_t)(n * j->esize);
}

/* What the decoder will produce for a block of a lossy pipeline: run the stages up to the
 * last lossy one forwards and back. *fwd: stage 0's output when it is the only one run
 * (in scratch 0, still valid for the encoder to go on from), else NULL. */
static int reconstruct(enc_job *j, int worker, const sqz_block *blk, const uint8_t *raw, size_t len, uint8_t *rec,
                       const uint8_t **fwd)
{
    sqz_pipeline *pl = j->pl;
    size_t sizes[SQZ_MAX_STAGES + 1];
    sizes[0] = len;
    *fwd = NULL;
    const sqz_stage_ctx *first = &pl->st[0];
    const int reuse = j->last_lossy == 0 && !sqz_stage_skipped(first);  /* stage 0's output serves the encoder */
    if (reuse && first->stage->encode_reconstruct) {
        uint8_t *out = sqz_workers_scratch(&j->w, worker, 0);
        SQZ_FORWARD_IF_ERROR(first->stage->encode_reconstruct(first, blk, raw, len, out, rec,
                                                              sqz_workers_state(&j->w, worker, 0)));
        *fwd = out;
        return 0;
    }
    const uint8_t *cur = raw;
    for (int s = 0; s <= j->last_lossy; s++) {
        sqz_stage_ctx *c = &pl->st[s];
        uint8_t *out = sqz_workers_scratch(&j->w, worker, s & 1);
        sizes[s + 1] = c->stage->out_size(c, sizes[s]);
        SQZ_FORWARD_IF_ERROR(c->stage->encode(c, blk, cur, sizes[s], out, sizes[s + 1], sqz_workers_state(&j->w, worker, s)));
        cur = out;
    }
    for (int s = j->last_lossy; s >= 0; s--) {
        sqz_stage_ctx *c = &pl->st[s];
        uint8_t *to = s == 0 ? rec : sqz_workers_scratch(&j->w, worker, (s + 1) & 1);
        SQZ_FORWARD_IF_ERROR(c->stage->decode(c, blk, cur, sizes[s + 1], to, sizes[s], sqz_workers_state(&j->w, worker, s)));
        cur = to;
    }
    if (reuse) *fwd = sqz_workers_scratch(&j->w, worker, 0);  /* the way back wrote rec only */
    return 0;
}

static int encode_block(void *ctx, int worker, uint64_t i)
{
    enc_job *j = ctx;
    uint64_t first;
    const size_t len = block_len(j, i, &first);
    const sqz_block blk = {first, len / j->esize};
    const uint8_t *raw = j->src + first * j->esize;
    const uint8_t *decoded = raw;  /* what decoding gives back: hashed, and stored if nothing shrinks */
    const uint8_t *fwd = NULL;     /* stage 0's output, when reconstructing left it */
    if (j->last_lossy >= 0 && len) {
        uint8_t *rec = sqz_workers_scratch(&j->w, worker, 2);
        SQZ_FORWARD_IF_ERROR(reconstruct(j, worker, &blk, raw, len, rec, &fwd));
        decoded = rec;
    }
    const uint32_t decoded_hash = sqz_hash32(decoded, len);  /* first: the stages then find the block in cache */
    const uint8_t *cur = raw;
    size_t cur_n = len;
    sqz_pipeline *pl = j->pl;
    int s0 = 0, b = 0;
    if (fwd) {  /* stage 0 already ran (into scratch 0) */
        cur = fwd;
        cur_n = pl->st[0].stage->out_size(&pl->st[0], len);
        s0 = b = 1;
    }
    for (int s = s0; s + 1 < pl->n; s++) {
        sqz_stage_ctx *c = &pl->st[s];
        if (sqz_stage_skipped(c)) continue;
        uint8_t *out = sqz_workers_scratch(&j->w, worker, b);
        b ^= 1;
        size_t out_n = c->stage->out_size(c, cur_n);
        int64_t r = c->stage->encode(c, &blk, cur, cur_n, out, out_n, sqz_workers_state(&j->w, worker, s));
        SQZ_FORWARD_IF_ERROR(r);
        cur = out;
        cur_n = (size_t)r;
    }
    uint8_t *dst = j->slots ? j->payload + (size_t)i * j->block_elems * j->esize : j->payload + j->seq_off;
    size_t cap = j->slots ? len : j->seq_cap;
    if (cap > len - 1) cap = len ? len - 1 : 0;  /* a block that does not shrink is stored raw */
    sqz_stage_ctx *codec = &pl->st[pl->n - 1];
    int64_t r = len ? codec->stage->encode(codec, &blk, cur, cur_n, dst, cap, sqz_workers_state(&j->w, worker, pl->n - 1))
                    : -SQZ_ERR_DST_TOO_SMALL;
    uint32_t word;
    if (r == -SQZ_ERR_DST_TOO_SMALL) {
        SQZ_RETURN_IF(!j->slots && j->seq_cap < len, SQZ_ERR_DST_TOO_SMALL, "output buffer too small for block %llu",
                      (unsigned long long)i);
        memcpy(dst, decoded, len);
        r = (int64_t)len;
        word = (uint32_t)len | SQZ_STORED_FLAG;
    } else {
        SQZ_FORWARD_IF_ERROR(r);
        word = (uint32_t)r;
    }
    if (!j->slots) { j->seq_off += (size_t)r; j->seq_cap -= (size_t)r; }
    sqz_wr32(j->table + SQZ_TABLE_ENTRY * i, word);
    sqz_wr32(j->table + SQZ_TABLE_ENTRY * i + 4, decoded_hash);
    sqz_wr32(j->table + SQZ_TABLE_ENTRY * i + 8, sqz_hash32(dst, (size_t)r));
    return 0;
}

/* Elements per block: the first stage that has a preference (block_elems hook) decides,
 * else block_bytes (or the default) rounded to a multiple of 8 elements. */
uint64_t sqz_choose_block_elems(const sqz_pipeline *pl, uint32_t block_bytes, size_t esize, uint64_t n_elems)
{
    uint64_t b = 0;
    for (int s = 0; s < pl->n && !b; s++)
        if (pl->st[s].stage->block_elems) b = pl->st[s].stage->block_elems(&pl->st[s], n_elems, block_bytes);
    if (b) {
        if (b * esize > SQZ_MAX_BLOCK_BYTES) b = SQZ_MAX_BLOCK_BYTES / esize;
        if (b < 8) b = 8;  /* sqz_encode_bound assumes blocks of >= 8 elements */
    } else {
        b = (block_bytes ? block_bytes : SQZ_DEFAULT_BLOCK_BYTES) / esize;
        b = b / 8 * 8;
        if (b < 8) b = 8;
    }
    if (b > n_elems && n_elems) b = n_elems;
    return b ? b : 1;
}

static size_t header_bytes(int ndim, size_t pipeline_size, uint64_t n_blocks)
{
    return SQZ_FIXED_HEADER + 4 * (size_t)ndim + pipeline_size + SQZ_TABLE_ENTRY * (size_t)n_blocks;
}

/* The chunk as stage `upto` sees it: blocks of `block_elems` run through stages 0..upto-1,
 * back to back (*out, malloc'ed, *out_size bytes). */
static int chunk_before_stage(sqz_pipeline *pl, int upto, const uint8_t *src, size_t size, size_t es,
                              uint64_t block_elems, uint8_t **out, size_t *out_size)
{
    const uint64_t n_elems = size / es, n_blocks = n_elems ? (n_elems + block_elems - 1) / block_elems : 0;
    size_t total = 0, scratch = (size_t)block_elems * es;
    for (uint64_t i = 0; i < n_blocks; i++) {
        size_t n = (size_t)((i + 1 < n_blocks ? block_elems : n_elems - i * block_elems) * es);
        for (int s = 0; s < upto; s++) {
            n = pl->st[s].stage->out_size(&pl->st[s], n);
            if (n > scratch) scratch = n;
        }
        total += n;
    }
    uint8_t *buf = malloc(total ? total : 1), *tmp = malloc(2 * scratch + 1);
    void *states[SQZ_MAX_STAGES] = {0};
    int rc = buf && tmp ? 0 : sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "%zu bytes to analyse the chunk", total);
    size_t off = 0;
    for (uint64_t i = 0; i < n_blocks && rc >= 0; i++) {
        const uint64_t first = i * block_elems, ne = i + 1 < n_blocks ? block_elems : n_elems - first;
        const sqz_block blk = {first, ne};
        const uint8_t *cur = src + first * es;
        size_t n = (size_t)(ne * es);
        for (int s = 0; s < upto && rc >= 0; s++) {
            sqz_stage_ctx *c = &pl->st[s];
            size_t o = c->stage->out_size(c, n);
            uint8_t *dst = s + 1 == upto ? buf + off : tmp + (size_t)(s & 1) * scratch;
            int64_t r = c->stage->encode(c, &blk, cur, n, dst, o, &states[s]);
            if (r < 0) rc = (int)r;
            cur = dst;
            n = o;
        }
        off += n;
    }
    for (int s = 0; s < upto; s++) if (states[s] && pl->st[s].stage->release) pl->st[s].stage->release(states[s]);
    free(tmp);
    if (rc < 0) { free(buf); return rc; }
    *out = buf;
    *out_size = total;
    return 0;
}

/* Run stage prepare() hooks; a hook after stage 0 sees the chunk as the earlier stages leave
 * it (they run over the chunk once more, block by block, to produce it). */
static int prepare_stages(sqz_pipeline *pl, const uint8_t *src, size_t size, size_t es, uint64_t block_elems)
{
    for (int s = 0; s < pl->n; s++) {
        sqz_stage_ctx *c = &pl->st[s];
        if (!c->stage->prepare) continue;
        SQZ_RETURN_IF(c->stage->kind == SQZ_STAGE_CODEC, SQZ_ERR_PIPELINE_SYNTAX, "codec '%s' cannot analyse the chunk",
                      c->stage->name);
        size_t cap = 65536 * 8 + 64, used = 0;
        uint8_t *meta = malloc(cap);
        SQZ_RETURN_IF(!meta, SQZ_ERR_OUT_OF_MEMORY, "stage metadata");
        pl->owned_meta[s] = meta;
        if (s == 0 || (c->stage->prepare_on_input && c->dtype == pl->st[0].dtype)) {
            SQZ_FORWARD_IF_ERROR(c->stage->prepare(c, src, size, meta, cap, &used));
        } else {
            uint8_t *seen;
            size_t seen_size;
            SQZ_FORWARD_IF_ERROR(chunk_before_stage(pl, s, src, size, es, block_elems, &seen, &seen_size));
            int rc = c->stage->prepare(c, seen, seen_size, meta, cap, &used);
            free(seen);
            SQZ_FORWARD_IF_ERROR(rc);
        }
        c->meta = meta;
        c->meta_size = (uint32_t)used;
    }
    return 0;
}

/* The element count of a shape (dtype, ndim and every extent checked) */
static int shape_elems(int dtype, int ndim, const uint64_t *shape, uint64_t *n_elems)
{
    SQZ_RETURN_IF(!sqz_dtype_size(dtype), SQZ_ERR_UNSUPPORTED_DTYPE,
                  "dtype code %d (supported: uint8, int8, uint16, int16, uint32, int32, float32)", dtype);
    SQZ_RETURN_IF(ndim < 1 || ndim > SQZ_MAX_NDIM || !shape, SQZ_ERR_BAD_ARGUMENT, "ndim %d (1..%d)", ndim, SQZ_MAX_NDIM);
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        SQZ_RETURN_IF(shape[d] > UINT32_MAX, SQZ_ERR_BAD_ARGUMENT, "dimension %d of %llu exceeds 2^32-1", d,
                      (unsigned long long)shape[d]);
        SQZ_RETURN_IF(!sqz_mul_ok(n, shape[d], &n), SQZ_ERR_BAD_ARGUMENT, "shape overflows");
    }
    *n_elems = n;
    return 0;
}

int sqz_check_geometry(int dtype, int ndim, const uint64_t *shape, size_t src_size, uint64_t *n_elems)
{
    uint64_t n, bytes;
    SQZ_FORWARD_IF_ERROR(shape_elems(dtype, ndim, shape, &n));
    SQZ_RETURN_IF(!sqz_mul_ok(n, sqz_dtype_size(dtype), &bytes) || bytes != src_size, SQZ_ERR_SIZE_MISMATCH,
                  "shape holds %llu elements but the buffer has %zu bytes", (unsigned long long)n, src_size);
    *n_elems = n;
    return 0;
}

static size_t bound_of(const sqz_pipeline *pl, size_t raw_size, int ndim, uint64_t n_blocks)
{
    /* Metadata of prepare() stages is bounded by their buffer; blocks never exceed raw size. */
    size_t meta = 0;
    for (int s = 0; s < pl->n; s++) if (pl->st[s].stage->prepare) meta += 65536 * 8 + 64;
    return header_bytes(ndim, sqz_pipeline_serialized_size(pl) + meta, n_blocks) + raw_size;
}

size_t sqz_encode_bound(size_t raw_size, int dtype, int ndim, const char *pipeline)
{
    sqz_pipeline pl;
    size_t es = sqz_dtype_size(dtype);
    if (!es || ndim < 1 || ndim > SQZ_MAX_NDIM || sqz_pipeline_parse(pipeline ? pipeline : SQZ_DEFAULT_PIPELINE, &pl) < 0) return 0;
    return bound_of(&pl, raw_size, ndim, raw_size / es / 8 + 1);  /* blocks of >= 8 elements */
}

size_t sqz_encode_bound_shape(int dtype, int ndim, const uint64_t *shape, const sqz_options *opt)
{
    sqz_clear_error();
    static const sqz_options defaults = {0};
    if (!opt) opt = &defaults;
    const size_t es = sqz_dtype_size(dtype);
    uint64_t n_elems, raw;
    if (shape_elems(dtype, ndim, shape, &n_elems) < 0) return 0;
    if (!sqz_mul_ok(n_elems, es, &raw) || raw > SIZE_MAX / 2 || opt->block_bytes > SQZ_MAX_BLOCK_BYTES)
        return (void)sqz_fail(SQZ_ERR_BAD_ARGUMENT, "chunk of %llu elements, block_bytes %u", (unsigned long long)n_elems,
                              opt->block_bytes), 0;
    sqz_pipeline pl;
    size_t bound = 0;
    if (sqz_pipeline_parse(opt->pipeline ? opt->pipeline : SQZ_DEFAULT_PIPELINE, &pl) >= 0 &&
        sqz_pipeline_bind(&pl, dtype, ndim, shape) >= 0) {
        const uint64_t be = sqz_choose_block_elems(&pl, opt->block_bytes, es, n_elems);
        bound = bound_of(&pl, (size_t)raw, ndim, n_elems ? (n_elems + be - 1) / be : 0);
    }
    sqz_pipeline_free(&pl);
    return bound;
}

int64_t sqz_encode(const void *src, size_t src_size, int dtype, int ndim, const uint64_t *shape,
                   const sqz_options *opt, void *dst, size_t dst_cap)
{
    sqz_clear_error();
    static const sqz_options defaults = {0};
    if (!opt) opt = &defaults;
    uint64_t n_elems = 0;
    SQZ_FORWARD_IF_ERROR(sqz_check_geometry(dtype, ndim, shape, src_size, &n_elems));
    SQZ_RETURN_IF(!src && src_size, SQZ_ERR_BAD_ARGUMENT, "no input buffer");
    SQZ_RETURN_IF(!dst, SQZ_ERR_BAD_ARGUMENT, "no output buffer");
    SQZ_RETURN_IF(opt->block_bytes > SQZ_MAX_BLOCK_BYTES, SQZ_ERR_BAD_ARGUMENT, "block_bytes above %u", SQZ_MAX_BLOCK_BYTES);
    const size_t es = sqz_dtype_size(dtype);

    sqz_pipeline pl;
    int rc = sqz_pipeline_parse(opt->pipeline ? opt->pipeline : SQZ_DEFAULT_PIPELINE, &pl);
    if (rc >= 0) rc = sqz_pipeline_bind(&pl, dtype, ndim, shape);
    const uint64_t block_elems = rc >= 0 ? sqz_choose_block_elems(&pl, opt->block_bytes, es, n_elems) : 1;
    for (int s = 0; s < pl.n; s++) pl.st[s].block_elems = block_elems;
    if (rc >= 0) rc = prepare_stages(&pl, src, src_size, es, block_elems);
    if (rc < 0) { sqz_pipeline_free(&pl); return rc; }

    enc_job j = {.pl = &pl, .src = src, .esize = es, .raw_size = src_size, .last_lossy = -1};
    for (int s = 0; s < pl.n; s++) if (pl.st[s].stage->lossy) j.last_lossy = s;
    j.block_elems = block_elems;
    const uint64_t n_blocks = n_elems ? (n_elems + j.block_elems - 1) / j.block_elems : 0;
    const size_t pipe_size = sqz_pipeline_serialized_size(&pl);
    const size_t head = header_bytes(ndim, pipe_size, n_blocks);
    if (pipe_size > UINT16_MAX || n_blocks > UINT32_MAX) {
        sqz_pipeline_free(&pl);
        return sqz_fail(SQZ_ERR_BAD_ARGUMENT, "pipeline metadata or block count too large for format v1");
    }
    if (dst_cap < head) { sqz_pipeline_free(&pl); return sqz_fail(SQZ_ERR_DST_TOO_SMALL, "need at least %zu bytes", head); }

    uint8_t *out = dst;
    memcpy(out, SQZ_MAGIC, 4);
    out[4] = SQZ_FORMAT_VERSION;
    out[5] = (uint8_t)dtype;
    out[6] = (uint8_t)ndim;
    out[7] = 0;
    sqz_wr64(out + 8, src_size);
    sqz_wr32(out + 16, (uint32_t)j.block_elems);
    sqz_wr32(out + 20, (uint32_t)n_blocks);
    sqz_wr16(out + 24, (uint16_t)pipe_size);
    sqz_wr16(out + 26, 0);
    sqz_wr32(out + 28, 0);
    for (int d = 0; d < ndim; d++) sqz_wr32(out + SQZ_FIXED_HEADER + 4 * d, (uint32_t)shape[d]);
    sqz_pipeline_serialize(&pl, out + SQZ_FIXED_HEADER + 4 * ndim);
    j.table = out + head - SQZ_TABLE_ENTRY * n_blocks;
    j.payload = out + head;

    int threads = sqz_resolve_threads(opt->threads, n_blocks);
    j.slots = threads > 1 && dst_cap - head >= src_size;
    if (!j.slots) threads = 1;
    j.seq_cap = dst_cap - head;
    size_t scratch = j.block_elems * es;
    for (int s = 0; s + 1 < pl.n; s++) if (pl.st[s].stage->out_size(&pl.st[s], scratch) > scratch)
        scratch = pl.st[s].stage->out_size(&pl.st[s], scratch);
    rc = sqz_workers_init(&j.w, threads, pl.n > 1 || j.last_lossy >= 0 ? scratch : 0, &pl);
    if (rc >= 0) rc = sqz_parallel_for(n_blocks, threads, encode_block, &j);
    sqz_workers_free(&j.w, &pl);
    if (rc < 0) { sqz_pipeline_free(&pl); return rc; }

    size_t total = head;
    if (j.slots) {
        for (uint64_t i = 0; i < n_blocks; i++) {
            size_t sz = sqz_rd32(j.table + SQZ_TABLE_ENTRY * i) & ~SQZ_STORED_FLAG;
            memmove(out + total, j.payload + (size_t)i * j.block_elems * es, sz);
            total += sz;
        }
    } else {
        total += j.seq_off;
    }
    uint32_t hsum = sqz_hash32_scalar(out, SQZ_FIXED_HEADER) ^ sqz_hash32(out + SQZ_FIXED_HEADER, head - SQZ_FIXED_HEADER);
    sqz_wr32(out + 28, hsum);
    sqz_pipeline_free(&pl);
    return (int64_t)total;
}
