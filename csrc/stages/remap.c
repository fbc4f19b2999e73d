/* remap: replaces each value by its rank among the chunk's distinct values, when those are
 * sparse (e.g. rescaled data on a grid); the sorted value table is the chunk metadata.
 * Size-preserving; 1- and 2-byte types (others pass through). Bytes: docs/FORMAT.md. */
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/cpu.h"
#include "../common/error.h"
#include "stage.h"

/* Remap only when the values span at least SPARSE times as many codes as there are values. */
#define SPARSE 4
#define TABLE_SHARE 16  /* a table of at most 1/16 as many values as the chunk has elements */

typedef struct {
    uint16_t *rank;    /* encoder: rank of each code */
    uint32_t *value;   /* decoder, 2-byte types: the table as 32-bit entries */
} remap_state;

static uint32_t table_count(const sqz_stage_ctx *ctx) { return ctx->meta_size >= 4 ? sqz_rd32(ctx->meta) : 0; }

static int rm_check(const sqz_stage_ctx *ctx)
{
    /* Decoder side: the metadata must hold exactly the table it announces, in order. */
    if (!ctx->meta) return 0;
    const size_t es = sqz_dtype_size(ctx->dtype);
    SQZ_RETURN_IF(ctx->meta_size < 4, SQZ_ERR_CORRUPT_HEADER, "remap metadata of %u bytes", ctx->meta_size);
    const uint32_t n = table_count(ctx);
    SQZ_RETURN_IF(n && (es > 2 || n > (1u << (8 * es))), SQZ_ERR_CORRUPT_HEADER, "remap table of %u values", n);
    SQZ_RETURN_IF(ctx->meta_size != 4 + (uint64_t)n * es, SQZ_ERR_CORRUPT_HEADER, "remap metadata of %u bytes for %u values",
                  ctx->meta_size, n);
    for (uint32_t i = 1; i < n; i++) {
        uint32_t a = es == 1 ? ctx->meta[4 + i - 1] : sqz_rd16(ctx->meta + 4 + 2 * (i - 1));
        uint32_t b = es == 1 ? ctx->meta[4 + i] : sqz_rd16(ctx->meta + 4 + 2 * i);
        SQZ_RETURN_IF(a >= b, SQZ_ERR_CORRUPT_HEADER, "remap table is not increasing");
    }
    return 0;
}

/* The sample: runs of RUN elements, evenly spread, 1/16 of the chunk up to RUNS runs. */
#define RUN 1024
#define RUNS 64
static size_t sample_stride(size_t count) { return count / RUNS > 16 * RUN ? count / RUNS : 16 * RUN; }
static size_t run_end(size_t i, size_t count) { return count - i < RUN ? count : i + RUN; }

static inline uint32_t value_at(const void *chunk, size_t es, size_t i)
{
    return es == 1 ? ((const uint8_t *)chunk)[i] : ((const uint16_t *)chunk)[i];
}

#if defined(SQZ_HAVE_AVX2) && defined(__GNUC__)
#include <immintrin.h>

/* 8 x 32-bit -> 8 x 16-bit (low halves) */
__attribute__((target("avx2"))) static inline __m128i low_halves(__m256i v)
{
    const __m256i pick = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
                                          0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, pick), 0x08));
}

/* out[i] = value[min(in[i], count - 1)], 8 at a time; *worst = the largest rank seen. Returns how many. */
__attribute__((target("avx2"))) static size_t values_avx2(const uint16_t *in, uint16_t *out, size_t n,
                                                          const uint32_t *value, uint32_t count, uint32_t *worst)
{
    size_t i = 0;
    const __m256i last = _mm256_set1_epi32((int)(count - 1));
    __m256i top = _mm256_setzero_si256();
    for (; i + 8 <= n; i += 8) {
        const __m256i r = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(in + i)));
        top = _mm256_max_epu32(top, r);
        const __m256i v = _mm256_i32gather_epi32((const int *)(const void *)value, _mm256_min_epu32(r, last), 4);
        _mm_storeu_si128((__m128i *)(void *)(out + i), low_halves(v));
    }
    uint32_t t[8];
    _mm256_storeu_si256((__m256i *)(void *)t, top);
    for (int k = 0; k < 8; k++) *worst = t[k] > *worst ? t[k] : *worst;
    return i;
}
#endif

/* Do most sampled elements have a sampled value next to theirs? Then the values are dense where
 * the data is and sparse only in a tail (bright outliers): ranks would not shrink the residuals of
 * most elements, and the table costs a pass each way (docs/DESIGN.md, "Remap"). */
static int dense_bulk(const void *chunk, size_t es, size_t count, uint32_t lo, uint32_t hi, const uint8_t *seen)
{
    size_t next_to = 0, sampled = 0;
    for (size_t i0 = 0, step = sample_stride(count); i0 < count; i0 += step)
        for (size_t i = i0; i < run_end(i0, count); i++, sampled++) {
            const uint32_t v = value_at(chunk, es, i);
            next_to += (v > lo && seen[v - 1]) || (v < hi && seen[v + 1]);
        }
    return 2 * next_to >= sampled;
}

/* seen[v] = 1 for the elements [i0, i1); *lo, *hi take their smallest and largest value. */
static void mark(const void *chunk, size_t es, size_t i0, size_t i1, uint8_t *seen, uint32_t *lo, uint32_t *hi)
{
    uint32_t a = *lo, b = *hi;
    for (size_t i = i0; i < i1; i++) {
        const uint32_t v = value_at(chunk, es, i);
        seen[v] = 1;
        a = v < a ? v : a;
        b = v > b ? v : b;
    }
    *lo = a;
    *hi = b;
}

/* seen[v] = 1 for every value. The sample has marked most of them, so this mostly loads and
 * stores only where one of four values is new (docs/DESIGN.md, "Speed (session 29)"). */
#define DEFINE_MARK_ALL(NAME, T)                                                                          \
static void NAME(const T *in, size_t n, uint8_t *seen)                                                   \
{                                                                                                        \
    size_t i = 0;                                                                                        \
    for (; i + 4 <= n; i += 4)                                                                           \
        if (!(seen[in[i]] & seen[in[i + 1]] & seen[in[i + 2]] & seen[in[i + 3]]))                        \
            seen[in[i]] = seen[in[i + 1]] = seen[in[i + 2]] = seen[in[i + 3]] = 1;                      \
    for (; i < n; i++) seen[in[i]] = 1;                                                                  \
}
DEFINE_MARK_ALL(mark_all8, uint8_t)
DEFINE_MARK_ALL(mark_all16, uint16_t)
#undef DEFINE_MARK_ALL

static uint32_t count_seen(const uint8_t *seen, uint32_t lo, uint32_t hi)
{
    uint32_t n = 0;
    for (uint32_t v = lo; v <= hi; v++) n += seen[v];
    return n;
}

static int rm_prepare(const sqz_stage_ctx *ctx, const void *chunk, size_t size, uint8_t *meta, size_t cap,
                      size_t *meta_size)
{
    const size_t es = sqz_dtype_size(ctx->dtype);
    sqz_wr32(meta, 0);
    *meta_size = 4;
    if (es > 2 || !size) return 0;
    const size_t count = size / es, codes = (size_t)1 << (8 * es);
    uint8_t seen[65536];  /* plain stores, no read-modify-write of bits */
    memset(seen, 0, codes);
    /* the sample first: dense data (the usual case) is recognised without a pass over the chunk */
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0, step = sample_stride(count); i < count; i += step)
        mark(chunk, es, i, run_end(i, count), seen, &lo, &hi);
    uint32_t n = count_seen(seen, lo, hi);
    if ((uint64_t)hi - lo + 1 < (uint64_t)SPARSE * n || (uint64_t)TABLE_SHARE * n > count ||
        dense_bulk(chunk, es, count, lo, hi, seen))
        return 0;
    if (es == 1) mark_all8(chunk, count, seen);
    else mark_all16(chunk, count, seen);
    for (uint32_t v = 0; v < lo; v++) if (seen[v]) { lo = v; break; }  /* the sample's range -> the chunk's */
    for (uint32_t v = (uint32_t)codes - 1; v > hi; v--) if (seen[v]) { hi = v; break; }
    n = count_seen(seen, lo, hi);
    if ((uint64_t)hi - lo + 1 < (uint64_t)SPARSE * n || (uint64_t)TABLE_SHARE * n > count || 4 + (size_t)n * es > cap)
        return 0;
    uint8_t *o = meta + 4;
    for (uint32_t v = lo; v <= hi; v++) {
        if (!seen[v]) continue;
        if (es == 1) *o++ = (uint8_t)v;
        else { sqz_wr16(o, (uint16_t)v); o += 2; }
    }
    sqz_wr32(meta, n);
    *meta_size = 4 + (size_t)n * es;
    return 0;
}

static size_t rm_out_size(const sqz_stage_ctx *ctx, size_t n) { (void)ctx; return n; }

static int64_t rm_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t cap, void **state)
{
    (void)blk;
    const size_t es = sqz_dtype_size(ctx->dtype);
    const uint32_t count = table_count(ctx);
    SQZ_RETURN_IF(cap < n, SQZ_ERR_BAD_ARGUMENT, "remap output of %zu bytes for %zu", cap, n);
    if (!count) { memcpy(dst, src, n); return (int64_t)n; }
    remap_state *s = *state;
    if (!s) {
        /* rank of every value of the table; other codes never occur in this chunk */
        if (!(s = *state = calloc(1, sizeof *s)) || !(s->rank = calloc((size_t)1 << (8 * es), sizeof *s->rank)))
            return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "remap table");
        for (uint32_t i = 0; i < count; i++)
            s->rank[es == 1 ? ctx->meta[4 + i] : sqz_rd16(ctx->meta + 4 + 2 * i)] = (uint16_t)i;
    }
    const uint16_t *rank = s->rank;
    if (es == 1) {
        const uint8_t *in = src;
        uint8_t *out = dst;
        for (size_t i = 0; i < n; i++) out[i] = (uint8_t)rank[in[i]];
    } else {
        const uint16_t *in = src;
        uint16_t *out = dst;
        size_t i = 0;
        for (; i + 4 <= n / 2; i += 4) {
            out[i] = rank[in[i]]; out[i + 1] = rank[in[i + 1]]; out[i + 2] = rank[in[i + 2]]; out[i + 3] = rank[in[i + 3]];
        }
        for (; i < n / 2; i++) out[i] = rank[in[i]];
    }
    return (int64_t)n;
}

static int64_t rm_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t dst_size, void **state)
{
    (void)blk;
    const size_t es = sqz_dtype_size(ctx->dtype);
    const uint32_t count = table_count(ctx);
    SQZ_RETURN_IF(n != dst_size, SQZ_ERR_CORRUPT_DATA, "remap block of %zu bytes, expected %zu", n, dst_size);
    if (!count) { memcpy(dst, src, n); return (int64_t)n; }
    const uint8_t *tab = ctx->meta + 4;
    uint32_t worst = 0;
    if (es == 1) {
        const uint8_t *in = src;
        uint8_t *out = dst;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = in[i];
            worst = r > worst ? r : worst;
            out[i] = tab[r < count ? r : 0];
        }
    } else {
        const uint16_t *in = src;
        uint16_t *out = dst;
        size_t i = 0;
#if defined(SQZ_HAVE_AVX2) && defined(__GNUC__)
        if (sqz_simd_get() >= SQZ_SIMD_AVX2) {
            remap_state *s = *state;
            if (!s && !(s = *state = calloc(1, sizeof *s))) return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "remap table");
            if (!s->value) {
                if (!(s->value = malloc(count * sizeof *s->value))) return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "remap table");
                for (uint32_t r = 0; r < count; r++) s->value[r] = sqz_rd16(tab + 2 * r);
            }
            i = values_avx2(in, out, n / 2, s->value, count, &worst);
        }
#endif
        for (; i < n / 2; i++) {
            uint32_t r = in[i];
            worst = r > worst ? r : worst;
            out[i] = sqz_rd16(tab + 2 * (r < count ? r : 0));
        }
    }
    SQZ_RETURN_IF(worst >= count, SQZ_ERR_CORRUPT_DATA, "remap rank %u outside a table of %u values", worst, count);
    return (int64_t)n;
}

static int rm_identity(const sqz_stage_ctx *ctx) { return table_count(ctx) == 0; }

static void rm_release(void *p)
{
    remap_state *s = p;
    if (s) { free(s->rank); free(s->value); }
    free(s);
}

const sqz_stage sqz_stage_remap = {
    .id = 24, .name = "remap", .kind = SQZ_STAGE_FILTER, .emits_codes = 1,
    .doc = "values -> ranks in the chunk's sorted value table (metadata), when the values are sparse",
    .check = rm_check, .prepare = rm_prepare, .out_size = rm_out_size,
    .encode = rm_encode, .decode = rm_decode, .release = rm_release, .identity = rm_identity, .decode_in_place = 1,
    .pointwise = 1,
};
