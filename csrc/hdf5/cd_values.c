#include "cd_values.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unpack_text(const unsigned *words, size_t n_words, size_t len, char *out, size_t cap)
{
    if (len >= cap || (len + 3) / 4 > n_words) return -1;
    for (size_t i = 0; i < len; i++) out[i] = (char)((words[i / 4] >> (8 * (i % 4))) & 0xFF);
    out[len] = '\0';
    return strlen(out) == len ? 0 : -1;
}

int sqz_cd_parse(const unsigned *cd, size_t n, sqz_cd_config *cfg, char *why, size_t why_cap)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->pipeline, sizeof cfg->pipeline, "%s", SQZ_DEFAULT_PIPELINE);
    if (n == 0 || !cd) return 0;
    size_t text_at;
    if ((cd[0] >> 16) == SQZ_CD_MAGIC) {
        int layout = (cd[0] >> 8) & 0xFF;
        cfg->ndim = cd[0] & 0xFF;
        if (layout != SQZ_CD_LAYOUT || cfg->ndim < 1 || cfg->ndim > SQZ_MAX_NDIM || n < 4 + (size_t)cfg->ndim) {
            snprintf(why, why_cap, "sqeazy filter: cd_values of layout %d with %zu values are not understood", layout, n);
            return -1;
        }
        cfg->encoder_version = cd[1];
        cfg->dtype = cd[2] & 0xFF;
        cfg->threads = (cd[2] >> 8) & 0xFF;
        cfg->block_bytes = (cd[2] >> 16) * 1024u;
        if (!sqz_dtype_size(cfg->dtype)) { snprintf(why, why_cap, "sqeazy filter: cd_values name dtype %d", cfg->dtype); return -1; }
        for (int d = 0; d < cfg->ndim; d++) cfg->chunk[d] = cd[3 + d];
        text_at = 3 + (size_t)cfg->ndim;
    } else {
        cfg->threads = cd[0] & 0xFFFF;
        cfg->block_bytes = (cd[0] >> 16) * 1024u;
        if ((cd[0] >> 16) > SQZ_CD_MAX_BLOCK_KIB || cfg->threads > 255) {
            snprintf(why, why_cap, "sqeazy filter: cd_values[0]=%u is not threads | block_kib<<16", cd[0]);
            return -1;
        }
        text_at = 1;
    }
    if (n > text_at) {
        size_t len = cd[text_at];
        if (len == 0) return 0;
        if (unpack_text(cd + text_at + 1, n - text_at - 1, len, cfg->pipeline, sizeof cfg->pipeline) < 0) {
            snprintf(why, why_cap, "sqeazy filter: cd_values hold a pipeline text of %zu bytes that is cut short or not text", len);
            return -1;
        }
    }
    char canonical[256];
    if (sqz_pipeline_canonical(cfg->pipeline, canonical, sizeof canonical) < 0) {
        snprintf(why, why_cap, "sqeazy filter: bad pipeline \"%s\": %s", cfg->pipeline, sqz_last_error());
        return -1;
    }
    return 0;
}

size_t sqz_cd_write(const sqz_cd_config *cfg, unsigned *cd, size_t cap, char *why, size_t why_cap)
{
    char canonical[256];
    if (sqz_pipeline_canonical(cfg->pipeline, canonical, sizeof canonical) < 0) {
        snprintf(why, why_cap, "sqeazy filter: bad pipeline \"%s\": %s", cfg->pipeline, sqz_last_error());
        return 0;
    }
    size_t len = strlen(canonical), need = 3 + (size_t)cfg->ndim + 1 + (len + 3) / 4;
    if (need > cap) { snprintf(why, why_cap, "sqeazy filter: %zu cd_values needed", need); return 0; }
    cd[0] = (SQZ_CD_MAGIC << 16) | (SQZ_CD_LAYOUT << 8) | (unsigned)cfg->ndim;
    cd[1] = SQZ_VERSION_NUMBER;
    cd[2] = (unsigned)cfg->dtype | ((unsigned)cfg->threads << 8) | ((cfg->block_bytes / 1024u) << 16);
    for (int d = 0; d < cfg->ndim; d++) cd[3 + d] = (unsigned)cfg->chunk[d];
    size_t at = 3 + (size_t)cfg->ndim;
    cd[at++] = (unsigned)len;
    memset(cd + at, 0, ((len + 3) / 4) * sizeof *cd);
    for (size_t i = 0; i < len; i++) cd[at + i / 4] |= (unsigned)(unsigned char)canonical[i] << (8 * (i % 4));
    return need;
}

int sqz_cd_threads(int stored)
{
    const char *env = getenv("SQEAZY_NUM_THREADS");
    if (env && *env && atoi(env) > 0) return atoi(env);
    return stored;
}
