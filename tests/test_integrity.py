"""Integrity end to end and bounded memory (docs/HARDENING.md).

- a single flipped bit anywhere in a stored chunk is detected, through decode() and through
  h5py reading a chunk flipped with write_direct_chunk;
- h5repack with `-f UD=34075,0,...` and a plugin that fails or is missing: what happens;
- sizes declared in a corrupt header cannot make the reader allocate more than the chunk
  HDF5 expects (crafted chunks through h5py, and a valid chunk with 1 GiB blocks decoded
  under an address-space limit).
"""
import os
import random
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

import sqeazy_filter
from sqeazy_filter import SqeazyError

import hardening_util as hu

FLIPS_PER_PIPELINE = 120


def _chunk_for(pipeline):
    a = hu.synthetic("uint16", (4, 40, 36), 7)
    c = hu.try_encode(a, pipeline, block_size=1024, threads=1)
    if c is None:
        a = hu.synthetic("float32", (4, 40, 36), 7)
        c = hu.try_encode(a, pipeline, block_size=1024, threads=1)
    return a, c


@pytest.mark.parametrize("pipeline", hu.all_pipelines())
def test_every_single_bit_flip_is_detected(pipeline):
    a, chunk = _chunk_for(pipeline)
    if chunk is None:
        pytest.skip(f"{pipeline} refuses uint16 and float32")
    rng = random.Random(pipeline)
    n_bits = len(chunk) * 8
    # every bit of the header region, then random positions over the whole chunk
    header = hu.Chunk(chunk).header_size
    positions = list(range(0, min(header * 8, 4096)))
    positions += [rng.randrange(n_bits) for _ in range(FLIPS_PER_PIPELINE)]
    undetected = []
    for bit in positions:
        b = bytearray(chunk)
        b[bit // 8] ^= 1 << (bit % 8)
        try:
            sqeazy_filter.decode(bytes(b))
        except SqeazyError as exc:
            assert str(exc)
            continue
        undetected.append(bit)
    assert not undetected, f"{pipeline}: flips at bits {undetected[:10]} of {n_bits} decoded without an error"


def _plugin_dir():
    return subprocess.run([sys.executable, "-m", "sqeazy_filter", "plugin-path"], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_flipped_bit_in_a_file_is_an_error(tmp_path):
    path = tmp_path / "flip.h5"
    a = hu.synthetic("uint16", (4, 64, 40), 9)
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=a, chunks=(2, 64, 40), **sqeazy_filter.Sqeazy("bitshuffle->lz4"))
    rng = random.Random(5)
    with h5py.File(path, "r+") as f:
        ds = f["d"]
        mask, good = ds.id.read_direct_chunk((2, 0, 0))
        for _ in range(40):
            b = bytearray(good)
            bit = rng.randrange(len(b) * 8)
            b[bit // 8] ^= 1 << (bit % 8)
            ds.id.write_direct_chunk((2, 0, 0), bytes(b), mask)
            with pytest.raises(OSError):
                ds[2:4]
            np.testing.assert_array_equal(ds[0:2], a[0:2])  # the other chunk still reads
        ds.id.write_direct_chunk((2, 0, 0), good, mask)
        np.testing.assert_array_equal(ds[...], a)


@pytest.mark.skipif(not shutil.which("h5dump"), reason="h5dump (hdf5-tools) not installed")
def test_flipped_bit_with_h5dump(tmp_path):
    """A separate program (plugin from HDF5_PLUGIN_PATH) fails, it does not print wrong numbers."""
    if hu.under_asan():
        pytest.skip("HDF5 tools with the ASan plugin: covered by the ordinary test run")
    path = tmp_path / "flip.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("d", data=hu.synthetic("uint16", (2, 64, 40), 9), chunks=(2, 64, 40),
                              **sqeazy_filter.Sqeazy("bitshuffle->lz4"))
        mask, c = ds.id.read_direct_chunk((0, 0, 0))
        b = bytearray(c)
        b[len(b) // 2] ^= 4
        ds.id.write_direct_chunk((0, 0, 0), bytes(b), mask)
    r = subprocess.run(["h5dump", "-d", "d", str(path)], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HDF5_PLUGIN_PATH=_plugin_dir()))
    assert r.returncode != 0, "h5dump printed a corrupt chunk without an error"


# ---- h5repack -f UD=34075,0,... (mandatory flag 0) ----

def _repack(tmp_path, plugin_dir, *filters, extra=()):
    src = tmp_path / "in.h5"
    if not src.exists():
        with h5py.File(src, "w") as f:
            f.create_dataset("u16", data=hu.synthetic("uint16", (4, 64, 40), 1), chunks=(2, 64, 40))
            f.create_dataset("f64", data=np.linspace(0, 1, 1000), chunks=(100,))
    out = tmp_path / "out.h5"
    if out.exists():
        out.unlink()
    args = ["h5repack", *extra]
    for flt in filters:
        args += ["-f", flt]
    r = subprocess.run(args + [str(src), str(out)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, HDF5_PLUGIN_PATH=str(plugin_dir)))
    filters_of = {}
    if out.exists():
        with h5py.File(out, "r") as f:
            for name in f:
                pl = f[name].id.get_create_plist()
                filters_of[name] = [pl.get_filter(i)[0] for i in range(pl.get_nfilters())]
    return r, filters_of


def _ud(pipeline="bitshuffle->lz4"):
    return subprocess.run([sys.executable, "-m", "sqeazy_filter", "h5repack-filter", pipeline], capture_output=True,
                          text=True, check=True).stdout.strip()


needs_h5repack = pytest.mark.skipif(not shutil.which("h5repack"), reason="h5repack (hdf5-tools) not installed")
no_asan_tools = pytest.mark.skipif(hu.under_asan(), reason="HDF5 tools with the ASan plugin hang at exit "
                                   "(libp11-kit + preloaded ASan); covered by the ordinary test run")


@needs_h5repack
@no_asan_tools
def test_h5repack_applies_the_filter(tmp_path):
    r, filters = _repack(tmp_path, _plugin_dir(), "u16:" + _ud())
    assert r.returncode == 0, r.stderr
    assert filters["u16"] == [sqeazy_filter.FILTER_ID]
    with h5py.File(tmp_path / "out.h5", "r") as f:
        np.testing.assert_array_equal(f["u16"][...], hu.synthetic("uint16", (4, 64, 40), 1))


@needs_h5repack
@no_asan_tools
@pytest.mark.parametrize("case", ["bad_pipeline", "unsupported_dtype"])
def test_h5repack_plugin_failure_is_not_silent(tmp_path, case):
    """When the plugin refuses (bad cd_values, unsupported dtype), h5repack 1.10 still exits 0
    and copies the dataset without the filter; the plugin then says so on stderr."""
    words = sqeazy_filter.cd_values("bitshuffle->lz4")
    if case == "bad_pipeline":  # right length, unknown stage name
        text = b"nope->lz4\0\0\0"
        flt = "u16:UD=34075,0,5,0,9," + ",".join(str(int.from_bytes(text[i:i + 4], "little")) for i in range(0, 12, 4))
    else:
        flt = f"f64:UD=34075,0,{len(words)}," + ",".join(map(str, words))
    r, filters = _repack(tmp_path, _plugin_dir(), flt)
    name = "u16" if case == "bad_pipeline" else "f64"
    if r.returncode == 0 and filters.get(name) == []:
        assert "WITHOUT the sqeazy filter" in r.stderr, f"silent uncompressed copy: {r.stderr!r}"
    else:  # a stricter h5repack fails instead: also fine, never silent
        assert r.returncode != 0 or filters.get(name) == [sqeazy_filter.FILTER_ID]


@needs_h5repack
@no_asan_tools
def test_h5repack_without_the_plugin(tmp_path):
    """Plugin missing: h5repack 1.10 copies without the filter and exits 0; nothing of ours runs,
    so only -v / --enable-error-stack show it. This documents that (docs/HARDENING.md) and
    checks that the output is recognisable as uncompressed."""
    empty = tmp_path / "no_plugins"
    empty.mkdir()
    r, filters = _repack(tmp_path, empty, "u16:" + _ud())
    if r.returncode != 0:
        return  # a stricter h5repack: fine
    assert filters["u16"] == [], "filter recorded although the plugin is missing?"
    r2, _ = _repack(tmp_path, empty, "u16:" + _ud(), extra=("--enable-error-stack",))
    assert "H5Dcreate" in r2.stderr or "filter" in r2.stderr.lower(), "--enable-error-stack shows nothing"
    r3, _ = _repack(tmp_path, empty, "u16:" + _ud(), extra=("-v",))
    assert "could not create dataset" in r3.stdout + r3.stderr


@needs_h5repack
@no_asan_tools
def test_h5repack_reading_a_corrupt_chunk_fails(tmp_path):
    """Repacking a sqeazy file whose chunk is corrupt fails; it does not write zeros or garbage."""
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        ds = f.create_dataset("u16", data=hu.synthetic("uint16", (4, 64, 40), 1), chunks=(2, 64, 40),
                              **sqeazy_filter.Sqeazy("bitshuffle->lz4"))
        mask, c = ds.id.read_direct_chunk((2, 0, 0))
        b = bytearray(c)
        b[-3] ^= 0x20
        ds.id.write_direct_chunk((2, 0, 0), bytes(b), mask)
    out = tmp_path / "out.h5"
    r = subprocess.run(["h5repack", "-f", "NONE", str(src), str(out)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, HDF5_PLUGIN_PATH=_plugin_dir()))
    assert r.returncode != 0, "h5repack copied a corrupt chunk without an error"


# ---- bounded memory ----

def _crafted(field, value, pipeline="bitshuffle->lz4"):
    c = hu.Chunk(sqeazy_filter.encode(hu.synthetic("uint16", (32, 64), 2), pipeline, threads=1))
    if field == "shape":
        c.shape = [65535, 65535, 4][:c.ndim] if c.ndim == 3 else [65535, 65535]
        c.raw_size = 65535 * 65535 * 2
    else:
        setattr(c, field, value)
    return c.to_bytes(fix=True)


CRAFTED = [("raw_size", 1 << 40), ("shape", None), ("block_elems", (1 << 30) // 2), ("n_blocks", 0xFFFFFFFF),
           ("pipeline_size", 0xFFFF), ("ndim", 32)]


@pytest.mark.parametrize("field,value", CRAFTED, ids=[f for f, _ in CRAFTED])
def test_crafted_header_through_h5py(tmp_path, field, value):
    """A chunk written with write_direct_chunk that declares huge sizes (checksums fixed, so only
    the size checks stand in the way) is refused or decoded within the chunk HDF5 expects."""
    path = tmp_path / "crafted.h5"
    a = hu.synthetic("uint16", (32, 64), 2)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("d", shape=(32, 64), dtype="uint16", chunks=(32, 64),
                              **sqeazy_filter.Sqeazy("bitshuffle->lz4"))
        ds.id.write_direct_chunk((0, 0), _crafted(field, value), 0)
    code = f"""
import resource, h5py, numpy as np, sqeazy_filter
vm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmSize')][0] * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20),) * 2)
with h5py.File({str(path)!r}, 'r') as f:
    try:
        d = f['d'][...]
        print('DECODED', d.shape)
    except OSError as exc:
        print('REFUSED', exc)
"""
    if hu.under_asan():  # ASan reserves terabytes of shadow memory: no address-space limit there
        code = code.replace("resource.setrlimit", "(lambda *a: None)")
    r = hu.run_python(code)
    assert r.returncode == 0, r.stderr[-2000:]
    if field == "block_elems":  # a valid chunk with 1 GiB blocks: must decode, within the limit
        assert "DECODED (32, 64)" in r.stdout, r.stdout + r.stderr[-2000:]
    else:
        assert "REFUSED" in r.stdout, r.stdout
    assert "out of memory" not in r.stdout.lower()


def test_crafted_huge_block_decodes_in_bounded_memory():
    """decode() of a valid chunk that declares 2^30-byte blocks for 4 KiB of data, with only
    256 MiB of address space to spare (it used to allocate 2 GiB of scratch)."""
    if hu.under_asan():
        pytest.skip("no address-space limit under ASan; tests/c/test_memory.c counts allocations instead")
    c = _crafted("block_elems", (1 << 30) // 2)
    code = f"""
import resource, numpy as np, sqeazy_filter
vm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmSize')][0] * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20),) * 2)
out = sqeazy_filter.decode({c!r}, out=np.empty((32, 64), np.uint16))
print('OK', int(out.sum()))
"""
    r = hu.run_python(code)
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr[-2000:]
