"""The `sqeazy` command line as a user runs it: compress, decompress, info, bench, errors, safety."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import sqeazy_filter
from conftest import camera_stack, data_file
from sqeazy_filter.cli import main

tifffile = pytest.importorskip("tifffile")


def run_cli(capsys, *argv):
    """main() in-process; returns (exit status, stdout, stderr)."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: --help, usage errors
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def no_temp_files(folder):
    return [n for n in os.listdir(folder) if "sqeazy-tmp" in n] == []


@pytest.fixture
def real_tiff(tmp_path):
    """A crop of a real light-sheet stack, written as an ImageJ TIFF with its voxel size."""
    with tifffile.TiffFile(data_file("tribolium_lightsheet.tif")) as t:
        a = t.series[0].asarray()[:12, 40:120, 30:130]
    path = tmp_path / "crop.tif"
    tifffile.imwrite(path, a, imagej=True, resolution=(1 / 0.5, 1 / 0.5), metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    return path, a


@pytest.fixture
def sim_tiff(tmp_path):
    a = camera_stack((10, 48, 56))
    path = tmp_path / "sim.tif"
    tifffile.imwrite(path, a)
    return path, a


@pytest.mark.parametrize("command", ["compress", "decompress", "info", "bench", "bdv", "plugin-path", "config",
                                     "h5repack-filter"])
def test_help(capsys, command):
    rc, out, _ = run_cli(capsys, command, "--help")
    assert rc == 0 and "usage: sqeazy" in out


def test_compress_real_tiff_roundtrip(capsys, tmp_path, real_tiff):
    src, a = real_tiff
    out = tmp_path / "out.h5"
    rc, text, err = run_cli(capsys, "compress", src, "-o", out, "--chunks", "4,64,64", "-p", "bitshuffle->zstd")
    assert rc == 0, err
    assert "ratio" in text
    with h5py.File(out, "r") as f:
        d = f["/data"]
        assert d.chunks == (4, 64, 64)
        assert str(sqeazy_filter.FILTER_ID) in d._filters
        np.testing.assert_array_equal(d[...], a)
        assert d.attrs["axes"] == "ZYX"
        np.testing.assert_allclose(d.attrs["element_size_um"], [2.0, 0.5, 0.5])
        _, chunk = d.id.read_direct_chunk((0, 0, 0))
        assert sqeazy_filter.info(chunk)["pipeline"] == "bitshuffle->zstd"
    assert no_temp_files(tmp_path)


def test_compress_default_output_and_no_overwrite(capsys, tmp_path, sim_tiff):
    src, a = sim_tiff
    rc, _, err = run_cli(capsys, "compress", src, "--verify")
    assert rc == 0, err
    out = tmp_path / "sim.h5"
    before = out.read_bytes()
    rc, _, err = run_cli(capsys, "compress", src, "-p", "zstd")
    assert rc == 2 and "exists" in err and "--force" in err
    assert out.read_bytes() == before
    rc, _, err = run_cli(capsys, "compress", src, "-p", "zstd", "--force")
    assert rc == 0, err
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["data"][...], a)


def test_compress_folder_of_planes_natural_order(capsys, tmp_path):
    a = camera_stack((12, 30, 40), seed=3)
    folder = tmp_path / "planes"
    folder.mkdir()
    for i, plane in enumerate(a):
        tifffile.imwrite(folder / f"plane_{i}.tif", plane)  # plane_10 sorts after plane_9
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "planes.h5"
    rc, _, err = run_cli(capsys, "compress", folder, "-o", out, "--chunks", "5,30,40")
    assert rc == 0, err
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["data"][...], a)


def test_compress_hdf5_dataset_and_decompress_both_ways(capsys, tmp_path, real_tiff):
    _, a = real_tiff
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f.create_dataset("/group/img", data=a)
        f.create_dataset("/other", data=np.arange(10))
    packed = tmp_path / "packed.h5"
    rc, _, err = run_cli(capsys, "compress", f"{plain}:/group/img", "-o", packed, "-d", "/x/y")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "decompress", packed, "-o", tmp_path / "back.tif")
    assert rc == 0, err
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "back.tif"), a)
    rc, _, err = run_cli(capsys, "decompress", f"{packed}:/x/y", "-o", tmp_path / "back.h5")
    assert rc == 0, err
    with h5py.File(tmp_path / "back.h5", "r") as f:
        assert f["/x/y"]._filters == {}
        np.testing.assert_array_equal(f["/x/y"][...], a)


def test_info_reports_pipeline_ratio_and_chunks(capsys, tmp_path, sim_tiff):
    src, a = sim_tiff
    out = tmp_path / "o.h5"
    assert run_cli(capsys, "compress", src, "-o", out, "--chunks", "3,48,56", "-p", "bitshuffle->lz4")[0] == 0
    rc, text, _ = run_cli(capsys, "info", out)
    assert rc == 0
    assert "bitshuffle->lz4" in text and "ratio" in text and "chunks        4 of 4 stored" in text
    rc, text, _ = run_cli(capsys, "info", out, "--json")
    report = json.loads(text)
    (d,) = report["datasets"]
    assert d["sqeazy"] and d["pipelines"] == ["bitshuffle->lz4"] and d["chunks_stored"] == 4
    assert d["raw_bytes"] == a.nbytes
    assert d["ratio"] == pytest.approx(a.nbytes / d["stored_bytes"])
    assert d["chunk_ratio"]["min"] <= d["chunk_ratio"]["median"] <= d["chunk_ratio"]["max"]


def test_bench_json_and_plot(capsys, tmp_path, real_tiff):
    src, _ = real_tiff
    args = ["bench", src, "--json", "--repeat", "1", "--pipelines", "lz4", "bitshuffle->lz4", "bitshuffle->zstd"]
    plot = None
    try:
        import matplotlib  # noqa: F401
        plot = tmp_path / "bench.png"
        args += ["--plot", plot]
    except ImportError:
        pass
    rc, text, err = run_cli(capsys, *args)
    assert rc == 0, err
    report = json.loads(text)
    names = [r["pipeline"] for r in report["results"]]
    assert names == ["lz4", "bitshuffle->lz4", "bitshuffle->zstd"]
    for r in report["results"]:
        assert r["lossless"] and r["max_abs_error"] == 0 and r["ratio"] > 1 and r["encode_MBps"] > 0
    assert report["recommended"] in names
    if plot:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_default_candidates_come_from_the_registry():
    from sqeazy_filter.cli.bench import candidate_pipelines
    names = candidate_pipelines()
    assert sqeazy_filter.canonical_pipeline(sqeazy_filter.DEFAULT_PIPELINE) in names
    lossy = set(sqeazy_filter.stages(lossy=True)) if "lossy" in sqeazy_filter.stages.__code__.co_varnames else set()
    assert not any(p.split("(")[0].split("->")[0] in lossy for p in names)  # lossy only with camera parameters


def test_camera_parameters_reach_lossy_stages(capsys, tmp_path, sim_tiff):
    lossy = sqeazy_filter.stages(lossy=True) if "lossy" in sqeazy_filter.stages.__code__.co_varnames else []
    if "wnl" not in lossy:
        pytest.skip("no wnl stage in this build")
    src, a = sim_tiff
    out = tmp_path / "lossy.h5"
    rc, _, err = run_cli(capsys, "compress", src, "-o", out, "-p", "wnl->bitshuffle->lz4",
                         "--camera-offset", "100", "--camera-gain", "2.5", "--camera-read-noise", "2")
    assert rc == 0, err
    with h5py.File(out, "r") as f:
        d = f["data"]
        assert d.attrs["camera_gain"] == 2.5
        _, chunk = d.id.read_direct_chunk((0, 0, 0))
        p = sqeazy_filter.info(chunk)["pipeline"]
        assert "offset=100" in p and "gain=2.5" in p and "read_noise=2" in p
        assert np.abs(d[...].astype(int) - a.astype(int)).max() > 0  # really lossy
    rc, _, err = run_cli(capsys, "compress", src, "-o", tmp_path / "v.h5", "-p", "wnl->lz4", "--camera-offset",
                         "100", "--camera-gain", "2.5", "--camera-read-noise", "2", "--verify")
    assert rc == 2 and "verification failed" in err
    assert not (tmp_path / "v.h5").exists() and no_temp_files(tmp_path)


def test_wnl_without_camera_estimates_it_from_the_data(capsys, tmp_path):
    """No camera given: estimate_camera on the data, said on stderr and written into the
    pipeline and the attributes (not wnl's defaults, which would misstate the error bound)."""
    src = tmp_path / "cam.tif"
    tifffile.imwrite(src, camera_stack((24, 96, 96)))  # gain 2.5 ADU/e-, offset 100 ADU + 12.5 background
    rc, _, err = run_cli(capsys, "compress", src, "-o", tmp_path / "c.h5", "-p", "wnl(q=1)->nlcode")
    assert rc == 0, err
    assert "camera estimated from the data" in err
    with h5py.File(tmp_path / "c.h5", "r") as f:
        d = f["data"]
        assert abs(d.attrs["camera_gain"] - 2.5) < 0.25 * 2.5
        assert 100 <= d.attrs["camera_offset"] <= 150
        _, chunk = d.id.read_direct_chunk((0, 0, 0))
        assert f"gain={d.attrs['camera_gain']:g}" in sqeazy_filter.info(chunk)["pipeline"]


@pytest.mark.parametrize("case", ["missing", "garbage", "truncated", "float64", "bad_pipeline", "mismatched_folder",
                                  "no_folder", "empty_folder", "hdf5_needs_dataset", "bad_chunks"])
def test_user_errors_are_one_line_and_leave_nothing(capsys, tmp_path, case):
    out = tmp_path / "out" / "o.h5" if case == "no_folder" else tmp_path / "o.h5"
    src = tmp_path / "in.tif"
    extra = []
    if case == "missing":
        src = tmp_path / "nope.tif"
    elif case == "garbage":
        src.write_bytes(b"II*\x00garbage, not a TIFF at all" * 10)
    elif case == "truncated":
        tifffile.imwrite(src, camera_stack((8, 64, 64)))
        src.write_bytes(src.read_bytes()[:20000])
    elif case == "float64":
        tifffile.imwrite(src, np.zeros((5, 8, 8), np.float64))
    elif case == "bad_pipeline":
        tifffile.imwrite(src, camera_stack((5, 8, 8)))
        extra = ["-p", "nosuchstage->lz4"]
    elif case in ("mismatched_folder", "empty_folder"):
        src = tmp_path / "planes"
        src.mkdir()
        if case == "mismatched_folder":
            tifffile.imwrite(src / "a1.tif", np.zeros((8, 8), np.uint16))
            tifffile.imwrite(src / "a2.tif", np.zeros((8, 9), np.uint16))
    elif case == "no_folder":
        tifffile.imwrite(src, camera_stack((5, 8, 8)))
    elif case == "hdf5_needs_dataset":
        src = tmp_path / "two.h5"
        with h5py.File(src, "w") as f:
            f["a"] = np.zeros((4, 4), np.uint16)
            f["b"] = np.zeros((4, 4), np.uint16)
    elif case == "bad_chunks":
        tifffile.imwrite(src, camera_stack((5, 8, 8)))
        extra = ["--chunks", "1,x,8"]
    rc, _, err = run_cli(capsys, "compress", src, "-o", out, *extra)
    assert rc == 2, err
    assert err.startswith("sqeazy: error: ") and "Traceback" not in err and err.count("\n") == 1
    assert not out.exists() and no_temp_files(tmp_path)


def test_failure_midway_keeps_existing_output(capsys, tmp_path):
    folder = tmp_path / "planes"
    folder.mkdir()
    for i in range(6):
        tifffile.imwrite(folder / f"p{i}.tif", camera_stack((1, 16, 16), seed=i)[0])
    (folder / "p5.tif").write_bytes(b"II*\x00" + b"\x00" * 40)  # the last plane is damaged
    out = tmp_path / "o.h5"
    out.write_bytes(b"precious")
    rc, _, err = run_cli(capsys, "compress", folder, "-o", out, "--force", "--chunks", "2,16,16")
    assert rc == 2 and "p5.tif" in err
    assert out.read_bytes() == b"precious" and no_temp_files(tmp_path)


def test_decompress_errors(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "decompress", tmp_path / "none.h5")
    assert rc == 2 and "no such file" in err
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f["d"] = np.zeros((4, 4), np.uint16)
    rc, _, err = run_cli(capsys, "decompress", p, "-o", tmp_path / "x.png")
    assert rc == 2 and ".tif" in err


@pytest.mark.parametrize("launcher", [[sys.executable, "-m", "sqeazy_filter"], ["sqeazy"]])
def test_subprocess_exit_codes(tmp_path, launcher):
    import shutil
    if launcher == ["sqeazy"] and shutil.which("sqeazy") is None:
        pytest.skip("the sqeazy console script is not on PATH")
    r = subprocess.run(launcher + ["compress", str(tmp_path / "missing.tif")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "no such file" in r.stderr
    r = subprocess.run(launcher + ["plugin-path"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and os.path.isdir(r.stdout.strip())
