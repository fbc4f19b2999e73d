"""Golden files: committed chunks and .h5 files of every format version and pipeline.

Each must decode to the data it was made from, forever. Encoding that data again must give the
identical bytes, so any change of an encoder's output fails here; a deliberate one that keeps the
format moves the old files to superseded/ (decoded, not re-encoded; docs/HARDENING.md). New
stages: `python3 tests/golden/make_golden.py` adds their goldens (test_every_pipeline_has_goldens).
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

import sqeazy_filter

import hardening_util as hu

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def _manifests():
    out = []
    for path in sorted(glob.glob(os.path.join(GOLDEN, "v*", "manifest.json"))):
        with open(path) as f:
            out.append((os.path.dirname(path), json.load(f)))
    return out


MANIFESTS = _manifests()
ENTRIES = [(d, rel, e) for d, m in MANIFESTS for rel, e in m["files"].items()]
CHUNKS = [x for x in ENTRIES if x[2]["kind"] == "chunk"]
H5 = [x for x in ENTRIES if x[2]["kind"] == "h5"]


def _sha(data):
    return hashlib.sha256(bytes(data)).hexdigest()


def _id(x):
    return f"{os.path.basename(x[0])}/{x[1]}"


def test_format_v1_goldens_exist():
    versions = {m["format_version"] for _, m in MANIFESTS}
    assert 1 in versions, "no golden files of format v1 (python3 tests/golden/make_golden.py)"
    assert len(CHUNKS) >= 20 and len(H5) >= 5
    total = sum(os.path.getsize(os.path.join(d, rel)) for d, rel, _ in ENTRIES)
    assert total < 3 << 19, f"goldens take {total} bytes; keep them under 1.5 MB (superseded files included)"


def test_superseded_goldens_have_successors():
    """A file kept for decoding only names why, and today's encoder has its own golden of that case."""
    for d, m in MANIFESTS:
        for rel, e in m["files"].items():
            if e.get("reencode", True):
                continue
            assert rel.startswith("superseded/") and e.get("superseded"), rel
            case = rel[len("superseded/"):]  # superseded/<rel>, or superseded/sNN/<rel> for a later change
            if case.split("/")[0] not in ("chunks", "h5"):
                case = case.split("/", 1)[1]
            assert case in m["files"], f"{rel}: no current golden of the same case"


def test_every_pipeline_has_goldens():
    """Every registered pipeline of the current format has goldens (a new stage must add them)."""
    current = sqeazy_filter.config()["format_version"]
    have = {e["pipeline"] for d, m in MANIFESTS if m["format_version"] == current for e in m["files"].values()}
    have = {sqeazy_filter.canonical_pipeline(p) for p in have}
    missing = []
    for pipeline in hu.all_pipelines():
        if sqeazy_filter.canonical_pipeline(pipeline) in have:
            continue
        if hu.try_encode(hu.synthetic("uint16", (8, 8), 1), pipeline) is None and \
                hu.try_encode(hu.synthetic("float32", (8, 8), 1), pipeline) is None:
            continue  # refuses the golden dtypes
        missing.append(pipeline)
    assert not missing, f"no golden files for {missing}: run python3 tests/golden/make_golden.py and commit them"


@pytest.mark.parametrize("d,rel,e", CHUNKS, ids=[_id(x) for x in CHUNKS])
def test_golden_chunk(d, rel, e):
    with open(os.path.join(d, rel), "rb") as f:
        chunk = f.read()
    assert _sha(chunk) == e["chunk_sha256"], "the committed file changed"
    meta = sqeazy_filter.info(chunk)
    assert meta["format_version"] == int(os.path.basename(d)[1:])
    assert meta["pipeline"] == e["pipeline"] and meta["dtype"] == np.dtype(e["dtype"])
    assert list(meta["shape"]) == e["shape"]
    expected = hu.synthetic(e["dtype"], tuple(e["shape"]), e["seed"])
    lossy = hu.is_lossy(e["pipeline"])
    for threads in (1, 2):
        out = sqeazy_filter.decode(chunk, threads=threads)
        assert _sha(out.tobytes()) == e.get("decoded_sha256", e["raw_sha256"]), "decoded data changed"
        if not lossy:
            np.testing.assert_array_equal(out, expected)
    assert _sha(expected.tobytes()) == e["raw_sha256"], "hardening_util.synthetic changed: goldens need it stable"
    if not e.get("reencode", True):
        return  # made by an earlier encoder of the same format: decoded only
    for threads in (1, 2):
        again = sqeazy_filter.encode(expected, e["pipeline"], threads=threads, block_size=e["block_size"])
        assert again == chunk, f"encoding the same data now gives other bytes (threads={threads})"


def _read_chunks(ds):
    for i in range(ds.id.get_num_chunks()):
        info = ds.id.get_chunk_info(i)
        yield info.chunk_offset, ds.id.read_direct_chunk(info.chunk_offset)


@pytest.mark.parametrize("d,rel,e", H5, ids=[_id(x) for x in H5])
def test_golden_h5(d, rel, e):
    path = os.path.join(d, rel)
    with open(path, "rb") as f:
        assert _sha(f.read()) == e["file_sha256"], "the committed file changed"
    lossy = hu.is_lossy(e["pipeline"])
    with h5py.File(path, "r") as f:
        for spec in e["datasets"]:
            ds = f[spec["name"]]
            expected = hu.synthetic(spec["dtype"], tuple(spec["shape"]), spec["seed"])
            data = ds[...]
            assert data.dtype == expected.dtype and data.shape == expected.shape
            assert _sha(data.tobytes()) == spec.get("decoded_sha256", spec["raw_sha256"]), "decoded data changed"
            if not lossy:
                np.testing.assert_array_equal(data, expected)
            if not e.get("reencode", True):
                continue
            # every stored chunk is what encoding that part of the data gives today
            for offset, (mask, stored) in _read_chunks(ds):
                assert mask == 0
                sl = tuple(slice(o, o + c) for o, c in zip(offset, ds.chunks))
                again = sqeazy_filter.encode(np.ascontiguousarray(expected[sl]), e["pipeline"],
                                             block_size=spec["block_size"])
                assert again == bytes(stored), f"{spec['name']} chunk {offset}: bytes changed"


@pytest.mark.skipif(not shutil.which("h5dump"), reason="h5dump (hdf5-tools) not installed")
def test_golden_h5_with_h5dump():
    """The goldens read in a separate program that loads the plugin from HDF5_PLUGIN_PATH."""
    plugin_dir = subprocess.run([sys.executable, "-m", "sqeazy_filter", "plugin-path"], capture_output=True,
                                text=True, check=True).stdout.strip()
    env = dict(os.environ, HDF5_PLUGIN_PATH=plugin_dir)
    env.pop("LD_PRELOAD", None)  # h5dump is not built with the sanitizer runtime
    if hu.under_asan():
        pytest.skip("the sanitizer build of the plugin needs the ASan runtime preloaded")
    for d, rel, e in H5:
        spec = e["datasets"][0]
        r = subprocess.run(["h5dump", "-d", spec["name"], "-s", "0,0,0", "-c", "1,1,4", os.path.join(d, rel)],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, f"h5dump {rel}: {r.stderr[-500:]}"
        expected = hu.synthetic(spec["dtype"], tuple(spec["shape"]), spec["seed"])[0, 0, :4]
        if not hu.is_lossy(e["pipeline"]):
            assert ", ".join(str(v) for v in expected) in r.stdout.replace("\n", " ").replace("  ", " "), r.stdout
