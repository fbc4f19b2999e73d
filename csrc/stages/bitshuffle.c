/* bitshuffle: transposes each block into 8*esize bit planes; a size-preserving filter. */
#include <string.h>

#include "../common/cpu.h"
#include "../common/error.h"
#include "bitshuffle.h"
#include "stage.h"

/* 8x8 bit matrix transpose: bit (8*r + c) <-> bit (8*c + r). */
static inline uint64_t transpose8(uint64_t x)
{
    uint64_t t;
    t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;  x ^= t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL; x ^= t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL; x ^= t ^ (t << 28);
    return x;
}

/* n8: elements transposed (multiple of 8); groups [g0, g1) of 8 elements are processed. */
void sqz_bitshuffle_scalar(const uint8_t *in, uint8_t *out, size_t n8, size_t esize, size_t g0, size_t g1)
{
    const size_t row = n8 / 8;
    for (size_t j = g0; j < g1; j++) {
        const uint8_t *e = in + 8 * j * esize;
        for (size_t b = 0; b < esize; b++) {
            uint64_t x = 0;
            for (int i = 0; i < 8; i++) x |= (uint64_t)e[i * esize + b] << (8 * i);
            x = transpose8(x);
            for (int k = 0; k < 8; k++) out[(b * 8 + k) * row + j] = (uint8_t)(x >> (8 * k));
        }
    }
}

void sqz_bitunshuffle_scalar(const uint8_t *in, uint8_t *out, size_t n8, size_t esize, size_t g0, size_t g1)
{
    const size_t row = n8 / 8;
    for (size_t j = g0; j < g1; j++) {
        uint8_t *e = out + 8 * j * esize;
        for (size_t b = 0; b < esize; b++) {
            uint64_t x = 0;
            for (int k = 0; k < 8; k++) x |= (uint64_t)in[(b * 8 + k) * row + j] << (8 * k);
            x = transpose8(x);
            for (int i = 0; i < 8; i++) e[i * esize + b] = (uint8_t)(x >> (8 * i));
        }
    }
}

#ifndef SQZ_HAVE_AVX2
size_t sqz_bitshuffle_avx2(const uint8_t *in, uint8_t *out, size_t n8, size_t esize)
{ (void)in; (void)out; (void)n8; (void)esize; return 0; }
size_t sqz_bitunshuffle_avx2(const uint8_t *in, uint8_t *out, size_t n8, size_t esize)
{ (void)in; (void)out; (void)n8; (void)esize; return 0; }
#endif

static size_t bs_out_size(const sqz_stage_ctx *ctx, size_t n) { (void)ctx; return n; }

static int64_t bs_encode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t cap, void **state)
{
    (void)blk; (void)state;
    const size_t es = sqz_dtype_size(ctx->dtype);
    SQZ_RETURN_IF(cap < n || n % es, SQZ_ERR_BAD_ARGUMENT, "bitshuffle block of %zu bytes", n);
    const size_t n8 = n / es / 8 * 8;
    size_t done = sqz_simd_get() >= SQZ_SIMD_AVX2 ? sqz_bitshuffle_avx2(src, dst, n8, es) : 0;
    sqz_bitshuffle_scalar(src, dst, n8, es, done / 8, n8 / 8);
    memcpy((uint8_t *)dst + n8 * es, (const uint8_t *)src + n8 * es, n - n8 * es);
    return (int64_t)n;
}

static int64_t bs_decode(const sqz_stage_ctx *ctx, const sqz_block *blk, const void *src, size_t n,
                         void *dst, size_t dst_size, void **state)
{
    (void)blk; (void)state;
    const size_t es = sqz_dtype_size(ctx->dtype);
    SQZ_RETURN_IF(n != dst_size || n % es, SQZ_ERR_CORRUPT_DATA, "bitshuffle block of %zu bytes", n);
    const size_t n8 = n / es / 8 * 8;
    size_t done = sqz_simd_get() >= SQZ_SIMD_AVX2 ? sqz_bitunshuffle_avx2(src, dst, n8, es) : 0;
    sqz_bitunshuffle_scalar(src, dst, n8, es, done / 8, n8 / 8);
    memcpy((uint8_t *)dst + n8 * es, (const uint8_t *)src + n8 * es, n - n8 * es);
    return (int64_t)n;
}

const sqz_stage sqz_stage_bitshuffle = {
    .id = 16, .name = "bitshuffle", .kind = SQZ_STAGE_FILTER,
    .doc = "bit-plane transposition per block (Sqeazy bitswap1)",
    .out_size = bs_out_size, .encode = bs_encode, .decode = bs_decode,
};
