#include "bench.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "adam.h"
#include "cpu.h"
#include "model.h"
#include "rng.h"
#include "tasks.h"

/* OpenBLAS extensions (declared in its cblas.h, repeated here for other BLAS headers). */
char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);

void ic_blas_describe(char *buf, size_t len) {
    snprintf(buf, len, "%s, kernels %s", openblas_get_config(), openblas_get_corename());
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

const char *ic_blas_corename(void) { return openblas_get_corename(); }

const char *ic_blas_coretype_for(int avx512, int avx2_fma, const char *corename) {
    /* kernel sets (OpenBLAS names, compared case-insensitively) that use
     * AVX-512 / at least AVX2 + FMA */
    static const char *const k512[] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *const k256[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"};
    if (!corename) return NULL;
    if (avx512) {
        /* every AVX2 set, Zen's included, counts as weaker here: on a Zen 5
         * EPYC (AVX-512) sgemm 2048^3 on one thread ran 101 GFLOP/s with
         * the Zen kernels, 99.6 with Haswell's, 186 with SkylakeX's */
        for (size_t i = 0; i < sizeof k512 / sizeof *k512; i++)
            if (strcasecmp(corename, k512[i]) == 0) return NULL;
        return "SkylakeX";
    }
    if (avx2_fma) {
        for (size_t i = 0; i < sizeof k256 / sizeof *k256; i++)
            if (strcasecmp(corename, k256[i]) == 0) return NULL;
        return "Haswell";
    }
    return NULL;
}

const char *ic_blas_coretype_suggestion(const char *corename) {
    ic_cpu cpu;
    ic_cpu_detect(&cpu);
    return ic_blas_coretype_for(ic_cpu_avx512(&cpu), cpu.avx2 && cpu.fma,
                                corename ? corename : openblas_get_corename());
}

/* ---- the ceiling ----
 * Register-only loops of independent multiply-adds, one per instruction set,
 * each compiled for its own target (function attributes) so the choice is
 * made at run time from cpuid, not by the build's -march: the sanitizer
 * build and a binary copied to another machine measure the same thing.
 * Twelve accumulators hide a 4-cycle FMA latency on two ports (8 needed);
 * the empty asm keeps them in registers and stops the compiler folding the
 * loop. Intrinsics, not a*b+c, because -std=c11 turns FP contraction off
 * unless the build adds -ffp-contract=fast (the sanitizer build does not). */
#define IC_ACC12(OP) \
    a0 = OP(a0); a1 = OP(a1); a2 = OP(a2); a3 = OP(a3); a4 = OP(a4); a5 = OP(a5); \
    a6 = OP(a6); a7 = OP(a7); a8 = OP(a8); a9 = OP(a9); a10 = OP(a10); a11 = OP(a11)
/* the sum of the twelve accumulators, a tree of ADD(x, y) */
#define IC_SUM12(ADD) \
    ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), ADD(ADD(a8, a9), ADD(a10, a11)))
#define IC_KEEP12(C) \
    __asm__ volatile("" : "+" C(a0), "+" C(a1), "+" C(a2), "+" C(a3), "+" C(a4), "+" C(a5)); \
    __asm__ volatile("" : "+" C(a6), "+" C(a7), "+" C(a8), "+" C(a9), "+" C(a10), "+" C(a11))

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define IC_X86_LOOPS 1

/* 16-lane fp32 FMA (AVX-512F): 12 x 16 lanes x 2 flops per iteration */
__attribute__((target("avx512f"))) static double loop_avx512(long iters, float *sink) {
    __m512 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = _mm512_set1_ps(1.0f);
    const __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define OP(x) _mm512_fmadd_ps(x, b, c)
    for (long i = 0; i < iters; i++) {
        IC_ACC12(OP);
        IC_KEEP12("v");
    }
#undef OP
    const __m512 t = IC_SUM12(_mm512_add_ps);
    *sink = _mm512_reduce_add_ps(t);
    return (double)iters * 12 * 16 * 2;
}

/* 8-lane fp32 FMA (AVX2 + FMA) */
__attribute__((target("avx2,fma"))) static double loop_avx2(long iters, float *sink) {
    __m256 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = _mm256_set1_ps(1.0f);
    const __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define OP(x) _mm256_fmadd_ps(x, b, c)
    for (long i = 0; i < iters; i++) {
        IC_ACC12(OP);
        IC_KEEP12("x");
    }
#undef OP
    const __m256 t = IC_SUM12(_mm256_add_ps);
    float v[8];
    _mm256_storeu_ps(v, t);
    *sink = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    return (double)iters * 12 * 8 * 2;
}

/* 4-lane SSE2 (every x86-64): a multiply and an add, 2 flops per lane */
static double loop_sse(long iters, float *sink) {
    __m128 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = _mm_set1_ps(1.0f);
    const __m128 b = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-7f);
#define OP(x) _mm_add_ps(_mm_mul_ps(x, b), c)
    for (long i = 0; i < iters; i++) {
        IC_ACC12(OP);
        IC_KEEP12("x");
    }
#undef OP
    const __m128 t = IC_SUM12(_mm_add_ps);
    float v[4];
    _mm_storeu_ps(v, t);
    *sink = v[0] + v[1] + v[2] + v[3];
    return (double)iters * 12 * 4 * 2;
}

/* bf16 dot products with fp32 accumulation (AVX512_BF16 vdpbf16ps): each
 * instruction does 16 lanes x 2 bf16 products = 64 flops */
__attribute__((target("avx512f,avx512bf16"))) static double loop_bf16(long iters, float *sink) {
    __m512 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = _mm512_set1_ps(1.0f);
    /* bf16 bit patterns: 1.0 and 2^-24 (tiny, so the sums stay finite) */
    const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3380);
#define OP(x) _mm512_dpbf16_ps(x, b, c)
    for (long i = 0; i < iters; i++) {
        IC_ACC12(OP);
        IC_KEEP12("v");
    }
#undef OP
    const __m512 t = IC_SUM12(_mm512_add_ps);
    *sink = _mm512_reduce_add_ps(t);
    return (double)iters * 12 * 32 * 2;
}

/* 8 dependent 1-cycle integer adds per iteration: iterations x 8 = cycles */
static double loop_clock(long iters, float *sink) {
    unsigned long x = 0;
    for (long i = 0; i < iters; i++)
        __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                         "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                         : "+r"(x));
    *sink = (float)x;
    return (double)iters * 8; /* "flops" here are cycles */
}
#endif

/* portable fallback: scalar multiply-adds the compiler may vectorise */
static double loop_scalar(long iters, float *sink) {
    float a[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    for (long i = 0; i < iters; i++)
        for (int l = 0; l < 8; l++) a[l] = a[l] * 0.999999f + 1e-7f;
    *sink = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    return (double)iters * 8 * 2;
}

typedef double (*loop_fn)(long iters, float *sink);

/* Runs loop on every OpenMP thread for about `seconds` in `reps` rounds
 * and returns the sum over threads of each thread's best round's rate
 * (per second, in units of the loop's count / 1e9). The best round, not the
 * mean: a ceiling is what the hardware can do, and a round slowed by another
 * process on the core says nothing about that. */
static double measure_loop(loop_fn loop, double seconds, int reps) {
    float sink = 0;
    long iters = 1 << 12;
    double dt = 0;
    /* calibrate on one thread until a round takes a measurable time */
    for (;;) {
        double t0 = now_ms();
        loop(iters, &sink);
        dt = now_ms() - t0;
        if (dt >= 5.0 || iters > (1L << 40)) break;
        iters *= 4;
    }
    if (dt > 0) iters = (long)((double)iters * (seconds * 1e3 / reps / dt));
    if (iters < 1) iters = 1;
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
        double best = 0;
        float snk = 0;
        for (int r = 0; r < reps; r++) {
            double t1 = now_ms();
            double count = loop(iters, &snk);
            double ms = now_ms() - t1;
            if (ms > 0 && count / (ms * 1e6) > best) best = count / (ms * 1e6);
        }
        total += best;
        if (snk == 12345.0f) total += 0; /* use the result */
    }
    (void)sink;
    return total;
}

void ic_bench_ceiling(double seconds, ic_ceiling *out) {
    memset(out, 0, sizeof *out);
    ic_cpu cpu;
    ic_cpu_detect(&cpu);
    snprintf(out->cpu, sizeof out->cpu, "%s", cpu.brand[0] ? cpu.brand : (cpu.vendor[0] ? cpu.vendor : "unknown CPU"));
    ic_cpu_features_string(&cpu, out->features, (int)sizeof out->features);
#ifdef _OPENMP
    out->threads = omp_get_max_threads();
#else
    out->threads = 1;
#endif
    if (!(seconds > 0)) return;
    const int reps = 5;
    loop_fn fp32 = loop_scalar;
    out->lanes = 1;
    out->isa = "scalar";
#ifdef IC_X86_LOOPS
    out->lanes = ic_cpu_fp32_lanes(&cpu, &out->isa);
    fp32 = out->lanes == 16 ? loop_avx512 : out->lanes == 8 ? loop_avx2 : loop_sse;
#endif
    out->gflops = measure_loop(fp32, seconds, reps);
#ifdef IC_X86_LOOPS
    if (cpu.avx512_bf16) {
        out->bf16_gflops = measure_loop(loop_bf16, seconds, reps);
        out->bf16_isa = "avx512_bf16";
    }
#endif
    out->clock_ghz = ic_bench_clock_ghz(seconds / 4);
    if (cpu.amx_bf16) {
        /* Intel's figure for the AMX tile unit: 1024 bf16 flops per cycle per
         * core (a 16x16x32 tile product, 16384 flops, every 16 cycles); the
         * clock is measured, the rate per cycle is not. No AMX loop is
         * measured: no machine with AMX was at hand to test one. */
        out->amx_bf16_vendor_gflops = 1024.0 * out->clock_ghz * out->threads;
    }
}

double ic_bench_clock_ghz(double seconds) {
#ifdef IC_X86_LOOPS
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    return measure_loop(loop_clock, seconds, 5) / threads;
#else
    (void)seconds;
    return 0;
#endif
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ic_bench_quantile(const double *v, int n, double q) {
    const double pos = q * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return v[n - 1];
    if (i < 0) return v[0];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* sorts v; its median */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return ic_bench_quantile(v, n, 0.5);
}

/* The products' precision of cfg, refused where this CPU cannot run it. */
static int bench_precision(const ic_run_config *cfg, ic_precision *p, ic_err *err) {
    if (ic_precision_parse(cfg->precision, p))
        return ic_errf(err, "precision: expected fp32 or bf16, got '%s'", cfg->precision);
    return ic_precision_check(*p, NULL, err);
}

int ic_bench_train_step(const ic_run_config *cfg, int warmup, int steps, ic_bench_result *out,
                        ic_err *err) {
    memset(out, 0, sizeof *out);
    if (steps < 1 || warmup < 0) return ic_errf(err, "bench needs steps >= 1 and warmup >= 0");
    if (ic_run_config_validate(cfg, err) || ic_run_config_check_memory(cfg, ic_default_shards(), err)) return -1;
    ic_schedule *s = malloc(sizeof *s);
    if (!s) return ic_errf(err, "out of memory");
    if (ic_run_config_schedule(cfg, s, err)) { free(s); return -1; }
    const int B = cfg->batch_size, n = cfg->n_points, d = cfg->model.n_dims;
    ic_model m;
    ic_adam opt;
    memset(&opt, 0, sizeof opt);
    float *xs = malloc(sizeof(float) * (size_t)B * n * d), *ys = malloc(sizeof(float) * (size_t)B * n);
    double *t_all = malloc(sizeof(double) * 3 * (size_t)steps);
    const int nshards = ic_default_shards(); /* as the trainer does */
    ic_shards sh = {0};
    ic_workspace ws;
    ic_grads g = {0};
    ic_workspace_init(&ws);
    int rc = -1;
    if (!xs || !ys || !t_all) { ic_errf(err, "out of memory"); goto done0; }
    ic_precision prec;
    if (bench_precision(cfg, &prec, err)) goto done0;
    ic_gemm_set_precision(&ws.gemm, prec); /* the shards take it from here (ic_model_train_pass) */
    if (ic_model_create(&m, &cfg->model, err)) goto done0;
    ic_model_init_weights(&m, cfg->seed);
    if (ic_adam_create(&opt, m.num_params, err) || ic_grads_create(&g, &m, err)) goto done;
    // linear-regression prompts from the task sampler (x ~ N(0, I), y = x . w, w ~ N(0, I))
    ic_rng r;
    ic_rng_seed(&r, cfg->seed + 1);
    ic_task_spec task;
    ic_task_spec_default(&task, IC_TASK_LINEAR, d);
    if (ic_task_sample(&task, &r, B, n, d, xs, ys, NULL, err)) goto done;
    double *tt = t_all, *tf = t_all + steps, *tu = t_all + 2 * steps;
    for (int i = 0; i < warmup + steps; i++) {
        double t0 = now_ms();
        ic_grads_zero(&g);
        if (ic_model_train_pass(&m, &g, &ws, &sh, nshards, s, xs, ys, B, n, err)) goto done;
        double t2 = now_ms();
        ic_adam_update(&opt, m.params_mem, g.mem, cfg->learning_rate);
        double t3 = now_ms();
        if (i >= warmup) {
            int j = i - warmup;
            tt[j] = t3 - t0; tf[j] = t2 - t0; tu[j] = t3 - t2;
        }
    }
    out->steps = steps;
    out->warmup = warmup;
    out->ms_per_step = median(tt, steps);
    out->ms_min = tt[0];
    out->ms_max = tt[steps - 1];
    out->ms_q1 = ic_bench_quantile(tt, steps, 0.25);
    out->ms_q3 = ic_bench_quantile(tt, steps, 0.75);
    out->ms_pass = median(tf, steps);
    out->shards = nshards < B ? nshards : B;
    out->ms_update = median(tu, steps);
    out->flops_per_step = 3.0 * ic_model_flops_forward(&cfg->model, s, B, n);
    out->gflops = out->flops_per_step / (out->ms_per_step * 1e6);
    out->num_params = m.num_params;
#ifdef _OPENMP
    out->threads = omp_get_max_threads();
#else
    out->threads = openblas_get_num_threads();
#endif
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) out->peak_rss_kb = ru.ru_maxrss;
    ic_blas_describe(out->blas, sizeof out->blas);
    rc = 0;
done:
    ic_adam_free(&opt);
    ic_shards_free(&sh);
    ic_grads_free(&g);
    ic_workspace_free(&ws);
    ic_model_free(&m);
done0:
    free(xs); free(ys); free(t_all); free(s);
    return rc;
}

int ic_bench_inference(const ic_run_config *cfg, int batch, int warmup, int reps, ic_bench_inf *out, ic_err *err) {
    memset(out, 0, sizeof *out);
    if (batch < 1 || reps < 1 || warmup < 0) return ic_errf(err, "inference bench needs batch >= 1, reps >= 1, warmup >= 0");
    if (ic_run_config_validate(cfg, err) || bench_precision(cfg, &out->prec, err)) return -1;
    ic_schedule *s = malloc(sizeof *s);
    if (!s) return ic_errf(err, "out of memory");
    if (ic_run_config_schedule(cfg, s, err)) { free(s); return -1; }
    const int n = cfg->n_points, d = cfg->model.n_dims, nshards = ic_default_shards(); /* as training */
    ic_model m;
    ic_shards sh = {0};
    float *xs = malloc(sizeof(float) * (size_t)batch * n * d), *ys = malloc(sizeof(float) * (size_t)batch * n);
    float *pred = malloc(sizeof(float) * (size_t)batch * n);
    double *t = malloc(sizeof(double) * (size_t)reps);
    int rc = -1;
    if (!xs || !ys || !pred || !t) { ic_errf(err, "out of memory"); goto done0; }
    if (ic_model_create(&m, &cfg->model, err)) goto done0;
    ic_model_init_weights(&m, cfg->seed);
    ic_rng r;
    ic_rng_seed(&r, cfg->seed + 1);
    ic_task_spec task;
    ic_task_spec_default(&task, IC_TASK_LINEAR, d);
    if (ic_task_sample(&task, &r, batch, n, d, xs, ys, NULL, err)) goto done;
    for (int i = 0; i < warmup + reps; i++) {
        double t0 = now_ms();
        if (ic_model_predict_sharded(&m, &sh, nshards, out->prec, s, xs, ys, batch, n, pred, err)) goto done;
        if (i >= warmup) t[i - warmup] = now_ms() - t0;
    }
    out->ms_per_batch = median(t, reps);
    out->ms_q1 = ic_bench_quantile(t, reps, 0.25);
    out->ms_q3 = ic_bench_quantile(t, reps, 0.75);
    out->prompts_per_s = batch / (out->ms_per_batch / 1e3);
    out->shards = nshards < batch ? nshards : batch;
    rc = 0;
done:
    ic_shards_free(&sh);
    ic_model_free(&m);
done0:
    free(xs); free(ys); free(pred); free(t); free(s);
    return rc;
}
