/* bench.h: timing of the training step (forward + backward + Adam). */
#ifndef ICLAB_BENCH_H
#define ICLAB_BENCH_H

#include "config.h"
#include "cpu.h"
#include "err.h"
#include "gemm.h"

typedef struct {
    double ms_per_step;      /* median over measured steps */
    double ms_min, ms_max;
    double ms_q1, ms_q3;     /* quartiles of the measured steps (ic_bench_quartile): their spread
                              * tells a quiet machine from a busy one (bench/benchstat.py) */
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

/* The q-quantile (0 <= q <= 1) of v[0..n) sorted ascending, n >= 1,
 * interpolated linearly between neighbours (numpy's default, which
 * bench/torch_bench.py uses for PyTorch's steps). */
double ic_bench_quantile(const double *sorted, int n, double q);

/* Timing of forward passes alone. */
typedef struct {
    double ms_per_batch;  /* median over reps */
    double ms_q1, ms_q3;  /* quartiles over reps */
    double prompts_per_s; /* batch / median */
    int shards;           /* the batch ran in this many shards, one thread each (ic_model_predict_sharded) */
    ic_precision prec;    /* the products' precision: cfg's "precision" */
} ic_bench_inf;

/* Forward passes only (inference, no gradient storage) of batch prompts,
 * sharded over the threads like the training step, with the products in
 * cfg's precision (bf16 refused, with one line, on a CPU without it). */
int ic_bench_inference(const ic_run_config *cfg, int batch, int warmup, int reps, ic_bench_inf *out, ic_err *err);

/* The machine's ceilings as this binary can reach them: register-only loops
 * of independent vector multiply-adds (no memory traffic) with the widest
 * fp32 vectors the CPU executes (cpuid at run time: AVX-512F 16 lanes,
 * AVX2+FMA 8, SSE 4), on every OpenMP thread for about `seconds`; 2 flops per
 * FMA lane (docs/performance.md). */
typedef struct {
    double gflops;       /* fp32 ceiling, all threads (sum of each thread's best of 5 rounds) */
    int threads, lanes;  /* OpenMP threads; fp32 lanes per FMA of the loop measured */
    const char *isa;     /* the loop's instruction set: "avx512f", "avx2+fma", "sse", "scalar" */
    double bf16_gflops;  /* bf16 products, fp32 sums (vdpbf16ps loop), measured; 0 without AVX512_BF16 */
    const char *bf16_isa; /* "avx512_bf16" or NULL */
    double amx_bf16_vendor_gflops; /* 0 without AMX-BF16; otherwise Intel's 1024 bf16
                                    * flops/cycle/core x threads x clock_ghz: a vendor
                                    * figure, NOT measured */
    double clock_ghz;    /* ic_bench_clock_ghz (0 off x86) */
    char cpu[64];        /* brand string (or vendor) */
    char features[256];  /* ic_cpu_features_string */
} ic_ceiling;

/* Mean per-thread clock in GHz over every OpenMP thread, measured with a
 * chain of dependent 1-cycle integer adds (each thread's best of 5 rounds);
 * 0 off x86. */
double ic_bench_clock_ghz(double seconds);

/* seconds <= 0: only names the CPU (cpu, features, threads; gflops 0). */
void ic_bench_ceiling(double seconds, ic_ceiling *out);

/* ---- the OpenBLAS kernel set (docs/performance.md) ----
 * Debian's OpenBLAS picks its kernels from the CPU model at load time; on a
 * CPU model it does not know it silently falls back to old SSE kernels
 * ("Prescott") that run several times slower. The CPU's features tell which
 * kernel set it can run. */

/* Kernel set to ask for (an OPENBLAS_CORETYPE value), or NULL when corename
 * is already right for a CPU with these features: AVX-512 (F, BW, VL, DQ)
 * -> "SkylakeX" unless an AVX-512 set runs (SkylakeX, Cooperlake,
 * SapphireRapids); AVX2 + FMA -> "Haswell" unless an AVX2 or AVX-512 set
 * runs (Haswell, Zen, SkylakeX, ...). Pure function, tested. */
const char *ic_blas_coretype_for(int avx512, int avx2_fma, const char *corename);
/* The same for this CPU (cpuid) and the loaded OpenBLAS's kernel set
 * (corename NULL), or a given kernel set name (to test the mechanism). */
const char *ic_blas_coretype_suggestion(const char *corename);
/* The kernel set OpenBLAS runs ("Zen", "Haswell", ...). */
const char *ic_blas_corename(void);

#endif
