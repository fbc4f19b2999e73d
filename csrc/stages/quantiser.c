/* quantiser: 16 -> 8 bit by histogram-equalised levels (Sqeazy's quantiser). prepare() puts
 * up to 256 levels in the chunk: u16 count, then per level its lowest value (u16) and its
 * reconstruction, the mean of its values (u16). Each level holds about 1/256 of the pixels;
 * with 256 or fewer distinct values the coding is exact. uint16, int16 (as uint16). */
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/error.h"
#include "stage.h"

#define LEVELS 256

static int quant_check(const sqz_stage_ctx *ctx)
{
    SQZ_RETURN_IF(ctx->dtype != SQZ_UINT16 && ctx->dtype != SQZ_INT16, SQZ_ERR_UNSUPPORTED_DTYPE,
                  "quantiser maps 16-bit data to 8 bits: uint16 or int16 (as uint16)");
    return 0;
}

static int quant_prepare(const sqz_stage_ctx *ctx, const void *chunk, size_t size, uint8_t *meta, size_t meta_cap,
                         size_t *meta_size)
{
    (void)ctx;
    SQZ_RETURN_IF(meta_cap < 2 + 4 * LEVELS, SQZ_ERR_GENERIC, "quantiser metadata");
    uint64_t *hist = calloc(65536, sizeof *hist);
    SQZ_RETURN_IF(!hist, SQZ_ERR_OUT_OF_MEMORY, "quantiser histogram");
    const uint16_t *v = chunk;
    const uint64_t n = size / 2;
    for (uint64_t i = 0; i < n; i++) hist[v[i]]++;
    uint32_t distinct = 0;
    for (uint32_t x = 0; x < 65536; x++) distinct += hist[x] != 0;
    uint32_t levels = 0;
    uint64_t seen = 0;
    double sum = 0, count = 0;
    for (uint32_t x = 0; x < 65536; x++) {
        if (!hist[x]) continue;
        if (count == 0) sqz_wr16(meta + 2 + 4 * levels, (uint16_t)x);  /* a level opens */
        sum += (double)x * (double)hist[x];
        count += (double)hist[x];
        seen += hist[x];
        int close = distinct <= LEVELS || (double)seen * LEVELS >= (double)(levels + 1) * (double)n || levels == LEVELS - 1;
        if (close && levels < LEVELS - 1) {
            sqz_wr16(meta + 2 + 4 * levels + 2, (uint16_t)(sum / count + 0.5));
            levels++;
            sum = count = 0;
        }
    }
    if (count > 0) { sqz_wr16(meta + 2 + 4 * levels + 2, (uint16_t)(sum / count + 0.5)); levels++; }
    if (levels == 0) { sqz_wr16(meta + 2, 0); sqz_wr16(meta + 4, 0); levels = 1; }
    free(hist);
    sqz_wr16(meta, (uint16_t)levels);
    *meta_size = 2 + 4 * (size_t)levels;
    return 0;
}

static int read_levels(const sqz_stage_ctx *ctx, uint32_t *levels)
{
    SQZ_RETURN_IF(!ctx->meta || ctx->meta_size < 2, SQZ_ERR_CORRUPT_HEADER, "quantiser without its level table");
    *levels = sqz_rd16(ctx->meta);
    SQZ_RETURN_IF(*levels < 1 || *levels > LEVELS || ctx->meta_size != 2 + 4 * *levels, SQZ_ERR_CORRUPT_HEADER,
                  "quantiser table of %u levels in %u bytes", *levels, ctx->meta_size);
    for (uint32_t l = 1; l < *levels; l++)
        SQZ_RETURN_IF(sqz_rd16(ctx->meta + 2 + 4 * l) <= sqz_rd16(ctx->meta + 2 + 4 * (l - 1)), SQZ_ERR_CORRUPT_HEADER,
                      "quantiser levels not increasing");
    return 0;
}

static size_t quant_out_size(const sqz_stage_ctx *ctx, size_t n) { (void)ctx; return n / 2; }
static int quant_out_dtype(const sqz_stage_ctx *ctx) { (void)ctx; return SQZ_UINT8; }

typedef struct { const uint8_t *meta; uint8_t index[65536]; } lut;

static int64_t quant_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                            void *dst, size_t cap, void **state)
{
    (void)blk;
    uint32_t levels;
    SQZ_FORWARD_IF_ERROR(read_levels(ctx, &levels));
    SQZ_RETURN_IF(cap < n / 2, SQZ_ERR_DST_TOO_SMALL, "quantiser");
    lut *t = *state;
    if (!t || t->meta != ctx->meta) {
        if (!t && !(t = *state = malloc(sizeof *t))) return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "quantiser table");
        t->meta = ctx->meta;
        uint32_t l = 0;
        for (uint32_t x = 0; x < 65536; x++) {
            while (l + 1 < levels && x >= sqz_rd16(ctx->meta + 2 + 4 * (l + 1))) l++;
            t->index[x] = (uint8_t)l;
        }
    }
    const uint16_t *in = src;
    uint8_t *out = dst;
    for (size_t i = 0; i < n / 2; i++) out[i] = t->index[in[i]];
    return (int64_t)(n / 2);
}

static int64_t quant_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                            void *dst, size_t dst_size, void **state)
{
    (void)blk; (void)state;
    uint32_t levels;
    SQZ_FORWARD_IF_ERROR(read_levels(ctx, &levels));
    SQZ_RETURN_IF(dst_size != 2 * n, SQZ_ERR_CORRUPT_DATA, "quantiser block size");
    uint16_t recon[LEVELS] = {0};
    for (uint32_t l = 0; l < levels; l++) recon[l] = sqz_rd16(ctx->meta + 2 + 4 * l + 2);
    const uint8_t *in = src;
    uint16_t *out = dst;
    uint8_t worst = 0;
    for (size_t i = 0; i < n; i++) { worst = in[i] > worst ? in[i] : worst; out[i] = recon[in[i]]; }
    SQZ_RETURN_IF(n && worst >= levels, SQZ_ERR_CORRUPT_DATA, "quantiser index %u beyond %u levels", worst, levels);
    return (int64_t)dst_size;
}

static void quant_release(void *state) { free(state); }

const sqz_stage sqz_stage_quantiser = {
    .id = 67, .name = "quantiser", .kind = SQZ_STAGE_FILTER, .lossy = 1, .emits_codes = 1,
    .doc = "16 -> 8 bit by histogram-equalised levels; decode table stored in the chunk",
    .check = quant_check, .prepare = quant_prepare, .out_size = quant_out_size, .out_dtype = quant_out_dtype,
    .encode = quant_encode, .decode = quant_decode, .release = quant_release,
};
