/* test_checkpoint.c: model <-> safetensors with Garg et al.'s names; the
 * run config (keys, JSON, errors); Adam against its reference. */
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

#include "adam.h"
#include "checkpoint.h"
#include "config.h"
#include "eval.h"
#include "gemm.h"
#include "model.h"
#include "safetensors.h"
#include "testutil.h"


static const ic_config CFG = {.n_dims = 4, .n_positions = 6, .n_embd = 8, .n_layer = 3, .n_head = 2};

/* A CFG model with seeded weights, and the schedule body with `loops` loops. */
static void model_with_body(ic_model *m, uint64_t seed, ic_schedule *s, const char *body, int loops) {
    ic_err err;
    assert_int_equal(ic_model_create(m, &CFG, &err), 0);
    ic_model_init_weights(m, seed);
    ic_schedule_default(s, CFG.n_layer);
    assert_int_equal(ic_schedule_parse(s, body, NULL, 0, &err), 0);
    s->loops = loops;
}

static void test_roundtrip_bit_exact(void **st) {
    (void)st;
    ic_model m, l;
    ic_err err;
    ic_schedule s, ls;
    model_with_body(&m, 42, &s, "2,0,1,1", 5);
    s.loss_loops = 3;
    s.inject = 0;
    s.loop_lnf = 1;
    const char *k[] = {"note"}, *v[] = {"hello"};
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("a.safetensors"), &m, &s, k, v, 1, &err), 0);
    char notice[256];
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("a.safetensors"), &l, &ls, 0, notice, sizeof notice, &err), 0);
    assert_string_equal(notice, "");
    assert_memory_equal(&l.cfg, &CFG, sizeof CFG);
    assert_int_equal(l.num_params, m.num_params);
    assert_memory_equal(l.params_mem, m.params_mem, m.num_params * sizeof(float));
    assert_int_equal(ls.n, 4);
    assert_int_equal(ls.steps[0], 2);
    assert_int_equal(ls.steps[3], 1);
    assert_int_equal(ls.loops, 5);
    assert_int_equal(ls.loss_loops, 3);
    assert_int_equal(ls.inject, 0);
    assert_int_equal(ls.loop_lnf, 1);
    // names, shapes and layouts as Garg et al.'s state_dict
    st_file f;
    assert_int_equal(st_read_file(tu_tmp_path("a.safetensors"), &f, &err), 0);
    assert_int_equal(f.n_tensors, 7 + 12 * 3);
    const st_tensor *t = st_find(&f, "_backbone.h.2.attn.c_attn.weight");
    assert_non_null(t);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 8);
    assert_int_equal(t->shape[1], 24);
    t = st_find(&f, "_read_in.weight");
    assert_int_equal(t->shape[0], 8);
    assert_int_equal(t->shape[1], 4);
    t = st_find(&f, "_backbone.wpe.weight");
    assert_int_equal(t->shape[0], 12);
    t = st_find(&f, "_read_out.weight");
    assert_int_equal(t->shape[0], 1);
    assert_int_equal(t->shape[1], 8);
    assert_non_null(st_find(&f, "_backbone.h.1.mlp.c_proj.bias"));
    assert_string_equal(st_meta(&f, "note"), "hello");
    assert_non_null(strstr(st_meta(&f, "iclab_config"), "\"n_head\":2"));
    // block 1's c_fc weight holds exactly the model's slice for block 1
    t = st_find(&f, "_backbone.h.1.mlp.c_fc.weight");
    float *buf = malloc(sizeof(float) * 8 * 32);
    assert_int_equal(st_read_f32(&f, t, buf, 8 * 32, &err), 0);
    assert_memory_equal(buf, ic_model_tensor(&m, IC_P_FC_W, 1), sizeof(float) * 8 * 32);
    free(buf);
    st_free(&f);
    ic_model_free(&m);
    ic_model_free(&l);
}

/* Rewrites an iclab checkpoint as a converted Garg et al. file: no metadata,
 * plus the GPT-2 tensors their code carries but does not use. */
static void write_garg_style(const char *src, const char *dst, int extra_unknown) {
    st_file f;
    ic_err err;
    assert_int_equal(st_read_file(src, &f, &err), 0);
    int n = f.n_tensors;
    st_wtensor *w = calloc((size_t)n + 4, sizeof *w);
    for (int i = 0; i < n; i++) {
        w[i].name = f.tensors[i].name;
        w[i].dtype = f.tensors[i].dtype;
        w[i].ndim = f.tensors[i].ndim;
        memcpy(w[i].shape, f.tensors[i].shape, sizeof w[i].shape);
        w[i].data = f.buf + f.data_start + f.tensors[i].begin;
    }
    static float wte[50 * 8], mask[1 * 1 * 12 * 12];
    w[n++] = (st_wtensor){.name = "_backbone.wte.weight", .dtype = ST_F32, .ndim = 2, .shape = {50, 8}, .data = wte};
    w[n++] = (st_wtensor){.name = "_backbone.h.0.attn.bias", .dtype = ST_F32, .ndim = 4, .shape = {1, 1, 12, 12}, .data = mask};
    if (extra_unknown)
        w[n++] = (st_wtensor){.name = "_backbone.h.0.attn.rotary", .dtype = ST_F32, .ndim = 1, .shape = {8}, .data = wte};
    assert_int_equal(st_write_file(dst, w, n, NULL, NULL, 0, &err), 0);
    free(w);
    st_free(&f);
}

static void test_load_run_config(void **st) {
    (void)st;
    ic_model m, l;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &CFG, &err), 0);
    ic_run_config rc;
    ic_run_config_default(&rc);
    rc.n_points = 5;
    assert_int_equal(ic_run_config_set(&rc, "task", "sparse_linear_regression", &err), 0);
    char *j = ic_run_config_to_json(&rc);
    const char *k[] = {"iclab_run_config"}, *v[] = {j};
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("r.safetensors"), &m, NULL, k, v, 1, &err), 0);
    free(j);
    ic_schedule s;
    ic_run_config got;
    assert_int_equal(ic_checkpoint_load_run(tu_tmp_path("r.safetensors"), &l, &s, 0, NULL, 0, &got, &err), 0);
    assert_int_equal(got.n_points, 5);
    assert_string_equal(got.task, "sparse_linear_regression");
    ic_model_free(&l);
    // no record: the defaults
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("r2.safetensors"), &m, NULL, NULL, NULL, 0, &err), 0);
    assert_int_equal(ic_checkpoint_load_run(tu_tmp_path("r2.safetensors"), &l, &s, 0, NULL, 0, &got, &err), 0);
    assert_int_equal(got.n_points, 41);
    assert_string_equal(got.task, "linear_regression");
    ic_model_free(&l);
    ic_model_free(&m);
}

static void test_garg_checkpoint_without_metadata(void **st) {
    (void)st;
    ic_model m, l;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &CFG, &err), 0);
    ic_model_init_weights(&m, 3);
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("b.safetensors"), &m, NULL, NULL, NULL, 0, &err), 0);
    write_garg_style(tu_tmp_path("b.safetensors"), tu_tmp_path("garg.safetensors"), 0);
    ic_schedule s;
    char notice[256];
    // no metadata and no n_head: a clear error
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("garg.safetensors"), &l, &s, 0, notice, sizeof notice, &err), -1);
    assert_non_null(strstr(err.msg, "--n_head"));
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("garg.safetensors"), &l, &s, 2, notice, sizeof notice, &err), 0);
    assert_non_null(strstr(notice, "ignored 2"));
    assert_memory_equal(&l.cfg, &CFG, sizeof CFG);
    assert_memory_equal(l.params_mem, m.params_mem, m.num_params * sizeof(float));
    assert_int_equal(s.n, 3); // default schedule
    ic_model_free(&l);
    // an unknown tensor is an error that names it
    write_garg_style(tu_tmp_path("b.safetensors"), tu_tmp_path("garg2.safetensors"), 1);
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("garg2.safetensors"), &l, &s, 2, notice, sizeof notice, &err), -1);
    assert_non_null(strstr(err.msg, "attn.rotary"));
    // metadata present but --n_head disagrees
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("b.safetensors"), &l, &s, 4, notice, sizeof notice, &err), -1);
    assert_non_null(strstr(err.msg, "disagrees"));
    ic_model_free(&m);
}

static void test_checkpoint_errors(void **st) {
    (void)st;
    ic_model l;
    ic_schedule s;
    ic_err err;
    // a file that is not a checkpoint of this model: wrong shape, missing tensor
    float v[16] = {0};
    st_wtensor w[2] = {{.name = "_read_in.weight", .dtype = ST_F32, .ndim = 2, .shape = {4, 2}, .data = v},
                       {.name = "_backbone.wpe.weight", .dtype = ST_F32, .ndim = 2, .shape = {2, 4}, .data = v}};
    assert_int_equal(st_write_file(tu_tmp_path("c.safetensors"), w, 2, NULL, NULL, 0, &err), 0);
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("c.safetensors"), &l, &s, 2, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "missing tensor"));
    assert_non_null(strstr(err.msg, "c.safetensors"));
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("does-not-exist"), &l, &s, 2, NULL, 0, &err), -1);
    assert_true(strlen(err.msg) > 5);
    // truncated checkpoint
    ic_model m;
    assert_int_equal(ic_model_create(&m, &CFG, &err), 0);
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("d.safetensors"), &m, NULL, NULL, NULL, 0, &err), 0);
    assert_int_equal(truncate(tu_tmp_path("d.safetensors"), 1000), 0);
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("d.safetensors"), &l, &s, 0, NULL, 0, &err), -1);
    // a schedule naming a missing block is refused on save
    ic_schedule bad;
    ic_schedule_default(&bad, CFG.n_layer);
    bad.steps[0] = 7;
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("e.safetensors"), &m, &bad, NULL, NULL, 0, &err), -1);
    assert_int_equal(access(tu_tmp_path("e.safetensors"), F_OK), -1);
    ic_model_free(&m);
}

/* Parallel groups survive a save/load as a "parallel" list of 0-based step
 * indices, written only when there are groups; malformed lists are refused. */
static void test_schedule_parallel_roundtrip(void **st) {
    (void)st;
    ic_model m, l;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &CFG, &err), 0);
    ic_model_init_weights(&m, 9);
    ic_schedule s, ls;
    ic_schedule_default(&s, CFG.n_layer);
    // 0,(1|2),(2|2|0),1
    const int steps[] = {0, 1, 2, 2, 2, 0, 1};
    const unsigned char par[] = {0, 0, 1, 0, 1, 1, 0};
    s.n = 7;
    memcpy(s.steps, steps, sizeof steps);
    memcpy(s.par, par, sizeof par);
    s.loops = 3;
    s.loss_loops = 2;
    s.grad_loops = 3;
    char buf[128];
    assert_string_equal(ic_schedule_format(&s, buf, sizeof buf), "0,(1|2),(2|2|0),1");
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("p.safetensors"), &m, &s, NULL, NULL, 0, &err), 0);
    st_file f;
    assert_int_equal(st_read_file(tu_tmp_path("p.safetensors"), &f, &err), 0);
    assert_non_null(strstr(st_meta(&f, "iclab_schedule"), "\"parallel\":[2,4,5]"));
    st_free(&f);
    memset(&ls, 0x5a, sizeof ls); // every field must come from the file
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("p.safetensors"), &l, &ls, 0, NULL, 0, &err), 0);
    assert_int_equal(ls.n, 7);
    assert_memory_equal(ls.steps, steps, sizeof steps);
    assert_memory_equal(ls.par, par, sizeof par);
    assert_int_equal(ls.loops, 3);
    assert_int_equal(ls.loss_loops, 2);
    assert_int_equal(ls.grad_loops, 3);
    assert_string_equal(ic_schedule_format(&ls, buf, sizeof buf), "0,(1|2),(2|2|0),1");
    ic_model_free(&l);

    // no groups: no "parallel" key, and par is all 0 on load
    ic_schedule plain;
    ic_schedule_default(&plain, CFG.n_layer);
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("q.safetensors"), &m, &plain, NULL, NULL, 0, &err), 0);
    assert_int_equal(st_read_file(tu_tmp_path("q.safetensors"), &f, &err), 0);
    assert_null(strstr(st_meta(&f, "iclab_schedule"), "parallel"));
    st_free(&f);
    memset(&ls, 0x01, sizeof ls);
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("q.safetensors"), &l, &ls, 0, NULL, 0, &err), 0);
    for (int i = 0; i < IC_MAX_SCHEDULE; i++) assert_int_equal(ls.par[i], 0);
    ic_model_free(&l);

    // metadata written by hand: good, absent and malformed "parallel" lists
    const char *head = "{\"steps\":[0,1,2,1],\"loops\":1,\"loss_loops\":1,\"inject\":true,\"loop_lnf\":true";
    char meta[256];
    snprintf(meta, sizeof meta, "%s,\"parallel\":[3,2]}", head);
    tu_rewrite_meta(tu_tmp_path("q.safetensors"), tu_tmp_path("r.safetensors"), "iclab_schedule", meta);
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("r.safetensors"), &l, &ls, 0, NULL, 0, &err), 0);
    assert_string_equal(ic_schedule_format(&ls, buf, sizeof buf), "0,(1|2|1)");
    ic_model_free(&l);
    const struct { const char *list, *msg; } bad[] = {
        {"[0]", "step 0"},           {"[4]", "steps 0..3"},     {"[-1]", "steps 0..3"},
        {"[1.5]", "not an integer"}, {"[\"2\"]", "not an integer"}, {"[true]", "not an integer"},
        {"[2,2]", "twice"},          {"2", "not an array"},     {"{}", "not an array"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(meta, sizeof meta, "%s,\"parallel\":%s}", head, bad[i].list);
        tu_rewrite_meta(tu_tmp_path("q.safetensors"), tu_tmp_path("r.safetensors"), "iclab_schedule", meta);
        err.msg[0] = 0;
        assert_int_equal(ic_checkpoint_load(tu_tmp_path("r.safetensors"), &l, &ls, 0, NULL, 0, &err), -1);
        if (!strstr(err.msg, bad[i].msg) || !strstr(err.msg, "parallel") || !strstr(err.msg, "r.safetensors"))
            fail_msg("parallel %s: unexpected error '%s'", bad[i].list, err.msg);
    }
    ic_model_free(&m);
}

static void test_config_keys(void **st) {
    (void)st;
    ic_run_config c;
    ic_err err;
    ic_run_config_default(&c);
    assert_int_equal(ic_run_config_validate(&c, &err), 0);
    assert_int_equal(c.model.n_embd, 256);
    assert_int_equal(c.model.n_layer, 12);
    assert_int_equal(c.model.n_head, 8);
    assert_int_equal(c.batch_size, 64);
    assert_true(c.learning_rate == 1e-4);
    assert_int_equal(ic_run_config_set(&c, "n_embd", "64", &err), 0);
    assert_int_equal(c.model.n_embd, 64);
    assert_int_equal(ic_run_config_set(&c, "n_embed", "64", &err), -1);
    assert_non_null(strstr(err.msg, "n_embed"));
    assert_int_equal(ic_run_config_set(&c, "n_layer", "six", &err), -1);
    assert_non_null(strstr(err.msg, "n_layer"));
    assert_int_equal(ic_run_config_set(&c, "n_layer", "0", &err), -1);
    assert_int_equal(ic_run_config_set(&c, "seed", "-1", &err), -1);
    assert_int_equal(ic_run_config_set(&c, "learning_rate", "nan", &err), -1);
    assert_int_equal(ic_run_config_set(&c, "inject", "maybe", &err), -1);
    assert_int_equal(ic_run_config_set(&c, "inject", "false", &err), 0);
    assert_int_equal(c.inject, 0);
    assert_int_equal(ic_run_config_load_json(&c, "{\"n_layer\": 3, \"schedule\": [0,1,1,2], \"learning_rate\": 0.001}", "cfg", &err), 0);
    assert_string_equal(c.schedule, "0,1,1,2");
    assert_true(c.learning_rate == 0.001);
    assert_int_equal(ic_run_config_load_json(&c, "{\"n_layer\": 3, \"bogus\": 1}", "my.json", &err), -1);
    assert_non_null(strstr(err.msg, "my.json"));
    assert_non_null(strstr(err.msg, "bogus"));
    assert_int_equal(ic_run_config_load_json(&c, "{\"n_layer\": 3,", "my.json", &err), -1);
    assert_non_null(strstr(err.msg, "invalid JSON"));
    assert_int_equal(ic_run_config_load_json(&c, "{\"n_head\": 1, \"n_head\": 2}", "dup.json", &err), -1);
    // cross-key rules
    ic_run_config_default(&c);
    assert_int_equal(ic_run_config_set(&c, "schedule", "0,12", &err), 0);
    assert_int_equal(ic_run_config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "block 12"));
    ic_run_config_default(&c);
    c.n_points = 200;
    assert_int_equal(ic_run_config_validate(&c, &err), -1);
    assert_non_null(strstr(err.msg, "n_points"));
    // to_json round trip
    ic_run_config_default(&c);
    c.model.n_embd = 32;
    c.seed = 12345678901234ULL;
    char *j = ic_run_config_to_json(&c);
    ic_run_config d;
    ic_run_config_default(&d);
    assert_int_equal(ic_run_config_load_json(&d, j, "roundtrip", &err), 0);
    assert_int_equal(d.model.n_embd, 32);
    assert_true(d.seed == 12345678901234ULL);
    free(j);
}

static void test_adam_matches_reference(void **st) {
    (void)st;
    const size_t n = 100003; // above the threading threshold, odd size
    ic_adam a, b;
    ic_err err;
    assert_int_equal(ic_adam_create(&a, n, &err), 0);
    assert_int_equal(ic_adam_create(&b, n, &err), 0);
    a.weight_decay = b.weight_decay = 0.01;
    float *p1 = malloc(n * sizeof(float)), *p2 = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    tu_rng r = tu_rng_make(9);
    tu_fill_f(&r, p1, n, 1.0, 0.0);
    memcpy(p2, p1, n * sizeof(float));
    for (int step = 0; step < 5; step++) {
        tu_fill_f(&r, g, n, 1.0, 0.0);
        ic_adam_update(&a, p1, g, 1e-3);
        ic_adam_update_ref(&b, p2, g, 1e-3);
    }
    double md = 0;
    for (size_t i = 0; i < n; i++) md = fmax(md, fabs((double)p1[i] - p2[i]));
    assert_true(md < 1e-6);
    // first Adam step moves each parameter by lr * g / (|g| + eps) = ~lr * sign(g)
    ic_adam c;
    assert_int_equal(ic_adam_create(&c, 3, &err), 0);
    float p[3] = {1, 1, 1}, gg[3] = {0.5f, -2.0f, 0.0f};
    ic_adam_update(&c, p, gg, 0.1);
    assert_float_equal(p[0], 0.9f, 1e-6);
    assert_float_equal(p[1], 1.1f, 1e-6);
    assert_float_equal(p[2], 1.0f, 0);
    ic_adam_free(&a); ic_adam_free(&b); ic_adam_free(&c);
    free(p1); free(p2); free(g);
}

/* ---------------- BF16 checkpoints (checkpoint_dtype bf16) ---------------- */

/* The file's bytes and its header as JSON (the layout as written, not as our reader sees it). */
static json_t *read_header(const char *path, uint8_t **bytes, size_t *size, size_t *data_start) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *size = (size_t)ftell(fp);
    rewind(fp);
    *bytes = malloc(*size);
    assert_int_equal(fread(*bytes, 1, *size, fp), *size);
    fclose(fp);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | (*bytes)[i];
    *data_start = 8 + (size_t)n;
    json_t *h = json_loadb((const char *)*bytes + 8, (size_t)n, 0, NULL);
    assert_non_null(h);
    return h;
}

/* The BF16 layout byte by byte: every tensor's dtype "BF16", its shape as in
 * the F32 file, contiguous data_offsets of 2 bytes per element in the F32
 * file's order, and the exact little-endian bf16 bits of known weights:
 * round to nearest, ties to even (both directions), negative zero, a
 * subnormal (kept, not flushed), the largest weight that stays finite. */
static void test_bf16_layout(void **st) {
    (void)st;
    static const struct { uint32_t f32; uint16_t bf16; } K[] = {
        {0x3f800000u, 0x3f80}, /* 1.0 */
        {0x3f808000u, 0x3f80}, /* 1 + 2^-8: a tie, down to the even 0x3f80 (truncation agrees) */
        {0x3f818000u, 0x3f82}, /* a tie above the odd 0x3f81: up to the even 0x3f82 (truncation: 0x3f81) */
        {0x3f80ffffu, 0x3f81}, /* just below the next bf16: up (truncation: 0x3f80) */
        {0x3f808001u, 0x3f81}, /* just above a tie: up */
        {0xc0200000u, 0xc020}, /* -2.5 */
        {0x80000000u, 0x8000}, /* -0.0 keeps its sign */
        {0x00000000u, 0x0000}, /* +0.0 */
        {0x000116c2u, 0x0001}, /* 1e-40, subnormal: rounded, not flushed to zero */
        {0xbf7fffffu, 0xbf80}, /* -(1 - 2^-24): carries into the exponent, -1.0 */
        {0x7f7f7fffu, 0x7f7f}, /* the largest fp32 that rounds to a finite bf16 */
    };
    const int nk = (int)(sizeof K / sizeof *K);
    ic_model m;
    ic_err err;
    assert_int_equal(ic_model_create(&m, &CFG, &err), 0);
    ic_model_init_weights(&m, 7);
    float *w = ic_model_tensor(&m, IC_P_READ_IN_W, 0); /* the file's first tensor, [8,4] */
    for (int i = 0; i < nk; i++) w[i] = tu_f32_of_bits(K[i].f32);
    const char *kk[] = {"note"}, *vv[] = {"kept"};
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("l32.safetensors"), &m, NULL, kk, vv, 1, &err), 0);
    assert_int_equal(ic_checkpoint_save_as(tu_tmp_path("l16.safetensors"), &m, NULL, IC_PREC_BF16, kk, vv, 1, &err), 0);
    uint8_t *b32, *b16;
    size_t n32, n16, d32, d16;
    json_t *h32 = read_header(tu_tmp_path("l32.safetensors"), &b32, &n32, &d32);
    json_t *h16 = read_header(tu_tmp_path("l16.safetensors"), &b16, &n16, &d16);
    assert_int_equal(json_object_size(h16), json_object_size(h32));
    assert_int_equal(n16 - d16, (n32 - d32) / 2); /* the data: half the bytes */
    assert_int_equal(n32 - d32, m.num_params * 4);
    // the same tensors in the same order, BF16, the same shapes, offsets at 2 bytes per element
    void *it32 = json_object_iter(h32), *it16 = json_object_iter(h16);
    json_int_t off = 0;
    int n_tensors = 0;
    for (; it32 && it16; it32 = json_object_iter_next(h32, it32), it16 = json_object_iter_next(h16, it16)) {
        assert_string_equal(json_object_iter_key(it16), json_object_iter_key(it32));
        if (!strcmp(json_object_iter_key(it16), "__metadata__")) continue;
        json_t *t16 = json_object_iter_value(it16), *t32 = json_object_iter_value(it32);
        assert_string_equal(json_string_value(json_object_get(t16, "dtype")), "BF16");
        assert_string_equal(json_string_value(json_object_get(t32, "dtype")), "F32");
        assert_true(json_equal(json_object_get(t16, "shape"), json_object_get(t32, "shape")));
        json_int_t numel = 1;
        json_t *sh = json_object_get(t16, "shape");
        for (size_t i = 0; i < json_array_size(sh); i++) numel *= json_integer_value(json_array_get(sh, i));
        json_t *o16 = json_object_get(t16, "data_offsets"), *o32 = json_object_get(t32, "data_offsets");
        assert_int_equal(json_integer_value(json_array_get(o16, 0)), off);
        assert_int_equal(json_integer_value(json_array_get(o16, 1)), off + 2 * numel);
        assert_int_equal(json_integer_value(json_array_get(o32, 0)), 2 * off);
        off += 2 * numel;
        n_tensors++;
    }
    assert_null(it32);
    assert_null(it16);
    assert_int_equal(n_tensors, 7 + 12 * 3);
    assert_int_equal((size_t)off, n16 - d16);
    // the first tensor's first bytes: the known weights' bf16 bits, little endian
    json_t *first = json_object_get(h16, "_read_in.weight");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(first, "data_offsets"), 0)), 0);
    for (int i = 0; i < nk; i++) {
        const uint16_t got = (uint16_t)(b16[d16 + 2 * i] | b16[d16 + 2 * i + 1] << 8);
        if (got != K[i].bf16) fprintf(stderr, "weight %d (fp32 bits %08x): bf16 %04x, expected %04x\n", i, K[i].f32, got, K[i].bf16);
        assert_int_equal(got, K[i].bf16);
    }
    // every other weight: the upper half of its bf16-rounded fp32 bits
    float *r = malloc(m.num_params * sizeof *r);
    ic_bf16_round(r, m.params_mem, m.num_params);
    st_file f;
    assert_int_equal(st_read_file(tu_tmp_path("l16.safetensors"), &f, &err), 0);
    for (int t = 0; t < f.n_tensors; t++) {
        const float *src = NULL;
        for (int k = 0; k < IC_NUM_PARAM_TENSORS && !src; k++)
            for (int b = 0; b < (ic_param_is_per_block(k) ? CFG.n_layer : 1) && !src; b++) {
                char nm[96];
                ic_checkpoint_tensor_name(k, b, nm, sizeof nm);
                if (!strcmp(nm, f.tensors[t].name)) src = ic_model_tensor(&m, k, b);
            }
        assert_non_null(src);
        const float *rr = r + (src - m.params_mem);
        for (uint64_t i = 0; i < f.tensors[t].numel; i++) {
            uint32_t u;
            memcpy(&u, &rr[i], sizeof u);
            const uint8_t *p = b16 + d16 + f.tensors[t].begin + 2 * i;
            assert_int_equal(p[0] | p[1] << 8, u >> 16);
        }
    }
    // the metadata: the same keys; the checksums are those of the BF16 bytes (verified on load)
    assert_string_equal(st_meta(&f, "note"), "kept");
    assert_string_equal(st_meta(&f, "format"), "iclab-1");
    assert_int_equal(ic_checksums_verify(&f, 1, &err), 0);
    st_free(&f);
    free(r);
    json_decref(h32);
    json_decref(h16);
    free(b32);
    free(b16);
    ic_model_free(&m);
}

/* F32 model -> BF16 file -> load: exactly the bf16-rounded weights (the
 * loader widens bit for bit), the same config and schedule; the same
 * predictions as the fp32 model with bf16-rounded weights, bit for bit; a
 * converted F32 file of the BF16 one holds the same weights; a weight beyond
 * bf16's range is refused with one line and no file. */
static void test_bf16_roundtrip_and_predictions(void **st) {
    (void)st;
    ic_model m, l, c;
    ic_err err;
    ic_schedule s, ls;
    model_with_body(&m, 11, &s, "0,1,1,2", 2);
    assert_int_equal(ic_checkpoint_save_as(tu_tmp_path("r16.safetensors"), &m, &s, IC_PREC_BF16, NULL, NULL, 0, &err), 0);
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("r16.safetensors"), &l, &ls, 0, NULL, 0, &err), 0);
    assert_memory_equal(&l.cfg, &CFG, sizeof CFG);
    assert_int_equal(ls.n, 4);
    assert_int_equal(ls.loops, 2);
    ic_model r; /* the fp32 model with bf16-rounded weights */
    assert_int_equal(ic_model_create(&r, &CFG, &err), 0);
    ic_bf16_round(r.params_mem, m.params_mem, m.num_params);
    assert_memory_equal(l.params_mem, r.params_mem, m.num_params * sizeof(float));
    assert_memory_not_equal(l.params_mem, m.params_mem, m.num_params * sizeof(float)); /* it did round */
    // predictions: the loaded model and the rounded one, the same pass, bit for bit
    const int B = 5, n = CFG.n_positions;
    tu_rng g = tu_rng_make(3);
    float *xs = tu_falloc((size_t)B * n * CFG.n_dims), *ys = tu_falloc((size_t)B * n);
    float *p1 = tu_falloc((size_t)B * n), *p2 = tu_falloc((size_t)B * n), *p3 = tu_falloc((size_t)B * n);
    tu_fill_f(&g, xs, (size_t)B * n * CFG.n_dims, 1.0, 0.0);
    tu_fill_f(&g, ys, (size_t)B * n, 1.0, 0.0);
    assert_int_equal(ic_model_predict(&l, &ls, xs, ys, B, n, B, p1, &err), 0);
    assert_int_equal(ic_model_predict(&r, &s, xs, ys, B, n, B, p2, &err), 0);
    assert_int_equal(ic_model_predict(&m, &s, xs, ys, B, n, B, p3, &err), 0);
    assert_memory_equal(p1, p2, sizeof(float) * (size_t)B * n);
    assert_memory_not_equal(p1, p3, sizeof(float) * (size_t)B * n); /* the unrounded model differs */
    // BF16 -> F32 (the converter): the same weights, now F32; the metadata entries it does not own kept
    const char *kk[] = {"train_step"}, *vv[] = {"17"};
    assert_int_equal(ic_checkpoint_save_as(tu_tmp_path("r16m.safetensors"), &m, &s, IC_PREC_BF16, kk, vv, 1, &err), 0);
    ic_config cc;
    assert_int_equal(ic_checkpoint_convert(tu_tmp_path("r16m.safetensors"), tu_tmp_path("r32.safetensors"), IC_PREC_FP32, 0, &cc, &err), 0);
    assert_int_equal(cc.n_embd, CFG.n_embd);
    assert_int_equal(ic_checkpoint_load(tu_tmp_path("r32.safetensors"), &c, &ls, 0, NULL, 0, &err), 0);
    assert_memory_equal(c.params_mem, r.params_mem, m.num_params * sizeof(float));
    st_file f;
    assert_int_equal(st_read_file(tu_tmp_path("r32.safetensors"), &f, &err), 0);
    assert_int_equal(f.tensors[0].dtype, ST_F32);
    assert_string_equal(st_meta(&f, "train_step"), "17");
    st_free(&f);
    ic_model_free(&c);
    // F32 -> BF16 by the converter: the same bytes as writing BF16 directly
    assert_int_equal(ic_checkpoint_save(tu_tmp_path("r32b.safetensors"), &m, &s, NULL, NULL, 0, &err), 0);
    assert_int_equal(ic_checkpoint_convert(tu_tmp_path("r32b.safetensors"), tu_tmp_path("r16c.safetensors"), IC_PREC_BF16, 0, NULL, &err), 0);
    uint8_t *ba, *bb;
    size_t na, nb, da, db;
    json_t *ha = read_header(tu_tmp_path("r16.safetensors"), &ba, &na, &da), *hb = read_header(tu_tmp_path("r16c.safetensors"), &bb, &nb, &db);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na);
    json_decref(ha);
    json_decref(hb);
    free(ba);
    free(bb);
    // the converter refuses to write over its input
    assert_int_equal(ic_checkpoint_convert(tu_tmp_path("r16.safetensors"), tu_tmp_path("r16.safetensors"), IC_PREC_FP32, 0, NULL, &err), -1);
    assert_null(strchr(err.msg, '\n'));
    // beyond bf16's range: refused, naming the parameter, nothing written
    m.params_mem[5] = tu_f32_of_bits(0x7f7f8000u); /* rounds up to +inf in bf16 */
    assert_int_equal(ic_checkpoint_save_as(tu_tmp_path("inf.safetensors"), &m, &s, IC_PREC_BF16, NULL, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "parameter 5"));
    assert_non_null(strstr(err.msg, "inf.safetensors"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(access(tu_tmp_path("inf.safetensors"), F_OK), -1);
    free(xs); free(ys); free(p1); free(p2); free(p3);
    ic_model_free(&r);
    ic_model_free(&l);
    ic_model_free(&m);
}

/* Malformed BF16 tensors: an odd byte count, bytes for another count, a
 * dtype name that does not exist; each refused with one line naming the
 * tensor or the dtype. */
static void test_bf16_malformed(void **st) {
    (void)st;
    static const struct { const char *header, *want; size_t data; } C[] = {
        {"{\"_read_in.weight\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,5]}}", "_read_in.weight", 5},
        {"{\"_read_in.weight\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,12]}}", "_read_in.weight", 12},
        {"{\"_read_in.weight\":{\"dtype\":\"BF17\",\"shape\":[3],\"data_offsets\":[0,6]}}", "BF17", 6},
    };
    for (size_t i = 0; i < sizeof C / sizeof *C; i++) {
        const size_t hl = strlen(C[i].header);
        uint8_t buf[256] = {0};
        for (int k = 0; k < 8; k++) buf[k] = (uint8_t)(hl >> (8 * k));
        memcpy(buf + 8, C[i].header, hl);
        FILE *fp = fopen(tu_tmp_path("bad16.safetensors"), "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(buf, 1, 8 + hl + C[i].data, fp), 8 + hl + C[i].data);
        fclose(fp);
        ic_model l;
        ic_schedule s;
        ic_err err;
        assert_int_equal(ic_checkpoint_load(tu_tmp_path("bad16.safetensors"), &l, &s, 2, NULL, 0, &err), -1);
        if (!strstr(err.msg, C[i].want)) fprintf(stderr, "case %zu: %s\n", i, err.msg);
        assert_non_null(strstr(err.msg, C[i].want));
        assert_non_null(strstr(err.msg, "bad16.safetensors"));
        assert_null(strchr(err.msg, '\n'));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_bit_exact),
        cmocka_unit_test(test_load_run_config),
        cmocka_unit_test(test_garg_checkpoint_without_metadata),
        cmocka_unit_test(test_checkpoint_errors),
        cmocka_unit_test(test_schedule_parallel_roundtrip),
        cmocka_unit_test(test_config_keys),
        cmocka_unit_test(test_adam_matches_reference),
        cmocka_unit_test(test_bf16_layout),
        cmocka_unit_test(test_bf16_roundtrip_and_predictions),
        cmocka_unit_test(test_bf16_malformed),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
