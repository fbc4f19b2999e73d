#define _GNU_SOURCE
#include "parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "error.h"

#define SQZ_DEFAULT_THREADS_CAP 8
#define SQZ_MAX_THREADS 256

typedef struct {
    sqz_task_fn task;
    void *ctx;
    uint64_t n;
    atomic_uint_fast64_t next;
    atomic_int error;
    char message[512];
    pthread_mutex_t lock;
} job;

typedef struct { job *j; int worker; } worker_arg;

static void *run_worker(void *p)
{
    worker_arg *a = p;
    job *j = a->j;
    for (;;) {
        if (atomic_load_explicit(&j->error, memory_order_relaxed)) break;
        uint64_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n) break;
        int r = j->task(j->ctx, a->worker, i);
        if (r < 0) {
            int expected = 0;
            pthread_mutex_lock(&j->lock);
            if (atomic_compare_exchange_strong(&j->error, &expected, r)) {
                const char *m = sqz_last_error();
                size_t k = 0;
                for (; m[k] && k + 1 < sizeof j->message; k++) j->message[k] = m[k];
                j->message[k] = '\0';
            }
            pthread_mutex_unlock(&j->lock);
            break;
        }
    }
    return NULL;
}

int sqz_default_threads(void)
{
    const char *env = getenv("SQEAZY_NUM_THREADS");
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1) return v > SQZ_MAX_THREADS ? SQZ_MAX_THREADS : (int)v;
    }
    cpu_set_t set;
    int n = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n < 1) n = 1;
    return n > SQZ_DEFAULT_THREADS_CAP ? SQZ_DEFAULT_THREADS_CAP : n;
}

int sqz_resolve_threads(int threads, uint64_t n_tasks)
{
    if (threads <= 0) threads = sqz_default_threads();
    if (threads > SQZ_MAX_THREADS) threads = SQZ_MAX_THREADS;
    if ((uint64_t)threads > n_tasks) threads = n_tasks ? (int)n_tasks : 1;
    return threads;
}

int sqz_parallel_for(uint64_t n_tasks, int threads, sqz_task_fn task, void *ctx)
{
    if (n_tasks == 0) return 0;
    threads = sqz_resolve_threads(threads, n_tasks);
    job j = {.task = task, .ctx = ctx, .n = n_tasks};
    atomic_init(&j.next, 0);
    atomic_init(&j.error, 0);
    pthread_mutex_init(&j.lock, NULL);
    pthread_t tids[SQZ_MAX_THREADS];
    worker_arg args[SQZ_MAX_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        args[t] = (worker_arg){&j, t};
        if (pthread_create(&tids[t], NULL, run_worker, &args[t]) != 0) break;
        started = t;
    }
    args[0] = (worker_arg){&j, 0};
    run_worker(&args[0]);
    for (int t = 1; t <= started; t++) pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&j.lock);
    int err = atomic_load(&j.error);
    if (err) return sqz_fail_verbatim(-err, j.message);
    return 0;
}
