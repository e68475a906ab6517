#include "baselines.h"

#include <cblas.h>
#include <errno.h>
#include <float.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* ======================= names, defaults, parsing ======================= */

#define STR_(x) #x
#define XSTR(x) STR_(x)

static const char *const NAMES[IC_NUM_BASELINES] = {
    "zero", "least_squares", "ridge", "averaging", "knn",
    "lasso", "gd", "newton", "tree", "relu_net",
};

static const char *const SYNTAX[IC_NUM_BASELINES] = {
    "zero", "least_squares", "ridge[:lambda]", "averaging", "knn[:k]",
    "lasso[:alpha]", "gd[:steps[:eta]]", "newton[:steps]", "tree[:max_depth]",
    "relu_net[:hidden[:epochs[:lr]]]",
};

static const char *const DESCRIPTIONS[IC_NUM_BASELINES] = {
    "predicts 0 everywhere",
    "minimum-norm least squares on the context (LAPACK dgelsd)",
    "ridge regression (X^T X + lambda I)^-1 X^T y, lambda not scaled by the number of points",
    "averaging estimator w = (1/k) sum x_i y_i (Garg et al.)",
    "mean y of the k nearest context points (Euclidean; ties to the earlier point)",
    "Lasso (1/(2k))|y - Xw|^2 + alpha |w|_1 by cyclic coordinate descent",
    "gradient descent w <- w - eta (X^T X w - X^T y) from 0 (Fu et al.)",
    "iterative Newton M <- 2M - M S M, w = M X^T y (Fu et al.)",
    "greedy CART regression tree (squared error, midpoint thresholds)",
    "2-layer ReLU net trained on the context by full-batch gradient descent",
};

#define VALID_LIST                                                                           \
    "zero, least_squares, ridge[:lambda], averaging, knn[:k], lasso[:alpha], "              \
    "gd[:steps[:eta]], newton[:steps], tree[:max_depth], relu_net[:hidden[:epochs[:lr]]]"

const char *ic_baseline_name(ic_baseline_kind kind) {
    return (kind >= 0 && kind < IC_NUM_BASELINES) ? NAMES[kind] : "?";
}

const char *ic_baseline_describe(ic_baseline_kind kind) {
    return (kind >= 0 && kind < IC_NUM_BASELINES) ? DESCRIPTIONS[kind] : "unknown";
}

void ic_baseline_defaults(ic_baseline_kind kind, ic_baseline_spec *out) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->lambda = 0.1;
    out->k = 3;
    out->alpha = 0.01;
    out->steps = kind == IC_BL_NEWTON ? 5 : 100;
    out->eta = 0.01;
    out->max_depth = 0;
    out->hidden = 100;
    out->epochs = 200;
    out->lr = 0.01;
    out->seed = 0;
}

int ic_baseline_validate(const ic_baseline_spec *s, ic_err *err) {
    if (!s) return ic_errf(err, "baseline: no spec");
    switch (s->kind) {
    case IC_BL_ZERO: case IC_BL_LEAST_SQUARES: case IC_BL_AVERAGING: return 0;
    case IC_BL_RIDGE:
        if (!(s->lambda > 0.0) || !(s->lambda <= IC_BL_MAX_PENALTY))
            return ic_errf(err, "ridge: lambda must be a number in (0, " XSTR(IC_BL_MAX_PENALTY) "], got %g", s->lambda);
        return 0;
    case IC_BL_KNN:
        if (s->k < 1 || s->k > IC_BL_MAX_K) return ic_errf(err, "knn: k must be in 1..%d, got %d", IC_BL_MAX_K, s->k);
        return 0;
    case IC_BL_LASSO:
        if (!(s->alpha >= 0.0) || !(s->alpha <= IC_BL_MAX_PENALTY))
            return ic_errf(err, "lasso: alpha must be a number in [0, " XSTR(IC_BL_MAX_PENALTY) "], got %g", s->alpha);
        return 0;
    case IC_BL_GD:
        if (s->steps < 0 || s->steps > IC_BL_MAX_GD_STEPS)
            return ic_errf(err, "gd: steps must be in 0..%d (the run time is linear in steps), got %d", IC_BL_MAX_GD_STEPS,
                           s->steps);
        if (!(s->eta > 0.0) || !(s->eta <= IC_BL_MAX_STEP_SIZE))
            return ic_errf(err, "gd: eta must be a number in (0, " XSTR(IC_BL_MAX_STEP_SIZE) "], got %g", s->eta);
        return 0;
    case IC_BL_NEWTON:
        if (s->steps < 0 || s->steps > IC_BL_MAX_NEWTON_STEPS)
            return ic_errf(err, "newton: steps must be in 0..%d (the run time is linear in steps), got %d",
                           IC_BL_MAX_NEWTON_STEPS, s->steps);
        return 0;
    case IC_BL_TREE:
        if (s->max_depth < 0 || s->max_depth > IC_BL_MAX_DEPTH)
            return ic_errf(err, "tree: max_depth must be in 0..%d (0 = unlimited), got %d", IC_BL_MAX_DEPTH, s->max_depth);
        return 0;
    case IC_BL_RELU_NET:
        if (s->hidden < 1 || s->hidden > IC_BL_MAX_HIDDEN)
            return ic_errf(err, "relu_net: hidden must be in 1..%d, got %d", IC_BL_MAX_HIDDEN, s->hidden);
        if (s->epochs < 0 || s->epochs > IC_BL_MAX_EPOCHS)
            return ic_errf(err, "relu_net: epochs must be in 0..%d (the run time is linear in epochs), got %d",
                           IC_BL_MAX_EPOCHS, s->epochs);
        if (!(s->lr > 0.0) || !(s->lr <= IC_BL_MAX_STEP_SIZE))
            return ic_errf(err, "relu_net: lr must be a number in (0, " XSTR(IC_BL_MAX_STEP_SIZE) "], got %g", s->lr);
        return 0;
    default: return ic_errf(err, "baseline: unknown kind %d (valid: " VALID_LIST ")", (int)s->kind);
    }
}

/* Whole-string integer / finite double; 0 on success. */
static int parse_int(const char *t, int *v) {
    if (!*t) return -1;
    errno = 0;
    char *end;
    long x = strtol(t, &end, 10);
    if (*end) return -1;
    if (errno || x < INT_MIN || x > INT_MAX) return -1;
    *v = (int)x;
    return 0;
}

static int parse_double(const char *t, double *v) {
    if (!*t) return -1;
    errno = 0;
    char *end;
    double x = strtod(t, &end);
    if (*end || errno || !isfinite(x)) return -1;
    *v = x;
    return 0;
}

int ic_baseline_parse(const char *text, ic_baseline_spec *out, ic_err *err) {
    if (!text || !*text) return ic_errf(err, "empty baseline name (valid: " VALID_LIST ")");
    char buf[256];
    if (strlen(text) >= sizeof buf) return ic_errf(err, "baseline name too long (valid: " VALID_LIST ")");
    strcpy(buf, text);
    char *parts[8];
    int np = 0;
    for (char *p = buf;;) { // split on ':' keeping empty fields (so "knn:" is an error)
        if (np == 8) return ic_errf(err, "baseline '%s': too many ':' fields", text);
        parts[np++] = p;
        char *c = strchr(p, ':');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    int kind = -1;
    for (int i = 0; i < IC_NUM_BASELINES; i++)
        if (!strcmp(parts[0], NAMES[i])) kind = i;
    if (kind < 0) return ic_errf(err, "unknown baseline '%s' (valid: " VALID_LIST ")", parts[0]);
    static const int MAXP[IC_NUM_BASELINES] = {0, 0, 1, 0, 1, 1, 2, 1, 1, 3};
    if (np - 1 > MAXP[kind])
        return ic_errf(err, "baseline '%s': %s takes at most %d parameter%s (%s)", text, NAMES[kind],
                       MAXP[kind], MAXP[kind] == 1 ? "" : "s", SYNTAX[kind]);
    ic_baseline_spec s;
    ic_baseline_defaults((ic_baseline_kind)kind, &s);
    for (int i = 1; i < np; i++) {
        const char *t = parts[i];
        int bad = 0;
        const char *pname = "", *what = "";
        switch (kind) {
        case IC_BL_RIDGE: pname = "lambda"; what = "a number in (0, " XSTR(IC_BL_MAX_PENALTY) "]"; bad = parse_double(t, &s.lambda); break;
        case IC_BL_KNN: pname = "k"; what = "an integer in 1.." XSTR(IC_BL_MAX_K); bad = parse_int(t, &s.k); break;
        case IC_BL_LASSO: pname = "alpha"; what = "a number in [0, " XSTR(IC_BL_MAX_PENALTY) "]"; bad = parse_double(t, &s.alpha); break;
        case IC_BL_GD:
            if (i == 1) { pname = "steps"; what = "an integer in 0.." XSTR(IC_BL_MAX_GD_STEPS); bad = parse_int(t, &s.steps); }
            else { pname = "eta"; what = "a number in (0, " XSTR(IC_BL_MAX_STEP_SIZE) "]"; bad = parse_double(t, &s.eta); }
            break;
        case IC_BL_NEWTON: pname = "steps"; what = "an integer in 0.." XSTR(IC_BL_MAX_NEWTON_STEPS); bad = parse_int(t, &s.steps); break;
        case IC_BL_TREE: pname = "max_depth"; what = "an integer in 0.." XSTR(IC_BL_MAX_DEPTH) " (0 = unlimited)"; bad = parse_int(t, &s.max_depth); break;
        case IC_BL_RELU_NET:
            if (i == 1) { pname = "hidden"; what = "an integer in 1.." XSTR(IC_BL_MAX_HIDDEN); bad = parse_int(t, &s.hidden); }
            else if (i == 2) { pname = "epochs"; what = "an integer in 0.." XSTR(IC_BL_MAX_EPOCHS); bad = parse_int(t, &s.epochs); }
            else { pname = "lr"; what = "a number in (0, " XSTR(IC_BL_MAX_STEP_SIZE) "]"; bad = parse_double(t, &s.lr); }
            break;
        default: break;
        }
        if (bad) return ic_errf(err, "baseline '%s': %s must be %s, got '%s' (%s)", text, pname, what, t, SYNTAX[kind]);
    }
    ic_err e2;
    if (ic_baseline_validate(&s, &e2)) return ic_errf(err, "baseline '%s': %s (%s)", text, e2.msg, SYNTAX[kind]);
    *out = s;
    return 0;
}

/* Shortest %.*g text of x that reads back as x. */
static void fmt_double(char *buf, size_t len, double x) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, x);
        if (strtod(buf, NULL) == x) return;
    }
}

void ic_baseline_label(const ic_baseline_spec *s, char *buf, size_t len) {
    if (!buf || len == 0) return;
    char a[40], b[40];
    const char *name = ic_baseline_name(s->kind);
    switch (s->kind) {
    case IC_BL_RIDGE: fmt_double(a, sizeof a, s->lambda); snprintf(buf, len, "%s:%s", name, a); break;
    case IC_BL_KNN: snprintf(buf, len, "%s:%d", name, s->k); break;
    case IC_BL_LASSO: fmt_double(a, sizeof a, s->alpha); snprintf(buf, len, "%s:%s", name, a); break;
    case IC_BL_GD: fmt_double(a, sizeof a, s->eta); snprintf(buf, len, "%s:%d:%s", name, s->steps, a); break;
    case IC_BL_NEWTON: snprintf(buf, len, "%s:%d", name, s->steps); break;
    case IC_BL_TREE:
        if (s->max_depth == 0) snprintf(buf, len, "%s", name);
        else snprintf(buf, len, "%s:%d", name, s->max_depth);
        break;
    case IC_BL_RELU_NET:
        fmt_double(b, sizeof b, s->lr);
        snprintf(buf, len, "%s:%d:%d:%s", name, s->hidden, s->epochs, b);
        break;
    default: snprintf(buf, len, "%s", name); break;
    }
}

/* ======================= single-prefix solvers ======================= */

static int check_prefix(const char *who, const double *X, const double *y, int k, int d, const void *w,
                        ic_err *err) {
    if (!X || !y || !w) return ic_errf(err, "%s: NULL argument", who);
    if (k < 1 || d < 1) return ic_errf(err, "%s: need k >= 1 points and d >= 1 dimensions, got k=%d d=%d", who, k, d);
    return 0;
}

/* S = X^T X (full symmetric, [d,d]) and q = X^T y. */
static void gram(const double *X, const double *y, int k, int d, double *S, double *q) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, k, 1.0, X, d, 0.0, S, d);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < i; j++) S[(size_t)i * d + j] = S[(size_t)j * d + i];
    if (q) cblas_dgemv(CblasRowMajor, CblasTrans, k, d, 1.0, X, d, y, 1, 0.0, q, 1);
}

/* Least squares by LAPACK's dgelsd (divide-and-conquer SVD): on a
 * rank-deficient prefix (fewer points than dimensions) it returns the
 * minimum-norm solution, which is what Garg et al. compare against.
 * Computed in double: a k x d problem is tiny, and float would blur the
 * ~1e-9 errors of the noiseless k >= d regime. */
int ic_solve_least_squares(const double *X, const double *y, int k, int d, double *w, ic_err *err) {
    if (check_prefix("least squares", X, y, k, d, w, err)) return -1;
    const int ldb = k > d ? k : d, mn = k < d ? k : d;
    double *A = malloc(sizeof(double) * (size_t)k * d);
    double *bv = calloc((size_t)ldb, sizeof(double));
    double *sv = malloc(sizeof(double) * (size_t)mn);
    int rc = 0;
    if (!A || !bv || !sv) { rc = ic_errf(err, "least squares: out of memory"); goto done; }
    memcpy(A, X, sizeof(double) * (size_t)k * d);
    memcpy(bv, y, sizeof(double) * (size_t)k);
    lapack_int rank;
    lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, k, d, 1, A, d, bv, 1, sv, -1.0, &rank);
    if (info != 0) { rc = ic_errf(err, "least squares: LAPACK dgelsd failed (info %d) on %d points", (int)info, k); goto done; }
    memcpy(w, bv, sizeof(double) * (size_t)d);
done:
    free(A);
    free(bv);
    free(sv);
    return rc;
}

int ic_solve_ridge(const double *X, const double *y, int k, int d, double lambda, double *w, ic_err *err) {
    if (check_prefix("ridge", X, y, k, d, w, err)) return -1;
    if (!(lambda > 0.0) || !isfinite(lambda)) return ic_errf(err, "ridge: lambda must be a finite number > 0, got %g", lambda);
    double *S = malloc(sizeof(double) * (size_t)d * d);
    if (!S) return ic_errf(err, "ridge: out of memory");
    gram(X, y, k, d, S, w);
    for (int i = 0; i < d; i++) S[(size_t)i * d + i] += lambda;
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', d, 1, S, d, w, 1);
    free(S);
    if (info != 0) return ic_errf(err, "ridge: LAPACK dposv failed (info %d): X^T X + %g I not positive definite", (int)info, lambda);
    return 0;
}

int ic_solve_averaging(const double *X, const double *y, int k, int d, double *w, ic_err *err) {
    if (check_prefix("averaging", X, y, k, d, w, err)) return -1;
    cblas_dgemv(CblasRowMajor, CblasTrans, k, d, 1.0 / k, X, d, y, 1, 0.0, w, 1);
    return 0;
}

/* Cyclic coordinate descent is written by hand: LAPACK/BLAS have no Lasso
 * solver. It runs on the Gram matrix G = X^T X and keeps c = X^T (y - Xw)
 * up to date (d operations per coordinate update instead of k). */
int ic_solve_lasso(const double *X, const double *y, int k, int d, double alpha, double *w, int *iters,
                   ic_err *err) {
    if (check_prefix("lasso", X, y, k, d, w, err)) return -1;
    if (!(alpha >= 0.0) || !isfinite(alpha)) return ic_errf(err, "lasso: alpha must be a finite number >= 0, got %g", alpha);
    double *G = malloc(sizeof(double) * ((size_t)d * d + 2 * (size_t)d));
    if (!G) return ic_errf(err, "lasso: out of memory");
    double *q = G + (size_t)d * d, *c = q + d;
    gram(X, y, k, d, G, q);
    memcpy(c, q, sizeof(double) * (size_t)d);
    memset(w, 0, sizeof(double) * (size_t)d);
    const double ka = (double)k * alpha;
    int sweep = 0;
    while (sweep < IC_LASSO_MAX_SWEEPS) {
        sweep++;
        double max_dw = 0.0, max_w = 0.0;
        for (int j = 0; j < d; j++) {
            const double gjj = G[(size_t)j * d + j];
            if (gjj <= 0.0) continue; // zero column: w_j stays 0
            // minimiser over w_j of the objective, times k: soft(c_j + G_jj w_j, k alpha) / G_jj
            const double rho = c[j] + gjj * w[j];
            const double wn = rho > ka ? (rho - ka) / gjj : rho < -ka ? (rho + ka) / gjj : 0.0;
            const double dw = wn - w[j];
            if (dw != 0.0) {
                cblas_daxpy(d, -dw, G + (size_t)j * d, 1, c, 1); // G symmetric: row j = column j
                w[j] = wn;
            }
            if (fabs(dw) > max_dw) max_dw = fabs(dw);
            if (fabs(wn) > max_w) max_w = fabs(wn);
        }
        if (max_dw < 1e-10 * (max_w > 1.0 ? max_w : 1.0)) break;
        if (sweep % 64 == 0) { // remove drift of the incremental updates
            memcpy(c, q, sizeof(double) * (size_t)d);
            cblas_dgemv(CblasRowMajor, CblasNoTrans, d, d, -1.0, G, d, w, 1, 1.0, c, 1);
        }
    }
    free(G);
    if (iters) *iters = sweep;
    return 0;
}

int ic_solve_gd(const double *X, const double *y, int k, int d, int steps, double eta, double *w, ic_err *err) {
    if (check_prefix("gd", X, y, k, d, w, err)) return -1;
    if (steps < 0) return ic_errf(err, "gd: steps must be >= 0, got %d", steps);
    if (!(eta > 0.0) || !isfinite(eta)) return ic_errf(err, "gd: eta must be a finite number > 0, got %g", eta);
    double *S = malloc(sizeof(double) * ((size_t)d * d + 2 * (size_t)d));
    if (!S) return ic_errf(err, "gd: out of memory");
    double *q = S + (size_t)d * d, *g = q + d;
    gram(X, y, k, d, S, q);
    memset(w, 0, sizeof(double) * (size_t)d);
    for (int t = 0; t < steps; t++) {
        memcpy(g, q, sizeof(double) * (size_t)d); // g = S w - q
        cblas_dgemv(CblasRowMajor, CblasNoTrans, d, d, 1.0, S, d, w, 1, -1.0, g, 1);
        cblas_daxpy(d, -eta, g, 1, w, 1);
    }
    free(S);
    return 0;
}

int ic_newton_alpha(const double *S, int d, double *alpha, ic_err *err) {
    if (!S || !alpha || d < 1) return ic_errf(err, "newton: bad arguments to ic_newton_alpha");
    double *A = malloc(sizeof(double) * ((size_t)d * d + 2 * (size_t)d));
    if (!A) return ic_errf(err, "newton: out of memory");
    double *sv = A + (size_t)d * d, *sup = sv + d;
    memcpy(A, S, sizeof(double) * (size_t)d * d);
    // |S S^T|_2 = sigma_max(S)^2. Singular values by dgesvd rather than
    // eigenvalues by dsyev: dsyev's tridiagonalisation calls dsymv, which
    // OpenBLAS threads at any size (slow and thread-count dependent when
    // called outside a parallel region); dgesvd's kernels are single-threaded
    // at these sizes.
    lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', d, d, A, d, sv, NULL, 1, NULL, 1, sup);
    const double smax = sv[0];
    free(A);
    if (info != 0) return ic_errf(err, "newton: LAPACK dgesvd failed (info %d)", (int)info);
    *alpha = smax > 0.0 ? 1.0 / (smax * smax) : 0.0;
    return 0;
}

int ic_solve_newton(const double *X, const double *y, int k, int d, int steps, double *w, ic_err *err) {
    if (check_prefix("newton", X, y, k, d, w, err)) return -1;
    if (steps < 0) return ic_errf(err, "newton: steps must be >= 0, got %d", steps);
    const size_t dd = (size_t)d * d;
    double *S = malloc(sizeof(double) * (4 * dd + (size_t)d));
    if (!S) return ic_errf(err, "newton: out of memory");
    double *M = S + dd, *T = M + dd, *M2 = T + dd, *q = M2 + dd;
    gram(X, y, k, d, S, q);
    double alpha;
    if (ic_newton_alpha(S, d, &alpha, err)) { free(S); return -1; }
    for (size_t i = 0; i < dd; i++) M[i] = alpha * S[i];
    for (int j = 0; j < steps; j++) {
        // T = M S; M' = 2M - T M (BLAS forbids the output aliasing an input, hence M2)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, M, d, S, d, 0.0, T, d);
        memcpy(M2, M, sizeof(double) * dd);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, -1.0, T, d, M, d, 2.0, M2, d);
        double *tmp = M; M = M2; M2 = tmp;
    }
    cblas_dgemv(CblasRowMajor, CblasNoTrans, d, d, 1.0, M, d, q, 1, 0.0, w, 1);
    free(S);
    return 0;
}

/* kNN selection by hand (insertion into a sorted list of at most nn): no
 * library routine selects the k smallest with our tie rule, and nn is small. */
int ic_knn_predict(const double *X, const double *y, int k, int d, const double *xq, int nn, double *out,
                   ic_err *err) {
    if (check_prefix("knn", X, y, k, d, out, err)) return -1;
    if (!xq) return ic_errf(err, "knn: NULL query");
    if (nn < 1) return ic_errf(err, "knn: k must be >= 1, got %d", nn);
    const int m = nn < k ? nn : k;
    double *dist = malloc(sizeof(double) * (size_t)m);
    int *idx = malloc(sizeof(int) * (size_t)m);
    if (!dist || !idx) { free(dist); free(idx); return ic_errf(err, "knn: out of memory"); }
    int cnt = 0;
    for (int i = 0; i < k; i++) {
        double s = 0.0;
        for (int j = 0; j < d; j++) { const double t = X[(size_t)i * d + j] - xq[j]; s += t * t; }
        if (cnt == m && !(s < dist[m - 1])) continue; // ties keep the earlier point
        int p = cnt < m ? cnt++ : m - 1;
        while (p > 0 && dist[p - 1] > s) { dist[p] = dist[p - 1]; idx[p] = idx[p - 1]; p--; }
        dist[p] = s;
        idx[p] = i;
    }
    double sum = 0.0;
    for (int i = 0; i < m; i++) sum += y[idx[i]];
    *out = sum / m;
    free(dist);
    free(idx);
    return 0;
}

/* ======================= regression tree ======================= */

/* CART is written by hand: no linked library provides trees. */
typedef struct {
    const double *X, *y;
    int d, max_depth;
    int *idx;          /* [k] sample indices, partitioned per node */
    int *tmp;          /* [k] */
    struct pair { double v; int i; } *pairs; /* [k] */
    ic_tree *t;
} tree_ctx;

static int cmp_pair(const void *a, const void *b) {
    const struct pair *p = a, *q = b;
    if (p->v < q->v) return -1;
    if (p->v > q->v) return 1;
    return (p->i > q->i) - (p->i < q->i);
}

/* Builds the node for idx[lo, hi) at depth depth; returns its index. */
static int tree_build(tree_ctx *c, int lo, int hi, int depth) {
    ic_tree *t = c->t;
    const int node = t->n_nodes++;
    const int m = hi - lo, d = c->d;
    double sum = 0.0;
    int pure = 1;
    for (int i = lo; i < hi; i++) {
        sum += c->y[c->idx[i]];
        if (c->y[c->idx[i]] != c->y[c->idx[lo]]) pure = 0;
    }
    t->value[node] = sum / m;
    t->feature[node] = -1;
    t->left[node] = t->right[node] = -1;
    t->thr[node] = 0.0;
    if (m <= 1 || pure || (c->max_depth > 0 && depth >= c->max_depth)) return node;
    // best split: maximise sumL^2/nL + sumR^2/nR (= minimise the summed squared error)
    int best_f = -1;
    double best_score = -INFINITY, best_thr = 0.0;
    for (int f = 0; f < d; f++) {
        for (int i = 0; i < m; i++) {
            const int s = c->idx[lo + i];
            c->pairs[i].v = c->X[(size_t)s * d + f];
            c->pairs[i].i = s;
        }
        qsort(c->pairs, (size_t)m, sizeof c->pairs[0], cmp_pair);
        double sl = 0.0;
        for (int i = 0; i + 1 < m; i++) {
            sl += c->y[c->pairs[i].i];
            const double v0 = c->pairs[i].v, v1 = c->pairs[i + 1].v;
            if (!(v0 < v1)) continue;
            const int nl = i + 1, nr = m - nl;
            const double sr = sum - sl;
            const double score = sl * sl / nl + sr * sr / nr;
            if (score > best_score) {
                double thr = v0 + 0.5 * (v1 - v0);
                if (!(thr < v1)) thr = v0; // keep v0 left, v1 right under rounding
                best_score = score;
                best_f = f;
                best_thr = thr;
            }
        }
    }
    if (best_f < 0) return node; // all x equal
    // stable partition: x_f <= thr left
    int nl = 0, nr = 0;
    for (int i = lo; i < hi; i++) {
        const int s = c->idx[i];
        if (c->X[(size_t)s * d + best_f] <= best_thr) c->idx[lo + nl++] = s;
        else c->tmp[nr++] = s;
    }
    memcpy(c->idx + lo + nl, c->tmp, sizeof(int) * (size_t)nr);
    t->feature[node] = best_f;
    t->thr[node] = best_thr;
    const int l = tree_build(c, lo, lo + nl, depth + 1);
    const int r = tree_build(c, lo + nl, hi, depth + 1);
    t->left[node] = l;
    t->right[node] = r;
    return node;
}

void ic_tree_free(ic_tree *t) {
    if (!t) return;
    free(t->feature);
    free(t->thr);
    free(t->left);
    free(t->right);
    free(t->value);
    memset(t, 0, sizeof *t);
}

int ic_tree_fit(const double *X, const double *y, int k, int d, int max_depth, ic_tree *t, ic_err *err) {
    if (check_prefix("tree", X, y, k, d, t, err)) return -1;
    if (max_depth < 0) return ic_errf(err, "tree: max_depth must be >= 0, got %d", max_depth);
    memset(t, 0, sizeof *t);
    const size_t cap = 2 * (size_t)k; // a binary tree with <= k leaves has <= 2k - 1 nodes
    t->feature = malloc(sizeof(int) * cap);
    t->thr = malloc(sizeof(double) * cap);
    t->left = malloc(sizeof(int) * cap);
    t->right = malloc(sizeof(int) * cap);
    t->value = malloc(sizeof(double) * cap);
    tree_ctx c = {X, y, d, max_depth, malloc(sizeof(int) * (size_t)k), malloc(sizeof(int) * (size_t)k),
                  malloc(sizeof(struct pair) * (size_t)k), t};
    int rc = 0;
    if (!t->feature || !t->thr || !t->left || !t->right || !t->value || !c.idx || !c.tmp || !c.pairs) {
        ic_tree_free(t);
        rc = ic_errf(err, "tree: out of memory");
    } else {
        for (int i = 0; i < k; i++) c.idx[i] = i;
        tree_build(&c, 0, k, 0);
    }
    free(c.idx);
    free(c.tmp);
    free(c.pairs);
    return rc;
}

double ic_tree_predict(const ic_tree *t, const double *x) {
    int node = 0;
    while (t->feature[node] >= 0) node = x[t->feature[node]] <= t->thr[node] ? t->left[node] : t->right[node];
    return t->value[node];
}

static int depth_of(const ic_tree *t, int node) {
    if (t->feature[node] < 0) return 0;
    const int l = depth_of(t, t->left[node]), r = depth_of(t, t->right[node]);
    return 1 + (l > r ? l : r);
}

int ic_tree_depth(const ic_tree *t) { return t->n_nodes > 0 ? depth_of(t, 0) : 0; }

/* ======================= 2-layer ReLU net ======================= */

uint64_t ic_relu_net_seed(uint64_t seed, int b, int k) {
    return seed ^ (0x9E3779B97F4A7C15ULL * ((uint64_t)(unsigned)b + 1)) ^
           (0xD1B54A32D192ED03ULL * ((uint64_t)(unsigned)k + 1));
}

void ic_relu_net_free(ic_relu_net *net) {
    if (!net) return;
    free(net->W);
    memset(net, 0, sizeof *net);
}

double ic_relu_net_predict(const ic_relu_net *net, const double *x) {
    double f = net->c;
    for (int j = 0; j < net->hidden; j++) {
        double p = net->b[j];
        for (int i = 0; i < net->d; i++) p += net->W[(size_t)j * net->d + i] * x[i];
        if (p > 0.0) f += net->a[j] * p;
    }
    return f;
}

/* The training loops are written by hand rather than with dgemm: the
 * matrices are tiny (k <= ~100 points, d ~ 20, hidden ~ 100), where BLAS
 * call and packing overhead dominate. Working layout: Wt [d,hp] (W
 * transposed, hidden padded to hp, a multiple of NET_JB, with zero units
 * that stay zero: their pre-activation is 0, so every gradient is 0), and
 * register-blocked loops over NET_JB hidden units (GCC vector extension;
 * -march=native turns them into AVX FMAs). */
#define NET_JB 20 /* 5 AVX registers; the default hidden = 100 needs no padding */

typedef struct {
    int k, d, h, hp;
    const double *X, *y;
    double *Wt, *b, *a, c;   /* parameters: Wt [d,hp] | b [hp] | a [hp] contiguous */
    double *gWt, *gb, *ga;   /* gradients, same layout */
    double *P;               /* [k,hp]: pre-activations, then dL/dpre */
} net_work;

/* 4 doubles in one AVX register (GCC/Clang vector extension), moved to
 * and from double arrays by memcpy (no alignment or aliasing assumptions;
 * compiles to one unaligned load/store) */
typedef double net_v4 __attribute__((vector_size(32)));
#define NET_NV (NET_JB / 4)
/* (macros, not functions: passing a 32-byte vector by value changes the
 * ABI between AVX and non-AVX builds, and GCC warns about it) */
#define V4_LOAD(v, p) memcpy(&(v), (p), sizeof(net_v4))
#define V4_STORE(p, v) memcpy((p), &(v), sizeof(net_v4))

/* Loss; with grad != 0 also the gradient (into gWt, gb, ga, *gc). */
static double net_pass(net_work *w, int grad, double *gc) {
    const int k = w->k, d = w->d, hp = w->hp;
    const double *restrict Wt = w->Wt, *restrict bias = w->b, *restrict a = w->a, *restrict X = w->X;
    double *restrict P = w->P;
    double loss = 0.0, sum_r = 0.0;
    for (int i = 0; i < k; i++) {
        const double *x = X + (size_t)i * d;
        double *pi = P + (size_t)i * hp;
        for (int j0 = 0; j0 < hp; j0 += NET_JB) { // NET_JB pre-activations in registers
            net_v4 acc[NET_NV];
#pragma GCC unroll 8
            for (int q = 0; q < NET_NV; q++) V4_LOAD(acc[q], bias + j0 + 4 * q);
            for (int f = 0; f < d; f++) {
                const double xf = x[f];
                const net_v4 xb = {xf, xf, xf, xf};
                const double *wf = Wt + (size_t)f * hp + j0;
#pragma GCC unroll 8
                for (int q = 0; q < NET_NV; q++) {
                    net_v4 t;
                    V4_LOAD(t, wf + 4 * q);
                    acc[q] += xb * t;
                }
            }
#pragma GCC unroll 8
            for (int q = 0; q < NET_NV; q++) V4_STORE(pi + j0 + 4 * q, acc[q]);
        }
        double out = 0.0;
#pragma omp simd reduction(+ : out)
        for (int j = 0; j < hp; j++) out += pi[j] > 0.0 ? a[j] * pi[j] : 0.0;
        const double e = out + w->c - w->y[i];
        loss += e * e;
        if (!grad) continue;
        const double r = 2.0 * e / k; // dL/df_i
        sum_r += r;
        double *restrict ga = w->ga, *restrict gb = w->gb;
        if (i == 0) {
            memset(ga, 0, sizeof(double) * (size_t)hp);
            memset(gb, 0, sizeof(double) * (size_t)hp);
        }
#pragma omp simd
        for (int j = 0; j < hp; j++) {
            const double pj = pi[j];
            const int on = pj > 0.0;
            ga[j] += on ? r * pj : 0.0;
            pi[j] = on ? r * a[j] : 0.0; // now dL/dpre
            gb[j] += pi[j];
        }
    }
    if (!grad) return loss / k;
    *gc = sum_r;
    // gWt[f, j] = sum_i x_if dP_ij
    double *restrict gW = w->gWt;
    for (int f = 0; f < d; f++)
        for (int j0 = 0; j0 < hp; j0 += NET_JB) {
            net_v4 acc[NET_NV];
#pragma GCC unroll 8
            for (int q = 0; q < NET_NV; q++) acc[q] = (net_v4){0.0, 0.0, 0.0, 0.0};
            for (int i = 0; i < k; i++) {
                const double xf = X[(size_t)i * d + f];
                const net_v4 xb = {xf, xf, xf, xf};
                const double *pi = P + (size_t)i * hp + j0;
#pragma GCC unroll 8
                for (int q = 0; q < NET_NV; q++) {
                    net_v4 t;
                    V4_LOAD(t, pi + 4 * q);
                    acc[q] += xb * t;
                }
            }
#pragma GCC unroll 8
            for (int q = 0; q < NET_NV; q++) V4_STORE(gW + (size_t)f * hp + j0 + 4 * q, acc[q]);
        }
    return loss / k;
}

int ic_relu_net_train(const double *X, const double *y, int k, int d, int hidden, int epochs, double lr,
                      uint64_t seed, ic_relu_net *net, double *loss_first, double *loss_last, ic_err *err) {
    if (check_prefix("relu_net", X, y, k, d, net, err)) return -1;
    if (hidden < 1 || epochs < 0 || !(lr > 0.0) || !isfinite(lr))
        return ic_errf(err, "relu_net: need hidden >= 1, epochs >= 0, lr > 0 (got %d, %d, %g)", hidden, epochs, lr);
    const int h = hidden, hp = (hidden + NET_JB - 1) / NET_JB * NET_JB;
    const size_t np = (size_t)h * d + 2 * (size_t)h, npp = (size_t)hp * d + 2 * (size_t)hp;
    memset(net, 0, sizeof *net);
    // net params (W [h,d] | b | a) | working params | init copy | grads | P [k,hp]
    double *mem = malloc(sizeof(double) * (np + 3 * npp + (size_t)k * hp));
    if (!mem) return ic_errf(err, "relu_net: out of memory");
    double *work = mem + np, *init = work + npp, *grad = init + npp;
    net_work w = {k, d, h, hp, X, y, work, work + (size_t)d * hp, work + (size_t)d * hp + hp, 0.0,
                  grad, grad + (size_t)d * hp, grad + (size_t)d * hp + hp, grad + npp};
    ic_rng rng;
    ic_rng_seed(&rng, seed);
    const double sw = sqrt(2.0 / d), sa = sqrt(1.0 / h);
    memset(init, 0, sizeof(double) * npp);
    for (int j = 0; j < h; j++) // W row by row (unit j, then input f), stored transposed
        for (int f = 0; f < d; f++) init[(size_t)f * hp + j] = sw * ic_rng_normal(&rng);
    for (int j = 0; j < h; j++) init[(size_t)d * hp + hp + j] = sa * ic_rng_normal(&rng);
    double step = lr, loss0 = 0.0, loss = 0.0, gc = 0.0;
    for (int attempt = 0;; attempt++) {
        if (attempt > 30) { free(mem); return ic_errf(err, "relu_net: training diverged even with lr %g", step * 2); }
        memcpy(work, init, sizeof(double) * npp);
        w.c = 0.0;
        int diverged = 0;
        for (int e = 0; e < epochs; e++) {
            loss = net_pass(&w, 1, &gc);
            if (e == 0) loss0 = loss;
            if (!isfinite(loss) || loss > loss0) { diverged = 1; break; }
            cblas_daxpy((int)npp, -step, grad, 1, work, 1);
            w.c -= step * gc;
        }
        if (!diverged) {
            loss = net_pass(&w, 0, NULL);
            if (epochs == 0) loss0 = loss;
            if (isfinite(loss) && loss <= loss0) break;
        }
        step *= 0.5;
    }
    net->d = d;
    net->hidden = h;
    net->W = mem;
    net->b = mem + (size_t)h * d;
    net->a = net->b + h;
    for (int j = 0; j < h; j++) {
        for (int f = 0; f < d; f++) net->W[(size_t)j * d + f] = w.Wt[(size_t)f * hp + j];
        net->b[j] = w.b[j];
        net->a[j] = w.a[j];
    }
    net->c = w.c;
    net->lr_used = step;
    if (loss_first) *loss_first = loss0;
    if (loss_last) *loss_last = loss;
    return 0;
}

/* ======================= batched prediction ======================= */

/* One prompt: X [n,d], Y [n] in double; out [n]. */
static int predict_prompt(const ic_baseline_spec *s, const double *X, const double *Y, int n, int d, int b,
                          double *w, double *out, ic_err *err) {
    out[0] = 0.0;
    for (int k = 1; k < n; k++) {
        const double *xq = X + (size_t)k * d;
        double p = 0.0;
        int rc = 0, linear = 1;
        switch (s->kind) {
        case IC_BL_ZERO: linear = 0; break;
        case IC_BL_LEAST_SQUARES: rc = ic_solve_least_squares(X, Y, k, d, w, err); break;
        case IC_BL_RIDGE: rc = ic_solve_ridge(X, Y, k, d, s->lambda, w, err); break;
        case IC_BL_AVERAGING: rc = ic_solve_averaging(X, Y, k, d, w, err); break;
        case IC_BL_LASSO: rc = ic_solve_lasso(X, Y, k, d, s->alpha, w, NULL, err); break;
        case IC_BL_GD: rc = ic_solve_gd(X, Y, k, d, s->steps, s->eta, w, err); break;
        case IC_BL_NEWTON: rc = ic_solve_newton(X, Y, k, d, s->steps, w, err); break;
        case IC_BL_KNN: linear = 0; rc = ic_knn_predict(X, Y, k, d, xq, s->k, &p, err); break;
        case IC_BL_TREE: {
            linear = 0;
            ic_tree t;
            rc = ic_tree_fit(X, Y, k, d, s->max_depth, &t, err);
            if (!rc) { p = ic_tree_predict(&t, xq); ic_tree_free(&t); }
            break;
        }
        case IC_BL_RELU_NET: {
            linear = 0;
            ic_relu_net net;
            rc = ic_relu_net_train(X, Y, k, d, s->hidden, s->epochs, s->lr, ic_relu_net_seed(s->seed, b, k), &net,
                                   NULL, NULL, err);
            if (!rc) { p = ic_relu_net_predict(&net, xq); ic_relu_net_free(&net); }
            break;
        }
        default: return ic_errf(err, "baseline: unknown kind %d", (int)s->kind);
        }
        if (rc) return ic_err_prefix(err, "prompt %d, %d context points", b, k);
        if (linear) p = cblas_ddot(d, w, 1, xq, 1);
        out[k] = p;
    }
    return 0;
}

int ic_baseline_predict(const ic_baseline_spec *spec, const float *xs, const float *ys, int B, int n, int d,
                        float *pred, ic_err *err) {
    if (ic_baseline_validate(spec, err)) return -1;
    if (B < 0 || n < 1 || d < 1) return ic_errf(err, "baseline %s: need B >= 0, n >= 1, d >= 1 (got B=%d n=%d d=%d)", ic_baseline_name(spec->kind), B, n, d);
    if (B == 0) return 0;
    if (!xs || !ys || !pred) return ic_errf(err, "baseline %s: NULL array", ic_baseline_name(spec->kind));
    int fail_b = INT_MAX;
    ic_err first;
    first.msg[0] = '\0';
#pragma omp parallel
    {
        double *X = malloc(sizeof(double) * ((size_t)n * d + 2 * (size_t)n + (size_t)d));
        double *Y = X ? X + (size_t)n * d : NULL, *out = X ? Y + n : NULL, *w = X ? out + n : NULL;
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < B; b++) {
            ic_err e;
            int rc;
            int stop;
#pragma omp atomic read
            stop = fail_b;
            if (stop < b) continue; // an earlier prompt failed already
            if (!X) rc = ic_errf(&e, "out of memory");
            else {
                const float *xb = xs + (size_t)b * n * d, *yb = ys + (size_t)b * n;
                for (size_t i = 0; i < (size_t)n * d; i++) X[i] = xb[i];
                for (int i = 0; i < n; i++) Y[i] = yb[i];
                rc = predict_prompt(spec, X, Y, n, d, b, w, out, &e);
                if (!rc) for (int i = 0; i < n; i++) pred[(size_t)b * n + i] = (float)out[i];
            }
            if (rc) {
#pragma omp critical(ic_baselines_err)
                if (b < fail_b) { // report the first failing prompt, whatever the thread count
                    first = e;
#pragma omp atomic write
                    fail_b = b;
                }
            }
        }
        free(X);
    }
    if (fail_b != INT_MAX) {
        if (err) *err = first;
        return ic_err_prefix(err, "baseline %s", ic_baseline_name(spec->kind));
    }
    return 0;
}

int ic_baseline_least_squares(const float *xs, const float *ys, int B, int n, int d, float *pred, ic_err *err) {
    ic_baseline_spec s;
    ic_baseline_defaults(IC_BL_LEAST_SQUARES, &s);
    return ic_baseline_predict(&s, xs, ys, B, n, d, pred, err);
}
