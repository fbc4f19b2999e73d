"""Encode and decode sqeazy chunks without HDF5."""
import threading

import numpy as np

from . import _lib
from ._dtypes import DTYPES, code_of

DEFAULT_PIPELINE = "lossless"  # preset: remap->predict->huff (docs/DESIGN.md)


class SqeazyError(RuntimeError):
    """A chunk could not be encoded or decoded; the message comes from the C library."""


def _c():
    return _lib.load()


def _message(lib, code):
    detail = _lib.ffi.string(lib.sqz_last_error()).decode(errors="replace")
    return detail or _lib.ffi.string(lib.sqz_error_name(code)).decode()


def canonical_pipeline(pipeline):
    """Validate a pipeline string and return its canonical form; ValueError names the problem."""
    if not isinstance(pipeline, str):
        raise ValueError(f"pipeline must be a string, not {type(pipeline).__name__}")
    lib = _c()
    out = _lib.ffi.new("char[512]")
    rc = lib.sqz_pipeline_canonical(pipeline.encode(), out, 512)
    if rc < 0:
        raise ValueError(f"bad pipeline {pipeline!r}: {_message(lib, rc)}")
    return _lib.ffi.string(out).decode()


_SCRATCH_MAX = 64 << 20
_scratch = threading.local()


def _output_buffer(size):
    """encode()'s working output: one per thread, reused up to _SCRATCH_MAX bytes. A fresh buffer of
    chunk size costs page faults and zeroing in the kernel on every call (docs/DESIGN.md)."""
    if size > _SCRATCH_MAX:
        return np.empty(size, np.uint8)
    buf = getattr(_scratch, "buf", None)
    if buf is None or buf.size < size:
        buf = _scratch.buf = np.empty(size, np.uint8)  # not bytearray(size): that zero-fills it
    return buf


def _check_threads(threads):
    if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or not 0 <= threads <= 255:
        raise ValueError(f"threads must be an integer in 0..255 (0: default), not {threads!r}")
    return int(threads)


def _check_block_size(block_size):
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or block_size < 0 \
            or block_size % 1024 or block_size > 0x3FFF * 1024:
        raise ValueError(f"block_size must be 0 (default) or a multiple of 1024 up to {0x3FFF * 1024}, not {block_size!r}")
    return int(block_size)


def encode(array, pipeline=None, threads=0, block_size=0, q=None, camera=None):
    """Compress an array into one self-describing chunk (bytes); pipeline None: the default.

    q: lossy within-noise-level coding (error <= q/2 * sigma of each pixel); camera: a mapping
    with offset, gain, read_noise, or None to estimate it from `array` (estimate_camera).
    """
    array = np.asarray(array)
    if q is not None:
        from .filter import with_lossy_stage
        from .lossy import estimate_camera
        pipeline = with_lossy_stage(pipeline, q, camera if camera is not None else estimate_camera(array))
    elif camera is not None:
        raise ValueError("camera is used only with q= (lossy coding)")
    if pipeline is None:
        pipeline = DEFAULT_PIPELINE
    code = code_of(array.dtype)
    if array.ndim < 1 or array.ndim > 32:
        raise ValueError(f"arrays of 1 to 32 dimensions are supported, not {array.ndim}")
    threads, block_size = _check_threads(threads), _check_block_size(block_size)
    canonical_pipeline(pipeline)
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    lib = _c()
    ffi = _lib.ffi
    text = pipeline.encode()
    shape = ffi.new("uint64_t[]", list(array.shape))
    ctext = ffi.new("char[]", text)  # keep alive: a struct field does not own what it points to
    opts = ffi.new("sqz_options *", {"pipeline": ctext, "threads": threads, "block_bytes": block_size})
    bound = lib.sqz_encode_bound_shape(code, array.ndim, shape, opts)
    if not bound:
        raise ValueError(_message(lib, -2))
    out = _output_buffer(bound)
    n = lib.sqz_encode(ffi.from_buffer(array), array.nbytes, code, array.ndim, shape, opts,
                       ffi.from_buffer(out), bound)
    if n < 0:
        raise (ValueError if -n in (2, 3, 4, 5, 6, 18) else SqeazyError)(_message(lib, n))
    return out[:n].tobytes()


def info(buffer):
    """Header of a chunk as a dict (dtype, shape, pipeline, sizes, ratio)."""
    lib = _c()
    ffi = _lib.ffi
    buf = ffi.from_buffer(buffer)
    inf = ffi.new("sqz_info *")
    rc = lib.sqz_inspect(buf, len(buf), inf)
    if rc < 0:
        raise SqeazyError(_message(lib, rc))
    shape = tuple(int(inf.shape[d]) for d in range(inf.ndim))
    return {
        "format_version": inf.format_version,
        "dtype": DTYPES[inf.dtype],
        "shape": shape,
        "pipeline": ffi.string(inf.pipeline).decode(),
        "raw_size": int(inf.raw_size),
        "chunk_size": int(inf.chunk_size),
        "header_size": int(inf.header_size),
        "block_elems": int(inf.block_elems),
        "n_blocks": int(inf.n_blocks),
        "ratio": inf.raw_size / inf.chunk_size if inf.chunk_size else float("nan"),
    }


def decode(buffer, out=None, threads=0):
    """Decompress one chunk into a new array (or `out`, which must match its dtype and shape)."""
    threads = _check_threads(threads)
    meta = info(buffer)
    if out is None:
        out = np.empty(meta["shape"], dtype=meta["dtype"])
    elif out.dtype.newbyteorder("=") != meta["dtype"] or out.shape != meta["shape"] or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {meta['dtype']} array of shape {meta['shape']}")
    lib = _c()
    ffi = _lib.ffi
    buf = ffi.from_buffer(buffer)
    n = lib.sqz_decode(buf, len(buf), ffi.from_buffer(out, require_writable=True), out.nbytes, threads)
    if n < 0:
        raise SqeazyError(_message(lib, n))
    return out
