/* proberun.c: the probe analysis and its files (proberun.h). */
#include "proberun.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fsutil.h"
#include "numout.h"
#include "plot.h"
#include "rng.h"

static const char *const AN_NAMES[IC_AN_COUNT] = {"lens", "probes", "sime", "geometry", "components"};

const char *ic_probe_analysis_name(int a) { return a >= 0 && a < IC_AN_COUNT ? AN_NAMES[a] : "?"; }

int ic_probe_parse_what(const char *list, int *want, ic_err *err) {
    for (int i = 0; i < IC_AN_COUNT; i++) want[i] = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len) {
            int found = 0;
            for (int i = 0; i < IC_AN_COUNT; i++)
                if ((strlen(AN_NAMES[i]) == len && !strncmp(p, AN_NAMES[i], len)) || (len == 3 && !strncmp(p, "all", 3)))
                    want[i] = found = 1;
            if (!found)
                return ic_errf(err, "unknown analysis '%.*s' (lens, probes, sime, geometry, components, all)", (int)len, p);
        }
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

/* ---------------- small helpers ---------------- */

void ic_err_curve(const float *pred, const float *ys, int B, int n, int d, double *out) {
    for (int i = 0; i < n; i++) out[i] = 0.0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            double e = (double)pred[(size_t)b * n + i] - ys[(size_t)b * n + i];
            out[i] += e * e / d / B;
        }
}

static double mean_range(const double *v, int a, int b) {
    double s = 0.0;
    for (int i = a; i < b; i++) s += v[i];
    return b > a ? s / (b - a) : NAN;
}

static char **int_labels(const int *v, int n, const char *last) {
    char **l = calloc((size_t)n + 1, sizeof *l);
    for (int i = 0; l && i <= n; i++) {
        if (i == n && !last) break;
        if (!(l[i] = malloc(16))) {
            for (int j = 0; j < i; j++) free(l[j]);
            free(l);
            return NULL;
        }
        if (i < n) snprintf(l[i], 16, "%d", v[i]);
        else snprintf(l[i], 16, "%s", last);
    }
    return l;
}

static void free_labels(char **l, int n) {
    for (int i = 0; l && i < n; i++) free(l[i]);
    free(l);
}

static void report(ic_progress_fn progress, void *pctx, const char *stage, int done, int total) {
    if (progress) progress(pctx, stage, done, total);
}

/* ---------------- the SimE search ---------------- */

int ic_sime_search(ic_baseline_kind solver, const int *ks, int nk, const float *lens, int S, const float *xs,
                   const float *ys, int B, int n, int d, const double *ls, double *sime, int *best, ic_progress_fn progress,
                   void *pctx, const char *stage, ic_err *err) {
    const int nc = nk + 1;
    float *bpred = malloc(sizeof(float) * (size_t)B * n);
    if (!bpred) return ic_errf(err, "out of memory");
    for (int c = 0; c < nk; c++) {
        report(progress, pctx, stage, c, nk);
        ic_baseline_spec sp;
        ic_baseline_defaults(solver, &sp);
        sp.steps = ks[c];
        if (ic_baseline_predict(&sp, xs, ys, B, n, d, bpred, err)) {
            free(bpred);
            return -1;
        }
        for (int k = 0; k < S; k++) sime[(size_t)k * nc + c] = ic_sime(lens + (size_t)k * B * n, bpred, ys, B, n, 1, NULL);
    }
    report(progress, pctx, stage, nk, nk);
    free(bpred);
    for (int k = 0; k < S; k++) {
        sime[(size_t)k * nc + nk] = ls[k];
        int b = 0;
        for (int c = 1; c < nk; c++)
            if (sime[(size_t)k * nc + c] > sime[(size_t)k * nc + b]) b = c;
        best[k] = b;
    }
    return 0;
}

/* ---------------- the ablation sweep ---------------- */

int ic_probe_ablation_sweep(ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n, int chunk,
                            const ic_components *comp, int n_steps, const int *ranks, int nranks, int kd, double *abl,
                            double *ablk, double *ref_all, double *ref_kd, ic_progress_fn progress, void *pctx,
                            ic_err *err) {
    const int R = comp->rows, C = comp->C, d = m->cfg.n_dims;
    float *apred = malloc(sizeof(float) * (size_t)B * n);
    double *curve = malloc(sizeof(double) * (size_t)n);
    int rc = -1;
    if (!apred || !curve) {
        ic_errf(err, "out of memory");
        goto done;
    }
    /* the intact model (r = 0 changes nothing, bit for bit: run once) */
    if (ic_probe_ablate(m, s, xs, ys, B, n, chunk, 0, 0, comp->dirs, 0, apred, err)) goto done;
    ic_err_curve(apred, ys, B, n, d, curve);
    *ref_all = mean_range(curve, 0, n);
    *ref_kd = kd >= 0 ? curve[kd] : NAN;
    int done_ab = 0, todo = 0;
    for (int ri = 0; ri < nranks; ri++) todo += ranks[ri] > 0 ? R : 0;
    for (int row = 0; row < R; row++)
        for (int ri = 0; ri < nranks; ri++) {
            if (ranks[ri] == 0) {
                abl[(size_t)row * nranks + ri] = *ref_all;
                ablk[(size_t)row * nranks + ri] = *ref_kd;
                continue;
            }
            report(progress, pctx, "ablation", done_ab++, todo);
            if (ic_probe_ablate(m, s, xs, ys, B, n, chunk, row / n_steps, row % n_steps, comp->dirs + (size_t)row * C * C,
                                ranks[ri], apred, err))
                goto done;
            ic_err_curve(apred, ys, B, n, d, curve);
            abl[(size_t)row * nranks + ri] = mean_range(curve, 0, n);
            ablk[(size_t)row * nranks + ri] = kd >= 0 ? curve[kd] : NAN;
        }
    report(progress, pctx, "ablation", todo, todo);
    rc = 0;
done:
    free(apred);
    free(curve);
    return rc;
}

/* ---------------- the whole analysis ---------------- */

void ic_probe_report_free(ic_probe_report *r) {
    ic_capture_free(&r->cap);
    free_labels(r->labels, r->S);
    free(r->steplabels);
    free(r->lens);
    free(r->curves);
    free(r->scores);
    for (int f = 0; f < 2; f++) {
        free(r->fam[f].sime);
        free(r->fam[f].best);
    }
    free(r->sime_ls);
    ic_geometry_free(&r->geo);
    ic_components_free(&r->comp);
    free(r->overlap);
    free(r->abl);
    free(r->ablk);
    memset(r, 0, sizeof *r);
}

typedef struct {
    ic_progress_fn fn;
    void *ctx;
} cka_ctx;

static void cka_progress(void *vctx, int done, int total) {
    cka_ctx *c = vctx;
    if (done == total || done % 16 == 0) report(c->fn, c->ctx, "geometry (CKA pairs)", done, total);
}

/* The linear probes: fitted on Bt training prompts, scored on the held-out capture. */
static int run_probes(ic_model *m, const ic_schedule *s, const ic_task_spec *task, const ic_probe_opts *o,
                      const ic_task_params *tp, ic_progress_fn progress, void *pctx, ic_probe_report *r, ic_err *err) {
    const int n = r->n, d = r->d, Bt = o->Bt, B = r->B, S = r->S, KT = IC_PT_COLS(d);
    ic_task_params ttp = {0};
    ic_probe_fit pf = {0};
    ic_capture tcap = {0};
    float *txs = malloc(sizeof(float) * (size_t)Bt * n * d), *tys = malloc(sizeof(float) * (size_t)Bt * n);
    double *ttar = malloc(sizeof(double) * (size_t)Bt * (n - 1) * KT);
    double *tshuf = malloc(sizeof(double) * (size_t)Bt * (n - 1) * KT);
    double *htar = malloc(sizeof(double) * (size_t)B * (n - 1) * KT);
    r->scores = malloc(sizeof *r->scores * (size_t)S * IC_PT_COUNT);
    int rc = -1;
    if (!txs || !tys || !ttar || !tshuf || !htar || !r->scores) {
        ic_errf(err, "out of memory");
        goto done;
    }
    ic_rng trng;
    ic_rng_seed(&trng, o->seed + 1);
    if (ic_task_sample(task, &trng, Bt, n, d, txs, tys, &ttp, err) || ic_probe_targets(txs, tys, ttp.w, Bt, n, d, ttar, err) ||
        ic_probe_targets(r->cap.xs, r->cap.ys, tp->w, B, n, d, htar, err) ||
        ic_probe_fit_init(&pf, S, r->C, d, o->prev_y, err) ||
        ic_probe_shuffle_rows(ttar, Bt, n, KT, o->seed ^ 0x5eedULL, tshuf, err))
        goto fail;
    const int tc = o->chunk * 4;
    for (int b0 = 0; b0 < Bt; b0 += tc) {
        const int nb = Bt - b0 < tc ? Bt - b0 : tc;
        report(progress, pctx, "probes (training prompts)", b0, Bt);
        if (ic_probe_capture(m, s, txs + (size_t)b0 * n * d, tys + (size_t)b0 * n, nb, n, o->chunk, 0, &tcap, err) ||
            ic_probe_fit_add(&pf, &tcap, ttar + (size_t)b0 * (n - 1) * KT, tshuf + (size_t)b0 * (n - 1) * KT, err))
            goto fail;
    }
    report(progress, pctx, "probes (training prompts)", Bt, Bt);
    ic_capture_free(&tcap);
    if (ic_probe_fit_solve(&pf, o->lambda, err) || ic_probe_fit_score(&pf, &r->cap, htar, r->scores, err)) goto fail;
    rc = 0;
    goto done;
fail:
    ic_err_prefix(err, "probes");
done:
    ic_task_params_free(&ttp);
    ic_probe_fit_free(&pf);
    ic_capture_free(&tcap);
    free(txs);
    free(tys);
    free(ttar);
    free(tshuf);
    free(htar);
    return rc;
}

int ic_probe_run(ic_model *m, const ic_schedule *s, const ic_task_spec *task, int n, const ic_probe_opts *o,
                 ic_progress_fn progress, void *pctx, ic_probe_report *r, ic_err *err) {
    memset(r, 0, sizeof *r);
    const int d = m->cfg.n_dims, C = m->cfg.n_embd, B = o->B;
    ic_task_params tp = {0};
    float *xs = malloc(sizeof(float) * (size_t)B * n * d), *ys = malloc(sizeof(float) * (size_t)B * n);
    int rc = -1;
    r->o = *o;
    if (r->o.rank > C) r->o.rank = C;
    if (r->o.nranks == 0) {
        r->o.ranks[r->o.nranks++] = 0;
        for (int k = 1; k < C && r->o.nranks < IC_PROBE_MAX_K - 1; k *= 2) r->o.ranks[r->o.nranks++] = k;
        r->o.ranks[r->o.nranks++] = C;
    }
    for (int i = 0; i < r->o.nranks; i++)
        if (r->o.ranks[i] < 0 || r->o.ranks[i] > C) {
            ic_errf(err, "ablation rank %d is not in 0..%d", r->o.ranks[i], C);
            goto done;
        }
    if (n < 2) {
        ic_errf(err, "probing needs prompts of at least 2 points");
        goto done;
    }
    r->B = B;
    r->n = n;
    r->d = d;
    r->C = C;
    r->kd = d < n ? d : -1;
    r->k2d = 2 * d < n ? 2 * d : -1;
    if (!xs || !ys) {
        ic_errf(err, "out of memory");
        goto done;
    }
    /* held-out prompts and their capture */
    ic_rng rng;
    ic_rng_seed(&rng, o->seed);
    if (ic_task_sample(task, &rng, B, n, d, xs, ys, &tp, err)) goto done;
    r->has_w = tp.w != NULL;
    report(progress, pctx, "capture", 0, 1);
    if (ic_probe_capture(m, s, xs, ys, B, n, o->chunk, o->parts, &r->cap, err)) goto done;
    report(progress, pctx, "capture", 1, 1);
    const int S = r->S = r->cap.n_states, NS = r->NS = r->cap.n_steps, R = r->R = r->cap.loops * NS;
    r->labels = calloc((size_t)S, sizeof *r->labels);
    r->steplabels = calloc((size_t)R, sizeof *r->steplabels);
    r->lens = malloc(sizeof(float) * (size_t)S * B * n);
    r->curves = malloc(sizeof(double) * (size_t)S * n);
    if (!r->labels || !r->steplabels || !r->lens || !r->curves) {
        ic_errf(err, "out of memory");
        goto done;
    }
    for (int k = 0; k < S; k++) {
        if (!(r->labels[k] = malloc(96))) {
            ic_errf(err, "out of memory");
            goto done;
        }
        ic_capture_label(&r->cap, k, r->labels[k], 96);
    }
    for (int l = 0; l < r->cap.loops; l++)
        for (int q = 0; q < NS; q++) r->steplabels[l * NS + q] = r->labels[ic_capture_index(&r->cap, l, q + 1)];
    if (ic_probe_lens(m, &r->cap, r->lens, err)) goto done;
    for (int k = 0; k < S; k++) ic_err_curve(r->lens + (size_t)k * B * n, ys, B, n, d, r->curves + (size_t)k * n);

    if (o->want[IC_AN_PROBES] && run_probes(m, s, task, o, &tp, progress, pctx, r, err)) goto done;

    if (o->want[IC_AN_SIME]) {
        float *bpred = malloc(sizeof(float) * (size_t)B * n);
        r->sime_ls = malloc(sizeof(double) * (size_t)S);
        if (!bpred || !r->sime_ls) {
            free(bpred);
            ic_errf(err, "out of memory");
            goto done;
        }
        ic_baseline_spec ls;
        ic_baseline_defaults(IC_BL_LEAST_SQUARES, &ls);
        int bad = ic_baseline_predict(&ls, xs, ys, B, n, d, bpred, err);
        for (int k = 0; k < S && !bad; k++) r->sime_ls[k] = ic_sime(r->lens + (size_t)k * B * n, bpred, ys, B, n, 1, NULL);
        free(bpred);
        if (bad) goto done;
        static const char *const fam_names[2] = {"newton", "gd"};
        for (int f = 0; f < 2; f++) {
            ic_sime_family *fm = &r->fam[f];
            fm->name = fam_names[f];
            fm->nk = f ? o->n_gd : o->n_newton;
            memcpy(fm->ks, f ? o->gd : o->newton, sizeof(int) * (size_t)fm->nk);
            fm->sime = malloc(sizeof(double) * (size_t)S * (fm->nk + 1));
            fm->best = malloc(sizeof(int) * (size_t)S);
            if (!fm->sime || !fm->best) {
                ic_errf(err, "out of memory");
                goto done;
            }
            if (ic_sime_search(f ? IC_BL_GD : IC_BL_NEWTON, fm->ks, fm->nk, r->lens, S, xs, ys, B, n, d, r->sime_ls,
                               fm->sime, fm->best, progress, pctx, f ? "sime (gradient descent)" : "sime (Newton)", err))
                goto done;
        }
    }

    if (o->want[IC_AN_GEOMETRY]) {
        cka_ctx cc = {progress, pctx};
        report(progress, pctx, "geometry (cosines)", 0, 1);
        if (ic_probe_geometry(&r->cap, o->cka, &r->geo, cka_progress, &cc, err)) goto done;
        if (!o->cka) report(progress, pctx, "geometry (cosines)", 1, 1);
    }

    if (o->want[IC_AN_COMPONENTS]) {
        const int nr = r->o.nranks;
        report(progress, pctx, "components (SVD)", 0, 1);
        if (ic_probe_components(&r->cap, &r->comp, err)) goto done;
        report(progress, pctx, "components (SVD)", 1, 1);
        r->overlap = malloc(sizeof(double) * (size_t)R * R);
        r->abl = malloc(sizeof(double) * (size_t)R * nr);
        r->ablk = malloc(sizeof(double) * (size_t)R * nr);
        if (!r->overlap || !r->abl || !r->ablk) {
            ic_errf(err, "out of memory");
            goto done;
        }
        for (int i = 0; i < R; i++)
            for (int j = 0; j < R; j++)
                r->overlap[(size_t)i * R + j] = ic_subspace_overlap(r->comp.dirs + (size_t)i * C * C,
                                                                    r->comp.dirs + (size_t)j * C * C, C, r->o.rank);
        if (ic_probe_ablation_sweep(m, s, xs, ys, B, n, o->chunk, &r->comp, NS, r->o.ranks, nr, r->kd, r->abl, r->ablk,
                                    &r->ref_all, &r->ref_kd, progress, pctx, err)) {
            ic_err_prefix(err, "ablation");
            goto done;
        }
    }
    rc = 0;
done:
    ic_task_params_free(&tp);
    free(xs);
    free(ys);
    return rc;
}

/* ---------------- files ---------------- */

static int heatmap(const char *dir, const char *name, const char *title, const char *xl, const char *yl, const double *v,
                   int rows, int cols, char **rl, char **cl, int logc, double lo, double hi, ic_err *err) {
    char path[4096];
    ic_plot_opts o = {.title = title, .xlabel = xl, .ylabel = yl, .ymin = lo, .ymax = hi};
    if (ic_path_join(path, sizeof path, dir, name, err)) return -1;
    return ic_plot_heatmap(path, &o, v, rows, cols, (const char *const *)rl, (const char *const *)cl, logc,
                           rows * cols <= 400, err);
}

static int lines(const char *dir, const char *name, const char *title, const char *xl, const char *yl, int logy,
                 const ic_series *s, int ns, ic_err *err) {
    char path[4096];
    ic_plot_opts o = {.title = title, .xlabel = xl, .ylabel = yl, .logy = logy, .ymin = NAN, .ymax = NAN};
    if (ic_path_join(path, sizeof path, dir, name, err)) return -1;
    return ic_plot_lines(path, &o, s, ns, err);
}

/* {"meta": meta, "definition": def, ...rest} */
static json_t *doc(json_t *meta, const char *def) {
    json_t *j = json_object();
    if (j) {
        json_object_set(j, "meta", meta);
        json_object_set_new(j, "definition", json_string(def));
    }
    return j;
}

static int write_lens(const char *dir, const ic_probe_report *r, json_t *meta, ic_err *err) {
    const int S = r->S, n = r->n, d = r->d;
    ic_table t = {0};
    ic_sbuf pos = {0};
    double *ea = malloc(sizeof(double) * S), *e1 = malloc(sizeof(double) * S), *e2 = malloc(sizeof(double) * S),
           *sx = malloc(sizeof(double) * S);
    char **poslab = calloc((size_t)n, sizeof *poslab);
    json_t *j = NULL;
    int rc = -1;
    if (!ea || !e1 || !e2 || !sx || !poslab) {
        ic_errf(err, "out of memory");
        goto done;
    }
    ic_table_col(&t, IC_COL_INT, "state", "state");
    ic_table_col(&t, IC_COL_TEXT, "label", "label");
    ic_table_col(&t, IC_COL_NUM, "err_all", "err_all");
    ic_table_col(&t, IC_COL_NUM, "err_k_d", "err_k%d", d);
    ic_table_col(&t, IC_COL_NUM, "err_k_2d", "err_k%d", 2 * d);
    ic_sb_puts(&pos, "state,label");
    for (int i = 0; i < n; i++) ic_sb_printf(&pos, ",k%d", i);
    ic_sb_puts(&pos, "\n");
    for (int k = 0; k < S; k++) {
        const double *c = r->curves + (size_t)k * n;
        sx[k] = k;
        ea[k] = mean_range(c, 0, n);
        e1[k] = r->kd >= 0 ? c[r->kd] : NAN;
        e2[k] = r->k2d >= 0 ? c[r->k2d] : NAN;
        const ic_cell row[5] = {ic_cell_int(k), ic_cell_str(r->labels[k]), ic_cell_num(ea[k]), ic_cell_num(e1[k]),
                                ic_cell_num(e2[k])};
        json_t *o = ic_table_row(&t, row);
        if (o) json_object_set_new(o, "curve", ic_json_nums(c, n));
        ic_sb_printf(&pos, "%d,%s", k, r->labels[k]);
        for (int i = 0; i < n; i++) ic_sb_printf(&pos, ",%s", ic_csv_num(c[i], 6).s);
        ic_sb_puts(&pos, "\n");
    }
    j = doc(meta, "pred = read_out(ln_f(h)) at the x tokens, with the model's ln_f and read_out; "
                  "error = (pred - y)^2 / d per position, mean over prompts; err_all: mean over positions");
    if (j) json_object_set_new(j, "states", ic_table_json(&t));
    ic_series ser[3];
    int ns = 0;
    char l1[32], l2[32];
    snprintf(l1, sizeof l1, "k = d = %d", d);
    snprintf(l2, sizeof l2, "k = 2d = %d", 2 * d);
    ser[ns++] = (ic_series){.label = "all positions", .x = sx, .y = ea, .n = S};
    if (r->kd >= 0) ser[ns++] = (ic_series){.label = l1, .x = sx, .y = e1, .n = S, .dashed = 1};
    if (r->k2d >= 0) ser[ns++] = (ic_series){.label = l2, .x = sx, .y = e2, .n = S, .dashed = 1};
    for (int i = 0; i < n; i++) {
        if (!(poslab[i] = malloc(16))) {
            ic_errf(err, "out of memory");
            goto done;
        }
        snprintf(poslab[i], 16, "%d", i);
    }
    if (ic_table_write_csv(&t, dir, "lens.csv", err) || ic_out_sbuf(dir, "lens_positions.csv", &pos, err) ||
        ic_out_json(dir, "lens.json", j, err) ||
        lines(dir, "lens_error.svg", "Readout lens: error per state (state 0 = embedding)", "state", "squared error / d", 1,
              ser, ns, err) ||
        heatmap(dir, "lens_positions.svg", "Readout lens: error per state and position", "position k", "state", r->curves,
                S, n, r->labels, poslab, 1, NAN, NAN, err))
        goto done;
    rc = 0;
done:
    free_labels(poslab, n);
    json_decref(j);
    ic_table_free(&t);
    ic_sb_free(&pos);
    free(ea);
    free(e1);
    free(e2);
    free(sx);
    return rc;
}

static int write_probes(const char *dir, const ic_probe_report *r, json_t *meta, ic_err *err) {
    const int S = r->S;
    ic_table t = {0};
    json_t *jt = json_object(), *j = NULL;
    double *sx = malloc(sizeof(double) * S), *r2 = malloc(sizeof(double) * S * IC_PT_COUNT * 2);
    int rc = -1;
    if (!jt || !sx || !r2) {
        ic_errf(err, "out of memory");
        goto done;
    }
    for (int tg = 0; tg < IC_PT_COUNT; tg++) {
        json_t *a[4] = {json_array(), json_array(), json_array(), json_array()};
        for (int k = 0; k < S; k++) {
            const ic_probe_score *p = &r->scores[(size_t)k * IC_PT_COUNT + tg];
            json_array_append_new(a[0], ic_json_num(p->r2));
            json_array_append_new(a[1], ic_json_num(p->mse));
            json_array_append_new(a[2], ic_json_num(p->r2_shuf));
            json_array_append_new(a[3], ic_json_num(p->mse_shuf));
            r2[(size_t)(2 * tg) * S + k] = p->r2;
            r2[(size_t)(2 * tg + 1) * S + k] = p->r2_shuf;
        }
        json_object_set_new(jt, ic_probe_target_name(tg),
                            json_pack("{s:o,s:o,s:o,s:o}", "r2", a[0], "mse", a[1], "r2_shuffled", a[2], "mse_shuffled", a[3]));
    }
    ic_table_col(&t, IC_COL_INT, NULL, "state");
    ic_table_col(&t, IC_COL_TEXT, NULL, "label");
    ic_table_col(&t, IC_COL_TEXT, NULL, "target");
    ic_table_col(&t, IC_COL_NUM, NULL, "r2");
    ic_table_col(&t, IC_COL_NUM, NULL, "mse");
    ic_table_col(&t, IC_COL_NUM, NULL, "r2_shuffled");
    ic_table_col(&t, IC_COL_NUM, NULL, "mse_shuffled");
    for (int k = 0; k < S; k++) {
        sx[k] = k;
        for (int tg = 0; tg < IC_PT_COUNT; tg++) {
            const ic_probe_score *p = &r->scores[(size_t)k * IC_PT_COUNT + tg];
            const ic_cell row[7] = {ic_cell_int(k),       ic_cell_str(r->labels[k]), ic_cell_str(ic_probe_target_name(tg)),
                                    ic_cell_num(p->r2),   ic_cell_num(p->mse),       ic_cell_num(p->r2_shuf),
                                    ic_cell_num(p->mse_shuf)};
            ic_table_row(&t, row);
        }
    }
    j = doc(meta, "ridge probe from the residual at x_i's token (points i = 1..n-1) to each target, "
                  "fitted on train_prompts prompts (seed+1), scored on the held-out prompts: "
                  "R^2 = 1 - SSE/SST (SST about the held-out mean, summed over the target's components); "
                  "shuffled: the same probe fitted on targets permuted across training prompts");
    if (j) {
        json_object_set_new(j, "train_prompts", json_integer(r->o.Bt));
        json_object_set_new(j, "train_seed", ic_json_u64(r->o.seed + 1));
        json_object_set_new(j, "lambda", ic_json_num(r->o.lambda));
        json_object_set_new(j, "prev_y", json_boolean(r->o.prev_y));
        json_object_set(j, "targets", jt);
    }
    ic_series ser[2 * IC_PT_COUNT];
    char sl[IC_PT_COUNT][40];
    int ns = 0;
    for (int tg = 0; tg < IC_PT_COUNT; tg++) {
        if (!r->has_w && tg == IC_PT_W) continue;
        ser[ns++] = (ic_series){.label = ic_probe_target_name(tg), .x = sx, .y = r2 + (size_t)(2 * tg) * S, .n = S};
        snprintf(sl[tg], sizeof sl[tg], "%s (shuffled)", ic_probe_target_name(tg));
        ser[ns++] = (ic_series){.label = sl[tg], .x = sx, .y = r2 + (size_t)(2 * tg + 1) * S, .n = S, .dashed = 1};
    }
    if (ic_table_write_csv(&t, dir, "probes.csv", err) || ic_out_json(dir, "probes.json", j, err) ||
        lines(dir, "probes_r2.svg", "Linear probes: held-out R^2 per state", "state", "R^2", 0, ser, ns, err))
        goto done;
    rc = 0;
done:
    json_decref(jt);
    json_decref(j);
    ic_table_free(&t);
    free(sx);
    free(r2);
    return rc;
}

static double best_sime(const ic_sime_family *f, int k) { return f->sime[(size_t)k * (f->nk + 1) + f->best[k]]; }

static int write_sime(const char *dir, const ic_probe_report *r, json_t *meta, ic_err *err) {
    const int S = r->S;
    const ic_sime_family *fam = r->fam;
    ic_table t = {0}, bt = {0};
    json_t *jf = json_object(), *j = NULL;
    double *sx = malloc(sizeof(double) * S), *bn = malloc(sizeof(double) * S), *bg = malloc(sizeof(double) * S);
    int rc = -1;
    if (!jf || !sx || !bn || !bg) {
        ic_errf(err, "out of memory");
        goto done;
    }
    ic_table_col(&t, IC_COL_INT, NULL, "state");
    ic_table_col(&t, IC_COL_TEXT, NULL, "label");
    ic_table_col(&t, IC_COL_TEXT, NULL, "solver");
    ic_table_col(&t, IC_COL_INT, NULL, "steps");
    ic_table_col(&t, IC_COL_NUM, NULL, "sime");
    for (int f = 0; f < 2; f++) {
        const ic_sime_family *fm = &fam[f];
        const int nc = fm->nk + 1;
        json_t *ks = json_array(), *best = json_array(), *bests = json_array(), *mat = json_array();
        for (int c = 0; c < fm->nk; c++) json_array_append_new(ks, json_integer(fm->ks[c]));
        for (int k = 0; k < S; k++) {
            json_array_append_new(best, json_integer(fm->ks[fm->best[k]]));
            json_array_append_new(bests, ic_json_num(best_sime(fm, k)));
            json_array_append_new(mat, ic_json_nums(fm->sime + (size_t)k * nc, fm->nk));
            for (int c = 0; c < fm->nk; c++) {
                const ic_cell row[5] = {ic_cell_int(k), ic_cell_str(r->labels[k]), ic_cell_str(fm->name),
                                        ic_cell_int(fm->ks[c]), ic_cell_num(fm->sime[(size_t)k * nc + c])};
                ic_table_row(&t, row);
            }
        }
        json_object_set_new(jf, fm->name,
                            json_pack("{s:o,s:o,s:o,s:o}", "steps", ks, "sime", mat, "best_steps", best, "best_sime", bests));
    }
    ic_table_col(&bt, IC_COL_INT, NULL, "state");
    ic_table_col(&bt, IC_COL_TEXT, NULL, "label");
    ic_table_col(&bt, IC_COL_INT, NULL, "best_newton_steps");
    ic_table_col(&bt, IC_COL_NUM, NULL, "sime_newton");
    ic_table_col(&bt, IC_COL_INT, NULL, "best_gd_steps");
    ic_table_col(&bt, IC_COL_NUM, NULL, "sime_gd");
    ic_table_col(&bt, IC_COL_NUM, NULL, "sime_least_squares");
    for (int k = 0; k < S; k++) {
        const ic_cell row[5] = {ic_cell_int(k), ic_cell_str(r->labels[k]), ic_cell_str("least_squares"), ic_cell_none(),
                                ic_cell_num(r->sime_ls[k])};
        ic_table_row(&t, row);
        const ic_cell brow[7] = {ic_cell_int(k),
                                 ic_cell_str(r->labels[k]),
                                 ic_cell_int(fam[0].ks[fam[0].best[k]]),
                                 ic_cell_num(best_sime(&fam[0], k)),
                                 ic_cell_int(fam[1].ks[fam[1].best[k]]),
                                 ic_cell_num(best_sime(&fam[1], k)),
                                 ic_cell_num(r->sime_ls[k])};
        ic_table_row(&bt, brow);
    }
    json_object_set_new(jf, "least_squares", ic_json_nums(r->sime_ls, S));
    j = doc(meta, "per prompt, the error vectors (pred_i - y_i, points i = 1..n-1) of the state's lens "
                  "prediction and of the solver; their cosine; mean over prompts (Fu et al.). best_steps: "
                  "argmax over the step counts");
    if (j) {
        json_object_set_new(j, "gd_eta", json_real(0.01));
        json_object_set(j, "families", jf);
    }
    if (ic_table_write_csv(&t, dir, "sime.csv", err) || ic_table_write_csv(&bt, dir, "sime_best.csv", err) ||
        ic_out_json(dir, "sime.json", j, err))
        goto done;
    for (int f = 0; f < 2; f++) {
        const ic_sime_family *fm = &fam[f];
        char **cl = int_labels(fm->ks, fm->nk, "LS");
        if (!cl) {
            ic_errf(err, "out of memory");
            goto done;
        }
        char title[128], name[64], xl[64];
        snprintf(title, sizeof title, "SimE: lens vs %s (last column: least squares)", f ? "gradient descent" : "iterative Newton");
        snprintf(name, sizeof name, "sime_%s.svg", fm->name);
        snprintf(xl, sizeof xl, "%s steps", f ? "GD" : "Newton");
        int bad = heatmap(dir, name, title, xl, "state", fm->sime, S, fm->nk + 1, r->labels, cl, 0, NAN, NAN, err);
        free_labels(cl, fm->nk + 1);
        if (bad) goto done;
    }
    for (int k = 0; k < S; k++) {
        sx[k] = k;
        bn[k] = best_sime(&fam[0], k);
        bg[k] = best_sime(&fam[1], k);
    }
    ic_series ser[3] = {{.label = "best Newton", .x = sx, .y = bn, .n = S},
                        {.label = "best GD", .x = sx, .y = bg, .n = S},
                        {.label = "least squares", .x = sx, .y = r->sime_ls, .n = S, .dashed = 1}};
    if (lines(dir, "sime_best.svg", "SimE of the best-matching solver per state", "state", "SimE", 0, ser, 3, err)) goto done;
    rc = 0;
done:
    json_decref(jf);
    json_decref(j);
    ic_table_free(&t);
    ic_table_free(&bt);
    free(sx);
    free(bn);
    free(bg);
    return rc;
}

static int write_geometry(const char *dir, const ic_probe_report *r, json_t *meta, ic_err *err) {
    const int S = r->S;
    const ic_geometry *geo = &r->geo;
    ic_table t = {0};
    json_t *jg = json_object(), *j = NULL;
    double *sx = malloc(sizeof(double) * S);
    int rc = -1;
    if (!jg || !sx) {
        ic_errf(err, "out of memory");
        goto done;
    }
    ic_table_col(&t, IC_COL_INT, NULL, "state");
    ic_table_col(&t, IC_COL_TEXT, NULL, "label");
    for (int w = 0; w < IC_TOK_COUNT; w++) ic_table_col(&t, IC_COL_NUM, NULL, "norm_%s", ic_tok_name(w));
    for (int w = 0; w < IC_TOK_COUNT; w++) ic_table_col(&t, IC_COL_NUM, NULL, "influence_%s", ic_tok_name(w));
    for (int k = 0; k < S; k++) {
        ic_cell row[2 + 2 * IC_TOK_COUNT] = {ic_cell_int(k), ic_cell_str(r->labels[k])};
        for (int w = 0; w < IC_TOK_COUNT; w++) {
            row[2 + w] = ic_cell_num(geo->norm[w][k]);
            row[2 + IC_TOK_COUNT + w] = ic_cell_num(geo->influence[w][k]);
        }
        ic_table_row(&t, row);
    }
    if (ic_table_write_csv(&t, dir, "geometry_states.csv", err)) goto done;
    for (int w = 0; w < IC_TOK_COUNT; w++) {
        for (int which = 0; which < 2; which++) {
            const double *mat = which ? geo->cka[w] : geo->cos[w];
            if (!mat) continue;
            ic_sbuf mc = {0};
            ic_csv_matrix(&mc, "state", (const char *const *)r->labels, (const char *const *)r->labels, mat, S, S);
            char name[64], title[128];
            snprintf(name, sizeof name, "%s_%s.csv", which ? "cka" : "cos", ic_tok_name(w));
            int bad = ic_out_sbuf(dir, name, &mc, err);
            ic_sb_free(&mc);
            snprintf(name, sizeof name, "%s_%s.svg", which ? "cka" : "cos", ic_tok_name(w));
            snprintf(title, sizeof title, "%s between states (%s tokens)", which ? "Linear CKA" : "Mean cosine similarity",
                     ic_tok_name(w));
            if (bad || heatmap(dir, name, title, "state", "state", mat, S, S, r->labels, r->labels, 0, NAN, NAN, err))
                goto done;
        }
        json_object_set_new(jg, ic_tok_name(w),
                            json_pack("{s:o,s:o,s:o,s:o}", "cos", ic_json_matrix(geo->cos[w], S, S), "cka",
                                      geo->cka[w] ? ic_json_matrix(geo->cka[w], S, S) : json_null(), "norm",
                                      ic_json_nums(geo->norm[w], S), "influence", ic_json_nums(geo->influence[w], S)));
    }
    j = doc(meta, "cos[i][j] = mean over tokens of cos(h_i, h_j); cka = linear CKA of the centred token x C "
                  "matrices; norm = mean |h|; influence = 1 - mean cos(previous state, state) (null for loop "
                  "inputs); per token class: all, x tokens (even), y tokens (odd)");
    if (j) json_object_set(j, "tokens", jg);
    if (ic_out_json(dir, "geometry.json", j, err)) goto done;
    for (int k = 0; k < S; k++) sx[k] = k;
    ic_series sn[IC_TOK_COUNT], si[IC_TOK_COUNT];
    for (int w = 0; w < IC_TOK_COUNT; w++) {
        sn[w] = (ic_series){.label = ic_tok_name(w), .x = sx, .y = geo->norm[w], .n = S, .dashed = w > 0};
        si[w] = (ic_series){.label = ic_tok_name(w), .x = sx, .y = geo->influence[w], .n = S, .dashed = w > 0};
    }
    if (lines(dir, "geometry_norm.svg", "Residual norm per state", "state", "mean |h|", 0, sn, IC_TOK_COUNT, err) ||
        lines(dir, "geometry_influence.svg", "Block influence 1 - cos(in, out) per state", "state", "influence", 0, si,
              IC_TOK_COUNT, err))
        goto done;
    rc = 0;
done:
    json_decref(jg);
    json_decref(j);
    ic_table_free(&t);
    free(sx);
    return rc;
}

static int write_components(const char *dir, const ic_probe_report *r, json_t *meta, ic_err *err) {
    const int R = r->R, C = r->C, nr = r->o.nranks, d = r->d;
    const ic_components *comp = &r->comp;
    ic_table ct = {0}, at = {0};
    ic_sbuf oc = {0};
    json_t *jrows = json_array(), *jr = json_array(), *j = NULL;
    char **klabels = int_labels(r->o.ranks, nr, NULL);
    double *cx = malloc(sizeof(double) * C), *cum = malloc(sizeof(double) * (size_t)R * C);
    ic_series *ser = malloc(sizeof *ser * (size_t)R);
    int rc = -1;
    if (!jrows || !jr || !klabels || !cx || !cum || !ser) {
        ic_errf(err, "out of memory");
        goto done;
    }
    ic_table_col(&ct, IC_COL_INT, NULL, "step");
    ic_table_col(&ct, IC_COL_TEXT, NULL, "label");
    ic_table_col(&ct, IC_COL_INT, NULL, "k");
    ic_table_col(&ct, IC_COL_NUM, NULL, "singular_value");
    ic_table_col(&ct, IC_COL_NUM, NULL, "explained");
    ic_table_col(&ct, IC_COL_NUM, NULL, "cumulative");
    for (int row = 0; row < R; row++) {
        double c = 0.0;
        for (int k = 0; k < C; k++) {
            c += comp->evr[(size_t)row * C + k];
            cum[(size_t)row * C + k] = c;
            const ic_cell cells[6] = {ic_cell_int(row), ic_cell_str(r->steplabels[row]), ic_cell_int(k + 1),
                                      ic_cell_num(comp->sv[(size_t)row * C + k]), ic_cell_num(comp->evr[(size_t)row * C + k]),
                                      ic_cell_num(c)};
            ic_table_row(&ct, cells);
        }
        json_array_append_new(jrows, json_pack("{s:s,s:i,s:i,s:o,s:o,s:o,s:o}", "label", r->steplabels[row], "loop",
                                               row / r->NS, "step", row % r->NS, "singular_values",
                                               ic_json_nums(comp->sv + (size_t)row * C, C), "explained",
                                               ic_json_nums(comp->evr + (size_t)row * C, C), "ablation_err_all",
                                               ic_json_nums(r->abl + (size_t)row * nr, nr), "ablation_err_k_d",
                                               ic_json_nums(r->ablk + (size_t)row * nr, nr)));
    }
    ic_csv_matrix(&oc, "step", (const char *const *)r->steplabels, (const char *const *)r->steplabels, r->overlap, R, R);
    ic_table_col(&at, IC_COL_INT, NULL, "step");
    ic_table_col(&at, IC_COL_TEXT, NULL, "label");
    ic_table_col(&at, IC_COL_INT, NULL, "rank");
    ic_table_col(&at, IC_COL_NUM, NULL, "err_all");
    ic_table_col(&at, IC_COL_NUM, NULL, "err_k%d", d);
    for (int row = 0; row < R; row++)
        for (int ri = 0; ri < nr; ri++) {
            const ic_cell cells[5] = {ic_cell_int(row), ic_cell_str(r->steplabels[row]), ic_cell_int(r->o.ranks[ri]),
                                      ic_cell_num(r->abl[(size_t)row * nr + ri]), ic_cell_num(r->ablk[(size_t)row * nr + ri])};
            ic_table_row(&at, cells);
        }
    for (int ri = 0; ri < nr; ri++) json_array_append_new(jr, json_integer(r->o.ranks[ri]));
    j = doc(meta, "update D = h_out - h_in of each step (B*T tokens x C), uncentred SVD: explained = "
                  "sv_k^2 / |D|_F^2; overlap = |U_r V_r^T|_F^2 / r (mean squared cosine of the principal "
                  "angles between top-r write subspaces); ablation: h_out' = h_out - U_r U_r^T D during the "
                  "forward, error = squared error / d of the final prediction (all positions, and k = d)");
    if (j) {
        json_object_set_new(j, "rank", json_integer(r->o.rank));
        json_object_set_new(j, "overlap", ic_json_matrix(r->overlap, R, R));
        json_object_set(j, "ablation_ranks", jr);
        json_object_set_new(j, "reference_err_all", ic_json_num(r->ref_all));
        json_object_set_new(j, "reference_err_k_d", ic_json_num(r->ref_kd));
        json_object_set(j, "steps", jrows);
    }
    if (ic_table_write_csv(&ct, dir, "components.csv", err) || ic_out_sbuf(dir, "overlap.csv", &oc, err) ||
        ic_table_write_csv(&at, dir, "ablation.csv", err) || ic_out_json(dir, "components.json", j, err))
        goto done;
    char title[160];
    snprintf(title, sizeof title, "Overlap of the top-%d write subspaces (mean cos^2 of principal angles)", r->o.rank);
    if (heatmap(dir, "overlap.svg", title, "step", "step", r->overlap, R, R, r->steplabels, r->steplabels, 0, 0.0, 1.0, err))
        goto done;
    snprintf(title, sizeof title, "Final error with the top-r write directions of a step removed (intact: %.4g)", r->ref_all);
    if (heatmap(dir, "ablation.svg", title, "r (directions removed)", "step", r->abl, R, nr, r->steplabels, klabels, 1, NAN,
                NAN, err))
        goto done;
    /* cumulative explained variance per step */
    for (int k = 0; k < C; k++) cx[k] = k + 1;
    for (int row = 0; row < R; row++)
        ser[row] = (ic_series){.label = r->steplabels[row], .x = cx, .y = cum + (size_t)row * C, .n = C};
    if (lines(dir, "components_explained.svg", "Cumulative explained fraction of each step's update", "directions k",
              "fraction of |D|^2", 0, ser, R, err))
        goto done;
    rc = 0;
done:
    json_decref(jrows);
    json_decref(jr);
    json_decref(j);
    ic_table_free(&ct);
    ic_table_free(&at);
    ic_sb_free(&oc);
    free_labels(klabels, nr);
    free(cx);
    free(cum);
    free(ser);
    return rc;
}

int ic_probe_write(const char *dir, const ic_probe_report *r, const ic_meta *meta, ic_err *err) {
    json_t *m = json_object();
    int rc = -1;
    if (!m) return ic_errf(err, "out of memory");
    if (ic_meta_put(m, meta, "model,schedule,loops,task,n_dims,n_points,prompts,seed,task_spec", err)) goto done;
    json_object_set_new(m, "states", ic_json_strings((const char *const *)r->labels, r->S));
    json_object_set_new(m, "state_definition",
                        json_string("state 'in' is a loop's input; 'j:bK' the residual after step j (block K); "
                                    "'lL.' prefixes loop L"));
    if ((r->o.want[IC_AN_LENS] && write_lens(dir, r, m, err)) || (r->o.want[IC_AN_PROBES] && write_probes(dir, r, m, err)) ||
        (r->o.want[IC_AN_SIME] && write_sime(dir, r, m, err)) ||
        (r->o.want[IC_AN_GEOMETRY] && write_geometry(dir, r, m, err)) ||
        (r->o.want[IC_AN_COMPONENTS] && write_components(dir, r, m, err)))
        goto done;
    rc = 0;
done:
    json_decref(m);
    return rc;
}
