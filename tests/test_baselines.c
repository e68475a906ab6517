/* test_baselines.c: the classical in-context solvers (src/baselines.h).
 *
 *  - least squares against independent solutions (normal equations for
 *    k >= d, the pseudo-inverse X^T (X X^T)^-1 for k < d), ~0 error on
 *    noiseless linear data;
 *  - ridge against the augmented least-squares problem [X; sqrt(l) I],
 *    and its limit lambda -> 0;
 *  - Newton and GD against their recursions computed here, and their
 *    convergence to least squares;
 *  - Lasso's KKT conditions, sparse recovery, zero columns;
 *  - kNN, averaging, tree on hand-made cases with exact answers;
 *  - the ReLU net lowers its training loss and is deterministic per seed;
 *  - shared semantics: prediction 0 at position 0, prefix = previous pairs
 *    only, thread-count independence, parse/label round trip and errors. */
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
#ifdef _OPENMP
#include <omp.h>
#endif

#include "baselines.h"
#include "testutil.h"

/* ---------------- helpers (plain loops, independent of the library) ---------------- */

/* C [m,n] = A [m,p] B [p,n] */
static void matmul(const double *A, const double *B, int m, int p, int n, double *C) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int l = 0; l < p; l++) s += A[(size_t)i * p + l] * B[(size_t)l * n + j];
            C[(size_t)i * n + j] = s;
        }
}

static void transpose(const double *A, int m, int n, double *T) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) T[(size_t)j * m + i] = A[(size_t)i * n + j];
}

/* S = X^T X [d,d], q = X^T y [d] */
static void normal_eq(const double *X, const double *y, int k, int d, double *S, double *q) {
    for (int i = 0; i < d; i++) {
        for (int j = 0; j < d; j++) {
            double s = 0.0;
            for (int r = 0; r < k; r++) s += X[(size_t)r * d + i] * X[(size_t)r * d + j];
            S[(size_t)i * d + j] = s;
        }
        double s = 0.0;
        for (int r = 0; r < k; r++) s += X[(size_t)r * d + i] * y[r];
        q[i] = s;
    }
}

static double rel_diff(const double *a, const double *b, int n) {
    double num = 0.0, den = 0.0;
    for (int i = 0; i < n; i++) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num) / (sqrt(den) + 1e-300);
}

static void rand_problem(uint64_t seed, int k, int d, double *X, double *y) {
    tu_rng r = tu_rng_make(seed);
    tu_fill(&r, X, (size_t)k * d, 1.0, 0.0);
    tu_fill(&r, y, (size_t)k, 1.0, 0.0);
}

static ic_baseline_spec spec_of(const char *text) {
    ic_baseline_spec s;
    ic_err err;
    int rc = ic_baseline_parse(text, &s, &err);
    if (rc) fprintf(stderr, "parse %s: %s\n", text, err.msg);
    assert_int_equal(rc, 0);
    return s;
}

static void predict_ok(const ic_baseline_spec *s, const float *xs, const float *ys, int B, int n, int d, float *pred) {
    ic_err err;
    int rc = ic_baseline_predict(s, xs, ys, B, n, d, pred, &err);
    if (rc) fprintf(stderr, "predict: %s\n", err.msg);
    assert_int_equal(rc, 0);
}

static int spec_equal(const ic_baseline_spec *a, const ic_baseline_spec *b) {
    return a->kind == b->kind && a->lambda == b->lambda && a->k == b->k && a->alpha == b->alpha &&
           a->steps == b->steps && a->eta == b->eta && a->max_depth == b->max_depth && a->hidden == b->hidden &&
           a->epochs == b->epochs && a->lr == b->lr && a->seed == b->seed;
}

/* Every kind with parameters that keep the tests fast. */
static const char *const ALL[] = {"zero", "least_squares", "ridge:0.1", "averaging", "knn:3", "lasso:0.01",
                                  "gd:100:0.01", "newton:5", "tree", "tree:2", "relu_net:16:50:0.01"};
#define N_ALL ((int)(sizeof ALL / sizeof ALL[0]))

/* ---------------- least squares ---------------- */

static void test_ls_normal_equations(void **state) {
    (void)state;
    const int k = 30, d = 10;
    double X[30 * 10], y[30], w[10], S[100], q[10];
    rand_problem(1, k, d, X, y);
    ic_err err;
    assert_int_equal(ic_solve_least_squares(X, y, k, d, w, &err), 0);
    normal_eq(X, y, k, d, S, q);
    assert_int_equal(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', d, 1, S, d, q, 1), 0);
    assert_true(rel_diff(w, q, d) < 1e-10);
}

static void test_ls_min_norm(void **state) {
    (void)state;
    const int k = 5, d = 12;
    double X[5 * 12], y[5], w[12], Xt[12 * 5], G[25], z[5], wref[12];
    rand_problem(2, k, d, X, y);
    ic_err err;
    assert_int_equal(ic_solve_least_squares(X, y, k, d, w, &err), 0);
    // X^+ y = X^T (X X^T)^-1 y
    transpose(X, k, d, Xt);
    matmul(X, Xt, k, d, k, G);
    memcpy(z, y, sizeof z);
    assert_int_equal(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', k, 1, G, k, z, 1), 0);
    matmul(Xt, z, d, k, 1, wref);
    assert_true(rel_diff(w, wref, d) < 1e-10);
    // it interpolates
    double f[5];
    matmul(X, w, k, d, 1, f);
    assert_true(tu_max_abs_diff(f, y, k) < 1e-12);
}

static void test_ls_noiseless(void **state) {
    (void)state;
    // double level: exact recovery of w
    const int k = 25, d = 8;
    double X[25 * 8], y[25], wt[8], w[8];
    tu_rng r = tu_rng_make(3);
    tu_fill(&r, X, (size_t)k * d, 1.0, 0.0);
    tu_fill(&r, wt, d, 1.0, 0.0);
    matmul(X, wt, k, d, 1, y);
    ic_err err;
    for (int kk = d; kk <= k; kk++) {
        assert_int_equal(ic_solve_least_squares(X, y, kk, d, w, &err), 0);
        assert_true(tu_max_abs_diff(w, wt, d) < 1e-10);
    }
    // batched float predictions: squared error ~0 once the prefix has d points
    const int B = 8, n = 30, dd = 6;
    float *xs = tu_falloc((size_t)B * n * dd), *ys = tu_falloc((size_t)B * n), *pred = tu_falloc((size_t)B * n);
    tu_fill_f(&r, xs, (size_t)B * n * dd, 1.0, 0.0);
    for (int b = 0; b < B; b++) {
        double wb[6];
        tu_fill(&r, wb, dd, 1.0, 0.0);
        for (int i = 0; i < n; i++) {
            double s = 0.0;
            for (int j = 0; j < dd; j++) s += wb[j] * xs[((size_t)b * n + i) * dd + j];
            ys[(size_t)b * n + i] = (float)s;
        }
    }
    ic_baseline_spec s = spec_of("least_squares");
    predict_ok(&s, xs, ys, B, n, dd, pred);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            const double e = pred[(size_t)b * n + i] - ys[(size_t)b * n + i];
            if (i >= dd) assert_true(e * e < 1e-8);
            else if (i > 0) assert_true(e * e > 1e-8); // underdetermined: it cannot know yet
        }
    // the kept entry point gives the same bits
    float *p2 = tu_falloc((size_t)B * n);
    ic_err err2;
    assert_int_equal(ic_baseline_least_squares(xs, ys, B, n, dd, p2, &err2), 0);
    assert_memory_equal(pred, p2, sizeof(float) * (size_t)B * n);
    free(xs); free(ys); free(pred); free(p2);
}

/* ---------------- ridge ---------------- */

static void ridge_vs_augmented(int k, int d, double lambda, uint64_t seed) {
    double *X = tu_dalloc((size_t)k * d), *y = tu_dalloc(k), *w = tu_dalloc(d);
    double *A = tu_dalloc((size_t)(k + d) * d), *bb = tu_dalloc(k + d);
    rand_problem(seed, k, d, X, y);
    ic_err err;
    assert_int_equal(ic_solve_ridge(X, y, k, d, lambda, w, &err), 0);
    // min |[X; sqrt(l) I] w - [y; 0]| by QR (dgels): a different route to the same w
    memcpy(A, X, sizeof(double) * (size_t)k * d);
    for (int j = 0; j < d; j++) A[(size_t)(k + j) * d + j] = sqrt(lambda);
    memcpy(bb, y, sizeof(double) * (size_t)k);
    assert_int_equal(LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', k + d, d, 1, A, d, bb, 1), 0);
    assert_true(rel_diff(w, bb, d) < 1e-10);
    free(X); free(y); free(w); free(A); free(bb);
}

static void test_ridge_closed_form(void **state) {
    (void)state;
    ridge_vs_augmented(30, 10, 0.1, 4);
    ridge_vs_augmented(4, 10, 0.1, 5);  // fewer points than dimensions
    ridge_vs_augmented(20, 20, 3.0, 6);
    ic_err err;
    double X[4] = {1, 2, 3, 4}, y[2] = {1, 2}, w[2];
    assert_int_equal(ic_solve_ridge(X, y, 2, 2, 0.0, w, &err), -1);
    assert_non_null(strstr(err.msg, "lambda"));
}

static void test_ridge_to_least_squares(void **state) {
    (void)state;
    const int ks[2] = {30, 5};
    for (int c = 0; c < 2; c++) {
        const int k = ks[c], d = 10;
        double X[30 * 10], y[30], w_ls[10], w[10];
        rand_problem(7 + c, k, d, X, y);
        ic_err err;
        assert_int_equal(ic_solve_least_squares(X, y, k, d, w_ls, &err), 0);
        double prev = INFINITY;
        for (double lam = 1.0; lam >= 1e-9; lam *= 1e-2) {
            assert_int_equal(ic_solve_ridge(X, y, k, d, lam, w, &err), 0);
            const double e = rel_diff(w, w_ls, d);
            assert_true(e < prev);
            prev = e;
        }
        assert_true(prev < 1e-6);
    }
}

/* ---------------- Newton ---------------- */

static void test_newton_alpha(void **state) {
    (void)state;
    const int k = 15, d = 6;
    double X[15 * 6], y[15], S[36], q[6], SS[36], St[36], sv[6], sup[5], alpha;
    rand_problem(10, k, d, X, y);
    normal_eq(X, y, k, d, S, q);
    transpose(S, d, d, St);
    matmul(S, St, d, d, d, SS);
    // |S S^T|_2 by SVD (a different LAPACK route from the library's eigenvalues)
    assert_int_equal(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', d, d, SS, d, sv, NULL, 1, NULL, 1, sup), 0);
    ic_err err;
    assert_int_equal(ic_newton_alpha(S, d, &alpha, &err), 0);
    assert_true(fabs(alpha * sv[0] - 1.0) < 1e-12);
    double Z[36] = {0};
    assert_int_equal(ic_newton_alpha(Z, d, &alpha, &err), 0);
    assert_true(alpha == 0.0);
}

static void test_newton_recursion(void **state) {
    (void)state;
    const int k = 12, d = 5;
    double X[12 * 5], y[12], S[25], q[25], M[25], T[25], U[25], w_ref[5], w[5], alpha;
    rand_problem(11, k, d, X, y);
    normal_eq(X, y, k, d, S, q);
    ic_err err;
    assert_int_equal(ic_newton_alpha(S, d, &alpha, &err), 0);
    for (int i = 0; i < 25; i++) M[i] = alpha * S[i];
    for (int steps = 0; steps <= 4; steps++) {
        // w = M_steps X^T y, M_0 = alpha S
        matmul(M, q, d, d, 1, w_ref);
        assert_int_equal(ic_solve_newton(X, y, k, d, steps, w, &err), 0);
        assert_true(rel_diff(w, w_ref, d) < 1e-11);
        matmul(M, S, d, d, d, T);
        matmul(T, M, d, d, d, U);
        for (int i = 0; i < 25; i++) M[i] = 2.0 * M[i] - U[i];
    }
}

static void test_newton_converges(void **state) {
    (void)state;
    const int k = 60, d = 8;
    double X[60 * 8], y[60], w_ls[8], w[8];
    rand_problem(12, k, d, X, y);
    ic_err err;
    assert_int_equal(ic_solve_least_squares(X, y, k, d, w_ls, &err), 0);
    double prev = INFINITY;
    for (int steps = 0; steps <= 25; steps++) {
        assert_int_equal(ic_solve_newton(X, y, k, d, steps, w, &err), 0);
        const double e = rel_diff(w, w_ls, d);
        assert_true(e <= prev * (1.0 + 1e-9) + 1e-14); // alpha = 1/|SS^T|: every mode's error shrinks
        prev = e;
        if (steps == 20) assert_true(e < 1e-6);
    }
    assert_true(prev < 1e-10);
    // rank-deficient prefix: Newton -> the minimum-norm solution
    double w_mn[8];
    assert_int_equal(ic_solve_least_squares(X, y, 5, d, w_mn, &err), 0);
    assert_int_equal(ic_solve_newton(X, y, 5, d, 40, w, &err), 0);
    assert_true(rel_diff(w, w_mn, d) < 1e-8);
}

/* ---------------- gradient descent ---------------- */

static void test_gd_recursion(void **state) {
    (void)state;
    const int k = 9, d = 4;
    double X[9 * 4], y[9], w[4];
    rand_problem(13, k, d, X, y);
    const double eta = 0.05;
    double wt[4] = {0, 0, 0, 0};
    for (int t = 1; t <= 3; t++) { // by hand: w <- w - eta * X^T (X w - y)
        double r[9], g[4] = {0, 0, 0, 0};
        for (int i = 0; i < k; i++) {
            r[i] = -y[i];
            for (int j = 0; j < d; j++) r[i] += X[i * d + j] * wt[j];
        }
        for (int j = 0; j < d; j++)
            for (int i = 0; i < k; i++) g[j] += X[i * d + j] * r[i];
        for (int j = 0; j < d; j++) wt[j] -= eta * g[j];
        ic_err err;
        assert_int_equal(ic_solve_gd(X, y, k, d, t, eta, w, &err), 0);
        assert_true(rel_diff(w, wt, d) < 1e-13);
    }
    ic_err err;
    assert_int_equal(ic_solve_gd(X, y, k, d, 0, eta, w, &err), 0);
    assert_true(tu_max_abs(w, d) == 0.0);
}

static void test_gd_converges(void **state) {
    (void)state;
    const int k = 40, d = 5;
    double X[40 * 5], y[40], w_ls[5], w[5];
    rand_problem(14, k, d, X, y);
    ic_err err;
    assert_int_equal(ic_solve_least_squares(X, y, k, d, w_ls, &err), 0);
    assert_int_equal(ic_solve_gd(X, y, k, d, 100, 0.01, w, &err), 0);
    const double e100 = rel_diff(w, w_ls, d);
    assert_int_equal(ic_solve_gd(X, y, k, d, 3000, 0.01, w, &err), 0);
    assert_true(rel_diff(w, w_ls, d) < 1e-9);
    assert_true(e100 > 1e-6); // not there after 100 steps: the test above means something
}

/* ---------------- Lasso ---------------- */

/* KKT of (1/(2k))|y - Xw|^2 + alpha |w|_1; returns the worst violation. */
static double kkt_violation(const double *X, const double *y, int k, int d, double alpha, const double *w) {
    double worst = 0.0;
    for (int j = 0; j < d; j++) {
        double g = 0.0;
        for (int i = 0; i < k; i++) {
            double r = y[i];
            for (int l = 0; l < d; l++) r -= X[(size_t)i * d + l] * w[l];
            g += X[(size_t)i * d + j] * r;
        }
        g /= k;
        const double v = w[j] == 0.0 ? fmax(0.0, fabs(g) - alpha) : fabs(g - alpha * (w[j] > 0 ? 1.0 : -1.0));
        if (v > worst) worst = v;
    }
    return worst;
}

static void test_lasso_kkt_sparse(void **state) {
    (void)state;
    const int k = 50, d = 12;
    double X[50 * 12], y[50], w[12], wt[12] = {0};
    tu_rng r = tu_rng_make(15);
    tu_fill(&r, X, (size_t)k * d, 1.0, 0.0);
    wt[1] = 2.0;
    wt[5] = -1.5;
    wt[9] = 1.0;
    matmul(X, wt, k, d, 1, y);
    for (int i = 0; i < k; i++) y[i] += 0.01 * tu_rng_uniform(&r);
    ic_err err;
    int iters = 0;
    const double alpha = 0.05;
    assert_int_equal(ic_solve_lasso(X, y, k, d, alpha, w, &iters, &err), 0);
    assert_true(iters > 1 && iters < IC_LASSO_MAX_SWEEPS);
    assert_true(kkt_violation(X, y, k, d, alpha, w) < 1e-6);
    for (int j = 0; j < d; j++) {
        if (wt[j] != 0.0) assert_true(fabs(w[j] - wt[j]) < 0.2);
        else assert_true(w[j] == 0.0);
    }
    // underdetermined prefix: still optimal
    assert_int_equal(ic_solve_lasso(X, y, 6, d, 0.02, w, &iters, &err), 0);
    assert_true(iters < IC_LASSO_MAX_SWEEPS);
    assert_true(kkt_violation(X, y, 6, d, 0.02, w) < 1e-6);
}

static void test_lasso_zero_column_and_large_alpha(void **state) {
    (void)state;
    const int k = 20, d = 6;
    double X[20 * 6], y[20], w[6];
    rand_problem(16, k, d, X, y);
    for (int i = 0; i < k; i++) X[i * d + 3] = 0.0;
    ic_err err;
    int iters;
    assert_int_equal(ic_solve_lasso(X, y, k, d, 0.01, w, &iters, &err), 0);
    assert_true(w[3] == 0.0);
    assert_true(kkt_violation(X, y, k, d, 0.01, w) < 1e-6);
    // alpha >= max_j |X_j^T y| / k: w = 0 exactly
    double amax = 0.0;
    for (int j = 0; j < d; j++) {
        double g = 0.0;
        for (int i = 0; i < k; i++) g += X[i * d + j] * y[i];
        amax = fmax(amax, fabs(g) / k);
    }
    assert_int_equal(ic_solve_lasso(X, y, k, d, amax * 1.0001, w, &iters, &err), 0);
    assert_true(tu_max_abs(w, d) == 0.0);
    assert_int_equal(iters, 1);
    assert_int_equal(ic_solve_lasso(X, y, k, d, -1.0, w, &iters, &err), -1);
}

/* ---------------- kNN, averaging (exact, hand-made) ---------------- */

static void test_knn_hand_made(void **state) {
    (void)state;
    // d = 2; y are powers of ten so a mean names its set
    const float xs[5 * 2] = {0, 0, 2, 0, 0, 3, 1, 0, 1, 1};
    const float ys[5] = {1, 10, 100, 1000, 10000};
    float p[5];
    ic_baseline_spec s = spec_of("knn:1");
    predict_ok(&s, xs, ys, 1, 5, 2, p);
    assert_true(p[0] == 0.0f);
    assert_true(p[1] == 1.0f);    // only x0
    assert_true(p[2] == 1.0f);    // (0,3): x0 at 9, x1 at 13
    assert_true(p[3] == 1.0f);    // (1,0): x0 and x1 both at 1 -> tie to the lower index
    assert_true(p[4] == 1000.0f); // (1,1): x3 at 1, x0 and x1 at 2
    s = spec_of("knn:2");
    predict_ok(&s, xs, ys, 1, 5, 2, p);
    assert_true(p[1] == 1.0f);     // fewer points than k: all of them
    assert_true(p[2] == 5.5f);     // x0, x1
    assert_true(p[3] == 5.5f);     // x0, x1 (x2 at 10)
    assert_true(p[4] == 500.5f);   // x3 (1), then x0 (2, lower index than x1 at 2)
    s = spec_of("knn:3");
    predict_ok(&s, xs, ys, 1, 5, 2, p);
    assert_true(p[4] == 337.0f);   // x3, x0, x1: (1000 + 1 + 10) / 3
    double X[4] = {0, 0, 1, 1}, yy[2] = {2, 4}, q[2] = {0.5, 0.5}, out;
    ic_err err;
    assert_int_equal(ic_knn_predict(X, yy, 2, 2, q, 1, &out, &err), 0);
    assert_true(out == 2.0);       // exact tie: the earlier point
}

static void test_averaging_hand_made(void **state) {
    (void)state;
    const float xs[4 * 2] = {1, 0, 0, 1, 1, 1, 2, -1};
    const float ys[4] = {2, 3, 5, 7};
    float p[4];
    ic_baseline_spec s = spec_of("averaging");
    predict_ok(&s, xs, ys, 1, 4, 2, p);
    assert_true(p[0] == 0.0f);
    assert_true(p[1] == 0.0f);                  // w = (2, 0); x1 = (0, 1)
    assert_true(p[2] == 2.5f);                  // w = (1, 1.5); x2 = (1, 1)
    assert_true(fabsf(p[3] - 2.0f) < 1e-6f);    // w = (7/3, 8/3); x3 = (2, -1)
}

/* ---------------- tree ---------------- */

static void test_tree_fits_training_data(void **state) {
    (void)state;
    const int k = 40, d = 3;
    double X[40 * 3], y[40];
    rand_problem(17, k, d, X, y);
    ic_tree t;
    ic_err err;
    assert_int_equal(ic_tree_fit(X, y, k, d, 0, &t, &err), 0);
    for (int i = 0; i < k; i++) assert_true(ic_tree_predict(&t, X + i * d) == y[i]);
    assert_true(t.n_nodes == 2 * k - 1); // distinct y: one leaf per point
    ic_tree_free(&t);
    // XOR: every first split has zero gain, and the tree must still take one
    double Xx[8] = {0, 0, 0, 1, 1, 0, 1, 1}, yx[4] = {0, 1, 1, 0};
    assert_int_equal(ic_tree_fit(Xx, yx, 4, 2, 0, &t, &err), 0);
    for (int i = 0; i < 4; i++) assert_true(ic_tree_predict(&t, Xx + 2 * i) == yx[i]);
    ic_tree_free(&t);
    // depth limit
    assert_int_equal(ic_tree_fit(X, y, k, d, 3, &t, &err), 0);
    assert_int_equal(ic_tree_depth(&t), 3);
    ic_tree_free(&t);
    // identical x: a single leaf with the mean
    double Xs[6] = {1, 2, 1, 2, 1, 2}, ys3[3] = {1, 2, 6};
    assert_int_equal(ic_tree_fit(Xs, ys3, 3, 2, 0, &t, &err), 0);
    assert_int_equal(t.n_nodes, 1);
    assert_true(ic_tree_predict(&t, Xs) == 3.0);
    ic_tree_free(&t);
}

static void test_tree_depth1_split(void **state) {
    (void)state;
    // feature 1 separates y perfectly between -0.2 and 0.4; feature 0 is noise
    double X[6 * 2] = {0.3, -1.0, -0.2, -0.5, 0.9, -0.2, -0.7, 0.4, 0.1, 0.6, 0.5, 1.0};
    double y[6] = {-2, -2, -2, 5, 5, 5};
    ic_tree t;
    ic_err err;
    assert_int_equal(ic_tree_fit(X, y, 6, 2, 1, &t, &err), 0);
    assert_int_equal(t.n_nodes, 3);
    assert_int_equal(t.feature[0], 1);
    assert_true(fabs(t.thr[0] - 0.1) < 1e-15);
    assert_true(t.value[t.left[0]] == -2.0 && t.value[t.right[0]] == 5.0);
    assert_int_equal(ic_tree_depth(&t), 1);
    ic_tree_free(&t);
    // two equally good features: the lower one wins
    double X2[4 * 2] = {0, 0, 1, 1, 2, 2, 3, 3}, y2[4] = {0, 0, 1, 1};
    assert_int_equal(ic_tree_fit(X2, y2, 4, 2, 1, &t, &err), 0);
    assert_int_equal(t.feature[0], 0);
    assert_true(t.thr[0] == 1.5);
    ic_tree_free(&t);
    // through the batched path: query routed by the split
    float xs[7 * 2], ys[7], p[7];
    for (int i = 0; i < 12; i++) xs[i] = (float)X[i];
    for (int i = 0; i < 6; i++) ys[i] = (float)y[i];
    xs[12] = 100.0f; xs[13] = 0.2f; ys[6] = 0.0f;
    ic_baseline_spec s = spec_of("tree:1");
    predict_ok(&s, xs, ys, 1, 7, 2, p);
    assert_true(p[6] == 5.0f);
}

/* ---------------- ReLU net ---------------- */

static void test_relu_net_trains_deterministically(void **state) {
    (void)state;
    const int k = 20, d = 5;
    double X[20 * 5], y[20];
    tu_rng r = tu_rng_make(18);
    tu_fill(&r, X, (size_t)k * d, 1.0, 0.0);
    for (int i = 0; i < k; i++) y[i] = fmax(0.0, X[i * d] + X[i * d + 1]) - 0.5 * fmax(0.0, X[i * d + 2]);
    ic_relu_net a, b, c;
    double l0, l1, m0, m1;
    ic_err err;
    assert_int_equal(ic_relu_net_train(X, y, k, d, 32, 300, 0.01, 7, &a, &l0, &l1, &err), 0);
    assert_true(l1 < 0.1 * l0);
    assert_int_equal(ic_relu_net_train(X, y, k, d, 32, 300, 0.01, 7, &b, &m0, &m1, &err), 0);
    assert_true(l0 == m0 && l1 == m1);
    assert_memory_equal(a.W, b.W, sizeof(double) * 32 * 5);
    assert_memory_equal(a.a, b.a, sizeof(double) * 32);
    assert_int_equal(ic_relu_net_train(X, y, k, d, 32, 300, 0.01, 8, &c, NULL, NULL, &err), 0);
    assert_true(memcmp(a.W, c.W, sizeof(double) * 32 * 5) != 0);
    // the reported loss is the loss of the returned parameters
    double L = 0.0;
    for (int i = 0; i < k; i++) {
        const double e = ic_relu_net_predict(&a, X + i * d) - y[i];
        L += e * e / k;
    }
    assert_true(fabs(L - l1) <= 1e-12 * (1.0 + l1));
    // a huge lr is halved until the loss stops rising
    ic_relu_net big;
    assert_int_equal(ic_relu_net_train(X, y, k, d, 32, 100, 100.0, 7, &big, &m0, &m1, &err), 0);
    assert_true(big.lr_used < 100.0 && m1 <= m0);
    ic_relu_net_free(&a);
    ic_relu_net_free(&b);
    ic_relu_net_free(&c);
    ic_relu_net_free(&big);
    // batched: same seed, same bits; another seed, other bits
    const int B = 2, n = 6;
    float xs[2 * 6 * 3], ys[12], p1[12], p2[12], p3[12];
    tu_fill_f(&r, xs, sizeof xs / sizeof xs[0], 1.0, 0.0);
    tu_fill_f(&r, ys, 12, 1.0, 0.0);
    ic_baseline_spec s = spec_of("relu_net:16:100");
    predict_ok(&s, xs, ys, B, n, 3, p1);
    predict_ok(&s, xs, ys, B, n, 3, p2);
    assert_memory_equal(p1, p2, sizeof p1);
    s.seed = 99;
    predict_ok(&s, xs, ys, B, n, 3, p3);
    assert_true(memcmp(p1, p3, sizeof p1) != 0);
}

static double net_loss(const ic_relu_net *net, const double *X, const double *y, int k) {
    double L = 0.0;
    for (int i = 0; i < k; i++) {
        const double e = ic_relu_net_predict(net, X + (size_t)i * net->d) - y[i];
        L += e * e;
    }
    return L / k;
}

/* One step of size eta from the init moves every parameter by -eta * grad:
 * that gradient must match central differences of the loss at the init. */
static void test_relu_net_gradient(void **state) {
    (void)state;
    const int k = 7, d = 3, h = 5;
    double X[7 * 3], y[7];
    rand_problem(22, k, d, X, y);
    ic_relu_net n0, n1;
    ic_err err;
    const double eta = 1e-7;
    assert_int_equal(ic_relu_net_train(X, y, k, d, h, 0, eta, 3, &n0, NULL, NULL, &err), 0);
    assert_int_equal(ic_relu_net_train(X, y, k, d, h, 1, eta, 3, &n1, NULL, NULL, &err), 0);
    assert_true(n1.lr_used == eta);
    // every parameter of n0: W, b, a, then c
    double *groups[3] = {n0.W, n0.b, n0.a};
    const double *moved[3] = {n1.W, n1.b, n1.a};
    const int sizes[3] = {h * d, h, h};
    int checked = 0;
    for (int g = 0; g <= 3; g++) {
        const int m = g < 3 ? sizes[g] : 1;
        for (int i = 0; i < m; i++) {
            double *p = g < 3 ? &groups[g][i] : &n0.c;
            const double analytic = g < 3 ? (moved[g][i] - groups[g][i]) / -eta : (n1.c - n0.c) / -eta;
            const double keep = *p, eps = 1e-6;
            *p = keep + eps;
            const double lp = net_loss(&n0, X, y, k);
            *p = keep - eps;
            const double lm = net_loss(&n0, X, y, k);
            *p = keep;
            const double fd = (lp - lm) / (2 * eps);
            if (fabs(analytic - fd) > 1e-5 * (1.0 + fabs(fd)))
                fprintf(stderr, "group %d param %d: analytic %g fd %g\n", g, i, analytic, fd);
            assert_true(fabs(analytic - fd) <= 1e-5 * (1.0 + fabs(fd)));
            checked += fabs(fd) > 1e-3;
        }
    }
    assert_true(checked > h); // the check saw real gradients
    ic_relu_net_free(&n0);
    ic_relu_net_free(&n1);
}

/* ---------------- shared semantics ---------------- */

static void test_position0_and_prefix(void **state) {
    (void)state;
    const int B = 3, n = 8, d = 4;
    tu_rng r = tu_rng_make(19);
    float *xs = tu_falloc((size_t)B * n * d), *ys = tu_falloc((size_t)B * n), *p = tu_falloc((size_t)B * n);
    float *q = tu_falloc((size_t)B * n), *ys2 = tu_falloc((size_t)B * n), *xs2 = tu_falloc((size_t)B * n * d);
    tu_fill_f(&r, xs, (size_t)B * n * d, 1.0, 0.0);
    tu_fill_f(&r, ys, (size_t)B * n, 1.0, 0.0);
    for (int a = 0; a < N_ALL; a++) {
        ic_baseline_spec s = spec_of(ALL[a]);
        tu_fset(p, (size_t)B * n, 123.0f);
        predict_ok(&s, xs, ys, B, n, d, p);
        for (int b = 0; b < B; b++) {
            assert_true(p[(size_t)b * n] == 0.0f);
            for (int i = 0; i < n; i++) assert_true(isfinite(p[(size_t)b * n + i]));
        }
        // position i sees y_0..y_{i-1} and x_0..x_i only: change y_5 and x_6, x_7
        memcpy(ys2, ys, sizeof(float) * (size_t)B * n);
        memcpy(xs2, xs, sizeof(float) * (size_t)B * n * d);
        for (int b = 0; b < B; b++) {
            ys2[(size_t)b * n + 5] += 3.0f;
            for (int j = 0; j < d; j++) xs2[((size_t)b * n + 6) * d + j] -= 1.0f, xs2[((size_t)b * n + 7) * d + j] += 2.0f;
        }
        predict_ok(&s, xs2, ys2, B, n, d, q);
        for (int b = 0; b < B; b++) assert_memory_equal(p + (size_t)b * n, q + (size_t)b * n, sizeof(float) * 6);
        if (s.kind != IC_BL_ZERO && s.kind != IC_BL_KNN && s.kind != IC_BL_TREE) { // those may not notice
            int changed = 0;
            for (int b = 0; b < B; b++) changed |= p[(size_t)b * n + 6] != q[(size_t)b * n + 6];
            assert_true(changed);
        }
    }
    free(xs); free(ys); free(p); free(q); free(ys2); free(xs2);
}

static void test_predict_matches_solvers(void **state) {
    (void)state;
    const int B = 2, n = 12, d = 5;
    tu_rng r = tu_rng_make(20);
    float *xs = tu_falloc((size_t)B * n * d), *ys = tu_falloc((size_t)B * n), *p = tu_falloc((size_t)B * n);
    tu_fill_f(&r, xs, (size_t)B * n * d, 1.0, 0.0);
    tu_fill_f(&r, ys, (size_t)B * n, 1.0, 0.0);
    const char *names[] = {"least_squares", "ridge:0.3", "averaging", "lasso:0.02", "gd:50:0.02", "newton:7"};
    for (int a = 0; a < 6; a++) {
        ic_baseline_spec s = spec_of(names[a]);
        predict_ok(&s, xs, ys, B, n, d, p);
        for (int b = 0; b < B; b++) {
            double *X = tu_double_copy(xs + (size_t)b * n * d, (size_t)n * d), *Y = tu_double_copy(ys + (size_t)b * n, n);
            for (int k = 1; k < n; k++) {
                double w[5];
                ic_err err;
                int rc;
                switch (s.kind) {
                case IC_BL_LEAST_SQUARES: rc = ic_solve_least_squares(X, Y, k, d, w, &err); break;
                case IC_BL_RIDGE: rc = ic_solve_ridge(X, Y, k, d, s.lambda, w, &err); break;
                case IC_BL_AVERAGING: rc = ic_solve_averaging(X, Y, k, d, w, &err); break;
                case IC_BL_LASSO: rc = ic_solve_lasso(X, Y, k, d, s.alpha, w, NULL, &err); break;
                case IC_BL_GD: rc = ic_solve_gd(X, Y, k, d, s.steps, s.eta, w, &err); break;
                default: rc = ic_solve_newton(X, Y, k, d, s.steps, w, &err); break;
                }
                assert_int_equal(rc, 0);
                const double ref = tu_dot(w, X + (size_t)k * d, d);
                assert_true(fabs(p[(size_t)b * n + k] - ref) <= 1e-6 * (1.0 + fabs(ref)));
            }
            free(X);
            free(Y);
        }
    }
    free(xs); free(ys); free(p);
}

static void test_thread_count_independent(void **state) {
    (void)state;
#ifdef _OPENMP
    const int B = 7, n = 10, d = 4;
    tu_rng r = tu_rng_make(21);
    float *xs = tu_falloc((size_t)B * n * d), *ys = tu_falloc((size_t)B * n);
    float *p1 = tu_falloc((size_t)B * n), *p2 = tu_falloc((size_t)B * n);
    tu_fill_f(&r, xs, (size_t)B * n * d, 1.0, 0.0);
    tu_fill_f(&r, ys, (size_t)B * n, 1.0, 0.0);
    const int saved = omp_get_max_threads();
    for (int a = 0; a < N_ALL; a++) {
        ic_baseline_spec s = spec_of(ALL[a]);
        s.seed = 5;
        omp_set_num_threads(1);
        predict_ok(&s, xs, ys, B, n, d, p1);
        omp_set_num_threads(2);
        predict_ok(&s, xs, ys, B, n, d, p2);
        assert_memory_equal(p1, p2, sizeof(float) * (size_t)B * n);
    }
    omp_set_num_threads(saved);
    free(xs); free(ys); free(p1); free(p2);
#else
    skip();
#endif
}

static void test_predict_errors(void **state) {
    (void)state;
    float xs[8] = {0}, ys[4] = {0}, p[4];
    ic_baseline_spec s = spec_of("ridge");
    ic_err err;
    assert_int_equal(ic_baseline_predict(&s, xs, ys, 1, 0, 2, p, &err), -1);
    assert_non_null(strstr(err.msg, "n >= 1"));
    assert_int_equal(ic_baseline_predict(&s, xs, ys, 1, 4, 0, p, &err), -1);
    assert_int_equal(ic_baseline_predict(&s, xs, ys, -1, 4, 2, p, &err), -1);
    assert_int_equal(ic_baseline_predict(&s, NULL, ys, 1, 4, 2, p, &err), -1);
    assert_int_equal(ic_baseline_predict(&s, xs, ys, 0, 4, 2, NULL, &err), 0); // nothing to do
    s.lambda = -1.0;
    assert_int_equal(ic_baseline_predict(&s, xs, ys, 1, 4, 2, p, &err), -1);
    assert_non_null(strstr(err.msg, "lambda"));
    s.kind = IC_NUM_BASELINES;
    assert_int_equal(ic_baseline_predict(&s, xs, ys, 1, 4, 2, p, &err), -1);
    // all-zero prompts are fine for every baseline (S = 0 for Newton, ties for kNN)
    for (int a = 0; a < N_ALL; a++) {
        ic_baseline_spec t = spec_of(ALL[a]);
        predict_ok(&t, xs, ys, 1, 4, 2, p);
        for (int i = 0; i < 4; i++) assert_true(p[i] == 0.0f);
    }
}

/* ---------------- names ---------------- */

static void test_parse_label_round_trip(void **state) {
    (void)state;
    const char *const in[] = {"zero", "least_squares", "ridge", "ridge:0.001", "averaging", "knn", "knn:7",
                              "lasso", "lasso:0", "lasso:1e-4", "gd", "gd:250", "gd:100:0.005", "newton", "newton:0",
                              "newton:20", "tree", "tree:0", "tree:4", "relu_net", "relu_net:50",
                              "relu_net:50:1000", "relu_net:50:1000:0.003"};
    const char *const canon[] = {"zero", "least_squares", "ridge:0.1", "ridge:0.001", "averaging", "knn:3", "knn:7",
                                 "lasso:0.01", "lasso:0", "lasso:0.0001", "gd:100:0.01", "gd:250:0.01", "gd:100:0.005",
                                 "newton:5", "newton:0", "newton:20", "tree", "tree", "tree:4",
                                 "relu_net:100:200:0.01", "relu_net:50:200:0.01", "relu_net:50:1000:0.01",
                                 "relu_net:50:1000:0.003"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        ic_baseline_spec s = spec_of(in[i]), t;
        char buf[96];
        ic_baseline_label(&s, buf, sizeof buf);
        assert_string_equal(buf, canon[i]);
        t = spec_of(buf);
        assert_true(spec_equal(&s, &t));
    }
    // odd values survive the round trip exactly
    ic_baseline_spec s = spec_of("ridge"), t;
    s.lambda = 0.1 + 1e-17 * 3 + 1.0 / 3.0;
    char buf[96];
    ic_baseline_label(&s, buf, sizeof buf);
    t = spec_of(buf);
    assert_true(t.lambda == s.lambda);
    // every kind has a name, a description, and defaults that validate
    for (int k = 0; k < IC_NUM_BASELINES; k++) {
        ic_baseline_defaults((ic_baseline_kind)k, &s);
        ic_err err;
        assert_int_equal(ic_baseline_validate(&s, &err), 0);
        ic_baseline_label(&s, buf, sizeof buf);
        t = spec_of(buf);
        assert_int_equal(t.kind, k);
        assert_true(strlen(ic_baseline_describe((ic_baseline_kind)k)) > 10);
        assert_string_equal(ic_baseline_name((ic_baseline_kind)k), strtok(buf, ":"));
    }
    assert_string_equal(ic_baseline_name(IC_NUM_BASELINES), "?");
    ic_baseline_defaults(IC_BL_NEWTON, &s);
    assert_int_equal(s.steps, 5);
    ic_baseline_defaults(IC_BL_GD, &s);
    assert_int_equal(s.steps, 100);
    assert_true(s.eta == 0.01);
}

static void test_parse_errors(void **state) {
    (void)state;
    struct { const char *text, *expect; } bad[] = {
        {"", "valid: zero"},
        {"foo", "unknown baseline 'foo' (valid: zero, least_squares"},
        {"Ridge", "unknown baseline"},
        {"knn:0", "k must be in 1..100000, got 0"},
        {"knn:x", "k must be an integer in 1..100000, got 'x' (knn[:k])"},
        {"knn:3.5", "got '3.5'"},
        {"knn:", "got ''"},
        {"ridge:-1", "lambda must be"},
        {"ridge:0", "lambda must be"},
        {"ridge:nan", "lambda"},
        {"ridge:1:2", "at most 1 parameter (ridge[:lambda])"},
        {"lasso:-0.1", "alpha must be"},
        {"gd:-1", "steps must be in 0..100000"},
        {"gd:10:0", "eta must be"},
        {"gd:10:0.1:3", "at most 2 parameters"},
        {"newton:1e3", "steps must be an integer in 0..1000"},
        {"tree:-1", "max_depth"},
        {"relu_net:0", "hidden must be in 1..10000"},
        {"relu_net:10:-5", "epochs must be in 0..10000"},
        {"relu_net:10:5:0", "lr must be"},
        {"zero:1", "at most 0 parameters"},
        {"knn:99999999999", "k must be an integer"},
        // documented maxima (docs/baselines.md): gd:1000000000 ran for hours with no progress
        {"gd:1000000000", "gd: steps must be in 0..100000 (the run time is linear in steps), got 1000000000"},
        {"gd:100001", "steps must be in 0..100000"},
        {"gd:99999999999999999999", "steps must be an integer in 0..100000"},
        {"gd:10:1e7", "eta must be a number in (0, 1e6]"},
        {"newton:1001", "newton: steps must be in 0..1000"},
        {"relu_net:10001", "hidden must be in 1..10000"},
        {"relu_net:10:10001", "epochs must be in 0..10000"},
        {"relu_net:10:10:1e7", "lr must be a number in (0, 1e6]"},
        {"knn:100001", "k must be in 1..100000"},
        {"tree:65", "max_depth must be in 0..64"},
        {"ridge:1e13", "lambda must be a number in (0, 1e12]"},
        {"lasso:1e13", "alpha must be a number in [0, 1e12]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ic_baseline_spec s;
        ic_baseline_defaults(IC_BL_KNN, &s);
        s.k = 42;
        ic_err err;
        err.msg[0] = '\0';
        assert_int_equal(ic_baseline_parse(bad[i].text, &s, &err), -1);
        if (!strstr(err.msg, bad[i].expect)) fprintf(stderr, "'%s': got '%s'\n", bad[i].text, err.msg);
        assert_non_null(strstr(err.msg, bad[i].expect));
        assert_int_equal(s.k, 42); // untouched
    }
    ic_err err;
    assert_int_equal(ic_baseline_parse(NULL, NULL, &err), -1);
    // the maxima themselves are accepted
    const char *edge[] = {"gd:100000:1e6", "newton:1000", "relu_net:10000:10000:1e6", "knn:100000", "tree:64",
                          "ridge:1e12", "lasso:1e12", "gd:0", "newton:0", "relu_net:1:0"};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        ic_baseline_spec s;
        if (ic_baseline_parse(edge[i], &s, &err)) fail_msg("'%s': %s", edge[i], err.msg);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ls_normal_equations),
        cmocka_unit_test(test_ls_min_norm),
        cmocka_unit_test(test_ls_noiseless),
        cmocka_unit_test(test_ridge_closed_form),
        cmocka_unit_test(test_ridge_to_least_squares),
        cmocka_unit_test(test_newton_alpha),
        cmocka_unit_test(test_newton_recursion),
        cmocka_unit_test(test_newton_converges),
        cmocka_unit_test(test_gd_recursion),
        cmocka_unit_test(test_gd_converges),
        cmocka_unit_test(test_lasso_kkt_sparse),
        cmocka_unit_test(test_lasso_zero_column_and_large_alpha),
        cmocka_unit_test(test_knn_hand_made),
        cmocka_unit_test(test_averaging_hand_made),
        cmocka_unit_test(test_tree_fits_training_data),
        cmocka_unit_test(test_tree_depth1_split),
        cmocka_unit_test(test_relu_net_trains_deterministically),
        cmocka_unit_test(test_relu_net_gradient),
        cmocka_unit_test(test_position0_and_prefix),
        cmocka_unit_test(test_predict_matches_solvers),
        cmocka_unit_test(test_thread_count_independent),
        cmocka_unit_test(test_predict_errors),
        cmocka_unit_test(test_parse_label_round_trip),
        cmocka_unit_test(test_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
