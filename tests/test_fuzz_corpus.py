"""Replay the fuzz corpus through the Python API (runs without clang).

Mirrors tests/fuzz/decode_fuzz.c and round_trip_fuzz.c: every committed seed, plus seeds made
now for every registered pipeline (so stages that landed after the corpus was committed are
covered), must give an error with a message or exactly the right data.
"""
import os
import struct

import h5py
import numpy as np
import pytest

import sqeazy_filter
from sqeazy_filter import SqeazyError, _lib

import hardening_util as hu

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "fuzz", "corpus")
MAX_RAW = 8 << 20
DST_TOO_SMALL = 7


def _load_make_corpus():
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_corpus", os.path.join(HERE, "fuzz", "make_corpus.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _inputs(target):
    out = []
    d = os.path.join(CORPUS, target)
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), "rb") as f:
            out.append((f"committed/{name}", f.read()))
    return out


MAKE = _load_make_corpus()
DECODE_INPUTS = _inputs("decode_fuzz") + [(f"registry/{k}", v) for k, v in sorted(MAKE.decode_seeds().items())]
ROUND_TRIP_INPUTS = _inputs("round_trip_fuzz") + [(f"registry/{k}", v) for k, v in sorted(MAKE.round_trip_seeds().items())]


def test_corpus_is_committed():
    assert len(_inputs("decode_fuzz")) >= 20 and len(_inputs("round_trip_fuzz")) >= 10, \
        "seed corpus missing: python3 tests/fuzz/make_corpus.py"


def _decode_contract(buf, threads):
    """An error with a message, or exactly raw_size bytes that do not depend on the thread count."""
    try:
        meta = sqeazy_filter.info(buf)
    except SqeazyError as exc:
        assert str(exc), "error without a message"
        with pytest.raises(SqeazyError):
            sqeazy_filter.decode(buf)
        return None
    if meta["raw_size"] > MAX_RAW:
        lib = _lib.load()
        small = bytearray(4096)
        rc = lib.sqz_decode(_lib.ffi.from_buffer(buf), len(buf), _lib.ffi.from_buffer(small), len(small), threads)
        assert rc == -DST_TOO_SMALL
        return None
    try:
        out = sqeazy_filter.decode(buf, threads=threads)
    except SqeazyError as exc:
        assert str(exc), "error without a message"
        return None
    assert out.nbytes == meta["raw_size"] and out.shape == meta["shape"]
    assert meta["chunk_size"] == len(buf)
    again = sqeazy_filter.decode(buf, threads=3 - threads)
    assert again.tobytes() == out.tobytes(), "decoded bytes depend on the thread count"
    return out


def _fixed(buf):
    """The chunk with its stored-bytes hashes and header checksum recomputed, when its layout parses."""
    try:
        ch = hu.Chunk(buf)
    except (ValueError, struct.error):
        return None
    if ch.tail or any(len(b) != (e[0] & ~hu.STORED) for b, e in zip(ch.blocks, ch.table)):
        return None
    return ch.to_bytes(fix=True)


@pytest.mark.parametrize("name,buf", DECODE_INPUTS, ids=[n for n, _ in DECODE_INPUTS])
def test_decode_corpus(name, buf):
    _decode_contract(buf, 1)
    fixed = _fixed(buf)
    if fixed is not None:
        _decode_contract(fixed, 2)


def _cd_words(buf):
    n = min(len(buf) // 4, 64)
    return tuple(struct.unpack_from(f"<{n}I", buf, 0)) if n else ()


@pytest.mark.parametrize("name,buf", [x for x in DECODE_INPUTS if x[0].endswith(".bin")],
                         ids=[n for n, _ in DECODE_INPUTS if n.endswith(".bin")])
def test_cd_values_corpus(name, buf):
    """The bytes as cd_values of a dataset: refused with an error, or an exact round trip."""
    words = _cd_words(buf)
    data = hu.synthetic("uint16", (32, 64), seed=5)
    with h5py.File(f"mem-{abs(hash(name))}.h5", "w", driver="core", backing_store=False) as f:
        try:
            ds = f.create_dataset("d", data=data, chunks=(32, 64), compression=sqeazy_filter.FILTER_ID,
                                  compression_opts=words)
        except (ValueError, OSError, RuntimeError, TypeError, OverflowError):
            return
        np.testing.assert_array_equal(ds[...], data)


def _round_trip_case(buf):
    """Parse the round_trip_fuzz input layout (see round_trip_fuzz.c); None if the input is rejected."""
    if len(buf) < 5:
        return None
    dtype = hu.DTYPE_NAMES[1 + buf[0] % 7]
    ndim = 1 + (buf[0] // 7) % 3
    d1, d2 = 1 + buf[1] % 16, 1 + buf[2] % 16
    block = (buf[3] % 65) * 1024
    L = buf[4]
    if len(buf) < 5 + L:
        return None
    text = buf[5:5 + L]
    if any(b == 0 or b >= 0x80 for b in text):
        return None
    pipeline = text.decode() if L else sqeazy_filter.DEFAULT_PIPELINE
    try:
        sqeazy_filter.canonical_pipeline(pipeline)
    except ValueError:
        return None
    es = np.dtype(dtype).itemsize
    n = (len(buf) - 5 - L) // es
    shape = {1: (n,), 2: (d1, n // d1), 3: (d1, d2, n // (d1 * d2))}[ndim]
    count = int(np.prod(shape))
    data = np.frombuffer(buf[5 + L:5 + L + count * es], dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return pipeline, data.astype(dtype), block


@pytest.mark.parametrize("name,buf", ROUND_TRIP_INPUTS, ids=[n for n, _ in ROUND_TRIP_INPUTS])
def test_round_trip_corpus(name, buf):
    case = _round_trip_case(buf)
    if case is None:
        return
    pipeline, data, block = case
    try:
        a = sqeazy_filter.encode(data, pipeline, threads=1, block_size=block)
    except ValueError as exc:  # the pipeline refuses this dtype or shape
        assert str(exc)
        return
    assert sqeazy_filter.encode(data, pipeline, threads=1, block_size=block) == a, "encoding twice differs"
    assert sqeazy_filter.encode(data, pipeline, threads=2, block_size=block) == a, "1 and 2 threads differ"
    meta = sqeazy_filter.info(a)
    assert meta["pipeline"] == sqeazy_filter.canonical_pipeline(pipeline)
    assert len(a) <= meta["header_size"] + data.nbytes
    lossy = sqeazy_filter.is_lossy(pipeline)
    for t in (1, 2):
        out = sqeazy_filter.decode(bytes(a), threads=t)
        assert out.dtype == data.dtype and out.shape == data.shape
        if not lossy:
            assert out.tobytes() == data.tobytes()
    if lossy:  # a lossy stage is a projection: coding its own output changes nothing
        again = sqeazy_filter.decode(sqeazy_filter.encode(out, pipeline, threads=1, block_size=block))
        assert again.tobytes() == out.tobytes()
