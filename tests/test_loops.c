/* test_loops.c: the per-loop aggregation of `iclab loops` (src/loops.h):
 * the error at loop t equals the error of the model run for t loops
 * (computed through ic_model_predict, another path), the error at k is the
 * mean over prompts at that position, the fixed-point measure is the ratio
 * of sums over all prompts (so it does not depend on the chunk size, which a
 * mean of per-chunk ratios would), undefined entries are NaN, and the files
 * are written. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eval.h"
#include "fsutil.h"
#include "loops.h"
#include "model.h"
#include "tasks.h"
#include "testutil.h"

static const ic_config CFG = {.n_dims = 4, .n_positions = 8, .n_embd = 16, .n_layer = 2, .n_head = 2};
enum { B = 24, N = 7, L = 6 };

static void make(ic_model *m, ic_schedule *s, float **xs, float **ys) {
    ic_err err = {{0}};
    assert_int_equal(ic_model_create(m, &CFG, &err), 0);
    ic_model_init_weights(m, 21);
    for (size_t i = 0; i < m->num_params; i++) m->params_mem[i] *= 2.0f;
    ic_schedule_default(s, CFG.n_layer);
    s->loops = 2; /* "trained" with 2 loops */
    s->inject = 1;
    s->loop_lnf = 0; /* Y = h: its norm differs between prompts (below), so the ratio of sums
                        differs from a mean of per-chunk ratios */
    *xs = tu_falloc((size_t)B * N * CFG.n_dims);
    *ys = tu_falloc((size_t)B * N);
    ic_task_spec t;
    ic_task_spec_default(&t, IC_TASK_LINEAR, CFG.n_dims);
    ic_rng r;
    ic_rng_seed(&r, 3);
    assert_int_equal(ic_task_sample(&t, &r, B, N, CFG.n_dims, *xs, *ys, NULL, &err), 0);
    for (int i = 0; i < 5 * N * CFG.n_dims; i++) (*xs)[i] *= 10.0f; /* the first chunk of 5: larger inputs */
}

static int calls, last_done, last_total;
static void count(void *ctx, const char *stage, int done, int total) {
    (void)ctx;
    assert_string_equal(stage, "prompts");
    calls++;
    last_done = done;
    last_total = total;
}

static void test_loops_against_direct(void **st) {
    (void)st;
    ic_model m = {0};
    ic_schedule *s = malloc(sizeof *s), *one = malloc(sizeof *one);
    float *xs, *ys;
    make(&m, s, &xs, &ys);
    ic_err err = {{0}};
    ic_loops_report r;
    calls = 0;
    assert_int_equal(ic_loops_run(&m, s, L, xs, ys, B, N, 5, count, NULL, &r, &err), 0);
    assert_int_equal(s->loops, 2); /* the caller's schedule is not changed */
    assert_int_equal(r.trained, 2);
    assert_int_equal(calls, 1 + (B + 4) / 5);
    assert_int_equal(last_done, B);
    assert_int_equal(last_total, B);
    assert_int_equal(r.ks[0], 2);
    assert_int_equal(r.ks[1], 4);
    assert_int_equal(r.ks[2], 8);
    float *pred = tu_falloc((size_t)B * N);
    for (int t = 0; t < L; t++) {
        *one = *s;
        one->loops = t + 1;
        one->loss_loops = 1;
        one->grad_loops = 0;
        assert_int_equal(ic_model_predict(&m, one, xs, ys, B, N, B, pred, &err), 0);
        double all = 0, at[2] = {0, 0};
        for (int b = 0; b < B; b++)
            for (int i = 0; i < N; i++) {
                double e = (double)pred[b * N + i] - ys[b * N + i];
                all += e * e / CFG.n_dims / (B * N);
                if (i == 2) at[0] += e * e / CFG.n_dims / B;
                if (i == 4) at[1] += e * e / CFG.n_dims / B;
            }
        assert_true(fabs(r.err[t] - all) <= 1e-5 * all);
        assert_true(fabs(r.err_k[t * 3] - at[0]) <= 1e-5 * at[0]);
        assert_true(fabs(r.err_k[t * 3 + 1] - at[1]) <= 1e-5 * at[1]);
        assert_true(isnan(r.err_k[t * 3 + 2])); /* k = 2d = 8 is past the prompt */
    }
    /* the fixed-point measure: undefined at loop 1, then the ratio of the sums over all prompts */
    assert_true(isnan(r.fixed_point[0]));
    *one = *s;
    one->loops = L;
    one->loss_loops = 1;
    one->grad_loops = 0;
    ic_workspace ws;
    ic_workspace_init(&ws);
    assert_int_equal(ic_model_forward(&m, &ws, one, xs, ys, B, N, 0, &err), 0);
    for (int t = 1; t < L; t++) {
        double whole = sqrt(ws.loop_delta_num[t] / ws.loop_delta_den[t]);
        assert_true(isfinite(r.fixed_point[t]) && r.fixed_point[t] > 0);
        assert_true(fabs(r.fixed_point[t] - whole) <= 1e-5 * whole);
    }
    ic_workspace_free(&ws);
    /* one chunk or many: the same numbers (up to float rounding in the forward) */
    ic_loops_report r1;
    assert_int_equal(ic_loops_run(&m, s, L, xs, ys, B, N, B, NULL, NULL, &r1, &err), 0);
    for (int t = 0; t < L; t++) {
        assert_true(fabs(r1.err[t] - r.err[t]) <= 1e-5 * r.err[t]);
        if (t) assert_true(fabs(r1.fixed_point[t] - r.fixed_point[t]) <= 1e-5 * r.fixed_point[t]);
    }
    /* the files */
    ic_task_spec task;
    ic_task_spec_default(&task, IC_TASK_LINEAR, CFG.n_dims);
    ic_meta meta = {.model = "m.safetensors", .task = &task, .d = CFG.n_dims, .n = N, .prompts = B};
    assert_int_equal(ic_loops_write(tu_tmp_dir(), &r, &meta, &err), 0);
    char *text = NULL;
    size_t len;
    assert_int_equal(ic_read_file(tu_tmp_path("loops.csv"), &text, &len, 1 << 20, &err), 0);
    assert_non_null(strstr(text, "loop,err_all_positions,err_k2,err_k4,err_k8,fixed_point\n1,"));
    int lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 1 + L);
    free(text);
    assert_int_equal(ic_read_file(tu_tmp_path("loops.json"), &text, &len, 1 << 20, &err), 0);
    assert_non_null(strstr(text, "\"trained_loops\": 2"));
    assert_non_null(strstr(text, "\"fixed_point\": null"));
    free(text);
    ic_loops_report_free(&r);
    ic_loops_report_free(&r1);
    /* bad arguments are an error, not a crash */
    assert_int_equal(ic_loops_run(&m, s, 0, xs, ys, B, N, 5, NULL, NULL, &r1, &err), -1);
    free(pred);
    free(xs);
    free(ys);
    free(s);
    free(one);
    ic_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loops_against_direct),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
