/* shifts.h: evaluation settings — the distribution shifts of Garg et al.
 * (docs/evaluation.md) applied to a task's prompts.
 *
 *   standard            the training distribution
 *   noisy[:s]           y += N(0, s^2) at every position (default s = 1)
 *   scale_x:c           x scaled by c (Garg et al.: 1/3, 1/2, 2, 3)
 *   scale_y:c           y scaled by c
 *   skewed              x ~ N(0, Σ), Σ = Q diag(λ) Qᵀ, λ_i ∝ 1/(i+1)^2, trace d, Q random orthogonal
 *   half_subspace       x in a random d/2-dimensional subspace (Σ = Q diag(1,..,1,0,..,0) Qᵀ)
 *   random_quadrants    the context points of a prompt share one random orthant; queries do not
 *   orthogonal_query    the query at position k is orthogonal to the k context points (rescaled
 *                       to its original norm; 0 once the context spans R^d)
 *   overlapping_query   the query at position k equals a random earlier context point
 *
 * The last three change the query relative to its own context, so each
 * position k is evaluated on its own prompt: context points 0..k-1 and the
 * shifted query at k (ic_shift_is_per_position). One Σ (one Q) is drawn per
 * evaluation, as in Garg et al. */
#ifndef ICLAB_SHIFTS_H
#define ICLAB_SHIFTS_H

#include "err.h"
#include "rng.h"
#include "tasks.h"

typedef enum {
    IC_SHIFT_STANDARD, IC_SHIFT_NOISY, IC_SHIFT_SCALE_X, IC_SHIFT_SCALE_Y, IC_SHIFT_SKEWED,
    IC_SHIFT_HALF_SUBSPACE, IC_SHIFT_RANDOM_QUADRANTS, IC_SHIFT_ORTHOGONAL_QUERY,
    IC_SHIFT_OVERLAPPING_QUERY, IC_NUM_SHIFTS
} ic_shift_kind;

typedef struct {
    ic_shift_kind kind;
    double value; /* noise std / scale factor */
} ic_shift;

int ic_shift_parse(const char *text, ic_shift *out, ic_err *err);
/* "scale_x:2" etc. (round-trips through ic_shift_parse) */
void ic_shift_label(const ic_shift *s, char *buf, size_t len);
int ic_shift_is_per_position(const ic_shift *s);

/* A batch of evaluation prompts under shift s.
 * Ordinary shifts: xs [B,n,d], ys [B,n] as one prompt per row.
 * Per-position shifts: the same arrays hold the base prompts, and qx [B,n,d],
 * qy [B,n] hold the shifted query (and its target) for every position k;
 * position k is evaluated on (xs[b,0..k-1], ys[b,0..k-1]) + (qx[b,k], qy[b,k]).
 * qx/qy may be NULL for ordinary shifts. cov_sqrt_scratch [d*d] holds the
 * drawn Σ^{1/2} (must outlive nothing: used during the call only). */
int ic_shift_sample(const ic_task_spec *task, const ic_shift *s, ic_rng *rng, int B, int n, float *xs,
                    float *ys, float *qx, float *qy, ic_err *err);

#endif
