/* test_inputs.c: up-front checks of what users hand to iclab (issue 20):
 * file names up to NAME_MAX, output = input, 64-bit seeds, integer and
 * boolean keys of every JSON reader, non-finite prompts, baseline limits,
 * the memory a configuration needs and the memory the machine has. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"

/* Names in the scratch directory that ic_write_file_atomic may leave: none. */
static int count_temp_files(void) {
    DIR *d = opendir(tu_tmp_dir());
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, ".tmp")) n++;
    if (d) closedir(d);
    return n;
}

/* ---------------- file names and the atomic writer ---------------- */

static void test_atomic_write_long_names(void **st) {
    (void)st;
    ic_err err;
    char name[256], path[1024], *back = NULL;
    size_t len;
    // every length up to NAME_MAX (255) works; the old "<name>.tmpXXXXXX" failed from 246
    for (int l = 240; l <= 255; l++) {
        memset(name, 'a' + (l % 26), (size_t)l);
        name[l] = 0;
        snprintf(path, sizeof path, "%s/%s", tu_tmp_dir(), name);
        if (ic_write_file_atomic(path, "hello", 5, &err)) fail_msg("name of %d characters: %s", l, err.msg);
        assert_int_equal(ic_read_file(path, &back, &len, 100, &err), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(back, "hello", 5);
        free(back);
        unlink(path);
    }
    assert_int_equal(count_temp_files(), 0);
    // 256 characters is too long for any file system: an error naming the file, nothing left
    memset(name, 'z', 256);
    name[255] = 0;
    snprintf(path, sizeof path, "%s/%sz", tu_tmp_dir(), name);
    assert_int_equal(ic_write_file_atomic(path, "x", 1, &err), -1);
    assert_non_null(strstr(err.msg, "zzzz"));
    assert_int_equal(count_temp_files(), 0);
}

static void test_temp_name_pattern(void **st) {
    (void)st;
    assert_true(ic_is_temp_name(".iclab-Ab3xYz.tmp"));
    assert_true(ic_is_temp_name(".iclab-000000.tmp"));
    assert_false(ic_is_temp_name("iclab-Ab3xYz.tmp"));
    assert_false(ic_is_temp_name(".iclab-Ab3xY.tmp"));
    assert_false(ic_is_temp_name(".iclab-Ab3xYz_.tmp"));
    assert_false(ic_is_temp_name(".iclab-Ab3x.z.tmp"));
    assert_false(ic_is_temp_name(".iclab-Ab3xYz.tmpx"));
    assert_false(ic_is_temp_name("model.safetensors"));
    assert_false(ic_is_temp_name("config.json.tmpAb3xYz"));
}

static void test_same_file(void **st) {
    (void)st;
    ic_err err;
    char a[600], b[600], l[600], sub[600];
    snprintf(a, sizeof a, "%s/same_a", tu_tmp_dir());
    snprintf(b, sizeof b, "%s/same_b", tu_tmp_dir());
    snprintf(l, sizeof l, "%s/same_link", tu_tmp_dir());
    snprintf(sub, sizeof sub, "%s/sub", tu_tmp_dir());
    assert_int_equal(ic_write_file_atomic(a, "1", 1, &err), 0);
    assert_int_equal(ic_write_file_atomic(b, "1", 1, &err), 0);
    assert_int_equal(symlink(a, l), 0);
    assert_true(ic_same_file(a, a));
    assert_true(ic_same_file(a, l));            /* through a symbolic link */
    assert_false(ic_same_file(a, b));           /* same content, another file */
    assert_false(ic_same_file(a, "/nonexistent/x"));
    char dotted[700];
    snprintf(dotted, sizeof dotted, "%s/./same_a", tu_tmp_dir());
    assert_true(ic_same_file(a, dotted));
    // file in directory
    assert_int_equal(ic_mkdirs(sub, &err), 0);
    assert_true(ic_file_in_dir(a, tu_tmp_dir()));
    assert_false(ic_file_in_dir(a, sub));
    char up[700];
    snprintf(up, sizeof up, "%s/../same_a", sub);
    assert_true(ic_file_in_dir(up, tu_tmp_dir()));
    unlink(l);
    unlink(a);
    unlink(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_write_long_names),
        cmocka_unit_test(test_temp_name_pattern),
        cmocka_unit_test(test_same_file),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
