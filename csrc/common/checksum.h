/* sqz_hash32: the block checksum of docs/FORMAT.md ("SQH32"), scalar and AVX2 give the same value. */
#ifndef SQZ_CHECKSUM_H
#define SQZ_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#define SQZ_HASH_LANES 64
uint32_t sqz_hash32(const void *data, size_t size);
uint32_t sqz_hash32_scalar(const void *data, size_t size);
uint32_t sqz_hash32_avx2(const void *data, size_t size);

/* The same hash over data given in pieces, in order (a decoder hashes what it has just written). */
typedef struct {
    uint32_t acc[SQZ_HASH_LANES];
    uint8_t tail[SQZ_HASH_LANES * 4];
    size_t tail_size;
    uint64_t size;
} sqz_hash32_state;
void sqz_hash32_begin(sqz_hash32_state *h);
void sqz_hash32_update(sqz_hash32_state *h, const void *data, size_t size);
uint32_t sqz_hash32_end(sqz_hash32_state *h);

#endif
