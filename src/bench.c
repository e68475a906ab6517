#include "bench.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    double *t_all = malloc(sizeof(double) * 4 * (size_t)steps);
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
    double *tt = t_all, *tf = t_all + steps, *tb = t_all + 2 * steps, *tu = t_all + 3 * steps;
    for (int i = 0; i < warmup + steps; i++) {
        double t0 = now_ms();
        if (ic_model_forward(&m, s, xs, ys, B, n, 1, err)) goto done;
        double t1 = now_ms();
        ic_model_zero_grad(&m);
        if (ic_model_backward(&m, err)) goto done;
        double t2 = now_ms();
        ic_adam_update(&opt, m.params_mem, m.grads_mem, cfg->learning_rate);
        double t3 = now_ms();
        if (i >= warmup) {
            int j = i - warmup;
            tt[j] = t3 - t0; tf[j] = t1 - t0; tb[j] = t2 - t1; tu[j] = t3 - t2;
        }
    }
    out->steps = steps;
    out->warmup = warmup;
    out->ms_per_step = median(tt, steps);
    out->ms_min = tt[0];
    out->ms_max = tt[steps - 1];
    out->ms_forward = median(tf, steps);
    out->ms_backward = median(tb, steps);
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
    ic_model_free(&m);
done0:
    free(xs); free(ys); free(t_all); free(s);
    return rc;
}
