/* A parsed pipeline and the chunk header of docs/FORMAT.md. */
#ifndef SQZ_PIPELINE_H
#define SQZ_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "../stages/stage.h"

#define SQZ_MAGIC "SQZC"
#define SQZ_FIXED_HEADER 32
#define SQZ_TABLE_ENTRY 12   /* stored size | flag, hash of decoded block, hash of stored bytes */
#define SQZ_STORED_FLAG 0x80000000u
#define SQZ_MAX_BLOCK_BYTES (1u << 30)
#define SQZ_DEFAULT_BLOCK_BYTES (48u * 1024u)  /* not a power of two: bit-plane rows of 2^k bytes alias in L1 */

typedef struct {
    int n;
    sqz_stage_ctx st[SQZ_MAX_STAGES];
    uint8_t *owned_meta[SQZ_MAX_STAGES];   /* encoder-side metadata buffers */
} sqz_pipeline;

int sqz_pipeline_parse(const char *text, sqz_pipeline *pl);
int sqz_pipeline_to_text(const sqz_pipeline *pl, char *out, size_t cap);
/* Fill dtype/shape for each stage and run the stages' checks. */
int sqz_pipeline_bind(sqz_pipeline *pl, int dtype, int ndim, const uint64_t *shape);
void sqz_pipeline_free(sqz_pipeline *pl);
/* The stage leaves this chunk's data as it is (its identity hook): coders skip it. */
static inline int sqz_stage_skipped(const sqz_stage_ctx *c) { return c->stage->identity && c->stage->identity(c); }
size_t sqz_pipeline_serialized_size(const sqz_pipeline *pl);
void sqz_pipeline_serialize(const sqz_pipeline *pl, uint8_t *out);
/* Parse the pipeline section; metadata points into `in`. */
int sqz_pipeline_deserialize(const uint8_t *in, size_t size, sqz_pipeline *pl);

typedef struct {
    int dtype, ndim;
    uint64_t shape[SQZ_MAX_NDIM];
    uint64_t raw_size, n_elems, block_elems, n_blocks;
    uint32_t pipeline_size;
    uint64_t header_size;     /* through the block table */
    const uint8_t *pipeline;  /* into the chunk */
    const uint8_t *table;
} sqz_header;

/* Shared by every encoder (CPU and csrc/cuda): the chunk's geometry and its block size. */
int sqz_check_geometry(int dtype, int ndim, const uint64_t *shape, size_t src_size, uint64_t *n_elems);
uint64_t sqz_choose_block_elems(const sqz_pipeline *pl, uint32_t block_bytes, size_t esize, uint64_t n_elems);

/* Validate everything the fixed header, pipeline section and block table claim. */
int sqz_header_read(const uint8_t *src, size_t src_size, sqz_header *h, sqz_pipeline *pl);

#endif
