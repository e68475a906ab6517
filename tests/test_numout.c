/* test_numout.c: the missing-value policy of result files (src/numout.h):
 * a non-finite number is JSON null and an empty CSV field, at its own
 * position; finite numbers are written exactly as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numout.h"

static void test_json_num(void **state) {
    (void)state;
    const double bad[3] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        json_t *j = ic_json_num(bad[i]);
        assert_non_null(j);
        assert_true(json_is_null(j));
        json_decref(j);
    }
    const double good[4] = {0.0, -0.0, 1.25, -3.5e-300};
    for (int i = 0; i < 4; i++) {
        json_t *j = ic_json_num(good[i]);
        assert_true(json_is_real(j));
        assert_true(json_real_value(j) == good[i]);
        json_decref(j);
    }
    /* the largest finite double is a number, not null */
    json_t *j = ic_json_num(1.7976931348623157e308);
    assert_true(json_is_real(j));
    json_decref(j);
}

/* The bug this replaces: json_array_append_new(a, json_real(NAN)) appends
 * nothing, so the array is short and later values sit at wrong positions. */
static void test_json_nums_keep_positions(void **state) {
    (void)state;
    const double v[6] = {1.5, NAN, 2.0, INFINITY, -INFINITY, 4.0};
    json_t *a = ic_json_nums(v, 6);
    assert_non_null(a);
    assert_int_equal(json_array_size(a), 6);
    char *text = json_dumps(a, JSON_COMPACT);
    assert_non_null(text);
    assert_string_equal(text, "[1.5,null,2.0,null,null,4.0]");
    /* it is valid JSON that reads back with the same length */
    json_error_t je;
    json_t *back = json_loads(text, 0, &je);
    assert_non_null(back);
    assert_int_equal(json_array_size(back), 6);
    assert_true(json_is_null(json_array_get(back, 1)));
    assert_true(json_real_value(json_array_get(back, 5)) == 4.0);
    json_decref(back);
    free(text);
    json_decref(a);
    a = ic_json_nums(v, 0);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
}

/* json_pack with "f" and a NaN returns NULL (the whole object is lost);
 * "o" with ic_json_num keeps it. */
static void test_json_pack_object(void **state) {
    (void)state;
    json_t *o = json_pack("{s:i,s:o,s:o}", "k", 3, "err", ic_json_num(NAN), "ratio", ic_json_num(0.5));
    assert_non_null(o);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"err\":null,\"k\":3,\"ratio\":0.5}");
    free(text);
    json_decref(o);
}

static void test_csv_num(void **state) {
    (void)state;
    assert_string_equal(ic_csv_num(NAN, 6).s, "");
    assert_string_equal(ic_csv_num(-NAN, 6).s, "");
    assert_string_equal(ic_csv_num(INFINITY, 6).s, "");
    assert_string_equal(ic_csv_num(-INFINITY, 6).s, "");
    /* finite values: exactly what "%.6g" wrote before */
    const double good[6] = {0.0, 1.0, -2.5, 1.0 / 3.0, 6.02214076e23, -4.9e-324};
    for (int i = 0; i < 6; i++) {
        char want[64];
        snprintf(want, sizeof want, "%.6g", good[i]);
        assert_string_equal(ic_csv_num(good[i], 6).s, want);
    }
    assert_string_equal(ic_csv_num(1.0 / 3.0, 8).s, "0.33333333");
    /* precision is clamped to 1..17, and the widest value fits */
    assert_string_equal(ic_csv_num(2.5, 0).s, "2");
    char want[64];
    snprintf(want, sizeof want, "%.17g", -2.2250738585072014e-308);
    assert_string_equal(ic_csv_num(-2.2250738585072014e-308, 99).s, want);
    /* several in one call: each result is its own object */
    char row[128];
    snprintf(row, sizeof row, "%d,%s,%s,%s", 4, ic_csv_num(1.5, 6).s, ic_csv_num(NAN, 6).s, ic_csv_num(2.0, 6).s);
    assert_string_equal(row, "4,1.5,,2");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_num),
        cmocka_unit_test(test_json_nums_keep_positions),
        cmocka_unit_test(test_json_pack_object),
        cmocka_unit_test(test_csv_num),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
