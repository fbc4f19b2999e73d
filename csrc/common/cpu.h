/* SIMD level: detected once, overridable for tests (sqz_simd_set) and by SQEAZY_SIMD=scalar or =avx2. */
#ifndef SQZ_CPU_H
#define SQZ_CPU_H

#include "sqeazy.h"

int sqz_simd_get(void);

#endif
