/* loops.h: a (looped) model run for 1..L loops, far past its trained loop
 * count (docs/cli.md): per loop the in-context error and the fixed-point
 * measure |Y_{t+1} - Y_t| / |Y_t|. Does it converge, stall or diverge?
 * `iclab loops` (cli/cmd_loops.c) is parse -> ic_loops_run -> ic_loops_write. */
#ifndef ICLAB_LOOPS_H
#define ICLAB_LOOPS_H

#include "err.h"
#include "model.h"
#include "output.h"

typedef struct {
    int L;             /* loops run */
    int trained;       /* the model's own loop count */
    int B, n, d;       /* prompts, points, dimensions */
    int ks[3];         /* d/2, d, 2d */
    double *err;       /* [L]: squared error / d over all prompts and positions */
    double *err_k;     /* [L,3]: at ks[j]; NaN where ks[j] >= n */
    double *fixed_point; /* [L]: sqrt(sum |Y_{t+1}-Y_t|^2 / sum |Y_t|^2) over ALL prompts
                            (the sums add over chunks, so it does not depend on the chunk
                            size); NaN for loop 1 */
    /* halting (ic_loops_run_halting with halt_tol > 0, model.h): each prompt stops at the
     * first loop whose own fixed-point measure is below halt_tol and keeps that loop's
     * prediction, so err[t] is the error of the prompts' predictions after at most t+1
     * loops; the fixed-point sums cover each prompt's states while it still ran */
    double halt_tol;     /* 0: every prompt ran L loops */
    int *loops_used;     /* [B]: loops each prompt ran (L without halting) */
} ic_loops_report;

/* max(20, 4 x trained): how far `iclab loops` runs by default. */
int ic_loops_default_max(int trained);

/* Runs s's body for L loops (one forward pass per chunk of `chunk` prompts,
 * every loop's prediction read out) on xs [B,n,d], ys [B,n]. s is not
 * changed (its loops are the trained count). progress (may be NULL) gets
 * ("prompts", done, B) after each chunk. Free r with ic_loops_report_free. */
int ic_loops_run(const ic_model *m, const ic_schedule *s, int L, const float *xs, const float *ys, int B, int n, int chunk,
                 ic_progress_fn progress, void *pctx, ic_loops_report *r, ic_err *err);
void ic_loops_report_free(ic_loops_report *r);
/* The same with halting at halt_tol >= 0 (0: ic_loops_run). */
int ic_loops_run_halting(const ic_model *m, const ic_schedule *s, int L, double halt_tol, const float *xs,
                         const float *ys, int B, int n, int chunk, ic_progress_fn progress, void *pctx,
                         ic_loops_report *r, ic_err *err);

/* DIR/loops.csv, loops.json (meta: model, task, task_spec, prompts, n_points),
 * loops_error.svg, loops_fixed_point.svg; with halting also loops_used.csv
 * (loops, prompts: the distribution) and loops.json's "halting" (tol, mean,
 * min, max of the loops used, the error at the end). */
int ic_loops_write(const char *dir, const ic_loops_report *r, const ic_meta *meta, ic_err *err);

#endif
