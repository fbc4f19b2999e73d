"""Foundation: round trips for every dtype, rank and chunk shape, through encode/decode and h5py."""
import h5py
import numpy as np
import pytest

import sqeazy_filter
from common import DTYPES, check_encode_decode, check_h5py, sample

PIPELINES = ["raw", "lz4", "zstd", "zstd(level=9)", "bitshuffle->lz4", "bitshuffle->zstd(level=3)", "bitshuffle"]
SHAPES_CHUNKS = [
    ((1000,), (100,)), ((1001,), (64,)), ((1,), (1,)),
    ((33, 47), (16, 16)), ((5, 7), (1, 1)),
    ((9, 33, 35), (4, 16, 16)), ((3, 4, 5), (3, 4, 5)),
    ((2, 3, 17, 19), (1, 2, 8, 8)),
    ((2, 2, 3, 9, 11), (1, 2, 2, 4, 4)),
]


def test_registered():
    cfg = sqeazy_filter.config()
    assert cfg["registered"], cfg["registration_error"]
    assert h5py.h5z.filter_avail(sqeazy_filter.FILTER_ID)
    assert sqeazy_filter.register() is True  # idempotent


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pipeline", PIPELINES)
def test_encode_decode_dtypes(dtype, pipeline, rng):
    for kind in ("noise", "constant", "extremes"):
        check_encode_decode(sample(dtype, (3, 41, 37), rng, kind), pipeline)


@pytest.mark.parametrize("shape,chunks", SHAPES_CHUNKS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_h5py_round_trip(tmp_path, shape, chunks, dtype, rng):
    check_h5py(tmp_path / "x.h5", sample(dtype, shape, rng), chunks, "bitshuffle->lz4")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_h5py_pipelines_edge_chunks(tmp_path, pipeline, rng):
    check_h5py(tmp_path / "p.h5", sample("uint16", (10, 70, 45), rng), (4, 32, 32), pipeline)


def test_int16_as_bigdataviewer_stores_uint16(tmp_path, rng):
    a = sample("uint16", (6, 50, 50), rng).view("int16")
    check_h5py(tmp_path / "bdv.h5", a, (3, 32, 32), "bitshuffle->lz4")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_do_not_change_bytes(threads, rng):
    a = sample("uint16", (8, 128, 128), rng)
    ref = sqeazy_filter.encode(a, "bitshuffle->lz4", threads=1, block_size=4096)
    assert sqeazy_filter.encode(a, "bitshuffle->lz4", threads=threads, block_size=4096) == ref
    np.testing.assert_array_equal(sqeazy_filter.decode(ref, threads=threads), a)


def test_thread_and_block_options_through_h5py(tmp_path, rng):
    check_h5py(tmp_path / "t.h5", sample("uint16", (8, 64, 64), rng), (8, 64, 64), "bitshuffle->lz4",
               threads=2, block_size=2048)


def test_env_threads(monkeypatch, rng):
    monkeypatch.setenv("SQEAZY_NUM_THREADS", "3")
    a = sample("int32", (4, 64, 64), rng)
    check_encode_decode(a, "bitshuffle->zstd")


def test_non_contiguous_and_big_endian(rng):
    a = sample("uint16", (20, 30), rng)
    check_encode_decode(a[:, ::2].copy(), "lz4")
    np.testing.assert_array_equal(sqeazy_filter.decode(sqeazy_filter.encode(a[:, ::2], "lz4")), a[:, ::2])
    be = a.astype(">u2")
    np.testing.assert_array_equal(sqeazy_filter.decode(sqeazy_filter.encode(be, "lz4")), a)


def test_decode_into_out(rng):
    a = sample("float32", (5, 6), rng)
    out = np.empty_like(a)
    assert sqeazy_filter.decode(sqeazy_filter.encode(a), out=out) is out
    np.testing.assert_array_equal(out, a)
    with pytest.raises(ValueError, match="out must be"):
        sqeazy_filter.decode(sqeazy_filter.encode(a), out=np.empty((6, 5), np.float32))


def test_compresses_camera_data():
    from conftest import camera_stack
    a = camera_stack((16, 128, 128))
    chunk = sqeazy_filter.encode(a, "bitshuffle->lz4")
    assert sqeazy_filter.info(chunk)["ratio"] > 1.5


def test_empty_array():
    a = np.zeros((0, 5), np.uint16)
    back = sqeazy_filter.decode(sqeazy_filter.encode(a))
    assert back.shape == (0, 5)
