/* surgery.h: layer surgery at inference (docs/surgery.md).
 *
 * A sweep is a family of schedule variants of a model's own body (the base):
 * every layer skipped, every block duplicated, every pair swapped, ... Each
 * variant is named by its schedule-language text relative to the base
 * (schedule.h: "skip(2)", "dup(1-3)", "swap(0,4)"), so
 * `iclab eval --schedule 'dup(1-3)'` re-runs it. Every variant and the
 * unmodified model predict the same prompts; per variant we report the error
 * curve (with a bootstrap interval over prompts), at chosen positions k the
 * error, its ratio to the unmodified model's with a PAIRED bootstrap 90%
 * interval (prompts resampled jointly for both), and the mean squared
 * distance of its predictions to the unmodified model's.
 *
 * Slots: the base body's sequential positions (a parallel group is one
 * slot); for a plain model slot i is block i. */
#ifndef ICLAB_SURGERY_H
#define ICLAB_SURGERY_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "eval.h"
#include "model.h"
#include "output.h"
#include "tasks.h"

typedef enum {
    IC_SWEEP_SKIP_EACH,       /* skip(i) for every slot i */
    IC_SWEEP_DUPLICATE_EACH,  /* dup(i) for every slot i */
    IC_SWEEP_DUPLICATE_BLOCK, /* dup(a-b) for every a <= b (heatmap start x end) */
    IC_SWEEP_SWAP_MATRIX,     /* swap(i,j) for every i < j (symmetric heatmap) */
    IC_SWEEP_SHUFFLE,         /* shuffle(span, seed) for seeds 1..N */
    IC_SWEEP_REVERSE,         /* reverse(a-b) for every a < b (heatmap) */
    IC_SWEEP_MIDDLE_REPEAT,   /* middle(a-b) for every a < b (heatmap) */
    IC_SWEEP_PARALLEL,        /* parallel(a-b, K) for every a < b and each K (heatmap per K) */
    IC_SWEEP_LOOPS,           /* the whole body run 1..N times */
    IC_NUM_SWEEPS
} ic_sweep_kind;

/* "skip-each", "duplicate-each", ... */
const char *ic_sweep_name(ic_sweep_kind k);
/* Name to kind; the error lists the known names. */
int ic_sweep_parse(const char *name, ic_sweep_kind *out, ic_err *err);

/* "skip-each,loops" or "all" into want[IC_NUM_SWEEPS]. */
int ic_sweep_parse_list(const char *list, int *want, ic_err *err);

#define IC_SWEEP_MAX_K 8
#define IC_SWEEP_MAX_PAR 8

typedef struct {
    int shuffles;             /* shuffle: seeds 1..shuffles */
    int span_lo, span_hi;     /* shuffle: slots permuted; span_lo < 0: 1..slots-2, or 0..slots-1
                               * when that middle has fewer than 2 slots */
    int par_loops[IC_SWEEP_MAX_PAR]; /* parallel: the K values */
    int n_par_loops;
    int max_loops;            /* loops: 1..max_loops */
} ic_sweep_opts;

/* shuffles 20, middle span, K in {1, 2}, max_loops max(20, 4 x base loops). */
void ic_sweep_opts_default(ic_sweep_opts *o, const ic_schedule *base);

typedef struct {
    char label[64];   /* schedule-language text on the base, or "loops=L" */
    int row, col;     /* heatmap cell (start/end slot, or i/j); -1: none */
    int group;        /* parallel: index into par_loops; else 0 */
    ic_schedule sched;
} ic_variant;


/* The variants of one sweep on base (a model's schedule; loop fields are
 * kept, except for IC_SWEEP_LOOPS). n_layer bounds block indices. Allocates
 * *out (free()). */
int ic_sweep_variants(ic_sweep_kind kind, const ic_schedule *base, int n_layer, const ic_sweep_opts *o,
                      ic_variant **out, int *n_out, ic_err *err);

typedef struct {
    ic_curve curve;                  /* error per position, bootstrap 90% interval */
    double err[IC_SWEEP_MAX_K];      /* mean error at ks[j] */
    double ratio[IC_SWEEP_MAX_K];    /* err / the unmodified model's err at ks[j] */
    double ratio_lo[IC_SWEEP_MAX_K]; /* paired bootstrap 90% interval of the ratio */
    double ratio_hi[IC_SWEEP_MAX_K];
    double dist[IC_SWEEP_MAX_K];     /* mean (pred - pred_unmodified)^2 / norm at ks[j] */
    double dist_all;                 /* the same over all positions */
    double err_all;                  /* mean error over all positions */
    int same_as_original;            /* the variant runs exactly the original schedule
                                        (e.g. loops = the trained count, or a shuffle that
                                        drew the identity): left out of best/worst */
} ic_variant_result;

typedef struct {
    int B, n;        /* prompts, positions */
    double norm;     /* squared errors are divided by this (d, or s for sparse tasks) */
    int nk;
    int ks[IC_SWEEP_MAX_K];
    int n_boot;
    uint64_t boot_seed;
    int chunk;       /* prompts per forward pass */
    const ic_task_spec *task; /* the prompts' distribution, recorded in the JSON as
                                 "task_spec" (ic_task_spec_json); NULL: not recorded */
    /* called after each variant (may be NULL) */
    void (*progress)(void *ctx, int done, int total);
    void *progress_ctx;
} ic_surgery_opts;

/* Evaluates base (res_base) and every variant on the prompts xs [B,n,d],
 * ys [B,n]. res has nv entries. Free with ic_surgery_results_free. */
int ic_surgery_eval(const ic_model *m, const ic_schedule *base, const ic_variant *v, int nv, const float *xs,
                    const float *ys, const ic_surgery_opts *o, ic_variant_result *res_base,
                    ic_variant_result *res, ic_err *err);
void ic_surgery_results_free(ic_variant_result *r, int n);

/* The statistics of one set of predictions pv [B,n] against the targets ys
 * and reference predictions pb [B,n] (pb == NULL: pv is the reference; its
 * ratios are 1 and distances 0): what ic_surgery_eval computes per variant,
 * for predictions made any way (e.g. by another model: iclab compare). */
int ic_paired_stats(const float *pv, const float *pb, const float *ys, const ic_surgery_opts *o, ic_variant_result *r,
                    ic_err *err);

/* The output of paired statistics, shared by surgery and compare: a curve as
 * {"mean", "lo90", "hi90"}; the "at_k" array ({k, err, ratio, ratio_lo90,
 * ratio_hi90, dist} per k); the CSV columns err_kK, ratio_kK, ratio_lo90_kK,
 * ratio_hi90_kK, dist_kK per k, and the cells of one result for them
 * (returns how many: 5 per k). */
json_t *ic_curve_json(const ic_curve *c);
json_t *ic_paired_at_k_json(const ic_variant_result *r, const ic_surgery_opts *o);
void ic_paired_table_cols(ic_table *t, const ic_surgery_opts *o);
int ic_paired_table_cells(ic_cell *c, const ic_variant_result *r, const ic_surgery_opts *o);

/* Index of the variant with the lowest (best) or highest (worst) ratio at
 * ks[j] (finite ratios only, variants that are the original left out); -1
 * if none. */
int ic_surgery_best(const ic_variant_result *r, int n, int j, int worst);

/* Writes DIR/<sweep>.csv (one row per variant: label, schedule, cell, error,
 * ratio [lo, hi] and distance at each k), DIR/<sweep>.json (the same plus
 * every curve), and the plots: a heatmap of the ratio at each k for the 2-D
 * sweeps (one per K for parallel), bars with interval for the 1-D ones, the
 * ratio per loop count for loops, and DIR/<sweep>_curves.svg: the unmodified
 * model with the best and the worst variant (at the last k). */
int ic_surgery_write(const char *dir, ic_sweep_kind kind, const ic_sweep_opts *so, const ic_surgery_opts *o,
                     const ic_schedule *base, const ic_variant *v, const ic_variant_result *res_base,
                     const ic_variant_result *res, int nv, ic_err *err);

#endif
