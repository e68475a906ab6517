/* fuzz_safetensors.c: libFuzzer harness for the safetensors reader and writer.
 *
 * For every input: st_parse must return 0 or -1 with a one-line message and
 * never read out of bounds, crash or leak (ASan/UBSan/LSan watch that). When
 * the parse succeeds, everything a caller could do with the result is done:
 * st_find / st_meta on every entry, st_read_f32 on every float tensor (and a
 * wrong count must be refused), then the whole file is re-serialised with
 * st_serialize and re-parsed. The re-parse must succeed and give the same
 * names, dtypes, shapes, bytes and metadata, and serialising the re-parsed
 * file must give byte-identical output. Any disagreement calls abort(): it is
 * a bug (the reader accepted something the writer cannot reproduce, or the
 * reader rejects the writer's own output).
 *
 * Build and run: see fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

/* UBSan findings must stop the run so that libFuzzer saves the input. */
const char *__ubsan_default_options(void) {
    return "halt_on_error=1:print_stacktrace=1";
}

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_safetensors: check failed at line %d: %s\n", __LINE__, \
                    #cond);                                                            \
            abort();                                                                   \
        }                                                                              \
    } while (0)

static int is_float(st_dtype t) {
    return t == ST_F32 || t == ST_F64 || t == ST_F16 || t == ST_BF16;
}

static void check_message(const ic_err *e) {
    CHECK(e->msg[0] != '\0');
    CHECK(strchr(e->msg, '\n') == NULL);
    CHECK(strlen(e->msg) < sizeof e->msg);
}

static void check_empty(const st_file *f) {
    CHECK(f->buf == NULL && f->size == 0 && f->tensors == NULL && f->n_tensors == 0);
    CHECK(f->meta_keys == NULL && f->meta_vals == NULL && f->n_meta == 0);
}

/* Exercises the accessors on a parsed file; returns float copies of every
 * float tensor concatenated (malloc'ed, may be NULL when there are none). */
static float *exercise(const st_file *f, size_t *nfloats) {
    CHECK(f->data_start >= 8 && f->data_start <= f->size);
    uint64_t total = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        CHECK(st_find(f, t->name) == t);
        CHECK(t->name[0] != '\0');
        CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS);
        CHECK(t->begin <= t->end && t->end <= f->size - f->data_start);
        CHECK(t->end - t->begin == t->numel * st_dtype_size(t->dtype));
        if (is_float(t->dtype)) total += t->numel;
    }
    for (int i = 0; i < f->n_meta; i++) CHECK(st_meta(f, f->meta_keys[i]) == f->meta_vals[i]);
    CHECK(st_find(f, "__metadata__") == NULL);

    float *all = total ? malloc((size_t)total * sizeof *all) : NULL;
    CHECK(total == 0 || all != NULL);
    size_t at = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        ic_err e;
        float one;
        if (!is_float(t->dtype)) {
            CHECK(st_read_f32(f, t, &one, (size_t)t->numel, &e) == -1);
            check_message(&e);
            continue;
        }
        /* all is NULL when every float tensor is empty: NULL + 0 is UB */
        float *dst = all ? all + at : NULL;
        CHECK(st_read_f32(f, t, dst, (size_t)t->numel, &e) == 0);
        CHECK(st_read_f32(f, t, &one, (size_t)t->numel + 1, &e) == -1);
        check_message(&e);
        at += (size_t)t->numel;
    }
    *nfloats = at;
    return all;
}

/* The parsed file as writer input (data points into f->buf). */
static st_wtensor *as_wtensors(const st_file *f) {
    st_wtensor *w = calloc((size_t)f->n_tensors + 1, sizeof *w);
    CHECK(w != NULL);
    for (int i = 0; i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        w[i].name = t->name;
        w[i].dtype = t->dtype;
        w[i].ndim = t->ndim;
        memcpy(w[i].shape, t->shape, sizeof t->shape);
        w[i].data = f->buf + f->data_start + t->begin;
    }
    return w;
}

static void serialize(const st_file *f, uint8_t **out, size_t *n) {
    st_wtensor *w = as_wtensors(f);
    ic_err e;
    int rc = st_serialize(w, f->n_tensors, (const char *const *)f->meta_keys,
                          (const char *const *)f->meta_vals, f->n_meta, out, n, &e);
    if (rc != 0) fprintf(stderr, "fuzz_safetensors: writer refused a parsed file: %s\n", e.msg);
    CHECK(rc == 0);
    free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file f;
    ic_err e;
    if (st_parse(data, size, &f, &e) != 0) {
        check_message(&e);
        check_empty(&f);
        st_free(&f);
        return 0;
    }
    CHECK(f.size == size && memcmp(f.buf, data, size) == 0);
    size_t nf1 = 0;
    float *v1 = exercise(&f, &nf1);

    /* round trip through the writer */
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    serialize(&f, &b1, &n1);
    st_file g;
    if (st_parse(b1, n1, &g, &e) != 0) {
        fprintf(stderr, "fuzz_safetensors: reader refused the writer's output: %s\n", e.msg);
        abort();
    }
    CHECK(g.n_tensors == f.n_tensors && g.n_meta == f.n_meta);
    CHECK(g.data_start % 8 == 0);
    uint64_t off = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *a = &f.tensors[i], *b = &g.tensors[i];
        CHECK(strcmp(a->name, b->name) == 0);
        CHECK(a->dtype == b->dtype && a->ndim == b->ndim && a->numel == b->numel);
        CHECK(memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0);
        CHECK(b->begin == off); /* contiguous, in header order */
        off = b->end;
        CHECK(a->end - a->begin == b->end - b->begin);
        CHECK(memcmp(f.buf + f.data_start + a->begin, g.buf + g.data_start + b->begin,
                     (size_t)(a->end - a->begin)) == 0);
    }
    for (int i = 0; i < f.n_meta; i++) {
        const char *v = st_meta(&g, f.meta_keys[i]);
        CHECK(v != NULL && strcmp(v, f.meta_vals[i]) == 0);
    }
    size_t nf2 = 0;
    float *v2 = exercise(&g, &nf2);
    CHECK(nf1 == nf2);
    CHECK(nf1 == 0 || memcmp(v1, v2, nf1 * sizeof *v1) == 0);

    /* the writer is deterministic: writing what it wrote gives the same bytes */
    serialize(&g, &b2, &n2);
    CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);

    free(v1);
    free(v2);
    free(b1);
    free(b2);
    st_free(&g);
    st_free(&f);
    return 0;
}
