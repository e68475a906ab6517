/* probe.c: captures of the residual stream and the analyses of probe.h
 * (docs/probing.md). Linear algebra by BLAS (dgemm) and LAPACK (dposv,
 * dgesdd); every reduction in double. */
#include "probe.h"

#include <cblas.h>
#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "baselines.h"
#include "eval.h"
#include "ops.h"
#include "rng.h"
#include "safetensors.h"

/* ======================= capture ======================= */

void ic_capture_free(ic_capture *cap) {
    if (!cap) return;
    free(cap->step_first);
    free(cap->step_len);
    free(cap->xs);
    free(cap->ys);
    free(cap->resid);
    free(cap->attn);
    free(cap->mlp);
    free(cap->preds);
    memset(cap, 0, sizeof *cap);
}

static size_t cap_btc(const ic_capture *cap) { return (size_t)cap->B * cap->T * cap->C; }

float *ic_capture_state(const ic_capture *cap, int k) {
    if (!cap->resid || k < 0 || k >= cap->n_states) return NULL;
    return cap->resid + (size_t)k * cap_btc(cap);
}

int ic_capture_index(const ic_capture *cap, int loop, int j) { return loop * (cap->n_steps + 1) + j; }

static void step_label(const ic_capture *cap, int q, char *buf, size_t len) {
    const int f = cap->step_first[q], k = cap->step_len[q];
    if (k == 1) {
        snprintf(buf, len, "b%d", cap->sched.steps[f]);
        return;
    }
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int j = 0; j < k && used < len; j++)
        used += (size_t)snprintf(buf + used, len - used, "%s%d", j ? "|" : "", cap->sched.steps[f + j]);
    if (used < len) snprintf(buf + used, len - used, ")");
}

void ic_capture_label(const ic_capture *cap, int k, char *buf, size_t len) {
    if (len == 0) return;
    buf[0] = '\0';
    if (k < 0 || k >= cap->n_states) return;
    const int l = k / (cap->n_steps + 1), j = k % (cap->n_steps + 1);
    char pre[32] = "", st[256];
    if (cap->loops > 1) snprintf(pre, sizeof pre, "l%d.", l + 1);
    if (j == 0) {
        snprintf(buf, len, "%sin", pre);
        return;
    }
    step_label(cap, j - 1, st, sizeof st);
    snprintf(buf, len, "%s%d:%s", pre, j, st);
}

typedef struct {
    ic_capture *cap;
    size_t off; /* first float of the current chunk in a state */
} capture_ctx;

/* Copies each step's output (and, at step 0, the loop input) of a chunk. */
static void capture_hook(void *vctx, int loop, int step, float *resid, const float *resid_in, int B, int T, int C) {
    capture_ctx *c = vctx;
    const size_t cnt = (size_t)B * T * C;
    if (step == 0) memcpy(ic_capture_state(c->cap, ic_capture_index(c->cap, loop, 0)) + c->off, resid_in, sizeof(float) * cnt);
    memcpy(ic_capture_state(c->cap, ic_capture_index(c->cap, loop, step + 1)) + c->off, resid, sizeof(float) * cnt);
}

int ic_probe_capture(const ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n,
                     int chunk, int parts, ic_capture *cap, ic_err *err) {
    ic_capture_free(cap);
    if (ic_schedule_validate(s, m->cfg.n_layer, err)) return -1;
    if (s->prelude || s->coda) /* the capture's layout is every slot in every loop */
        return ic_errf(err, "probing a body with a prelude or coda is not supported yet (the capture holds every "
                       "slot of every loop)");
    if (!xs || !ys) return ic_errf(err, "capture needs prompts (xs and ys)");
    if (B < 1) return ic_errf(err, "capture needs at least one prompt (got %d)", B);
    if (n < 1 || n > m->cfg.n_positions)
        return ic_errf(err, "prompts have %d points but the model's position table holds %d", n, m->cfg.n_positions);
    if (chunk <= 0) chunk = 128;
    ic_schedule *rs = malloc(sizeof *rs);
    if (!rs) return ic_errf(err, "out of memory");
    *rs = *s;
    rs->grad_loops = rs->loops; /* every loop stores its activations */
    const int C = m->cfg.n_embd, d = m->cfg.n_dims, T = 2 * n, L = s->loops, nb = s->n;
    const int S = ic_schedule_slots(s);
    cap->B = B;
    cap->n = n;
    cap->T = T;
    cap->C = C;
    cap->d = d;
    cap->loops = L;
    cap->n_steps = S;
    cap->n_states = L * (S + 1);
    cap->sched = *s;
    cap->step_first = malloc(sizeof(int) * (size_t)S);
    cap->step_len = malloc(sizeof(int) * (size_t)S);
    const size_t BTC = (size_t)B * T * C, TC = (size_t)T * C;
    cap->xs = malloc(sizeof(float) * (size_t)B * n * d);
    cap->ys = malloc(sizeof(float) * (size_t)B * n);
    cap->preds = malloc(sizeof(float) * (size_t)B * n);
    cap->resid = malloc(sizeof(float) * BTC * (size_t)cap->n_states);
    if (parts) {
        cap->attn = malloc(sizeof(float) * BTC * (size_t)L * S);
        cap->mlp = malloc(sizeof(float) * BTC * (size_t)L * S);
    }
    if (!cap->step_first || !cap->step_len || !cap->xs || !cap->ys || !cap->preds || !cap->resid ||
        (parts && (!cap->attn || !cap->mlp))) {
        double mb = 4.0 * (double)BTC * (cap->n_states + (parts ? 2.0 * L * S : 0.0)) / 1e6;
        ic_capture_free(cap);
        free(rs);
        return ic_errf(err, "out of memory: the capture needs %.0f MB (use fewer prompts)", mb);
    }
    for (int j0 = 0, q = 0; j0 < nb; j0 = ic_schedule_group_end(s, j0), q++) {
        cap->step_first[q] = j0;
        cap->step_len[q] = ic_schedule_group_end(s, j0) - j0;
    }
    memcpy(cap->xs, xs, sizeof(float) * (size_t)B * n * d);
    memcpy(cap->ys, ys, sizeof(float) * (size_t)B * n);
    /* Without parts the states come from the workspace's step hook in a no-grad
     * forward (one loop's activations in memory); with parts from the stored
     * activations of a forward with need_grad = 1 (every loop's). */
    capture_ctx cc = {cap, 0};
    ic_workspace ws;
    ic_workspace_init(&ws);
    if (!parts) {
        ws.step_hook = capture_hook;
        ws.step_hook_ctx = &cc;
    }
    int rc = 0;
    for (int b0 = 0; b0 < B && !rc; b0 += chunk) {
        const int cb = B - b0 < chunk ? B - b0 : chunk;
        cc.off = (size_t)b0 * TC;
        if (ic_model_forward(m, &ws, rs, xs + (size_t)b0 * n * d, ys + (size_t)b0 * n, cb, n, parts, err)) {
            rc = -1;
            break;
        }
        memcpy(cap->preds + (size_t)b0 * n, ic_workspace_preds(&ws, -1), sizeof(float) * (size_t)cb * n);
        if (!parts) continue;
        const size_t cTC = (size_t)cb * TC, off = (size_t)b0 * TC;
        for (int l = 0; l < L; l++) {
            const float *h = ws.loop_acts[l].in; /* the current step's input */
            memcpy(ic_capture_state(cap, ic_capture_index(cap, l, 0)) + off, h, sizeof(float) * cTC);
            for (int q = 0; q < S; q++) {
                const ic_block_acts *ba = &ws.block_acts[(size_t)l * nb + cap->step_first[q]];
                const int k = cap->step_len[q];
                const float *out = ba[k - 1].out; /* a group's mean lives in its last member's out */
                memcpy(ic_capture_state(cap, ic_capture_index(cap, l, q + 1)) + off, out, sizeof(float) * cTC);
                float *pa = cap->attn + ((size_t)l * S + q) * BTC + off;
                float *pm = cap->mlp + ((size_t)l * S + q) * BTC + off;
                if (k == 1) {
                    for (size_t i = 0; i < cTC; i++) {
                        pa[i] = ba[0].res2[i] - h[i];
                        pm[i] = out[i] - ba[0].res2[i];
                    }
                } else {
                    const float inv = 1.0f / (float)k;
                    for (size_t i = 0; i < cTC; i++) {
                        float a = 0.0f;
                        for (int j = 0; j < k; j++) a += ba[j].res2[i] - h[i];
                        pa[i] = a * inv;
                        pm[i] = (out[i] - h[i]) - pa[i];
                    }
                }
                h = out;
            }
        }
    }
    ic_workspace_free(&ws);
    free(rs);
    if (rc) ic_capture_free(cap);
    return rc;
}

int ic_capture_dump(const char *path, const ic_capture *cap, const char *const *keys, const char *const *vals,
                    int n_extra, ic_err *err) {
    const int L = cap->loops, S = cap->n_steps;
    const int nt = 3 + cap->n_states + (cap->attn ? 2 * L * S : 0);
    st_wtensor *t = calloc((size_t)nt, sizeof *t);
    char (*names)[64] = calloc((size_t)nt, sizeof *names);
    const char **mk = calloc((size_t)n_extra + 4, sizeof *mk), **mv = calloc((size_t)n_extra + 4, sizeof *mv);
    char *sched = malloc(16384), loops[32];
    json_t *steps = json_array();
    char *steps_js = NULL;
    int rc = -1;
    if (!t || !names || !mk || !mv || !sched || !steps) {
        ic_errf(err, "out of memory");
        goto done;
    }
    int k = 0;
    t[k++] = (st_wtensor){"xs", ST_F32, 3, {cap->B, cap->n, cap->d}, cap->xs};
    t[k++] = (st_wtensor){"ys", ST_F32, 2, {cap->B, cap->n}, cap->ys};
    t[k++] = (st_wtensor){"preds", ST_F32, 2, {cap->B, cap->n}, cap->preds};
    for (int l = 0; l < L; l++)
        for (int j = 0; j <= S; j++) {
            if (j == 0) snprintf(names[k], sizeof names[k], "resid.loop%d.in", l);
            else snprintf(names[k], sizeof names[k], "resid.loop%d.step%d", l, j - 1);
            t[k] = (st_wtensor){names[k], ST_F32, 3, {cap->B, cap->T, cap->C},
                                ic_capture_state(cap, ic_capture_index(cap, l, j))};
            k++;
        }
    if (cap->attn)
        for (int l = 0; l < L; l++)
            for (int q = 0; q < S; q++)
                for (int w = 0; w < 2; w++) {
                    snprintf(names[k], sizeof names[k], "%s.loop%d.step%d", w ? "mlp" : "attn", l, q);
                    t[k] = (st_wtensor){names[k], ST_F32, 3, {cap->B, cap->T, cap->C},
                                        (w ? cap->mlp : cap->attn) + ((size_t)l * S + q) * cap_btc(cap)};
                    k++;
                }
    for (int q = 0; q < S; q++) {
        char lab[256];
        step_label(cap, q, lab, sizeof lab);
        json_array_append_new(steps, json_string(lab));
    }
    steps_js = json_dumps(steps, JSON_COMPACT);
    ic_schedule_format(&cap->sched, sched, 16384);
    snprintf(loops, sizeof loops, "%d", L);
    int nm = 0;
    mk[nm] = "iclab_probe";
    mv[nm++] = "residual-stream capture (iclab probe): resid.loop{l}.in is loop l's input, resid.loop{l}.step{j} "
               "the residual after step j (0-based; a parallel group is one step), [B,T,C]; token 2i is x_i, "
               "2i+1 is y_i; attn/mlp: each step's attention and MLP outputs (group: mean over members)";
    mk[nm] = "schedule";
    mv[nm++] = sched;
    mk[nm] = "loops";
    mv[nm++] = loops;
    mk[nm] = "steps";
    mv[nm++] = steps_js ? steps_js : "[]";
    for (int i = 0; i < n_extra; i++) {
        mk[nm] = keys[i];
        mv[nm++] = vals[i];
    }
    rc = st_write_file(path, t, k, mk, mv, nm, err);
done:
    free(t);
    free(names);
    free(mk);
    free(mv);
    free(sched);
    free(steps_js);
    json_decref(steps);
    return rc;
}

/* ======================= lens ======================= */

int ic_probe_lens(const ic_model *m, const ic_capture *cap, float *pred, ic_err *err) {
    if (cap->C != m->cfg.n_embd) return ic_errf(err, "capture has %d channels, the model %d", cap->C, m->cfg.n_embd);
    const size_t BTC = cap_btc(cap), BT = (size_t)cap->B * cap->T;
    float *f = malloc(sizeof(float) * BTC), *mean = malloc(sizeof(float) * BT), *rstd = malloc(sizeof(float) * BT);
    if (!f || !mean || !rstd) {
        free(f);
        free(mean);
        free(rstd);
        return ic_errf(err, "out of memory");
    }
    const ic_params *p = &m->params;
    for (int k = 0; k < cap->n_states; k++) {
        ic_layernorm_forward(f, mean, rstd, ic_capture_state(cap, k), p->lnf_w, p->lnf_b, (int)BT, cap->C);
        ic_readout_forward(pred + (size_t)k * cap->B * cap->n, f, p->read_out_w, p->read_out_b, cap->B, cap->T,
                           cap->n, cap->C);
    }
    free(f);
    free(mean);
    free(rstd);
    return 0;
}

/* ======================= probes ======================= */

static const char *const TARGET_NAMES[IC_PT_COUNT] = {"y", "w", "xty", "lsq"};

const char *ic_probe_target_name(int t) { return t >= 0 && t < IC_PT_COUNT ? TARGET_NAMES[t] : "?"; }

void ic_probe_target_cols(int t, int d, int *first, int *count) {
    *first = t == IC_PT_Y ? 0 : 1 + (t - 1) * d;
    *count = t == IC_PT_Y ? 1 : d;
}

int ic_probe_targets(const float *xs, const float *ys, const float *w, int B, int n, int d, double *out,
                     ic_err *err) {
    if (n < 2) return ic_errf(err, "probes need prompts of at least 2 points (got %d)", n);
    const int K = IC_PT_COLS(d);
    int failed = 0;
    ic_err first = {{0}};
    #pragma omp parallel
    {
        double *X = malloc(sizeof(double) * (size_t)n * d), *y = malloc(sizeof(double) * (size_t)n),
               *wl = malloc(sizeof(double) * (size_t)d);
        ic_err e = {{0}};
        int bad = !X || !y || !wl;
        if (bad) ic_errf(&e, "out of memory");
        #pragma omp for schedule(dynamic, 8)
        for (int b = 0; b < B; b++) {
            if (bad) continue;
            for (int r = 0; r < n * d; r++) X[r] = xs[(size_t)b * n * d + r];
            for (int r = 0; r < n; r++) y[r] = ys[(size_t)b * n + r];
            for (int i = 1; i < n; i++) {
                double *o = out + ((size_t)b * (n - 1) + i - 1) * K;
                o[0] = y[i];
                for (int c = 0; c < d; c++) o[1 + c] = w ? (double)w[(size_t)b * d + c] : NAN;
                for (int c = 0; c < d; c++) {
                    double sacc = 0.0;
                    for (int r = 0; r < i; r++) sacc += X[(size_t)r * d + c] * y[r];
                    o[1 + d + c] = sacc / i;
                }
                if (ic_solve_least_squares(X, y, i, d, wl, &e)) {
                    bad = 1;
                    break;
                }
                for (int c = 0; c < d; c++) o[1 + 2 * d + c] = wl[c];
            }
        }
        #pragma omp critical
        if (bad && !failed) {
            failed = 1;
            first = e;
        }
        free(X);
        free(y);
        free(wl);
    }
    if (failed) {
        if (err) *err = first;
        return -1;
    }
    return 0;
}

int ic_ridge_init(ic_ridge *r, int F, int K, ic_err *err) {
    memset(r, 0, sizeof *r);
    if (F < 1 || K < 1) return ic_errf(err, "ridge needs at least one feature and one target (F=%d, K=%d)", F, K);
    r->F = F;
    r->K = K;
    r->xx = calloc((size_t)F * F, sizeof(double));
    r->xy = calloc((size_t)F * K, sizeof(double));
    r->sx = calloc((size_t)F, sizeof(double));
    r->sy = calloc((size_t)K, sizeof(double));
    if (!r->xx || !r->xy || !r->sx || !r->sy) {
        ic_ridge_free(r);
        return ic_errf(err, "out of memory");
    }
    return 0;
}

void ic_ridge_free(ic_ridge *r) {
    free(r->xx);
    free(r->xy);
    free(r->sx);
    free(r->sy);
    memset(r, 0, sizeof *r);
}

void ic_ridge_add(ic_ridge *r, const double *X, const double *Y, int N) {
    if (N <= 0) return;
    const int F = r->F, K = r->K;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, F, N, 1.0, X, F, X, F, 1.0, r->xx, F);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, K, N, 1.0, X, F, Y, K, 1.0, r->xy, K);
    for (int i = 0; i < N; i++) {
        for (int f = 0; f < F; f++) r->sx[f] += X[(size_t)i * F + f];
        for (int k = 0; k < K; k++) r->sy[k] += Y[(size_t)i * K + k];
    }
    r->N += N;
}

int ic_ridge_solve(const ic_ridge *r, double lambda, double *W, double *b, ic_err *err) {
    const int F = r->F, K = r->K;
    if (r->N < 2) return ic_errf(err, "ridge needs at least 2 rows (got %.0f)", r->N);
    if (!(lambda >= 0)) return ic_errf(err, "ridge lambda must be >= 0 (got %g)", lambda);
    const double N = r->N;
    double *A = malloc(sizeof(double) * (size_t)F * F), *mx = malloc(sizeof(double) * (size_t)F);
    if (!A || !mx) {
        free(A);
        free(mx);
        return ic_errf(err, "out of memory");
    }
    for (int f = 0; f < F; f++) mx[f] = r->sx[f] / N;
    double tr = 0.0;
    for (int i = 0; i < F; i++) {
        for (int j = 0; j < F; j++) A[(size_t)i * F + j] = r->xx[(size_t)i * F + j] / N - mx[i] * mx[j];
        tr += A[(size_t)i * F + i];
    }
    for (int i = 0; i < F; i++)
        for (int k = 0; k < K; k++) W[(size_t)i * K + k] = r->xy[(size_t)i * K + k] / N - mx[i] * r->sy[k] / N;
    double reg = lambda * (tr > 0 ? tr / F : 1.0);
    for (int i = 0; i < F; i++) A[(size_t)i * F + i] += reg;
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', F, K, A, F, W, K);
    if (info != 0) {
        free(A);
        free(mx);
        return ic_errf(err, "ridge system is not positive definite (dposv info %d); raise lambda (%g)", (int)info,
                       lambda);
    }
    for (int k = 0; k < K; k++) {
        double s = r->sy[k] / N;
        for (int f = 0; f < F; f++) s -= mx[f] * W[(size_t)f * K + k];
        b[k] = s;
    }
    free(A);
    free(mx);
    return 0;
}

/* R^2 and MSE of prediction columns [pc0, pc0+nc) of X W + b against target
 * columns [tc0, tc0+nc) of Y [N,KY]; rows with a NaN target are skipped. */
static void score_cols(const double *X, int N, int F, const double *W, int K, const double *b, int pc0,
                       const double *Y, int KY, int tc0, int nc, double *r2, double *mse) {
    double sse = 0.0, sst = 0.0;
    long used = 0;
    for (int c = 0; c < nc; c++) {
        double mean = 0.0;
        long cnt = 0;
        for (int i = 0; i < N; i++) {
            double y = Y[(size_t)i * KY + tc0 + c];
            if (isnan(y)) continue;
            mean += y;
            cnt++;
        }
        if (!cnt) continue;
        mean /= cnt;
        for (int i = 0; i < N; i++) {
            double y = Y[(size_t)i * KY + tc0 + c];
            if (isnan(y)) continue;
            const double *x = X + (size_t)i * F;
            double p = b[pc0 + c];
            for (int f = 0; f < F; f++) p += x[f] * W[(size_t)f * K + pc0 + c];
            sse += (p - y) * (p - y);
            sst += (y - mean) * (y - mean);
        }
        used += cnt;
    }
    *mse = used ? sse / used : NAN;
    *r2 = used && sst > 0 ? 1.0 - sse / sst : NAN;
}

void ic_ridge_score(const double *X, const double *Y, int N, int F, int K, const double *W, const double *b,
                    int c0, int nc, double *r2, double *mse) {
    score_cols(X, N, F, W, K, b, c0, Y, K, c0, nc, r2, mse);
}

int ic_probe_features(const ic_capture *cap, int k, int prev_y, double *X) {
    const float *h = ic_capture_state(cap, k);
    if (!h || cap->n < 2) return -1;
    const int C = cap->C, n = cap->n, T = cap->T, F = prev_y ? 2 * C : C;
    for (int b = 0; b < cap->B; b++)
        for (int i = 1; i < n; i++) {
            double *o = X + ((size_t)b * (n - 1) + i - 1) * F;
            const float *hx = h + ((size_t)b * T + 2 * i) * C;
            for (int c = 0; c < C; c++) o[c] = hx[c];
            if (prev_y) {
                const float *hy = h + ((size_t)b * T + 2 * i - 1) * C;
                for (int c = 0; c < C; c++) o[C + c] = hy[c];
            }
        }
    return 0;
}

int ic_probe_shuffle_rows(const double *targets, int B, int n, int cols, uint64_t seed, double *out, ic_err *err) {
    int *perm = malloc(sizeof(int) * (size_t)(B > 0 ? B : 1));
    if (!perm) return ic_errf(err, "out of memory");
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    for (int b = 0; b < B; b++) perm[b] = b;
    for (int b = B - 1; b > 0; b--) {
        int j = (int)ic_rng_below(&rng, (uint64_t)b + 1);
        int t = perm[b];
        perm[b] = perm[j];
        perm[j] = t;
    }
    const size_t rows = (size_t)(n - 1) * cols;
    for (int b = 0; b < B; b++) memcpy(out + (size_t)b * rows, targets + (size_t)perm[b] * rows, sizeof(double) * rows);
    free(perm);
    return 0;
}

int ic_probe_fit_init(ic_probe_fit *pf, int n_states, int C, int d, int prev_y, ic_err *err) {
    memset(pf, 0, sizeof *pf);
    pf->n_states = n_states;
    pf->d = d;
    pf->prev_y = prev_y;
    pf->F = prev_y ? 2 * C : C;
    pf->K = 2 * IC_PT_COLS(d);
    pf->acc = calloc((size_t)n_states, sizeof *pf->acc);
    if (!pf->acc) return ic_errf(err, "out of memory");
    for (int k = 0; k < n_states; k++)
        if (ic_ridge_init(&pf->acc[k], pf->F, pf->K, err)) {
            ic_probe_fit_free(pf);
            return -1;
        }
    return 0;
}

void ic_probe_fit_free(ic_probe_fit *pf) {
    if (pf->acc)
        for (int k = 0; k < pf->n_states; k++) ic_ridge_free(&pf->acc[k]);
    free(pf->acc);
    free(pf->W);
    free(pf->b);
    memset(pf, 0, sizeof *pf);
}

int ic_probe_fit_add(ic_probe_fit *pf, const ic_capture *cap, const double *targets, const double *shuffled,
                     ic_err *err) {
    if (cap->n_states != pf->n_states || cap->d != pf->d || (pf->prev_y ? 2 : 1) * cap->C != pf->F)
        return ic_errf(err, "capture shape (%d states, d=%d, C=%d) does not match the probes (%d states, d=%d, F=%d)",
                       cap->n_states, cap->d, cap->C, pf->n_states, pf->d, pf->F);
    if (cap->n < 2) return ic_errf(err, "probes need prompts of at least 2 points");
    const int N = cap->B * (cap->n - 1), KT = IC_PT_COLS(pf->d), K = pf->K, F = pf->F;
    double *X = malloc(sizeof(double) * (size_t)N * F), *Y = malloc(sizeof(double) * (size_t)N * K);
    if (!X || !Y) {
        free(X);
        free(Y);
        return ic_errf(err, "out of memory");
    }
    for (int i = 0; i < N; i++)
        for (int c = 0; c < KT; c++) {
            double a = targets[(size_t)i * KT + c], s = shuffled[(size_t)i * KT + c];
            Y[(size_t)i * K + c] = isnan(a) ? 0.0 : a; /* missing targets (no w): scored NaN later */
            Y[(size_t)i * K + KT + c] = isnan(s) ? 0.0 : s;
        }
    for (int k = 0; k < pf->n_states; k++) {
        ic_probe_features(cap, k, pf->prev_y, X);
        ic_ridge_add(&pf->acc[k], X, Y, N);
    }
    free(X);
    free(Y);
    return 0;
}

int ic_probe_fit_solve(ic_probe_fit *pf, double lambda, ic_err *err) {
    free(pf->W);
    free(pf->b);
    pf->W = malloc(sizeof(double) * (size_t)pf->n_states * pf->F * pf->K);
    pf->b = malloc(sizeof(double) * (size_t)pf->n_states * pf->K);
    if (!pf->W || !pf->b) return ic_errf(err, "out of memory");
    for (int k = 0; k < pf->n_states; k++)
        if (ic_ridge_solve(&pf->acc[k], lambda, pf->W + (size_t)k * pf->F * pf->K, pf->b + (size_t)k * pf->K, err))
            return ic_err_prefix(err, "probe of state %d", k);
    return 0;
}

int ic_probe_fit_score(const ic_probe_fit *pf, const ic_capture *cap, const double *targets,
                       ic_probe_score *scores, ic_err *err) {
    if (!pf->W) return ic_errf(err, "probes are not fitted (call ic_probe_fit_solve)");
    if (cap->n_states != pf->n_states || cap->d != pf->d || (pf->prev_y ? 2 : 1) * cap->C != pf->F)
        return ic_errf(err, "held-out capture does not match the probes");
    const int N = cap->B * (cap->n - 1), KT = IC_PT_COLS(pf->d), F = pf->F, K = pf->K;
    double *X = malloc(sizeof(double) * (size_t)N * F);
    if (!X) return ic_errf(err, "out of memory");
    for (int k = 0; k < pf->n_states; k++) {
        ic_probe_features(cap, k, pf->prev_y, X);
        const double *W = pf->W + (size_t)k * F * K, *b = pf->b + (size_t)k * K;
        for (int t = 0; t < IC_PT_COUNT; t++) {
            int c0, nc;
            ic_probe_target_cols(t, pf->d, &c0, &nc);
            ic_probe_score *sc = &scores[(size_t)k * IC_PT_COUNT + t];
            score_cols(X, N, F, W, K, b, c0, targets, KT, c0, nc, &sc->r2, &sc->mse);
            score_cols(X, N, F, W, K, b, KT + c0, targets, KT, c0, nc, &sc->r2_shuf, &sc->mse_shuf);
        }
    }
    free(X);
    return 0;
}

/* ======================= SimE ======================= */

double ic_sime(const float *pa, const float *pb, const float *ys, int B, int n, int pos0, int *used) {
    double sum = 0.0;
    int cnt = 0;
    if (pos0 < 0) pos0 = 0;
    for (int b = 0; b < B; b++) {
        double ab = 0.0, aa = 0.0, bb = 0.0;
        for (int i = pos0; i < n; i++) {
            size_t o = (size_t)b * n + i;
            double ea = (double)pa[o] - ys[o], eb = (double)pb[o] - ys[o];
            ab += ea * eb;
            aa += ea * ea;
            bb += eb * eb;
        }
        if (aa > 0 && bb > 0) {
            sum += ab / sqrt(aa * bb);
            cnt++;
        }
    }
    if (used) *used = cnt;
    return cnt ? sum / cnt : NAN;
}

/* ======================= geometry ======================= */

static const char *const TOK_NAMES[IC_TOK_COUNT] = {"all", "x", "y"};
const char *ic_tok_name(int which) { return which >= 0 && which < IC_TOK_COUNT ? TOK_NAMES[which] : "?"; }

static int tok_in(int which, int t) { return which == IC_TOK_ALL || (which == IC_TOK_X) == (t % 2 == 0); }

/* Columns of X [N,c] centred in place; returns |Xc^T Xc|_F into *self (G [c,c] scratch). */
static void center_cols(double *X, int N, int c) {
    for (int j = 0; j < c; j++) {
        double m = 0.0;
        for (int i = 0; i < N; i++) m += X[(size_t)i * c + j];
        m /= N;
        for (int i = 0; i < N; i++) X[(size_t)i * c + j] -= m;
    }
}

static double cross_frob2(const double *A, int ca, const double *B, int cb, int N, double *G) {
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ca, cb, N, 1.0, A, ca, B, cb, 0.0, G, cb);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)ca * cb; i++) s += G[i] * G[i];
    return s;
}

int ic_linear_cka(const double *X, int cx, const double *Y, int cy, int N, double *cka, ic_err *err) {
    if (N < 1 || cx < 1 || cy < 1) return ic_errf(err, "CKA needs non-empty matrices");
    double *A = malloc(sizeof(double) * (size_t)N * cx), *Bm = malloc(sizeof(double) * (size_t)N * cy);
    int cm = cx > cy ? cx : cy;
    double *G = malloc(sizeof(double) * (size_t)cm * cm);
    if (!A || !Bm || !G) {
        free(A);
        free(Bm);
        free(G);
        return ic_errf(err, "out of memory");
    }
    memcpy(A, X, sizeof(double) * (size_t)N * cx);
    memcpy(Bm, Y, sizeof(double) * (size_t)N * cy);
    center_cols(A, N, cx);
    center_cols(Bm, N, cy);
    double xy = cross_frob2(A, cx, Bm, cy, N, G);
    double xx = sqrt(cross_frob2(A, cx, A, cx, N, G)), yy = sqrt(cross_frob2(Bm, cy, Bm, cy, N, G));
    *cka = xx > 0 && yy > 0 ? xy / (xx * yy) : NAN;
    free(A);
    free(Bm);
    free(G);
    return 0;
}

void ic_geometry_free(ic_geometry *g) {
    for (int w = 0; w < IC_TOK_COUNT; w++) {
        free(g->cos[w]);
        free(g->cka[w]);
        free(g->norm[w]);
        free(g->influence[w]);
    }
    memset(g, 0, sizeof *g);
}

/* Tokens of class `which` of state k as a centred double matrix [N,C]. */
static void gather_tokens(const ic_capture *cap, int k, int which, double *out) {
    const float *h = ic_capture_state(cap, k);
    const int C = cap->C;
    size_t r = 0;
    for (int b = 0; b < cap->B; b++)
        for (int t = 0; t < cap->T; t++) {
            if (!tok_in(which, t)) continue;
            const float *v = h + ((size_t)b * cap->T + t) * C;
            for (int c = 0; c < C; c++) out[r * C + c] = v[c];
            r++;
        }
    center_cols(out, (int)r, C);
}

int ic_probe_geometry(const ic_capture *cap, int cka, ic_geometry *g, void (*progress)(void *, int, int),
                      void *pctx, ic_err *err) {
    memset(g, 0, sizeof *g);
    const int S = cap->n_states, C = cap->C, T = cap->T;
    g->S = S;
    for (int w = 0; w < IC_TOK_COUNT; w++) {
        g->cos[w] = calloc((size_t)S * S, sizeof(double));
        g->norm[w] = calloc((size_t)S, sizeof(double));
        g->influence[w] = calloc((size_t)S, sizeof(double));
        if (cka) g->cka[w] = calloc((size_t)S * S, sizeof(double));
        if (!g->cos[w] || !g->norm[w] || !g->influence[w] || (cka && !g->cka[w])) {
            ic_geometry_free(g);
            return ic_errf(err, "out of memory");
        }
    }
    /* cosines and norms, token by token */
    double *V = malloc(sizeof(double) * (size_t)S * C), *nrm = malloc(sizeof(double) * (size_t)S);
    if (!V || !nrm) {
        free(V);
        free(nrm);
        ic_geometry_free(g);
        return ic_errf(err, "out of memory");
    }
    long cnt[IC_TOK_COUNT] = {0};
    for (int b = 0; b < cap->B; b++)
        for (int t = 0; t < T; t++) {
            for (int k = 0; k < S; k++) {
                const float *v = ic_capture_state(cap, k) + ((size_t)b * T + t) * C;
                double s = 0.0;
                for (int c = 0; c < C; c++) {
                    V[(size_t)k * C + c] = v[c];
                    s += (double)v[c] * v[c];
                }
                nrm[k] = sqrt(s);
            }
            const int cls = t % 2 == 0 ? IC_TOK_X : IC_TOK_Y;
            cnt[IC_TOK_ALL]++;
            cnt[cls]++;
            for (int i = 0; i < S; i++) {
                g->norm[IC_TOK_ALL][i] += nrm[i];
                g->norm[cls][i] += nrm[i];
                for (int j = i; j < S; j++) {
                    double dot = 0.0;
                    for (int c = 0; c < C; c++) dot += V[(size_t)i * C + c] * V[(size_t)j * C + c];
                    double cs = nrm[i] > 0 && nrm[j] > 0 ? dot / (nrm[i] * nrm[j]) : 0.0;
                    g->cos[IC_TOK_ALL][(size_t)i * S + j] += cs;
                    g->cos[cls][(size_t)i * S + j] += cs;
                }
            }
        }
    free(V);
    free(nrm);
    for (int w = 0; w < IC_TOK_COUNT; w++) {
        double c = cnt[w] ? (double)cnt[w] : NAN;
        for (int i = 0; i < S; i++) {
            g->norm[w][i] /= c;
            for (int j = i; j < S; j++) {
                g->cos[w][(size_t)i * S + j] /= c;
                g->cos[w][(size_t)j * S + i] = g->cos[w][(size_t)i * S + j];
            }
        }
        for (int k = 0; k < S; k++)
            g->influence[w][k] = k % (cap->n_steps + 1) == 0 ? NAN : 1.0 - g->cos[w][(size_t)(k - 1) * S + k];
    }
    if (!cka) return 0;
    /* linear CKA: per token class, |A_i^T A_j|_F^2 / (|A_i^T A_i|_F |A_j^T A_j|_F) */
    const int total = IC_TOK_COUNT * S * (S + 1) / 2;
    int done = 0;
    for (int w = 0; w < IC_TOK_COUNT; w++) {
        const int N = w == IC_TOK_ALL ? cap->B * T : cap->B * (T / 2);
        double *A = malloc(sizeof(double) * (size_t)N * C), *Bm = malloc(sizeof(double) * (size_t)N * C),
               *G = malloc(sizeof(double) * (size_t)C * C), *self = malloc(sizeof(double) * (size_t)S);
        if (!A || !Bm || !G || !self) {
            free(A);
            free(Bm);
            free(G);
            free(self);
            ic_geometry_free(g);
            return ic_errf(err, "out of memory: CKA needs %.0f MB", 16.0 * N * C / 1e6);
        }
        for (int i = 0; i < S; i++) {
            gather_tokens(cap, i, w, A);
            self[i] = sqrt(cross_frob2(A, C, A, C, N, G));
        }
        for (int i = 0; i < S; i++) {
            gather_tokens(cap, i, w, A);
            for (int j = i; j < S; j++) {
                double v;
                if (j == i) {
                    v = self[i] > 0 ? 1.0 : NAN;
                } else {
                    gather_tokens(cap, j, w, Bm);
                    double x = cross_frob2(A, C, Bm, C, N, G);
                    v = self[i] > 0 && self[j] > 0 ? x / (self[i] * self[j]) : NAN;
                }
                g->cka[w][(size_t)i * S + j] = g->cka[w][(size_t)j * S + i] = v;
                if (progress) progress(pctx, ++done, total);
            }
        }
        free(A);
        free(Bm);
        free(G);
        free(self);
    }
    return 0;
}

/* ======================= components ======================= */

void ic_components_free(ic_components *c) {
    free(c->sv);
    free(c->dirs);
    free(c->evr);
    memset(c, 0, sizeof *c);
}

int ic_probe_components(const ic_capture *cap, ic_components *out, ic_err *err) {
    memset(out, 0, sizeof *out);
    const int C = cap->C, S = cap->n_steps, rows = cap->loops * S;
    const int N = cap->B * cap->T, mn = N < C ? N : C;
    out->rows = rows;
    out->C = C;
    out->sv = calloc((size_t)rows * C, sizeof(double));
    out->dirs = calloc((size_t)rows * C * C, sizeof(double));
    out->evr = calloc((size_t)rows * C, sizeof(double));
    double *D = malloc(sizeof(double) * (size_t)N * C), *s = malloc(sizeof(double) * (size_t)C);
    double *U = malloc(sizeof(double) * (size_t)N * mn), *VT = malloc(sizeof(double) * (size_t)C * C);
    if (!out->sv || !out->dirs || !out->evr || !D || !s || !U || !VT) {
        free(D);
        free(s);
        free(U);
        free(VT);
        ic_components_free(out);
        return ic_errf(err, "out of memory: the SVD of a step's update needs %.0f MB", 16.0 * N * C / 1e6);
    }
    int rc = 0;
    for (int l = 0; l < cap->loops && !rc; l++)
        for (int q = 0; q < S; q++) {
            const float *hin = ic_capture_state(cap, ic_capture_index(cap, l, q));
            const float *hout = ic_capture_state(cap, ic_capture_index(cap, l, q + 1));
            for (size_t i = 0; i < (size_t)N * C; i++) D[i] = (double)hout[i] - (double)hin[i];
            double tot = 0.0;
            for (size_t i = 0; i < (size_t)N * C; i++) tot += D[i] * D[i];
            const int row = l * S + q;
            /* 'S' (thin U) when N >= C gives all C right singular vectors; with
             * fewer tokens than channels 'A' completes the basis */
            lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, N >= C ? 'S' : 'A', N, C, D, C, s, U, N >= C ? mn : N,
                                             VT, C);
            if (info != 0) {
                rc = ic_errf(err, "SVD of the update of loop %d step %d failed (dgesdd info %d)", l + 1, q + 1,
                             (int)info);
                break;
            }
            for (int k = 0; k < C; k++) {
                double sv = k < mn ? s[k] : 0.0;
                out->sv[(size_t)row * C + k] = sv;
                out->evr[(size_t)row * C + k] = tot > 0 ? sv * sv / tot : NAN;
            }
            memcpy(out->dirs + (size_t)row * C * C, VT, sizeof(double) * (size_t)C * C);
        }
    free(D);
    free(s);
    free(U);
    free(VT);
    if (rc) ic_components_free(out);
    return rc;
}

double ic_subspace_overlap(const double *U1, const double *U2, int C, int r) {
    if (r <= 0) return NAN;
    double s = 0.0;
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++) {
            double dot = 0.0;
            for (int c = 0; c < C; c++) dot += U1[(size_t)a * C + c] * U2[(size_t)b * C + c];
            s += dot * dot;
        }
    return s / r;
}

/* ======================= ablation ======================= */

typedef struct {
    int loop, step, r, C;
    const double *dirs;
    double *coef; /* r per thread, allocated before the forward (a hook cannot fail) */
    int nthr;
} ablate_ctx;

static void ablate_hook(void *vctx, int loop, int step, float *resid, const float *resid_in, int B, int T, int C) {
    const ablate_ctx *a = vctx;
    if (loop != a->loop || step != a->step || a->r <= 0 || C != a->C) return;
    const long N = (long)B * T;
    const int r = a->r;
    #pragma omp parallel num_threads(a->nthr) if (N * C * r > 100000)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *coef = a->coef + (size_t)tid * r;
        #pragma omp for
        for (long i = 0; i < N; i++) {
            float *h = resid + (size_t)i * C;
            const float *x = resid_in + (size_t)i * C;
            for (int k = 0; k < r; k++) {
                const double *u = a->dirs + (size_t)k * C;
                double s = 0.0;
                for (int c = 0; c < C; c++) s += u[c] * ((double)h[c] - (double)x[c]);
                coef[k] = s;
            }
            for (int c = 0; c < C; c++) {
                double p = 0.0;
                for (int k = 0; k < r; k++) p += coef[k] * a->dirs[(size_t)k * C + c];
                h[c] = (float)((double)h[c] - p);
            }
        }
    }
}

int ic_probe_ablate(const ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n, int chunk,
                    int loop, int step, const double *dirs, int r, float *pred, ic_err *err) {
    const int C = m->cfg.n_embd;
    if (r < 0 || r > C) return ic_errf(err, "ablation rank must be in 0..%d (got %d)", C, r);
    if (loop < 0 || loop >= s->loops) return ic_errf(err, "ablation loop %d is outside 0..%d", loop, s->loops - 1);
    const int S = ic_schedule_slots(s);
    if (step < 0 || step >= S) return ic_errf(err, "ablation step %d is outside 0..%d", step, S - 1);
    if (s->prelude || s->coda) return ic_errf(err, "ablating in a body with a prelude or coda is not supported yet");
    int nthr = 1;
#ifdef _OPENMP
    nthr = omp_get_max_threads();
#endif
    ablate_ctx a = {loop, step, r, C, dirs, malloc(sizeof(double) * (size_t)(r > 0 ? r : 1) * (size_t)nthr), nthr};
    if (!a.coef) return ic_errf(err, "out of memory for the ablation (%d directions x %d threads)", r, nthr);
    ic_workspace ws;
    ic_workspace_init(&ws);
    ws.step_hook = ablate_hook;
    ws.step_hook_ctx = &a;
    int rc = ic_model_predict_ws(m, &ws, s, xs, ys, B, n, chunk > 0 ? chunk : 256, pred, err);
    ic_workspace_free(&ws);
    free(a.coef);
    return rc;
}
