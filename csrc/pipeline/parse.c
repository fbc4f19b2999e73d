/* Pipeline text ("bitshuffle->zstd(level=3)") and its serialized form in the chunk. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/bytes.h"
#include "../common/error.h"
#include "pipeline.h"

static const char *skip_ws(const char *p) { while (*p && isspace((unsigned char)*p)) p++; return p; }
static int is_name_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

static int set_param(const sqz_stage *st, double *params, int *given, int index, double v, const char *text)
{
    const sqz_param_spec *ps = &st->params[index];
    SQZ_RETURN_IF(given[index], SQZ_ERR_BAD_PARAMETER, "'%s': parameter '%s' given twice", st->name, ps->name);
    SQZ_RETURN_IF(!isfinite(v) || v < ps->min || v > ps->max, SQZ_ERR_BAD_PARAMETER,
                  "'%s': %s=%s is outside [%g, %g]", st->name, ps->name, text, ps->min, ps->max);
    SQZ_RETURN_IF(ps->integer && v != floor(v), SQZ_ERR_BAD_PARAMETER,
                  "'%s': %s=%s must be an integer", st->name, ps->name, text);
    params[index] = v;
    given[index] = 1;
    return 0;
}

static int parse_args(const sqz_stage *st, const char **pp, double *params)
{
    const char *p = skip_ws(*pp + 1); /* past '(' */
    int given[SQZ_MAX_PARAMS] = {0}, positional = 0, named_seen = 0;
    while (*p != ')') {
        SQZ_RETURN_IF(!*p, SQZ_ERR_PIPELINE_SYNTAX, "'%s': missing ')'", st->name);
        int index = -1;
        const char *q = p;
        while (is_name_char(*q)) q++;
        const char *after = skip_ws(q);
        if (q > p && *after == '=' && !isdigit((unsigned char)*p) && *p != '-') {
            for (int i = 0; i < st->n_params; i++)
                if (strlen(st->params[i].name) == (size_t)(q - p) && !memcmp(st->params[i].name, p, (size_t)(q - p))) index = i;
            SQZ_RETURN_IF(index < 0, SQZ_ERR_BAD_PARAMETER, "'%s' has no parameter '%.*s'", st->name, (int)(q - p), p);
            named_seen = 1;
            p = skip_ws(after + 1);
        } else {
            SQZ_RETURN_IF(named_seen, SQZ_ERR_PIPELINE_SYNTAX, "'%s': positional value after a named one", st->name);
            SQZ_RETURN_IF(positional >= st->n_params, SQZ_ERR_BAD_PARAMETER,
                          "'%s' takes %d parameter(s)", st->name, st->n_params);
            index = positional++;
        }
        char *end;
        double v = strtod(p, &end);
        SQZ_RETURN_IF(end == p, SQZ_ERR_PIPELINE_SYNTAX, "'%s': expected a number at '%.20s'", st->name, p);
        char text[64];
        snprintf(text, sizeof text, "%.*s", (int)(end - p), p);
        SQZ_FORWARD_IF_ERROR(set_param(st, params, given, index, v, text));
        p = skip_ws(end);
        if (*p == ',') p = skip_ws(p + 1);
        else SQZ_RETURN_IF(*p != ')', SQZ_ERR_PIPELINE_SYNTAX, "'%s': expected ',' or ')' at '%.20s'", st->name, p);
    }
    *pp = p + 1;
    return 0;
}

/* Append the stages of `text` to pl; a preset name expands to its stages (presets do not nest). */
static int parse_stages(const char *text, sqz_pipeline *pl, int allow_presets)
{
    const char *p = skip_ws(text);
    SQZ_RETURN_IF(!*p, SQZ_ERR_PIPELINE_SYNTAX, "empty pipeline");
    for (;;) {
        const char *q = p;
        while (is_name_char(*q)) q++;
        SQZ_RETURN_IF(q == p, SQZ_ERR_PIPELINE_SYNTAX, "expected a stage name at '%.20s'", p);
        const sqz_stage *st = sqz_stage_by_name(p, (size_t)(q - p));
        const char *preset = st || !allow_presets ? NULL : sqz_preset_by_name(p, (size_t)(q - p));
        if (preset) {
            SQZ_RETURN_IF(*skip_ws(q) == '(', SQZ_ERR_PIPELINE_SYNTAX, "preset '%.*s' takes no parameters", (int)(q - p), p);
            SQZ_FORWARD_IF_ERROR(parse_stages(preset, pl, 0));
            p = skip_ws(q);
        } else {
            SQZ_RETURN_IF(!st, SQZ_ERR_UNKNOWN_STAGE, "'%.*s' (known stages: %s; presets: lossless, lossless3d, lossless_fast)",
                          (int)(q - p), p, sqz_stage_names());
            SQZ_RETURN_IF(pl->n >= SQZ_MAX_STAGES, SQZ_ERR_PIPELINE_SYNTAX, "more than %d stages", SQZ_MAX_STAGES);
            sqz_stage_ctx *c = &pl->st[pl->n++];
            c->stage = st;
            for (int i = 0; i < st->n_params; i++) c->params[i] = st->params[i].def;
            p = skip_ws(q);
            if (*p == '(') { SQZ_FORWARD_IF_ERROR(parse_args(st, &p, c->params)); p = skip_ws(p); }
        }
        if (!*p) break;
        SQZ_RETURN_IF(p[0] != '-' || p[1] != '>', SQZ_ERR_PIPELINE_SYNTAX, "expected '->' at '%.20s'", p);
        p = skip_ws(p + 2);
    }
    return 0;
}

int sqz_pipeline_parse(const char *text, sqz_pipeline *pl)
{
    memset(pl, 0, sizeof *pl);
    SQZ_RETURN_IF(!text, SQZ_ERR_PIPELINE_SYNTAX, "no pipeline given");
    SQZ_FORWARD_IF_ERROR(parse_stages(text, pl, 1));
    for (int i = 0; i + 1 < pl->n; i++)
        SQZ_RETURN_IF(pl->st[i].stage->kind == SQZ_STAGE_CODEC, SQZ_ERR_PIPELINE_SYNTAX,
                      "codec '%s' must be the last stage", pl->st[i].stage->name);
    for (int i = 0; i < pl->n; i++)
        for (int k = i + 1; k < pl->n && pl->st[i].stage->emits_codes; k++)
            SQZ_RETURN_IF(pl->st[k].stage->lossy, SQZ_ERR_PIPELINE_SYNTAX,
                          "lossy stage '%s' cannot follow '%s', whose output is codes (level indices or ranks), not values",
                          pl->st[k].stage->name, pl->st[i].stage->name);
    if (pl->st[pl->n - 1].stage->kind != SQZ_STAGE_CODEC) {
        SQZ_RETURN_IF(pl->n >= SQZ_MAX_STAGES, SQZ_ERR_PIPELINE_SYNTAX, "more than %d stages", SQZ_MAX_STAGES);
        pl->st[pl->n++].stage = sqz_stage_by_name("raw", 3);
    }
    return 0;
}

/* The shortest decimal that reads back as exactly v (1.6, not 1.6000000000000001). */
static void shortest_number(double v, char *out, size_t cap)
{
    if (v == floor(v) && fabs(v) < 1e15) { snprintf(out, cap, "%.0f", v); return; }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(out, cap, "%.*g", digits, v);
        if (strtod(out, NULL) == v) return;
    }
}

int sqz_pipeline_to_text(const sqz_pipeline *pl, char *out, size_t cap)
{
    size_t used = 0;
    for (int s = 0; s < pl->n; s++) {
        const sqz_stage_ctx *c = &pl->st[s];
        char part[256];
        int n = snprintf(part, sizeof part, "%s%s", s ? "->" : "", c->stage->name);
        int first = 1;
        for (int i = 0; i < c->stage->n_params; i++) {
            if (c->params[i] == c->stage->params[i].def && !c->stage->lossy) continue;  /* lossy: state every value */
            char num[32];
            shortest_number(c->params[i], num, sizeof num);
            n += snprintf(part + n, sizeof part - (size_t)n, "%s%s=%s", first ? "(" : ",", c->stage->params[i].name, num);
            first = 0;
        }
        if (!first) n += snprintf(part + n, sizeof part - (size_t)n, ")");
        SQZ_RETURN_IF(used + (size_t)n + 1 > cap, SQZ_ERR_DST_TOO_SMALL, "pipeline text needs more than %zu bytes", cap);
        memcpy(out + used, part, (size_t)n + 1);
        used += (size_t)n;
    }
    return (int)used;
}

int sqz_pipeline_bind(sqz_pipeline *pl, int dtype, int ndim, const uint64_t *shape)
{
    for (int s = 0; s < pl->n; s++) {
        sqz_stage_ctx *c = &pl->st[s];
        c->dtype = dtype;
        c->ndim = ndim;
        c->shape = shape;
        if (c->stage->check) SQZ_FORWARD_IF_ERROR(c->stage->check(c));
        if (c->stage->out_dtype) dtype = c->stage->out_dtype(c);  /* what the next stage sees */
    }
    return 0;
}

void sqz_pipeline_free(sqz_pipeline *pl)
{
    for (int s = 0; s < SQZ_MAX_STAGES; s++) { free(pl->owned_meta[s]); pl->owned_meta[s] = NULL; }
}

size_t sqz_pipeline_serialized_size(const sqz_pipeline *pl)
{
    size_t n = 1;
    for (int s = 0; s < pl->n; s++) n += 6 + 8 * (size_t)pl->st[s].stage->n_params + pl->st[s].meta_size;
    return n;
}

void sqz_pipeline_serialize(const sqz_pipeline *pl, uint8_t *out)
{
    *out++ = (uint8_t)pl->n;
    for (int s = 0; s < pl->n; s++) {
        const sqz_stage_ctx *c = &pl->st[s];
        out[0] = c->stage->id;
        out[1] = (uint8_t)c->stage->n_params;
        sqz_wr32(out + 2, c->meta_size);
        out += 6;
        for (int i = 0; i < c->stage->n_params; i++, out += 8) sqz_wrf64(out, c->params[i]);
        if (c->meta_size) memcpy(out, c->meta, c->meta_size);
        out += c->meta_size;
    }
}

int sqz_pipeline_deserialize(const uint8_t *in, size_t size, sqz_pipeline *pl)
{
    memset(pl, 0, sizeof *pl);
    const uint8_t *end = in + size;
    SQZ_RETURN_IF(size < 1, SQZ_ERR_CORRUPT_HEADER, "empty pipeline section");
    int n = *in++;
    SQZ_RETURN_IF(n < 1 || n > SQZ_MAX_STAGES, SQZ_ERR_CORRUPT_HEADER, "pipeline of %d stages", n);
    for (int s = 0; s < n; s++) {
        SQZ_RETURN_IF(end - in < 6, SQZ_ERR_CORRUPT_HEADER, "pipeline section truncated");
        const sqz_stage *st = sqz_stage_by_id(in[0]);
        SQZ_RETURN_IF(!st, SQZ_ERR_CORRUPT_HEADER, "unknown stage id %d (written by a newer sqeazy?)", in[0]);
        SQZ_RETURN_IF(in[1] != st->n_params, SQZ_ERR_CORRUPT_HEADER, "stage '%s' with %d parameters", st->name, in[1]);
        uint32_t meta_size = sqz_rd32(in + 2);
        in += 6;
        SQZ_RETURN_IF((size_t)(end - in) < 8 * (size_t)st->n_params + meta_size, SQZ_ERR_CORRUPT_HEADER,
                      "pipeline section truncated");
        sqz_stage_ctx *c = &pl->st[s];
        c->stage = st;
        for (int i = 0; i < st->n_params; i++, in += 8) {
            double v = sqz_rdf64(in);
            const sqz_param_spec *ps = &st->params[i];
            SQZ_RETURN_IF(!(v >= ps->min && v <= ps->max) || (ps->integer && v != floor(v)), SQZ_ERR_CORRUPT_HEADER,
                          "stage '%s' parameter %s=%g out of range", st->name, ps->name, v);
            c->params[i] = v;
        }
        c->meta = meta_size ? in : NULL;
        c->meta_size = meta_size;
        in += meta_size;
        SQZ_RETURN_IF((st->kind == SQZ_STAGE_CODEC) != (s == n - 1), SQZ_ERR_CORRUPT_HEADER,
                      "stage '%s' in the wrong place", st->name);
    }
    SQZ_RETURN_IF(in != end, SQZ_ERR_CORRUPT_HEADER, "%zu stray bytes after the pipeline", (size_t)(end - in));
    pl->n = n;
    return 0;
}

int sqz_pipeline_check(const char *text, int dtype, int ndim, const uint64_t *shape)
{
    sqz_clear_error();
    sqz_pipeline pl;
    SQZ_FORWARD_IF_ERROR(sqz_pipeline_parse(text, &pl));
    SQZ_RETURN_IF(!sqz_dtype_size(dtype), SQZ_ERR_UNSUPPORTED_DTYPE, "dtype code %d", dtype);
    SQZ_RETURN_IF(ndim < 1 || ndim > SQZ_MAX_NDIM || !shape, SQZ_ERR_BAD_ARGUMENT, "ndim %d", ndim);
    return sqz_pipeline_bind(&pl, dtype, ndim, shape);
}

int sqz_pipeline_canonical(const char *text, char *out, size_t out_cap)
{
    sqz_clear_error();
    sqz_pipeline pl;
    SQZ_FORWARD_IF_ERROR(sqz_pipeline_parse(text, &pl));
    return sqz_pipeline_to_text(&pl, out, out_cap);
}
