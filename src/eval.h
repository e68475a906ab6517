/* eval.h: in-context error curves (docs/evaluation.md): squared error at every
 * prompt position, normalised (by d, or by s for sparse tasks), averaged
 * over prompts, with a bootstrap 90% interval over prompts. */
#ifndef ICLAB_EVAL_H
#define ICLAB_EVAL_H

#include "baselines.h"
#include "err.h"
#include "gemm.h"
#include "model.h"
#include "rng.h"
#include "tasks.h"

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

/* B prompts of n points of task drawn from an RNG seeded with seed: *xs
 * [B,n,d] and *ys [B,n], allocated (free() them; NULL after a failure). */
int ic_eval_prompts(const ic_task_spec *task, uint64_t seed, int B, int n, int d, float **xs, float **ys, ic_err *err);

/* Predictions of the model's last loop for B prompts, chunk prompts at a
 * time (no gradient storage), in the workspace ws (its step hook applies).
 * pred [B,n]. */
int ic_model_predict_ws(const ic_model *m, ic_workspace *ws, const ic_schedule *s, const float *xs, const float *ys,
                        int B, int n, int chunk, float *pred, ic_err *err);
/* The same in a workspace of its own, freed before it returns. */
int ic_model_predict(const ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n,
                     int chunk, float *pred, ic_err *err);

/* Writes DIR/<base>.csv (column k, then mean, lo90, hi90 per curve; a
 * non-finite value is an empty field, numout.h),
 * DIR/<base>.svg and DIR/<base>_log.svg (linear and log y; curve 0 solid, the
 * others dashed, each with its interval band). ':' and '/' in base become
 * '_' in the file names. labels[i] names curve i in the CSV and legend. */
int ic_curves_write(const char *dir, const char *base, const char *title, const char *metric,
                    const char *const *labels, const ic_curve *c, int nc, ic_err *err);

/* Predictions under a setting (shifts.h). For ordinary settings, the last
 * loop's predictions on (xs, ys). For per-position settings, position k is
 * predicted from its own prompt: context xs/ys[0..k-1] and the query qx[k]
 * (its y, qy[k], is never shown to the predictor). pred [B,n]. The
 * predictor is the model (m, s) when bl is NULL, else the baseline bl. */
int ic_eval_predict(const ic_model *m, const ic_schedule *s, const ic_baseline_spec *bl, int per_position, const float *xs,
                    const float *ys, const float *qx, int B, int n, int d, float *pred, ic_err *err);

/* Adaptive depth for the model's predictions (model.h, "Halting"): tol > 0
 * stops each prompt at its own fixed point; count[1..s->loops] (caller's,
 * zeroed) accumulates how many prompts used each loop count (one per
 * prompt, or per prompt and position for a per-position setting). */
typedef struct {
    double tol;
    long *count;
} ic_eval_halt;
/* ic_eval_predict with halting (halt NULL or tol 0: the same) and the
 * model's matrix products in precision prec (gemm.h; ic_eval_predict: fp32;
 * bf16: the caller has checked the CPU with ic_precision_check). */
int ic_eval_predict_halt(const ic_model *m, const ic_schedule *s, const ic_baseline_spec *bl, int per_position,
                         const float *xs, const float *ys, const float *qx, int B, int n, int d, const ic_eval_halt *halt,
                         ic_precision prec, float *pred, ic_err *err);

#endif
