/* Would a code whose quotients share one Huffman table per block decode faster than huff? (docs/DESIGN.md,
 * "Speed (session 11)"). Input from bench/shift_streams.py: real residuals z, per block a shift k for each
 * of 64 activity levels (from the row above, as huff's contexts) and the quotients' code lengths.
 * This program encodes each block (quotients z >> k in 4 bit streams, one per quarter of the block; the k
 * remainder bits, or 17 raw bits after an escape, in a fifth) and times the decoder's three parts:
 *   table:      a table of 4096 entries, each up to 4 quotients and the bits they use;
 *   quotients:  the 4 streams, interleaved, one look-up per 1-4 symbols;
 *   rows:       per row, each element's level and k from the row above, then its remainder bits
 *               (scalar; then AVX2, which writes the output that is checked; its 8 remainders per step
 *               come from scalar-load gathers, or with `window` from two pshufb of 16-byte windows).
 * ns per element, best of 25 runs, CPU time.
 *   cc -O2 -march=native bench/shift_loops.c -o /tmp/shift_loops && /tmp/shift_loops /tmp/shift.bin [window] */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../csrc/stages/gather_avx2.h"

#define ESC 32
#define NSYM (ESC + 1)
#define TBITS 12

typedef struct {
    uint32_t n, y0;
    uint8_t kt[64], lens[NSYM];
    uint32_t *z;
    uint8_t *qs[4], *rem, *esc;  /* encoded: quotient streams, k remainder bits each, escapes' q - ESC */
    uint32_t cnt[4];
} blk;

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void put(uint8_t *buf, uint64_t *pos, uint64_t code, unsigned len)
{
    uint64_t v = rd64(buf + (*pos >> 3)) | code << (*pos & 7);
    memcpy(buf + (*pos >> 3), &v, 8);
    *pos += len;
}

static unsigned reverse(unsigned code, unsigned len)
{
    unsigned r = 0;
    for (unsigned i = 0; i < len; i++) r |= (code >> i & 1) << (len - 1 - i);
    return r;
}

/* canonical codes, bit-reversed for LSB-first streams */
static void codes(const uint8_t *lens, unsigned *code)
{
    unsigned c = 0;
    for (unsigned l = 1; l <= 11; l++) {
        for (unsigned s = 0; s < NSYM; s++)
            if (lens[s] == l) code[s] = reverse(c++, l);
        c <<= 1;
    }
}

static inline unsigned level(uint32_t act)
{
    const uint64_t u = (uint64_t)act + 1;
    const unsigned nb = 63 - (unsigned)__builtin_clzll(u);
    const unsigned frac = (unsigned)(nb >= 2 ? u >> (nb - 2) : u << (2 - nb)) & 3;
    const unsigned l = 4 * nb + frac;
    return l > 63 ? 63 : l;
}

/* k of each element of a row from the row above (zN; NULL: none) */
static inline void row_k(const uint32_t *zN, unsigned X, const uint8_t *kt, uint8_t *k)
{
    if (!zN) {
        memset(k, kt[level(0)], X);
        return;
    }
    for (unsigned x = 0; x < X; x++) {
        const unsigned xm1 = x ? x - 1 : 0, xm2 = x > 1 ? x - 2 : 0;
        const unsigned xp1 = x + 1 < X ? x + 1 : X - 1, xp2 = x + 2 < X ? x + 2 : X - 1;
        k[x] = kt[level(2 * zN[x] + zN[xm1] + zN[xp1] + zN[xm2] + zN[xp2])];
    }
}

static void encode(blk *b, unsigned X, unsigned Y)
{
    unsigned code[NSYM];
    codes(b->lens, code);
    uint8_t *k = malloc(X);
    const uint32_t n = b->n;
    uint64_t pos[4] = {0}, rp = 0;
    for (int s = 0; s < 4; s++) b->qs[s] = calloc(n * 2 + 64, 1);
    b->rem = calloc(n * 4 + 64, 1);
    b->esc = calloc(n * 4 + 64, 1);
    uint64_t ep = 0;
    for (uint32_t i = 0; i < n; i += X) {
        const unsigned y = (b->y0 + i / X) % Y;
        row_k(y && i ? b->z + i - X : NULL, X, b->kt, k);
        for (unsigned x = 0; x < X; x++) {
            const uint32_t z = b->z[i + x], q = z >> k[x], sym = q < ESC ? q : ESC;
            unsigned s = 3;
            while ((uint64_t)n * s / 4 > i + x) s--;
            put(b->qs[s], &pos[s], code[sym], b->lens[sym]);
            put(b->rem, &rp, z & ((1u << k[x]) - 1), k[x]);
            if (sym == ESC) put(b->esc, &ep, q - ESC, 17);
        }
    }
    for (int s = 0; s < 4; s++) b->cnt[s] = (uint32_t)((uint64_t)n * (s + 1) / 4 - (uint64_t)n * s / 4);
    free(k);
}

/* entry: 4 symbols | count << 32 | bits << 40 */
static void build(const uint8_t *lens, uint64_t *T)
{
    unsigned code[NSYM];
    codes(lens, code);
    uint16_t one[1 << 11];  /* sym | len << 8 */
    for (unsigned s = 0; s < NSYM; s++)
        if (lens[s])
            for (unsigned h = 0; h < 1u << (11 - lens[s]); h++) one[code[s] | h << lens[s]] = (uint16_t)(s | lens[s] << 8);
    for (unsigned idx = 0; idx < 1u << TBITS; idx++) {
        unsigned used = 0, n = 0;
        uint32_t syms = 0;
        while (n < 4) {
            const unsigned e = one[(idx >> used) & 2047], len = e >> 8;
            if (used + len > TBITS) break;
            syms |= (e & 255) << (8 * n++);
            used += len;
        }
        T[idx] = syms | (uint64_t)n << 32 | (uint64_t)used << 40;
    }
}

#define STEP(S)                                                              \
    do {                                                                     \
        const uint64_t e_ = T[(rd64(in##S + (p##S >> 3)) >> (p##S & 7)) & 4095]; \
        memcpy(o##S, &e_, 4);                                                \
        o##S += (e_ >> 32) & 255;                                            \
        p##S += e_ >> 40;                                                    \
    } while (0)

static void quotients(const blk *b, const uint64_t *T, uint8_t *q)
{
    const uint8_t *in0 = b->qs[0], *in1 = b->qs[1], *in2 = b->qs[2], *in3 = b->qs[3];
    uint8_t *o0 = q, *o1 = o0 + b->cnt[0], *o2 = o1 + b->cnt[1], *o3 = o2 + b->cnt[2];
    uint8_t *const end[4] = {o1, o2, o3, o3 + b->cnt[3]};
    uint64_t p0 = 0, p1 = 0, p2 = 0, p3 = 0;
    while (o0 + 4 <= end[0] && o1 + 4 <= end[1] && o2 + 4 <= end[2] && o3 + 4 <= end[3]) {
        STEP(0);
        STEP(1);
        STEP(2);
        STEP(3);
    }
    const uint8_t *in[4] = {in0, in1, in2, in3};
    uint8_t *o[4] = {o0, o1, o2, o3};
    uint64_t p[4] = {p0, p1, p2, p3};
    for (int s = 0; s < 4; s++)
        while (o[s] < end[s]) {
            const uint64_t e = T[(rd64(in[s] + (p[s] >> 3)) >> (p[s] & 7)) & 4095];
            const unsigned n = (unsigned)(e >> 32) & 255;
            for (unsigned j = 0; j < n && o[s] < end[s]; j++) *o[s]++ = (uint8_t)(e >> (8 * j));
            p[s] += e >> 40;
        }
}

static void rows(const blk *b, unsigned X, unsigned Y, const uint8_t *q, uint32_t *z, uint8_t *k)
{
    uint64_t off = 0, eo = 0;
    for (uint32_t i = 0; i < b->n; i += X) {
        const unsigned y = (b->y0 + i / X) % Y;
        row_k(y && i ? z + i - X : NULL, X, b->kt, k);
        for (unsigned x = 0; x < X; x++) {
            uint32_t qq = q[i + x];
            if (qq == ESC) {
                qq += (uint32_t)_bzhi_u64(rd64(b->esc + (eo >> 3)) >> (eo & 7), 17);
                eo += 17;
            }
            const uint32_t r = (uint32_t)_bzhi_u64(rd64(b->rem + (off >> 3)) >> (off & 7), k[x]);
            z[i + x] = qq << k[x] | r;
            off += k[x];
        }
    }
}

/* k of 32 elements from their levels (bytes 0-63): 4 pshufb tables of 16 */
static inline __m256i lut64(__m256i L, const __m256i *t)
{
    const __m256i lo = _mm256_and_si256(L, _mm256_set1_epi8(15));
    const __m256i b4 = _mm256_slli_epi16(L, 3), b5 = _mm256_slli_epi16(L, 2);  /* bits 4, 5 -> 7 */
    const __m256i r01 = _mm256_blendv_epi8(_mm256_shuffle_epi8(t[0], lo), _mm256_shuffle_epi8(t[1], lo), b4);
    const __m256i r23 = _mm256_blendv_epi8(_mm256_shuffle_epi8(t[2], lo), _mm256_shuffle_epi8(t[3], lo), b4);
    return _mm256_blendv_epi8(r01, r23, b5);
}

/* levels of 8 elements from the padded row above (zp[x + 2] is element x's N): 4 floor(log2(a + 1)) + the
 * next two bits, from the float's exponent and mantissa (exact below 2^24) */
static inline __m256i level8(const uint32_t *zp)
{
    const __m256i c = _mm256_loadu_si256((const __m256i *)(zp + 2));
    __m256i a = _mm256_add_epi32(_mm256_add_epi32(c, c), _mm256_loadu_si256((const __m256i *)(zp + 1)));
    a = _mm256_add_epi32(a, _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(zp + 3)), _mm256_loadu_si256((const __m256i *)zp)));
    a = _mm256_add_epi32(a, _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(zp + 4)), _mm256_set1_epi32(1)));
    const __m256i l = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(a)), 21), _mm256_set1_epi32(127 << 2));
    return _mm256_min_epi32(l, _mm256_set1_epi32(63));
}

/* the same rows in AVX2: k 32 at a time; remainders 8 at a time, at bit offsets from a prefix sum of k
 * (scalar-load gathers, or with `window` two pshufb of 16-byte windows), or with `pdep` without offsets:
 * one pdep puts 8 elements' bits into one byte each (4 into 16-bit slots where a k exceeds 7); the row's
 * last X % 8 elements scalar; escapes fixed up afterwards */
static int WINDOW, PDEP;

static void row_levels(const blk *b, unsigned X, const uint32_t *zN, uint8_t *k, uint32_t *zp, const __m256i *t)
{
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    if (!zN) {
        memset(k, b->kt[level(0)], X);
        return;
    }
    memcpy(zp + 2, zN, X * 4);
    zp[0] = zp[1] = zp[2];
    zp[X + 2] = zp[X + 3] = zp[X + 1];
    for (unsigned x = 0; x < X; x += 32) {
        const __m256i ab = _mm256_packus_epi32(level8(zp + x), level8(zp + x + 8));
        const __m256i cd = _mm256_packus_epi32(level8(zp + x + 16), level8(zp + x + 24));
        const __m256i L = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd), perm);
        _mm256_storeu_si256((__m256i *)(void *)(k + x), lut64(L, t));
    }
}

static void rows_avx2(const blk *b, unsigned X, unsigned Y, const uint8_t *q, uint32_t *z, uint8_t *k, uint32_t *zp)
{
    __m256i t[4];
    for (int j = 0; j < 4; j++) t[j] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(b->kt + 16 * j)));
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i lowmask = _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 1, 3, 7, 15, 31, 63, 127, -1, -1, -1, -1, -1, -1, -1, -1));
    uint8_t mbuf[1 << 16] __attribute__((aligned(32)));
    uint64_t off = 0, eo = 0;
    for (uint32_t i = 0; i < b->n; i += X) {
        const unsigned y = (b->y0 + i / X) % Y;
        row_levels(b, X, y && i ? z + i - X : NULL, k, zp, t);
        const uint8_t *const qi = q + i;
        uint32_t *const zi = z + i;
        unsigned x = 0;
        if (PDEP) {
            for (unsigned j = 0; j < X; j += 32)
                _mm256_store_si256((__m256i *)(void *)(mbuf + j),
                                   _mm256_shuffle_epi8(lowmask, _mm256_loadu_si256((const __m256i *)(const void *)(k + j))));
            for (; x + 8 <= X; x += 8) {
                uint64_t kk, m;
                memcpy(&kk, k + x, 8);
                __m256i r;
                if (__builtin_expect(!(kk & 0x0808080808080808ull), 1)) {
                    memcpy(&m, mbuf + x, 8);
                    const uint64_t rb = _pdep_u64(rd64(b->rem + (off >> 3)) >> (off & 7), m);
                    off += (uint64_t)__builtin_popcountll(m);
                    r = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)rb));
                } else {
                    uint64_t m0 = 0, m1 = 0;
                    for (unsigned j = 0; j < 4; j++) {
                        m0 |= ((1ull << k[x + j]) - 1) << (16 * j);
                        m1 |= ((1ull << k[x + 4 + j]) - 1) << (16 * j);
                    }
                    const uint64_t r0 = _pdep_u64(rd64(b->rem + (off >> 3)) >> (off & 7), m0);
                    off += (uint64_t)__builtin_popcountll(m0);
                    const uint64_t r1 = _pdep_u64(rd64(b->rem + (off >> 3)) >> (off & 7), m1);
                    off += (uint64_t)__builtin_popcountll(m1);
                    r = _mm256_cvtepu16_epi32(_mm_set_epi64x((long long)r1, (long long)r0));
                }
                const __m256i k8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(k + x)));
                const __m256i q8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(qi + x)));
                _mm256_storeu_si256((__m256i *)(void *)(zi + x), _mm256_or_si256(_mm256_sllv_epi32(q8, k8), r));
            }
        } else {
            for (; x + 8 <= X; x += 8) {
                const __m256i k8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(k + x)));
                const __m256i q8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(qi + x)));
                const __m256i nb = k8;
                __m256i s = _mm256_add_epi32(nb, _mm256_slli_si256(nb, 4));
                s = _mm256_add_epi32(s, _mm256_slli_si256(s, 8));
                s = _mm256_add_epi32(s, _mm256_shuffle_epi32(_mm256_permute2x128_si256(s, s, 0x08), 0xFF));
                const __m256i at = _mm256_add_epi32(_mm256_set1_epi32((int)off), _mm256_sub_epi32(s, nb));
                __m256i w;
                if (WINDOW) {
                    /* the 8 elements' bits lie within 24 bytes from off / 8: two pshufb of broadcast 16-byte windows */
                    const uint8_t *const base = b->rem + (off >> 3);
                    const __m256i w0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)base));
                    const __m256i w1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(base + 8)));
                    const __m256i rel = _mm256_sub_epi32(_mm256_srli_epi32(at, 3), _mm256_set1_epi32((int)(off >> 3)));
                    const __m256i ctl = _mm256_add_epi32(_mm256_mullo_epi32(rel, _mm256_set1_epi32(0x01010101)),
                                                         _mm256_set1_epi32(0x03020100));
                    w = _mm256_blendv_epi8(_mm256_shuffle_epi8(w0, ctl), _mm256_shuffle_epi8(w1, _mm256_sub_epi8(ctl, _mm256_set1_epi8(8))),
                                           _mm256_cmpgt_epi8(ctl, _mm256_set1_epi8(15)));
                } else {
                    w = gather_bytes(b->rem, _mm256_srli_epi32(at, 3));
                }
                const __m256i r = _mm256_and_si256(_mm256_srlv_epi32(w, _mm256_and_si256(at, _mm256_set1_epi32(7))),
                                                   _mm256_sub_epi32(_mm256_sllv_epi32(one, nb), one));
                _mm256_storeu_si256((__m256i *)(void *)(zi + x), _mm256_or_si256(_mm256_sllv_epi32(q8, k8), r));
                off += (uint32_t)_mm256_extract_epi32(s, 7);
            }
        }
        for (; x < X; x++) {
            const uint32_t r = (uint32_t)_bzhi_u64(rd64(b->rem + (off >> 3)) >> (off & 7), k[x]);
            zi[x] = (uint32_t)qi[x] << k[x] | r;
            off += k[x];
        }
        /* escapes: q = ESC + 17 bits of their own stream */
        for (unsigned j = 0; j < X; j += 32) {
            uint32_t em = (uint32_t)_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(qi + j)), _mm256_set1_epi8(ESC)));
            if (j + 32 > X) em &= (1u << (X - j)) - 1;
            while (em) {
                const unsigned e = j + (unsigned)__builtin_ctz(em);
                em &= em - 1;
                zi[e] += (uint32_t)_bzhi_u64(rd64(b->esc + (eo >> 3)) >> (eo & 7), 17) << k[e];
                eo += 17;
            }
        }
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    FILE *f = fopen(argc > 1 ? argv[1] : "/tmp/shift.bin", "rb");
    WINDOW = argc > 2 && !strcmp(argv[2], "window");
    PDEP = argc > 2 && !strcmp(argv[2], "pdep");
    char magic[4];
    uint32_t X, Y, nb;
    if (!f || fread(magic, 4, 1, f) != 1 || memcmp(magic, "SHFT", 4) || fread(&X, 4, 1, f) != 1 ||
        fread(&Y, 4, 1, f) != 1 || fread(&nb, 4, 1, f) != 1) {
        fprintf(stderr, "usage: shift_loops FILE [window|pdep] (FILE from bench/shift_streams.py)\n");
        return 2;
    }
    blk *B = calloc(nb, sizeof *B);
    uint64_t total = 0;
    for (uint32_t i = 0; i < nb; i++) {
        if (fread(&B[i].n, 4, 1, f) != 1 || fread(&B[i].y0, 4, 1, f) != 1 || fread(B[i].kt, 64, 1, f) != 1 ||
            fread(B[i].lens, NSYM, 1, f) != 1)
            return 2;
        B[i].z = malloc(B[i].n * 4ull);
        if (fread(B[i].z, 4, B[i].n, f) != B[i].n) return 2;
        encode(&B[i], X, Y);
        total += B[i].n;
    }
    uint64_t *T = aligned_alloc(64, 8 << TBITS);
    uint8_t *q = malloc(total + 64), *k = malloc(X + 64);
    uint32_t *z = malloc(total * 4), *zp = calloc(X + 64, 4);
    double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9};
    for (int rep = 0; rep < 25; rep++) {
        double t[5] = {0};
        uint64_t at = 0;
        for (uint32_t i = 0; i < nb; i++) {
            const double t0 = now();
            build(B[i].lens, T);
            const double t1 = now();
            quotients(&B[i], T, q + at);
            const double t2 = now();
            rows(&B[i], X, Y, q + at, z + at, k);
            const double t3 = now();
            rows_avx2(&B[i], X, Y, q + at, z + at, k, zp);
            const double t4 = now();
            t[0] += t1 - t0; t[1] += t2 - t1; t[2] += t3 - t2; t[3] += t4 - t3; t[4] += t2 - t0 + t4 - t3;
            at += B[i].n;
        }
        for (int j = 0; j < 5; j++) best[j] = t[j] < best[j] ? t[j] : best[j];
    }
    uint64_t at = 0;
    for (uint32_t i = 0; i < nb; i++) {
        if (memcmp(z + at, B[i].z, B[i].n * 4ull)) {
            fprintf(stderr, "block %u decodes wrongly\n", i);
            return 1;
        }
        at += B[i].n;
    }
    printf("%llu elements in %u blocks, round trip exact\n", (unsigned long long)total, nb);
    printf("| part | ns per element |\n|---|---:|\n");
    const char *names[5] = {"table", "quotients", "rows (k and remainders), scalar", "rows, AVX2",
                            "all (table, quotients, AVX2 rows)"};
    for (int j = 0; j < 5; j++) printf("| %s | %.3f |\n", names[j], best[j] / (double)total * 1e9);
    return 0;
}
