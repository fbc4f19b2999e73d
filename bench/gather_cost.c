/* What an AVX2 gather (vpgatherdd, 8 x 32 bits) costs on this machine, against the same gather made
 * of 8 scalar loads and inserts, and a scalar load: the numbers behind nlcode16's decoder
 * (docs/DESIGN.md, "Speed (session 5)").
 *   cc -O2 -mavx2 bench/gather_cost.c -o /tmp/gather_cost && /tmp/gather_cost   (from the repository root)
 *   add -mavx512f for a column with AVX-512's 16-lane vpgatherdd (docs/DESIGN.md, session 10)
 * latency: each gather's indices come from the previous gather (a chain); throughput: independent
 * gathers; scalar: a chain of dependent 4-byte loads from the same table. */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../csrc/stages/gather_avx2.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            const double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

int main(void)
{
    enum { N = 2000000, REPS = 7 };
    printf("| table | vpgatherdd latency ns | vpgatherdd throughput ns | 8 loads latency ns | 8 loads throughput ns | "
           "scalar load latency ns |");
#ifdef __AVX512F__
    printf(" zmm vpgatherdd throughput ns (16 lanes) |\n|---:|---:|---:|---:|---:|---:|---:|\n");
#else
    printf("\n|---:|---:|---:|---:|---:|---:|\n");
#endif
    for (int kb = 4; kb <= 1024; kb *= 4) {
        const int n = kb * 256;
        int *tab = aligned_alloc(64, (size_t)n * 4);
        for (int i = 0; i < n; i++) tab[i] = (int)(((uint32_t)i * 2654435761u + 12345u) % (uint32_t)n);
        double lat[REPS], tput[REPS], elat[REPS], etput[REPS], sc[REPS];
#ifdef __AVX512F__
        double z16[REPS];
#endif
        int sink = 0;
        for (int r = 0; r < REPS; r++) {
            __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            double t = now();
            for (long i = 0; i < N; i++) idx = _mm256_i32gather_epi32(tab, idx, 4);
            lat[r] = (now() - t) / N * 1e9;
            __m256i acc = _mm256_setzero_si256(), id2 = _mm256_setr_epi32(0, 97, 194, 291, 388, 485, 582, 679);
            const __m256i step = _mm256_set1_epi32(1), wrap = _mm256_set1_epi32(n - 1);
            t = now();
            for (long i = 0; i < N; i++) {
                acc = _mm256_add_epi32(acc, _mm256_i32gather_epi32(tab, id2, 4));
                id2 = _mm256_and_si256(_mm256_add_epi32(id2, step), wrap);
            }
            tput[r] = (now() - t) / N * 1e9;
            __m256i eidx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), eacc = _mm256_setzero_si256();
            t = now();
            for (long i = 0; i < N; i++) eidx = gather32(tab, eidx);
            elat[r] = (now() - t) / N * 1e9;
            id2 = _mm256_setr_epi32(0, 97, 194, 291, 388, 485, 582, 679);
            t = now();
            for (long i = 0; i < N; i++) {
                eacc = _mm256_add_epi32(eacc, gather32(tab, id2));
                id2 = _mm256_and_si256(_mm256_add_epi32(id2, step), wrap);
            }
            etput[r] = (now() - t) / N * 1e9;
            sink += _mm256_extract_epi32(eidx, 0) + _mm256_extract_epi32(eacc, 1);
            int j = 0;
            t = now();
            for (long i = 0; i < N; i++) j = tab[j];
            sc[r] = (now() - t) / N * 1e9;
#ifdef __AVX512F__
            __m512i zacc = _mm512_setzero_si512();
            __m512i zid = _mm512_setr_epi32(0, 97, 194, 291, 388, 485, 582, 679, 776, 873, 970, 1067, 1164, 1261, 1358, 1455);
            const __m512i zstep = _mm512_set1_epi32(1), zwrap = _mm512_set1_epi32(n - 1);
            t = now();
            for (long i = 0; i < N; i++) {
                zacc = _mm512_add_epi32(zacc, _mm512_i32gather_epi32(zid, tab, 4));
                zid = _mm512_and_si512(_mm512_add_epi32(zid, zstep), zwrap);
            }
            z16[r] = (now() - t) / N * 1e9;
            sink += _mm512_reduce_add_epi32(zacc);
#endif
            sink += _mm256_extract_epi32(idx, 0) + _mm256_extract_epi32(acc, 1) + j;
        }
        printf("| %d KiB | %.2f | %.2f | %.2f | %.2f | %.2f |", kb, median(lat, REPS), median(tput, REPS), median(elat, REPS),
               median(etput, REPS), median(sc, REPS));
#ifdef __AVX512F__
        printf(" %.2f |", median(z16, REPS));
#endif
        printf("\n");
        free(tab);
        if (sink == 42) printf(" ");
    }
    return 0;
}
