"""The lossless codec (remap -> predict -> huff, preset "lossless"): exact round trips on the
real stacks and on adversarial inputs, scalar == AVX2 bytes, and the parallel chunk writer."""
import struct

import h5py
import numpy as np
import pytest

import sqeazy_filter
from sqeazy_filter import _lib

from common import DTYPES, check_encode_decode, sample, with_simd
from conftest import DATA

STACKS = sorted(p.name for p in DATA.glob("*.tif")) if DATA.is_dir() else []
LOSSLESS = ["lossless", "lossless3d", "lossless_fast", "predict(mode=0)->huff", "predict(mode=1)->huff", "predict(mode=2)->huff",
            "predict(mode=3)->huff", "predict(mode=4)->huff", "predict(mode=7)->huff", "predict(mode=8)->huff",
            "remap->huff", "huff"]


def stack(name):
    tifffile = pytest.importorskip("tifffile")
    if not (DATA / name).exists():
        pytest.skip(f"{DATA / name} not available (set SQEAZY_TEST_DATA)")
    return tifffile.imread(DATA / name)


@pytest.mark.skipif(not STACKS, reason=f"no stacks in {DATA}")
@pytest.mark.parametrize("name", STACKS)
def test_real_stacks_round_trip(name):
    a = stack(name)
    sizes = {}
    for pipeline in ("lossless", "lossless3d", "bitshuffle->lz4"):
        sizes[pipeline] = len(check_encode_decode(a, pipeline))
    # the point of the codec: it beats the byte codec on every real stack
    assert sizes["lossless"] < sizes["bitshuffle->lz4"]


@pytest.mark.skipif(not STACKS, reason=f"no stacks in {DATA}")
@pytest.mark.parametrize("name", STACKS)
def test_real_stacks_scalar_equals_simd(name):
    a = stack(name)[:8]
    for pipeline in ("lossless", "lossless3d", "predict(mode=1)->huff"):
        scalar = with_simd(0, lambda: sqeazy_filter.encode(a, pipeline, threads=1))
        simd = with_simd(-1, lambda: sqeazy_filter.encode(a, pipeline, threads=2))
        assert scalar == simd
        np.testing.assert_array_equal(with_simd(0, lambda: sqeazy_filter.decode(simd)), a)


def test_remap_on_sparse_values(rng):
    """Values on a grid (rescaled data): the remap table makes the residuals small."""
    ramp = np.add.outer(np.arange(64), np.arange(96)) // 8
    a = ((ramp + rng.integers(0, 3, (6, 64, 96))) * 47).astype(np.uint16)
    with_remap = check_encode_decode(a, "lossless")
    without = check_encode_decode(a, "predict->huff")
    assert sqeazy_filter.info(with_remap)["pipeline"] == "remap->predict->huff"
    assert len(with_remap) < 0.75 * len(without)


@pytest.mark.parametrize("at", [5, -1])  # in the vector loop, in the scalar tail
def test_remap_decoders_agree_and_refuse_a_rank_outside(at, rng):
    """The scalar and AVX2 rank -> value loops give the input, and both refuse a rank past the table
    (here the table loses its top value, which one element has)."""
    from hardening_util import Chunk
    a = (rng.integers(0, 49, (3, 41, 37)) * 47).astype(np.uint16)  # 4551 elements: 7 past the last 8
    a.flat[at] = 49 * 47
    chunk = sqeazy_filter.encode(a, "lossless")
    for level in (0, 2, -1):
        np.testing.assert_array_equal(with_simd(level, lambda: sqeazy_filter.decode(chunk)), a)
    c, count = Chunk(chunk), 50
    meta = bytearray(c.pipeline)
    i = meta.index(struct.pack("<II", 4 + 2 * count, count))  # meta_size, then the table's count
    meta[i:i + 8] = struct.pack("<II", 4 + 2 * (count - 1), count - 1)
    del meta[i + 8 + 2 * (count - 1):i + 8 + 2 * count]
    c.pipeline, c.pipeline_size = bytes(meta), len(meta)
    bad = c.to_bytes()
    for level in (0, 2, -1):
        with pytest.raises(sqeazy_filter.SqeazyError, match=f"remap rank {count - 1} outside a table of {count - 1} values"):
            with_simd(level, lambda: sqeazy_filter.decode(bad))


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_auto_mode_of_one_byte_data_at_every_simd_level(dtype, rng):
    """The auto mode estimates 1-byte rows in the 16-bit AVX2 kernel: it must choose what the
    scalar estimate chooses. Planes that repeat favour the 3-D modes, and ROW3D (mode 8) within
    ROW_SLACK of AVG3D; random walks along the rows MED (mode 1); int8 values straddle 0, where the
    sign flip matters."""
    info = np.iinfo(dtype)
    base = rng.integers(-60, 60, (1, 64, 80)) + (0 if info.min < 0 else 100)
    planes = base + rng.integers(0, 3, (24, 64, 80))
    x = np.cumsum(rng.integers(-2, 3, (24, 64, 80)), axis=-1) + np.arange(64)[:, None] // 4
    from hardening_util import Chunk
    for a, mode in [(planes, 8), (np.clip(x, -100, 100) + (0 if info.min < 0 else 110), 1)]:
        a = a.astype(dtype)
        chunks = [with_simd(level, lambda: sqeazy_filter.encode(a, "predict->huff", threads=1)) for level in (0, 2, 3)]
        assert chunks[0] == chunks[1] == chunks[2]
        pl = Chunk(chunks[0]).pipeline  # n_stages, then predict: id, n_params, meta_size, params, meta
        stage, n_params, meta_size = struct.unpack_from("<BBI", pl, 1)
        assert (stage, meta_size, pl[7 + 8 * n_params]) == (25, 1, mode)


@pytest.mark.parametrize("dtype, step, shape", [(np.uint16, 47, (40, 256, 256)), (np.uint16, 47, (39, 255, 257)),
                                                (np.uint8, 5, (40, 256, 255))])
def test_remap_table_has_values_the_sample_missed(rng, dtype, step, shape):
    """The decision looks at 64 runs of 1024 elements spread over a large chunk; the table then
    comes from every element, including rare values between the runs (here below and above all
    sampled values, at each place of a group of four and in the last element)."""
    a = (rng.integers(1, 40, shape) * step).astype(dtype)  # 2.6 M elements: runs 41 K apart
    rare = {5000: 0, 5001: 40, 5002: 41, 5003: 42, a.size - 5000: 43, a.size - 1: 44}
    for at, k in rare.items():
        a.flat[at] = k * step
    chunk = check_encode_decode(a, "lossless")
    assert sqeazy_filter.info(chunk)["pipeline"] == "remap->predict->huff"
    table = sqeazy_filter.info(chunk)["header_size"] - sqeazy_filter.info(check_encode_decode(a, "predict->huff"))["header_size"]
    assert table >= (39 + len(rare)) * a.itemsize


def test_remap_skips_a_sparse_tail(rng):
    """Dense camera values with a few bright outliers span many unused codes, but ranks would not
    shrink the residuals of the dense bulk: no table (docs/DESIGN.md, "Remap")."""
    a = rng.poisson(120, (6, 64, 96)).astype(np.uint16)
    a.flat[rng.choice(a.size, 300, replace=False)] = rng.integers(1000, 20000, 300)
    distinct = np.unique(a).size
    assert int(a.max()) - int(a.min()) + 1 >= 4 * distinct  # what the span rule alone would remap
    chunk = check_encode_decode(a, "lossless")
    assert sqeazy_filter.info(chunk)["header_size"] < 2 * distinct
    assert len(chunk) <= len(check_encode_decode(a, "predict->huff")) + 16


@pytest.mark.parametrize("pipeline", ["lossless", "lossless64"])
def test_remap_table_is_small_beside_the_chunk(pipeline, rng):
    """Random 16-bit values span many unused codes, but a table of nearly every element's value
    would cost as much as the data: no table, and the chunk stays within header + raw size. A
    sparse grid with 16 elements per value keeps its table."""
    for shape in [(64, 64), (4, 8, 8)]:
        a = rng.integers(0, 65536, size=shape, dtype=np.uint16)
        chunk = check_encode_decode(a, pipeline)
        info = sqeazy_filter.info(chunk)
        assert info["header_size"] < 200 and len(chunk) <= info["header_size"] + a.nbytes
    grid = (rng.permutation(np.repeat(np.arange(256), 16)).reshape(64, 64) * 37).astype(np.uint16)
    assert sqeazy_filter.info(check_encode_decode(grid, pipeline))["header_size"] > 2 * 256


def adversarial(dtype, rng):
    dt = np.dtype(dtype)
    hi = np.iinfo(dt).max if dt.kind in "ui" else np.float32(3e38)
    lo = np.iinfo(dt).min if dt.kind in "ui" else np.float32(-3e38)
    shape = (3, 17, 29)
    yield "constant", np.full(shape, 5, dt)
    yield "all-max", np.full(shape, hi, dt)
    yield "all-min", np.full(shape, lo, dt)
    yield "random", sample(dt, shape, rng)
    yield "random-full-range", (rng.integers(0, 256, (3, 17, 29 * dt.itemsize), dtype=np.uint8).view(dt)
                                if dt.kind != "f" else sample(dt, shape, rng))
    yield "checkerboard", np.where(np.indices(shape).sum(0) % 2 == 0, hi, lo).astype(dt)
    single = np.zeros(shape, dt)
    single[1, 8, 14] = hi
    yield "single pixel", single
    yield "one element", np.array([hi], dt)
    yield "one row", sample(dt, (1, 1, 1001), rng)
    yield "one column", sample(dt, (2, 999, 1), rng)
    yield "4-D odd", sample(dt, (2, 3, 5, 7), rng)
    yield "1-D", sample(dt, (12345,), rng)
    yield "empty", np.zeros((0, 4, 4), dt)


def adversarial_both_ways(dtype, pipeline, rng, both_ways, blocks=(0, 1024, 5120)):
    """Every adversarial input round-trips and gives the same bytes and values at both SIMD levels
    (both_ways: the codec suite's own comparison)."""
    for what, a in adversarial(dtype, rng):
        for block in blocks:
            try:
                check_encode_decode(a, pipeline, block_size=block)
                both_ways(a, pipeline, block)
            except AssertionError as exc:  # pragma: no cover - names the input in the report
                raise AssertionError(f"{what}, {dtype}, {pipeline}, block {block}") from exc


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pipeline", LOSSLESS)
def test_adversarial_round_trips(dtype, pipeline, rng):
    for what, a in adversarial(dtype, rng):
        for block in (0, 1024):
            try:
                check_encode_decode(a, pipeline, block_size=block)
            except AssertionError as exc:  # pragma: no cover - names the input in the report
                raise AssertionError(f"{what}, {dtype}, {pipeline}, block {block}") from exc


@pytest.mark.parametrize("dtype", DTYPES)
def test_adversarial_scalar_equals_simd(dtype, rng):
    for what, a in adversarial(dtype, rng):
        for pipeline in ("lossless", "lossless3d", "predict(mode=1)->huff", "predict(mode=0)->huff"):
            scalar = with_simd(0, lambda: sqeazy_filter.encode(a, pipeline, block_size=2048))
            simd = with_simd(-1, lambda: sqeazy_filter.encode(a, pipeline, block_size=2048))
            assert scalar == simd, (what, pipeline)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
def test_row_encoders_equal_scalar_in_every_mode(dtype, rng):
    """The AVX2 (16 or 32 per vector) and AVX-512 (32 or 64) residual rows, with their overlapping
    last vectors, give the scalar bytes in every mode, on rows on either side of each width."""
    info = np.iinfo(dtype)
    for X in (17, 18, 33, 34, 35, 65, 66, 67, 97, 130):
        walk = np.cumsum(np.cumsum(rng.integers(-3, 4, size=(3, 5, X)), axis=-1), axis=-2)  # compressible
        walk[:, :, ::7] += rng.integers(-40, 41, size=walk[:, :, ::7].shape)  # and some large residuals
        a = (walk + (info.min + info.max) // 2).clip(info.min, info.max).astype(dtype)
        for mode in range(6):
            pipeline = f"predict(mode={mode})->huff"
            chunks = {level: with_simd(level, lambda: sqeazy_filter.encode(a, pipeline, threads=1)) for level in (0, 2, 3)}
            assert chunks[0] == chunks[2] == chunks[3], (X, mode)


@pytest.mark.parametrize("pipeline", ["huff", "lossless", "predict(mode=0)->huff", "predict(mode=5)->huff"])
def test_small_blocks_with_short_streams(pipeline, rng):
    """Blocks of 1-4 KiB whose bit streams are a few bytes long: the decoder switches between its
    fast path and the byte-wise path near a stream's end (a checkerboard of 0 and max once broke it)."""
    for shape in [(5, 33, 19), (4, 9, 11), (3, 1, 7), (2, 64, 70), (7, 13), (3000,)]:
        idx = np.indices(shape)
        y, x = (idx[-2] if len(shape) > 1 else 0), idx[-1]
        for dtype in (np.uint8, np.uint16):
            top = np.iinfo(dtype).max
            for arr in (np.where((x + y) & 1, top, 0), rng.integers(0, top + 1, shape), np.full(shape, top),
                        (x + 2 * y + rng.integers(0, 2, shape)) & top):
                a = np.ascontiguousarray(arr.astype(dtype))
                for block in (1024, 2048, 4096, 0):
                    chunk = sqeazy_filter.encode(a, pipeline, threads=1, block_size=block)
                    np.testing.assert_array_equal(sqeazy_filter.decode(chunk), a, err_msg=f"{shape} {dtype} {block}")


def test_streams_ending_early_in_the_last_block():
    """The case the GPU emulation grid found: a 0/max checkerboard in 1000-byte blocks (C API,
    any block size), whose last block's streams end within a few bytes."""
    lib, ffi = _lib.load(), _lib.ffi
    idx = np.indices((5, 33, 19))
    a = np.ascontiguousarray(np.where((idx[0] * 33 + idx[1] + idx[2]) & 1, 65535, 0).astype(np.uint16))
    shape = ffi.new("uint64_t[]", list(a.shape))
    for block in (0, 64, 1000, 4096):
        text = ffi.new("char[]", b"huff")
        opts = ffi.new("sqz_options *", {"pipeline": text, "threads": 1, "block_bytes": block})
        out = np.empty(lib.sqz_encode_bound(a.nbytes, 3, 3, text), np.uint8)
        n = lib.sqz_encode(ffi.from_buffer(a), a.nbytes, 3, 3, shape, opts, ffi.from_buffer(out), out.nbytes)
        assert n > 0, sqeazy_filter.last_error()
        np.testing.assert_array_equal(sqeazy_filter.decode(out[:n].tobytes(), threads=1), a, err_msg=f"block {block}")


def test_bound_of_a_shape_holds_and_is_tight(rng):
    """sqz_encode_bound_shape: what sqz_encode needs for that shape and those options, no more than
    the chunk's blocks take (encode() allocates it: a 41 MB stack once took 104 MB of fresh pages)."""
    lib, ffi = _lib.load(), _lib.ffi
    worst = rng.integers(0, 65536, (3, 40, 70), dtype=np.uint16)  # random: every block stored raw
    for a in (worst, worst // 256 * 256, worst[:1, :1, :9]):
        shape = ffi.new("uint64_t[]", list(a.shape))
        for pipeline in (b"lossless64", b"lossless", b"bitshuffle->lz4", b"wnl(q=1,gain=2,offset=100)->nlcode16"):
            for block in (0, 16, 1000):
                text = ffi.new("char[]", pipeline)
                opts = ffi.new("sqz_options *", {"pipeline": text, "threads": 1, "block_bytes": block})
                bound = lib.sqz_encode_bound_shape(3, 3, shape, opts)
                assert 0 < bound <= lib.sqz_encode_bound(a.nbytes, 3, 3, text)
                out = np.empty(bound, np.uint8)
                n = lib.sqz_encode(ffi.from_buffer(a), a.nbytes, 3, 3, shape, opts, ffi.from_buffer(out), bound)
                assert 0 < n <= bound, (pipeline, block, sqeazy_filter.last_error())
    big = ffi.new("uint64_t[]", [834, 118, 209])
    assert lib.sqz_encode_bound_shape(3, 3, big, ffi.NULL) < 41_136_216 + (2 << 20)
    for dtype, ndim, pipeline in ((3, 0, b"lossless"), (99, 3, b"lossless"), (3, 3, b"nosuchstage")):
        text = ffi.new("char[]", pipeline)  # kept alive: the struct field does not own it
        opts = ffi.new("sqz_options *", {"pipeline": text})
        assert lib.sqz_encode_bound_shape(dtype, ndim, big, opts) == 0
        assert sqeazy_filter.last_error()


def test_constant_chunk_is_tiny():
    chunk = sqeazy_filter.encode(np.full((4, 256, 256), 1234, np.uint16), "lossless")
    assert len(chunk) < 1000


def test_damaged_chunks_fail_cleanly(rng):
    a = (rng.poisson(20, (4, 64, 64)) + 100).astype(np.uint16)
    chunk = sqeazy_filter.encode(a, "lossless", block_size=4096)
    header = sqeazy_filter.info(chunk)["header_size"]
    for i in range(header, len(chunk), max(1, (len(chunk) - header) // 200)):
        bad = bytearray(chunk)
        bad[i] ^= 0x5A
        with pytest.raises(sqeazy_filter.SqeazyError):
            sqeazy_filter.decode(bytes(bad))


def test_presets_and_default():
    assert sqeazy_filter.DEFAULT_PIPELINE == "lossless"
    assert sqeazy_filter.canonical_pipeline("lossless") == "remap->predict->huff"
    assert sqeazy_filter.canonical_pipeline("lossless3d") == "remap->predict(mode=4)->huff"
    assert sqeazy_filter.canonical_pipeline("lossless_fast") == "remap->predict->bitshuffle->zstd"
    assert sqeazy_filter.Sqeazy().pipeline == "remap->predict->huff"
    chunk = sqeazy_filter.encode(np.arange(1000, dtype=np.uint16).reshape(10, 100))
    assert sqeazy_filter.info(chunk)["pipeline"] == "remap->predict->huff"
    with pytest.raises(ValueError, match="preset"):
        sqeazy_filter.canonical_pipeline("lossless(3)")
    with pytest.raises(ValueError, match="mode"):
        sqeazy_filter.canonical_pipeline("predict(mode=9)->huff")
    with pytest.raises(ValueError, match="last"):
        sqeazy_filter.canonical_pipeline("lossless->lz4")


def test_old_default_still_decodes(rng):
    a = rng.integers(0, 4000, (3, 40, 50)).astype(np.uint16)
    np.testing.assert_array_equal(sqeazy_filter.decode(sqeazy_filter.encode(a, "bitshuffle->lz4")), a)


def test_blocks_follow_rows_and_planes():
    a = np.zeros((20, 100, 300), np.uint16)
    assert sqeazy_filter.info(sqeazy_filter.encode(a, "lossless"))["block_elems"] % 300 == 0
    three = sqeazy_filter.info(sqeazy_filter.encode(a, "lossless3d"))["block_elems"]
    assert three % 30000 == 0 and three >= 4 * 30000


# ---- the parallel chunk writer and reader -------------------------------------------------

def make_dataset(f, shape, chunks, dtype=np.uint16, pipeline="lossless", **kw):
    return f.create_dataset("x", shape=shape, dtype=dtype, chunks=chunks, **sqeazy_filter.Sqeazy(pipeline, **kw))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("pipeline", ["lossless", "bitshuffle->lz4", "lossless3d"])
def test_write_chunks_reads_back_through_the_filter(tmp_path, rng, threads, pipeline):
    a = (rng.poisson(30, (21, 50, 77)) + 100).astype(np.uint16)   # ragged edge chunks
    with h5py.File(tmp_path / "w.h5", "w") as f:
        d = make_dataset(f, a.shape, (8, 25, 40), pipeline=pipeline)
        n = sqeazy_filter.write_chunks(d, a, threads=threads)
        assert 0 < n < a.nbytes
    with h5py.File(tmp_path / "w.h5", "r") as f:
        np.testing.assert_array_equal(f["x"][...], a)                 # the ordinary filter
        np.testing.assert_array_equal(sqeazy_filter.read_chunks(f["x"], threads=threads), a)


def test_write_chunks_file_order_does_not_depend_on_threads(tmp_path, rng):
    """Chunks are stored in order whichever thread finishes first: the same file for any N."""
    a = (rng.poisson(30, (40, 40, 40)) + 100).astype(np.uint16)
    a[::3] = rng.integers(0, 65535, (14, 40, 40))                   # slow and fast chunks mixed
    layouts = []
    for threads in (1, 2, 5):
        with h5py.File(tmp_path / f"o{threads}.h5", "w") as f:
            d = make_dataset(f, a.shape, (1, 40, 40))
            sqeazy_filter.write_chunks(d, a, threads=threads)
            layouts.append([(d.id.get_chunk_info(i).chunk_offset, d.id.get_chunk_info(i).byte_offset)
                            for i in range(d.id.get_num_chunks())])
    assert layouts[0] == layouts[1] == layouts[2]
    assert [off for off, _ in layouts[0]] == [(z, 0, 0) for z in range(40)]
    assert [pos for _, pos in layouts[0]] == sorted(pos for _, pos in layouts[0])


@pytest.mark.parametrize("threads", [1, 3])
def test_write_chunks_failure_stops_every_thread_and_keeps_earlier_chunks(tmp_path, rng, monkeypatch, threads):
    from sqeazy_filter import parallel
    a = rng.integers(0, 4000, (12, 16, 16)).astype(np.uint16)
    real = parallel._Encoder.__call__

    def failing(self, block, fill, out):
        if block[0, 0, 0] == a[6, 0, 0] and np.array_equal(block, a[6:7]):
            raise sqeazy_filter.SqeazyError("chunk 6 fails")
        return real(self, block, fill, out)

    monkeypatch.setattr(parallel._Encoder, "__call__", failing)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        d = make_dataset(f, a.shape, (1, 16, 16))
        with pytest.raises(sqeazy_filter.SqeazyError, match="chunk 6 fails"):
            sqeazy_filter.write_chunks(d, a, threads=threads)
        stored = sorted(d.id.get_chunk_info(i).chunk_offset for i in range(d.id.get_num_chunks()))
        assert stored == [(z, 0, 0) for z in range(6)]               # in order, up to the failure
        np.testing.assert_array_equal(d[:6], a[:6])


def _pool_threads():
    import threading
    return {t for t in threading.enumerate() if t.name.startswith("sqeazy")}


def test_parallel_helpers_are_kept_between_calls(tmp_path, rng):
    # fresh threads would page-fault their C scratch buffers and tables in again on every call
    a = rng.integers(0, 4000, (24, 16, 16)).astype(np.uint16)
    with h5py.File(tmp_path / "p.h5", "w") as f:
        d = make_dataset(f, a.shape, (1, 16, 16))
        for _ in range(4):
            sqeazy_filter.write_chunks(d, a, threads=3)
            np.testing.assert_array_equal(sqeazy_filter.read_chunks(d, threads=3), a)
        helpers = _pool_threads()
        assert helpers
        for _ in range(4):
            sqeazy_filter.write_chunks(d, a, threads=3)
            np.testing.assert_array_equal(sqeazy_filter.read_chunks(d, threads=2), a)
        assert _pool_threads() == helpers


def test_write_chunks_from_concurrent_callers(tmp_path, rng):
    import threading
    arrays = [rng.integers(0, 4000, (16, 16, 16)).astype(np.uint16) for _ in range(3)]
    errors = []

    def one(i):
        try:
            with h5py.File(tmp_path / f"c{i}.h5", "w") as f:
                sqeazy_filter.write_chunks(make_dataset(f, arrays[i].shape, (2, 16, 16)), arrays[i], threads=2)
        except BaseException as e:  # noqa: B036 - checked below
            errors.append(e)

    callers = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert not errors
    for i, a in enumerate(arrays):
        with h5py.File(tmp_path / f"c{i}.h5", "r") as f:
            np.testing.assert_array_equal(f["x"][...], a)


def _write_in_child(path, a):
    with h5py.File(path, "w") as f:
        sqeazy_filter.write_chunks(make_dataset(f, a.shape, (2, 16, 16)), a, threads=2)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_write_chunks_in_a_forked_child(tmp_path, rng):
    import multiprocessing
    a = rng.integers(0, 4000, (8, 16, 16)).astype(np.uint16)
    with h5py.File(tmp_path / "parent.h5", "w") as f:
        sqeazy_filter.write_chunks(make_dataset(f, a.shape, (2, 16, 16)), a, threads=2)  # the parent's pool
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(tmp_path / "child.h5", a))
    child.start()
    child.join(120)
    if child.is_alive():
        child.kill()
        pytest.fail("write_chunks hung in a forked child")
    assert child.exitcode == 0
    with h5py.File(tmp_path / "child.h5", "r") as f:
        np.testing.assert_array_equal(f["x"][...], a)


def test_read_chunks_of_filter_written_file(tmp_path, rng):
    a = rng.integers(0, 255, (9, 33, 65)).astype(np.uint8)
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f.create_dataset("x", data=a, chunks=(4, 16, 32), **sqeazy_filter.Sqeazy())
        f.create_dataset("y", shape=a.shape, dtype=a.dtype, chunks=(4, 16, 32), fillvalue=7,
                         **sqeazy_filter.Sqeazy())                     # no chunk written
    with h5py.File(tmp_path / "r.h5", "r") as f:
        np.testing.assert_array_equal(sqeazy_filter.read_chunks(f["x"], threads=2), a)
        assert (sqeazy_filter.read_chunks(f["y"], threads=2) == 7).all()


def test_write_chunks_region(tmp_path, rng):
    a = rng.integers(0, 4000, (8, 32, 32)).astype(np.uint16)
    with h5py.File(tmp_path / "o.h5", "w") as f:
        d = make_dataset(f, (16, 32, 32), (8, 32, 32))
        sqeazy_filter.write_chunks(d, a, threads=2, offset=(8, 0, 0))
        np.testing.assert_array_equal(d[8:], a)
        assert (d[:8] == 0).all()
        with pytest.raises(ValueError, match="whole chunks"):
            sqeazy_filter.write_chunks(d, a[:4], threads=2, offset=(4, 0, 0))


def test_write_chunks_refuses_bad_arguments(tmp_path):
    a = np.zeros((4, 8, 8), np.uint16)
    with h5py.File(tmp_path / "e.h5", "w") as f:
        plain = f.create_dataset("plain", shape=a.shape, dtype=a.dtype, chunks=(2, 8, 8), compression="gzip")
        with pytest.raises(ValueError, match="only filter"):
            sqeazy_filter.write_chunks(plain, a)
        d = f.create_dataset("d", shape=a.shape, dtype=a.dtype, chunks=(2, 8, 8), **sqeazy_filter.Sqeazy())
        for threads in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="threads"):
                sqeazy_filter.write_chunks(d, a, threads=threads)
        with pytest.raises(ValueError, match="dtype"):
            sqeazy_filter.write_chunks(d, a.astype(np.int32))
        with pytest.raises(ValueError, match="dimensions"):
            sqeazy_filter.write_chunks(d, a[0])
        contiguous = f.create_dataset("c", data=a)
        with pytest.raises(ValueError, match="chunked"):
            sqeazy_filter.write_chunks(contiguous, a)


def test_write_chunks_keeps_block_size(tmp_path, rng):
    a = rng.integers(0, 4000, (4, 64, 64)).astype(np.uint16)
    with h5py.File(tmp_path / "b.h5", "w") as f:
        d = make_dataset(f, a.shape, (4, 64, 64), pipeline="bitshuffle->lz4", block_size=4096)
        sqeazy_filter.write_chunks(d, a, threads=2)
        _, data = d.id.read_direct_chunk((0, 0, 0))
        assert sqeazy_filter.info(data)["block_elems"] == 2048


@pytest.mark.parametrize("mode", [1, 2, 4, 5, 7, 8])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
def test_row_group_decoders_equal_scalar(mode, dtype, rng):
    """The AVX2 and AVX-512 decoders of the averaging modes and MED run 16 or 32 rows at once, each
    lane a few columns behind the one above: their column 0 and last column, groups that end a plane
    or a block, planes whose previous plane starts inside a group, last groups of 8-31 rows, rows
    shorter than the lanes' skew, and last steps finished one by one (X + 31 L = 32 t + 1..4) must decode
    as the scalar decoder does, at every SIMD level. ROW and ROW3D (7, 8) decode whole rows by vectors
    with masked ends (rows of 1 to 2 vectors and more, of every remainder); every level also encodes
    the scalar bytes."""
    info = np.iinfo(dtype)
    for shape in [(3, 40, 2), (2, 17, 3), (2, 33, 50), (3, 20, 47), (2, 70, 301), (4, 16, 16), (2, 48, 1100),
                  (3, 13, 33), (2, 26, 7), (2, 31, 129), (2, 65, 97), (3, 45, 3), (2, 100, 33), (2, 40, 200),
                  (2, 60, 96), (3, 30, 32), (2, 60, 128), (2, 40, 162), (2, 50, 133)]:
        idx = np.indices(shape)
        smooth = (np.cumsum(rng.integers(-3, 4, size=shape), axis=-1) + 5 * idx[-2]) % (info.max - info.min)
        for arr in (rng.integers(info.min, info.max, size=shape, endpoint=True),
                    np.where((idx[-1] + idx[-2]) & 1, info.max, info.min), smooth + info.min):
            a = np.ascontiguousarray(arr.astype(dtype))
            for block in (0, 1024, 4096):
                chunk = sqeazy_filter.encode(a, f"predict(mode={mode})->huff", block_size=block)
                for level in (0, 2, 3):  # scalar, AVX2, AVX-512 (capped at what the CPU runs)
                    if mode >= 7:
                        again = with_simd(level, lambda: sqeazy_filter.encode(a, f"predict(mode={mode})->huff", block_size=block))
                        assert again == chunk, f"{shape} block {block} level {level}: other bytes"
                    out = with_simd(level, lambda: sqeazy_filter.decode(chunk, threads=1))
                    np.testing.assert_array_equal(out, a, err_msg=f"{shape} block {block} level {level}")


@pytest.mark.parametrize("dtype", ["uint8", "int16"])
def test_row_group_decoders_without_carried_plane(dtype, rng):
    """Planes too large for the row-group decoders to keep their vectors (4 MiB): AVG3D reads the
    previous plane's rows themselves, and must flip signed values as the carried path does."""
    info = np.iinfo(dtype)
    shape = (2, 1100, 2048) if dtype == "int16" else (2, 2100, 2048)
    walk = np.cumsum(rng.integers(-2, 3, size=shape, dtype=np.int16), axis=-1, dtype=np.int64)
    a = (walk % (info.max - info.min) + info.min).astype(dtype)
    chunk = sqeazy_filter.encode(a, "predict(mode=4)->huff", threads=1)
    for level in (0, 2, 3):
        np.testing.assert_array_equal(with_simd(level, lambda: sqeazy_filter.decode(chunk, threads=1)), a,
                                      err_msg=f"level {level}")


def test_encode_output_buffer_reuse(monkeypatch, rng):
    """encode() reuses one working buffer per thread up to a size, and allocates past it: chunks of
    growing and shrinking sizes, on either side of the limit, come out as encoded alone."""
    from sqeazy_filter import codec
    arrays = [rng.integers(0, 3000, s).astype(np.uint16) for s in [(4, 64, 64), (2, 8, 8), (8, 64, 64), (3, 5, 7)]]
    alone = []
    for a in arrays:
        monkeypatch.setattr(codec, "_scratch", __import__("threading").local())
        alone.append(sqeazy_filter.encode(a))
    for cap in (1 << 30, 20000, 0):
        monkeypatch.setattr(codec, "_SCRATCH_MAX", cap)
        for a, want in zip(arrays + arrays[::-1], alone + alone[::-1]):
            got = sqeazy_filter.encode(a)
            assert got == want and isinstance(got, bytes)
            np.testing.assert_array_equal(sqeazy_filter.decode(got), a)
