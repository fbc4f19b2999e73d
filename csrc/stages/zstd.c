/* zstd: Zstandard (libzstd), one context per thread. */
#include <zstd.h>
#include <zstd_errors.h>

#include "../common/error.h"
#include "stage.h"

static const sqz_param_spec k_params[] = {
    {"level", 1, -131072, 22, 1},
};

#include <stdlib.h>

typedef struct { ZSTD_CCtx *c; ZSTD_DCtx *d; } contexts;

static contexts *get_contexts(void **state)
{
    if (!*state) *state = calloc(1, sizeof(contexts));
    return *state;
}

static int64_t zstd_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                           void *dst, size_t cap, void **state)
{
    (void)blk;
    contexts *cs = get_contexts(state);
    if (!cs || (!cs->c && !(cs->c = ZSTD_createCCtx()))) return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "zstd context");
    ZSTD_CCtx *cctx = cs->c;
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, (int)ctx->params[0]);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
    size_t r = ZSTD_compress2(cctx, dst, cap, src, n);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall) return -SQZ_ERR_DST_TOO_SMALL;
        return sqz_fail(SQZ_ERR_CODEC, "zstd: %s", ZSTD_getErrorName(r));
    }
    return (int64_t)r;
}

static int64_t zstd_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                           void *dst, size_t dst_size, void **state)
{
    (void)ctx; (void)blk;
    contexts *cs = get_contexts(state);
    if (cs && !cs->d && (cs->d = ZSTD_createDCtx()))
        ZSTD_DCtx_setParameter(cs->d, ZSTD_d_windowLogMax, 27); /* single-shot: dst is the window */
    SQZ_RETURN_IF(!cs || !cs->d, SQZ_ERR_OUT_OF_MEMORY, "zstd context");
    size_t r = ZSTD_decompressDCtx(cs->d, dst, dst_size, src, n);
    SQZ_RETURN_IF(ZSTD_isError(r), SQZ_ERR_CORRUPT_DATA, "zstd block: %s", ZSTD_getErrorName(r));
    SQZ_RETURN_IF(r != dst_size, SQZ_ERR_CORRUPT_DATA, "zstd block decoded to %zu bytes, expected %zu", r, dst_size);
    return (int64_t)r;
}

static void zstd_release(void *state)
{
    contexts *cs = state;
    ZSTD_freeCCtx(cs->c);
    ZSTD_freeDCtx(cs->d);
    free(cs);
}

const sqz_stage sqz_stage_zstd = {
    .id = 3, .name = "zstd", .kind = SQZ_STAGE_CODEC,
    .n_params = 1, .params = k_params,
    .doc = "Zstandard; level -131072..22 (negative: faster)",
    .encode = zstd_encode, .decode = zstd_decode, .release = zstd_release,
};
