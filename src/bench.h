/* bench.h: timing of the training step (forward + backward + Adam). */
#ifndef ICLAB_BENCH_H
#define ICLAB_BENCH_H

#include "config.h"
#include "err.h"

typedef struct {
    double ms_per_step;      /* median over measured steps */
    double ms_min, ms_max;
    double ms_pass, ms_update; /* medians of the parts: forward + backward (ic_model_train_pass), Adam */
    int shards;                /* prompts split into this many shards, one thread each */
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

/* Forward passes only (inference, no gradient storage) of batch prompts:
 * median ms per batch over reps and prompts per second. */
int ic_bench_inference(const ic_run_config *cfg, int batch, int warmup, int reps, double *ms_per_batch,
                       double *prompts_per_s, ic_err *err);

/* The machine's fp32 ceiling as this build can reach it: a register-only
 * loop of independent vector FMAs (no memory traffic) on every OpenMP thread
 * for about `seconds`; GFLOP/s counting 2 per FMA lane (RESEARCH.md §7
 * measured its machine the same way). */
double ic_bench_fma_ceiling(double seconds);

/* ---- the OpenBLAS kernel set (RESEARCH.md §7) ----
 * Debian's OpenBLAS picks its kernels from the CPU model at load time; on a
 * CPU model it does not know it silently falls back to old SSE kernels
 * ("Prescott") that run several times slower. The CPU's features tell which
 * kernel set it can run. */

/* Kernel set to ask for (an OPENBLAS_CORETYPE value), or NULL when corename
 * is already right for a CPU with these features: AVX-512 (F, BW, VL, DQ)
 * -> "SkylakeX"; AVX2 + FMA -> "Haswell"; the AVX2 sets (Haswell, Zen,
 * SkylakeX, ...) count as right for an AVX2 CPU. Pure function, tested. */
const char *ic_blas_coretype_for(int avx512, int avx2_fma, const char *corename);
/* The same for this CPU (cpuid) and the loaded OpenBLAS's kernel set
 * (corename NULL), or a given kernel set name (to test the mechanism). */
const char *ic_blas_coretype_suggestion(const char *corename);
/* The kernel set OpenBLAS runs ("Zen", "Haswell", ...). */
const char *ic_blas_corename(void);

#endif
