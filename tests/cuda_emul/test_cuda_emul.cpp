/* EMULATION test of the GPU backend: the kernels of csrc/cuda/kernels.cuh and the host engine
 * of csrc/cuda/engine.h, compiled as host C++ (emul_backend.h), against the CPU reference
 * (sqz_encode, sqz_decode, the stages' own functions), byte for byte, over dtypes, shapes,
 * block sizes and pipelines. It runs without a GPU and proves nothing about GPU hardware or
 * nvcc's code generation; tests/test_gpu.py runs the real thing where a GPU exists. */
#include "emul_backend.h"

#include "../../csrc/cuda/engine.h"

extern "C" {
#include "../../csrc/common/checksum.h"
#include "../../csrc/stages/bitshuffle.h"
}

#include <string>
#include <vector>

static int g_failures = 0, g_checks = 0;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        g_checks++;                                                   \
        if (!(cond)) {                                                \
            g_failures++;                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, " [%s]\n", sqz_last_error());             \
        }                                                             \
    } while (0)

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}

/* camera-like data: smooth background + noise, values within the dtype */
static std::vector<uint8_t> make_data(int dtype, uint64_t n, int kind)
{
    const size_t es = sqz_dtype_size(dtype);
    std::vector<uint8_t> v(n * es + 1);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t x = kind == 0 ? rnd() : kind == 1 ? (uint32_t)(100 + (i % 97) + (rnd() & 15)) : (uint32_t)(i * 7);
        if (dtype == SQZ_FLOAT32) { float f = kind == 0 ? (float)(int32_t)x * 1e-3f : (float)x * 0.5f; memcpy(&v[i * es], &f, 4); }
        else if (es == 1) v[i] = (uint8_t)x;
        else if (es == 2) { uint16_t h = (uint16_t)x; memcpy(&v[i * 2], &h, 2); }
        else memcpy(&v[i * 4], &x, 4);
    }
    v.resize(n * es);
    return v;
}

static void *to_dev(const std::vector<uint8_t> &h)
{
    void *d;
    if (sqzc_dev_alloc(&d, h.size()) < 0) abort();
    if (!h.empty()) memcpy(d, h.data(), h.size());  /* test set-up: write "device" memory directly */
    return d;
}

static const char *dtype_name(int d)
{
    static const char *names[] = {"?", "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32"};
    return d >= 1 && d <= 7 ? names[d] : "?";
}

/* ---- kernel-level checks against the CPU functions ---- */

static void test_hash(sqz_cuda_ctx *ctx)
{
    sqzc::slot &s = ctx->slots[0];
    std::vector<uint8_t> data = make_data(SQZ_UINT8, 5000, 0);
    void *d = to_dev(data);
    std::vector<uint64_t> offs, lens;
    for (uint64_t len : {0ull, 1ull, 3ull, 4ull, 255ull, 256ull, 257ull, 511ull, 512ull, 1000ull, 4093ull})
        for (uint64_t off : {0ull, 1ull, 2ull, 3ull, 5ull}) { offs.push_back(off); lens.push_back(len); }
    const uint64_t n = offs.size();
    std::vector<uint64_t> segs(offs);
    segs.insert(segs.end(), lens.begin(), lens.end());
    void *dsegs = to_dev(std::vector<uint8_t>((uint8_t *)segs.data(), (uint8_t *)(segs.data() + segs.size())));
    if (sqzc::need(s.d_acc, n * 64 * 4) < 0 || sqzc::need(s.d_hash, n * 4) < 0) abort();
    sqzc::enqueue_hash(s, (const uint8_t *)d, (uint64_t *)dsegs, (uint64_t *)dsegs + n, n, s.d_acc.as<uint32_t>(),
                       s.d_hash.as<uint32_t>());
    for (uint64_t i = 0; i < n; i++) {
        uint32_t want = sqz_hash32_scalar(data.data() + offs[i], lens[i]);
        CHECK(s.d_hash.as<uint32_t>()[i] == want, "SQH32 of %llu bytes at offset %llu", (unsigned long long)lens[i],
              (unsigned long long)offs[i]);
        CHECK(sqzk_hash_serial(data.data() + offs[i], lens[i]) == want, "serial SQH32 of %llu bytes", (unsigned long long)lens[i]);
    }
    sqzc_dev_free(d);
    sqzc_dev_free(dsegs);
}

static void test_bitshuffle(void)
{
    for (int dtype : {SQZ_UINT8, SQZ_UINT16, SQZ_UINT32})
        for (uint64_t n_elems : {1ull, 7ull, 8ull, 9ull, 64ull, 100ull, 1001ull})
            for (uint64_t be : {8ull, 24ull, 13ull, 1000ull}) {
                const size_t es = sqz_dtype_size(dtype);
                std::vector<uint8_t> in = make_data(dtype, n_elems, 0), want(in.size()), back(in.size());
                const uint64_t b = be > n_elems ? n_elems : be, nb = (n_elems + b - 1) / b;
                for (uint64_t i = 0; i < nb; i++) {  /* the CPU stage on each block */
                    const uint64_t first = i * b, m = n_elems - first < b ? n_elems - first : b, n8 = m / 8 * 8;
                    sqz_bitshuffle_scalar(&in[first * es], &want[first * es], n8, es, 0, n8 / 8);
                    memcpy(&want[(first + n8) * es], &in[(first + n8) * es], (m - n8) * es);
                }
                void *d_in = to_dev(in), *d_out = to_dev(std::vector<uint8_t>(in.size())), *d_back = to_dev(back);
                const sqzk_geo g{n_elems, b, nb, (uint32_t)es};
                SQZ_LAUNCH(k_bitshuffle, sqzc::grid_for(nb * (b / 8 + 1)), sqzc::k_threads, 0, (const uint8_t *)d_in,
                           (uint8_t *)d_out, g, 0);
                CHECK(!memcmp(d_out, want.data(), want.size()), "bitshuffle %s n=%llu block=%llu", dtype_name(dtype),
                      (unsigned long long)n_elems, (unsigned long long)b);
                SQZ_LAUNCH(k_bitshuffle, sqzc::grid_for(nb * (b / 8 + 1)), sqzc::k_threads, 0, (const uint8_t *)d_out,
                           (uint8_t *)d_back, g, 1);
                CHECK(!memcmp(d_back, in.data(), in.size()), "bitunshuffle %s n=%llu block=%llu", dtype_name(dtype),
                      (unsigned long long)n_elems, (unsigned long long)b);
                sqzc_dev_free(d_in); sqzc_dev_free(d_out); sqzc_dev_free(d_back);
            }
}

/* wnl tables: indices (encode) and levels (decode) of every value, against the CPU stage. */
static void test_wnl_tables(void)
{
    const double params[][4] = {{1, 100, 2.5, 1.6}, {2, 400, 0.5, 2.0}, {0.5, 0, 1, 1.5}, {3, 1000, 4, 3}, {1, 65535, 1e-6, 0}};
    const sqz_stage *wnl = sqz_stage_by_name("wnl", 3);
    for (int dtype : {SQZ_UINT8, SQZ_UINT16})
        for (const auto &p : params) {
            const uint32_t max = dtype == SQZ_UINT8 ? 255 : 65535;
            static uint16_t to_index[65536], level[65536];
            const uint32_t n_levels = sqzk_wnl_build(p, max, to_index, level);
            uint64_t shape[1] = {max + 1ull};
            sqz_stage_ctx c;
            memset(&c, 0, sizeof c);
            c.stage = wnl;
            memcpy(c.params, p, sizeof p);
            c.dtype = dtype;
            c.ndim = 1;
            c.shape = shape;
            sqz_block blk = {0, max + 1ull};
            const size_t es = sqz_dtype_size(dtype), n = (max + 1) * es;
            std::vector<uint8_t> ramp(n), idx(n), lev(n);
            for (uint32_t v = 0; v <= max; v++) { if (es == 1) ramp[v] = (uint8_t)v; else memcpy(&ramp[2 * v], &v, 2); }
            void *state = nullptr;
            CHECK(wnl->encode(&c, &blk, ramp.data(), n, idx.data(), n, &state) == (int64_t)n, "wnl encode");
            int same = 1;
            uint32_t cpu_levels = 0;
            for (uint32_t v = 0; v <= max; v++) {
                uint32_t i = es == 1 ? idx[v] : (uint32_t)idx[2 * v] | idx[2 * v + 1] << 8;
                same &= i == to_index[v];
                cpu_levels = i + 1 > cpu_levels ? i + 1 : cpu_levels;
            }
            CHECK(same && cpu_levels == n_levels, "wnl indices, %s, q=%g offset=%g gain=%g rn=%g", dtype_name(dtype), p[0], p[1], p[2], p[3]);
            /* levels: decode every valid index with the CPU stage and with k_lut */
            std::vector<uint8_t> ix(n_levels * es);
            for (uint32_t j = 0; j < n_levels; j++) { if (es == 1) ix[j] = (uint8_t)j; else memcpy(&ix[2 * j], &j, 2); }
            blk.n_elems = n_levels;
            CHECK(wnl->decode(&c, &blk, ix.data(), ix.size(), lev.data(), ix.size(), &state) == (int64_t)ix.size(), "wnl decode");
            void *d_ix = to_dev(ix), *d_out = to_dev(std::vector<uint8_t>(ix.size())),
                 *d_lut = to_dev(std::vector<uint8_t>((uint8_t *)level, (uint8_t *)(level + n_levels)));
            std::vector<uint8_t> flag0(8, 0xFF);
            void *d_bad = to_dev(flag0);
            SQZ_LAUNCH(k_lut, sqzc::grid_for(n_levels), sqzc::k_threads, 0, (const uint8_t *)d_ix, (uint8_t *)d_out,
                       (uint64_t)n_levels, (uint32_t)es, (const uint16_t *)d_lut, n_levels, (unsigned long long *)d_bad);
            CHECK(!memcmp(d_out, lev.data(), ix.size()) && *(unsigned long long *)d_bad == SQZK_NONE, "wnl levels %s q=%g",
                  dtype_name(dtype), p[0]);
            /* an index past the table is flagged, as the CPU stage refuses it */
            if (es == 2 && n_levels < 65536) {
                uint16_t badv = (uint16_t)n_levels;
                memcpy((uint8_t *)d_ix + (n_levels / 2) * 2, &badv, 2);
                SQZ_LAUNCH(k_lut, sqzc::grid_for(n_levels), sqzc::k_threads, 0, (const uint8_t *)d_ix, (uint8_t *)d_out,
                           (uint64_t)n_levels, (uint32_t)es, (const uint16_t *)d_lut, n_levels, (unsigned long long *)d_bad);
                CHECK(*(unsigned long long *)d_bad == n_levels / 2, "wnl bad index flagged");
            }
            wnl->release(state);
            sqzc_dev_free(d_ix); sqzc_dev_free(d_out); sqzc_dev_free(d_lut); sqzc_dev_free(d_bad);
        }
}

/* ---- whole chunks: GPU engine vs sqz_encode / sqz_decode ---- */

static int64_t cpu_encode(const std::vector<uint8_t> &in, int dtype, int ndim, const uint64_t *shape, const char *pipe,
                          uint32_t block_bytes, std::vector<uint8_t> &out)
{
    sqz_options opt = {pipe, 1, block_bytes};
    out.assign(sqz_encode_bound(in.size(), dtype, ndim, pipe) + 16, 0);
    int64_t r = sqz_encode(in.data(), in.size(), dtype, ndim, shape, &opt, out.data(), out.size());
    if (r >= 0) out.resize((size_t)r);
    return r;
}

static void check_decode(sqz_cuda_ctx *ctx, const std::vector<uint8_t> &chunk, const std::string &what)
{
    sqz_info info;
    if (sqz_inspect(chunk.data(), chunk.size(), &info) < 0) return;
    std::vector<uint8_t> want(info.raw_size + 1), got(info.raw_size + 1, 0xEE);
    const int64_t rc = sqz_decode(chunk.data(), chunk.size(), want.data(), info.raw_size, 1);
    /* host in, host out; a canary byte after the output */
    const int64_t rg = sqz_cuda_decode(ctx, chunk.data(), chunk.size(), 0, got.data(), info.raw_size, 0);
    if (rg == -SQZ_ERR_NO_GPU) return;  /* blocks of a codec without a GPU decoder: the CPU decodes them */
    CHECK(rg == rc, "%s: GPU decode returned %lld, CPU %lld", what.c_str(), (long long)rg, (long long)rc);
    CHECK(rc < 0 || !memcmp(got.data(), want.data(), info.raw_size), "%s: decoded bytes differ", what.c_str());
    CHECK(got[info.raw_size] == 0xEE, "%s: decode wrote past the output", what.c_str());
    /* device in, device out */
    void *d_in = to_dev(chunk), *d_out = to_dev(std::vector<uint8_t>(info.raw_size));
    const int64_t rd = sqz_cuda_decode(ctx, d_in, chunk.size(), 1, d_out, info.raw_size, 1);
    CHECK(rd == rc && (rc < 0 || !memcmp(d_out, want.data(), info.raw_size)), "%s: device-resident decode", what.c_str());
    /* an output one byte short fails */
    if (info.raw_size)
        CHECK(sqz_cuda_decode(ctx, chunk.data(), chunk.size(), 0, got.data(), info.raw_size - 1, 0) == -SQZ_ERR_DST_TOO_SMALL,
              "%s: short output accepted", what.c_str());
    sqzc_dev_free(d_in);
    sqzc_dev_free(d_out);
}

static void check_corruption(sqz_cuda_ctx *ctx, const std::vector<uint8_t> &chunk, const std::string &what)
{
    sqz_info info;
    if (sqz_inspect(chunk.data(), chunk.size(), &info) < 0 || chunk.size() == info.header_size) return;
    std::vector<uint8_t> out(info.raw_size + 1);
    for (int k = 0; k < 4; k++) {
        std::vector<uint8_t> bad(chunk);
        const size_t at = info.header_size + rnd() % (chunk.size() - info.header_size);
        bad[at] ^= (uint8_t)(1u << (rnd() % 8));
        const int64_t rc = sqz_decode(bad.data(), bad.size(), out.data(), info.raw_size, 1);
        const int64_t rg = sqz_cuda_decode(ctx, bad.data(), bad.size(), 0, out.data(), info.raw_size, 0);
        if (rg == -SQZ_ERR_NO_GPU) continue;
        CHECK(rg == rc, "%s: flipped payload byte %zu: GPU %lld, CPU %lld", what.c_str(), at, (long long)rg, (long long)rc);
    }
    for (size_t cut : {(size_t)1, (size_t)7}) {
        if (cut > chunk.size()) continue;
        const int64_t rc = sqz_decode(chunk.data(), chunk.size() - cut, out.data(), info.raw_size, 1);
        const int64_t rg = sqz_cuda_decode(ctx, chunk.data(), chunk.size() - cut, 0, out.data(), info.raw_size, 0);
        CHECK(rg == rc, "%s: truncated by %zu: GPU %lld, CPU %lld", what.c_str(), cut, (long long)rg, (long long)rc);
    }
    std::vector<uint8_t> bad(chunk);
    bad[9] ^= 1;  /* raw size: the header checksum catches it */
    CHECK(sqz_cuda_decode(ctx, bad.data(), bad.size(), 0, out.data(), info.raw_size, 0) ==
              sqz_decode(bad.data(), bad.size(), out.data(), info.raw_size, 1),
          "%s: damaged header", what.c_str());
}

static void test_chunks(sqz_cuda_ctx *ctx)
{
    const std::vector<std::vector<uint64_t>> shapes = {{0}, {1}, {7}, {8}, {100}, {13, 17}, {5, 33, 19}, {2, 64, 70}, {3000}};
    const uint32_t block_bytes[] = {0, 8, 24, 100, 1000, 4096};
    const char *lossless[] = {"raw", "bitshuffle", "bitshuffle->raw"};
    const char *wnl_pipes[] = {"wnl->raw", "wnl(q=1,offset=100,gain=2.5,read_noise=1.6)", "wnl(q=2,offset=90,gain=0.5,read_noise=2)->bitshuffle->raw"};
    const char *cpu_only[] = {"bitshuffle->lz4", "bitshuffle->zstd", "lz4", "remap->raw"};
    int chunks = 0, gpu_decoded = 0;
    for (int dtype = SQZ_UINT8; dtype <= SQZ_FLOAT32; dtype++)
        for (const auto &shape : shapes)
            for (uint32_t bb : block_bytes)
                for (int kind = 0; kind < 3; kind++) {
                    uint64_t n = 1;
                    for (uint64_t e : shape) n *= e;
                    if (kind && n == 0) continue;
                    std::vector<uint8_t> in = make_data(dtype, n, kind);
                    std::vector<const char *> pipes(lossless, lossless + 3);
                    if (dtype == SQZ_UINT8 || dtype == SQZ_UINT16 || dtype == SQZ_INT16) pipes.insert(pipes.end(), wnl_pipes, wnl_pipes + 3);
                    for (const char *pipe : pipes) {
                        char what[256];
                        snprintf(what, sizeof what, "%s %s shape[%zu]=%llu.. block_bytes=%u data=%d", pipe, dtype_name(dtype),
                                 shape.size(), (unsigned long long)shape[0], bb, kind);
                        std::vector<uint8_t> want;
                        const int64_t rc = cpu_encode(in, dtype, (int)shape.size(), shape.data(), pipe, bb, want);
                        CHECK(sqz_cuda_can_encode(pipe, dtype, (int)shape.size(), shape.data()) == 1, "%s: can_encode", what);
                        sqz_options opt = {pipe, 0, bb};
                        const size_t cap = sqz_encode_bound(in.size(), dtype, (int)shape.size(), pipe);
                        std::vector<uint8_t> got(cap + 1, 0xEE);
                        const int64_t rg = sqz_cuda_encode(ctx, in.data(), in.size(), 0, dtype, (int)shape.size(), shape.data(), &opt,
                                                           got.data(), cap, 0);
                        CHECK(rg == rc, "%s: GPU encode returned %lld, CPU %lld", what, (long long)rg, (long long)rc);
                        CHECK(rc < 0 || !memcmp(got.data(), want.data(), (size_t)rc), "%s: chunk bytes differ", what);
                        CHECK(rc < 0 || got[(size_t)rc] == 0xEE || (size_t)rc == cap, "%s: wrote past the chunk", what);
                        /* device-resident: device in, device out */
                        void *d_in = to_dev(in), *d_out = to_dev(std::vector<uint8_t>(cap));
                        const int64_t rd = sqz_cuda_encode(ctx, d_in, in.size(), 1, dtype, (int)shape.size(), shape.data(), &opt,
                                                           d_out, cap, 1);
                        CHECK(rd == rc && (rc < 0 || !memcmp(d_out, want.data(), (size_t)rc)), "%s: device-resident encode", what);
                        sqzc_dev_free(d_in);
                        sqzc_dev_free(d_out);
                        if (rc >= 0) {
                            check_decode(ctx, want, what);
                            if (kind == 0 && bb == 100) check_corruption(ctx, want, what);
                        }
                        chunks++;
                    }
                    /* pipelines the GPU does not encode: refused with NO_GPU; their chunks decode on
                     * the GPU where every block is stored (random data), else NO_GPU */
                    for (const char *pipe : cpu_only) {
                        if (!strcmp(pipe, "lossless3d") && shape.size() < 3) continue;
                        char what[256];
                        snprintf(what, sizeof what, "%s %s n=%llu block_bytes=%u data=%d", pipe, dtype_name(dtype),
                                 (unsigned long long)n, bb, kind);
                        std::vector<uint8_t> want;
                        if (cpu_encode(in, dtype, (int)shape.size(), shape.data(), pipe, bb, want) < 0) continue;
                        sqz_options opt = {pipe, 0, bb};
                        std::vector<uint8_t> got(want.size() + in.size() + 4096);
                        CHECK(sqz_cuda_encode(ctx, in.data(), in.size(), 0, dtype, (int)shape.size(), shape.data(), &opt, got.data(),
                                              got.size(), 0) == -SQZ_ERR_NO_GPU,
                              "%s: GPU accepted a pipeline it cannot encode", what);
                        std::vector<uint8_t> out(in.size() + 1);
                        const int64_t r = sqz_cuda_decode(ctx, want.data(), want.size(), 0, out.data(), in.size(), 0);
                        if (r != -SQZ_ERR_NO_GPU) { gpu_decoded++; check_decode(ctx, want, what); }
                    }
                }
    printf("emulation: %d chunks encoded and decoded byte-identically; %d CPU-pipeline chunks decoded\n", chunks, gpu_decoded);
}

/* ---- the lossless pipeline [remap ->] [predict ->] huff ---- */

/* Content kinds: 0 camera-like (background + noise), 1 constant, 2 random, 3 all-max,
 * 4 checkerboard, 5 values on a grid of 47 (remap's table), 6 smooth ramp. */
static std::vector<uint8_t> make_lossless(int dtype, const std::vector<uint64_t> &shape, int kind)
{
    const size_t es = sqz_dtype_size(dtype);
    const uint32_t max = es == 1 ? 0xFF : 0xFFFF;
    uint64_t n = 1;
    for (uint64_t e : shape) n *= e;
    const uint64_t X = shape.back();
    std::vector<uint8_t> v(n * es);
    for (uint64_t i = 0; i < n; i++) {
        const uint64_t x = i % X, y = i / X;
        uint32_t a;
        switch (kind) {
        case 0: a = (es == 1 ? 20 : 400) + (uint32_t)((x * 3 + y * 5) % 50) + rnd() % 9 + (rnd() % 64 == 0 ? rnd() % 200 : 0); break;
        case 1: a = 0x5A7; break;
        case 2: a = rnd(); break;
        case 3: a = max; break;
        case 4: a = (x + y) & 1 ? max : 0; break;
        case 5: a = (rnd() % (es == 1 ? 5 : 40)) * 47; break;
        default: a = (uint32_t)(x + 2 * y) + (rnd() & 1); break;
        }
        a &= max;
        if (es == 1) v[i] = (uint8_t)a;
        else { v[2 * i] = (uint8_t)a; v[2 * i + 1] = (uint8_t)(a >> 8); }
    }
    return v;
}

/* Recompute the stored-bytes hashes and the header checksum of a chunk whose payload was
 * changed, so that the decoders reach the coded data. */
static void rehash(std::vector<uint8_t> &c)
{
    sqz_info info;
    if (sqz_inspect(c.data(), c.size(), &info) < 0) return;
    const size_t head = info.header_size, nb = info.n_blocks, t0 = head - 12 * nb;
    size_t off = head;
    for (size_t i = 0; i < nb; i++) {
        const uint32_t sz = sqz_rd32(&c[t0 + 12 * i]) & ~SQZ_STORED_FLAG;
        sqz_wr32(&c[t0 + 12 * i + 8], sqz_hash32(&c[off], sz));
        off += sz;
    }
    uint8_t fixed[32];
    memcpy(fixed, c.data(), 32);
    memset(fixed + 28, 0, 4);
    sqz_wr32(&c[28], sqz_hash32(fixed, 32) ^ sqz_hash32(&c[32], head - 32));
}

/* Damaged coded data with valid hashes (rounds flips, the second half also a random byte near the
 * start): the GPU fails as the CPU does. */
static void check_damaged(sqz_cuda_ctx *ctx, const std::vector<uint8_t> &want, size_t header_size, size_t raw_size,
                          int rounds, const std::string &what)
{
    std::vector<uint8_t> out(raw_size + 1);
    for (int k = 0; k < rounds; k++) {
        std::vector<uint8_t> bad(want);
        const size_t at = header_size + rnd() % (want.size() - header_size);
        bad[at] ^= (uint8_t)(1u << (rnd() % 8));
        if (k >= rounds / 2) bad[header_size + rnd() % 40 % (want.size() - header_size)] = (uint8_t)rnd();
        rehash(bad);
        const int64_t c1 = sqz_decode(bad.data(), bad.size(), out.data(), raw_size, 1);
        const int64_t g1 = sqz_cuda_decode(ctx, bad.data(), bad.size(), 0, out.data(), raw_size, 0);
        CHECK(g1 == c1, "%s: damaged coded data at %zu: GPU %lld, CPU %lld", what.c_str(), at, (long long)g1, (long long)c1);
    }
}

static int g_coded_blocks = 0, g_stored_blocks = 0, g_lossless_chunks = 0;

static void check_lossless(sqz_cuda_ctx *ctx, int dtype, const std::vector<uint64_t> &shape, const char *pipe, uint32_t bb,
                           const std::vector<uint8_t> &in, int kind, int corrupt)
{
    const int nd = (int)shape.size();
    char what[256];
    snprintf(what, sizeof what, "%s %s shape %llux..x%llu (%d-D) block_bytes=%u data=%d", pipe, dtype_name(dtype),
             (unsigned long long)shape[0], (unsigned long long)shape.back(), nd, bb, kind);
    std::vector<uint8_t> want;
    const int64_t rc = cpu_encode(in, dtype, nd, shape.data(), pipe, bb, want);
    CHECK(rc >= 0, "%s: CPU encode", what);
    if (rc < 0) return;
    CHECK(sqz_cuda_can_encode(pipe, dtype, nd, shape.data()) == 1, "%s: can_encode", what);
    sqz_options opt = {pipe, 0, bb};
    const size_t cap = sqz_encode_bound(in.size(), dtype, nd, pipe);
    std::vector<uint8_t> got(cap + 1, 0xEE);
    const int64_t rg = sqz_cuda_encode(ctx, in.data(), in.size(), 0, dtype, nd, shape.data(), &opt, got.data(), cap, 0);
    CHECK(rg == rc, "%s: GPU encode returned %lld, CPU %lld", what, (long long)rg, (long long)rc);
    CHECK(rg != rc || !memcmp(got.data(), want.data(), (size_t)rc), "%s: chunk bytes differ", what);
    CHECK(rg < 0 || (size_t)rg == cap || got[(size_t)rg] == 0xEE, "%s: wrote past the chunk", what);
    if (rg >= 0) {  /* the CPU decodes the GPU's chunk */
        std::vector<uint8_t> back(in.size() + 1);
        CHECK(sqz_decode(got.data(), (size_t)rg, back.data(), in.size(), 1) == (int64_t)in.size() &&
                  !memcmp(back.data(), in.data(), in.size()),
              "%s: CPU decode of the GPU chunk", what);
    }
    void *d_in = to_dev(in), *d_out = to_dev(std::vector<uint8_t>(cap));
    const int64_t rd = sqz_cuda_encode(ctx, d_in, in.size(), 1, dtype, nd, shape.data(), &opt, d_out, cap, 1);
    CHECK(rd == rc && !memcmp(d_out, want.data(), (size_t)rc), "%s: device-resident encode", what);
    sqzc_dev_free(d_in);
    sqzc_dev_free(d_out);
    sqz_info info;
    sqz_inspect(want.data(), want.size(), &info);
    for (uint64_t i = 0; i < info.n_blocks; i++) {
        if (sqz_rd32(&want[info.header_size - 12 * info.n_blocks + 12 * i]) & SQZ_STORED_FLAG) g_stored_blocks++;
        else g_coded_blocks++;
    }
    g_lossless_chunks++;
    check_decode(ctx, want, what);  /* the GPU decodes the CPU's chunk */
    if (!corrupt || want.size() == info.header_size) return;
    check_damaged(ctx, want, info.header_size, in.size(), 6, what);
    check_corruption(ctx, want, what);
}

static void test_lossless(sqz_cuda_ctx *ctx)
{
    const std::vector<std::vector<uint64_t>> shapes = {{1}, {7}, {100}, {3000}, {1, 50}, {50, 1}, {2, 3}, {13, 17}, {40, 64},
                                                        {5, 33, 19}, {4, 9, 11}, {3, 1, 7}, {2, 64, 70}};
    const uint32_t block_bytes[] = {0, 64, 1000, 4096};
    std::vector<std::string> pipes = {"lossless", "lossless3d", "huff", "remap->huff"};
    for (int m = 0; m < SQZ_PRED_COUNT_; m++) {
        pipes.push_back("predict(mode=" + std::to_string(m) + ")->huff");
        pipes.push_back("remap->predict(mode=" + std::to_string(m) + ")->huff");
    }
    for (int dtype : {SQZ_UINT8, SQZ_UINT16, SQZ_INT8, SQZ_INT16}) {
        const int full = dtype == SQZ_UINT8 || dtype == SQZ_UINT16;
        for (const auto &shape : shapes)
            for (int kind = 0; kind < 7; kind++) {
                std::vector<uint8_t> in = make_lossless(dtype, shape, kind);
                for (uint32_t bb : block_bytes) {
                    if (!full && bb != 1000 && bb != 0) continue;
                    for (size_t pi = 0; pi < pipes.size(); pi++) {
                        if (!full && pi % 3) continue;
                        check_lossless(ctx, dtype, shape, pipes[pi].c_str(), bb, in, kind, bb == 1000 && kind == 0 && full);
                    }
                }
            }
    }
    /* bigger blocks: several 4096-element segments and emission tiles per stream, whole
     * default-size blocks, and blocks of at least SQZ_HUFF_SAMPLE_MIN elements (codes from sampled
     * rows) that start inside a row */
    const std::vector<std::vector<uint64_t>> big = {{3, 150, 301}, {70000}, {2, 700, 256}};
    for (int dtype : {SQZ_UINT8, SQZ_UINT16})
        for (const auto &shape : big)
            for (int kind : {0, 2, 5, 6})
                for (const char *pipe : {"lossless", "lossless3d", "predict(mode=1)->huff", "remap->predict(mode=5)->huff"})
                    for (uint32_t bb : {0u, 20000u, 70001u, 140002u})
                        check_lossless(ctx, dtype, shape, pipe, bb, make_lossless(dtype, shape, kind), kind, bb == 20000 && kind == 0);
    /* 4-byte elements: not on the GPU (NO_GPU), the CPU codes them */
    for (int dtype : {SQZ_UINT32, SQZ_FLOAT32}) {
        const uint64_t shape[2] = {10, 20};
        std::vector<uint8_t> in = make_data(dtype, 200, 1), c;
        CHECK(sqz_cuda_can_encode("lossless", dtype, 2, shape) == 0, "lossless %s: can_encode", dtype_name(dtype));
        cpu_encode(in, dtype, 2, shape, "lossless", 0, c);
        sqz_options opt = {"lossless", 0, 0};
        std::vector<uint8_t> got(c.size() + 4096);
        CHECK(sqz_cuda_encode(ctx, in.data(), in.size(), 0, dtype, 2, shape, &opt, got.data(), got.size(), 0) == -SQZ_ERR_NO_GPU,
              "lossless %s: GPU encode refused", dtype_name(dtype));
        std::vector<uint8_t> out(in.size());
        CHECK(sqz_cuda_decode(ctx, c.data(), c.size(), 0, out.data(), out.size(), 0) == -SQZ_ERR_NO_GPU,
              "lossless %s: GPU decode refused", dtype_name(dtype));
    }
    printf("emulation: lossless: %d chunks byte-identical (%d blocks coded, %d stored)\n", g_lossless_chunks, g_coded_blocks,
           g_stored_blocks);
}

/* huff64 (lossless64): the CPU encodes (no GPU encoder: NO_GPU), the GPU decodes, byte for
 * byte, and fails on damaged coded data as the CPU does. */
static void test_huff64(sqz_cuda_ctx *ctx)
{
    const std::vector<std::vector<uint64_t>> shapes = {{1}, {7}, {100}, {3000}, {1, 50}, {50, 1}, {13, 17}, {40, 64},
                                                        {5, 33, 19}, {4, 9, 11}, {2, 64, 70}, {3, 20, 94}, {2, 150, 301}};
    const char *pipes[] = {"lossless64", "huff64", "remap->huff64", "predict(mode=1)->huff64", "remap->predict(mode=5)->huff64",
                           "remap->predict(mode=6)->huff64", "predict(mode=7)->huff64", "remap->predict(mode=8)->huff64"};
    int chunks = 0, coded = 0;
    for (int dtype : {SQZ_UINT8, SQZ_UINT16, SQZ_INT8, SQZ_INT16})
        for (const auto &shape : shapes)
            for (int kind = 0; kind < 7; kind++) {
                const std::vector<uint8_t> in = make_lossless(dtype, shape, kind);
                const int nd = (int)shape.size();
                for (uint32_t bb : {0u, 1000u, 4096u})
                    for (const char *pipe : pipes) {
                        char what[256];
                        snprintf(what, sizeof what, "%s %s shape %llux..x%llu (%d-D) block_bytes=%u data=%d", pipe,
                                 dtype_name(dtype), (unsigned long long)shape[0], (unsigned long long)shape.back(), nd, bb, kind);
                        std::vector<uint8_t> want;
                        CHECK(cpu_encode(in, dtype, nd, shape.data(), pipe, bb, want) >= 0, "%s: CPU encode", what);
                        CHECK(sqz_cuda_can_encode(pipe, dtype, nd, shape.data()) == 0, "%s: can_encode", what);
                        sqz_info info;
                        sqz_inspect(want.data(), want.size(), &info);
                        std::vector<uint8_t> out(info.raw_size + 1);
                        const int64_t rg = sqz_cuda_decode(ctx, want.data(), want.size(), 0, out.data(), info.raw_size, 0);
                        CHECK(rg == (int64_t)in.size() && !memcmp(out.data(), in.data(), in.size()), "%s: GPU decode (%lld)",
                              what, (long long)rg);
                        check_decode(ctx, want, what);
                        for (uint64_t i = 0; i < info.n_blocks; i++)
                            coded += !(sqz_rd32(&want[info.header_size - 12 * info.n_blocks + 12 * i]) & SQZ_STORED_FLAG);
                        chunks++;
                        if (kind || bb != 1000 || want.size() == info.header_size) continue;
                        check_damaged(ctx, want, info.header_size, in.size(), 8, what);
                        check_corruption(ctx, want, what);
                    }
            }
    printf("emulation: huff64: %d CPU chunks decoded by the GPU engine (%d blocks coded)\n", chunks, coded);
}

static void test_batch(sqz_cuda_ctx *ctx)
{
    const uint64_t shape[3] = {4, 30, 50};
    const size_t n = 7, raw = 4 * 30 * 50 * 2;
    for (const char *pipe : {"raw", "wnl(q=1,offset=100,gain=2.5,read_noise=1.6)", "lossless", "remap->predict(mode=1)->huff"}) {
        std::vector<uint8_t> stack = make_data(SQZ_UINT16, n * raw / 2, 1);
        if (strstr(pipe, "remap"))  /* chunks with different remap tables */
            for (size_t i = 0; i < n * raw / 2; i++) { uint16_t v = (uint16_t)((rnd() % 30 + i / (raw / 2)) * 47); memcpy(&stack[2 * i], &v, 2); }
        const size_t stride = sqz_encode_bound(raw, SQZ_UINT16, 3, pipe);
        std::vector<uint8_t> out(n * stride);
        std::vector<int64_t> sizes(n);
        sqz_options opt = {pipe, 0, 2000};
        CHECK(sqz_cuda_encode_batch(ctx, n, stack.data(), raw, 0, SQZ_UINT16, 3, shape, &opt, out.data(), stride, sizes.data()) == 0,
              "batch encode %s", pipe);
        std::vector<uint64_t> offs(n), szs(n);
        for (size_t i = 0; i < n; i++) {
            std::vector<uint8_t> chunk(stack.begin() + i * raw, stack.begin() + (i + 1) * raw), want;
            cpu_encode(chunk, SQZ_UINT16, 3, shape, pipe, 2000, want);
            CHECK(sizes[i] == (int64_t)want.size() && !memcmp(&out[i * stride], want.data(), want.size()), "batch chunk %zu of %s", i, pipe);
            offs[i] = i * stride;
            szs[i] = (uint64_t)sizes[i];
        }
        std::vector<uint8_t> back(n * raw), want_back(n * raw);
        for (size_t i = 0; i < n; i++) sqz_decode(&out[offs[i]], szs[i], &want_back[i * raw], raw, 1);
        CHECK(sqz_cuda_decode_batch(ctx, n, out.data(), offs.data(), szs.data(), back.data(), raw, 0) == 0 && back == want_back,
              "batch decode %s", pipe);
        void *d_back = to_dev(std::vector<uint8_t>(n * raw));
        CHECK(sqz_cuda_decode_batch(ctx, n, out.data(), offs.data(), szs.data(), d_back, raw, 1) == 0 &&
                  !memcmp(d_back, want_back.data(), n * raw),
              "batch decode to device %s", pipe);
        sqzc_dev_free(d_back);
    }
}

int main(void)
{
    char name[128];
    printf("emulation backend: %d device(s): %s\n", sqz_cuda_probe(name, sizeof name), name);
    for (int slots : {1, 3}) {
        sqz_cuda_ctx *ctx = sqz_cuda_ctx_create(0, slots);
        if (!ctx) { fprintf(stderr, "no context: %s\n", sqz_cuda_last_error()); return 1; }
        if (slots == 1) {
            test_hash(ctx);
            test_bitshuffle();
            test_wnl_tables();
            test_chunks(ctx);
            test_lossless(ctx);
            test_huff64(ctx);
        }
        test_batch(ctx);
        sqz_cuda_ctx_free(ctx);
    }
    printf("emulation: %d checks, %d failures\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
