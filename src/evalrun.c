/* evalrun.c: settings x predictors (evalrun.h). */
#include "evalrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "numout.h"

const char *ic_eval_default_baselines(ic_task_kind k) {
    switch (k) {
    case IC_TASK_SPARSE_LINEAR: return "least_squares,averaging,knn:3,lasso:0.01";
    case IC_TASK_RELU2NN: return "least_squares,knn:3,relu_net";
    case IC_TASK_DECISION_TREE: return "least_squares,knn:3,tree:4,tree";
    default: return "least_squares,averaging,knn:3";
    }
}

/* Comma-separated items of text into out (one string each, cut at 127
 * characters); -1 when there are more than max. */
static int split(const char *text, char (*out)[128], int max) {
    int n = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len) {
            if (n == max) return -1;
            snprintf(out[n++], 128, "%.*s", (int)len, p);
        }
        p += len;
        if (*p == ',') p++;
    }
    return n;
}

int ic_eval_predictors(const char *baselines, ic_task_kind kind, ic_predictor *out, int *np, ic_err *err) {
    char items[IC_EVAL_MAX_PRED][128];
    memset(out, 0, sizeof *out * IC_EVAL_MAX_PRED);
    snprintf(out[0].label, sizeof out[0].label, "transformer");
    out[0].is_model = 1;
    *np = 1;
    int nbl = split(baselines ? baselines : ic_eval_default_baselines(kind), items, IC_EVAL_MAX_PRED - 1);
    if (nbl < 0) return ic_errf(err, "at most %d", IC_EVAL_MAX_PRED - 1);
    for (int i = 0; i < nbl; i++) {
        if (ic_baseline_parse(items[i], &out[*np].bl, err)) return -1;
        ic_baseline_label(&out[*np].bl, out[*np].label, sizeof out[*np].label);
        (*np)++;
    }
    return 0;
}

int ic_eval_settings(const char *text, ic_shift *out, int *n, ic_err *err) {
    if (!strcmp(text, "all"))
        text = "standard,noisy:1,scale_x:0.333333,scale_x:0.5,scale_x:2,scale_x:3,scale_y:0.333333,scale_y:0.5,"
               "scale_y:2,scale_y:3,skewed,half_subspace,random_quadrants,orthogonal_query,overlapping_query";
    char(*it)[128] = malloc(sizeof *it * (IC_EVAL_MAX_SETTINGS + 1));
    if (!it) return ic_errf(err, "out of memory");
    *n = split(text, it, IC_EVAL_MAX_SETTINGS);
    int rc = 0;
    if (*n < 1) rc = ic_errf(err, "give 1..%d settings", IC_EVAL_MAX_SETTINGS);
    for (int i = 0; i < *n && rc == 0; i++) rc = ic_shift_parse(it[i], &out[i], err);
    free(it);
    return rc;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ic_eval_report_free(ic_eval_report *r) {
    if (r->curves)
        for (int i = 0; i < r->nset * r->np; i++) ic_curve_free(&r->curves[i]);
    free(r->curves);
    free(r->seconds);
    free(r->loops_count);
    free(r->label);
    free(r->per_position);
    free(r->pred);
    memset(r, 0, sizeof *r);
}

int ic_eval_run(ic_model *m, const ic_schedule *s, const ic_task_spec *task, double norm, const ic_eval_spec *spec,
                ic_progress_fn progress, void *pctx, ic_eval_report *r, ic_err *err) {
    memset(r, 0, sizeof *r);
    if (ic_precision_check(spec->precision, spec->cpu, err)) return -1;
    const int d = m->cfg.n_dims, B = spec->file ? spec->file->B : spec->B, n = spec->file ? spec->file->n : spec->n;
    const int nset = spec->file ? 1 : spec->nset, np = spec->np;
    r->nset = nset;
    r->np = np;
    r->B = B;
    r->n = n;
    r->d = d;
    r->norm = norm;
    r->metric = task->kind == IC_TASK_SPARSE_LINEAR ? "squared error / s" : "squared error / d";
    r->label = calloc((size_t)nset, sizeof *r->label);
    r->per_position = calloc((size_t)nset, sizeof *r->per_position);
    r->pred = malloc(sizeof *r->pred * (size_t)np);
    r->curves = calloc((size_t)nset * np, sizeof *r->curves);
    r->seconds = calloc((size_t)nset * np, sizeof *r->seconds);
    r->halt_tol = spec->halt_tol > 0 && s ? spec->halt_tol : 0;
    r->precision = spec->precision;
    r->L = s ? s->loops : 1;
    r->loops_count = calloc((size_t)nset * (r->L + 1), sizeof *r->loops_count);
    float *xs = malloc(sizeof(float) * (size_t)B * n * d), *ys = malloc(sizeof(float) * (size_t)B * n);
    float *qx = malloc(sizeof(float) * (size_t)B * n * d), *qy = malloc(sizeof(float) * (size_t)B * n);
    float *pred = malloc(sizeof(float) * (size_t)B * n);
    double *sq = malloc(sizeof(double) * (size_t)B * n);
    int rc = -1;
    if (!r->label || !r->per_position || !r->pred || !r->curves || !r->seconds || !r->loops_count || !xs || !ys ||
        !qx || !qy || !pred || !sq) {
        ic_errf(err, "out of memory");
        goto done;
    }
    memcpy(r->pred, spec->pred, sizeof *r->pred * (size_t)np);
    for (int si = 0; si < nset; si++) {
        char *label = r->label[si];
        if (spec->file) {
            snprintf(label, sizeof r->label[si], "file");
            memcpy(xs, spec->file->xs, sizeof(float) * (size_t)B * n * d);
            memcpy(ys, spec->file->ys, sizeof(float) * (size_t)B * n);
        } else {
            ic_shift_label(&spec->shifts[si], label, sizeof r->label[si]);
            r->per_position[si] = ic_shift_is_per_position(&spec->shifts[si]);
            ic_rng rng;
            ic_rng_seed(&rng, spec->seed + 7919u * (uint64_t)si);
            if (ic_shift_sample(task, &spec->shifts[si], &rng, B, n, xs, ys, qx, qy, err)) {
                ic_err_prefix(err, "%s", label);
                goto done;
            }
        }
        const float *targets = r->per_position[si] ? qy : ys;
        for (int i = 0; i < np; i++) {
            if (progress) progress(pctx, label, i, np);
            const ic_predictor *p = &spec->pred[i];
            double t0 = now_s();
            const ic_eval_halt halt = {r->halt_tol, r->loops_count + (size_t)si * (r->L + 1)};
            if (ic_eval_predict_halt(m, s, p->is_model ? NULL : &p->bl, r->per_position[si], xs, ys, qx, B, n, d,
                                     p->is_model ? &halt : NULL, spec->precision, pred, err)) {
                ic_err_prefix(err, "%s, %s", label, p->label);
                goto done;
            }
            r->seconds[si * np + i] = now_s() - t0;
            ic_squared_errors(pred, targets, B, n, norm, sq);
            ic_rng brng;
            ic_rng_seed(&brng, spec->seed ^ 0xB007u);
            if (ic_curve_from_errors(sq, B, n, spec->n_boot, &brng, &r->curves[si * np + i], err)) goto done;
        }
        if (progress) progress(pctx, label, np, np);
    }
    rc = 0;
done:
    free(xs);
    free(ys);
    free(qx);
    free(qy);
    free(pred);
    free(sq);
    if (rc) ic_eval_report_free(r);
    return rc;
}

/* Halting: the loops the model's predictions of setting si used. */
static json_t *loops_used_json(const ic_eval_report *r, int si) {
    const long *c = r->loops_count + (size_t)si * (r->L + 1);
    long total = 0;
    double sum = 0;
    int lo = 0, hi = 0;
    json_t *dist = json_array();
    for (int t = 1; t <= r->L; t++)
        if (c[t]) {
            total += c[t];
            sum += (double)t * c[t];
            if (!lo) lo = t;
            hi = t;
            json_array_append_new(dist, json_pack("{s:i,s:I}", "loops", t, "predictions", (json_int_t)c[t]));
        }
    return json_pack("{s:o,s:o,s:i,s:i,s:o}", "tol", ic_json_num(r->halt_tol), "mean",
                     ic_json_num(total ? sum / total : NAN), "min", lo, "max", hi, "distribution", dist);
}

int ic_eval_write(const char *dir, const ic_eval_report *r, const ic_meta *meta, ic_err *err) {
    const int np = r->np, n = r->n;
    json_t *root = json_object(), *jsettings = json_object();
    const char *labels[IC_EVAL_MAX_PRED];
    int rc = -1;
    if (!root || !jsettings) {
        json_decref(jsettings);
        ic_errf(err, "out of memory");
        goto done;
    }
    for (int i = 0; i < np; i++) labels[i] = r->pred[i].label; /* the model comes first: drawn solid */
    for (int si = 0; si < r->nset; si++) {
        json_t *jpreds = json_object();
        for (int i = 0; i < np; i++) {
            const ic_curve *c = &r->curves[si * np + i];
            const double secs = r->seconds[si * np + i];
            /* a diverged predictor's NaN/Inf positions are null, in place (numout.h) */
            json_object_set_new(jpreds, labels[i],
                                json_pack("{s:o,s:o,s:o,s:o,s:o}", "mean", ic_json_nums(c->mean, n), "lo90",
                                          ic_json_nums(c->lo, n), "hi90", ic_json_nums(c->hi, n), "seconds",
                                          ic_json_num(secs), "prompts_per_s", ic_json_num(secs > 0 ? r->B / secs : 0.0)));
        }
        for (int i = 0; i < np && r->halt_tol > 0; i++)
            if (r->pred[i].is_model) json_object_set_new(json_object_get(jpreds, labels[i]), "loops_used", loops_used_json(r, si));
        json_object_set_new(jsettings, r->label[si], jpreds);
        char title[200];
        snprintf(title, sizeof title, "%s (d = %d)", r->label[si], r->d);
        if (ic_curves_write(dir, r->label[si], title, r->metric, labels, &r->curves[si * np], np, err)) {
            json_decref(jsettings);
            goto done;
        }
    }
    /* the task spec is the one before each setting's shift */
    if (ic_meta_put(root, meta, "model,task,task_spec,n_dims,n_points,prompts,seed,schedule,loops", err)) {
        json_decref(jsettings);
        goto done;
    }
    json_object_set_new(root, "precision", json_string(ic_precision_name(r->precision))); /* the model's products */
    json_object_set_new(root, "metric", json_string(r->metric));
    json_object_set_new(root, "interval", json_string("percentile bootstrap over prompts, 90%"));
    json_object_set_new(root, "settings", jsettings);
    if (ic_out_json(dir, "results.json", root, err)) goto done;
    rc = 0;
done:
    json_decref(root);
    return rc;
}
