"""h5dump and h5repack (Debian hdf5-tools, HDF5 1.10) read and write through HDF5_PLUGIN_PATH."""
import h5py
import numpy as np
import pytest

import sqeazy_filter
from conftest import need_tool, run_tool


@pytest.fixture
def plain_file(tmp_path, rng):
    a = rng.integers(90, 400, size=(6, 40, 30)).astype(np.int16)
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("stack", data=a, chunks=(2, 16, 16))
    return path, a


def test_h5dump_reads_values(tmp_path, plugin_env, rng):
    need_tool("h5dump")
    a = np.arange(6 * 7, dtype=np.uint16).reshape(6, 7) * 3
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=a, chunks=(4, 4), **sqeazy_filter.Sqeazy("bitshuffle->zstd"))
    out = run_tool(["h5dump", "-d", "x", str(path)], plugin_env).stdout
    values = [int(v) for line in out.split("DATA {")[1].split("}")[0].splitlines() if ":" in line
              for v in line.split(":", 1)[1].replace(",", " ").split()]
    assert values == a.ravel().tolist()
    assert "FILTER_ID 34075" in run_tool(["h5dump", "-p", "-H", str(path)], plugin_env).stdout


def test_h5dump_without_plugin_fails_loudly(tmp_path, rng):
    need_tool("h5dump")
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.ones((4, 4), np.uint16), chunks=(2, 2), **sqeazy_filter.Sqeazy())
    env = {"PATH": "/usr/bin:/bin", "HDF5_PLUGIN_PATH": str(tmp_path / "none")}
    r = run_tool(["h5dump", "-d", "x", str(path)], env, check=False)
    assert r.returncode != 0 or "error" in (r.stdout + r.stderr).lower()


@pytest.mark.parametrize("pipeline", ["bitshuffle->lz4", "bitshuffle->zstd(level=3)", "zstd(level=-5)"])
def test_h5repack_compress_and_decompress(tmp_path, plugin_env, plain_file, pipeline):
    need_tool("h5repack")
    src, a = plain_file
    packed, unpacked = tmp_path / "packed.h5", tmp_path / "unpacked.h5"
    arg = run_tool(["python3", "-m", "sqeazy_filter", "h5repack-filter", pipeline], plugin_env).stdout.strip()
    assert arg.startswith("UD=34075,0,")
    run_tool(["h5repack", "-f", arg, str(src), str(packed)], plugin_env)
    run_tool(["h5repack", "-f", "NONE", str(packed), str(unpacked)], plugin_env)
    with h5py.File(packed) as f:
        d = f["stack"]
        assert str(sqeazy_filter.FILTER_ID) in d._filters
        np.testing.assert_array_equal(d[...], a)
        _, chunk = d.id.read_direct_chunk((0, 0, 0))
        assert sqeazy_filter.info(chunk)["pipeline"] == sqeazy_filter.canonical_pipeline(pipeline)
    with h5py.File(unpacked) as f:
        assert f["stack"]._filters == {}
        np.testing.assert_array_equal(f["stack"][...], a)
    assert packed.stat().st_size < src.stat().st_size


def test_h5repack_default_cd_values(tmp_path, plugin_env, plain_file):
    need_tool("h5repack")
    src, a = plain_file
    out = tmp_path / "o.h5"
    run_tool(["h5repack", "-f", "UD=34075,0,0", str(src), str(out)], plugin_env)
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["stack"][...], a)
        _, chunk = f["stack"].id.read_direct_chunk((0, 0, 0))
        assert sqeazy_filter.info(chunk)["pipeline"] == sqeazy_filter.canonical_pipeline(sqeazy_filter.DEFAULT_PIPELINE)


def test_h5repack_rechunks_file_written_by_h5py(tmp_path, plugin_env, rng):
    need_tool("h5repack")
    a = rng.integers(0, 1000, size=(8, 50, 50)).astype(np.uint16)
    src, out = tmp_path / "s.h5", tmp_path / "r.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("x", data=a, chunks=(2, 25, 25), **sqeazy_filter.Sqeazy("bitshuffle->zstd"))
    run_tool(["h5repack", "-l", "x:CHUNK=4x50x50", str(src), str(out)], plugin_env)
    with h5py.File(out) as f:
        assert f["x"].chunks == (4, 50, 50)
        np.testing.assert_array_equal(f["x"][...], a)
        assert sqeazy_filter.info(f["x"].id.read_direct_chunk((0, 0, 0))[1])["shape"] == (4, 50, 50)


def test_h5repack_bad_cd_values_are_refused(tmp_path, plugin_env, plain_file):
    """set_local refuses the options; h5repack 1.10 then warns and copies with the original
    settings (exit 0): the data is intact, never stored under our filter ID (docs/HARDENING.md)."""
    need_tool("h5repack")
    src, a = plain_file
    out = tmp_path / "bad.h5"
    r = run_tool(["h5repack", "-v", "-f", "UD=34075,0,3,0,5,1734440802", str(src), str(out)], plugin_env, check=False)
    assert r.returncode != 0 or "could not create dataset" in r.stdout + r.stderr
    if out.exists():
        with h5py.File(out) as f:
            assert str(sqeazy_filter.FILTER_ID) not in f["stack"]._filters
            np.testing.assert_array_equal(f["stack"][...], a)
