/* Bounded memory: sizes declared in a corrupt header (raw_size, block_elems, n_blocks,
 * pipeline_size, meta_size, shape, ndim) cannot make the decoder allocate more than a small
 * multiple of the buffer it was given. Every malloc/calloc/realloc of the core is counted
 * (linked with -Wl,--wrap=...; allocations inside liblz4/libzstd are not seen, they are
 * fixed-size contexts). Pipelines come from the registry. Prints "N passed, N failed". */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_util.h"
#include "stages/stage.h"

void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__real_aligned_alloc(size_t, size_t);
int __real_posix_memalign(void **, size_t, size_t);

static atomic_ullong g_total, g_largest;
static void count(size_t n)
{
    atomic_fetch_add(&g_total, n);
    unsigned long long cur = atomic_load(&g_largest);
    while (n > cur && !atomic_compare_exchange_weak(&g_largest, &cur, n)) {}
}
void *__wrap_malloc(size_t n) { count(n); return __real_malloc(n); }
void *__wrap_calloc(size_t a, size_t b) { count(a * b); return __real_calloc(a, b); }
void *__wrap_realloc(void *p, size_t n) { count(n); return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { count(n); return __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { count(n); return __real_posix_memalign(p, a, n); }

static int g_pass, g_fail;
#define CHECK(cond, ...) do { if (cond) g_pass++; else { g_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* What decoding into dst_cap bytes may allocate: a few blocks of scratch per thread (a block
 * is at most the chunk, threads * block <= 2 * chunk; 2 or 3 per thread: 6x), the offsets table
 * (8 bytes per 12-byte table entry) and a constant for stage states and tables (1 MiB). */
static unsigned long long allowed(size_t dst_cap, size_t src_size)
{
    return 6ull * dst_cap + src_size + (1u << 20);
}

static unsigned long long g_worst_ratio_num, g_worst_ratio_den = 1;

static void decode_counted(const uint8_t *chunk, size_t n, size_t dst_cap, const char *what)
{
    uint8_t *dst = __real_malloc(dst_cap ? dst_cap : 1);
    atomic_store(&g_total, 0);
    atomic_store(&g_largest, 0);
    sqz_info info;
    sqz_inspect(chunk, n, &info);
    CHECK(atomic_load(&g_total) == 0, "%s: inspect allocated %llu bytes", what, (unsigned long long)atomic_load(&g_total));
    int64_t r = sqz_decode(chunk, n, dst, dst_cap, 2);
    unsigned long long total = atomic_load(&g_total);
    CHECK(total <= allowed(dst_cap, n), "%s: decode (rc %lld: %s) allocated %llu bytes for a %zu-byte buffer",
          what, (long long)r, r < 0 ? sqz_last_error() : "ok", total, dst_cap);
    if (total * g_worst_ratio_den > g_worst_ratio_num * (dst_cap + n + 1)) {
        g_worst_ratio_num = total;
        g_worst_ratio_den = dst_cap + n + 1;
    }
    free(dst);
}

/* A valid chunk that declares 2^30-byte blocks for a few bytes of data must decode
 * within the bound (it did not: the scratch followed block_elems). */
static void test_huge_block_elems(void)
{
    const char *pipes[] = {"bitshuffle->lz4", "bitshuffle->zstd", "bitshuffle->raw"};
    for (size_t p = 0; p < sizeof pipes / sizeof *pipes; p++) {
        uint32_t data[16];
        for (int i = 0; i < 16; i++) data[i] = (uint32_t)(i * 1000);
        uint64_t shape[1] = {16};
        uint8_t chunk[4096];
        sqz_options o = {pipes[p], 1, 0};
        int64_t n = sqz_encode(data, sizeof data, SQZ_UINT32, 1, shape, &o, chunk, sizeof chunk);
        CHECK(n > 0, "encode %s", pipes[p]);
        sqz_wr32(chunk + 16, (1u << 30) / 4);  /* block_elems: still one block of 16 elements */
        fuzz_fix_checksums(chunk, (size_t)n);
        uint32_t out[16];
        atomic_store(&g_total, 0);
        int64_t r = sqz_decode(chunk, (size_t)n, out, sizeof out, 1);
        CHECK(r == (int64_t)sizeof data && memcmp(out, data, sizeof data) == 0, "%s: valid chunk with huge block_elems: %s",
              pipes[p], sqz_last_error());
        CHECK(atomic_load(&g_total) <= allowed(sizeof out, (size_t)n), "%s: %llu bytes allocated for 64 bytes of data",
              pipes[p], (unsigned long long)atomic_load(&g_total));
    }
}

static size_t list_pipelines(char out[][128], size_t cap)
{
    char names[512];
    snprintf(names, sizeof names, "%s", sqz_stage_names());
    const char *codecs[32], *filters[32];
    size_t nc = 0, nf = 0, n = 0;
    for (char *tok = strtok(names, ","); tok; tok = strtok(NULL, ",")) {
        const sqz_stage *st = sqz_stage_by_name(tok, strlen(tok));
        if (!st) continue;
        if (st->kind == SQZ_STAGE_CODEC && nc < 32) codecs[nc++] = st->name;
        else if (nf < 32) filters[nf++] = st->name;
    }
    for (size_t c = 0; c < nc && n < cap; c++) snprintf(out[n++], 128, "%s", codecs[c]);
    for (size_t f = 0; f < nf; f++)
        for (size_t c = 0; c < nc && n < cap; c++) snprintf(out[n++], 128, "%s->%s", filters[f], codecs[c]);
    return n;
}

/* Each declared size set to extreme values, checksums fixed so the decoder gets past them. */
static void test_corrupt_sizes(void)
{
    static char pipes[256][128];
    size_t np = list_pipelines(pipes, 256);
    CHECK(np >= 4, "registry lists %zu pipelines", np);
    const uint64_t values[] = {0, 1, 7, 8, 255, 4096, 65535, 65536, 1u << 20, (1u << 30) / 4, (1u << 30) - 1,
                               1u << 30, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu};
    const size_t nv = sizeof values / sizeof *values;
    const int dtypes[] = {SQZ_UINT8, SQZ_UINT16, SQZ_FLOAT32};
    for (size_t p = 0; p < np; p++)
        for (size_t t = 0; t < 3; t++) {
            const size_t es = sqz_dtype_size(dtypes[t]);
            uint64_t shape[2] = {6, 700};
            const size_t raw = 6 * 700 * es;
            uint8_t *src = __real_malloc(raw);
            for (size_t i = 0; i < raw; i++) src[i] = (uint8_t)((i % 97) * (i % 3));
            size_t bound = sqz_encode_bound(raw, dtypes[t], 2, pipes[p]);
            uint8_t *chunk = __real_malloc(bound), *work = __real_malloc(bound + 64);
            sqz_options o = {pipes[p], 1, 1024};
            int64_t n = sqz_encode(src, raw, dtypes[t], 2, shape, &o, chunk, bound);
            if (n < 0) { free(src); free(chunk); free(work); continue; } /* stage refuses this dtype */
            const size_t pipe_at = SQZ_FIXED_HEADER + 8;
            struct { const char *name; size_t at, width; } fields[] = {
                {"raw_size", 8, 8}, {"block_elems", 16, 4}, {"n_blocks", 20, 4}, {"pipeline_size", 24, 2},
                {"shape[0]", 32, 4}, {"shape[1]", 36, 4}, {"meta_size", pipe_at + 3, 4}, {"ndim", 6, 1},
                {"stored_size[0]", 0, 4},
            };
            const uint32_t psize = sqz_rd16(chunk + 24);
            fields[8].at = pipe_at + psize;
            char what[256];
            for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
                for (size_t v = 0; v < nv; v++) {
                    memcpy(work, chunk, (size_t)n);
                    if (fields[f].width == 8) sqz_wr64(work + fields[f].at, values[v] * (1 + (v & 1) * 977));
                    else if (fields[f].width == 4) sqz_wr32(work + fields[f].at, (uint32_t)values[v]);
                    else if (fields[f].width == 2) sqz_wr16(work + fields[f].at, (uint16_t)values[v]);
                    else work[fields[f].at] = (uint8_t)values[v];
                    fuzz_fix_checksums(work, (size_t)n);
                    snprintf(what, sizeof what, "%s %s dtype %d %s=%llu", pipes[p], "", dtypes[t], fields[f].name,
                             (unsigned long long)values[v]);
                    decode_counted(work, (size_t)n, raw, what);      /* the size HDF5 expects */
                    decode_counted(work, (size_t)n, 64, what);       /* a small buffer */
                }
            /* the header claims a chunk of the largest shape; the buffer is what HDF5 expects */
            memcpy(work, chunk, (size_t)n);
            sqz_wr32(work + 32, 0xFFFFFFFFu);
            sqz_wr32(work + 36, 0xFFFFFFFFu);
            sqz_wr64(work + 8, 0xFFFFFFFFull * 0xFFFFFFFFull * es);
            fuzz_fix_checksums(work, (size_t)n);
            decode_counted(work, (size_t)n, raw, "largest shape");
            free(src); free(chunk); free(work);
        }
}

int main(void)
{
    test_huge_block_elems();
    test_corrupt_sizes();
    printf("worst allocation: %.2f bytes per byte of buffer + chunk\n", (double)g_worst_ratio_num / (double)g_worst_ratio_den);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
