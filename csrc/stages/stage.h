/* The one interface every pipeline stage implements; all stages are listed in registry.c.
 * A pipeline is filters... -> codec. Filters map a block to a block of a size that depends
 * only on the input size; the codec (last stage) produces a variable-size block. */
#ifndef SQZ_STAGE_H
#define SQZ_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "sqeazy.h"

#define SQZ_MAX_STAGES 8
#define SQZ_MAX_PARAMS 8

typedef enum { SQZ_STAGE_FILTER = 1, SQZ_STAGE_CODEC = 2 } sqz_stage_kind;

typedef struct {
    const char *name;
    double def, min, max;
    int integer;
} sqz_param_spec;

struct sqz_stage;

/* Where a codec's decoder hands the parts of its output it will not read again: put() runs the
 * pointwise stages after it and the block checksum on them while they are in cache. Ranges are
 * bytes of dst, in order, each once; 0 or -sqz_error (the decoder then stops with it). */
typedef struct sqz_sink {
    int (*put)(struct sqz_sink *sink, size_t offset, size_t size);
} sqz_sink;

/* A stage as configured in one chunk: parameters, metadata and the data it sees. */
typedef struct {
    const struct sqz_stage *stage;
    double params[SQZ_MAX_PARAMS];
    const uint8_t *meta;       /* per-chunk metadata written by prepare(), or NULL */
    uint32_t meta_size;
    int dtype;                 /* element type of this stage's input */
    int ndim;
    const uint64_t *shape;     /* chunk shape, slowest first */
    uint64_t block_elems;      /* elements per block of this chunk (set before prepare/encode/decode) */
} sqz_stage_ctx;

/* Where a block sits in the chunk, for stages that use geometry (predictors). */
typedef struct {
    uint64_t first_elem;
    uint64_t n_elems;
} sqz_block;

typedef struct sqz_stage {
    uint8_t id;                /* stored in chunks: never reused for another meaning */
    const char *name;
    sqz_stage_kind kind;
    int n_params;
    const sqz_param_spec *params;
    const char *doc;
    /* optional: refuse a dtype or parameter combination */
    int (*check)(const sqz_stage_ctx *ctx);
    /* optional: analyse the whole chunk (as this stage sees it) and write metadata */
    int (*prepare)(const sqz_stage_ctx *ctx, const void *chunk, size_t size,
                   uint8_t *meta, size_t meta_cap, size_t *meta_size);
    /* filters: exact output size; codecs: NULL */
    size_t (*out_size)(const sqz_stage_ctx *ctx, size_t in_size);
    /* encode returns bytes written or -sqz_error; a codec returns -SQZ_ERR_DST_TOO_SMALL when
     * the output would not fit `cap` (the block is then stored raw). `state` is a per-thread
     * slot the stage may fill (freed with release). */
    int64_t (*encode)(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                      void *dst, size_t cap, void **state);
    /* decode must produce exactly dst_size bytes or fail; it never reads past src+n. */
    int64_t (*decode)(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                      void *dst, size_t dst_size, void **state);
    void (*release)(void *state);
    /* optional, lossy filters: encode() into dst (out_size bytes) and the reconstruction
     * decode(encode(x)) into rec (n bytes) in one pass; returns n or -sqz_error */
    int64_t (*encode_reconstruct)(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                                  void *dst, void *rec, void **state);
    /* 1: decode(encode(x)) may differ from x; blocks then carry the hash of the reconstruction */
    int lossy;
    /* 1: the output is codes, not values (wnl and quantiser levels, remap ranks): no lossy stage may follow */
    int emits_codes;
    /* optional: element type of the output (default: the input's), e.g. 16 -> 8 bit */
    int (*out_dtype)(const sqz_stage_ctx *ctx);
    /* optional: elements per block this stage wants for the chunk (ctx->shape), given the
     * requested block bytes (0: the stage's default); 0 means no preference. The first
     * stage of a pipeline with a preference decides (e.g. whole rows or planes). */
    uint64_t (*block_elems)(const sqz_stage_ctx *ctx, uint64_t n_elems, uint32_t block_bytes);
    /* 1: prepare() only tunes the encoder (nothing a decoder needs is derived from the data's
     * exact values), so it may see the chunk as given to the pipeline instead of as the earlier
     * stages leave it, when those keep the element type (saves running them twice). */
    int prepare_on_input;
    /* optional: 1 when this chunk's metadata makes the stage leave the data as it is (remap
     * without a table); encoder and decoder then skip it */
    int (*identity)(const sqz_stage_ctx *ctx);
    /* 1: decode works in place (dst == src, same size): the decoder then runs the stages
     * after it in the final buffer, without scratch copies */
    int decode_in_place;
    /* 1 (with decode_in_place): decode maps each element on its own, so any range of a block
     * decodes alone (wnl, remap) */
    int pointwise;
    /* optional, codecs: decode() that also hands finished ranges of dst to sink (a prefix of
     * the block; the pipeline puts the rest) */
    int64_t (*decode_sink)(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                           void *dst, size_t dst_size, void **state, sqz_sink *sink);
} sqz_stage;

/* decode() of a stage that leaves bytes unchanged (raw) or has nothing to undo (rmbkrd). */
int64_t sqz_copy_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                        void *dst, size_t dst_size, void **state);

const sqz_stage *sqz_stage_by_name(const char *name, size_t len);
const sqz_stage *sqz_stage_by_id(int id);
/* Text of a preset pipeline ("lossless"), or NULL. */
const char *sqz_preset_by_name(const char *name, size_t len);

#endif
