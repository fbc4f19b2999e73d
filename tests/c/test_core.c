/* C tests of the core: kernels against their scalar reference, round trips with exact-size
 * buffers and canaries, and the decoder's refusal of damaged chunks. Prints "N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/checksum.h"
#include "sqeazy.h"
#include "stages/bitshuffle.h"
#include "stages/huff.h"
#include "stages/nlcode_model.h"
#include "stages/predict.h"

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
    /* whole and in pieces: the same value for any split, at every SIMD level (set clamps to the CPU's) */
    const size_t pieces[] = {1, 7, 255, 256, 257, 1000};
    const int levels[] = {SQZ_SIMD_SCALAR, SQZ_SIMD_AVX2, SQZ_SIMD_AVX512};
    for (int simd = 0; simd < 3; simd++) {
        sqz_simd_set(levels[simd]);
        for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
            CHECK(sqz_hash32(buf, lens[k]) == sqz_hash32_scalar(buf, lens[k]), "hash at %zu, simd %d", lens[k], simd);
            for (size_t q = 0; q < sizeof pieces / sizeof *pieces; q++) {
                sqz_hash32_state st;
                sqz_hash32_begin(&st);
                for (size_t at = 0; at < lens[k]; at += pieces[q])
                    sqz_hash32_update(&st, buf + at, lens[k] - at < pieces[q] ? lens[k] - at : pieces[q]);
                CHECK(sqz_hash32_end(&st) == sqz_hash32_scalar(buf, lens[k]), "hash in pieces of %zu at %zu, simd %d",
                      pieces[q], lens[k], simd);
            }
        }
    }
    sqz_simd_set(-1);
}

static const char *k_pipelines[] = {"raw", "lz4", "zstd", "zstd(level=5)", "bitshuffle->lz4", "bitshuffle->zstd(level=3)", "bitshuffle",
                                    "lossless", "lossless3d", "predict(mode=0)->huff", "predict(mode=1)->huff", "predict(mode=3)->huff",
                                    "huff", "remap->predict", "predict->lz4"};

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

static void test_damage_of(const char *pipeline)
{
    size_t raw = 64 * 64 * 2;
    uint8_t *in = malloc(raw), *dec = malloc(raw);
    fill(in, raw, 1);
    uint64_t shape[2] = {64, 64};
    size_t bound = sqz_encode_bound(raw, SQZ_UINT16, 2, pipeline);
    uint8_t *enc = malloc(bound);
    sqz_options o = {pipeline, 1, 2048};
    int64_t n = sqz_encode(in, raw, SQZ_UINT16, 2, shape, &o, enc, bound);
    CHECK(n > 0, "encode");
    int undetected = 0;
    for (int64_t bit = 0; bit < n * 8; bit += 7) {
        enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (sqz_decode(enc, (size_t)n, dec, raw, 1) >= 0) undetected++;
        enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK(undetected == 0, "%s: %d bit flips went undetected", pipeline, undetected);
    int truncated_ok = 0;
    for (int64_t len = 0; len < n; len += 13) if (sqz_decode(enc, (size_t)len, dec, raw, 1) >= 0) truncated_ok++;
    CHECK(truncated_ok == 0, "%d truncations decoded", truncated_ok);
    CHECK(sqz_decode("HDF5 not ours", 13, dec, raw, 1) == -SQZ_ERR_NOT_SQEAZY, "foreign data");
    free(in); free(dec); free(enc);
}

static void test_damage(void)
{
    test_damage_of("bitshuffle->lz4");
    test_damage_of("lossless");
    test_damage_of("predict(mode=1)->huff");
    test_damage_of("remap->predict->qhuff");
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

/* Lossless kernels: AVX2 against the scalar reference on random and camera-like rows. */
static void test_lossless_kernels(void)
{
    const size_t widths[] = {2, 3, 17, 33, 64, 100, 257};
    for (size_t es = 1; es <= 4; es *= 2)
        for (size_t w = 0; w < sizeof widths / sizeof *widths; w++)
            for (int kind = 0; kind < 2; kind++) {
                const size_t X = widths[w], bytes = X * es;
                uint8_t *cur = malloc(bytes), *up = malloc(bytes), *pp = malloc(bytes), *a = malloc(bytes), *b = malloc(bytes);
                fill(cur, bytes, kind); fill(up, bytes, kind); fill(pp, bytes, kind);
                for (int mode = 0; mode < SQZ_PRED_COUNT_; mode++)
                    for (uint32_t flip = 0; flip < 2 && mode != SQZ_PRED_AUTO; flip++) {
                        const uint32_t f = flip ? 1u << (8 * es - 1) : 0;
                        const void *p3 = mode >= SQZ_PRED_PLANE ? pp : NULL;
                        memset(a, 0, bytes); memset(b, 0, bytes);
                        sqz_predict_row_scalar(mode, es, cur, up, p3, a, X, 1, f);
                        size_t done = sqz_predict_row_avx2(mode, es, cur, up, p3, b, X, f);
                        if (done < 1) done = 1;
                        sqz_predict_row_scalar(mode, es, cur, up, p3, b, X, done, f);
                        CHECK(memcmp(a, b, bytes) == 0, "predict row avx2 != scalar es=%zu X=%zu mode=%d flip=%u", es, X, mode, flip);
                    }
                uint8_t ca[300], cb[300], ta[300], tb[300];
                memset(ca, 0, sizeof ca); memset(cb, 0, sizeof cb);
                if (X >= 5) {
                    sqz_huff_ctx_scalar(es, up, ca, 2, X - 2);
                    size_t done = sqz_huff_ctx_avx2(es, up, cb, X - 2);
                    sqz_huff_ctx_scalar(es, up, cb, done, X - 2);
                    CHECK(memcmp(ca, cb, X) == 0, "huff contexts avx2 != scalar es=%zu X=%zu", es, X);
                    static uint32_t tabs[SQZ_HUFF_NCTX << SQZ_HUFF_PBITS];
                    const uint32_t *cp[300];
                    done = sqz_huff_ctxp_avx2(es, up, tabs, cp, X - 2);
                    for (size_t j = 2; j < done; j++)
                        CHECK(cp[j] == tabs + ((size_t)ca[j] << SQZ_HUFF_PBITS), "huff table pointer avx2 != scalar context es=%zu X=%zu j=%zu", es, X, j);
                }
                sqz_huff_tok_scalar(es, cur, ta, 0, X);
                size_t done = sqz_huff_tok_avx2(es, cur, tb, X);
                sqz_huff_tok_scalar(es, cur, tb, done, X);
                CHECK(memcmp(ta, tb, X) == 0, "huff tokens avx2 != scalar es=%zu X=%zu", es, X);
                {   /* code bits: a table of random codes, lengths <= 11, totals as the coder makes them */
                    static uint32_t ent[SQZ_HUFF_NCTX * 128];
                    for (int i = 0; i < SQZ_HUFF_NCTX * 128; i++) {
                        const uint32_t t = (uint32_t)(i % 128), len = (uint32_t)rand() % 12;
                        const uint32_t xb = t < 16 ? 0 : ((t - 16) >> 2) + 2;
                        ent[i] = ((uint32_t)rand() & ((1u << len) - 1)) | len << 16 | (len + xb) << 24;
                    }
                    uint32_t va[300], vb[300], na[300], nb[300];
                    for (size_t j = 0; j < X; j++) ca[j] = (uint8_t)(rand() % SQZ_HUFF_NCTX);
                    uint16_t ia[300], ib[300];
                    sqz_huff_idx_scalar(es, cur, ca, ia, 0, X);
                    size_t di = sqz_huff_idx_avx2(es, cur, ca, ib, X);
                    sqz_huff_idx_scalar(es, cur, ca, ib, di, X);
                    CHECK(memcmp(ia, ib, X * 2) == 0, "huff indices avx2 != scalar es=%zu X=%zu", es, X);
                    for (size_t j = 0; j < X; j++) CHECK(ia[j] == ca[j] * 128 + ta[j], "huff index %zu", j);
                    sqz_huff_bits_scalar(es, cur, ia, ent, va, na, 0, X);
                    uint64_t pa[150], pb[150];
                    uint32_t qa[150], qb[150];
                    sqz_huff_pairs_scalar(va, na, pa, qa, 0, X / 8);
                    size_t dn = sqz_huff_pairs_avx2(es, cur, ia, ent, pb, qb, X / 8 * 8);
                    sqz_huff_bits_scalar(es, cur, ia, ent, vb, nb, dn, X);
                    sqz_huff_pairs_scalar(vb, nb, pb, qb, dn / 8, X / 8);
                    CHECK(memcmp(pa, pb, X / 8 * 32) == 0 && memcmp(qa, qb, X / 8 * 16) == 0, "huff bit pairs avx2 != scalar es=%zu X=%zu", es, X);
                    CHECK(memcmp(va + X / 8 * 8, vb + X / 8 * 8, X % 8 * 4) == 0, "huff bits of the last elements es=%zu X=%zu", es, X);
                }
                free(cur); free(up); free(pp); free(a); free(b);
            }
    /* token and context definitions (docs/FORMAT.md) */
    uint16_t z[6] = {0, 15, 16, 23, 1000, 65535};
    uint8_t t[6];
    sqz_huff_tok_scalar(2, z, t, 0, 6);
    CHECK(t[0] == 0 && t[1] == 15 && t[2] == 16 && t[3] == 17 && t[4] == 16 + 5 * 4 + 3 && t[5] == 16 + 11 * 4 + 3,
          "tokens %d %d %d %d %d %d", t[0], t[1], t[2], t[3], t[4], t[5]);
    uint16_t up3[5] = {0, 0, 0, 0, 0}, up4[5] = {1, 0, 1, 0, 0}, up5[5] = {1000, 1000, 1000, 1000, 1000};
    uint8_t c[5];
    sqz_huff_ctx_scalar(2, up3, c, 2, 3);
    CHECK(c[2] == 0, "context of a quiet row %d", c[2]);
    sqz_huff_ctx_scalar(2, up4, c, 2, 3);
    CHECK(c[2] == 2, "context of activity 3: %d", c[2]);      /* u = 3/2 + 1 = 2 -> 2*1 + 0 */
    sqz_huff_ctx_scalar(2, up5, c, 2, 3);
    CHECK(c[2] == 19, "context of a busy row: %d", c[2]);
}

/* Scalar and AVX2 give the same chunk for every lossless pipeline, dtype and a ragged shape. */
static void test_lossless_simd_identity(void)
{
    const char *pls[] = {"lossless", "lossless3d", "predict(mode=1)->huff", "predict(mode=0)->huff", "predict(mode=3)->huff"};
    const int dtypes[] = {SQZ_UINT8, SQZ_INT8, SQZ_UINT16, SQZ_INT16, SQZ_UINT32, SQZ_FLOAT32};
    uint64_t shape[3] = {5, 37, 131};
    for (size_t p = 0; p < sizeof pls / sizeof *pls; p++)
        for (size_t t = 0; t < sizeof dtypes / sizeof *dtypes; t++)
            for (uint32_t blk = 0; blk <= 3000; blk += 3000) {
                size_t raw = 5 * 37 * 131 * sqz_dtype_size(dtypes[t]);
                uint8_t *in = malloc(raw);
                fill(in, raw, 1);
                size_t bound = sqz_encode_bound(raw, dtypes[t], 3, pls[p]);
                uint8_t *a = malloc(bound), *b = malloc(bound);
                sqz_options o = {pls[p], 1, blk};
                sqz_simd_set(SQZ_SIMD_SCALAR);
                int64_t na = sqz_encode(in, raw, dtypes[t], 3, shape, &o, a, bound);
                sqz_simd_set(-1);
                int64_t nb = sqz_encode(in, raw, dtypes[t], 3, shape, &o, b, bound);
                CHECK(na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0, "scalar and SIMD chunks differ: %s dtype %d", pls[p], dtypes[t]);
                free(in); free(a); free(b);
            }
}

/* Damage behind valid checksums: the stage decoders themselves must refuse garbage (or
 * produce data that fails the decoded-data hash), never crash. Run under ASan. */
static void test_decoder_garbage(void)
{
    const char *pls[] = {"lossless", "predict(mode=1)->huff", "remap->huff", "lossless3d", "remap->predict->qhuff", "qhuff"};
    for (size_t p = 0; p < sizeof pls / sizeof *pls; p++) {
        uint64_t shape[3] = {3, 40, 67};
        size_t raw = 3 * 40 * 67 * 2;
        uint8_t *in = malloc(raw), *dec = malloc(raw);
        for (size_t i = 0; i < raw; i += 2) { uint16_t v = (uint16_t)(100 + rnd() % 40 + (i % 300 > 150 ? 2000 : 0)); memcpy(in + i, &v, 2); }
        size_t bound = sqz_encode_bound(raw, SQZ_UINT16, 3, pls[p]);
        uint8_t *enc = malloc(bound), *bad = malloc(bound);
        sqz_options o = {pls[p], 1, 2048};
        int64_t n = sqz_encode(in, raw, SQZ_UINT16, 3, shape, &o, enc, bound);
        sqz_info info;
        CHECK(n > 0 && sqz_inspect(enc, (size_t)n, &info) == 0, "encode %s", pls[p]);
        const size_t head = info.header_size, table = head - 12 * info.n_blocks;
        int decoded = 0, crashed = 0, refused = 0;
        for (int trial = 0; trial < 3000; trial++) {
            memcpy(bad, enc, (size_t)n);
            int flips = 1 + (int)(rnd() % 4);
            for (int f = 0; f < flips; f++) bad[head + rnd() % ((size_t)n - head)] ^= (uint8_t)(1u << (rnd() % 8));
            size_t off = head;
            for (uint64_t b = 0; b < info.n_blocks; b++) {  /* re-seal every block's stored-bytes hash */
                uint32_t w = (uint32_t)bad[table + 12 * b] | (uint32_t)bad[table + 12 * b + 1] << 8 |
                             (uint32_t)bad[table + 12 * b + 2] << 16 | (uint32_t)bad[table + 12 * b + 3] << 24;
                size_t sz = w & 0x7FFFFFFFu;
                uint32_t h = sqz_hash32(bad + off, sz);
                memcpy(bad + table + 12 * b + 8, &h, 4);
                off += sz;
            }
            uint8_t fixed[32];
            memcpy(fixed, bad, 32);
            memset(fixed + 28, 0, 4);
            uint32_t hs = sqz_hash32_scalar(fixed, 32) ^ sqz_hash32(bad + 32, head - 32);
            memcpy(bad + 28, &hs, 4);
            int64_t r = sqz_decode(bad, (size_t)n, dec, raw, 1);
            if (r >= 0) decoded += memcmp(dec, in, raw) != 0;
            else crashed += r != -SQZ_ERR_CORRUPT_DATA && r != -SQZ_ERR_CHECKSUM && r != -SQZ_ERR_CORRUPT_HEADER;
            refused += r == -SQZ_ERR_CORRUPT_DATA;
        }
        CHECK(decoded == 0, "%s: %d garbage blocks decoded to wrong data without an error", pls[p], decoded);
        CHECK(crashed == 0, "%s: %d unexpected error codes", pls[p], crashed);
        CHECK(refused > 100, "%s: only %d damaged blocks reached a stage decoder", pls[p], refused);
        free(in); free(dec); free(enc); free(bad);
    }
}


/* nlcode16's AVX2 rANS encoder step (its quotient from a float product) against exact integer
 * arithmetic: every frequency, states at and next to multiples of it, the largest ones (>= 2^31),
 * renormalising ones and random ones. */
static void test_nlcode_rans16(void)
{
#ifdef SQZ_HAVE_AVX2
    if (sqz_simd_available() < SQZ_SIMD_AVX2) return;
    const uint16_t ids[16] = {0};
    int wrong = 0;
    for (uint32_t f = 1; f <= 4096; f++) {
        const uint32_t cum = (4096 - f) / 2, efc = f | cum << 16;
        const uint64_t kmin = (65536 + f - 1) / f, kmax = (1u << 20) - 1;
        for (unsigned round = 0; round < 4; round++) {
            uint32_t xs[16];
            uint8_t buf[64], *p[16], *p0[16];
            for (unsigned j = 0; j < 16; j++) {
                const uint64_t k = kmin + rnd() % (kmax - kmin + 1), d = rnd() % f;
                uint64_t x;
                switch (j % 8) {
                case 0: x = kmax * f; break;
                case 1: x = kmax * f + f - 1; break;
                case 2: x = k * f; break;
                case 3: x = k * f + f - 1; break;
                case 4: x = k * f + d; break;
                case 5: {  /* renormalises to a multiple of f */
                    const uint64_t top = 65535 / f;
                    x = top >= 16 ? ((16 + rnd() % (top - 15)) * f) << 16 | (rnd() & 0xFFFF) : 65536u + rnd() % 1000;
                    break;
                }
                case 6: x = 65536; break;
                default: x = 65536 + rnd() % (0xFFFFFFFFu - 65536); break;
                }
                xs[j] = (uint32_t)x;
                p[j] = p0[j] = buf + 4 + 2 * j;
            }
            uint32_t want[16];
            int renorm[16];
            for (unsigned j = 0; j < 16; j++) {
                renorm[j] = ((uint64_t)xs[j] >> 20) >= f;
                const uint64_t x = renorm[j] ? xs[j] >> 16 : xs[j];
                want[j] = (uint32_t)((x / f) * 4096 + x % f + cum);
            }
            uint32_t before[16];
            memcpy(before, xs, sizeof before);
            sqz_nlcode_rans16_avx2(&efc, ids, 1, xs, p);
            for (unsigned j = 0; j < 16; j++) {
                uint16_t w;
                memcpy(&w, p0[j] - 2, 2);
                wrong += xs[j] != want[j] || p[j] != p0[j] - 2 * renorm[j] || (renorm[j] && w != (uint16_t)before[j]);
            }
        }
    }
    CHECK(wrong == 0, "nlcode16 AVX2 rANS step: %d lanes wrong", wrong);
#endif
}

/* huff's AVX-512 contexts and indices against the scalar ones: every 16-bit value's token, and
 * contexts of rows at every magnitude up to saturation (the vectors' last one overlaps). */
static void test_huff_avx512(void)
{
    if (sqz_simd_available() < SQZ_SIMD_AVX512) return;
    enum { N = 65536 };
    uint16_t *z = malloc(2 * N), *ia = malloc(2 * N), *ib = malloc(2 * N);
    uint8_t *cx = malloc(N), *ca = malloc(N), *cb = malloc(N);
    for (size_t es = 1; es <= 2; es++) {
        const size_t n = es == 2 ? N : 256 * 8;
        for (size_t j = 0; j < n; j++) {
            if (es == 2) z[j] = (uint16_t)j;
            else ((uint8_t *)z)[j] = (uint8_t)j;
            cx[j] = (uint8_t)(rnd() % SQZ_HUFF_NCTX);
        }
        sqz_huff_idx_scalar(es, z, cx, ia, 0, n);
        for (size_t m = n - 40; m <= n; m += 5) {  /* the last vector overlapping or not */
            memset(ib, 0, 2 * n);
            size_t done = sqz_huff_idx_avx512(es, z, cx, ib, m);
            sqz_huff_idx_scalar(es, z, cx, ib, done, m);
            CHECK(done == m && memcmp(ia, ib, 2 * m) == 0, "huff indices avx512 != scalar es=%zu m=%zu", es, m);
        }
        const size_t widths[] = {5, 33, 34, 35, 64, 100, 1000};
        for (unsigned bits = 1; bits <= 8 * es + 1; bits++)
            for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
                const size_t X = widths[w];
                for (size_t j = 0; j < X; j++) {
                    const uint32_t v = bits > 8 * es ? 0xFFFFu : rnd() & ((1u << bits) - 1);
                    if (es == 2) z[j] = (uint16_t)v;
                    else ((uint8_t *)z)[j] = (uint8_t)v;
                }
                memset(ca, 0, X); memset(cb, 0, X);
                sqz_huff_ctx_scalar(es, z, ca, 2, X - 2);
                size_t d = sqz_huff_ctx_avx512(es, z, cb, X - 2);
                sqz_huff_ctx_scalar(es, z, cb, d, X - 2);
                CHECK(memcmp(ca, cb, X) == 0, "huff contexts avx512 != scalar es=%zu X=%zu bits=%u", es, X, bits);
            }
    }
    free(z); free(ia); free(ib); free(cx); free(ca); free(cb);
}

int main(void)
{
    test_kernels();
    test_checksum();
    test_pipeline_errors();
    test_round_trips();
    test_simd_identity();
    test_lossless_kernels();
    test_huff_avx512();
    test_lossless_simd_identity();
    test_damage();
    test_decoder_garbage();
    test_nlcode_rans16();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
