/* surgery.c: sweeps of schedule variants and their paired evaluation
 * (surgery.h). Variants are built by the schedule language (schedule.h), so
 * a variant's label is exactly what a user passes to --schedule. */
#include "surgery.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "numout.h"
#include "output.h"
#include "plot.h"
#include "rng.h"
#include "schedule.h"

static const char *const SWEEP_NAMES[IC_NUM_SWEEPS] = {
    "skip-each", "duplicate-each", "duplicate-block", "swap-matrix", "shuffle",
    "reverse",   "middle-repeat",  "parallel",        "loops"};

const char *ic_sweep_name(ic_sweep_kind k) { return (k >= 0 && k < IC_NUM_SWEEPS) ? SWEEP_NAMES[k] : "?"; }

int ic_sweep_parse(const char *name, ic_sweep_kind *out, ic_err *err) {
    for (int k = 0; k < IC_NUM_SWEEPS; k++)
        if (strcmp(name, SWEEP_NAMES[k]) == 0) {
            *out = (ic_sweep_kind)k;
            return 0;
        }
    char known[256] = "";
    for (int k = 0; k < IC_NUM_SWEEPS; k++) {
        strcat(known, k ? ", " : "");
        strcat(known, SWEEP_NAMES[k]);
    }
    return ic_errf(err, "unknown sweep '%s' (known: %s)", name, known);
}

int ic_sweep_parse_list(const char *list, int *want, ic_err *err) {
    for (int k = 0; k < IC_NUM_SWEEPS; k++) want[k] = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        char tok[64];
        snprintf(tok, sizeof tok, "%.*s", (int)(len < sizeof tok ? len : sizeof tok - 1), p);
        if (len && !strcmp(tok, "all")) {
            for (int k = 0; k < IC_NUM_SWEEPS; k++) want[k] = 1;
        } else if (len) {
            ic_sweep_kind k;
            if (ic_sweep_parse(tok, &k, err)) return -1;
            want[k] = 1;
        }
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

void ic_sweep_opts_default(ic_sweep_opts *o, const ic_schedule *base) {
    memset(o, 0, sizeof *o);
    o->shuffles = 20;
    o->span_lo = o->span_hi = -1;
    o->par_loops[0] = 1;
    o->par_loops[1] = 2;
    o->n_par_loops = 2;
    o->max_loops = base && 4 * base->loops > 20 ? 4 * base->loops : 20;
}

/* Appends one variant named by label (parsed on base). */
static int add_variant(ic_variant *v, int *nv, const ic_schedule *base, int n_layer, int row, int col, int group,
                       ic_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 9, 10)))
#endif
    ;
static int add_variant(ic_variant *v, int *nv, const ic_schedule *base, int n_layer, int row, int col, int group,
                       ic_err *err, const char *fmt, ...) {
    ic_variant *x = &v[*nv];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->label, sizeof x->label, fmt, ap);
    va_end(ap);
    x->row = row;
    x->col = col;
    x->group = group;
    x->sched = *base;
    if (ic_schedule_parse(&x->sched, x->label, base, n_layer, err)) return -1;
    (*nv)++;
    return 0;
}

int ic_sweep_variants(ic_sweep_kind kind, const ic_schedule *base, int n_layer, const ic_sweep_opts *o,
                      ic_variant **out, int *n_out, ic_err *err) {
    *out = NULL;
    *n_out = 0;
    const int S = ic_schedule_slots(base);
    size_t cap;
    switch (kind) {
    case IC_SWEEP_SKIP_EACH:
    case IC_SWEEP_DUPLICATE_EACH: cap = (size_t)S; break;
    case IC_SWEEP_SHUFFLE: cap = (size_t)(o->shuffles > 0 ? o->shuffles : 0); break;
    case IC_SWEEP_PARALLEL: cap = (size_t)S * S * (size_t)(o->n_par_loops > 0 ? o->n_par_loops : 0); break;
    case IC_SWEEP_LOOPS: cap = (size_t)(o->max_loops > 0 ? o->max_loops : 0); break;
    default: cap = (size_t)S * S; break;
    }
    if (kind == IC_SWEEP_SKIP_EACH && S < 2) return ic_errf(err, "skip-each needs a body of at least 2 slots");
    if (kind == IC_SWEEP_SHUFFLE && o->shuffles < 1) return ic_errf(err, "shuffle needs at least one seed");
    if (kind == IC_SWEEP_LOOPS && (o->max_loops < 1 || o->max_loops > IC_MAX_LOOPS))
        return ic_errf(err, "loops sweep: max_loops must be in 1..%d (got %d)", IC_MAX_LOOPS, o->max_loops);
    if (kind == IC_SWEEP_PARALLEL && (o->n_par_loops < 1 || o->n_par_loops > IC_SWEEP_MAX_PAR))
        return ic_errf(err, "parallel sweep: give 1..%d loop counts", IC_SWEEP_MAX_PAR);
    if ((kind == IC_SWEEP_SWAP_MATRIX || kind == IC_SWEEP_REVERSE || kind == IC_SWEEP_MIDDLE_REPEAT ||
         kind == IC_SWEEP_PARALLEL) && S < 2)
        return ic_errf(err, "%s needs a body of at least 2 slots (this one has %d)", ic_sweep_name(kind), S);
    ic_variant *v = calloc(cap ? cap : 1, sizeof *v);
    if (!v) return ic_errf(err, "out of memory for %zu variants", cap);
    int nv = 0, rc = 0;
    switch (kind) {
    case IC_SWEEP_SKIP_EACH:
        for (int i = 0; i < S && !rc; i++) rc = add_variant(v, &nv, base, n_layer, -1, i, 0, err, "skip(%d)", i);
        break;
    case IC_SWEEP_DUPLICATE_EACH:
        for (int i = 0; i < S && !rc; i++) rc = add_variant(v, &nv, base, n_layer, -1, i, 0, err, "dup(%d)", i);
        break;
    case IC_SWEEP_DUPLICATE_BLOCK:
        for (int a = 0; a < S && !rc; a++)
            for (int b = a; b < S && !rc; b++)
                rc = a == b ? add_variant(v, &nv, base, n_layer, a, b, 0, err, "dup(%d)", a)
                            : add_variant(v, &nv, base, n_layer, a, b, 0, err, "dup(%d-%d)", a, b);
        break;
    case IC_SWEEP_SWAP_MATRIX:
        for (int a = 0; a < S && !rc; a++)
            for (int b = a + 1; b < S && !rc; b++) rc = add_variant(v, &nv, base, n_layer, a, b, 0, err, "swap(%d,%d)", a, b);
        break;
    case IC_SWEEP_REVERSE:
    case IC_SWEEP_MIDDLE_REPEAT: {
        const char *op = kind == IC_SWEEP_REVERSE ? "reverse" : "middle";
        for (int a = 0; a < S && !rc; a++)
            for (int b = a + 1; b < S && !rc; b++) rc = add_variant(v, &nv, base, n_layer, a, b, 0, err, "%s(%d-%d)", op, a, b);
        break;
    }
    case IC_SWEEP_PARALLEL:
        for (int g = 0; g < o->n_par_loops && !rc; g++) {
            if (o->par_loops[g] < 1) { rc = ic_errf(err, "parallel sweep: loop counts must be >= 1"); break; }
            for (int a = 0; a < S && !rc; a++)
                for (int b = a + 1; b < S && !rc; b++)
                    rc = o->par_loops[g] == 1
                             ? add_variant(v, &nv, base, n_layer, a, b, g, err, "parallel(%d-%d)", a, b)
                             : add_variant(v, &nv, base, n_layer, a, b, g, err, "parallel(%d-%d,%d)", a, b, o->par_loops[g]);
        }
        break;
    case IC_SWEEP_SHUFFLE: {
        int lo = o->span_lo, hi = o->span_hi;
        /* default: the middle 1..S-2 (first and last fixed, as in the seed's
         * shuffles) when it has 2 or more slots, else the whole body (a 3-slot
         * looped core, e.g., has a middle of one slot) */
        if (lo < 0) { lo = S > 3 ? 1 : 0; hi = S > 3 ? S - 2 : S - 1; }
        if (hi <= lo || hi >= S) {
            rc = ic_errf(err, "shuffle: span %d-%d is not 2 or more slots of the body's 0..%d", lo, hi, S - 1);
            break;
        }
        for (int k = 1; k <= o->shuffles && !rc; k++)
            rc = add_variant(v, &nv, base, n_layer, -1, k - 1, 0, err, "shuffle(%d-%d,%d)", lo, hi, k);
        break;
    }
    case IC_SWEEP_LOOPS:
        for (int L = 1; L <= o->max_loops; L++) {
            ic_variant *x = &v[nv++];
            snprintf(x->label, sizeof x->label, "loops=%d", L);
            x->row = -1;
            x->col = L - 1;
            x->sched = *base;
            x->sched.loops = L;
            x->sched.loss_loops = 1;
            x->sched.grad_loops = 0;
        }
        break;
    default: rc = ic_errf(err, "unknown sweep kind %d", (int)kind);
    }
    if (rc) {
        free(v);
        return -1;
    }
    *out = v;
    *n_out = nv;
    return 0;
}

/* ---------------- evaluation ---------------- */

static int same_body(const ic_schedule *a, const ic_schedule *b) {
    if (a->n != b->n || a->inject != b->inject || a->loop_lnf != b->loop_lnf) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->steps[i] != b->steps[i] || a->par[i] != b->par[i]) return 0;
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Statistics of one variant's predictions pv against ys and the unmodified
 * model's pb (pb == NULL: this is the unmodified model). boot [n_boot*nk]
 * scratch, idx [B] scratch. */
static int variant_stats(const float *pv, const float *pb, const float *ys, const ic_surgery_opts *o, double *sq,
                         double *boot, int *idx, ic_variant_result *r, ic_err *err) {
    const int B = o->B, n = o->n, nk = o->nk;
    ic_squared_errors(pv, ys, B, n, o->norm, sq);
    ic_rng rng;
    ic_rng_seed(&rng, o->boot_seed);
    if (ic_curve_from_errors(sq, B, n, o->n_boot, &rng, &r->curve, err)) return -1;
    double all = 0.0;
    for (size_t i = 0; i < (size_t)B * n; i++) all += sq[i];
    r->err_all = all / ((double)B * n);
    double dall = 0.0;
    for (int j = 0; j < nk; j++) {
        const int k = o->ks[j];
        r->err[j] = r->ratio[j] = r->ratio_lo[j] = r->ratio_hi[j] = r->dist[j] = NAN;
        if (k < 0 || k >= n) continue;
        r->err[j] = r->curve.mean[k];
        double dk = 0.0;
        for (int b = 0; b < B; b++) {
            double e = pb ? (double)pv[(size_t)b * n + k] - pb[(size_t)b * n + k] : 0.0;
            dk += e * e / o->norm;
        }
        r->dist[j] = dk / B;
    }
    for (size_t i = 0; pb && i < (size_t)B * n; i++) {
        double e = (double)pv[i] - pb[i];
        dall += e * e / o->norm;
    }
    r->dist_all = dall / ((double)B * n);
    if (!pb) {
        for (int j = 0; j < nk; j++)
            if (isfinite(r->err[j])) r->ratio[j] = r->ratio_lo[j] = r->ratio_hi[j] = 1.0;
        return 0;
    }
    /* paired bootstrap of the ratio: the same resampled prompts for the variant
     * and the unmodified model (same seed for every variant) */
    double *sqb = sq + (size_t)B * n; /* the unmodified model's errors */
    ic_squared_errors(pb, ys, B, n, o->norm, sqb);
    for (int j = 0; j < nk; j++) {
        double den = 0.0;
        const int k = o->ks[j];
        if (k < 0 || k >= n) continue;
        for (int b = 0; b < B; b++) den += sqb[(size_t)b * n + k];
        r->ratio[j] = den > 0 ? r->err[j] * B / den : NAN;
    }
    if (o->n_boot > 0) {
        ic_rng_seed(&rng, o->boot_seed ^ 0x9e3779b97f4a7c15ULL);
        for (int t = 0; t < o->n_boot; t++) {
            for (int b = 0; b < B; b++) idx[b] = (int)ic_rng_below(&rng, (uint64_t)B);
            for (int j = 0; j < nk; j++) {
                const int k = o->ks[j];
                if (k < 0 || k >= n) continue;
                double num = 0.0, den = 0.0;
                for (int b = 0; b < B; b++) {
                    num += sq[(size_t)idx[b] * n + k];
                    den += sqb[(size_t)idx[b] * n + k];
                }
                boot[(size_t)j * o->n_boot + t] = den > 0 ? num / den : NAN;
            }
        }
        for (int j = 0; j < nk; j++) {
            const int k = o->ks[j];
            if (k < 0 || k >= n) continue;
            double *bv = boot + (size_t)j * o->n_boot;
            qsort(bv, (size_t)o->n_boot, sizeof *bv, cmp_double);
            r->ratio_lo[j] = bv[(int)(0.05 * (o->n_boot - 1) + 0.5)];
            r->ratio_hi[j] = bv[(int)(0.95 * (o->n_boot - 1) + 0.5)];
        }
    } else {
        for (int j = 0; j < nk; j++) r->ratio_lo[j] = r->ratio_hi[j] = r->ratio[j];
    }
    return 0;
}

int ic_surgery_eval(const ic_model *m, const ic_schedule *base, const ic_variant *v, int nv, const float *xs,
                    const float *ys, const ic_surgery_opts *o, ic_variant_result *res_base,
                    ic_variant_result *res, ic_err *err) {
    const int B = o->B, n = o->n, d = m->cfg.n_dims, chunk = o->chunk > 0 ? o->chunk : 256;
    if (o->nk < 1 || o->nk > IC_SWEEP_MAX_K) return ic_errf(err, "give 1..%d positions k", IC_SWEEP_MAX_K);
    if (!(o->norm > 0)) return ic_errf(err, "error normaliser must be positive");
    memset(res_base, 0, sizeof *res_base);
    if (nv > 0) memset(res, 0, sizeof *res * (size_t)nv);
    /* loops sweep: every variant is the base body run L times; one forward
     * with the largest L reads every loop's predictions */
    int loops_only = nv > 0;
    int Lmax = base->loops;
    for (int i = 0; i < nv && loops_only; i++) {
        loops_only = same_body(&v[i].sched, base);
        if (v[i].sched.loops > Lmax) Lmax = v[i].sched.loops;
    }
    const size_t Bn = (size_t)B * n;
    float *pb = malloc(sizeof(float) * Bn);
    float *pv = malloc(sizeof(float) * Bn * (loops_only ? (size_t)nv : 1));
    double *sq = malloc(sizeof(double) * Bn * 2);
    double *boot = malloc(sizeof(double) * (size_t)(o->n_boot > 0 ? o->n_boot : 1) * o->nk);
    int *idx = malloc(sizeof(int) * (size_t)B);
    ic_schedule *tmp = malloc(sizeof *tmp);
    ic_workspace ws; /* one for every forward of the sweep */
    ic_workspace_init(&ws);
    int rc = -1;
    if (!pb || !pv || !sq || !boot || !idx || !tmp) {
        ic_errf(err, "out of memory for surgery evaluation (%d prompts x %d points)", B, n);
        goto done;
    }
    if (loops_only) {
        *tmp = *base;
        tmp->loops = Lmax;
        tmp->loss_loops = 1;
        tmp->grad_loops = 0;
        for (int b0 = 0; b0 < B; b0 += chunk) {
            int nb = B - b0 < chunk ? B - b0 : chunk;
            if (ic_model_forward(m, &ws, tmp, xs + (size_t)b0 * n * d, ys + (size_t)b0 * n, nb, n, 0, err)) goto done;
            memcpy(pb + (size_t)b0 * n, ic_workspace_preds(&ws, base->loops - 1), sizeof(float) * (size_t)nb * n);
            for (int i = 0; i < nv; i++)
                memcpy(pv + Bn * i + (size_t)b0 * n, ic_workspace_preds(&ws, v[i].sched.loops - 1),
                       sizeof(float) * (size_t)nb * n);
        }
    } else if (ic_model_predict_ws(m, &ws, base, xs, ys, B, n, chunk, pb, err)) {
        goto done;
    }
    if (variant_stats(pb, NULL, ys, o, sq, boot, idx, res_base, err)) goto done;
    for (int i = 0; i < nv; i++) {
        float *p = loops_only ? pv + Bn * i : pv;
        if (!loops_only && ic_model_predict_ws(m, &ws, &v[i].sched, xs, ys, B, n, chunk, p, err)) {
            ic_err_prefix(err, "variant %s", v[i].label);
            goto done;
        }
        if (variant_stats(p, pb, ys, o, sq, boot, idx, &res[i], err)) goto done;
        res[i].same_as_original = same_body(&v[i].sched, base) && v[i].sched.loops == base->loops;
        if (o->progress) o->progress(o->progress_ctx, i + 1, nv);
    }
    rc = 0;
done:
    if (rc) {
        ic_surgery_results_free(res_base, 1);
        ic_surgery_results_free(res, nv);
    }
    free(pb); free(pv); free(sq); free(boot); free(idx); free(tmp);
    ic_workspace_free(&ws);
    return rc;
}

int ic_paired_stats(const float *pv, const float *pb, const float *ys, const ic_surgery_opts *o, ic_variant_result *r,
                    ic_err *err) {
    memset(r, 0, sizeof *r);
    if (o->nk < 1 || o->nk > IC_SWEEP_MAX_K) return ic_errf(err, "give 1..%d positions k", IC_SWEEP_MAX_K);
    if (!(o->norm > 0)) return ic_errf(err, "error normaliser must be positive");
    const size_t Bn = (size_t)o->B * o->n;
    double *sq = malloc(sizeof(double) * Bn * 2);
    double *boot = malloc(sizeof(double) * (size_t)(o->n_boot > 0 ? o->n_boot : 1) * o->nk);
    int *idx = malloc(sizeof(int) * (size_t)o->B);
    int rc = -1;
    if (!sq || !boot || !idx) ic_errf(err, "out of memory");
    else rc = variant_stats(pv, pb, ys, o, sq, boot, idx, r, err);
    free(sq); free(boot); free(idx);
    return rc;
}

void ic_surgery_results_free(ic_variant_result *r, int n) {
    for (int i = 0; r && i < n; i++) ic_curve_free(&r[i].curve);
}

int ic_surgery_best(const ic_variant_result *r, int n, int j, int worst) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        double x = r[i].ratio[j];
        if (!isfinite(x) || r[i].same_as_original) continue;
        if (best < 0 || (worst ? x > r[best].ratio[j] : x < r[best].ratio[j])) best = i;
    }
    return best;
}

/* ---------------- output ---------------- */

/* Undefined numbers (a ratio to a zero or NaN error, a diverged variant) are
 * null in the JSON and empty in the CSV (numout.h). */
json_t *ic_curve_json(const ic_curve *c) {
    return json_pack("{s:o,s:o,s:o}", "mean", ic_json_nums(c->mean, c->n), "lo90", ic_json_nums(c->lo, c->n), "hi90",
                     ic_json_nums(c->hi, c->n));
}

json_t *ic_paired_at_k_json(const ic_variant_result *r, const ic_surgery_opts *o) {
    json_t *at = json_array();
    for (int q = 0; at && q < o->nk; q++)
        json_array_append_new(at, json_pack("{s:i,s:o,s:o,s:o,s:o,s:o}", "k", o->ks[q], "err", ic_json_num(r->err[q]),
                                            "ratio", ic_json_num(r->ratio[q]), "ratio_lo90", ic_json_num(r->ratio_lo[q]),
                                            "ratio_hi90", ic_json_num(r->ratio_hi[q]), "dist", ic_json_num(r->dist[q])));
    return at;
}

void ic_paired_table_cols(ic_table *t, const ic_surgery_opts *o) {
    for (int q = 0; q < o->nk; q++) {
        ic_table_col(t, IC_COL_NUM, NULL, "err_k%d", o->ks[q]);
        ic_table_col(t, IC_COL_NUM, NULL, "ratio_k%d", o->ks[q]);
        ic_table_col(t, IC_COL_NUM, NULL, "ratio_lo90_k%d", o->ks[q]);
        ic_table_col(t, IC_COL_NUM, NULL, "ratio_hi90_k%d", o->ks[q]);
        ic_table_col(t, IC_COL_NUM, NULL, "dist_k%d", o->ks[q]);
    }
}

int ic_paired_table_cells(ic_cell *c, const ic_variant_result *r, const ic_surgery_opts *o) {
    int k = 0;
    for (int q = 0; q < o->nk; q++) {
        c[k++] = ic_cell_num(r->err[q]);
        c[k++] = ic_cell_num(r->ratio[q]);
        c[k++] = ic_cell_num(r->ratio_lo[q]);
        c[k++] = ic_cell_num(r->ratio_hi[q]);
        c[k++] = ic_cell_num(r->dist[q]);
    }
    return k;
}

static json_t *result_json(const ic_variant *v, const ic_variant_result *r, const ic_surgery_opts *o) {
    char buf[8 * IC_MAX_SCHEDULE + 16];
    json_t *j = json_object();
    json_object_set_new(j, "label", json_string(v ? v->label : "original"));
    if (v) {
        ic_schedule_format(&v->sched, buf, sizeof buf);
        json_object_set_new(j, "schedule", json_string(buf));
        json_object_set_new(j, "loops", json_integer(v->sched.loops));
        if (v->row >= 0) json_object_set_new(j, "row", json_integer(v->row));
        json_object_set_new(j, "col", json_integer(v->col));
    }
    json_object_set_new(j, "at_k", ic_paired_at_k_json(r, o));
    json_object_set_new(j, "err_all_positions", ic_json_num(r->err_all));
    if (v) json_object_set_new(j, "same_as_original", json_boolean(r->same_as_original));
    json_object_set_new(j, "dist_all_positions", ic_json_num(r->dist_all));
    json_object_set_new(j, "curve", ic_curve_json(&r->curve));
    return j;
}

static int is_2d(ic_sweep_kind k) {
    return k == IC_SWEEP_DUPLICATE_BLOCK || k == IC_SWEEP_SWAP_MATRIX || k == IC_SWEEP_REVERSE ||
           k == IC_SWEEP_MIDDLE_REPEAT || k == IC_SWEEP_PARALLEL;
}

static int write_plots(const char *dir, ic_sweep_kind kind, const ic_sweep_opts *so, const ic_surgery_opts *o,
                       const ic_schedule *base, const ic_variant *v, const ic_variant_result *rb,
                       const ic_variant_result *r, int nv, ic_err *err) {
    const char *name = ic_sweep_name(kind);
    char path[4096], file[256], title[256];
    int rc = -1;
    const int S = ic_schedule_slots(base);
    double *vals = malloc(sizeof(double) * (size_t)(S * S > nv ? S * S : nv) + sizeof(double));
    double *lo = malloc(sizeof(double) * (size_t)(nv + 1)), *hi = malloc(sizeof(double) * (size_t)(nv + 1));
    double *xs = malloc(sizeof(double) * (size_t)(nv + 1));
    const char **labels = malloc(sizeof(char *) * (size_t)(nv + S + 1));
    char(*slot_names)[12] = malloc(sizeof *slot_names * (size_t)(S + 1));
    if (!vals || !lo || !hi || !xs || !labels || !slot_names) {
        ic_errf(err, "out of memory for plots");
        goto done;
    }
    for (int s = 0; s < S; s++) {
        snprintf(slot_names[s], sizeof slot_names[s], "%d", s);
        labels[nv + s] = slot_names[s];
    }
    for (int q = 0; q < o->nk; q++) {
        const int k = o->ks[q];
        if (k < 0 || k >= o->n) continue;
        if (is_2d(kind)) {
            const int ng = kind == IC_SWEEP_PARALLEL ? so->n_par_loops : 1;
            for (int g = 0; g < ng; g++) {
                for (int c = 0; c < S * S; c++) vals[c] = NAN;
                for (int i = 0; i < nv; i++) {
                    if (v[i].group != g || v[i].row < 0) continue;
                    vals[v[i].row * S + v[i].col] = r[i].ratio[q];
                    if (kind == IC_SWEEP_SWAP_MATRIX) vals[v[i].col * S + v[i].row] = r[i].ratio[q];
                }
                const char *what = kind == IC_SWEEP_SWAP_MATRIX ? "swap slots i, j" : NULL;
                if (kind == IC_SWEEP_PARALLEL) {
                    snprintf(title, sizeof title, "parallel span, applied %d time%s: error ratio to the original at k = %d",
                             so->par_loops[g], so->par_loops[g] > 1 ? "s" : "", k);
                    snprintf(file, sizeof file, "%s_K%d_k%d.svg", name, so->par_loops[g], k);
                } else {
                    snprintf(title, sizeof title, "%s: error ratio to the original at k = %d", what ? what : name, k);
                    snprintf(file, sizeof file, "%s_k%d.svg", name, k);
                }
                ic_plot_opts po = ic_plot_default_opts();
                po.title = title;
                po.xlabel = kind == IC_SWEEP_SWAP_MATRIX ? "slot j" : "span end slot";
                po.ylabel = kind == IC_SWEEP_SWAP_MATRIX ? "slot i" : "span start slot";
                if (ic_path_join(path, sizeof path, dir, file, err) ||
                    ic_plot_heatmap(path, &po, vals, S, S, labels + nv, labels + nv, 1, 1, err))
                    goto done;
            }
        } else if (kind == IC_SWEEP_LOOPS) {
            for (int i = 0; i < nv; i++) {
                xs[i] = v[i].sched.loops;
                vals[i] = r[i].ratio[q];
                lo[i] = r[i].ratio_lo[q];
                hi[i] = r[i].ratio_hi[q];
            }
            ic_series ser = {.label = "variant / original", .x = xs, .y = vals, .n = nv, .lo = lo, .hi = hi};
            snprintf(title, sizeof title, "Error ratio to the original (%d loop%s) at k = %d, by loop count", base->loops,
                     base->loops > 1 ? "s" : "", k);
            ic_plot_opts po = ic_plot_default_opts();
            po.title = title;
            po.xlabel = "loops";
            po.ylabel = "error ratio";
            po.logy = 1;
            snprintf(file, sizeof file, "%s_k%d.svg", name, k);
            if (ic_path_join(path, sizeof path, dir, file, err) || ic_plot_lines(path, &po, &ser, 1, err)) goto done;
        } else {
            for (int i = 0; i < nv; i++) {
                labels[i] = v[i].label;
                vals[i] = r[i].ratio[q];
                lo[i] = r[i].ratio_lo[q];
                hi[i] = r[i].ratio_hi[q];
            }
            snprintf(title, sizeof title, "%s: error ratio to the original at k = %d (90%% paired interval)", name, k);
            ic_plot_opts po = ic_plot_default_opts();
            po.title = title;
            po.ylabel = "error ratio (log)";
            po.logy = 1;
            po.width = nv > 12 ? 240 + 44 * nv : 0;
            snprintf(file, sizeof file, "%s_k%d.svg", name, k);
            if (ic_path_join(path, sizeof path, dir, file, err) ||
                ic_plot_bars(path, &po, labels, vals, lo, hi, nv, 1.0, err))
                goto done;
        }
    }
    /* the original with the best and the worst variant at the last k */
    {
        int q = o->nk - 1;
        int bi = ic_surgery_best(r, nv, q, 0), wi = ic_surgery_best(r, nv, q, 1);
        double *px = malloc(sizeof(double) * (size_t)o->n);
        if (!px) { ic_errf(err, "out of memory"); goto done; }
        for (int i = 0; i < o->n; i++) px[i] = i;
        char lb[2][96];
        ic_series ser[3];
        int ns = 0;
        ser[ns++] = (ic_series){.label = "original", .x = px, .y = rb->curve.mean, .n = o->n, .lo = rb->curve.lo, .hi = rb->curve.hi};
        if (bi >= 0) {
            snprintf(lb[0], sizeof lb[0], "best: %s", v[bi].label);
            ser[ns++] = (ic_series){.label = lb[0], .x = px, .y = r[bi].curve.mean, .n = o->n, .lo = r[bi].curve.lo,
                                    .hi = r[bi].curve.hi, .dashed = 1};
        }
        if (wi >= 0 && wi != bi) {
            snprintf(lb[1], sizeof lb[1], "worst: %s", v[wi].label);
            ser[ns++] = (ic_series){.label = lb[1], .x = px, .y = r[wi].curve.mean, .n = o->n, .lo = r[wi].curve.lo,
                                    .hi = r[wi].curve.hi, .dashed = 1};
        }
        snprintf(title, sizeof title, "%s: the original, the best and the worst variant (ranked at k = %d)", name, o->ks[q]);
        ic_plot_opts po = ic_plot_default_opts();
        po.title = title;
        po.xlabel = "in-context examples k";
        po.ylabel = "squared error / d";
        po.logy = 1;
        snprintf(file, sizeof file, "%s_curves.svg", name);
        int prc = ic_path_join(path, sizeof path, dir, file, err) || ic_plot_lines(path, &po, ser, ns, err);
        free(px);
        if (prc) goto done;
    }
    rc = 0;
done:
    free(vals); free(lo); free(hi); free(xs); free(labels); free(slot_names);
    return rc;
}

int ic_surgery_write(const char *dir, ic_sweep_kind kind, const ic_sweep_opts *so, const ic_surgery_opts *o,
                     const ic_schedule *base, const ic_variant *v, const ic_variant_result *res_base,
                     const ic_variant_result *res, int nv, ic_err *err) {
    const char *name = ic_sweep_name(kind);
    char file[256];
    char *sched = malloc(8 * IC_MAX_SCHEDULE + 16);
    ic_table t = {0};
    ic_cell *cells = NULL;
    json_t *root = NULL;
    int rc = -1;
    if (!sched) return ic_errf(err, "out of memory");
    if (ic_mkdirs(dir, err)) goto done;
    /* CSV: one row per variant, the original first */
    ic_table_col(&t, IC_COL_QUOTED, NULL, "variant");
    ic_table_col(&t, IC_COL_QUOTED, NULL, "schedule");
    ic_table_col(&t, IC_COL_INT, NULL, "loops");
    ic_table_col(&t, IC_COL_INT, NULL, "row");
    ic_table_col(&t, IC_COL_INT, NULL, "col");
    ic_paired_table_cols(&t, o);
    ic_table_col(&t, IC_COL_NUM, NULL, "err_all");
    ic_table_col(&t, IC_COL_NUM, NULL, "dist_all");
    cells = malloc(sizeof *cells * (size_t)(7 + 5 * o->nk));
    if (!cells) { ic_errf(err, "out of memory"); goto done; }
    for (int i = -1; i < nv; i++) {
        const ic_variant_result *r = i < 0 ? res_base : &res[i];
        const ic_schedule *s = i < 0 ? base : &v[i].sched;
        ic_schedule_format(s, sched, 8 * IC_MAX_SCHEDULE + 16);
        int c = 0;
        cells[c++] = ic_cell_str(i < 0 ? "original" : v[i].label);
        cells[c++] = ic_cell_str(sched);
        cells[c++] = ic_cell_int(s->loops);
        /* row, col: the heatmap cell; empty where there is none (the original, 1-d sweeps' row) */
        cells[c++] = i >= 0 && v[i].row >= 0 ? ic_cell_int(v[i].row) : ic_cell_none();
        cells[c++] = i >= 0 && v[i].col >= 0 ? ic_cell_int(v[i].col) : ic_cell_none();
        c += ic_paired_table_cells(cells + c, r, o);
        cells[c++] = ic_cell_num(r->err_all);
        cells[c++] = ic_cell_num(r->dist_all);
        ic_table_row(&t, cells);
    }
    snprintf(file, sizeof file, "%s.csv", name);
    if (ic_table_write_csv(&t, dir, file, err)) goto done;
    /* JSON */
    root = json_object();
    json_object_set_new(root, "sweep", json_string(name));
    ic_schedule_format(base, sched, 8 * IC_MAX_SCHEDULE + 16);
    json_object_set_new(root, "base_schedule", json_string(sched));
    json_object_set_new(root, "base_loops", json_integer(base->loops));
    json_object_set_new(root, "prompts", json_integer(o->B));
    json_object_set_new(root, "n_points", json_integer(o->n));
    json_object_set_new(root, "error_normaliser", ic_json_num(o->norm));
    if (o->task) {
        json_t *jt = ic_task_spec_json(o->task);
        if (!jt) { ic_errf(err, "out of memory"); goto done; }
        json_object_set_new(root, "task_spec", jt);
    }
    json_object_set_new(root, "bootstrap", json_integer(o->n_boot));
    json_object_set_new(root, "ratio_definition",
                        json_string("mean error of the variant / mean error of the original at k, same prompts; "
                                    "interval: paired percentile bootstrap over prompts, 90%; null = undefined"));
    json_object_set_new(root, "dist_definition",
                        json_string("mean over prompts of (prediction - original prediction)^2 / normaliser"));
    json_object_set_new(root, "original", result_json(NULL, res_base, o));
    json_t *arr = json_array();
    for (int i = 0; i < nv; i++) json_array_append_new(arr, result_json(&v[i], &res[i], o));
    json_object_set_new(root, "variants", arr);
    json_t *bw = json_array();
    for (int q = 0; q < o->nk; q++) {
        int bi = ic_surgery_best(res, nv, q, 0), wi = ic_surgery_best(res, nv, q, 1);
        /* no variant with a defined ratio at k: no best or worst (null) */
        json_array_append_new(bw, json_pack("{s:i,s:o,s:o,s:o,s:o}", "k", o->ks[q], "best",
                                            bi >= 0 ? json_string(v[bi].label) : json_null(), "best_ratio",
                                            ic_json_num(bi >= 0 ? res[bi].ratio[q] : NAN), "worst",
                                            wi >= 0 ? json_string(v[wi].label) : json_null(), "worst_ratio",
                                            ic_json_num(wi >= 0 ? res[wi].ratio[q] : NAN)));
    }
    json_object_set_new(root, "best_worst", bw);
    snprintf(file, sizeof file, "%s.json", name);
    if (ic_out_json(dir, file, root, err)) goto done;
    if (write_plots(dir, kind, so, o, base, v, res_base, res, nv, err)) goto done;
    rc = 0;
done:
    free(sched);
    free(cells);
    ic_table_free(&t);
    json_decref(root);
    return rc;
}
