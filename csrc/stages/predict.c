/* predict: replaces each element by its zigzag-mapped prediction residual (size-preserving).
 * Prediction uses only elements of the same block; modes and edge rules: docs/FORMAT.md. */
#include <stdlib.h>
#include <string.h>

#include "../common/cpu.h"
#include "../common/error.h"
#include "predict.h"
#include "stage.h"

static const sqz_param_spec k_params[] = {
    {"mode", SQZ_PRED_AUTO, 0, SQZ_PRED_COUNT_ - 1, 1},
};

#define DEFAULT_2D_BYTES (256u * 1024u)
#define DEFAULT_3D_BYTES (1024u * 1024u)
#define MIN_3D_PLANES 4
#define SAMPLE_ROWS 128   /* rows the auto mode looks at (at most 1 in 16) */
#define ROW_SLACK 5       /* auto takes ROW or ROW3D when it costs at most 5% more (docs/DESIGN.md, "Speed (session 30)") */

typedef struct {
    uint64_t X;       /* row length (last extent) */
    uint64_t Y;       /* rows per plane; 0 for 1-D data */
    uint64_t plane;   /* X*Y for ndim >= 3, else 0 */
    sqz_pred_carry *carry;  /* decoder: the 16-row decoder's vectors between planes, or NULL */
} geo;

static geo geometry(const sqz_stage_ctx *ctx)
{
    geo g = {ctx->shape[ctx->ndim - 1], 0, 0, NULL};
    if (ctx->ndim >= 2) g.Y = ctx->shape[ctx->ndim - 2];
    if (ctx->ndim >= 3) g.plane = g.X * g.Y;
    return g;
}

static int is_3d(int mode) { return mode == SQZ_PRED_PLANE || mode == SQZ_PRED_AVG3D || mode == SQZ_PRED_ROW3D; }

/* A 3-D mode in a row without the previous plane in the block */
static int mode_2d(int mode) { return mode == SQZ_PRED_ROW3D ? SQZ_PRED_ROW : SQZ_PRED_AVG; }

/* Prediction with missing neighbours (block or array edges); without W, `w` holds the block's
 * previous element (0 for its first); without NE, ne is N. */
static inline uint64_t pred_edge(int mode, uint64_t w, uint64_t n, uint64_t nw, uint64_t ne, uint64_t p,
                                 int hw, int hn, int hnw, int hp)
{
    if (sqz_pred_row_mode(mode)) {  /* a missing NW or NE is N; without N, P or W */
        if (!hn) return hp ? p : w;
        return sqz_pred_full(mode == SQZ_PRED_ROW3D && hp ? mode : SQZ_PRED_ROW, w, n, hnw ? nw : n, ne, p);
    }
    if (mode == SQZ_PRED_PLANE && hp) return p;
    if (mode == SQZ_PRED_AVG3D && hp && hw && hn) return sqz_pred_full(mode, w, n, nw, ne, p);
    if (mode == SQZ_PRED_MED && hw && hn && hnw) return sqz_pred_full(mode, w, n, nw, ne, p);
    if (mode == SQZ_PRED_AVGNE && hw && hn) return sqz_pred_full(mode, w, n, nw, ne, p);
    if (mode != SQZ_PRED_LEFT && hw && hn) return (w + n) >> 1;
    return hw ? w : hn ? n : hp ? p : w;
}

/* The widest SIMD row encoder that the row fills (AVX2 at least: the caller checks) */
static inline size_t row_simd(int mode, size_t es, const void *cur, const void *up, const void *pp, void *out,
                              size_t X, uint32_t flip)
{
    const size_t done = sqz_simd_get() >= SQZ_SIMD_AVX512 ? sqz_predict_row_avx512(mode, es, cur, up, pp, out, X, flip) : 1;
    return done > 1 ? done : sqz_predict_row_avx2(mode, es, cur, up, pp, out, X, flip);  /* rows under 34 (or 66) */
}

int sqz_pred_carry_room(sqz_pred_carry *c, size_t bytes)
{
    if (bytes > ((size_t)4 << 20)) return 0;
    if (bytes <= c->cap) return 1;
    c->rows = NULL;
    for (int i = 0; i < 2; i++) {
        free(c->buf[i]);
        c->buf[i] = aligned_alloc(64, (bytes + 63) / 64 * 64);
    }
    c->cap = c->buf[0] && c->buf[1] ? bytes : 0;
    return c->cap != 0;
}

/* Whole interior rows by the widest decoder that takes them (0: none did) */
static size_t dec_rows(int mode, size_t es, const void *z, void *out, const void *up, const void *pp, size_t X,
                       size_t rows, uint32_t flip, sqz_pred_carry *carry)
{
    const size_t done = sqz_simd_get() >= SQZ_SIMD_AVX512
                            ? sqz_predict_dec_rows_avx512(mode, es, z, out, up, pp, X, rows, flip, carry) : 0;
    return done ? done : sqz_predict_dec_rows_avx2(mode, es, z, out, up, pp, X, rows, flip, carry);
}

/* Interior rows from element i (block offset k, an interior row start) that share the same
 * neighbours: within the plane, within the block, and with the previous plane in the block for
 * all or none of them. */
static uint64_t rows_alike(const geo *g, uint64_t i, uint64_t k, uint64_t n, int need_p, int hp)
{
    uint64_t rows = g->Y - (i / g->X) % g->Y;
    if ((n - k) / g->X < rows) rows = (n - k) / g->X;
    if (need_p && !hp && g->plane) {  /* the previous plane enters the block at offset g->plane */
        const uint64_t until = g->plane > k ? (g->plane - k + g->X - 1) / g->X : 0;
        if (until < rows) rows = until;
    }
    return rows;
}

#define DEFINE_PREDICT(T, SUF, BITS)                                                                        \
static inline T zig_##SUF(T x, T pred)                                                                     \
{                                                                                                          \
    T r = (T)(x - pred);                                                                                   \
    return (T)((T)(r << 1) ^ (T)(0u - (T)(r >> (BITS - 1))));                                              \
}                                                                                                          \
static inline uint64_t delta_##SUF(T z) { return (T)((T)(z >> 1) ^ (T)(0u - (T)(z & 1u))); }              \
static inline T unzig_##SUF(T z, T pred) { return (T)(pred + delta_##SUF(z)); }                             \
                                                                                                           \
static void row_scalar_##SUF(int mode, const T *cur, const T *up, const T *pp, T *out, size_t X, size_t j0, T flip)\
{                                                                                                          \
    for (size_t j = j0; j < X; j++) {                                                                      \
        uint64_t p = pp ? (T)(pp[j] ^ flip) : 0, ne = (T)(up[j + 1 < X ? j + 1 : j] ^ flip);               \
        T pr = (T)sqz_pred_full(mode, (T)(cur[j - 1] ^ flip), (T)(up[j] ^ flip), (T)(up[j - 1] ^ flip), ne, p); \
        out[j] = zig_##SUF((T)(cur[j] ^ flip), pr);                                                        \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
/* Decode two interior rows at once, the second one element behind: two independent chains.  \
 * Row 1's N and NE are row 0's values just decoded (kept in registers). */                             \
static inline __attribute__((always_inline)) void                                                         \
dec_pair_##SUF(int rm, const T *z, T *o, const T *up, const T *pp, size_t X, T flip)                        \
{                                                                                                          \
    const T *z1 = z + X, *pp1 = pp ? pp + X : NULL;                                                        \
    T *o1 = o + X;                                                                                         \
    const int hp = pp != NULL;                                                                             \
    o[0] = (T)(unzig_##SUF(z[0], (T)pred_edge(rm, 0, (T)(up[0] ^ flip), 0, 0, hp ? (T)(pp[0] ^ flip) : 0,  \
                                              0, 1, 0, hp)) ^ flip);                                       \
    o1[0] = (T)(unzig_##SUF(z1[0], (T)pred_edge(rm, 0, (T)(o[0] ^ flip), 0, 0, hp ? (T)(pp1[0] ^ flip) : 0, \
                                                0, 1, 0, hp)) ^ flip);                                     \
    uint64_t w0 = (T)(o[0] ^ flip), w1 = (T)(o1[0] ^ flip), prev;                                          \
    size_t j = 2;                                                                                          \
    /* row 0 at 1 alone: row 1 starts one element behind */                                               \
    if (rm == SQZ_PRED_AVG) w0 = (T)(((w0 + (T)(up[1] ^ flip)) >> 1) + delta_##SUF(z[1]));                 \
    else if (rm == SQZ_PRED_AVGNE)                                                                         \
        w0 = (T)(((w0 + (((uint64_t)(T)(up[1] ^ flip) + (T)(up[2] ^ flip)) >> 1) + 1) >> 1) + delta_##SUF(z[1])); \
    else w0 = (T)(((((w0 + (T)(up[1] ^ flip)) >> 1) + (T)(pp[1] ^ flip) + 1) >> 1) + delta_##SUF(z[1]));   \
    o[1] = (T)(w0 ^ flip);                                                                                 \
    prev = w0;                                                                                             \
    /* row 0 at j, row 1 at j - 1 (its N is row 0 at j - 1 = prev, its NE row 0 at j = w0) */         \
    if (rm == SQZ_PRED_AVG) {                                                                              \
        for (; j < X; j++) {                                                                               \
            w0 = (T)(((w0 + (T)(up[j] ^ flip)) >> 1) + delta_##SUF(z[j]));                                  \
            o[j] = (T)(w0 ^ flip);                                                                         \
            w1 = (T)(((w1 + prev) >> 1) + delta_##SUF(z1[j - 1]));                                          \
            o1[j - 1] = (T)(w1 ^ flip);                                                                    \
            prev = w0;                                                                                     \
        }                                                                                                  \
    } else if (rm == SQZ_PRED_AVGNE) {                                                                     \
        for (; j + 1 < X; j++) {                                                                           \
            const uint64_t t0 = ((uint64_t)(T)(up[j] ^ flip) + (T)(up[j + 1] ^ flip)) >> 1;                \
            w0 = (T)(((w0 + t0 + 1) >> 1) + delta_##SUF(z[j]));                                            \
            o[j] = (T)(w0 ^ flip);                                                                         \
            w1 = (T)(((w1 + ((prev + w0) >> 1) + 1) >> 1) + delta_##SUF(z1[j - 1]));                       \
            o1[j - 1] = (T)(w1 ^ flip);                                                                    \
            prev = w0;                                                                                     \
        }                                                                                                  \
        w0 = (T)(((w0 + (T)(up[j] ^ flip) + 1) >> 1) + delta_##SUF(z[j]));  /* no NE: NE = N */         \
        o[j] = (T)(w0 ^ flip);                                                                             \
        w1 = (T)(((w1 + ((prev + w0) >> 1) + 1) >> 1) + delta_##SUF(z1[j - 1]));                           \
        o1[j - 1] = (T)(w1 ^ flip);                                                                        \
        prev = w0;                                                                                         \
        j++;                                                                                               \
    } else {                                                                                               \
        for (; j < X; j++) {                                                                               \
            const uint64_t h0 = (w0 + (T)(up[j] ^ flip)) >> 1;                                             \
            w0 = (T)(((h0 + (T)(pp[j] ^ flip) + 1) >> 1) + delta_##SUF(z[j]));                             \
            o[j] = (T)(w0 ^ flip);                                                                         \
            const uint64_t h1 = (w1 + prev) >> 1;                                                          \
            w1 = (T)(((h1 + (T)(pp1[j - 1] ^ flip) + 1) >> 1) + delta_##SUF(z1[j - 1]));                   \
            o1[j - 1] = (T)(w1 ^ flip);                                                                    \
            prev = w0;                                                                                     \
        }                                                                                                  \
    }                                                                                                      \
    /* row 1's last element: NE = N */                                                                     \
    if (rm == SQZ_PRED_AVG) w1 = (T)(((w1 + prev) >> 1) + delta_##SUF(z1[X - 1]));                        \
    else if (rm == SQZ_PRED_AVGNE) w1 = (T)(((w1 + prev + 1) >> 1) + delta_##SUF(z1[X - 1]));              \
    else w1 = (T)(((((w1 + prev) >> 1) + (T)(pp1[X - 1] ^ flip) + 1) >> 1) + delta_##SUF(z1[X - 1]));      \
    o1[X - 1] = (T)(w1 ^ flip);                                                                            \
}                                                                                                          \
                                                                                                           \
/* An interior row of ROW or ROW3D (pr0: element 0's prediction): no element depends on another. */        \
static void dec_row_##SUF(int rm, const T *z, T *o, const T *up, const T *pp, size_t X, T flip, T pr0)      \
{                                                                                                          \
    size_t j = 1;                                                                                          \
    if (sizeof(T) <= 2 && sqz_simd_get() >= SQZ_SIMD_AVX2) j = sqz_predict_dec_row_avx2(rm, sizeof(T), z, o, up, pp, X, flip); \
    o[0] = (T)(unzig_##SUF(z[0], pr0) ^ flip);                                                             \
    for (; j < X; j++) {                                                                                   \
        const uint64_t nn = (T)(up[j] ^ flip), ne = (T)(up[j + 1 < X ? j + 1 : j] ^ flip);                 \
        const uint64_t p = pp ? (T)(pp[j] ^ flip) : 0;                                                     \
        o[j] = (T)(unzig_##SUF(z[j], (T)sqz_pred_full(rm, 0, nn, (T)(up[j - 1] ^ flip), ne, p)) ^ flip);   \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
/* Encode (dec = 0: in = values, out = residuals) or decode (dec = 1: in = residuals, out = values). */     \
static inline __attribute__((always_inline)) void                                                         \
walk_##SUF(const T *in, T *out, uint64_t first, uint64_t n, const geo *g, int mode, T flip,                 \
                       int dec)                                                                            \
{                                                                                                          \
    const T *val = dec ? out : in;                                                                         \
    const int simd = !dec && sqz_simd_get() >= SQZ_SIMD_AVX2, simd_dec = dec && sqz_simd_get() >= SQZ_SIMD_AVX2; \
    uint64_t rows16;                                                                                       \
    const uint64_t X = g->X;                                                                               \
    for (uint64_t k = 0; k < n;) {                                                                         \
        const uint64_t i = first + k, x0 = i % X;                                                          \
        const uint64_t len = X - x0 < n - k ? X - x0 : n - k;                                              \
        const int row_n = g->Y && (i / X) % g->Y > 0;                                                      \
        const int plane_p = g->plane && i >= g->plane;                                                     \
        const int need_p = is_3d(mode);                                                                    \
        if (x0 == 0 && len == X && X >= 2 && row_n && k >= X) {                                            \
            /* interior row: element 0 by the edge rule, the rest all neighbours; a 3-D mode        \
             * without the previous plane in the block is its 2-D one, as the edge rule says */     \
            const int hp = need_p && plane_p && k >= g->plane;                                             \
            const int rm = need_p && !hp ? mode_2d(mode) : mode;                                           \
            const T *up = val + k - X, *pp = hp ? val + k - g->plane : NULL;                               \
            uint64_t pv = pp ? (T)(pp[0] ^ flip) : 0;                                                      \
            T pr0 = (T)pred_edge(rm, 0, (T)(up[0] ^ flip), 0, (T)(up[1] ^ flip), pv, 0, 1, 0, hp);         \
            if (!dec) {                                                                                    \
                out[k] = zig_##SUF((T)(in[k] ^ flip), pr0);                                                \
                size_t done = simd ? row_simd(rm, sizeof(T), in + k, up, pp, out + k, X, flip) : 1;             \
                if (done < 1) done = 1;                                                                    \
                row_scalar_##SUF(rm, in + k, up, pp, out + k, X, done, flip);                            \
            } else if (sqz_pred_row_mode(rm)) {  /* rows alike at once with AVX-512, else this one */      \
                const uint64_t rows = sizeof(T) <= 2 && sqz_simd_get() >= SQZ_SIMD_AVX512 ?                \
                    sqz_predict_dec_rowwise_avx512(rm, sizeof(T), in + k, out + k, up, pp, X,              \
                                                   rows_alike(g, i, k, n, need_p, hp), flip) : 0;          \
                if (rows) { k += rows * X; continue; }                                                     \
                dec_row_##SUF(rm, in + k, out + k, up, pp, X, flip, pr0);                                  \
            } else if (simd_dec && sizeof(T) <= 2 &&  /* the row-group decoders take the modes they have */   \
                       (rows16 = rows_alike(g, i, k, n, need_p, hp)) >= SQZ_PREDICT_DEC_MIN_ROWS && \
                       (rows16 = dec_rows(rm, sizeof(T), in + k, out + k, up, pp, X, rows16, flip, \
                                           need_p ? g->carry : NULL)) > 0) {                \
                k += rows16 * X;                                                                           \
                continue;                                                                                  \
            } else if ((rm == SQZ_PRED_AVG || rm == SQZ_PRED_AVGNE || rm == SQZ_PRED_AVG3D) && X >= 3 &&   \
                       k + 2 * X <= n && ((i + X) / X) % g->Y > 0 &&                                       \
                       (!need_p || hp == (plane_p && k + X >= g->plane))) {                                \
                dec_pair_##SUF(rm, in + k, out + k, up, pp, X, flip);                                      \
                k += 2 * X;                                                                                \
                continue;                                                                                  \
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
                } else if (rm == SQZ_PRED_AVGNE) {                                                         \
                    size_t j = 1;                                                                          \
                    for (; j + 1 < X; j++) {                                                               \
                        uint64_t t = ((uint64_t)(T)(up[j] ^ flip) + (T)(up[j + 1] ^ flip)) >> 1;           \
                        w = unzig_##SUF(z[j], (T)((w + t + 1) >> 1));                                      \
                        o[j] = (T)(w ^ flip);                                                              \
                    }                                                                                      \
                    w = unzig_##SUF(z[j], (T)(((uint64_t)w + (T)(up[j] ^ flip) + 1) >> 1));                \
                    o[j] = (T)(w ^ flip);                                                                  \
                } else if (rm == SQZ_PRED_AVG3D) {                                                         \
                    for (size_t j = 1; j < X; j++) {                                                       \
                        uint64_t h = ((uint64_t)w + (T)(up[j] ^ flip)) >> 1;                               \
                        w = unzig_##SUF(z[j], (T)((h + (T)(pp[j] ^ flip) + 1) >> 1));                      \
                        o[j] = (T)(w ^ flip);                                                              \
                    }                                                                                      \
                } else {                                                                                   \
                    for (size_t j = 1; j < X; j++) {                                                       \
                        uint64_t p = pp ? (T)(pp[j] ^ flip) : 0, ne = (T)(up[j + 1 < X ? j + 1 : j] ^ flip); \
                        w = unzig_##SUF(z[j], (T)sqz_pred_full(rm, w, (T)(up[j] ^ flip), (T)(up[j - 1] ^ flip), ne, p)); \
                        o[j] = (T)(w ^ flip);                                                              \
                    }                                                                                      \
                }                                                                                          \
            }                                                                                              \
            k += X;                                                                                        \
            continue;                                                                                      \
        }                                                                                                  \
        for (uint64_t j = 0; j < len; j++, k++) {                                                          \
            const int hw = j > 0, hn = row_n && k >= X, hnw = hn && hw && k > X;                           \
            const int hp = plane_p && k >= g->plane, hne = hn && x0 + j + 1 < X;                           \
            uint64_t w = k ? (T)(val[k - 1] ^ flip) : 0, nn = hn ? (T)(val[k - X] ^ flip) : 0;             \
            uint64_t nw = hnw ? (T)(val[k - X - 1] ^ flip) : 0, p = hp ? (T)(val[k - g->plane] ^ flip) : 0; \
            uint64_t ne = hne ? (T)(val[k - X + 1] ^ flip) : nn;                                           \
            T pr = (T)pred_edge(mode, w, nn, nw, ne, p, hw, hn, hnw, hp);                                  \
            out[k] = dec ? (T)(unzig_##SUF(in[k], pr) ^ flip) : zig_##SUF((T)(in[k] ^ flip), pr);          \
        }                                                                                                  \
    }                                                                                                      \
}

DEFINE_PREDICT(uint8_t, u8, 8)
DEFINE_PREDICT(uint16_t, u16, 16)
DEFINE_PREDICT(uint32_t, u32, 32)

/* Separate copies for unsigned data (flip = 0) and for encoding/decoding. */
#define DEFINE_WALK_ANY(T, SUF)                                                                            \
static void walk_enc_##SUF(const T *in, T *out, uint64_t first, uint64_t n, const geo *g, int mode)        \
{ walk_##SUF(in, out, first, n, g, mode, 0, 0); }                                                          \
static void walk_dec_##SUF(const T *in, T *out, uint64_t first, uint64_t n, const geo *g, int mode)        \
{ walk_##SUF(in, out, first, n, g, mode, 0, 1); }                                                          \
static void walk_flip_##SUF(const T *in, T *out, uint64_t first, uint64_t n, const geo *g, int mode,       \
                            T flip, int dec)                                                               \
{ walk_##SUF(in, out, first, n, g, mode, flip, dec); }                                                     \
static void walk_any_##SUF(const T *in, T *out, uint64_t first, uint64_t n, const geo *g, int mode,        \
                           T flip, int dec)                                                                \
{                                                                                                          \
    if (flip) walk_flip_##SUF(in, out, first, n, g, mode, flip, dec);                                      \
    else if (dec) walk_dec_##SUF(in, out, first, n, g, mode);                                              \
    else walk_enc_##SUF(in, out, first, n, g, mode);                                                       \
}

DEFINE_WALK_ANY(uint8_t, u8)
DEFINE_WALK_ANY(uint16_t, u16)
DEFINE_WALK_ANY(uint32_t, u32)

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
size_t sqz_predict_dec_rows_avx2(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                 size_t X, size_t rows, uint32_t flip, sqz_pred_carry *carry)
{ (void)mode; (void)es; (void)z; (void)out; (void)up; (void)pp; (void)X; (void)rows; (void)flip; (void)carry; return 0; }
size_t sqz_predict_dec_row_avx2(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                size_t X, uint32_t flip)
{ (void)mode; (void)es; (void)z; (void)out; (void)up; (void)pp; (void)X; (void)flip; return 1; }
size_t sqz_predict_cost_avx2(const int *modes, int n_modes, const uint16_t *cur, const uint16_t *up,
                             const uint16_t *pp, size_t X, uint32_t flip, uint64_t *cost)
{ (void)modes; (void)n_modes; (void)cur; (void)up; (void)pp; (void)X; (void)flip; (void)cost; return 1; }
#endif

#ifndef SQZ_HAVE_AVX512
size_t sqz_predict_row_avx512(int mode, size_t es, const void *cur, const void *up, const void *pp, void *out,
                              size_t X, uint32_t flip)
{ (void)mode; (void)es; (void)cur; (void)up; (void)pp; (void)out; (void)X; (void)flip; return 0; }
size_t sqz_predict_dec_rows_avx512(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                   size_t X, size_t rows, uint32_t flip, sqz_pred_carry *carry)
{ (void)mode; (void)es; (void)z; (void)out; (void)up; (void)pp; (void)X; (void)rows; (void)flip; (void)carry; return 0; }
size_t sqz_predict_dec_rowwise_avx512(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                      size_t X, size_t rows, uint32_t flip)
{ (void)mode; (void)es; (void)z; (void)out; (void)up; (void)pp; (void)X; (void)rows; (void)flip; return 0; }
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

/* The mode in use: the parameter, or for auto the one prepare() chose (checked by pr_check). */
static int mode_of(const sqz_stage_ctx *ctx)
{
    const int mode = (int)ctx->params[0];
    return mode == SQZ_PRED_AUTO ? (ctx->meta_size == 1 ? ctx->meta[0] : SQZ_PRED_AVG) : mode;
}

static int pr_check(const sqz_stage_ctx *ctx)
{
    if ((int)ctx->params[0] != SQZ_PRED_AUTO || !ctx->meta) return 0;  /* encoder: before prepare */
    SQZ_RETURN_IF(ctx->meta_size != 1 || ctx->meta[0] >= SQZ_PRED_COUNT_ || ctx->meta[0] == SQZ_PRED_AUTO, SQZ_ERR_CORRUPT_HEADER,
                  "predict: auto mode without a valid chosen mode");
    return 0;
}

/* 4*log2(u) to a quarter: the cost model of the auto mode. */
static inline unsigned log4(uint64_t u)
{
    int nb = 63 - __builtin_clzll(u);
    return 4u * (unsigned)nb + (unsigned)(nb >= 2 ? (u >> (nb - 2)) & 3 : nb == 1 ? (u & 1) << 1 : 0);
}

static uint64_t value(const void *base, size_t es, uint64_t i, uint32_t flip)
{
    return (es == 1 ? ((const uint8_t *)base)[i] : es == 2 ? ((const uint16_t *)base)[i] : ((const uint32_t *)base)[i]) ^ flip;
}

/* Auto mode: try the candidate predictors on up to SAMPLE_ROWS interior rows and keep the one
 * with the smallest estimated size (a 3-D mode counts as its 2-D one where the block has no plane
 * before), or ROW/ROW3D, which decode a row at once, if they cost at most ROW_SLACK % more. */
static int pr_prepare(const sqz_stage_ctx *ctx, const void *chunk, size_t size, uint8_t *meta, size_t cap,
                      size_t *meta_size)
{
    *meta_size = 0;
    if ((int)ctx->params[0] != SQZ_PRED_AUTO) return 0;
    SQZ_RETURN_IF(cap < 1, SQZ_ERR_GENERIC, "predict metadata");
    static const int cand[SQZ_PREDICT_COST_MODES] = {SQZ_PRED_AVGNE, SQZ_PRED_AVG, SQZ_PRED_MED, SQZ_PRED_ROW,
                                                     SQZ_PRED_AVG3D, SQZ_PRED_ROW3D};  /* 3-D ones last */
    const size_t es = sqz_dtype_size(ctx->dtype);
    const geo g = geometry(ctx);
    const uint32_t flip = flip_of(ctx->dtype);
    const uint64_t n = size / es, be = ctx->block_elems ? ctx->block_elems : n, rows = g.X ? n / g.X : 0;
    const int n_cand = g.plane && be >= 2 * g.plane ? 6 : 4;
    uint64_t cost[SQZ_PREDICT_COST_MODES] = {0};
    const uint64_t step = rows / SAMPLE_ROWS + 1 > 16 ? rows / SAMPLE_ROWS + 1 : 16;
    const int simd = sqz_simd_get() >= SQZ_SIMD_AVX2 && g.X < (1u << 24) && es <= 2;
    uint16_t *wide = simd && es == 1 ? malloc(3 * g.X * sizeof *wide) : NULL;  /* 1-byte rows as 16-bit */
    for (uint64_t r = 1; r < rows && g.Y && g.X >= 2; r += step) {
        const uint64_t i0 = r * g.X;
        if (r % g.Y == 0 || i0 % be < g.X) continue;
        const int hp = g.plane && i0 >= g.plane && i0 % be >= g.plane;
        int modes[SQZ_PREDICT_COST_MODES];
        for (int c = 0; c < n_cand; c++) modes[c] = is_3d(cand[c]) && !hp ? mode_2d(cand[c]) : cand[c];
        uint64_t j0 = 1;
        if (simd && es == 2)  /* 32-bit lane sums per row */
            j0 = sqz_predict_cost_avx2(modes, n_cand, (const uint16_t *)chunk + i0, (const uint16_t *)chunk + i0 - g.X,
                                       hp ? (const uint16_t *)chunk + i0 - g.plane : NULL, g.X, flip, cost);
        else if (wide) {  /* the same predictions and costs: no 1-byte value overflows 16 bits */
            const uint8_t *c8 = chunk;
            for (uint64_t j = 0; j < g.X; j++) {
                wide[j] = c8[i0 + j];
                wide[g.X + j] = c8[i0 - g.X + j];
                if (hp) wide[2 * g.X + j] = c8[i0 - g.plane + j];
            }
            j0 = sqz_predict_cost_avx2(modes, n_cand, wide, wide + g.X, hp ? wide + 2 * g.X : NULL, g.X, flip, cost);
        }
        for (uint64_t j = j0; j < g.X; j++) {
            const uint64_t i = i0 + j, x = value(chunk, es, i, flip), w = value(chunk, es, i - 1, flip);
            const uint64_t nn = value(chunk, es, i - g.X, flip), nw = value(chunk, es, i - g.X - 1, flip);
            const uint64_t ne = j + 1 < g.X ? value(chunk, es, i - g.X + 1, flip) : nn;
            const uint64_t p = hp ? value(chunk, es, i - g.plane, flip) : 0;
            for (int c = 0; c < n_cand; c++) {
                const uint64_t pr = sqz_pred_full(modes[c], w, nn, nw, ne, p);
                const uint64_t d = x >= pr ? x - pr : pr - x;
                cost[c] += log4(2 * d + 1);
            }
        }
    }
    free(wide);
    int best = 0, row = -1;
    for (int c = 1; c < n_cand; c++) if (cost[c] < cost[best]) best = c;
    for (int c = 0; c < n_cand; c++) if (sqz_pred_row_mode(cand[c]) && (row < 0 || cost[c] < cost[row])) row = c;
    if (100 * cost[row] <= (100 + ROW_SLACK) * cost[best]) best = row;
    meta[0] = (uint8_t)cand[best];
    *meta_size = 1;
    return 0;
}

static int run(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n, void *dst, int dec,
               sqz_pred_carry *carry)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    geo g = geometry(ctx);
    g.carry = carry;
    const int mode = mode_of(ctx);
    const uint32_t flip = flip_of(ctx->dtype);
    SQZ_RETURN_IF(n != blk->n_elems * es, dec ? SQZ_ERR_CORRUPT_DATA : SQZ_ERR_BAD_ARGUMENT,
                  "predict block of %zu bytes for %llu elements", n, (unsigned long long)blk->n_elems);
    if (es == 1) walk_any_u8(src, dst, blk->first_elem, blk->n_elems, &g, mode, (uint8_t)flip, dec);
    else if (es == 2) walk_any_u16(src, dst, blk->first_elem, blk->n_elems, &g, mode, (uint16_t)flip, dec);
    else walk_any_u32(src, dst, blk->first_elem, blk->n_elems, &g, mode, flip, dec);
    return 0;
}

static size_t pr_out_size(const sqz_stage_ctx *ctx, size_t n) { (void)ctx; return n; }

static int64_t pr_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t cap, void **state)
{
    (void)state;
    SQZ_RETURN_IF(cap < n, SQZ_ERR_BAD_ARGUMENT, "predict output of %zu bytes for %zu", cap, n);
    SQZ_FORWARD_IF_ERROR(run(ctx, blk, src, n, dst, 0, NULL));
    return (int64_t)n;
}

static int64_t pr_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t dst_size, void **state)
{
    SQZ_RETURN_IF(n != dst_size, SQZ_ERR_CORRUPT_DATA, "predict block of %zu bytes, expected %zu", n, dst_size);
    sqz_pred_carry *carry = *state;
    if (!carry) carry = *state = calloc(1, sizeof *carry);  /* without it, the decoder transposes P */
    if (carry) carry->rows = NULL;  /* nothing carries over from another block */
    SQZ_FORWARD_IF_ERROR(run(ctx, blk, src, n, dst, 1, carry));
    return (int64_t)n;
}

/* Whole rows (2-D modes) or whole planes (3-D and auto modes; explicit 3-D modes at least
 * MIN_3D_PLANES), near the target size. */
static void pr_release(void *p)
{
    sqz_pred_carry *c = p;
    if (c) { free(c->buf[0]); free(c->buf[1]); }
    free(c);
}

static uint64_t pr_block_elems(const sqz_stage_ctx *ctx, uint64_t n_elems, uint32_t block_bytes)
{
    (void)n_elems;
    const size_t es = sqz_dtype_size(ctx->dtype);
    const geo g = geometry(ctx);
    const int mode = (int)ctx->params[0], three = (is_3d(mode) || mode == SQZ_PRED_AUTO) && g.plane;
    const uint64_t unit = three ? g.plane : g.X;
    const uint64_t target = (block_bytes ? block_bytes : three ? DEFAULT_3D_BYTES : DEFAULT_2D_BYTES) / es;
    const uint64_t min_units = three && mode != SQZ_PRED_AUTO ? MIN_3D_PLANES : 1;
    if (!unit) return 0;
    uint64_t units = (target + unit / 2) / unit;
    if (units < min_units) units = min_units;
    if (unit > UINT64_MAX / units) return 0;
    return units * unit;
}

const sqz_stage sqz_stage_predict = {
    .id = 25, .name = "predict", .kind = SQZ_STAGE_FILTER,
    .n_params = 1, .params = k_params,
    .doc = "prediction residuals, zigzag-mapped; mode 0 left, 1 LOCO-I MED, 2 (W+N)/2, 3 previous plane, "
           "4 3-D average, 5 (W+(N+NE)/2)/2, 6 auto (chosen per chunk)",
    .check = pr_check, .prepare = pr_prepare, .prepare_on_input = 1, .out_size = pr_out_size, .encode = pr_encode, .decode = pr_decode, .release = pr_release, .block_elems = pr_block_elems,
    .decode_in_place = 1,
};
