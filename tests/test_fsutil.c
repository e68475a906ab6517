/* test_fsutil.c: output directories that change as a whole (ic_outdir_*),
 * rm -r, and the path containment test behind the refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "testutil.h"

static void put(const char *dir, const char *name, const char *text) {
    char path[8192];
    ic_err err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(ic_write_file_atomic(path, text, strlen(text), &err), 0);
}

/* The file's text, or "" if missing (static buffer). */
static const char *text_of(const char *dir, const char *name) {
    static char buf[256];
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    buf[0] = 0;
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Entries of dir (without . and ..) whose names start with prefix. */
static int count_entries(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !strncmp(e->d_name, prefix, strlen(prefix))) n++;
    closedir(d);
    return n;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A pid that is certainly not alive: a child that has exited and been reaped. */
static long dead_pid(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    assert_true(p > 0);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    return (long)p;
}

static void test_fresh_out_commits(void **st) {
    (void)st;
    ic_err err;
    ic_outdir od;
    char out[4096];
    snprintf(out, sizeof out, "%s", tu_tmp_path("fresh/a/out/"));
    assert_int_equal(ic_outdir_begin(&od, out, NULL, 0, &err), 0);
    assert_string_equal(od.out, tu_tmp_path("fresh/a/out")); /* trailing slash dropped */
    assert_false(od.existed);
    assert_false(ic_file_exists(od.out));
    assert_true(is_dir(od.tmp));
    char want[8192];
    snprintf(want, sizeof want, "%s.tmp-%ld-", od.out, (long)getpid());
    assert_true(strncmp(od.tmp, want, strlen(want)) == 0);
    put(od.tmp, "results.json", "new");
    assert_int_equal(ic_outdir_commit(&od, &err), 0);
    assert_string_equal(text_of(out, "results.json"), "new");
    assert_int_equal(count_entries(tu_tmp_path("fresh/a"), "out"), 1); /* no temporary directory left */
    /* the usual mode, not mkdtemp's 0700 */
    mode_t mask = umask(0);
    umask(mask);
    struct stat s;
    assert_int_equal(stat(out, &s), 0);
    assert_int_equal(s.st_mode & 0777, 0777 & ~mask);
}

static void replace_existing(int no_exchange) {
    ic_err err;
    ic_outdir od;
    const char *out = tu_tmp_path(no_exchange ? "rep_fallback" : "rep_exchange");
    assert_int_equal(ic_mkdirs(out, &err), 0);
    put(out, "a.csv", "old a");
    put(out, "b.csv", "old b");
    assert_int_equal(ic_outdir_begin(&od, out, NULL, 0, &err), 0);
    assert_true(od.existed);
    od.no_exchange = no_exchange;
    put(od.tmp, "a.csv", "new a");
    /* until the commit, readers see the old set */
    assert_string_equal(text_of(out, "a.csv"), "old a");
    assert_int_equal(ic_outdir_commit(&od, &err), 0);
    assert_string_equal(text_of(out, "a.csv"), "new a");
    assert_false(ic_file_exists(tu_tmp_path(no_exchange ? "rep_fallback/b.csv" : "rep_exchange/b.csv"))); /* a whole set */
    assert_int_equal(count_entries(tu_tmp_dir(), no_exchange ? "rep_fallback" : "rep_exchange"), 1);
}

static void test_replace_exchange(void **st) {
    (void)st;
    replace_existing(0);
}

static void test_replace_fallback(void **st) {
    (void)st;
    replace_existing(1);
}

static void test_abort_leaves_out_unchanged(void **st) {
    (void)st;
    ic_err err;
    ic_outdir od;
    const char *out = tu_tmp_path("ab");
    assert_int_equal(ic_mkdirs(out, &err), 0);
    put(out, "results.json", "old");
    assert_int_equal(ic_outdir_begin(&od, out, NULL, 0, &err), 0);
    put(od.tmp, "results.json", "new");
    put(od.tmp, "x.svg", "new");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", od.tmp);
    assert_int_equal(ic_outdir_abort(&od, &err), 0);
    assert_false(ic_file_exists(tmp));
    assert_string_equal(text_of(out, "results.json"), "old");
    assert_int_equal(count_entries(out, ""), 1);
    assert_int_equal(count_entries(tu_tmp_dir(), "ab"), 1);
    /* a fresh OUT aborted: nothing at all */
    assert_int_equal(ic_outdir_begin(&od, tu_tmp_path("ab_new"), NULL, 0, &err), 0);
    put(od.tmp, "results.json", "new");
    assert_int_equal(ic_outdir_abort(&od, &err), 0);
    assert_int_equal(count_entries(tu_tmp_dir(), "ab_new"), 0);
}

static void test_leftovers_of_dead_processes_removed(void **st) {
    (void)st;
    ic_err err;
    ic_outdir od;
    const char *out = tu_tmp_path("lo");
    char path[8192];
    long dead = dead_pid();
    /* a dead process's temporary and set-aside directories, with files */
    snprintf(path, sizeof path, "%s.tmp-%ld-abcdef", out, dead);
    assert_int_equal(ic_mkdirs(path, &err), 0);
    put(path, "half.csv", "x");
    snprintf(path, sizeof path, "%s.old-%ld-abcdef", out, dead);
    assert_int_equal(ic_mkdirs(path, &err), 0);
    /* a live process's (pid 1, and our parent) and a look-alike of another name stay */
    snprintf(path, sizeof path, "%s.tmp-1-abcdef", out);
    assert_int_equal(ic_mkdirs(path, &err), 0);
    snprintf(path, sizeof path, "%s.tmp-%ld-abcdef", out, (long)getppid());
    assert_int_equal(ic_mkdirs(path, &err), 0);
    snprintf(path, sizeof path, "%s.tmp-%ld-abcdef", tu_tmp_path("lo2"), dead);
    assert_int_equal(ic_mkdirs(path, &err), 0);
    assert_int_equal(count_entries(tu_tmp_dir(), "lo.tmp-"), 3);
    assert_int_equal(ic_outdir_begin(&od, out, NULL, 0, &err), 0);
    assert_int_equal(count_entries(tu_tmp_dir(), "lo.tmp-"), 3); /* ours + the two live ones */
    assert_int_equal(count_entries(tu_tmp_dir(), "lo.old-"), 0);
    assert_int_equal(count_entries(tu_tmp_dir(), "lo2.tmp-"), 1);
    snprintf(path, sizeof path, "%s.tmp-%ld-abcdef", out, dead);
    assert_false(ic_file_exists(path));
    assert_int_equal(ic_outdir_abort(&od, &err), 0);
}

static void expect_refused(const char *out, const char *const *inputs, int n, const char *words) {
    ic_err err = {{0}};
    ic_outdir od;
    assert_int_equal(ic_outdir_begin(&od, out, inputs, n, &err), -1);
    if (!strstr(err.msg, words)) fail_msg("'%s' refused with '%s', expected '%s'", out, err.msg, words);
    char prefix[4096];
    const char *slash = strrchr(out, '/');
    snprintf(prefix, sizeof prefix, "%s.tmp-", slash ? slash + 1 : out);
    assert_int_equal(count_entries(tu_tmp_dir(), prefix), 0); /* nothing created */
}

static void test_refusals(void **st) {
    (void)st;
    ic_err err;
    put(tu_tmp_dir(), "afile", "x");
    expect_refused(tu_tmp_path("afile"), NULL, 0, "not a directory");
    assert_int_equal(symlink("ref_target", tu_tmp_path("alink")), 0);
    expect_refused(tu_tmp_path("alink"), NULL, 0, "symbolic link");
    assert_int_equal(ic_mkdirs(tu_tmp_path("withsub/sub"), &err), 0);
    expect_refused(tu_tmp_path("withsub"), NULL, 0, "'sub', which is not a file");
    assert_int_equal(ic_mkdirs(tu_tmp_path("run"), &err), 0);
    put(tu_tmp_path("run"), "state.safetensors", "x");
    expect_refused(tu_tmp_path("run"), NULL, 0, "training run");
    /* an input inside OUT, however it is spelled */
    assert_int_equal(ic_mkdirs(tu_tmp_path("holds"), &err), 0);
    put(tu_tmp_path("holds"), "model.safetensors", "x");
    char spelled[4096];
    snprintf(spelled, sizeof spelled, "%s/./../holds//model.safetensors", tu_tmp_path("holds"));
    const char *in1[] = {NULL, "elsewhere.safetensors", spelled};
    expect_refused(tu_tmp_path("holds"), in1, 3, "lies inside the output directory");
    const char *in2[] = {tu_tmp_path("holds/model.safetensors")};
    expect_refused(tu_tmp_path("holds/"), in2, 1, "lies inside");
    /* a sibling with a longer name is not inside */
    ic_outdir od;
    const char *in3[] = {tu_tmp_path("holds/model.safetensors")};
    assert_int_equal(ic_outdir_begin(&od, tu_tmp_path("hold"), in3, 1, &err), 0);
    assert_int_equal(ic_outdir_abort(&od, &err), 0);
    /* ".", "..", "/" and the directory we are in */
    expect_refused(".", NULL, 0, "cannot be an output directory");
    expect_refused("..", NULL, 0, "cannot be an output directory");
    expect_refused("/", NULL, 0, "cannot be an output directory");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(ic_mkdirs(tu_tmp_path("here/in"), &err), 0);
    assert_int_equal(chdir(tu_tmp_path("here/in")), 0);
    ic_err e2 = {{0}};
    int rc = ic_outdir_begin(&od, "../../here", NULL, 0, &e2);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, -1);
    /* "here" holds a subdirectory, so either reason refuses it; an empty one shows the cwd rule */
    assert_int_equal(chdir(tu_tmp_path("here/in")), 0);
    rc = ic_outdir_begin(&od, "../in", NULL, 0, &e2);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e2.msg, "contains the current directory"));
}

static void test_outdir_path(void **st) {
    (void)st;
    ic_err err;
    ic_outdir od;
    char buf[4096], want[8192];
    assert_int_equal(ic_outdir_begin(&od, tu_tmp_path("mp"), NULL, 0, &err), 0);
    assert_int_equal(ic_outdir_path(&od, tu_tmp_path("mp/cap.safetensors"), buf, sizeof buf, &err), 0);
    snprintf(want, sizeof want, "%s/cap.safetensors", od.tmp);
    assert_string_equal(buf, want);
    assert_int_equal(ic_outdir_path(&od, tu_tmp_path("mpx/cap.safetensors"), buf, sizeof buf, &err), 0);
    assert_string_equal(buf, tu_tmp_path("mpx/cap.safetensors"));
    assert_int_equal(ic_outdir_path(&od, tu_tmp_path("mp"), buf, sizeof buf, &err), -1);
    assert_int_equal(ic_outdir_abort(&od, &err), 0);
}

static void test_path_within_and_remove_tree(void **st) {
    (void)st;
    ic_err err;
    assert_true(ic_path_within("/a/b/c", "/a/b"));
    assert_true(ic_path_within("/a/b", "/a/b/"));
    assert_true(ic_path_within("/a/x/../b/c", "/a/b"));
    assert_false(ic_path_within("/a/bc", "/a/b"));
    assert_false(ic_path_within("/a", "/a/b"));
    assert_true(ic_path_within("/anything", "/"));
    /* through a symbolic link */
    assert_int_equal(ic_mkdirs(tu_tmp_path("real/d"), &err), 0);
    assert_int_equal(symlink(tu_tmp_path("real"), tu_tmp_path("alias")), 0);
    assert_true(ic_path_within(tu_tmp_path("alias/d/f"), tu_tmp_path("real")));
    /* rm -r: nested directories, files, a link (removed, not followed) */
    assert_int_equal(ic_mkdirs(tu_tmp_path("tree/a/b/c"), &err), 0);
    put(tu_tmp_path("tree/a/b"), "f", "x");
    put(tu_tmp_path("tree"), "g", "x");
    put(tu_tmp_path("real"), "kept", "x");
    assert_int_equal(symlink(tu_tmp_path("real"), tu_tmp_path("tree/a/link")), 0);
    assert_int_equal(ic_remove_tree(tu_tmp_path("tree"), &err), 0);
    assert_false(ic_file_exists(tu_tmp_path("tree")));
    assert_true(ic_file_exists(tu_tmp_path("real/kept")));
    assert_int_equal(ic_remove_tree(tu_tmp_path("tree"), &err), 0); /* missing: fine */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_out_commits),
        cmocka_unit_test(test_replace_exchange),
        cmocka_unit_test(test_replace_fallback),
        cmocka_unit_test(test_abort_leaves_out_unchanged),
        cmocka_unit_test(test_leftovers_of_dead_processes_removed),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_outdir_path),
        cmocka_unit_test(test_path_within_and_remove_tree),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
