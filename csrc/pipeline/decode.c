/* Chunk decoder. Safety contract: for any bytes (src, src_size) it returns an error or
 * writes exactly the raw size into dst; it never reads outside src, never writes outside
 * dst, and allocates at most threads * 2 blocks of scratch (a block <= raw size <= dst_cap). */
#include <stdio.h>
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
    const sqz_header *h;
    const uint8_t *payload;
    const uint64_t *offsets;  /* n_blocks + 1 */
    uint8_t *dst;
    size_t esize;
    int direct_from;  /* stages <= this one decode into dst (the ones before them run in place) */
    int fused;        /* the codec hands finished ranges to the pointwise stages before it and the checksum */
    sqz_workers w;
} dec_job;

/* The stages before the codec and the checksum, over the ranges the codec has finished. */
typedef struct {
    sqz_sink sink;
    dec_job *j;
    int worker;
    uint64_t first;   /* the block's first element */
    uint8_t *out;
    size_t done;      /* bytes put so far */
    sqz_hash32_state hash;
} block_sink;

static int put_range(sqz_sink *sink, size_t offset, size_t size)
{
    block_sink *b = (block_sink *)sink;
    dec_job *j = b->j;
    SQZ_RETURN_IF(offset != b->done || size % j->esize, SQZ_ERR_GENERIC, "decoder put %zu bytes at %zu, %zu expected",
                  size, offset, b->done);
    uint8_t *p = b->out + offset;
    const sqz_block sub = {b->first + offset / j->esize, size / j->esize};
    for (int s = j->pl->n - 2; s >= 0; s--) {
        sqz_stage_ctx *c = &j->pl->st[s];
        if (sqz_stage_skipped(c)) continue;
        const int64_t r = c->stage->decode(c, &sub, p, size, p, size, sqz_workers_state(&j->w, b->worker, s));
        if (r < 0) return (int)r;
    }
    sqz_hash32_update(&b->hash, p, size);
    b->done += size;
    return 0;
}

/* A stage's error, with the block named and the stage's detail kept. */
static int stage_failed(uint64_t i, int64_t r)
{
    char detail[400];
    snprintf(detail, sizeof detail, "%s", sqz_last_error());
    return sqz_fail((int)-r, "block %llu: %s", (unsigned long long)i, detail);
}

static int decode_block(void *ctx, int worker, uint64_t i)
{
    dec_job *j = ctx;
    const sqz_header *h = j->h;
    const uint64_t first = i * h->block_elems;
    uint64_t n_el = h->n_elems - first;
    if (n_el > h->block_elems) n_el = h->block_elems;
    const size_t len = (size_t)(n_el * j->esize);
    const sqz_block blk = {first, n_el};
    const uint32_t word = sqz_rd32(h->table + SQZ_TABLE_ENTRY * i);
    const uint8_t *in = j->payload + j->offsets[i];
    size_t in_n = (size_t)(j->offsets[i + 1] - j->offsets[i]);
    uint8_t *out = j->dst + first * j->esize;
    sqz_pipeline *pl = j->pl;

    SQZ_RETURN_IF(sqz_hash32(in, in_n) != sqz_rd32(h->table + SQZ_TABLE_ENTRY * i + 8), SQZ_ERR_CHECKSUM,
                  "block %llu: stored bytes fail their checksum (corrupt chunk)", (unsigned long long)i);
    uint32_t sum;
    if (word & SQZ_STORED_FLAG) {
        SQZ_RETURN_IF(in_n != len, SQZ_ERR_CORRUPT_DATA, "stored block %llu has %zu bytes, expected %zu",
                      (unsigned long long)i, in_n, len);
        memcpy(out, in, len);
        sum = sqz_hash32(out, len);
    } else if (j->fused) {
        const int last = pl->n - 1;
        sqz_stage_ctx *c = &pl->st[last];
        block_sink b = {{put_range}, j, worker, first, out, 0, {{0}, {0}, 0, 0}};
        sqz_hash32_begin(&b.hash);
        int64_t r = c->stage->decode_sink(c, &blk, in, in_n, out, len, sqz_workers_state(&j->w, worker, last), &b.sink);
        if (r >= 0 && b.done < len) r = put_range(&b.sink, b.done, len - b.done);
        if (r < 0) return stage_failed(i, r);
        sum = sqz_hash32_end(&b.hash);
    } else {
        size_t sizes[SQZ_MAX_STAGES];
        sizes[0] = len;
        for (int s = 0; s + 1 < pl->n; s++) sizes[s + 1] = pl->st[s].stage->out_size(&pl->st[s], sizes[s]);
        for (int s = pl->n - 1, b = 0; s >= 0; s--) {
            sqz_stage_ctx *c = &pl->st[s];
            if (s + 1 < pl->n && sqz_stage_skipped(c)) {
                if (s == 0 && in != out) memcpy(out, in, len);
                continue;
            }
            uint8_t *to = s <= j->direct_from ? out : sqz_workers_scratch(&j->w, worker, b);
            b ^= 1;
            int64_t r = c->stage->decode(c, &blk, in, in_n, to, sizes[s], sqz_workers_state(&j->w, worker, s));
            if (r < 0) return stage_failed(i, r);
            in = to;
            in_n = sizes[s];
        }
        sum = sqz_hash32(out, len);
    }
    SQZ_RETURN_IF(sum != sqz_rd32(h->table + SQZ_TABLE_ENTRY * i + 4), SQZ_ERR_CHECKSUM,
                  "block %llu decodes to data that fails its checksum (corrupt chunk)", (unsigned long long)i);
    return 0;
}

int sqz_inspect(const void *src, size_t src_size, sqz_info *info)
{
    sqz_clear_error();
    SQZ_RETURN_IF(!info, SQZ_ERR_BAD_ARGUMENT, "no info struct");
    sqz_header h;
    sqz_pipeline pl;
    SQZ_FORWARD_IF_ERROR(sqz_header_read(src, src_size, &h, &pl));
    memset(info, 0, sizeof *info);
    info->dtype = h.dtype;
    info->ndim = h.ndim;
    memcpy(info->shape, h.shape, sizeof h.shape);
    info->raw_size = h.raw_size;
    info->block_elems = h.block_elems;
    info->n_blocks = h.n_blocks;
    info->header_size = h.header_size;
    uint64_t total = h.header_size;
    for (uint64_t i = 0; i < h.n_blocks; i++) total += sqz_rd32(h.table + SQZ_TABLE_ENTRY * i) & ~SQZ_STORED_FLAG;
    info->chunk_size = total;
    info->format_version = SQZ_FORMAT_VERSION;
    SQZ_FORWARD_IF_ERROR(sqz_pipeline_to_text(&pl, info->pipeline, sizeof info->pipeline));
    return 0;
}

int64_t sqz_decode(const void *src, size_t src_size, void *dst, size_t dst_cap, int threads)
{
    sqz_clear_error();
    sqz_header h;
    sqz_pipeline pl;
    SQZ_FORWARD_IF_ERROR(sqz_header_read(src, src_size, &h, &pl));
    SQZ_RETURN_IF(!dst || dst_cap < h.raw_size, SQZ_ERR_DST_TOO_SMALL, "chunk decodes to %llu bytes, buffer has %zu",
                  (unsigned long long)h.raw_size, dst_cap);
    for (int s = 0; s < pl.n; s++) pl.st[s].block_elems = h.block_elems;
    SQZ_FORWARD_IF_ERROR(sqz_pipeline_bind(&pl, h.dtype, h.ndim, h.shape));

    const size_t es = sqz_dtype_size(h.dtype);
    /* Scratch follows the largest block that exists, not block_elems: a header may declare
     * 2^30-byte blocks for a chunk of a few bytes (hardening, docs/HARDENING.md). */
    const uint64_t max_block = (h.block_elems < h.n_elems ? h.block_elems : h.n_elems) * es;
    uint64_t *offsets = malloc((h.n_blocks + 1) * sizeof *offsets);
    SQZ_RETURN_IF(!offsets, SQZ_ERR_OUT_OF_MEMORY, "block table of %llu entries", (unsigned long long)h.n_blocks);
    offsets[0] = 0;
    int rc = 0;
    for (uint64_t i = 0; i < h.n_blocks && rc == 0; i++) {
        uint32_t word = sqz_rd32(h.table + SQZ_TABLE_ENTRY * i);
        uint64_t sz = word & ~SQZ_STORED_FLAG;
        offsets[i + 1] = offsets[i] + sz;  /* sz < 2^31 and n_blocks < 2^32: no overflow */
        if (offsets[i + 1] > src_size - h.header_size)
            rc = sqz_fail(SQZ_ERR_TRUNCATED, "block %llu ends past the end of the chunk (%zu bytes)",
                          (unsigned long long)i, src_size);
    }
    if (rc == 0 && offsets[h.n_blocks] != src_size - h.header_size)
        rc = sqz_fail(SQZ_ERR_CORRUPT_DATA, "%llu stray bytes after the last block",
                      (unsigned long long)(src_size - h.header_size - offsets[h.n_blocks]));
    if (rc < 0) { free(offsets); return rc; }

    dec_job j = {.pl = &pl, .h = &h, .payload = (const uint8_t *)src + h.header_size, .offsets = offsets,
                 .dst = dst, .esize = es, .direct_from = 0};
    for (int s = 1; s < pl.n; s++) {
        const sqz_stage_ctx *before = &pl.st[s - 1];
        if (!sqz_stage_skipped(before) && !(before->stage->decode_in_place &&
                                            before->stage->out_size(before, (size_t)max_block) == (size_t)max_block))
            break;
        j.direct_from = s;
    }
    /* fused: the codec decodes into dst and every stage before it is pointwise (or skipped) */
    j.fused = pl.st[pl.n - 1].stage->decode_sink && j.direct_from == pl.n - 1;
    for (int s = 0; s + 1 < pl.n; s++)
        if (!sqz_stage_skipped(&pl.st[s]) && !pl.st[s].stage->pointwise) j.fused = 0;
    size_t scratch = (size_t)max_block;
    for (int s = 0; s + 1 < pl.n; s++) {
        size_t o = pl.st[s].stage->out_size(&pl.st[s], (size_t)max_block);
        if (o > scratch) scratch = o;
    }
    threads = sqz_resolve_threads(threads, h.n_blocks);
    rc = sqz_workers_init(&j.w, threads, pl.n > 1 ? scratch : 0, &pl);
    if (rc >= 0) rc = sqz_parallel_for(h.n_blocks, threads, decode_block, &j);
    sqz_workers_free(&j.w, &pl);
    free(offsets);
    if (rc < 0) return rc;
    return (int64_t)h.raw_size;
}
