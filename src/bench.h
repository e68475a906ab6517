/* bench.h: timing of the training step (forward + backward + Adam). */
#ifndef ICLAB_BENCH_H
#define ICLAB_BENCH_H

#include "config.h"
#include "err.h"

typedef struct {
    double ms_per_step;      /* median over measured steps */
    double ms_min, ms_max;
    double ms_forward, ms_backward, ms_update; /* medians of the parts */
    double gflops;           /* model FLOPs (fwd + 2x fwd for bwd) / median time */
    double flops_per_step;
    int steps, warmup, threads;
    long peak_rss_kb;        /* peak resident memory of the process */
    size_t num_params;
    char blas[128];          /* BLAS library and kernel set, e.g. "OpenBLAS 0.3.21 SkylakeX" */
} ic_bench_result;

/* Builds a random model from cfg (seeded), random prompts, runs warmup +
 * steps training steps and reports medians. */
int ic_bench_train_step(const ic_run_config *cfg, int warmup, int steps, ic_bench_result *out,
                        ic_err *err);

/* "OpenBLAS <version> <core>" for the linked BLAS. */
void ic_blas_describe(char *buf, size_t len);

#endif
