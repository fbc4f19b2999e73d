"""Every script in examples/ runs (as a user would, in a fresh process) and does what it says."""
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import sqeazy_filter

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, cwd, *args):
    r = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], cwd=cwd, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_stream_camera(tmp_path):
    out = run_example("stream_camera.py", tmp_path, "s.h5", "--planes", "37", "--chunk-z", "8")
    assert "37 planes" in out
    with h5py.File(tmp_path / "s.h5", "r") as f:
        d = f["data"]
        assert d.shape == (37, 256, 320) and d.chunks == (8, 256, 320) and d.maxshape[0] is None
        assert str(sqeazy_filter.FILTER_ID) in d._filters
        assert d.id.get_storage_size() < d.size * 2
    sys.path.insert(0, str(EXAMPLES))
    try:
        from stream_camera import camera
    finally:
        sys.path.pop(0)
    expected = np.stack(list(camera(37)))  # same seed: the file holds exactly the frames
    with h5py.File(tmp_path / "s.h5", "r") as f:
        np.testing.assert_array_equal(f["data"][...], expected)


def test_read_subvolume(tmp_path):
    out = run_example("read_subvolume.py", tmp_path)  # asserts equality itself
    assert "8 of 64 chunks decoded" in out


def test_tiff_folder_to_bdv(tmp_path):
    pytest.importorskip("tifffile")
    out = run_example("tiff_folder_to_bdv.py", tmp_path)
    assert (tmp_path / "planes.xml").exists() and (tmp_path / "planes.h5").exists()
    assert "1 setup(s), 1 time point(s)" in out
    sys.path.insert(0, str(Path(__file__).parent))
    from test_bdv import check_bdv
    assert check_bdv(tmp_path / "planes.xml") == []
    import tifffile
    planes = sorted((tmp_path / "planes").glob("*.tif"))
    with h5py.File(tmp_path / "planes.h5", "r") as f:
        cells = f["t00000/s00/0/cells"]
        assert cells.shape[0] == len(planes)
        np.testing.assert_array_equal(cells[7].view(np.uint16), tifffile.imread(planes[7]))
