"""Shared checks: every pipeline is tested the same way (numcodecs-style check suite)."""
import numpy as np

import sqeazy_filter

DTYPES = ["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32"]


def sample(dtype, shape, rng, kind="noise"):
    dt = np.dtype(dtype)
    if kind == "constant":
        return np.full(shape, 7, dtype=dt)
    if dt.kind == "f":
        return (rng.normal(100, 10, shape)).astype(dt)
    info = np.iinfo(dt)
    if kind == "extremes":
        return rng.choice(np.array([info.min, info.max, 0], dtype=dt), size=shape)
    lo, hi = max(info.min, -1000), min(info.max, 5000)
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dt)


def check_encode_decode(array, pipeline, **kw):
    chunk = sqeazy_filter.encode(array, pipeline, **kw)
    meta = sqeazy_filter.info(chunk)
    assert meta["shape"] == array.shape and meta["dtype"] == array.dtype
    assert len(chunk) <= meta["header_size"] + array.nbytes  # never larger than stored raw
    back = sqeazy_filter.decode(chunk)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    return chunk


def check_h5py(path, array, chunks, pipeline, **kw):
    import h5py
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=array, chunks=chunks, **sqeazy_filter.Sqeazy(pipeline, **kw))
    with h5py.File(path, "r") as f:
        d = f["data"]
        assert str(sqeazy_filter.FILTER_ID) in d._filters
        np.testing.assert_array_equal(d[...], array)
        # partial reads cross chunk edges
        sl = tuple(slice(s // 3, max(s // 3 + 1, s - 1)) for s in array.shape)
        np.testing.assert_array_equal(d[sl], array[sl])


def with_simd(level, fn):
    """fn() with the library's SIMD level set to `level` (0: scalar), restored after."""
    from sqeazy_filter import _lib
    lib = _lib.load()
    old = lib.sqz_simd_get()
    lib.sqz_simd_set(level)
    try:
        return fn()
    finally:
        lib.sqz_simd_set(old)
