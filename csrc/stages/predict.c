/* predict: replaces each element by its zigzag-mapped prediction residual (size-preserving).
 * Prediction uses only elements of the same block; modes and edge rules: docs/FORMAT.md. */
#include <string.h>

#include "../common/cpu.h"
#include "../common/error.h"
#include "predict.h"
#include "stage.h"

static const sqz_param_spec k_params[] = {
    {"mode", SQZ_PRED_AVG, 0, SQZ_PRED_COUNT_ - 1, 1},
};

#define DEFAULT_2D_BYTES (256u * 1024u)
#define DEFAULT_3D_BYTES (1024u * 1024u)
#define MIN_3D_PLANES 4

typedef struct {
    uint64_t X;       /* row length (last extent) */
    uint64_t Y;       /* rows per plane; 0 for 1-D data */
    uint64_t plane;   /* X*Y for ndim >= 3, else 0 */
} geo;

static geo geometry(const sqz_stage_ctx *ctx)
{
    geo g = {ctx->shape[ctx->ndim - 1], 0, 0};
    if (ctx->ndim >= 2) g.Y = ctx->shape[ctx->ndim - 2];
    if (ctx->ndim >= 3) g.plane = g.X * g.Y;
    return g;
}

static int is_3d(int mode) { return mode == SQZ_PRED_PLANE || mode == SQZ_PRED_AVG3D; }

/* Prediction with every neighbour present. */
static inline uint64_t pred_full(int mode, uint64_t w, uint64_t n, uint64_t nw, uint64_t p)
{
    switch (mode) {
    case SQZ_PRED_LEFT: return w;
    case SQZ_PRED_MED: {
        uint64_t mx = w > n ? w : n, mn = w > n ? n : w;
        return nw >= mx ? mn : nw <= mn ? mx : w + n - nw;
    }
    case SQZ_PRED_PLANE: return p;
    case SQZ_PRED_AVG3D: return (((w + n) >> 1) + p + 1) >> 1;
    default: return (w + n) >> 1;
    }
}

/* Prediction with missing neighbours (block or array edges). */
static inline uint64_t pred_edge(int mode, uint64_t w, uint64_t n, uint64_t nw, uint64_t p, int hw, int hn, int hnw, int hp)
{
    if (mode == SQZ_PRED_PLANE && hp) return p;
    if (mode == SQZ_PRED_AVG3D && hp && hw && hn) return pred_full(mode, w, n, nw, p);
    if (mode == SQZ_PRED_MED && hw && hn && hnw) return pred_full(mode, w, n, nw, p);
    if (mode != SQZ_PRED_LEFT && hw && hn) return (w + n) >> 1;
    return hw ? w : hn ? n : 0;
}

#define DEFINE_PREDICT(T, SUF, BITS)                                                                        \
static inline T zig_##SUF(T x, T pred)                                                                     \
{                                                                                                          \
    T r = (T)(x - pred);                                                                                   \
    return (T)((T)(r << 1) ^ (T)(0u - (T)(r >> (BITS - 1))));                                              \
}                                                                                                          \
static inline T unzig_##SUF(T z, T pred) { return (T)(pred + (T)((T)(z >> 1) ^ (T)(0u - (T)(z & 1u)))); } \
                                                                                                           \
static void row_scalar_##SUF(int mode, const T *cur, const T *up, const T *pp, T *out, size_t X, size_t j0, T flip)\
{                                                                                                          \
    for (size_t j = j0; j < X; j++) {                                                                      \
        uint64_t p = pp ? (T)(pp[j] ^ flip) : 0;                                                           \
        T pr = (T)pred_full(mode, (T)(cur[j - 1] ^ flip), (T)(up[j] ^ flip), (T)(up[j - 1] ^ flip), p);    \
        out[j] = zig_##SUF((T)(cur[j] ^ flip), pr);                                                        \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
/* Encode (dec = 0: in = values, out = residuals) or decode (dec = 1: in = residuals, out = values). */     \
static void walk_##SUF(const T *in, T *out, uint64_t first, uint64_t n, const geo *g, int mode, T flip,     \
                       int dec)                                                                            \
{                                                                                                          \
    const T *val = dec ? out : in;                                                                         \
    const int simd = !dec && sqz_simd_get() >= SQZ_SIMD_AVX2;                                              \
    const uint64_t X = g->X;                                                                               \
    for (uint64_t k = 0; k < n;) {                                                                         \
        const uint64_t i = first + k, x0 = i % X;                                                          \
        const uint64_t len = X - x0 < n - k ? X - x0 : n - k;                                              \
        const int row_n = g->Y && (i / X) % g->Y > 0;                                                      \
        const int plane_p = g->plane && i >= g->plane;                                                     \
        const int need_p = is_3d(mode);                                                                    \
        if (x0 == 0 && len == X && X >= 2 && row_n && k >= X) {                                            \
            /* interior row: element 0 by the edge rule, the rest all neighbours; a 3-D mode        \
             * without the previous plane in the block is (W+N)/2, as the edge rule says */         \
            const int hp = need_p && plane_p && k >= g->plane;                                             \
            const int rm = need_p && !hp ? SQZ_PRED_AVG : mode;                                            \
            const T *up = val + k - X, *pp = hp ? val + k - g->plane : NULL;                               \
            uint64_t pv = pp ? (T)(pp[0] ^ flip) : 0;                                                      \
            T pr0 = (T)pred_edge(rm, 0, (T)(up[0] ^ flip), 0, pv, 0, 1, 0, hp);                            \
            if (!dec) {                                                                                    \
                out[k] = zig_##SUF((T)(in[k] ^ flip), pr0);                                                \
                size_t done = simd ? sqz_predict_row_avx2(rm, sizeof(T), in + k, up, pp, out + k, X, flip) : 1; \
                if (done < 1) done = 1;                                                                    \
                row_scalar_##SUF(rm, in + k, up, pp, out + k, X, done, flip);                            \
            } else {                                                                                       \
                T *o = out + k;                                                                            \
                const T *z = in + k;                                                                       \
                o[0] = (T)(unzig_##SUF(z[0], pr0) ^ flip);                                                 \
                T w = (T)(o[0] ^ flip);                                                                    \
                if (rm == SQZ_PRED_AVG) {                                                                \
                    for (size_t j = 1; j < X; j++) {                                                       \
                        w = unzig_##SUF(z[j], (T)(((uint64_t)w + (T)(up[j] ^ flip)) >> 1));                \
                        o[j] = (T)(w ^ flip);                                                              \
                    }                                                                                      \
                } else {                                                                                   \
                    for (size_t j = 1; j < X; j++) {                                                       \
                        uint64_t p = pp ? (T)(pp[j] ^ flip) : 0;                                           \
                        w = unzig_##SUF(z[j], (T)pred_full(rm, w, (T)(up[j] ^ flip), (T)(up[j - 1] ^ flip), p)); \
                        o[j] = (T)(w ^ flip);                                                              \
                    }                                                                                      \
                }                                                                                          \
            }                                                                                              \
            k += X;                                                                                        \
            continue;                                                                                      \
        }                                                                                                  \
        for (uint64_t j = 0; j < len; j++, k++) {                                                          \
            const int hw = j > 0, hn = row_n && k >= X, hnw = hn && hw && k > X;                           \
            const int hp = plane_p && k >= g->plane;                                                       \
            uint64_t w = hw ? (T)(val[k - 1] ^ flip) : 0, nn = hn ? (T)(val[k - X] ^ flip) : 0;            \
            uint64_t nw = hnw ? (T)(val[k - X - 1] ^ flip) : 0, p = hp ? (T)(val[k - g->plane] ^ flip) : 0; \
            T pr = (T)pred_edge(mode, w, nn, nw, p, hw, hn, hnw, hp);                                      \
            out[k] = dec ? (T)(unzig_##SUF(in[k], pr) ^ flip) : zig_##SUF((T)(in[k] ^ flip), pr);          \
        }                                                                                                  \
    }                                                                                                      \
}

DEFINE_PREDICT(uint8_t, u8, 8)
DEFINE_PREDICT(uint16_t, u16, 16)
DEFINE_PREDICT(uint32_t, u32, 32)

void sqz_predict_row_scalar(int mode, size_t es, const void *cur, const void *up, const void *pp, void *out,
                            size_t X, size_t j0, uint32_t flip)
{
    if (es == 1) row_scalar_u8(mode, cur, up, pp, out, X, j0, (uint8_t)flip);
    else if (es == 2) row_scalar_u16(mode, cur, up, pp, out, X, j0, (uint16_t)flip);
    else row_scalar_u32(mode, cur, up, pp, out, X, j0, flip);
}

#ifndef SQZ_HAVE_AVX2
size_t sqz_predict_row_avx2(int mode, size_t es, const void *cur, const void *up, const void *pp, void *out,
                            size_t X, uint32_t flip)
{ (void)mode; (void)es; (void)cur; (void)up; (void)pp; (void)out; (void)X; (void)flip; return 0; }
#endif

static uint32_t flip_of(int dtype)
{
    switch (dtype) {
    case SQZ_INT8: return 0x80u;
    case SQZ_INT16: return 0x8000u;
    case SQZ_INT32: return 0x80000000u;
    default: return 0;  /* unsigned, and float32 bit patterns */
    }
}

static int run(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n, void *dst, int dec)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    const geo g = geometry(ctx);
    const int mode = (int)ctx->params[0];
    const uint32_t flip = flip_of(ctx->dtype);
    SQZ_RETURN_IF(n != blk->n_elems * es, dec ? SQZ_ERR_CORRUPT_DATA : SQZ_ERR_BAD_ARGUMENT,
                  "predict block of %zu bytes for %llu elements", n, (unsigned long long)blk->n_elems);
    if (es == 1) walk_u8(src, dst, blk->first_elem, blk->n_elems, &g, mode, (uint8_t)flip, dec);
    else if (es == 2) walk_u16(src, dst, blk->first_elem, blk->n_elems, &g, mode, (uint16_t)flip, dec);
    else walk_u32(src, dst, blk->first_elem, blk->n_elems, &g, mode, flip, dec);
    return 0;
}

static size_t pr_out_size(const sqz_stage_ctx *ctx, size_t n) { (void)ctx; return n; }

static int64_t pr_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t cap, void **state)
{
    (void)state;
    SQZ_RETURN_IF(cap < n, SQZ_ERR_BAD_ARGUMENT, "predict output of %zu bytes for %zu", cap, n);
    SQZ_FORWARD_IF_ERROR(run(ctx, blk, src, n, dst, 0));
    return (int64_t)n;
}

static int64_t pr_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t dst_size, void **state)
{
    (void)state;
    SQZ_RETURN_IF(n != dst_size, SQZ_ERR_CORRUPT_DATA, "predict block of %zu bytes, expected %zu", n, dst_size);
    SQZ_FORWARD_IF_ERROR(run(ctx, blk, src, n, dst, 1));
    return (int64_t)n;
}

/* Whole rows (2-D modes) or whole planes, at least MIN_3D_PLANES (3-D modes), near the target. */
static uint64_t pr_block_elems(const sqz_stage_ctx *ctx, uint64_t n_elems, uint32_t block_bytes)
{
    (void)n_elems;
    const size_t es = sqz_dtype_size(ctx->dtype);
    const geo g = geometry(ctx);
    const int three = is_3d((int)ctx->params[0]) && g.plane;
    const uint64_t unit = three ? g.plane : g.X;
    const uint64_t target = (block_bytes ? block_bytes : three ? DEFAULT_3D_BYTES : DEFAULT_2D_BYTES) / es;
    if (!unit) return 0;
    uint64_t units = (target + unit / 2) / unit;
    if (units < (three ? MIN_3D_PLANES : 1)) units = three ? MIN_3D_PLANES : 1;
    if (unit > UINT64_MAX / units) return 0;
    return units * unit;
}

const sqz_stage sqz_stage_predict = {
    .id = 25, .name = "predict", .kind = SQZ_STAGE_FILTER,
    .n_params = 1, .params = k_params,
    .doc = "prediction residuals, zigzag-mapped; mode 0 left, 1 LOCO-I MED, 2 (W+N)/2, 3 previous plane, 4 3-D average",
    .out_size = pr_out_size, .encode = pr_encode, .decode = pr_decode, .block_elems = pr_block_elems,
};
