/* test_output.c: the output layer (src/output.h): the string builder, a
 * table's CSV and JSON from one column list (missing values, absent cells,
 * quoting), labelled matrices, the metadata block and the atomic writers. */
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
#include <unistd.h>

#include "fsutil.h"
#include "output.h"
#include "schedule.h"

static void test_sbuf(void **state) {
    (void)state;
    ic_sbuf b = {0};
    ic_sb_puts(&b, "ab");
    ic_sb_printf(&b, ",%d,%s", 12, "x");
    assert_string_equal(b.p, "ab,12,x");
    assert_int_equal(b.n, 7);
    /* longer than the builder's stack buffer: the second vsnprintf path */
    char big[2000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ic_sb_printf(&b, "%s|", big);
    assert_int_equal(b.n, 7 + 1999 + 1);
    assert_int_equal(b.p[b.n - 1], '|');
    assert_int_equal(b.p[b.n], 0);
    assert_int_equal(b.oom, 0);
    ic_sb_free(&b);
    assert_null(b.p);
}

static void test_table(void **state) {
    (void)state;
    ic_table t = {0};
    ic_table_col(&t, IC_COL_INT, "loop", "loop");
    ic_table_col(&t, IC_COL_QUOTED, "label", "label");
    ic_table_col(&t, IC_COL_NUM, "err", "err_k%d", 5);
    ic_table_col(&t, IC_COL_NUM, NULL, "csv_only");
    ic_table_col(&t, IC_COL_INT, "row", "row");
    ic_cell r1[5] = {ic_cell_int(1), ic_cell_str("a\"b"), ic_cell_num(0.25), ic_cell_num(NAN), ic_cell_none()};
    ic_cell r2[5] = {ic_cell_int(2), ic_cell_str("c"), ic_cell_num(INFINITY), ic_cell_num(1.0 / 3), ic_cell_int(-1)};
    json_t *o = ic_table_row(&t, r1);
    assert_non_null(o);
    json_object_set_new(o, "extra", json_true());
    assert_non_null(ic_table_row(&t, r2));
    assert_string_equal(t.csv.p, "loop,label,err_k5,csv_only,row\n"
                                 "1,\"a\"\"b\",0.25,,\n"
                                 "2,\"c\",,0.333333,-1\n");
    json_t *j = ic_table_json(&t);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "[{\"loop\":1,\"label\":\"a\\\"b\",\"err\":0.25,\"extra\":true},"
                           "{\"loop\":2,\"label\":\"c\",\"err\":null,\"row\":-1}]");
    free(s);
    json_decref(j);
    ic_table_free(&t);
    /* no JSON keys: no JSON rows; the header alone when there are no rows */
    ic_table u = {0};
    ic_table_col(&u, IC_COL_TEXT, NULL, "state");
    char dir[] = "/tmp/iclab_test_output_XXXXXX";
    assert_non_null(mkdtemp(dir));
    ic_err err;
    assert_int_equal(ic_table_write_csv(&u, dir, "h.csv", &err), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/h.csv", dir);
    size_t len;
    char *text = NULL;
    assert_int_equal(ic_read_file(path, &text, &len, 1 << 20, &err), 0);
    assert_string_equal(text, "state\n");
    free(text);
    ic_cell c = ic_cell_str("1:b0");
    assert_null(ic_table_row(&u, &c));
    json_t *e = ic_table_json(&u);
    assert_int_equal(json_array_size(e), 0);
    json_decref(e);
    ic_table_free(&u);
    /* JSON files are indented, in insertion order; NULL (an upstream failure) is an error */
    json_t *jo = json_pack("{s:i,s:i}", "b", 1, "a", 2);
    assert_int_equal(ic_out_json(dir, "o.json", jo, &err), 0);
    json_decref(jo);
    snprintf(path, sizeof path, "%s/o.json", dir);
    assert_int_equal(ic_read_file(path, &text, &len, 1 << 20, &err), 0);
    assert_string_equal(text, "{\n \"b\": 1,\n \"a\": 2\n}");
    free(text);
    assert_int_equal(ic_out_json(dir, "n.json", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "n.json"));
    ic_remove_tree(dir, &err);
}

static void test_matrix(void **state) {
    (void)state;
    const double v[6] = {1, 0.5, NAN, 2, 3, 4};
    const char *rl[2] = {"in", "1:b0"}, *cl[3] = {"a", "b", "c"};
    ic_sbuf b = {0};
    ic_csv_matrix(&b, "state", rl, cl, v, 2, 3);
    assert_string_equal(b.p, "state,a,b,c\nin,1,0.5,\n1:b0,2,3,4\n");
    ic_sb_free(&b);
    json_t *m = ic_json_matrix(v, 2, 3);
    char *s = json_dumps(m, JSON_COMPACT);
    assert_string_equal(s, "[[1.0,0.5,null],[2.0,3.0,4.0]]");
    free(s);
    json_decref(m);
}

static void test_meta(void **state) {
    (void)state;
    ic_schedule *sc = calloc(1, sizeof *sc);
    ic_err err;
    assert_int_equal(ic_schedule_parse(sc, "0,1,1", NULL, 2, &err), 0);
    ic_task_spec task;
    ic_task_spec_default(&task, IC_TASK_LINEAR, 5);
    ic_meta m = {.model = "m.safetensors", .sched = sc, .loops = 3, .task = &task, .d = 5, .n = 11, .prompts = 64,
                 .seed = 18446744073709551615ULL};
    json_t *o = json_object();
    assert_int_equal(ic_meta_put(o, &m, "model,schedule,loops,task,n_dims,n_points,prompts,seed", &err), 0);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(s, "{\"model\":\"m.safetensors\",\"schedule\":\"0,1,1\",\"loops\":3,\"task\":\"linear_regression\","
                           "\"n_dims\":5,\"n_points\":11,\"prompts\":64,\"seed\":\"18446744073709551615\"}");
    free(s);
    /* the order is the caller's */
    json_t *p = json_object();
    assert_int_equal(ic_meta_put(p, &m, "prompts,task_spec,iclab_version", &err), 0);
    assert_string_equal(json_object_iter_key(json_object_iter(p)), "prompts");
    assert_non_null(json_object_get(p, "task_spec"));
    assert_non_null(json_string_value(json_object_get(p, "iclab_version")));
    assert_int_equal(ic_meta_put(p, &m, "prompts,nonsense", &err), -1);
    assert_non_null(strstr(err.msg, "nonsense"));
    m.model = NULL;
    assert_int_equal(ic_meta_put(p, &m, "model", &err), -1);
    json_decref(o);
    json_decref(p);
    free(sc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sbuf),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_meta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
