/* raw: the codec that stores its input unchanged. */
#include <string.h>

#include "../common/error.h"
#include "stage.h"

static int64_t raw_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                          void *dst, size_t cap, void **state)
{
    (void)ctx; (void)blk; (void)state;
    if (n > cap) return -SQZ_ERR_DST_TOO_SMALL;
    memcpy(dst, src, n);
    return (int64_t)n;
}

int64_t sqz_copy_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                        void *dst, size_t dst_size, void **state)
{
    (void)blk; (void)state;
    SQZ_RETURN_IF(n != dst_size, SQZ_ERR_CORRUPT_DATA, "%s block of %zu bytes, expected %zu", ctx->stage->name, n, dst_size);
    memcpy(dst, src, n);
    return (int64_t)n;
}

const sqz_stage sqz_stage_raw = {
    .id = 1, .name = "raw", .kind = SQZ_STAGE_CODEC,
    .doc = "store bytes unchanged",
    .encode = raw_encode, .decode = sqz_copy_decode,
};
