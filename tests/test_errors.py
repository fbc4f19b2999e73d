"""Bad input of every kind gives a clear error naming the problem, never a crash or wrong data."""
import h5py
import numpy as np
import pytest

import sqeazy_filter
from sqeazy_filter import SqeazyError


@pytest.mark.parametrize("pipeline,words", [
    ("bogus", "unknown stage"), ("lz4->", "expected a stage name"), ("", "empty pipeline"),
    ("zstd(level=40)", "outside"), ("zstd(level=2.5)", "integer"), ("zstd(speed=1)", "no parameter"),
    ("lz4->bitshuffle", "must be the last stage"), ("zstd(level=3", "missing|expected .,. or"), ("bitshuffle->->lz4", "expected"),
])
def test_bad_pipeline(pipeline, words):
    with pytest.raises(ValueError, match=words):
        sqeazy_filter.Sqeazy(pipeline)
    with pytest.raises(ValueError, match=words):
        sqeazy_filter.encode(np.zeros(8, np.uint16), pipeline)


@pytest.mark.parametrize("kw", [{"threads": -1}, {"threads": 256}, {"threads": 1.5}, {"block_size": 1000},
                                {"block_size": -1024}, {"block_size": 1 << 30}])
def test_bad_options(kw):
    with pytest.raises(ValueError):
        sqeazy_filter.Sqeazy("lz4", **kw)


@pytest.mark.parametrize("dtype", ["float64", "int64", "uint64", "complex64", "bool"])
def test_unsupported_dtype_encode(dtype):
    with pytest.raises(ValueError, match="does not support dtype"):
        sqeazy_filter.encode(np.zeros(8, dtype))


@pytest.mark.parametrize("dtype", ["float64", "int64", "uint64"])
def test_unsupported_dtype_h5py_refused(tmp_path, dtype):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        with pytest.raises((ValueError, OSError, RuntimeError)):
            f.create_dataset("x", data=np.zeros((4, 4), dtype), chunks=(2, 2), **sqeazy_filter.Sqeazy())
        assert "x" not in f or f["x"].compression is None


def test_scalar_refused():
    with pytest.raises(ValueError, match="dimensions"):
        sqeazy_filter.encode(np.uint16(3))


def _chunk(rng, pipeline="bitshuffle->lz4"):
    a = rng.integers(0, 300, size=(4, 64, 64)).astype(np.uint16)
    return a, sqeazy_filter.encode(a, pipeline, block_size=4096)


def test_foreign_data(rng):
    with pytest.raises(SqeazyError, match="not a sqeazy chunk"):
        sqeazy_filter.decode(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(SqeazyError):
        sqeazy_filter.decode(b"")


def test_truncated_everywhere(rng):
    a, chunk = _chunk(rng)
    for n in list(range(0, 200)) + list(range(200, len(chunk), 97)):
        with pytest.raises(SqeazyError):
            sqeazy_filter.decode(chunk[:n])
    with pytest.raises(SqeazyError, match="stray bytes|checksum"):
        sqeazy_filter.decode(chunk + b"\0")


@pytest.mark.parametrize("pipeline", ["bitshuffle->lz4", "zstd", "raw"])
def test_bit_flips_detected(rng, pipeline):
    a, chunk = _chunk(rng, pipeline)
    positions = rng.choice(len(chunk) * 8, size=min(400, len(chunk) * 8), replace=False)
    for bit in positions:
        bad = bytearray(chunk)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(SqeazyError):
            sqeazy_filter.decode(bytes(bad))


def test_corrupt_chunk_in_file_is_read_error(tmp_path, rng):
    a = rng.integers(0, 300, size=(4, 64, 64)).astype(np.uint16)
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=a, chunks=(2, 64, 64), **sqeazy_filter.Sqeazy())
    with h5py.File(path, "r+") as f:
        d = f["x"]
        mask, raw = d.id.read_direct_chunk((2, 0, 0))
        bad = bytearray(raw)
        bad[len(bad) // 2] ^= 0x10
        d.id.write_direct_chunk((2, 0, 0), bytes(bad), mask)
    with h5py.File(path, "r") as f:
        d = f["x"]
        np.testing.assert_array_equal(d[0:2], a[0:2])  # the intact chunk still reads
        with pytest.raises(OSError):
            d[2:4]
        with pytest.raises(OSError):
            d[...]
        assert "checksum" in sqeazy_filter.last_error()


def test_chunk_of_wrong_size_for_dataset(tmp_path, rng):
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        d = f.create_dataset("x", shape=(4, 64, 64), dtype="u2", chunks=(2, 64, 64), **sqeazy_filter.Sqeazy())
        small = sqeazy_filter.encode(np.zeros((2, 32, 64), np.uint16))
        d.id.write_direct_chunk((0, 0, 0), small, 0)
    with h5py.File(path, "r") as f:
        with pytest.raises(OSError):
            f["x"][0:2]
    assert "decodes to" in sqeazy_filter.last_error()
