/* remap's metadata (docs/FORMAT.md, "remap"): a sorted value table, or a grid whose value of
 * index k is (k * A + B) >> S. Shared by remap.c, its SIMD kernels and the CUDA engine. */
#ifndef SQZ_REMAP_H
#define SQZ_REMAP_H

#include <stddef.h>
#include <stdint.h>

#include "../common/bytes.h"

#define SQZ_REMAP_GRID 0xFFFFFFFFu  /* the first word of a grid's metadata */
#define SQZ_REMAP_GRID_META 21      /* u32 mark, u32 K, u32 A, u64 B, u8 S */

typedef struct {
    uint64_t B;
    uint32_t K, A, S;
} sqz_grid;

static inline uint32_t sqz_grid_value(const sqz_grid *g, uint32_t k) { return (uint32_t)(((uint64_t)k * g->A + g->B) >> g->S); }

/* Only after remap's check accepted the metadata: is it a grid (then *g)? */
static inline int sqz_remap_grid(const uint8_t *meta, sqz_grid *g)
{
    if (sqz_rd32(meta) != SQZ_REMAP_GRID) return 0;
    g->K = sqz_rd32(meta + 4);
    g->A = sqz_rd32(meta + 8);
    g->B = sqz_rd64(meta + 12);
    g->S = meta[20];
    return 1;
}

/* How many indices the metadata maps (0: none, the stage copies), and the value of index i < that. */
static inline uint32_t sqz_remap_count(const uint8_t *meta)
{
    sqz_grid g;
    return sqz_remap_grid(meta, &g) ? g.K : sqz_rd32(meta);
}
static inline uint32_t sqz_remap_value(const uint8_t *meta, size_t es, uint32_t i)
{
    sqz_grid g;
    if (sqz_remap_grid(meta, &g)) return sqz_grid_value(&g, i);
    return es == 1 ? meta[4 + i] : sqz_rd16(meta + 4 + 2 * (size_t)i);
}

/* The encoder's inverse: the grid index nearest v, clamped to [0, K) (exact for a value on a grid
 * of step >= 2; callers compare sqz_grid_value with v). r = 2^S / A, c = (2^(S-1) - B) / A. */
static inline uint32_t sqz_grid_index(const sqz_grid *g, float r, float c, uint32_t v)
{
    const float k = (float)v * r + c;
    return k < 0.5f ? 0u : k >= (float)g->K - 0.5f ? g->K - 1 : (uint32_t)(k + 0.5f);
}

#if defined(SQZ_HAVE_AVX512)
/* remap_avx512.c, 2-byte elements; each returns how many it did, a multiple of 32 (check: those
 * before the first 32 with one off the grid) */
size_t sqz_grid_values16_avx512(const sqz_grid *g, const uint16_t *in, uint16_t *out, size_t n, uint32_t *worst);
size_t sqz_grid_index16_avx512(const sqz_grid *g, float r, float c, const uint16_t *in, uint16_t *out, size_t n);
size_t sqz_grid_check16_avx512(const sqz_grid *g, float r, float c, const uint16_t *in, size_t n);
/* 1 when one of in[0..n) is one of v[0..m) */
int sqz_holds16_avx512(const uint16_t *in, size_t n, const uint32_t *v, int m);
#endif

#endif
