"""huff64 (stage 44): huff's tables and codes in 64 lanes. Exact round trips on the real stacks and
on adversarial inputs, the same bytes from the scalar and AVX-512 encoders, the same values from the
reference and AVX-512 decoders, huff's ratio, and clean failures on damaged blocks."""
import struct

import numpy as np
import pytest

import sqeazy_filter
from common import check_encode_decode, with_simd
from conftest import DATA
from hardening_util import Chunk
from test_lossless import adversarial_both_ways

STACKS = sorted(p.name for p in DATA.glob("*.tif")) if DATA.is_dir() else []
PIPELINES = ["lossless64", "predict(mode=5)->huff64", "huff64"]


def levels():
    """0 (scalar), 2 (AVX2 where the CPU has it) and the best level this CPU runs (3 with AVX-512)."""
    return [0, 2, -1]


def both_ways(a, pipeline, block_size=0):
    """scalar, AVX2 and AVX-512 encoders give the same chunk; every decoder gives the input"""
    scalar = with_simd(0, lambda: sqeazy_filter.encode(a, pipeline, threads=1, block_size=block_size))
    avx2 = with_simd(2, lambda: sqeazy_filter.encode(a, pipeline, threads=1, block_size=block_size))
    simd = with_simd(-1, lambda: sqeazy_filter.encode(a, pipeline, threads=2, block_size=block_size))
    assert scalar == avx2 == simd
    for level in levels():
        np.testing.assert_array_equal(with_simd(level, lambda: sqeazy_filter.decode(simd)), a)
    return simd


def test_preset_names_the_stages():
    assert sqeazy_filter.info(sqeazy_filter.encode(np.zeros((4, 8, 8), np.uint16), "lossless64"))["pipeline"] \
        == sqeazy_filter.info(sqeazy_filter.encode(np.zeros((4, 8, 8), np.uint16), "remap->predict->huff64"))["pipeline"]


@pytest.mark.skipif(not STACKS, reason=f"no stacks in {DATA}")
@pytest.mark.parametrize("name", STACKS)
def test_real_stacks(name):
    tifffile = pytest.importorskip("tifffile")
    a = tifffile.imread(DATA / name)
    if a.dtype.itemsize > 2:
        pytest.skip(f"{a.dtype}")
    chunk = check_encode_decode(a, "lossless64")
    # huff's codes plus 268 bytes of lane states and sizes per block: within 0.2% of lossless
    # (telomeres_raw_2dt, 5.3x: 0.11%)
    assert len(chunk) < 1.002 * len(sqeazy_filter.encode(a, "lossless"))
    both_ways(a.reshape((-1,) + a.shape[-2:])[:6], "lossless64")


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
@pytest.mark.parametrize("pipeline", PIPELINES)
def test_adversarial(dtype, pipeline, rng):
    adversarial_both_ways(dtype, pipeline, rng, both_ways)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
@pytest.mark.parametrize("shape", [(2, 9, 4), (3, 17, 15), (2, 5, 16), (3, 17, 17), (2, 40, 63), (2, 40, 64),
                                   (2, 30, 65), (1, 25, 209), (2, 7, 1000), (4001,)])
def test_shapes_and_extra_bits(dtype, shape, rng):
    """Rows narrower than a lane group, ending inside one, of 1-4 groups and more; blocks that start inside a
    row (lanes masked at both ends of a step); values with up to 13 extra bits; a sole token."""
    top = np.iinfo(dtype).max
    noisy = rng.normal(top // 3, top // 12, shape).clip(0, top).astype(dtype)
    spiky = (rng.poisson(3, shape) + 10).astype(dtype)
    spiky.flat[rng.integers(0, spiky.size, max(1, spiky.size // 40))] = top
    full = rng.integers(0, top, size=shape, endpoint=True).astype(dtype)
    for a in (noisy, spiky, full, np.full(shape, 9, dtype)):
        for block in (0, 1024, 3072):
            both_ways(a, "huff64", block)
            both_ways(a, "predict(mode=0)->huff64", block)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("pipeline", ["huff64", "huff"])
def test_every_activity_gets_the_scalar_context(dtype, pipeline, rng):
    """Contexts come from the row above (2N + NW + NE + NWW + NEE, saturated). Rows of values
    0..lim, lim from 0 to the type's maximum, give activities from 0 through every class boundary
    (the AVX-512 look-ups switch tables at 62 and saturate at 2045) to saturation; `huff` codes the
    values as they are, so the uint8 rows also give every token. Every level writes the scalar
    bytes and reads them back."""
    top = np.iinfo(dtype).max
    lims = sorted({0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 15, 20, 31, 40, 63, 64, 100, 127, 200, 255, 340, 341, 342, 400,
                   511, 700, 1023, 4095, top} & set(range(top + 1)))
    rows = [rng.integers(0, lim + 1, 300) for lim in lims for _ in range(3)]
    rows += [np.full(300, v) for v in (10, 11, 340, 341, 342) if v <= top]  # activity 6v: 60, 66, 2040, 2046, 2052
    a = np.array(rows, dtype)[None]
    chunks = {level: with_simd(level, lambda: sqeazy_filter.encode(a, pipeline, threads=1)) for level in (0, 2, -1)}
    assert chunks[0] == chunks[2] == chunks[-1]
    for level in levels():
        np.testing.assert_array_equal(with_simd(level, lambda: sqeazy_filter.decode(chunks[0])), a)


def test_same_tables_as_huff(rng):
    """huff64 stores huff's tables: the blocks start with the same bytes."""
    a = (rng.poisson(30, (3, 50, 70)) + 100).astype(np.uint16)
    h, h64 = (Chunk(sqeazy_filter.encode(a, f"predict(mode=5)->{c}", block_size=4096)) for c in ("huff", "huff64"))
    assert len(h.blocks) == len(h64.blocks) > 1
    for b, b64 in zip(h.blocks, h64.blocks):
        assert b[:tables_size(b)] == b64[:tables_size(b64)]


def test_refuses_four_byte_elements():
    with pytest.raises(ValueError, match="huff64 codes 1- and 2-byte elements"):
        sqeazy_filter.encode(np.zeros((4, 8), np.uint32), "predict->huff64")


def damaged(chunk, block, at, value):
    """The chunk with byte `at` of a block set to value, its stored-bytes hashes refreshed, so the
    damage reaches the stage's decoder."""
    c = Chunk(chunk)
    b = bytearray(c.blocks[block])
    b[at] = value
    c.blocks[block] = bytes(b)
    return c.to_bytes()


def test_damaged_blocks_fail_cleanly(rng):
    a = (rng.poisson(20, (4, 64, 70)) + 100).astype(np.uint16)
    a[1, 10, :5] = 60000  # 13 extra bits
    chunk = sqeazy_filter.encode(a, "predict(mode=5)->huff64", block_size=8192)
    blk = Chunk(chunk).blocks[1]
    for i in range(0, len(blk), max(1, len(blk) // 150)):
        bad = damaged(chunk, 1, i, blk[i] ^ 0x5A)
        for level in levels():
            with pytest.raises(sqeazy_filter.SqeazyError):
                with_simd(level, lambda: sqeazy_filter.decode(bad))


@pytest.mark.parametrize("codec", ["huff64", "huff"])
def test_damaged_flat_ends_fail_cleanly(codec, rng):
    """A block that ends in a flat region (HDF5's fill-value planes) leaves its streams almost no
    bytes for the last rows, which decode from a padded copy of the block's end: damaged or cut
    bytes there are errors at every SIMD level, never reads past the block (the sanitizer run)."""
    a = np.zeros((3, 40, 70), np.uint16)
    a[0] = rng.poisson(30, (40, 70)) + 100
    chunk = sqeazy_filter.encode(a, f"predict(mode=5)->{codec}", block_size=1 << 20)
    np.testing.assert_array_equal(sqeazy_filter.decode(chunk), a)
    blk = Chunk(chunk).blocks[0]
    cases = [damaged(chunk, 0, i, blk[i] ^ 0x5A) for i in range(len(blk) - 48, len(blk))]
    c = Chunk(chunk)
    c.blocks[0] = blk[:-2]
    cases.append(c.to_bytes())
    for bad in cases:
        for level in levels():
            with pytest.raises(sqeazy_filter.SqeazyError):
                with_simd(level, lambda: sqeazy_filter.decode(bad))


def tables_size(block):
    """bytes of huff's tables at the start of a block (docs/FORMAT.md, huff)"""
    return 21 + sum((n + 1) // 2 for n in block[:21])


@pytest.mark.parametrize("what", ["state", "truncated", "longer", "size"])
def test_damaged_fields_are_named(what, rng):
    a = (rng.poisson(20, (2, 64, 70)) + 100).astype(np.uint16)
    chunk = sqeazy_filter.encode(a, "huff64", block_size=1 << 20)
    c = Chunk(chunk)
    blk = bytearray(c.blocks[0])
    states = tables_size(blk)
    if what == "state":
        blk[states + 4 * 5:states + 4 * 6] = struct.pack("<I", 0xFFFF)
        match = "lane 5 starts below"
    elif what == "truncated":
        blk = blk[:-2]
        match = "huff64: word stream"
    elif what == "longer":
        blk += b"\0\0"
        match = "huff64: word stream 3 has words left over"
    else:
        blk[states + 256:states + 260] = struct.pack("<I", 1 << 30)
        match = "huff64: word stream 0 of"
    c.blocks[0] = bytes(blk)
    bad = c.to_bytes()
    for level in levels():
        with pytest.raises(sqeazy_filter.SqeazyError, match=match):
            with_simd(level, lambda: sqeazy_filter.decode(bad))


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_codes_from_sampled_rows_cover_every_token(dtype, rng):
    """A block of >= 65536 elements takes its code lengths from every 4th row, in huff64 and huff.
    Tokens and contexts that only the other rows have (bright single pixels, and the rows below
    them) still get codes, at every SIMD level."""
    top = np.iinfo(dtype).max
    a = rng.poisson(20, (4, 128, 256)).astype(dtype)  # 131072 elements: one block
    rows = a.reshape(-1, 256)
    for r in (1, 2, 3, 5, 6, 7, 130, 511):  # none of them a multiple of 4
        rows[r, (37 * r) % 256] = top - r % 16
        rows[r, (11 * r) % 256] = top // 3
    for pipeline in ("lossless64", "predict(mode=0)->huff64", "lossless", "predict(mode=0)->huff"):
        both_ways(a, pipeline)
