/* test_probe.c: the probing toolkit (src/probe.h).
 *
 *  - capture: every state equals the residual of a forward run of the
 *    shortened schedule (bit for bit), loop inputs and looped states match
 *    the model's own per-loop predictions, chunking changes nothing,
 *    attention + MLP parts add up to each step's update, dump round trip;
 *  - lens: the last state reproduces the model's predictions bit for bit;
 *  - ridge probes recover a planted linear signal (R^2 ~ 1) and score ~0 on
 *    noise; the shuffled control of real probes scores ~0; prefix targets
 *    against their definitions;
 *  - SimE of a predictor with itself is 1 (and -1 with mirrored errors);
 *  - CKA: invariant to orthogonal maps, isotropic scaling and shifts, not to
 *    anisotropic scaling, CKA(X, X) = 1; geometry matrices against direct
 *    computation;
 *  - components: orthonormal directions, explained variance sums to 1,
 *    subspace overlap; ablation: a no-op hook and r = 0 are bit-identical,
 *    r = C equals skipping the step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines.h"
#include "eval.h"
#include "model.h"
#include "probe.h"
#include "safetensors.h"
#include "tasks.h"
#include "testutil.h"

enum { D = 3, NPOS = 8, E = 16, NL = 4, NH = 2 };

static void make_model(ic_model *m, uint64_t seed, float gain) {
    ic_config c = {D, NPOS, E, NL, NH};
    ic_err err;
    assert_int_equal(ic_model_create(m, &c, &err), 0);
    ic_model_init_weights(m, seed);
    /* larger weights than GPT-2's init, so every block changes the residual visibly */
    for (size_t i = 0; i < m->num_params; i++) m->params_mem[i] *= gain;
}

static void sample(int B, int n, uint64_t seed, float **xs, float **ys, ic_task_params *tp) {
    ic_task_spec t;
    ic_task_spec_default(&t, IC_TASK_LINEAR, D);
    ic_rng r;
    ic_rng_seed(&r, seed);
    *xs = tu_falloc((size_t)B * n * D);
    *ys = tu_falloc((size_t)B * n);
    ic_err err;
    assert_int_equal(ic_task_sample(&t, &r, B, n, D, *xs, *ys, tp, &err), 0);
}

/* ---------------- capture ---------------- */

static void test_capture_matches_short_schedules(void **state) {
    ic_workspace ws;
    ic_workspace_init(&ws);
    (void)state;
    ic_model m;
    make_model(&m, 11, 3.0f);
    const int B = 5, n = 6, C = E;
    float *xs, *ys;
    sample(B, n, 1, &xs, &ys, NULL);
    ic_schedule s;
    ic_schedule_default(&s, m.cfg.n_layer);
    ic_capture cap = {0}, cap2 = {0};
    ic_err err;
    assert_int_equal(ic_probe_capture(&m, &s, xs, ys, B, n, 0, 0, &cap, &err), 0);
    assert_int_equal(cap.n_states, NL + 1);
    const size_t BTC = (size_t)B * 2 * n * C;
    /* chunking changes nothing beyond float rounding (BLAS may pick another
     * kernel for another batch size, so not bit for bit) */
    assert_int_equal(ic_probe_capture(&m, &s, xs, ys, B, n, 2, 0, &cap2, &err), 0);
    for (size_t i = 0; i < BTC * cap.n_states; i++)
        assert_true(fabsf(cap.resid[i] - cap2.resid[i]) <= 1e-5f * (1.0f + fabsf(cap.resid[i])));
    /* the hook path (parts = 0) and the stored-activation path (parts = 1) agree bit for bit */
    ic_capture cap3 = {0};
    assert_int_equal(ic_probe_capture(&m, &s, xs, ys, B, n, 0, 1, &cap3, &err), 0);
    assert_memory_equal(cap.resid, cap3.resid, sizeof(float) * BTC * cap.n_states);
    assert_memory_equal(cap.preds, cap3.preds, sizeof(float) * B * n);
    ic_capture_free(&cap3);
    /* state q + 1 = the final residual of the schedule 0..q (before ln_f) */
    float *lens = tu_falloc((size_t)cap.n_states * B * n);
    assert_int_equal(ic_probe_lens(&m, &cap, lens, &err), 0);
    for (int q = 0; q < NL; q++) {
        ic_schedule sh = s;
        sh.n = q + 1;
        assert_int_equal(ic_model_forward(&m, &ws, &sh, xs, ys, B, n, 1, &err), 0);
        assert_memory_equal(ic_capture_state(&cap, q + 1), ws.block_acts[q].out, sizeof(float) * BTC);
        assert_memory_equal(ic_capture_state(&cap, 0), ws.loop_acts[0].in, sizeof(float) * BTC);
        /* and the lens there is that shortened model's prediction */
        assert_memory_equal(lens + (size_t)(q + 1) * B * n, ic_workspace_preds(&ws, -1), sizeof(float) * B * n);
    }
    /* lens at the last state = the model's own predictions (no-grad forward,
     * the same batches) */
    float *pred = tu_falloc((size_t)B * n);
    assert_int_equal(ic_model_predict(&m, &s, xs, ys, B, n, 0, pred, &err), 0);
    assert_memory_equal(lens + (size_t)NL * B * n, pred, sizeof(float) * B * n);
    assert_memory_equal(cap.preds, pred, sizeof(float) * B * n);
    /* the lens of an early state differs from the final prediction (the check can fail) */
    double diff = 0.0;
    for (int i = 0; i < B * n; i++) diff = fmax(diff, fabs(lens[(size_t)B * n + i] - pred[i]));
    assert_true(diff > 1e-3);
    char lab[64];
    ic_capture_label(&cap, 0, lab, sizeof lab);
    assert_string_equal(lab, "in");
    ic_capture_label(&cap, 3, lab, sizeof lab);
    assert_string_equal(lab, "3:b2");
    free(pred);
    free(lens);
    ic_capture_free(&cap);
    ic_capture_free(&cap2);
    free(xs);
    free(ys);
    ic_workspace_free(&ws);
    ic_model_free(&m);
}

static void test_capture_looped_and_groups(void **state) {
    ic_workspace ws;
    ic_workspace_init(&ws);
    (void)state;
    ic_model m;
    make_model(&m, 12, 3.0f);
    const int B = 4, n = 5, C = E;
    float *xs, *ys;
    sample(B, n, 2, &xs, &ys, NULL);
    ic_err err;
    /* looped: body 0,1 run 3 times with injection; state (l, S) is loop l's output */
    ic_schedule s;
    ic_schedule_default(&s, m.cfg.n_layer);
    s.n = 2;
    s.loops = 3;
    ic_capture cap = {0};
    assert_int_equal(ic_probe_capture(&m, &s, xs, ys, B, n, 0, 1, &cap, &err), 0);
    assert_int_equal(cap.n_states, 3 * 3);
    ic_capture c0 = {0}; /* the hook path sees the same loop inputs and steps */
    assert_int_equal(ic_probe_capture(&m, &s, xs, ys, B, n, 0, 0, &c0, &err), 0);
    assert_memory_equal(c0.resid, cap.resid, sizeof(float) * (size_t)B * 2 * n * C * cap.n_states);
    ic_capture_free(&c0);
    float *lens = tu_falloc((size_t)cap.n_states * B * n);
    assert_int_equal(ic_probe_lens(&m, &cap, lens, &err), 0);
    assert_int_equal(ic_model_forward(&m, &ws, &s, xs, ys, B, n, 0, &err), 0);
    for (int l = 0; l < 3; l++)
        assert_memory_equal(lens + (size_t)ic_capture_index(&cap, l, 2) * B * n, ic_workspace_preds(&ws, l),
                            sizeof(float) * B * n);
    char lab[64];
    ic_capture_label(&cap, ic_capture_index(&cap, 1, 0), lab, sizeof lab);
    assert_string_equal(lab, "l2.in");
    /* parts: attention + MLP = the step's update */
    const size_t BTC = (size_t)B * 2 * n * C;
    for (int l = 0; l < 3; l++)
        for (int q = 0; q < 2; q++) {
            const float *a = ic_capture_state(&cap, ic_capture_index(&cap, l, q));
            const float *b = ic_capture_state(&cap, ic_capture_index(&cap, l, q + 1));
            const float *pa = cap.attn + ((size_t)l * 2 + q) * BTC, *pm = cap.mlp + ((size_t)l * 2 + q) * BTC;
            double worst = 0.0, scale = 0.0;
            for (size_t i = 0; i < BTC; i++) {
                worst = fmax(worst, fabs((double)pa[i] + pm[i] - ((double)b[i] - a[i])));
                scale = fmax(scale, fabs((double)b[i] - a[i]));
            }
            assert_true(scale > 1e-2);
            assert_true(worst <= 1e-5 * (1.0 + scale));
        }
    free(lens);
    ic_capture_free(&cap);

    /* a parallel group 0,(1|2),3 is one step; the lens still ends at the model's prediction */
    ic_schedule g;
    ic_schedule_default(&g, m.cfg.n_layer);
    g.par[2] = 1;
    assert_int_equal(ic_probe_capture(&m, &g, xs, ys, B, n, 3, 1, &cap, &err), 0);
    assert_int_equal(cap.n_steps, 3);
    assert_int_equal(cap.n_states, 4);
    ic_capture_label(&cap, 2, lab, sizeof lab);
    assert_string_equal(lab, "2:(1|2)");
    lens = tu_falloc((size_t)cap.n_states * B * n);
    assert_int_equal(ic_probe_lens(&m, &cap, lens, &err), 0);
    float *pred = tu_falloc((size_t)B * n);
    assert_int_equal(ic_model_predict(&m, &g, xs, ys, B, n, 3, pred, &err), 0);
    assert_memory_equal(lens + (size_t)3 * B * n, pred, sizeof(float) * B * n);
    /* the group's state is the mean of the two blocks applied to state 1 */
    ic_schedule one = g;
    one.n = 2;
    one.par[1] = 0;
    one.steps[1] = 1;
    assert_int_equal(ic_model_forward(&m, &ws, &one, xs, ys, B, n, 1, &err), 0);
    float *h1 = tu_falloc(BTC);
    memcpy(h1, ws.block_acts[1].out, sizeof(float) * BTC);
    one.steps[1] = 2;
    assert_int_equal(ic_model_forward(&m, &ws, &one, xs, ys, B, n, 1, &err), 0);
    const float *grp = ic_capture_state(&cap, 2);
    double worst = 0.0;
    for (size_t i = 0; i < BTC; i++) worst = fmax(worst, fabs(grp[i] - 0.5 * ((double)h1[i] + ws.block_acts[1].out[i])));
    assert_true(worst < 1e-5);
    free(h1);
    free(pred);
    free(lens);
    ic_capture_free(&cap);
    free(xs);
    free(ys);
    ic_workspace_free(&ws);
    ic_model_free(&m);
}

static void test_dump_round_trip(void **state) {
    (void)state;
    ic_model m;
    make_model(&m, 13, 1.0f);
    const int B = 3, n = 4;
    float *xs, *ys;
    sample(B, n, 3, &xs, &ys, NULL);
    ic_schedule s;
    ic_schedule_default(&s, m.cfg.n_layer);
    ic_capture cap = {0};
    ic_err err;
    assert_int_equal(ic_probe_capture(&m, &s, xs, ys, B, n, 0, 1, &cap, &err), 0);
    const char *k[1] = {"model"}, *v[1] = {"test"};
    const char *path = tu_tmp_path("cap.safetensors");
    assert_int_equal(ic_capture_dump(path, &cap, k, v, 1, &err), 0);
    st_file f;
    assert_int_equal(st_read_file(path, &f, &err), 0);
    assert_int_equal(f.n_tensors, 3 + (NL + 1) + 2 * NL);
    const st_tensor *t = st_find(&f, "resid.loop0.step2");
    assert_non_null(t);
    assert_int_equal(t->ndim, 3);
    assert_int_equal(t->shape[0], B);
    assert_int_equal(t->shape[1], 2 * n);
    assert_int_equal(t->shape[2], E);
    float *buf = tu_falloc((size_t)B * 2 * n * E);
    assert_int_equal(st_read_f32(&f, t, buf, (size_t)B * 2 * n * E, &err), 0);
    assert_memory_equal(buf, ic_capture_state(&cap, 3), sizeof(float) * B * 2 * n * E);
    assert_non_null(st_find(&f, "resid.loop0.in"));
    assert_non_null(st_find(&f, "mlp.loop0.step3"));
    assert_non_null(st_find(&f, "xs"));
    assert_string_equal(st_meta(&f, "schedule"), "0,1,2,3");
    assert_string_equal(st_meta(&f, "steps"), "[\"b0\",\"b1\",\"b2\",\"b3\"]");
    assert_string_equal(st_meta(&f, "model"), "test");
    st_free(&f);
    free(buf);
    ic_capture_free(&cap);
    free(xs);
    free(ys);
    ic_model_free(&m);
}

/* ---------------- probes ---------------- */

static void test_ridge_planted_and_noise(void **state) {
    (void)state;
    const int F = 10, K = 2, Ntr = 3000, Nte = 2000;
    tu_rng r = tu_rng_make(5);
    double w[10];
    tu_fill(&r, w, F, 1.0, 0.0);
    double *X = tu_dalloc((size_t)(Ntr + Nte) * F), *Y = tu_dalloc((size_t)(Ntr + Nte) * K);
    for (int i = 0; i < Ntr + Nte; i++) {
        double s = 0.5;
        for (int f = 0; f < F; f++) {
            X[(size_t)i * F + f] = 3.0 + 2.0 * tu_rng_uniform(&r); /* a large mean: centring matters */
            s += w[f] * X[(size_t)i * F + f];
        }
        Y[(size_t)i * K] = s;
        Y[(size_t)i * K + 1] = tu_rng_uniform(&r); /* pure noise */
    }
    ic_ridge rd;
    ic_err err;
    assert_int_equal(ic_ridge_init(&rd, F, K, &err), 0);
    ic_ridge_add(&rd, X, Y, 1000); /* in two pieces: sums accumulate */
    ic_ridge_add(&rd, X + (size_t)1000 * F, Y + (size_t)1000 * K, Ntr - 1000);
    double W[20], b[2], r2, mse;
    assert_int_equal(ic_ridge_solve(&rd, 1e-8, W, b, &err), 0);
    const double *Xt = X + (size_t)Ntr * F, *Yt = Y + (size_t)Ntr * K;
    ic_ridge_score(Xt, Yt, Nte, F, K, W, b, 0, 1, &r2, &mse);
    assert_true(r2 > 1.0 - 1e-9);
    for (int f = 0; f < F; f++) assert_true(fabs(W[f * K] - w[f]) < 1e-6);
    assert_true(fabs(b[0] - 0.5) < 1e-5);
    ic_ridge_score(Xt, Yt, Nte, F, K, W, b, 1, 1, &r2, &mse);
    assert_true(fabs(r2) < 0.03);
    /* a large lambda shrinks the planted probe (lambda is honoured) */
    assert_int_equal(ic_ridge_solve(&rd, 10.0, W, b, &err), 0);
    ic_ridge_score(Xt, Yt, Nte, F, K, W, b, 0, 1, &r2, &mse);
    assert_true(r2 < 0.9);
    assert_int_equal(ic_ridge_solve(&rd, -1.0, W, b, &err), -1);
    ic_ridge_free(&rd);
    free(X);
    free(Y);
}

static void test_probe_targets(void **state) {
    (void)state;
    const int B = 6, n = 7;
    float *xs, *ys;
    ic_task_params tp = {0};
    sample(B, n, 4, &xs, &ys, &tp);
    const int K = IC_PT_COLS(D);
    double *t = tu_dalloc((size_t)B * (n - 1) * K);
    ic_err err;
    assert_int_equal(ic_probe_targets(xs, ys, tp.w, B, n, D, t, &err), 0);
    for (int b = 0; b < B; b++)
        for (int i = 1; i < n; i++) {
            const double *o = t + ((size_t)b * (n - 1) + i - 1) * K;
            assert_true(o[0] == ys[b * n + i]);
            for (int c = 0; c < D; c++) {
                assert_true(o[1 + c] == tp.w[b * D + c]);
                double s = 0.0;
                for (int j = 0; j < i; j++) s += (double)xs[(b * n + j) * D + c] * ys[b * n + j];
                assert_true(fabs(o[1 + D + c] - s / i) < 1e-12);
                /* noiseless linear data: from d points on least squares is the true w */
                if (i >= D) assert_true(fabs(o[1 + 2 * D + c] - tp.w[b * D + c]) < 1e-4);
            }
        }
    int c0, nc;
    ic_probe_target_cols(IC_PT_LSQ, D, &c0, &nc);
    assert_int_equal(c0, 1 + 2 * D);
    assert_int_equal(nc, D);
    assert_string_equal(ic_probe_target_name(IC_PT_XTY), "xty");
    assert_int_equal(ic_probe_targets(xs, ys, NULL, B, 1, D, t, &err), -1);
    free(t);
    ic_task_params_free(&tp);
    free(xs);
    free(ys);
}

static void test_probe_fit_and_shuffled_control(void **state) {
    (void)state;
    ic_model m;
    make_model(&m, 14, 2.0f);
    const int Btr = 400, Bte = 300, n = 8;
    float *xtr, *ytr, *xte, *yte;
    ic_task_params ptr = {0}, pte = {0};
    sample(Btr, n, 10, &xtr, &ytr, &ptr);
    sample(Bte, n, 11, &xte, &yte, &pte);
    ic_schedule s;
    ic_schedule_default(&s, m.cfg.n_layer);
    ic_err err;
    const int K = IC_PT_COLS(D);
    double *ttr = tu_dalloc((size_t)Btr * (n - 1) * K), *tsh = tu_dalloc((size_t)Btr * (n - 1) * K);
    double *tte = tu_dalloc((size_t)Bte * (n - 1) * K);
    assert_int_equal(ic_probe_targets(xtr, ytr, ptr.w, Btr, n, D, ttr, &err), 0);
    assert_int_equal(ic_probe_targets(xte, yte, pte.w, Bte, n, D, tte, &err), 0);
    assert_int_equal(ic_probe_shuffle_rows(ttr, Btr, n, K, 99, tsh, &err), 0);
    /* the shuffle moves whole prompts: rows of a prompt stay together */
    int moved = 0;
    for (int b = 0; b < Btr; b++) moved += tsh[(size_t)b * (n - 1) * K] != ttr[(size_t)b * (n - 1) * K];
    assert_true(moved > Btr / 2);
    ic_probe_fit pf;
    assert_int_equal(ic_probe_fit_init(&pf, NL + 1, E, D, 1, &err), 0);
    ic_capture cap = {0};
    for (int b0 = 0; b0 < Btr; b0 += 200) { /* training prompts in two captures */
        assert_int_equal(ic_probe_capture(&m, &s, xtr + (size_t)b0 * n * D, ytr + (size_t)b0 * n, 200, n, 0, 0, &cap, &err), 0);
        assert_int_equal(ic_probe_fit_add(&pf, &cap, ttr + (size_t)b0 * (n - 1) * K, tsh + (size_t)b0 * (n - 1) * K, &err), 0);
    }
    assert_int_equal(ic_probe_fit_solve(&pf, 1e-4, &err), 0);
    assert_int_equal(ic_probe_capture(&m, &s, xte, yte, Bte, n, 0, 0, &cap, &err), 0);
    ic_probe_score sc[(NL + 1) * IC_PT_COUNT];
    assert_int_equal(ic_probe_fit_score(&pf, &cap, tte, sc, &err), 0);
    for (int k = 0; k <= NL; k++)
        for (int t = 0; t < IC_PT_COUNT; t++) {
            const ic_probe_score *p = &sc[k * IC_PT_COUNT + t];
            assert_true(isfinite(p->r2) && isfinite(p->r2_shuf) && p->mse > 0);
            /* shuffled targets carry no information about the held-out prompts */
            assert_true(fabs(p->r2_shuf) < 0.1);
        }
    ic_probe_fit_free(&pf);
    ic_capture_free(&cap);
    ic_task_params_free(&ptr);
    ic_task_params_free(&pte);
    free(ttr);
    free(tsh);
    free(tte);
    free(xtr);
    free(ytr);
    free(xte);
    free(yte);
    ic_model_free(&m);
}

/* ---------------- SimE ---------------- */

static void test_sime(void **state) {
    (void)state;
    const int B = 50, n = 9;
    float *xs, *ys;
    sample(B, n, 6, &xs, &ys, NULL);
    float *pa = tu_falloc((size_t)B * n), *pb = tu_falloc((size_t)B * n);
    ic_baseline_spec nw;
    ic_baseline_defaults(IC_BL_NEWTON, &nw);
    nw.steps = 2;
    ic_err err;
    assert_int_equal(ic_baseline_predict(&nw, xs, ys, B, n, D, pa, &err), 0);
    int used;
    assert_true(fabs(ic_sime(pa, pa, ys, B, n, 1, &used) - 1.0) < 1e-12);
    assert_int_equal(used, B);
    for (int i = 0; i < B * n; i++) pb[i] = 2.0f * ys[i] - pa[i]; /* mirrored errors */
    assert_true(fabs(ic_sime(pa, pb, ys, B, n, 1, NULL) + 1.0) < 1e-5);
    /* a different solver is similar but not identical */
    ic_baseline_spec ls;
    ic_baseline_defaults(IC_BL_LEAST_SQUARES, &ls);
    assert_int_equal(ic_baseline_predict(&ls, xs, ys, B, n, D, pb, &err), 0);
    double s = ic_sime(pa, pb, ys, B, n, 1, NULL);
    assert_true(s < 0.999 && s > -1.0);
    /* prompts with a zero error vector are left out; none left: NaN */
    assert_true(isnan(ic_sime(ys, ys, ys, B, n, 0, &used)));
    assert_int_equal(used, 0);
    free(pa);
    free(pb);
    free(xs);
    free(ys);
}

/* ---------------- geometry ---------------- */

/* Q [c,c] orthogonal from the QR factorisation of a random matrix. */
static void random_orthogonal(tu_rng *r, double *Q, int c) {
    tu_fill(r, Q, (size_t)c * c, 1.0, 0.0);
    double tau[64];
    assert_int_equal(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, c, c, Q, c, tau), 0);
    assert_int_equal(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, c, c, c, Q, c, tau), 0);
}

static void matmul(const double *A, const double *B, int m, int p, int n, double *C) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int l = 0; l < p; l++) s += A[(size_t)i * p + l] * B[(size_t)l * n + j];
            C[(size_t)i * n + j] = s;
        }
}

static void test_cka_invariances(void **state) {
    (void)state;
    const int N = 300, cx = 8, cy = 6;
    tu_rng r = tu_rng_make(7);
    double *X = tu_dalloc((size_t)N * cx), *Y = tu_dalloc((size_t)N * cy), *M = tu_dalloc((size_t)cx * cy);
    double *Q = tu_dalloc((size_t)cx * cx), *XQ = tu_dalloc((size_t)N * cx);
    tu_fill(&r, X, (size_t)N * cx, 1.0, 0.0);
    tu_fill(&r, M, (size_t)cx * cy, 1.0, 0.0);
    matmul(X, M, N, cx, cy, Y);
    for (size_t i = 0; i < (size_t)N * cy; i++) Y[i] += 0.5 * tu_rng_uniform(&r);
    ic_err err;
    double base, v;
    assert_int_equal(ic_linear_cka(X, cx, Y, cy, N, &base, &err), 0);
    assert_true(base > 0.1 && base < 0.999);
    assert_int_equal(ic_linear_cka(X, cx, X, cx, N, &v, &err), 0);
    assert_true(fabs(v - 1.0) < 1e-12);
    random_orthogonal(&r, Q, cx);
    matmul(X, Q, N, cx, cx, XQ);
    assert_int_equal(ic_linear_cka(XQ, cx, Y, cy, N, &v, &err), 0);
    assert_true(fabs(v - base) < 1e-10);
    for (size_t i = 0; i < (size_t)N * cx; i++) XQ[i] = -3.7 * X[i] + 10.0 * (double)(i % cx); /* scale + shift */
    assert_int_equal(ic_linear_cka(XQ, cx, Y, cy, N, &v, &err), 0);
    assert_true(fabs(v - base) < 1e-10);
    for (size_t i = 0; i < (size_t)N * cx; i++) XQ[i] = X[i] * (i % cx == 0 ? 10.0 : 1.0); /* anisotropic */
    assert_int_equal(ic_linear_cka(XQ, cx, Y, cy, N, &v, &err), 0);
    assert_true(fabs(v - base) > 1e-3);
    free(X);
    free(Y);
    free(M);
    free(Q);
    free(XQ);
}

static void test_geometry(void **state) {
    (void)state;
    ic_model m;
    make_model(&m, 15, 3.0f);
    const int B = 6, n = 5, T = 2 * n, C = E;
    float *xs, *ys;
    sample(B, n, 8, &xs, &ys, NULL);
    ic_schedule s;
    ic_schedule_default(&s, m.cfg.n_layer);
    ic_capture cap = {0};
    ic_err err;
    assert_int_equal(ic_probe_capture(&m, &s, xs, ys, B, n, 0, 0, &cap, &err), 0);
    ic_geometry g;
    assert_int_equal(ic_probe_geometry(&cap, 1, &g, NULL, NULL, &err), 0);
    const int S = cap.n_states;
    for (int w = 0; w < IC_TOK_COUNT; w++) {
        for (int i = 0; i < S; i++) {
            assert_true(fabs(g.cos[w][i * S + i] - 1.0) < 1e-12);
            assert_true(fabs(g.cka[w][i * S + i] - 1.0) < 1e-12);
            for (int j = 0; j < S; j++) assert_true(g.cos[w][i * S + j] == g.cos[w][j * S + i]);
        }
        assert_true(isnan(g.influence[w][0]));
        for (int k = 1; k < S; k++) assert_true(g.influence[w][k] == 1.0 - g.cos[w][(k - 1) * S + k]);
    }
    /* direct computation: cos(state 1, state 3) over y tokens; norm of state 2 over x tokens */
    const float *h1 = ic_capture_state(&cap, 1), *h3 = ic_capture_state(&cap, 3), *h2 = ic_capture_state(&cap, 2);
    double cs = 0.0, nr = 0.0;
    int cy = 0, cx = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *a = h1 + ((size_t)b * T + t) * C, *c3 = h3 + ((size_t)b * T + t) * C,
                        *c2 = h2 + ((size_t)b * T + t) * C;
            if (t % 2) {
                double ab = 0, aa = 0, bb = 0;
                for (int c = 0; c < C; c++) {
                    ab += (double)a[c] * c3[c];
                    aa += (double)a[c] * a[c];
                    bb += (double)c3[c] * c3[c];
                }
                cs += ab / sqrt(aa * bb);
                cy++;
            } else {
                double q = 0;
                for (int c = 0; c < C; c++) q += (double)c2[c] * c2[c];
                nr += sqrt(q);
                cx++;
            }
        }
    assert_true(fabs(g.cos[IC_TOK_Y][1 * S + 3] - cs / cy) < 1e-12);
    assert_true(fabs(g.norm[IC_TOK_X][2] - nr / cx) < 1e-9);
    /* CKA entry against ic_linear_cka on the same tokens */
    double *A = tu_dalloc((size_t)B * T * C), *Bm = tu_dalloc((size_t)B * T * C), v;
    for (size_t i = 0; i < (size_t)B * T * C; i++) {
        A[i] = h1[i];
        Bm[i] = h3[i];
    }
    assert_int_equal(ic_linear_cka(A, C, Bm, C, B * T, &v, &err), 0);
    assert_true(fabs(g.cka[IC_TOK_ALL][1 * S + 3] - v) < 1e-10);
    free(A);
    free(Bm);
    ic_geometry_free(&g);
    ic_capture_free(&cap);
    free(xs);
    free(ys);
    ic_model_free(&m);
}

/* ---------------- components and ablation ---------------- */

static void test_components(void **state) {
    (void)state;
    ic_model m;
    make_model(&m, 16, 3.0f);
    const int B = 6, n = 5, C = E;
    float *xs, *ys;
    sample(B, n, 9, &xs, &ys, NULL);
    ic_schedule s;
    ic_schedule_default(&s, m.cfg.n_layer);
    ic_capture cap = {0};
    ic_err err;
    assert_int_equal(ic_probe_capture(&m, &s, xs, ys, B, n, 0, 0, &cap, &err), 0);
    ic_components cp;
    assert_int_equal(ic_probe_components(&cap, &cp, &err), 0);
    assert_int_equal(cp.rows, NL);
    for (int row = 0; row < NL; row++) {
        const double *U = cp.dirs + (size_t)row * C * C;
        double tot = 0.0;
        for (int a = 0; a < C; a++) {
            tot += cp.evr[row * C + a];
            if (a) assert_true(cp.sv[row * C + a] <= cp.sv[row * C + a - 1]);
            for (int b = 0; b < C; b++) {
                double dot = 0.0;
                for (int c = 0; c < C; c++) dot += U[a * C + c] * U[b * C + c];
                assert_true(fabs(dot - (a == b)) < 1e-10);
            }
        }
        assert_true(fabs(tot - 1.0) < 1e-10);
        /* |D|_F^2 = sum of squared singular values */
        const float *hi = ic_capture_state(&cap, row), *ho = ic_capture_state(&cap, row + 1);
        double f2 = 0.0, s2 = 0.0;
        for (size_t i = 0; i < (size_t)B * 2 * n * C; i++) f2 += ((double)ho[i] - hi[i]) * ((double)ho[i] - hi[i]);
        for (int a = 0; a < C; a++) s2 += cp.sv[row * C + a] * cp.sv[row * C + a];
        assert_true(fabs(f2 - s2) < 1e-9 * f2);
        assert_true(fabs(ic_subspace_overlap(U, U, C, 3) - 1.0) < 1e-10);
        assert_true(fabs(ic_subspace_overlap(U, U + 3 * C, C, 3)) < 1e-10); /* disjoint directions */
        assert_true(fabs(ic_subspace_overlap(U, U, C, C) - 1.0) < 1e-10);
    }
    ic_components_free(&cp);
    ic_capture_free(&cap);
    free(xs);
    free(ys);
    ic_model_free(&m);
}

static int hook_calls;
static void noop_hook(void *ctx, int loop, int step, float *resid, const float *resid_in, int B, int T, int C) {
    (void)ctx; (void)loop; (void)step; (void)resid; (void)resid_in; (void)B; (void)T; (void)C;
    hook_calls++;
}

static void test_ablation(void **state) {
    ic_workspace ws;
    ic_workspace_init(&ws);
    (void)state;
    ic_model m;
    make_model(&m, 17, 3.0f);
    const int B = 7, n = 6, C = E;
    float *xs, *ys;
    sample(B, n, 12, &xs, &ys, NULL);
    ic_schedule s;
    ic_schedule_default(&s, m.cfg.n_layer);
    ic_err err;
    float *ref = tu_falloc((size_t)B * n), *pred = tu_falloc((size_t)B * n), *skip = tu_falloc((size_t)B * n);
    assert_int_equal(ic_model_predict(&m, &s, xs, ys, B, n, 0, ref, &err), 0);
    /* a hook that does nothing: bit-identical, called once per step and loop */
    hook_calls = 0;
    ws.step_hook = noop_hook;
    ws.step_hook_ctx = NULL;
    assert_int_equal(ic_model_predict_ws(&m, &ws, &s, xs, ys, B, n, 0, pred, &err), 0);
    assert_int_equal(hook_calls, NL);
    assert_memory_equal(pred, ref, sizeof(float) * B * n);
    /* the hook is not called when gradients are stored */
    hook_calls = 0;
    assert_int_equal(ic_model_forward(&m, &ws, &s, xs, ys, B, n, 1, &err), 0);
    assert_int_equal(hook_calls, 0);
    ws.step_hook = NULL;

    ic_capture cap = {0};
    assert_int_equal(ic_probe_capture(&m, &s, xs, ys, B, n, 0, 0, &cap, &err), 0);
    ic_components cp;
    assert_int_equal(ic_probe_components(&cap, &cp, &err), 0);
    for (int q = 0; q < NL; q++) {
        const double *U = cp.dirs + (size_t)q * C * C;
        /* r = 0: nothing changes, bit for bit */
        assert_int_equal(ic_probe_ablate(&m, &s, xs, ys, B, n, 0, 0, q, U, 0, pred, &err), 0);
        assert_memory_equal(pred, ref, sizeof(float) * B * n);
        /* r = C: the whole update is removed = the schedule without step q */
        assert_int_equal(ic_probe_ablate(&m, &s, xs, ys, B, n, 4, 0, q, U, C, pred, &err), 0);
        ic_schedule sk = s;
        for (int j = q; j < NL - 1; j++) sk.steps[j] = s.steps[j + 1];
        sk.n = NL - 1;
        assert_int_equal(ic_model_predict(&m, &sk, xs, ys, B, n, 0, skip, &err), 0);
        double d_skip = 0.0, d_ref = 0.0;
        for (int i = 0; i < B * n; i++) {
            d_skip = fmax(d_skip, fabs(pred[i] - skip[i]));
            d_ref = fmax(d_ref, fabs(pred[i] - ref[i]));
        }
        assert_true(d_skip < 1e-4);
        assert_true(d_ref > 1e-2);
        /* a partial ablation lands in between */
        assert_int_equal(ic_probe_ablate(&m, &s, xs, ys, B, n, 0, 0, q, U, 2, pred, &err), 0);
        double d2 = 0.0;
        for (int i = 0; i < B * n; i++) d2 = fmax(d2, fabs(pred[i] - ref[i]));
        assert_true(d2 > 0.0);
    }
    assert_int_equal(ic_probe_ablate(&m, &s, xs, ys, B, n, 0, 0, NL, cp.dirs, 1, pred, &err), -1);
    assert_int_equal(ic_probe_ablate(&m, &s, xs, ys, B, n, 0, 1, 0, cp.dirs, 1, pred, &err), -1);
    ic_components_free(&cp);
    ic_capture_free(&cap);
    free(ref);
    free(pred);
    free(skip);
    free(xs);
    free(ys);
    ic_workspace_free(&ws);
    ic_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_matches_short_schedules),
        cmocka_unit_test(test_capture_looped_and_groups),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_ridge_planted_and_noise),
        cmocka_unit_test(test_probe_targets),
        cmocka_unit_test(test_probe_fit_and_shuffled_control),
        cmocka_unit_test(test_sime),
        cmocka_unit_test(test_cka_invariances),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_components),
        cmocka_unit_test(test_ablation),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
