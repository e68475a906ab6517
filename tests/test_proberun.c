/* test_proberun.c: the searches of `iclab probe` (src/proberun.h): the SimE
 * search finds the step count whose solver the lens predictions are (SimE 1
 * in its column, the argmax there, least squares in the last column); the
 * ablation sweep's rank 0 is the intact model and its full rank equals
 * skipping the step (through another path: the schedule without it); the
 * analysis list parser. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "baselines.h"
#include "eval.h"
#include "model.h"
#include "probe.h"
#include "proberun.h"
#include "schedule.h"
#include "tasks.h"
#include "testutil.h"

enum { B = 16, N = 9, D = 3 };

static void sample(float *xs, float *ys, uint64_t seed) {
    ic_err err = {{0}};
    ic_task_spec t;
    ic_task_spec_default(&t, IC_TASK_LINEAR, D);
    ic_rng r;
    ic_rng_seed(&r, seed);
    assert_int_equal(ic_task_sample(&t, &r, B, N, D, xs, ys, NULL, &err), 0);
}

static void solver(ic_baseline_kind k, int steps, const float *xs, const float *ys, float *pred) {
    ic_err err = {{0}};
    ic_baseline_spec sp;
    ic_baseline_defaults(k, &sp);
    sp.steps = steps;
    assert_int_equal(ic_baseline_predict(&sp, xs, ys, B, N, D, pred, &err), 0);
}

static int calls;
static void count(void *ctx, const char *stage, int done, int total) {
    (void)ctx;
    (void)done;
    (void)total;
    assert_string_equal(stage, "sime (test)");
    calls++;
}

static void test_sime_search(void **st) {
    (void)st;
    float *xs = tu_falloc((size_t)B * N * D), *ys = tu_falloc((size_t)B * N);
    sample(xs, ys, 4);
    /* three "states": GD after 5 steps, Newton after 2 steps, least squares */
    float *lens = tu_falloc((size_t)3 * B * N);
    solver(IC_BL_GD, 5, xs, ys, lens);
    solver(IC_BL_NEWTON, 2, xs, ys, lens + B * N);
    solver(IC_BL_LEAST_SQUARES, 0, xs, ys, lens + 2 * B * N);
    double ls[3];
    for (int k = 0; k < 3; k++) ls[k] = ic_sime(lens + (size_t)k * B * N, lens + 2 * B * N, ys, B, N, 1, NULL);
    assert_true(fabs(ls[2] - 1.0) < 1e-9);
    ic_err err = {{0}};
    const int gd_ks[3] = {1, 5, 50}, nt_ks[4] = {0, 1, 2, 3};
    double sime[3 * 5];
    int best[3];
    calls = 0;
    assert_int_equal(ic_sime_search(IC_BL_GD, gd_ks, 3, lens, 3, xs, ys, B, N, D, ls, sime, best, count, NULL,
                                    "sime (test)", &err), 0);
    assert_int_equal(calls, 4);
    assert_int_equal(best[0], 1); /* state 0 is GD with 5 steps */
    assert_true(fabs(sime[0 * 4 + 1] - 1.0) < 1e-9);
    assert_true(sime[0 * 4 + 0] < 1.0 - 1e-6 && sime[0 * 4 + 2] < 1.0 - 1e-6);
    for (int k = 0; k < 3; k++) assert_true(sime[k * 4 + 3] == ls[k]); /* the last column */
    assert_int_equal(ic_sime_search(IC_BL_NEWTON, nt_ks, 4, lens, 3, xs, ys, B, N, D, ls, sime, best, NULL, NULL, "x",
                                    &err), 0);
    assert_int_equal(best[1], 2); /* state 1 is Newton with 2 steps */
    assert_true(fabs(sime[1 * 5 + 2] - 1.0) < 1e-9);
    for (int c = 0; c < 4; c++)
        if (c != 2) assert_true(sime[1 * 5 + c] < sime[1 * 5 + 2]);
    free(xs);
    free(ys);
    free(lens);
}

static const ic_config CFG = {.n_dims = D, .n_positions = N, .n_embd = 16, .n_layer = 3, .n_head = 2};

static double mean_err(const float *pred, const float *ys, double *at_kd) {
    double s = 0.0, k = 0.0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++) {
            double e = (double)pred[b * N + i] - ys[b * N + i];
            s += e * e / D / (B * N);
            if (i == D) k += e * e / D / B;
        }
    *at_kd = k;
    return s;
}

static void test_ablation_sweep(void **st) {
    (void)st;
    ic_err err = {{0}};
    ic_model m = {0};
    assert_int_equal(ic_model_create(&m, &CFG, &err), 0);
    ic_model_init_weights(&m, 13);
    for (size_t i = 0; i < m.num_params; i++) m.params_mem[i] *= 3.0f;
    ic_schedule *s = malloc(sizeof *s), *skip = malloc(sizeof *skip);
    ic_schedule_default(s, CFG.n_layer);
    float *xs = tu_falloc((size_t)B * N * D), *ys = tu_falloc((size_t)B * N), *pred = tu_falloc((size_t)B * N);
    sample(xs, ys, 8);
    ic_capture cap = {0};
    ic_components comp = {0};
    assert_int_equal(ic_probe_capture(&m, s, xs, ys, B, N, 5, 0, &cap, &err), 0);
    assert_int_equal(ic_probe_components(&cap, &comp, &err), 0);
    const int R = comp.rows, C = CFG.n_embd;
    assert_int_equal(R, 3);
    const int ranks[3] = {0, 2, C};
    double abl[3 * 3], ablk[3 * 3], ref_all, ref_kd;
    assert_int_equal(ic_probe_ablation_sweep(&m, s, xs, ys, B, N, 5, &comp, cap.n_steps, ranks, 3, D, abl, ablk, &ref_all,
                                             &ref_kd, NULL, NULL, &err), 0);
    /* the intact model, computed directly */
    double kd;
    assert_int_equal(ic_model_predict(&m, s, xs, ys, B, N, B, pred, &err), 0);
    double all = mean_err(pred, ys, &kd);
    assert_true(fabs(ref_all - all) <= 1e-6 * all);
    assert_true(fabs(ref_kd - kd) <= 1e-6 * kd);
    for (int row = 0; row < R; row++) {
        assert_true(abl[row * 3] == ref_all); /* rank 0: the intact model */
        assert_true(ablk[row * 3] == ref_kd);
        /* rank C removes the step's whole update: the schedule without that step */
        char text[32];
        snprintf(text, sizeof text, "skip(%d)", row);
        *skip = *s;
        assert_int_equal(ic_schedule_parse(skip, text, s, CFG.n_layer, &err), 0);
        assert_int_equal(ic_model_predict(&m, skip, xs, ys, B, N, B, pred, &err), 0);
        double sk = mean_err(pred, ys, &kd);
        assert_true(fabs(abl[row * 3 + 2] - sk) <= 1e-4 * sk);
        assert_true(fabs(ablk[row * 3 + 2] - kd) <= 1e-4 * kd);
        assert_true(fabs(sk - all) > 5e-3 * all); /* skipping a step changes the error 10x more than the tolerance */
        assert_true(isfinite(abl[row * 3 + 1]));
    }
    /* kd past the prompt: NaN */
    assert_int_equal(ic_probe_ablation_sweep(&m, s, xs, ys, B, N, 5, &comp, cap.n_steps, ranks, 1, -1, abl, ablk, &ref_all,
                                             &ref_kd, NULL, NULL, &err), 0);
    assert_true(isnan(ref_kd) && isnan(ablk[0]));
    ic_components_free(&comp);
    ic_capture_free(&cap);
    ic_model_free(&m);
    free(s);
    free(skip);
    free(xs);
    free(ys);
    free(pred);
}

static void test_parse_what(void **st) {
    (void)st;
    int want[IC_AN_COUNT];
    ic_err err = {{0}};
    assert_int_equal(ic_probe_parse_what("lens,sime", want, &err), 0);
    assert_true(want[IC_AN_LENS] && want[IC_AN_SIME] && !want[IC_AN_PROBES] && !want[IC_AN_GEOMETRY] &&
                !want[IC_AN_COMPONENTS]);
    assert_int_equal(ic_probe_parse_what("all", want, &err), 0);
    for (int i = 0; i < IC_AN_COUNT; i++) assert_true(want[i]);
    assert_int_equal(ic_probe_parse_what("lens,lenses", want, &err), -1);
    assert_non_null(strstr(err.msg, "'lenses'"));
    assert_int_equal(ic_probe_parse_what("len", want, &err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sime_search),
        cmocka_unit_test(test_ablation_sweep),
        cmocka_unit_test(test_parse_what),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
