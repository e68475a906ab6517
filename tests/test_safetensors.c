/* test_safetensors.c: the safetensors reader (every rule listed in src/safetensors.h),
 * float conversions, the writer, atomic writes, a golden file made by an
 * independent script, and the fuzzer's regression inputs. Run from the
 * repository root (reads tests/data/safetensors/). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

#define DATA_DIR "tests/data/safetensors"

/* ---- helpers ---- */

/* A file with the length field set to hlen, then json, then data. */
static uint8_t *mk_len(uint64_t hlen, const char *json, const void *data, size_t dlen,
                       size_t *n) {
    size_t jl = strlen(json);
    *n = 8 + jl + dlen;
    uint8_t *b = malloc(*n);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + 8, json, jl);
    if (dlen) memcpy(b + 8 + jl, data, dlen);
    return b;
}

static uint8_t *mk(const char *json, const void *data, size_t dlen, size_t *n) {
    return mk_len(strlen(json), json, data, dlen, n);
}

static void assert_has(const char *msg, const char *sub) {
    if (!sub) return;
    if (!strstr(msg, sub)) fail_msg("error message \"%s\" does not mention \"%s\"", msg, sub);
}

static void assert_empty_file(const st_file *f) {
    assert_null(f->buf);
    assert_null(f->tensors);
    assert_int_equal(f->n_tensors, 0);
    assert_int_equal(f->n_meta, 0);
    assert_null(f->meta_keys);
    assert_int_equal(f->size, 0);
}

/* st_parse must fail cleanly: rc -1, one non-empty line naming sub1 and sub2,
 * and *out left empty. */
static void expect_fail_bytes(const uint8_t *b, size_t n, const char *sub1, const char *sub2) {
    st_file f;
    memset(&f, 0x5A, sizeof f); /* garbage: st_parse must clear it */
    ic_err e = {{0}};
    int rc = st_parse(b, n, &f, &e);
    if (rc != -1) fail_msg("st_parse accepted a bad file (rc %d); wanted \"%s\"", rc, sub1);
    assert_true(e.msg[0] != '\0');
    assert_null(strchr(e.msg, '\n'));
    assert_has(e.msg, sub1);
    assert_has(e.msg, sub2);
    assert_empty_file(&f);
    st_free(&f);
}

static void expect_fail(const char *json, const void *data, size_t dlen, const char *sub1,
                        const char *sub2) {
    size_t n;
    uint8_t *b = mk(json, data, dlen, &n);
    expect_fail_bytes(b, n, sub1, sub2);
    free(b);
}

static void parse_ok(const uint8_t *b, size_t n, st_file *f) {
    ic_err e = {{0}};
    if (st_parse(b, n, f, &e) != 0) fail_msg("st_parse failed: %s", e.msg);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s", path);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long sz = ftell(fp);
    assert_true(sz >= 0);
    rewind(fp);
    uint8_t *b = malloc((size_t)sz + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    *n = (size_t)sz;
    return b;
}

static void spit(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void assert_f32_bits(float got, float want) {
    uint32_t g, w;
    memcpy(&g, &got, 4);
    memcpy(&w, &want, 4);
    if (g != w) fail_msg("got %.9g (0x%08x), want %.9g (0x%08x)", got, g, want, w);
}

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void assert_no_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp")) fail_msg("temporary file %s left in %s", de->d_name, dir);
    closedir(d);
}

/* A scratch directory per test, removed (with its files) afterwards. */
typedef struct {
    char dir[64];
} scratch;

static int scratch_setup(void **state) {
    scratch *s = malloc(sizeof *s);
    if (!s) return -1;
    strcpy(s->dir, "/tmp/iclab_st_XXXXXX");
    if (!mkdtemp(s->dir)) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int scratch_teardown(void **state) {
    scratch *s = *state;
    DIR *d = opendir(s->dir);
    if (d) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", s->dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(s->dir);
    free(s);
    return 0;
}

static void scratch_path(void **state, const char *name, char *out, size_t cap) {
    scratch *s = *state;
    snprintf(out, cap, "%s/%s", s->dir, name);
}

/* ---- dtypes ---- */

static void test_dtype_table(void **state) {
    (void)state;
    assert_string_equal(st_dtype_name(ST_F32), "F32");
    assert_string_equal(st_dtype_name(ST_BF16), "BF16");
    assert_string_equal(st_dtype_name(ST_F8_E5M2), "F8_E5M2");
    assert_int_equal(st_dtype_size(ST_BOOL), 1);
    assert_int_equal(st_dtype_size(ST_F16), 2);
    assert_int_equal(st_dtype_size(ST_I32), 4);
    assert_int_equal(st_dtype_size(ST_F64), 8);
    assert_int_equal(st_dtype_size(ST_U64), 8);
    assert_int_equal(st_dtype_size(ST_F8_E4M3), 1);
    assert_int_equal(st_dtype_size(ST_NDTYPES), 0);
}

/* ---- round trip ---- */

static void test_roundtrip_file(void **state) {
    char path[256];
    scratch_path(state, "rt.safetensors", path, sizeof path);
    const float w[6] = {1.5f, -2.0f, 0.25f, 1e-30f, -0.0f, 3e38f};
    const int64_t ids[3] = {-1, 0, INT64_MAX};
    const uint16_t h[1] = {0x3C00}; /* F16 1.0, scalar */
    const uint8_t none[1] = {0};
    st_wtensor ts[4] = {
        {.name = "layer.0.w", .dtype = ST_F32, .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "ids", .dtype = ST_I64, .ndim = 1, .shape = {3}, .data = ids},
        {.name = "h", .dtype = ST_F16, .ndim = 0, .data = h},
        {.name = "nothing", .dtype = ST_U8, .ndim = 2, .shape = {0, 5}, .data = none},
    };
    const char *mk_[2] = {"format", "note"};
    const char *mv[2] = {"pt", "line one \"quoted\" \xc3\xa9"};
    ic_err e = {{0}};
    if (st_write_file(path, ts, 4, mk_, mv, 2, &e) != 0) fail_msg("%s", e.msg);

    st_file f;
    if (st_read_file(path, &f, &e) != 0) fail_msg("%s", e.msg);
    assert_int_equal(f.n_tensors, 4);
    assert_int_equal(f.n_meta, 2);
    assert_int_equal(f.data_start % 8, 0);
    assert_int_equal(f.size, f.data_start + 24 + 24 + 2 + 0);
    /* header order is the given order, offsets contiguous in that order */
    assert_string_equal(f.tensors[0].name, "layer.0.w");
    assert_string_equal(f.tensors[1].name, "ids");
    assert_string_equal(f.tensors[2].name, "h");
    assert_string_equal(f.tensors[3].name, "nothing");

    const st_tensor *t = st_find(&f, "layer.0.w");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->numel, 6);
    assert_int_equal(t->begin, 0);
    assert_int_equal(t->end, 24);
    float got[6];
    if (st_read_f32(&f, t, got, 6, &e) != 0) fail_msg("%s", e.msg);
    for (int i = 0; i < 6; i++) assert_f32_bits(got[i], w[i]);

    t = st_find(&f, "ids");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_I64);
    assert_int_equal(t->begin, 24);
    assert_int_equal(t->end, 48);
    assert_memory_equal(f.buf + f.data_start + t->begin, ids, sizeof ids);

    t = st_find(&f, "h");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    if (st_read_f32(&f, t, got, 1, &e) != 0) fail_msg("%s", e.msg);
    assert_f32_bits(got[0], 1.0f);

    t = st_find(&f, "nothing");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_U8);
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->begin, t->end);

    assert_null(st_find(&f, "missing"));
    assert_string_equal(st_meta(&f, "format"), "pt");
    assert_string_equal(st_meta(&f, "note"), mv[1]);
    assert_null(st_meta(&f, "absent"));
    st_free(&f);
    assert_empty_file(&f);
    st_free(&f); /* twice is harmless */

    scratch *s = *state;
    assert_int_equal(count_dir_entries(s->dir), 1);
}

static void test_roundtrip_empty(void **state) {
    (void)state;
    uint8_t *b = NULL;
    size_t n = 0;
    ic_err e = {{0}};
    if (st_serialize(NULL, 0, NULL, NULL, 0, &b, &n, &e) != 0) fail_msg("%s", e.msg);
    assert_int_equal(n, 16); /* "{}" padded to 8 */
    assert_memory_equal(b, "\x08\0\0\0\0\0\0\0{}      ", 16);
    st_file f;
    parse_ok(b, n, &f);
    assert_int_equal(f.n_tensors, 0);
    assert_int_equal(f.n_meta, 0);
    assert_int_equal(f.data_start, 16);
    st_free(&f);
    free(b);
}

static void test_serialize_no_metadata_key(void **state) {
    (void)state;
    const float x[2] = {1, 2};
    st_wtensor t = {.name = "x", .dtype = ST_F32, .ndim = 1, .shape = {2}, .data = x};
    uint8_t *b;
    size_t n;
    ic_err e = {{0}};
    if (st_serialize(&t, 1, NULL, NULL, 0, &b, &n, &e) != 0) fail_msg("%s", e.msg);
    const char *want = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t hl = strlen(want), padded = (hl + 7) / 8 * 8;
    assert_int_equal(n, 8 + padded + 8);
    assert_int_equal(b[0], padded);
    assert_memory_equal(b + 8, want, hl);
    for (size_t i = hl; i < padded; i++) assert_int_equal(b[8 + i], ' ');
    assert_memory_equal(b + 8 + padded, x, 8);
    free(b);
}

/* ---- golden file ---- */

/* exact: also check the golden file's own layout (sizes, offsets) */
static void check_golden(const st_file *f, int exact) {
    ic_err e = {{0}};
    assert_int_equal(f->n_tensors, 6);
    if (exact) {
        assert_int_equal(f->size, 474);
        assert_int_equal(f->data_start, 416);
    }
    assert_int_equal(f->size, f->data_start + 58);
    /* header order, not data order */
    const char *order[6] = {"scale", "bias", "weight", "empty", "ids", "bf"};
    for (int i = 0; i < 6; i++) assert_string_equal(f->tensors[i].name, order[i]);

    float v[6];
    const st_tensor *t = st_find(f, "weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    if (exact) {
        assert_int_equal(t->begin, 0);
        assert_int_equal(t->end, 24);
    }
    if (st_read_f32(f, t, v, 6, &e) != 0) fail_msg("%s", e.msg);
    const float w[6] = {1.0f, -2.5f, 0.5f, 3.25f, 0.0f, -0.125f};
    for (int i = 0; i < 6; i++) assert_f32_bits(v[i], w[i]);

    t = st_find(f, "ids");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_I32);
    assert_int_equal(t->numel, 4);
    int32_t ids[4];
    memcpy(ids, f->buf + f->data_start + t->begin, sizeof ids);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[3], -4);

    t = st_find(f, "bias");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F16);
    if (exact) {
        assert_int_equal(t->begin, 40);
        assert_int_equal(t->end, 46);
    }
    if (st_read_f32(f, t, v, 3, &e) != 0) fail_msg("%s", e.msg);
    assert_f32_bits(v[0], 1.0f);
    assert_f32_bits(v[1], -2.0f);
    assert_f32_bits(v[2], 0.5f);

    t = st_find(f, "bf");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_BF16);
    if (st_read_f32(f, t, v, 2, &e) != 0) fail_msg("%s", e.msg);
    assert_f32_bits(v[0], 1.0f);
    assert_f32_bits(v[1], -0.5f);

    t = st_find(f, "empty");
    assert_non_null(t);
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[1], 0);
    assert_int_equal(st_read_f32(f, t, NULL, 0, &e), 0);

    t = st_find(f, "scale");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F64);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    if (st_read_f32(f, t, v, 1, &e) != 0) fail_msg("%s", e.msg);
    assert_f32_bits(v[0], 3.5f);

    assert_int_equal(f->n_meta, 2);
    assert_string_equal(st_meta(f, "format"), "pt");
    assert_string_equal(st_meta(f, "note"), "golden \xc3\xa9");
}

static void test_golden_read(void **state) {
    (void)state;
    st_file f;
    ic_err e = {{0}};
    if (st_read_file(DATA_DIR "/golden.safetensors", &f, &e) != 0) fail_msg("%s", e.msg);
    check_golden(&f, 1);
    st_free(&f);
}

/* Our writer, given the same content, produces a file that parses to the same
 * tensors (data laid out in its own order). */
static void test_golden_writer_matches(void **state) {
    (void)state;
    size_t gn;
    uint8_t *gb = slurp(DATA_DIR "/golden.safetensors", &gn);
    st_file g;
    parse_ok(gb, gn, &g);
    free(gb);

    st_wtensor ts[ST_MAX_DIMS];
    assert_true(g.n_tensors <= ST_MAX_DIMS);
    for (int i = 0; i < g.n_tensors; i++) {
        const st_tensor *t = &g.tensors[i];
        ts[i] = (st_wtensor){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
                             .data = g.buf + g.data_start + t->begin};
        memcpy(ts[i].shape, t->shape, sizeof t->shape);
    }
    uint8_t *b;
    size_t n;
    ic_err e = {{0}};
    if (st_serialize(ts, g.n_tensors, (const char *const *)g.meta_keys,
                     (const char *const *)g.meta_vals, g.n_meta, &b, &n, &e) != 0)
        fail_msg("%s", e.msg);
    st_file w;
    parse_ok(b, n, &w);
    check_golden(&w, 0);
    /* our writer lays the data out in header order */
    assert_int_equal(st_find(&w, "scale")->begin, 0);
    assert_int_equal(st_find(&w, "bf")->end, 58);
    for (int i = 0; i < g.n_tensors; i++) {
        const st_tensor *a = &g.tensors[i], *c = st_find(&w, a->name);
        assert_non_null(c);
        assert_int_equal(a->end - a->begin, c->end - c->begin);
        assert_memory_equal(g.buf + g.data_start + a->begin, w.buf + w.data_start + c->begin,
                            (size_t)(a->end - a->begin));
    }
    st_free(&w);
    st_free(&g);
    free(b);
}

/* ---- rejections, one per rule ---- */

static const char T2[] = "\"dtype\":\"F32\",\"shape\":[2]";

static void test_reject_empty_file(void **state) {
    (void)state;
    uint8_t b[1] = {0};
    expect_fail_bytes(b, 0, "0 bytes", "at least 8");
}

static void test_reject_7_bytes(void **state) {
    (void)state;
    uint8_t b[7] = {2, 0, 0, 0, 0, 0, 0};
    expect_fail_bytes(b, 7, "7 bytes", NULL);
}

static void test_reject_header_over_100mb(void **state) {
    (void)state;
    size_t n;
    uint8_t *b = mk_len(ST_MAX_HEADER + 1ull, "{}", NULL, 0, &n);
    expect_fail_bytes(b, n, "100000001", "100 MB");
    free(b);
    b = mk_len(UINT64_MAX, "{}", NULL, 0, &n);
    expect_fail_bytes(b, n, "100 MB", NULL);
    free(b);
    /* exactly at the limit is not "too big", just past the end here */
    b = mk_len(ST_MAX_HEADER, "{}", NULL, 0, &n);
    expect_fail_bytes(b, n, "header length 100000000 runs past end of file", NULL);
    free(b);
}

static void test_reject_header_past_eof(void **state) {
    (void)state;
    size_t n;
    uint8_t *b = mk_len(100, "{}      ", NULL, 0, &n);
    expect_fail_bytes(b, n, "header length 100 runs past end of file", "16 bytes");
    free(b);
    b = mk_len(9, "{}      ", NULL, 0, &n); /* one byte over */
    expect_fail_bytes(b, n, "past end of file", NULL);
    free(b);
}

static void test_reject_invalid_json(void **state) {
    (void)state;
    expect_fail("{\"a\":", NULL, 0, "invalid JSON", NULL);
    expect_fail("{\"a\" 1}", NULL, 0, "invalid JSON", NULL);
    expect_fail("{} x", NULL, 0, "invalid JSON", NULL);
    static const char nul_pad[] = "\x08\0\0\0\0\0\0\0{}\0\0\0\0\0\0";
    expect_fail_bytes((const uint8_t *)nul_pad, 16, "invalid JSON", NULL);
    expect_fail("", NULL, 0, "header is empty", NULL);
    expect_fail("{\"a\":99999999999999999999}", NULL, 0, "invalid JSON", "too big");
    expect_fail("{\"a\":\"\\ud800\"}", NULL, 0, "invalid JSON", NULL);
}

static void test_reject_invalid_utf8_key(void **state) {
    (void)state;
    expect_fail("{\"\xff\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", NULL, 0,
                "UTF-8", "header byte 2");
    expect_fail("{\"\xc0\xaf\":1}", NULL, 0, "UTF-8", NULL);     /* overlong '/' */
    expect_fail("{\"\xed\xa0\x80\":1}", NULL, 0, "UTF-8", NULL); /* surrogate */
    expect_fail("{\"\xf4\x90\x80\x80\":1}", NULL, 0, "UTF-8", NULL); /* > U+10FFFF */
    expect_fail("{\"a\xe2\x82\":1}", NULL, 0, "UTF-8", NULL);    /* truncated sequence */
}

static void test_reject_duplicate_keys(void **state) {
    (void)state;
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                NULL, 0, "duplicate", "\"a\"");
    expect_fail("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", NULL, 0, "duplicate", NULL);
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[0],"
                "\"data_offsets\":[0,0]}}", NULL, 0, "duplicate", NULL);
}

static void test_reject_top_level_array(void **state) {
    (void)state;
    expect_fail("[1,2]", NULL, 0, "an array, not a JSON object", NULL);
    expect_fail("\"x\"", NULL, 0, "invalid JSON", NULL);
}

static void test_reject_unknown_dtype(void **state) {
    (void)state;
    uint8_t d[8] = {0};
    expect_fail("{\"xs\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
                "unknown dtype 'F33'", "'xs'");
    expect_fail("{\"xs\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
                "unknown dtype 'f32'", NULL);
    expect_fail("{\"xs\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
                "dtype is an integer, not a string", NULL);
}

static void test_reject_negative_shape(void **state) {
    (void)state;
    expect_fail("{\"xs\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,0]}}", NULL, 0,
                "'xs': shape[1] is negative (-3)", NULL);
}

static void test_reject_float_shape(void **state) {
    (void)state;
    uint8_t d[10] = {0};
    expect_fail("{\"xs\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", d, 10,
                "shape[0] is 2.5, not a non-negative integer", "'xs'");
    expect_fail("{\"xs\":{\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2]}}", d, 2,
                "shape[0] is 2.0, not a non-negative integer", NULL);
    expect_fail("{\"xs\":{\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]}}", d, 2,
                "shape[0] is a string", NULL);
    expect_fail("{\"xs\":{\"dtype\":\"U8\",\"shape\":2,\"data_offsets\":[0,2]}}", d, 2,
                "shape is an integer, not an array", NULL);
    expect_fail("{\"xs\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                "\"data_offsets\":[0,1]}}", d, 1, "9 dimensions", NULL);
}

static void test_accept_max_dims(void **state) {
    (void)state;
    size_t n;
    uint8_t d[2] = {7, 9};
    uint8_t *b = mk("{\"xs\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],"
                    "\"data_offsets\":[0,2]}}", d, 2, &n);
    st_file f;
    parse_ok(b, n, &f);
    assert_int_equal(f.tensors[0].ndim, 8);
    assert_int_equal(f.tensors[0].shape[7], 2);
    assert_int_equal(f.tensors[0].numel, 2);
    st_free(&f);
    free(b);
}

static void test_reject_overlapping_offsets(void **state) {
    (void)state;
    uint8_t d[12] = {0};
    char j[256];
    snprintf(j, sizeof j, "{\"a\":{%s,\"data_offsets\":[0,8]},\"b\":{%s,\"data_offsets\":[4,12]}}",
             T2, T2);
    expect_fail(j, d, 12, "overlap", "'b' [4, 12]");
    /* the same range twice */
    snprintf(j, sizeof j, "{\"a\":{%s,\"data_offsets\":[0,8]},\"b\":{%s,\"data_offsets\":[0,8]}}",
             T2, T2);
    expect_fail(j, d, 8, "overlap", NULL);
}

static void test_reject_gap_in_offsets(void **state) {
    (void)state;
    uint8_t d[20] = {0};
    char j[256];
    snprintf(j, sizeof j,
             "{\"b\":{%s,\"data_offsets\":[12,20]},\"a\":{%s,\"data_offsets\":[0,8]}}", T2, T2);
    expect_fail(j, d, 20, "gap of 4 bytes", "'a' [0, 8] and tensor 'b' [12, 20]");
}

static void test_reject_first_begin_not_zero(void **state) {
    (void)state;
    uint8_t d[12] = {0};
    char j[128];
    snprintf(j, sizeof j, "{\"a\":{%s,\"data_offsets\":[4,12]}}", T2);
    expect_fail(j, d, 12, "'a' [4, 12] begins at 4, not 0", NULL);
}

static void test_reject_size_mismatch(void **state) {
    (void)state;
    uint8_t d[12] = {0};
    expect_fail("{\"xs\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", d, 12,
                "tensor 'xs': data_offsets [0, 12] hold 12 bytes but shape [2,3] of F32 "
                "needs 24", NULL);
    /* scalar: 1 element */
    expect_fail("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", d, 4,
                "shape [] of F64 needs 8", NULL);
}

static void test_reject_trailing_bytes(void **state) {
    (void)state;
    uint8_t d[10] = {0};
    char j[128];
    snprintf(j, sizeof j, "{\"a\":{%s,\"data_offsets\":[0,8]}}", T2);
    expect_fail(j, d, 10, "2 trailing bytes", NULL);
    expect_fail("{}", d, 3, "no tensors but 3 trailing bytes", NULL);
    expect_fail("{\"__metadata__\":{}}", d, 1, "trailing", NULL);
}

static void test_reject_data_short(void **state) {
    (void)state;
    uint8_t d[12] = {0};
    expect_fail("{\"xs\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", d, 12,
                "'xs': data_offsets [0, 24] run past end of file", "data section is 12 bytes");
}

static void test_reject_shape_overflow(void **state) {
    (void)state;
    /* 2^32 * 2^32 elements: the element count overflows */
    expect_fail("{\"h\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                "\"data_offsets\":[0,0]}}", NULL, 0, "'h'", "overflows 64 bits");
    /* 2^62 F32 elements: the count fits, the byte count does not */
    expect_fail("{\"h\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
                "\"data_offsets\":[0,0]}}", NULL, 0, "byte count", "overflows 64 bits");
    /* also when another dimension is 0 */
    expect_fail("{\"h\":{\"dtype\":\"U8\",\"shape\":[9223372036854775807,4,0],"
                "\"data_offsets\":[0,0]}}", NULL, 0, "overflows", NULL);
    /* large but honest: byte count 2^62, far past end of file */
    expect_fail("{\"h\":{\"dtype\":\"F32\",\"shape\":[1152921504606846976],"
                "\"data_offsets\":[0,4611686018427387904]}}", NULL, 0, "run past end of file",
                NULL);
}

static void test_reject_metadata_not_string(void **state) {
    (void)state;
    expect_fail("{\"__metadata__\":{\"ok\":\"1\",\"epochs\":3}}", NULL, 0,
                "__metadata__ value of key 'epochs' is an integer, not a string", NULL);
    expect_fail("{\"__metadata__\":[\"a\"]}", NULL, 0, "__metadata__ is an array", NULL);
    expect_fail("{\"__metadata__\":{\"k\":null}}", NULL, 0, "null", NULL);
}

static void test_reject_bad_entries(void **state) {
    (void)state;
    uint8_t d[8] = {0};
    expect_fail("{\"a\":[1]}", NULL, 0, "tensor 'a': entry is an array, not an object", NULL);
    expect_fail("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
                "'a': missing field 'dtype'", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", d, 8,
                "'a': missing field 'shape'", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", d, 8,
                "'a': missing field 'data_offsets'", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", d,
                8, "'a': unknown field 'x'", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", d, 8,
                "3 elements, not 2", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", d, 8,
                "1 elements, not 2", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0-8\"}}", d, 8,
                "data_offsets is a string, not an array", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", d, 8,
                "[8, 0] end before they begin", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", d, 8,
                "data_offsets[0] is negative (-8)", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", d, 8,
                "data_offsets[1] is a real number", NULL);
    expect_fail("{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
                "empty name", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[true],\"data_offsets\":[0,8]}}", d,
                8, "shape[0] is true", NULL);
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[false,8]}}", d,
                8, "data_offsets[0] is false", NULL);
    expect_fail("{\"a\":{\"dtype\":{},\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8,
                "dtype is an object", NULL);
}

/* An error message stays on one line even when the name holds a newline, and
 * a very long name is shortened. */
static void test_error_message_one_line(void **state) {
    (void)state;
    expect_fail("{\"a\\nb\":{\"dtype\":\"F33\",\"shape\":[],\"data_offsets\":[0,0]}}", NULL, 0,
                "'a?b'", NULL);
    char j[1200];
    char name[1001];
    memset(name, 'n', 1000);
    name[1000] = '\0';
    snprintf(j, sizeof j, "{\"%s\":{\"dtype\":\"F33\",\"shape\":[],\"data_offsets\":[0,0]}}",
             name);
    expect_fail(j, NULL, 0, "...': unknown dtype 'F33'", NULL);
}

static void test_accept_trailing_spaces(void **state) {
    (void)state;
    uint8_t d[8];
    const float x[2] = {4.0f, -1.0f};
    memcpy(d, x, 8);
    char j[256];
    snprintf(j, sizeof j, "{\"a\":{%s,\"data_offsets\":[0,8]}}%s", T2, "                 ");
    size_t n;
    uint8_t *b = mk(j, d, 8, &n);
    st_file f;
    parse_ok(b, n, &f);
    assert_int_equal(f.data_start, 8 + strlen(j));
    float v[2];
    ic_err e = {{0}};
    assert_int_equal(st_read_f32(&f, &f.tensors[0], v, 2, &e), 0);
    assert_f32_bits(v[0], 4.0f);
    assert_f32_bits(v[1], -1.0f);
    st_free(&f);
    free(b);
}

static void test_accept_zero_length_tensors_sharing_offset(void **state) {
    (void)state;
    uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t n;
    uint8_t *b = mk("{\"z1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                    "\"x\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                    "\"z0\":{\"dtype\":\"F16\",\"shape\":[3,0],\"data_offsets\":[0,0]},"
                    "\"z2\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                    d, 8, &n);
    st_file f;
    parse_ok(b, n, &f);
    assert_int_equal(f.n_tensors, 4);
    assert_int_equal(st_find(&f, "x")->numel, 8);
    st_free(&f);
    free(b);
}

/* ---- st_read_file ---- */

static void test_read_file_errors(void **state) {
    char path[256];
    st_file f;
    ic_err e = {{0}};
    scratch_path(state, "does-not-exist.safetensors", path, sizeof path);
    assert_int_equal(st_read_file(path, &f, &e), -1);
    assert_has(e.msg, path);
    assert_has(e.msg, "No such file");
    assert_empty_file(&f);

    scratch_path(state, "empty.safetensors", path, sizeof path);
    spit(path, "", 0);
    assert_int_equal(st_read_file(path, &f, &e), -1);
    assert_has(e.msg, path);
    assert_has(e.msg, "0 bytes");
    assert_empty_file(&f);

    scratch_path(state, "bad.safetensors", path, sizeof path);
    spit(path, "\x05\0\0\0\0\0\0\0[1]  ", 13);
    assert_int_equal(st_read_file(path, &f, &e), -1);
    assert_has(e.msg, path);
    assert_has(e.msg, "not a JSON object");
    assert_empty_file(&f);

    scratch *s = *state;
    assert_int_equal(st_read_file(s->dir, &f, &e), -1);
    assert_has(e.msg, "not a regular file");
    assert_empty_file(&f);
}

/* ---- float conversion ---- */

/* Header length 9 puts the data at byte 17: misaligned for every float type. */
static void test_misaligned_read(void **state) {
    (void)state;
    const float x[3] = {0.1f, -7.5f, 1e-40f}; /* the last is subnormal */
    const char *j = "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}  ";
    assert_int_equal((8 + strlen(j)) % 4, 1);
    size_t n;
    uint8_t *b = mk(j, x, 12, &n);
    st_file f;
    parse_ok(b, n, &f);
    assert_int_equal(f.data_start % 4, 1);
    float v[3];
    ic_err e = {{0}};
    if (st_read_f32(&f, &f.tensors[0], v, 3, &e) != 0) fail_msg("%s", e.msg);
    for (int i = 0; i < 3; i++) assert_f32_bits(v[i], x[i]);
    st_free(&f);
    free(b);

    /* F64 at an odd address too */
    const double dd[2] = {-0.5, 1e10};
    j = "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
    assert_int_equal((8 + strlen(j)) % 8 != 0, 1);
    b = mk(j, dd, 16, &n);
    parse_ok(b, n, &f);
    if (st_read_f32(&f, &f.tensors[0], v, 2, &e) != 0) fail_msg("%s", e.msg);
    assert_f32_bits(v[0], -0.5f);
    assert_f32_bits(v[1], 1e10f);
    st_free(&f);
    free(b);
}

static void read_one(const char *dtype, const void *bytes, size_t nbytes, size_t count,
                     float *out) {
    char j[160];
    snprintf(j, sizeof j, "{\"t\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}",
             dtype, count, nbytes);
    size_t n;
    uint8_t *b = mk(j, bytes, nbytes, &n);
    st_file f;
    parse_ok(b, n, &f);
    ic_err e = {{0}};
    if (st_read_f32(&f, &f.tensors[0], out, count, &e) != 0) fail_msg("%s", e.msg);
    st_free(&f);
    free(b);
}

static void test_f16_conversion(void **state) {
    (void)state;
    const uint16_t h[10] = {0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001, 0x03FF,
                            0x8000, 0x7C00, 0xFC00, 0x7E00};
    float v[10];
    read_one("F16", h, sizeof h, 10, v);
    assert_f32_bits(v[0], 1.0f);
    assert_f32_bits(v[1], -2.0f);
    assert_f32_bits(v[2], 0.333251953125f);
    assert_f32_bits(v[3], 65504.0f);
    assert_f32_bits(v[4], 0x1p-24f);          /* smallest subnormal */
    assert_f32_bits(v[5], 1023 * 0x1p-24f);   /* largest subnormal */
    assert_f32_bits(v[6], -0.0f);
    assert_true(isinf(v[7]) && v[7] > 0);
    assert_true(isinf(v[8]) && v[8] < 0);
    assert_true(isnan(v[9]));
}

static void test_bf16_conversion(void **state) {
    (void)state;
    const uint16_t h[6] = {0x3F80, 0x4049, 0xC2F7, 0x0001, 0xFF80, 0x7FC0};
    float v[6];
    read_one("BF16", h, sizeof h, 6, v);
    assert_f32_bits(v[0], 1.0f);
    assert_f32_bits(v[1], 3.140625f);
    assert_f32_bits(v[2], -123.5f);
    assert_f32_bits(v[3], 0x1p-133f); /* subnormal 0x00010000 */
    assert_true(isinf(v[4]) && v[4] < 0);
    assert_true(isnan(v[5]));
}

static void test_f64_conversion(void **state) {
    (void)state;
    const double d[7] = {0.1, -3.0, 1e300, -1e300, 1e-50, NAN, 3.4028234663852886e38};
    float v[7];
    read_one("F64", d, sizeof d, 7, v);
    assert_f32_bits(v[0], 0.1f);
    assert_f32_bits(v[1], -3.0f);
    assert_true(isinf(v[2]) && v[2] > 0);
    assert_true(isinf(v[3]) && v[3] < 0);
    assert_f32_bits(v[4], 0.0f);
    assert_true(isnan(v[5]));
    assert_f32_bits(v[6], 3.4028234663852886e38f);
}

static void test_read_f32_errors(void **state) {
    (void)state;
    uint8_t d[16] = {0};
    size_t n;
    uint8_t *b = mk("{\"ids\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                    d, 16, &n);
    st_file f;
    parse_ok(b, n, &f);
    float v[4];
    ic_err e = {{0}};
    assert_int_equal(st_read_f32(&f, st_find(&f, "ids"), v, 2, &e), -1);
    assert_has(e.msg, "'ids'");
    assert_has(e.msg, "I32 is not a float type");
    assert_int_equal(st_read_f32(&f, st_find(&f, "w"), v, 3, &e), -1);
    assert_has(e.msg, "'w': asked for 3 elements but it has 2");
    assert_int_equal(st_read_f32(&f, st_find(&f, "w"), v, 1, &e), -1);
    assert_int_equal(st_read_f32(&f, NULL, v, 1, &e), -1);
    assert_int_equal(st_read_f32(&f, st_find(&f, "w"), v, 2, &e), 0);
    st_free(&f);
    free(b);
}

/* ---- writer ---- */

static void expect_write_fail(void **state, const st_wtensor *ts, int nt, const char *const *mk_,
                              const char *const *mv, int nm, const char *sub) {
    char path[256];
    scratch_path(state, "keep.safetensors", path, sizeof path);
    uint8_t sentinel[1];
    uint8_t *b = sentinel;
    size_t n = 99;
    ic_err e = {{0}};
    assert_int_equal(st_serialize(ts, nt, mk_, mv, nm, &b, &n, &e), -1);
    assert_null(b);
    assert_int_equal(n, 0);
    assert_has(e.msg, sub);
    assert_null(strchr(e.msg, '\n'));
    /* st_write_file: fails, mentions the path, leaves the old file alone */
    spit(path, "old contents", 12);
    memset(&e, 0, sizeof e);
    assert_int_equal(st_write_file(path, ts, nt, mk_, mv, nm, &e), -1);
    assert_has(e.msg, path);
    assert_has(e.msg, sub);
    uint8_t *got = slurp(path, &n);
    assert_int_equal(n, 12);
    assert_memory_equal(got, "old contents", 12);
    free(got);
    scratch *s = *state;
    assert_no_tmp_files(s->dir);
    unlink(path);
}

static void test_writer_rejects_bad_input(void **state) {
    const float x[4] = {0};
    st_wtensor t[2] = {
        {.name = "a", .dtype = ST_F32, .ndim = 1, .shape = {2}, .data = x},
        {.name = "a", .dtype = ST_F32, .ndim = 1, .shape = {2}, .data = x},
    };
    expect_write_fail(state, t, 2, NULL, NULL, 0, "both named 'a'");
    t[1].name = "";
    expect_write_fail(state, t, 2, NULL, NULL, 0, "tensor 1 has an empty name");
    t[1].name = NULL;
    expect_write_fail(state, t, 2, NULL, NULL, 0, "empty name");
    t[1].name = "__metadata__";
    expect_write_fail(state, t, 2, NULL, NULL, 0, "reserved");
    t[1].name = "b\xff";
    expect_write_fail(state, t, 2, NULL, NULL, 0, "UTF-8");
    t[1].name = "b";
    t[1].ndim = 9;
    expect_write_fail(state, t, 2, NULL, NULL, 0, "'b': ndim 9");
    t[1].ndim = -1;
    expect_write_fail(state, t, 2, NULL, NULL, 0, "'b': ndim -1");
    t[1].ndim = 2;
    t[1].shape[1] = -2;
    expect_write_fail(state, t, 2, NULL, NULL, 0, "'b': shape[1] is negative (-2)");
    t[1].shape[0] = INT64_MAX;
    t[1].shape[1] = 4;
    expect_write_fail(state, t, 2, NULL, NULL, 0, "overflows");
    t[1].shape[0] = 2;
    t[1].shape[1] = 1;
    t[1].data = NULL;
    expect_write_fail(state, t, 2, NULL, NULL, 0, "'b': no data");
    t[1].data = x;
    t[1].dtype = ST_NDTYPES;
    expect_write_fail(state, t, 2, NULL, NULL, 0, "invalid dtype");
    t[1].dtype = ST_F32;
    const char *k[2] = {"k", "k"}, *v[2] = {"1", "2"};
    expect_write_fail(state, t, 2, k, v, 2, "metadata key 'k' appears twice");
    k[1] = "j";
    v[1] = NULL;
    expect_write_fail(state, t, 2, k, v, 2, "metadata entry 1 is NULL");
    v[1] = "\xc3";
    expect_write_fail(state, t, 2, k, v, 2, "not valid UTF-8");
    v[1] = "2";
    k[1] = "\xed\xa0\x80";
    expect_write_fail(state, t, 2, k, v, 2, "metadata key 1");
    k[1] = "j";
    expect_write_fail(state, t, -1, NULL, NULL, 0, "negative tensor count");
    /* and the input is fine once fixed */
    v[1] = "2";
    uint8_t *b;
    size_t n;
    ic_err e = {{0}};
    if (st_serialize(t, 2, k, v, 2, &b, &n, &e) != 0) fail_msg("%s", e.msg);
    free(b);
}

static void test_write_missing_dir(void **state) {
    char path[256];
    scratch_path(state, "no/such/dir/x.safetensors", path, sizeof path);
    const float x[1] = {1};
    st_wtensor t = {.name = "x", .dtype = ST_F32, .ndim = 1, .shape = {1}, .data = x};
    ic_err e = {{0}};
    assert_int_equal(st_write_file(path, &t, 1, NULL, NULL, 0, &e), -1);
    assert_has(e.msg, path);
    assert_has(e.msg, "No such file or directory");
    assert_null(strchr(e.msg, '\n'));
    scratch *s = *state;
    assert_int_equal(count_dir_entries(s->dir), 0);
}

/* A write that fails half way (the file size limit makes write() fail with
 * EFBIG, even for root) leaves the old file untouched and no temp file. */
static void test_write_failure_keeps_old_file(void **state) {
    char path[256];
    scratch_path(state, "model.safetensors", path, sizeof path);
    spit(path, "previous model", 14);

    size_t big = 1 << 20;
    float *x = calloc(big, sizeof *x);
    assert_non_null(x);
    st_wtensor t = {.name = "x", .dtype = ST_F32, .ndim = 1, .shape = {(int64_t)big}, .data = x};

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ic_err e = {{0}};
    int rc = st_write_file(path, &t, 1, NULL, NULL, 0, &e);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, oldsig);
    free(x);

    assert_int_equal(rc, -1);
    assert_has(e.msg, path);
    assert_has(e.msg, "write");
    size_t n;
    uint8_t *got = slurp(path, &n);
    assert_int_equal(n, 14);
    assert_memory_equal(got, "previous model", 14);
    free(got);
    scratch *s = *state;
    assert_no_tmp_files(s->dir);
    assert_int_equal(count_dir_entries(s->dir), 1);
}

/* Overwriting replaces the file whole and keeps its permissions. */
static void test_write_replaces_file(void **state) {
    char path[256];
    scratch_path(state, "m.safetensors", path, sizeof path);
    spit(path, "old", 3);
    assert_int_equal(chmod(path, 0640), 0);
    const float x[2] = {9, 8};
    st_wtensor t = {.name = "x", .dtype = ST_F32, .ndim = 1, .shape = {2}, .data = x};
    ic_err e = {{0}};
    if (st_write_file(path, &t, 1, NULL, NULL, 0, &e) != 0) fail_msg("%s", e.msg);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    st_file f;
    if (st_read_file(path, &f, &e) != 0) fail_msg("%s", e.msg);
    float v[2];
    assert_int_equal(st_read_f32(&f, st_find(&f, "x"), v, 2, &e), 0);
    assert_f32_bits(v[1], 8.0f);
    st_free(&f);
    scratch *s = *state;
    assert_int_equal(count_dir_entries(s->dir), 1);
}

/* rename over a directory fails after the temp file is written: it is removed */
static void test_write_over_directory(void **state) {
    char path[256];
    scratch_path(state, "adir", path, sizeof path);
    assert_int_equal(mkdir(path, 0755), 0);
    const float x[1] = {1};
    st_wtensor t = {.name = "x", .dtype = ST_F32, .ndim = 1, .shape = {1}, .data = x};
    ic_err e = {{0}};
    assert_int_equal(st_write_file(path, &t, 1, NULL, NULL, 0, &e), -1);
    assert_has(e.msg, path);
    assert_has(e.msg, "rename");
    scratch *s = *state;
    assert_no_tmp_files(s->dir);
    assert_int_equal(count_dir_entries(s->dir), 1);
    assert_int_equal(rmdir(path), 0);
}

/* a bare file name is written in (and its temp file made in) the current directory */
static void test_write_relative_path(void **state) {
    scratch *s = *state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(s->dir), 0);
    const uint8_t x[3] = {1, 2, 3};
    st_wtensor t = {.name = "x", .dtype = ST_U8, .ndim = 1, .shape = {3}, .data = x};
    ic_err e = {{0}};
    int rc = st_write_file("rel.safetensors", &t, 1, NULL, NULL, 0, &e);
    st_file f;
    int rc2 = st_read_file("rel.safetensors", &f, &e);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(rc2, 0);
    assert_int_equal(f.tensors[0].numel, 3);
    assert_memory_equal(f.buf + f.data_start, x, 3);
    st_free(&f);
    assert_int_equal(count_dir_entries(s->dir), 1);
}

/* ---- fuzzer finds ---- */

static void test_regress_corpus(void **state) {
    (void)state;
    const char *dir = DATA_DIR "/regress";
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    struct dirent *de;
    int files = 0, bad = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        size_t n;
        uint8_t *b = slurp(p, &n);
        st_file f;
        ic_err e = {{0}};
        int rc = st_parse(b, n, &f, &e);
        if (rc == 0) {
            /* touch everything a caller might */
            for (int i = 0; i < f.n_tensors; i++) {
                const st_tensor *t = &f.tensors[i];
                assert_ptr_equal(st_find(&f, t->name), t);
                if (t->dtype == ST_F32 || t->dtype == ST_F64 || t->dtype == ST_F16 ||
                    t->dtype == ST_BF16) {
                    float *v = malloc((size_t)t->numel * sizeof *v + 1);
                    assert_non_null(v);
                    if (st_read_f32(&f, t, v, (size_t)t->numel, &e) != 0)
                        fail_msg("%s: %s", p, e.msg);
                    free(v);
                }
            }
        } else {
            assert_int_equal(rc, -1);
            assert_true(e.msg[0] != '\0');
            assert_null(strchr(e.msg, '\n'));
            assert_empty_file(&f);
        }
        if (strncmp(de->d_name, "bad_", 4) == 0) {
            bad++;
            if (rc != -1) fail_msg("%s was accepted but must be rejected", p);
        }
        if (strncmp(de->d_name, "ok_", 3) == 0 && rc != 0)
            fail_msg("%s was rejected: %s", p, e.msg);
        /* the file path gives the same verdict */
        st_file g;
        ic_err e2 = {{0}};
        assert_int_equal(st_read_file(p, &g, &e2), rc);
        st_free(&g);
        st_free(&f);
        free(b);
        files++;
    }
    closedir(d);
    assert_true(files > 0);
    assert_true(bad > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_table),
        cmocka_unit_test_setup_teardown(test_roundtrip_file, scratch_setup, scratch_teardown),
        cmocka_unit_test(test_roundtrip_empty),
        cmocka_unit_test(test_serialize_no_metadata_key),
        cmocka_unit_test(test_golden_read),
        cmocka_unit_test(test_golden_writer_matches),
        cmocka_unit_test(test_reject_empty_file),
        cmocka_unit_test(test_reject_7_bytes),
        cmocka_unit_test(test_reject_header_over_100mb),
        cmocka_unit_test(test_reject_header_past_eof),
        cmocka_unit_test(test_reject_invalid_json),
        cmocka_unit_test(test_reject_invalid_utf8_key),
        cmocka_unit_test(test_reject_duplicate_keys),
        cmocka_unit_test(test_reject_top_level_array),
        cmocka_unit_test(test_reject_unknown_dtype),
        cmocka_unit_test(test_reject_negative_shape),
        cmocka_unit_test(test_reject_float_shape),
        cmocka_unit_test(test_accept_max_dims),
        cmocka_unit_test(test_reject_overlapping_offsets),
        cmocka_unit_test(test_reject_gap_in_offsets),
        cmocka_unit_test(test_reject_first_begin_not_zero),
        cmocka_unit_test(test_reject_size_mismatch),
        cmocka_unit_test(test_reject_trailing_bytes),
        cmocka_unit_test(test_reject_data_short),
        cmocka_unit_test(test_reject_shape_overflow),
        cmocka_unit_test(test_reject_metadata_not_string),
        cmocka_unit_test(test_reject_bad_entries),
        cmocka_unit_test(test_error_message_one_line),
        cmocka_unit_test(test_accept_trailing_spaces),
        cmocka_unit_test(test_accept_zero_length_tensors_sharing_offset),
        cmocka_unit_test_setup_teardown(test_read_file_errors, scratch_setup, scratch_teardown),
        cmocka_unit_test(test_misaligned_read),
        cmocka_unit_test(test_f16_conversion),
        cmocka_unit_test(test_bf16_conversion),
        cmocka_unit_test(test_f64_conversion),
        cmocka_unit_test(test_read_f32_errors),
        cmocka_unit_test_setup_teardown(test_writer_rejects_bad_input, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_write_missing_dir, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_keeps_old_file, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_write_replaces_file, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_write_over_directory, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_write_relative_path, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test(test_regress_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
