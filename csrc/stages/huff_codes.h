/* Huffman code construction shared by the CPU coder (huff.c) and the GPU kernels
 * (csrc/cuda/kernels_huff.cuh): one definition, so both build the same codes. */
#ifndef SQZ_HUFF_CODES_H
#define SQZ_HUFF_CODES_H

#include <stdint.h>

#ifndef SQZ_HD
#define SQZ_HD static inline   /* the CUDA build defines it as host + device */
#endif
#define SQZ_HUFF_MAXLEN 11

/* sqz_huff_build_lengths_<S>(counts, n, len): code lengths (<= SQZ_HUFF_MAXLEN) for
 * counts[0..n), n <= NMAX; absent tokens get 0. Returns the number of present tokens.
 * NMAX sizes the stack arrays (the GPU codes at most 64 tokens). */
#define SQZ_HUFF_DEFINE_BUILD_LENGTHS(S, NMAX)                                                           \
SQZ_HD int sqz_huff_build_lengths_##S(const uint32_t *counts, int n, uint8_t *len)                      \
{                                                                                                        \
    int sym[NMAX], m = 0;                                                                                \
    (void)sizeof(char[(NMAX) <= 256 ? 1 : -1]);  /* the sort's keys hold a token in 8 bits */            \
    uint64_t w[2 * NMAX];                                                                                \
    int parent[2 * NMAX], depth[2 * NMAX];                                                               \
    for (int t = 0; t < n; t++) len[t] = 0;                                                              \
    for (int t = 0; t < n; t++) if (counts[t]) sym[m++] = t;                                             \
    if (m <= 1) return m;                                                                                \
    uint32_t c[NMAX];                                                                                    \
    for (int i = 0; i < m; i++) c[i] = counts[sym[i]];                                                   \
    for (;;) {                                                                                           \
        /* leaves sorted by (weight, index): insertion from the last token, as counts mostly fall      \
         * with the token (few moves); m <= NMAX <= 256 */                                               \
        int order[NMAX];                                                                                 \
        uint64_t key[NMAX];                                                                              \
        for (int i = m - 1, k = 0; i >= 0; i--, k++) {                                                   \
            const uint64_t v = (uint64_t)c[i] << 8 | (uint64_t)i;                                        \
            int j = k;                                                                                   \
            while (j > 0 && key[j - 1] > v) { key[j] = key[j - 1]; j--; }                                \
            key[j] = v;                                                                                  \
        }                                                                                                \
        for (int i = 0; i < m; i++) { order[i] = (int)(key[i] & 0xFF); w[i] = key[i] >> 8; }             \
        int li = 0, ii = m;                                                                              \
        for (int next = m; next < 2 * m - 1; next++) {                                                   \
            int pick[2];                                                                                 \
            for (int k = 0; k < 2; k++) {                                                                \
                if (li < m && (ii >= next || w[li] <= w[ii])) pick[k] = li++;                            \
                else pick[k] = ii++;                                                                     \
            }                                                                                            \
            w[next] = w[pick[0]] + w[pick[1]];                                                           \
            parent[pick[0]] = parent[pick[1]] = next;                                                    \
        }                                                                                                \
        depth[2 * m - 2] = 0;                                                                            \
        int maxd = 0;                                                                                    \
        for (int i = 2 * m - 3; i >= 0; i--) {                                                           \
            depth[i] = depth[parent[i]] + 1;                                                             \
            if (depth[i] > maxd) maxd = depth[i];                                                        \
        }                                                                                                \
        if (maxd <= SQZ_HUFF_MAXLEN) {                                                                   \
            for (int i = 0; i < m; i++) len[sym[order[i]]] = (uint8_t)depth[i];                          \
            return m;                                                                                    \
        }                                                                                                \
        for (int i = 0; i < m; i++) c[i] = (c[i] >> 1) | 1;  /* flatten and retry */                    \
    }                                                                                                    \
}

/* Canonical codes (DEFLATE order), bit-reversed for LSB-first streams; lengths of 0 or above
 * SQZ_HUFF_MAXLEN (the "sole token" mark) get no code. */
SQZ_HD void sqz_huff_build_codes(const uint8_t *len, int n, uint16_t *code)
{
    int bl[SQZ_HUFF_MAXLEN + 1];
    uint32_t next[SQZ_HUFF_MAXLEN + 2];
    for (int b = 0; b <= SQZ_HUFF_MAXLEN; b++) bl[b] = 0;
    for (int t = 0; t < n; t++) if (len[t] <= SQZ_HUFF_MAXLEN) bl[len[t]]++;
    bl[0] = 0;
    uint32_t c = 0;
    for (int b = 1; b <= SQZ_HUFF_MAXLEN; b++) { c = (c + (uint32_t)bl[b - 1]) << 1; next[b] = c; }
    for (int t = 0; t < n; t++) {
        if (!len[t] || len[t] > SQZ_HUFF_MAXLEN) continue;
        uint32_t r = next[len[t]]++;  /* its len[t] bits reversed: all 16, then the top len[t] down */
        r = ((r >> 1) & 0x5555u) | ((r & 0x5555u) << 1);
        r = ((r >> 2) & 0x3333u) | ((r & 0x3333u) << 2);
        r = ((r >> 4) & 0x0F0Fu) | ((r & 0x0F0Fu) << 4);
        r = ((r >> 8) & 0x00FFu) | ((r & 0x00FFu) << 8);
        code[t] = (uint16_t)(r >> (16 - len[t]));
    }
}

#endif
