/* remap: replaces each value by its rank among the chunk's distinct values, when those are
 * sparse (e.g. rescaled data); the metadata is the sorted value table or, when the values lie on
 * an arithmetic grid, the grid's three numbers (indices then are grid points, no table is read).
 * Size-preserving; 1- and 2-byte types (others pass through). Bytes: docs/FORMAT.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/cpu.h"
#include "../common/error.h"
#include "remap.h"
#include "stage.h"

/* Remap only when the values span at least SPARSE times as many codes as there are values. */
#define SPARSE 4
#define TABLE_SHARE 16  /* a table of at most 1/16 as many values as the chunk has elements */

typedef struct {
    uint16_t *rank;    /* encoder: rank of each code */
    uint32_t *value;   /* decoder, 2-byte types: the table as 32-bit entries */
} remap_state;

/* indices the metadata maps: table values or grid points (0: the stage copies) */
static uint32_t table_count(const sqz_stage_ctx *ctx) { return ctx->meta_size >= 4 ? sqz_remap_count(ctx->meta) : 0; }

static int check_grid(const sqz_stage_ctx *ctx, size_t es)
{
    SQZ_RETURN_IF(ctx->meta_size != SQZ_REMAP_GRID_META, SQZ_ERR_CORRUPT_HEADER, "remap grid metadata of %u bytes",
                  ctx->meta_size);
    sqz_grid g;
    sqz_remap_grid(ctx->meta, &g);
    SQZ_RETURN_IF(es > 2 || !g.K || g.K > (1u << (8 * es)) || g.S > 48 || g.B >= (1ull << 48) || (g.A >> g.S) == 0 ||
                  sqz_grid_value(&g, g.K - 1) >> (8 * es),
                  SQZ_ERR_CORRUPT_HEADER, "remap grid of %u points, step %u / 2^%u, offset %llu", g.K, g.A, g.S,
                  (unsigned long long)g.B);
    return 0;
}

static int rm_check(const sqz_stage_ctx *ctx)
{
    /* Decoder side: the metadata must hold exactly the table it announces, in order, or a grid
     * whose every point is a value of the type. */
    if (!ctx->meta) return 0;
    const size_t es = sqz_dtype_size(ctx->dtype);
    SQZ_RETURN_IF(ctx->meta_size < 4, SQZ_ERR_CORRUPT_HEADER, "remap metadata of %u bytes", ctx->meta_size);
    if (sqz_rd32(ctx->meta) == SQZ_REMAP_GRID) return check_grid(ctx, es);
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
/* The grid's forward map and the encoder's index, 8 lanes (remap_avx512.c has 16); S <= 32 */
__attribute__((target("avx2"))) static inline __m256i grid_fwd8(__m256i k, __m256i A, __m256i B, __m256i sr, __m256i so)
{
    const __m256i e = _mm256_srlv_epi64(_mm256_add_epi64(_mm256_mul_epu32(k, A), B), sr);
    const __m256i o = _mm256_sllv_epi64(_mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(k, 32), A), B), so);
    return _mm256_blend_epi32(e, o, 0xAA);
}

#define GRID8_CONSTS(g)                                                                                    \
    const __m256i A8 = _mm256_set1_epi64x((long long)(g)->A), B8 = _mm256_set1_epi64x((long long)(g)->B); \
    const __m256i sr8 = _mm256_set1_epi64x((long long)(g)->S), so8 = _mm256_set1_epi64x(32 - (long long)(g)->S)
#define LOAD8(p) _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))

__attribute__((target("avx2"))) static inline __m256i grid_index8(__m256i v, __m256 r, __m256 c, __m256i last)
{
    const __m256i k = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), r), c));
    return _mm256_min_epi32(_mm256_max_epi32(k, _mm256_setzero_si256()), last);
}

/* decoder: values of n indices; *worst the largest index. Returns how many. */
__attribute__((target("avx2"))) static size_t grid_values_avx2(const sqz_grid *g, const uint16_t *in, uint16_t *out,
                                                               size_t n, uint32_t *worst)
{
    if (g->S > 32) return 0;
    GRID8_CONSTS(g);
    __m256i top = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i k = LOAD8(in + i);
        top = _mm256_max_epu32(top, k);
        _mm_storeu_si128((__m128i *)(void *)(out + i), low_halves(grid_fwd8(k, A8, B8, sr8, so8)));
    }
    uint32_t t[8];
    _mm256_storeu_si256((__m256i *)(void *)t, top);
    for (int j = 0; j < 8; j++) *worst = t[j] > *worst ? t[j] : *worst;
    return i;
}

__attribute__((target("avx2"))) static size_t grid_index_avx2(const sqz_grid *g, float r, float c, const uint16_t *in,
                                                              uint16_t *out, size_t n)
{
    const __m256 rv = _mm256_set1_ps(r), cv = _mm256_set1_ps(c + 0.5f);
    const __m256i last = _mm256_set1_epi32((int)(g->K - 1));
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(out + i), low_halves(grid_index8(LOAD8(in + i), rv, cv, last)));
    return i;
}

/* those before the first 8 with a value off the grid */
__attribute__((target("avx2"))) static size_t grid_check_avx2(const sqz_grid *g, float r, float c, const uint16_t *in,
                                                              size_t n)
{
    if (g->S > 32) return 0;
    GRID8_CONSTS(g);
    const __m256 rv = _mm256_set1_ps(r), cv = _mm256_set1_ps(c + 0.5f);
    const __m256i last = _mm256_set1_epi32((int)(g->K - 1));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i v = LOAD8(in + i);
        const __m256i f = grid_fwd8(grid_index8(v, rv, cv, last), A8, B8, sr8, so8);
        if (_mm256_movemask_epi8(_mm256_cmpeq_epi32(f, v)) != -1) break;
    }
    return i;
}
#undef GRID8_CONSTS
#undef LOAD8
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

/* The n values marked in seen[lo..hi], in order (NULL: out of memory) */
static uint32_t *seen_values(const uint8_t *seen, uint32_t lo, uint32_t hi, uint32_t n)
{
    uint32_t *t = malloc(((size_t)n + 1) * sizeof *t), j = 0;
    if (t)
        for (uint32_t v = lo; v <= hi; v++)
            if (seen[v]) t[j++] = v;
    return t;
}

/* ---- Grids: values (k * A + B) >> S of a step A / 2^S >= 2 (docs/DESIGN.md, "Remap") ---- */

/* The encoder's inverse (remap.h): r = 2^S / A, c = (2^(S-1) - B) / A */
static void grid_inverse(const sqz_grid *g, float *r, float *c)
{
    *r = (float)(ldexp(1.0, (int)g->S) / g->A);
    *c = (float)((ldexp(1.0, (int)g->S - 1) - (double)g->B) / g->A);
}

/* Over all i: [lo, hi] of the offsets B that put t[i] at index k[i] for step A (lo > hi: none) */
static void offsets(const uint32_t *t, const uint32_t *k, uint32_t n, unsigned S, int64_t A, int64_t *lo, int64_t *hi)
{
    int64_t l = INT64_MIN, h = INT64_MAX;
    for (uint32_t i = 0; i < n; i++) {
        const int64_t base = ((int64_t)t[i] << S) - (int64_t)k[i] * A;
        l = base > l ? base : l;
        h = base + ((int64_t)1 << S) - 1 < h ? base + ((int64_t)1 << S) - 1 : h;
    }
    *lo = l;
    *hi = h;
}

static int64_t room(const uint32_t *t, const uint32_t *k, uint32_t n, unsigned S, int64_t A)
{
    int64_t lo, hi;
    offsets(t, k, n, S, A, &lo, &hi);
    return hi - lo;
}

/* A grid through the sorted distinct values t[0..n) of es-byte elements: 1 and *g when one exists
 * and the encoder's inverse finds each t[i] on it. Gaps of one step are floor(a) or ceil(a); larger
 * gaps are whole steps more; the step and offset then come from a search over the integers A (the
 * room left for B is a concave function of A). */
static int fit_grid(const uint32_t *t, uint32_t n, size_t es, sqz_grid *g)
{
    if (n < 2) return 0;
    uint32_t gmin = UINT32_MAX;
    for (uint32_t i = 1; i < n; i++) gmin = t[i] - t[i - 1] < gmin ? t[i] - t[i - 1] : gmin;
    if (gmin < 2) return 0;
    double sum = 0, a;
    uint32_t singles = 0;
    for (uint32_t i = 1; i < n; i++)
        if (t[i] - t[i - 1] <= gmin + 1) { sum += t[i] - t[i - 1]; singles++; }
    a = sum / singles;
    uint32_t *k = malloc((size_t)n * sizeof *k);
    if (!k) return 0;
    int ok = 1;
    for (int pass = 0; pass < 2 && ok; pass++) {
        k[0] = 0;
        for (uint32_t i = 1; i < n && ok; i++) {
            const double m = floor((t[i] - t[i - 1]) / a + 0.5);
            ok = m >= 1 && k[i - 1] + m < (double)(1u << (8 * es));
            if (ok) k[i] = k[i - 1] + (uint32_t)m;
        }
        if (ok) a = (double)(t[n - 1] - t[0]) / k[n - 1];
    }
    unsigned S = 31;
    while (S > 1 && (a + 1) * ldexp(1.0, (int)S) >= ldexp(1.0, 31)) S--;
    int64_t lo = (int64_t)floor((a - 0.5) * ldexp(1.0, (int)S)), hi = (int64_t)ceil((a + 0.5) * ldexp(1.0, (int)S));
    lo = lo < ((int64_t)2 << S) ? (int64_t)2 << S : lo;
    if (ok && lo <= hi) {
        while (hi - lo > 2) {  /* ternary search of the concave room(A) */
            const int64_t m1 = lo + (hi - lo) / 3, m2 = hi - (hi - lo) / 3;
            const int64_t f1 = room(t, k, n, S, m1), f2 = room(t, k, n, S, m2);
            if (f1 < f2) lo = m1 + 1;
            else if (f1 > f2) hi = m2 - 1;
            else { lo = m1; hi = m2; }
        }
        int64_t A = lo, best = room(t, k, n, S, lo);
        for (int64_t x = lo + 1; x <= hi; x++)
            if (room(t, k, n, S, x) > best) { best = room(t, k, n, S, x); A = x; }
        int64_t blo, bhi;
        offsets(t, k, n, S, A, &blo, &bhi);
        ok = best >= 0 && blo >= 0;
        if (ok) {
            int64_t B = blo + (bhi - blo) / 2;
            B -= B / A * A;  /* index 0: the lowest grid point */
            g->A = (uint32_t)A;
            g->B = (uint64_t)B;
            g->S = S;
            const uint64_t K = (((uint64_t)1 << (8 * es + S)) - 1 - (uint64_t)B) / (uint64_t)A + 1;
            g->K = K < (1u << (8 * es)) ? (uint32_t)K : 1u << (8 * es);
            float r, c;
            grid_inverse(g, &r, &c);
            for (uint32_t i = 0; i < n && ok; i++) ok = sqz_grid_value(g, sqz_grid_index(g, r, c, t[i])) == t[i];
        }
    }
    free(k);
    return ok;
}

/* Indices of n elements, all on the grid (grid_misses found none) */
static void grid_indices(const sqz_grid *g, size_t es, const void *in, void *out, size_t n)
{
    float r, c;
    grid_inverse(g, &r, &c);
    size_t i = 0;
#if defined(SQZ_HAVE_AVX512)
    if (es == 2 && sqz_simd_get() >= SQZ_SIMD_AVX512) i = sqz_grid_index16_avx512(g, r, c, in, out, n);
    else
#endif
#if defined(SQZ_HAVE_AVX2) && defined(__GNUC__)
    if (es == 2 && sqz_simd_get() >= SQZ_SIMD_AVX2) i = grid_index_avx2(g, r, c, in, out, n);
#endif
    for (; i < n; i++) {
        const uint32_t k = sqz_grid_index(g, r, c, value_at(in, es, i));
        if (es == 1) ((uint8_t *)out)[i] = (uint8_t)k;
        else ((uint16_t *)out)[i] = (uint16_t)k;
    }
}

#define MAX_MISSES 64

/* The distinct values of the chunk that lie off the grid, into miss; how many, or -1 past MAX_MISSES
 * (then the values are not on a grid like this one). */
static int grid_misses(const sqz_grid *g, size_t es, const void *chunk, size_t count, uint32_t *miss)
{
    float r, c;
    grid_inverse(g, &r, &c);
    int found = 0;
    for (size_t i = 0; i < count;) {
        size_t to = count;
#if defined(SQZ_HAVE_AVX512)
        if (es == 2 && sqz_simd_get() >= SQZ_SIMD_AVX512) {  /* up to the first vector with a miss */
            i += sqz_grid_check16_avx512(g, r, c, (const uint16_t *)chunk + i, count - i);
            to = count - i >= 32 ? i + 32 : count;
        } else
#endif
#if defined(SQZ_HAVE_AVX2) && defined(__GNUC__)
        if (es == 2 && sqz_simd_get() >= SQZ_SIMD_AVX2) {
            i += grid_check_avx2(g, r, c, (const uint16_t *)chunk + i, count - i);
            to = count - i >= 8 ? i + 8 : count;
        }
#endif
        for (; i < to; i++) {
            const uint32_t v = value_at(chunk, es, i);
            if (sqz_grid_value(g, sqz_grid_index(g, r, c, v)) == v) continue;
            int j = 0;
            while (j < found && miss[j] != v) j++;
            if (j < found) continue;
            if (found == MAX_MISSES) return -1;
            miss[found++] = v;
        }
    }
    return found;
}

/* Does the chunk hold one of the n values v? */
static int holds_any(const void *chunk, size_t es, size_t count, const uint32_t *v, int n)
{
#if defined(SQZ_HAVE_AVX512)
    if (es == 2 && sqz_simd_get() >= SQZ_SIMD_AVX512) return sqz_holds16_avx512((const uint16_t *)chunk, count, v, n);
#endif
    uint8_t is[65536] = {0};
    for (int j = 0; j < n; j++) is[v[j]] = 1;
    for (size_t i = 0; i < count; i++)
        if (is[value_at(chunk, es, i)]) return 1;
    return 0;
}

/* g, fitted to the sample (marked in seen), misses a few of the chunk's values (miss[0..n)): on the
 * true grid they sit next to a rounding tie where g rounds the other way. The grid m through the
 * sample and the misses holds every value of the chunk if no value on g but off m is in the chunk
 * (the others passed g's check); then g becomes m and 1 is returned. One cheap pass, no second check. */
static int mend_grid(sqz_grid *g, size_t es, const void *chunk, size_t count, uint8_t *seen, const uint32_t *miss, int n)
{
    uint32_t lo = UINT32_MAX, hi = 0, dropped[MAX_MISSES];
    for (int j = 0; j < n; j++) seen[miss[j]] = 1;
    for (uint32_t v = 0; v < (1u << (8 * es)); v++)
        if (seen[v]) { lo = v < lo ? v : lo; hi = v; }
    uint32_t *t = seen_values(seen, lo, hi, count_seen(seen, lo, hi));
    sqz_grid m;
    int ok = t && fit_grid(t, count_seen(seen, lo, hi), es, &m), nd = 0;
    free(t);
    for (uint32_t a = 0, b = 0; ok && a < g->K; a++) {  /* g's points off m */
        const uint32_t v = sqz_grid_value(g, a);
        while (b < m.K && sqz_grid_value(&m, b) < v) b++;
        if (b < m.K && sqz_grid_value(&m, b) == v) continue;
        if (nd == MAX_MISSES) ok = 0;
        else dropped[nd++] = v;
    }
    ok = ok && !holds_any(chunk, es, count, dropped, nd);
    if (ok) *g = m;
    return ok;
}

static void write_grid(uint8_t *meta, const sqz_grid *g, size_t *meta_size)
{
    sqz_wr32(meta, SQZ_REMAP_GRID);
    sqz_wr32(meta + 4, g->K);
    sqz_wr32(meta + 8, g->A);
    sqz_wr64(meta + 12, g->B);
    meta[20] = (uint8_t)g->S;
    *meta_size = SQZ_REMAP_GRID_META;
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
    /* A grid through the sampled values that holds every element: no table, no pass to build one.
     * Values the sample missed may sit off it, next to a rounding tie of the true grid (mend_grid). */
    sqz_grid g;
    uint32_t *t = seen_values(seen, lo, hi, n), miss[MAX_MISSES];
    const int fit = t && cap >= SQZ_REMAP_GRID_META && fit_grid(t, n, es, &g);
    free(t);
    const int misses = fit ? grid_misses(&g, es, chunk, count, miss) : -1;
    if (!misses || (misses > 0 && mend_grid(&g, es, chunk, count, seen, miss, misses))) {
        write_grid(meta, &g, meta_size);
        return 0;
    }
    if (es == 1) mark_all8(chunk, count, seen);
    else mark_all16(chunk, count, seen);
    for (uint32_t v = 0; v < lo; v++) if (seen[v]) { lo = v; break; }  /* the sample's range -> the chunk's */
    for (uint32_t v = (uint32_t)codes - 1; v > hi; v--) if (seen[v]) { hi = v; break; }
    n = count_seen(seen, lo, hi);
    if ((uint64_t)hi - lo + 1 < (uint64_t)SPARSE * n || (uint64_t)TABLE_SHARE * n > count || 4 + (size_t)n * es > cap)
        return 0;
    t = seen_values(seen, lo, hi, n);
    if (!t) return sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "remap table");
    if (cap >= SQZ_REMAP_GRID_META && fit_grid(t, n, es, &g)) {  /* every value is one of t: all on the grid */
        free(t);
        write_grid(meta, &g, meta_size);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (es == 1) meta[4 + i] = (uint8_t)t[i];
        else sqz_wr16(meta + 4 + 2 * (size_t)i, (uint16_t)t[i]);
    }
    free(t);
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
    sqz_grid g;
    if (sqz_remap_grid(ctx->meta, &g)) {
        grid_indices(&g, es, src, dst, n / es);
        return (int64_t)n;
    }
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
    sqz_grid g;
    if (sqz_remap_grid(ctx->meta, &g)) {
        size_t i = 0;
#if defined(SQZ_HAVE_AVX512)
        if (es == 2 && sqz_simd_get() >= SQZ_SIMD_AVX512) i = sqz_grid_values16_avx512(&g, src, dst, n / 2, &worst);
        else
#endif
#if defined(SQZ_HAVE_AVX2) && defined(__GNUC__)
        if (es == 2 && sqz_simd_get() >= SQZ_SIMD_AVX2) i = grid_values_avx2(&g, src, dst, n / 2, &worst);
#endif
        for (; i < n / es; i++) {
            const uint32_t k = value_at(src, es, i), v = sqz_grid_value(&g, k);
            worst = k > worst ? k : worst;
            if (es == 1) ((uint8_t *)dst)[i] = (uint8_t)v;
            else ((uint16_t *)dst)[i] = (uint16_t)v;
        }
        SQZ_RETURN_IF(worst >= count, SQZ_ERR_CORRUPT_DATA, "remap index %u outside a grid of %u points", worst, count);
        return (int64_t)n;
    }
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
