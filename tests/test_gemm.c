/* test_gemm.c: the matrix products of src/gemm.h in bf16 mixed precision,
 * the precision check, a training step in bf16 against fp32, and bf16
 * inference (sharded predictions, eval) against fp32.
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
#include "evalrun.h"
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

/* The model and prompts of the bf16-vs-fp32 comparisons of whole passes:
 * 2 blocks, 2 loops, B prompts of 11 points of a fixed linear function. */
typedef struct {
    ic_model m;
    ic_schedule s;
    int B, n, d;
    float *xs, *ys;
} pass_case;

static void pass_case_make(pass_case *pc, int B) {
    ic_config c = {.n_dims = 5, .n_positions = 11, .n_embd = 32, .n_layer = 2, .n_head = 4};
    ic_err e;
    assert_int_equal(ic_model_create(&pc->m, &c, &e), 0);
    ic_model_init_weights(&pc->m, 7);
    ic_run_config rc;
    ic_run_config_default(&rc);
    rc.model = c;
    rc.loops = 2, rc.loss_loops = 1, rc.grad_loops = 2;
    assert_int_equal(ic_run_config_schedule(&rc, &pc->s, &e), 0);
    const int n = 11, d = 5;
    pc->B = B, pc->n = n, pc->d = d;
    pc->xs = tu_falloc((size_t)B * n * d), pc->ys = tu_falloc((size_t)B * n);
    tu_rng rng = tu_rng_make(1603);
    tu_fill_f(&rng, pc->xs, (size_t)B * n * d, 1.0, 0.0);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            double y = 0;
            for (int k = 0; k < d; k++) y += pc->xs[((size_t)b * n + i) * d + k] * (0.3 * k - 0.5);
            pc->ys[(size_t)b * n + i] = (float)y;
        }
}

static void pass_case_free(pass_case *pc) {
    free(pc->xs);
    free(pc->ys);
    ic_model_free(&pc->m);
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
    pass_case pc;
    pass_case_make(&pc, 16);
    ic_err e;
    ic_grads g[2];
    ic_workspace ws[2];
    ic_shards sh[2] = {{0}};
    double loss[2];
    for (int p = 0; p < 2; p++) {
        ic_workspace_init(&ws[p]);
        ic_gemm_set_precision(&ws[p].gemm, p ? IC_PREC_BF16 : IC_PREC_FP32);
        assert_int_equal(ic_grads_create(&g[p], &pc.m, &e), 0);
        assert_int_equal(ic_model_train_pass(&pc.m, &g[p], &ws[p], &sh[p], 2, &pc.s, pc.xs, pc.ys, pc.B, pc.n, &e), 0);
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
    pass_case_free(&pc);
}

/* Sharded inference (ic_model_predict_sharded, what eval and `bench
 * --inference` run) in bf16 against fp32: same model, prompts and shards.
 * The forward chain of the case is 18 products deep (read-in, 4 per block x
 * 2 blocks x 2 loops, read-out), each moving its result by up to ~2^-8 of
 * sum |a||b| (both operands rounded, 2^-9 each); to first order the errors
 * add with the depth, 18 x 2^-8 = 0.07 normwise on the predictions: the
 * bound allowed. They must also differ by more than 2^-12 normwise: fp32
 * products on the same shards give the same bits (checked below), and even
 * another blocking of the fp32 sums moves them by ~1e-6 (tests/test_model.c),
 * so a precision that never reached the shards fails. Asked for fp32 again,
 * the same shards give fp32's bits: the precision is each call's, not the
 * last call's left behind. (That a bf16 product is the fp32 product of the
 * bf16-rounded operands, up to fp32 summation, is test_bf16_products.) */
static void test_bf16_predict_sharded(void **state) {
    (void)state;
    if (!bf16_here()) return;
    pass_case pc;
    pass_case_make(&pc, 24);
    const size_t np = (size_t)pc.B * pc.n;
    float *p32 = tu_falloc(np), *p16 = tu_falloc(np), *again = tu_falloc(np);
    ic_shards sh = {0};
    ic_err e;
    assert_int_equal(ic_model_predict_sharded(&pc.m, &sh, 3, IC_PREC_FP32, &pc.s, pc.xs, pc.ys, pc.B, pc.n, p32, &e), 0);
    assert_int_equal(ic_model_predict_sharded(&pc.m, &sh, 3, IC_PREC_BF16, &pc.s, pc.xs, pc.ys, pc.B, pc.n, p16, &e), 0);
    assert_int_equal(sh.cap, 3);
    for (int i = 0; i < sh.cap; i++) assert_int_equal(sh.ws[i].gemm.prec, IC_PREC_BF16);
    assert_int_equal(ic_model_predict_sharded(&pc.m, &sh, 3, IC_PREC_FP32, &pc.s, pc.xs, pc.ys, pc.B, pc.n, again, &e), 0);
    assert_memory_equal(again, p32, sizeof(float) * np);
    const double r = rel_diff(p16, p32, np);
    printf("      bf16 vs fp32 sharded predictions: relative difference %.3g (allowed %.3g .. %.3g)\n", r, 0x1p-12,
           18 * 0x1p-8);
    assert_true(r > 0x1p-12);
    assert_true(r <= 18 * 0x1p-8);
    ic_shards_free(&sh);
    free(p32);
    free(p16);
    free(again);
    pass_case_free(&pc);
}

/* eval (ic_eval_run) in bf16. Refused with one line on a pretended CPU
 * without bf16, before any work. Where bf16 runs: the report and
 * results.json record it; the model's error curve is not fp32's bits (an
 * fp32 rerun is: eval is deterministic, so any difference is the
 * precision) and stays close to it: with predictions p moved by d, the root
 * mean squared error moves by at most rms(d) at each position (triangle
 * inequality), and rms(d) <= 0.07 rms(p) (test_bf16_predict_sharded's bound)
 * <= 0.07 rms(error) here, where the untrained model's predictions are
 * smaller than its errors; so the mean squared error moves by at most
 * (2 x 0.07 + 0.07^2) of itself. A baseline's curve keeps fp32's bits (the
 * precision is the model's products only). Also the halting path, which
 * runs in one workspace instead of shards and takes the precision by
 * another road. */
static void test_bf16_eval(void **state) {
    (void)state;
    pass_case pc;
    pass_case_make(&pc, 4);
    ic_task_spec task;
    ic_task_spec_default(&task, IC_TASK_LINEAR, pc.d);
    ic_predictor preds[IC_EVAL_MAX_PRED];
    ic_shift shifts[IC_EVAL_MAX_SETTINGS];
    ic_err e = {{0}};
    ic_cpu none = {0};
    snprintf(none.brand, sizeof none.brand, "Pretend CPU");
    ic_eval_spec spec = {.B = 64, .n = pc.n, .seed = 5, .shifts = shifts, .pred = preds, .precision = IC_PREC_BF16,
                         .cpu = &none};
    assert_int_equal(ic_eval_predictors("least_squares", task.kind, preds, &spec.np, &e), 0);
    assert_int_equal(ic_eval_settings("standard", shifts, &spec.nset, &e), 0);
    ic_eval_report r[3];
    assert_int_equal(ic_eval_run(&pc.m, &pc.s, &task, pc.d, &spec, NULL, NULL, &r[0], &e), -1);
    assert_non_null(strstr(e.msg, "AVX512_BF16"));
    assert_non_null(strstr(e.msg, "Pretend CPU"));
    assert_null(strchr(e.msg, '\n'));
    assert_null(r[0].curves);
    spec.cpu = NULL;
    if (!bf16_here()) {
        pass_case_free(&pc);
        return;
    }
    for (int p = 0; p < 3; p++) { /* fp32, bf16, fp32 */
        spec.precision = p == 1 ? IC_PREC_BF16 : IC_PREC_FP32;
        assert_int_equal(ic_eval_run(&pc.m, &pc.s, &task, pc.d, &spec, NULL, NULL, &r[p], &e), 0);
        assert_int_equal(r[p].precision, spec.precision);
    }
    const int n = pc.n;
    const size_t cb = sizeof(double) * n;
    assert_memory_equal(r[2].curves[0].mean, r[0].curves[0].mean, cb);
    assert_memory_not_equal(r[1].curves[0].mean, r[0].curves[0].mean, cb);
    double worst = 0;
    for (int k = 0; k < n; k++) {
        const double m32 = r[0].curves[0].mean[k], rel = fabs(r[1].curves[0].mean[k] - m32) / m32;
        if (rel > worst) worst = rel;
    }
    printf("      eval: bf16 vs fp32 model error curve, largest relative difference %.3g (allowed %.3g)\n", worst,
           2 * 0.0703 + 0.0703 * 0.0703);
    assert_true(worst <= 2 * 0.0703 + 0.0703 * 0.0703);
    assert_memory_equal(r[1].curves[1].mean, r[0].curves[1].mean, cb); /* least squares */
    const ic_meta meta = {.model = "m.safetensors", .sched = &pc.s, .loops = pc.s.loops, .task = &task, .d = pc.d,
                          .n = n, .prompts = spec.B, .seed = spec.seed};
    for (int p = 0; p < 2; p++) {
        assert_int_equal(ic_eval_write(tu_tmp_dir(), &r[p], &meta, &e), 0);
        json_t *j = json_load_file(tu_tmp_path("results.json"), 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "precision")), p ? "bf16" : "fp32");
        json_decref(j);
    }
    for (int p = 0; p < 3; p++) ic_eval_report_free(&r[p]);

    /* halting (a tolerance no loop meets: every loop runs), each position on its own prompt */
    const size_t np = (size_t)pc.B * n;
    float *h[2] = {tu_falloc(np), tu_falloc(np)};
    long count[2][3] = {{0}};
    for (int p = 0; p < 2; p++) {
        const ic_eval_halt halt = {1e-30, count[p]};
        assert_int_equal(ic_eval_predict_halt(&pc.m, &pc.s, NULL, 1, pc.xs, pc.ys, pc.xs, pc.B, n, pc.d, &halt,
                                              p ? IC_PREC_BF16 : IC_PREC_FP32, h[p], &e),
                         0);
    }
    assert_int_equal(count[1][2], (long)np); /* every prediction ran both loops */
    const double rh = rel_diff(h[1], h[0], np);
    printf("      halting path: bf16 vs fp32 relative difference %.3g\n", rh);
    assert_true(rh > 0x1p-12);
    assert_true(rh <= 18 * 0x1p-8);
    free(h[0]);
    free(h[1]);
    pass_case_free(&pc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_round),
        cmocka_unit_test(test_bf16_products),
        cmocka_unit_test(test_precision_refusal),
        cmocka_unit_test(test_bf16_train_pass),
        cmocka_unit_test(test_bf16_predict_sharded),
        cmocka_unit_test_setup_teardown(test_bf16_eval, tu_tmp_setup, tu_tmp_teardown),
    };
    return cmocka_run_group_tests_name("gemm", tests, NULL, NULL);
}
