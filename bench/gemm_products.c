/* gemm_products: every matrix product of one block's training step (the four
 * linear maps, forward and both backward products) on OpenBLAS sgemm,
 * oneDNN fp32 and oneDNN bf16, through src/gemm.h exactly as the step calls
 * them. Backends are interleaved (A/B/C per round, R rounds) and the median
 * of the rounds is printed, so that load from other processes hits all three
 * alike. Usage: build/gemm_products small|standard [threads] [rounds]
 * (threads = shards of the step: each shard runs N = B*T/threads rows on one
 * thread, all shards at once, as ic_model_train_pass does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm.h"
#include "ops.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const int standard = argc > 1 && !strcmp(argv[1], "standard");
    const int threads = argc > 2 ? atoi(argv[2]) : 1, rounds = argc > 3 ? atoi(argv[3]) : 7;
    const int C = standard ? 256 : 64, T = standard ? 82 : 22, B = 64, N = B * T / threads;
    ic_blas_set_threads(1);
    struct { const char *name; int in, out; } maps[] = {{"qkv", C, 3 * C}, {"attproj", C, C}, {"fc", C, 4 * C},
                                                        {"fcproj", 4 * C, C}};
    const char *kinds[] = {"fwd", "bwd_data", "bwd_weights"};
    const char *be_names[] = {"openblas", "dnnl_fp32", "dnnl_bf16"};
    printf("%s: %d shard(s) of %d rows, each on one thread, %d rounds (best)\n", standard ? "standard" : "small",
           threads, N, rounds);
    printf("%-8s %-12s %5s %5s %5s | %10s %10s %10s | %s\n", "map", "product", "M", "N", "K", be_names[0],
           be_names[1], be_names[2], "oneDNN kernels (fp32 / bf16)");
    size_t maxe = (size_t)N * 4 * C;
    float *A = malloc(sizeof(float) * maxe * threads), *Bm = malloc(sizeof(float) * maxe * threads),
          *Cm = malloc(sizeof(float) * maxe * threads), *bias = malloc(sizeof(float) * 4 * C);
    for (size_t i = 0; i < maxe * threads; i++) A[i] = Bm[i] = Cm[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (int i = 0; i < 4 * C; i++) bias[i] = 0.1f;
    ic_gemm g[3][64];
    memset(g, 0, sizeof g);
    for (int t = 0; t < threads; t++) {
        g[0][t].force_backend = 1 + IC_GEMM_BLAS;
        g[1][t].force_backend = 1 + IC_GEMM_DNNL;
        g[2][t].force_backend = 1 + IC_GEMM_DNNL;
        ic_gemm_set_precision(&g[2][t], IC_PREC_BF16);
    }
    double tot[3] = {0};
    for (int mi = 0; mi < 4; mi++)
        for (int k = 0; k < 3; k++) {
            const int in = maps[mi].in, out = maps[mi].out;
            int M, Nn, K, ta = 0, tb = 0, beta = 0;
            const float *bi = NULL;
            if (k == 0) { M = N; Nn = out; K = in; bi = bias; }
            else if (k == 1) { M = N; Nn = in; K = out; tb = 1; }
            else { M = in; Nn = out; K = N; ta = 1; beta = 1; }
            double med[3];
            double *ts = malloc(sizeof(double) * 3 * rounds);
            for (int r = -1; r < rounds; r++)
                for (int b = 0; b < 3; b++) {
                    double t0 = now();
                    #pragma omp parallel for num_threads(threads) schedule(static, 1)
                    for (int t = 0; t < threads; t++)
                        ic_gemm_run(&g[b][t], (ic_gemm_kind)k, ta, tb, M, Nn, K, A + maxe * t, Bm + maxe * t, bi,
                                    beta, Cm + maxe * t);
                    if (r >= 0) ts[b * rounds + r] = now() - t0;
                }
            char impl[2][64];
            ic_gemm_impl_name(&g[1][0], (ic_gemm_kind)k, ta, tb, M, Nn, K, bi != NULL, beta, impl[0], 64);
            ic_gemm_impl_name(&g[2][0], (ic_gemm_kind)k, ta, tb, M, Nn, K, bi != NULL, beta, impl[1], 64);
            const double flops = 2.0 * M * Nn * K * threads;
            for (int b = 0; b < 3; b++) {
                qsort(ts + b * rounds, rounds, sizeof(double), cmp);
                med[b] = ts[b * rounds]; /* the best round */
                tot[b] += med[b];
            }
            printf("%-8s %-12s %5d %5d %5d | %10.1f %10.1f %10.1f | %s / %s\n", maps[mi].name, kinds[k], M, Nn, K,
                   flops / med[0] * 1e-9, flops / med[1] * 1e-9, flops / med[2] * 1e-9, impl[0], impl[1]);
            free(ts);
        }
    printf("one block's products (ms, best rounds, per step of %d shards): openblas %.2f, dnnl_fp32 %.2f, dnnl_bf16 %.2f\n",
           threads, tot[0] * 1e3, tot[1] * 1e3, tot[2] * 1e3);
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < threads; t++) {
            ic_err e;
            if (ic_gemm_take_error(&g[b][t], &e)) printf("error: %s\n", e.msg);
            ic_gemm_free(&g[b][t]);
        }
    free(A); free(Bm); free(Cm); free(bias);
    return 0;
}
