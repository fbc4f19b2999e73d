/* Block-parallel kernels of the GPU backend. The bytes they produce are defined in
 * docs/FORMAT.md and by the CPU code (the reference); each per-thread body is a plain
 * __host__ __device__ function so that tests/cuda_emul can run this same file on the CPU
 * (compat.h). Numbers below that look magic are the SQH32 constants of docs/FORMAT.md. */
#ifndef SQZ_CUDA_KERNELS_CUH
#define SQZ_CUDA_KERNELS_CUH

#include "compat.h"

#define SQZK_P1 2654435761u
#define SQZK_P2 2246822519u
#define SQZK_P3 3266489917u
#define SQZK_P4 668265263u
#define SQZK_P5 374761393u
#define SQZK_LANES 64
#define SQZK_STRIPE 256
#define SQZK_STORED 0x80000000u
#define SQZK_NONE (~0ull)   /* "no failing block" for sqz_atomic_min_u64 */

/* Chunk geometry: blocks of block_elems elements of es bytes, the last one shorter. */
struct sqzk_geo {
    uint64_t n_elems, block_elems, n_blocks;
    uint32_t es;
};

SQZ_HD uint64_t sqzk_block_elems(const sqzk_geo &g, uint64_t i)
{
    const uint64_t first = i * g.block_elems, left = g.n_elems - first;
    return left < g.block_elems ? left : g.block_elems;
}

SQZ_HD uint32_t sqzk_rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

SQZ_HD uint32_t sqzk_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

SQZ_HD void sqzk_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* ---- SQH32: lane l of a buffer (step 2 of the definition), then the fold (steps 3-4) ---- */

SQZ_HD uint32_t sqzk_hash_lane(const uint8_t *p, uint64_t len, unsigned l)
{
    uint32_t a = SQZK_P5 + (uint32_t)l * SQZK_P1;
    const uint64_t ns = len / SQZK_STRIPE;
    const uint8_t *q = p + 4 * l;
    if ((((uintptr_t)p) & 3) == 0) {
        for (uint64_t s = 0; s < ns; s++, q += SQZK_STRIPE)
            a = sqzk_rotl(a + *(const uint32_t *)q * SQZK_P2, 13) * SQZK_P1;  /* little-endian host and GPU */
    } else {
        for (uint64_t s = 0; s < ns; s++, q += SQZK_STRIPE) a = sqzk_rotl(a + sqzk_rd32(q) * SQZK_P2, 13) * SQZK_P1;
    }
    const uint64_t tail = len - ns * SQZK_STRIPE;
    if (tail) {  /* zero-padded last stripe: every lane takes part */
        uint32_t w = 0;
        for (unsigned b = 0; b < 4; b++)
            if (4 * l + b < tail) w |= (uint32_t)q[b] << (8 * b);
        a = sqzk_rotl(a + w * SQZK_P2, 13) * SQZK_P1;
    }
    return a;
}

SQZ_HD uint32_t sqzk_hash_fold(const uint32_t *acc, uint64_t len)
{
    uint32_t h = (uint32_t)len * SQZK_P5 + (uint32_t)(len >> 32);
    for (unsigned l = 0; l < SQZK_LANES; l++) h = sqzk_rotl(h + acc[l] * SQZK_P3, 17) * SQZK_P4;
    h ^= h >> 15; h *= SQZK_P2; h ^= h >> 13; h *= SQZK_P3; h ^= h >> 16;
    return h;
}

/* One thread, whole buffer: for short data (the 32-byte fixed header). */
SQZ_HD uint32_t sqzk_hash_serial(const uint8_t *p, uint64_t len)
{
    uint32_t acc[SQZK_LANES];
    for (unsigned l = 0; l < SQZK_LANES; l++) acc[l] = sqzk_hash_lane(p, len, l);
    return sqzk_hash_fold(acc, len);
}

/* acc[64*i + l] = lane l of segment i = base[offs[i] .. offs[i]+lens[i]). 64 threads per
 * segment: neighbouring threads read neighbouring words of a stripe (coalesced). */
SQZ_KERNEL k_hash_lanes(const uint8_t *base, const uint64_t *offs, const uint64_t *lens, uint64_t n_segs, uint32_t *acc)
{
    for (uint64_t t = SQZ_TID; t < n_segs * SQZK_LANES; t += SQZ_NTHREADS) {
        const uint64_t i = t / SQZK_LANES;
        acc[t] = sqzk_hash_lane(base + offs[i], lens[i], (unsigned)(t % SQZK_LANES));
    }
}

SQZ_KERNEL k_hash_fold(const uint64_t *lens, uint64_t n_segs, const uint32_t *acc, uint32_t *out)
{
    for (uint64_t i = SQZ_TID; i < n_segs; i += SQZ_NTHREADS) out[i] = sqzk_hash_fold(acc + SQZK_LANES * i, lens[i]);
}

/* Compare hashes with block-table field `field` (4: decoded bytes, 8: stored bytes); the
 * lowest failing block lands in *first_bad. */
SQZ_KERNEL k_hash_check(uint64_t n, const uint32_t *hash, const uint8_t *table, unsigned field, unsigned long long *first_bad)
{
    for (uint64_t i = SQZ_TID; i < n; i += SQZ_NTHREADS)
        if (hash[i] != sqzk_rd32(table + 12 * i + field)) sqz_atomic_min_u64(first_bad, i);
}

/* Block table of stored blocks: the stored bytes are the decoded bytes. */
SQZ_KERNEL k_table_stored(uint64_t n, const uint64_t *lens, const uint32_t *hash, uint8_t *table)
{
    for (uint64_t i = SQZ_TID; i < n; i += SQZ_NTHREADS) {
        sqzk_wr32(table + 12 * i, (uint32_t)lens[i] | SQZK_STORED);
        sqzk_wr32(table + 12 * i + 4, hash[i]);
        sqzk_wr32(table + 12 * i + 8, hash[i]);
    }
}

/* Header checksum (docs/FORMAT.md): H(fixed header, checksum field zeroed) XOR H(the rest of
 * the header), the latter given as its 64 lanes. One thread. */
SQZ_KERNEL k_header_finish(uint8_t *chunk, uint64_t header_size, const uint32_t *acc)
{
    if (SQZ_TID != 0) return;
    uint8_t fixed[32];
    for (int b = 0; b < 32; b++) fixed[b] = b >= 28 ? 0 : chunk[b];
    sqzk_wr32(chunk + 28, sqzk_hash_serial(fixed, 32) ^ sqzk_hash_fold(acc, header_size - 32));
}

/* ---- copies ---- */

/* Stored blocks of a chunk into place: block i (if its table word has the stored flag)
 * from payload + offs[i] to dst + i * block bytes, never more than its stored size slens[i]
 * (a wrong size is an error the host reports). One thread per (block, 8-byte piece). */
SQZ_KERNEL k_copy_stored(const uint8_t *payload, const uint64_t *offs, const uint64_t *slens, const uint8_t *table,
                         sqzk_geo g, uint8_t *dst)
{
    const uint64_t bb = g.block_elems * g.es, pieces = (bb + 7) / 8;
    for (uint64_t t = SQZ_TID; t < g.n_blocks * pieces; t += SQZ_NTHREADS) {
        const uint64_t i = t / pieces, p0 = (t % pieces) * 8;
        if (!(sqzk_rd32(table + 12 * i) & SQZK_STORED)) continue;
        uint64_t len = sqzk_block_elems(g, i) * g.es;
        if (len > slens[i]) len = slens[i];
        const uint8_t *s = payload + offs[i];
        uint8_t *d = dst + i * bb;
        for (uint64_t b = p0; b < p0 + 8 && b < len; b++) d[b] = s[b];
    }
}

/* ---- wnl (docs/LOSSY.md): lookup tables built on the host by sqzk_wnl_build ---- */

/* Bound B(v) = q/2 * sigma(v); IEEE double sqrt, * and + only (no fused multiply-add: host
 * C++ with -ffp-contract=off, nvcc with -fmad=false), as csrc/stages/wnl.c. */
SQZ_HD double sqzk_wnl_bound(const double *p, double v)
{
    double e = v - p[1];
    if (e < 0) e = 0;
    double floor_adu = p[2] * p[3];
    return 0.5 * p[0] * sqrt(p[2] * e + floor_adu * floor_adu);
}

/* to_index[v] and level[j] for v, j in [0, max]; returns the number of levels. */
SQZ_HD uint32_t sqzk_wnl_build(const double *params, uint32_t max, uint16_t *to_index, uint16_t *level)
{
    uint32_t n = 0, v = 0;
    while (v <= max) {
        double b = sqzk_wnl_bound(params, v);
        uint32_t y = b >= (double)(max - v) ? max : v + (uint32_t)floor(b);
        level[n] = (uint16_t)y;
        for (uint32_t u = v; u <= y; u++) to_index[u] = (uint16_t)n;
        uint32_t u = y + 1;
        while (u <= max && (double)(u - y) <= sqzk_wnl_bound(params, u)) to_index[u++] = (uint16_t)n;
        n++;
        v = u;
    }
    return n;
}

/* out[i] = lut[in[i]] for n elements of es (1 or 2) bytes; an input >= lut_n marks *bad. */
SQZ_KERNEL k_lut(const uint8_t *in, uint8_t *out, uint64_t n, uint32_t es, const uint16_t *lut, uint32_t lut_n,
                 unsigned long long *bad)
{
    for (uint64_t i = SQZ_TID; i < n; i += SQZ_NTHREADS) {
        /* byte accesses: a chunk's payload (in or out) starts wherever its header ends */
        uint32_t v = es == 1 ? in[i] : (uint32_t)in[2 * i] | (uint32_t)in[2 * i + 1] << 8;
        if (v >= lut_n) { sqz_atomic_min_u64(bad, i); v = 0; }
        if (es == 1) out[i] = (uint8_t)lut[v];
        else out[2 * i] = (uint8_t)lut[v], out[2 * i + 1] = (uint8_t)(lut[v] >> 8);
    }
}

/* ---- bitshuffle (docs/FORMAT.md): one thread per group of 8 elements of a block ---- */

SQZ_HD uint64_t sqzk_transpose8(uint64_t x)
{
    uint64_t t;
    t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;  x ^= t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL; x ^= t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL; x ^= t ^ (t << 28);
    return x;
}

/* Group j of a block of n elements (n8 = n rounded down to 8): forward or back. The group
 * just past n8 copies the block's n mod 8 tail elements unchanged. */
SQZ_HD void sqzk_bitshuffle_group(const uint8_t *in, uint8_t *out, uint64_t n, uint32_t es, uint64_t j, int back)
{
    const uint64_t n8 = n / 8 * 8, row = n8 / 8;
    if (j == row) {
        for (uint64_t b = n8 * es; b < n * es; b++) out[b] = in[b];
        return;
    }
    if (j > row) return;
    for (uint32_t b = 0; b < es; b++) {
        uint64_t x = 0;
        if (!back) {
            const uint8_t *e = in + 8 * j * es;
            for (int i = 0; i < 8; i++) x |= (uint64_t)e[i * es + b] << (8 * i);
            x = sqzk_transpose8(x);
            for (int k = 0; k < 8; k++) out[(b * 8 + k) * row + j] = (uint8_t)(x >> (8 * k));
        } else {
            for (int k = 0; k < 8; k++) x |= (uint64_t)in[(b * 8 + k) * row + j] << (8 * k);
            x = sqzk_transpose8(x);
            uint8_t *e = out + 8 * j * es;
            for (int i = 0; i < 8; i++) e[i * es + b] = (uint8_t)(x >> (8 * i));
        }
    }
}

/* Every block of a chunk laid out at i * block bytes (filters keep sizes). */
SQZ_KERNEL k_bitshuffle(const uint8_t *in, uint8_t *out, sqzk_geo g, int back)
{
    const uint64_t per = g.block_elems / 8 + 1, bb = g.block_elems * g.es;
    for (uint64_t t = SQZ_TID; t < g.n_blocks * per; t += SQZ_NTHREADS) {
        const uint64_t i = t / per;
        sqzk_bitshuffle_group(in + i * bb, out + i * bb, sqzk_block_elems(g, i), g.es, t % per, back);
    }
}

#endif
