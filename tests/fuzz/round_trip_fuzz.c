/* round_trip_fuzz: arbitrary data and parameters must round-trip exactly, and the encoded
 * bytes must not depend on the run, the thread count or the SIMD level.
 *
 * Input layout (mirrored by tests/test_fuzz_corpus.py, which replays the corpus in Python):
 *   byte 0   dtype = 1 + b0 % 7, ndim = 1 + (b0 / 7) % 3
 *   byte 1,2 d1 = 1 + b1 % 16, d2 = 1 + b2 % 16   (shape: (n), (d1, n/d1) or (d1, d2, n/(d1*d2)))
 *   byte 3   block size in KiB = b3 % 65 (0: the pipeline's default)
 *   byte 4   L, then L bytes of pipeline text (L = 0: the default pipeline; any byte 0 or >= 0x80
 *            rejects the input)
 *   rest     the data, cut to a whole number of elements of that shape
 * Pipelines come from the text, so every stage of the registry is reachable; the seed corpus
 * (tests/fuzz/make_corpus.py) holds one input per registered pipeline. */
#include "fuzz_util.h"

static int refusal(int64_t r)
{
    /* The pipeline or a stage refuses this dtype, shape or parameter: not a bug. */
    return r == -SQZ_ERR_BAD_ARGUMENT || r == -SQZ_ERR_UNSUPPORTED_DTYPE || r == -SQZ_ERR_BAD_PARAMETER ||
           r == -SQZ_ERR_PIPELINE_SYNTAX || r == -SQZ_ERR_UNKNOWN_STAGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5) return 0;
    const int dtype = 1 + data[0] % 7, ndim = 1 + (data[0] / 7) % 3;
    const uint64_t d1 = 1 + data[1] % 16, d2 = 1 + data[2] % 16;
    const uint32_t block_bytes = (uint32_t)(data[3] % 65) * 1024u;
    const size_t L = data[4];
    if (size < 5 + L) return 0;
    char text[256];
    for (size_t i = 0; i < L; i++) {
        if (data[5 + i] == 0 || data[5 + i] >= 0x80) return 0;
        text[i] = (char)data[5 + i];
    }
    text[L] = '\0';
    const char *pipeline = L ? text : SQZ_DEFAULT_PIPELINE;
    char canonical[512];
    if (sqz_pipeline_canonical(pipeline, canonical, sizeof canonical) < 0) return 0;

    const size_t es = sqz_dtype_size(dtype);
    const uint8_t *payload = data + 5 + L;
    uint64_t n = (size - 5 - L) / es, shape[3];
    if (ndim == 1) { shape[0] = n; }
    else if (ndim == 2) { shape[0] = d1; shape[1] = n / d1; }
    else { shape[0] = d1; shape[1] = d2; shape[2] = n / (d1 * d2); }
    uint64_t elems = 1;
    for (int d = 0; d < ndim; d++) elems *= shape[d];
    const size_t raw = (size_t)(elems * es);
    uint8_t *src = malloc(raw ? raw : 1);  /* exact size: over-reads are caught */
    memcpy(src, payload, raw);

    const size_t bound = sqz_encode_bound(raw, dtype, ndim, pipeline);
    FUZZ_CHECK(bound >= raw, "encode_bound %zu < raw %zu for '%s'", bound, raw, pipeline);
    uint8_t *a = malloc(bound), *b = malloc(bound);
    sqz_options o1 = {pipeline, 1, block_bytes}, o2 = {pipeline, 2, block_bytes};
    int64_t na = sqz_encode(src, raw, dtype, ndim, shape, &o1, a, bound);
    if (na < 0) {
        FUZZ_CHECK(refusal(na), "encode '%s' dtype %d failed: %s", pipeline, dtype, sqz_last_error());
        FUZZ_CHECK(sqz_last_error()[0], "refused without a message");
        goto done;
    }
    FUZZ_CHECK((size_t)na <= bound, "chunk of %lld bytes exceeds the bound %zu", (long long)na, bound);

    sqz_info info;
    FUZZ_CHECK(sqz_inspect(a, (size_t)na, &info) == 0, "inspect of a fresh chunk: %s", sqz_last_error());
    FUZZ_CHECK(info.raw_size == raw && info.dtype == dtype && info.ndim == ndim && info.chunk_size == (uint64_t)na,
               "header does not describe the data");
    FUZZ_CHECK(strcmp(info.pipeline, canonical) == 0, "header pipeline '%s' != '%s'", info.pipeline, canonical);
    FUZZ_CHECK((uint64_t)na <= info.header_size + raw, "chunk larger than header + raw");

    /* Deterministic bytes: again, with 2 threads, and with the scalar kernels. */
    int64_t nb = sqz_encode(src, raw, dtype, ndim, shape, &o1, b, bound);
    FUZZ_CHECK(nb == na && memcmp(a, b, (size_t)na) == 0, "encoding twice gives different bytes");
    nb = sqz_encode(src, raw, dtype, ndim, shape, &o2, b, bound);
    FUZZ_CHECK(nb == na && memcmp(a, b, (size_t)na) == 0, "1 and 2 threads give different bytes");
    if (sqz_simd_available() > SQZ_SIMD_SCALAR) {
        sqz_simd_set(SQZ_SIMD_SCALAR);
        nb = sqz_encode(src, raw, dtype, ndim, shape, &o2, b, bound);
        sqz_simd_set(sqz_simd_available());
        FUZZ_CHECK(nb == na && memcmp(a, b, (size_t)na) == 0, "scalar and SIMD kernels give different bytes");
    }

    /* Exact round trip from an exact-size chunk, canary after the output, 1 and 2 threads
     * (lossy pipelines: the same reconstruction for both). */
    const int lossy = pipeline_is_lossy(canonical);
    uint8_t *chunk = malloc((size_t)na), *out = malloc(raw + 1), *first = malloc(raw ? raw : 1);
    memcpy(chunk, a, (size_t)na);
    for (int t = 1; t <= 2; t++) {
        out[raw] = 0x5A;
        int64_t r = sqz_decode(chunk, (size_t)na, out, raw, t);
        FUZZ_CHECK(r == (int64_t)raw && out[raw] == 0x5A, "decode '%s' dtype %d threads %d: %s", pipeline, dtype, t,
                   sqz_last_error());
        FUZZ_CHECK(memcmp(out, lossy ? (t == 1 ? out : first) : src, raw) == 0,
                   "round trip '%s' dtype %d threads %d gives other data", pipeline, dtype, t);
        if (t == 1) memcpy(first, out, raw);
    }
    free(first);
    if (raw) FUZZ_CHECK(sqz_decode(chunk, (size_t)na, out, raw - 1, 1) == -SQZ_ERR_DST_TOO_SMALL,
                        "a buffer one byte short is accepted");
    free(chunk);
    free(out);
done:
    free(a);
    free(b);
    free(src);
    return 0;
}
