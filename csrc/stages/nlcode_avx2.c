/* nlcode_model.h built with -mavx2 (chosen at run time by nlcode.c). */
#include "nlcode_model.h"

void sqz_nlcode_prep_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, int32_t *P, int32_t *G, int32_t *N)
{
    nl_prep_row(v, X, t0, t1, P, G, N);
}

void sqz_nlcode_model_row_avx2(const uint16_t *v, uint64_t X, uint64_t t0, uint64_t t1, uint32_t mask, uint8_t *cx,
                               uint16_t *zo)
{
    if (mask == 0xFF) nl_model_row(v, X, t0, t1, 0xFF, cx, zo);
    else nl_model_row(v, X, t0, t1, 0xFFFF, cx, zo);
}
