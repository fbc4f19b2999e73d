/* Run n independent tasks on up to `threads` threads (the caller's thread is one of them). */
#ifndef SQZ_PARALLEL_H
#define SQZ_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

/* task(ctx, worker, index) returns 0 or -sqz_error; the first error stops new tasks. */
typedef int (*sqz_task_fn)(void *ctx, int worker, uint64_t index);

int sqz_parallel_for(uint64_t n_tasks, int threads, sqz_task_fn task, void *ctx);
/* threads <= 0 -> default; never more than tasks. */
int sqz_resolve_threads(int threads, uint64_t n_tasks);

#endif
