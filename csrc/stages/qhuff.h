/* Kernels of the qhuff codec shared by its scalar and AVX2 parts; the bytes are in docs/FORMAT.md. */
#ifndef SQZ_QHUFF_H
#define SQZ_QHUFF_H

#include <stddef.h>
#include <stdint.h>

#include "rows.h"

#define SQZ_QH_FIRST 64        /* shift table entry of a block's first row (no row above) */
#define SQZ_QH_NK 65           /* shift table entries: 64 activity levels and SQZ_QH_FIRST */
#define SQZ_QH_ESC 32          /* quotient symbol of q >= 32 (then q - 32 in the escape stream) */
#define SQZ_QH_NSYM 33
#define SQZ_QH_HEADER (SQZ_QH_NK + 17 + 20)

/* 4 floor(log2(a + 1)) + the two bits below the leading one, at most 63 */
static inline unsigned sqz_qh_level(uint32_t a)
{
    const uint32_t u = a + 1;
    const unsigned m = 31u - (unsigned)__builtin_clz(u);
    const unsigned l = 4 * m + (((u << 2) >> m) & 3);
    return l < 63 ? l : 63;
}

/* lv[j] for j in [j0, j1) of a row whose row above is `up` (2 <= j0, j1 + 2 <= row length). */
void sqz_qh_levels_scalar(size_t es, const void *up, uint8_t *lv, size_t j0, size_t j1);
size_t sqz_qh_levels_avx2(size_t es, const void *up, uint8_t *lv, size_t j1);   /* from j0 = 2 */

/* kk[j] = kt[lv[j]] for j in [0, returned) (whole groups of 32), their sum added to *sum */
size_t sqz_qh_lookup_avx2(const uint8_t *kt, const uint8_t *lv, uint8_t *kk, size_t n, uint64_t *sum);
/* bit i: q[i] is the escape symbol, for i < min(n, 32); reads 32 bytes */
uint32_t sqz_qh_escapes_avx2(const uint8_t *q, size_t n);

/* z[j] = q[j] << k[j] | the next k[j] bits of the remainder stream (LSB-first from bit *off of
 * rem), for j in [0, n); needs BMI2 (pdep) and 8 readable bytes past every bit it uses. Returns
 * the elements done (a multiple of 8); *off moves past their bits. */
size_t sqz_qh_rows_avx2(size_t es, const uint8_t *q, const uint8_t *k, const uint8_t *rem, uint64_t *off, void *z,
                        size_t n);

/* Encoder: sym[j] = min(z[j] >> k[j], SQZ_QH_ESC) for whole groups of 16; returns the elements done */
size_t sqz_qh_symbols_avx2(size_t es, const void *z, const uint8_t *k, uint8_t *sym, size_t n);
/* Encoder: the low k[j] bits of z[j] to w for whole groups of 8 (BMI2's pext); returns the elements done */
size_t sqz_qh_pack_rem_avx2(size_t es, const void *z, const uint8_t *k, size_t n, sqz_bit_writer *w);

#endif
