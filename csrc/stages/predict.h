/* Prediction kernels shared by predict.c and predict_avx2.c; the bytes are in docs/FORMAT.md. */
#ifndef SQZ_PREDICT_H
#define SQZ_PREDICT_H

#include <stddef.h>
#include <stdint.h>

/* ROW and ROW3D use no element of their own row: a row decodes as one vector operation. */
enum { SQZ_PRED_LEFT = 0, SQZ_PRED_MED = 1, SQZ_PRED_AVG = 2, SQZ_PRED_PLANE = 3, SQZ_PRED_AVG3D = 4, SQZ_PRED_AVGNE = 5,
       SQZ_PRED_AUTO = 6, SQZ_PRED_ROW = 7, SQZ_PRED_ROW3D = 8, SQZ_PRED_COUNT_ };

#ifndef SQZ_HD
#define SQZ_HD static inline   /* the CUDA build defines it as host + device */
#endif

SQZ_HD int sqz_pred_row_mode(int mode) { return mode == SQZ_PRED_ROW || mode == SQZ_PRED_ROW3D; }

/* Prediction with every neighbour present, shared by the CPU stage and the GPU kernels. */
SQZ_HD uint64_t sqz_pred_full(int mode, uint64_t w, uint64_t n, uint64_t nw, uint64_t ne, uint64_t p)
{
    switch (mode) {
    case SQZ_PRED_LEFT: return w;
    case SQZ_PRED_MED: {
        uint64_t mx = w > n ? w : n, mn = w > n ? n : w;
        return nw >= mx ? mn : nw <= mn ? mx : w + n - nw;
    }
    case SQZ_PRED_PLANE: return p;
    case SQZ_PRED_AVG3D: return (((w + n) >> 1) + p + 1) >> 1;
    case SQZ_PRED_AVGNE: return (w + ((n + ne) >> 1) + 1) >> 1;
    case SQZ_PRED_ROW: return (nw + 2 * n + ne) >> 2;
    case SQZ_PRED_ROW3D: return (((nw + 2 * n + ne) >> 2) + p + 1) >> 1;
    default: return (w + n) >> 1;
    }
}

/* Residuals of one interior row (every element has N, and P for the 3-D modes), elements
 * [j0, X) with j0 >= 1; NE of the last element is N. cur/up/pp: this row, the row above, the same row one plane before.
 * flip: XOR applied to every value first (sign bit for signed types). The scalar functions
 * are the reference; the AVX2 and AVX-512 ones do elements [1, returned) and need j0 == 1. */
void sqz_predict_row_scalar(int mode, size_t es, const void *cur, const void *up, const void *pp, void *out,
                            size_t X, size_t j0, uint32_t flip);
size_t sqz_predict_row_avx2(int mode, size_t es, const void *cur, const void *up, const void *pp, void *out,
                            size_t X, uint32_t flip);
size_t sqz_predict_row_avx512(int mode, size_t es, const void *cur, const void *up, const void *pp, void *out,
                              size_t X, uint32_t flip);

/* Decoder of one interior row of ROW or ROW3D (z: residuals, up: the row above, decoded; pp: the
 * previous plane's row for ROW3D): elements [1, returned); z may be out. */
size_t sqz_predict_dec_row_avx2(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                size_t X, uint32_t flip);
/* The same for `rows` interior rows, whole (returns rows, or 0: not handled) */
size_t sqz_predict_dec_rowwise_avx512(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                      size_t X, size_t rows, uint32_t flip);

/* Decoder of whole interior rows for the averaging modes and MED (AVG, AVGNE, AVG3D, MED; 1- and 2-byte
 * elements): z = residuals of `rows` rows, up = the row above the first, pp = the first row's
 * previous plane (AVG3D). Decodes rows in groups of 16, and a last group of at least
 * SQZ_PREDICT_DEC_MIN_ROWS; returns how many rows (0: not handled). */
#define SQZ_PREDICT_DEC_MIN_ROWS 8

/* What the 16-row decoder keeps of the rows it decoded last (its value vectors, in its own
 * layout), so that the same rows of the next plane read their P without a transpose. One per
 * worker (the stage state); `rows` NULL: nothing kept. */
typedef struct {
    const void *rows;
    size_t X, n_rows, es, lanes;  /* lanes: 16 (AVX2) or 32 (AVX-512), the layout */
    void *buf[2];
    size_t cap;
    int cur;
} sqz_pred_carry;

/* carry: NULL, or where to keep this call's vectors and find the previous plane's (3-D modes).
 * The AVX-512 decoder takes 32 rows at once (calls of at least 24 rows of at least 32 columns, 128 for
 * AVGNE; 0 otherwise) and may run in place (z == out). */
size_t sqz_predict_dec_rows_avx2(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                 size_t X, size_t rows, uint32_t flip, sqz_pred_carry *carry);
size_t sqz_predict_dec_rows_avx512(int mode, size_t es, const void *z, void *out, const void *up, const void *pp,
                                   size_t X, size_t rows, uint32_t flip, sqz_pred_carry *carry);

/* Room for `bytes` of vectors (64-byte aligned, at most 4 MiB) in both of the carry's buffers;
 * new buffers hold nothing to carry. Returns 0 where there is none. */
int sqz_pred_carry_room(sqz_pred_carry *c, size_t bytes);

#define SQZ_PREDICT_COST_MODES 6  /* at most this many modes per sqz_predict_cost_avx2 call */

/* Auto mode's cost model: cost[c] += sum of 4*log2(2|x - pred| + 1) (to a quarter, see
 * predict.c) over elements [1, returned) of an interior row of 2-byte elements, for modes[c]. */
size_t sqz_predict_cost_avx2(const int *modes, int n_modes, const uint16_t *cur, const uint16_t *up,
                             const uint16_t *pp, size_t X, uint32_t flip, uint64_t *cost);

#endif
