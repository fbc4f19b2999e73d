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

/* Decoder: PAIR_B inner elements of two rows. Inputs: the parts of the predictions (p) and activities
 * (g) that come from the rows above, and the north-west neighbours (n); outputs: the values. */
#define NL_PAIR_B 8
typedef struct {
    int32_t pa[NL_PAIR_B], ga[NL_PAIR_B], na[NL_PAIR_B], pb[NL_PAIR_B], gb[NL_PAIR_B], nb[NL_PAIR_B];
    uint16_t oa[NL_PAIR_B], ob[NL_PAIR_B];
} nl_pair_blk;

/* p, g, n of NL_PAIR_B elements from t0 of row v (rows v - X and v - 2X decoded). */
static inline __attribute__((always_inline)) void nl_prep8(const uint16_t *v, uint64_t X, uint64_t t0, int32_t *P, int32_t *G,
                                                           int32_t *N)
{
    const uint16_t *u = v - X + t0, *uu = v - 2 * X + t0;
    for (int t = 0; t < NL_PAIR_B; t++) {
        const int32_t n = u[t], nw = u[t - 1], ne = u[t + 1], nee = u[t + 2], nww = u[t - 2], nn = uu[t];
        P[t] = 3 * (n + ne + nee) + nw - 2 * nn - nww;
        G[t] = abs(n - nw) + abs(n - ne) + abs(n - nn);
        N[t] = nw;
    }
}

/* Both rows' inputs; returns 1 when some p is outside [0, lim] (the prediction then needs clamping). */
static inline int nl_prep_pair(const uint16_t *va, uint64_t xa, const uint16_t *vb, uint64_t j, uint64_t X, int32_t lim,
                               nl_pair_blk *q)
{
    nl_prep8(va, X, xa, q->pa, q->ga, q->na);
    nl_prep8(vb, X, j, q->pb, q->gb, q->nb);
    uint32_t out = 0;
    for (int t = 0; t < NL_PAIR_B; t++)
        out |= (uint32_t)q->pa[t] | (uint32_t)q->pb[t] | (uint32_t)(lim - q->pa[t]) | (uint32_t)(lim - q->pb[t]);
    return (int)(out >> 31);
}

#ifdef SQZ_HAVE_AVX2
int sqz_nlcode_prep_pair_avx2(const uint16_t *va, uint64_t xa, const uint16_t *vb, uint64_t j, uint64_t X, int32_t lim,
                              nl_pair_blk *q);
void sqz_nlcode_model_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx,
                               uint16_t *zo);
#endif

#endif
