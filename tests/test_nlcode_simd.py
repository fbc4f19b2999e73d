"""nlcode: the encoder gives the same bytes at every SIMD level, and the scalar, AVX2 and AVX-512 decoders the
same values, on wnl level indices and on raw values."""
import numpy as np
import pytest

import sqeazy_filter
from common import with_simd
from conftest import DATA
from sqeazy_filter.lossy import lossy_pipeline

CAM = {"offset": 100, "gain": 2.5, "read_noise": 1.6}
STACKS = sorted(p.name for p in DATA.glob("*.tif")) if DATA.is_dir() else []


def simd_levels():
    """The SIMD levels this CPU runs besides scalar: 2 (AVX2), 3 (AVX-512: nlcode16's wavefront)."""
    from sqeazy_filter import _lib
    return [level for level in (2, 3) if level <= _lib.load().sqz_simd_available()]


def same_bytes(a, pipeline, block_size=0):
    """Every SIMD level's encoder gives the scalar one's bytes, and every decoder the same values."""
    scalar = with_simd(0, lambda: sqeazy_filter.encode(a, pipeline, threads=1, block_size=block_size))
    for level in simd_levels():
        simd = with_simd(level, lambda: sqeazy_filter.encode(a, pipeline, threads=2, block_size=block_size))
        assert scalar == simd, f"level {level}"
    back = with_simd(0, lambda: sqeazy_filter.decode(simd))
    for level in simd_levels():
        np.testing.assert_array_equal(back, with_simd(level, lambda: sqeazy_filter.decode(scalar)), err_msg=f"level {level}")
    return back


def test_simd_level_names():
    """sqeazy_filter.config() names the level in use; sqz_simd_set sets any level the CPU runs."""
    from sqeazy_filter import _lib
    lib = _lib.load()
    assert sqeazy_filter.config()["simd_in_use"] in ("scalar", "avx2", "avx512")
    for level in [0] + simd_levels():
        assert with_simd(level, lib.sqz_simd_get) == level


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
@pytest.mark.parametrize("shape", [(3, 40, 37), (2, 9, 300), (5000,)])
def test_synthetic(dtype, shape, rng):
    info = np.iinfo(dtype)
    full = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    small = (rng.normal(40, 6, size=shape).clip(0, 120)).astype(dtype)
    for a in (full, small):
        for block_size in (0, 4096):
            np.testing.assert_array_equal(same_bytes(a, "nlcode", block_size), a)
    if dtype != "int16":
        same_bytes(small, lossy_pipeline(1, CAM))


@pytest.mark.skipif(not STACKS, reason=f"no stacks in {DATA}")
@pytest.mark.parametrize("name", STACKS)
def test_real_stacks(name):
    tifffile = pytest.importorskip("tifffile")
    a = tifffile.imread(DATA / name)
    if a.dtype not in (np.uint16, np.uint8, np.int16):
        pytest.skip(f"{a.dtype}")
    a = a.reshape((-1,) + a.shape[-2:])[:12]
    for q in (1, 2):
        same_bytes(a, lossy_pipeline(q, CAM))
    np.testing.assert_array_equal(same_bytes(a, "nlcode"), a)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
@pytest.mark.parametrize("shape", [(1, 18, 8), (2, 19, 9), (1, 34, 47), (1, 20, 48), (2, 21, 49), (1, 40, 50),
                                   (1, 35, 51), (2, 50, 209), (1, 33, 600), (1, 60, 30), (1, 45, 100), (3, 70, 64),
                                   (1, 12, 40)])
def test_nlcode16_wavefront_matches_scalar(dtype, shape, rng):
    """nlcode16's AVX2 decoder (16 rows at once, each lane going on 16 rows down; row ends, rows
    narrower than a round, a last round with few rows, escapes, two-token buckets, blocks that
    start or end inside a plane) decodes what the scalar decoder decodes."""
    info = np.iinfo(dtype)
    smooth = rng.normal(30, 3, size=shape).clip(0, 60).astype(dtype)
    spiky = smooth.copy()
    spiky.flat[rng.integers(0, spiky.size, spiky.size // 50)] = info.max
    full = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    for a in (smooth, spiky, full):
        for block_size in (0, 1024, 5120):
            np.testing.assert_array_equal(same_bytes(a, "nlcode16", block_size), a)


@pytest.mark.parametrize("late", [None, 0.3, 0.9])
def test_nlcode16_wavefront_value_width(late, rng):
    """The wavefront keeps values in 16-bit lanes up to 3449 and decodes a plane again in 32-bit
    lanes when a larger value shows up (early, late, or not at all)."""
    a = rng.integers(3300, 3449, size=(3, 60, 70), endpoint=True).astype("uint16")
    a[:, ::7, ::5] = 0
    a[1, 30:, 40:] = 3449
    if late is not None:
        a[1].flat[int(late * a[1].size)] = 3450
    for block_size in (0, 8192):
        np.testing.assert_array_equal(same_bytes(a, "nlcode16", block_size), a)


@pytest.mark.parametrize("env, most", [("scalar", 0), ("avx2", 2)])
def test_simd_environment_caps_the_level(env, most):
    """SQEAZY_SIMD=scalar or =avx2 caps the level a fresh process picks."""
    import os
    import subprocess
    import sys
    code = "from sqeazy_filter import _lib; print(_lib.load().sqz_simd_get())"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "SQEAZY_SIMD": env},
                         capture_output=True, text=True, check=True).stdout
    assert int(out) <= most
    if env == "scalar":
        assert int(out) == 0
