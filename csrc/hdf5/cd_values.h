/* The filter's cd_values (docs/FORMAT.md, "HDF5 filter"): the user form that h5py and
 * h5repack pass, and the full form that set_local stores in the file. */
#ifndef SQZ_CD_VALUES_H
#define SQZ_CD_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include "sqeazy.h"

#define SQZ_CD_MAX 64            /* what we accept; h5repack 1.10 passes at most 20 */
#define SQZ_CD_MAGIC 0x5351u     /* 'SQ' in the high half of word 0 of the full form */
#define SQZ_CD_LAYOUT 1
#define SQZ_CD_MAX_BLOCK_KIB 0x3FFFu

typedef struct {
    int threads;                 /* 0: default */
    uint32_t block_bytes;        /* 0: default */
    char pipeline[256];
    int dtype, ndim;             /* full form only; ndim 0 in the user form */
    uint64_t chunk[SQZ_MAX_NDIM];
    uint32_t encoder_version;
} sqz_cd_config;

int sqz_cd_parse(const unsigned *cd, size_t n, sqz_cd_config *cfg, char *why, size_t why_cap);
/* Full form into cd; returns the number of words or 0 (reason in why). */
size_t sqz_cd_write(const sqz_cd_config *cfg, unsigned *cd, size_t cap, char *why, size_t why_cap);
/* SQEAZY_NUM_THREADS overrides the stored option; 0 means the library default. */
int sqz_cd_threads(int stored);

#endif
