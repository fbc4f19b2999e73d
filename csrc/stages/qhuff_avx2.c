/* qhuff's AVX2 kernels: levels of a row from the row above, and the fast decoder's rows (BMI2's pdep
 * places 8 elements' remainder bits at once). Same results as the scalar code in qhuff.c. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "qhuff.h"

static inline __m256i widen8(size_t es, const uint8_t *p)
{
    return es == 1 ? _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p))
                   : _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* levels of 8 elements from the row above at byte p (element x - 2 .. x + 9): the float's exponent
 * and two mantissa bits of a + 1 (exact below 2^24) */
static inline __m256i level8(size_t es, const uint8_t *p)
{
    const __m256i c = widen8(es, p + 2 * es);
    __m256i a = _mm256_add_epi32(_mm256_add_epi32(c, c), _mm256_add_epi32(widen8(es, p + es), widen8(es, p + 3 * es)));
    a = _mm256_add_epi32(a, _mm256_add_epi32(widen8(es, p), widen8(es, p + 4 * es)));
    a = _mm256_add_epi32(a, _mm256_set1_epi32(1));
    const __m256i l = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(a)), 21),
                                       _mm256_set1_epi32(127 << 2));
    return _mm256_min_epi32(l, _mm256_set1_epi32(63));
}

size_t sqz_qh_levels_avx2(size_t es, const void *up, uint8_t *lv, size_t j1)
{
    const uint8_t *u = up;
    if (j1 < 18) return 2;
    for (size_t j = 2;; j += 16) {
        if (j + 16 > j1) j = j1 - 16;  /* the last group overlaps the one before */
        const __m256i a = level8(es, u + (j - 2) * es), b = level8(es, u + (j + 6) * es);
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
        _mm_storeu_si128((__m128i *)(void *)(lv + j), _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
        if (j + 16 == j1) return j1;
    }
}

/* kk[j] = kt[lv[j]] (levels 0..64) for whole groups of 32, their sum added to *sum; returns the elements done */
size_t sqz_qh_lookup_avx2(const uint8_t *kt, const uint8_t *lv, uint8_t *kk, size_t n, uint64_t *sum)
{
    __m256i acc = _mm256_setzero_si256();
    __m256i t[4];
    for (int i = 0; i < 4; i++) t[i] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(kt + 16 * i)));
    const __m256i first = _mm256_set1_epi8((char)kt[64]), c64 = _mm256_set1_epi8(64), c15 = _mm256_set1_epi8(15);
    size_t j = 0;
    for (; j + 32 <= n; j += 32) {
        const __m256i L = _mm256_loadu_si256((const __m256i *)(const void *)(lv + j));
        const __m256i i4 = _mm256_and_si256(L, c15), b4 = _mm256_slli_epi16(L, 3), b5 = _mm256_slli_epi16(L, 2);
        const __m256i r01 = _mm256_blendv_epi8(_mm256_shuffle_epi8(t[0], i4), _mm256_shuffle_epi8(t[1], i4), b4);
        const __m256i r23 = _mm256_blendv_epi8(_mm256_shuffle_epi8(t[2], i4), _mm256_shuffle_epi8(t[3], i4), b4);
        const __m256i r = _mm256_blendv_epi8(_mm256_blendv_epi8(r01, r23, b5), first, _mm256_cmpeq_epi8(L, c64));
        _mm256_storeu_si256((__m256i *)(void *)(kk + j), r);
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(r, _mm256_setzero_si256()));
    }
    const __m128i a = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    *sum += (uint64_t)_mm_cvtsi128_si64(a) + (uint64_t)_mm_extract_epi64(a, 1);
    return j;
}

/* bit i of the result: q[i] == 32 (i < 32 and i < n) */
uint32_t sqz_qh_escapes_avx2(const uint8_t *q, size_t n)
{
    uint32_t m = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)q),
                                                                  _mm256_set1_epi8(SQZ_QH_ESC)));
    return n >= 32 ? m : m & ((1u << n) - 1);
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The remainder masks (1 << k) - 1 of 8 shifts k (bytes of k8): one byte per element when every
 * k <= 7, else 16 bits per element in two words of four. The decoder's pdep and the encoder's pext
 * use the same masks. */
static inline int bytes_suffice(uint64_t k8) { return !(k8 & 0x0808080808080808ull); }

static inline uint64_t byte_masks(__m128i k16)
{
    const __m128i lo = _mm_setr_epi8(0, 1, 3, 7, 15, 31, 63, 127, -1, -1, -1, -1, -1, -1, -1, -1);
    return (uint64_t)_mm_cvtsi128_si64(_mm_shuffle_epi8(lo, k16));
}

static inline void word_masks(__m128i k16, uint64_t *m0, uint64_t *m1)
{
    const __m128i lo = _mm_setr_epi8(0, 1, 3, 7, 15, 31, 63, 127, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i hi = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 7, 15, 31, 63, 127);
    const __m128i mw = _mm_unpacklo_epi8(_mm_shuffle_epi8(lo, k16), _mm_shuffle_epi8(hi, k16));
    *m0 = (uint64_t)_mm_cvtsi128_si64(mw);
    *m1 = (uint64_t)_mm_extract_epi64(mw, 1);
}

__attribute__((target("bmi,bmi2"))) static size_t rows_avx2(size_t es, const uint8_t *q, const uint8_t *k, const uint8_t *rem,
                                                             uint64_t *off, void *z, size_t n)
{
    const __m256i q31 = _mm256_set1_epi32(31);
    uint64_t o = *off;
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const uint64_t kk = rd64(k + j);
        const __m128i k16 = _mm_cvtsi64_si128((long long)kk);
        uint64_t o2 = o;
        __m256i r;
        if (bytes_suffice(kk)) {
            const uint64_t m = byte_masks(k16);
            r = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)_pdep_u64(rd64(rem + (o2 >> 3)) >> (o2 & 7), m)));
            o2 += (uint64_t)__builtin_popcountll(m);
        } else {
            uint64_t m0, m1;
            word_masks(k16, &m0, &m1);
            const uint64_t r0 = _pdep_u64(rd64(rem + (o2 >> 3)) >> (o2 & 7), m0);
            o2 += (uint64_t)__builtin_popcountll(m0);
            const uint64_t r1 = _pdep_u64(rd64(rem + (o2 >> 3)) >> (o2 & 7), m1);
            o2 += (uint64_t)__builtin_popcountll(m1);
            r = _mm256_cvtepu16_epi32(_mm_set_epi64x((long long)r1, (long long)r0));
        }
        /* escapes (q = 32) keep only their remainder here; qhuff.c adds the rest */
        const __m256i q8 = _mm256_and_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(q + j))), q31);
        const __m256i v = _mm256_or_si256(_mm256_sllv_epi32(q8, _mm256_cvtepu8_epi32(k16)), r);
        const __m128i v16 = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        if (es == 1) {
            const __m128i v8 = _mm_packus_epi16(v16, v16);
            if (!_mm_testz_si128(v16, _mm_set1_epi16((short)0xFF00))) break;  /* a value above 8 bits: the scalar code reports it */
            _mm_storel_epi64((__m128i *)(void *)((uint8_t *)z + j), v8);
        } else {
            if (!_mm256_testz_si256(v, _mm256_set1_epi32((int)0xFFFF0000))) break;
            _mm_storeu_si128((__m128i *)(void *)((uint16_t *)z + j), v16);
        }
        o = o2;
    }
    *off = o;
    return j;
}

/* whole groups of 8, then the last few through zero-padded copies */
__attribute__((target("bmi,bmi2"))) size_t sqz_qh_rows_avx2(size_t es, const uint8_t *q, const uint8_t *k, const uint8_t *rem,
                                                             uint64_t *off, void *z, size_t n)
{
    size_t j = rows_avx2(es, q, k, rem, off, z, n);
    if (j + 8 <= n || j == n) return j;
    uint8_t qb[8] = {0}, kb[8] = {0};
    uint16_t out[8];
    memcpy(qb, q + j, n - j);
    memcpy(kb, k + j, n - j);
    if (rows_avx2(es, qb, kb, rem, off, out, 8) != 8) return j;
    memcpy((uint8_t *)z + j * es, out, (n - j) * es);
    return n;
}

/* ---- encoder ---- */

size_t sqz_qh_symbols_avx2(size_t es, const void *z, const uint8_t *k, uint8_t *sym, size_t n)
{
    const uint8_t *zb = z;
    const __m256i esc = _mm256_set1_epi32(SQZ_QH_ESC);
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m256i k0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(k + j)));
        const __m256i k1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(k + j + 8)));
        const __m256i q0 = _mm256_min_epu32(_mm256_srlv_epi32(widen8(es, zb + j * es), k0), esc);
        const __m256i q1 = _mm256_min_epu32(_mm256_srlv_epi32(widen8(es, zb + (j + 8) * es), k1), esc);
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(q0, q1), 0xD8);
        _mm_storeu_si128((__m128i *)(void *)(sym + j), _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
    }
    return j;
}

__attribute__((target("bmi,bmi2"))) size_t sqz_qh_pack_rem_avx2(size_t es, const void *z, const uint8_t *k, size_t n,
                                                                 sqz_bit_writer *w)
{
    const __m128i low_bytes = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
    const uint8_t *zb = z;
    sqz_bit_writer wr = *w;
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const uint64_t kk = rd64(k + j);
        const __m128i k16 = _mm_cvtsi64_si128((long long)kk);
        if (bytes_suffice(kk)) {  /* at most 56 bits */
            const uint64_t m = byte_masks(k16);
            const uint64_t v = es == 1 ? rd64(zb + j)
                                       : (uint64_t)_mm_cvtsi128_si64(_mm_shuffle_epi8(
                                             _mm_loadu_si128((const __m128i *)(const void *)(zb + 2 * j)), low_bytes));
            sqz_put_bits(&wr, _pext_u64(v, m), (unsigned)__builtin_popcountll(m));
        } else {
            uint64_t m0, m1;
            word_masks(k16, &m0, &m1);
            sqz_put_bits(&wr, _pext_u64(rd64(zb + 2 * j), m0), (unsigned)__builtin_popcountll(m0));
            sqz_put_bits(&wr, _pext_u64(rd64(zb + 2 * j + 8), m1), (unsigned)__builtin_popcountll(m1));
        }
    }
    *w = wr;
    return j;
}
