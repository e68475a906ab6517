/* sweep.c: sweep plans, the state of a sweep's runs, and its summary files (sweep.h). */
#include "sweep.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "numout.h"
#include "output.h"
#include "train.h"

const char *const ic_plan_metric_names[IC_PLAN_METRICS] = {"step", "loss", "excess_loss", "wall_s"};

static const char *const STEP_COMMANDS[] = {"eval", "loops", "surgery", "probe"};
#define RUN_STATUS_FILE "sweep_run.json"

/* ---------------- argument vectors ---------------- */

typedef struct {
    char **v;
    int n, cap;
} strvec;

static int sv_push(strvec *s, const char *x) {
    if (s->n + 1 >= s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        char **v = realloc(s->v, sizeof *v * (size_t)cap);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(x))) return -1;
    s->v[++s->n] = NULL;
    return 0;
}

static void sv_free(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ---------------- the plan ---------------- */

/* a name that is one safe path component */
static int safe_name(const char *s) {
    if (!*s || strlen(s) > 64 || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return 0;
    return 1;
}

/* a JSON value of a config key as the text ic_run_config_set reads */
static int value_text(json_t *v, char *buf, size_t len) {
    if (json_is_string(v)) snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v)) snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(buf, len, "%.17g", json_real_value(v));
    else if (json_is_boolean(v)) snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else return -1;
    return 0;
}

/* Applies a JSON object of config keys to cfg and appends them to argv as
 * --key value. where names it in errors. */
static int apply_keys(json_t *o, const char *where, ic_run_config *cfg, strvec *argv, char *cfg_err, size_t cfg_err_len,
                      ic_err *err) {
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        char val[8192], flag[128];
        if (!ic_run_config_find_key(k) || !strcmp(k, "config"))
            return ic_errf(err, "%s: unknown config key '%s' (see 'iclab help-config')", where, k);
        if (!strcmp(k, "seed") || !strcmp(k, "data_seed"))
            return ic_errf(err, "%s: '%s' is set by the plan's \"seeds\" (and \"data_seed_offset\")", where, k);
        if (value_text(v, val, sizeof val))
            return ic_errf(err, "%s: '%s' must be a number, a string or true/false", where, k);
        ic_err e;
        if (!cfg_err[0] && ic_run_config_set(cfg, k, val, &e)) snprintf(cfg_err, cfg_err_len, "%s: %s", where, e.msg);
        snprintf(flag, sizeof flag, "--%s", k);
        if (sv_push(argv, flag) || sv_push(argv, val)) return ic_errf(err, "out of memory");
    }
    return 0;
}

static int is_object_or_absent(json_t *o) { return !o || json_is_object(o); }

/* the plan's steps */
static int load_steps(json_t *steps, const char *path, ic_plan *p, ic_err *err) {
    if (!steps) return 0;
    if (!json_is_array(steps)) return ic_errf(err, "%s: \"steps\" must be an array", path);
    p->steps = calloc(json_array_size(steps) + 1, sizeof *p->steps);
    if (!p->steps) return ic_errf(err, "out of memory");
    size_t i;
    json_t *s;
    json_array_foreach(steps, i, s) {
        json_t *cmd = json_object_get(s, "command"), *out = json_object_get(s, "out"), *args = json_object_get(s, "args");
        const char *c = json_string_value(cmd);
        int known = 0;
        for (size_t j = 0; c && j < sizeof STEP_COMMANDS / sizeof *STEP_COMMANDS; j++) known |= !strcmp(c, STEP_COMMANDS[j]);
        if (!json_is_object(s) || !known)
            return ic_errf(err, "%s: steps[%zu]: \"command\" must be one of eval, loops, surgery, probe", path, i);
        const char *o = out ? json_string_value(out) : c;
        if (!o || !safe_name(o) || !strcmp(o, RUN_STATUS_FILE))
            return ic_errf(err, "%s: steps[%zu]: \"out\" must be a name of letters, digits, '.', '_', '-'", path, i);
        for (int j = 0; j < p->n_steps; j++)
            if (!strcmp(p->steps[j].out, o)) return ic_errf(err, "%s: steps[%zu]: \"out\" '%s' is used twice", path, i, o);
        const char *const keys[] = {"command", "out", "args"};
        const char *k;
        json_t *v;
        json_object_foreach(s, k, v) {
            int ok = 0;
            for (int j = 0; j < 3; j++) ok |= !strcmp(k, keys[j]);
            if (!ok) return ic_errf(err, "%s: steps[%zu]: unknown entry \"%s\" (command, out, args)", path, i, k);
        }
        if (args && !json_is_array(args)) return ic_errf(err, "%s: steps[%zu]: \"args\" must be an array of strings", path, i);
        ic_plan_step *st = &p->steps[p->n_steps];
        strvec a = {0};
        size_t j;
        json_t *x;
        int bad = 0;
        json_array_foreach(args, j, x) {
            char val[4096];
            if (value_text(x, val, sizeof val) || json_is_boolean(x)) { bad = 1; break; }
            if (!strcmp(val, "--model") || !strcmp(val, "--out")) {
                sv_free(a.v, a.n);
                return ic_errf(err, "%s: steps[%zu]: args may not give %s (the sweep gives the run's)", path, i, val);
            }
            if (sv_push(&a, val)) { sv_free(a.v, a.n); return ic_errf(err, "out of memory"); }
        }
        if (bad) { sv_free(a.v, a.n); return ic_errf(err, "%s: steps[%zu]: \"args\" must be strings or numbers", path, i); }
        if (!a.v) a.v = calloc(1, sizeof *a.v); /* an empty, NULL-terminated list */
        st->argv = a.v;
        st->argc = a.n;
        st->command = strdup(c);
        st->out = strdup(o);
        p->n_steps++;
        if (!st->command || !st->out || !st->argv) return ic_errf(err, "out of memory");
    }
    return 0;
}

/* A run: defaults, config (file or object), overrides, variant, seed, the
 * sweep's keys. Fills run (argv and config, or its error). */
static int make_run(const char *plan_path, const char *cname, json_t *cval, const char *vname, json_t *vval,
                    json_t *overrides, unsigned long long seed, json_t *dso, const ic_plan_opts *opts,
                    ic_plan_run *run, ic_err *err) {
    char name[256], where[512], cfg_err[1100] = "", buf[64];
    if (vname) snprintf(name, sizeof name, "%s/%s/seed%llu", cname, vname, seed);
    else snprintf(name, sizeof name, "%s/seed%llu", cname, seed);
    run->name = strdup(name);
    run->config_name = strdup(cname);
    run->cfg = malloc(sizeof *run->cfg);
    strvec a = {0};
    if (!run->name || !run->config_name || !run->cfg) return ic_errf(err, "out of memory");
    ic_run_config *c = run->cfg;
    ic_run_config_default(c);
    const int def_points = c->n_points;
    c->n_points = 0; /* unset: follows a smaller n_positions, as in `iclab train` (cli_build_config) */
    int rc = -1;
    if (json_is_string(cval)) {
        /* relative to the plan's directory */
        char joined[PATH_MAX + 1], real[PATH_MAX + 1];
        const char *f = json_string_value(cval);
        const char *slash = strrchr(plan_path, '/');
        if (f[0] == '/' || !slash) snprintf(joined, sizeof joined, "%s", f);
        else snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - plan_path), plan_path, f);
        if (!realpath(joined, real)) {
            ic_errf(err, "%s: configs.%s: %s: %s", plan_path, cname, joined, strerror(errno));
            goto done;
        }
        ic_err e;
        if (ic_run_config_load_file(c, real, &e)) snprintf(cfg_err, sizeof cfg_err, "%s", e.msg);
        if (sv_push(&a, "--config") || sv_push(&a, real)) { ic_errf(err, "out of memory"); goto done; }
    } else {
        snprintf(where, sizeof where, "%s: configs.%s", plan_path, cname);
        if (apply_keys(cval, where, c, &a, cfg_err, sizeof cfg_err, err)) goto done;
    }
    snprintf(where, sizeof where, "%s: overrides", plan_path);
    if (overrides && apply_keys(overrides, where, c, &a, cfg_err, sizeof cfg_err, err)) goto done;
    snprintf(where, sizeof where, "%s: variants.%s", plan_path, vname ? vname : "");
    if (vval && apply_keys(vval, where, c, &a, cfg_err, sizeof cfg_err, err)) goto done;
    snprintf(buf, sizeof buf, "%llu", seed);
    c->seed = seed;
    if (sv_push(&a, "--seed") || sv_push(&a, buf)) { ic_errf(err, "out of memory"); goto done; }
    if (dso) {
        c->data_seed = (unsigned long long)json_integer_value(dso) + seed;
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)c->data_seed);
        if (sv_push(&a, "--data_seed") || sv_push(&a, buf)) { ic_errf(err, "out of memory"); goto done; }
    }
    for (int i = 0; i < opts->n_keys; i++) {
        char flag[128];
        ic_err e;
        if (!cfg_err[0] && ic_run_config_set(c, opts->key_name[i], opts->key_val[i], &e))
            snprintf(cfg_err, sizeof cfg_err, "--%s: %s", opts->key_name[i], e.msg);
        snprintf(flag, sizeof flag, "--%s", opts->key_name[i]);
        if (sv_push(&a, flag) || sv_push(&a, opts->key_val[i])) { ic_errf(err, "out of memory"); goto done; }
    }
    if (c->n_points == 0) c->n_points = def_points < c->model.n_positions ? def_points : c->model.n_positions;
    ic_err e;
    if (!cfg_err[0] && ic_run_config_validate(c, &e)) snprintf(cfg_err, sizeof cfg_err, "invalid config: %s", e.msg);
    if (cfg_err[0] && !(run->error = strdup(cfg_err))) { ic_errf(err, "out of memory"); goto done; }
    rc = 0;
done:
    run->argv = a.v;
    run->argc = a.n;
    return rc;
}

/* "1,2,3" into a JSON array of integers */
static json_t *parse_seed_list(const char *s, ic_err *err) {
    json_t *a = json_array();
    const char *p = s;
    while (a && *p) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno || v > (unsigned long long)LLONG_MAX || (*end && *end != ',') || *p == '-') {
            json_decref(a);
            ic_errf(err, "--seeds: expected integers separated by commas, got '%s'", s);
            return NULL;
        }
        json_array_append_new(a, json_integer((json_int_t)v));
        p = *end ? end + 1 : end;
    }
    if (!a) ic_errf(err, "out of memory");
    return a;
}

static int in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == n && !strncmp(p, name, n)) return 1;
        p = c ? c + 1 : p + l;
    }
    return 0;
}

int ic_plan_load(const char *path, const ic_plan_opts *opts, ic_plan *p, ic_err *err) {
    memset(p, 0, sizeof *p);
    json_error_t je;
    json_t *plan = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *seeds = NULL;
    if (!plan) {
        if (je.line < 1) return ic_errf(err, "%s: %s", path, je.text);
        return ic_errf(err, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    }
    int rc = -1;
    const char *const known[] = {"name", "configs", "seeds", "data_seed_offset", "overrides", "variants", "steps"};
    const char *k;
    json_t *v;
    if (!json_is_object(plan)) { ic_errf(err, "%s: a plan is a JSON object", path); goto done; }
    json_object_foreach(plan, k, v) {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++) ok |= !strcmp(k, known[i]);
        if (!ok) {
            ic_errf(err, "%s: unknown entry \"%s\" (name, configs, seeds, data_seed_offset, overrides, variants, steps)",
                    path, k);
            goto done;
        }
    }
    json_t *name = json_object_get(plan, "name"), *configs = json_object_get(plan, "configs");
    json_t *overrides = json_object_get(plan, "overrides"), *variants = json_object_get(plan, "variants");
    json_t *dso = json_object_get(plan, "data_seed_offset");
    if (name && !json_is_string(name)) { ic_errf(err, "%s: \"name\" must be a string", path); goto done; }
    if (!json_is_object(configs) || json_object_size(configs) == 0) {
        ic_errf(err, "%s: \"configs\" must be an object of name: config file or object of keys", path);
        goto done;
    }
    if (!is_object_or_absent(overrides) || !is_object_or_absent(variants)) {
        ic_errf(err, "%s: \"%s\" must be an object", path, is_object_or_absent(overrides) ? "variants" : "overrides");
        goto done;
    }
    if (dso && (!json_is_integer(dso) || json_integer_value(dso) < 0)) {
        ic_errf(err, "%s: \"data_seed_offset\" must be a non-negative integer", path);
        goto done;
    }
    if (opts->seeds) {
        if (!(seeds = parse_seed_list(opts->seeds, err))) goto done;
    } else {
        seeds = json_object_get(plan, "seeds");
        seeds = seeds ? json_incref(seeds) : json_pack("[i]", 0);
    }
    if (!json_is_array(seeds) || json_array_size(seeds) == 0) { ic_errf(err, "%s: \"seeds\" must be a non-empty array", path); goto done; }
    size_t i;
    json_array_foreach(seeds, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            ic_errf(err, "%s: seeds[%zu] must be a non-negative integer", path, i);
            goto done;
        }
        for (size_t j = 0; j < i; j++)
            if (json_integer_value(json_array_get(seeds, j)) == json_integer_value(v)) {
                ic_errf(err, "%s: seed %lld is listed twice", path, (long long)json_integer_value(v));
                goto done;
            }
    }
    json_object_foreach(configs, k, v) {
        if (!safe_name(k)) { ic_errf(err, "%s: configs: '%s' is not a name of letters, digits, '.', '_', '-'", path, k); goto done; }
        if (!json_is_string(v) && !json_is_object(v)) {
            ic_errf(err, "%s: configs.%s must be a config file's path or an object of keys", path, k);
            goto done;
        }
    }
    json_object_foreach(variants, k, v) {
        if (!safe_name(k) || !json_is_object(v)) {
            ic_errf(err, "%s: variants.%s must be a name of letters, digits, '.', '_', '-' with an object of keys", path, k);
            goto done;
        }
    }
    if (opts->only) {
        const char *o = opts->only;
        while (*o) {
            const char *c = strchr(o, ',');
            size_t l = c ? (size_t)(c - o) : strlen(o);
            char one[128];
            snprintf(one, sizeof one, "%.*s", (int)(l < 127 ? l : 127), o);
            if (!json_object_get(configs, one)) { ic_errf(err, "--only: the plan has no config '%s'", one); goto done; }
            o = c ? c + 1 : o + l;
        }
    }
    if (load_steps(json_object_get(plan, "steps"), path, p, err)) goto done;
    const size_t nv = variants && json_object_size(variants) ? json_object_size(variants) : 1;
    const size_t max_runs = json_object_size(configs) * nv * json_array_size(seeds);
    p->runs = calloc(max_runs, sizeof *p->runs);
    if (!p->runs) { ic_errf(err, "out of memory"); goto done; }
    /* configs x variants x seeds, in the plan's order */
    json_t *cval;
    json_object_foreach(configs, k, cval) {
        if (opts->only && !in_list(opts->only, k)) continue;
        void *it = variants ? json_object_iter(variants) : NULL;
        do {
            const char *vname = it ? json_object_iter_key(it) : NULL;
            json_t *vval = it ? json_object_iter_value(it) : NULL;
            json_array_foreach(seeds, i, v) {
                if (make_run(path, k, cval, vname, vval, overrides, (unsigned long long)json_integer_value(v), dso, opts,
                             &p->runs[p->n_runs++], err))
                    goto done;
            }
            it = it ? json_object_iter_next(variants, it) : NULL;
        } while (it);
    }
    p->plan_json = json_dumps(plan, JSON_COMPACT | JSON_PRESERVE_ORDER);
    p->name = strdup(name ? json_string_value(name) : "");
    if (!p->plan_json || !p->name) { ic_errf(err, "out of memory"); goto done; }
    rc = 0;
done:
    json_decref(seeds);
    json_decref(plan);
    if (rc) ic_plan_free(p);
    return rc;
}

void ic_plan_free(ic_plan *p) {
    for (int i = 0; i < p->n_runs; i++) {
        ic_plan_run *r = &p->runs[i];
        free(r->name);
        free(r->config_name);
        free(r->error);
        free(r->cfg);
        sv_free(r->argv, r->argc);
    }
    for (int i = 0; i < p->n_steps; i++) {
        free(p->steps[i].command);
        free(p->steps[i].out);
        sv_free(p->steps[i].argv, p->steps[i].argc);
    }
    free(p->runs);
    free(p->steps);
    free(p->plan_json);
    free(p->name);
    memset(p, 0, sizeof *p);
}

/* ---------------- state of a run ---------------- */

const char *ic_plan_status_name(ic_plan_status s) {
    return s == IC_PLAN_DONE ? "done" : s == IC_PLAN_FAILED ? "failed" : "pending";
}

static void read_metrics(const char *run_dir, ic_plan_result *r) {
    double v[10];
    ic_err ignored;
    for (int i = 0; i < IC_PLAN_METRICS; i++) r->metrics[i] = NAN;
    if (ic_train_dir_last_metrics(run_dir, v, &ignored)) return;
    r->metrics[0] = v[0];
    r->metrics[1] = v[1];
    r->metrics[2] = v[2];
    r->metrics[3] = v[9];
}

static json_t *result_json(const ic_plan_result *r) {
    json_t *m = json_object();
    for (int i = 0; m && i < IC_PLAN_METRICS; i++) /* the step is a count */
        json_object_set_new(m, ic_plan_metric_names[i], i == 0 && isfinite(r->metrics[0])
                                                             ? json_integer((json_int_t)r->metrics[0])
                                                             : ic_json_num(r->metrics[i]));
    return json_pack("{s:s, s:o, s:o}", "status", ic_plan_status_name(r->status), "error",
                     r->status == IC_PLAN_FAILED ? json_string(r->error) : json_null(), "metrics", m ? m : json_null());
}

char *ic_plan_result_to_json(const ic_plan_result *r) {
    json_t *o = result_json(r);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

int ic_plan_result_from_json(const char *text, ic_plan_result *r, ic_err *err) {
    json_t *o = json_loads(text, 0, NULL);
    const char *st = json_string_value(json_object_get(o, "status"));
    json_t *m = json_object_get(o, "metrics");
    memset(r, 0, sizeof *r);
    if (!st || !json_is_object(m)) {
        json_decref(o);
        return ic_errf(err, "malformed run result");
    }
    r->status = !strcmp(st, "done") ? IC_PLAN_DONE : !strcmp(st, "failed") ? IC_PLAN_FAILED : IC_PLAN_PENDING;
    const char *e = json_string_value(json_object_get(o, "error"));
    snprintf(r->error, sizeof r->error, "%s", e ? e : "");
    for (int i = 0; i < IC_PLAN_METRICS; i++) {
        json_t *x = json_object_get(m, ic_plan_metric_names[i]);
        r->metrics[i] = json_is_number(x) ? json_number_value(x) : NAN;
    }
    json_decref(o);
    return 0;
}

void ic_plan_run_state(const char *dir, const ic_plan *p, int i, ic_plan_result *r) {
    char run_dir[4096], path[4096], *text = NULL;
    size_t len;
    ic_err ignored;
    memset(r, 0, sizeof *r);
    r->status = IC_PLAN_PENDING;
    if (ic_path_join(run_dir, sizeof run_dir, dir, p->runs[i].name, &ignored)) return;
    read_metrics(run_dir, r);
    if (ic_path_join(path, sizeof path, run_dir, RUN_STATUS_FILE, &ignored) ||
        ic_read_file(path, &text, &len, 1 << 20, &ignored))
        return;
    ic_plan_result rec;
    if (ic_plan_result_from_json(text, &rec, &ignored) == 0) {
        r->status = rec.status;
        memcpy(r->error, rec.error, sizeof r->error);
    }
    free(text);
    /* done only with every step's output (a step added to the plan since makes it pending) */
    for (int s = 0; r->status == IC_PLAN_DONE && s < p->n_steps; s++)
        if (ic_path_join(path, sizeof path, run_dir, p->steps[s].out, &ignored) || !ic_file_exists(path))
            r->status = IC_PLAN_PENDING;
}

int ic_plan_record(const char *dir, const ic_plan *p, int i, ic_plan_result *r, ic_err *err) {
    char run_dir[4096], path[4096];
    if (ic_path_join(run_dir, sizeof run_dir, dir, p->runs[i].name, err) || ic_mkdirs(run_dir, err) ||
        ic_path_join(path, sizeof path, run_dir, RUN_STATUS_FILE, err))
        return -1;
    read_metrics(run_dir, r);
    json_t *o = result_json(r);
    if (o) json_object_set_new(o, "name", json_string(p->runs[i].name));
    char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    if (!s) return ic_errf(err, "out of memory");
    int rc = ic_write_file_atomic(path, s, strlen(s), err);
    free(s);
    return rc;
}

/* ---------------- summary files ---------------- */

int ic_plan_write_summary(const char *dir, const ic_plan *p, const ic_plan_result *r, ic_err *err) {
    json_t *runs = json_array(), *plan = json_loads(p->plan_json, 0, NULL);
    int counts[3] = {0, 0, 0};
    ic_sbuf csv = {0};
    int rc = -1;
    if (!runs || !plan) { ic_errf(err, "out of memory"); goto done; }
    ic_sb_puts(&csv, "name,dir,status,step,loss,excess_loss,wall_s,error\n");
    for (int i = 0; i < p->n_runs; i++) {
        json_t *o = result_json(&r[i]);
        if (!o) { ic_errf(err, "out of memory"); goto done; }
        /* name and dir first: sweep.json's documented order */
        json_t *row = json_pack("{s:s, s:s}", "name", p->runs[i].name, "dir", p->runs[i].name);
        if (!row || json_object_update(row, o)) { json_decref(o); json_decref(row); ic_errf(err, "out of memory"); goto done; }
        json_decref(o);
        json_array_append_new(runs, row);
        counts[r[i].status]++;
        ic_csv_field(&csv, p->runs[i].name); /* name, and dir (the same relative path) */
        ic_sb_puts(&csv, ",");
        ic_csv_field(&csv, p->runs[i].name);
        ic_sb_printf(&csv, ",%s,%s,%s,%s,%s,", ic_plan_status_name(r[i].status), ic_csv_num(r[i].metrics[0], 10).s,
                     ic_csv_num(r[i].metrics[1], 8).s, ic_csv_num(r[i].metrics[2], 8).s,
                     ic_csv_num(r[i].metrics[3], 6).s);
        ic_csv_field(&csv, r[i].status == IC_PLAN_FAILED ? r[i].error : "");
        ic_sb_puts(&csv, "\n");
    }
    json_t *top = json_pack("{s:O, s:s, s:O, s:{s:i, s:i, s:i}}", "plan", plan, "name", p->name, "runs", runs, "counts",
                            "done", counts[IC_PLAN_DONE], "failed", counts[IC_PLAN_FAILED], "pending",
                            counts[IC_PLAN_PENDING]);
    char *js = top ? json_dumps(top, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(top);
    char path[4096];
    if (!js) { ic_errf(err, "out of memory"); goto done; }
    rc = ic_path_join(path, sizeof path, dir, "sweep.json", err) || ic_write_file_atomic(path, js, strlen(js), err) ||
                 ic_out_sbuf(dir, "summary.csv", &csv, err)
             ? -1
             : 0;
    free(js);
done:
    json_decref(runs);
    json_decref(plan);
    ic_sb_free(&csv);
    return rc;
}
