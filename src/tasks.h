/* tasks.h: the in-context function classes of Garg et al. (2022).
 *
 * ic_task_sample draws a batch of B prompts, each n points (x_i, y_i) with
 * x_i in R^d, from one function class, and can hand back the true function
 * of every prompt (ic_task_params) for baselines and probes. ic_task_eval
 * recomputes the noiseless target of prompt b at any x from those
 * parameters (it is the very routine the sampler uses, so it reproduces the
 * sampled ys bit for bit on noiseless tasks).
 *
 * Randomness comes only from the caller's ic_rng, in a fixed documented
 * order (docs/tasks.md), so a saved RNG state reproduces the exact batch:
 *
 *   for b in 0..B-1:
 *     1. the function's parameters (kind-specific, below);
 *     2. for i in 0..n-1: z_i[0..d-1], d normals (always all d, whatever
 *        d_active and x_cov_sqrt);
 *     3. noisy_linear_regression only: for i in 0..n-1, one normal e_i.
 *
 *   parameters, in order:
 *     linear / noisy / classification / quadratic: w[0..d-1], d normals;
 *     sparse: w[0..d-1] (d normals), then k = min(sparsity, d_active) draws
 *             ic_rng_below(d_active - t), t = 0..k-1 (partial Fisher-Yates
 *             over the active indices 0..d_active-1, see tasks.c); all
 *             coordinates not among the k chosen are set to 0;
 *     relu_2nn: W1[k][j] row-major (k < d outer, j < h inner), d*h normals,
 *               then W2[0..h-1], h normals;
 *     decision_tree: feature[i] = ic_rng_below(d_active) for the internal
 *               nodes i = 0..2^depth-2 in index order, then value[i] (normal)
 *               for the leaves i = 2^depth-1..2^(depth+1)-2 in index order.
 *
 * Consequence: prompt b depends only on the RNG state when it starts, so a
 * batch of B prompts is the first B prompts of any larger batch drawn from
 * the same state (with the same n). Whether params is NULL does not change
 * the stream or the output.
 *
 * x_i = x_scale * L z_i (L = x_cov_sqrt, identity when NULL), then
 * coordinates d_active..d-1 set to exactly 0. ys are computed in double from
 * the float xs and float parameters as stored, then rounded to float. */
#ifndef ICLAB_TASKS_H
#define ICLAB_TASKS_H

#include "err.h"
#include "rng.h"

typedef enum {
    IC_TASK_LINEAR,                /* "linear_regression" */
    IC_TASK_SPARSE_LINEAR,         /* "sparse_linear_regression" */
    IC_TASK_NOISY_LINEAR,          /* "noisy_linear_regression" */
    IC_TASK_LINEAR_CLASSIFICATION, /* "linear_classification" */
    IC_TASK_QUADRATIC,             /* "quadratic_regression" */
    IC_TASK_RELU2NN,               /* "relu_2nn_regression" */
    IC_TASK_DECISION_TREE,         /* "decision_tree" */
    IC_NUM_TASKS
} ic_task_kind;

#define IC_TASK_MAX_DEPTH 20 /* decision_tree depth limit (2^21 - 1 nodes per tree) */

/* The task's name (Garg et al.'s), or "unknown" for an out-of-range kind. */
const char *ic_task_name(ic_task_kind kind);
/* Exact, case-sensitive match of one of the names above; the error lists
 * the valid names. */
int ic_task_parse(const char *name, ic_task_kind *out, ic_err *err);

typedef struct {
    ic_task_kind kind;
    int n_dims;               /* d >= 1 */
    int sparsity;             /* sparse: non-zero coordinates s >= 1 (default 3) */
    double noise_std;         /* noisy: std of the additive N(0, noise_std^2) noise,
                               * >= 0 (default 1, Garg et al.'s noisyLR evaluation;
                               * their class default 0 would be plain linear) */
    int hidden;               /* relu_2nn: hidden width h >= 1 (default 100) */
    int depth;                /* decision_tree: depth 1..IC_TASK_MAX_DEPTH (default 4) */
    double x_scale;           /* x = x_scale * L z (default 1) */
    const float *x_cov_sqrt;  /* NULL (identity) or L [d,d] row-major, borrowed */
    double y_scale;           /* y multiplied by this (default 1) */
} ic_task_spec;

/* Fills every field with the defaults above for kind and n_dims. */
void ic_task_spec_default(ic_task_spec *spec, ic_task_kind kind, int n_dims);

/* The spec as a new jansson object (the caller owns the reference; NULL when
 * out of memory or kind is out of range), for results files that must say which
 * distribution their prompts came from: "name", "n_dims", the parameter
 * the kind samples with ("sparsity", "noise_std", "hidden" or "depth"; the
 * others are unused by that kind and left out), "x_scale", "y_scale", and
 * "x_cov_sqrt": "identity" or "given" (the matrix itself is not written). */
struct json_t *ic_task_spec_json(const ic_task_spec *spec);

/* Validates spec alone (kind, n_dims, and the fields the kind uses, plus
 * x_scale, y_scale finite and noise_std >= 0). The sampler calls it. */
int ic_task_spec_check(const ic_task_spec *spec, ic_err *err);

/* The true function of every prompt of a batch. Buffers are owned by the
 * struct (allocated by ic_task_sample, freed by ic_task_params_free); the
 * ones a kind does not use are NULL. */
typedef struct {
    ic_task_kind kind;
    int B;          /* prompts */
    int n_dims;     /* d */
    int d_active;   /* the d_active the batch was drawn with */
    int hidden;     /* relu_2nn: h, else 0 */
    int depth;      /* decision_tree: depth, else 0 */
    int n_nodes;    /* decision_tree: 2^(depth+1) - 1, else 0 */
    float *w;       /* [B,d]: linear, sparse, noisy, classification, quadratic */
    float *W1;      /* [B,d,h]: relu_2nn, W1[b][k][j] */
    float *W2;      /* [B,h]:   relu_2nn */
    int *dt_feature;  /* [B,n_nodes]: decision_tree; internal nodes: feature in
                       * 0..d_active-1; leaves (i >= 2^depth - 1): -1 */
    float *dt_value;  /* [B,n_nodes]: decision_tree; leaves: N(0,1) value;
                       * internal nodes: 0 (unused) */
} ic_task_params;

/* Frees the buffers and zeroes the struct (safe on a zeroed struct). */
void ic_task_params_free(ic_task_params *p);

/* Draws B prompts of n points: xs [B,n,d], ys [B,n] (caller-allocated).
 * 1 <= d_active <= spec->n_dims. params may be NULL; otherwise it must be
 * zeroed or hold an earlier result (whose buffers are freed first) and
 * receives the true parameters. On error params is left zeroed, xs/ys are
 * unspecified and the RNG may have advanced. */
int ic_task_sample(const ic_task_spec *spec, ic_rng *rng, int B, int n, int d_active,
                   float *xs, float *ys, ic_task_params *params, ic_err *err);

/* Noiseless target of prompt b at x [d] (y_scale applied; classification
 * gives +-y_scale): what ic_task_sample computes before adding noise. The
 * spec must be the one the params were drawn with (its kind, n_dims, y_scale
 * are used). Returns -1 (y_out untouched) on NULL arguments, b out of range
 * or a spec/params mismatch; 0 otherwise. */
int ic_task_eval(const ic_task_spec *spec, const ic_task_params *params, int b, const float *x,
                 float *y_out);

#endif
