#include "config.h"
#include "gemm.h"
#include "numout.h"
#include "schedule.h"
#include "sysmem.h"
#include "tasks.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(ic_run_config, f)
#define SZ(f) sizeof(((ic_run_config *)0)->f)

static const ic_key KEYS[] = {
    {"n_dims", IC_KEY_INT, OFF(model.n_dims), 0, 1, 100000, "20", "input dimension d of the regression task"},
    {"n_positions", IC_KEY_INT, OFF(model.n_positions), 0, 1, 100000, "101",
     "maximum points per prompt (the position table has 2*n_positions rows)"},
    {"n_embd", IC_KEY_INT, OFF(model.n_embd), 0, 1, 65536, "256", "embedding width e"},
    {"n_layer", IC_KEY_INT, OFF(model.n_layer), 0, 1, 4096, "12", "number of parameter blocks"},
    {"n_head", IC_KEY_INT, OFF(model.n_head), 0, 1, 65536, "8", "attention heads (must divide n_embd)"},
    {"schedule", IC_KEY_STRING, OFF(schedule), SZ(schedule), 0, 0, "",
     "blocks run per loop: a list 0,1,1,2 or the schedule language, e.g. 0-2*3 or dup(2-3) "
     "(docs/schedules.md; empty: 0..n_layer-1)"},
    {"loops", IC_KEY_INT, OFF(loops), 0, 1, IC_MAX_LOOPS, "1", "times the schedule's body is run (looped model)"},
    {"loss_loops", IC_KEY_INT, OFF(loss_loops), 0, 1, IC_MAX_LOOPS, "1",
     "last loops that carry loss and gradient (earlier loops: no gradient)"},
    {"grad_loops", IC_KEY_INT, OFF(grad_loops), 0, 0, IC_MAX_LOOPS, "0",
     "last loops that carry gradient, >= loss_loops (0: = loss_loops, Yang et al.; = loops: full backpropagation)"},
    {"inject", IC_KEY_BOOL, OFF(inject), 0, 0, 1, "true", "input injection: each loop reads Y_t + P"},
    {"loop_lnf", IC_KEY_BOOL, OFF(loop_lnf), 0, 0, 1, "true",
     "feed ln_f's output back to the next loop (must be false with a coda: schedule 0,{1,2},3)"},
    {"loop_signal", IC_KEY_BOOL, OFF(loop_signal), 0, 0, 1, "false",
     "add a sinusoidal embedding of the loop index t to each loop's input (no parameters; any loop count)"},
    {"loops_sampling", IC_KEY_STRING, OFF(loops_sampling), SZ(loops_sampling), 0, 0, "fixed",
     "loops per training step: fixed (loops), or poisson: min(loops, 1 + Poisson(loops_mean - 1)), "
     "drawn from (data seed, step)"},
    {"loops_mean", IC_KEY_DOUBLE, OFF(loops_mean), 0, 1, IC_MAX_LOOPS, "1",
     "mean loop count of loops_sampling poisson before truncation at loops"},
    {"block_kinds", IC_KEY_STRING, OFF(block_kinds), SZ(block_kinds), 0, 0, "",
     "each block's kind: full, attn (attention only) or mlp (MLP only), e.g. attn,mlp or attn*2,full "
     "(empty: all full)"},
    {"n_points", IC_KEY_INT, OFF(n_points), 0, 1, 100000, "41", "points per prompt used for training/benchmarks"},
    {"batch_size", IC_KEY_INT, OFF(batch_size), 0, 1, 1 << 20, "64", "prompts per training step"},
    {"learning_rate", IC_KEY_DOUBLE, OFF(learning_rate), 0, 0, 10, "1e-4", "Adam learning rate"},
    {"train_steps", IC_KEY_LONG, OFF(train_steps), 0, 0, 1e12, "500000", "training steps"},
    {"seed", IC_KEY_U64, OFF(seed), 0, 0, 1.8e19, "0", "random seed (model init and data)"},
    {"threads", IC_KEY_INT, OFF(threads), 0, 0, 1024, "0", "threads for BLAS and OpenMP (0: all cores)"},
    {"task", IC_KEY_STRING, OFF(task), SZ(task), 0, 0, "linear_regression",
     "function class: linear_regression, sparse_linear_regression, noisy_linear_regression, "
     "linear_classification, quadratic_regression, relu_2nn_regression, decision_tree"},
    {"sparsity", IC_KEY_INT, OFF(sparsity), 0, 1, 100000, "3", "non-zero coordinates of w (sparse_linear_regression)"},
    {"noise_std", IC_KEY_DOUBLE, OFF(noise_std), 0, 0, 1e6, "1", "std of the label noise (noisy_linear_regression)"},
    {"hidden", IC_KEY_INT, OFF(hidden), 0, 1, 100000, "100", "hidden units (relu_2nn_regression)"},
    {"depth", IC_KEY_INT, OFF(depth), 0, 1, 20, "4", "tree depth (decision_tree)"},
    {"x_scale", IC_KEY_DOUBLE, OFF(x_scale), 0, 0, 1e6, "1", "x ~ N(0, x_scale^2 I)"},
    {"curriculum_dims_start", IC_KEY_INT, OFF(curriculum_dims_start), 0, 0, 100000, "0",
     "active dimensions at step 0 (0: n_dims, no curriculum); truncated dimensions of x are 0"},
    {"curriculum_dims_inc", IC_KEY_INT, OFF(curriculum_dims_inc), 0, 0, 100000, "1", "dimensions added per interval"},
    {"curriculum_dims_interval", IC_KEY_INT, OFF(curriculum_dims_interval), 0, 1, 100000000, "2000",
     "steps between dimension increments"},
    {"curriculum_points_start", IC_KEY_INT, OFF(curriculum_points_start), 0, 0, 100000, "0",
     "points per prompt at step 0 (0: n_points, no curriculum)"},
    {"curriculum_points_inc", IC_KEY_INT, OFF(curriculum_points_inc), 0, 0, 100000, "2", "points added per interval"},
    {"curriculum_points_interval", IC_KEY_INT, OFF(curriculum_points_interval), 0, 1, 100000000, "2000",
     "steps between point increments"},
    {"curriculum_loops_start", IC_KEY_INT, OFF(curriculum_loops_start), 0, 0, IC_MAX_LOOPS, "0",
     "loops at step 0 (0: loops, no curriculum); looped models"},
    {"curriculum_loops_inc", IC_KEY_INT, OFF(curriculum_loops_inc), 0, 0, IC_MAX_LOOPS, "2", "loops added per interval"},
    {"curriculum_loops_interval", IC_KEY_INT, OFF(curriculum_loops_interval), 0, 1, 100000000, "500",
     "steps between loop increments"},
    {"optimizer", IC_KEY_STRING, OFF(optimizer), SZ(optimizer), 0, 0, "adam", "adam or adamw (decoupled weight decay)"},
    {"weight_decay", IC_KEY_DOUBLE, OFF(weight_decay), 0, 0, 10, "0", "weight decay (adamw only)"},
    {"lr_schedule", IC_KEY_STRING, OFF(lr_schedule), SZ(lr_schedule), 0, 0, "constant",
     "constant, or cosine (linear warm-up, then cosine decay to min_lr_ratio * learning_rate)"},
    {"warmup_steps", IC_KEY_LONG, OFF(warmup_steps), 0, 0, 1e12, "0", "linear learning-rate warm-up steps"},
    {"min_lr_ratio", IC_KEY_DOUBLE, OFF(min_lr_ratio), 0, 0, 1, "0.1", "final learning rate / learning_rate (cosine)"},
    {"grad_clip", IC_KEY_DOUBLE, OFF(grad_clip), 0, 0, 1e12, "0", "clip the global gradient norm to this (0: off)"},
    {"log_every", IC_KEY_LONG, OFF(log_every), 0, 1, 1e12, "100", "steps between metrics rows"},
    {"save_every", IC_KEY_LONG, OFF(save_every), 0, 1, 1e12, "1000", "steps between checkpoints"},
    {"data_seed", IC_KEY_U64, OFF(data_seed), 0, 0, 1.8e19, "0", "seed of the prompt stream (0: derived from seed)"},
    {"data_scheme", IC_KEY_STRING, OFF(data_scheme), SZ(data_scheme), 0, 0, "per_prompt",
     "per_prompt (each prompt from its own generator: the same data for any number of MPI ranks) or stream "
     "(one generator; runs from before this key)"},
    {"precision", IC_KEY_STRING, OFF(precision), SZ(precision), 0, 0, "fp32",
     "fp32, or bf16: matrix products on bf16 operands with fp32 sums, fp32 weights, Adam moments and "
     "layernorm statistics (needs AVX512_BF16 or AMX-BF16)"},
    {"checkpoint_dtype", IC_KEY_STRING, OFF(checkpoint_dtype), SZ(checkpoint_dtype), 0, 0, "fp32",
     "dtype of model.safetensors' tensors: fp32, or bf16 (the fp32 weights rounded to nearest even; half the "
     "size); state.safetensors stays fp32, so --resume is exact; may change when resuming"},
    {"checksum_every", IC_KEY_LONG, OFF(checksum_every), 0, 0, 1e12, "100",
     "MPI training: steps between the cross-rank parameter checksums (0: only at the end)"},
    {"mpi_ranks", IC_KEY_INT, OFF(mpi_ranks), 0, 1, 1 << 24, "1",
     "MPI ranks the run trains on (recorded by iclab train from mpirun/srun; not an input)"},
};
#define NKEYS ((int)(sizeof KEYS / sizeof *KEYS))

const ic_key *ic_run_config_keys(int *n) {
    *n = NKEYS;
    return KEYS;
}

const ic_key *ic_run_config_find_key(const char *name) {
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].name, name) == 0) return &KEYS[i];
    return NULL;
}

void ic_run_config_default(ic_run_config *c) {
    memset(c, 0, sizeof *c);
    for (int i = 0; i < NKEYS; i++) {
        ic_err e;
        int rc = ic_run_config_set(c, KEYS[i].name, KEYS[i].def, &e);
        (void)rc; /* the defaults are valid by construction (tested) */
    }
}

void ic_run_config_legacy(ic_run_config *c) {
    ic_run_config_default(c);
    snprintf(c->data_scheme, sizeof c->data_scheme, "stream");
}

/* true/false/1/0 only: "yes", "on", "2" are typos as often as intent */
static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "true") || !strcmp(v, "1")) { *out = 1; return 0; }
    if (!strcmp(v, "false") || !strcmp(v, "0")) { *out = 0; return 0; }
    return -1;
}

int ic_run_config_set(ic_run_config *c, const char *key, const char *value, ic_err *err) {
    const ic_key *k = ic_run_config_find_key(key);
    if (!k) return ic_errf(err, "unknown config key '%s'", key);
    char *dst = (char *)c + k->offset;
    if (!value) return ic_errf(err, "%s: missing value", key);
    if (k->type == IC_KEY_STRING) {
        size_t n = strlen(value);
        if (n >= k->size) return ic_errf(err, "%s: value is longer than %zu characters", key, k->size - 1);
        if (!strcmp(key, "block_kinds")) { /* parsed here: the model config carries the kinds */
            unsigned char kind[IC_MAX_LAYER];
            int nk;
            if (ic_block_kinds_parse(value, kind, IC_MAX_LAYER, &nk, err)) return -1;
            memset(c->model.kind, 0, sizeof c->model.kind);
            memcpy(c->model.kind, kind, (size_t)nk);
        }
        memcpy(dst, value, n + 1);
        return 0;
    }
    if (k->type == IC_KEY_BOOL) {
        int b;
        if (parse_bool(value, &b)) return ic_errf(err, "%s: expected true, false, 1 or 0, got '%s'", key, value);
        *(int *)dst = b;
        return 0;
    }
    while (isspace((unsigned char)*value)) value++;
    if (!*value) return ic_errf(err, "%s: empty value", key);
    char *end;
    errno = 0;
    if (k->type == IC_KEY_DOUBLE) {
        double v = strtod(value, &end);
        while (isspace((unsigned char)*end)) end++;
        if (*end || errno || !isfinite(v)) return ic_errf(err, "%s: expected a number, got '%s'", key, value);
        if (v < k->min || v > k->max) return ic_errf(err, "%s: %g is outside %g..%g", key, v, k->min, k->max);
        *(double *)dst = v;
        return 0;
    }
    unsigned long long u = 0;
    long long s = 0;
    if (k->type == IC_KEY_U64 && value[0] != '-') u = strtoull(value, &end, 10);
    else s = strtoll(value, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (*end || end == value || (errno && errno != ERANGE))
        return ic_errf(err, "%s: expected an integer, got '%s'", key, value);
    /* too large for 64 bits (ERANGE), negative for an unsigned key, or outside the key's range */
    int out = errno == ERANGE || (k->type == IC_KEY_U64 && value[0] == '-');
    if (!out && k->type == IC_KEY_U64) out = u > (unsigned long long)k->max || (double)u < k->min;
    else if (!out) out = (double)s < k->min || (double)s > k->max;
    if (out) return ic_errf(err, "%s: %s is outside %.0f..%.0f", key, value, k->min, k->max);
    switch (k->type) {
    case IC_KEY_INT: *(int *)dst = (int)s; break;
    case IC_KEY_LONG: *(long *)dst = (long)s; break;
    case IC_KEY_U64: *(uint64_t *)dst = (uint64_t)u; break;
    default: break;
    }
    return 0;
}

/* 1 if s is an optional '-' and decimal digits whose value does not fit a
 * signed 64-bit integer (what jansson cannot hold as a JSON integer). */
static int is_big_decimal(const char *s) {
    const int neg = *s == '-';
    const char *d = s + neg;
    size_t n = strlen(d);
    if (n == 0 || strspn(d, "0123456789") != n) return 0;
    while (n > 1 && *d == '0') d++, n--;
    if (n != 19) return n > 19;
    return strcmp(d, neg ? "9223372036854775808" : "9223372036854775807") > 0;
}

/* jansson refuses integers beyond 64 signed bits ("too big integer"), so a
 * seed of 2^63 or more could not even be read. Outside strings, such
 * integer literals are put in quotes; the key checks below read them as the
 * numbers they are (for u64 keys) or report them as out of range. Returns a
 * malloc'ed copy, or NULL when memory runs out. */
static char *quote_big_integers(const char *text) {
    size_t n = strlen(text), extra = 0;
    for (size_t i = 0, str = 0; i < n; i++) { /* count first: each quoted literal adds 2 */
        if (str) { if (text[i] == '\\' && i + 1 < n) i++; else if (text[i] == '"') str = 0; continue; }
        if (text[i] == '"') { str = 1; continue; }
        if (text[i] == '-' || isdigit((unsigned char)text[i])) {
            size_t j = i + 1;
            while (j < n && strchr("0123456789+-.eE", text[j])) j++;
            extra += 2;
            i = j - 1;
        }
    }
    char *out = malloc(n + extra + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0, str = 0; i < n; i++) {
        if (str) {
            *o++ = text[i];
            if (text[i] == '\\' && i + 1 < n) *o++ = text[++i];
            else if (text[i] == '"') str = 0;
            continue;
        }
        if (text[i] == '"') { str = 1; *o++ = text[i]; continue; }
        if (text[i] == '-' || isdigit((unsigned char)text[i])) {
            size_t j = i + 1;
            while (j < n && strchr("0123456789+-.eE", text[j])) j++;
            char tok[64];
            int big = j - i < sizeof tok && (memcpy(tok, text + i, j - i), tok[j - i] = 0, is_big_decimal(tok));
            if (!big && j - i >= sizeof tok) big = strspn(text + i + (text[i] == '-'), "0123456789") == j - i - (text[i] == '-');
            if (big) *o++ = '"';
            memcpy(o, text + i, j - i);
            o += j - i;
            if (big) *o++ = '"';
            i = j - 1;
            continue;
        }
        *o++ = text[i];
    }
    *o = 0;
    return out;
}

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    default: return "null";
    }
}

/* "schedule": [0, 1, 1, 2] as the text "0,1,1,2"; elements are block indices. */
static int schedule_array_text(const json_t *val, char **out, ic_err *err) {
    const size_t n = json_array_size(val);
    const int max_block = 4095; /* n_layer is at most 4096 */
    char *t = malloc(n * 12 + 2);
    if (!t) return ic_errf(err, "schedule: out of memory for %zu elements", n);
    size_t used = 0;
    t[0] = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(val, i);
        const char *big = json_is_string(e) && is_big_decimal(json_string_value(e)) ? json_string_value(e) : NULL;
        json_int_t v = json_is_integer(e) ? json_integer_value(e) : 0;
        if (big || (json_is_integer(e) && (v < 0 || v > max_block))) {
            free(t);
            if (big) return ic_errf(err, "schedule: element %zu is %s, outside 0..%d (block indices)", i + 1, big, max_block);
            return ic_errf(err, "schedule: element %zu is %" JSON_INTEGER_FORMAT ", outside 0..%d (block indices)", i + 1, v,
                           max_block);
        }
        if (!json_is_integer(e)) {
            free(t);
            return ic_errf(err, "schedule: element %zu is %s, expected an integer block index", i + 1, json_type_name(e));
        }
        used += (size_t)snprintf(t + used, 12, i ? ",%d" : "%d", (int)v);
    }
    *out = t;
    return 0;
}

/* The text form of one JSON value for key k, checking its JSON type:
 * integers for integer keys (an integral number like 1e6 too; for u64 keys
 * also a string of decimal digits, how seeds of 2^63 and more are written),
 * numbers for number keys, true/false for booleans, strings for text keys
 * (and an integer array for the schedule). */
static int json_value_text(const ic_key *k, json_t *val, char *buf, size_t len, char **owned, ic_err *err) {
    *owned = NULL;
    const char *sv = json_is_string(val) ? json_string_value(val) : NULL;
    switch (k->type) {
    case IC_KEY_BOOL:
        if (!json_is_boolean(val))
            return ic_errf(err, "%s: expected true or false (JSON booleans), got %s", k->name, json_type_name(val));
        snprintf(buf, len, "%s", json_is_true(val) ? "true" : "false");
        return 0;
    case IC_KEY_STRING:
        if (json_is_array(val) && !strcmp(k->name, "schedule")) return schedule_array_text(val, owned, err);
        if (!sv) return ic_errf(err, "%s: expected a string, got %s", k->name, json_type_name(val));
        *owned = strdup(sv);
        if (!*owned) return ic_errf(err, "%s: out of memory", k->name);
        return 0;
    case IC_KEY_INT:
    case IC_KEY_LONG:
    case IC_KEY_U64:
    case IC_KEY_DOUBLE:
        if (json_is_integer(val)) {
            json_int_t v = json_integer_value(val);
            if (k->type == IC_KEY_U64 && v < 0) /* iclab before 2^63-safe seeds wrote them as int64 */
                return ic_errf(err, "%s: %" JSON_INTEGER_FORMAT " is outside 0..%.0f (a file from an iclab that wrote "
                               "seeds >= 2^63 as negative numbers? this one stands for \"%llu\")",
                               k->name, v, k->max, (unsigned long long)(uint64_t)v);
            snprintf(buf, len, "%" JSON_INTEGER_FORMAT, v);
            return 0;
        }
        if (json_is_real(val)) {
            snprintf(buf, len, "%.17g", json_real_value(val));
            return 0;
        }
        if (sv && (is_big_decimal(sv) || (k->type == IC_KEY_U64 && sv[0] && strspn(sv, "0123456789") == strlen(sv)))) {
            if (strlen(sv) >= len) return ic_errf(err, "%s: %.40s... is outside %.0f..%.0f", k->name, sv, k->min, k->max);
            snprintf(buf, len, "%s", sv);
            return 0;
        }
        if (sv && k->type == IC_KEY_U64)
            return ic_errf(err, "%s: expected a non-negative integer (a number, or a string of decimal digits), got \"%s\"",
                           k->name, sv);
        return ic_errf(err, "%s: expected %s, got %s", k->name, k->type == IC_KEY_DOUBLE ? "a number" : "an integer",
                       json_type_name(val));
    }
    return ic_errf(err, "%s: unsupported key type", k->name);
}

int ic_run_config_load_json(ic_run_config *c, const char *text, const char *source, ic_err *err) {
    json_error_t je;
    char *quoted = quote_big_integers(text);
    if (!quoted) return ic_errf(err, "%s: out of memory", source);
    json_t *root = json_loads(quoted, JSON_REJECT_DUPLICATES, &je);
    free(quoted);
    if (!root) return ic_errf(err, "%s:%d:%d: invalid JSON: %s", source, je.line, je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return ic_errf(err, "%s: expected a JSON object of config keys", source);
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        char buf[64];
        char *owned = NULL;
        const ic_key *k = ic_run_config_find_key(key);
        int rc = !k ? ic_errf(err, "unknown config key '%s'", key) : json_value_text(k, val, buf, sizeof buf, &owned, err);
        if (!rc) rc = ic_run_config_set(c, key, owned ? owned : buf, err);
        free(owned);
        if (rc) {
            json_decref(root);
            return ic_err_prefix(err, "%s", source);
        }
    }
    json_decref(root);
    return 0;
}

int ic_run_config_load_file(ic_run_config *c, const char *path, ic_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ic_errf(err, "%s: cannot open config file", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (len + 4096 + 1) * 2;
            if (cap > (64u << 20)) { free(buf); fclose(f); return ic_errf(err, "%s: config file is too large", path); }
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return ic_errf(err, "out of memory"); }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, 4096, f);
        len += r;
        if (r < 4096) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return ic_errf(err, "%s: read error", path); }
    buf[len] = 0;
    if (strlen(buf) != len) { free(buf); return ic_errf(err, "%s: config file contains a NUL byte", path); }
    int rc = ic_run_config_load_json(c, buf, path, err);
    free(buf);
    return rc;
}

json_t *ic_json_u64(uint64_t v) {
    if (v <= (uint64_t)INT64_MAX) return json_integer((json_int_t)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return json_string(buf);
}

json_t *ic_run_config_json(const ic_run_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    for (int i = 0; i < NKEYS; i++) {
        const ic_key *k = &KEYS[i];
        const char *src = (const char *)c + k->offset;
        json_t *v = NULL;
        switch (k->type) {
        case IC_KEY_INT: v = json_integer(*(const int *)src); break;
        case IC_KEY_LONG: v = json_integer(*(const long *)src); break;
        case IC_KEY_U64: v = ic_json_u64(*(const uint64_t *)src); break;
        case IC_KEY_DOUBLE: v = ic_json_num(*(const double *)src); break; /* finite once set (ic_run_config_set) */
        case IC_KEY_BOOL: v = json_boolean(*(const int *)src); break;
        case IC_KEY_STRING: v = json_string(src); break;
        }
        if (!v || json_object_set_new(o, k->name, v)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

char *ic_run_config_to_json(const ic_run_config *c) {
    json_t *o = ic_run_config_json(c);
    char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

int ic_run_config_schedule(const ic_run_config *c, ic_schedule *s, ic_err *err) {
    ic_schedule_default(s, c->model.n_layer);
    if (c->schedule[0] && ic_schedule_parse(s, c->schedule, NULL, c->model.n_layer, err)) return -1;
    s->loops = c->loops;
    s->loss_loops = c->loss_loops;
    s->grad_loops = c->grad_loops;
    s->inject = c->inject;
    s->loop_lnf = c->loop_lnf;
    s->loop_signal = c->loop_signal;
    return ic_schedule_validate(s, c->model.n_layer, err);
}

double ic_run_config_train_bytes(const ic_run_config *c, int nshards) {
    ic_schedule *s = malloc(sizeof *s);
    ic_err e;
    if (!s || ic_run_config_schedule(c, s, &e)) {
        free(s);
        return 0; /* invalid configs are refused by validation */
    }
    ic_mem_bytes mb;
    ic_model_mem_estimate(&c->model, s, c->batch_size, c->n_points, 1, nshards, &mb);
    free(s);
    size_t sz[IC_NUM_PARAM_TENSORS];
    double np = 0;
    ic_param_sizes(&c->model, sz);
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) np += (double)sz[k];
    const double adam = 2 * np * sizeof(float);
    const double batch = (double)c->batch_size * c->n_points * (c->model.n_dims + 1) * sizeof(float);
    return mb.total + adam + batch;
}

int ic_run_config_check_memory(const ic_run_config *c, int nshards, ic_err *err) {
    return ic_mem_check(ic_run_config_train_bytes(c, nshards), "training",
                        "lower batch_size, n_points, loops (grad_loops, loss_loops) or the model size", err);
}

int ic_run_config_task(const ic_run_config *c, int n_dims, ic_task_spec *task, double *err_norm, ic_err *err) {
    ic_task_kind kind;
    if (ic_task_parse(c->task, &kind, err)) return ic_err_prefix(err, "task");
    ic_task_spec t;
    ic_task_spec_default(&t, kind, n_dims);
    t.sparsity = c->sparsity;
    t.noise_std = c->noise_std;
    t.hidden = c->hidden;
    t.depth = c->depth;
    t.x_scale = c->x_scale;
    if (ic_task_spec_check(&t, err)) return ic_err_prefix(err, "task");
    *task = t;
    if (err_norm) *err_norm = kind == IC_TASK_SPARSE_LINEAR && t.sparsity < n_dims ? (double)t.sparsity : (double)n_dims;
    return 0;
}

int ic_run_config_validate(const ic_run_config *c, ic_err *err) {
    unsigned char kind[IC_MAX_LAYER];
    int nk = 0;
    if (ic_block_kinds_parse(c->block_kinds, kind, IC_MAX_LAYER, &nk, err)) return -1;
    if (nk && nk != c->model.n_layer)
        return ic_errf(err, "block_kinds lists %d kinds, but n_layer is %d (one kind per block)", nk, c->model.n_layer);
    if (ic_config_validate(&c->model, err)) return -1;
    if (strcmp(c->loops_sampling, "fixed") && strcmp(c->loops_sampling, "poisson"))
        return ic_errf(err, "loops_sampling: expected fixed or poisson, got '%s'", c->loops_sampling);
    if (!strcmp(c->loops_sampling, "poisson") && c->loops_mean > c->loops)
        return ic_errf(err, "loops_mean (%g) exceeds loops (%d), where loops_sampling poisson truncates the draw",
                       c->loops_mean, c->loops);
    ic_task_spec task;
    if (ic_run_config_task(c, c->model.n_dims, &task, NULL, err)) return -1;
    if (strcmp(c->optimizer, "adam") && strcmp(c->optimizer, "adamw"))
        return ic_errf(err, "optimizer: expected adam or adamw, got '%s'", c->optimizer);
    if (strcmp(c->lr_schedule, "constant") && strcmp(c->lr_schedule, "cosine"))
        return ic_errf(err, "lr_schedule: expected constant or cosine, got '%s'", c->lr_schedule);
    ic_precision prec;
    if (ic_precision_parse(c->precision, &prec))
        return ic_errf(err, "precision: expected fp32 or bf16, got '%s'", c->precision);
    if (ic_precision_parse(c->checkpoint_dtype, &prec))
        return ic_errf(err, "checkpoint_dtype: expected fp32 or bf16, got '%s'", c->checkpoint_dtype);
    if (strcmp(c->data_scheme, "per_prompt") && strcmp(c->data_scheme, "stream"))
        return ic_errf(err, "data_scheme: expected per_prompt or stream, got '%s'", c->data_scheme);
    if (c->curriculum_dims_start > c->model.n_dims)
        return ic_errf(err, "curriculum_dims_start (%d) exceeds n_dims (%d)", c->curriculum_dims_start, c->model.n_dims);
    if (c->curriculum_points_start > c->n_points)
        return ic_errf(err, "curriculum_points_start (%d) exceeds n_points (%d)", c->curriculum_points_start, c->n_points);
    if (c->curriculum_loops_start > c->loops)
        return ic_errf(err, "curriculum_loops_start (%d) exceeds loops (%d)", c->curriculum_loops_start, c->loops);
    if (c->curriculum_loops_start && c->curriculum_loops_start < c->loss_loops)
        return ic_errf(err, "curriculum_loops_start (%d) is below loss_loops (%d)", c->curriculum_loops_start, c->loss_loops);
    if (c->n_points > c->model.n_positions)
        return ic_errf(err, "n_points (%d) exceeds n_positions (%d)", c->n_points, c->model.n_positions);
    ic_schedule *s = malloc(sizeof *s);
    if (!s) return ic_errf(err, "out of memory");
    int rc = ic_run_config_schedule(c, s, err);
    free(s);
    return rc;
}
