/* Per-thread scratch buffers and stage states for the block loops. */
#ifndef SQZ_WORKERS_H
#define SQZ_WORKERS_H

#include <pthread.h>
#include <stdlib.h>

#include "../common/error.h"
#include "pipeline.h"

#define SQZ_SCRATCH_PER_WORKER 3

typedef struct {
    int threads;
    size_t scratch_size;
    uint8_t *scratch;                       /* threads * SQZ_SCRATCH_PER_WORKER * scratch_size */
    void *(*state)[SQZ_MAX_STAGES];        /* threads rows */
} sqz_workers;

/* The calling thread keeps its last scratch buffer (up to SQZ_SCRATCH_CACHE_MAX bytes) for
 * the next chunk: camera-rate writers call sqz_encode chunk after chunk, and fresh buffers
 * cost page faults. Freed at thread exit. */
#define SQZ_SCRATCH_CACHE_MAX (32u << 20)
typedef struct { void *p; size_t size; } sqz_cached_scratch;
static pthread_key_t sqz_scratch_key;
static pthread_once_t sqz_scratch_once = PTHREAD_ONCE_INIT;
static int sqz_scratch_ok;

static void sqz_scratch_drop(void *c)
{
    sqz_cached_scratch *x = c;
    if (x) free(x->p);
    free(x);
}

static void sqz_scratch_make_key(void) { sqz_scratch_ok = pthread_key_create(&sqz_scratch_key, sqz_scratch_drop) == 0; }

static inline sqz_cached_scratch *sqz_scratch_slot(void)
{
    pthread_once(&sqz_scratch_once, sqz_scratch_make_key);
    if (!sqz_scratch_ok) return NULL;
    sqz_cached_scratch *c = pthread_getspecific(sqz_scratch_key);
    if (!c && (c = calloc(1, sizeof *c)) != NULL && pthread_setspecific(sqz_scratch_key, c) != 0) { free(c); c = NULL; }
    return c;
}

static inline void *sqz_scratch_take(size_t size)
{
    sqz_cached_scratch *c = sqz_scratch_slot();
    if (c && c->p && c->size >= size) {
        void *p = c->p;
        c->p = NULL;
        c->size = 0;
        return p;
    }
    return malloc(size);
}

static inline void sqz_scratch_give(void *p, size_t size)
{
    sqz_cached_scratch *c = p && size <= SQZ_SCRATCH_CACHE_MAX ? sqz_scratch_slot() : NULL;
    if (c && (!c->p || c->size < size)) {
        free(c->p);
        c->p = p;
        c->size = size;
        return;
    }
    free(p);
}

static inline int sqz_workers_init(sqz_workers *w, int threads, size_t scratch_size, const sqz_pipeline *pl)
{
    (void)pl;
    w->threads = threads;
    w->scratch_size = scratch_size;
    w->scratch = scratch_size ? sqz_scratch_take((size_t)threads * SQZ_SCRATCH_PER_WORKER * scratch_size) : NULL;
    w->state = calloc((size_t)threads, sizeof *w->state);
    SQZ_RETURN_IF((scratch_size && !w->scratch) || !w->state, SQZ_ERR_OUT_OF_MEMORY,
                  "%d worker buffers of %zu bytes", threads, scratch_size);
    return 0;
}

static inline uint8_t *sqz_workers_scratch(sqz_workers *w, int worker, int which)
{
    return w->scratch + ((size_t)worker * SQZ_SCRATCH_PER_WORKER + (size_t)which) * w->scratch_size;
}

static inline void **sqz_workers_state(sqz_workers *w, int worker, int stage) { return &w->state[worker][stage]; }

static inline void sqz_workers_free(sqz_workers *w, const sqz_pipeline *pl)
{
    if (w->state)
        for (int t = 0; t < w->threads; t++)
            for (int s = 0; s < pl->n; s++)
                if (w->state[t][s] && pl->st[s].stage->release) pl->st[s].stage->release(w->state[t][s]);
    sqz_scratch_give(w->scratch, (size_t)w->threads * SQZ_SCRATCH_PER_WORKER * w->scratch_size);
    free(w->state);
    w->scratch = NULL;
    w->state = NULL;
}

#endif
