#include "sqeazy.h"

#define SQZ_STR_(x) #x
#define SQZ_STR(x) SQZ_STR_(x)

const char *sqz_version_string(void)
{
    return SQZ_STR(SQZ_VERSION_MAJOR) "." SQZ_STR(SQZ_VERSION_MINOR) "." SQZ_STR(SQZ_VERSION_PATCH);
}

int sqz_format_version(void) { return SQZ_FORMAT_VERSION; }

int sqz_cuda_available(void) { return 0; }
