#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_int g_level = -1;

int sqz_simd_available(void)
{
#if defined(SQZ_HAVE_AVX2) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
#ifdef SQZ_HAVE_AVX512
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512cd"))
        return SQZ_SIMD_AVX512;
#endif
    if (__builtin_cpu_supports("avx2")) return SQZ_SIMD_AVX2;
#endif
    return SQZ_SIMD_SCALAR;
}

int sqz_simd_get(void)
{
    int level = atomic_load_explicit(&g_level, memory_order_relaxed);
    if (level >= 0) return level;
    level = sqz_simd_available();
    const char *env = getenv("SQEAZY_SIMD");
    if (env && strcmp(env, "scalar") == 0) level = SQZ_SIMD_SCALAR;
    if (env && strcmp(env, "avx2") == 0 && level > SQZ_SIMD_AVX2) level = SQZ_SIMD_AVX2;
    atomic_store(&g_level, level);
    return level;
}

int sqz_simd_set(int level)
{
    int avail = sqz_simd_available();
    if (level < 0 || level > avail) level = avail;
    atomic_store(&g_level, level);
    return level;
}
