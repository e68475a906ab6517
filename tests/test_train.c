/* test_train.c: curriculum, learning-rate schedule, clipping, the training
 * step, resume bit-identity, interruption and NaN handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "safetensors.h"
#include "testutil.h"
#include "train.h"
#include "checkpoint.h"


static void tiny_config(ic_run_config *c) {
    ic_err err;
    ic_run_config_default(c);
    const char *kv[][2] = {{"n_dims", "4"},     {"n_positions", "6"}, {"n_points", "6"},   {"n_embd", "16"},
                           {"n_layer", "2"},    {"n_head", "2"},      {"batch_size", "8"}, {"train_steps", "20"},
                           {"learning_rate", "1e-3"}, {"log_every", "1"}, {"save_every", "5"}, {"seed", "7"},
                           {"curriculum_dims_start", "2"}, {"curriculum_dims_interval", "6"},
                           {"curriculum_points_start", "4"}, {"curriculum_points_interval", "6"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) assert_int_equal(ic_run_config_set(c, kv[i][0], kv[i][1], &err), 0);
    assert_int_equal(ic_run_config_validate(c, &err), 0);
}

static void test_curriculum_values(void **st) {
    (void)st;
    // Garg et al.: dims 5 -> 20, +1 every 2000; points 11 -> 41, +2 every 2000
    assert_int_equal(ic_curriculum_value(5, 20, 1, 2000, 0), 5);
    assert_int_equal(ic_curriculum_value(5, 20, 1, 2000, 1999), 5);
    assert_int_equal(ic_curriculum_value(5, 20, 1, 2000, 2000), 6);
    assert_int_equal(ic_curriculum_value(5, 20, 1, 2000, 29999), 19);
    assert_int_equal(ic_curriculum_value(5, 20, 1, 2000, 30000), 20);
    assert_int_equal(ic_curriculum_value(5, 20, 1, 2000, 500000), 20);
    assert_int_equal(ic_curriculum_value(11, 41, 2, 2000, 4000), 15);
    assert_int_equal(ic_curriculum_value(11, 41, 2, 2000, 10000000), 41);
    assert_int_equal(ic_curriculum_value(0, 20, 1, 2000, 0), 20); // no curriculum
    // Yang et al. loops: 15 -> 30, +2 every 500
    assert_int_equal(ic_curriculum_value(15, 30, 2, 500, 499), 15);
    assert_int_equal(ic_curriculum_value(15, 30, 2, 500, 500), 17);
    assert_int_equal(ic_curriculum_value(15, 30, 2, 500, 4000), 30);
}

static void test_lr_schedule_and_clip(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    ic_run_config_default(&c);
    assert_true(ic_lr_at(&c, 0) == 1e-4 && ic_lr_at(&c, 123456) == 1e-4); // constant
    assert_int_equal(ic_run_config_set(&c, "lr_schedule", "cosine", &err), 0);
    c.learning_rate = 1.0;
    c.warmup_steps = 10;
    c.train_steps = 110;
    c.min_lr_ratio = 0.1;
    assert_true(fabs(ic_lr_at(&c, 0) - 0.1) < 1e-12);  // warm-up: (step+1)/10
    assert_true(fabs(ic_lr_at(&c, 9) - 1.0) < 1e-12);
    assert_true(fabs(ic_lr_at(&c, 10) - 1.0) < 1e-12); // cosine starts at the peak
    assert_true(fabs(ic_lr_at(&c, 60) - 0.55) < 1e-12); // halfway: (1 + 0.1) / 2
    assert_true(fabs(ic_lr_at(&c, 110) - 0.1) < 1e-12);
    for (long s = 11; s < 110; s++) assert_true(ic_lr_at(&c, s) <= ic_lr_at(&c, s - 1));
    float g[4] = {3, 4, 0, 0};
    assert_true(fabs(ic_clip_grad_norm(g, 4, 0) - 5.0) < 1e-6); // off: unchanged
    assert_true(g[0] == 3.0f);
    assert_true(fabs(ic_clip_grad_norm(g, 4, 1.0) - 5.0) < 1e-6);
    assert_true(fabs(sqrt(g[0] * g[0] + g[1] * g[1]) - 1.0) < 1e-5);
    assert_true(fabs(ic_linear_optimum(5, 11) - 15.0 / 11) < 1e-12);
    assert_true(fabs(ic_linear_optimum(3, 2) - 2.5) < 1e-12);
}

static void test_step_applies_curriculum(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    tiny_config(&c);
    ic_trainer t;
    assert_int_equal(ic_trainer_init(&t, &c, &err), 0);
    ic_step_stats s;
    assert_int_equal(ic_trainer_step(&t, &s, &err), 0);
    assert_int_equal(s.n_dims, 2);
    assert_int_equal(s.n_points, 4);
    // truncated dimensions are exactly zero; active ones are not
    for (int b = 0; b < 8; b++)
        for (int i = 0; i < 4; i++) {
            const float *x = t.xs + ((size_t)b * 4 + i) * 4;
            assert_true(x[2] == 0.0f && x[3] == 0.0f);
            assert_true(x[0] != 0.0f);
        }
    for (int i = 1; i < 6; i++) assert_int_equal(ic_trainer_step(&t, &s, &err), 0);
    assert_int_equal(s.n_dims, 2);
    assert_int_equal(ic_trainer_step(&t, &s, &err), 0); // step index 6: first increment
    assert_int_equal(s.n_dims, 3);
    assert_int_equal(s.n_points, 6);
    assert_int_equal(t.step, 7);
    ic_trainer_free(&t);

    ic_trainer_free(&t);
}

static void read_params(const char *path, float **out, size_t *n) {
    st_file f;
    ic_err err;
    assert_int_equal(st_read_file(path, &f, &err), 0);
    const st_tensor *p = st_find(&f, "params");
    assert_non_null(p);
    *n = p->numel;
    *out = malloc(sizeof(float) * *n);
    assert_int_equal(st_read_f32(&f, p, *out, *n, &err), 0);
    st_free(&f);
}

/* metrics.csv without the wall-clock columns (steps_per_s, wall_s) */
static char *metrics_core(const char *dir) {
    char path[600], *text;
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    ic_err err;
    size_t len;
    assert_int_equal(ic_read_file(path, &text, &len, 1 << 24, &err), 0);
    char *out = calloc(len + 1, 1);
    size_t o = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int field = 0;
        for (char *p = line; *p; p++) {
            if (*p == ',') field++;
            if (field != 5 && field != 9) out[o++] = *p;
        }
        out[o++] = '\n';
    }
    free(text);
    return out;
}

/* Two run directories (under the test's tmp) end with the same parameters
 * and the same metrics rows (no duplicates); returns the rows (caller frees). */
static char *assert_same_run(const char *dir_a, const char *dir_b) {
    char pa[256], pb[256];
    snprintf(pa, sizeof pa, "%s/state.safetensors", dir_a);
    snprintf(pb, sizeof pb, "%s/state.safetensors", dir_b);
    float *a, *b;
    size_t na, nb;
    read_params(tu_tmp_path(pa), &a, &na);
    read_params(tu_tmp_path(pb), &b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof(float));
    free(a);
    free(b);
    char *ma = metrics_core(tu_tmp_path(dir_a)), *mb = metrics_core(tu_tmp_path(dir_b));
    assert_string_equal(ma, mb); // same losses at every step, no duplicated rows
    free(mb);
    return ma;
}

static void test_resume_is_bit_identical(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    tiny_config(&c);
    ic_train_result r;
    // uninterrupted
    assert_int_equal(ic_train_run(tu_tmp_path("full"), &c, 0, NULL, &r, &err), 0);
    assert_int_equal(r.outcome, IC_TRAIN_DONE);
    assert_int_equal(r.step, 20);
    // interrupted after 8 steps (between checkpoints at 5 and 10), then resumed twice
    ic_train_hooks h = {.stop_after = 8};
    assert_int_equal(ic_train_run(tu_tmp_path("split"), &c, 0, &h, &r, &err), 0);
    assert_int_equal(r.outcome, IC_TRAIN_STOPPED);
    assert_int_equal(r.step, 8);
    h.stop_after = 5;
    assert_int_equal(ic_train_run(tu_tmp_path("split"), &c, 1, &h, &r, &err), 0);
    assert_int_equal(r.step, 13);
    assert_int_equal(ic_train_run(tu_tmp_path("split"), &c, 1, NULL, &r, &err), 0);
    assert_int_equal(r.outcome, IC_TRAIN_DONE);
    assert_int_equal(r.step, 20);
    free(assert_same_run("full", "split"));
    assert_true(ic_file_exists(tu_tmp_path("full/model.safetensors")));
    assert_true(ic_file_exists(tu_tmp_path("full/loss.svg")));
    assert_true(ic_file_exists(tu_tmp_path("full/config.json")));
    // a finished or existing run is not overwritten by accident; a missing one cannot resume
    assert_int_equal(ic_train_run(tu_tmp_path("full"), &c, 0, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "--resume"));
    assert_int_equal(ic_train_run(tu_tmp_path("nothing-here"), &c, 1, NULL, &r, &err), -1);
    assert_non_null(strstr(err.msg, "no run to resume"));
}

/* Random depth: the loop counts follow min(loops, 1 + Poisson(loops_mean - 1))
 * (mean, truncation, spread), are the same for the same seed and differ for
 * another, and a run with them -- on a prelude/core/coda body with the loop
 * signal and attention-only / MLP-only blocks -- resumes bit-identically. */
static void test_random_depth(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    tiny_config(&c);
    const char *kv[][2] = {{"n_layer", "4"}, {"schedule", "0,{1,2},3"}, {"loop_lnf", "false"}, {"loops", "6"},
                           {"loss_loops", "2"}, {"grad_loops", "3"}, {"loop_signal", "true"},
                           {"loops_sampling", "poisson"}, {"loops_mean", "3.5"}, {"block_kinds", "mlp,attn,full,attn"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) assert_int_equal(ic_run_config_set(&c, kv[i][0], kv[i][1], &err), 0);
    assert_int_equal(ic_run_config_validate(&c, &err), 0);
    // the distribution: 20000 draws against the truncated Poisson's mean and P(L = 1)
    double sum = 0, n1 = 0, nmax = 0;
    int hist[7] = {0};
    for (long step = 0; step < 20000; step++) {
        const int L = ic_trainer_step_loops(&c, step);
        assert_true(L >= 1 && L <= 6);
        hist[L]++;
        sum += L;
        n1 += L == 1;
        nmax += L == 6;
    }
    // exact: 1 + Poisson(2.5) truncated at 6
    double p[7] = {0}, mean = 0, pk = exp(-2.5);
    for (int k = 0; k < 5; k++, pk *= 2.5 / k) p[k + 1] = pk;
    p[6] = 1 - (p[1] + p[2] + p[3] + p[4] + p[5]);
    for (int L = 1; L <= 6; L++) mean += L * p[L];
    print_message("loops 1..6: %d %d %d %d %d %d, mean %.3f (exact %.3f)\n", hist[1], hist[2], hist[3], hist[4], hist[5],
                  hist[6], sum / 20000, mean);
    assert_true(fabs(sum / 20000 - mean) < 0.03);          // sd of the mean ~0.01
    assert_true(fabs(n1 / 20000 - p[1]) < 0.01);
    assert_true(fabs(nmax / 20000 - p[6]) < 0.01);
    // the same seed draws the same counts; another seed others
    ic_run_config c2 = c;
    c2.seed = 8;
    int same = 1, differ = 0;
    for (long step = 0; step < 50; step++) {
        same &= ic_trainer_step_loops(&c, step) == ic_trainer_step_loops(&c, step);
        differ += ic_trainer_step_loops(&c, step) != ic_trainer_step_loops(&c2, step);
    }
    assert_true(same);
    assert_true(differ > 10);
    // fixed sampling is the curriculum's loops
    ic_run_config cf = c;
    snprintf(cf.loops_sampling, sizeof cf.loops_sampling, "fixed");
    assert_int_equal(ic_trainer_step_loops(&cf, 3), 6);
    // training with it: interrupted and resumed equals uninterrupted, bit for bit
    ic_train_result r;
    assert_int_equal(ic_train_run(tu_tmp_path("rd_full"), &c, 0, NULL, &r, &err), 0);
    assert_int_equal(r.outcome, IC_TRAIN_DONE);
    ic_train_hooks h = {.stop_after = 7};
    assert_int_equal(ic_train_run(tu_tmp_path("rd_split"), &c, 0, &h, &r, &err), 0);
    assert_int_equal(r.step, 7);
    assert_int_equal(ic_train_run(tu_tmp_path("rd_split"), &c, 1, NULL, &r, &err), 0);
    assert_int_equal(r.step, 20);
    char *ma = assert_same_run("rd_full", "rd_split");
    // the metrics' loops column is each step's draw
    int rows = 0, varied = 0, prev = -1;
    for (char *line = strtok(ma, "\n"); line; line = strtok(NULL, "\n")) {
        int field = 0, L = -1;
        for (char *q = line; *q; q++)
            if (*q == ',' && ++field == 7) L = atoi(q + 1); /* loops: after the 7th comma once the two clock columns are gone */
        if (rows++ == 0 || L < 0) continue;
        varied += prev >= 0 && L != prev;
        prev = L;
    }
    assert_true(varied > 3);
    free(ma);
    // the checkpoint records the kinds, the prelude/coda, the signal; the model loads with them
    ic_model m;
    ic_schedule s;
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("rd_full/model.safetensors"), &m, &s, 0, NULL, 0, &err), 0);
    assert_int_equal(m.cfg.kind[0], IC_BLOCK_MLP);
    assert_int_equal(m.cfg.kind[1], IC_BLOCK_ATTN);
    assert_int_equal(m.cfg.kind[2], IC_BLOCK_FULL);
    assert_int_equal(m.cfg.kind[3], IC_BLOCK_ATTN);
    assert_int_equal(s.prelude, 1);
    assert_int_equal(s.coda, 1);
    assert_int_equal(s.loop_signal, 1);
    assert_int_equal(s.loops, 6); /* the truncation, not the last draw */
    ic_model_free(&m);
    // bad values: one line naming the key
    ic_run_config bad = c;
    assert_int_equal(ic_run_config_set(&bad, "block_kinds", "attn,mpl", &err), -1);
    assert_non_null(strstr(err.msg, "block_kinds: item 2 is 'mpl'"));
    assert_int_equal(ic_run_config_set(&bad, "block_kinds", "attn,mlp", &err), 0);
    assert_int_equal(ic_run_config_validate(&bad, &err), -1);
    assert_non_null(strstr(err.msg, "block_kinds lists 2 kinds, but n_layer is 4"));
    bad = c;
    assert_int_equal(ic_run_config_set(&bad, "loops_sampling", "uniform", &err), 0);
    assert_int_equal(ic_run_config_validate(&bad, &err), -1);
    assert_non_null(strstr(err.msg, "loops_sampling: expected fixed or poisson"));
    bad = c;
    assert_int_equal(ic_run_config_set(&bad, "loops_mean", "7", &err), 0);
    assert_int_equal(ic_run_config_validate(&bad, &err), -1);
    assert_non_null(strstr(err.msg, "loops_mean (7) exceeds loops (6)"));
    bad = c;
    assert_int_equal(ic_run_config_set(&bad, "loop_lnf", "true", &err), 0);
    assert_int_equal(ic_run_config_validate(&bad, &err), -1);
    assert_non_null(strstr(err.msg, "a coda needs loop_lnf false"));
}

static void test_interrupt_flag_checkpoints(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    tiny_config(&c);
    volatile sig_atomic_t stop = 1; // as if Ctrl-C arrived before the first step
    ic_train_hooks h = {.stop = &stop};
    ic_train_result r;
    assert_int_equal(ic_train_run(tu_tmp_path("intr"), &c, 0, &h, &r, &err), 0);
    assert_int_equal(r.outcome, IC_TRAIN_STOPPED);
    assert_true(ic_file_exists(tu_tmp_path("intr/state.safetensors")));
    stop = 0;
    assert_int_equal(ic_train_run(tu_tmp_path("intr"), &c, 1, &h, &r, &err), 0);
    assert_int_equal(r.outcome, IC_TRAIN_DONE);
    assert_int_equal(r.step, 20);
}

static void test_nan_stops_and_keeps_last_checkpoint(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    tiny_config(&c);
    c.learning_rate = 1e30; // every Adam step moves weights by ~1e30: overflows to inf/NaN
    c.train_steps = 2000;
    c.save_every = 3;
    ic_train_result r;
    assert_int_equal(ic_train_run(tu_tmp_path("nan"), &c, 0, NULL, &r, &err), -1);
    assert_true(strstr(err.msg, "NaN") || strstr(err.msg, "infinite") || strstr(err.msg, "not finite"));
    assert_non_null(strstr(err.msg, "last good checkpoint"));
    // the kept state is finite and loads
    float *p;
    size_t n;
    read_params(tu_tmp_path("nan/state.safetensors"), &p, &n);
    for (size_t i = 0; i < n; i++) assert_true(isfinite(p[i]));
    free(p);
    ic_trainer t;
    assert_int_equal(ic_trainer_init(&t, &c, &err), 0);
    assert_int_equal(ic_trainer_load_state(&t, tu_tmp_path("nan/state.safetensors"), &err), 0);
    assert_true(t.step % 3 == 0); // a checkpoint step (0 if it diverged before the first save)
    ic_trainer_free(&t);
}

static void test_config_errors(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    ic_run_config_default(&c);
    assert_int_equal(ic_run_config_set(&c, "optimizer", "sgd", &err), 0);
    assert_int_equal(ic_run_config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "optimizer"));
    ic_run_config_default(&c);
    assert_int_equal(ic_run_config_set(&c, "lr_schedule", "linear", &err), 0);
    assert_int_equal(ic_run_config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "lr_schedule"));
    ic_run_config_default(&c);
    c.curriculum_dims_start = 25;
    assert_int_equal(ic_run_config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "curriculum_dims_start"));
    ic_run_config_default(&c);
    assert_int_equal(ic_run_config_set(&c, "task", "cubic_regression", &err), 0);
    ic_trainer t;
    assert_int_equal(ic_trainer_init(&t, &c, &err), -1);
    assert_non_null(strstr(err.msg, "task"));
    assert_non_null(strstr(err.msg, "linear_regression")); // lists the valid names
}

/* ---------------- run config -> task (ic_run_config_task) ----------------
 * Every parameter is set to a non-default value, so a mapping that left one
 * out (as cli_model_task did x_scale, and iclab loops every parameter but the
 * kind) fails here. */

/* The task of the default config overlaid with kv, for prompts of d dims. */
static ic_task_spec task_of(const char *const (*kv)[2], int nkv, int d, double *norm) {
    ic_run_config c;
    ic_err err;
    ic_run_config_default(&c);
    for (int i = 0; i < nkv; i++) assert_int_equal(ic_run_config_set(&c, kv[i][0], kv[i][1], &err), 0);
    ic_task_spec t;
    if (ic_run_config_task(&c, d, &t, norm, &err)) fail_msg("%s", err.msg);
    return t;
}

static void test_config_task_kind(void **st) {
    (void)st;
    for (int k = 0; k < IC_NUM_TASKS; k++) {
        const char *const kv[][2] = {{"task", ic_task_name((ic_task_kind)k)}};
        ic_task_spec t = task_of(kv, 1, 5, NULL);
        assert_int_equal(t.kind, k);
        assert_int_equal(t.n_dims, 5);
    }
    // an unknown name is an error naming the key and the valid names, never linear regression
    ic_run_config c;
    ic_err err;
    ic_run_config_default(&c);
    assert_int_equal(ic_run_config_set(&c, "task", "cubic_regression", &err), 0);
    ic_task_spec t, before;
    memset(&t, 0x5A, sizeof t);
    before = t;
    double norm = -7.0;
    assert_int_equal(ic_run_config_task(&c, 5, &t, &norm, &err), -1);
    assert_non_null(strstr(err.msg, "task"));
    assert_non_null(strstr(err.msg, "cubic_regression"));
    assert_non_null(strstr(err.msg, "linear_regression"));
    assert_memory_equal(&t, &before, sizeof t); // untouched
    assert_true(norm == -7.0);
}

static void test_config_task_sparsity(void **st) {
    (void)st;
    const char *const kv[][2] = {{"task", "sparse_linear_regression"}, {"sparsity", "2"}};
    ic_task_spec t = task_of(kv, 2, 5, NULL);
    assert_int_equal(t.kind, IC_TASK_SPARSE_LINEAR);
    assert_int_equal(t.sparsity, 2); // iclab loops sampled 3
}

static void test_config_task_noise_std(void **st) {
    (void)st;
    const char *const kv[][2] = {{"task", "noisy_linear_regression"}, {"noise_std", "0.5"}};
    ic_task_spec t = task_of(kv, 2, 5, NULL);
    assert_int_equal(t.kind, IC_TASK_NOISY_LINEAR);
    assert_true(t.noise_std == 0.5); // iclab loops sampled 1
}

static void test_config_task_hidden(void **st) {
    (void)st;
    const char *const kv[][2] = {{"task", "relu_2nn_regression"}, {"hidden", "7"}};
    ic_task_spec t = task_of(kv, 2, 5, NULL);
    assert_int_equal(t.kind, IC_TASK_RELU2NN);
    assert_int_equal(t.hidden, 7); // iclab loops sampled 100
}

static void test_config_task_depth(void **st) {
    (void)st;
    const char *const kv[][2] = {{"task", "decision_tree"}, {"depth", "2"}};
    ic_task_spec t = task_of(kv, 2, 5, NULL);
    assert_int_equal(t.kind, IC_TASK_DECISION_TREE);
    assert_int_equal(t.depth, 2); // iclab loops sampled 4
}

static void test_config_task_x_scale(void **st) {
    (void)st;
    // every kind: cli_model_task (probe, surgery, compare), eval and loops all sampled x_scale 1
    for (int k = 0; k < IC_NUM_TASKS; k++) {
        const char *const kv[][2] = {{"task", ic_task_name((ic_task_kind)k)}, {"x_scale", "3"}};
        ic_task_spec t = task_of(kv, 2, 5, NULL);
        assert_true(t.x_scale == 3.0);
        // what no key sets keeps the sampler's defaults
        assert_null(t.x_cov_sqrt);
        assert_true(t.y_scale == 1.0);
    }
}

static void test_config_task_err_norm(void **st) {
    (void)st;
    double norm = 0.0;
    const char *const s2[][2] = {{"task", "sparse_linear_regression"}, {"sparsity", "2"}};
    task_of(s2, 2, 5, &norm);
    assert_true(norm == 2.0); // the non-zero coordinates
    const char *const s7[][2] = {{"task", "sparse_linear_regression"}, {"sparsity", "7"}};
    task_of(s7, 2, 5, &norm);
    assert_true(norm == 5.0); // capped at d
    for (int k = 0; k < IC_NUM_TASKS; k++) {
        if (k == IC_TASK_SPARSE_LINEAR) continue;
        const char *const kv[][2] = {{"task", ic_task_name((ic_task_kind)k)}, {"sparsity", "2"}};
        task_of(kv, 2, 5, &norm);
        assert_true(norm == 5.0); // d; sparsity is not this kind's
    }
}

/* n_dims is the caller's (a loaded model's), not the config's: a checkpoint
 * without a recorded run config carries the default n_dims 20. */
static void test_config_task_n_dims(void **st) {
    (void)st;
    const char *const kv[][2] = {{"task", "sparse_linear_regression"}, {"sparsity", "4"}};
    double norm = 0.0;
    ic_task_spec t = task_of(kv, 2, 3, &norm);
    assert_int_equal(t.n_dims, 3);
    assert_true(norm == 3.0);
}

/* A parameter its kind cannot sample with is an error; one the kind does not
 * use is not (the sampler ignores it). */
static void test_config_task_bad_parameter(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    ic_task_spec t;
    ic_run_config_default(&c);
    assert_int_equal(ic_run_config_set(&c, "task", "decision_tree", &err), 0);
    c.depth = 0;
    assert_int_equal(ic_run_config_task(&c, 5, &t, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "task"));
    assert_non_null(strstr(err.msg, "depth"));
    assert_int_equal(ic_run_config_validate(&c, &err), -1); // validation uses the same mapping
    assert_int_equal(ic_run_config_set(&c, "task", "linear_regression", &err), 0);
    assert_int_equal(ic_run_config_task(&c, 5, &t, NULL, &err), 0);
    c.x_scale = NAN;
    assert_int_equal(ic_run_config_task(&c, 5, &t, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "x_scale"));
}

/* The trainer samples the config's task: every field of ic_run_config_task's. */
static void test_trainer_uses_config_task(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    tiny_config(&c);
    const char *kv[][2] = {{"task", "noisy_linear_regression"}, {"noise_std", "0.5"}, {"x_scale", "3"},
                           {"sparsity", "2"}, {"hidden", "7"}, {"depth", "2"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) assert_int_equal(ic_run_config_set(&c, kv[i][0], kv[i][1], &err), 0);
    ic_task_spec want;
    assert_int_equal(ic_run_config_task(&c, c.model.n_dims, &want, NULL, &err), 0);
    ic_trainer t;
    assert_int_equal(ic_trainer_init(&t, &c, &err), 0);
    assert_int_equal(t.task.kind, want.kind);
    assert_int_equal(t.task.n_dims, 4);
    assert_int_equal(t.task.sparsity, want.sparsity);
    assert_true(t.task.noise_std == 0.5 && want.noise_std == 0.5);
    assert_int_equal(t.task.hidden, want.hidden);
    assert_int_equal(t.task.depth, want.depth);
    assert_true(t.task.x_scale == 3.0 && want.x_scale == 3.0);
    assert_true(t.task.y_scale == want.y_scale && t.task.x_cov_sqrt == want.x_cov_sqrt);
    ic_trainer_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curriculum_values),
        cmocka_unit_test(test_lr_schedule_and_clip),
        cmocka_unit_test(test_step_applies_curriculum),
        cmocka_unit_test(test_resume_is_bit_identical),
        cmocka_unit_test(test_random_depth),
        cmocka_unit_test(test_interrupt_flag_checkpoints),
        cmocka_unit_test(test_nan_stops_and_keeps_last_checkpoint),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_task_kind),
        cmocka_unit_test(test_config_task_sparsity),
        cmocka_unit_test(test_config_task_noise_std),
        cmocka_unit_test(test_config_task_hidden),
        cmocka_unit_test(test_config_task_depth),
        cmocka_unit_test(test_config_task_x_scale),
        cmocka_unit_test(test_config_task_err_norm),
        cmocka_unit_test(test_config_task_n_dims),
        cmocka_unit_test(test_config_task_bad_parameter),
        cmocka_unit_test(test_trainer_uses_config_task),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
