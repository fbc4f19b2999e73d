/* The HDF5 filter "sqeazy" (ID 34075) and the plugin entry points.
 *
 * This file links to no HDF5 library. HDF5 functions are looked up at run time in the
 * library that calls us (found from the callback's return address), so one plugin file
 * serves HDF5 1.10 (Debian's tools), 2.x (h5py wheels) and JHDF5 (Fiji), whose static HDF5
 * exports nothing: there the decode path runs without HDF5 and only error messages are lost.
 * cd_values layout: docs/FORMAT.md, section "HDF5 filter". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <H5PLextern.h>

#include "../common/device.h"
#include "../common/error.h"
#include "cd_values.h"

typedef struct {
    void *base;                 /* load address of the library the functions came from */
    char path[1024];
    __typeof__(H5Epush2) *Epush2;
    hid_t *err_cls, *err_pline, *err_cantfilter, *err_args, *err_badtype;
    __typeof__(H5Pget_chunk) *Pget_chunk;
    __typeof__(H5Pget_filter_by_id2) *Pget_filter_by_id2;
    __typeof__(H5Pmodify_filter) *Pmodify_filter;
    __typeof__(H5Tget_class) *Tget_class;
    __typeof__(H5Tget_size) *Tget_size;
    __typeof__(H5Tget_sign) *Tget_sign;
    __typeof__(H5Tget_order) *Tget_order;
    __typeof__(H5Zregister) *Zregister;
    __typeof__(H5get_libversion) *get_libversion;
    int can_write;              /* everything set_local and can_apply need was found */
} h5api;

#define N_CACHE 8
static h5api g_cache[N_CACHE];
static int g_cached;
static h5api g_bound;           /* from sqz_h5_bind() */
static int g_has_bound;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static void resolve(h5api *a, void *handle)
{
#define SYM(field, name) a->field = (__typeof__(a->field))dlsym(handle, name)
    SYM(Epush2, "H5Epush2");
    SYM(err_cls, "H5E_ERR_CLS_g");
    SYM(err_pline, "H5E_PLINE_g");
    SYM(err_cantfilter, "H5E_CANTFILTER_g");
    SYM(err_args, "H5E_ARGS_g");
    SYM(err_badtype, "H5E_BADTYPE_g");
    SYM(Pget_chunk, "H5Pget_chunk");
    SYM(Pget_filter_by_id2, "H5Pget_filter_by_id2");
    SYM(Pmodify_filter, "H5Pmodify_filter");
    SYM(Tget_class, "H5Tget_class");
    SYM(Tget_size, "H5Tget_size");
    SYM(Tget_sign, "H5Tget_sign");
    SYM(Tget_order, "H5Tget_order");
    SYM(Zregister, "H5Zregister");
    SYM(get_libversion, "H5get_libversion");
#undef SYM
    a->can_write = a->Pget_chunk && a->Pget_filter_by_id2 && a->Pmodify_filter && a->Tget_class &&
                   a->Tget_size && a->Tget_sign && a->Tget_order;
    Dl_info di;
    if (a->get_libversion && dladdr((void *)a->get_libversion, &di) && di.dli_fname) {
        snprintf(a->path, sizeof a->path, "%s", di.dli_fname);
        a->base = di.dli_fbase;
    }
}

/* The HDF5 functions of the library whose code is at `caller`. */
static const h5api *api_for(void *caller)
{
    Dl_info di;
    const h5api *found = NULL;
    pthread_mutex_lock(&g_lock);
    if (caller && dladdr(caller, &di) && di.dli_fname) {
        for (int i = 0; i < g_cached && !found; i++)
            if (g_cache[i].base == di.dli_fbase) found = &g_cache[i];
        if (!found) {
            void *handle = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
            h5api a = {0};
            if (handle) { resolve(&a, handle); dlclose(handle); }
            if (!a.get_libversion) { resolve(&a, RTLD_DEFAULT); }
            if (a.get_libversion) {
                a.base = di.dli_fbase; /* key on the caller, which may differ from where symbols live */
                int slot = g_cached < N_CACHE ? g_cached++ : N_CACHE - 1;
                g_cache[slot] = a;
                found = &g_cache[slot];
            }
        }
    }
    if (!found && g_has_bound) found = &g_bound;
    pthread_mutex_unlock(&g_lock);
    return found;
}

/* h5repack (1.10) answers a filter that cannot be applied by copying the dataset without it,
 * exit status 0 and no message unless -v: say it on stderr there (docs/HARDENING.md). */
static int in_h5repack(void) { return strcmp(program_invocation_short_name, "h5repack") == 0; }

static void push_error(const h5api *a, const char *func, int major_pline, const char *msg)
{
    if (getenv("SQEAZY_DEBUG") || in_h5repack())
        fprintf(stderr, "sqeazy: %s: %s%s\n", func, msg,
                !major_pline && in_h5repack() ? " -- h5repack now copies this dataset WITHOUT the sqeazy filter" : "");
    if (!a || !a->Epush2 || !a->err_cls || !a->err_pline || !a->err_cantfilter || !a->err_args || !a->err_badtype) return;
    hid_t major = major_pline ? *a->err_pline : *a->err_args;
    hid_t minor = major_pline ? *a->err_cantfilter : *a->err_badtype;
    a->Epush2(H5E_DEFAULT, __FILE__, func, __LINE__, *a->err_cls, major, minor, "%s", msg);
}

static int dtype_of(const h5api *a, hid_t type, char *why, size_t why_cap)
{
    H5T_class_t cls = a->Tget_class(type);
    size_t size = a->Tget_size(type);
    H5T_sign_t sign = a->Tget_sign(type);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        snprintf(why, why_cap, "sqeazy filter: datatype class %d is not supported (integers of 1, 2 or 4 bytes and float32 are)", (int)cls);
        return 0;
    }
    if (a->Tget_order(type) != H5T_ORDER_LE) {
        snprintf(why, why_cap, "sqeazy filter: big-endian datatypes are not supported");
        return 0;
    }
    if (cls == H5T_FLOAT) {
        if (size == 4) return SQZ_FLOAT32;
        snprintf(why, why_cap, "sqeazy filter: %zu-byte floats are not supported (float32 is)", size);
        return 0;
    }
    int sgn = sign == H5T_SGN_2;
    switch (size) {
    case 1: return sgn ? SQZ_INT8 : SQZ_UINT8;
    case 2: return sgn ? SQZ_INT16 : SQZ_UINT16;
    case 4: return sgn ? SQZ_INT32 : SQZ_UINT32;
    default:
        snprintf(why, why_cap, "sqeazy filter: %zu-byte integers are not supported (1, 2 and 4 bytes are)", size);
        return 0;
    }
}

static htri_t h5_can_apply(hid_t dcpl, hid_t type, hid_t space)
{
    (void)space;
    const h5api *a = api_for(__builtin_return_address(0));
    if (!a || !a->can_write) return -1;
    char why[256];
    if (!dtype_of(a, type, why, sizeof why)) { push_error(a, "sqeazy_can_apply", 0, why); return -1; }
    hsize_t dims[H5S_MAX_RANK];
    if (a->Pget_chunk(dcpl, H5S_MAX_RANK, dims) < 1) {
        push_error(a, "sqeazy_can_apply", 0, "sqeazy filter: the dataset must be chunked");
        return -1;
    }
    return 1;
}

static herr_t h5_set_local(hid_t dcpl, hid_t type, hid_t space)
{
    (void)space;
    const h5api *a = api_for(__builtin_return_address(0));
    if (!a || !a->can_write) return -1;
    char why[512];
    unsigned flags = 0, cd[SQZ_CD_MAX];
    size_t n = SQZ_CD_MAX;
    if (a->Pget_filter_by_id2(dcpl, SQZ_FILTER_ID, &flags, &n, cd, 0, NULL, NULL) < 0) return -1;
    if (n > SQZ_CD_MAX) n = SQZ_CD_MAX;
    sqz_cd_config cfg;
    if (sqz_cd_parse(cd, n, &cfg, why, sizeof why) < 0) { push_error(a, "sqeazy_set_local", 0, why); return -1; }
    cfg.dtype = dtype_of(a, type, why, sizeof why);
    if (!cfg.dtype) { push_error(a, "sqeazy_set_local", 0, why); return -1; }
    hsize_t dims[H5S_MAX_RANK];
    int ndim = a->Pget_chunk(dcpl, H5S_MAX_RANK, dims);
    if (ndim < 1 || ndim > SQZ_MAX_NDIM) { push_error(a, "sqeazy_set_local", 0, "sqeazy filter: bad chunk rank"); return -1; }
    cfg.ndim = ndim;
    for (int d = 0; d < ndim; d++) cfg.chunk[d] = dims[d];
    /* refuse now what every chunk write would refuse (h5py's optional filters would store those chunks raw) */
    if (sqz_pipeline_check(cfg.pipeline, cfg.dtype, ndim, cfg.chunk) < 0) {
        snprintf(why, sizeof why, "sqeazy filter: pipeline \"%s\" cannot code this dataset: %s", cfg.pipeline, sqz_last_error());
        push_error(a, "sqeazy_set_local", 0, why);
        return -1;
    }
    size_t out_n = sqz_cd_write(&cfg, cd, SQZ_CD_MAX, why, sizeof why);
    if (!out_n) { push_error(a, "sqeazy_set_local", 0, why); return -1; }
    return a->Pmodify_filter(dcpl, SQZ_FILTER_ID, flags, out_n, cd) < 0 ? -1 : 0;
}

/* The encoder's output, one per thread, kept up to SCRATCH_MAX bytes: a fresh buffer per chunk
 * grows and trims the heap, and every chunk's output then faults its pages in anew. */
#define SCRATCH_MAX ((size_t)64 << 20)
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static int g_scratch_ok;
typedef struct { void *p; size_t cap; } scratch;
static void free_scratch(void *v) { if (v) free(((scratch *)v)->p); free(v); }
static void make_scratch_key(void) { g_scratch_ok = pthread_key_create(&g_scratch_key, free_scratch) == 0; }

static void *thread_scratch(size_t size)
{
    if (size > SCRATCH_MAX) return NULL;
    pthread_once(&g_scratch_once, make_scratch_key);
    if (!g_scratch_ok) return NULL;
    scratch *s = pthread_getspecific(g_scratch_key);
    if (!s) {
        if (!(s = calloc(1, sizeof *s))) return NULL;
        if (pthread_setspecific(g_scratch_key, s)) { free(s); return NULL; }
    }
    if (s->cap < size) {
        free(s->p);
        s->p = malloc(size);
        s->cap = s->p ? size : 0;
    }
    return s->p;
}

static size_t filter_fail(const h5api *a, const char *what)
{
    char msg[700];
    snprintf(msg, sizeof msg, "sqeazy filter: %s: %s", what, sqz_last_error());
    push_error(a, "sqeazy_filter", 1, msg);
    return 0;
}

static size_t h5_filter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes,
                        size_t *buf_size, void **buf)
{
    void *caller = __builtin_return_address(0);
    sqz_cd_config cfg;
    char why[512];
    int have_cfg = sqz_cd_parse(cd_values, cd_nelmts, &cfg, why, sizeof why) >= 0 && cfg.ndim > 0;
    int threads = sqz_cd_threads(have_cfg ? cfg.threads : 0);

    if (flags & H5Z_FLAG_REVERSE) {
        sqz_info info;
        if (sqz_inspect(*buf, nbytes, &info) < 0) return filter_fail(api_for(caller), "cannot read chunk");
        /* Bounded memory (docs/HARDENING.md): allocate only what the dataset's chunk holds
         * (full-form cd_values) or, without them, at most HDF5's largest chunk (< 4 GiB),
         * and only for a chunk whose block table accounts for exactly its bytes. */
        if (info.chunk_size != nbytes) {
            sqz_fail(SQZ_ERR_CORRUPT_DATA, "block table accounts for %llu bytes, the chunk has %zu",
                     (unsigned long long)info.chunk_size, nbytes);
            return filter_fail(api_for(caller), "cannot read chunk");
        }
        if (!have_cfg && info.raw_size > 0xFFFFFFFFu) {
            sqz_fail(SQZ_ERR_SIZE_MISMATCH, "chunk decodes to %llu bytes, more than an HDF5 chunk can hold",
                     (unsigned long long)info.raw_size);
            return filter_fail(api_for(caller), "cannot read chunk");
        }
        if (have_cfg) {
            uint64_t expect = sqz_dtype_size(cfg.dtype);
            for (int d = 0; d < cfg.ndim; d++)
                if (__builtin_mul_overflow(expect, cfg.chunk[d], &expect)) expect = UINT64_MAX;
            if (info.raw_size != expect) {
                sqz_fail(SQZ_ERR_SIZE_MISMATCH, "chunk decodes to %llu bytes, the dataset's chunks hold %llu",
                         (unsigned long long)info.raw_size, (unsigned long long)expect);
                return filter_fail(api_for(caller), "cannot read chunk");
            }
        }
        void *out = malloc(info.raw_size ? info.raw_size : 1);
        if (!out) { sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "%llu bytes", (unsigned long long)info.raw_size); return filter_fail(api_for(caller), "cannot read chunk"); }
        int64_t r = sqz_device_decode(*buf, nbytes, out, info.raw_size, threads);  /* GPU if SQEAZY_DEVICE=gpu */
        if (r < 0) { free(out); return filter_fail(api_for(caller), "cannot read chunk"); }
        free(*buf);
        *buf = out;
        *buf_size = info.raw_size;
        return (size_t)r;
    }

    if (!have_cfg) {
        sqz_fail(SQZ_ERR_BAD_ARGUMENT, "%s", why);
        return filter_fail(api_for(caller), "cannot write chunk");
    }
    uint64_t shape[SQZ_MAX_NDIM], expect = sqz_dtype_size(cfg.dtype);
    for (int d = 0; d < cfg.ndim; d++) { shape[d] = cfg.chunk[d]; expect *= cfg.chunk[d]; }
    int ndim = cfg.ndim;
    if (expect != nbytes) { ndim = 1; shape[0] = nbytes / sqz_dtype_size(cfg.dtype); }
    sqz_options opt = {.pipeline = cfg.pipeline, .threads = threads, .block_bytes = cfg.block_bytes};
    size_t bound = sqz_encode_bound_shape(cfg.dtype, ndim, shape, &opt);
    if (!bound) return filter_fail(api_for(caller), "cannot write chunk");
    void *const tmp = thread_scratch(bound);
    void *out = tmp ? tmp : malloc(bound);
    if (!out) { sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "%zu bytes", bound); return filter_fail(api_for(caller), "cannot write chunk"); }
    int64_t r = sqz_device_encode(*buf, nbytes, cfg.dtype, ndim, shape, &opt, out, bound);
    if (r < 0) {
        if (!tmp) free(out);
        return filter_fail(api_for(caller), "cannot write chunk");
    }
    if (tmp && (size_t)r <= *buf_size) {  /* into HDF5's own buffer, whose pages are in */
        memcpy(*buf, tmp, (size_t)r);
        return (size_t)r;
    }
    if (tmp) {
        if (!(out = malloc((size_t)r))) { sqz_fail(SQZ_ERR_OUT_OF_MEMORY, "%lld bytes", (long long)r); return filter_fail(api_for(caller), "cannot write chunk"); }
        memcpy(out, tmp, (size_t)r);
        bound = (size_t)r;
    }
    free(*buf);
    *buf = out;
    *buf_size = bound;
    return (size_t)r;
}

static const H5Z_class2_t k_class = {
    H5Z_CLASS_T_VERS, SQZ_FILTER_ID, 1, 1, SQZ_FILTER_NAME, h5_can_apply, h5_set_local, h5_filter,
};

H5PL_type_t H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }
const void *H5PLget_plugin_info(void) { return &k_class; }
const void *sqz_h5_filter_class(void) { return &k_class; }

int sqz_h5_bind(const char *path)
{
    sqz_clear_error();
    void *handle = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
    SQZ_RETURN_IF(!handle, SQZ_ERR_HDF5, "%s is not loaded in this process", path ? path : "(null)");
    h5api a = {0};
    resolve(&a, handle);
    dlclose(handle);
    SQZ_RETURN_IF(!a.Zregister || !a.can_write, SQZ_ERR_HDF5, "no HDF5 library reachable from %s", path);
    pthread_mutex_lock(&g_lock);
    g_bound = a;
    g_has_bound = 1;
    pthread_mutex_unlock(&g_lock);
    return 0;
}

int sqz_h5_register(void)
{
    sqz_clear_error();
    SQZ_RETURN_IF(!g_has_bound, SQZ_ERR_HDF5, "call sqz_h5_bind first");
    SQZ_RETURN_IF(g_bound.Zregister(&k_class) < 0, SQZ_ERR_HDF5, "H5Zregister failed in %s", g_bound.path);
    return 0;
}

const char *sqz_h5_bound_library(void) { return g_has_bound ? g_bound.path : ""; }
