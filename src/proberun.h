/* proberun.h: the `iclab probe` analysis (cli/cmd_probe.c is parse -> call
 * -> print) on top of probe.h's primitives: ic_probe_run captures the
 * held-out prompts and runs the chosen analyses into a report;
 * ic_probe_write writes JSON + CSV per analysis and the SVG plots
 * (docs/probing.md). The two searches are separate functions with unit
 * tests: the SimE search over step counts of a classical solver, and the
 * ablation sweep over (step, rank). */
#ifndef ICLAB_PROBERUN_H
#define ICLAB_PROBERUN_H

#include <stdint.h>

#include "baselines.h"
#include "err.h"
#include "model.h"
#include "output.h"
#include "probe.h"
#include "tasks.h"

enum { IC_AN_LENS, IC_AN_PROBES, IC_AN_SIME, IC_AN_GEOMETRY, IC_AN_COMPONENTS, IC_AN_COUNT };
/* "lens", "probes", "sime", "geometry", "components" */
const char *ic_probe_analysis_name(int a);
/* A comma-separated list of those names, or "all", into want[IC_AN_COUNT]. */
int ic_probe_parse_what(const char *list, int *want, ic_err *err);

#define IC_PROBE_MAX_K 256

typedef struct {
    int want[IC_AN_COUNT];
    int B;                 /* held-out prompts (seed) */
    int Bt;                /* probe training prompts (seed + 1; shuffled control: seed ^ 0x5eed) */
    uint64_t seed;
    int chunk;             /* prompts per forward pass (training captures: 4 chunks) */
    int rank;              /* rank of the write subspaces compared (capped at C) */
    int ranks[IC_PROBE_MAX_K], nranks; /* ablation ranks; nranks 0: 0, 1, 2, 4, ..., C */
    int newton[IC_PROBE_MAX_K], n_newton; /* SimE step counts */
    int gd[IC_PROBE_MAX_K], n_gd;
    double lambda;         /* probe ridge, relative to the mean feature variance */
    int prev_y;            /* probe features include the previous y token */
    int cka;               /* geometry: the CKA matrices too */
    int parts;             /* capture attention/MLP outputs (for ic_capture_dump) */
} ic_probe_opts;

/* ---- the SimE search ---- */

/* For every state k (lens predictions lens [S,B,n]) and every step count
 * ks[c] of the solver (IC_BL_NEWTON or IC_BL_GD, defaults otherwise): SimE
 * of the state's lens with the solver's predictions on (xs, ys). sime [S,
 * nk + 1]: the last column is ls [S] (least squares, passed in); best [S]:
 * argmax over the nk step columns (the first on ties). progress (may be
 * NULL) gets (stage, c, nk). */
int ic_sime_search(ic_baseline_kind solver, const int *ks, int nk, const float *lens, int S, const float *xs,
                   const float *ys, int B, int n, int d, const double *ls, double *sime, int *best, ic_progress_fn progress,
                   void *pctx, const char *stage, ic_err *err);

/* ---- the ablation sweep ---- */

/* Squared error / d per position of pred against ys [B,n]: out[n]. */
void ic_err_curve(const float *pred, const float *ys, int B, int n, int d, double *out);

/* For every (loop, step) row of comp (R = loops x steps) and every rank
 * ranks[i]: the final error when the row's top-r write directions are
 * projected out (ic_probe_ablate). abl/ablk [R, nranks]: mean over all
 * positions, and at position kd (NaN when kd < 0); rank 0 is the intact
 * model (*ref_all, *ref_kd), run once. */
int ic_probe_ablation_sweep(ic_model *m, const ic_schedule *s, const float *xs, const float *ys, int B, int n, int chunk,
                            const ic_components *comp, int n_steps, const int *ranks, int nranks, int kd, double *abl,
                            double *ablk, double *ref_all, double *ref_kd, ic_progress_fn progress, void *pctx,
                            ic_err *err);

/* ---- the whole analysis ---- */

typedef struct {
    const char *name;      /* "newton", "gd" */
    int ks[IC_PROBE_MAX_K], nk;
    double *sime;          /* [S, nk + 1]: the last column is least squares */
    int *best;             /* [S] */
} ic_sime_family;

typedef struct {
    ic_probe_opts o;       /* as run: default ranks filled in, rank capped at C */
    int S, NS, R;          /* states, steps per loop, loops x steps */
    int B, n, d, C;
    int kd, k2d;           /* positions d and 2d (-1 past the prompt) */
    int has_w;             /* the task has a true w (the w probe is meaningful) */
    ic_capture cap;        /* the held-out capture */
    char **labels;         /* [S] state labels (ic_capture_label) */
    char **steplabels;     /* [R] the labels of the states after each step (borrowed from labels) */
    float *lens;           /* [S,B,n] lens predictions */
    double *curves;        /* [S,n] lens error per position */
    ic_probe_score *scores;        /* [S, IC_PT_COUNT] (probes) */
    ic_sime_family fam[2];         /* newton, gd (sime) */
    double *sime_ls;               /* [S] */
    ic_geometry geo;               /* (geometry) */
    ic_components comp;            /* (components) */
    double *overlap;               /* [R,R] */
    double *abl, *ablk;            /* [R, nranks] */
    double ref_all, ref_kd;
} ic_probe_report;

/* Draws o->B held-out prompts of n points of task from o->seed, captures
 * them under s, and runs the analyses o->want asks for. Free r with
 * ic_probe_report_free (also after a failure). */
int ic_probe_run(ic_model *m, const ic_schedule *s, const ic_task_spec *task, int n, const ic_probe_opts *o,
                 ic_progress_fn progress, void *pctx, ic_probe_report *r, ic_err *err);
void ic_probe_report_free(ic_probe_report *r);

/* DIR/<analysis>.json + CSVs + SVGs of every analysis run; meta: model,
 * schedule, loops, task, n_dims, n_points, prompts, seed, task_spec. */
int ic_probe_write(const char *dir, const ic_probe_report *r, const ic_meta *meta, ic_err *err);

#endif
