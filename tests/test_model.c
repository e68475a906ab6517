/* test_model.c: the whole model against a double-precision reference:
 * forward parity, finite-difference gradients for plain, repeated-block,
 * parallel-group and looped (injection, truncation) schedules, bit-exactness
 * rules of schedules, error handling, and the data-parallel training pass
 * (ic_model_train_pass: shards, each a workspace and a gradient buffer over
 * the one model, against the unsharded pass). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model.h"
#include "ref_model.h"
#include "rng.h"
#include "testutil.h"

/* The working memory each model under test runs in: WS(m) its workspace,
 * GR(m) its gradient buffer (both made on first use), released with the
 * model by tm_free(m). Test glue, so that the tests read as one model each;
 * the library itself ties nothing to a model (workspace.h). */
static struct {
    const ic_model *m;
    ic_workspace ws;
    ic_grads g;
} WORK[8];
static int work_of(const ic_model *m) {
    int free_slot = -1;
    for (int i = 0; i < 8; i++) {
        if (WORK[i].m == m) return i;
        if (!WORK[i].m && free_slot < 0) free_slot = i;
    }
    assert_true(free_slot >= 0);
    WORK[free_slot].m = m;
    ic_workspace_init(&WORK[free_slot].ws);
    memset(&WORK[free_slot].g, 0, sizeof WORK[free_slot].g);
    return free_slot;
}
static ic_workspace *WS(const ic_model *m) { return &WORK[work_of(m)].ws; }
static ic_grads *GR(const ic_model *m) {
    ic_grads *g = &WORK[work_of(m)].g;
    ic_err err;
    if (!g->mem) assert_int_equal(ic_grads_create(g, m, &err), 0);
    return g;
}
static void tm_free(ic_model *m) {
    for (int i = 0; i < 8; i++)
        if (WORK[i].m == m) {
            ic_workspace_free(&WORK[i].ws);
            ic_grads_free(&WORK[i].g);
            WORK[i].m = NULL;
        }
    ic_model_free(m);
}

static const ic_config TINY = {.n_dims = 3, .n_positions = 5, .n_embd = 8, .n_layer = 2, .n_head = 2};
static const ic_config TINY4 = {.n_dims = 3, .n_positions = 5, .n_embd = 8, .n_layer = 4, .n_head = 2};
enum { TB = 3, TN = 4 };

/* A model whose parameters are large enough random numbers that every path
 * (attention softmax, GELU curvature, layernorm) carries gradient. */
static void make_model(ic_model *m, const ic_config *c, uint64_t seed) {
    ic_err err;
    assert_int_equal(ic_model_create(m, c, &err), 0);
    ic_rng r;
    ic_rng_seed(&r, seed);
    for (size_t i = 0; i < m->num_params; i++) m->params_mem[i] = (float)(ic_rng_uniform(&r) - 0.5);
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        if (k != IC_P_LN1_W && k != IC_P_LN2_W && k != IC_P_LNF_W) continue;
        float *p = ic_model_tensor(m, k, 0);
        for (size_t i = 0; i < m->param_sizes[k]; i++) p[i] += 1.0f;
    }
}

static void make_prompts(float *xs, float *ys, const ic_config *c, int B, int n, uint64_t seed) {
    ic_rng r;
    ic_rng_seed(&r, seed);
    for (int i = 0; i < B * n * c->n_dims; i++) xs[i] = (float)ic_rng_normal(&r);
    for (int i = 0; i < B * n; i++) ys[i] = (float)ic_rng_normal(&r);
}

static double *to_double(const float *p, size_t n) {
    double *d = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) d[i] = p[i];
    return d;
}

static ic_schedule sched(const char *list, int loops, int loss_loops, int inject, int loop_lnf) {
    ic_schedule s;
    ic_schedule_default(&s, TINY.n_layer);
    ic_err err;
    if (list) assert_int_equal(ic_schedule_parse(&s, list, NULL, 0, &err), 0);
    s.loops = loops;
    s.loss_loops = loss_loops;
    s.inject = inject;
    s.loop_lnf = loop_lnf;
    return s;
}

/* A schedule with parallel groups from the text ic_schedule_format prints,
 * "0,(1|2),3": ',' starts a sequential step, '|' a parallel one (par 1);
 * parentheses only mark the groups. Checked to format back to the text. */
static ic_schedule gsched(const ic_config *c, const char *text, int loops, int loss_loops, int inject,
                          int loop_lnf) {
    ic_schedule s;
    ic_schedule_default(&s, c->n_layer);
    s.n = 0;
    int par = 0;
    for (const char *p = text; *p;) {
        if (*p >= '0' && *p <= '9') {
            s.par[s.n] = (unsigned char)par;
            s.steps[s.n++] = (int)strtol(p, (char **)&p, 10);
            continue;
        }
        if (*p == '|') par = 1;
        else if (*p == ',') par = 0;
        else assert_true(*p == '(' || *p == ')');
        p++;
    }
    s.loops = loops;
    s.loss_loops = loss_loops;
    s.inject = inject;
    s.loop_lnf = loop_lnf;
    char buf[256];
    assert_string_equal(ic_schedule_format(&s, buf, sizeof buf), text);
    ic_err err;
    assert_int_equal(ic_schedule_validate(&s, c->n_layer, &err), 0);
    return s;
}

/* Float forward vs double reference, then float backward vs central
 * differences of the double reference, for every parameter. */
static void check_schedule_cfg(const ic_config *cfg, const ic_schedule *s, uint64_t seed) {
    ic_model m;
    ic_err err;
    make_model(&m, cfg, seed);
    float xs[TB * TN * 3], ys[TB * TN];
    assert_true(cfg->n_dims == 3);
    make_prompts(xs, ys, cfg, TB, TN, seed + 1);

    assert_int_equal(ic_model_forward(&m, WS(&m), s, xs, ys, TB, TN, 1, &err), 0);
    double *p = to_double(m.params_mem, m.num_params);
    const size_t npred = (size_t)s->loops * TB * TN;
    double *refp = malloc(sizeof(double) * npred);
    double ref_loss = ref_model_loss(cfg, s, p, p, xs, ys, TB, TN, refp);
    double maxd = 0;
    for (size_t i = 0; i < npred; i++) {
        // with a coda a training pass reads out only the loops that carry loss (the others are NaN)
        if (s->coda && (int)(i / (TB * TN)) < s->loops - s->loss_loops) {
            assert_true(isnan(WS(&m)->preds[i]));
            continue;
        }
        maxd = fmax(maxd, fabs(refp[i] - WS(&m)->preds[i]));
    }
    // float vs double on O(1) values through a few layers: ~1e-6 expected
    if (maxd > 2e-5) fail_msg("forward differs from the double reference by %g", maxd);
    assert_true(fabs(ref_loss - WS(&m)->loss) <= 1e-5 * (1 + fabs(ref_loss)));

    ic_grads_zero(GR(&m));
    assert_int_equal(ic_model_backward(&m, GR(&m), WS(&m), &err), 0);

    // central differences on the double reference (eps 1e-5: truncation error ~1e-10)
    const double eps = 1e-5;
    double gmax = 0;
    double *fd = malloc(sizeof(double) * m.num_params);
    for (size_t i = 0; i < m.num_params; i++) {
        double save = p[i];
        double *pg = to_double(m.params_mem, m.num_params);
        pg[i] = save + eps;
        double lp = ref_model_loss(cfg, s, p, pg, xs, ys, TB, TN, NULL);
        pg[i] = save - eps;
        double lm = ref_model_loss(cfg, s, p, pg, xs, ys, TB, TN, NULL);
        free(pg);
        fd[i] = (lp - lm) / (2 * eps);
        gmax = fmax(gmax, fabs(fd[i]));
    }
    assert_true(gmax > 1e-3); // the check is not vacuous
    size_t bad = 0, nonzero = 0;
    double worst = 0;
    for (size_t i = 0; i < m.num_params; i++) {
        double g = GR(&m)->mem[i], err_i = fabs(g - fd[i]);
        // float analytic vs exact: relative 1e-3, plus a floor of 1e-5 of the largest gradient
        double tol = 1e-3 * fabs(fd[i]) + 1e-5 * gmax;
        if (fabs(fd[i]) > 1e-4 * gmax) nonzero++;
        if (err_i > tol) {
            if (bad < 5) print_error("param %zu: analytic %.8g, finite difference %.8g\n", i, g, fd[i]);
            bad++;
        }
        worst = fmax(worst, err_i / (fabs(fd[i]) + 1e-2 * gmax));
    }
    assert_true(nonzero > m.num_params / 2); // gradients reach most parameters
    if (bad) fail_msg("%zu of %zu gradients disagree with finite differences", bad, m.num_params);
    free(fd);
    free(p);
    free(refp);
    tm_free(&m);
}

static void check_schedule(const ic_schedule *s, uint64_t seed) { check_schedule_cfg(&TINY, s, seed); }

static void test_grad_default(void **st) {
    (void)st;
    ic_schedule s = sched(NULL, 1, 1, 1, 1);
    check_schedule(&s, 11);
}

static void test_grad_repeated_block(void **st) {
    (void)st;
    ic_schedule s = sched("0,1,1,0", 1, 1, 1, 1);
    check_schedule(&s, 12);
}

static void test_grad_looped_injection_truncated(void **st) {
    (void)st;
    ic_schedule s = sched("0,1", 4, 2, 1, 1); // 2 loops without gradient, loss on the last 2
    check_schedule(&s, 13);
}

static void test_grad_looped_loss_at_end_full_backprop(void **st) {
    (void)st;
    ic_schedule s = sched("0,1", 2, 1, 1, 1); // 2 loops, loss on the last, gradient through both
    s.grad_loops = 2;
    check_schedule(&s, 17);
    ic_schedule t = sched("1,0", 4, 1, 0, 1); // loss on the last, gradient through the last 3
    t.grad_loops = 3;
    check_schedule(&t, 18);
}

static void test_grad_looped_single_block_full(void **st) {
    (void)st;
    ic_schedule s = sched("1", 3, 3, 1, 1);
    check_schedule(&s, 14);
}

static void test_grad_looped_no_injection_no_lnf(void **st) {
    (void)st;
    ic_schedule s = sched("1,0", 3, 2, 0, 0);
    check_schedule(&s, 15);
}

static void test_grad_looped_injection_no_lnf(void **st) {
    (void)st;
    ic_schedule s = sched("0", 3, 1, 1, 0);
    check_schedule(&s, 16);
}

/* Forward of m under s into a fresh copy of the predictions. */
static float *run(ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n, int grad) {
    ic_err err;
    assert_int_equal(ic_model_forward(m, WS(m), s, xs, ys, B, n, grad, &err), 0);
    size_t np = (size_t)B * n;
    float *out = malloc(sizeof(float) * np);
    memcpy(out, ic_workspace_preds(WS(m), -1), sizeof(float) * np);
    return out;
}

/* ---- parallel groups: every member on the group input, output the mean ---- */

static void test_grad_parallel_group_plain(void **st) {
    (void)st;
    ic_schedule s = gsched(&TINY4, "0,(1|2),3", 1, 1, 1, 1);
    check_schedule_cfg(&TINY4, &s, 71);
}

static void test_grad_parallel_group_whole_body(void **st) {
    (void)st;
    ic_schedule s = gsched(&TINY4, "(0|1|2)", 1, 1, 1, 1);
    check_schedule_cfg(&TINY4, &s, 72);
}

static void test_grad_parallel_group_repeated(void **st) {
    (void)st;
    ic_schedule s = gsched(&TINY, "(0|1),(0|1)", 1, 1, 1, 1);
    check_schedule(&s, 73);
}

static void test_grad_parallel_group_same_block_twice(void **st) {
    (void)st;
    ic_schedule s = gsched(&TINY, "0,(1|1)", 1, 1, 1, 1);
    check_schedule(&s, 74);
    ic_schedule t = gsched(&TINY, "(1|1|0),1", 1, 1, 1, 1); // a block twice next to another
    check_schedule(&t, 75);
}

static void test_grad_parallel_group_looped(void **st) {
    (void)st;
    // injection, per-loop ln_f, 2 loops without gradient, loss on the last
    ic_schedule s = gsched(&TINY, "(0|1),1", 4, 1, 1, 1);
    s.grad_loops = 2;
    check_schedule(&s, 76);
    // no injection, no per-loop ln_f, loss on the last 2 of 3 (the first truncated);
    // the body ends in a group, so the group output is h and Y
    ic_schedule t = gsched(&TINY, "1,(0|1)", 3, 2, 0, 0);
    check_schedule(&t, 77);
    // full backpropagation through 3 loops of a body that is one group
    ic_schedule u = gsched(&TINY, "(1|0)", 3, 1, 1, 0);
    u.grad_loops = 3;
    check_schedule(&u, 78);
}

/* Copy of the gradients of m after a fresh backward of s. */
static float *grads_of(ic_model *m, const ic_schedule *s, const float *xs, const float *ys) {
    ic_err err;
    assert_int_equal(ic_model_forward(m, WS(m), s, xs, ys, TB, TN, 1, &err), 0);
    ic_grads_zero(GR(m));
    assert_int_equal(ic_model_backward(m, GR(m), WS(m), &err), 0);
    float *g = malloc(sizeof(float) * m->num_params);
    memcpy(g, GR(m)->mem, sizeof(float) * m->num_params);
    return g;
}

/* A group of one block twice, (2|2), is that block: the mean of two identical
 * floats is exact, so predictions and loss are bit-identical and gradients
 * agree to rounding (three copies would not be bit-exact: 3a rounds). Flags
 * past the body's end (n) are not part of it. */
static void test_parallel_of_one_layer_equals_layer(void **st) {
    (void)st;
    ic_model m;
    make_model(&m, &TINY4, 81);
    float xs[TB * TN * 3], ys[TB * TN];
    make_prompts(xs, ys, &TINY4, TB, TN, 82);
    const char *pairs[][2] = {{"0,1,(2|2),3", "0,1,2,3"}, {"(2|2)", "2"}, {"(3|3),(1|1)", "3,1"}};
    for (int c = 0; c < 3; c++)
        for (int looped = 0; looped < 2; looped++) {
            ic_schedule g = gsched(&TINY4, pairs[c][0], looped ? 3 : 1, 1, 1, looped);
            ic_schedule p = gsched(&TINY4, pairs[c][1], looped ? 3 : 1, 1, 1, looped);
            for (int grad = 0; grad < 2; grad++) {
                float *a = run(&m, &g, xs, ys, TB, TN, grad);
                double la = WS(&m)->loss;
                float *b = run(&m, &p, xs, ys, TB, TN, grad);
                if (memcmp(a, b, sizeof(float) * TB * TN) != 0 || la != WS(&m)->loss)
                    fail_msg("%s differs from %s (loops %d)", pairs[c][0], pairs[c][1], g.loops);
                free(a);
                free(b);
            }
            float *ga = grads_of(&m, &g, xs, ys), *gb = grads_of(&m, &p, xs, ys);
            double gmax = 0;
            for (size_t i = 0; i < m.num_params; i++) gmax = fmax(gmax, fabsf(gb[i]));
            assert_true(gmax > 1e-3);
            for (size_t i = 0; i < m.num_params; i++)
                if (fabsf(ga[i] - gb[i]) > 1e-5 * gmax + 1e-4 * fabsf(gb[i]))
                    fail_msg("%s: gradient %zu is %g, plain %g", pairs[c][0], i, ga[i], gb[i]);
            free(ga);
            free(gb);
        }
    // a body is its first n steps: par flags past the end change nothing
    ic_schedule p = gsched(&TINY4, "0,1,2", 1, 1, 1, 1), q = p;
    for (int i = q.n; i < IC_MAX_SCHEDULE; i++) q.par[i] = 1;
    float *a = run(&m, &p, xs, ys, TB, TN, 1), *b = run(&m, &q, xs, ys, TB, TN, 1);
    assert_memory_equal(a, b, sizeof(float) * TB * TN);
    free(a);
    free(b);
    tm_free(&m);
}

/* A group costs its members: FLOPs and activation memory count every member
 * as one block application, exactly as the same steps in sequence. */
static void test_parallel_group_costs(void **st) {
    (void)st;
    ic_schedule g = gsched(&TINY4, "0,(1|2|2),3", 2, 1, 1, 1), p = gsched(&TINY4, "0,1,2,2,3", 2, 1, 1, 1);
    assert_true(ic_model_flops_forward(&TINY4, &g, 8, 5) == ic_model_flops_forward(&TINY4, &p, 8, 5));
    ic_model a, b;
    make_model(&a, &TINY4, 1);
    make_model(&b, &TINY4, 1);
    float xs[TB * TN * 3], ys[TB * TN];
    make_prompts(xs, ys, &TINY4, TB, TN, 2);
    free(run(&a, &g, xs, ys, TB, TN, 1));
    free(run(&b, &p, xs, ys, TB, TN, 1));
    assert_int_equal(WS(&a)->acts_cap, WS(&b)->acts_cap);
    tm_free(&a);
    tm_free(&b);
}

static void test_validate_parallel_flags(void **st) {
    (void)st;
    ic_err err;
    ic_schedule s = gsched(&TINY, "(0|1),1", 1, 1, 1, 1);
    assert_int_equal(ic_schedule_validate(&s, TINY.n_layer, &err), 0);
    s.par[0] = 1; // the first step has nothing to run in parallel with
    assert_int_equal(ic_schedule_validate(&s, TINY.n_layer, &err), -1);
    assert_non_null(strstr(err.msg, "step 1"));
    s.par[0] = 0;
    s.par[2] = 2;
    assert_int_equal(ic_schedule_validate(&s, TINY.n_layer, &err), -1);
    assert_non_null(strstr(err.msg, "0 or 1"));
    // the model refuses them too
    ic_model m;
    make_model(&m, &TINY, 3);
    float xs[TB * TN * 3] = {0}, ys[TB * TN] = {0};
    assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, TB, TN, 1, &err), -1);
    tm_free(&m);
}

/* ---- prelude / looped core / coda, the loop signal, block kinds ---- */

/* A schedule from the schedule language with the loop settings. */
static ic_schedule psched(const ic_config *c, const char *text, int loops, int loss_loops, int grad_loops,
                          int inject, int loop_lnf, int signal) {
    ic_schedule s;
    ic_schedule_default(&s, c->n_layer);
    ic_err err;
    if (ic_schedule_parse(&s, text, NULL, c->n_layer, &err)) fail_msg("%s", err.msg);
    s.loops = loops;
    s.loss_loops = loss_loops;
    s.grad_loops = grad_loops;
    s.inject = inject;
    s.loop_lnf = loop_lnf;
    s.loop_signal = signal;
    if (ic_schedule_validate(&s, c->n_layer, &err)) fail_msg("%s", err.msg);
    return s;
}

static void test_grad_prelude_core_coda(void **st) {
    (void)st;
    // Geiping et al.'s 1 + 2xL + 1: loss on the last 2 of 3 loops, gradient through all
    ic_schedule s = psched(&TINY4, "0,{1,2},3", 3, 2, 3, 1, 0, 0);
    assert_int_equal(s.prelude, 1);
    assert_int_equal(s.coda, 1);
    check_schedule_cfg(&TINY4, &s, 41);
    // truncated: the first loop carries no gradient; a coda of two slots, one a parallel group
    ic_schedule t = psched(&TINY4, "0,{1},(2|3),0", 3, 1, 2, 1, 0, 0);
    check_schedule_cfg(&TINY4, &t, 42);
    // no injection: only loop 0 reads the prelude's output
    ic_schedule u = psched(&TINY4, "3,{2,1},0", 2, 1, 2, 0, 0, 0);
    check_schedule_cfg(&TINY4, &u, 43);
}

static void test_grad_prelude_coda_tied(void **st) {
    (void)st;
    // block 0 is the prelude, in the core and the coda; block 1 twice in the core: every
    // application's gradient adds up in the block's slice
    ic_schedule s = psched(&TINY, "0,{1,0,1},0", 2, 2, 2, 1, 0, 0);
    check_schedule_cfg(&TINY, &s, 44);
}

static void test_grad_prelude_only(void **st) {
    (void)st;
    // a prelude and no coda keeps ln_f fed back (loop_lnf on)
    ic_schedule s = psched(&TINY, "1,{0}", 3, 1, 3, 1, 1, 0);
    check_schedule_cfg(&TINY, &s, 45);
}

static void test_grad_loop_signal(void **st) {
    (void)st;
    ic_schedule s = psched(&TINY, "0,1", 3, 2, 3, 1, 1, 1);
    check_schedule_cfg(&TINY, &s, 46);
    ic_schedule t = psched(&TINY4, "0,{1,2},3", 3, 1, 0, 1, 0, 1);
    check_schedule_cfg(&TINY4, &t, 47);
}

static void test_grad_block_kinds(void **st) {
    (void)st;
    ic_config c = TINY;
    c.kind[0] = IC_BLOCK_ATTN;
    c.kind[1] = IC_BLOCK_MLP;
    ic_schedule s = psched(&c, "0,1,1,0", 1, 1, 0, 1, 1, 0);
    check_schedule_cfg(&c, &s, 48);
    ic_config c4 = TINY4;
    c4.kind[0] = IC_BLOCK_MLP;
    c4.kind[1] = IC_BLOCK_ATTN;
    c4.kind[3] = IC_BLOCK_ATTN;
    ic_schedule t = psched(&c4, "0,{(1|2),1},3", 2, 1, 2, 1, 0, 0);
    check_schedule_cfg(&c4, &t, 49);
}

/* The sublayer a kind leaves out is never read: it gets no gradient, and
 * changing it changes nothing. */
static void test_block_kinds_skip_sublayer(void **st) {
    (void)st;
    ic_config c = TINY;
    c.kind[0] = IC_BLOCK_ATTN;
    c.kind[1] = IC_BLOCK_MLP;
    ic_model m;
    ic_err err;
    make_model(&m, &c, 50);
    float xs[TB * TN * 3], ys[TB * TN];
    make_prompts(xs, ys, &c, TB, TN, 51);
    ic_schedule s = psched(&c, "0,1", 1, 1, 0, 1, 1, 0);
    float *a = run(&m, &s, xs, ys, TB, TN, 1);
    ic_grads_zero(GR(&m));
    assert_int_equal(ic_model_backward(&m, GR(&m), WS(&m), &err), 0);
    const int unused0[] = {IC_P_LN2_W, IC_P_LN2_B, IC_P_FC_W, IC_P_FC_B, IC_P_FCPROJ_W, IC_P_FCPROJ_B};
    const int unused1[] = {IC_P_LN1_W, IC_P_LN1_B, IC_P_QKV_W, IC_P_QKV_B, IC_P_ATTPROJ_W, IC_P_ATTPROJ_B};
    for (int i = 0; i < 6; i++)
        for (int b = 0; b < 2; b++) {
            const int k = b == 0 ? unused0[i] : unused1[i];
            const float *g = ic_param_slice(&m, GR(&m)->mem, k, b), *g2 = ic_param_slice(&m, GR(&m)->mem, k == unused0[i] ? unused1[i] : unused0[i], b);
            const size_t len = m.param_sizes[k] / 2, len2 = m.param_sizes[k == unused0[i] ? unused1[i] : unused0[i]] / 2;
            double used = 0;
            for (size_t j = 0; j < len; j++) assert_true(g[j] == 0.0f);
            for (size_t j = 0; j < len2; j++) used += fabs(g2[j]);
            assert_true(used > 0); // the sublayer the kind keeps does get gradient
            float *p = ic_model_tensor(&m, k, b);
            for (size_t j = 0; j < len; j++) p[j] += 0.5f;
        }
    float *b2 = run(&m, &s, xs, ys, TB, TN, 0);
    assert_memory_equal(a, b2, sizeof(float) * TB * TN);
    // and a full model with the same parameters differs (the kinds are not ignored)
    c.kind[0] = c.kind[1] = IC_BLOCK_FULL;
    memcpy(&m.cfg, &c, sizeof c);
    float *f = run(&m, &s, xs, ys, TB, TN, 0);
    assert_true(memcmp(a, f, sizeof(float) * TB * TN) != 0);
    free(a); free(b2); free(f);
    tm_free(&m);
}

/* One loop of a prelude/core/coda body is the plain body, bit for bit: P ->
 * prelude -> core -> coda -> ln_f is the plain sequence. */
static void test_prelude_coda_one_loop_equals_plain(void **st) {
    (void)st;
    ic_model m;
    make_model(&m, &TINY4, 52);
    float xs[TB * TN * 3], ys[TB * TN];
    make_prompts(xs, ys, &TINY4, TB, TN, 53);
    ic_schedule plain = psched(&TINY4, "0,1,2,3", 1, 1, 0, 1, 1, 0);
    ic_schedule pc = psched(&TINY4, "0,{1,2},3", 1, 1, 0, 1, 0, 0);
    ic_schedule p = psched(&TINY4, "0,1,{2,3}", 1, 1, 0, 1, 1, 0);
    float *a = run(&m, &plain, xs, ys, TB, TN, 0), *b = run(&m, &pc, xs, ys, TB, TN, 0);
    float *c = run(&m, &p, xs, ys, TB, TN, 1), *d = run(&m, &pc, xs, ys, TB, TN, 1);
    assert_memory_equal(a, b, sizeof(float) * TB * TN);
    assert_memory_equal(a, c, sizeof(float) * TB * TN);
    assert_memory_equal(a, d, sizeof(float) * TB * TN);
    // two loops differ from one (the core does loop)
    ic_schedule pc2 = psched(&TINY4, "0,{1,2},3", 2, 1, 0, 1, 0, 0);
    float *e = run(&m, &pc2, xs, ys, TB, TN, 0);
    assert_true(memcmp(a, e, sizeof(float) * TB * TN) != 0);
    free(a); free(b); free(c); free(d); free(e);
    tm_free(&m);
}

/* Halting: halt_tol 0 is the fixed-depth forward bit for bit; a tolerance
 * above every measure stops each prompt after 2 loops; in between, each
 * prompt's predictions are those of that prompt run alone for the loops it
 * used, which differ between prompts. */
static void test_halting(void **st) {
    (void)st;
    ic_config c = {.n_dims = 3, .n_positions = 8, .n_embd = 16, .n_layer = 1, .n_head = 2};
    ic_model m;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &c, &err), 0);
    ic_model_init_weights(&m, 60);
    enum { HB = 12, HN = 8, HL = 12 };
    float xs[HB * HN * 3], ys[HB * HN];
    make_prompts(xs, ys, &c, HB, HN, 61);
    for (int b = 0; b < HB; b++) /* prompts of different scales converge at different loops */
        for (int i = 0; i < HN * 3; i++) xs[b * HN * 3 + i] *= 0.2f + 0.3f * (float)b;
    ic_schedule s = psched(&c, "0", HL, 1, 0, 1, 1, 0);
    ic_workspace *ws = WS(&m);
    float *fixed = run(&m, &s, xs, ys, HB, HN, 0);
    ws->halt_tol = 0;
    float *zero = run(&m, &s, xs, ys, HB, HN, 0);
    assert_memory_equal(fixed, zero, sizeof(float) * HB * HN);
    for (int b = 0; b < HB; b++) assert_int_equal(ws->loops_used[b], HL);
    // the per-prompt measures of loop 1 bound every tolerance: above all of them, 2 loops each
    ws->halt_tol = 1e30;
    float *big = run(&m, &s, xs, ys, HB, HN, 0);
    for (int b = 0; b < HB; b++) assert_int_equal(ws->loops_used[b], 2);
    ws->halt_tol = 0;
    ic_schedule s2 = s;
    s2.loops = 2;
    float *two = run(&m, &s2, xs, ys, HB, HN, 0);
    assert_memory_equal(big, two, sizeof(float) * HB * HN);
    // a tolerance in between: the median of the prompts' own measures at loop 4 (each prompt run alone)
    double sorted[HB];
    for (int b = 0; b < HB; b++) {
        ic_schedule s5 = s;
        s5.loops = 5;
        assert_int_equal(ic_model_forward(&m, ws, &s5, xs + b * HN * 3, ys + b * HN, 1, HN, 0, &err), 0);
        sorted[b] = ws->loop_delta[4];
    }
    for (int i = 1; i < HB; i++) /* insertion sort */
        for (int j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
            double x = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = x;
        }
    ws->halt_tol = sorted[HB / 2];
    float *mid = run(&m, &s, xs, ys, HB, HN, 0);
    int used[HB], lo = HL, hi = 0;
    memcpy(used, ws->loops_used, sizeof used);
    ws->halt_tol = 0;
    for (int b = 0; b < HB; b++) {
        lo = used[b] < lo ? used[b] : lo;
        hi = used[b] > hi ? used[b] : hi;
        ic_schedule sb = s;
        sb.loops = used[b];
        float *one = run(&m, &sb, xs + b * HN * 3, ys + b * HN, 1, HN, 0);
        // alone, with its own loop count: the same predictions (to float rounding of the batch's BLAS)
        for (int i = 0; i < HN; i++) assert_true(fabsf(one[i] - mid[b * HN + i]) <= 1e-5f * (1 + fabsf(one[i])));
        free(one);
    }
    print_message("halting at %.3g: loops used %d..%d of %d\n", sorted[HB / 2], lo, hi, HL);
    assert_true(lo < hi);  // prompts stop at different loops
    assert_true(hi <= HL);
    assert_true(lo < HL);  // and some stop early
    free(fixed); free(zero); free(big); free(two); free(mid);
    tm_free(&m);
}

static void test_identity_schedule_bit_exact(void **st) {
    (void)st;
    ic_config c = {.n_dims = 5, .n_positions = 11, .n_embd = 16, .n_layer = 4, .n_head = 4};
    ic_model m;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &c, &err), 0);
    ic_model_init_weights(&m, 7);
    float xs[4 * 11 * 5], ys[4 * 11];
    make_prompts(xs, ys, &c, 4, 11, 3);
    ic_schedule def, id;
    ic_schedule_default(&def, c.n_layer);
    id = def;
    assert_int_equal(ic_schedule_parse(&id, "0, 1,2 ,3", NULL, 0, &err), 0);
    float *a = run(&m, &def, xs, ys, 4, 11, 0);
    float *b = run(&m, &id, xs, ys, 4, 11, 0);
    float *g = run(&m, &def, xs, ys, 4, 11, 1); // storing activations changes nothing
    assert_memory_equal(a, b, sizeof(float) * 44);
    assert_memory_equal(a, g, sizeof(float) * 44);
    // a different schedule gives different predictions (the test can tell)
    ic_schedule dup = def;
    assert_int_equal(ic_schedule_parse(&dup, "0,1,1,2,3", NULL, 0, &err), 0);
    float *d = run(&m, &dup, xs, ys, 4, 11, 0);
    assert_true(memcmp(a, d, sizeof(float) * 44) != 0);
    free(a); free(b); free(g); free(d);
    tm_free(&m);
}

static void test_loop_count_one_equals_plain(void **st) {
    (void)st;
    ic_model m;
    make_model(&m, &TINY, 21);
    float xs[TB * TN * 3], ys[TB * TN];
    make_prompts(xs, ys, &TINY, TB, TN, 22);
    ic_schedule plain = sched(NULL, 1, 1, 1, 1);
    ic_schedule noinj = sched(NULL, 1, 1, 0, 1);
    float *a = run(&m, &plain, xs, ys, TB, TN, 1);
    float *b = run(&m, &noinj, xs, ys, TB, TN, 1);
    assert_memory_equal(a, b, sizeof(float) * TB * TN);
    // the last loop of a looped run with T = L equals the same run with T = 1 (truncation
    // changes gradients, never predictions)
    ic_schedule l4 = sched("0,1", 4, 4, 1, 1), l4t = sched("0,1", 4, 1, 1, 1);
    float *c = run(&m, &l4, xs, ys, TB, TN, 1);
    float *d = run(&m, &l4t, xs, ys, TB, TN, 1);
    float *e = run(&m, &l4t, xs, ys, TB, TN, 0);
    assert_memory_equal(c, d, sizeof(float) * TB * TN);
    assert_memory_equal(c, e, sizeof(float) * TB * TN);
    free(a); free(b); free(c); free(d); free(e);
    tm_free(&m);
}


/* loop_delta_num / loop_delta_den: loop_delta is their root ratio, and the
 * sums of forwards over chunks of a batch give the whole batch's measure
 * (what iclab loops reports, whatever its --batch_size), where the
 * size-weighted mean of the chunks' ratios does not. Prompts of a chunk are
 * scaled so the chunks' |Y_t| differ (their ratios then weigh differently). */
static void test_loop_fixed_point_sums_combine_over_chunks(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &TINY, 63);
    enum { B = 5, L = 4 };
    float xs[B * TN * 3], ys[B * TN];
    make_prompts(xs, ys, &TINY, B, TN, 64);
    for (int i = 2 * TN * 3; i < B * TN * 3; i++) xs[i] *= 4.0f; /* prompts 2..4 */
    for (int i = 2 * TN; i < B * TN; i++) ys[i] *= 4.0f;
    for (int inject = 0; inject < 2; inject++) {
        ic_schedule s = sched("0,1", L, 1, inject, 0); /* no per-loop ln_f: Y keeps the scale */
        assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, B, TN, 0, &err), 0);
        double whole[L];
        memcpy(whole, WS(&m)->loop_delta, sizeof whole);
        assert_true(WS(&m)->loop_delta_num[0] == 0.0 && WS(&m)->loop_delta_den[0] == 0.0);
        for (int t = 1; t < L; t++) assert_true(WS(&m)->loop_delta[t] == sqrt(WS(&m)->loop_delta_num[t] / WS(&m)->loop_delta_den[t]));
        const int cuts[][3] = {{1, 4, 0}, {2, 3, 0}, {2, 2, 1}};
        for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
            double num[L] = {0}, den[L] = {0}, mean[L] = {0};
            for (int k = 0, b0 = 0; k < 3 && cuts[c][k]; b0 += cuts[c][k], k++) {
                const int nb = cuts[c][k];
                assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs + b0 * TN * 3, ys + b0 * TN, nb, TN, 0, &err), 0);
                for (int t = 1; t < L; t++) {
                    num[t] += WS(&m)->loop_delta_num[t];
                    den[t] += WS(&m)->loop_delta_den[t];
                    mean[t] += WS(&m)->loop_delta[t] * nb / B;
                }
            }
            for (int t = 1; t < L; t++) {
                const double pooled = sqrt(num[t] / den[t]);
                if (!(fabs(pooled - whole[t]) <= 1e-6 * whole[t]))
                    fail_msg("inject %d cut %zu loop %d: chunks' sums give %.10g, whole batch %.10g", inject, c, t,
                             pooled, whole[t]);
                // teeth: the chunk-size-weighted mean of ratios is off by 100x the tolerance
                // or more (measured 8e-4 .. 5e-2 relative)
                if (!(fabs(mean[t] - whole[t]) > 1e-4 * whole[t]))
                    fail_msg("inject %d cut %zu loop %d: weighted mean %.10g is no test against %.10g", inject, c, t,
                             mean[t], whole[t]);
            }
        }
    }
    tm_free(&m);
}

/* The per-loop fixed-point measure |Y_{t+1} - Y_t| / |Y_t| against the double
 * reference, with and without injection / per-loop ln_f. */
static void test_loop_fixed_point_measure(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &TINY, 61);
    float xs[TB * TN * 3], ys[TB * TN];
    make_prompts(xs, ys, &TINY, TB, TN, 62);
    const int flags[4][2] = {{1, 1}, {0, 1}, {1, 0}, {0, 0}};
    for (int f = 0; f < 4; f++) {
        ic_schedule s = sched("0,1", 5, 2, flags[f][0], flags[f][1]);
        assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, TB, TN, f % 2, &err), 0);
        double *p = to_double(m.params_mem, m.num_params), ref[5];
        ref_model_loss_delta(&TINY, &s, p, xs, ys, TB, TN, ref);
        assert_true(isnan(WS(&m)->loop_delta[0]));
        for (int t = 1; t < 5; t++) {
            if (!(fabs(WS(&m)->loop_delta[t] - ref[t]) <= 1e-4 * (1 + ref[t])))
                fail_msg("inject %d lnf %d loop %d: delta %g, reference %g", flags[f][0], flags[f][1], t,
                         WS(&m)->loop_delta[t], ref[t]);
            assert_true(ref[t] > 1e-6); // not trivially converged: the check has teeth
        }
        free(p);
    }
    tm_free(&m);
}

static void test_backward_accumulates(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &TINY, 31);
    float xs[TB * TN * 3], ys[TB * TN];
    make_prompts(xs, ys, &TINY, TB, TN, 32);
    ic_schedule s = sched("0,1,1", 2, 2, 1, 1);
    assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, TB, TN, 1, &err), 0);
    ic_grads_zero(GR(&m));
    assert_int_equal(ic_model_backward(&m, GR(&m), WS(&m), &err), 0);
    float *once = malloc(sizeof(float) * m.num_params);
    memcpy(once, GR(&m)->mem, sizeof(float) * m.num_params);
    assert_int_equal(ic_model_backward(&m, GR(&m), WS(&m), &err), 0);
    for (size_t i = 0; i < m.num_params; i++) assert_float_equal(GR(&m)->mem[i], 2 * once[i], 1e-6 * (1 + fabsf(once[i])));
    ic_grads_zero(GR(&m));
    for (size_t i = 0; i < m.num_params; i++) assert_true(GR(&m)->mem[i] == 0.0f);
    free(once);
    tm_free(&m);
}

static void test_unused_block_gets_no_gradient(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &TINY, 41);
    float xs[TB * TN * 3], ys[TB * TN];
    make_prompts(xs, ys, &TINY, TB, TN, 42);
    ic_schedule s = sched("1,1", 1, 1, 1, 1);
    assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, TB, TN, 1, &err), 0);
    ic_grads_zero(GR(&m));
    assert_int_equal(ic_model_backward(&m, GR(&m), WS(&m), &err), 0);
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        if (!ic_param_is_per_block(k)) continue;
        size_t per = m.param_sizes[k] / TINY.n_layer;
        const float *g0 = ic_param_slice(&m, GR(&m)->mem, k, 0), *g1 = ic_param_slice(&m, GR(&m)->mem, k, 1);
        double s0 = 0, s1 = 0;
        for (size_t i = 0; i < per; i++) { s0 += fabsf(g0[i]); s1 += fabsf(g1[i]); }
        assert_true(s0 == 0.0);
        if (k != IC_P_ATTPROJ_B) assert_true(s1 > 0.0);
    }
    tm_free(&m);
}

static void test_activation_memory_linear_in_schedule(void **st) {
    (void)st;
    ic_config c = {.n_dims = 4, .n_positions = 8, .n_embd = 16, .n_layer = 2, .n_head = 2};
    float xs[2 * 8 * 4] = {0}, ys[2 * 8] = {0};
    size_t cap[4];
    const char *lists[4] = {"0", "0,1", "0,1,0", "0,1,0,1"};
    for (int i = 0; i < 4; i++) {
        ic_model m;
        ic_err err;
        assert_int_equal(ic_model_create(&m, &c, &err), 0);
        ic_schedule s;
        ic_schedule_default(&s, c.n_layer);
        assert_int_equal(ic_schedule_parse(&s, lists[i], NULL, 0, &err), 0);
        assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, 2, 8, 1, &err), 0);
        cap[i] = WS(&m)->acts_cap;
        tm_free(&m);
    }
    assert_true(cap[1] > cap[0]);
    assert_int_equal(cap[1] - cap[0], cap[2] - cap[1]);
    assert_int_equal(cap[2] - cap[1], cap[3] - cap[2]);
    /* inference (no gradient): steps share one block's internal buffers, each
     * step adds only its output [B,T,C]; predictions are unchanged */
    size_t icap[4];
    float *pg = NULL;
    for (int i = 0; i < 4; i++) {
        ic_model m;
        ic_err err;
        assert_int_equal(ic_model_create(&m, &c, &err), 0);
        ic_model_init_weights(&m, 5);
        ic_schedule s;
        ic_schedule_default(&s, c.n_layer);
        assert_int_equal(ic_schedule_parse(&s, lists[i], NULL, 0, &err), 0);
        float x2[2 * 8 * 4], y2[2 * 8];
        for (int k = 0; k < 2 * 8 * 4; k++) x2[k] = (float)((k * 37) % 11) / 11.0f - 0.5f;
        for (int k = 0; k < 2 * 8; k++) y2[k] = (float)((k * 17) % 7) / 7.0f - 0.5f;
        assert_int_equal(ic_model_forward(&m, WS(&m), &s, x2, y2, 2, 8, 0, &err), 0);
        icap[i] = WS(&m)->acts_cap;
        if (i == 3) {
            pg = malloc(sizeof(float) * 16);
            memcpy(pg, ic_workspace_preds(WS(&m), -1), sizeof(float) * 16);
            assert_int_equal(ic_model_forward(&m, WS(&m), &s, x2, y2, 2, 8, 1, &err), 0);
            assert_memory_equal(pg, ic_workspace_preds(WS(&m), -1), sizeof(float) * 16);
            free(pg);
        }
        tm_free(&m);
    }
    for (int i = 1; i < 4; i++) assert_int_equal(icap[i] - icap[i - 1], (size_t)2 * 2 * 8 * 16); /* B*T*C */
    assert_true(icap[3] < cap[3]);
}

static void test_errors(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &TINY, 51);
    float xs[TB * 6 * 3] = {0}, ys[TB * 6] = {0};
    ic_schedule s = sched("0,2", 1, 1, 1, 1);
    assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, TB, TN, 0, &err), -1);
    assert_non_null(strstr(err.msg, "block 2"));
    s = sched(NULL, 1, 1, 1, 1);
    assert_int_equal(ic_model_backward(&m, GR(&m), WS(&m), &err), -1); // no forward yet
    assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, TB, 6, 0, &err), -1);
    assert_non_null(strstr(err.msg, "position table"));
    s.loss_loops = 2;
    assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, TB, TN, 0, &err), -1);
    assert_non_null(strstr(err.msg, "loss_loops"));
    s = sched(NULL, 3, 2, 1, 1);
    s.grad_loops = 1; // fewer gradient loops than loss loops
    assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, TB, TN, 0, &err), -1);
    assert_non_null(strstr(err.msg, "grad_loops"));
    s = sched(NULL, 1, 1, 1, 1);
    assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, TB, TN, 0, &err), 0);
    assert_int_equal(ic_model_backward(&m, GR(&m), WS(&m), &err), -1); // forward without gradient storage
    assert_non_null(strstr(err.msg, "need_grad"));
    const char *bad[] = {"", "  ", "0,,1", "a", "1,2,", "-1", "1;2", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err.msg[0] = 0;
        assert_int_equal(ic_schedule_parse(&s, bad[i], NULL, TINY.n_layer, &err), -1);
        assert_true(strlen(err.msg) > 10);
    }
    ic_config c = TINY;
    c.n_head = 3;
    assert_int_equal(ic_config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "divisible"));
    tm_free(&m);
}

/* The parameter table (IC_PARAM_TABLE) against the checkpoint format it
 * generates: the Garg et al. names and shapes, in buffer order, the views
 * contiguous in that order, the sizes their shapes times the blocks. */
static void test_param_table(void **st) {
    (void)st;
    static const struct {
        const char *name, *ckpt;
        int per_block;
        int64_t rows, cols; /* for TINY4: d = 3, C = 8, 2*n_positions = 10 */
    } want[] = {
        {"read_in_w", "_read_in.weight", 0, 8, 3},       {"read_in_b", "_read_in.bias", 0, 8, 0},
        {"wpe", "_backbone.wpe.weight", 0, 10, 8},        {"ln1_w", "ln_1.weight", 1, 8, 0},
        {"ln1_b", "ln_1.bias", 1, 8, 0},                  {"qkv_w", "attn.c_attn.weight", 1, 8, 24},
        {"qkv_b", "attn.c_attn.bias", 1, 24, 0},          {"attproj_w", "attn.c_proj.weight", 1, 8, 8},
        {"attproj_b", "attn.c_proj.bias", 1, 8, 0},       {"ln2_w", "ln_2.weight", 1, 8, 0},
        {"ln2_b", "ln_2.bias", 1, 8, 0},                  {"fc_w", "mlp.c_fc.weight", 1, 8, 32},
        {"fc_b", "mlp.c_fc.bias", 1, 32, 0},              {"fcproj_w", "mlp.c_proj.weight", 1, 32, 8},
        {"fcproj_b", "mlp.c_proj.bias", 1, 8, 0},         {"lnf_w", "_backbone.ln_f.weight", 0, 8, 0},
        {"lnf_b", "_backbone.ln_f.bias", 0, 8, 0},        {"read_out_w", "_read_out.weight", 0, 1, 8},
        {"read_out_b", "_read_out.bias", 0, 1, 0},
    };
    assert_int_equal(IC_NUM_PARAM_TENSORS, (int)(sizeof want / sizeof *want));
    ic_model m;
    make_model(&m, &TINY4, 5);
    float *const views[IC_NUM_PARAM_TENSORS] = {
        m.params.read_in_w, m.params.read_in_b, m.params.wpe, m.params.ln1_w, m.params.ln1_b, m.params.qkv_w,
        m.params.qkv_b, m.params.attproj_w, m.params.attproj_b, m.params.ln2_w, m.params.ln2_b, m.params.fc_w,
        m.params.fc_b, m.params.fcproj_w, m.params.fcproj_b, m.params.lnf_w, m.params.lnf_b, m.params.read_out_w,
        m.params.read_out_b};
    size_t off = 0;
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        assert_string_equal(ic_param_name(k), want[k].name);
        assert_string_equal(ic_param_ckpt_name(k), want[k].ckpt);
        assert_int_equal(ic_param_is_per_block(k), want[k].per_block);
        int64_t shape[2];
        const int nd = ic_param_shape(&TINY4, k, shape);
        assert_int_equal(nd, want[k].cols ? 2 : 1);
        assert_int_equal(ic_param_ndim(k), nd);
        assert_int_equal(shape[0], want[k].rows);
        if (nd == 2) assert_int_equal(shape[1], want[k].cols);
        const size_t numel = (size_t)want[k].rows * (want[k].cols ? (size_t)want[k].cols : 1);
        assert_int_equal(m.param_sizes[k], numel * (want[k].per_block ? 4 : 1));
        assert_ptr_equal(views[k], m.params_mem + off);
        assert_ptr_equal(ic_model_tensor(&m, k, 0), views[k]);
        if (want[k].per_block) assert_ptr_equal(ic_model_tensor(&m, k, 3), views[k] + 3 * numel);
        off += m.param_sizes[k];
    }
    assert_int_equal(off, m.num_params);
    assert_string_equal(ic_param_name(IC_NUM_PARAM_TENSORS), "?");
    assert_int_equal(ic_param_ndim(-1), 0);
    tm_free(&m);
}

static void test_init_deterministic(void **st) {
    (void)st;
    ic_config c = {.n_dims = 5, .n_positions = 11, .n_embd = 16, .n_layer = 3, .n_head = 4};
    ic_model a, b;
    ic_err err;
    assert_int_equal(ic_model_create(&a, &c, &err), 0);
    assert_int_equal(ic_model_create(&b, &c, &err), 0);
    ic_model_init_weights(&a, 5);
    ic_model_init_weights(&b, 5);
    assert_memory_equal(a.params_mem, b.params_mem, a.num_params * sizeof(float));
    ic_model_init_weights(&b, 6);
    assert_true(memcmp(a.params_mem, b.params_mem, a.num_params * sizeof(float)) != 0);
    // GPT-2 statistics: c_attn weights std 0.02, c_proj std 0.02/sqrt(2*n_layer), ln weight 1
    double ss = 0;
    for (size_t i = 0; i < a.param_sizes[IC_P_QKV_W]; i++) ss += (double)a.params.qkv_w[i] * a.params.qkv_w[i];
    double sd = sqrt(ss / a.param_sizes[IC_P_QKV_W]);
    assert_true(fabs(sd - 0.02) < 0.002);
    ss = 0;
    for (size_t i = 0; i < a.param_sizes[IC_P_FCPROJ_W]; i++) ss += (double)a.params.fcproj_w[i] * a.params.fcproj_w[i];
    sd = sqrt(ss / a.param_sizes[IC_P_FCPROJ_W]);
    assert_true(fabs(sd - 0.02 / sqrt(6.0)) < 0.001);
    assert_true(a.params.ln1_w[0] == 1.0f && a.params.ln1_b[0] == 0.0f && a.params.qkv_b[3] == 0.0f);
    tm_free(&a);
    tm_free(&b);
}

/* ---- data-parallel training pass (ic_model_train_pass) ---- */

/* Small enough to be fast, n_layer 3 so a schedule can hold a group and a
 * repeated block; n_positions 6 leaves room for n > n_positions errors. */
static const ic_config SHARD = {.n_dims = 3, .n_positions = 6, .n_embd = 16, .n_layer = 3, .n_head = 2};

/* Fixtures of the tests that need real parallelism: three OpenMP threads
 * whatever OMP_NUM_THREADS says, the caller's setting back afterwards (the
 * teardown runs even when the test fails). */
static int threads3_setup(void **st) {
    static int prev;
#ifdef _OPENMP
    prev = omp_get_max_threads();
    omp_set_num_threads(3);
#else
    prev = 1;
#endif
    *st = &prev;
    return 0;
}

static int threads_teardown(void **st) {
#ifdef _OPENMP
    omp_set_num_threads(*(int *)*st);
#else
    (void)st;
#endif
    return 0;
}

/* The OpenMP thread count the caller set (1 without OpenMP). */
static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static float *copy_floats(const float *p, size_t n) {
    float *c = malloc(sizeof(float) * n);
    assert_non_null(c);
    memcpy(c, p, sizeof(float) * n);
    return c;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

/* One fresh forward (need_grad = 1) + backward of the whole batch on m, from
 * zero gradients: the gradient (returned, a copy), loss and loop MSEs. */
static float *unsharded(ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n,
                        double *loss, double *mse) {
    ic_err err;
    ic_grads_zero(GR(m));
    assert_int_equal(ic_model_forward(m, WS(m), s, xs, ys, B, n, 1, &err), 0);
    assert_int_equal(ic_model_backward(m, GR(m), WS(m), &err), 0);
    *loss = WS(m)->loss;
    for (int t = 0; t < s->loops; t++) mse[t] = WS(m)->loop_mse[t];
    return copy_floats(GR(m)->mem, m->num_params);
}

/* Gradient tolerance of a sharded pass against the unsharded one. Both are
 * float sums of the same per-prompt terms in different orders (sgemm over B
 * rows vs B_i rows, then the weighted shard sum, weights B_i/B rounded to
 * float); each element's rounding error is a few float ulps (6e-8) of the
 * magnitude of its terms, which for this small model is at most a few times
 * the largest gradient component. Measured: <= ~5e-7 * max|g|. The bound
 * 1e-5 * max|g| + 1e-7 sits a decade above that and several decades below
 * what a wrong weighting (1/k instead of B_i/B, or no weights) gives. */
static double grad_tol(double gmax) { return 1e-5 * gmax + 1e-7; }

/* ic_model_train_pass on nshards shards (fresh ic_shards, three threads via
 * the fixture) against the unsharded forward + backward: gradient within
 * grad_tol, loss and every loop's MSE to 1e-6 relative, and the documented
 * side effects of a sharded pass (no activations kept, loop_delta NaN). Also
 * checks that the tolerance has teeth: the shards' own gradients summed
 * with the wrong weights miss the reference by far more than it. */
static void check_sharded(const ic_config *c, const ic_schedule *s, int B, int n, int nshards, uint64_t seed) {
    ic_model m;
    ic_err err;
    make_model(&m, c, seed);
    assert_true(c->n_dims == 3);
    float *xs = malloc(sizeof(float) * (size_t)B * n * 3), *ys = malloc(sizeof(float) * (size_t)B * n);
    make_prompts(xs, ys, c, B, n, seed + 1);
    const int L = s->loops;
    double lref, *mref = malloc(sizeof(double) * L);
    float *gref = unsharded(&m, s, xs, ys, B, n, &lref, mref);
    const size_t np = m.num_params;
    const double gmax = tu_max_abs_f(gref, np), tol = grad_tol(gmax);
    assert_true(gmax > 1e-3); // not vacuous

    ic_shards sh = {0};
    const int threads = max_threads();
    ic_grads_zero(GR(&m));
    err.msg[0] = 0;
    if (ic_model_train_pass(&m, GR(&m), WS(&m), &sh, nshards, s, xs, ys, B, n, &err))
        fail_msg("train_pass (%d shards, B %d): %s", nshards, B, err.msg);
    assert_int_equal(max_threads(), threads); // the caller's OpenMP setting survives
    // really sharded: 2..min(nshards, B) shards, together holding the batch
    const int k = sh.cap, kmax = nshards < B ? nshards : B;
    if (k < 2 || k > kmax) fail_msg("%d shards asked for B %d: %d shards made", nshards, B, k);
    int total = 0, unequal = 0;
    for (int i = 0; i < k; i++) {
        total += sh.ws[i].B;
        assert_memory_equal(&sh.ws[i].cfg, &m.cfg, sizeof m.cfg); /* each shard ran the one model */
        unequal |= sh.ws[i].B != sh.ws[0].B;
    }
    assert_int_equal(total, B);
    assert_int_equal(WS(&m)->have_grad_acts, 0);

    double worst = max_abs_diff(GR(&m)->mem, gref, np);
    if (worst > tol)
        fail_msg("%d shards of B %d: gradient differs by %g (max|g| %g, tolerance %g)", nshards, B, worst, gmax,
                 tol);
    if (!(fabs(WS(&m)->loss - lref) <= 1e-6 * lref)) fail_msg("loss %.10g, unsharded %.10g", WS(&m)->loss, lref);
    for (int t = 0; t < L; t++) {
        if (!(fabs(WS(&m)->loop_mse[t] - mref[t]) <= 1e-6 * mref[t]))
            fail_msg("loop %d: mse %.10g, unsharded %.10g", t, WS(&m)->loop_mse[t], mref[t]);
        assert_true(isnan(WS(&m)->loop_delta[t]) && isnan(WS(&m)->loop_delta_num[t]) && isnan(WS(&m)->loop_delta_den[t]));
    }

    // the tolerance catches wrong weightings of the same shard gradients
    float *alt = malloc(sizeof(float) * np);
    for (int w = 0; w < 2; w++) {
        if (w == 0 && !unequal) continue; // 1/k is right when the shards are equal
        for (size_t j = 0; j < np; j++) {
            float acc = 0.0f;
            for (int i = 0; i < k; i++) acc += (w == 0 ? 1.0f / (float)k : 1.0f) * sh.grads[i].mem[j];
            alt[j] = acc;
        }
        double off = max_abs_diff(alt, gref, np);
        if (!(off > 100 * tol))
            fail_msg("%s weighting is only %g off (tolerance %g)", w ? "unweighted" : "1/k", off, tol);
    }
    free(alt);
    ic_shards_free(&sh);
    assert_int_equal(sh.cap, 0);
    assert_null(sh.ws);
    assert_null(sh.grads);
    free(gref);
    free(mref);
    free(xs);
    free(ys);
    tm_free(&m);
}

/* The shard counts every schedule is checked with: equal and unequal shards
 * of B = 7 and 6, more shards than prompts (9 for B = 4: one prompt each). */
static void check_sharded_counts(const ic_schedule *s, uint64_t seed) {
    check_sharded(&SHARD, s, 7, 5, 2, seed);     // 3 + 4
    check_sharded(&SHARD, s, 7, 5, 3, seed + 2); // 2 + 2 + 3
    check_sharded(&SHARD, s, 6, 6, 3, seed + 4); // 2 + 2 + 2, n = n_positions
    check_sharded(&SHARD, s, 4, 3, 9, seed + 6); // 4 shards of 1
}

static ic_schedule shard_sched(const char *list, int loops, int loss_loops, int grad_loops, int inject,
                               int loop_lnf) {
    ic_schedule s;
    ic_schedule_default(&s, SHARD.n_layer);
    ic_err err;
    if (list) assert_int_equal(ic_schedule_parse(&s, list, NULL, 0, &err), 0);
    s.loops = loops;
    s.loss_loops = loss_loops;
    s.grad_loops = grad_loops;
    s.inject = inject;
    s.loop_lnf = loop_lnf;
    assert_int_equal(ic_schedule_validate(&s, SHARD.n_layer, &err), 0);
    return s;
}

static void test_train_pass_sharded_default(void **st) {
    (void)st;
    ic_schedule s = shard_sched(NULL, 1, 1, 0, 1, 1);
    check_sharded_counts(&s, 101);
}

static void test_train_pass_sharded_repeated_block(void **st) {
    (void)st;
    ic_schedule s = shard_sched("0,1,1,0", 1, 1, 0, 1, 1);
    check_sharded_counts(&s, 111);
}

static void test_train_pass_sharded_looped(void **st) {
    (void)st;
    // loss on the last 2 of 3 loops, gradient through all 3, injection
    ic_schedule s = shard_sched("0,2", 3, 2, 3, 1, 1);
    check_sharded_counts(&s, 121);
    // truncated: 2 loops without gradient, no injection, no per-loop ln_f
    ic_schedule t = shard_sched("2,1", 4, 2, 0, 0, 0);
    check_sharded_counts(&t, 131);
}

static void test_train_pass_sharded_parallel_group(void **st) {
    (void)st;
    ic_schedule s = gsched(&SHARD, "0,(1|2),1", 1, 1, 1, 1);
    check_sharded_counts(&s, 141);
    ic_schedule t = gsched(&SHARD, "(0|1),(2|2)", 3, 2, 1, 0); // looped, truncated, a block twice in a group
    check_sharded_counts(&t, 151);
}

/* More than 64 shards: the per-shard error and weight arrays are allocated
 * instead of on the stack. */
static void test_train_pass_many_shards(void **st) {
    (void)st;
    ic_schedule s = shard_sched("0,1", 2, 1, 2, 1, 1);
    check_sharded(&SHARD, &s, 70, 2, 70, 161);
    check_sharded(&SHARD, &s, 71, 2, 66, 163); // 66 shards: 5 of 2 prompts, 61 of 1
}

/* nshards <= 1 and B = 1 (nothing to split) run m's own forward + backward:
 * gradient, loss, loop MSEs, predictions and loop_delta bit for bit, and m
 * keeps the activations (a following ic_model_backward works). */
static void test_train_pass_one_shard_bit_exact(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &SHARD, 171);
    enum { B = 5, N = 4 };
    float xs[B * N * 3], ys[B * N];
    make_prompts(xs, ys, &SHARD, B, N, 172);
    ic_schedule s = shard_sched("0,1,1,2", 3, 2, 0, 1, 1);
    const struct { int nshards, B; } cases[] = {{1, B}, {0, B}, {-3, B}, {1, 1}, {4, 1}, {64, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const int b = cases[c].B, L = s.loops;
        double lref, mref[3], dref[3];
        float *gref = unsharded(&m, &s, xs, ys, b, N, &lref, mref);
        memcpy(dref, WS(&m)->loop_delta, sizeof dref);
        float *pref = copy_floats(WS(&m)->preds, (size_t)L * b * N);
        ic_shards sh = {0};
        ic_grads_zero(GR(&m));
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, cases[c].nshards, &s, xs, ys, b, N, &err), 0);
        assert_int_equal(sh.cap, 0); // no shards made
        assert_memory_equal(GR(&m)->mem, gref, sizeof(float) * m.num_params);
        assert_true(WS(&m)->loss == lref);
        assert_memory_equal(WS(&m)->loop_mse, mref, sizeof(double) * L);
        assert_memory_equal(WS(&m)->loop_delta, dref, sizeof(double) * L);
        assert_memory_equal(WS(&m)->preds, pref, sizeof(float) * (size_t)L * b * N);
        assert_int_equal(WS(&m)->have_grad_acts, 1);
        assert_int_equal(WS(&m)->B, b);
        // the activations are m's: one more backward doubles the gradient
        assert_int_equal(ic_model_backward(&m, GR(&m), WS(&m), &err), 0);
        for (size_t i = 0; i < m.num_params; i++)
            if (!(fabsf(GR(&m)->mem[i] - 2.0f * gref[i]) <= 1e-6 * (1 + fabsf(gref[i]))))
                fail_msg("case %zu: param %zu: %g after two backwards of %g", c, i, GR(&m)->mem[i], gref[i]);
        ic_shards_free(&sh);
        free(gref);
        free(pref);
    }
    assert_true(tu_max_abs_f(GR(&m)->mem, m.num_params) > 1e-3);
    tm_free(&m);
}

/* grads += : two passes without zeroing give twice the gradient, and a pass
 * adds to whatever the gradient held (also across the sharded and unsharded
 * paths). */
static void test_train_pass_accumulates(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &SHARD, 181);
    enum { B = 7, N = 5 };
    float xs[B * N * 3], ys[B * N];
    make_prompts(xs, ys, &SHARD, B, N, 182);
    ic_schedule s = shard_sched("0,1,2,1", 2, 1, 2, 1, 1);
    ic_shards sh = {0};
    const size_t np = m.num_params;

    ic_grads_zero(GR(&m));
    assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, 3, &s, xs, ys, B, N, &err), 0);
    float *once = copy_floats(GR(&m)->mem, np);
    const double gmax = tu_max_abs_f(once, np), tol = grad_tol(gmax);
    assert_true(gmax > 1e-3);
    assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, 3, &s, xs, ys, B, N, &err), 0);
    for (size_t i = 0; i < np; i++)
        if (!(fabsf(GR(&m)->mem[i] - 2.0f * once[i]) <= 1e-6 * gmax))
            fail_msg("param %zu: %g after two passes of %g", i, GR(&m)->mem[i], once[i]);

    // onto arbitrary values: old + g
    float *old = malloc(sizeof(float) * np);
    for (size_t i = 0; i < np; i++) old[i] = GR(&m)->mem[i] = (float)((double)(i % 13) - 6.0) * 0.25f;
    assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, 2, &s, xs, ys, B, N, &err), 0);
    for (size_t i = 0; i < np; i++)
        if (!(fabsf(GR(&m)->mem[i] - (old[i] + once[i])) <= tol + 1e-6 * fabsf(old[i])))
            fail_msg("param %zu: %g, expected %g + %g", i, GR(&m)->mem[i], old[i], once[i]);

    // sharded then unsharded, without zeroing: twice the gradient again
    ic_grads_zero(GR(&m));
    assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, 3, &s, xs, ys, B, N, &err), 0);
    assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, 1, &s, xs, ys, B, N, &err), 0);
    for (size_t i = 0; i < np; i++)
        if (!(fabsf(GR(&m)->mem[i] - 2.0f * once[i]) <= 2 * tol))
            fail_msg("param %zu: %g after a sharded and an unsharded pass of %g", i, GR(&m)->mem[i], once[i]);
    free(old);
    free(once);
    ic_shards_free(&sh);
    tm_free(&m);
}

/* The same shard count gives the same bits: fresh shards or reused ones,
 * one OpenMP thread or three (the results depend on the shard count only).
 * A different shard count is allowed to differ (the sums' order). */
static void test_train_pass_repeatable(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &SHARD, 191);
    enum { B = 7, N = 5 };
    float xs[B * N * 3], ys[B * N];
    make_prompts(xs, ys, &SHARD, B, N, 192);
    ic_schedule s = gsched(&SHARD, "0,(1|2),1", 2, 2, 1, 1);
    const size_t np = m.num_params;
    const int threads = max_threads();
    for (int k = 2; k <= 4; k++) {
        ic_shards a = {0}, b = {0};
        ic_grads_zero(GR(&m));
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &a, k, &s, xs, ys, B, N, &err), 0);
        float *g1 = copy_floats(GR(&m)->mem, np);
        double l1 = WS(&m)->loss, mse1[2] = {WS(&m)->loop_mse[0], WS(&m)->loop_mse[1]};
        // fresh shards
        ic_grads_zero(GR(&m));
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &b, k, &s, xs, ys, B, N, &err), 0);
        assert_memory_equal(GR(&m)->mem, g1, sizeof(float) * np);
        assert_true(WS(&m)->loss == l1);
        assert_memory_equal(WS(&m)->loop_mse, mse1, sizeof mse1);
        // reused shards (holding the last pass's activations and gradients)
        ic_grads_zero(GR(&m));
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &a, k, &s, xs, ys, B, N, &err), 0);
        assert_memory_equal(GR(&m)->mem, g1, sizeof(float) * np);
        assert_true(WS(&m)->loss == l1);
#ifdef _OPENMP
        // one OpenMP thread
        omp_set_num_threads(1);
        ic_grads_zero(GR(&m));
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &a, k, &s, xs, ys, B, N, &err), 0);
        omp_set_num_threads(threads);
        assert_memory_equal(GR(&m)->mem, g1, sizeof(float) * np);
        assert_true(WS(&m)->loss == l1);
#endif
        free(g1);
        ic_shards_free(&a);
        ic_shards_free(&b);
    }
    assert_int_equal(max_threads(), threads);
    tm_free(&m);
}

/* Shards and workspaces only read the model: nothing ties them to one.
 * Shards made for m, reused for another model o, give o's gradient; reused
 * for a model of another configuration, their gradient buffers are made
 * again; m's parameters are never written. A gradient buffer of another
 * model, or a backward of a forward of another configuration, is refused. */
static void test_shards_over_models(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &SHARD, 201);
    enum { B = 3, N = 4 };
    float xs[B * N * 3], ys[B * N];
    make_prompts(xs, ys, &SHARD, B, N, 202);
    ic_schedule s = shard_sched(NULL, 1, 1, 0, 1, 1);
    float *saved = copy_floats(m.params_mem, m.num_params);

    ic_model o;
    make_model(&o, &SHARD, 203);
    ic_shards sh = {0};
    ic_grads_zero(GR(&m));
    assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, 3, &s, xs, ys, B, N, &err), 0);
    double lo;
    double mo[1];
    float *go = unsharded(&o, &s, xs, ys, B, N, &lo, mo);
    ic_grads_zero(GR(&o));
    assert_int_equal(ic_model_train_pass(&o, GR(&o), WS(&o), &sh, 3, &s, xs, ys, B, N, &err), 0);
    double tol = grad_tol(tu_max_abs_f(go, o.num_params)), off = max_abs_diff(GR(&o)->mem, go, o.num_params);
    if (off > tol) fail_msg("shards reused for another model: gradient off by %g (tolerance %g)", off, tol);
    assert_true(fabs(WS(&o)->loss - lo) <= 1e-6 * lo);
    free(go);
    // after a sharded pass the caller's workspace holds no predictions of the batch
    assert_null(ic_workspace_preds(WS(&o), 0));

    // the same shards for a model of another configuration
    static const ic_config SHARD2 = {.n_dims = 3, .n_positions = 6, .n_embd = 16, .n_layer = 2, .n_head = 2};
    ic_model q;
    make_model(&q, &SHARD2, 204);
    ic_schedule s2;
    ic_schedule_default(&s2, SHARD2.n_layer);
    float *gq = unsharded(&q, &s2, xs, ys, B, N, &lo, mo);
    ic_grads_zero(GR(&q));
    assert_int_equal(ic_model_train_pass(&q, GR(&q), WS(&q), &sh, 3, &s2, xs, ys, B, N, &err), 0);
    for (int i = 0; i < sh.cap; i++) assert_int_equal(sh.grads[i].num_params, q.num_params);
    tol = grad_tol(tu_max_abs_f(gq, q.num_params));
    off = max_abs_diff(GR(&q)->mem, gq, q.num_params);
    if (off > tol) fail_msg("shards of another configuration reused: gradient off by %g (tolerance %g)", off, tol);
    free(gq);
    ic_shards_free(&sh);

    // a gradient buffer of another model, a backward of another configuration's forward: refused
    err.msg[0] = 0;
    assert_int_equal(ic_model_forward(&m, WS(&m), &s, xs, ys, B, N, 1, &err), 0);
    assert_int_equal(ic_model_backward(&m, GR(&q), WS(&m), &err), -1);
    assert_non_null(strstr(err.msg, "gradient buffer"));
    assert_int_equal(ic_model_train_pass(&m, GR(&q), WS(&m), &sh, 3, &s, xs, ys, B, N, &err), -1);
    assert_non_null(strstr(err.msg, "gradient buffer"));
    assert_int_equal(ic_model_backward(&q, GR(&q), WS(&m), &err), -1);
    assert_non_null(strstr(err.msg, "another model configuration"));
    ic_shards_free(&sh);
    tm_free(&q);
    tm_free(&o);

    // the model was only read
    assert_memory_equal(m.params_mem, saved, sizeof(float) * m.num_params);
    free(saved);
    tm_free(&m);
}

/* Errors, also those raised inside a shard, come back as -1 with a message;
 * the master's gradient is left as it was and the shards stay usable. */
static void test_train_pass_errors(void **st) {
    (void)st;
    ic_model m;
    ic_err err;
    make_model(&m, &SHARD, 211);
    enum { B = 7, N = 7 }; // N = n_positions + 1
    float xs[B * N * 3], ys[B * N];
    make_prompts(xs, ys, &SHARD, B, N, 212);
    ic_schedule good = shard_sched("0,1", 2, 1, 0, 1, 1);
    ic_shards sh = {0};
    ic_grads_zero(GR(&m));
    assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, 3, &good, xs, ys, B, 5, &err), 0);
    float *g = copy_floats(GR(&m)->mem, m.num_params);
    const int nshards[] = {3, 1, 9, 70};
    for (size_t c = 0; c < sizeof nshards / sizeof *nshards; c++) {
        const int k = nshards[c];
        // too many points: every shard's forward fails
        err.msg[0] = 0;
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, k, &good, xs, ys, B, N, &err), -1);
        if (!strstr(err.msg, "position table")) fail_msg("%d shards, n > n_positions: \"%s\"", k, err.msg);
        // a block the model does not have
        ic_schedule bad = good;
        bad.steps[1] = 3;
        err.msg[0] = 0;
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, k, &bad, xs, ys, B, 5, &err), -1);
        if (!strstr(err.msg, "block 3")) fail_msg("%d shards, block 3: \"%s\"", k, err.msg);
        // a parallel flag on the first step
        bad = good;
        bad.par[0] = 1;
        err.msg[0] = 0;
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, k, &bad, xs, ys, B, 5, &err), -1);
        assert_true(strlen(err.msg) > 10);
        // grad_loops below loss_loops
        bad = good;
        bad.loss_loops = 2;
        bad.grad_loops = 1;
        err.msg[0] = 0;
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, k, &bad, xs, ys, B, 5, &err), -1);
        if (!strstr(err.msg, "grad_loops")) fail_msg("%d shards, grad_loops: \"%s\"", k, err.msg);
        // no prompts, no points, no batch
        err.msg[0] = 0;
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, k, &good, NULL, ys, B, 5, &err), -1);
        assert_true(strlen(err.msg) > 10);
        err.msg[0] = 0;
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, k, &good, xs, ys, B, 0, &err), -1);
        assert_true(strlen(err.msg) > 10);
        err.msg[0] = 0;
        assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, k, &good, xs, ys, 0, 5, &err), -1);
        assert_non_null(strstr(err.msg, "batch"));
        // nothing was added
        assert_memory_equal(GR(&m)->mem, g, sizeof(float) * m.num_params);
    }
    // the shards still work: a good pass adds the same gradient again
    assert_int_equal(ic_model_train_pass(&m, GR(&m), WS(&m), &sh, 3, &good, xs, ys, B, 5, &err), 0);
    const double tol = grad_tol(tu_max_abs_f(g, m.num_params));
    for (size_t i = 0; i < m.num_params; i++)
        if (!(fabsf(GR(&m)->mem[i] - 2.0f * g[i]) <= tol)) fail_msg("param %zu after the errors", i);
    free(g);
    ic_shards_free(&sh);
    ic_shards_free(&sh); // freeing twice is harmless
    tm_free(&m);
}

/* ---- sharded inference (ic_model_predict_sharded) ---- */

/* Predictions of the last loop of B prompts on nshards shards (three threads
 * via the fixture) against one unsharded forward pass of the whole batch:
 * every prompt's predictions within 1e-6 of the largest (the same kernels
 * per prompt; only BLAS's blocking over rows differs), each shard's
 * workspace holding its share of the batch and no gradient buffer. The
 * prompts differ, so predictions written to the wrong prompt's place (or not
 * written) fail. */
static void check_predict_sharded(const ic_schedule *s, int B, int n, int nshards, uint64_t seed) {
    ic_model m;
    ic_err err;
    make_model(&m, &SHARD, seed);
    float *xs = malloc(sizeof(float) * (size_t)B * n * 3), *ys = malloc(sizeof(float) * (size_t)B * n);
    float *pred = malloc(sizeof(float) * (size_t)B * n);
    make_prompts(xs, ys, &SHARD, B, n, seed + 1);
    assert_int_equal(ic_model_forward(&m, WS(&m), s, xs, ys, B, n, 0, &err), 0);
    const float *ref = ic_workspace_preds(WS(&m), -1);
    const double pmax = tu_max_abs_f(ref, (size_t)B * n), tol = 1e-6 * pmax + 1e-7;
    assert_true(pmax > 1e-3);
    for (size_t i = 0; i < (size_t)B * n; i++) pred[i] = NAN;
    ic_shards sh = {0};
    if (ic_model_predict_sharded(&m, &sh, nshards, IC_PREC_FP32, s, xs, ys, B, n, pred, &err))
        fail_msg("predict_sharded (%d shards, B %d): %s", nshards, B, err.msg);
    const int kmax = nshards < B ? nshards : B;
    assert_int_equal(sh.cap, kmax < 1 ? 1 : kmax);
    int total = 0;
    for (int i = 0; i < sh.cap; i++) {
        total += sh.ws[i].B;
        assert_null(sh.grads[i].mem); /* inference makes no gradient buffers */
    }
    assert_int_equal(total, B);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            const float p = pred[(size_t)b * n + i], r = ref[(size_t)b * n + i];
            if (!(fabs((double)p - (double)r) <= tol))
                fail_msg("%d shards of B %d: prompt %d position %d: %.9g, unsharded %.9g", nshards, B, b, i, p, r);
        }
    ic_shards_free(&sh);
    free(xs);
    free(ys);
    free(pred);
    tm_free(&m);
}

static void test_predict_sharded(void **st) {
    (void)st;
    const ic_schedule plain = shard_sched(NULL, 1, 1, 0, 1, 1), looped = shard_sched("0,2", 3, 2, 0, 1, 1);
    const ic_schedule group = gsched(&SHARD, "0,(1|2),1", 2, 1, 0, 1);
    const ic_schedule *sc[] = {&plain, &looped, &group};
    for (int k = 0; k < 3; k++) {
        check_predict_sharded(sc[k], 7, 5, 1, 201 + 10 * k);
        check_predict_sharded(sc[k], 7, 5, 2, 202 + 10 * k); /* 3 + 4 */
        check_predict_sharded(sc[k], 7, 5, 3, 203 + 10 * k);
        check_predict_sharded(sc[k], 4, 6, 9, 204 + 10 * k); /* 4 shards of 1 */
    }
    /* errors: one line, nothing written */
    ic_model m;
    ic_err err;
    make_model(&m, &SHARD, 241);
    enum { B = 4, N = 5 };
    float xs[B * N * 3], ys[B * N], pred[B * N];
    make_prompts(xs, ys, &SHARD, B, N, 242);
    ic_schedule bad = plain;
    bad.loops = 0;
    ic_shards sh = {0};
    err.msg[0] = 0;
    assert_int_equal(ic_model_predict_sharded(&m, &sh, 2, IC_PREC_FP32, &bad, xs, ys, B, N, pred, &err), -1);
    assert_true(strlen(err.msg) > 10);
    err.msg[0] = 0;
    assert_int_equal(ic_model_predict_sharded(&m, &sh, 2, IC_PREC_FP32, &plain, xs, ys, B, N + 3, pred, &err), -1);
    assert_true(strlen(err.msg) > 10);
    err.msg[0] = 0;
    assert_int_equal(ic_model_predict_sharded(&m, &sh, 2, IC_PREC_FP32, &plain, NULL, ys, B, N, pred, &err), -1);
    assert_true(strlen(err.msg) > 10);
    ic_shards_free(&sh);
    tm_free(&m);
}

/* One shard per OpenMP thread. */
static void test_default_shards(void **st) {
    (void)st;
    assert_int_equal(ic_default_shards(), max_threads());
    assert_true(ic_default_shards() >= 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_default),
        cmocka_unit_test(test_grad_repeated_block),
        cmocka_unit_test(test_grad_looped_injection_truncated),
        cmocka_unit_test(test_grad_looped_single_block_full),
        cmocka_unit_test(test_grad_looped_loss_at_end_full_backprop),
        cmocka_unit_test(test_grad_looped_no_injection_no_lnf),
        cmocka_unit_test(test_grad_looped_injection_no_lnf),
        cmocka_unit_test(test_grad_parallel_group_plain),
        cmocka_unit_test(test_grad_parallel_group_whole_body),
        cmocka_unit_test(test_grad_parallel_group_repeated),
        cmocka_unit_test(test_grad_parallel_group_same_block_twice),
        cmocka_unit_test(test_grad_parallel_group_looped),
        cmocka_unit_test(test_parallel_of_one_layer_equals_layer),
        cmocka_unit_test(test_parallel_group_costs),
        cmocka_unit_test(test_validate_parallel_flags),
        cmocka_unit_test(test_grad_prelude_core_coda),
        cmocka_unit_test(test_grad_prelude_coda_tied),
        cmocka_unit_test(test_grad_prelude_only),
        cmocka_unit_test(test_grad_loop_signal),
        cmocka_unit_test(test_grad_block_kinds),
        cmocka_unit_test(test_block_kinds_skip_sublayer),
        cmocka_unit_test(test_prelude_coda_one_loop_equals_plain),
        cmocka_unit_test(test_halting),
        cmocka_unit_test(test_identity_schedule_bit_exact),
        cmocka_unit_test(test_loop_count_one_equals_plain),
        cmocka_unit_test(test_loop_fixed_point_measure),
        cmocka_unit_test(test_loop_fixed_point_sums_combine_over_chunks),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_unused_block_gets_no_gradient),
        cmocka_unit_test(test_activation_memory_linear_in_schedule),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_param_table),
        cmocka_unit_test(test_init_deterministic),
        cmocka_unit_test(test_train_pass_one_shard_bit_exact),
        cmocka_unit_test_setup_teardown(test_train_pass_sharded_default, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_train_pass_sharded_repeated_block, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_train_pass_sharded_looped, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_train_pass_sharded_parallel_group, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_train_pass_many_shards, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_train_pass_accumulates, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_train_pass_repeatable, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_shards_over_models, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_train_pass_errors, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_default_shards, threads3_setup, threads_teardown),
        cmocka_unit_test_setup_teardown(test_predict_sharded, threads3_setup, threads_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
