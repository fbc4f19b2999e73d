/* lz4: LZ4 block compression (liblz4). */
#include <lz4.h>

#include "../common/error.h"
#include "stage.h"

static const sqz_param_spec k_params[] = {
    {"acceleration", 1, 1, 65537, 1},
};

static int64_t lz4_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                          void *dst, size_t cap, void **state)
{
    (void)blk; (void)state;
    if (n > LZ4_MAX_INPUT_SIZE) return sqz_fail(SQZ_ERR_BAD_ARGUMENT, "lz4 block of %zu bytes is too large", n);
    int c = cap > (size_t)INT32_MAX ? INT32_MAX : (int)cap;
    int r = LZ4_compress_fast(src, dst, (int)n, c, (int)ctx->params[0]);
    if (r <= 0) return -SQZ_ERR_DST_TOO_SMALL;
    return r;
}

static int64_t lz4_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                          void *dst, size_t dst_size, void **state)
{
    (void)ctx; (void)blk; (void)state;
    SQZ_RETURN_IF(n > INT32_MAX || dst_size > INT32_MAX, SQZ_ERR_CORRUPT_DATA, "lz4 block too large");
    int r = LZ4_decompress_safe(src, dst, (int)n, (int)dst_size);
    SQZ_RETURN_IF(r < 0, SQZ_ERR_CORRUPT_DATA, "lz4 block is malformed");
    SQZ_RETURN_IF((size_t)r != dst_size, SQZ_ERR_CORRUPT_DATA, "lz4 block decoded to %d bytes, expected %zu", r, dst_size);
    return r;
}

const sqz_stage sqz_stage_lz4 = {
    .id = 2, .name = "lz4", .kind = SQZ_STAGE_CODEC,
    .n_params = 1, .params = k_params,
    .doc = "LZ4 block codec; acceleration trades ratio for speed",
    .encode = lz4_encode, .decode = lz4_decode,
};
