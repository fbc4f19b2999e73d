/* huff64's two lane loops with AVX2: a group's 16 lanes in two vectors of 8; a row's partial
 * last step runs with its missing lanes masked to entry 0. AVX2 has no vpexpandd or vpcompressd, so
 * refills and pushes move words with vpermd and an index table per 8-lane mask. Same bytes and
 * output as the scalar code in huff.c (tests/test_huff64.py). Built with -mavx2. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "huff.h"

#define LBITS SQZ_HUFF64_LBITS

/* Per 8-lane mask m, eight 4-bit lane indices: expand[m] puts word r in the lane of the r-th set
 * bit; pack[m] puts the lanes of the set bits, in order, at the top (lanes 8 - popcount .. 7). */
static uint32_t g_expand[256], g_pack[256];

__attribute__((constructor)) static void make_tables(void)
{
    for (unsigned m = 0; m < 256; m++) {
        const unsigned cnt = (unsigned)__builtin_popcount(m);
        uint32_t e = 0, k = 0, pk = 0;
        for (unsigned i = 0; i < 8; i++)
            if (m >> i & 1) {
                e |= k << (4 * i);
                pk |= i << (4 * (8 - cnt + k));
                k++;
            }
        g_expand[m] = e;
        g_pack[m] = pk;
    }
}

static inline __m256i lane_indices(uint32_t nibbles)
{
    return _mm256_srlv_epi32(_mm256_set1_epi32((int)nibbles), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
}

/* Lanes below 2^16 take the next words of the stream, in lane order. */
static inline __m256i refill(__m256i x, const uint8_t **p)
{
    const __m256i low = _mm256_cmpeq_epi32(_mm256_srli_epi32(x, 16), _mm256_setzero_si256());
    const unsigned m = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(low));
    const __m256i words = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)*p));
    const __m256i w = _mm256_permutevar8x32_epi32(words, lane_indices(g_expand[m]));
    *p += 2 * (unsigned)__builtin_popcount(m);
    return _mm256_blendv_epi8(x, _mm256_or_si256(_mm256_slli_epi32(x, 16), w), low);
}

/* Lanes [0, n) of a group's two vectors */
static inline void live_lanes(unsigned n, __m256i *ma, __m256i *mb)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    *ma = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
    *mb = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n - 8), lane);
}

/* Code of 8 lanes: the table entry (length | base << 8 | extra bits << 24), state shifted, refilled.
 * Lanes outside live take entry 0: no bits, no refill (a state is >= 2^16 between steps). */
static inline __m256i code8(__m256i *x, const uint32_t *tab, const uint8_t *cx, const uint8_t **p, __m256i live)
{
    const __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)cx));
    const __m256i idx = _mm256_or_si256(_mm256_slli_epi32(c, LBITS), _mm256_and_si256(*x, _mm256_set1_epi32((1 << LBITS) - 1)));
    const __m256i e = _mm256_and_si256(_mm256_i32gather_epi32((const int *)(const void *)tab, idx, 4), live);
    *x = refill(_mm256_srlv_epi32(*x, _mm256_and_si256(e, _mm256_set1_epi32(31))), p);
    return e;
}

/* Value of 8 lanes: the entry's base plus its extra bits from the state, refilled. */
static inline __m256i value8(__m256i *x, __m256i e, const uint8_t **p)
{
    const __m256i xb = _mm256_srli_epi32(e, 24);
    const __m256i r = _mm256_andnot_si256(_mm256_sllv_epi32(_mm256_set1_epi32(-1), xb), *x);
    *x = refill(_mm256_srlv_epi32(*x, xb), p);
    return _mm256_add_epi32(_mm256_srli_epi32(e, 8), r);
}

/* 16 values (low bits of two vectors of 8) to z */
static inline void store16(size_t es, void *z, __m256i a, __m256i b)
{
    const __m256i lo = _mm256_set1_epi32(es == 1 ? 0xFF : 0xFFFF);
    const __m256i v = _mm256_permute4x64_epi64(_mm256_packus_epi32(_mm256_and_si256(a, lo), _mm256_and_si256(b, lo)), 0xD8);
    if (es == 1)
        _mm_storeu_si128((__m128i *)z, _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
    else
        _mm256_storeu_si256((__m256i *)z, v);
}

#define STEP(XA, XB, G)                                                                                  \
    do {                                                                                                 \
        const int64_t o = 16 * (int64_t)(4 * q + G) - (int64_t)x0;                                       \
        if (o < 0 || o >= (int64_t)len) break;                                                           \
        const __m256i ea = code8(&XA, tab, cx + o, &p[G], all), eb = code8(&XB, tab, cx + o + 8, &p[G], all); \
        acc = _mm256_or_si256(acc, _mm256_or_si256(ea, eb));                                             \
        const __m256i va = value8(&XA, ea, &p[G]);                                                       \
        store16(es, (uint8_t *)z + o * (int64_t)es, va, value8(&XB, eb, &p[G]));                         \
    } while (0)

static inline __attribute__((always_inline)) uint32_t
segment(size_t es, const uint32_t *tab, const uint8_t *cx, void *z, uint64_t x0, uint64_t len, uint32_t *xs,
        const uint8_t **p)
{
    const uint64_t tail = len % 16;
    const __m256i all = _mm256_set1_epi32(-1);
    __m256i x[8], acc = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++) x[i] = _mm256_loadu_si256((const __m256i *)(const void *)(xs + 8 * i));
    __m256i x0a = x[0], x0b = x[1], x1a = x[2], x1b = x[3], x2a = x[4], x2b = x[5], x3a = x[6], x3b = x[7];
    len -= tail;
    for (uint64_t q = x0 >> 6; 64 * q < x0 + len; q++) {
        STEP(x0a, x0b, 0);
        STEP(x1a, x1b, 1);
        STEP(x2a, x2b, 2);
        STEP(x3a, x3b, 3);
    }
    x[0] = x0a; x[1] = x0b; x[2] = x1a; x[3] = x1b; x[4] = x2a; x[5] = x2b; x[6] = x3a; x[7] = x3b;
    if (tail) {  /* through small buffers: the contexts and values end at the row's end */
        const unsigned g = (unsigned)((x0 + len) >> 4) & 3;
        uint8_t c[16] = {0}, v[32];
        __m256i ma, mb;
        memcpy(c, cx + len, tail);
        live_lanes((unsigned)tail, &ma, &mb);
        const __m256i ea = code8(&x[2 * g], tab, c, &p[g], ma), eb = code8(&x[2 * g + 1], tab, c + 8, &p[g], mb);
        acc = _mm256_or_si256(acc, _mm256_or_si256(ea, eb));
        const __m256i va = value8(&x[2 * g], ea, &p[g]);
        store16(es, v, va, value8(&x[2 * g + 1], eb, &p[g]));
        memcpy((uint8_t *)z + len * es, v, tail * es);
    }
    for (int i = 0; i < 8; i++) _mm256_storeu_si256((__m256i *)(void *)(xs + 8 * i), x[i]);
    uint32_t v[8];
    _mm256_storeu_si256((__m256i *)(void *)v, acc);
    return v[0] | v[1] | v[2] | v[3] | v[4] | v[5] | v[6] | v[7];
}

uint32_t sqz_huff64_segment_avx2(size_t es, const uint32_t *tab, const uint8_t *cx, void *z, uint64_t x0,
                                 uint64_t len, uint32_t *xs, const uint8_t **p)
{
    return es == 1 ? segment(1, tab, cx, z, x0, len, xs, p) : segment(2, tab, cx, z, x0, len, xs, p);
}

/* The low 16 bits of the lanes in m, in lane order, as the top words of 8 */
static inline __m128i packed_words(__m256i x, unsigned m)
{
    const __m256i lo16 = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
                                          0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i v = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(x, lane_indices(g_pack[m])), lo16);
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(v, 0x08));
}

/* nb bits onto the 16 states (a: lanes 0-7, b: 8-15); words of lanes that would overflow go out
 * first, in lane order, just below *w. Stores of 8 words reach below the new *w, which is free. */
static inline void push(__m256i *xa, __m256i *xb, __m256i ba, __m256i bb, __m256i na, __m256i nb, uint16_t **w)
{
    const __m256i c32 = _mm256_set1_epi32(32), zero = _mm256_setzero_si256();
    const __m256i keepa = _mm256_cmpeq_epi32(_mm256_srlv_epi32(*xa, _mm256_sub_epi32(c32, na)), zero);
    const __m256i keepb = _mm256_cmpeq_epi32(_mm256_srlv_epi32(*xb, _mm256_sub_epi32(c32, nb)), zero);
    const unsigned ma = ~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(keepa)) & 0xFF;
    const unsigned mb = ~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(keepb)) & 0xFF;
    const unsigned cb = (unsigned)__builtin_popcount(mb);
    _mm_storeu_si128((__m128i *)(void *)(*w - 8), packed_words(*xb, mb));
    _mm_storeu_si128((__m128i *)(void *)(*w - cb - 8), packed_words(*xa, ma));
    *w -= cb + (unsigned)__builtin_popcount(ma);
    *xa = _mm256_blendv_epi8(_mm256_srli_epi32(*xa, 16), *xa, keepa);
    *xb = _mm256_blendv_epi8(_mm256_srli_epi32(*xb, 16), *xb, keepb);
    *xa = _mm256_or_si256(_mm256_sllv_epi32(*xa, na), ba);
    *xb = _mm256_or_si256(_mm256_sllv_epi32(*xb, nb), bb);
}

/* An element's extra-bit count from its index (context * 128 + token) */
static inline __m256i extra_bits8(__m256i ix)
{
    const __m256i t = _mm256_and_si256(ix, _mm256_set1_epi32(127)), c16 = _mm256_set1_epi32(16);
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(c16, t),
                               _mm256_add_epi32(_mm256_srli_epi32(_mm256_sub_epi32(t, c16), 2), _mm256_set1_epi32(2)));
}

static inline __m256i load8(size_t es, const void *z)
{
    return es == 1 ? _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)z))
                   : _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)z));
}

/* One step of a group: extra bits, then codes, of the 16 elements at idx and z. Lanes outside
 * (ma, mb) push nothing. */
static inline __attribute__((always_inline)) void
estep(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, __m256i *xa, __m256i *xb, __m256i ma,
      __m256i mb, uint16_t **w)
{
    const __m256i ones = _mm256_set1_epi32(-1), lo16 = _mm256_set1_epi32(0xFFFF), lo8 = _mm256_set1_epi32(0xFF);
    const __m256i ia = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)idx));
    const __m256i ib = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(idx + 8)));
    const __m256i xba = _mm256_and_si256(extra_bits8(ia), ma), xbb = _mm256_and_si256(extra_bits8(ib), mb);
    const __m256i za = load8(es, z), zb = load8(es, (const uint8_t *)z + 8 * es);
    push(xa, xb, _mm256_andnot_si256(_mm256_sllv_epi32(ones, xba), za), _mm256_andnot_si256(_mm256_sllv_epi32(ones, xbb), zb),
         xba, xbb, w);
    const __m256i ea = _mm256_and_si256(_mm256_i32gather_epi32((const int *)(const void *)ent, ia, 4), ma);
    const __m256i eb = _mm256_and_si256(_mm256_i32gather_epi32((const int *)(const void *)ent, ib, 4), mb);
    push(xa, xb, _mm256_and_si256(ea, lo16), _mm256_and_si256(eb, lo16), _mm256_and_si256(_mm256_srli_epi32(ea, 16), lo8),
         _mm256_and_si256(_mm256_srli_epi32(eb, 16), lo8), w);
}

#define ESTEP(XA, XB, G)                                                                                 \
    do {                                                                                                 \
        const int64_t o = 16 * (int64_t)(4 * q + G) - (int64_t)x0;                                       \
        if (o < 0 || o >= (int64_t)len) break;                                                           \
        estep(es, ent, idx + o, (const uint8_t *)z + o * (int64_t)es, &XA, &XB, all, all, &w[G]);       \
    } while (0)

static inline __attribute__((always_inline)) void
encode(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, uint64_t x0, uint64_t len, uint32_t *xs,
       uint16_t **w)
{
    const uint64_t tail = len % 16;
    const __m256i all = _mm256_set1_epi32(-1);
    __m256i x[8];
    for (int i = 0; i < 8; i++) x[i] = _mm256_loadu_si256((const __m256i *)(const void *)(xs + 8 * i));
    len -= tail;
    if (tail) {  /* the row's partial last step goes first, from small buffers */
        const unsigned g = (unsigned)((x0 + len) >> 4) & 3;
        uint16_t ix[16] = {0};
        uint8_t v[32] = {0};
        __m256i ma, mb;
        memcpy(ix, idx + len, tail * sizeof *ix);
        memcpy(v, (const uint8_t *)z + len * es, tail * es);
        live_lanes((unsigned)tail, &ma, &mb);
        estep(es, ent, ix, v, &x[2 * g], &x[2 * g + 1], ma, mb, &w[g]);
    }
    if (len) {
        __m256i x0a = x[0], x0b = x[1], x1a = x[2], x1b = x[3], x2a = x[4], x2b = x[5], x3a = x[6], x3b = x[7];
        for (uint64_t q = (x0 + len - 1) >> 6;; q--) {
            ESTEP(x3a, x3b, 3);
            ESTEP(x2a, x2b, 2);
            ESTEP(x1a, x1b, 1);
            ESTEP(x0a, x0b, 0);
            if (64 * q <= x0) break;
        }
        x[0] = x0a; x[1] = x0b; x[2] = x1a; x[3] = x1b; x[4] = x2a; x[5] = x2b; x[6] = x3a; x[7] = x3b;
    }
    for (int i = 0; i < 8; i++) _mm256_storeu_si256((__m256i *)(void *)(xs + 8 * i), x[i]);
}

void sqz_huff64_encode_avx2(size_t es, const uint32_t *ent, const uint16_t *idx, const void *z, uint64_t x0,
                            uint64_t len, uint32_t *xs, uint16_t **w)
{
    if (es == 1) encode(1, ent, idx, z, x0, len, xs, w);
    else encode(2, ent, idx, z, x0, len, xs, w);
}
