"""nlcode (stage 41) and nlcode16 (stage 42, the same model in 16 lanes): exact round trips on wnl level indices and adversarial data, deterministic
bytes, and a decoder that refuses damaged blocks."""
import numpy as np
import pytest

import sqeazy_filter
from common import check_encode_decode
from conftest import DATA, data_file
from sqeazy_filter.lossy import estimate_camera, lossy_pipeline

CAM = {"offset": 100, "gain": 2.5, "read_noise": 1.6}
STACKS = sorted(p.name for p in DATA.glob("*.tif")) if DATA.exists() else ["(no data)"]
CODECS = ["nlcode", "nlcode16"]


def indices(a, q, cam):
    """The wnl level indices of `a` (wnl followed by the raw codec stores them as they are)."""
    chunk = sqeazy_filter.encode(a, lossy_pipeline(q, cam, then="raw"), threads=1)
    back = sqeazy_filter.decode(chunk)
    # map values back to indices through the (monotonic) level table: the decoded values are levels
    levels = np.unique(back.view(np.uint16) if back.dtype == np.int16 else back)
    return np.searchsorted(levels, back.view(np.uint16) if back.dtype == np.int16 else back).astype(a.dtype)


@pytest.mark.parametrize("name", STACKS)
@pytest.mark.parametrize("q", [1, 2])
def test_real_stack_round_trip(name, q):
    import tifffile
    a = tifffile.imread(data_file(name))
    if a.dtype not in (np.uint16, np.uint8, np.int16):
        pytest.skip(f"{a.dtype}")
    a = a.reshape((-1,) + a.shape[-2:])[:64]
    cam = estimate_camera(a)
    lossy = sqeazy_filter.encode(a, lossy_pipeline(q, cam), threads=2)
    ref = sqeazy_filter.decode(sqeazy_filter.encode(a, lossy_pipeline(q, cam, then="zstd"), threads=2))
    np.testing.assert_array_equal(sqeazy_filter.decode(lossy), ref)
    for codec in CODECS:
        check_encode_decode(a, codec)                     # the camera values themselves
        check_encode_decode(indices(a, q, cam), codec, block_size=65536)


def test_lossy_default_backend():
    assert lossy_pipeline(1, CAM).endswith("->nlcode16")
    assert lossy_pipeline(1, CAM, then="zstd").endswith("->zstd")


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (1, 1), (3, 1), (1, 5), (5, 3, 2), (4, 17, 33), (2, 3, 4, 5), (3000,)])
@pytest.mark.parametrize("kind", ["full", "constant", "small"])
@pytest.mark.parametrize("codec", CODECS)
def test_adversarial_round_trip(codec, dtype, shape, kind, rng):
    info = np.iinfo(dtype)
    if kind == "full":
        a = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    elif kind == "constant":
        a = np.full(shape, info.max, dtype)
    else:
        a = rng.integers(0, 4, size=shape).astype(dtype)
    for block_size in (0, 1024, 3072):
        check_encode_decode(a, codec, block_size=block_size)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
@pytest.mark.parametrize("codec", CODECS)
def test_escapes_and_edges(codec, dtype, rng):
    info = np.iinfo(dtype)
    a = np.full((6, 40, 37), info.min, dtype)
    a[:, ::3, ::5] = info.max                      # the largest residuals, both signs
    a[2] = rng.integers(info.min, info.max, size=a.shape[1:], endpoint=True)
    a[3, :, 10:] = np.arange(27, dtype=np.int64).astype(dtype)[None, :] * 97
    for block_size in (0, 1024, 2048, 5120):
        check_encode_decode(a, codec, block_size=block_size)


@pytest.mark.parametrize("codec", CODECS)
def test_smooth_and_noisy_levels(codec, rng):
    y, x = np.mgrid[0:120, 0:130]
    base = 40 + 30 * np.sin(x / 9.0) * np.cos(y / 13.0)
    a = (base[None] + rng.normal(0, 1.5, (5, 120, 130))).clip(0).astype(np.uint16)
    chunk = check_encode_decode(a, codec)
    assert len(chunk) < a.nbytes / 3


@pytest.mark.parametrize("dtype", ["int8", "uint32", "int32", "float32"])
@pytest.mark.parametrize("codec", CODECS)
def test_refuses_other_dtypes(codec, dtype):
    with pytest.raises((ValueError, sqeazy_filter.SqeazyError)):
        sqeazy_filter.encode(np.zeros((4, 4), dtype), codec)


def test_deterministic_bytes(rng):
    a = (100 + 2.5 * rng.poisson(30, (8, 96, 100))).astype(np.uint16)
    for pipeline, block in (("nlcode", 4096), ("nlcode16", 4096), ("nlcode16", 0), (lossy_pipeline(2, CAM), 8192)):
        c1 = sqeazy_filter.encode(a, pipeline, threads=1, block_size=block)
        assert sqeazy_filter.encode(a, pipeline, threads=2, block_size=block) == c1
        assert sqeazy_filter.encode(a, pipeline, threads=1, block_size=block) == c1


def _blocks(chunk, meta=None):
    """(offset, size, stored-raw flag) of each block of a chunk."""
    meta = meta or sqeazy_filter.info(chunk)
    table = meta["header_size"] - 12 * meta["n_blocks"]
    off, out = meta["header_size"], []
    for i in range(meta["n_blocks"]):
        word = int.from_bytes(chunk[table + 12 * i:table + 12 * i + 4], "little")
        out.append((off, word & 0x7FFFFFFF, bool(word >> 31)))
        off += word & 0x7FFFFFFF
    return out


def test_truncated_and_flipped_chunks_fail(rng):
    a = (100 + 2.5 * rng.poisson(20, (4, 64, 64))).astype(np.uint16)
    chunk = sqeazy_filter.encode(a, lossy_pipeline(1, CAM), block_size=8192)
    for cut in (1, 7, len(chunk) // 2, len(chunk) - 1):
        with pytest.raises(sqeazy_filter.SqeazyError):
            sqeazy_filter.decode(chunk[:cut])
    for pos in range(0, len(chunk), max(1, len(chunk) // 97)):
        bad = bytearray(chunk)
        bad[pos] ^= 1 << (pos % 8)
        with pytest.raises(sqeazy_filter.SqeazyError):
            sqeazy_filter.decode(bytes(bad))


def rehash(chunk, meta=None):
    """The chunk with every block's stored-bytes hash and the header checksum recomputed."""
    from hardening_util import sqh32
    meta = meta or sqeazy_filter.info(chunk)
    hs, b = meta["header_size"], bytearray(chunk)
    table = hs - 12 * meta["n_blocks"]
    for i, (off, size, raw) in enumerate(_blocks(chunk, meta)):
        b[table + 12 * i + 8:table + 12 * i + 12] = sqh32(bytes(b[off:off + size])).to_bytes(4, "little")
    fixed = bytearray(b[:32])
    fixed[28:32] = b"\0\0\0\0"
    b[28:32] = (sqh32(bytes(fixed)) ^ sqh32(bytes(b[32:hs]))).to_bytes(4, "little")
    return bytes(b)


@pytest.mark.parametrize("codec", CODECS)
def test_stage_validation_without_checksums(codec, rng):
    """Damage inside nlcode blocks, with the stored-bytes hashes fixed up so that the stage's own
    validation answers: every damaged block fails with an error (from nlcode, or from the
    decoded-bytes hash when the damage still decodes to some array); never a crash."""
    a = (100 + 2.5 * rng.poisson(20, (4, 64, 64))).astype(np.uint16)
    for block in (4096, 16384):
        chunk = sqeazy_filter.encode(a, codec, block_size=block)
        assert rehash(chunk) == chunk
        by_stage = 0
        meta = sqeazy_filter.info(chunk)
        table = meta["header_size"] - 12 * meta["n_blocks"]
        for i, (off, size, raw) in enumerate(_blocks(chunk)):
            assert not raw
            inside = rng.integers(0, size, 40).tolist()  # inside the streams too
            for pos in list(range(0, min(size, 120))) + list(range(size - 8, size)) + inside:
                bad = bytearray(chunk)
                bad[off + pos] ^= 0x5A
                with pytest.raises(sqeazy_filter.SqeazyError) as e:
                    sqeazy_filter.decode(rehash(bytes(bad), meta))
                by_stage += codec in str(e.value) or "nlcode" in str(e.value)
            with pytest.raises(sqeazy_filter.SqeazyError, match="nlcode"):
                short = bytearray(chunk[:off + size - 3] + chunk[off + size:])
                short[table + 12 * i:table + 12 * i + 4] = (size - 3).to_bytes(4, "little")
                sqeazy_filter.decode(rehash(bytes(short), meta))
        assert by_stage > 0


@pytest.mark.parametrize("shape", [(2, 100, 2100), (3, 70, 40), (2, 30, 9), (300, 700), (1, 40, 5000)])
@pytest.mark.parametrize("block_size", [0, 50 * 1024])
def test_fused_stages_and_checksum(shape, block_size, rng):
    """nlcode hands finished rows to wnl and the checksum while it decodes (runs of rows sized for
    the cache, planes, blocks that start inside a plane): the same values as wnl before a codec
    that does not (zstd)."""
    a = (100 + 2.5 * rng.poisson(30, shape)).astype(np.uint16)
    for codec in CODECS:
        fused = sqeazy_filter.encode(a, lossy_pipeline(1, CAM, then=codec), block_size=block_size)
        ref = sqeazy_filter.encode(a, lossy_pipeline(1, CAM, then="zstd"), block_size=block_size)
        np.testing.assert_array_equal(sqeazy_filter.decode(fused), sqeazy_filter.decode(ref))
        check_encode_decode(a, codec, block_size=block_size)
        sparse = (a // 3 * 47).astype(np.uint16)  # remap (pointwise) before nlcode: fused too
        chunk = check_encode_decode(sparse, "remap->" + codec, block_size=block_size)
        assert "remap" in sqeazy_filter.info(chunk)["pipeline"]


def test_fused_stage_error_names_the_stage(rng):
    """Level indices beyond wnl's table, met while nlcode hands rows over: wnl's error, no output."""
    from hardening_util import Chunk
    a = (100 + 2.5 * rng.poisson(30, (2, 64, 300))).astype(np.uint16)
    coarse = Chunk(sqeazy_filter.encode(a, lossy_pipeline(200, CAM), block_size=40 * 1024))
    wide = Chunk(sqeazy_filter.encode(indices(a, 1, CAM), "nlcode16", block_size=40 * 1024))
    assert len(coarse.blocks) == len(wide.blocks) > 1
    coarse.blocks = wide.blocks
    with pytest.raises(sqeazy_filter.SqeazyError, match="wnl index"):
        sqeazy_filter.decode(coarse.to_bytes())
