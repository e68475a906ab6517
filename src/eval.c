#include "eval.h"

#include <math.h>
#include <stdio.h>

#include "fsutil.h"
#include "numout.h"
#include "output.h"
#include "plot.h"

#include <stdlib.h>
#include <string.h>

void ic_squared_errors(const float *pred, const float *ys, int B, int n, double norm, double *sq) {
    for (size_t i = 0; i < (size_t)B * n; i++) {
        double e = (double)pred[i] - (double)ys[i];
        sq[i] = e * e / norm;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int ic_curve_from_errors(const double *sq, int B, int n, int n_boot, ic_rng *rng, ic_curve *out, ic_err *err) {
    memset(out, 0, sizeof *out);
    out->n = n;
    out->mean = calloc((size_t)n, sizeof(double));
    out->lo = calloc((size_t)n, sizeof(double));
    out->hi = calloc((size_t)n, sizeof(double));
    double *boot = malloc(sizeof(double) * (size_t)(n_boot > 0 ? n_boot : 1) * n);
    int *idx = malloc(sizeof(int) * (size_t)B);
    if (!out->mean || !out->lo || !out->hi || !boot || !idx) {
        free(boot); free(idx); ic_curve_free(out);
        return ic_errf(err, "out of memory");
    }
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) out->mean[i] += sq[(size_t)b * n + i];
    for (int i = 0; i < n; i++) out->mean[i] /= B;
    if (n_boot > 0) {
        // resample whole prompts (positions of a prompt stay together)
        for (int r = 0; r < n_boot; r++) {
            for (int b = 0; b < B; b++) idx[b] = (int)ic_rng_below(rng, (uint64_t)B);
            for (int i = 0; i < n; i++) {
                double s = 0.0;
                for (int b = 0; b < B; b++) s += sq[(size_t)idx[b] * n + i];
                boot[(size_t)i * n_boot + r] = s / B;
            }
        }
        for (int i = 0; i < n; i++) {
            double *v = boot + (size_t)i * n_boot;
            qsort(v, (size_t)n_boot, sizeof *v, cmp_double);
            out->lo[i] = v[(int)(0.05 * (n_boot - 1) + 0.5)];
            out->hi[i] = v[(int)(0.95 * (n_boot - 1) + 0.5)];
        }
    } else {
        memcpy(out->lo, out->mean, sizeof(double) * n);
        memcpy(out->hi, out->mean, sizeof(double) * n);
    }
    free(boot);
    free(idx);
    return 0;
}

int ic_eval_prompts(const ic_task_spec *task, uint64_t seed, int B, int n, int d, float **xs, float **ys, ic_err *err) {
    *xs = malloc(sizeof(float) * (size_t)B * n * d);
    *ys = malloc(sizeof(float) * (size_t)B * n);
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    if (!*xs || !*ys || ic_task_sample(task, &rng, B, n, d, *xs, *ys, NULL, err)) {
        if (!*xs || !*ys) ic_errf(err, "out of memory");
        free(*xs);
        free(*ys);
        *xs = *ys = NULL;
        return -1;
    }
    return 0;
}

void ic_curve_free(ic_curve *c) {
    free(c->mean);
    free(c->lo);
    free(c->hi);
    memset(c, 0, sizeof *c);
}

int ic_model_predict_ws(const ic_model *m, ic_workspace *ws, const ic_schedule *s, const float *xs, const float *ys,
                        int B, int n, int chunk, float *pred, ic_err *err) {
    const int d = m->cfg.n_dims;
    if (chunk < 1) chunk = 256;
    for (int b0 = 0; b0 < B; b0 += chunk) {
        int nb = B - b0 < chunk ? B - b0 : chunk;
        if (ic_model_forward(m, ws, s, xs + (size_t)b0 * n * d, ys + (size_t)b0 * n, nb, n, 0, err)) return -1;
        memcpy(pred + (size_t)b0 * n, ic_workspace_preds(ws, -1), sizeof(float) * (size_t)nb * n);
    }
    return 0;
}

/* eval's predictions in the shards sh (kept for the caller's next call):
 * sharded over the threads like a training step. Not ic_model_predict's
 * path: its predictions are bit-identical to a capture's or surgery's
 * forward pass in one workspace, and sharding changes the last bits (BLAS
 * blocks a shard's rows differently from the whole batch's). */
static int predict_chunks(const ic_model *m, ic_shards *sh, ic_precision prec, const ic_schedule *s, const float *xs,
                          const float *ys, int B, int n, int chunk, float *pred, ic_err *err) {
    const int d = m->cfg.n_dims;
    if (chunk < 1) chunk = 256;
    int rc = 0;
    for (int b0 = 0; b0 < B && rc == 0; b0 += chunk) {
        const int nb = B - b0 < chunk ? B - b0 : chunk;
        rc = ic_model_predict_sharded(m, sh, ic_workspace_threads(), prec, s, xs + (size_t)b0 * n * d,
                                      ys + (size_t)b0 * n, nb, n, pred + (size_t)b0 * n, err);
    }
    return rc;
}

int ic_model_predict(const ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n,
                     int chunk, float *pred, ic_err *err) {
    ic_workspace ws;
    ic_workspace_init(&ws);
    const int rc = ic_model_predict_ws(m, &ws, s, xs, ys, B, n, chunk, pred, err);
    ic_workspace_free(&ws);
    return rc;
}

/* One predictor on B prompts of n points (model when bl is NULL), in the
 * shards sh; with halting (model.h) in one workspace instead, whose forward
 * runs only the prompts still going, counting the loops each prompt used.
 * The model's products in precision prec either way. */
static int predict_plain(const ic_model *m, ic_shards *sh, ic_precision prec, const ic_schedule *s,
                         const ic_baseline_spec *bl, const float *xs, const float *ys, int B, int n, int d,
                         const ic_eval_halt *halt, float *pred, ic_err *err) {
    if (bl) return ic_baseline_predict(bl, xs, ys, B, n, d, pred, err);
    if (!halt || halt->tol <= 0) return predict_chunks(m, sh, prec, s, xs, ys, B, n, 256, pred, err);
    ic_workspace ws;
    ic_workspace_init(&ws);
    ic_gemm_set_precision(&ws.gemm, prec);
    ws.halt_tol = halt->tol;
    int rc = 0;
    for (int b0 = 0; b0 < B && !rc; b0 += 256) {
        const int nb = B - b0 < 256 ? B - b0 : 256;
        rc = ic_model_predict_ws(m, &ws, s, xs + (size_t)b0 * n * d, ys + (size_t)b0 * n, nb, n, 256,
                                 pred + (size_t)b0 * n, err);
        for (int b = 0; b < nb && !rc; b++) halt->count[ws.loops_used[b]]++;
    }
    ic_workspace_free(&ws);
    return rc;
}

int ic_eval_predict(const ic_model *m, const ic_schedule *s, const ic_baseline_spec *bl, int per_position,
                    const float *xs, const float *ys, const float *qx, int B, int n, int d, float *pred, ic_err *err) {
    return ic_eval_predict_halt(m, s, bl, per_position, xs, ys, qx, B, n, d, NULL, IC_PREC_FP32, pred, err);
}

int ic_eval_predict_halt(const ic_model *m, const ic_schedule *s, const ic_baseline_spec *bl, int per_position,
                         const float *xs, const float *ys, const float *qx, int B, int n, int d, const ic_eval_halt *halt,
                         ic_precision prec, float *pred, ic_err *err) {
    ic_shards sh = {0};
    if (!per_position) {
        const int rc = predict_plain(m, &sh, prec, s, bl, xs, ys, B, n, d, halt, pred, err);
        ic_shards_free(&sh);
        return rc;
    }
    /* position k: a prompt of k context points and the shifted query */
    float *px = malloc(sizeof(float) * (size_t)B * n * d), *py = malloc(sizeof(float) * (size_t)B * n);
    float *pp = malloc(sizeof(float) * (size_t)B * n);
    int rc = 0;
    if (!px || !py || !pp) rc = ic_errf(err, "out of memory");
    for (int k = 0; k < n && rc == 0; k++) {
        const int len = k + 1;
        for (int b = 0; b < B; b++) {
            memcpy(px + (size_t)b * len * d, xs + (size_t)b * n * d, sizeof(float) * (size_t)k * d);
            memcpy(px + ((size_t)b * len + k) * d, qx + ((size_t)b * n + k) * d, sizeof(float) * d);
            memcpy(py + (size_t)b * len, ys + (size_t)b * n, sizeof(float) * (size_t)k);
            py[(size_t)b * len + k] = 0.0f; /* the query's y is not an input */
        }
        rc = predict_plain(m, &sh, prec, s, bl, px, py, B, len, d, halt, pp, err);
        for (int b = 0; b < B && rc == 0; b++) pred[(size_t)b * n + k] = pp[(size_t)b * len + k];
    }
    free(px);
    free(py);
    free(pp);
    ic_shards_free(&sh);
    return rc;
}

int ic_curves_write(const char *dir, const char *base_in, const char *title, const char *metric,
                    const char *const *labels, const ic_curve *c, int nc, ic_err *err) {
    char name[160], base[96];
    if (nc < 1) return ic_errf(err, "no curves to write");
    const int n = c[0].n;
    snprintf(base, sizeof base, "%s", base_in); /* ':' is not portable in file names */
    for (char *q = base; *q; q++)
        if (*q == ':' || *q == '/') *q = '_';
    ic_table t = {0};
    ic_table_col(&t, IC_COL_INT, NULL, "k");
    for (int i = 0; i < nc; i++) {
        ic_table_col(&t, IC_COL_NUM, NULL, "%s", labels[i]);
        ic_table_col(&t, IC_COL_NUM, NULL, "%s_lo90", labels[i]);
        ic_table_col(&t, IC_COL_NUM, NULL, "%s_hi90", labels[i]);
    }
    ic_cell *row = malloc(sizeof *row * (size_t)(1 + 3 * nc));
    if (!row) {
        ic_table_free(&t);
        return ic_errf(err, "out of memory");
    }
    for (int k = 0; k < n; k++) {
        row[0] = ic_cell_int(k);
        for (int i = 0; i < nc; i++) {
            row[1 + 3 * i] = ic_cell_num(c[i].mean[k]);
            row[2 + 3 * i] = ic_cell_num(c[i].lo[k]);
            row[3 + 3 * i] = ic_cell_num(c[i].hi[k]);
        }
        ic_table_row(&t, row);
    }
    free(row);
    snprintf(name, sizeof name, "%s.csv", base);
    int rc = ic_table_write_csv(&t, dir, name, err);
    ic_table_free(&t);
    if (rc) return -1;
    double *kx = malloc(sizeof(double) * (size_t)n);
    ic_series *s = malloc(sizeof(ic_series) * (size_t)nc);
    if (!kx || !s) {
        free(kx);
        free(s);
        return ic_errf(err, "out of memory");
    }
    for (int k = 0; k < n; k++) kx[k] = k;
    for (int i = 0; i < nc; i++)
        s[i] = (ic_series){.label = labels[i], .x = kx, .y = c[i].mean, .n = n, .lo = c[i].lo, .hi = c[i].hi,
                           .dashed = i > 0};
    ic_plot_opts o = {.title = title, .xlabel = "in-context examples k", .ylabel = metric, .ymin = NAN, .ymax = NAN};
    char path[4096];
    snprintf(name, sizeof name, "%s.svg", base);
    rc = ic_path_join(path, sizeof path, dir, name, err) || ic_plot_lines(path, &o, s, nc, err);
    o.logy = 1;
    snprintf(name, sizeof name, "%s_log.svg", base);
    rc = rc || ic_path_join(path, sizeof path, dir, name, err) || ic_plot_lines(path, &o, s, nc, err);
    free(kx);
    free(s);
    return rc ? -1 : 0;
}
