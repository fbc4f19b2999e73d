/* Helpers of the codecs that code residuals row by row from the row above (huff, qhuff): element
 * access, the five-tap activity of the row above, whole-row blocks and the bit writer. */
#ifndef SQZ_ROWS_H
#define SQZ_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/bytes.h"
#include "stage.h"

static inline uint32_t sqz_elem(const void *z, size_t es, uint64_t k)
{
    return es == 1 ? ((const uint8_t *)z)[k] : es == 2 ? ((const uint16_t *)z)[k] : ((const uint32_t *)z)[k];
}

/* 2 N + NW + NE + NWW + NEE of block element k >= X at column x; a tap outside the row or the block
 * counts as N, the element straight above. */
static inline uint64_t sqz_row_activity(size_t es, const void *z, uint64_t k, uint64_t x, uint64_t X)
{
    const uint64_t n = sqz_elem(z, es, k - X);
    const uint64_t nw = x >= 1 && k >= X + 1 ? sqz_elem(z, es, k - X - 1) : n;
    const uint64_t nww = x >= 2 && k >= X + 2 ? sqz_elem(z, es, k - X - 2) : n;
    const uint64_t ne = x + 1 < X ? sqz_elem(z, es, k - X + 1) : n;
    const uint64_t nee = x + 2 < X ? sqz_elem(z, es, k - X + 2) : n;
    return 2 * n + nw + ne + nww + nee;
}

/* Whole rows, about block_bytes (0: default_bytes) per block. */
static inline uint64_t sqz_rows_block_elems(const sqz_stage_ctx *ctx, uint32_t block_bytes, uint32_t default_bytes)
{
    const uint64_t X = ctx->shape[ctx->ndim - 1];
    const uint64_t target = (block_bytes ? block_bytes : default_bytes) / sqz_dtype_size(ctx->dtype);
    if (!X) return 0;
    const uint64_t rows = (target + X / 2) / X;
    return (rows ? rows : 1) * X;
}

/* Branch-free LSB-first bit writer: at least 8 bytes must be free at p. */
typedef struct { uint8_t *p; uint64_t acc; unsigned cnt; } sqz_bit_writer;

static inline void sqz_put_bits(sqz_bit_writer *w, uint64_t v, unsigned n)
{
    w->acc |= v << w->cnt;
    w->cnt += n;
    sqz_wr64(w->p, w->acc);
    w->p += w->cnt >> 3;
    w->acc >>= w->cnt & ~7u;
    w->cnt &= 7;
}

#endif
