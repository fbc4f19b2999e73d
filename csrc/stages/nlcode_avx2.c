/* nlcode_model.h built with -mavx2 (chosen at run time by nlcode.c). */
#include <immintrin.h>

#include "nlcode_model.h"

void sqz_nlcode_prep_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, int32_t *P, int32_t *G, int32_t *N)
{
    nl_prep_row(v, X, t0, t1, P, G, N);
}

/* nl_model_row for 16-bit data, 16 elements at a time: the prediction in 32-bit lanes, the rest in
 * 16-bit lanes (the activity sum saturates, which keeps its class); same results as the C code. */
static void model_row16(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint8_t *cx, uint16_t *zo)
{
    const uint16_t *u = v - X, *uu = v - 2 * X;
    const __m256i zero = _mm256_setzero_si256(), top = _mm256_set1_epi32(16 * 0xFFFF), low4 = _mm256_set1_epi32(15);
    static const int16_t thr[11] = {1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45};
    uint64_t t = t0;
    for (; t + 16 <= t1; t += 16) {
#define LD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
        const __m256i W = LD(v + t - 1), WW = LD(v + t - 2), V = LD(v + t), N = LD(u + t), NW = LD(u + t - 1),
                      NE = LD(u + t + 1), NEE = LD(u + t + 2), NWW = LD(u + t - 2), NN = LD(uu + t);
#undef LD
        __m256i sh[2];
        for (int h = 0; h < 2; h++) {
#define W32(a) (h ? _mm256_unpackhi_epi16((a), zero) : _mm256_unpacklo_epi16((a), zero))
            const __m256i w = W32(W), t3 = _mm256_add_epi32(_mm256_add_epi32(W32(N), W32(NE)), _mm256_add_epi32(W32(WW), W32(NEE)));
            __m256i sp = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(w, 2), _mm256_slli_epi32(w, 1)),
                                          _mm256_add_epi32(t3, _mm256_slli_epi32(t3, 1)));
            sp = _mm256_sub_epi32(_mm256_add_epi32(sp, W32(NW)), _mm256_add_epi32(_mm256_slli_epi32(W32(NN), 1), W32(NWW)));
#undef W32
            sh[h] = sp;
        }
        /* fp = clamp(s) >> 4 (packus saturates); f = s & 15, 0 where s was clamped */
        const __m256i fp = _mm256_packus_epi32(_mm256_srai_epi32(sh[0], 4), _mm256_srai_epi32(sh[1], 4));
        const __m256i out0 = _mm256_or_si256(_mm256_cmpgt_epi32(zero, sh[0]), _mm256_cmpgt_epi32(sh[0], top));
        const __m256i out1 = _mm256_or_si256(_mm256_cmpgt_epi32(zero, sh[1]), _mm256_cmpgt_epi32(sh[1], top));
        const __m256i f = _mm256_andnot_si256(_mm256_packs_epi32(out0, out1),
                                              _mm256_packus_epi32(_mm256_and_si256(sh[0], low4), _mm256_and_si256(sh[1], low4)));
        const __m256i mir = _mm256_cmpgt_epi16(f, _mm256_set1_epi16(8));
        const __m256i fm = _mm256_blendv_epi8(f, _mm256_sub_epi16(_mm256_set1_epi16(16), f), mir);
#define AD(a, b) _mm256_or_si256(_mm256_subs_epu16((a), (b)), _mm256_subs_epu16((b), (a)))
        __m256i g = _mm256_adds_epu16(_mm256_adds_epu16(AD(W, NW), AD(N, NW)), _mm256_adds_epu16(AD(N, NE), AD(W, WW)));
        g = _mm256_min_epu16(_mm256_adds_epu16(g, AD(N, NN)), _mm256_set1_epi16(45));
#undef AD
        __m256i act = zero;
        for (int i = 0; i < 11; i++) act = _mm256_sub_epi16(act, _mm256_cmpgt_epi16(g, _mm256_set1_epi16((int16_t)(thr[i] - 1))));
        const __m256i ctx = _mm256_add_epi16(_mm256_mullo_epi16(fm, _mm256_set1_epi16(12)), act);
        const __m256i c8 = _mm256_permute4x64_epi64(_mm256_packus_epi16(ctx, ctx), 0x08);
        _mm_storeu_si128((__m128i *)(void *)(cx + t), _mm256_castsi256_si128(c8));
        const __m256i r = _mm256_blendv_epi8(_mm256_sub_epi16(V, fp),
                                             _mm256_sub_epi16(_mm256_add_epi16(fp, _mm256_set1_epi16(1)), V), mir);
        const __m256i z = _mm256_xor_si256(_mm256_slli_epi16(r, 1), _mm256_srai_epi16(r, 15));
        _mm256_storeu_si256((__m256i *)(void *)(zo + t), z);
    }
    nl_model_row(v, X, t, t1, 0xFFFF, cx, zo);
}

void sqz_nlcode_model_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx,
                               uint16_t *zo)
{
    if (mask == 0xFF) nl_model_row(v, X, t0, t1, 0xFF, cx, zo);
    else model_row16(v, X, t0, t1, cx, zo);
}
