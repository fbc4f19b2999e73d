#include "checksum.h"

#include "bytes.h"
#include "cpu.h"

#define P1 2654435761u
#define P2 2246822519u
#define P3 3266489917u
#define P4 668265263u
#define P5 374761393u
#define STRIPE (SQZ_HASH_LANES * 4)

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static void lanes_init(uint32_t acc[SQZ_HASH_LANES])
{
    for (int l = 0; l < SQZ_HASH_LANES; l++) acc[l] = P5 + (uint32_t)l * P1;
}

static void stripes_scalar(uint32_t acc[SQZ_HASH_LANES], const uint8_t *p, size_t n_stripes)
{
    for (size_t s = 0; s < n_stripes; s++, p += STRIPE)
        for (int l = 0; l < SQZ_HASH_LANES; l++)
            acc[l] = rotl32(acc[l] + sqz_rd32(p + 4 * l) * P2, 13) * P1;
}

/* The zero-padded tail stripe and the lane fold are shared by both paths. */
static uint32_t finish(uint32_t acc[SQZ_HASH_LANES], const uint8_t *tail, size_t tail_size, size_t size)
{
    if (tail_size) {
        uint8_t last[STRIPE] = {0};
        memcpy(last, tail, tail_size);
        stripes_scalar(acc, last, 1);
    }
    uint32_t h = (uint32_t)size * P5 + (uint32_t)((uint64_t)size >> 32);
    for (int l = 0; l < SQZ_HASH_LANES; l++) h = rotl32(h + acc[l] * P3, 17) * P4;
    h ^= h >> 15; h *= P2; h ^= h >> 13; h *= P3; h ^= h >> 16;
    return h;
}

uint32_t sqz_hash32_scalar(const void *data, size_t size)
{
    uint32_t acc[SQZ_HASH_LANES];
    lanes_init(acc);
    size_t n = size / STRIPE;
    stripes_scalar(acc, data, n);
    return finish(acc, (const uint8_t *)data + n * STRIPE, size - n * STRIPE, size);
}

#ifdef SQZ_HAVE_AVX2
void sqz_hash32_stripes_avx2(uint32_t acc[SQZ_HASH_LANES], const uint8_t *p, size_t n_stripes);

uint32_t sqz_hash32_avx2(const void *data, size_t size)
{
    uint32_t acc[SQZ_HASH_LANES];
    lanes_init(acc);
    size_t n = size / STRIPE;
    sqz_hash32_stripes_avx2(acc, data, n);
    return finish(acc, (const uint8_t *)data + n * STRIPE, size - n * STRIPE, size);
}
#else
uint32_t sqz_hash32_avx2(const void *data, size_t size) { return sqz_hash32_scalar(data, size); }
#endif

#ifdef SQZ_HAVE_AVX512
void sqz_hash32_stripes_avx512(uint32_t acc[SQZ_HASH_LANES], const uint8_t *p, size_t n_stripes);
#endif

static void stripes(uint32_t acc[SQZ_HASH_LANES], const uint8_t *p, size_t n_stripes)
{
#ifdef SQZ_HAVE_AVX512
    if (sqz_simd_get() >= SQZ_SIMD_AVX512) { sqz_hash32_stripes_avx512(acc, p, n_stripes); return; }
#endif
#ifdef SQZ_HAVE_AVX2
    if (sqz_simd_get() >= SQZ_SIMD_AVX2) { sqz_hash32_stripes_avx2(acc, p, n_stripes); return; }
#endif
    stripes_scalar(acc, p, n_stripes);
}

void sqz_hash32_begin(sqz_hash32_state *h)
{
    lanes_init(h->acc);
    h->tail_size = 0;
    h->size = 0;
}

void sqz_hash32_update(sqz_hash32_state *h, const void *data, size_t size)
{
    const uint8_t *p = data;
    h->size += size;
    if (h->tail_size) {
        const size_t take = STRIPE - h->tail_size < size ? STRIPE - h->tail_size : size;
        memcpy(h->tail + h->tail_size, p, take);
        h->tail_size += take;
        p += take;
        size -= take;
        if (h->tail_size < STRIPE) return;
        stripes(h->acc, h->tail, 1);
        h->tail_size = 0;
    }
    const size_t n = size / STRIPE;
    stripes(h->acc, p, n);
    memcpy(h->tail, p + n * STRIPE, size - n * STRIPE);
    h->tail_size = size - n * STRIPE;
}

uint32_t sqz_hash32_end(sqz_hash32_state *h) { return finish(h->acc, h->tail, h->tail_size, (size_t)h->size); }

uint32_t sqz_hash32(const void *data, size_t size)
{
    uint32_t acc[SQZ_HASH_LANES];
    lanes_init(acc);
    const size_t n = size / STRIPE;
    stripes(acc, data, n);
    return finish(acc, (const uint8_t *)data + n * STRIPE, size - n * STRIPE, size);
}
