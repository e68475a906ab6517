/* probe.h: what each layer computes (docs/probing.md).
 *
 * Everything here works on a CAPTURE: the residual stream [B,T,C] of a batch
 * of prompts at every STATE of a forward pass. A schedule of L loops whose
 * body has S sequential steps (a parallel group is one step) has
 * L * (S + 1) states, in forward order:
 *
 *   state l*(S+1) + 0       loop l's input in_l (loop 0: P = read_in(z) + wpe)
 *   state l*(S+1) + j + 1   the residual after step j of loop l
 *
 * The last state is what ln_f and read_out turn into the model's prediction.
 * On top of a capture:
 *
 *   lens        ln_f + read_out (the model's own) applied to every state
 *   probes      closed-form ridge probes from the x-token residual of point i
 *               to y_i, the true w, X^T y / i and the least-squares w of the
 *               prefix, scored on held-out prompts, with a shuffled control
 *   SimE        cosine similarity of per-prompt error vectors (Fu et al.)
 *   geometry    cosine and linear-CKA matrices between states, block
 *               influence, residual norms (all / x tokens / y tokens)
 *   components  SVD of each step's update, subspace overlap between steps,
 *               ablation of the top-r write directions during the forward
 *
 * Library conventions: 0 / -1 with ic_err, no printing, no global state;
 * results are caller-owned structs freed by their *_free function. */
#ifndef ICLAB_PROBE_H
#define ICLAB_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"

/* ---------------- capture ---------------- */

typedef struct {
    int B, n, T, C, d;
    int loops;       /* L */
    int n_steps;     /* S: sequential steps per loop (a parallel group counts once) */
    int n_states;    /* L * (S + 1) */
    ic_schedule sched;   /* the schedule that was run */
    int *step_first;     /* [S]: schedule position of step j's first member */
    int *step_len;       /* [S]: members of step j (1 unless a parallel group) */
    float *xs, *ys;      /* copies of the prompts [B,n,d], [B,n] */
    float *resid;        /* [n_states, B, T, C] */
    float *attn, *mlp;   /* NULL, or [L*S, B, T, C]: each step's attention output (after
                            the projection) and MLP output; for a parallel group the mean
                            over its members, so attn + mlp = the step's update */
    float *preds;        /* [B,n]: the model's own predictions (last loop) */
} ic_capture;

/* Runs the model (schedule s) on B prompts, chunk at a time (chunk <= 0:
 * 128), and copies every state into cap (which must be zeroed or hold an
 * earlier capture; that one is freed first). parts = 0: a no-grad forward
 * in a workspace of its own whose step hook (workspace.h) copies each
 * step's output and each loop's input (one loop's activations in memory). parts = 1: a forward with need_grad = 1 and grad_loops =
 * loops, so every loop's activations are stored, read from the block
 * activations, which also give attn = res2 - input and mlp = out - res2.
 * Both are bit-identical to the model's own forward on the same batches
 * (need_grad does not change the arithmetic; another chunk size may differ
 * at float-rounding level, as BLAS kernels do). */
int ic_probe_capture(const ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n,
                     int chunk, int parts, ic_capture *cap, ic_err *err);
void ic_capture_free(ic_capture *cap);

/* Residual of state k [B,T,C]; state index of (loop l, j) with j = 0 the
 * loop input and j = 1..S after step j - 1. */
float *ic_capture_state(const ic_capture *cap, int k);
int ic_capture_index(const ic_capture *cap, int loop, int j);
/* Short label of state k: "in", "1:b0", ..., "3:(2|3)"; with L > 1 prefixed
 * by the loop: "l2.in", "l2.1:b0". Steps are numbered from 1 (step j - 1
 * of the body produced state j). */
void ic_capture_label(const ic_capture *cap, int k, char *buf, size_t len);

/* Writes the capture to a safetensors file: "xs" [B,n,d], "ys" [B,n],
 * "preds" [B,n], "resid.loop{l}.in" and "resid.loop{l}.step{j}" [B,T,C]
 * (j = 0..S-1: the residual after step j), and with parts
 * "attn.loop{l}.step{j}", "mlp.loop{l}.step{j}". Metadata: "iclab_probe"
 * (format note), "schedule" (ic_schedule_format), "loops", "steps" (JSON
 * array of each step's label), plus the caller's extra pairs. Atomic. */
int ic_capture_dump(const char *path, const ic_capture *cap, const char *const *keys, const char *const *vals,
                    int n_extra, ic_err *err);

/* ---------------- readout lens ---------------- */

/* pred [n_states, B, n]: read_out(ln_f(state)) at the x positions, with the
 * model's ln_f and read_out (the same kernels the forward uses, so the last
 * state reproduces the model's predictions bit for bit). */
int ic_probe_lens(const ic_model *m, const ic_capture *cap, float *pred, ic_err *err);

/* ---------------- linear probes (closed-form ridge) ---------------- */

/* Targets per sample. Samples are (prompt b, point i) for i = 1..n-1 (point
 * 0 has no context, so the prefix targets are undefined there): row
 * b*(n-1) + i - 1. Columns (IC_PT_COLS(d) = 1 + 3d):
 *   [0]            y_i                                   (Fu et al.'s layer predictions)
 *   [1, 1+d)       the prompt's true w                   (needs w; else NaN)
 *   [1+d, 1+2d)    X_{<i}^T y_{<i} / i                   (Garg et al.'s averaging estimator)
 *   [1+2d, 1+3d)   min-norm least-squares w of the prefix (dgelsd, ic_solve_least_squares) */
enum { IC_PT_Y, IC_PT_W, IC_PT_XTY, IC_PT_LSQ, IC_PT_COUNT };
#define IC_PT_COLS(d) (1 + 3 * (d))
const char *ic_probe_target_name(int t);        /* "y", "w", "xty", "lsq" */
void ic_probe_target_cols(int t, int d, int *first, int *count);
/* out [B*(n-1), IC_PT_COLS(d)]; w [B,d] may be NULL (w columns NaN). n >= 2. */
int ic_probe_targets(const float *xs, const float *ys, const float *w, int B, int n, int d, double *out,
                     ic_err *err);

/* Ridge regression by sufficient statistics: add rows, then solve. With
 * centred features and targets (so the intercept is not penalised):
 *   Sxx = cov(X) [F,F], Sxy = cov(X, Y) [F,K] (means over the N rows)
 *   (Sxx + lambda * tr(Sxx)/F * I) W = Sxy,   b = mean(Y) - mean(X) W
 * lambda is relative to the mean feature variance (scale free). Solved by
 * Cholesky (LAPACK dposv). Sums are in double. */
typedef struct {
    int F, K;
    double N;
    double *xx; /* [F,F] sum x x^T */
    double *xy; /* [F,K] sum x y^T */
    double *sx; /* [F] */
    double *sy; /* [K] */
} ic_ridge;
int ic_ridge_init(ic_ridge *r, int F, int K, ic_err *err);
void ic_ridge_free(ic_ridge *r);
/* X [N,F], Y [N,K] row-major. */
void ic_ridge_add(ic_ridge *r, const double *X, const double *Y, int N);
/* W [F,K], b [K]. Fails with fewer than 2 rows or a singular system. */
int ic_ridge_solve(const ic_ridge *r, double lambda, double *W, double *b, ic_err *err);
/* Held-out score of columns [c0, c0+nc) of a fitted ridge: pred = X W + b;
 *   R^2 = 1 - sum (pred - y)^2 / sum (y - mean_test(y))^2   (sums over rows and the nc columns)
 *   mse = sum (pred - y)^2 / (N nc). Rows whose target is NaN are skipped. */
void ic_ridge_score(const double *X, const double *Y, int N, int F, int K, const double *W, const double *b,
                    int c0, int nc, double *r2, double *mse);

/* Probe features of state k for every sample (b, i), i = 1..n-1: the
 * residual at x_i's token (2i), and with prev_y also at y_{i-1}'s token
 * (2i-1): X [B*(n-1), F], F = C or 2C. */
int ic_probe_features(const ic_capture *cap, int k, int prev_y, double *X);

/* Row permutation of the shuffled control: targets of prompt perm[b] are
 * given to prompt b (same point i). Fisher-Yates from ic_rng seeded with seed.
 * targets and out [B*(n-1), cols]. */
int ic_probe_shuffle_rows(const double *targets, int B, int n, int cols, uint64_t seed, double *out, ic_err *err);

typedef struct {
    double r2, mse;            /* probe fitted on the true targets */
    double r2_shuf, mse_shuf;  /* control: fitted on targets shuffled across prompts */
} ic_probe_score;

/* Probes for every state: one ridge accumulator per state whose columns are
 * the targets followed by the shuffled targets. Feed training captures
 * chunk by chunk (each with its own target rows), then score on a held-out
 * capture. */
typedef struct {
    int n_states, d, prev_y, F, K;
    ic_ridge *acc;  /* [n_states] */
    double *W, *b;  /* [n_states, F, K], [n_states, K] after solve */
} ic_probe_fit;
int ic_probe_fit_init(ic_probe_fit *pf, int n_states, int C, int d, int prev_y, ic_err *err);
/* targets and shuffled [cap->B*(n-1), IC_PT_COLS(d)] for the capture's prompts. */
int ic_probe_fit_add(ic_probe_fit *pf, const ic_capture *cap, const double *targets, const double *shuffled,
                     ic_err *err);
int ic_probe_fit_solve(ic_probe_fit *pf, double lambda, ic_err *err);
/* scores [n_states, IC_PT_COUNT]; targets of the held-out capture (the
 * shuffled probes are scored on the true held-out targets). Targets whose
 * columns are NaN get NaN scores. */
int ic_probe_fit_score(const ic_probe_fit *pf, const ic_capture *cap, const double *targets,
                       ic_probe_score *scores, ic_err *err);
void ic_probe_fit_free(ic_probe_fit *pf);

/* ---------------- similarity of errors ---------------- */

/* SimE (Fu et al.): per prompt b the error vectors e_a = pa[b, i] - y[b, i]
 * and e_b = pb[b, i] - y[b, i] over points i = pos0..n-1; their cosine; the
 * mean over prompts. Prompts where either vector is exactly zero are left
 * out (*used, may be NULL, gets how many counted); NaN if none. */
double ic_sime(const float *pa, const float *pb, const float *ys, int B, int n, int pos0, int *used);

/* ---------------- residual geometry ---------------- */

enum { IC_TOK_ALL, IC_TOK_X, IC_TOK_Y, IC_TOK_COUNT };
const char *ic_tok_name(int which); /* "all", "x", "y" */

/* Linear CKA (Kornblith et al. 2019) of X [N,cx] and Y [N,cy] (rows =
 * examples): columns centred, then
 *   CKA = |Yc^T Xc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F).
 * NaN when either centred matrix is zero. */
int ic_linear_cka(const double *X, int cx, const double *Y, int cy, int N, double *cka, ic_err *err);

typedef struct {
    int S; /* states */
    double *cos[IC_TOK_COUNT];       /* [S,S]: mean over tokens of cos(h_i, h_j) */
    double *cka[IC_TOK_COUNT];       /* [S,S]: linear CKA of the token x C matrices (NULL if not asked) */
    double *norm[IC_TOK_COUNT];      /* [S]: mean over tokens of |h| */
    double *influence[IC_TOK_COUNT]; /* [S]: 1 - mean over tokens of cos(previous state, state); NaN
                                        for loop inputs */
} ic_geometry;
/* cka = 0 skips the CKA matrices (the expensive part: S^2 C^2 N). progress
 * (may be NULL) is called with (done, total) pairs of CKA work. */
int ic_probe_geometry(const ic_capture *cap, int cka, ic_geometry *g, void (*progress)(void *, int, int),
                      void *pctx, ic_err *err);
void ic_geometry_free(ic_geometry *g);

/* ---------------- components of each step's update ---------------- */

typedef struct {
    int rows;     /* L * S: (loop l, step j) is row l*S + j */
    int C;
    double *sv;   /* [rows, C]: singular values of the update D = h_out - h_in (B*T tokens x C), descending */
    double *dirs; /* [rows, C, C]: dirs[row][k][c]: right singular vector k (unit, the k-th write direction) */
    double *evr;  /* [rows, C]: explained fraction sv_k^2 / sum sv^2 (uncentred: |D|_F^2 is the total) */
} ic_components;
int ic_probe_components(const ic_capture *cap, ic_components *out, ic_err *err);
void ic_components_free(ic_components *c);
/* Overlap of the top-r subspaces spanned by rows of U1, U2 ([>= r, C],
 * orthonormal rows): |U1_r U2_r^T|_F^2 / r = mean squared cosine of the r
 * principal angles; 1 = same subspace, about r/C for random ones. */
double ic_subspace_overlap(const double *U1, const double *U2, int C, int r);

/* Ablation: runs the model (need_grad = 0, chunk prompts at a time) with
 * the update of step `step` of loop `loop` projected off its top-r write
 * directions, h_out' = h_out - U_r U_r^T (h_out - h_in) for every token
 * (U_r: the first r rows of dirs [>= r, C]), through the step hook of a
 * workspace of its own (workspace.h).
 * r = 0 leaves the forward untouched (bit-identical); r = C with a full
 * orthonormal basis removes the update (= skipping the step, up to float
 * rounding). pred [B,n]: the last loop's predictions. */
int ic_probe_ablate(const ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n, int chunk,
                    int loop, int step, const double *dirs, int r, float *pred, ic_err *err);

#endif
