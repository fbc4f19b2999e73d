/* Reading and validating a chunk header (docs/FORMAT.md). Trusts no size it reads. */
#include <string.h>

#include "../common/bytes.h"
#include "../common/checksum.h"
#include "../common/error.h"
#include "pipeline.h"

size_t sqz_dtype_size(int dtype)
{
    switch (dtype) {
    case SQZ_UINT8: case SQZ_INT8: return 1;
    case SQZ_UINT16: case SQZ_INT16: return 2;
    case SQZ_UINT32: case SQZ_INT32: case SQZ_FLOAT32: return 4;
    default: return 0;
    }
}

int sqz_header_read(const uint8_t *src, size_t src_size, sqz_header *h, sqz_pipeline *pl)
{
    memset(h, 0, sizeof *h);
    SQZ_RETURN_IF(!src, SQZ_ERR_BAD_ARGUMENT, "no input");
    SQZ_RETURN_IF(src_size < 4 || memcmp(src, SQZ_MAGIC, 4) != 0, SQZ_ERR_NOT_SQEAZY,
                  "the data does not start with the sqeazy magic 'SQZC'");
    SQZ_RETURN_IF(src_size < SQZ_FIXED_HEADER, SQZ_ERR_TRUNCATED, "%zu bytes, less than the fixed header", src_size);
    SQZ_RETURN_IF(src[4] != SQZ_FORMAT_VERSION, SQZ_ERR_UNSUPPORTED_VERSION,
                  "format version %d; this sqeazy reads version %d", src[4], SQZ_FORMAT_VERSION);
    h->dtype = src[5];
    h->ndim = src[6];
    size_t es = sqz_dtype_size(h->dtype);
    SQZ_RETURN_IF(!es, SQZ_ERR_CORRUPT_HEADER, "dtype code %d", h->dtype);
    SQZ_RETURN_IF(h->ndim < 1 || h->ndim > SQZ_MAX_NDIM, SQZ_ERR_CORRUPT_HEADER, "ndim %d", h->ndim);
    SQZ_RETURN_IF(src[7] != 0 || sqz_rd16(src + 26) != 0, SQZ_ERR_CORRUPT_HEADER, "reserved bytes are set");
    h->raw_size = sqz_rd64(src + 8);
    h->block_elems = sqz_rd32(src + 16);
    h->n_blocks = sqz_rd32(src + 20);
    h->pipeline_size = sqz_rd16(src + 24);

    uint64_t fixed = SQZ_FIXED_HEADER + 4 * (uint64_t)h->ndim;
    SQZ_RETURN_IF(src_size < fixed, SQZ_ERR_TRUNCATED, "%zu bytes, header needs %llu", src_size, (unsigned long long)fixed);
    uint64_t n = 1;
    for (int d = 0; d < h->ndim; d++) {
        h->shape[d] = sqz_rd32(src + SQZ_FIXED_HEADER + 4 * d);
        SQZ_RETURN_IF(!sqz_mul_ok(n, h->shape[d], &n), SQZ_ERR_CORRUPT_HEADER, "shape overflows");
    }
    uint64_t bytes;
    SQZ_RETURN_IF(!sqz_mul_ok(n, es, &bytes) || bytes != h->raw_size, SQZ_ERR_CORRUPT_HEADER,
                  "shape does not match raw size %llu", (unsigned long long)h->raw_size);
    h->n_elems = n;
    SQZ_RETURN_IF(h->block_elems == 0 || h->block_elems * es > SQZ_MAX_BLOCK_BYTES, SQZ_ERR_CORRUPT_HEADER,
                  "block of %llu elements", (unsigned long long)h->block_elems);
    SQZ_RETURN_IF(h->n_blocks != (n + h->block_elems - 1) / h->block_elems, SQZ_ERR_CORRUPT_HEADER,
                  "%llu blocks for %llu elements", (unsigned long long)h->n_blocks, (unsigned long long)n);
    h->header_size = fixed + h->pipeline_size + SQZ_TABLE_ENTRY * h->n_blocks;
    SQZ_RETURN_IF(h->header_size > src_size, SQZ_ERR_TRUNCATED, "%zu bytes, header and block table need %llu",
                  src_size, (unsigned long long)h->header_size);

    uint8_t head[SQZ_FIXED_HEADER];
    memcpy(head, src, sizeof head);
    memset(head + 28, 0, 4);
    uint32_t expect = sqz_rd32(src + 28);
    /* The header checksum is hash(fixed header with zeroed checksum || rest of header). */
    uint32_t got = sqz_hash32_scalar(head, sizeof head) ^ sqz_hash32(src + SQZ_FIXED_HEADER, h->header_size - SQZ_FIXED_HEADER);
    SQZ_RETURN_IF(got != expect, SQZ_ERR_CHECKSUM, "header checksum mismatch (corrupt chunk header)");

    h->pipeline = src + fixed;
    h->table = h->pipeline + h->pipeline_size;
    SQZ_FORWARD_IF_ERROR(sqz_pipeline_deserialize(h->pipeline, h->pipeline_size, pl));
    return 0;
}
