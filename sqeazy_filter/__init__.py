"""sqeazy_filter: the Sqeazy compression pipelines as an HDF5 filter (ID 34075).

``import sqeazy_filter`` registers the filter with h5py's HDF5; then
``f.create_dataset(..., **sqeazy_filter.Sqeazy("bitshuffle->lz4"))`` writes compressed
chunks that any HDF5 program reads with ``HDF5_PLUGIN_PATH=$(python -m sqeazy_filter plugin-path)``.
"""
from . import _lib
from .codec import DEFAULT_PIPELINE, SqeazyError, canonical_pipeline, decode, encode, info
from .filter import FILTER_ID, FILTER_NAME, Sqeazy, cd_values, register
from .lossy import estimate_camera, metrics, noise_sigma
from .parallel import read_chunks, write_chunks

__version__ = "0.1.0"
__all__ = [
    "FILTER_ID", "FILTER_NAME", "DEFAULT_PIPELINE", "Sqeazy", "SqeazyError", "encode", "decode", "info",
    "canonical_pipeline", "cd_values", "register", "config", "plugin_path", "stages", "is_lossy", "last_error", "estimate_camera", "metrics", "noise_sigma",
    "write_chunks", "read_chunks",
]


def plugin_path():
    """Directory to put in HDF5_PLUGIN_PATH (it holds only libh5sqeazy.so)."""
    import os
    return os.path.dirname(os.path.abspath(_lib.library_path()))


def last_error():
    """The sqeazy message of this thread's last failure, e.g. after h5py raised
    "filter returned failure during read" (h5py shows only the outermost HDF5 message)."""
    return _lib.ffi.string(_lib.load().sqz_last_error()).decode(errors="replace")


def stages(lossy=None):
    """Names of the available pipeline stages (lossy=True/False: only those that are/are not lossy)."""
    names = _lib.ffi.string(_lib.load().sqz_stage_names()).decode().split(",")
    if lossy is None:
        return names
    lossy_names = {n for n in _lib.ffi.string(_lib.load().sqz_lossy_stage_names()).decode().split(",") if n}
    return [n for n in names if (n in lossy_names) == bool(lossy)]


def is_lossy(pipeline):
    """True if decoding `pipeline` may not give back the exact input."""
    lossy_names = set(stages(lossy=True))
    return any(part.split("(")[0].strip() in lossy_names for part in canonical_pipeline(pipeline).split("->"))


def config():
    """What this build has and what it is bound to."""
    from .filter import _state
    report = {"version": __version__, "library": _lib.library_path(), "plugin_path": plugin_path()}
    try:
        lib = _lib.load()
    except ImportError as exc:
        report["error"] = str(exc)
        return report
    names = {0: "scalar", 2: "avx2", 3: "avx512"}
    report.update(
        c_version=_lib.ffi.string(lib.sqz_version_string()).decode(),
        format_version=lib.sqz_format_version(),
        simd_available=names.get(lib.sqz_simd_available(), "?"),
        simd_in_use=names.get(lib.sqz_simd_get(), "?"),
        cuda=bool(lib.sqz_cuda_available()),
        default_threads=lib.sqz_default_threads(),
        stages=stages(),
        default_pipeline=DEFAULT_PIPELINE,
        registered=_state["registered"],
        registration_error=_state["error"],
        hdf5_library=_state["library"],
        hdf5_version=_state.get("hdf5_version"),
    )
    return report


register()
