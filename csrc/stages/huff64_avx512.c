/* huff64's decoder with AVX-512: the 16 lanes of a group in one vector, the four groups' chains
 * interleaved, table look-ups by gather, refills by vpexpandd from the group's word stream.
 * Same output as the scalar decoder in huff.c (tests/test_huff64.py). */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "huff.h"

#define LBITS SQZ_HUFF64_LBITS

static inline __m512i refill(__m512i x, __mmask16 live, const uint8_t **p)
{
    const __mmask16 low = _mm512_mask_cmplt_epu32_mask(live, x, _mm512_set1_epi32(1 << 16));
    const __m512i w = _mm512_maskz_expand_epi32(low, _mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)*p)));
    *p += 2 * (unsigned)__builtin_popcount(low);
    return _mm512_mask_or_epi32(x, low, _mm512_slli_epi32(x, 16), w);
}

/* The lanes of step (q, g) inside the row segment [x0, x0 + len), and the step's first column as a
 * segment offset (negative when the segment starts inside the step). */
static inline __mmask16 step_lanes(uint64_t q, unsigned g, uint64_t x0, uint64_t len, int64_t *o)
{
    *o = 16 * (int64_t)(4 * q + g) - (int64_t)x0;
    const int64_t lo = *o < 0 ? -*o : 0, hi = (int64_t)len - *o < 16 ? (int64_t)len - *o : 16;
    return hi <= lo ? 0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* One step of one group: the lanes in `live`, columns o .. o+15 of the segment. */
static inline __attribute__((always_inline)) __m512i
step(size_t es, __m512i x, __mmask16 live, int64_t o, const uint32_t *tab, const uint16_t *cx, void *z,
     const uint8_t **p, __m512i *acc)
{
    const __m512i slot = _mm512_set1_epi32((1 << LBITS) - 1), m31 = _mm512_set1_epi32(31);
    const __m512i c = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(live, cx + o));
    const __m512i idx = _mm512_ternarylogic_epi32(c, x, slot, 0xD0);  /* c & (~slot | x): slot, and x's low bits */
    const __m512i e = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, idx, (const void *)tab, 4);
    *acc = _mm512_or_si512(*acc, e);
    x = _mm512_mask_srlv_epi32(x, live, x, _mm512_and_si512(e, m31));
    x = refill(x, live, p);
    const __m512i xb = _mm512_srli_epi32(e, 24);
    const __m512i r = _mm512_andnot_si512(_mm512_sllv_epi32(_mm512_set1_epi32(-1), xb), x);
    x = _mm512_mask_srlv_epi32(x, live, x, xb);
    x = refill(x, live, p);
    const __m512i v = _mm512_add_epi32(_mm512_srli_epi32(e, 8), r);  /* stored truncated */
    if (es == 1) _mm_mask_storeu_epi8((uint8_t *)z + o, live, _mm512_cvtepi32_epi8(v));
    else _mm256_mask_storeu_epi16((uint16_t *)z + o, live, _mm512_cvtepi32_epi16(v));
    return x;
}

/* Steps q with all 64 lanes inside the segment run without masks; the first and last with them. */
static inline __attribute__((always_inline)) uint32_t
segment(size_t es, const uint32_t *tab, const uint16_t *cx, void *z, uint64_t x0, uint64_t len, uint32_t *xs,
        const uint8_t **p)
{
    __m512i x_0 = _mm512_loadu_si512(xs), x_1 = _mm512_loadu_si512(xs + 16), x_2 = _mm512_loadu_si512(xs + 32),
            x_3 = _mm512_loadu_si512(xs + 48), acc = _mm512_setzero_si512();
    const uint8_t *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];
    const uint64_t q0 = x0 >> 6, q1 = (x0 + len + 63) >> 6;      /* the steps */
    const uint64_t f0 = (x0 + 63) >> 6, f1 = (x0 + len) >> 6;     /* the full ones: [f0, f1) */
    for (uint64_t q = q0; q < q1; q++) {
        if (q >= f0 && q < f1) {
            const int64_t o = 64 * (int64_t)q - (int64_t)x0;
            x_0 = step(es, x_0, 0xFFFF, o, tab, cx, z, &p0, &acc);
            x_1 = step(es, x_1, 0xFFFF, o + 16, tab, cx, z, &p1, &acc);
            x_2 = step(es, x_2, 0xFFFF, o + 32, tab, cx, z, &p2, &acc);
            x_3 = step(es, x_3, 0xFFFF, o + 48, tab, cx, z, &p3, &acc);
            continue;
        }
        int64_t o;
        __mmask16 live;
        if ((live = step_lanes(q, 0, x0, len, &o))) x_0 = step(es, x_0, live, o, tab, cx, z, &p0, &acc);
        if ((live = step_lanes(q, 1, x0, len, &o))) x_1 = step(es, x_1, live, o, tab, cx, z, &p1, &acc);
        if ((live = step_lanes(q, 2, x0, len, &o))) x_2 = step(es, x_2, live, o, tab, cx, z, &p2, &acc);
        if ((live = step_lanes(q, 3, x0, len, &o))) x_3 = step(es, x_3, live, o, tab, cx, z, &p3, &acc);
    }
    p[0] = p0; p[1] = p1; p[2] = p2; p[3] = p3;
    _mm512_storeu_si512(xs, x_0);
    _mm512_storeu_si512(xs + 16, x_1);
    _mm512_storeu_si512(xs + 32, x_2);
    _mm512_storeu_si512(xs + 48, x_3);
    return (uint32_t)_mm512_reduce_or_epi32(acc);
}

uint32_t sqz_huff64_segment_avx512(size_t es, const uint32_t *tab, const uint16_t *cx, void *z, uint64_t x0,
                                   uint64_t len, uint32_t *xs, const uint8_t **p)
{
    return es == 1 ? segment(1, tab, cx, z, x0, len, xs, p) : segment(2, tab, cx, z, x0, len, xs, p);
}

/* nb bits (nb <= 16) onto the states of the lanes in live; words of lanes that would overflow go
 * out first, in lane order, just below *w. */
static inline __m512i push(__m512i x, __mmask16 live, __m512i bits, __m512i nb, uint16_t **w)
{
    const __m512i room = _mm512_srlv_epi32(x, _mm512_sub_epi32(_mm512_set1_epi32(32), nb));
    const __mmask16 out = _mm512_mask_test_epi32_mask(live, room, room);
    const unsigned cnt = (unsigned)__builtin_popcount(out);
    *w -= cnt;
    _mm256_mask_storeu_epi16(*w, (__mmask16)((1u << cnt) - 1), _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(out, x)));
    x = _mm512_mask_srli_epi32(x, out, x, 16);
    return _mm512_mask_or_epi32(x, live, _mm512_sllv_epi32(x, nb), bits);
}

/* Extra bits of 16 indices (context << 7 | token): 1-byte types' 32 tokens by one look-up in xb8
 * (ix's low 5 bits), else (t - 16) / 4 + 2 from token 16 on. */
static inline __m512i extra_bits16(size_t es, __m512i ix, const __m512i xb8[2])
{
    if (es == 1) return _mm512_permutex2var_epi32(xb8[0], ix, xb8[1]);
    const __m512i t = _mm512_and_si512(ix, _mm512_set1_epi32(127)), c16 = _mm512_set1_epi32(16);
    return _mm512_maskz_add_epi32(_mm512_cmpge_epu32_mask(t, c16), _mm512_srli_epi32(_mm512_sub_epi32(t, c16), 2),
                                  _mm512_set1_epi32(2));
}

/* One encoder step of one group (backward: extra bits, then the code). */
static inline __attribute__((always_inline)) __m512i
estep(size_t es, __m512i x, __mmask16 live, int64_t o, const uint32_t *ent, const uint16_t *idx, const void *z,
      uint16_t **w, const __m512i xb8[2])
{
    const __m512i ix = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(live, idx + o));
    const __m512i zv = es == 1 ? _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(live, (const uint8_t *)z + o))
                               : _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(live, (const uint16_t *)z + o));
    const __m512i xb = extra_bits16(es, ix, xb8);
    const __m512i e = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, ix, (const void *)ent, 4);
    x = push(x, live, _mm512_andnot_si512(_mm512_sllv_epi32(_mm512_set1_epi32(-1), xb), zv), xb, w);
    return push(x, live, _mm512_and_si512(e, _mm512_set1_epi32(0xFFFF)),
                _mm512_and_si512(_mm512_srli_epi32(e, 16), _mm512_set1_epi32(0xFF)), w);
}

static inline __attribute__((always_inline)) void
encode(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, uint64_t x0, uint64_t len, uint32_t *xs,
       uint16_t **w)
{
    __m512i x_0 = _mm512_loadu_si512(xs), x_1 = _mm512_loadu_si512(xs + 16), x_2 = _mm512_loadu_si512(xs + 32),
            x_3 = _mm512_loadu_si512(xs + 48);
    uint16_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    /* extra bits of tokens 0-15, 16-31 */
    const __m512i xb8[2] = {_mm512_setzero_si512(), _mm512_set_epi32(5, 5, 5, 5, 4, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2)};
    const uint64_t f0 = (x0 + 63) >> 6, f1 = (x0 + len) >> 6;  /* steps with all 64 lanes: [f0, f1) */
    for (uint64_t q = (x0 + len - 1) >> 6;; q--) {
        if (q >= f0 && q < f1) {
            const int64_t o = 64 * (int64_t)q - (int64_t)x0;
            x_3 = estep(es, x_3, 0xFFFF, o + 48, ent, idx, z, &w3, xb8);
            x_2 = estep(es, x_2, 0xFFFF, o + 32, ent, idx, z, &w2, xb8);
            x_1 = estep(es, x_1, 0xFFFF, o + 16, ent, idx, z, &w1, xb8);
            x_0 = estep(es, x_0, 0xFFFF, o, ent, idx, z, &w0, xb8);
        } else {
            int64_t o;
            __mmask16 live;
            if ((live = step_lanes(q, 3, x0, len, &o))) x_3 = estep(es, x_3, live, o, ent, idx, z, &w3, xb8);
            if ((live = step_lanes(q, 2, x0, len, &o))) x_2 = estep(es, x_2, live, o, ent, idx, z, &w2, xb8);
            if ((live = step_lanes(q, 1, x0, len, &o))) x_1 = estep(es, x_1, live, o, ent, idx, z, &w1, xb8);
            if ((live = step_lanes(q, 0, x0, len, &o))) x_0 = estep(es, x_0, live, o, ent, idx, z, &w0, xb8);
        }
        if (64 * q <= x0) break;
    }
    w[0] = w0; w[1] = w1; w[2] = w2; w[3] = w3;
    _mm512_storeu_si512(xs, x_0);
    _mm512_storeu_si512(xs + 16, x_1);
    _mm512_storeu_si512(xs + 32, x_2);
    _mm512_storeu_si512(xs + 48, x_3);
}

void sqz_huff64_encode_avx512(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, uint64_t x0,
                              uint64_t len, uint32_t *xs, uint16_t **w)
{
    if (es == 1) encode(1, ent, idx, z, x0, len, xs, w);
    else encode(2, ent, idx, z, x0, len, xs, w);
}
