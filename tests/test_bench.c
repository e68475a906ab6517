/* test_bench.c: the OpenBLAS kernel-set decision (RESEARCH.md §7), the FMA
 * ceiling measurement and the inference timer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "bench.h"
#include "config.h"

static void test_coretype_decision(void **st) {
    (void)st;
    /* AVX-512 CPU: fallback and AVX2 Intel kernels -> SkylakeX; AVX-512 sets stay */
    assert_string_equal(ic_blas_coretype_for(1, 1, "Prescott"), "SkylakeX");
    assert_string_equal(ic_blas_coretype_for(1, 1, "Haswell"), "SkylakeX");
    assert_string_equal(ic_blas_coretype_for(1, 1, "Core2"), "SkylakeX");
    assert_null(ic_blas_coretype_for(1, 1, "SkylakeX"));
    assert_null(ic_blas_coretype_for(1, 1, "skylakex"));
    assert_null(ic_blas_coretype_for(1, 1, "Cooperlake"));
    assert_null(ic_blas_coretype_for(1, 1, "SapphireRapids"));
    assert_null(ic_blas_coretype_for(1, 1, "Zen")); /* AMD with AVX-512: keep its AVX2 kernels */
    /* AVX2 + FMA CPU: SSE fallbacks -> Haswell; AVX2 sets stay */
    assert_string_equal(ic_blas_coretype_for(0, 1, "Prescott"), "Haswell");
    assert_string_equal(ic_blas_coretype_for(0, 1, "Nehalem"), "Haswell");
    assert_string_equal(ic_blas_coretype_for(0, 1, "Sandybridge"), "Haswell");
    assert_null(ic_blas_coretype_for(0, 1, "Haswell"));
    assert_null(ic_blas_coretype_for(0, 1, "Zen"));
    /* older CPUs: nothing to ask for */
    assert_null(ic_blas_coretype_for(0, 0, "Prescott"));
    assert_null(ic_blas_coretype_for(1, 1, NULL));
    /* this machine: whatever OpenBLAS runs now is a valid name */
    assert_non_null(ic_blas_corename());
    assert_true(strlen(ic_blas_corename()) > 0);
}

static void test_fma_ceiling_positive(void **st) {
    (void)st;
    double g = ic_bench_fma_ceiling(0.05);
    assert_true(isfinite(g) && g > 0.1);
}

static void test_inference_bench(void **st) {
    (void)st;
    ic_run_config c;
    ic_run_config_default(&c);
    c.model = (ic_config){.n_dims = 3, .n_positions = 6, .n_embd = 8, .n_layer = 2, .n_head = 2};
    c.n_points = 6;
    double ms = 0, pps = 0;
    ic_err err = {{0}};
    assert_int_equal(ic_bench_inference(&c, 16, 1, 3, &ms, &pps, &err), 0);
    assert_true(ms > 0 && pps > 0);
    assert_true(fabs(pps - 16 / (ms / 1e3)) <= 1e-9 * pps);
    assert_int_equal(ic_bench_inference(&c, 0, 1, 3, &ms, &pps, &err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coretype_decision),
        cmocka_unit_test(test_fma_ceiling_positive),
        cmocka_unit_test(test_inference_bench),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
