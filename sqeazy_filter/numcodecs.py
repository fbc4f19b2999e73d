"""Sqeazy pipelines for Zarr: a numcodecs codec (``codec_id = "sqeazy"``) and a Zarr v3 codec.

Zarr v2-format arrays (zarr 2, or zarr 3 with ``zarr_format=2``) use the numcodecs codec as
their compressor; it receives each chunk as an array, so the pipeline sees the real dtype::

    import zarr
    from sqeazy_filter.numcodecs import Sqeazy
    z = zarr.create_array("stack.zarr", shape=(100, 2048, 2048), chunks=(16, 256, 256), dtype="uint16",
                          zarr_format=2, compressors=Sqeazy(pipeline="bitshuffle->zstd(level=3)"))

Zarr v3 arrays (zarr >= 3) take :class:`SqeazyCodec` as their array-to-bytes *serializer*
(a v3 compressor only sees bytes)::

    from sqeazy_filter.numcodecs import SqeazyCodec
    z = zarr.create_array("stack.zarr", shape=..., chunks=..., dtype="uint16",
                          serializer=SqeazyCodec(pipeline="bitshuffle->lz4"), compressors=None)

Both are registered on import of this module and through the entry points
``numcodecs.codecs`` / ``zarr.codecs`` (name ``sqeazy``), so a reader needs only the package
installed. Each stored chunk is one self-describing sqeazy chunk (docs/FORMAT.md).
"""
import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy

from .codec import DEFAULT_PIPELINE, _check_block_size, _check_threads, canonical_pipeline, decode, encode

__all__ = ["Sqeazy", "SqeazyCodec"]


def _prepare(buf):
    """The chunk as a little-endian C-contiguous array of a dtype sqeazy supports."""
    arr = buf if isinstance(buf, np.ndarray) else np.asarray(ensure_contiguous_ndarray(buf))
    if arr.dtype.byteorder == ">":
        raise ValueError(f"sqeazy: big-endian arrays ({arr.dtype}) are not supported; use {arr.dtype.newbyteorder('<')}")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return np.ascontiguousarray(arr)


class Sqeazy(Codec):
    """numcodecs codec running a sqeazy pipeline on each chunk.

    pipeline: e.g. "bitshuffle->lz4" (see ``sqeazy_filter.stages()``); threads: per chunk
    (0: default); block_size: bytes per coded block (0: default).
    """

    codec_id = "sqeazy"

    def __init__(self, pipeline=DEFAULT_PIPELINE, threads=0, block_size=0):
        self.pipeline = canonical_pipeline(pipeline)
        self.threads = _check_threads(threads)
        self.block_size = _check_block_size(block_size)

    def encode(self, buf):
        return encode(_prepare(buf), self.pipeline, threads=self.threads, block_size=self.block_size)

    def decode(self, buf, out=None):
        data = ensure_contiguous_ndarray(buf)
        arr = decode(data, threads=self.threads)
        if out is not None:
            return ndarray_copy(arr, out)
        return arr

    def get_config(self):
        return {"id": self.codec_id, "pipeline": self.pipeline, "threads": self.threads,
                "block_size": self.block_size}

    def __repr__(self):
        return f"Sqeazy(pipeline={self.pipeline!r}, threads={self.threads}, block_size={self.block_size})"


def _register_numcodecs():
    from numcodecs.registry import codec_registry, register_codec
    if codec_registry.get(Sqeazy.codec_id) is not Sqeazy:
        register_codec(Sqeazy)


def _make_zarr3_codec():
    """The Zarr v3 array-to-bytes codec, or None when zarr 3 is not installed."""
    try:
        import zarr
        from zarr.abc.codec import ArrayBytesCodec
        from zarr.registry import register_codec
    except ImportError:
        return None
    if int(zarr.__version__.split(".")[0]) < 3:
        return None
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class SqeazyCodec(ArrayBytesCodec):
        """Zarr v3 serializer: each chunk becomes one sqeazy chunk (name "sqeazy")."""

        is_fixed_size = False
        pipeline: str = DEFAULT_PIPELINE
        threads: int = 0
        block_size: int = 0

        def __init__(self, *, pipeline=DEFAULT_PIPELINE, threads=0, block_size=0):
            object.__setattr__(self, "pipeline", canonical_pipeline(pipeline))
            object.__setattr__(self, "threads", _check_threads(threads))
            object.__setattr__(self, "block_size", _check_block_size(block_size))

        @classmethod
        def from_dict(cls, data):
            if data.get("name") != "sqeazy":
                raise ValueError(f"not a sqeazy codec: {data!r}")
            return cls(**(data.get("configuration") or {}))

        def to_dict(self):
            return {"name": "sqeazy", "configuration": {"pipeline": self.pipeline, "threads": self.threads,
                                                         "block_size": self.block_size}}

        def validate(self, *, shape, dtype, chunk_grid):
            native = dtype.to_native_dtype()
            from ._dtypes import code_of
            code_of(native)  # ValueError names the supported dtypes

        async def _decode_single(self, chunk_bytes, chunk_spec):
            arr = decode(np.asarray(chunk_bytes.as_array_like()), threads=self.threads)
            native = chunk_spec.dtype.to_native_dtype()
            if arr.dtype != native or arr.size != int(np.prod(chunk_spec.shape)):
                raise ValueError(f"sqeazy chunk holds {arr.dtype} {arr.shape}, the array expects "
                                 f"{native} {chunk_spec.shape}")
            return chunk_spec.prototype.nd_buffer.from_ndarray_like(arr.reshape(chunk_spec.shape))

        async def _encode_single(self, chunk_array, chunk_spec):
            arr = _prepare(np.asarray(chunk_array.as_ndarray_like()))
            blob = encode(arr, self.pipeline, threads=self.threads, block_size=self.block_size)
            return chunk_spec.prototype.buffer.from_bytes(blob)

        def compute_encoded_size(self, input_byte_length, chunk_spec):
            raise NotImplementedError("sqeazy output size depends on the data")

    SqeazyCodec.__module__ = __name__
    SqeazyCodec.__qualname__ = "SqeazyCodec"
    register_codec("sqeazy", SqeazyCodec, qualname=f"{__name__}.SqeazyCodec")
    return SqeazyCodec


_register_numcodecs()
SqeazyCodec = _make_zarr3_codec()
