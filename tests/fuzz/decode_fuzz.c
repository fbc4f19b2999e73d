/* decode_fuzz: arbitrary bytes into everything that reads untrusted input.
 *
 * Each input is used four ways:
 *  1. as a chunk, into sqz_inspect and sqz_decode (1 and 2 threads), from an exact-size copy
 *     so that any over-read is caught, with a canary after the output;
 *  2. the same bytes with their block hashes and header checksum recomputed, so that mutated
 *     sizes, pipelines and payloads reach the header checks and the stage decoders;
 *  3. as a chunk through the HDF5 filter callback (decode direction) with the cd_values the
 *     plugin stores for a dataset, exactly as HDF5 calls it;
 *  4. as cd_values words into the cd_values parser, then through the filter both ways.
 * The contract (docs/FORMAT.md, "Decoder contract"): an error with a message, or exactly
 * raw_size bytes; never a crash, hang, out-of-bounds access or an allocation beyond the
 * chunk size (libFuzzer's -malloc_limit_mb enforces the latter in tests/fuzz/run.sh). */
#define _GNU_SOURCE /* before any header: the plugin source below needs dladdr */
#include "fuzz_util.h"

/* The filter callback is static: compile the plugin source into this target. */
#include "hdf5/h5filter.c"

static void decode_checked(const uint8_t *data, size_t size, int threads)
{
    uint8_t *src = malloc(size ? size : 1);
    memcpy(src, data, size);
    sqz_info info;
    if (sqz_inspect(src, size, &info) < 0) {
        FUZZ_CHECK(sqz_last_error()[0], "inspect failed without a message");
        uint8_t dst[64];
        FUZZ_CHECK(sqz_decode(src, size, dst, sizeof dst, threads) < 0, "decode accepts what inspect refuses");
        free(src);
        return;
    }
    FUZZ_CHECK(info.header_size <= size, "header_size %llu > %zu", (unsigned long long)info.header_size, size);
    const size_t cap = info.raw_size <= FUZZ_MAX_RAW ? (size_t)info.raw_size : 4096;
    uint8_t *dst = malloc(cap + 1);
    dst[cap] = 0xA5;
    int64_t r = sqz_decode(src, size, dst, cap, threads);
    if (info.raw_size > cap) {
        FUZZ_CHECK(r == -SQZ_ERR_DST_TOO_SMALL, "a %llu-byte chunk decoded into %zu bytes: %lld",
                   (unsigned long long)info.raw_size, cap, (long long)r);
    } else if (r >= 0) {
        FUZZ_CHECK((uint64_t)r == info.raw_size, "decode wrote %lld of %llu bytes", (long long)r,
                   (unsigned long long)info.raw_size);
        FUZZ_CHECK(info.chunk_size == size, "decoded, but inspect says the chunk has %llu bytes of %zu",
                   (unsigned long long)info.chunk_size, size);
        uint8_t *again = malloc(cap + 1);
        int64_t r2 = sqz_decode(src, size, again, cap, 3 - threads);
        FUZZ_CHECK(r2 == r && memcmp(dst, again, cap) == 0, "decoded bytes depend on the thread count");
        if (cap) FUZZ_CHECK(sqz_decode(src, size, again, cap - 1, threads) == -SQZ_ERR_DST_TOO_SMALL,
                            "a buffer one byte short is accepted");
        free(again);
    } else {
        FUZZ_CHECK(sqz_last_error()[0], "decode failed (%lld) without a message", (long long)r);
    }
    FUZZ_CHECK(dst[cap] == 0xA5, "decode wrote past the end of its buffer");
    free(dst);
    free(src);
}

/* The filter as HDF5 calls it when reading: it owns *buf and replaces it. */
static void through_filter(const uint8_t *data, size_t size)
{
    sqz_cd_config cfg = {.dtype = SQZ_UINT16, .ndim = 2, .chunk = {64, 64}};
    snprintf(cfg.pipeline, sizeof cfg.pipeline, "%s", SQZ_DEFAULT_PIPELINE);
    sqz_info info;
    int ok = sqz_inspect(data, size, &info) >= 0;
    if (ok && info.raw_size <= FUZZ_MAX_RAW) {
        cfg.dtype = info.dtype;
        cfg.ndim = info.ndim;
        for (int d = 0; d < info.ndim; d++) cfg.chunk[d] = info.shape[d];
    }
    unsigned cd[SQZ_CD_MAX];
    char why[512];
    size_t n_cd = sqz_cd_write(&cfg, cd, SQZ_CD_MAX, why, sizeof why);
    FUZZ_CHECK(n_cd > 0, "cd_write: %s", why);
    uint64_t expect = sqz_dtype_size(cfg.dtype);
    for (int d = 0; d < cfg.ndim; d++) expect *= cfg.chunk[d];
    for (int form = 0; form < 2; form++) {
        if (form == 1 && !(ok && info.raw_size <= FUZZ_MAX_RAW)) break; /* no cd_values: only small chunks */
        void *buf = malloc(size ? size : 1);
        memcpy(buf, data, size);
        size_t buf_size = size;
        size_t r = h5_filter(H5Z_FLAG_REVERSE, form ? 0 : n_cd, cd, size, &buf_size, &buf);
        if (r) {
            FUZZ_CHECK(form == 1 || r == expect, "filter returned %zu bytes for a %llu-byte chunk", r,
                       (unsigned long long)expect);
            FUZZ_CHECK(buf_size >= r, "filter buffer %zu < %zu", buf_size, r);
        }
        free(buf);
    }
}

static void through_cd_values(const uint8_t *data, size_t size)
{
    unsigned cd[SQZ_CD_MAX];
    size_t n = size / 4 > SQZ_CD_MAX ? SQZ_CD_MAX : size / 4;
    for (size_t i = 0; i < n; i++) cd[i] = sqz_rd32(data + 4 * i);
    sqz_cd_config cfg;
    char why[512] = "";
    if (sqz_cd_parse(cd, n, &cfg, why, sizeof why) < 0) {
        FUZZ_CHECK(why[0], "cd_values refused without a reason");
        return;
    }
    if (cfg.ndim == 0) { /* user form: what set_local would store for a 32x64 uint16 chunk */
        cfg.dtype = SQZ_UINT16;
        cfg.ndim = 2;
        cfg.chunk[0] = 32;
        cfg.chunk[1] = 64;
    }
    unsigned full[SQZ_CD_MAX];
    size_t n_full = sqz_cd_write(&cfg, full, SQZ_CD_MAX, why, sizeof why);
    if (!n_full) return; /* e.g. a chunk rank whose cd_values do not fit */
    sqz_cd_config back;
    FUZZ_CHECK(sqz_cd_parse(full, n_full, &back, why, sizeof why) == 0, "full form does not parse: %s", why);
    FUZZ_CHECK(back.ndim == cfg.ndim && back.dtype == cfg.dtype && back.threads == cfg.threads &&
               back.block_bytes == cfg.block_bytes, "cd_values do not survive a round trip");

    /* A 4 KiB buffer through the filter, forward then back. */
    const size_t raw = 4096;
    uint8_t *src = malloc(raw);
    for (size_t i = 0; i < raw; i++) src[i] = (uint8_t)(i * 7 + (i >> 9));
    void *buf = malloc(raw);
    memcpy(buf, src, raw);
    size_t buf_size = raw;
    size_t enc = h5_filter(0, n_full, full, raw, &buf_size, &buf);
    if (enc) {
        size_t dec = h5_filter(H5Z_FLAG_REVERSE, n_full, full, enc, &buf_size, &buf);
        uint64_t expect = sqz_dtype_size(cfg.dtype);
        for (int d = 0; d < cfg.ndim; d++) expect *= cfg.chunk[d];
        char canonical[512];
        const int lossy = sqz_pipeline_canonical(cfg.pipeline, canonical, sizeof canonical) >= 0 &&
                          pipeline_is_lossy(canonical);
        if (expect == raw)
            FUZZ_CHECK(dec == raw && (lossy || memcmp(buf, src, raw) == 0), "filter round trip fails: %s",
                       sqz_last_error());
        else
            FUZZ_CHECK(dec == 0, "chunk of the wrong size accepted");
    }
    free(buf);
    free(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_checked(data, size, 1);
    if (size >= SQZ_FIXED_HEADER) {
        uint8_t *fixed = malloc(size);
        memcpy(fixed, data, size);
        fuzz_fix_checksums(fixed, size);
        decode_checked(fixed, size, 2);
        through_filter(fixed, size);
        free(fixed);
    } else {
        through_filter(data, size);
    }
    through_cd_values(data, size);
    return 0;
}
