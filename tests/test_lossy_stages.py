"""Sqeazy's lossy stages: rmbkrd, rmestbkrd, quantiser; each error as stated in docs/LOSSY.md."""
import numpy as np
import pytest

import sqeazy_filter
from common import DTYPES, sample


@pytest.mark.parametrize("dtype", DTYPES)
def test_rmbkrd_sets_values_below_threshold_to_it(dtype, rng):
    a = sample(dtype, (4, 30, 30), rng)
    thr = 40
    d = sqeazy_filter.decode(sqeazy_filter.encode(a, f"rmbkrd(threshold={thr})->lz4"))
    if a.dtype == np.int16:  # int16 holds uint16 camera counts (BigDataViewer)
        a, d = a.view(np.uint16), d.view(np.uint16)
    keep = a >= thr
    np.testing.assert_array_equal(d[keep], a[keep])
    assert np.all(d[~keep] == thr)


def test_rmestbkrd_threshold_from_darkest_face(rng):
    a = (100 + rng.poisson(5, (8, 40, 50))).astype(np.uint16)
    a[:, :, 25:] += 300                       # bright half: the darkest face is x = 0
    d = sqeazy_filter.decode(sqeazy_filter.encode(a, "rmestbkrd->lz4"))
    faces = [a[0], a[-1], a[:, 0], a[:, -1], a[:, :, 0], a[:, :, -1]]
    darkest = min(faces, key=lambda f: f.mean())
    thr = np.sort(darkest.ravel())[int(np.ceil(0.99 * darkest.size)) - 1]
    keep = a >= thr
    np.testing.assert_array_equal(d[keep], a[keep])
    assert np.all(d[~keep] == thr)


def test_quantiser_exact_with_few_values(rng):
    a = rng.choice(np.arange(0, 60000, 250, dtype=np.uint16), size=(6, 32, 32))   # 240 distinct values
    np.testing.assert_array_equal(sqeazy_filter.decode(sqeazy_filter.encode(a, "quantiser->lz4")), a)


def test_quantiser_levels_and_reported_error(rng):
    a = (100 + 2.5 * rng.poisson(rng.uniform(1, 500, (8, 64, 64)))).astype(np.uint16)
    chunk = sqeazy_filter.encode(a, "quantiser->zstd")
    d = sqeazy_filter.decode(chunk)
    levels = np.unique(d)
    assert 200 < len(levels) <= 256
    # each level takes a contiguous range of values: reconstruction is monotone in the value
    order = np.argsort(a.ravel(), kind="stable")
    assert np.all(np.diff(d.ravel()[order].astype(np.int64)) >= 0)
    # equalised: no level holds much more than its share (a level can't split one value)
    counts = np.unique(d, return_counts=True)[1]
    biggest_value_share = np.unique(a, return_counts=True)[1].max()
    assert counts.max() <= 2 * a.size / 256 + biggest_value_share
    m = sqeazy_filter.metrics(a, d, len(chunk))
    err = d.astype(float) - a.astype(float)
    assert m["rmse"] == pytest.approx(np.sqrt((err ** 2).mean()))
    assert m["max_abs_error"] == np.abs(err).max()
    assert m["psnr_db"] == pytest.approx(20 * np.log10(a.max() / m["rmse"]))


def test_quantiser_refuses_other_dtypes():
    with pytest.raises(ValueError, match="quantiser"):
        sqeazy_filter.encode(np.zeros(64, np.uint8), "quantiser->lz4")


def test_quantiser_corrupt_table_is_an_error(rng):
    a = (rng.integers(0, 5000, (4, 32, 32))).astype(np.uint16)
    chunk = bytearray(sqeazy_filter.encode(a, "quantiser->raw"))
    chunk[60] ^= 0xFF      # inside the level table
    with pytest.raises(sqeazy_filter.SqeazyError):
        sqeazy_filter.decode(bytes(chunk))


def test_prepare_stage_after_another_sees_its_output(rng):
    """quantiser after rmbkrd builds its levels from the thresholded data."""
    a = rng.integers(0, 3000, (4, 32, 32)).astype(np.uint16)
    d = sqeazy_filter.decode(sqeazy_filter.encode(a, "rmbkrd(threshold=1000)->quantiser->lz4"))
    assert d.min() >= 1000
    np.testing.assert_array_equal(d[a < 1000], d[a < 1000].min())


@pytest.mark.parametrize("pipeline", ["wnl->wnl->lz4", "quantiser->rmbkrd->lz4", "wnl->quantiser->lz4"])
def test_lossy_after_codes_refused(pipeline):
    with pytest.raises(ValueError, match="level indices"):
        sqeazy_filter.canonical_pipeline(pipeline)
