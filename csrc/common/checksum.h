/* sqz_hash32: the block checksum of docs/FORMAT.md ("SQH32"), scalar and AVX2 give the same value. */
#ifndef SQZ_CHECKSUM_H
#define SQZ_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#define SQZ_HASH_LANES 64
uint32_t sqz_hash32(const void *data, size_t size);
uint32_t sqz_hash32_scalar(const void *data, size_t size);
uint32_t sqz_hash32_avx2(const void *data, size_t size);

#endif
