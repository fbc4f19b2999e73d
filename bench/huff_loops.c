/* Symbol loops a Huffman decoder of the huff stage's kind could use, on synthetic tables: the
 * numbers behind docs/DESIGN.md, "Speed (session 8)". Each loop decodes one run of 3,344 elements
 * (16 rows of 209) whose 21 contexts have 256-entry first-level tables; codes of 2-8 bits with
 * 0-4 extra bits, random stream bits (so a code of length l comes up with probability 2^-l).
 *   cc -O2 -mavx2 -mbmi -mbmi2 bench/huff_loops.c -o /tmp/huff_loops && /tmp/huff_loops   (from the repository root)
 * Loops (ns per element, best of 30 runs of 200 repetitions, CPU time):
 *   4 streams, pairs, session 7 entries: session 7's loop (two symbols per 64-bit load of a stream)
 *   8 streams, pairs / singles:          the same with 8 streams (a format change)
 *   4 streams, pairs, session 8 entries: session 8's entries (bextr control word in bits 0-15)
 *   4 streams, singles, session 8:       one symbol per load
 *   AVX2 32 streams, vpgatherdd:         4 groups of 8 lanes, one symbol per lane and step
 *   AVX2 32 streams, scalar loads:       the same, gathers made of 8 loads (csrc/stages/gather_avx2.h)
 *   Golomb-Rice, 4 streams:              no table: a tzcnt and a bextr per symbol, k per element
 *                                        (singles: a load per symbol; pairs: two per load);
 *                                        8 streams would be a format change
 * Only the loops' cost is compared: outputs are not checked and long codes are not modelled. */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../csrc/stages/gather_avx2.h"

#define N (209 * 16)
#define NCTX 21

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* session 7 entries: base | code bits << 16 | extra bits << 20 | sum << 26;
 * session 8 entries: code bits | extra bits << 8 | base << 16 */
#define SYM1(B, K, NB)                                                                                   \
    do {                                                                                                 \
        const uint32_t e_ = cp[K][(B) & 255];                                                            \
        z[K] = (uint16_t)(e_ + (uint32_t)_bzhi_u64((B) >> _bextr_u32(e_, 16, 4), _bextr_u32(e_, 20, 4))); \
        NB = e_ >> 26;                                                                                   \
    } while (0)
#define SYM2(B, K, NB)                                                                                   \
    do {                                                                                                 \
        const uint32_t e_ = cp[K][(B) & 255];                                                            \
        z[K] = (uint16_t)(_bextr_u32(e_, 16, 16) + (uint32_t)__bextr_u64(B, e_));                        \
        NB = (e_ & 255) + ((e_ >> 8) & 255);                                                             \
    } while (0)
#define PAIR(SYM, POS, K, S)                                                                             \
    do {                                                                                                 \
        uint64_t b_ = rd64(o + ((POS) >> 3)) >> ((POS) & 7);                                             \
        unsigned n1_, n2_;                                                                               \
        SYM(b_, K, n1_);                                                                                 \
        b_ >>= n1_;                                                                                      \
        SYM(b_, (K) + (S), n2_);                                                                         \
        POS += n1_ + n2_;                                                                                \
    } while (0)
#define ONE(SYM, POS, K)                                                                                 \
    do {                                                                                                 \
        const uint64_t b_ = rd64(o + ((POS) >> 3)) >> ((POS) & 7);                                       \
        unsigned n_;                                                                                     \
        SYM(b_, K, n_);                                                                                  \
        POS += n_;                                                                                       \
    } while (0)

typedef void loop_fn(uint16_t *z, const uint32_t *const *cp, const uint32_t *ctxo, const uint32_t *tab,
                     const uint8_t *o, int64_t *q);

#define DEFINE_PAIRS4(NAME, SYM)                                                                        \
static __attribute__((noinline)) void NAME(uint16_t *z, const uint32_t *const *cp, const uint32_t *ctxo, \
                                           const uint32_t *tab, const uint8_t *o, int64_t *q)             \
{                                                                                                        \
    (void)ctxo, (void)tab;                                                                               \
    int64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];                                                  \
    for (uint64_t k = 0; k + 8 <= N; k += 8) {                                                           \
        PAIR(SYM, q0, k, 4); PAIR(SYM, q1, k + 1, 4); PAIR(SYM, q2, k + 2, 4); PAIR(SYM, q3, k + 3, 4);  \
    }                                                                                                    \
    q[0] = q0 + q1 + q2 + q3;                                                                            \
}
DEFINE_PAIRS4(pairs4_v1, SYM1)
DEFINE_PAIRS4(pairs4_v2, SYM2)

static __attribute__((noinline)) void pairs8_v1(uint16_t *z, const uint32_t *const *cp, const uint32_t *ctxo,
                                                const uint32_t *tab, const uint8_t *o, int64_t *q)
{
    (void)ctxo, (void)tab;
    int64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3], q4 = q[4], q5 = q[5], q6 = q[6], q7 = q[7];
    for (uint64_t k = 0; k + 16 <= N; k += 16) {
        PAIR(SYM1, q0, k, 8); PAIR(SYM1, q1, k + 1, 8); PAIR(SYM1, q2, k + 2, 8); PAIR(SYM1, q3, k + 3, 8);
        PAIR(SYM1, q4, k + 4, 8); PAIR(SYM1, q5, k + 5, 8); PAIR(SYM1, q6, k + 6, 8); PAIR(SYM1, q7, k + 7, 8);
    }
    q[0] = q0 + q1 + q2 + q3 + q4 + q5 + q6 + q7;
}

static __attribute__((noinline)) void singles8_v1(uint16_t *z, const uint32_t *const *cp, const uint32_t *ctxo,
                                                  const uint32_t *tab, const uint8_t *o, int64_t *q)
{
    (void)ctxo, (void)tab;
    int64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3], q4 = q[4], q5 = q[5], q6 = q[6], q7 = q[7];
    for (uint64_t k = 0; k + 8 <= N; k += 8) {
        ONE(SYM1, q0, k); ONE(SYM1, q1, k + 1); ONE(SYM1, q2, k + 2); ONE(SYM1, q3, k + 3);
        ONE(SYM1, q4, k + 4); ONE(SYM1, q5, k + 5); ONE(SYM1, q6, k + 6); ONE(SYM1, q7, k + 7);
    }
    q[0] = q0 + q1 + q2 + q3 + q4 + q5 + q6 + q7;
}


static __attribute__((noinline)) void singles4_v2(uint16_t *z, const uint32_t *const *cp, const uint32_t *ctxo,
                                                  const uint32_t *tab, const uint8_t *o, int64_t *q)
{
    (void)ctxo, (void)tab;
    int64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
    for (uint64_t k = 0; k + 4 <= N; k += 4) {
        ONE(SYM2, q0, k); ONE(SYM2, q1, k + 1); ONE(SYM2, q2, k + 2); ONE(SYM2, q3, k + 3);
    }
    q[0] = q0 + q1 + q2 + q3;
}

/* AVX2 entries: base 0-15 | bits used 16-20 | code bits 21-24 | 32 - extra bits 25-30 */
#define LANE_STEP(GBYTES, GTAB, P, K, V)                                                                 \
    do {                                                                                                 \
        const __m256i b_ = _mm256_srlv_epi32(GBYTES(P), _mm256_and_si256(P, m7));                        \
        const __m256i i_ = _mm256_add_epi32(_mm256_and_si256(b_, m255), _mm256_loadu_si256((const void *)(ctxo + (K)))); \
        const __m256i e_ = GTAB(i_);                                                                     \
        const __m256i st_ = _mm256_and_si256(_mm256_srli_epi32(e_, 21), m15);                            \
        const __m256i sh_ = _mm256_and_si256(_mm256_srli_epi32(e_, 25), m63);                            \
        const __m256i x_ = _mm256_srlv_epi32(_mm256_sllv_epi32(_mm256_srlv_epi32(b_, st_), sh_), sh_);   \
        V = _mm256_add_epi32(_mm256_and_si256(e_, mlo), x_);                                             \
        P = _mm256_add_epi32(P, _mm256_and_si256(_mm256_srli_epi32(e_, 16), m31));                       \
    } while (0)
#define DEFINE_LANES(NAME, GBYTES, GTAB)                                                                 \
static __attribute__((noinline)) void NAME(uint16_t *z, const uint32_t *const *cp, const uint32_t *ctxo, \
                                           const uint32_t *tab, const uint8_t *o, int64_t *q)             \
{                                                                                                        \
    (void)cp;                                                                                            \
    const __m256i m7 = _mm256_set1_epi32(7), m255 = _mm256_set1_epi32(255), m31 = _mm256_set1_epi32(31); \
    const __m256i m15 = _mm256_set1_epi32(15), m63 = _mm256_set1_epi32(63), mlo = _mm256_set1_epi32(0xFFFF); \
    __m256i p[4];                                                                                        \
    for (int g = 0; g < 4; g++)                                                                          \
        p[g] = _mm256_setr_epi32((int)q[8 * g], (int)q[8 * g + 1], (int)q[8 * g + 2], (int)q[8 * g + 3], \
                                 (int)q[8 * g + 4], (int)q[8 * g + 5], (int)q[8 * g + 6], (int)q[8 * g + 7]); \
    for (uint64_t k = 0; k + 32 <= N; k += 32) {                                                         \
        __m256i v0, v1, v2, v3;                                                                          \
        LANE_STEP(GBYTES, GTAB, p[0], k, v0); LANE_STEP(GBYTES, GTAB, p[1], k + 8, v1);                  \
        LANE_STEP(GBYTES, GTAB, p[2], k + 16, v2); LANE_STEP(GBYTES, GTAB, p[3], k + 24, v3);            \
        _mm256_storeu_si256((void *)(z + k), _mm256_permute4x64_epi64(_mm256_packus_epi32(v0, v1), 0xD8)); \
        _mm256_storeu_si256((void *)(z + k + 16), _mm256_permute4x64_epi64(_mm256_packus_epi32(v2, v3), 0xD8)); \
    }                                                                                                    \
    q[0] = _mm256_extract_epi32(_mm256_add_epi32(_mm256_add_epi32(p[0], p[1]), _mm256_add_epi32(p[2], p[3])), 0); \
}
#define HW_BYTES(P) _mm256_i32gather_epi32((const int *)(const void *)o, _mm256_srli_epi32(P, 3), 1)
#define HW_TAB(I) _mm256_i32gather_epi32((const int *)tab, I, 4)
#define LD_BYTES(P) gather_bytes(o, _mm256_srli_epi32(P, 3))
#define LD_TAB(I) gather32((const int *)tab, I)
DEFINE_LANES(lanes32_hw, HW_BYTES, HW_TAB)
DEFINE_LANES(lanes32_loads, LD_BYTES, LD_TAB)
/* Golomb-Rice (bench/gr_estimate.py): q zero bits and a one, then k low bits; k per element from
 * the row above (here a byte array, as huff's tables are a pointer array); q = 24: 16 raw bits */
static uint8_t kk[N];
#define GR(B, K, NB)                                                                                     \
    do {                                                                                                 \
        const unsigned k_ = kk[K], q_ = (unsigned)_tzcnt_u64((B) | (1ull << 24));                         \
        if (__builtin_expect(q_ == 24, 0)) {                                                             \
            z[K] = (uint16_t)((B) >> 25);                                                                \
            NB = 41;                                                                                     \
        } else {                                                                                         \
            z[K] = (uint16_t)(q_ << k_ | (uint32_t)_bextr_u64(B, q_ + 1, k_));                            \
            NB = q_ + 1 + k_;                                                                            \
        }                                                                                                \
    } while (0)
#define GR_ONE(POS, K)                                                                                   \
    do {                                                                                                 \
        const uint64_t b_ = rd64(o + ((POS) >> 3)) >> ((POS) & 7);                                       \
        unsigned n_;                                                                                     \
        GR(b_, K, n_);                                                                                   \
        POS += n_;                                                                                       \
    } while (0)
/* two symbols per load when the first leaves 32 bits */
#define GR_PAIR(POS, K, S)                                                                               \
    do {                                                                                                 \
        uint64_t b_ = rd64(o + ((POS) >> 3)) >> ((POS) & 7);                                             \
        unsigned n1_, n2_;                                                                               \
        GR(b_, K, n1_);                                                                                  \
        POS += n1_;                                                                                      \
        if (__builtin_expect(n1_ > 24, 0)) b_ = rd64(o + ((POS) >> 3)) >> ((POS) & 7);                    \
        else b_ >>= n1_;                                                                                 \
        GR(b_, (K) + (S), n2_);                                                                          \
        POS += n2_;                                                                                      \
    } while (0)

static __attribute__((noinline)) void gr_singles4(uint16_t *z, const uint32_t *const *cp, const uint32_t *ctxo,
                                                  const uint32_t *tab, const uint8_t *o, int64_t *q)
{
    (void)cp, (void)ctxo, (void)tab;
    int64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
    for (uint64_t k = 0; k + 4 <= N; k += 4) {
        GR_ONE(q0, k); GR_ONE(q1, k + 1); GR_ONE(q2, k + 2); GR_ONE(q3, k + 3);
    }
    q[0] = q0 + q1 + q2 + q3;
}

static __attribute__((noinline)) void gr_pairs4(uint16_t *z, const uint32_t *const *cp, const uint32_t *ctxo,
                                                const uint32_t *tab, const uint8_t *o, int64_t *q)
{
    (void)cp, (void)ctxo, (void)tab;
    int64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
    for (uint64_t k = 0; k + 8 <= N; k += 8) {
        GR_PAIR(q0, k, 4); GR_PAIR(q1, k + 1, 4); GR_PAIR(q2, k + 2, 4); GR_PAIR(q3, k + 3, 4);
    }
    q[0] = q0 + q1 + q2 + q3;
}

static __attribute__((noinline)) void gr_pairs8(uint16_t *z, const uint32_t *const *cp, const uint32_t *ctxo,
                                                const uint32_t *tab, const uint8_t *o, int64_t *q)
{
    (void)cp, (void)ctxo, (void)tab;
    int64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3], q4 = q[4], q5 = q[5], q6 = q[6], q7 = q[7];
    for (uint64_t k = 0; k + 16 <= N; k += 16) {
        GR_PAIR(q0, k, 8); GR_PAIR(q1, k + 1, 8); GR_PAIR(q2, k + 2, 8); GR_PAIR(q3, k + 3, 8);
        GR_PAIR(q4, k + 4, 8); GR_PAIR(q5, k + 5, 8); GR_PAIR(q6, k + 6, 8); GR_PAIR(q7, k + 7, 8);
    }
    q[0] = q0 + q1 + q2 + q3 + q4 + q5 + q6 + q7;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void)
{
    static uint32_t tab1[NCTX][256], tab2[NCTX][256], tabv[NCTX * 256];
    static const int lens[] = {2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 8, 8};
    srand(1);
    for (int c = 0; c < NCTX; c++) {
        for (int idx = 0; idx < 256;)
            for (int i = 0; i < 13 && idx < 256; i++) {
                const unsigned l = (unsigned)lens[i], x = (unsigned)(rand() % 5), base = (unsigned)(rand() & 1023);
                for (int j = 0; j < (256 >> l) && idx < 256; j++, idx++) {
                    tab1[c][idx] = base | l << 16 | x << 20 | (l + x) << 26;
                    tab2[c][idx] = l | x << 8 | base << 16;
                    tabv[c * 256 + idx] = base | (l + x) << 16 | l << 21 | (32 - x) << 25;
                }
            }
        for (int i = 255; i > 0; i--) {  /* the same permutation for the three layouts */
            const int j = rand() % (i + 1);
            uint32_t t = tab1[c][i]; tab1[c][i] = tab1[c][j]; tab1[c][j] = t;
            t = tab2[c][i]; tab2[c][i] = tab2[c][j]; tab2[c][j] = t;
            t = tabv[c * 256 + i]; tabv[c * 256 + i] = tabv[c * 256 + j]; tabv[c * 256 + j] = t;
        }
    }
    uint8_t *o = malloc(4 * N + 64);
    const uint32_t **cp1 = malloc(N * sizeof *cp1), **cp2 = malloc(N * sizeof *cp2);
    uint32_t *ctxo = malloc(N * sizeof *ctxo);
    uint16_t *z = malloc(N * sizeof *z);
    if (!o || !cp1 || !cp2 || !ctxo || !z) return 1;
    for (size_t i = 0; i < 4 * N + 64; i++) o[i] = (uint8_t)rand();
    for (size_t i = 0; i < N; i++) kk[i] = (uint8_t)(2 + rand() % 4);  /* camera noise: k of 2-5 */
    for (size_t i = 0; i < N; i++) {
        const int c = rand() % NCTX;
        cp1[i] = tab1[c];
        cp2[i] = tab2[c];
        ctxo[i] = (uint32_t)c * 256;
    }
    struct { const char *name; loop_fn *f; const uint32_t *const *cp; int streams; } loops[] = {
        {"4 streams, pairs, session 7 entries", pairs4_v1, cp1, 4},
        {"8 streams, pairs, session 7 entries", pairs8_v1, cp1, 8},
        {"8 streams, singles, session 7 entries", singles8_v1, cp1, 8},
        {"4 streams, pairs, session 8 entries", pairs4_v2, cp2, 4},
        {"4 streams, singles, session 8 entries", singles4_v2, cp2, 4},
        {"AVX2 32 streams, vpgatherdd", lanes32_hw, NULL, 32},
        {"AVX2 32 streams, scalar-load gathers", lanes32_loads, NULL, 32},
        {"Golomb-Rice, 4 streams, singles", gr_singles4, NULL, 4},
        {"Golomb-Rice, 4 streams, pairs", gr_pairs4, NULL, 4},
        {"Golomb-Rice, 8 streams, pairs", gr_pairs8, NULL, 8},
    };
    enum { NL = sizeof loops / sizeof loops[0] };
    double best[NL];
    for (int l = 0; l < NL; l++) best[l] = 1e9;
    for (int r = 0; r < 30; r++)
        for (int l = 0; l < NL; l++) {  /* interleaved */
            const double t0 = now();
            for (int it = 0; it < 200; it++) {
                int64_t q[32];
                for (int i = 0; i < 32; i++) q[i] = (int64_t)i * N;  /* bit positions; streams may overlap */
                loops[l].f(z, loops[l].cp, ctxo, tabv, o, q);
            }
            const double t = (now() - t0) / (200.0 * N);
            if (t < best[l]) best[l] = t;
        }
    printf("| loop | ns per element |\n|---|---:|\n");
    for (int l = 0; l < NL; l++) printf("| %s | %.3f |\n", loops[l].name, best[l] * 1e9);
    return z[N / 2] == 0xFFFF;  /* keeps the outputs live */
}
