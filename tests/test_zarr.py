"""Zarr uses the same pipelines through numcodecs (codec id "sqeazy") and a Zarr v3 serializer."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sqeazy_filter
from conftest import camera_stack, data_file

numcodecs = pytest.importorskip("numcodecs")
from sqeazy_filter.numcodecs import Sqeazy, SqeazyCodec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def real_crop():
    tifffile = pytest.importorskip("tifffile")
    with tifffile.TiffFile(data_file("brain_2photon_crop.tif")) as t:
        return t.series[0].asarray()[:10, 100:228, 200:360]


@pytest.mark.parametrize("pipeline", ["bitshuffle->lz4", "bitshuffle->zstd(level=3)", "zstd"])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "uint32", "float32"])
def test_codec_roundtrip(pipeline, dtype):
    a = (camera_stack((5, 33, 17)) % 200).astype(dtype)
    codec = Sqeazy(pipeline=pipeline)
    blob = codec.encode(a)
    np.testing.assert_array_equal(codec.decode(blob).reshape(a.shape), a)
    out = np.empty_like(a)
    codec.decode(blob, out=out)
    np.testing.assert_array_equal(out, a)
    assert sqeazy_filter.info(blob)["pipeline"] == sqeazy_filter.canonical_pipeline(pipeline)


def test_config_roundtrip_and_registry():
    codec = Sqeazy(pipeline="bitshuffle->zstd(level=3)", threads=2, block_size=32768)
    config = codec.get_config()
    assert config["id"] == "sqeazy"
    again = numcodecs.get_codec(json.loads(json.dumps(config)))
    assert isinstance(again, Sqeazy) and again == codec


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError):
        Sqeazy(pipeline="nosuchstage")
    with pytest.raises(ValueError):
        Sqeazy(threads=-1)
    with pytest.raises(ValueError):
        Sqeazy().encode(np.zeros(10, ">u2"))
    with pytest.raises(ValueError):
        Sqeazy().encode(np.zeros(10, np.float64))
    with pytest.raises(Exception):
        Sqeazy().decode(b"not a sqeazy chunk at all")


def test_entry_point_is_declared_and_found(tmp_path):
    """numcodecs finds the codec through the entry point alone (without our import), as in an
    installed package; the entry point text is the one in pyproject.toml."""
    try:
        import tomllib
    except ImportError:
        pytest.skip("tomllib needs Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    eps = project["project"]["entry-points"]
    assert eps["numcodecs.codecs"]["sqeazy"] == "sqeazy_filter.numcodecs:Sqeazy"
    assert eps["zarr.codecs"]["sqeazy"] == "sqeazy_filter.numcodecs:SqeazyCodec"
    dist = tmp_path / "sqeazy_ep_probe-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sqeazy-ep-probe\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(
        "[numcodecs.codecs]\nsqeazy = " + eps["numcodecs.codecs"]["sqeazy"] + "\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import numcodecs; "
            "assert 'sqeazy_filter.numcodecs' not in sys.modules; "
            "c = numcodecs.get_codec({'id': 'sqeazy', 'pipeline': 'lz4'}); print(type(c).__module__, c.pipeline)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["sqeazy_filter.numcodecs", "lz4"]


def _zarr():
    zarr = pytest.importorskip("zarr")
    return zarr, int(zarr.__version__.split(".")[0])


def test_zarr_v2_format_array(tmp_path):
    zarr, major = _zarr()
    a = real_crop()
    path = str(tmp_path / "v2.zarr")
    codec = Sqeazy(pipeline="bitshuffle->zstd(level=3)")
    if major >= 3:
        z = zarr.create_array(path, shape=a.shape, chunks=(4, 64, 64), dtype=a.dtype, zarr_format=2,
                              compressors=codec)
    else:
        z = zarr.open(path, mode="w", shape=a.shape, chunks=(4, 64, 64), dtype=a.dtype, compressor=codec)
    z[:] = a
    meta = json.loads((tmp_path / "v2.zarr" / ".zarray").read_text())
    assert meta["compressor"]["id"] == "sqeazy"
    # a fresh process reads it back (the codec comes from the registry, as for any reader)
    code = ("import sys, numpy as np, zarr, sqeazy_filter.numcodecs; z = zarr.open_array(sys.argv[1], mode='r'); "
            "np.save(sys.argv[2], z[2:9, 10:100, 33:150])")
    r = subprocess.run([sys.executable, "-c", code, path, str(tmp_path / "sub.npy")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sub.npy"), a[2:9, 10:100, 33:150])
    # every stored chunk is a self-describing sqeazy chunk
    chunk_file = next(p for p in (tmp_path / "v2.zarr").iterdir() if not p.name.startswith("."))
    assert sqeazy_filter.info(chunk_file.read_bytes())["shape"] == (4, 64, 64)


def test_zarr_v3_serializer(tmp_path):
    zarr, major = _zarr()
    if major < 3 or SqeazyCodec is None:
        pytest.skip("Zarr v3 arrays need zarr >= 3")
    a = real_crop()
    path = str(tmp_path / "v3.zarr")
    z = zarr.create_array(path, shape=a.shape, chunks=(4, 64, 64), dtype=a.dtype,
                          serializer=SqeazyCodec(pipeline="bitshuffle->lz4"), compressors=None)
    z[:] = a
    meta = json.loads((tmp_path / "v3.zarr" / "zarr.json").read_text())
    assert meta["codecs"] == [{"name": "sqeazy", "configuration": {"pipeline": "bitshuffle->lz4", "threads": 0,
                                                                     "block_size": 0}}]
    z2 = zarr.open_array(path, mode="r")
    np.testing.assert_array_equal(z2[...], a)
    np.testing.assert_array_equal(z2[1:3, 5:70, 60:61], a[1:3, 5:70, 60:61])
    stored = sum(p.stat().st_size for p in (tmp_path / "v3.zarr").rglob("*") if p.is_file() and p.name != "zarr.json")
    assert stored < a.nbytes


def test_zarr_v3_rejects_unsupported_dtype(tmp_path):
    zarr, major = _zarr()
    if major < 3 or SqeazyCodec is None:
        pytest.skip("Zarr v3 arrays need zarr >= 3")
    with pytest.raises(ValueError):
        zarr.create_array(str(tmp_path / "f8.zarr"), shape=(4, 4), chunks=(2, 2), dtype="float64",
                          serializer=SqeazyCodec(), compressors=None)
