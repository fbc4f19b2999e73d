"""The HDF5 filter from Python: registration into h5py's HDF5 and the Sqeazy() options."""
from collections.abc import Mapping

from . import _lib
from .codec import DEFAULT_PIPELINE, _check_block_size, _check_threads, canonical_pipeline

FILTER_ID = 34075
FILTER_NAME = "sqeazy"

try:
    from h5py.filters import FilterRefBase as _Base
except Exception:  # h5py missing or too old: Sqeazy still works as a plain mapping
    class _Base(Mapping):
        filter_id = None
        filter_options = ()

        @property
        def _kwargs(self):
            return {"compression": self.filter_id, "compression_opts": self.filter_options}

        def __len__(self):
            return 2

        def __iter__(self):
            return iter(self._kwargs)

        def __getitem__(self, item):
            return self._kwargs[item]

_state = {"registered": False, "error": None, "library": ""}


def with_lossy_stage(pipeline, q, camera=None, offset=None, gain=None, read_noise=None):
    """`pipeline` (None: the default), or `wnl(q, camera)->pipeline` when q is given
    (None: the back-end made for wnl's level indices, lossy.LOSSY_BACKEND)."""
    explicit = {"offset": offset, "gain": gain, "read_noise": read_noise}
    if q is None:
        if camera is not None or any(v is not None for v in explicit.values()):
            raise ValueError("camera parameters are used only with q= (lossy coding)")
        return DEFAULT_PIPELINE if pipeline is None else pipeline
    from .lossy import lossy_pipeline
    cam = dict(camera or {})
    cam.update({k: v for k, v in explicit.items() if v is not None})
    return lossy_pipeline(q, cam, then=pipeline)


def cd_values(pipeline=DEFAULT_PIPELINE, threads=0, block_size=0):
    """The user form of the filter's cd_values (docs/FORMAT.md): threads | block_kib << 16, text length, text."""
    text = canonical_pipeline(pipeline).encode()
    threads, block_size = _check_threads(threads), _check_block_size(block_size)
    words = [threads | (block_size // 1024) << 16, len(text)]
    padded = text + b"\0" * (-len(text) % 4)
    words += [int.from_bytes(padded[i:i + 4], "little") for i in range(0, len(padded), 4)]
    return tuple(words)


class Sqeazy(_Base):
    """h5py compression options: ``f.create_dataset(..., **Sqeazy(pipeline="bitshuffle->lz4"))``.

    pipeline: stages joined by '->' (see ``sqeazy_filter.stages()``); None: "lossless", or with q= "nlcode16".
    threads: threads per chunk (0: SQEAZY_NUM_THREADS or the number of cores, at most 8).
    block_size: bytes per independently coded block (0: the pipeline's default).
    q: lossy within-noise-level coding, error <= q/2 of each pixel's photon noise; needs the
       camera: `camera=estimate_camera(stack)` or offset= (ADU), gain= (ADU/e-), read_noise= (e-).
    """
    filter_name = FILTER_NAME
    filter_id = FILTER_ID

    def __init__(self, pipeline=None, threads=0, block_size=0, q=None, camera=None,
                 offset=None, gain=None, read_noise=None):
        pipeline = with_lossy_stage(pipeline, q, camera, offset, gain, read_noise)
        self.pipeline = canonical_pipeline(pipeline)
        self.threads = threads
        self.block_size = block_size
        self.filter_options = cd_values(self.pipeline, threads, block_size)

    def __repr__(self):
        return f"Sqeazy(pipeline={self.pipeline!r}, threads={self.threads}, block_size={self.block_size})"


def register(force=False):
    """Register the filter with the HDF5 library that h5py uses. Returns True on success;
    never raises (the reason of a failure is in config()["registration_error"])."""
    if _state["registered"] and not force:
        return True
    try:
        import h5py
        from h5py import h5z
        lib = _lib.load()
        rc = lib.sqz_h5_bind(h5z.__file__.encode())
        if rc >= 0:
            rc = lib.sqz_h5_register()
        if rc < 0:
            raise RuntimeError(_lib.ffi.string(lib.sqz_last_error()).decode())
        if not h5z.filter_avail(FILTER_ID):
            raise RuntimeError("H5Zregister succeeded but h5py does not see the filter")
        _state.update(registered=True, error=None, library=_lib.ffi.string(lib.sqz_h5_bound_library()).decode())
        _state["hdf5_version"] = h5py.version.hdf5_version
        return True
    except Exception as exc:  # noqa: BLE001 - reported through config()
        _state.update(registered=False, error=f"{type(exc).__name__}: {exc}")
        return False
