"""cffi binding of libh5sqeazy (the C API of csrc/include/sqeazy.h). Loaded lazily."""
import os

from cffi import FFI

ffi = FFI()
ffi.cdef("""
typedef struct {
    int dtype; int ndim; uint64_t shape[32]; uint64_t raw_size; uint64_t block_elems;
    uint64_t n_blocks; uint64_t header_size; uint64_t chunk_size; int format_version;
    char pipeline[512];
} sqz_info;
typedef struct { const char *pipeline; int threads; uint32_t block_bytes; } sqz_options;
const char *sqz_version_string(void);
int sqz_format_version(void);
const char *sqz_error_name(int code);
const char *sqz_last_error(void);
size_t sqz_dtype_size(int dtype);
int sqz_simd_available(void);
int sqz_simd_get(void);
int sqz_simd_set(int level);
int sqz_default_threads(void);
int sqz_cuda_available(void);
int sqz_pipeline_canonical(const char *text, char *out, size_t out_cap);
int sqz_pipeline_check(const char *text, int dtype, int ndim, const uint64_t *shape);
const char *sqz_stage_names(void);
const char *sqz_lossy_stage_names(void);
size_t sqz_encode_bound(size_t raw_size, int dtype, int ndim, const char *pipeline);
size_t sqz_encode_bound_shape(int dtype, int ndim, const uint64_t *shape, const sqz_options *opt);
int64_t sqz_encode(const void *src, size_t src_size, int dtype, int ndim, const uint64_t *shape,
                   const sqz_options *opt, void *dst, size_t dst_cap);
int sqz_inspect(const void *src, size_t src_size, sqz_info *info);
int64_t sqz_decode(const void *src, size_t src_size, void *dst, size_t dst_cap, int threads);
int sqz_h5_bind(const char *path);
int sqz_h5_register(void);
const char *sqz_h5_bound_library(void);
const void *sqz_h5_filter_class(void);
""")

PLUGIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins")
LIBRARY_NAME = "libh5sqeazy.so"

_lib = None
_load_error = None


def library_path():
    """The shared library in use: $SQEAZY_LIBRARY (e.g. a sanitizer build) or the packaged one."""
    return os.environ.get("SQEAZY_LIBRARY") or os.path.join(PLUGIN_DIR, LIBRARY_NAME)


def load():
    """Return the loaded library, raising ImportError with the reason if it cannot be loaded."""
    global _lib, _load_error
    if _lib is None:
        path = library_path()
        try:
            _lib = ffi.dlopen(path)
        except OSError as exc:
            _load_error = f"cannot load {path}: {exc} (was the package built? pip install .)"
            raise ImportError(_load_error) from exc
    return _lib
