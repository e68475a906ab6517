/* test_surgery.c: sweeps produce the intended schedules; the paired
 * evaluation is exact where it must be (a variant that runs the original
 * schedule has ratio 1 and distance 0, bit for bit); the one-forward path of
 * the loops sweep equals the general path; ratios and intervals agree with a
 * direct computation; outputs are written. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eval.h"
#include "model.h"
#include "schedule.h"
#include "surgery.h"
#include "tasks.h"
#include "testutil.h"

static const ic_config CFG = {.n_dims = 3, .n_positions = 8, .n_embd = 16, .n_layer = 4, .n_head = 2};
enum { B = 48, N = 7 };

static void make(ic_model *m, ic_schedule *s, float **xs, float **ys) {
    ic_err err = {{0}};
    assert_int_equal(ic_model_create(m, &CFG, &err), 0);
    ic_model_init_weights(m, 11);
    /* larger weights so that variants differ clearly */
    for (size_t i = 0; i < m->num_params; i++) m->params_mem[i] *= 3.0f;
    ic_schedule_default(s, CFG.n_layer);
    *xs = tu_falloc((size_t)B * N * CFG.n_dims);
    *ys = tu_falloc((size_t)B * N);
    ic_task_spec t;
    ic_task_spec_default(&t, IC_TASK_LINEAR, CFG.n_dims);
    ic_rng r;
    ic_rng_seed(&r, 5);
    assert_int_equal(ic_task_sample(&t, &r, B, N, CFG.n_dims, *xs, *ys, NULL, &err), 0);
}

static ic_surgery_opts opts(void) {
    ic_surgery_opts o = {.B = B, .n = N, .norm = CFG.n_dims, .nk = 2, .ks = {3, 6}, .n_boot = 200, .boot_seed = 9, .chunk = 20};
    return o;
}

static void expect_steps(const ic_schedule *s, const int *steps, const unsigned char *par, int n) {
    assert_int_equal(s->n, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s->steps[i], steps[i]);
        assert_int_equal(s->par[i], par ? par[i] : 0);
    }
}

static void test_sweep_variants(void **st) {
    (void)st;
    ic_schedule base;
    ic_schedule_default(&base, CFG.n_layer);
    ic_sweep_opts o;
    ic_sweep_opts_default(&o, &base);
    ic_variant *v;
    int nv;
    ic_err err = {{0}};
    /* counts of every sweep on a 4-slot body */
    const int counts[IC_NUM_SWEEPS] = {4, 4, 10, 6, 20, 6, 6, 12, 20};
    for (int k = 0; k < IC_NUM_SWEEPS; k++) {
        assert_int_equal(ic_sweep_variants((ic_sweep_kind)k, &base, CFG.n_layer, &o, &v, &nv, &err), 0);
        assert_int_equal(nv, counts[k]);
        for (int i = 0; i < nv; i++) assert_int_equal(ic_schedule_validate(&v[i].sched, CFG.n_layer, &err), 0);
        /* the label re-parses (on the base) to the variant, except loops=L */
        if (k != IC_SWEEP_LOOPS)
            for (int i = 0; i < nv; i++) {
                ic_schedule t = base;
                assert_int_equal(ic_schedule_parse(&t, v[i].label, &base, CFG.n_layer, &err), 0);
                assert_memory_equal(t.steps, v[i].sched.steps, sizeof(int) * (size_t)t.n);
                assert_int_equal(t.n, v[i].sched.n);
            }
        free(v);
    }
    /* specific lists */
    assert_int_equal(ic_sweep_variants(IC_SWEEP_SKIP_EACH, &base, 4, &o, &v, &nv, &err), 0);
    expect_steps(&v[1].sched, (int[]){0, 2, 3}, NULL, 3);
    free(v);
    assert_int_equal(ic_sweep_variants(IC_SWEEP_DUPLICATE_BLOCK, &base, 4, &o, &v, &nv, &err), 0);
    /* a = 1, b = 2 is the 6th variant: (0,0) (0,1) (0,2) (0,3) (1,1) (1,2) */
    assert_string_equal(v[5].label, "dup(1-2)");
    assert_int_equal(v[5].row, 1);
    assert_int_equal(v[5].col, 2);
    expect_steps(&v[5].sched, (int[]){0, 1, 2, 1, 2, 3}, NULL, 6);
    free(v);
    assert_int_equal(ic_sweep_variants(IC_SWEEP_SWAP_MATRIX, &base, 4, &o, &v, &nv, &err), 0);
    expect_steps(&v[2].sched, (int[]){3, 1, 2, 0}, NULL, 4); /* swap(0,3) */
    free(v);
    assert_int_equal(ic_sweep_variants(IC_SWEEP_REVERSE, &base, 4, &o, &v, &nv, &err), 0);
    expect_steps(&v[4].sched, (int[]){0, 3, 2, 1}, NULL, 4); /* reverse(1-3) */
    free(v);
    assert_int_equal(ic_sweep_variants(IC_SWEEP_MIDDLE_REPEAT, &base, 4, &o, &v, &nv, &err), 0);
    expect_steps(&v[2].sched, (int[]){1, 1, 1, 1}, NULL, 4); /* middle(0-3): lower middle slot 1 */
    free(v);
    assert_int_equal(ic_sweep_variants(IC_SWEEP_PARALLEL, &base, 4, &o, &v, &nv, &err), 0);
    expect_steps(&v[3].sched, (int[]){0, 1, 2, 3}, (unsigned char[]){0, 0, 1, 0}, 4); /* parallel(1-2) */
    assert_string_equal(v[6 + 3].label, "parallel(1-2,2)");
    expect_steps(&v[6 + 3].sched, (int[]){0, 1, 2, 1, 2, 3}, (unsigned char[]){0, 0, 1, 0, 1, 0}, 6);
    assert_int_equal(v[6 + 3].group, 1);
    free(v);
    assert_int_equal(ic_sweep_variants(IC_SWEEP_SHUFFLE, &base, 4, &o, &v, &nv, &err), 0);
    for (int i = 0; i < nv; i++) {
        assert_int_equal(v[i].sched.steps[0], 0); /* the default span is the middle 1..2 */
        assert_int_equal(v[i].sched.steps[3], 3);
    }
    free(v);
    {   /* a 3-slot body (a looped3x2 core): its middle is one slot, so the default
         * span is the whole body; some seed must move the first slot */
        ic_schedule three = base;
        three.n = 3;
        ic_sweep_opts o3;
        ic_sweep_opts_default(&o3, &three);
        assert_int_equal(ic_sweep_variants(IC_SWEEP_SHUFFLE, &three, 3, &o3, &v, &nv, &err), 0);
        assert_int_equal(nv, o3.shuffles);
        assert_string_equal(v[0].label, "shuffle(0-2,1)");
        int moved_first = 0;
        for (int i = 0; i < nv; i++) moved_first |= v[i].sched.steps[0] != 0;
        assert_true(moved_first);
        free(v);
    }
    assert_int_equal(ic_sweep_variants(IC_SWEEP_LOOPS, &base, 4, &o, &v, &nv, &err), 0);
    assert_int_equal(v[6].sched.loops, 7);
    assert_int_equal(v[6].sched.loss_loops, 1);
    free(v);
    /* errors */
    o.shuffles = 0;
    assert_int_equal(ic_sweep_variants(IC_SWEEP_SHUFFLE, &base, 4, &o, &v, &nv, &err), -1);
    ic_schedule one = base;
    one.n = 1;
    ic_sweep_opts_default(&o, &one);
    assert_int_equal(ic_sweep_variants(IC_SWEEP_SWAP_MATRIX, &one, 4, &o, &v, &nv, &err), -1);
    assert_non_null(strstr(err.msg, "at least 2 slots"));
    ic_sweep_kind kk;
    assert_int_equal(ic_sweep_parse("swap-matrix", &kk, &err), 0);
    assert_int_equal(kk, IC_SWEEP_SWAP_MATRIX);
    assert_int_equal(ic_sweep_parse("swap", &kk, &err), -1);
    assert_non_null(strstr(err.msg, "known: skip-each"));
}

/* A variant that runs the original schedule reproduces it bit for bit:
 * ratio exactly 1, distance exactly 0, identical curve. */
static void test_identity_variant_exact(void **st) {
    (void)st;
    ic_model m;
    ic_schedule s;
    float *xs, *ys;
    make(&m, &s, &xs, &ys);
    ic_err err = {{0}};
    ic_variant v[3];
    memset(v, 0, sizeof v);
    const char *labels[3] = {"id", "0-3", "swap(1,2);swap(1,2)"};
    for (int i = 0; i < 3; i++) {
        snprintf(v[i].label, sizeof v[i].label, "%s", labels[i]);
        v[i].sched = s;
        assert_int_equal(ic_schedule_parse(&v[i].sched, labels[i], &s, CFG.n_layer, &err), 0);
    }
    ic_surgery_opts o = opts();
    ic_variant_result rb, r[3];
    assert_int_equal(ic_surgery_eval(&m, &s, v, 3, xs, ys, &o, &rb, r, &err), 0);
    for (int i = 0; i < 3; i++) {
        assert_true(r[i].same_as_original);
        for (int j = 0; j < o.nk; j++) {
            assert_true(r[i].ratio[j] == 1.0);
            assert_true(r[i].ratio_lo[j] == 1.0 && r[i].ratio_hi[j] == 1.0);
            assert_true(r[i].dist[j] == 0.0);
            assert_true(r[i].err[j] == rb.err[j]);
        }
        assert_true(r[i].dist_all == 0.0);
        assert_memory_equal(r[i].curve.mean, rb.curve.mean, sizeof(double) * N);
    }
    assert_int_equal(ic_surgery_best(r, 3, 0, 0), -1); /* originals are not ranked */
    ic_surgery_results_free(&rb, 1);
    ic_surgery_results_free(r, 3);
    ic_model_free(&m);
    free(xs);
    free(ys);
}

/* Ratios, distances and the paired interval against a direct computation
 * from the model's predictions. */
static void test_ratio_and_distance(void **st) {
    (void)st;
    ic_model m;
    ic_schedule s;
    float *xs, *ys;
    make(&m, &s, &xs, &ys);
    ic_err err = {{0}};
    ic_sweep_opts so;
    ic_sweep_opts_default(&so, &s);
    ic_variant *v;
    int nv;
    assert_int_equal(ic_sweep_variants(IC_SWEEP_SKIP_EACH, &s, CFG.n_layer, &so, &v, &nv, &err), 0);
    ic_surgery_opts o = opts();
    ic_variant_result rb, *r = calloc((size_t)nv, sizeof *r);
    assert_int_equal(ic_surgery_eval(&m, &s, v, nv, xs, ys, &o, &rb, r, &err), 0);
    float *pb = tu_falloc((size_t)B * N), *pv = tu_falloc((size_t)B * N);
    assert_int_equal(ic_model_predict(&m, &s, xs, ys, B, N, o.chunk, pb, &err), 0);
    for (int i = 0; i < nv; i++) {
        assert_int_equal(ic_model_predict(&m, &v[i].sched, xs, ys, B, N, o.chunk, pv, &err), 0);
        for (int j = 0; j < o.nk; j++) {
            const int k = o.ks[j];
            double ev = 0, eb = 0, dd = 0;
            for (int b = 0; b < B; b++) {
                double a = (double)pv[b * N + k] - ys[b * N + k], c = (double)pb[b * N + k] - ys[b * N + k],
                       e = (double)pv[b * N + k] - pb[b * N + k];
                ev += a * a;
                eb += c * c;
                dd += e * e;
            }
            assert_true(fabs(r[i].err[j] - ev / B / CFG.n_dims) <= 1e-12 * (1 + ev));
            assert_true(fabs(r[i].ratio[j] - ev / eb) <= 1e-9 * ev / eb);
            assert_true(fabs(r[i].dist[j] - dd / B / CFG.n_dims) <= 1e-12 * (1 + dd));
            assert_true(r[i].dist[j] > 0);
            assert_true(r[i].ratio_lo[j] <= r[i].ratio[j] && r[i].ratio[j] <= r[i].ratio_hi[j]);
            assert_true(r[i].ratio_lo[j] < r[i].ratio_hi[j]);
        }
        assert_false(r[i].same_as_original);
    }
    /* best / worst are the extremes */
    int bi = ic_surgery_best(r, nv, 1, 0), wi = ic_surgery_best(r, nv, 1, 1);
    for (int i = 0; i < nv; i++) {
        assert_true(r[bi].ratio[1] <= r[i].ratio[1]);
        assert_true(r[wi].ratio[1] >= r[i].ratio[1]);
    }
    ic_surgery_results_free(&rb, 1);
    ic_surgery_results_free(r, nv);
    free(r); free(v); free(pb); free(pv);
    ic_model_free(&m);
    free(xs);
    free(ys);
}

/* The loops sweep reads every loop count from one forward pass; it must equal
 * running each loop count on its own (the general path, forced by adding a
 * variant with another body). */
static void test_loops_fast_path(void **st) {
    (void)st;
    ic_model m;
    ic_schedule s;
    float *xs, *ys;
    make(&m, &s, &xs, &ys);
    ic_err err = {{0}};
    assert_int_equal(ic_schedule_parse(&s, "1,2", NULL, CFG.n_layer, &err), 0);
    s.loops = 3;
    s.loss_loops = 2;
    ic_sweep_opts so;
    ic_sweep_opts_default(&so, &s);
    so.max_loops = 6;
    ic_variant *v;
    int nv;
    assert_int_equal(ic_sweep_variants(IC_SWEEP_LOOPS, &s, CFG.n_layer, &so, &v, &nv, &err), 0);
    assert_int_equal(nv, 6);
    ic_variant *w = calloc((size_t)nv + 1, sizeof *w);
    memcpy(w, v, sizeof *v * (size_t)nv);
    w[nv] = v[0];
    assert_int_equal(ic_schedule_parse(&w[nv].sched, "2,1", NULL, CFG.n_layer, &err), 0);
    ic_surgery_opts o = opts();
    ic_variant_result rb1, rb2, *r1 = calloc((size_t)nv, sizeof *r1), *r2 = calloc((size_t)nv + 1, sizeof *r2);
    assert_int_equal(ic_surgery_eval(&m, &s, v, nv, xs, ys, &o, &rb1, r1, &err), 0);
    assert_int_equal(ic_surgery_eval(&m, &s, w, nv + 1, xs, ys, &o, &rb2, r2, &err), 0);
    for (int i = 0; i < nv; i++)
        for (int j = 0; j < o.nk; j++) {
            assert_true(fabs(r1[i].err[j] - r2[i].err[j]) <= 1e-5 * r2[i].err[j]);
            assert_true(fabs(r1[i].ratio[j] - r2[i].ratio[j]) <= 1e-5 * r2[i].ratio[j]);
        }
    assert_true(r1[2].same_as_original); /* loops = 3 is the trained count */
    assert_true(r1[2].ratio[0] == 1.0);
    ic_surgery_results_free(&rb1, 1);
    ic_surgery_results_free(&rb2, 1);
    ic_surgery_results_free(r1, nv);
    ic_surgery_results_free(r2, nv + 1);
    free(r1); free(r2); free(v); free(w);
    ic_model_free(&m);
    free(xs);
    free(ys);
}

/* Pairing: a variant whose every prompt's error is exactly twice the
 * original's has ratio 2 in every resample, so its paired interval is [2, 2]
 * (an unpaired bootstrap would spread it by the prompts' spread). */
static void test_paired_interval(void **st) {
    (void)st;
    enum { PB = 300, PN = 4 };
    float *y = tu_falloc(PB * PN), *pb = tu_falloc(PB * PN), *pv = tu_falloc(PB * PN);
    tu_rng r = tu_rng_make(3);
    for (int i = 0; i < PB * PN; i++) {
        y[i] = (float)(tu_rng_uniform(&r) - 0.5);
        float e = (float)((tu_rng_uniform(&r) - 0.5) * (1 + 10 * (i % 7))); /* prompts of very different difficulty */
        pb[i] = y[i] + e;
        pv[i] = y[i] + 2 * e; /* error 4x in square, same sign */
    }
    ic_surgery_opts o = {.B = PB, .n = PN, .norm = 1, .nk = 2, .ks = {1, 3}, .n_boot = 500, .boot_seed = 1};
    ic_variant_result res;
    ic_err err = {{0}};
    assert_int_equal(ic_paired_stats(pv, pb, y, &o, &res, &err), 0);
    for (int j = 0; j < 2; j++) {
        assert_true(fabs(res.ratio[j] - 4.0) < 1e-4);
        assert_true(fabs(res.ratio_lo[j] - 4.0) < 1e-4 && fabs(res.ratio_hi[j] - 4.0) < 1e-4);
        assert_true(res.curve.hi[o.ks[j]] - res.curve.lo[o.ks[j]] > 0.1 * res.curve.mean[o.ks[j]]); /* the errors do spread */
    }
    ic_surgery_results_free(&res, 1);
    assert_int_equal(ic_paired_stats(pb, NULL, y, &o, &res, &err), 0);
    assert_true(res.ratio[0] == 1.0 && res.dist[0] == 0.0);
    ic_surgery_results_free(&res, 1);
    free(y); free(pb); free(pv);
}

static void test_write_outputs(void **st) {
    (void)st;
    ic_model m;
    ic_schedule s;
    float *xs, *ys;
    make(&m, &s, &xs, &ys);
    ic_err err = {{0}};
    ic_sweep_opts so;
    ic_sweep_opts_default(&so, &s);
    const ic_sweep_kind kinds[3] = {IC_SWEEP_SWAP_MATRIX, IC_SWEEP_DUPLICATE_EACH, IC_SWEEP_PARALLEL};
    const char *files[3][3] = {{"swap-matrix.csv", "swap-matrix_k6.svg", "swap-matrix_curves.svg"},
                               {"duplicate-each.json", "duplicate-each_k3.svg", "duplicate-each_curves.svg"},
                               {"parallel.csv", "parallel_K2_k6.svg", "parallel_K1_k3.svg"}};
    for (int q = 0; q < 3; q++) {
        ic_variant *v;
        int nv;
        assert_int_equal(ic_sweep_variants(kinds[q], &s, CFG.n_layer, &so, &v, &nv, &err), 0);
        ic_surgery_opts o = opts();
        ic_variant_result rb, *r = calloc((size_t)nv, sizeof *r);
        assert_int_equal(ic_surgery_eval(&m, &s, v, nv, xs, ys, &o, &rb, r, &err), 0);
        assert_int_equal(ic_surgery_write(tu_tmp_dir(), kinds[q], &so, &o, &s, v, &rb, r, nv, &err), 0);
        for (int f = 0; f < 3; f++) {
            FILE *fp = fopen(tu_tmp_path(files[q][f]), "rb");
            assert_non_null(fp);
            fclose(fp);
        }
        ic_surgery_results_free(&rb, 1);
        ic_surgery_results_free(r, nv);
        free(r);
        free(v);
    }
    /* the CSV has one row per variant plus the original and the header */
    FILE *fp = fopen(tu_tmp_path("swap-matrix.csv"), "rb");
    int lines = 0, c;
    while ((c = fgetc(fp)) != EOF) lines += c == '\n';
    fclose(fp);
    assert_int_equal(lines, 1 + 1 + 6);
    ic_model_free(&m);
    free(xs);
    free(ys);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_variants),
        cmocka_unit_test(test_identity_variant_exact),
        cmocka_unit_test(test_ratio_and_distance),
        cmocka_unit_test(test_loops_fast_path),
        cmocka_unit_test(test_paired_interval),
        cmocka_unit_test_setup_teardown(test_write_outputs, tu_tmp_setup, tu_tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
