/* Raise every value below a threshold to it (the rmbkrd family), for any element type.
 * Integer data reads int16 as the uint16 camera counts BigDataViewer stores in it. */
#ifndef SQZ_CLAMP_H
#define SQZ_CLAMP_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "sqeazy.h"

static inline void sqz_clamp_below(int dtype, const void *src, void *dst, size_t n_bytes, double threshold)
{
#define CLAMP(T, LO, HI)                                                        \
    do {                                                                        \
        double t = ceil(threshold);                                             \
        T thr = (T)(t < (LO) ? (LO) : t > (HI) ? (HI) : t);                     \
        const T *in = src;                                                      \
        T *out = dst;                                                           \
        for (size_t i = 0; i < n_bytes / sizeof(T); i++) out[i] = in[i] < thr ? thr : in[i]; \
    } while (0)
    switch (dtype) {
    case SQZ_UINT8: CLAMP(uint8_t, 0, 255); break;
    case SQZ_INT8: CLAMP(int8_t, -128, 127); break;
    case SQZ_UINT16: case SQZ_INT16: CLAMP(uint16_t, 0, 65535); break;
    case SQZ_UINT32: CLAMP(uint32_t, 0, 4294967295.0); break;
    case SQZ_INT32: CLAMP(int32_t, -2147483648.0, 2147483647.0); break;
    case SQZ_FLOAT32: {
        const float *in = src;
        float *out = dst;
        float thr = (float)threshold;
        for (size_t i = 0; i < n_bytes / 4; i++) out[i] = in[i] < thr ? thr : in[i];
        break;
    }
    default: break;
    }
#undef CLAMP
}

#endif
