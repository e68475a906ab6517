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
        for (size_t i = 0; i < sizeof k512 / sizeof *k512; i++)
            if (strcasecmp(corename, k512[i]) == 0) return NULL;
        /* a Zen kernel on an AVX-512 CPU is an AVX2 kernel: not the slow
         * fallback, and SkylakeX kernels on AMD are not known to be faster */
        if (strcasecmp(corename, "zen") == 0) return NULL;
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
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return ic_blas_coretype_for(avx512, avx2, corename ? corename : openblas_get_corename());
#else
    (void)corename;
    return NULL;
#endif
}

/* 8-lane float vectors (GCC/Clang extension): with -march=native on an AVX2
 * machine a*b+c compiles to one vfmadd231ps; elsewhere to what the target
 * has. Twelve independent chains hide the FMA latency on two ports. */
typedef float ic_v8 __attribute__((vector_size(32)));

static double fma_loop(long iters, float *sink) {
    /* twelve named accumulators (an array would live in memory at -O2) */
    ic_v8 a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = a9 = a10 = a11 = (ic_v8){1, 1, 1, 1, 1, 1, 1, 1};
    const ic_v8 b = {0.999999f, 0.999999f, 0.999999f, 0.999999f, 0.999999f, 0.999999f, 0.999999f, 0.999999f};
    const ic_v8 c = {1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f};
    for (long i = 0; i < iters; i++) {
        a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c;
        a4 = a4 * b + c; a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c;
        a8 = a8 * b + c; a9 = a9 * b + c; a10 = a10 * b + c; a11 = a11 * b + c;
#if defined(__GNUC__) && defined(__AVX__)
        /* keep the chains in (ymm) registers and the loop from being folded;
         * without AVX (e.g. the sanitizer build, no -march=native) an 8-lane
         * vector is no register operand and the barrier is left out */
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
        __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
#endif
    }
    ic_v8 t = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    float s = 0;
    for (int l = 0; l < 8; l++) s += t[l];
    *sink = s;
    return (double)iters * 12 * 8 * 2;
}

double ic_bench_fma_ceiling(double seconds) {
    /* calibrate on one thread, then run every thread for about `seconds` */
    float sink = 0;
    long iters = 1 << 20;
    double t0 = now_ms();
    fma_loop(iters, &sink);
    double dt = now_ms() - t0;
    if (dt > 0) iters = (long)(iters * (seconds * 1e3 / dt));
    if (iters < 1) iters = 1;
    double flops = 0, worst_ms = 0;
#pragma omp parallel reduction(+ : flops) reduction(max : worst_ms)
    {
        float snk;
        double t1 = now_ms();
        flops += fma_loop(iters, &snk);
        worst_ms = now_ms() - t1;
        if (snk == 12345.0f) flops += 0; /* use the result */
    }
    (void)sink;
    return worst_ms > 0 ? flops / (worst_ms * 1e6) : 0.0;
}


static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int ic_bench_train_step(const ic_run_config *cfg, int warmup, int steps, ic_bench_result *out,
                        ic_err *err) {
    memset(out, 0, sizeof *out);
    if (steps < 1 || warmup < 0) return ic_errf(err, "bench needs steps >= 1 and warmup >= 0");
    if (ic_run_config_validate(cfg, err)) return -1;
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
    int rc = -1;
    if (!xs || !ys || !t_all) { ic_errf(err, "out of memory"); goto done0; }
    if (ic_model_create(&m, &cfg->model, err)) goto done0;
    ic_model_init_weights(&m, cfg->seed);
    if (ic_adam_create(&opt, m.num_params, err)) goto done;
    // linear-regression prompts from the task sampler (x ~ N(0, I), y = x . w, w ~ N(0, I))
    ic_rng r;
    ic_rng_seed(&r, cfg->seed + 1);
    ic_task_spec task;
    ic_task_spec_default(&task, IC_TASK_LINEAR, d);
    if (ic_task_sample(&task, &r, B, n, d, xs, ys, NULL, err)) goto done;
    double *tt = t_all, *tf = t_all + steps, *tu = t_all + 2 * steps;
    for (int i = 0; i < warmup + steps; i++) {
        double t0 = now_ms();
        ic_model_zero_grad(&m);
        if (ic_model_train_pass(&m, &sh, nshards, s, xs, ys, B, n, err)) goto done;
        double t2 = now_ms();
        ic_adam_update(&opt, m.params_mem, m.grads_mem, cfg->learning_rate);
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
    ic_model_free(&m);
done0:
    free(xs); free(ys); free(t_all); free(s);
    return rc;
}

int ic_bench_inference(const ic_run_config *cfg, int batch, int warmup, int reps, double *ms_per_batch,
                       double *prompts_per_s, ic_err *err) {
    if (batch < 1 || reps < 1 || warmup < 0) return ic_errf(err, "inference bench needs batch >= 1, reps >= 1, warmup >= 0");
    if (ic_run_config_validate(cfg, err)) return -1;
    ic_schedule *s = malloc(sizeof *s);
    if (!s) return ic_errf(err, "out of memory");
    if (ic_run_config_schedule(cfg, s, err)) { free(s); return -1; }
    const int n = cfg->n_points, d = cfg->model.n_dims;
    ic_model m;
    float *xs = malloc(sizeof(float) * (size_t)batch * n * d), *ys = malloc(sizeof(float) * (size_t)batch * n);
    double *t = malloc(sizeof(double) * (size_t)reps);
    int rc = -1;
    if (!xs || !ys || !t) { ic_errf(err, "out of memory"); goto done0; }
    if (ic_model_create(&m, &cfg->model, err)) goto done0;
    ic_model_init_weights(&m, cfg->seed);
    ic_rng r;
    ic_rng_seed(&r, cfg->seed + 1);
    ic_task_spec task;
    ic_task_spec_default(&task, IC_TASK_LINEAR, d);
    if (ic_task_sample(&task, &r, batch, n, d, xs, ys, NULL, err)) goto done;
    for (int i = 0; i < warmup + reps; i++) {
        double t0 = now_ms();
        if (ic_model_forward(&m, s, xs, ys, batch, n, 0, err)) goto done;
        if (i >= warmup) t[i - warmup] = now_ms() - t0;
    }
    *ms_per_batch = median(t, reps);
    *prompts_per_s = batch / (*ms_per_batch / 1e3);
    rc = 0;
done:
    ic_model_free(&m);
done0:
    free(xs); free(ys); free(t); free(s);
    return rc;
}
