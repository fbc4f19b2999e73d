"""GPU batch API: whole stacks to sqeazy chunks and back (docs/GPU.md).

    from sqeazy_filter import gpu
    with gpu.Context() as ctx:                      # persistent: streams, pinned buffers
        ctx.write_h5(stack, f.create_dataset("x", shape=stack.shape, dtype=stack.dtype,
                                             chunks=(16,) + stack.shape[1:], **sqeazy_filter.Sqeazy("raw")))
        back = ctx.read_h5(f["x"])                  # numpy; read_h5(..., out=cupy_array) stays on the GPU

``stack`` is a numpy array or any object with ``__cuda_array_interface__`` (CuPy, pycuda GPUArray
made under ``pycuda.autoprimaryctx``: the backend uses the primary context). Chunks are the bytes
the CPU writes (docs/FORMAT.md), written with direct chunk writes.

Nothing here imports CUDA or pycuda at ``import sqeazy_filter``: the backend library
(libsqeazy_cuda.so) is opened on first use. Without a GPU, ``Context()`` logs why and works on the
CPU (``fallback=False`` raises :class:`GPUUnavailable` instead); so do pipelines whose stages have
no GPU kernel yet.
"""
import logging
import os

import numpy as np

from . import _dtypes, _lib

log = logging.getLogger(__name__)

LIBRARY_NAME = "libsqeazy_cuda.so"
NO_GPU = 19  # SQZ_ERR_NO_GPU

_CDEF = """
typedef struct { const char *pipeline; int threads; uint32_t block_bytes; } sqz_options;
int sqz_cuda_abi(void);
int sqz_cuda_probe(char *name, size_t cap);
const char *sqz_cuda_last_error(void);
int sqz_cuda_can_encode(const char *pipeline, int dtype, int ndim, const uint64_t *shape);
void *sqz_cuda_ctx_create(int device, int slots);
void sqz_cuda_ctx_free(void *ctx);
int sqz_cuda_encode_batch(void *ctx, size_t n, const void *src, size_t src_stride, int src_dev, int dtype,
                          int ndim, const uint64_t *shape, const sqz_options *opt, void *dst, size_t dst_stride,
                          int64_t *sizes);
int sqz_cuda_decode_batch(void *ctx, size_t n, const void *src, const uint64_t *offs, const uint64_t *sizes,
                          void *dst, size_t dst_stride, int dst_dev);
"""

_ffi = None
_backend = None
_why = None


class GPUUnavailable(RuntimeError):
    """No usable GPU (or no GPU backend in this build), with the reason."""


def library_path():
    """$SQEAZY_CUDA_LIBRARY, else libsqeazy_cuda.so next to libh5sqeazy.so or in the package's cuda/."""
    env = os.environ.get("SQEAZY_CUDA_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(_lib.library_path()))
    for cand in (os.path.join(here, LIBRARY_NAME), os.path.join(here, os.pardir, "cuda", LIBRARY_NAME)):
        if os.path.exists(cand):
            return os.path.normpath(cand)
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda", LIBRARY_NAME)


def _load():
    """The backend, or None with the reason in _why."""
    global _ffi, _backend, _why
    if _backend is None and _why is None:
        from cffi import FFI
        _ffi = FFI()
        _ffi.cdef(_CDEF)
        path = library_path()
        try:
            lib = _ffi.dlopen(path)
        except OSError as exc:
            _why = f"no GPU backend ({path}: {exc}); build with nvcc present"
            return None
        if lib.sqz_cuda_abi() != 1:
            _why = f"{path} does not match this package"
            return None
        name = _ffi.new("char[128]")
        if lib.sqz_cuda_probe(name, 128) <= 0:
            _why = "no usable GPU (no device or no driver)"
            return None
        _backend = lib
    return _backend


def available():
    """True when a GPU (or, in tests, the emulation backend) is usable."""
    return _load() is not None


def device_name():
    """Name of GPU 0, or '' (the emulation backend says 'CPU emulation (no GPU)')."""
    lib = _load()
    if lib is None:
        return ""
    name = _ffi.new("char[128]")
    lib.sqz_cuda_probe(name, 128)
    return _ffi.string(name).decode()


def unavailable_reason():
    _load()
    return _why or ""


def _device_view(obj):
    """(pointer, shape, dtype) of a C-contiguous __cuda_array_interface__ object, else None."""
    cai = getattr(obj, "__cuda_array_interface__", None)
    if cai is None:
        return None
    dtype = np.dtype(cai["typestr"])
    shape = tuple(cai["shape"])
    strides = cai.get("strides")
    if strides is not None:
        expect, step = [], dtype.itemsize
        for extent in reversed(shape):
            expect.insert(0, step)
            step *= extent
        if tuple(strides) != tuple(expect):
            raise ValueError("device arrays must be C-contiguous")
    return int(cai["data"][0]), shape, dtype


class Context:
    """A persistent GPU context: `slots` CUDA streams with their device and pinned buffers;
    consecutive chunks overlap their copies and kernels. One per thread."""

    def __init__(self, device=0, slots=4, fallback=True):
        self._ctx = None
        self._fallback_said = set()
        lib = _load()
        if lib is not None:
            ctx = lib.sqz_cuda_ctx_create(device, slots)
            if ctx == _ffi.NULL:
                reason = _ffi.string(lib.sqz_cuda_last_error()).decode(errors="replace")
            else:
                self._ctx = ctx
        else:
            reason = _why
        if self._ctx is None:
            if not fallback:
                raise GPUUnavailable(reason)
            log.warning("sqeazy GPU: %s; using the CPU", reason)

    @property
    def on_gpu(self):
        return self._ctx is not None

    def close(self):
        if self._ctx is not None:
            _backend.sqz_cuda_ctx_free(self._ctx)
            self._ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _cpu(self, why):
        if why not in self._fallback_said:
            self._fallback_said.add(why)
            log.info("sqeazy GPU: %s; these chunks are coded on the CPU (same bytes)", why)

    def _error(self, rc):
        msg = _ffi.string(_backend.sqz_cuda_last_error()).decode(errors="replace")
        from .codec import SqeazyError
        return SqeazyError(msg or f"sqeazy GPU error {rc}")

    # ---- encode ----

    def compress(self, stack, chunk_planes, pipeline="raw", block_size=0):
        """Chunks of `chunk_planes` planes (first axis) of `stack`, as a list of bytes.
        The stack's first extent must be a multiple of chunk_planes for device arrays; a
        numpy stack's last chunk is zero-padded, as HDF5 stores edge chunks."""
        dev = _device_view(stack)
        if dev is None:
            stack = np.ascontiguousarray(stack)
            ptr, shape, dtype = None, stack.shape, stack.dtype
        else:
            ptr, shape, dtype = dev
        if not shape or chunk_planes < 1:
            raise ValueError("need a stack of at least one dimension and chunk_planes >= 1")
        n_chunks = -(-shape[0] // chunk_planes)
        chunk_shape = (chunk_planes,) + tuple(shape[1:])
        chunk_bytes = int(np.prod(chunk_shape)) * dtype.itemsize
        code = _dtypes.code_of(dtype)
        if dev is not None and shape[0] % chunk_planes:
            raise ValueError(f"device stack of {shape[0]} planes is not a multiple of chunk_planes={chunk_planes}")
        if dev is None and shape[0] % chunk_planes:
            padded = np.zeros((n_chunks * chunk_planes,) + tuple(shape[1:]), dtype)
            padded[: shape[0]] = stack
            stack = padded
        if self._ctx is not None:
            pipe = pipeline.encode()
            c_shape = _ffi.new("uint64_t[]", list(chunk_shape))
            if _backend.sqz_cuda_can_encode(pipe, code, len(chunk_shape), c_shape):
                return self._encode_gpu(stack, ptr, n_chunks, chunk_shape, chunk_bytes, code, pipe, block_size)
            self._cpu(f"pipeline {pipeline!r} has stages without GPU kernels")
        if dev is not None:
            stack = _to_host(stack)
        from .codec import encode
        flat = stack.reshape((n_chunks,) + chunk_shape)
        return [encode(flat[i], pipeline=pipeline, block_size=block_size) for i in range(n_chunks)]

    def _encode_gpu(self, stack, ptr, n_chunks, chunk_shape, chunk_bytes, code, pipe, block_size):
        lib = _lib.load()
        stride = lib.sqz_encode_bound(chunk_bytes, code, len(chunk_shape), pipe)
        out = np.empty(n_chunks * stride, np.uint8)
        sizes = np.empty(n_chunks, np.int64)
        pipe_c = _ffi.new("char[]", pipe)
        opt = _ffi.new("sqz_options *", {"pipeline": pipe_c, "threads": 0, "block_bytes": block_size})
        src = _ffi.cast("void *", ptr) if ptr is not None else _ffi.from_buffer(stack)
        rc = _backend.sqz_cuda_encode_batch(
            self._ctx, n_chunks, src, chunk_bytes, 1 if ptr is not None else 0, code, len(chunk_shape),
            _ffi.new("uint64_t[]", list(chunk_shape)), opt, _ffi.from_buffer(out), stride,
            _ffi.cast("int64_t *", sizes.ctypes.data))
        if rc < 0:
            raise self._error(rc)
        return [out[i * stride: i * stride + sizes[i]].tobytes() for i in range(n_chunks)]

    def write_h5(self, stack, dataset, pipeline=None, block_size=0):
        """Compress `stack` into `dataset` (chunked along the first axis only, its filter
        sqeazy) with direct chunk writes. The pipeline defaults to the dataset's."""
        chunks = dataset.chunks
        if chunks is None or tuple(chunks[1:]) != tuple(dataset.shape[1:]):
            raise ValueError("the dataset must be chunked along the first axis only (chunks=(k,) + shape[1:])")
        if pipeline is None:
            pipeline = _dataset_pipeline(dataset)
        k = chunks[0]
        for i, chunk in enumerate(self.compress(stack, k, pipeline=pipeline, block_size=block_size)):
            dataset.id.write_direct_chunk((i * k,) + (0,) * (len(chunks) - 1), chunk, filter_mask=0)

    # ---- decode ----

    def decompress(self, chunks, out):
        """Decode `chunks` (bytes, each decoding to the same size) back to back into `out`:
        a numpy array, or a device array (__cuda_array_interface__) to stay on the GPU."""
        dev = _device_view(out)
        n = len(chunks)
        total = (int(np.prod(dev[1])) * dev[2].itemsize) if dev is not None else out.nbytes
        if n == 0:
            return out
        if total % n:
            raise ValueError(f"out holds {total} bytes, not a multiple of {n} chunks")
        each = total // n
        if self._ctx is not None:
            blob = b"".join(chunks)
            sizes = np.array([len(c) for c in chunks], np.uint64)
            offs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.uint64)
            dst = _ffi.cast("void *", dev[0]) if dev is not None else _ffi.from_buffer(out)
            rc = _backend.sqz_cuda_decode_batch(
                self._ctx, n, _ffi.from_buffer(blob), _ffi.cast("uint64_t *", offs.ctypes.data),
                _ffi.cast("uint64_t *", sizes.ctypes.data), dst, each, 1 if dev is not None else 0)
            if rc >= 0:
                return out
            if rc != -NO_GPU:
                raise self._error(rc)
            self._cpu(_ffi.string(_backend.sqz_cuda_last_error()).decode(errors="replace"))
        from .codec import decode
        host = np.empty(total, np.uint8) if dev is not None else out.reshape(-1).view(np.uint8)
        for i, c in enumerate(chunks):
            host[i * each:(i + 1) * each] = np.ascontiguousarray(decode(c)).reshape(-1).view(np.uint8)
        if dev is not None:
            _from_host(out, host)
        return out

    def read_h5(self, dataset, out=None):
        """The whole dataset (chunked along the first axis) through direct chunk reads."""
        chunks = dataset.chunks
        if chunks is None or tuple(chunks[1:]) != tuple(dataset.shape[1:]):
            raise ValueError("the dataset must be chunked along the first axis only")
        k, n = chunks[0], -(-dataset.shape[0] // chunks[0])
        raw = [dataset.id.read_direct_chunk((i * k,) + (0,) * (len(chunks) - 1))[1] for i in range(n)]
        full = (n * k,) + tuple(dataset.shape[1:])
        if out is None:
            buf = np.empty(full, dataset.dtype)
            self.decompress(raw, buf)
            return buf[: dataset.shape[0]]
        if n * k != dataset.shape[0]:
            raise ValueError("out= needs a dataset whose first extent is a multiple of its chunk")
        return self.decompress(raw, out)


def _dataset_pipeline(dataset):
    """The pipeline text in the dataset's sqeazy cd_values (docs/FORMAT.md, "HDF5 filter")."""
    from .codec import DEFAULT_PIPELINE
    from .filter import FILTER_ID
    plist = dataset.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        fid, _, cd, _ = plist.get_filter(i)
        if fid != FILTER_ID:
            continue
        at = 3 + (cd[0] & 0xFF) if cd and (cd[0] >> 16) == 0x5351 else 1
        if len(cd) <= at or cd[at] == 0:
            return DEFAULT_PIPELINE
        text = b"".join(int(w).to_bytes(4, "little") for w in cd[at + 1:])
        return text[: cd[at]].decode()
    raise ValueError(f"dataset {dataset.name} does not use the sqeazy filter")


def _to_host(arr):
    if hasattr(arr, "get"):      # CuPy, pycuda
        return np.asarray(arr.get())
    raise GPUUnavailable("a device array without a GPU backend to read it")


def _from_host(dev_arr, host):
    if hasattr(dev_arr, "set"):  # CuPy, pycuda
        dev_arr.set(host.view(dev_arr.dtype).reshape(dev_arr.shape))
        return
    raise GPUUnavailable("cannot copy into this device array without the GPU backend")
