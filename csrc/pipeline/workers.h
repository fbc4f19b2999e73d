/* Per-thread scratch buffers and stage states for the block loops. */
#ifndef SQZ_WORKERS_H
#define SQZ_WORKERS_H

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

static inline int sqz_workers_init(sqz_workers *w, int threads, size_t scratch_size, const sqz_pipeline *pl)
{
    (void)pl;
    w->threads = threads;
    w->scratch_size = scratch_size;
    w->scratch = scratch_size ? malloc((size_t)threads * SQZ_SCRATCH_PER_WORKER * scratch_size) : NULL;
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
    free(w->scratch);
    free(w->state);
    w->scratch = NULL;
    w->state = NULL;
}

#endif
