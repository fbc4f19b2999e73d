/* Kernels of the huff codec (contexts and tokens of one row); definitions in docs/FORMAT.md.
 * The scalar functions are the reference; the AVX2 and AVX-512 ones (1- and 2-byte elements)
 * return how far they got and leave the rest to the scalar ones. */
#ifndef SQZ_HUFF_H
#define SQZ_HUFF_H

#include <stddef.h>
#include <stdint.h>

#define SQZ_HUFF_NCTX 21       /* 0..19 activity classes, 20: no row above in the block */
#define SQZ_HUFF_CTX_FIRST 20
#define SQZ_HUFF_PBITS 8       /* decoder: first-level tables of 2^8 entries */
/* huff64: element at column x of a row is in group (x >> 4) & 3, lane x & 15 (64 lanes); a look-up
 * reads the low SQZ_HUFF64_LBITS bits of the lane's state. */
#define SQZ_HUFF64_LBITS 11
/* Encoders (huff, huff64; CPU and GPU): a block of at least SQZ_HUFF_SAMPLE_MIN 1- or 2-byte
 * elements takes its codes from its rows 0, STEP, 2 STEP, ... (the first row may be partial):
 * counts times STEP, plus one for each token up to the largest counted in its context, plus the
 * exact count of the elements beyond those. Every token that occurs gets a code. */
#define SQZ_HUFF_SAMPLE_STEP 4
#define SQZ_HUFF_SAMPLE_MIN (1u << 16)

/* ctx[j] for j in [j0, j1) of a row whose row above is `up` (element j above j; 2 <= j0,
 * j1 + 2 <= row length: up[j-2..j+2] exist). */
void sqz_huff_ctx_scalar(size_t es, const void *up, uint8_t *ctx, size_t j0, size_t j1);
size_t sqz_huff_ctx_avx2(size_t es, const void *up, uint8_t *ctx, size_t j1);   /* from j0 = 2 */
size_t sqz_huff_ctx_avx512(size_t es, const void *up, uint8_t *ctx, size_t j1);
/* The same as huff64's table offsets, offs[context] (32 entries), from j0 = 2. */
size_t sqz_huff_ctx16_avx512(size_t es, const void *up, const uint16_t *offs, uint16_t *ctx, size_t j1);
/* The same as pointers: cp[j] = tab0 + ctx * 2^SQZ_HUFF_PBITS (decoder tables), from j0 = 2. */
size_t sqz_huff_ctxp_avx2(size_t es, const void *up, const uint32_t *tab0, const uint32_t **cp, size_t j1);
size_t sqz_huff_ctxp_avx512(size_t es, const void *up, const uint32_t *tab0, const uint32_t **cp, size_t j1);
/* tok[j] for j in [j0, j1). */
void sqz_huff_tok_scalar(size_t es, const void *z, uint8_t *tok, size_t j0, size_t j1);
size_t sqz_huff_tok_avx2(size_t es, const void *z, uint8_t *tok, size_t j1);    /* from j0 = 0 */

/* idx[j] = ctx[j] * 128 + token of z[j] for j in [j0, j1) (1- and 2-byte elements). */
void sqz_huff_idx_scalar(size_t es, const void *z, const uint8_t *ctx, uint16_t *idx, size_t j0, size_t j1);
size_t sqz_huff_idx_avx2(size_t es, const void *z, const uint8_t *ctx, uint16_t *idx, size_t j1);  /* from j0 = 0 */
size_t sqz_huff_idx_avx512(size_t es, const void *z, const uint8_t *ctx, uint16_t *idx, size_t j1);
/* hist[i]++ for each i = idx[k] with i % 128 >= cover[i / 128], k < the returned count (a multiple of 32). */
size_t sqz_huff_count_beyond_avx512(const uint16_t *idx, size_t m, const uint16_t *cover, uint32_t *hist);
size_t sqz_huff_count_beyond_avx2(const uint16_t *idx, size_t m, const uint16_t *cover, uint32_t *hist);

/* Bits of elements [0, n) of a 1- or 2-byte block: v[k] = code | extra bits << code length,
 * nb[k] = their count, from ent[idx] = code | length << 16 | total << 24. */
void sqz_huff_bits_scalar(size_t es, const void *z, const uint16_t *idx, const uint32_t *ent, uint32_t *v,
                          uint32_t *nb, size_t j0, size_t n);
/* Elements k and k + 4 of each group of 8 go to the same stream: pv[4g + i] = v[8g + i] |
 * v[8g + i + 4] << nb[8g + i], pn[4g + i] = nb[8g + i] + nb[8g + i + 4] (i < 4), groups [g0, g1). */
void sqz_huff_pairs_scalar(const uint32_t *v, const uint32_t *nb, uint64_t *pv, uint32_t *pn, size_t g0, size_t g1);
/* The pairs straight from the elements, for whole groups of 8 (returns the elements done). */
size_t sqz_huff_pairs_avx2(size_t es, const void *z, const uint16_t *idx, const uint32_t *ent, uint64_t *pv,
                           uint32_t *pn, size_t n);


/* Decodes a row segment of len elements from column x0 with AVX-512 (1-2 byte elements): cx the
 * contexts as table offsets (the table's slot << LBITS | its size - 1: a context's table holds
 * 2^(its longest code) entries), tab the NCTX tables of 2^LBITS entries (length | base << 8 | extra bits << 24), xs the
 * 64 lane states, p the four word streams (each with 64 bytes per step of its group in the
 * segment, plus 32, left in the block). Returns the OR of the entries read. */
uint32_t sqz_huff64_segment_avx512(size_t es, const uint32_t *tab, const uint16_t *cx, void *z, uint64_t x0,
                                   uint64_t len, uint32_t *xs, const uint8_t **p);
/* The encoder's pushes for a row segment (backward), from idx (context * 128 + token) and the
 * values z; ent[idx] = code | length << 16; words go below w[group] (room checked by the caller). */
void sqz_huff64_encode_avx512(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, uint64_t x0,
                              uint64_t len, uint32_t *xs, uint16_t **w);
/* The same two loops with AVX2, for segments that start a step (x0 a multiple of 16). */
uint32_t sqz_huff64_segment_avx2(size_t es, const uint32_t *tab, const uint8_t *cx, void *z, uint64_t x0,
                                 uint64_t len, uint32_t *xs, const uint8_t **p);
void sqz_huff64_encode_avx2(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, uint64_t x0,
                            uint64_t len, uint32_t *xs, uint16_t **w);

#endif
