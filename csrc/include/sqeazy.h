/* sqeazy: block-parallel compression of microscopy stacks. Public C API.
 * The chunk format is defined in docs/FORMAT.md; nothing here repeats it.
 * All functions are thread-safe. Sizes are in bytes unless named otherwise. */
#ifndef SQEAZY_H
#define SQEAZY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SQZ_VERSION_MAJOR 0
#define SQZ_VERSION_MINOR 1
#define SQZ_VERSION_PATCH 0
#define SQZ_VERSION_NUMBER (SQZ_VERSION_MAJOR * 10000 + SQZ_VERSION_MINOR * 100 + SQZ_VERSION_PATCH)

#define SQZ_FILTER_ID 34075
#define SQZ_FILTER_NAME "sqeazy"
#define SQZ_FORMAT_VERSION 1
#define SQZ_MAX_NDIM 32
#define SQZ_DEFAULT_PIPELINE "lossless"   /* remap->predict->huff; before 0.2: bitshuffle->lz4 */

/* One error enum; values never change. Functions return 0 or a negative -code. */
typedef enum {
    SQZ_OK = 0,
    SQZ_ERR_GENERIC = 1,
    SQZ_ERR_BAD_ARGUMENT = 2,
    SQZ_ERR_PIPELINE_SYNTAX = 3,
    SQZ_ERR_UNKNOWN_STAGE = 4,
    SQZ_ERR_BAD_PARAMETER = 5,
    SQZ_ERR_UNSUPPORTED_DTYPE = 6,
    SQZ_ERR_DST_TOO_SMALL = 7,
    SQZ_ERR_OUT_OF_MEMORY = 8,
    SQZ_ERR_NOT_SQEAZY = 9,
    SQZ_ERR_UNSUPPORTED_VERSION = 10,
    SQZ_ERR_TRUNCATED = 11,
    SQZ_ERR_CORRUPT_HEADER = 12,
    SQZ_ERR_CORRUPT_DATA = 13,
    SQZ_ERR_CHECKSUM = 14,
    SQZ_ERR_CODEC = 15,
    SQZ_ERR_THREADS = 16,
    SQZ_ERR_HDF5 = 17,
    SQZ_ERR_SIZE_MISMATCH = 18,
    SQZ_ERR_NO_GPU = 19,
    SQZ_ERR_COUNT_ = 20
} sqz_error;

/* Element types; codes are stored in chunks and never change. */
typedef enum {
    SQZ_UINT8 = 1, SQZ_INT8 = 2, SQZ_UINT16 = 3, SQZ_INT16 = 4,
    SQZ_UINT32 = 5, SQZ_INT32 = 6, SQZ_FLOAT32 = 7
} sqz_dtype;

typedef enum { SQZ_SIMD_SCALAR = 0, SQZ_SIMD_AVX2 = 2, SQZ_SIMD_AVX512 = 3 } sqz_simd;

typedef struct {
    int dtype;                 /* sqz_dtype */
    int ndim;
    uint64_t shape[SQZ_MAX_NDIM];
    uint64_t raw_size;         /* decoded bytes */
    uint64_t block_elems;
    uint64_t n_blocks;
    uint64_t header_size;      /* header + pipeline + block table */
    uint64_t chunk_size;       /* header_size + payload */
    int format_version;
    char pipeline[512];        /* canonical pipeline text */
} sqz_info;

typedef struct {
    const char *pipeline;      /* NULL: SQZ_DEFAULT_PIPELINE */
    int threads;               /* 0: sqz_default_threads() */
    uint32_t block_bytes;      /* 0: chosen by the pipeline */
} sqz_options;

const char *sqz_version_string(void);
int sqz_format_version(void);
const char *sqz_error_name(int code);        /* code or -code */
const char *sqz_last_error(void);            /* detail of this thread's last failure */
size_t sqz_dtype_size(int dtype);

int sqz_simd_available(void);                /* best level this CPU runs */
int sqz_simd_get(void);
int sqz_simd_set(int level);                 /* for tests; clamps to available */
int sqz_default_threads(void);
int sqz_cuda_available(void);

/* Validate a pipeline string; writes its canonical form. */
int sqz_pipeline_canonical(const char *text, char *out, size_t out_cap);
/* Can `text` code chunks of this dtype and shape? 0 or -sqz_error (message in sqz_last_error). */
int sqz_pipeline_check(const char *text, int dtype, int ndim, const uint64_t *shape);
/* Names of all stages, separated by ','. */
const char *sqz_stage_names(void);
/* The lossy ones among them (decode(encode(x)) may differ from x), separated by ','. */
const char *sqz_lossy_stage_names(void);

/* Upper bound of an encoded chunk; 0 on error. */
size_t sqz_encode_bound(size_t raw_size, int dtype, int ndim, const char *pipeline);
/* The same for one shape and options (the blocks they make): tighter; 0 on error (sqz_last_error says why). */
size_t sqz_encode_bound_shape(int dtype, int ndim, const uint64_t *shape, const sqz_options *opt);
/* Encode src (C order, `shape`) into dst. Returns bytes written or -sqz_error. */
int64_t sqz_encode(const void *src, size_t src_size, int dtype, int ndim, const uint64_t *shape,
                   const sqz_options *opt, void *dst, size_t dst_cap);
/* Read a chunk's header without decoding. Returns 0 or -sqz_error. */
int sqz_inspect(const void *src, size_t src_size, sqz_info *info);
/* Decode into dst (dst_cap >= raw size). Returns bytes written or -sqz_error. */
int64_t sqz_decode(const void *src, size_t src_size, void *dst, size_t dst_cap, int threads);

/* HDF5 glue. bind: resolve HDF5 functions through a loaded library (path of any module
 * linked to it); register: H5Zregister into it. */
int sqz_h5_bind(const char *path);
int sqz_h5_register(void);
const char *sqz_h5_bound_library(void);
const void *sqz_h5_filter_class(void);

#ifdef __cplusplus
}
#endif
#endif
