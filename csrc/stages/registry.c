/* Every built-in stage, by ID. An ID never changes meaning: a fixed stage gets a new ID. */
#include <string.h>

#include "stage.h"

extern const sqz_stage sqz_stage_raw, sqz_stage_lz4, sqz_stage_zstd, sqz_stage_bitshuffle;
extern const sqz_stage sqz_stage_remap, sqz_stage_predict, sqz_stage_huff, sqz_stage_nlcode,
    sqz_stage_nlcode16, sqz_stage_qhuff, sqz_stage_huff64;
extern const sqz_stage sqz_stage_wnl, sqz_stage_rmbkrd, sqz_stage_rmestbkrd, sqz_stage_quantiser;

static const sqz_stage *const k_stages[] = {
    &sqz_stage_raw,         /* id 1 */
    &sqz_stage_lz4,         /* id 2 */
    &sqz_stage_zstd,        /* id 3 */
    &sqz_stage_bitshuffle,  /* id 16 */
    &sqz_stage_remap,       /* id 24 */
    &sqz_stage_predict,     /* id 25 */
    &sqz_stage_huff,        /* id 40 */
    &sqz_stage_nlcode,      /* id 41 */
    &sqz_stage_nlcode16,    /* id 42 */
    &sqz_stage_qhuff,       /* id 43 */
    &sqz_stage_huff64,      /* id 44 */
    &sqz_stage_wnl,         /* id 64: lossy stages 64.. */
    &sqz_stage_rmbkrd,      /* id 65 */
    &sqz_stage_rmestbkrd,   /* id 66 */
    &sqz_stage_quantiser,   /* id 67 */
};
#define N_STAGES (sizeof k_stages / sizeof k_stages[0])

const sqz_stage *sqz_stage_by_name(const char *name, size_t len)
{
    for (size_t i = 0; i < N_STAGES; i++)
        if (strlen(k_stages[i]->name) == len && memcmp(k_stages[i]->name, name, len) == 0) return k_stages[i];
    return NULL;
}

const sqz_stage *sqz_stage_by_id(int id)
{
    for (size_t i = 0; i < N_STAGES; i++)
        if (k_stages[i]->id == id) return k_stages[i];
    return NULL;
}

static const char *join_names(int lossy_only)
{
    static _Thread_local char names[512];
    names[0] = '\0';
    for (size_t i = 0; i < N_STAGES; i++) {
        if (lossy_only && !k_stages[i]->lossy) continue;
        if (names[0]) strncat(names, ",", sizeof names - strlen(names) - 1);
        strncat(names, k_stages[i]->name, sizeof names - strlen(names) - 1);
    }
    return names;
}

/* Presets: names the parser expands into stages (the chunk records the stages, not the name). */
static const struct { const char *name, *text; } k_presets[] = {
    {"lossless", "remap->predict->huff"},
    {"lossless3d", "remap->predict(mode=4)->huff"},
    {"lossless_fast", "remap->predict->bitshuffle->zstd"},
    {"lossless64", "remap->predict->huff64"},
};

const char *sqz_preset_by_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof k_presets / sizeof k_presets[0]; i++)
        if (strlen(k_presets[i].name) == len && memcmp(k_presets[i].name, name, len) == 0) return k_presets[i].text;
    return NULL;
}

const char *sqz_stage_names(void) { return join_names(0); }
const char *sqz_lossy_stage_names(void) { return join_names(1); }
