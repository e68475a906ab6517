/* loops.c: error and fixed-point measure per loop (loops.h). */
#include "loops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "numout.h"
#include "plot.h"

int ic_loops_default_max(int trained) { return 4 * trained > 20 ? 4 * trained : 20; }

void ic_loops_report_free(ic_loops_report *r) {
    free(r->err);
    free(r->err_k);
    free(r->fixed_point);
    free(r->loops_used);
    memset(r, 0, sizeof *r);
}

int ic_loops_run(const ic_model *m, const ic_schedule *s, int L, const float *xs, const float *ys, int B, int n, int chunk,
                 ic_progress_fn progress, void *pctx, ic_loops_report *r, ic_err *err) {
    return ic_loops_run_halting(m, s, L, 0.0, xs, ys, B, n, chunk, progress, pctx, r, err);
}

int ic_loops_run_halting(const ic_model *m, const ic_schedule *s, int L, double halt_tol, const float *xs,
                         const float *ys, int B, int n, int chunk, ic_progress_fn progress, void *pctx,
                         ic_loops_report *r, ic_err *err) {
    memset(r, 0, sizeof *r);
    const int d = m->cfg.n_dims;
    if (L < 1 || B < 1 || n < 1 || chunk < 1) return ic_errf(err, "loops: need L, prompts, points and chunk >= 1");
    if (!(halt_tol >= 0)) return ic_errf(err, "loops: the halting tolerance must be >= 0 (got %g)", halt_tol);
    r->halt_tol = halt_tol;
    r->L = L;
    r->trained = s->loops;
    r->B = B;
    r->n = n;
    r->d = d;
    r->ks[0] = d / 2;
    r->ks[1] = d;
    r->ks[2] = 2 * d;
    ic_schedule *ls = malloc(sizeof *ls);
    ic_workspace ws;
    ic_workspace_init(&ws);
    double *num = calloc((size_t)L, sizeof(double)), *den = calloc((size_t)L, sizeof(double));
    r->err = calloc((size_t)L, sizeof(double));
    r->err_k = calloc((size_t)L * 3, sizeof(double));
    r->fixed_point = calloc((size_t)L, sizeof(double));
    r->loops_used = calloc((size_t)B, sizeof(int));
    ws.halt_tol = halt_tol;
    int rc = -1;
    if (!ls || !num || !den || !r->err || !r->err_k || !r->fixed_point || !r->loops_used) {
        ic_errf(err, "out of memory");
        goto done;
    }
    *ls = *s;
    ls->loops = L;
    ls->loss_loops = 1;
    ls->grad_loops = 0;
    if (progress) progress(pctx, "prompts", 0, B);
    for (int b0 = 0; b0 < B; b0 += chunk) {
        const int nb = B - b0 < chunk ? B - b0 : chunk;
        const float *y = ys + (size_t)b0 * n;
        if (ic_model_forward(m, &ws, ls, xs + (size_t)b0 * n * d, y, nb, n, 0, err)) goto done;
        memcpy(r->loops_used + b0, ws.loops_used, sizeof(int) * (size_t)nb);
        for (int t = 0; t < L; t++) {
            const float *p = ic_workspace_preds(&ws, t);
            for (int b = 0; b < nb; b++)
                for (int i = 0; i < n; i++) {
                    double e = (double)p[(size_t)b * n + i] - y[(size_t)b * n + i];
                    r->err[t] += e * e / d / ((double)B * n);
                    for (int j = 0; j < 3; j++)
                        if (i == r->ks[j]) r->err_k[(size_t)t * 3 + j] += e * e / d / B;
                }
            /* sums, not the chunk's ratio: a mean of chunk ratios would depend on the chunk size */
            num[t] += ws.loop_delta_num[t];
            den[t] += ws.loop_delta_den[t];
        }
        if (progress) progress(pctx, "prompts", b0 + nb, B);
    }
    for (int t = 0; t < L; t++) {
        r->fixed_point[t] = t > 0 && den[t] > 0 ? sqrt(num[t] / den[t]) : NAN;
        for (int j = 0; j < 3; j++)
            if (r->ks[j] >= n) r->err_k[(size_t)t * 3 + j] = NAN;
    }
    rc = 0;
done:
    ic_workspace_free(&ws);
    free(ls);
    free(num);
    free(den);
    if (rc) ic_loops_report_free(r);
    return rc;
}

/* Halting: loops_used.csv (the distribution of the loops used) and the
 * summary in loops.json's "halting". */
static int write_halting(const char *dir, const ic_loops_report *r, json_t *root, ic_err *err) {
    int *count = calloc((size_t)r->L + 1, sizeof(int));
    if (!count) return ic_errf(err, "out of memory");
    double sum = 0;
    int lo = r->L, hi = 0;
    for (int b = 0; b < r->B; b++) {
        const int u = r->loops_used[b];
        count[u]++;
        sum += u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    ic_table t = {0};
    ic_table_col(&t, IC_COL_INT, "loops", "loops");
    ic_table_col(&t, IC_COL_INT, "prompts", "prompts");
    for (int u = 1; u <= r->L; u++)
        if (count[u]) {
            const ic_cell row[2] = {ic_cell_int(u), ic_cell_int(count[u])};
            ic_table_row(&t, row);
        }
    int rc = ic_table_write_csv(&t, dir, "loops_used.csv", err);
    json_t *h = json_object();
    if (!rc && h) {
        json_object_set_new(h, "tol", ic_json_num(r->halt_tol));
        json_object_set_new(h, "definition",
                            json_string("each prompt stops at the first loop t >= 2 whose own |Y_{t+1} - Y_t| / |Y_t| "
                                        "is below tol and keeps that loop's prediction (err of loop t: predictions "
                                        "after at most t loops)"));
        json_object_set_new(h, "mean_loops", ic_json_num(sum / r->B));
        json_object_set_new(h, "min_loops", json_integer(lo));
        json_object_set_new(h, "max_loops", json_integer(hi));
        json_object_set_new(h, "err_at_halt", ic_json_num(r->err[r->L - 1]));
        json_object_set_new(h, "loops_used", ic_table_json(&t));
        json_object_set_new(root, "halting", h);
    } else if (!rc) {
        rc = ic_errf(err, "out of memory");
    }
    ic_table_free(&t);
    free(count);
    return rc;
}

int ic_loops_write(const char *dir, const ic_loops_report *r, const ic_meta *meta, ic_err *err) {
    const int L = r->L, n = r->n;
    ic_table t = {0};
    json_t *root = NULL;
    double *lx = malloc(sizeof(double) * (size_t)L), *ek[3];
    for (int j = 0; j < 3; j++) ek[j] = malloc(sizeof(double) * (size_t)L);
    int rc = -1;
    if (!lx || !ek[0] || !ek[1] || !ek[2]) {
        ic_errf(err, "out of memory");
        goto done;
    }
    ic_table_col(&t, IC_COL_INT, "loop", "loop");
    ic_table_col(&t, IC_COL_NUM, "err", "err_all_positions");
    for (int j = 0; j < 3; j++) ic_table_col(&t, IC_COL_NUM, NULL, "err_k%d", r->ks[j]);
    ic_table_col(&t, IC_COL_NUM, "fixed_point", "fixed_point");
    for (int l = 0; l < L; l++) {
        /* undefined (loop 1's fixed point, k past the prompt, a NaN model): empty / null (numout.h) */
        const ic_cell row[6] = {ic_cell_int(l + 1), ic_cell_num(r->err[l]), ic_cell_num(r->err_k[(size_t)l * 3]),
                                ic_cell_num(r->err_k[(size_t)l * 3 + 1]), ic_cell_num(r->err_k[(size_t)l * 3 + 2]),
                                ic_cell_num(r->fixed_point[l])};
        ic_table_row(&t, row);
    }
    if (ic_table_write_csv(&t, dir, "loops.csv", err)) goto done;
    root = json_object();
    if (!root) {
        ic_errf(err, "out of memory");
        goto done;
    }
    if (ic_meta_put(root, meta, "model", err)) goto done;
    json_object_set_new(root, "trained_loops", json_integer(r->trained));
    if (ic_meta_put(root, meta, "task,task_spec,prompts,n_points", err)) goto done;
    json_object_set_new(root, "fixed_point_definition",
                        json_string("|Y_{t+1} - Y_t|_F / |Y_t|_F over all prompts (independent of --batch_size); null = "
                                    "undefined (loop 1)"));
    json_object_set_new(root, "loops", ic_table_json(&t));
    if (r->halt_tol > 0 && write_halting(dir, r, root, err)) goto done;
    if (ic_out_json(dir, "loops.json", root, err)) goto done;
    for (int l = 0; l < L; l++) {
        lx[l] = l + 1;
        for (int j = 0; j < 3; j++) ek[j][l] = r->err_k[(size_t)l * 3 + j];
    }
    char lab[3][32], title[160], path[4096];
    ic_series ser[4];
    int ns = 0;
    ser[ns++] = (ic_series){.label = "all positions", .x = lx, .y = r->err, .n = L};
    for (int j = 0; j < 3; j++)
        if (r->ks[j] < n) {
            snprintf(lab[j], sizeof lab[j], "k = %d", r->ks[j]);
            ser[ns++] = (ic_series){.label = lab[j], .x = lx, .y = ek[j], .n = L, .dashed = 1};
        }
    snprintf(title, sizeof title, "Error per loop (trained with %d loop%s)", r->trained, r->trained > 1 ? "s" : "");
    ic_plot_opts o = {.title = title, .xlabel = "loops", .ylabel = "squared error / d", .logy = 1, .ymin = NAN, .ymax = NAN};
    if (ic_path_join(path, sizeof path, dir, "loops_error.svg", err) || ic_plot_lines(path, &o, ser, ns, err)) goto done;
    ic_series fp = {.label = "|Y(t+1) - Y(t)| / |Y(t)|", .x = lx, .y = r->fixed_point, .n = L};
    ic_plot_opts o2 = {.title = "Fixed-point measure per loop", .xlabel = "loops", .ylabel = "relative change", .logy = 1,
                       .ymin = NAN, .ymax = NAN};
    if (ic_path_join(path, sizeof path, dir, "loops_fixed_point.svg", err) || ic_plot_lines(path, &o2, &fp, 1, err))
        goto done;
    rc = 0;
done:
    json_decref(root);
    ic_table_free(&t);
    free(lx);
    for (int j = 0; j < 3; j++) free(ek[j]);
    return rc;
}
