/* eval.h: in-context error curves (RESEARCH.md §2): squared error at every
 * prompt position, normalised (by d, or by s for sparse tasks), averaged
 * over prompts, with a bootstrap 90% interval over prompts. */
#ifndef ICLAB_EVAL_H
#define ICLAB_EVAL_H

#include "err.h"
#include "model.h"
#include "rng.h"

typedef struct {
    int n;        /* positions */
    double *mean; /* [n] */
    double *lo;   /* [n] bootstrap 5th percentile of the mean */
    double *hi;   /* [n] 95th */
} ic_curve;

/* sq[b,i] = (pred[b,i] - ys[b,i])^2 / norm. */
void ic_squared_errors(const float *pred, const float *ys, int B, int n, double norm, double *sq);
/* Mean over prompts per position, and a percentile bootstrap (n_boot
 * resamples of the prompts, drawn from rng) 90% interval. Allocates out. */
int ic_curve_from_errors(const double *sq, int B, int n, int n_boot, ic_rng *rng, ic_curve *out, ic_err *err);
void ic_curve_free(ic_curve *c);

/* Predictions of the model's last loop for B prompts, chunk prompts at a
 * time (no gradient storage). pred [B,n]. */
int ic_model_predict(ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n,
                     int chunk, float *pred, ic_err *err);

#endif
