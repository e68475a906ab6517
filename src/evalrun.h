/* evalrun.h: the `iclab eval` analysis (cli/cmd_eval.c is parse -> call ->
 * print): every setting (a distribution shift, shifts.h, or a prompt file)
 * x every predictor (the model, then classical baselines) on the same
 * prompts; an error curve with a bootstrap interval per pair (eval.h).
 *
 * Seeds: setting i draws its prompts from seed + 7919 i; every curve's
 * bootstrap draws from seed ^ 0xB007, so predictors are paired. */
#ifndef ICLAB_EVALRUN_H
#define ICLAB_EVALRUN_H

#include <stdint.h>

#include "baselines.h"
#include "err.h"
#include "eval.h"
#include "model.h"
#include "output.h"
#include "prompts.h"
#include "shifts.h"
#include "tasks.h"

#define IC_EVAL_MAX_PRED 24
#define IC_EVAL_MAX_SETTINGS 64

typedef struct {
    char label[96];
    ic_baseline_spec bl;
    int is_model; /* the transformer (bl unused) */
} ic_predictor;

/* The baselines eval runs by default for a task, e.g.
 * "least_squares,averaging,knn:3". */
const char *ic_eval_default_baselines(ic_task_kind kind);
/* The model ("transformer") followed by the comma-separated baselines
 * (NULL: the task's defaults). At most IC_EVAL_MAX_PRED in all. */
int ic_eval_predictors(const char *baselines, ic_task_kind kind, ic_predictor *out, int *np, ic_err *err);
/* Comma-separated settings (shifts.h), or "all": every setting of Garg et
 * al.'s Figure set. At most IC_EVAL_MAX_SETTINGS. */
int ic_eval_settings(const char *text, ic_shift *out, int *n, ic_err *err);

typedef struct {
    int B, n;                /* prompts per setting, points per prompt */
    uint64_t seed;
    int n_boot;              /* bootstrap resamples (0: none) */
    const ic_prompts *file;  /* non-NULL: one setting, "file", with these prompts (B, n from it) */
    const ic_shift *shifts;  /* the settings (unused with file) */
    int nset;
    const ic_predictor *pred;
    int np;
    double halt_tol;         /* > 0: the model halts each prompt at its own fixed point (model.h) */
    ic_precision precision;  /* the model's matrix products (gemm.h; 0: fp32), whatever it was trained in */
    const ic_cpu *cpu;       /* the CPU bf16 is checked against (ic_precision_check); NULL: this machine's
                                (tests pretend to be another) */
} ic_eval_spec;

typedef struct {
    int nset, np, B, n, d;
    double norm;              /* errors are divided by it: d, or s for sparse tasks */
    const char *metric;       /* "squared error / d" or "/ s" */
    char (*label)[64];        /* [nset]: "standard", "noisy_1", ... ("file") */
    int *per_position;        /* [nset]: each position predicted from its own prompt */
    ic_predictor *pred;       /* [np] */
    ic_curve *curves;         /* [nset * np]: setting i, predictor j at i * np + j */
    double *seconds;          /* [nset * np]: prediction time */
    double halt_tol;          /* the spec's; 0: no halting */
    ic_precision precision;   /* the spec's */
    int L;                    /* the model's loops (halting: the most a prompt runs) */
    long *loops_count;        /* halting: [nset * (L+1)]: prompts (x positions, per-position settings)
                                 of setting i that used t loops at i * (L+1) + t */
} ic_eval_report;

/* Runs every setting x predictor on the model (m, s) and task (norm: the
 * error normaliser). progress (may be NULL): (setting label, predictors
 * done, np). A precision spec->cpu cannot run is refused, with one line,
 * before any work. Free r with ic_eval_report_free. */
int ic_eval_run(ic_model *m, const ic_schedule *s, const ic_task_spec *task, double norm, const ic_eval_spec *spec,
                ic_progress_fn progress, void *pctx, ic_eval_report *r, ic_err *err);
void ic_eval_report_free(ic_eval_report *r);

/* DIR/results.json (meta: model, task, task_spec, n_dims, n_points, prompts,
 * seed, schedule, loops, precision; then every curve with its timing; with halting the
 * model's "loops_used": tol, mean, min, max and the distribution) and per setting
 * <setting>.csv, .svg, _log.svg (ic_curves_write). */
int ic_eval_write(const char *dir, const ic_eval_report *r, const ic_meta *meta, ic_err *err);

#endif
