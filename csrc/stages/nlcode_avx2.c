/* nlcode_model.h built with -mavx2 (chosen at run time by nlcode.c). */
#include <immintrin.h>

#include "nlcode_model.h"

static inline int prep8_avx2(const uint16_t *v, uint64_t X, uint64_t t0, int32_t *P, int32_t *G, int32_t *N, __m256i lim)
{
    const uint16_t *u = v - X + t0, *uu = v - 2 * X + t0;
#define LD(p) _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))
    const __m256i nww = LD(u - 2), nw = LD(u - 1), n = LD(u), ne = LD(u + 1), nee = LD(u + 2), nn = LD(uu);
#undef LD
    const __m256i s3 = _mm256_add_epi32(_mm256_add_epi32(n, ne), nee);
    __m256i p = _mm256_add_epi32(_mm256_add_epi32(s3, _mm256_slli_epi32(s3, 1)), nw);
    p = _mm256_sub_epi32(_mm256_sub_epi32(p, _mm256_add_epi32(nn, nn)), nww);
    const __m256i g = _mm256_add_epi32(_mm256_add_epi32(_mm256_abs_epi32(_mm256_sub_epi32(n, nw)),
                                                        _mm256_abs_epi32(_mm256_sub_epi32(n, ne))),
                                       _mm256_abs_epi32(_mm256_sub_epi32(n, nn)));
    _mm256_storeu_si256((__m256i *)(void *)P, p);
    _mm256_storeu_si256((__m256i *)(void *)G, g);
    _mm256_storeu_si256((__m256i *)(void *)N, nw);
    return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_or_si256(p, _mm256_sub_epi32(lim, p))));
}

int sqz_nlcode_prep_pair_avx2(const uint16_t *va, uint64_t xa, const uint16_t *vb, uint64_t j, uint64_t X, int32_t lim,
                              nl_pair_blk *q)
{
    const __m256i l = _mm256_set1_epi32(lim);
    const int a = prep8_avx2(va, X, xa, q->pa, q->ga, q->na, l), b = prep8_avx2(vb, X, j, q->pb, q->gb, q->nb, l);
    return (a | b) != 0;
}

void sqz_nlcode_model_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx,
                               uint16_t *zo)
{
    if (mask == 0xFF) nl_model_row(v, X, t0, t1, 0xFF, cx, zo);
    else nl_model_row(v, X, t0, t1, 0xFFFF, cx, zo);
}
