/* compare.c: models on the same prompts (compare.h). */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "eval.h"
#include "fsutil.h"
#include "numout.h"
#include "output.h"
#include "plot.h"

int ic_compare_begin(ic_compare *c, const ic_task_spec *task, int d, const ic_surgery_opts *o, uint64_t seed, int nm,
                     ic_err *err) {
    memset(c, 0, sizeof *c);
    if (nm < 1 || nm > IC_COMPARE_MAX) return ic_errf(err, "compare: 1..%d models, not %d", IC_COMPARE_MAX, nm);
    c->nm = nm;
    c->d = d;
    c->seed = seed;
    c->o = *o;
    c->task = *task;
    c->o.task = &c->task;
    const int B = o->B, n = o->n;
    c->preds = malloc(sizeof(float) * (size_t)B * n * nm);
    if (!c->preds) {
        ic_compare_free(c);
        return ic_errf(err, "out of memory");
    }
    if (ic_eval_prompts(&c->task, seed, B, n, d, &c->xs, &c->ys, err)) {
        ic_compare_free(c);
        return -1;
    }
    return 0;
}

int ic_compare_add(ic_compare *c, int i, ic_model *m, const ic_schedule *s, const char *path, const char *label,
                   ic_err *err) {
    const int B = c->o.B, n = c->o.n;
    if (i < 0 || i >= c->nm) return ic_errf(err, "compare: model %d of %d", i, c->nm);
    if (m->cfg.n_dims != c->d || m->cfg.n_positions < n)
        return ic_errf(err, "%s: needs n_dims %d and at least %d positions (has %d and %d)", path, c->d, n, m->cfg.n_dims,
                       m->cfg.n_positions);
    c->paths[i] = path;
    c->labels[i] = label;
    c->loops[i] = s->loops;
    float *p = c->preds + (size_t)i * B * n;
    if (ic_model_predict(m, s, c->xs, c->ys, B, n, c->o.chunk, p, err)) return ic_err_prefix(err, "%s", path);
    ic_surgery_results_free(&c->res[i], 1);
    return ic_paired_stats(p, i ? c->preds : NULL, c->ys, &c->o, &c->res[i], err);
}

int ic_compare_write(const char *dir, const ic_compare *c, ic_err *err) {
    const ic_surgery_opts *o = &c->o;
    const int n = o->n, nm = c->nm;
    ic_table t = {0};
    json_t *root = json_object(), *arr = json_array();
    ic_cell *cells = malloc(sizeof *cells * (size_t)(3 + 5 * o->nk));
    double *px = malloc(sizeof(double) * (size_t)n);
    int rc = -1;
    if (!root || !arr || !cells || !px) {
        json_decref(arr);
        ic_errf(err, "out of memory");
        goto done;
    }
    ic_table_col(&t, IC_COL_QUOTED, NULL, "model");
    ic_table_col(&t, IC_COL_QUOTED, NULL, "label");
    ic_paired_table_cols(&t, o);
    ic_table_col(&t, IC_COL_NUM, NULL, "err_all");
    for (int i = 0; i < nm; i++) {
        const ic_variant_result *r = &c->res[i];
        int k = 0;
        cells[k++] = ic_cell_str(c->paths[i]);
        cells[k++] = ic_cell_str(c->labels[i]);
        k += ic_paired_table_cells(cells + k, r, o);
        cells[k++] = ic_cell_num(r->err_all);
        ic_table_row(&t, cells);
        /* a NaN/Inf value (a diverged model) is empty / null, never dropped (numout.h) */
        json_array_append_new(arr, json_pack("{s:s,s:s,s:i,s:o,s:o,s:o}", "model", c->paths[i], "label", c->labels[i],
                                             "loops", c->loops[i], "at_k",
                                             ic_paired_at_k_json(r, o), "err_all_positions", ic_json_num(r->err_all),
                                             "curve", ic_curve_json(&r->curve)));
    }
    const ic_meta meta = {.task = &c->task, .n = n, .prompts = o->B, .seed = c->seed};
    if (ic_meta_put(root, &meta, "prompts,n_points,task_spec,seed", err)) {
        json_decref(arr);
        goto done;
    }
    json_object_set_new(root, "reference", json_string(c->labels[0]));
    json_object_set_new(root, "ratio_definition",
                        json_string("mean error of the model / mean error of the reference at k, same prompts; interval: "
                                    "paired percentile bootstrap over prompts, 90%; null = undefined"));
    json_object_set_new(root, "models", arr);
    if (ic_out_json(dir, "compare.json", root, err) || ic_table_write_csv(&t, dir, "compare.csv", err)) goto done;
    ic_series ser[IC_COMPARE_MAX];
    for (int k = 0; k < n; k++) px[k] = k;
    for (int i = 0; i < nm; i++)
        ser[i] = (ic_series){.label = c->labels[i], .x = px, .y = c->res[i].curve.mean, .n = n, .lo = c->res[i].curve.lo,
                             .hi = c->res[i].curve.hi};
    ic_plot_opts po = ic_plot_default_opts();
    po.title = "In-context error on the same prompts (90% bootstrap bands)";
    po.xlabel = "in-context examples k";
    po.ylabel = o->norm == c->d ? "squared error / d" : "squared error / s";
    po.logy = 1;
    char path[4096];
    if (ic_path_join(path, sizeof path, dir, "compare.svg", err) || ic_plot_lines(path, &po, ser, nm, err)) goto done;
    rc = 0;
done:
    json_decref(root);
    ic_table_free(&t);
    free(cells);
    free(px);
    return rc;
}

void ic_compare_free(ic_compare *c) {
    ic_surgery_results_free(c->res, IC_COMPARE_MAX);
    free(c->xs);
    free(c->ys);
    free(c->preds);
    memset(c, 0, sizeof *c);
}
