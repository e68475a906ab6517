/* test_shifts.c: each distribution shift's statistics, and per-position
 * evaluation plumbing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "shifts.h"

enum { B = 4000, N = 8, D = 6 };

typedef struct {
    float *xs, *ys, *qx, *qy;
} batch;

static batch sample(const char *setting, uint64_t seed) {
    batch b = {malloc(sizeof(float) * B * N * D), malloc(sizeof(float) * B * N), malloc(sizeof(float) * B * N * D),
               malloc(sizeof(float) * B * N)};
    ic_shift s;
    ic_err err;
    assert_int_equal(ic_shift_parse(setting, &s, &err), 0);
    ic_task_spec t;
    ic_task_spec_default(&t, IC_TASK_LINEAR, D);
    ic_rng r;
    ic_rng_seed(&r, seed);
    assert_int_equal(ic_shift_sample(&t, &s, &r, B, N, b.xs, b.ys, b.qx, b.qy, &err), 0);
    return b;
}

static void batch_free(batch *b) {
    free(b->xs);
    free(b->ys);
    free(b->qx);
    free(b->qy);
}

/* empirical second-moment matrix of all context points */
static void second_moment(const float *xs, double S[D][D]) {
    memset(S, 0, sizeof(double) * D * D);
    for (long p = 0; p < (long)B * N; p++)
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++) S[i][j] += (double)xs[p * D + i] * xs[p * D + j] / ((double)B * N);
}

static void test_parse(void **st) {
    (void)st;
    ic_shift s;
    ic_err err;
    char buf[64];
    const char *ok[] = {"standard", "noisy", "noisy:0.5", "scale_x:2", "scale_y:0.333", "skewed", "half_subspace",
                        "random_quadrants", "orthogonal_query", "overlapping_query"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(ic_shift_parse(ok[i], &s, &err), 0);
        ic_shift_label(&s, buf, sizeof buf);
        ic_shift s2;
        assert_int_equal(ic_shift_parse(buf, &s2, &err), 0);
        assert_int_equal(s2.kind, s.kind);
        assert_true(s2.value == s.value || (isnan(s2.value) && isnan(s.value)));
    }
    const char *bad[] = {"", "scale_x", "scale_x:0", "scale_x:-1", "skewed:2", "sideways", "noisy:x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(ic_shift_parse(bad[i], &s, &err), -1);
    assert_int_equal(ic_shift_parse("sideways", &s, &err), -1);
    assert_non_null(strstr(err.msg, "orthogonal_query")); // lists the valid names
}

static void test_skewed_and_half_subspace(void **st) {
    (void)st;
    double S[D][D];
    batch b = sample("skewed", 1);
    second_moment(b.xs, S);
    double tr = 0;
    for (int i = 0; i < D; i++) tr += S[i][i];
    assert_true(fabs(tr - D) < 0.05 * D); // trace d (Garg et al.)
    batch_free(&b);
    b = sample("half_subspace", 2);
    second_moment(b.xs, S);
    tr = 0;
    for (int i = 0; i < D; i++) tr += S[i][i];
    assert_true(fabs(tr - D / 2) < 0.05 * D);
    // x lies in a D/2-dim subspace: every 4 consecutive points are linearly dependent,
    // checked through the rank of the second-moment matrix (D/2 eigenvalues ~ 0): det ~ 0
    // and trace of S^2 equals D/2 for a projection-like covariance
    double tr2 = 0;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) tr2 += S[i][j] * S[j][i];
    assert_true(fabs(tr2 - D / 2) < 0.1 * D);
    batch_free(&b);
}

static void test_scale_and_noise(void **st) {
    (void)st;
    double S[D][D];
    batch b = sample("scale_x:2", 3);
    second_moment(b.xs, S);
    for (int i = 0; i < D; i++) assert_true(fabs(S[i][i] - 4.0) < 0.25);
    batch_free(&b);
    // scale_y: same x and w stream as standard (same seed), y times the factor
    batch a = sample("standard", 4), c = sample("scale_y:3", 4);
    assert_memory_equal(a.xs, c.xs, sizeof(float) * B * N * D);
    for (int i = 0; i < B * N; i++) assert_true(fabs(c.ys[i] - 3.0 * a.ys[i]) <= 1e-4 * (1 + fabs(c.ys[i])));
    batch_free(&a);
    batch_free(&c);
}

static void test_query_shifts(void **st) {
    (void)st;
    batch b = sample("random_quadrants", 5);
    for (int p = 0; p < B; p++)
        for (int j = 0; j < D; j++) {
            float s0 = b.xs[((size_t)p * N) * D + j] >= 0 ? 1.0f : -1.0f;
            for (int k = 1; k < N; k++) assert_true((b.xs[((size_t)p * N + k) * D + j] >= 0 ? 1.0f : -1.0f) == s0);
        }
    batch_free(&b);
    b = sample("overlapping_query", 6);
    for (int p = 0; p < 200; p++)
        for (int k = 1; k < N; k++) {
            int found = 0;
            for (int c = 0; c < k && !found; c++)
                found = !memcmp(b.qx + ((size_t)p * N + k) * D, b.xs + ((size_t)p * N + c) * D, sizeof(float) * D);
            assert_true(found);
            // its target is the same as that context point's
        }
    batch_free(&b);
    b = sample("orthogonal_query", 7);
    for (int p = 0; p < 200; p++)
        for (int k = 1; k < N && k < D; k++) {
            const float *q = b.qx + ((size_t)p * N + k) * D;
            double qn = 0, xn = 0;
            for (int j = 0; j < D; j++) { qn += q[j] * q[j]; xn += b.xs[((size_t)p * N + k) * D + j] * b.xs[((size_t)p * N + k) * D + j]; }
            assert_true(fabs(qn - xn) < 1e-3 * (1 + xn)); // norm kept
            for (int c = 0; c < k; c++) {
                double dot = 0, cn = 0;
                for (int j = 0; j < D; j++) { dot += q[j] * b.xs[((size_t)p * N + c) * D + j]; cn += b.xs[((size_t)p * N + c) * D + j] * b.xs[((size_t)p * N + c) * D + j]; }
                assert_true(fabs(dot) < 1e-4 * sqrt(qn * cn) + 1e-5);
            }
        }
    batch_free(&b);
}

/* Per-position evaluation with an unshifted query equals the ordinary one
 * for a causal predictor (least squares). */
static void test_per_position_plumbing(void **st) {
    (void)st;
    batch b = sample("standard", 8);
    enum { BB = 50 };
    float *p1 = malloc(sizeof(float) * BB * N), *p2 = malloc(sizeof(float) * BB * N);
    ic_baseline_spec ls;
    ic_err err;
    assert_int_equal(ic_baseline_parse("least_squares", &ls, &err), 0);
    assert_int_equal(ic_eval_predict(NULL, NULL, &ls, 0, b.xs, b.ys, NULL, BB, N, D, p1, &err), 0);
    assert_int_equal(ic_eval_predict(NULL, NULL, &ls, 1, b.xs, b.ys, b.xs, BB, N, D, p2, &err), 0);
    for (int i = 0; i < BB * N; i++) assert_true(fabsf(p1[i] - p2[i]) <= 1e-4f * (1 + fabsf(p1[i])));
    free(p1);
    free(p2);
    batch_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_skewed_and_half_subspace),
        cmocka_unit_test(test_scale_and_noise),
        cmocka_unit_test(test_query_shifts),
        cmocka_unit_test(test_per_position_plumbing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
