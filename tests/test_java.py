"""Java HDF5 clients read our files through HDF5_PLUGIN_PATH, as Fiji/BigDataViewer would.

(a) JHDF5 (ch.systemsx.cisd.hdf5, Debian libsis-jhdf5-java, the 19.04 API of Fiji's JHDF5) reading
    cells with int16().readMDArrayBlockWithOffset, exactly like BigDataViewer's Hdf5ImageLoader;
(b) the HDF Group's Java bindings (hdf.hdf5lib, Debian libhdf5-java).
Both read blocks of a file written by `sqeazy bdv` and of one written by `sqeazy compress`;
the bytes are compared with h5py's reading of the same blocks and with the source.
Debian: apt-get install libsis-jhdf5-java libhdf5-java default-jdk-headless.
"""
import glob
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

import sqeazy_filter
from conftest import DATA, camera_stack
from sqeazy_filter.cli import main

JAVA_DIR = Path(__file__).parent / "java"


def _first(patterns):
    for p in patterns:
        hits = sorted(glob.glob(p))
        if hits:
            return hits[0]
    return None


def _jhdf5():
    jar = _first(["/usr/share/java/sis-jhdf5.jar", "/usr/share/java/sis-jhdf5-*.jar"])
    base = _first(["/usr/share/java/sis-base.jar", "/usr/share/java/sis-base-*.jar"])
    native = _first(["/usr/lib/jni/libsis-jhdf5.so", "/usr/lib/*/jni/libsis-jhdf5.so"])
    if not (jar and base and native):
        return None
    extra = [_first([f"/usr/share/java/{n}.jar"]) for n in ("commons-lang3", "commons-io")]
    return {"cp": [jar, base] + [e for e in extra if e], "libpath": os.path.dirname(native)}


def _hdf5_java():
    jar = _first(["/usr/share/java/jarhdf5.jar", "/usr/share/java/jarhdf5-*.jar"])
    native = _first(["/usr/lib/*/jni/libhdf5_java.so", "/usr/lib/jni/libhdf5_java.so"])
    if not (jar and native):
        return None
    extra = [_first([f"/usr/share/java/{n}.jar"]) for n in ("slf4j-api", "slf4j-nop")]
    return {"cp": [jar] + [e for e in extra if e], "libpath": os.path.dirname(native)}


CLIENTS = {"jhdf5": ("ReadJhdf5", _jhdf5), "hdf5-java": ("ReadHdf5Java", _hdf5_java)}


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory):
    if shutil.which("java") is None or shutil.which("javac") is None:
        pytest.skip("java/javac not installed (Debian: default-jdk-headless)")
    out = tmp_path_factory.mktemp("javaclasses")
    built = {}
    for name, (cls, find) in CLIENTS.items():
        lib = find()
        if lib is None:
            continue
        subprocess.run(["javac", "-d", str(out), "-cp", os.pathsep.join(lib["cp"]), str(JAVA_DIR / f"{cls}.java")],
                       check=True, capture_output=True, timeout=300)
        built[name] = (cls, lib)
    return out, built


def run_java(java_classes, client, path, dataset, blocks, out_bin, plugin_path):
    classes, built = java_classes
    if client not in built:
        pytest.skip(f"{client} not installed (Debian: " +
                    ("libsis-jhdf5-java)" if client == "jhdf5" else "libhdf5-java)"))
    cls, lib = built[client]
    env = dict(os.environ)
    env["HDF5_PLUGIN_PATH"] = plugin_path
    spec = [f"{','.join(map(str, o))}:{','.join(map(str, s))}" for o, s in blocks]
    cmd = ["java", f"-Djava.library.path={lib['libpath']}", "-cp", os.pathsep.join([str(classes)] + lib["cp"]),
           cls, str(path), dataset, str(out_bin)] + spec
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def java_blocks(out_bin, blocks):
    flat = np.fromfile(out_bin, dtype="<i2")
    arrays, pos = [], 0
    for _, size in blocks:
        n = int(np.prod(size))
        arrays.append(flat[pos:pos + n].reshape(size))
        pos += n
    assert pos == flat.size
    return arrays


@pytest.fixture(scope="module")
def bdv_file(tmp_path_factory):
    """A BigDataViewer file written by `sqeazy bdv` from a real stack (simulated if data is absent)."""
    tifffile = pytest.importorskip("tifffile")
    folder = tmp_path_factory.mktemp("bdv")
    src = DATA / "tribolium_lightsheet.tif"
    if src.exists():
        with tifffile.TiffFile(src) as t:
            a = t.series[0].asarray()[:40, :150, :170]
    else:
        a = camera_stack((40, 150, 170))
    tifffile.imwrite(folder / "stack.tif", a, imagej=True, metadata={"axes": "ZYX"})
    assert main(["bdv", str(folder / "stack.tif"), "-o", str(folder / "stack.xml"), "-q",
                 "-p", "bitshuffle->zstd", "--block", "32,32,16"]) == 0
    return folder / "stack.h5", a


# blocks as BigDataViewer's cache requests them: whole cells and clipped cells at the border
BDV_BLOCKS = [((0, 0, 0), (16, 32, 32)), ((16, 96, 128), (16, 32, 32)), ((32, 128, 160), (8, 22, 10))]


@pytest.mark.parametrize("client", list(CLIENTS))
def test_java_reads_bdv_cells(java_classes, bdv_file, tmp_path, client):
    path, a = bdv_file
    out_bin = tmp_path / "blocks.bin"
    r = run_java(java_classes, client, path, "/t00000/s00/0/cells", BDV_BLOCKS, out_bin, sqeazy_filter.plugin_path())
    assert r.returncode == 0, r.stderr[-3000:]
    assert "dimensions [40, 150, 170]" in r.stdout
    for (off, size), got in zip(BDV_BLOCKS, java_blocks(out_bin, BDV_BLOCKS)):
        sl = tuple(slice(o, o + s) for o, s in zip(off, size))
        np.testing.assert_array_equal(got.view(np.uint16), a[sl])
    # a coarser level too (each level is compressed)
    with h5py.File(path, "r") as f:
        level1 = f["/t00000/s00/1/cells"][...]
    blocks = [((0, 0, 0), tuple(min(8, s) for s in level1.shape))]
    r = run_java(java_classes, client, path, "/t00000/s00/1/cells", blocks, out_bin, sqeazy_filter.plugin_path())
    assert r.returncode == 0, r.stderr[-3000:]
    np.testing.assert_array_equal(java_blocks(out_bin, blocks)[0], level1[tuple(slice(0, s) for s in blocks[0][1])])


@pytest.mark.parametrize("client", list(CLIENTS))
def test_java_reads_compressed_dataset(java_classes, tmp_path, client):
    tifffile = pytest.importorskip("tifffile")
    a = camera_stack((9, 70, 50)).astype(np.int16)
    tifffile.imwrite(tmp_path / "a.tif", a)
    assert main(["compress", str(tmp_path / "a.tif"), "-o", str(tmp_path / "a.h5"), "--chunks", "4,32,32", "-q"]) == 0
    blocks = [((0, 0, 0), (9, 70, 50)), ((3, 31, 17), (5, 2, 30))]
    out_bin = tmp_path / "blocks.bin"
    r = run_java(java_classes, client, tmp_path / "a.h5", "/data", blocks, out_bin, sqeazy_filter.plugin_path())
    assert r.returncode == 0, r.stderr[-3000:]
    got = java_blocks(out_bin, blocks)
    np.testing.assert_array_equal(got[0], a)
    np.testing.assert_array_equal(got[1], a[3:8, 31:33, 17:47])
    if client == "hdf5-java":
        assert "filter_avail 1" in r.stdout


@pytest.mark.parametrize("client", list(CLIENTS))
def test_java_without_plugin_fails(java_classes, bdv_file, tmp_path, client):
    """Control: the reads above work because of our plugin, not by accident."""
    path, _ = bdv_file
    empty = tmp_path / "no_plugins"
    empty.mkdir()
    r = run_java(java_classes, client, path, "/t00000/s00/0/cells", BDV_BLOCKS[:1], tmp_path / "x.bin", str(empty))
    assert r.returncode != 0


def test_hdf5_1_10_stops_at_missing_plugin_directory(java_classes, bdv_file, tmp_path):
    """The pitfall documented in the README: HDF5 1.10 gives up at the first folder of
    HDF5_PLUGIN_PATH that does not exist, even if a later one holds the plugin."""
    path, _ = bdv_file
    missing = str(tmp_path / "does-not-exist")
    r = run_java(java_classes, "jhdf5", path, "/t00000/s00/0/cells", BDV_BLOCKS[:1], tmp_path / "x.bin",
                 missing + os.pathsep + sqeazy_filter.plugin_path())
    if r.returncode == 0:
        pytest.skip("this HDF5 searches past a missing plugin folder (fixed after 1.10)")
    assert "can't open directory" in r.stderr or "H5PL" in r.stderr


def test_plugin_needs_no_hdf5_symbols():
    """Fiji's JHDF5 links HDF5 statically and exports no H5* symbols: the plugin must not need any."""
    if shutil.which("nm") is None:
        pytest.skip("nm not installed (binutils)")
    lib = os.path.join(sqeazy_filter.plugin_path(), "libh5sqeazy.so")
    out = subprocess.run(["nm", "-D", "--undefined-only", lib], capture_output=True, text=True, check=True).stdout
    needed = [line.split()[-1] for line in out.splitlines() if line.split() and line.split()[-1].startswith("H5")]
    assert needed == []
    defined = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    assert "H5PLget_plugin_info" in defined and "H5PLget_plugin_type" in defined
