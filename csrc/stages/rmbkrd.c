/* rmbkrd: values below `threshold` become the threshold (lossy; values at or above it are exact). */
#include "../common/error.h"
#include "clamp.h"
#include "stage.h"

static const sqz_param_spec k_params[] = {
    {"threshold", 0, -3.4e38, 3.4e38, 0},
};

static size_t same_size(const sqz_stage_ctx *ctx, size_t n) { (void)ctx; return n; }

static int64_t rmbkrd_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                             void *dst, size_t cap, void **state)
{
    (void)blk; (void)state;
    SQZ_RETURN_IF(cap < n, SQZ_ERR_DST_TOO_SMALL, "rmbkrd");
    sqz_clamp_below(ctx->dtype, src, dst, n, ctx->params[0]);
    return (int64_t)n;
}

const sqz_stage sqz_stage_rmbkrd = {
    .id = 65, .name = "rmbkrd", .kind = SQZ_STAGE_FILTER, .lossy = 1,
    .n_params = 1, .params = k_params,
    .doc = "remove background: values below threshold are set to it (error <= threshold - value there)",
    .out_size = same_size, .encode = rmbkrd_encode, .decode = sqz_copy_decode,  /* nothing to undo */
};
