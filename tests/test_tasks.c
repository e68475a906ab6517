/* test_tasks.c: the in-context function classes (src/tasks.h).
 *
 *  - names and parsing, defaults, every validation error (naming its field);
 *  - x moments (mean 0, var 1 per active coordinate, exactly 0 on truncated
 *    ones; covariance x_scale^2 L L^T for a given L);
 *  - y equals each definition recomputed here from the returned params, and
 *    ic_task_eval reproduces the sampled ys bit for bit;
 *  - distributional checks with tolerances of 5 standard errors, derived
 *    analytically where the variance is known and otherwise from the spread
 *    of independent per-prompt statistics;
 *  - the documented RNG order, replayed here draw by draw; reproducibility.
 *
 * Statistical checks use fixed seeds, so they are deterministic; the
 * tolerances say how far a correct sampler may stray, and every check fails
 * for the plausible bugs (missing scale factors, wrong truncation, a biased
 * choice of coordinates, a wrong routing convention). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks.h"
#include "testutil.h"

#define NSE 5.0 /* tolerance in standard errors */

/* ---------------- helpers ---------------- */

typedef struct {
    int B, n, d;
    float *xs, *ys;
    ic_task_params p;
} batch;

static void draw_rng(const ic_task_spec *s, ic_rng *rng, int B, int n, int d_active, batch *bt) {
    bt->B = B;
    bt->n = n;
    bt->d = s->n_dims;
    bt->xs = tu_falloc((size_t)B * n * s->n_dims);
    bt->ys = tu_falloc((size_t)B * n);
    memset(&bt->p, 0, sizeof bt->p);
    ic_err err;
    err.msg[0] = '\0';
    int rc = ic_task_sample(s, rng, B, n, d_active, bt->xs, bt->ys, &bt->p, &err);
    if (rc) fprintf(stderr, "ic_task_sample: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static void draw(const ic_task_spec *s, uint64_t seed, int B, int n, int d_active, batch *bt) {
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    draw_rng(s, &rng, B, n, d_active, bt);
}

static void batch_free(batch *bt) {
    free(bt->xs);
    free(bt->ys);
    ic_task_params_free(&bt->p);
}

static const float *X(const batch *bt, int b, int i) {
    return bt->xs + ((size_t)b * bt->n + i) * bt->d;
}
static float Y(const batch *bt, int b, int i) { return bt->ys[(size_t)b * bt->n + i]; }

/* same RNG state, field by field (the struct has padding) */
static void assert_rng_equal(const ic_rng *a, const ic_rng *b) {
    for (int i = 0; i < 4; i++) assert_true(a->s[i] == b->s[i]);
    assert_int_equal(a->has_spare, b->has_spare);
    if (a->has_spare) assert_memory_equal(&a->spare, &b->spare, sizeof a->spare);
}

/* |got - want| <= NSE * se, printing on failure */
static int near_se(const char *what, double got, double want, double se) {
    if (fabs(got - want) <= NSE * se) return 1;
    fprintf(stderr, "%s: got %.6g, want %.6g +- %g (%g SE)\n", what, got, want, NSE * se,
            (got - want) / se);
    return 0;
}

/* mean and standard error of v[0..m-1] (independent values) */
static void mean_se(const double *v, int m, double *mean, double *se) {
    double s = 0, s2 = 0;
    for (int i = 0; i < m; i++) s += v[i];
    double mu = s / m;
    for (int i = 0; i < m; i++) s2 += (v[i] - mu) * (v[i] - mu);
    *mean = mu;
    *se = sqrt(s2 / (m - 1) / m);
}

/* Leaf index reached by x: walks the levels (a different loop than the
 * library's), node -> 2 node + 1 + [x[f] > 0]. */
static int ref_leaf(const int *feat, int depth, const float *x) {
    int node = 0;
    for (int lvl = 0; lvl < depth; lvl++) node = 2 * node + 1 + (x[feat[node]] > 0.0f ? 1 : 0);
    return node;
}

/* The definition of each task, recomputed independently in double from the
 * params; *mag gets a magnitude for the rounding tolerance. */
static double ref_y(const ic_task_spec *s, const ic_task_params *p, int b, const float *x,
                    double *mag) {
    int d = s->n_dims;
    double v = 0, m = 0;
    switch (s->kind) {
    case IC_TASK_LINEAR:
    case IC_TASK_SPARSE_LINEAR:
    case IC_TASK_NOISY_LINEAR:
    case IC_TASK_LINEAR_CLASSIFICATION: {
        const float *w = p->w + (size_t)b * d;
        for (int k = 0; k < d; k++) {
            v += (double)w[k] * x[k];
            m += fabs((double)w[k] * x[k]);
        }
        if (s->kind == IC_TASK_LINEAR_CLASSIFICATION) {
            v = v < 0 ? -1.0 : 1.0;
            m = 1;
        }
        break;
    }
    case IC_TASK_QUADRATIC: {
        const float *w = p->w + (size_t)b * d;
        for (int k = 0; k < d; k++) {
            v += (double)w[k] * x[k] * x[k] / sqrt(3.0);
            m += fabs((double)w[k] * x[k] * x[k] / sqrt(3.0));
        }
        break;
    }
    case IC_TASK_RELU2NN: {
        int h = s->hidden;
        const float *W1 = p->W1 + (size_t)b * d * h, *W2 = p->W2 + (size_t)b * h;
        double *pre = tu_dalloc((size_t)h);
        for (int k = 0; k < d; k++)
            for (int j = 0; j < h; j++) pre[j] += (double)x[k] * W1[(size_t)k * h + j];
        for (int j = 0; j < h; j++) {
            double a = pre[j] > 0 ? pre[j] : 0;
            v += a * W2[j] * sqrt(2.0 / h);
            m += fabs(a * W2[j] * sqrt(2.0 / h)) + 1e-3;
        }
        free(pre);
        break;
    }
    case IC_TASK_DECISION_TREE: {
        int leaf = ref_leaf(p->dt_feature + (size_t)b * p->n_nodes, s->depth, x);
        v = p->dt_value[(size_t)b * p->n_nodes + leaf];
        m = fabs(v);
        break;
    }
    default:
        fail_msg("bad kind");
    }
    *mag = m * fabs(s->y_scale);
    return v * s->y_scale;
}

static const ic_task_kind ALL[IC_NUM_TASKS] = {
    IC_TASK_LINEAR,    IC_TASK_SPARSE_LINEAR, IC_TASK_NOISY_LINEAR,  IC_TASK_LINEAR_CLASSIFICATION,
    IC_TASK_QUADRATIC, IC_TASK_RELU2NN,       IC_TASK_DECISION_TREE,
};

/* ---------------- names, defaults, errors ---------------- */

static void test_names_parse(void **st) {
    (void)st;
    const char *want[IC_NUM_TASKS] = {
        "linear_regression",     "sparse_linear_regression", "noisy_linear_regression",
        "linear_classification", "quadratic_regression",     "relu_2nn_regression",
        "decision_tree",
    };
    ic_err err;
    for (int k = 0; k < IC_NUM_TASKS; k++) {
        assert_string_equal(ic_task_name((ic_task_kind)k), want[k]);
        ic_task_kind got = IC_NUM_TASKS;
        assert_int_equal(ic_task_parse(ic_task_name((ic_task_kind)k), &got, &err), 0);
        assert_int_equal(got, k);
    }
    assert_string_equal(ic_task_name(IC_NUM_TASKS), "unknown");
    const char *bad[] = {"linear", "", "Linear_Regression", "decision_tree ", "relu_2nn"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ic_task_kind got = IC_TASK_QUADRATIC;
        err.msg[0] = '\0';
        assert_int_equal(ic_task_parse(bad[i], &got, &err), -1);
        assert_int_equal(got, IC_TASK_QUADRATIC); /* untouched */
        for (int k = 0; k < IC_NUM_TASKS; k++) assert_non_null(strstr(err.msg, want[k]));
    }
    assert_int_equal(ic_task_parse(NULL, NULL, &err), -1);
}

static void test_defaults(void **st) {
    (void)st;
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_RELU2NN, 20);
    assert_int_equal(s.kind, IC_TASK_RELU2NN);
    assert_int_equal(s.n_dims, 20);
    assert_int_equal(s.sparsity, 3);
    assert_true(s.noise_std == 1.0);
    assert_int_equal(s.hidden, 100);
    assert_int_equal(s.depth, 4);
    assert_true(s.x_scale == 1.0);
    assert_null(s.x_cov_sqrt);
    assert_true(s.y_scale == 1.0);
    ic_err err;
    for (int k = 0; k < IC_NUM_TASKS; k++) {
        ic_task_spec_default(&s, ALL[k], 5);
        assert_int_equal(ic_task_spec_check(&s, &err), 0);
    }
}

/* The JSON record names the kind, n_dims, the one parameter the kind samples
 * with (non-default values, so a record of the defaults would fail), x_scale,
 * y_scale and whether x has a covariance. */
static void test_spec_to_json(void **st) {
    (void)st;
    static const char *want[IC_NUM_TASKS] = {
        "{\"name\": \"linear_regression\", \"n_dims\": 4, \"x_scale\": 2.5, \"y_scale\": 0.5, \"x_cov_sqrt\": \"identity\"}",
        "{\"name\": \"sparse_linear_regression\", \"n_dims\": 4, \"sparsity\": 2, \"x_scale\": 2.5, \"y_scale\": 0.5, "
        "\"x_cov_sqrt\": \"identity\"}",
        "{\"name\": \"noisy_linear_regression\", \"n_dims\": 4, \"noise_std\": 0.25, \"x_scale\": 2.5, \"y_scale\": 0.5, "
        "\"x_cov_sqrt\": \"identity\"}",
        "{\"name\": \"linear_classification\", \"n_dims\": 4, \"x_scale\": 2.5, \"y_scale\": 0.5, \"x_cov_sqrt\": \"identity\"}",
        "{\"name\": \"quadratic_regression\", \"n_dims\": 4, \"x_scale\": 2.5, \"y_scale\": 0.5, \"x_cov_sqrt\": \"identity\"}",
        "{\"name\": \"relu_2nn_regression\", \"n_dims\": 4, \"hidden\": 7, \"x_scale\": 2.5, \"y_scale\": 0.5, "
        "\"x_cov_sqrt\": \"identity\"}",
        "{\"name\": \"decision_tree\", \"n_dims\": 4, \"depth\": 2, \"x_scale\": 2.5, \"y_scale\": 0.5, \"x_cov_sqrt\": \"identity\"}",
    };
    for (int k = 0; k < IC_NUM_TASKS; k++) {
        ic_task_spec s;
        ic_task_spec_default(&s, ALL[k], 4);
        s.sparsity = 2;
        s.noise_std = 0.25;
        s.hidden = 7;
        s.depth = 2;
        s.x_scale = 2.5;
        s.y_scale = 0.5;
        json_t *o = ic_task_spec_json(&s);
        assert_non_null(o);
        char *j = json_dumps(o, JSON_PRESERVE_ORDER);
        json_decref(o);
        assert_string_equal(j, want[k]);
        free(j);
    }
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_LINEAR, 2);
    const float L[4] = {1, 0, 0.5f, 1};
    s.x_cov_sqrt = L;
    json_t *o = ic_task_spec_json(&s);
    assert_string_equal(json_string_value(json_object_get(o, "x_cov_sqrt")), "given");
    json_decref(o);
    s.kind = IC_NUM_TASKS;
    assert_null(ic_task_spec_json(&s));
    assert_null(ic_task_spec_json(NULL));
}

/* expects failure with a message containing field */
static void expect_err(const ic_task_spec *s, int B, int n, int d_active, const char *field) {
    ic_rng rng;
    ic_rng_seed(&rng, 1);
    int d = s->n_dims > 0 ? s->n_dims : 1;
    float *xs = tu_falloc((size_t)4 * 4 * d), *ys = tu_falloc(16);
    ic_task_params p;
    memset(&p, 0, sizeof p);
    ic_err err;
    err.msg[0] = '\0';
    int rc = ic_task_sample(s, &rng, B, n, d_active, xs, ys, &p, &err);
    if (rc != -1 || !strstr(err.msg, field))
        fprintf(stderr, "expected an error naming '%s', got rc=%d '%s'\n", field, rc, err.msg);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.msg, field));
    assert_null(p.w);
    assert_null(p.W1);
    assert_null(p.dt_feature);
    assert_int_equal(p.B, 0);
    free(xs);
    free(ys);
}

static void test_errors(void **st) {
    (void)st;
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_LINEAR, 4);
    expect_err(&s, 0, 4, 4, "batch size B");
    expect_err(&s, -3, 4, 4, "batch size B");
    expect_err(&s, 4, 0, 4, "n_points");
    expect_err(&s, 4, 4, 0, "d_active");
    expect_err(&s, 4, 4, 5, "d_active");
    s.n_dims = 0;
    expect_err(&s, 4, 4, 1, "n_dims");
    ic_task_spec_default(&s, IC_TASK_LINEAR, 4);
    s.x_scale = NAN;
    expect_err(&s, 4, 4, 4, "x_scale");
    ic_task_spec_default(&s, IC_TASK_LINEAR, 4);
    s.y_scale = INFINITY;
    expect_err(&s, 4, 4, 4, "y_scale");
    ic_task_spec_default(&s, IC_TASK_LINEAR, 4);
    s.kind = IC_NUM_TASKS;
    expect_err(&s, 4, 4, 4, "kind");
    ic_task_spec_default(&s, IC_TASK_SPARSE_LINEAR, 4);
    s.sparsity = 0;
    expect_err(&s, 4, 4, 4, "sparsity");
    ic_task_spec_default(&s, IC_TASK_NOISY_LINEAR, 4);
    s.noise_std = -0.5;
    expect_err(&s, 4, 4, 4, "noise_std");
    s.noise_std = NAN;
    expect_err(&s, 4, 4, 4, "noise_std");
    ic_task_spec_default(&s, IC_TASK_RELU2NN, 4);
    s.hidden = 0;
    expect_err(&s, 4, 4, 4, "hidden");
    ic_task_spec_default(&s, IC_TASK_DECISION_TREE, 4);
    s.depth = 0;
    expect_err(&s, 4, 4, 4, "depth");
    s.depth = 21;
    expect_err(&s, 4, 4, 4, "depth");
    /* the task name is in the message */
    ic_task_spec_default(&s, IC_TASK_DECISION_TREE, 4);
    expect_err(&s, 4, 4, 9, "decision_tree");

    /* fields a kind does not use are not validated */
    ic_task_spec_default(&s, IC_TASK_LINEAR, 4);
    s.hidden = 0;
    s.depth = 0;
    s.sparsity = 0;
    s.noise_std = -1;
    batch bt;
    draw(&s, 3, 2, 3, 4, &bt);
    batch_free(&bt);
    /* depth 1 and 20 are accepted */
    ic_task_spec_default(&s, IC_TASK_DECISION_TREE, 3);
    s.depth = 1;
    draw(&s, 3, 2, 3, 3, &bt);
    assert_int_equal(bt.p.n_nodes, 3);
    batch_free(&bt);
    s.depth = 20;
    draw(&s, 3, 1, 3, 3, &bt);
    assert_int_equal(bt.p.n_nodes, (2 << 20) - 1);
    batch_free(&bt);
    /* NULL buffers */
    ic_rng rng;
    ic_rng_seed(&rng, 1);
    ic_err err;
    float ys[4];
    assert_int_equal(ic_task_sample(&s, &rng, 1, 1, 1, NULL, ys, NULL, &err), -1);
    assert_int_equal(ic_task_sample(NULL, &rng, 1, 1, 1, ys, ys, NULL, &err), -1);
}

/* ---------------- x ---------------- */

static void test_x_moments_all_tasks(void **st) {
    (void)st;
    const int d = 7, da = 4, B = 100, n = 60;
    const double N = (double)B * n;
    for (int t = 0; t < IC_NUM_TASKS; t++) {
        ic_task_spec s;
        ic_task_spec_default(&s, ALL[t], d);
        batch bt;
        draw(&s, 100 + (uint64_t)t, B, n, da, &bt);
        int ok = 1;
        for (int k = 0; k < d; k++) {
            double s1 = 0, s2 = 0;
            int zeros = 0;
            for (int b = 0; b < B; b++)
                for (int i = 0; i < n; i++) {
                    float x = X(&bt, b, i)[k];
                    s1 += x;
                    s2 += (double)x * x;
                    zeros += x == 0.0f && !signbit(x);
                }
            if (k >= da) {
                if (zeros != B * n) {
                    fprintf(stderr, "%s: truncated coordinate %d not exactly +0\n",
                            ic_task_name(ALL[t]), k);
                    ok = 0;
                }
                continue;
            }
            char what[64];
            snprintf(what, sizeof what, "%s mean x[%d]", ic_task_name(ALL[t]), k);
            ok &= near_se(what, s1 / N, 0.0, 1.0 / sqrt(N));
            snprintf(what, sizeof what, "%s E x[%d]^2", ic_task_name(ALL[t]), k);
            ok &= near_se(what, s2 / N, 1.0, sqrt(2.0 / N));
        }
        /* independence of two active coordinates */
        double c = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n; i++) c += (double)X(&bt, b, i)[0] * X(&bt, b, i)[da - 1];
        ok &= near_se("E x[0] x[da-1]", c / N, 0.0, 1.0 / sqrt(N));
        assert_true(ok);
        batch_free(&bt);
    }
}

/* empirical covariance of the active coordinates = x_scale^2 L L^T
 * (SE of E[x_k x_l]: sqrt((S_kk S_ll + S_kl^2) / N) for Gaussian x) */
static void test_x_scale_and_covariance(void **st) {
    (void)st;
    const int d = 4, da = 3, B = 200, n = 100;
    const double N = (double)B * n, xsc = 1.5;
    const float L[16] = {
        1.0f, 0.0f,  0.0f, 0.0f, /* */
        0.5f, 2.0f,  0.0f, 0.0f, /* */
        -1.f, 0.25f, 0.5f, 0.0f, /* */
        3.0f, 1.0f,  1.0f, 1.0f, /* mixes into the truncated coordinate */
    };
    double S[4][4];
    for (int k = 0; k < d; k++)
        for (int l = 0; l < d; l++) {
            double v = 0;
            for (int j = 0; j < d; j++) v += (double)L[k * d + j] * L[l * d + j];
            S[k][l] = xsc * xsc * v;
        }
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_LINEAR, d);
    s.x_scale = xsc;
    s.x_cov_sqrt = L;
    batch bt;
    draw(&s, 7, B, n, da, &bt);
    int ok = 1;
    for (int k = 0; k < d; k++) {
        double m = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n; i++) m += X(&bt, b, i)[k];
        if (k >= da) {
            for (int b = 0; b < B; b++)
                for (int i = 0; i < n; i++) assert_true(X(&bt, b, i)[k] == 0.0f);
            continue;
        }
        ok &= near_se("mean x_k", m / N, 0, sqrt(S[k][k] / N));
        for (int l = 0; l < da; l++) {
            double c = 0;
            for (int b = 0; b < B; b++)
                for (int i = 0; i < n; i++) c += (double)X(&bt, b, i)[k] * X(&bt, b, i)[l];
            char what[64];
            snprintf(what, sizeof what, "cov[%d][%d]", k, l);
            ok &= near_se(what, c / N, S[k][l], sqrt((S[k][k] * S[l][l] + S[k][l] * S[k][l]) / N));
        }
    }
    assert_true(ok);
    /* y is computed from the scaled, correlated x */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            double mag, r = ref_y(&s, &bt.p, b, X(&bt, b, i), &mag);
            assert_true(fabs(Y(&bt, b, i) - r) <= 1e-6 * (1 + mag));
        }
    batch_free(&bt);

    /* x_scale alone: variance x_scale^2 */
    ic_task_spec_default(&s, IC_TASK_QUADRATIC, 3);
    s.x_scale = 0.25;
    draw(&s, 8, B, n, 3, &bt);
    double v = 0;
    for (size_t i = 0; i < (size_t)B * n * 3; i++) v += (double)bt.xs[i] * bt.xs[i];
    assert_true(near_se("E x^2, x_scale 0.25", v / (3 * N), 0.0625, 0.0625 * sqrt(2.0 / (3 * N))));
    batch_free(&bt);
}

/* ---------------- y = definition ---------------- */

static void check_definition(ic_task_kind kind, double y_scale, int d, int da) {
    ic_task_spec s;
    ic_task_spec_default(&s, kind, d);
    s.y_scale = y_scale;
    s.hidden = 17;
    s.depth = 3;
    s.noise_std = 0.0; /* noisy: y = definition exactly when the noise is 0 */
    const int B = 40, n = 25;
    batch bt;
    draw(&s, 11 + (uint64_t)kind, B, n, da, &bt);
    assert_int_equal(bt.p.kind, kind);
    assert_int_equal(bt.p.B, B);
    assert_int_equal(bt.p.n_dims, d);
    assert_int_equal(bt.p.d_active, da);
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            const float *x = X(&bt, b, i);
            double mag, r = ref_y(&s, &bt.p, b, x, &mag);
            float y = Y(&bt, b, i), e;
            if (kind == IC_TASK_LINEAR_CLASSIFICATION) {
                /* +-y_scale, and the sign of x.w unless x.w is at rounding level */
                assert_true(y == (float)y_scale || y == (float)-y_scale);
                double dot = 0;
                for (int k = 0; k < d; k++) dot += (double)x[k] * bt.p.w[(size_t)b * d + k];
                if (fabs(dot) > 1e-9 && y != (float)r) bad++;
            } else if (!(fabs(y - r) <= 1e-6 * (1 + mag))) {
                if (bad < 5)
                    fprintf(stderr, "%s b=%d i=%d: y %.9g, definition %.9g\n", ic_task_name(kind),
                            b, i, y, r);
                bad++;
            }
            /* ic_task_eval is the sampler's own routine: bit-equal */
            assert_int_equal(ic_task_eval(&s, &bt.p, b, x, &e), 0);
            assert_memory_equal(&e, &y, sizeof y);
        }
    assert_int_equal(bad, 0);
    batch_free(&bt);
}

static void test_y_definitions(void **st) {
    (void)st;
    for (int t = 0; t < IC_NUM_TASKS; t++) {
        check_definition(ALL[t], 1.0, 6, 6);
        check_definition(ALL[t], -2.5, 9, 4);
    }
}

/* ---------------- per-task distributions ---------------- */

/* linear: given w, y_i ~ N(0, |w_a|^2) iid, so the per-prompt mean m of y^2 has
 * E m = d_a, Var m = Var|w_a|^2 + E[2|w_a|^4]/n = 2 d_a + 2 (d_a^2 + 2 d_a)/n,
 * all times c^4 where c = x_scale * y_scale. */
static void linear_second_moment(double x_scale, double y_scale, uint64_t seed) {
    const int d = 10, da = 6, B = 3000, n = 8;
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_LINEAR, d);
    s.x_scale = x_scale;
    s.y_scale = y_scale;
    batch bt;
    draw(&s, seed, B, n, da, &bt);
    double c2 = x_scale * x_scale * y_scale * y_scale, m = 0;
    for (size_t i = 0; i < (size_t)B * n; i++) m += (double)bt.ys[i] * bt.ys[i];
    m /= (double)B * n;
    double var = 2.0 * da + 2.0 * (da * da + 2.0 * da) / n;
    char what[80];
    snprintf(what, sizeof what, "linear E y^2 (x_scale %g, y_scale %g)", x_scale, y_scale);
    assert_true(near_se(what, m, c2 * da, c2 * sqrt(var / B)));
    batch_free(&bt);
}

static void test_linear_variance(void **st) {
    (void)st;
    linear_second_moment(1.0, 1.0, 21);
    linear_second_moment(1.0, 3.0, 22);
    linear_second_moment(0.5, 1.0, 23);
}

static void test_sparse(void **st) {
    (void)st;
    const int d = 10, da = 7, B = 7000, n = 2;
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_SPARSE_LINEAR, d);
    batch bt;
    draw(&s, 31, B, n, da, &bt);
    int count[10] = {0}, pair[10][10];
    memset(pair, 0, sizeof pair);
    double v2 = 0;
    int nv = 0;
    for (int b = 0; b < B; b++) {
        const float *w = bt.p.w + (size_t)b * d;
        int nz = 0;
        for (int k = 0; k < d; k++)
            if (w[k] != 0.0f) {
                assert_true(k < da);
                nz++;
                count[k]++;
                v2 += (double)w[k] * w[k];
                nv++;
                for (int l = 0; l < k; l++)
                    if (w[l] != 0.0f) pair[k][l]++;
            }
        assert_int_equal(nz, 3);
    }
    int ok = 1;
    /* each active coordinate kept with probability 3/7; each pair 3*2/(7*6) */
    double p1 = 3.0 / 7, p2 = 1.0 / 7;
    for (int k = 0; k < da; k++) {
        ok &= near_se("P(coordinate kept)", (double)count[k] / B, p1, sqrt(p1 * (1 - p1) / B));
        for (int l = 0; l < k; l++)
            ok &= near_se("P(pair kept)", (double)pair[k][l] / B, p2, sqrt(p2 * (1 - p2) / B));
    }
    /* the kept values are N(0,1) */
    ok &= near_se("E w_kept^2", v2 / nv, 1.0, sqrt(2.0 / nv));
    double m = 0;
    for (int b = 0; b < B; b++) m += (double)Y(&bt, b, 0) * Y(&bt, b, 0);
    /* E y^2 = sparsity = 3; given w, y ~ N(0, |w|^2), so E y^4 = 3 E|w|^4 = 3 (9 + 6)
     * and Var y^2 = 45 - 9 = 36 */
    ok &= near_se("sparse E y^2", m / B, 3.0, 6.0 / sqrt(B));
    assert_true(ok);
    batch_free(&bt);

    /* sparsity > d_active: all active coordinates kept */
    s.sparsity = 5;
    draw(&s, 32, 50, 3, 3, &bt);
    for (int b = 0; b < 50; b++)
        for (int k = 0; k < d; k++) assert_true((bt.p.w[(size_t)b * d + k] != 0.0f) == (k < 3));
    batch_free(&bt);
    /* sparsity == d_active == d */
    s.sparsity = 4;
    ic_task_spec_default(&s, IC_TASK_SPARSE_LINEAR, 4);
    s.sparsity = 4;
    draw(&s, 33, 20, 3, 4, &bt);
    for (size_t i = 0; i < 20 * 4; i++) assert_true(bt.p.w[i] != 0.0f);
    batch_free(&bt);
}

static void test_noisy(void **st) {
    (void)st;
    const int d = 5, B = 400, n = 30;
    const double N = (double)B * n;
    for (int rep = 0; rep < 2; rep++) {
        double sd = rep ? 0.3 : 1.0, ysc = rep ? 2.0 : 1.0;
        ic_task_spec s;
        ic_task_spec_default(&s, IC_TASK_NOISY_LINEAR, d);
        if (rep) s.noise_std = sd;
        s.y_scale = ysc;
        batch bt;
        draw(&s, 41 + (uint64_t)rep, B, n, 4, &bt);
        double m1 = 0, m2 = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n; i++) {
                float clean;
                assert_int_equal(ic_task_eval(&s, &bt.p, b, X(&bt, b, i), &clean), 0);
                double mag, r = ref_y(&s, &bt.p, b, X(&bt, b, i), &mag);
                assert_true(fabs(clean - r) <= 1e-6 * (1 + mag));
                double e = (double)Y(&bt, b, i) - r;
                m1 += e;
                m2 += e * e;
            }
        /* the noise is added after y_scale: its std is noise_std whatever y_scale */
        int ok = near_se("noise mean", m1 / N, 0, sd / sqrt(N));
        ok &= near_se("noise variance", m2 / N, sd * sd, sd * sd * sqrt(2.0 / N));
        assert_true(ok);
        batch_free(&bt);
    }
}

static void test_classification(void **st) {
    (void)st;
    const int d = 6, B = 4000, n = 3;
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_LINEAR_CLASSIFICATION, d);
    batch bt;
    draw(&s, 51, B, n, d, &bt);
    int pos = 0;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < n; i++) assert_true(Y(&bt, b, i) == 1.0f || Y(&bt, b, i) == -1.0f);
        pos += Y(&bt, b, 0) > 0;
    }
    assert_true(near_se("P(y = +1)", (double)pos / B, 0.5, 0.5 / sqrt(B)));
    batch_free(&bt);
    /* sign(0) = +1: x.w = 0 exactly on an all-zero x */
    ic_task_params p;
    memset(&p, 0, sizeof p);
    float xs[6], ys[1];
    ic_rng rng;
    ic_rng_seed(&rng, 5);
    ic_err err;
    assert_int_equal(ic_task_sample(&s, &rng, 1, 1, d, xs, ys, &p, &err), 0);
    float zero[6] = {0}, y;
    assert_int_equal(ic_task_eval(&s, &p, 0, zero, &y), 0);
    assert_true(y == 1.0f);
    ic_task_params_free(&p);
}

/* quadratic: E[y^2 | w] = (2 |w_a|^2 + (sum w_a)^2) / 3, so E y^2 = d_a. The
 * SE comes from the spread of per-prompt means (prompts are independent). */
static void test_quadratic_variance(void **st) {
    (void)st;
    const int d = 8, da = 5, B = 3000, n = 10;
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_QUADRATIC, d);
    batch bt;
    draw(&s, 61, B, n, da, &bt);
    double *pm = tu_dalloc(B), *dev = tu_dalloc(B);
    for (int b = 0; b < B; b++) {
        const float *w = bt.p.w + (size_t)b * d;
        double w2 = 0, sw = 0;
        for (int k = 0; k < da; k++) {
            w2 += (double)w[k] * w[k];
            sw += w[k];
        }
        for (int i = 0; i < n; i++) pm[b] += (double)Y(&bt, b, i) * Y(&bt, b, i) / n;
        dev[b] = pm[b] - (2 * w2 + sw * sw) / 3;
    }
    double m, se;
    mean_se(pm, B, &m, &se);
    int ok = near_se("quadratic E y^2", m, da, se);
    mean_se(dev, B, &m, &se);
    ok &= near_se("quadratic E[y^2 | w] - formula", m, 0, se);
    assert_true(ok);
    free(pm);
    free(dev);
    batch_free(&bt);
}

/* relu_2nn: given x, u_j = x.W1[:,j] ~ N(0, |x|^2) independent over j and
 * independent of W2, so E[relu(u_j)^2 W2_j^2] = |x|^2 / 2 and the cross terms
 * vanish (E W2_j = 0): E[y^2 | x] = (2/h) h |x|^2 / 2 = |x|^2, for every h.
 * Hence E y^2 = E|x|^2 = d_a x_scale^2 (times y_scale^2), and E y = 0. */
static void relu_moments(int h, double x_scale, uint64_t seed) {
    const int d = 8, da = 5, B = 2000, n = 10;
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_RELU2NN, d);
    s.hidden = h;
    s.x_scale = x_scale;
    batch bt;
    draw(&s, seed, B, n, da, &bt);
    double *m2 = tu_dalloc(B), *m1 = tu_dalloc(B), *dev = tu_dalloc(B);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            double y = Y(&bt, b, i), x2 = 0;
            for (int k = 0; k < d; k++) x2 += (double)X(&bt, b, i)[k] * X(&bt, b, i)[k];
            m2[b] += y * y / n;
            m1[b] += y / n;
            dev[b] += (y * y - x2) / n;
        }
    double m, se;
    char what[64];
    int ok = 1;
    mean_se(m2, B, &m, &se);
    snprintf(what, sizeof what, "relu_2nn E y^2 (h=%d)", h);
    ok &= near_se(what, m, da * x_scale * x_scale, se);
    mean_se(dev, B, &m, &se);
    ok &= near_se("relu_2nn E[y^2 - |x|^2]", m, 0, se);
    mean_se(m1, B, &m, &se);
    ok &= near_se("relu_2nn E y", m, 0, se);
    assert_true(ok);
    free(m1);
    free(m2);
    free(dev);
    batch_free(&bt);
}

static void test_relu2nn_moments(void **st) {
    (void)st;
    relu_moments(100, 1.0, 71);
    relu_moments(3, 2.0, 72);
}

/* ---------------- decision tree ---------------- */

/* hand-built depth-2 tree over d = 3:
 *        0:[x0]
 *      /        \
 *   1:[x1]     2:[x2]
 *   /   \      /    \
 *  3:10 4:20  5:30  6:40      (left when x[f] <= 0) */
static void test_tree_routing_hand_built(void **st) {
    (void)st;
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_DECISION_TREE, 3);
    s.depth = 2;
    int feat[7] = {0, 1, 2, -1, -1, -1, -1};
    float val[7] = {0, 0, 0, 10, 20, 30, 40};
    ic_task_params p;
    memset(&p, 0, sizeof p);
    p.kind = IC_TASK_DECISION_TREE;
    p.B = 1;
    p.n_dims = 3;
    p.d_active = 3;
    p.depth = 2;
    p.n_nodes = 7;
    p.dt_feature = feat;
    p.dt_value = val;
    struct {
        float x[3];
        float y;
    } cases[] = {
        {{-1, -1, -1}, 10}, {{-1, 2, -5}, 20},  {{3, -1, -1}, 30},   {{3, -9, 0.5f}, 40},
        {{0, 0, 0}, 10},    {{-0.0f, 1e-30f, 0}, 20}, {{1e-30f, 5, 0}, 30}, {{-2, 0, 7}, 10},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        float y = -1;
        assert_int_equal(ic_task_eval(&s, &p, 0, cases[c].x, &y), 0);
        assert_true(y == cases[c].y);
    }
    /* y_scale applies */
    s.y_scale = -0.5;
    float y;
    assert_int_equal(ic_task_eval(&s, &p, 0, cases[3].x, &y), 0);
    assert_true(y == -20.0f);
    /* a feature index outside 0..d-1 on the path is refused */
    feat[2] = 3;
    assert_int_equal(ic_task_eval(&s, &p, 0, cases[3].x, &y), -1);
    assert_int_equal(ic_task_eval(&s, &p, 0, cases[0].x, &y), 0); /* path avoids node 2 */
    feat[2] = 2;
    /* misuse */
    assert_int_equal(ic_task_eval(&s, &p, 1, cases[0].x, &y), -1);
    assert_int_equal(ic_task_eval(&s, &p, -1, cases[0].x, &y), -1);
    assert_int_equal(ic_task_eval(&s, NULL, 0, cases[0].x, &y), -1);
    ic_task_spec other;
    ic_task_spec_default(&other, IC_TASK_LINEAR, 3);
    assert_int_equal(ic_task_eval(&other, &p, 0, cases[0].x, &y), -1);
    other.kind = IC_TASK_DECISION_TREE;
    other.n_dims = 4;
    assert_int_equal(ic_task_eval(&other, &p, 0, cases[0].x, &y), -1);

    /* with Gaussian x and distinct features on every path, each leaf is
     * reached with probability 1/4 */
    ic_task_spec xs_spec;
    ic_task_spec_default(&xs_spec, IC_TASK_LINEAR, 3);
    batch bt;
    const int n = 20000;
    draw(&xs_spec, 81, 1, n, 3, &bt);
    s.y_scale = 1;
    int cnt[4] = {0};
    for (int i = 0; i < n; i++) {
        assert_int_equal(ic_task_eval(&s, &p, 0, X(&bt, 0, i), &y), 0);
        cnt[(int)(y / 10) - 1]++;
    }
    for (int l = 0; l < 4; l++)
        assert_true(near_se("hand tree leaf frequency", (double)cnt[l] / n, 0.25,
                            sqrt(0.25 * 0.75 / n)));
    batch_free(&bt);
}

/* Exact probability that Gaussian x (independent, symmetric coordinates)
 * reaches leaf `leaf` of a tree: 1/2 per first use of a feature on the path,
 * 1 or 0 for a repeated feature (consistent or contradicting). */
static double leaf_prob(const int *feat, int depth, int leaf) {
    int dir[32], fs[32];
    int node = leaf;
    for (int lvl = depth - 1; lvl >= 0; lvl--) {
        int parent = (node - 1) / 2;
        dir[lvl] = node == 2 * parent + 2; /* 1 = right = x > 0 */
        fs[lvl] = feat[parent];
        node = parent;
    }
    double p = 1;
    for (int a = 0; a < depth; a++) {
        int seen = -1;
        for (int c = 0; c < a; c++)
            if (fs[c] == fs[a]) seen = dir[c];
        if (seen < 0) p *= 0.5;
        else if (seen != dir[a]) return 0;
    }
    return p;
}

static void test_tree_sampled(void **st) {
    (void)st;
    const int d = 6, da = 4, depth = 3, B = 300, n = 400;
    ic_task_spec s;
    ic_task_spec_default(&s, IC_TASK_DECISION_TREE, d);
    s.depth = depth;
    batch bt;
    draw(&s, 91, B, n, da, &bt);
    const int nn = bt.p.n_nodes, first_leaf = (1 << depth) - 1;
    assert_int_equal(nn, 15);
    assert_int_equal(bt.p.depth, depth);
    int fcount[6] = {0}, bad = 0;
    double v1 = 0, v2 = 0, pooled_n = 0;
    double pooled[8] = {0};
    for (int b = 0; b < B; b++) {
        const int *feat = bt.p.dt_feature + (size_t)b * nn;
        const float *val = bt.p.dt_value + (size_t)b * nn;
        for (int i = 0; i < nn; i++) {
            if (i < first_leaf) {
                assert_true(feat[i] >= 0 && feat[i] < da);
                fcount[feat[i]]++;
                assert_true(val[i] == 0.0f);
            } else {
                assert_int_equal(feat[i], -1);
                v1 += val[i];
                v2 += (double)val[i] * val[i];
            }
        }
        int cnt[8] = {0};
        for (int i = 0; i < n; i++) {
            int leaf = ref_leaf(feat, depth, X(&bt, b, i));
            assert_true(Y(&bt, b, i) == val[leaf]);
            cnt[leaf - first_leaf]++;
        }
        int distinct = 1; /* all internal features of this tree on a path distinct? */
        for (int l = 0; l < 8; l++) {
            double p = leaf_prob(feat, depth, first_leaf + l);
            if (p != 0.125) distinct = 0;
            double se = sqrt(n * p * (1 - p));
            if (fabs(cnt[l] - n * p) > NSE * se + 1e-9) {
                if (bad < 5)
                    fprintf(stderr, "tree %d leaf %d: %d hits, expected %g +- %g\n", b, l, cnt[l],
                            n * p, NSE * se);
                bad++;
            }
        }
        if (distinct) {
            for (int l = 0; l < 8; l++) pooled[l] += cnt[l];
            pooled_n += n;
        }
    }
    assert_int_equal(bad, 0);
    int ok = 1;
    /* trees whose paths use distinct features: every leaf 1/2^depth */
    assert_true(pooled_n > 0);
    for (int l = 0; l < 8; l++)
        ok &= near_se("pooled leaf frequency", pooled[l] / pooled_n, 0.125,
                      sqrt(0.125 * 0.875 / pooled_n));
    /* features uniform over the active dims */
    double ni = (double)B * first_leaf;
    for (int k = 0; k < da; k++)
        ok &= near_se("feature frequency", fcount[k] / ni, 1.0 / da,
                      sqrt((1.0 / da) * (1 - 1.0 / da) / ni));
    /* leaf values N(0,1) */
    double nl = (double)B * (first_leaf + 1);
    ok &= near_se("leaf value mean", v1 / nl, 0, 1 / sqrt(nl));
    ok &= near_se("leaf value E v^2", v2 / nl, 1, sqrt(2 / nl));
    assert_true(ok);
    batch_free(&bt);
}

/* ---------------- RNG order and reproducibility ---------------- */

/* Replays the documented order draw by draw (tasks.h / docs/tasks.md). */
static void replay(const ic_task_spec *s, uint64_t seed, int B, int n, int da, float *xs,
                   float *w, float *W1, float *W2, int *feat, float *val, float *noise) {
    ic_rng r;
    ic_rng_seed(&r, seed);
    int d = s->n_dims, h = s->hidden;
    for (int b = 0; b < B; b++) {
        switch (s->kind) {
        case IC_TASK_RELU2NN:
            for (int i = 0; i < d * h; i++) W1[(size_t)b * d * h + i] = (float)ic_rng_normal(&r);
            for (int j = 0; j < h; j++) W2[(size_t)b * h + j] = (float)ic_rng_normal(&r);
            break;
        case IC_TASK_DECISION_TREE: {
            int fl = (1 << s->depth) - 1, nn = 2 * fl + 1;
            for (int i = 0; i < fl; i++)
                feat[(size_t)b * nn + i] = (int)ic_rng_below(&r, (uint64_t)da);
            for (int i = fl; i < nn; i++) val[(size_t)b * nn + i] = (float)ic_rng_normal(&r);
            break;
        }
        default: {
            float *wb = w + (size_t)b * d;
            for (int k = 0; k < d; k++) wb[k] = (float)ic_rng_normal(&r);
            if (s->kind == IC_TASK_SPARSE_LINEAR) {
                int idx[64], keep = s->sparsity < da ? s->sparsity : da, on[64] = {0};
                for (int k = 0; k < da; k++) idx[k] = k;
                for (int t = 0; t < keep; t++) {
                    int j = t + (int)ic_rng_below(&r, (uint64_t)(da - t)), tmp = idx[t];
                    idx[t] = idx[j];
                    idx[j] = tmp;
                }
                for (int t = 0; t < keep; t++) on[idx[t]] = 1;
                for (int k = 0; k < d; k++)
                    if (!on[k]) wb[k] = 0;
            }
        }
        }
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++) {
                double z = ic_rng_normal(&r);
                xs[((size_t)b * n + i) * d + k] = k < da ? (float)(s->x_scale * z) : 0.0f;
            }
        if (s->kind == IC_TASK_NOISY_LINEAR)
            for (int i = 0; i < n; i++) noise[(size_t)b * n + i] = (float)ic_rng_normal(&r);
    }
}

static void test_rng_order(void **st) {
    (void)st;
    const int d = 5, da = 4, B = 3, n = 4;
    for (int t = 0; t < IC_NUM_TASKS; t++) {
        ic_task_spec s;
        ic_task_spec_default(&s, ALL[t], d);
        s.hidden = 6;
        s.depth = 2;
        s.x_scale = 2.0;
        s.noise_std = 0.5;
        batch bt;
        draw(&s, 1234, B, n, da, &bt);
        float *xs = tu_falloc((size_t)B * n * d), *w = tu_falloc((size_t)B * d),
              *W1 = tu_falloc((size_t)B * d * 6), *W2 = tu_falloc((size_t)B * 6),
              *val = tu_falloc((size_t)B * 7), *noise = tu_falloc((size_t)B * n);
        int feat[3 * 7];
        replay(&s, 1234, B, n, da, xs, w, W1, W2, feat, val, noise);
        assert_memory_equal(xs, bt.xs, (size_t)B * n * d * sizeof(float));
        switch (ALL[t]) {
        case IC_TASK_RELU2NN:
            assert_memory_equal(W1, bt.p.W1, (size_t)B * d * 6 * sizeof(float));
            assert_memory_equal(W2, bt.p.W2, (size_t)B * 6 * sizeof(float));
            break;
        case IC_TASK_DECISION_TREE:
            for (int b = 0; b < B; b++) {
                assert_memory_equal(feat + b * 7, bt.p.dt_feature + b * 7, 3 * sizeof(int));
                assert_memory_equal(val + b * 7 + 3, bt.p.dt_value + b * 7 + 3, 4 * sizeof(float));
            }
            break;
        default:
            assert_memory_equal(w, bt.p.w, (size_t)B * d * sizeof(float));
        }
        if (ALL[t] == IC_TASK_NOISY_LINEAR) {
            for (int b = 0; b < B; b++)
                for (int i = 0; i < n; i++) {
                    double mag, r = ref_y(&s, &bt.p, b, X(&bt, b, i), &mag);
                    assert_true(fabs(Y(&bt, b, i) - (r + 0.5 * noise[b * n + i])) <=
                                1e-6 * (1 + mag + fabs(noise[b * n + i])));
                }
        }
        free(xs);
        free(w);
        free(W1);
        free(W2);
        free(val);
        free(noise);
        batch_free(&bt);
    }
}

static void test_reproducible(void **st) {
    (void)st;
    const int d = 6, da = 5, B = 5, n = 7;
    for (int t = 0; t < IC_NUM_TASKS; t++) {
        ic_task_spec s;
        ic_task_spec_default(&s, ALL[t], d);
        s.hidden = 9;
        batch a, b, c, pre;
        ic_rng ra, rb;
        ic_rng_seed(&ra, 42);
        ic_rng_seed(&rb, 42);
        draw_rng(&s, &ra, B, n, da, &a);
        draw_rng(&s, &rb, B, n, da, &b);
        assert_memory_equal(a.xs, b.xs, (size_t)B * n * d * sizeof(float));
        assert_memory_equal(a.ys, b.ys, (size_t)B * n * sizeof(float));
        assert_rng_equal(&ra, &rb);
        if (a.p.w) assert_memory_equal(a.p.w, b.p.w, (size_t)B * d * sizeof(float));
        if (a.p.W1) assert_memory_equal(a.p.W1, b.p.W1, (size_t)B * d * 9 * sizeof(float));
        if (a.p.dt_feature) {
            assert_memory_equal(a.p.dt_feature, b.p.dt_feature,
                                (size_t)B * a.p.n_nodes * sizeof(int));
            assert_memory_equal(a.p.dt_value, b.p.dt_value,
                                (size_t)B * a.p.n_nodes * sizeof(float));
        }
        /* a different seed gives different data */
        draw(&s, 43, B, n, da, &c);
        assert_true(memcmp(a.xs, c.xs, (size_t)B * n * d * sizeof(float)) != 0);
        assert_true(memcmp(a.ys, c.ys, (size_t)B * n * sizeof(float)) != 0);
        /* a smaller batch is a prefix of the larger one */
        draw(&s, 42, 2, n, da, &pre);
        assert_memory_equal(pre.xs, a.xs, (size_t)2 * n * d * sizeof(float));
        assert_memory_equal(pre.ys, a.ys, (size_t)2 * n * sizeof(float));
        /* params = NULL: same output, same stream */
        ic_rng rn;
        ic_rng_seed(&rn, 42);
        float *xs = tu_falloc((size_t)B * n * d), *ys = tu_falloc((size_t)B * n);
        ic_err err;
        assert_int_equal(ic_task_sample(&s, &rn, B, n, da, xs, ys, NULL, &err), 0);
        assert_memory_equal(xs, a.xs, (size_t)B * n * d * sizeof(float));
        assert_memory_equal(ys, a.ys, (size_t)B * n * sizeof(float));
        assert_rng_equal(&rn, &ra);
        /* a saved RNG state resumes the exact stream (mid-stream, odd spare) */
        ic_rng saved = ra;
        assert_int_equal(ic_task_sample(&s, &ra, B, n, da, xs, ys, NULL, &err), 0);
        float *xs2 = tu_falloc((size_t)B * n * d), *ys2 = tu_falloc((size_t)B * n);
        assert_int_equal(ic_task_sample(&s, &saved, B, n, da, xs2, ys2, NULL, &err), 0);
        assert_memory_equal(xs, xs2, (size_t)B * n * d * sizeof(float));
        assert_memory_equal(ys, ys2, (size_t)B * n * sizeof(float));
        /* reusing a params struct frees the old buffers (ASan checks the leak) */
        assert_int_equal(ic_task_sample(&s, &ra, B, n, da, xs, ys, &a.p, &err), 0);
        assert_int_equal(a.p.B, B);
        free(xs);
        free(ys);
        free(xs2);
        free(ys2);
        batch_free(&a);
        batch_free(&b);
        batch_free(&c);
        batch_free(&pre);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_parse),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_spec_to_json),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_x_moments_all_tasks),
        cmocka_unit_test(test_x_scale_and_covariance),
        cmocka_unit_test(test_y_definitions),
        cmocka_unit_test(test_linear_variance),
        cmocka_unit_test(test_sparse),
        cmocka_unit_test(test_noisy),
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_quadratic_variance),
        cmocka_unit_test(test_relu2nn_moments),
        cmocka_unit_test(test_tree_routing_hand_built),
        cmocka_unit_test(test_tree_sampled),
        cmocka_unit_test(test_rng_order),
        cmocka_unit_test(test_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
