/* Helpers shared by the fuzz targets: a loud abort, and a checksum fix-up that lets mutated
 * chunks get past the hashes so the fuzzer reaches the header checks and stage decoders.
 * Layout: docs/FORMAT.md. Internal headers are used on purpose (this is a white-box test). */
#ifndef SQZ_FUZZ_UTIL_H
#define SQZ_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/checksum.h"
#include "pipeline/pipeline.h"
#include "sqeazy.h"

#define FUZZ_FAIL(...) do { fprintf(stderr, "FUZZ FAILURE %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); abort(); } while (0)
#define FUZZ_CHECK(cond, ...) do { if (!(cond)) FUZZ_FAIL(__VA_ARGS__); } while (0)

/* Largest decoded chunk the targets allocate (HDF5 would know the real chunk size). */
#define FUZZ_MAX_RAW (8u << 20)

/* Recompute the stored-bytes hashes of the blocks that fit and then the header checksum, in
 * place. The fields are read with bounds checks of our own; nothing here trusts the chunk. */
static inline void fuzz_fix_checksums(uint8_t *p, size_t n)
{
    if (n < SQZ_FIXED_HEADER) return;
    uint64_t ndim = p[6], pipe = sqz_rd16(p + 24), nb = sqz_rd32(p + 20);
    uint64_t table = SQZ_FIXED_HEADER + 4 * ndim + pipe;
    uint64_t head = table + SQZ_TABLE_ENTRY * nb;
    if (head > n) return;
    uint64_t at = head;
    for (uint64_t i = 0; i < nb; i++) {
        uint8_t *e = p + table + SQZ_TABLE_ENTRY * i;
        uint64_t sz = sqz_rd32(e) & ~SQZ_STORED_FLAG;
        if (sz > n - at) break;
        sqz_wr32(e + 8, sqz_hash32(p + at, (size_t)sz));
        at += sz;
    }
    uint8_t fixed[SQZ_FIXED_HEADER];
    memcpy(fixed, p, sizeof fixed);
    memset(fixed + 28, 0, 4);
    sqz_wr32(p + 28, sqz_hash32_scalar(fixed, sizeof fixed) ^ sqz_hash32(p + SQZ_FIXED_HEADER, (size_t)(head - SQZ_FIXED_HEADER)));
}

/* Lossy pipelines (a stage flagged lossy in the registry) must be deterministic, not exact. */
static inline int pipeline_is_lossy(const char *canonical)
{
    const char *names = sqz_lossy_stage_names();
    const char *p = canonical;
    for (;;) {
        size_t n = strcspn(p, "(-");
        for (const char *q = names; *q;) {
            size_t m = strcspn(q, ",");
            if (m == n && n && memcmp(p, q, n) == 0) return 1;
            q += m + (q[m] == ',');
        }
        const char *next = strstr(p, "->");
        if (!next) return 0;
        p = next + 2;
    }
}

#endif
