/* Little-endian loads and stores, and overflow-checked size arithmetic. */
#ifndef SQZ_BYTES_H
#define SQZ_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint16_t sqz_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t sqz_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t sqz_rd64(const uint8_t *p)
{
    return (uint64_t)sqz_rd32(p) | ((uint64_t)sqz_rd32(p + 4) << 32);
}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && !defined(__CUDA_ARCH__)
/* one store instead of bytes the compiler does not always merge (the rANS encoder's words) */
static inline void sqz_wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void sqz_wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
#else
static inline void sqz_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void sqz_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
#endif
static inline void sqz_wr64(uint8_t *p, uint64_t v) { sqz_wr32(p, (uint32_t)v); sqz_wr32(p + 4, (uint32_t)(v >> 32)); }

static inline double sqz_rdf64(const uint8_t *p) { uint64_t u = sqz_rd64(p); double d; memcpy(&d, &u, 8); return d; }
static inline void sqz_wrf64(uint8_t *p, double d) { uint64_t u; memcpy(&u, &d, 8); sqz_wr64(p, u); }

/* Returns 0 on overflow (callers treat a zero product of nonzero factors as an error). */
static inline int sqz_mul_ok(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline int sqz_add_ok(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }

#endif
