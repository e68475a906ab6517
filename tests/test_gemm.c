/* test_gemm.c: the matrix products of src/gemm.h in bf16 mixed precision,
 * the precision check, and a training step in bf16 against fp32.
 *
 * (The fp32 products of both libraries are held to the double-precision
 * reference of ops_ref.c, accumulation included, by tests/test_ops.c.)
 *
 * Where this CPU (or build) cannot run bf16 products the bf16 tests skip
 * with a line saying so; the refusal itself is tested with pretended CPUs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gemm.h"
#include "ops.h"
#include "testutil.h"
#include "train.h"
#include "workspace.h"

static int bf16_here(void) {
    ic_cpu cpu;
    ic_err e;
    ic_cpu_detect(&cpu);
    if (ic_precision_check(IC_PREC_BF16, &cpu, &e) == 0) return 1;
    printf("      skipped here: %s\n", e.msg);
    return 0;
}

/* Rounding to bf16: nearest, ties to even, NaN stays NaN, overflow to inf. */
static void test_bf16_round(void **state) {
    (void)state;
    const float in[] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -2.5f,
                        tu_f32_of_bits(0x7f7fffffu), INFINITY, 0.0f, -0.0f};
    const float want[] = {1.0f, 1.0f, 1.0f + 0x1p-6f, 1.0f + 0x1p-7f, -2.5f, INFINITY, INFINITY, 0.0f, -0.0f};
    float out[9];
    ic_bf16_round(out, in, 9);
    for (int i = 0; i < 9; i++) {
        assert_true(out[i] == want[i]);
        assert_true(signbit(out[i]) == signbit(want[i]));
    }
    float nan_in = tu_f32_of_bits(0x7fbfffffu) /* a NaN whose rounding would carry into the exponent */, nan_out;
    ic_bf16_round(&nan_out, &nan_in, 1);
    assert_true(isnan(nan_out));
}

/* A bf16 product against the exact (double) product of the bf16-rounded
 * operands. A product of two bf16 numbers (8 significant bits each) is
 * exact in fp32 (24 bits), so the only error is the fp32 summation, in
 * whatever order the kernel uses: |err| <= gamma_K * sum_k |a_ik||b_kj| with
 * gamma_K = K u / (1 - K u) ~ K u, u = 2^-24, plus one rounding of the
 * added C or bias. The test allows (K + 2) u S + 2u(|C0| + |bias|), and
 * against the fp32 product of the same rounded operands (also within K u S
 * of the exact one) twice that. It also checks the bound is tight enough to
 * matter: the fp32 product of the operands NOT rounded to bf16 must break it
 * (a bf16 path that skipped or botched the rounding would pass a looser
 * test). */
static void test_bf16_products(void **state) {
    (void)state;
    if (!bf16_here()) return;
    static const int shapes[][3] = {{1, 1, 1}, {7, 13, 5}, {37, 24, 40}, {131, 17, 300}, {5, 96, 3}, {64, 64, 704}};
    tu_rng rng = tu_rng_make(1601);
    ic_gemm bf = {0}, fp = {0};
    ic_gemm_set_precision(&bf, IC_PREC_BF16);
    int sensitive = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int mode = 0; mode < 3; mode++) { /* 0: =, 1: +=, 2: = with bias */
                    const int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2], beta = mode == 1;
                    float *A = tu_falloc((size_t)M * K), *B = tu_falloc((size_t)K * N), *bias = tu_falloc(N);
                    float *Ar = tu_falloc((size_t)M * K), *Br = tu_falloc((size_t)K * N);
                    float *C0 = tu_falloc((size_t)M * N), *Cb = tu_falloc((size_t)M * N);
                    float *Cf = tu_falloc((size_t)M * N), *Cu = tu_falloc((size_t)M * N);
                    tu_fill_f(&rng, A, (size_t)M * K, 1.0, 0.0);
                    tu_fill_f(&rng, B, (size_t)K * N, 1.0, 0.0);
                    tu_fill_f(&rng, bias, N, 1.0, 0.0);
                    tu_fill_f(&rng, C0, (size_t)M * N, 4.0, 0.0);
                    ic_bf16_round(Ar, A, (size_t)M * K);
                    ic_bf16_round(Br, B, (size_t)K * N);
                    memcpy(Cb, C0, sizeof(float) * M * N);
                    memcpy(Cf, C0, sizeof(float) * M * N);
                    memcpy(Cu, C0, sizeof(float) * M * N);
                    const float *bi = mode == 2 ? bias : NULL;
                    ic_gemm_run(&bf, IC_GEMM_FWD, ta, tb, M, N, K, A, B, bi, beta, Cb);
                    ic_gemm_run(&fp, IC_GEMM_FWD, ta, tb, M, N, K, Ar, Br, bi, beta, Cf);
                    ic_gemm_run(&fp, IC_GEMM_FWD, ta, tb, M, N, K, A, B, bi, beta, Cu);
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            double exact = 0, S = 0;
                            for (int k = 0; k < K; k++) {
                                const double a = ta ? Ar[(size_t)k * M + i] : Ar[(size_t)i * K + k];
                                const double b = tb ? Br[(size_t)j * K + k] : Br[(size_t)k * N + j];
                                exact += a * b;
                                S += fabs(a * b);
                            }
                            const double add = (beta ? C0[(size_t)i * N + j] : 0.0) + (bi ? bi[j] : 0.0);
                            exact += add;
                            const double u = 0x1p-24,
                                         tol = (K + 2) * u * S + 2 * u * ((beta ? fabs(C0[(size_t)i * N + j]) : 0.0) +
                                                                          (bi ? fabs(bi[j]) : 0.0));
                            const double got = Cb[(size_t)i * N + j];
                            if (!(fabs(got - exact) <= tol) || !(fabs(got - Cf[(size_t)i * N + j]) <= 2 * tol))
                                fail_msg("bf16 %dx%dx%d ta=%d tb=%d mode=%d at (%d,%d): %.9g, exact %.9g, fp32 %.9g, "
                                         "tol %.3g",
                                         M, N, K, ta, tb, mode, i, j, got, exact, (double)Cf[(size_t)i * N + j], tol);
                            if (fabs(Cu[(size_t)i * N + j] - exact) > 2 * tol) sensitive = 1;
                        }
                    free(A); free(B); free(bias); free(Ar); free(Br); free(C0); free(Cb); free(Cf); free(Cu);
                }
    ic_err e;
    assert_int_equal(ic_gemm_take_error(&bf, &e), 0);
    assert_int_equal(ic_gemm_take_error(&fp, &e), 0);
    assert_true(sensitive); /* unrounded operands are told apart */
    ic_gemm_free(&bf);
    ic_gemm_free(&fp);
}

/* bf16 is refused, with one line, on a CPU without AVX512_BF16 or AMX-BF16,
 * by the check, the config-level trainer and (for other precisions) the
 * parser; allowed where either is present and the build has oneDNN. */
static void test_precision_refusal(void **state) {
    (void)state;
    ic_cpu none = {0}, avx = {0}, amx = {0};
    snprintf(none.brand, sizeof none.brand, "Pretend CPU");
    none.avx512f = avx.avx512f = 1;
    avx.avx512_bf16 = 1;
    amx.amx_tile = amx.amx_bf16 = 1;
    ic_err e = {{0}};
    assert_int_equal(ic_precision_check(IC_PREC_FP32, &none, &e), 0);
    assert_int_equal(ic_precision_check(IC_PREC_BF16, &none, &e), -1);
    assert_non_null(strstr(e.msg, "AVX512_BF16"));
    assert_non_null(strstr(e.msg, "Pretend CPU"));
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(ic_precision_check(IC_PREC_BF16, &avx, &e), ic_gemm_have_dnnl() ? 0 : -1);
    assert_int_equal(ic_precision_check(IC_PREC_BF16, &amx, &e), ic_gemm_have_dnnl() ? 0 : -1);

    ic_run_config c;
    ic_run_config_default(&c);
    assert_int_equal(ic_run_config_set(&c, "precision", "bf16", &e), 0);
    c.model.n_dims = 2, c.model.n_embd = 8, c.model.n_layer = 1, c.model.n_head = 2, c.model.n_positions = 3;
    c.n_points = 3, c.batch_size = 2;
    ic_trainer t;
    assert_int_equal(ic_trainer_init_cpu(&t, &c, &none, &e), -1);
    assert_non_null(strstr(e.msg, "precision bf16 needs"));
    if (ic_gemm_have_dnnl()) {
        assert_int_equal(ic_trainer_init_cpu(&t, &c, &avx, &e), 0);
        assert_int_equal(t.ws.gemm.prec, IC_PREC_BF16);
        ic_trainer_free(&t);
    }
    snprintf(c.precision, sizeof c.precision, "fp16");
    assert_int_equal(ic_run_config_validate(&c, &e), -1);
    assert_non_null(strstr(e.msg, "precision"));
}

/* ||x - y|| / ||y|| */
static double rel_diff(const float *x, const float *y, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        den += (double)y[i] * y[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* A whole training pass (forward + backward, 2 shards) in bf16 against
 * fp32, same model and prompts. Every product rounds its two operands to
 * bf16 (relative error <= 2^-9 each), so each product's result moves by up
 * to ~2^-8 of sum |a||b| (normwise ~2^-8 relative, unless the sum cancels);
 * the gradient of a weight goes through the forward chain and back (here 2
 * blocks x 2 loops: ~16 products deep), and such errors add up roughly with
 * the depth: 16 x 2^-8 = 0.0625. The test allows 0.0625 normwise per
 * gradient tensor and 2^-8 x 4 relative on the loss (the loss is a mean of
 * squares of 2-loop outputs); measured here: see the printout. A bf16
 * product that skipped an accumulation, read a transposed operand wrongly
 * or dropped the bias is off by O(1) and fails. */
static void test_bf16_train_pass(void **state) {
    (void)state;
    if (!bf16_here()) return;
    ic_config c = {.n_dims = 5, .n_positions = 11, .n_embd = 32, .n_layer = 2, .n_head = 4};
    ic_model m;
    ic_err e;
    assert_int_equal(ic_model_create(&m, &c, &e), 0);
    ic_model_init_weights(&m, 7);
    ic_schedule s;
    ic_run_config rc;
    ic_run_config_default(&rc);
    rc.model = c;
    rc.loops = 2, rc.loss_loops = 1, rc.grad_loops = 2;
    assert_int_equal(ic_run_config_schedule(&rc, &s, &e), 0);
    const int B = 16, n = 11, d = 5;
    float *xs = tu_falloc((size_t)B * n * d), *ys = tu_falloc((size_t)B * n);
    tu_rng rng = tu_rng_make(1603);
    tu_fill_f(&rng, xs, (size_t)B * n * d, 1.0, 0.0);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            double y = 0;
            for (int k = 0; k < d; k++) y += xs[((size_t)b * n + i) * d + k] * (0.3 * k - 0.5);
            ys[(size_t)b * n + i] = (float)y;
        }
    ic_grads g[2];
    ic_workspace ws[2];
    ic_shards sh[2] = {{0}};
    double loss[2];
    for (int p = 0; p < 2; p++) {
        ic_workspace_init(&ws[p]);
        ic_gemm_set_precision(&ws[p].gemm, p ? IC_PREC_BF16 : IC_PREC_FP32);
        assert_int_equal(ic_grads_create(&g[p], &m, &e), 0);
        assert_int_equal(ic_model_train_pass(&m, &g[p], &ws[p], &sh[p], 2, &s, xs, ys, B, n, &e), 0);
        loss[p] = ws[p].loss;
    }
    const double loss_rel = fabs(loss[1] - loss[0]) / loss[0];
    double worst = 0;
    const char *worst_name = "";
    for (size_t i = 0, off = 0; i < IC_NUM_PARAM_TENSORS; off += g[0].sizes[i], i++) { /* tensors in table order */
        const double r = rel_diff(g[1].mem + off, g[0].mem + off, g[0].sizes[i]);
        if (r > worst) worst = r, worst_name = ic_param_name((int)i);
        if (!(r <= 0.0625)) fail_msg("gradient %s: bf16 vs fp32 relative difference %.4g", ic_param_name((int)i), r);
    }
    printf("      bf16 vs fp32: loss %.6g vs %.6g (relative %.2g), worst gradient %s %.3g\n", loss[1], loss[0],
           loss_rel, worst_name, worst);
    assert_true(loss_rel <= 4 * 0x1p-8);
    assert_true(worst > 0); /* the bf16 pass really ran in bf16 */
    for (int p = 0; p < 2; p++) {
        ic_shards_free(&sh[p]);
        ic_workspace_free(&ws[p]);
        ic_grads_free(&g[p]);
    }
    free(xs);
    free(ys);
    ic_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_round),
        cmocka_unit_test(test_bf16_products),
        cmocka_unit_test(test_precision_refusal),
        cmocka_unit_test(test_bf16_train_pass),
    };
    return cmocka_run_group_tests_name("gemm", tests, NULL, NULL);
}
