/* baselines.h: classical in-context solvers.
 *
 * Every baseline predicts y_i (0-based position i) from the previous pairs
 * (x_0, y_0) .. (x_{i-1}, y_{i-1}) of the same prompt and the query x_i,
 * exactly as the transformer does; with no context (i = 0) every baseline
 * predicts 0. Inputs xs [B,n,d], ys [B,n] (float); output pred [B,n]
 * (float); everything in between is double. Prompts are independent and
 * are spread over OpenMP threads; results do not depend on the thread count.
 *
 * Definitions, defaults and command-line names: docs/baselines.md.
 *
 * The single-prefix solvers (ic_solve_*) take one prefix X row-major [k,d]
 * and y [k] (k >= 1 context points) and return the linear weights w [d];
 * the prediction for a query x_q is x_q . w. */
#ifndef ICLAB_BASELINES_H
#define ICLAB_BASELINES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum {
    IC_BL_ZERO,
    IC_BL_LEAST_SQUARES,
    IC_BL_RIDGE,
    IC_BL_AVERAGING,
    IC_BL_KNN,
    IC_BL_LASSO,
    IC_BL_GD,
    IC_BL_NEWTON,
    IC_BL_TREE,
    IC_BL_RELU_NET,
    IC_NUM_BASELINES
} ic_baseline_kind;

/* Defaults (ic_baseline_defaults) in brackets. Each kind reads only its own
 * fields. */
typedef struct {
    ic_baseline_kind kind;
    double lambda;  /* ridge: (X^T X + lambda I) w = X^T y, not scaled by k [0.1] */
    int k;          /* knn: number of neighbours [3] */
    double alpha;   /* lasso: (1/(2k))|y - Xw|^2 + alpha |w|_1 [0.01] */
    int steps;      /* gd iterations [100]; newton iterations [5] */
    double eta;     /* gd step size on the unnormalised S = X^T X [0.01] */
    int max_depth;  /* tree: 0 = unlimited [0] */
    int hidden;     /* relu_net hidden units [100] */
    int epochs;     /* relu_net full-batch gradient-descent steps [200] */
    double lr;      /* relu_net learning rate [0.01] (halved on divergence) */
    uint64_t seed;  /* relu_net initialisation [0]; not part of the name */
} ic_baseline_spec;

/* Upper limits of the parameters (ic_baseline_validate). The iteration
 * counts bound the run time: per fit the cost is linear in them, and an
 * evaluation fits every prefix of every prompt (1280 prompts x 41 points at
 * d = 20: gd:100000 about 12 minutes, newton:1000 about 2 minutes,
 * relu_net:100:10000 about 2 hours on one core). */
#define IC_BL_MAX_GD_STEPS 100000
#define IC_BL_MAX_NEWTON_STEPS 1000
#define IC_BL_MAX_EPOCHS 10000
#define IC_BL_MAX_HIDDEN 10000
#define IC_BL_MAX_K 100000        /* knn: more than any prompt has points */
#define IC_BL_MAX_DEPTH 64        /* tree: 0 = unlimited */
#define IC_BL_MAX_PENALTY 1e12    /* ridge lambda, lasso alpha */
#define IC_BL_MAX_STEP_SIZE 1e6   /* gd eta, relu_net lr */

/* Fills *out with kind's defaults (every field set). */
void ic_baseline_defaults(ic_baseline_kind kind, ic_baseline_spec *out);

/* "zero", "least_squares", "ridge[:lambda]", "averaging", "knn[:k]",
 * "lasso[:alpha]", "gd[:steps[:eta]]", "newton[:steps]", "tree[:max_depth]",
 * "relu_net[:hidden[:epochs[:lr]]]". Omitted parameters take the defaults;
 * seed is 0 (set it afterwards). On error names what is wrong (and, for an
 * unknown name, lists the valid ones) and leaves *out untouched. */
int ic_baseline_parse(const char *text, ic_baseline_spec *out, ic_err *err);

/* Canonical text, every parameter written out, which parses back to the same
 * spec (except seed): e.g. "ridge:0.1", "gd:100:0.01", "tree:0" is written
 * "tree", "relu_net:100:200:0.01". Truncated to len - 1 characters. */
void ic_baseline_label(const ic_baseline_spec *spec, char *buf, size_t len);

/* The bare name ("knn") and a one-line description; "?" / "unknown" for an
 * out-of-range kind. */
const char *ic_baseline_name(ic_baseline_kind kind);
const char *ic_baseline_describe(ic_baseline_kind kind);

/* Checks a spec's parameters (what parse checks). */
int ic_baseline_validate(const ic_baseline_spec *spec, ic_err *err);

/* pred[b*n + i] = the baseline's prediction for y_i of prompt b from its
 * first i pairs. B >= 0, n >= 1, d >= 1. */
int ic_baseline_predict(const ic_baseline_spec *spec, const float *xs, const float *ys, int B, int n,
                        int d, float *pred, ic_err *err);

/* Least squares, minimum-norm solution (LAPACK dgelsd, SVD based) on each
 * prefix: ic_baseline_predict with kind IC_BL_LEAST_SQUARES. */
int ic_baseline_least_squares(const float *xs, const float *ys, int B, int n, int d, float *pred,
                              ic_err *err);

/* ---------------- single-prefix solvers: X [k,d] row-major, y [k], w [d] ---------------- */

/* argmin |Xw - y|, minimum |w| among minimisers (dgelsd, rcond = machine eps). */
int ic_solve_least_squares(const double *X, const double *y, int k, int d, double *w, ic_err *err);

/* (X^T X + lambda I) w = X^T y by Cholesky (dposv); lambda > 0. */
int ic_solve_ridge(const double *X, const double *y, int k, int d, double lambda, double *w,
                   ic_err *err);

/* w = (1/k) sum_i x_i y_i (Garg et al.'s averaging estimator). */
int ic_solve_averaging(const double *X, const double *y, int k, int d, double *w, ic_err *err);

/* Lasso, min (1/(2k))|y - Xw|^2 + alpha |w|_1 (scikit-learn's objective),
 * alpha >= 0, by cyclic coordinate descent (j = 0..d-1) from w = 0 on the
 * Gram matrix. Stops after the first sweep whose largest coordinate change
 * is < 1e-10 * max(1, max_j |w_j|), or after IC_LASSO_MAX_SWEEPS sweeps;
 * *iters (may be NULL) gets the number of sweeps (== IC_LASSO_MAX_SWEEPS:
 * not converged, w is the last iterate). Zero columns get w_j = 0. */
#define IC_LASSO_MAX_SWEEPS 10000
int ic_solve_lasso(const double *X, const double *y, int k, int d, double alpha, double *w,
                   int *iters, ic_err *err);

/* Gradient descent (Fu et al.): S = X^T X, w_0 = 0,
 * w_{t+1} = w_t - eta (S w_t - X^T y); returns w_steps (steps >= 0). */
int ic_solve_gd(const double *X, const double *y, int k, int d, int steps, double eta, double *w,
                ic_err *err);

/* Iterative Newton (Fu et al.): S = X^T X, M_0 = alpha S with alpha from
 * ic_newton_alpha, M_{j+1} = 2 M_j - M_j S M_j; returns w = M_steps X^T y.
 * steps = 0 is M_0 (one step of gradient descent with step alpha from 0). */
int ic_solve_newton(const double *X, const double *y, int k, int d, int steps, double *w,
                    ic_err *err);

/* The Newton initial scale for a symmetric positive semi-definite S [d,d]:
 * alpha = 1 / |S S^T|_2 = 1 / sigma_max(S)^2 (singular values by dgesvd), 0
 * when S = 0. Fu et al. write 2 / |S S^T|_2; with it the error along S's top
 * eigenvector, e_{j+1} = e_j^2 with e_0 = 1 - alpha lambda_max^2 = -1, stays
 * at 1 for ever, so that direction is never learnt (docs/baselines.md). */
int ic_newton_alpha(const double *S, int d, double *alpha, ic_err *err);

/* kNN: mean y of the min(nn, k) context points nearest to xq (squared
 * Euclidean distance in double; ties go to the lower index). */
int ic_knn_predict(const double *X, const double *y, int k, int d, const double *xq, int nn,
                   double *out, ic_err *err);

/* Greedy regression tree (CART, squared error). A node becomes a leaf (mean
 * y) when it is at max_depth (0 = unlimited), holds one sample, its y are all
 * equal, or its x are all equal; otherwise it takes the split (feature f,
 * threshold t: x_f <= t goes left) with the smallest summed squared error
 * over every feature and every midpoint between consecutive distinct values,
 * even when that does not lower the error (as scikit-learn does); ties go to
 * the lower feature, then the lower threshold. */
typedef struct {
    int n_nodes;
    int *feature;     /* [n_nodes]; -1 for a leaf */
    double *thr;      /* [n_nodes] */
    int *left, *right;
    double *value;    /* [n_nodes]: mean y of the node's samples */
} ic_tree;
int ic_tree_fit(const double *X, const double *y, int k, int d, int max_depth, ic_tree *tree,
                ic_err *err);
double ic_tree_predict(const ic_tree *tree, const double *x);
int ic_tree_depth(const ic_tree *tree); /* 0 for a single leaf */
void ic_tree_free(ic_tree *tree);

/* 2-layer ReLU net f(x) = sum_j a_j relu(W_j . x + b_j) + c, trained on the
 * k pairs by full-batch gradient descent on the mean squared error.
 * Init from ic_rng seeded with seed: W [hidden,d] ~ N(0, 2/d) row by row,
 * then a ~ N(0, 1/hidden); b = 0, c = 0. Loss (1/k) sum_i (f(x_i) - y_i)^2;
 * epochs steps w <- w - lr * grad, constant lr. If the loss ever becomes
 * non-finite or rises above its initial value, training restarts from the
 * same init with lr halved (at most 30 times, then an error; lr_used says
 * which lr stuck). *loss_first / *loss_last (may be NULL): the loss at the
 * init and after the last step. ic_relu_net_free releases the arrays. */
typedef struct {
    int d, hidden;
    double *W, *b, *a; /* [hidden,d], [hidden], [hidden] */
    double c;
    double lr_used;    /* lr after any halvings */
} ic_relu_net;
int ic_relu_net_train(const double *X, const double *y, int k, int d, int hidden, int epochs,
                      double lr, uint64_t seed, ic_relu_net *net, double *loss_first,
                      double *loss_last, ic_err *err);
double ic_relu_net_predict(const ic_relu_net *net, const double *x);
void ic_relu_net_free(ic_relu_net *net);

/* The seed of the net for prompt b, prefix length k, in ic_baseline_predict:
 * a function of (spec seed, b, k) only. */
uint64_t ic_relu_net_seed(uint64_t seed, int b, int k);

#endif
