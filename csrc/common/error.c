#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const k_names[SQZ_ERR_COUNT_] = {
    [SQZ_OK] = "no error",
    [SQZ_ERR_GENERIC] = "error",
    [SQZ_ERR_BAD_ARGUMENT] = "bad argument",
    [SQZ_ERR_PIPELINE_SYNTAX] = "pipeline syntax error",
    [SQZ_ERR_UNKNOWN_STAGE] = "unknown stage",
    [SQZ_ERR_BAD_PARAMETER] = "bad stage parameter",
    [SQZ_ERR_UNSUPPORTED_DTYPE] = "unsupported data type",
    [SQZ_ERR_DST_TOO_SMALL] = "destination buffer too small",
    [SQZ_ERR_OUT_OF_MEMORY] = "out of memory",
    [SQZ_ERR_NOT_SQEAZY] = "not a sqeazy chunk",
    [SQZ_ERR_UNSUPPORTED_VERSION] = "unsupported format version",
    [SQZ_ERR_TRUNCATED] = "truncated chunk",
    [SQZ_ERR_CORRUPT_HEADER] = "corrupt chunk header",
    [SQZ_ERR_CORRUPT_DATA] = "corrupt chunk data",
    [SQZ_ERR_CHECKSUM] = "checksum mismatch",
    [SQZ_ERR_CODEC] = "codec failure",
    [SQZ_ERR_THREADS] = "thread failure",
    [SQZ_ERR_HDF5] = "HDF5 error",
    [SQZ_ERR_SIZE_MISMATCH] = "size mismatch",
    [SQZ_ERR_NO_GPU] = "no GPU available",
};

static _Thread_local char t_message[512];

const char *sqz_error_name(int code)
{
    if (code < 0) code = -code;
    if (code >= SQZ_ERR_COUNT_) return "unknown error code";
    return k_names[code];
}

int sqz_fail(int code, const char *fmt, ...)
{
    int n = snprintf(t_message, sizeof t_message, "%s: ", sqz_error_name(code));
    if (n < 0 || (size_t)n >= sizeof t_message) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_message + n, sizeof t_message - (size_t)n, fmt, ap);
    va_end(ap);
    return -code;
}

int sqz_fail_verbatim(int code, const char *message)
{
    snprintf(t_message, sizeof t_message, "%s", message);
    return -code;
}

void sqz_clear_error(void) { t_message[0] = '\0'; }

const char *sqz_last_error(void) { return t_message; }
