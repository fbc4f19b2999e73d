/* nlcode: the encoder's contexts and zigzag residuals of inner row elements, and the decoder's row
 * parts, written so that compilers vectorise them; built twice (nlcode.c, and nlcode_avx2.c with
 * -mavx2), integer arithmetic only, so both give the same results. */
#ifndef SQZ_NLCODE_MODEL_H
#define SQZ_NLCODE_MODEL_H

#include <stdint.h>
#include <stdlib.h>

/* Elements [t0, t1) of row v (all neighbours inside the block): context into cx, z into zo. */
static inline __attribute__((always_inline)) void nl_model_row(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1,
                                                               const uint32_t mask, uint8_t *cx, uint16_t *zo)
{
    const uint16_t *u = v - X, *uu = v - 2 * X;
    const uint32_t top = mask == 0xFF ? 0x80 : 0x8000;
    for (uint64_t t = t0; t < t1; t++) {
        const int32_t w = v[t - 1], ww = v[t - 2], n = u[t], nw = u[t - 1], ne = u[t + 1], nee = u[t + 2];
        const int32_t nww = u[t - 2], nn = uu[t];
        int32_t s = 6 * w + 3 * n + nw + 3 * ne + 3 * ww + 3 * nee - 2 * nn - nww;
        s = s < 0 ? 0 : s;
        s = s > (int32_t)(16 * mask) ? (int32_t)(16 * mask) : s;
        const uint32_t f = (uint32_t)s & 15, fp = (uint32_t)s >> 4, fm = f > 8 ? 16 - f : f;
        const int32_t g = abs(w - nw) + abs(n - nw) + abs(n - ne) + abs(w - ww) + abs(n - nn);
        const uint32_t act = (g >= 1) + (g >= 2) + (g >= 3) + (g >= 4) + (g >= 6) + (g >= 8) + (g >= 11) + (g >= 16) +
                             (g >= 22) + (g >= 32) + (g >= 45);
        cx[t] = (uint8_t)(fm * 12 + act);
        const uint32_t r = (f > 8 ? fp + 1 - v[t] : v[t] - fp) & mask;
        zo[t] = (uint16_t)(((r << 1) ^ ((r & top) ? mask : 0)) & mask);
    }
}

/* Decoder: for the inner elements [t0, t1) of row v (rows v - X and v - 2X decoded), the parts of the
 * predictions (P) and activities (G) that come from the rows above, and the north-west neighbours (N). */
static inline __attribute__((always_inline)) void nl_prep_row(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1,
                                                              int32_t *P, int32_t *G, int32_t *N)
{
    const uint16_t *u = v - X, *uu = v - 2 * X;
    for (uint64_t t = t0; t < t1; t++) {
        const int32_t n = u[t], nw = u[t - 1], ne = u[t + 1], nee = u[t + 2], nww = u[t - 2], nn = uu[t];
        P[t] = 3 * (n + ne + nee) + nw - 2 * nn - nww;
        G[t] = abs(n - nw) + abs(n - ne) + abs(n - nn);
        N[t] = nw;
    }
}

/* nlcode16's wavefront decoder: rows y0 .. y0+R-1 of a plane (y0 >= 2, rows y0-2 and y0-1 decoded, all
 * in the block, X >= 8); lane j (of two AVX2 vectors or one AVX-512 vector) decodes rows j, j+16, ...,
 * three columns behind lane j-1 (and lane 0 behind lane 15's previous row). */
typedef struct nl_wave {
    const uint32_t *lut32;       /* [108][512] frequency | cumulative << 13 | residual or escape << 25, flags */
    const uint8_t *ovf;          /* [..][8] tokens of the slots of a bucket with more than one (nlcode.c) */
    const uint32_t *fc;          /* [108 * 64]: frequency | cumulative frequency << 16 */
    const uint8_t *base;         /* the block: stream offsets count from here */
    int32_t n;                   /* its bytes */
    uint32_t x[16];              /* rANS state of row j's lane */
    int32_t p[16], end[16];      /* offsets of its next word and of its stream's end */
    int32_t bs[16], bl[16], bc[16]; /* its extra-bit stream: offset, length in bits, bits read */
    uint32_t bad;                /* as nlcode.c's: 1 a stream ends early, 2 an unused context */
    int narrow;                  /* in: try values in 16-bit lanes; out: 0 where a value needed more */
    int first;                   /* the rows start at row 0 of a plane (row 0 and 1's own neighbours) */
    uint16_t w0;                 /* then row 0's W in column 0: the element before the plane, or 0 */
    /* an element the vectors leave to scalar code (an unused context, extra bits at the block's
     * end): its value from the clamped prediction sp and activity sum gg; updates x[j], p[j],
     * bc[j], bad */
    int32_t (*slow)(struct nl_wave *w, unsigned j, int32_t sp, uint32_t gg);
    void *arg;
    void *scratch;               /* nl_wave_scratch_bytes(X) */
} nl_wave;

/* Steps per round (a lane's row and the wait for the next one) and the step ring of the values. */
static inline uint64_t nl_wave_period(uint64_t X) { return X > 48 ? X : 48; }
static inline uint64_t nl_wave_ring(uint64_t X)
{
    uint64_t r = 64;
    while (r < nl_wave_period(X) + 48) r *= 2;
    return r;
}
static inline size_t nl_wave_scratch_bytes(uint64_t X)
{
    return (size_t)(2 * (nl_wave_period(X) + 72) * 4 + nl_wave_ring(X) * 32 + 64);
}

#ifdef SQZ_HAVE_AVX2
void sqz_nlcode_wave16_avx2(nl_wave *w, uint16_t *v, uint64_t X, uint64_t R, uint32_t mask);
#ifdef SQZ_HAVE_AVX512
void sqz_nlcode_wave16_avx512(nl_wave *w, uint16_t *v, uint64_t X, uint64_t R, uint32_t mask);
void sqz_nlcode_model_row_avx512(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx,
                                 uint16_t *zo);
#endif
/* nlcode16's encoder: rANS for 16 whole rows (row j: idx + j X, lane j), from the last symbol; efc:
 * frequency | cumulative frequency << 16 per symbol id; xs, p: the lanes' states and stream pointers */
void sqz_nlcode_rans16_avx2(const uint32_t *efc, const uint16_t *idx, uint64_t X, uint32_t *xs, uint8_t **p);
void sqz_nlcode_prep_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, int32_t *P, int32_t *G, int32_t *N);
void sqz_nlcode_model_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx,
                               uint16_t *zo);
#endif

#endif
