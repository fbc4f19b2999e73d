/* Internal error helpers: every failure sets a thread-local message and returns -code. */
#ifndef SQZ_ERROR_H
#define SQZ_ERROR_H

#include "sqeazy.h"

/* Record a failure; returns -code so callers can `return sqz_fail(...)`. */
int sqz_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Record a failure whose message is already complete (forwarded from another thread). */
int sqz_fail_verbatim(int code, const char *message);
void sqz_clear_error(void);

#define SQZ_RETURN_IF(cond, code, ...) \
    do { if (cond) return sqz_fail((code), __VA_ARGS__); } while (0)
#define SQZ_FORWARD_IF_ERROR(expr) \
    do { int64_t sqz_r_ = (int64_t)(expr); if (sqz_r_ < 0) return (int)sqz_r_; } while (0)

#endif
