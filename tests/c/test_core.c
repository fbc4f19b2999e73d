/* C tests of the core: kernels against their scalar reference, round trips with exact-size
 * buffers and canaries, and the decoder's refusal of damaged chunks. Prints "N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checksum.h"
#include "sqeazy.h"
#include "stages/bitshuffle.h"

static int g_pass, g_fail;
#define CHECK(cond, ...) do { if (cond) g_pass++; else { g_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static uint64_t g_rng = 88172645463325252ULL;
static uint32_t rnd(void) { g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17; return (uint32_t)g_rng; }

static void fill(uint8_t *p, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: p[i] = (uint8_t)rnd(); break;                       /* noise */
        case 1: p[i] = (uint8_t)((i & 1) ? (rnd() % 3) : 100 + (rnd() % 16)); break; /* camera-like u16 */
        case 2: p[i] = 0; break;
        default: p[i] = 0xFF; break;
        }
    }
}

static void test_kernels(void)
{
    const size_t sizes[] = {8, 24, 32, 40, 256, 1000, 4096 + 8};
    for (size_t es = 1; es <= 4; es *= 2)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t n8 = sizes[k] / 8 * 8, bytes = n8 * es;
            uint8_t *in = malloc(bytes), *a = malloc(bytes), *b = malloc(bytes), *back = malloc(bytes);
            fill(in, bytes, 0);
            sqz_bitshuffle_scalar(in, a, n8, es, 0, n8 / 8);
            memset(b, 0xAB, bytes);
            size_t done = sqz_bitshuffle_avx2(in, b, n8, es);
            sqz_bitshuffle_scalar(in, b, n8, es, done / 8, n8 / 8);
            CHECK(memcmp(a, b, bytes) == 0, "avx2 bitshuffle differs es=%zu n=%zu", es, n8);
            memset(back, 0, bytes);
            done = sqz_bitunshuffle_avx2(a, back, n8, es);
            sqz_bitunshuffle_scalar(a, back, n8, es, done / 8, n8 / 8);
            CHECK(memcmp(in, back, bytes) == 0, "bitunshuffle(avx2) does not invert es=%zu n=%zu", es, n8);
            memset(back, 0, bytes);
            sqz_bitunshuffle_scalar(a, back, n8, es, 0, n8 / 8);
            CHECK(memcmp(in, back, bytes) == 0, "bitunshuffle(scalar) does not invert es=%zu n=%zu", es, n8);
            free(in); free(a); free(b); free(back);
        }
    /* a known layout: element 0 = 1 sets bit 0 of the first byte of plane 0 */
    uint8_t one[16] = {1}, out[16];
    sqz_bitshuffle_scalar(one, out, 8, 2, 0, 1);
    CHECK(out[0] == 1 && out[1] == 0, "plane layout");
}

static void test_checksum(void)
{
    uint8_t buf[5000];
    fill(buf, sizeof buf, 0);
    const size_t lens[] = {0, 1, 255, 256, 257, 1024, 4999};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++)
        CHECK(sqz_hash32_scalar(buf, lens[k]) == sqz_hash32_avx2(buf, lens[k]), "hash scalar != avx2 at %zu", lens[k]);
    uint32_t h = sqz_hash32_scalar(buf, 1024);
    buf[77] ^= 4;
    CHECK(h != sqz_hash32_scalar(buf, 1024), "hash misses a bit flip");
}

static const char *k_pipelines[] = {"raw", "lz4", "zstd", "zstd(level=5)", "bitshuffle->lz4", "bitshuffle->zstd(level=3)", "bitshuffle"};

static void test_round_trips(void)
{
    const int dtypes[] = {SQZ_UINT8, SQZ_INT8, SQZ_UINT16, SQZ_INT16, SQZ_UINT32, SQZ_INT32, SQZ_FLOAT32};
    const uint64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 64, 64}, {2, 100, 333}};
    for (size_t p = 0; p < sizeof k_pipelines / sizeof *k_pipelines; p++)
        for (size_t t = 0; t < sizeof dtypes / sizeof *dtypes; t++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
                for (int kind = 0; kind < 4; kind++) {
                    size_t es = sqz_dtype_size(dtypes[t]);
                    size_t raw = shapes[s][0] * shapes[s][1] * shapes[s][2] * es;
                    uint8_t *in = malloc(raw);
                    fill(in, raw, kind);
                    size_t bound = sqz_encode_bound(raw, dtypes[t], 3, k_pipelines[p]);
                    uint8_t *enc = malloc(bound), *enc2 = malloc(bound);
                    sqz_options o1 = {k_pipelines[p], 1, 1024}, o3 = {k_pipelines[p], 3, 1024};
                    int64_t n = sqz_encode(in, raw, dtypes[t], 3, shapes[s], &o1, enc, bound);
                    int64_t n3 = sqz_encode(in, raw, dtypes[t], 3, shapes[s], &o3, enc2, bound);
                    CHECK(n > 0 && n == n3 && memcmp(enc, enc2, (size_t)n) == 0, "threads change bytes: %s dtype %d", k_pipelines[p], dtypes[t]);
                    /* exact-size copy of the chunk, canary after the output */
                    uint8_t *exact = malloc((size_t)n), *dec = malloc(raw + 1);
                    memcpy(exact, enc, (size_t)n);
                    dec[raw] = 0xA5;
                    int64_t d = sqz_decode(exact, (size_t)n, dec, raw, 2);
                    CHECK(d == (int64_t)raw && memcmp(dec, in, raw) == 0 && dec[raw] == 0xA5, "round trip %s dtype %d: %s",
                          k_pipelines[p], dtypes[t], sqz_last_error());
                    if (raw > 0) {
                        int64_t r = sqz_decode(exact, (size_t)n, dec, raw - 1, 1);
                        CHECK(r == -SQZ_ERR_DST_TOO_SMALL, "one byte short must fail");
                    }
                    free(in); free(enc); free(enc2); free(exact); free(dec);
                }
}

static void test_simd_identity(void)
{
    size_t raw = 3 * 128 * 128 * 2;
    uint8_t *in = malloc(raw);
    fill(in, raw, 1);
    uint64_t shape[3] = {3, 128, 128};
    size_t bound = sqz_encode_bound(raw, SQZ_UINT16, 3, "bitshuffle->lz4");
    uint8_t *a = malloc(bound), *b = malloc(bound);
    sqz_options o = {"bitshuffle->lz4", 1, 0};
    sqz_simd_set(SQZ_SIMD_SCALAR);
    int64_t na = sqz_encode(in, raw, SQZ_UINT16, 3, shape, &o, a, bound);
    sqz_simd_set(-1);
    int64_t nb = sqz_encode(in, raw, SQZ_UINT16, 3, shape, &o, b, bound);
    CHECK(na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0, "scalar and SIMD chunks differ");
    free(in); free(a); free(b);
}

static void test_damage(void)
{
    size_t raw = 64 * 64 * 2;
    uint8_t *in = malloc(raw), *dec = malloc(raw);
    fill(in, raw, 1);
    uint64_t shape[2] = {64, 64};
    size_t bound = sqz_encode_bound(raw, SQZ_UINT16, 2, NULL);
    uint8_t *enc = malloc(bound);
    sqz_options o = {"bitshuffle->lz4", 1, 2048};
    int64_t n = sqz_encode(in, raw, SQZ_UINT16, 2, shape, &o, enc, bound);
    CHECK(n > 0, "encode");
    int undetected = 0;
    for (int64_t bit = 0; bit < n * 8; bit += 7) {
        enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (sqz_decode(enc, (size_t)n, dec, raw, 1) >= 0) undetected++;
        enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK(undetected == 0, "%d bit flips went undetected", undetected);
    int truncated_ok = 0;
    for (int64_t len = 0; len < n; len += 13) if (sqz_decode(enc, (size_t)len, dec, raw, 1) >= 0) truncated_ok++;
    CHECK(truncated_ok == 0, "%d truncations decoded", truncated_ok);
    CHECK(sqz_decode("HDF5 not ours", 13, dec, raw, 1) == -SQZ_ERR_NOT_SQEAZY, "foreign data");
    free(in); free(dec); free(enc);
}

static void test_pipeline_errors(void)
{
    char out[256];
    CHECK(sqz_pipeline_canonical("bitshuffle -> zstd( level = 3 )", out, sizeof out) > 0 && !strcmp(out, "bitshuffle->zstd(level=3)"), "canonical: %s", out);
    CHECK(sqz_pipeline_canonical("zstd(3)", out, sizeof out) > 0 && !strcmp(out, "zstd(level=3)"), "positional");
    CHECK(sqz_pipeline_canonical("bitshuffle", out, sizeof out) > 0 && !strcmp(out, "bitshuffle->raw"), "implicit raw");
    CHECK(sqz_pipeline_canonical("nope", out, sizeof out) == -SQZ_ERR_UNKNOWN_STAGE, "unknown stage");
    CHECK(strstr(sqz_last_error(), "nope") != NULL, "message names the stage: %s", sqz_last_error());
    CHECK(sqz_pipeline_canonical("zstd(level=99)", out, sizeof out) == -SQZ_ERR_BAD_PARAMETER, "range");
    CHECK(sqz_pipeline_canonical("zstd(level=1.5)", out, sizeof out) == -SQZ_ERR_BAD_PARAMETER, "integer");
    CHECK(sqz_pipeline_canonical("zstd(foo=1)", out, sizeof out) == -SQZ_ERR_BAD_PARAMETER, "unknown param");
    CHECK(sqz_pipeline_canonical("lz4->bitshuffle", out, sizeof out) == -SQZ_ERR_PIPELINE_SYNTAX, "codec not last");
    CHECK(sqz_pipeline_canonical("lz4->", out, sizeof out) == -SQZ_ERR_PIPELINE_SYNTAX, "dangling arrow");
    CHECK(sqz_pipeline_canonical("", out, sizeof out) == -SQZ_ERR_PIPELINE_SYNTAX, "empty");
    CHECK(sqz_pipeline_canonical("zstd(level=3", out, sizeof out) == -SQZ_ERR_PIPELINE_SYNTAX, "unclosed");
}

int main(void)
{
    test_kernels();
    test_checksum();
    test_pipeline_errors();
    test_round_trips();
    test_simd_identity();
    test_damage();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
