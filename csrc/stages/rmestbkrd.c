/* rmestbkrd: rmbkrd with the threshold estimated per chunk, as Sqeazy did: the value below
 * which `support` of the pixels of the chunk's darkest face lie. The threshold is stored in
 * the chunk (8-byte metadata, f64). uint8, uint16, int16 (as uint16). */
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/error.h"
#include "clamp.h"
#include "stage.h"

static const sqz_param_spec k_params[] = {
    {"support", 0.99, 0, 1, 0},
};

static int rmest_check(const sqz_stage_ctx *ctx)
{
    SQZ_RETURN_IF(ctx->dtype != SQZ_UINT8 && ctx->dtype != SQZ_UINT16 && ctx->dtype != SQZ_INT16,
                  SQZ_ERR_UNSUPPORTED_DTYPE, "rmestbkrd takes uint8, uint16 or int16 (as uint16)");
    return 0;
}

static uint32_t value_at(const void *data, int wide, uint64_t i)
{
    return wide ? ((const uint16_t *)data)[i] : ((const uint8_t *)data)[i];
}

/* Visit the face of dimension d at index `side` (0 or extent-1): histogram and sum. */
static void face_stats(const sqz_stage_ctx *ctx, const void *data, int d, uint64_t side, uint32_t *hist, double *sum, uint64_t *count)
{
    const int wide = sqz_dtype_size(ctx->dtype) == 2;
    uint64_t inner = 1, outer = 1;
    for (int k = d + 1; k < ctx->ndim; k++) inner *= ctx->shape[k];
    for (int k = 0; k < d; k++) outer *= ctx->shape[k];
    const uint64_t extent = ctx->shape[d];
    for (uint64_t o = 0; o < outer; o++)
        for (uint64_t i = 0; i < inner; i++) {
            uint32_t v = value_at(data, wide, (o * extent + side) * inner + i);
            if (hist) hist[v]++;
            *sum += v;
            (*count)++;
        }
}

static int rmest_prepare(const sqz_stage_ctx *ctx, const void *chunk, size_t size, uint8_t *meta, size_t meta_cap,
                         size_t *meta_size)
{
    SQZ_RETURN_IF(meta_cap < 8, SQZ_ERR_GENERIC, "rmestbkrd metadata");
    double threshold = 0;
    if (size) {
        int best_d = 0;
        uint64_t best_side = 0;
        double best_mean = 0;
        for (int d = 0; d < ctx->ndim; d++)
            for (int s = 0; s < 2; s++) {
                uint64_t side = s ? ctx->shape[d] - 1 : 0, count = 0;
                double sum = 0;
                face_stats(ctx, chunk, d, side, NULL, &sum, &count);
                double mean = count ? sum / (double)count : 0;
                if ((d == 0 && s == 0) || mean < best_mean) { best_mean = mean; best_d = d; best_side = side; }
            }
        uint32_t *hist = calloc(65536, sizeof *hist);
        SQZ_RETURN_IF(!hist, SQZ_ERR_OUT_OF_MEMORY, "rmestbkrd histogram");
        double sum = 0;
        uint64_t count = 0, seen = 0;
        face_stats(ctx, chunk, best_d, best_side, hist, &sum, &count);
        const double want = ctx->params[0] * (double)count;
        uint32_t v = 0;
        for (; v < 65535; v++) { seen += hist[v]; if ((double)seen >= want) break; }
        free(hist);
        threshold = v;
    }
    sqz_wrf64(meta, threshold);
    *meta_size = 8;
    return 0;
}

static size_t same_size(const sqz_stage_ctx *ctx, size_t n) { (void)ctx; return n; }

static double stored_threshold(const sqz_stage_ctx *ctx)
{
    return ctx->meta && ctx->meta_size == 8 ? sqz_rdf64(ctx->meta) : 0;
}

static int64_t rmest_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                            void *dst, size_t cap, void **state)
{
    (void)blk; (void)state;
    SQZ_RETURN_IF(cap < n, SQZ_ERR_DST_TOO_SMALL, "rmestbkrd");
    sqz_clamp_below(ctx->dtype, src, dst, n, stored_threshold(ctx));
    return (int64_t)n;
}

static int64_t rmest_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                            void *dst, size_t dst_size, void **state)
{
    SQZ_RETURN_IF(ctx->meta_size != 8, SQZ_ERR_CORRUPT_HEADER, "rmestbkrd metadata of %u bytes", ctx->meta_size);
    return sqz_copy_decode(ctx, blk, src, n, dst, dst_size, state);
}

const sqz_stage sqz_stage_rmestbkrd = {
    .id = 66, .name = "rmestbkrd", .kind = SQZ_STAGE_FILTER, .lossy = 1,
    .n_params = 1, .params = k_params,
    .doc = "remove estimated background: threshold = `support` quantile of the chunk's darkest face",
    .check = rmest_check, .prepare = rmest_prepare, .out_size = same_size, .encode = rmest_encode, .decode = rmest_decode,
};
