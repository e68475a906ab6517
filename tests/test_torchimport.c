/* test_torchimport.c: the restricted unpickler and the torch.save reader
 * (src/torchpickle.c, src/torchimport.c) on hand-written pickles and the
 * committed fixtures of tests/data/torch (make_fixtures.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fsutil.h"
#include "safetensors.h"
#include "testutil.h"
#include "torchimport.h"
#include "torchpickle.h"

#define FIX "tests/data/torch/"

static int load_pkl(const char *bytes, size_t n, ic_err *err) {
    tp_pickle p;
    int rc = tp_load((const uint8_t *)bytes, n, &p, err);
    tp_free(&p);
    return rc;
}

static void expect_pkl_error(const char *bytes, size_t n, const char *want) {
    ic_err err = {{0}};
    assert_int_equal(load_pkl(bytes, n, &err), -1);
    if (!strstr(err.msg, want)) fail_msg("error '%s' lacks '%s'", err.msg, want);
}

static void test_pickle_values(void **state) {
    (void)state;
    /* {'a': [1, -2, 70000, True, None, 1.5, ('s',)], 'b': LONG1 -3} */
    static const char pk[] = "\x80\x02}q\x00(X\x01\x00\x00\x00" "a]q\x01(K\x01J\xfe\xff\xff\xffJ\x70\x11\x01\x00\x88NG\x3f\xf8\x00\x00\x00\x00\x00\x00"
                             "\x8c\x01s\x85" "eX\x01\x00\x00\x00" "b\x8a\x01\xfdu.";
    tp_pickle p;
    ic_err err = {{0}};
    assert_int_equal(tp_load((const uint8_t *)pk, sizeof pk - 1, &p, &err), 0);
    const tp_value *a = tp_dict_get(p.root, "a"), *b = tp_dict_get(p.root, "b");
    assert_non_null(a);
    assert_int_equal(a->kind, TP_LIST);
    assert_int_equal(a->n, 7);
    assert_int_equal(a->items[0]->i, 1);
    assert_int_equal(a->items[1]->i, -2);
    assert_int_equal(a->items[2]->i, 70000);
    assert_int_equal(a->items[3]->kind, TP_BOOL);
    assert_int_equal(a->items[4]->kind, TP_NONE);
    assert_true(a->items[5]->f == 1.5);
    assert_int_equal(a->items[6]->kind, TP_TUPLE);
    assert_string_equal(a->items[6]->items[0]->s, "s");
    assert_int_equal(b->i, -3);
    tp_free(&p);
}

static void test_pickle_refusals(void **state) {
    (void)state;
    expect_pkl_error("\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00ls\x85R.", 25, "byte 2: refused global 'os system'");
    expect_pkl_error("\x80\x02" "cbuiltins\ngetattr\n.", 22, "refused global 'builtins getattr'");
    expect_pkl_error("\x80\x02" "\x8c\x02os\x8c\x06system\x93.", 16, "byte 14: refused global 'os system'");
    expect_pkl_error("\x80\x02" "ccollections\nOrderedDict\n" "K\x01\x85R.", 31, "OrderedDict called with arguments");
    expect_pkl_error("\x80\x02" "S'x'\n.", 8, "opcode 0x53");             /* STRING: not a state_dict opcode */
    expect_pkl_error("\x80\x02" "]K\x01" "b.", 6, "BUILD on something other");
    expect_pkl_error("\x80\x02" "h\x05.", 5, "memo entry 5 was never stored");
    expect_pkl_error("\x80\x02" "a.", 4, "stack underflow");
    expect_pkl_error("\x80\x02" "(s.", 5, "stack underflow");            /* SETITEM may not reach below a MARK */
    expect_pkl_error("\x80\x02" "X\xff\xff\xff\x7f", 7, "string of 2147483647 bytes");
    expect_pkl_error("\x80\x02" "}", 3, "ends without STOP");
    expect_pkl_error("\x80\x02" "N.N", 5, "1 bytes after STOP");
    expect_pkl_error("\x80\x02" "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", 14, "LONG1 of 9 bytes");
    /* a tensor reaching past its storage: storage of 4 floats, size (5,) stride (1,) */
    static const char t[] = "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n"
                            "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQ"
                            "K\x00K\x05\x85K\x01\x85\x89" "ccollections\nOrderedDict\n)RtR.";
    expect_pkl_error(t, sizeof t - 1, "reaches element 4 of storage '0', which has 4 elements");
}

/* a list appended to itself, deep MARK nesting: bounded, no recursion */
static void test_pickle_bounds(void **state) {
    (void)state;
    static const char cyc[] = "\x80\x02]q\x00h\x00" "a.";
    tp_pickle p;
    ic_err err = {{0}};
    assert_int_equal(tp_load((const uint8_t *)cyc, sizeof cyc - 1, &p, &err), 0);
    assert_ptr_equal(p.root->items[0], p.root);
    tp_free(&p);
    size_t n = 200000;
    char *deep = malloc(n + 3);
    deep[0] = '\x80';
    deep[1] = 2;
    memset(deep + 2, '(', n);
    deep[n + 2] = '.';
    expect_pkl_error(deep, n + 3, "nested MARKs");
    free(deep);
}

static uint8_t *slurp(const char *path, size_t *n) {
    char *b = NULL;
    ic_err err = {{0}};
    if (ic_read_file(path, &b, n, 1u << 26, &err)) fail_msg("%s", err.msg);
    return (uint8_t *)b;
}

/* strided and shared fixtures: every tensor equals torch's .contiguous() */
static void check_against_expected(const char *pt, const char *expected) {
    size_t n;
    uint8_t *b = slurp(pt, &n);
    ic_torch_state ts;
    ic_err err = {{0}};
    if (ic_torch_read(b, n, NULL, &ts, &err)) fail_msg("%s: %s", pt, err.msg);
    st_file f;
    if (st_read_file(expected, &f, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ts.n, f.n_tensors);
    for (int i = 0; i < ts.n; i++) {
        const st_tensor *t = st_find(&f, ts.t[i].name);
        assert_non_null(t);
        assert_int_equal(t->ndim, ts.t[i].ndim);
        float *want = malloc(t->numel * sizeof *want);
        assert_int_equal(st_read_f32(&f, t, want, t->numel, &err), 0);
        if (memcmp(want, ts.t[i].data, t->numel * sizeof *want)) fail_msg("%s: tensor '%s' differs", pt, ts.t[i].name);
        free(want);
    }
    st_free(&f);
    ic_torch_state_free(&ts);
    free(b);
}

static void test_strided(void **state) { (void)state; check_against_expected(FIX "strided.pt", FIX "strided.expected.safetensors"); }
static void test_shared(void **state) { (void)state; check_against_expected(FIX "shared.pt", FIX "shared.expected.safetensors"); }

static void test_layouts(void **state) {
    (void)state;
    size_t n;
    uint8_t *b = slurp(FIX "garg_run/state.pt", &n);
    ic_torch_state ts;
    ic_err err = {{0}};
    assert_int_equal(ic_torch_read(b, n, NULL, &ts, &err), 0);
    assert_string_equal(ts.layout, "garg_training_state");
    assert_int_equal(ts.has_train_step, 1);
    assert_int_equal(ts.train_step, 1234);
    assert_int_equal(ts.n, 7 + 12 * 2);
    ic_torch_state_free(&ts);
    /* a limit small enough that the archive is a "bomb": refused before reading */
    ic_import_limits lim = {.max_total = 1000, .max_entry = 0};
    assert_int_equal(ic_torch_read(b, n, &lim, &ts, &err), -1);
    assert_non_null(strstr(err.msg, "more than 1000 uncompressed bytes"));
    free(b);
    b = slurp(FIX "bare_f32.pt", &n);
    assert_int_equal(ic_torch_read(b, n, NULL, &ts, &err), 0);
    assert_string_equal(ts.layout, "state_dict");
    assert_int_equal(ts.n_dropped, 5);
    ic_torch_state_free(&ts);
    /* every truncation of a good archive fails cleanly (no crash, one message) */
    for (size_t k = 0; k < n; k += 97) {
        err.msg[0] = 0;
        if (ic_torch_read(b, k, NULL, &ts, &err) == 0) ic_torch_state_free(&ts);
        else assert_true(err.msg[0] != 0);
    }
    free(b);
}

static void test_yaml(void **state) {
    (void)state;
    ic_garg_yaml y;
    ic_err err = {{0}};
    assert_int_equal(ic_garg_yaml_read(FIX "garg_run/config.yaml", &y, &err), 0);
    assert_int_equal(y.n_head, 2);
    assert_int_equal(y.n_embd, 8);
    assert_int_equal(y.points_end, 3);
    assert_string_equal(y.task, "sparse_linear_regression");
    assert_string_equal(y.family, "gpt2");
    /* Yang et al.'s run config: the loops, the loss window, loop_func, and the
     * task under training.task_name */
    assert_int_equal(ic_garg_yaml_read(FIX "yang_run/config.yaml", &y, &err), 0);
    assert_string_equal(y.family, "gpt2_loop");
    assert_string_equal(y.loop_func, "z=f(x+z)");
    assert_string_equal(y.task, "linear_regression");
    assert_int_equal(y.loops_end, 5);
    assert_int_equal(y.n_loop_window, 3);
    assert_int_equal(y.n_positions, 6);
    /* in the binary's scratch directory, not build/ (absent in a clean clone's make asan) */
    const char *bad = tu_tmp_path("bad.yaml");
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("model:\n  n_head: many\n", f);
    fclose(f);
    assert_int_equal(ic_garg_yaml_read(bad, &y, &err), -1);
    assert_non_null(strstr(err.msg, "model.n_head"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pickle_values), cmocka_unit_test(test_pickle_refusals), cmocka_unit_test(test_pickle_bounds),
        cmocka_unit_test(test_strided),       cmocka_unit_test(test_shared),          cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_yaml),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
