/* wnl: within-noise-level quantisation (lossy). Each value v becomes the index of a level
 * R[j] with |R[j] - v| <= q/2 * sigma(v), sigma from the camera model
 *   sigma(v)^2 = gain * max(v - offset, 0) + (gain * read_noise)^2   (ADU^2).
 * The levels are built greedily from 0 upwards (docs/FORMAT.md, "wnl"), so the bound holds
 * for every input value by construction; below the offset sigma is the read noise, so dark
 * pixels are quantised, never clipped. Later stages code the indices losslessly. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "../common/error.h"
#include "stage.h"
#include "../common/cpu.h"
#include "wnl_simd.h"

enum { P_Q, P_OFFSET, P_GAIN, P_READ_NOISE };

static const sqz_param_spec k_params[] = {
    {"q", 1, 0, 1000, 0},
    {"offset", 100, 0, 65535, 0},
    {"gain", 1, 1e-6, 1e6, 0},
    {"read_noise", 1.5, 0, 1e6, 0},
};

typedef struct {
    double params[4];
    uint32_t max_value, n_levels;
    uint16_t to_index[65536];
    uint16_t level[65536];
    uint32_t index_level[65536];     /* to_index | its level << 16: the encoder's one look-up */
} tables;

double sqz_wnl_bound(const double *p, double v)
{
    double e = v - p[P_OFFSET];
    if (e < 0) e = 0;
    double floor_adu = p[P_GAIN] * p[P_READ_NOISE];
    return 0.5 * p[P_Q] * sqrt(p[P_GAIN] * e + floor_adu * floor_adu);
}

static void build(tables *t)
{
    const uint32_t max = t->max_value;
    uint32_t n = 0, v = 0;
    while (v <= max) {
        double b = sqz_wnl_bound(t->params, v);
        uint32_t y = b >= (double)(max - v) ? max : v + (uint32_t)floor(b);
        t->level[n] = (uint16_t)y;
        for (uint32_t u = v; u <= y; u++) t->to_index[u] = (uint16_t)n;
        uint32_t u = y + 1;
        while (u <= max && (double)(u - y) <= sqz_wnl_bound(t->params, u)) t->to_index[u++] = (uint16_t)n;
        n++;
        v = u;
    }
    t->n_levels = n;
    for (uint32_t u = n; u < 65536; u++) t->level[u] = (uint16_t)max;  /* indices no encoder writes */
    for (uint32_t u = 0; u <= max; u++) t->index_level[u] = t->to_index[u] | (uint32_t)t->level[t->to_index[u]] << 16;
}

/* Tables are shared between threads and chunks: a few parameter sets stay cached. */
#define N_CACHED 16
static tables *g_cache[N_CACHED];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const tables *get_tables(const sqz_stage_ctx *ctx, void **state)
{
    const uint32_t max = sqz_dtype_size(ctx->dtype) == 1 ? 255 : 65535;
    const tables *found = NULL;
    pthread_mutex_lock(&g_lock);
    int i = 0;
    for (; i < N_CACHED && g_cache[i] && !found; i++)
        if (g_cache[i]->max_value == max && !memcmp(g_cache[i]->params, ctx->params, sizeof g_cache[i]->params))
            found = g_cache[i];
    if (!found && i < N_CACHED) {
        tables *t = malloc(sizeof *t);
        if (t) {
            memcpy(t->params, ctx->params, sizeof t->params);
            t->max_value = max;
            build(t);
            g_cache[i] = t;
            found = t;
        }
    }
    pthread_mutex_unlock(&g_lock);
    if (found) return found;
    /* cache full: tables private to this worker */
    tables *t = *state;
    if (!t || t->max_value != max || memcmp(t->params, ctx->params, sizeof t->params)) {
        free(t);
        *state = t = malloc(sizeof *t);
        if (!t) return NULL;
        memcpy(t->params, ctx->params, sizeof t->params);
        t->max_value = max;
        build(t);
    }
    return t;
}

static int wnl_check(const sqz_stage_ctx *ctx)
{
    SQZ_RETURN_IF(ctx->dtype != SQZ_UINT16 && ctx->dtype != SQZ_INT16 && ctx->dtype != SQZ_UINT8,
                  SQZ_ERR_UNSUPPORTED_DTYPE, "wnl codes camera counts: uint16, int16 (as uint16) or uint8");
    SQZ_RETURN_IF(!(ctx->params[P_Q] > 0), SQZ_ERR_BAD_PARAMETER, "wnl: q must be > 0");
    return 0;
}

static size_t wnl_out_size(const sqz_stage_ctx *ctx, size_t n) { (void)ctx; return n; }

static int64_t wnl_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                          void *dst, size_t cap, void **state)
{
    (void)blk;
    const tables *t = get_tables(ctx, state);
    SQZ_RETURN_IF(!t, SQZ_ERR_OUT_OF_MEMORY, "wnl tables");
    SQZ_RETURN_IF(cap < n, SQZ_ERR_DST_TOO_SMALL, "wnl");
    if (t->max_value == 255) {
        const uint8_t *in = src;
        uint8_t *out = dst;
        for (size_t i = 0; i < n; i++) out[i] = (uint8_t)t->to_index[in[i]];
    } else {
        const uint16_t *in = src;
        uint16_t *out = dst;
        for (size_t i = 0; i < n / 2; i++) out[i] = t->to_index[in[i]];
    }
    return (int64_t)n;
}

static int64_t wnl_encode_reconstruct(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                                      void *dst, void *rec, void **state)
{
    (void)blk;
    const tables *t = get_tables(ctx, state);
    SQZ_RETURN_IF(!t, SQZ_ERR_OUT_OF_MEMORY, "wnl tables");
    if (t->max_value == 255) {
        const uint8_t *in = src;
        uint8_t *out = dst, *re = rec;
        for (size_t i = 0; i < n; i++) {
            const uint16_t j = t->to_index[in[i]];
            out[i] = (uint8_t)j;
            re[i] = (uint8_t)t->level[j];
        }
    } else {
        const uint16_t *in = src;
        uint16_t *out = dst, *re = rec;
        for (size_t i = 0; i < n / 2; i++) {
            const uint32_t e = t->index_level[in[i]];
            out[i] = (uint16_t)e;
            re[i] = (uint16_t)(e >> 16);
        }
    }
    return (int64_t)n;
}

static int64_t wnl_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                          void *dst, size_t dst_size, void **state)
{
    (void)blk;
    const tables *t = get_tables(ctx, state);
    SQZ_RETURN_IF(!t, SQZ_ERR_OUT_OF_MEMORY, "wnl tables");
    SQZ_RETURN_IF(n != dst_size, SQZ_ERR_CORRUPT_DATA, "wnl block size");
    /* one pass, in place or not: level[] has an entry for every index (those beyond n_levels
     * unused), so the largest index is checked after the look-ups */
    uint32_t worst = 0;
    if (t->max_value == 255) {
        const uint8_t *in = src;
        uint8_t *out = dst, m = 0;
        for (size_t i = 0; i < n; i++) {
            const uint8_t v = in[i];
            m = v > m ? v : m;
            out[i] = (uint8_t)t->level[v];
        }
        worst = m;
    } else {
        const uint16_t *in = src;
        uint16_t *out = dst, m = 0;
        size_t i = 0;
#ifdef SQZ_HAVE_AVX512
        if (sqz_simd_get() >= SQZ_SIMD_AVX512 && sqz_wnl_decode16_avx512(in, out, n / 2, t->level, &worst)) i = n / 2;
#endif
#ifdef __SSE2__
        /* the maximum 8 at a time (max(a, b) = b + (a -sat b)), the look-ups without a chain */
        __m128i m8 = _mm_setzero_si128();
        for (; i + 8 <= n / 2; i += 8) {
            const __m128i v8 = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
            m8 = _mm_add_epi16(m8, _mm_subs_epu16(v8, m8));
            for (int l = 0; l < 8; l++) out[i + l] = t->level[in[i + l]];
        }
        uint16_t lanes[8];
        _mm_storeu_si128((__m128i *)(void *)lanes, m8);
        for (int l = 0; l < 8; l++) m = lanes[l] > m ? lanes[l] : m;
#endif
        for (; i < n / 2; i++) {
            const uint16_t v = in[i];
            m = v > m ? v : m;
            out[i] = t->level[v];
        }
        worst = m > worst ? m : worst;
    }
    SQZ_RETURN_IF(n && worst >= t->n_levels, SQZ_ERR_CORRUPT_DATA, "wnl index %u beyond %u levels", worst, t->n_levels);
    return (int64_t)n;
}

static void wnl_release(void *state) { free(state); }

const sqz_stage sqz_stage_wnl = {
    .id = 64, .name = "wnl", .kind = SQZ_STAGE_FILTER, .lossy = 1, .emits_codes = 1,
    .n_params = 4, .params = k_params,
    .doc = "within-noise-level quantisation: |error| <= q/2 * sigma(value) under the camera model",
    .check = wnl_check, .out_size = wnl_out_size, .encode = wnl_encode, .decode = wnl_decode, .release = wnl_release,
    .encode_reconstruct = wnl_encode_reconstruct, .decode_in_place = 1, .pointwise = 1,
};
