/* test_inputs.c: up-front checks of what users hand to iclab (docs/robustness.md):
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

#include "checkpoint.h"
#include "config.h"
#include "fsutil.h"
#include "prompts.h"
#include "model.h"
#include "safetensors.h"
#include "schedule.h"
#include "sysmem.h"
#include "testutil.h"
#include "train.h"

#define EXPECT_ERR(call, ...) do {                                                     \
        ic_err e_ = {{0}};                                                             \
        ic_err *err_ = &e_;                                                            \
        (void)err_;                                                                    \
        if ((call) != -1) fail_msg("%s: expected an error", #call);                   \
        const char *want_[] = {__VA_ARGS__};                                           \
        for (size_t w_ = 0; w_ < sizeof want_ / sizeof *want_; w_++)                   \
            if (!strstr(e_.msg, want_[w_]))                                            \
                fail_msg("%s: error '%s' lacks '%s'", #call, e_.msg, want_[w_]);       \
    } while (0)

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


/* ---------------- run-config keys: types, ranges, 64-bit seeds ---------------- */

static void test_config_booleans_strict(void **st) {
    (void)st;
    ic_run_config c;
    ic_run_config_default(&c);
    // the command line: true/false/1/0 only
    EXPECT_ERR(ic_run_config_set(&c, "inject", "yes", err_), "inject", "true, false, 1 or 0", "'yes'");
    EXPECT_ERR(ic_run_config_set(&c, "loop_lnf", "off", err_), "loop_lnf");
    EXPECT_ERR(ic_run_config_set(&c, "inject", "2", err_), "inject");
    ic_err err;
    assert_int_equal(ic_run_config_set(&c, "inject", "0", &err), 0);
    assert_int_equal(c.inject, 0);
    assert_int_equal(ic_run_config_set(&c, "inject", "true", &err), 0);
    assert_int_equal(c.inject, 1);
    // JSON: true/false only
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"inject\": \"yes\"}", "c.json", err_), "c.json", "inject", "true or false");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"inject\": \"true\"}", "c.json", err_), "inject");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"loop_lnf\": 1}", "c.json", err_), "loop_lnf");
    assert_int_equal(ic_run_config_load_json(&c, "{\"inject\": false}", "c.json", &err), 0);
    assert_int_equal(c.inject, 0);
}

static void test_config_json_types_and_ranges(void **st) {
    (void)st;
    ic_run_config c;
    ic_run_config_default(&c);
    // integers that wrapped when narrowed: 2^32 + 1 -> 1
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"schedule\": [0, 4294967297]}", "s.json", err_), "s.json", "schedule",
               "element 2", "4294967297", "0..4095");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"schedule\": [0, -1]}", "s.json", err_), "element 2", "0..4095");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"schedule\": [0, 1.5]}", "s.json", err_), "element 2", "integer");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"schedule\": [0, 123456789012345678901234]}", "s.json", err_), "element 2",
               "0..4095");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"grad_loops\": 1099511627776}", "g.json", err_), "g.json", "grad_loops",
               "0..100000");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"loops\": 4294967297}", "g.json", err_), "loops", "1..100000");
    // beyond 64 bits: no longer "invalid JSON", but the key and its range
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"n_embd\": 99999999999999999999}", "e.json", err_), "e.json", "n_embd",
               "99999999999999999999", "1..65536");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"train_steps\": -99999999999999999999}", "e.json", err_), "train_steps",
               "0..1000000000000");
    EXPECT_ERR(ic_run_config_set(&c, "train_steps", "99999999999999999999", err_), "train_steps", "0..1000000000000");
    // JSON types: numbers are numbers, text is text
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"n_embd\": \"64\"}", "t.json", err_), "n_embd", "integer", "string");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"learning_rate\": \"0.1\"}", "t.json", err_), "learning_rate", "number");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"task\": 3}", "t.json", err_), "task", "string");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"n_embd\": null}", "t.json", err_), "n_embd");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"n_embd\": 64.5}", "t.json", err_), "n_embd", "64.5");
    ic_err err;
    assert_int_equal(ic_run_config_load_json(&c, "{\"train_steps\": 1e6, \"n_embd\": 64, \"task\": \"x\\\"-99999999999999999999\"}",
                                             "ok.json", &err), 0);
    assert_int_equal(c.train_steps, 1000000);
    assert_string_equal(c.task, "x\"-99999999999999999999"); /* strings are left alone */
    assert_int_equal(ic_run_config_load_json(&c, "{\"train_steps\": 999999999999}", "ok.json", &err), 0);
    assert_true(c.train_steps == 999999999999L);
}

static void test_seed_round_trip(void **st) {
    (void)st;
    const uint64_t seeds[] = {0, 1, 9223372036854775807ULL, 9223372036854775808ULL, 10000000000000000000ULL,
                              18000000000000000000ULL};
    ic_err err;
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
        ic_run_config c, d;
        ic_run_config_default(&c);
        c.seed = seeds[i];
        c.data_seed = seeds[sizeof seeds / sizeof *seeds - 1 - i];
        char *j = ic_run_config_to_json(&c);
        ic_run_config_default(&d);
        if (ic_run_config_load_json(&d, j, "config.json", &err)) fail_msg("seed %llu: %s", (unsigned long long)seeds[i], err.msg);
        assert_true(d.seed == c.seed);
        assert_true(d.data_seed == c.data_seed);
        // below 2^63 an integer, above a string of digits
        char want[64];
        if (seeds[i] > 9223372036854775807ULL) snprintf(want, sizeof want, "\"seed\": \"%llu\"", (unsigned long long)seeds[i]);
        else snprintf(want, sizeof want, "\"seed\": %llu", (unsigned long long)seeds[i]);
        if (!strstr(j, want)) fail_msg("config JSON lacks %s:\n%s", want, j);
        free(j);
    }
    ic_run_config c;
    ic_run_config_default(&c);
    // both forms read; what a user writes as a bare integer beyond 2^63 too
    assert_int_equal(ic_run_config_load_json(&c, "{\"seed\": 10000000000000000000}", "c.json", &err), 0);
    assert_true(c.seed == 10000000000000000000ULL);
    assert_int_equal(ic_run_config_load_json(&c, "{\"seed\": \"42\"}", "c.json", &err), 0);
    assert_true(c.seed == 42);
    assert_int_equal(ic_run_config_set(&c, "seed", "18000000000000000000", &err), 0);
    assert_true(c.seed == 18000000000000000000ULL);
    EXPECT_ERR(ic_run_config_set(&c, "seed", "18000000000000000001", err_), "seed", "0..18000000000000000000");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"seed\": 18446744073709551616}", "c.json", err_), "seed",
               "0..18000000000000000000");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"seed\": \"12a\"}", "c.json", err_), "seed", "12a");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"seed\": \"\"}", "c.json", err_), "seed");
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"seed\": -1}", "c.json", err_), "seed", "0..18000000000000000000");
    // what the old writer made of 10^19: says what it stood for
    EXPECT_ERR(ic_run_config_load_json(&c, "{\"seed\": -8446744073709551616}", "c.json", err_), "seed",
               "10000000000000000000");
}

/* ---------------- checkpoint metadata ---------------- */

static const ic_config TINY = {.n_dims = 3, .n_positions = 6, .n_embd = 8, .n_layer = 2, .n_head = 1};

static void test_checkpoint_metadata_ranges(void **st) {
    (void)st;
    ic_model m, l;
    ic_schedule s;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &TINY, &err), 0);
    const char *src = tu_tmp_path("meta.safetensors");
    assert_int_equal(ic_checkpoint_save(src, &m, NULL, NULL, NULL, 0, &err), 0);
    const char *dst = tu_tmp_path("meta_bad.safetensors");
    const char *head = "{\"steps\":[0,1],\"loops\":2,\"loss_loops\":1,\"inject\":true,\"loop_lnf\":true";
    char meta[512];
    static const struct { const char *tail, *want; } bad[] = {
        {",\"grad_loops\":1099511627776}", "grad_loops is 1099511627776, outside 0..100000"}, /* was read as 0 */
        {",\"grad_loops\":-1}", "grad_loops is -1, outside 0..100000"},
        {",\"grad_loops\":\"2\"}", "grad_loops"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(meta, sizeof meta, "%s%s", head, bad[i].tail);
        tu_rewrite_meta(src, dst, "iclab_schedule", meta);
        err.msg[0] = 0;
        if (ic_checkpoint_load(dst, &l, &s, 0, NULL, 0, &err) != -1) fail_msg("%s: loaded", meta);
        if (!strstr(err.msg, bad[i].want) || !strstr(err.msg, "meta_bad.safetensors") || !strstr(err.msg, "iclab_schedule"))
            fail_msg("%s: error '%s' lacks '%s'", meta, err.msg, bad[i].want);
    }
    static const struct { const char *meta, *want; } bad2[] = {
        {"{\"steps\":[0,4294967297],\"loops\":1,\"loss_loops\":1,\"inject\":true,\"loop_lnf\":true}",
         "step 2 is 4294967297, outside 0..4095"},
        {"{\"steps\":[0,1],\"loops\":4294967297,\"loss_loops\":1,\"inject\":true,\"loop_lnf\":true}",
         "loops is 4294967297, outside 1..100000"},
        {"{\"steps\":[0,1],\"loops\":1,\"loss_loops\":0,\"inject\":true,\"loop_lnf\":true}", "loss_loops is 0, outside 1..100000"},
        {"{\"steps\":[0,1],\"loops\":1,\"loss_loops\":1,\"inject\":1,\"loop_lnf\":true}", "iclab_schedule"},
    };
    for (size_t i = 0; i < sizeof bad2 / sizeof *bad2; i++) {
        tu_rewrite_meta(src, dst, "iclab_schedule", bad2[i].meta);
        err.msg[0] = 0;
        if (ic_checkpoint_load(dst, &l, &s, 0, NULL, 0, &err) != -1) fail_msg("%s: loaded", bad2[i].meta);
        if (!strstr(err.msg, bad2[i].want)) fail_msg("%s: error '%s' lacks '%s'", bad2[i].meta, err.msg, bad2[i].want);
    }
    tu_rewrite_meta(src, dst, "iclab_config", "{\"n_dims\":3,\"n_positions\":6,\"n_embd\":4294967304,\"n_layer\":2,\"n_head\":1}");
    EXPECT_ERR(ic_checkpoint_load(dst, &l, &s, 0, NULL, 0, err_), "iclab_config", "n_embd is 4294967304, outside 1..65536");
    // a good file still loads, grad_loops and all
    snprintf(meta, sizeof meta, "%s,\"grad_loops\":2}", head);
    tu_rewrite_meta(src, dst, "iclab_schedule", meta);
    assert_int_equal(ic_checkpoint_load(dst, &l, &s, 0, NULL, 0, &err), 0);
    assert_int_equal(s.grad_loops, 2);
    ic_model_free(&l);
    ic_model_free(&m);
}

static void test_checkpoint_run_config(void **st) {
    (void)st;
    ic_model m, l;
    ic_schedule s;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &TINY, &err), 0);
    ic_run_config rc, got;
    ic_run_config_default(&rc);
    rc.model = TINY;
    rc.n_points = 5;
    rc.seed = 10000000000000000000ULL;
    assert_int_equal(ic_run_config_set(&rc, "task", "sparse_linear_regression", &err), 0);
    char *j = ic_run_config_to_json(&rc);
    const char *k[] = {"iclab_run_config"}, *v[] = {j};
    const char *path = tu_tmp_path("run.safetensors");
    assert_int_equal(ic_checkpoint_save(path, &m, NULL, k, v, 1, &err), 0);
    free(j);
    // the whole record comes back: the seed and every key after it (the task)
    if (ic_checkpoint_load_run(path, &l, &s, 0, NULL, 0, &got, &err)) fail_msg("%s", err.msg);
    assert_true(got.seed == 10000000000000000000ULL);
    assert_string_equal(got.task, "sparse_linear_regression");
    assert_int_equal(got.n_points, 5);
    ic_model_free(&l);
    // a record that does not parse is an error naming it and the key, not the defaults
    const char *bad = tu_tmp_path("run_bad.safetensors");
    tu_rewrite_meta(path, bad, "iclab_run_config", "{\"task\": \"sparse_linear_regression\", \"seed\": -8446744073709551616}");
    EXPECT_ERR(ic_checkpoint_load_run(bad, &l, &s, 0, NULL, 0, &got, err_), "run_bad.safetensors", "iclab_run_config", "seed");
    tu_rewrite_meta(path, bad, "iclab_run_config", "{\"inject\": \"yes\"}");
    EXPECT_ERR(ic_checkpoint_load_run(bad, &l, &s, 0, NULL, 0, &got, err_), "iclab_run_config", "inject");
    ic_model_free(&m);
}

/* ---------------- prompt files ---------------- */

static void write_prompts(const char *path, int B, int n, int d, const float *xs, const float *ys) {
    ic_err err;
    st_wtensor t[2] = {{.name = "xs", .dtype = ST_F32, .ndim = 3, .shape = {B, n, d}, .data = xs},
                       {.name = "ys", .dtype = ST_F32, .ndim = 2, .shape = {B, n}, .data = ys}};
    assert_int_equal(st_write_file(path, t, 2, NULL, NULL, 0, &err), 0);
}

static void test_prompts_nonfinite(void **st) {
    (void)st;
    enum { B = 3, N = 4, D = 2 };
    float xs[B * N * D], ys[B * N];
    for (int i = 0; i < B * N * D; i++) xs[i] = 0.25f * (float)(i % 7) - 0.5f;
    for (int i = 0; i < B * N; i++) ys[i] = 0.5f * (float)(i % 5);
    const char *path = tu_tmp_path("p.safetensors");
    ic_prompts p;
    ic_err err;
    write_prompts(path, B, N, D, xs, ys);
    assert_int_equal(ic_prompts_load(path, D, 0, &p, &err), 0);
    ic_prompts_free(&p);
    static const struct { int which, b, i, k; float v; const char *want; } bad[] = {
        {0, 1, 2, 1, NAN, "xs[1,2,1]"}, {0, 2, 3, 0, INFINITY, "+Inf at xs[2,3,0]"}, {0, 0, 0, 0, -INFINITY, "-Inf at xs[0,0,0]"},
        {1, 2, 1, 0, NAN, "NaN at ys[2,1]"},     {1, 0, 3, 0, -INFINITY, "ys[0,3]"},
    };
    for (size_t t = 0; t < sizeof bad / sizeof *bad; t++) {
        float bx[B * N * D], by[B * N];
        memcpy(bx, xs, sizeof bx);
        memcpy(by, ys, sizeof by);
        if (bad[t].which == 0) bx[(bad[t].b * N + bad[t].i) * D + bad[t].k] = bad[t].v;
        else by[bad[t].b * N + bad[t].i] = bad[t].v;
        write_prompts(path, B, N, D, bx, by);
        err.msg[0] = 0;
        if (ic_prompts_load(path, D, 0, &p, &err) != -1) fail_msg("case %zu: loaded", t);
        if (!strstr(err.msg, bad[t].want) || !strstr(err.msg, "p.safetensors") || !strstr(err.msg, "prompt "))
            fail_msg("case %zu: error '%s' lacks '%s'", t, err.msg, bad[t].want);
        assert_null(p.xs);
    }
}

/* ---------------- memory: what a configuration needs, what the machine has ---------------- */

static void expect_mem_equal(const char *what, const ic_mem_bytes *est, const ic_mem_bytes *held) {
    const double e[] = {est->params, est->grads, est->acts, est->dacts, est->preds, est->shards, est->total};
    const double h[] = {held->params, held->grads, held->acts, held->dacts, held->preds, held->shards, held->total};
    const char *names[] = {"params", "grads", "acts", "dacts", "preds", "shards", "total"};
    for (int i = 0; i < 7; i++)
        if (e[i] != h[i]) fail_msg("%s: %s estimated %.0f bytes, allocated %.0f", what, names[i], e[i], h[i]);
}

static void test_mem_estimate_matches_allocation(void **st) {
    (void)st;
    static const struct { const char *sched; int loops, loss_loops, grad_loops, B, n, shards; } cases[] = {
        {"0-2", 1, 1, 0, 5, 4, 1},        {"0,1,1,0,2", 1, 1, 0, 7, 6, 1},  {"0,(1|2),0", 1, 1, 0, 3, 5, 1},
        {"0-2", 4, 2, 0, 4, 3, 1},        {"1,2", 5, 2, 4, 6, 6, 1},         {"0-2", 1, 1, 0, 7, 4, 3},
        {"0,(1|2)", 3, 1, 3, 9, 5, 4},    {"2", 6, 3, 0, 2, 6, 2},           {"0-2", 1, 1, 0, 3, 2, 5},
        {"0,{1,2},0", 3, 1, 3, 5, 4, 1},  {"0,{(1|2)},2", 2, 1, 2, 6, 5, 3}, {"1,{0}", 4, 2, 0, 4, 3, 1},
    };
    const ic_config c = {.n_dims = 3, .n_positions = 6, .n_embd = 8, .n_layer = 3, .n_head = 2};
    ic_err err;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ic_schedule s;
        ic_schedule_default(&s, c.n_layer);
        assert_int_equal(ic_schedule_parse(&s, cases[i].sched, NULL, c.n_layer, &err), 0);
        s.loops = cases[i].loops;
        s.loss_loops = cases[i].loss_loops;
        s.grad_loops = cases[i].grad_loops;
        s.loop_lnf = !s.coda;   /* a coda feeds the core's output back */
        s.loop_signal = s.prelude > 0;
        const int B = cases[i].B, n = cases[i].n;
        float *xs = tu_falloc((size_t)B * n * c.n_dims), *ys = tu_falloc((size_t)B * n);
        tu_rng r = tu_rng_make(i + 1);
        tu_fill_f(&r, xs, (size_t)B * n * c.n_dims, 1.0, 0.0);
        tu_fill_f(&r, ys, (size_t)B * n, 1.0, 0.0);
        char what[128];
        ic_mem_bytes est, held;
        // inference: a fresh model and workspace after one forward without gradients
        ic_model m;
        ic_workspace ws;
        ic_workspace_init(&ws);
        assert_int_equal(ic_model_create(&m, &c, &err), 0);
        assert_int_equal(ic_model_forward(&m, &ws, &s, xs, ys, B, n, 0, &err), 0);
        ic_model_mem_estimate(&c, &s, B, n, 0, 1, &est);
        ic_model_mem_held(&m, NULL, &ws, NULL, &held);
        snprintf(what, sizeof what, "inference %s x%d B=%d n=%d", cases[i].sched, s.loops, B, n);
        expect_mem_equal(what, &est, &held);
        ic_workspace_free(&ws);
        // a workspace reserved up front holds the same, and a forward then allocates nothing more
        assert_int_equal(ic_workspace_reserve(&ws, &c, &s, B, n, 0, &err), 0);
        const float *acts = ws.acts_mem, *preds = ws.preds;
        assert_int_equal(ic_model_forward(&m, &ws, &s, xs, ys, B, n, 0, &err), 0);
        assert_ptr_equal(acts, ws.acts_mem);
        assert_ptr_equal(preds, ws.preds);
        ic_model_mem_held(&m, NULL, &ws, NULL, &held);
        expect_mem_equal(what, &est, &held);
        ic_workspace_free(&ws);
        // training: a fresh workspace and gradient buffer after one training pass on the given shards
        ic_shards sh = {0};
        ic_grads g;
        assert_int_equal(ic_grads_create(&g, &m, &err), 0);
        if (ic_model_train_pass(&m, &g, &ws, &sh, cases[i].shards, &s, xs, ys, B, n, &err)) fail_msg("%s", err.msg);
        ic_model_mem_estimate(&c, &s, B, n, 1, cases[i].shards, &est);
        ic_model_mem_held(&m, &g, &ws, &sh, &held);
        snprintf(what, sizeof what, "training %s x%d B=%d n=%d on %d shards", cases[i].sched, s.loops, B, n, cases[i].shards);
        expect_mem_equal(what, &est, &held);
        ic_shards_free(&sh);
        ic_grads_free(&g);
        ic_workspace_free(&ws);
        ic_model_free(&m);
        free(xs);
        free(ys);
    }
    // linear in the schedule length and the batch, quadratic in the points (attention)
    ic_schedule s;
    ic_schedule_default(&s, c.n_layer);
    ic_mem_bytes a, b;
    ic_model_mem_estimate(&c, &s, 100, 6, 1, 1, &a);
    ic_model_mem_estimate(&c, &s, 200, 6, 1, 1, &b);
    assert_true(b.acts > 1.99 * a.acts && b.acts < 2.01 * a.acts);
    // a configuration beyond any machine: finite, huge, no wrap-around
    const ic_config big = {.n_dims = 20, .n_positions = 100000, .n_embd = 65536, .n_layer = 4096, .n_head = 65536};
    ic_schedule_default(&s, big.n_layer);
    s.loops = s.loss_loops = IC_MAX_LOOPS;
    ic_model_mem_estimate(&big, &s, 1 << 20, 100000, 1, 64, &a);
    assert_true(isfinite(a.total) && a.total > 1e30);
}

static void test_mem_available(void **st) {
    (void)st;
    ic_mem_avail a;
    const char *meminfo = "MemTotal:       24683620 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\nBuffers: 1 kB\n";
    const char *status = "Name:\ticlab\nVmPeak:\t  900 kB\nVmSize:\t  500 kB\nVmData:\t  300 kB\n";
    ic_mem_avail_from(meminfo, status, -1, -1, -1, -1, &a);
    assert_true(a.bytes == 2048.0 * 1024);
    assert_string_equal(a.source, "MemAvailable");
    // RLIMIT_AS counts what the process already maps (VmSize)
    ic_mem_avail_from(meminfo, status, 1e6, -1, -1, -1, &a);
    assert_true(a.bytes == 1e6 - 500.0 * 1024);
    assert_non_null(strstr(a.source, "RLIMIT_AS"));
    ic_mem_avail_from(meminfo, status, -1, 400.0 * 1024, -1, -1, &a);
    assert_true(a.bytes == 100.0 * 1024);
    assert_non_null(strstr(a.source, "RLIMIT_DATA"));
    ic_mem_avail_from(meminfo, status, -1, -1, 1.5e6, 1e6, &a);
    assert_true(a.bytes == 0.5e6);
    assert_non_null(strstr(a.source, "cgroup"));
    ic_mem_avail_from(meminfo, status, 1e5, -1, -1, -1, &a); /* already above the limit: 0, not negative */
    assert_true(a.bytes == 0);
    ic_mem_avail_from(NULL, NULL, -1, -1, -1, -1, &a); /* nothing known: no check */
    assert_true(a.bytes < 0);
    ic_err err;
    assert_int_equal(ic_mem_check_with(1e18, &a, "x", NULL, &err), 0);
    ic_mem_avail_from(meminfo, status, -1, -1, -1, -1, &a);
    assert_int_equal(ic_mem_check_with(2e6, &a, "x", NULL, &err), 0);
    EXPECT_ERR(ic_mem_check_with(2.5e9, &a, "training", "lower batch_size", err_), "training needs 2.5 GB of memory",
               "2.1 MB is available (MemAvailable)", "lower batch_size");
    // this machine: something is known and it is not nothing
    ic_mem_available(&a);
    assert_true(a.bytes > 1e6);
}

static void test_train_refuses_what_cannot_fit(void **st) {
    (void)st;
    ic_run_config c;
    ic_run_config_default(&c);
    c.loops = c.loss_loops = 100000; /* the standard model, gradient through 100000 loops */
    c.train_steps = 1;
    ic_err err;
    assert_int_equal(ic_run_config_validate(&c, &err), 0);
    assert_true(ic_run_config_train_bytes(&c, 1) > 5e13); /* ~94 TB (each block application keeps 12 [B,T,C] and its probabilities) */
    ic_trainer t;
    EXPECT_ERR(ic_trainer_init(&t, &c, err_), "training needs", "TB of memory but", "is available", "batch_size");
    // and nothing is written: no run directory
    const char *dir = tu_tmp_path("unfit_run");
    ic_train_result res;
    EXPECT_ERR(ic_train_run(dir, &c, 0, NULL, &res, err_), "training needs");
    assert_false(ic_file_exists(dir));
    ic_run_config_default(&c);
    c.batch_size = 1 << 20;
    EXPECT_ERR(ic_trainer_init(&t, &c, err_), "training needs");
    // what fits still trains: the estimate of a small config is what it allocates
    ic_run_config_default(&c);
    c.model = (ic_config){.n_dims = 3, .n_positions = 6, .n_embd = 8, .n_layer = 2, .n_head = 1};
    c.n_points = 6;
    c.batch_size = 8;
    if (ic_trainer_init(&t, &c, &err)) fail_msg("%s", err.msg);
    ic_step_stats stats;
    assert_int_equal(ic_trainer_step(&t, &stats, &err), 0);
    ic_mem_bytes held;
    ic_model_mem_held(&t.model, &t.grads, &t.ws, &t.shards, &held);
    const double adam_batch = 2.0 * t.model.num_params * 4 + 8.0 * 6 * (3 + 1) * 4;
    assert_true(held.total + adam_batch == ic_run_config_train_bytes(&c, ic_default_shards()));
    ic_trainer_free(&t);
}

static void test_forward_refuses_what_cannot_fit(void **st) {
    (void)st;
    // one prompt of 100000 points: the attention probabilities alone are 4e10 floats per head,
    // 1.3 TB for 8 heads (old code: malloc failed, or succeeded and the OOM killer came later)
    const ic_config c = {.n_dims = 1, .n_positions = 100000, .n_embd = 8, .n_layer = 1, .n_head = 8};
    ic_model m;
    ic_schedule s;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &c, &err), 0);
    ic_schedule_default(&s, c.n_layer);
    const int n = 100000;
    float *xs = tu_falloc(n), *ys = tu_falloc(n);
    ic_workspace ws;
    ic_workspace_init(&ws);
    EXPECT_ERR(ic_model_forward(&m, &ws, &s, xs, ys, 1, n, 0, err_), "the activation buffer needs", "TB of memory but",
               "is available", "--batch_size");
    EXPECT_ERR(ic_model_forward(&m, &ws, &s, xs, ys, 1, n, 1, err_), "activation buffer needs");
    ic_workspace_free(&ws);
    free(xs);
    free(ys);
    ic_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_write_long_names),
        cmocka_unit_test(test_temp_name_pattern),
        cmocka_unit_test(test_same_file),
        cmocka_unit_test(test_config_booleans_strict),
        cmocka_unit_test(test_config_json_types_and_ranges),
        cmocka_unit_test(test_seed_round_trip),
        cmocka_unit_test(test_checkpoint_metadata_ranges),
        cmocka_unit_test(test_checkpoint_run_config),
        cmocka_unit_test(test_prompts_nonfinite),
        cmocka_unit_test(test_mem_estimate_matches_allocation),
        cmocka_unit_test(test_mem_available),
        cmocka_unit_test(test_train_refuses_what_cannot_fit),
        cmocka_unit_test(test_forward_refuses_what_cannot_fit),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
