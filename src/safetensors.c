/* safetensors.c: strict reader and atomic writer for the safetensors format.
 *
 * The reader enforces every rule listed in safetensors.h. It is
 * written to be fed hostile bytes: every length is checked before it is used,
 * every multiplication is overflow-checked, tensor data is only ever reached
 * through memcpy (no alignment is promised), and every error is one line that
 * names what is wrong and where. */
#include "safetensors.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

/* ---- dtypes ---- */

static const struct {
    const char *name;
    size_t size;
} dtype_info[ST_NDTYPES] = {
    [ST_BOOL] = {"BOOL", 1},       [ST_U8] = {"U8", 1},
    [ST_I8] = {"I8", 1},           [ST_I16] = {"I16", 2},
    [ST_U16] = {"U16", 2},         [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2},       [ST_I32] = {"I32", 4},
    [ST_U32] = {"U32", 4},         [ST_F32] = {"F32", 4},
    [ST_F64] = {"F64", 8},         [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},         [ST_F8_E4M3] = {"F8_E4M3", 1},
    [ST_F8_E5M2] = {"F8_E5M2", 1},
};

static int dtype_valid(st_dtype t) {
    return (int)t >= 0 && (int)t < ST_NDTYPES;
}

const char *st_dtype_name(st_dtype t) {
    return dtype_valid(t) ? dtype_info[t].name : "?";
}

size_t st_dtype_size(st_dtype t) {
    return dtype_valid(t) ? dtype_info[t].size : 0;
}

static int dtype_from_name(const char *s, st_dtype *out) {
    for (int i = 0; i < ST_NDTYPES; i++) {
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (st_dtype)i;
            return 0;
        }
    }
    return -1;
}

/* ---- small helpers ---- */

static uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void store_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Returns the offset of the first byte that does not start a well-formed
 * UTF-8 sequence (overlong forms, surrogates and code points past U+10FFFF
 * are malformed), or n if all n bytes are valid. */
static size_t utf8_bad_at(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2; cp = c & 0x1Fu; min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3; cp = c & 0x0Fu; min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4; cp = c & 0x07u; min = 0x10000;
        } else {
            return i;
        }
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += len;
    }
    return n;
}

static int utf8_valid(const char *s) {
    size_t n = strlen(s);
    return utf8_bad_at((const uint8_t *)s, n) == n;
}

/* A name made printable for an error message: control characters become '?'
 * (so the message stays one line) and long names are cut at a UTF-8 boundary
 * and end in "...". */
typedef struct {
    char s[72];
} shown_name;

static shown_name show(const char *name) {
    shown_name r;
    size_t cap = sizeof r.s - 4, i = 0;
    for (; name[i] && i < cap; i++) {
        unsigned char c = (unsigned char)name[i];
        r.s[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (name[i]) {
        /* cut before the character that did not fit, not inside it */
        while (i > 0 && ((unsigned char)name[i] & 0xC0) == 0x80) i--;
        memcpy(r.s + i, "...", 4);
    } else {
        r.s[i] = '\0';
    }
    return r;
}

/* Keeps an error message on one line whatever went into it. */
static void one_line(ic_err *err) {
    if (!err) return;
    for (char *p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F) *p = ' ';
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "an unknown JSON value";
}

/* "[2,3]" for an error message. */
typedef struct {
    char s[8 * 21 + 3];
} shown_shape;

static shown_shape show_shape(const int64_t *shape, int ndim) {
    shown_shape r;
    size_t used = 0;
    r.s[used++] = '[';
    for (int i = 0; i < ndim; i++) {
        int w = snprintf(r.s + used, sizeof r.s - used, "%s%lld", i ? "," : "",
                         (long long)shape[i]);
        if (w < 0 || (size_t)w >= sizeof r.s - used) break;
        used += (size_t)w;
    }
    if (used + 2 <= sizeof r.s) {
        r.s[used++] = ']';
        r.s[used] = '\0';
    } else {
        r.s[sizeof r.s - 1] = '\0';
    }
    return r;
}

/* Element count of a shape. Fails if the product of the non-zero dimensions
 * does not fit in 64 bits (such shapes are rejected even when another
 * dimension is 0, so that no consumer computing strides can overflow). */
static int shape_numel(const int64_t *shape, int ndim, uint64_t *numel) {
    uint64_t prod = 1;
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) {
            zero = 1;
            continue;
        }
        if (__builtin_mul_overflow(prod, (uint64_t)shape[i], &prod)) return -1;
    }
    *numel = zero ? 0 : prod;
    return 0;
}

/* ---- reader ---- */

void st_free(st_file *f) {
    if (!f) return;
    if (f->tensors) {
        for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
        free(f->tensors);
    }
    if (f->meta_keys) {
        for (int i = 0; i < f->n_meta; i++) free(f->meta_keys[i]);
        free(f->meta_keys);
    }
    if (f->meta_vals) {
        for (int i = 0; i < f->n_meta; i++) free(f->meta_vals[i]);
        free(f->meta_vals);
    }
    free(f->buf);
    memset(f, 0, sizeof *f);
}

static char *dup_json_string(const json_t *s) {
    size_t len = json_string_length(s);
    char *r = malloc(len + 1);
    if (!r) return NULL;
    memcpy(r, json_string_value(s), len);
    r[len] = '\0';
    return r;
}

static int parse_metadata(const json_t *meta, st_file *f, ic_err *err) {
    if (!json_is_object(meta))
        return ic_errf(err, "__metadata__ is %s, not an object of strings", json_kind(meta));
    size_t n = json_object_size(meta);
    if (n == 0) return 0;
    if (n > INT_MAX) return ic_errf(err, "__metadata__ has too many entries (%zu)", n);
    f->meta_keys = calloc(n, sizeof *f->meta_keys);
    f->meta_vals = calloc(n, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals)
        return ic_errf(err, "out of memory for %zu __metadata__ entries", n);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)meta, key, val) {
        if (!json_is_string(val))
            return ic_errf(err, "__metadata__ value of key '%s' is %s, not a string",
                           show(key).s, json_kind(val));
        int i = f->n_meta;
        f->meta_keys[i] = strdup(key);
        f->meta_vals[i] = dup_json_string(val);
        f->n_meta++; /* counted now so st_free releases whatever was allocated */
        if (!f->meta_keys[i] || !f->meta_vals[i])
            return ic_errf(err, "out of memory copying __metadata__");
    }
    return 0;
}

/* Reads a JSON integer that must be >= 0. */
static int get_nonneg(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0) return -2;
    *out = (uint64_t)x;
    return 0;
}

static int parse_tensor(const char *name, const json_t *e, size_t data_len, st_tensor *t,
                        ic_err *err) {
    shown_name sn = show(name);
    if (name[0] == '\0') return ic_errf(err, "a tensor has an empty name");
    if (!json_is_object(e))
        return ic_errf(err, "tensor '%s': entry is %s, not an object", sn.s, json_kind(e));

    const char *field;
    json_t *fv;
    json_object_foreach((json_t *)e, field, fv) {
        if (strcmp(field, "dtype") && strcmp(field, "shape") && strcmp(field, "data_offsets"))
            return ic_errf(err, "tensor '%s': unknown field '%s' (expected dtype, shape, "
                                "data_offsets)", sn.s, show(field).s);
    }

    /* dtype */
    const json_t *dt = json_object_get(e, "dtype");
    if (!dt) return ic_errf(err, "tensor '%s': missing field 'dtype'", sn.s);
    if (!json_is_string(dt))
        return ic_errf(err, "tensor '%s': dtype is %s, not a string", sn.s, json_kind(dt));
    if (strlen(json_string_value(dt)) != json_string_length(dt) ||
        dtype_from_name(json_string_value(dt), &t->dtype) != 0)
        return ic_errf(err, "tensor '%s': unknown dtype '%s'", sn.s,
                       show(json_string_value(dt)).s);

    /* shape */
    const json_t *sh = json_object_get(e, "shape");
    if (!sh) return ic_errf(err, "tensor '%s': missing field 'shape'", sn.s);
    if (!json_is_array(sh))
        return ic_errf(err, "tensor '%s': shape is %s, not an array", sn.s, json_kind(sh));
    size_t nd = json_array_size(sh);
    if (nd > ST_MAX_DIMS)
        return ic_errf(err, "tensor '%s': shape has %zu dimensions, more than the %d supported",
                       sn.s, nd, ST_MAX_DIMS);
    t->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        const json_t *d = json_array_get(sh, i);
        uint64_t v;
        int rc = get_nonneg(d, &v);
        if (rc == -2)
            return ic_errf(err, "tensor '%s': shape[%zu] is negative (%lld)", sn.s, i,
                           (long long)json_integer_value(d));
        if (rc != 0) {
            if (json_is_real(d)) {
                char num[40];
                snprintf(num, sizeof num, "%.17g", json_real_value(d));
                if (strspn(num, "-0123456789") == strlen(num)) strcat(num, ".0");
                return ic_errf(err, "tensor '%s': shape[%zu] is %s, not a non-negative integer",
                               sn.s, i, num);
            }
            return ic_errf(err, "tensor '%s': shape[%zu] is %s, not a non-negative integer",
                           sn.s, i, json_kind(d));
        }
        t->shape[i] = (int64_t)v;
    }
    shown_shape ss = show_shape(t->shape, t->ndim);
    if (shape_numel(t->shape, t->ndim, &t->numel) != 0)
        return ic_errf(err, "tensor '%s': shape %s has an element count that overflows 64 bits",
                       sn.s, ss.s);
    uint64_t need;
    if (__builtin_mul_overflow(t->numel, (uint64_t)st_dtype_size(t->dtype), &need))
        return ic_errf(err, "tensor '%s': byte count of shape %s of %s overflows 64 bits",
                       sn.s, ss.s, st_dtype_name(t->dtype));

    /* data_offsets */
    const json_t *off = json_object_get(e, "data_offsets");
    if (!off) return ic_errf(err, "tensor '%s': missing field 'data_offsets'", sn.s);
    if (!json_is_array(off))
        return ic_errf(err, "tensor '%s': data_offsets is %s, not an array", sn.s,
                       json_kind(off));
    if (json_array_size(off) != 2)
        return ic_errf(err, "tensor '%s': data_offsets has %zu elements, not 2 [begin, end]",
                       sn.s, json_array_size(off));
    for (size_t i = 0; i < 2; i++) {
        const json_t *o = json_array_get(off, i);
        uint64_t v;
        int rc = get_nonneg(o, &v);
        if (rc == -2)
            return ic_errf(err, "tensor '%s': data_offsets[%zu] is negative (%lld)", sn.s, i,
                           (long long)json_integer_value(o));
        if (rc != 0)
            return ic_errf(err, "tensor '%s': data_offsets[%zu] is %s, not a non-negative "
                                "integer", sn.s, i, json_kind(o));
        if (i == 0) t->begin = v; else t->end = v;
    }
    if (t->begin > t->end)
        return ic_errf(err, "tensor '%s': data_offsets [%llu, %llu] end before they begin",
                       sn.s, (unsigned long long)t->begin, (unsigned long long)t->end);
    if (t->end - t->begin != need)
        return ic_errf(err, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but shape "
                            "%s of %s needs %llu", sn.s, (unsigned long long)t->begin,
                       (unsigned long long)t->end, (unsigned long long)(t->end - t->begin),
                       ss.s, st_dtype_name(t->dtype), (unsigned long long)need);
    if (t->end > data_len)
        return ic_errf(err, "tensor '%s': data_offsets [%llu, %llu] run past end of file "
                            "(data section is %zu bytes)", sn.s, (unsigned long long)t->begin,
                       (unsigned long long)t->end, data_len);

    t->name = strdup(name);
    if (!t->name) return ic_errf(err, "out of memory copying tensor name");
    return 0;
}

static int cmp_by_offset(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Sorted by begin, the tensors must tile [0, data_len) exactly. */
static int check_layout(const st_file *f, size_t data_len, ic_err *err) {
    int n = f->n_tensors;
    if (n == 0) {
        if (data_len != 0)
            return ic_errf(err, "file has no tensors but %zu trailing bytes after the header",
                           data_len);
        return 0;
    }
    const st_tensor **order = malloc((size_t)n * sizeof *order);
    if (!order) return ic_errf(err, "out of memory checking data_offsets");
    for (int i = 0; i < n; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)n, sizeof *order, cmp_by_offset);

    int rc = 0;
    uint64_t expect = 0;
    const st_tensor *prev = NULL;
    for (int i = 0; i < n && rc == 0; i++) {
        const st_tensor *t = order[i];
        if (t->begin == expect) {
            expect = t->end;
            prev = t;
            continue;
        }
        if (!prev)
            rc = ic_errf(err, "data_offsets: first tensor '%s' [%llu, %llu] begins at %llu, "
                              "not 0 (gap at the start of the data)", show(t->name).s,
                         (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)t->begin);
        else if (t->begin > expect)
            rc = ic_errf(err, "data_offsets: gap of %llu bytes between tensor '%s' [%llu, %llu] "
                              "and tensor '%s' [%llu, %llu]",
                         (unsigned long long)(t->begin - expect), show(prev->name).s,
                         (unsigned long long)prev->begin, (unsigned long long)prev->end,
                         show(t->name).s, (unsigned long long)t->begin,
                         (unsigned long long)t->end);
        else
            rc = ic_errf(err, "data_offsets: tensor '%s' [%llu, %llu] and tensor '%s' "
                              "[%llu, %llu] overlap", show(prev->name).s,
                         (unsigned long long)prev->begin, (unsigned long long)prev->end,
                         show(t->name).s, (unsigned long long)t->begin,
                         (unsigned long long)t->end);
    }
    free(order);
    if (rc) return rc;
    /* every end <= data_len was checked per tensor, so expect <= data_len */
    if (expect != data_len)
        return ic_errf(err, "%llu trailing bytes after the last tensor's data (tensors end at "
                            "%llu, data section is %zu bytes)",
                       (unsigned long long)(data_len - expect), (unsigned long long)expect,
                       data_len);
    return 0;
}

/* Validates bytes[0..n) and fills everything in *f except buf and size. */
static int parse_core(const uint8_t *bytes, size_t n, st_file *f, ic_err *err) {
    if (n < 8)
        return ic_errf(err, "file is %zu bytes; a safetensors file needs at least 8 "
                            "(the header length)", n);
    uint64_t hlen = load_le64(bytes);
    if (hlen > ST_MAX_HEADER)
        return ic_errf(err, "header length %llu exceeds the 100 MB limit (%u bytes)",
                       (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen > n - 8)
        return ic_errf(err, "header length %llu runs past end of file (file is %zu bytes, "
                            "leaving %zu after the length field)",
                       (unsigned long long)hlen, n, n - 8);
    if (hlen == 0) return ic_errf(err, "header is empty (header length 0)");
    const uint8_t *hdr = bytes + 8;
    size_t bad = utf8_bad_at(hdr, (size_t)hlen);
    if (bad != hlen)
        return ic_errf(err, "header is not valid UTF-8 at header byte %zu (byte 0x%02x)", bad,
                       hdr[bad]);

    json_error_t je;
    json_t *root = json_loadb((const char *)hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ic_errf(err, "header is invalid JSON at line %d, column %d (header byte %d): %s",
                       je.line, je.column, je.position, je.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = ic_errf(err, "header is %s, not a JSON object", json_kind(root));
        goto done;
    }
    f->data_start = 8 + (size_t)hlen;
    size_t data_len = n - f->data_start;

    size_t count = json_object_size(root);
    if (json_object_get(root, "__metadata__")) count--;
    if (count > INT_MAX) {
        rc = ic_errf(err, "header has too many tensors (%zu)", count);
        goto done;
    }
    if (count > 0) {
        f->tensors = calloc(count, sizeof *f->tensors);
        if (!f->tensors) {
            rc = ic_errf(err, "out of memory for %zu tensors", count);
            goto done;
        }
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            rc = parse_metadata(val, f, err);
        } else {
            rc = parse_tensor(key, val, data_len, &f->tensors[f->n_tensors], err);
            if (rc == 0) f->n_tensors++;
        }
        if (rc) goto done;
    }
    rc = check_layout(f, data_len, err);
done:
    json_decref(root);
    return rc;
}

int st_parse(const uint8_t *bytes, size_t n, st_file *out, ic_err *err) {
    st_file f;
    memset(&f, 0, sizeof f);
    if (out) memset(out, 0, sizeof *out);
    if (!out) return ic_errf(err, "st_parse: no output given");
    if (!bytes && n) return ic_errf(err, "st_parse: NULL input of %zu bytes", n);
    if (parse_core(bytes, n, &f, err) != 0) goto fail;
    f.buf = malloc(n);
    if (!f.buf) {
        ic_errf(err, "out of memory copying a %zu-byte file", n);
        goto fail;
    }
    memcpy(f.buf, bytes, n);
    f.size = n;
    *out = f;
    return 0;
fail:
    st_free(&f);
    one_line(err);
    return -1;
}

int st_read_file(const char *path, st_file *out, ic_err *err) {
    if (out) memset(out, 0, sizeof *out);
    if (!path) return ic_errf(err, "st_read_file: no path given");
    if (!out) return ic_errf(err, "%s: st_read_file: no output given", path);
    uint8_t *buf = NULL;
    size_t size = 0;
    int rc = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        rc = ic_errf(err, "cannot open: %s", strerror(errno));
        goto done;
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0) {
        rc = ic_errf(err, "cannot stat: %s", strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = ic_errf(err, "not a regular file");
        goto done;
    }
    if (fseek(fp, 0, SEEK_END) != 0) {
        rc = ic_errf(err, "cannot seek: %s", strerror(errno));
        goto done;
    }
    long end = ftell(fp);
    if (end < 0) {
        rc = ic_errf(err, "cannot tell file size: %s", strerror(errno));
        goto done;
    }
    if ((unsigned long)end > SIZE_MAX - 1) {
        rc = ic_errf(err, "file too large (%ld bytes)", end);
        goto done;
    }
    if (fseek(fp, 0, SEEK_SET) != 0) {
        rc = ic_errf(err, "cannot seek: %s", strerror(errno));
        goto done;
    }
    size = (size_t)end;
    buf = malloc(size ? size : 1);
    if (!buf) {
        rc = ic_errf(err, "out of memory reading %zu bytes", size);
        goto done;
    }
    if (size && fread(buf, 1, size, fp) != size) {
        rc = ic_errf(err, "read failed: %s", ferror(fp) ? strerror(errno)
                                                          : "file shrank while reading");
        goto done;
    }
    if (fgetc(fp) != EOF) {
        rc = ic_errf(err, "file grew while reading");
        goto done;
    }
    st_file f;
    memset(&f, 0, sizeof f);
    if (parse_core(buf, size, &f, err) != 0) {
        st_free(&f);
        rc = -1;
        goto done;
    }
    f.buf = buf;
    f.size = size;
    buf = NULL;
    *out = f;
done:
    if (fp) fclose(fp);
    free(buf);
    if (rc) {
        ic_err_prefix(err, "%s", path);
        one_line(err);
    }
    return rc;
}

const st_tensor *st_find(const st_file *f, const char *name) {
    if (!f || !name) return NULL;
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key) {
    if (!f || !key) return NULL;
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (mant << 13); /* inf or NaN (payload kept) */
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13); /* rebias 15 -> 127 */
    }
    float r;
    memcpy(&r, &bits, sizeof r);
    return r;
}

static float double_to_float(double d) {
    /* out-of-range double -> float conversion is undefined in C; do what IEEE does */
    if (d > FLT_MAX) return INFINITY;
    if (d < -FLT_MAX) return -INFINITY;
    return (float)d;
}

int st_read_f32(const st_file *f, const st_tensor *t, float *dst, size_t n, ic_err *err) {
    if (!f || !t) return ic_errf(err, "st_read_f32: no file or tensor given");
    shown_name sn = show(t->name ? t->name : "");
    if (!dtype_valid(t->dtype))
        return ic_errf(err, "tensor '%s': invalid dtype %d", sn.s, (int)t->dtype);
    if (t->dtype != ST_F32 && t->dtype != ST_F64 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return ic_errf(err, "tensor '%s': dtype %s is not a float type (F32, F64, F16, BF16)",
                       sn.s, st_dtype_name(t->dtype));
    if (n != t->numel)
        return ic_errf(err, "tensor '%s': asked for %zu elements but it has %llu", sn.s, n,
                       (unsigned long long)t->numel);
    size_t es = st_dtype_size(t->dtype);
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)n, (uint64_t)es, &bytes) || t->begin > t->end ||
        t->end - t->begin != bytes || f->data_start > f->size ||
        t->end > f->size - f->data_start || !f->buf)
        return ic_errf(err, "tensor '%s': data_offsets [%llu, %llu] do not fit this file", sn.s,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    if (n == 0) return 0;
    if (!dst) return ic_errf(err, "tensor '%s': NULL destination", sn.s);
    const uint8_t *p = f->buf + f->data_start + t->begin;
    switch (t->dtype) {
    case ST_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(dst, p, n * 4);
#else
        for (size_t i = 0; i < n; i++, p += 4) {
            uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24;
            memcpy(&dst[i], &b, 4);
        }
#endif
        break;
    case ST_F64:
        for (size_t i = 0; i < n; i++, p += 8) {
            uint64_t b = load_le64(p);
            double d;
            memcpy(&d, &b, 8);
            dst[i] = double_to_float(d);
        }
        break;
    case ST_F16:
        for (size_t i = 0; i < n; i++, p += 2)
            dst[i] = half_to_float((uint16_t)(p[0] | p[1] << 8));
        break;
    case ST_BF16:
        for (size_t i = 0; i < n; i++, p += 2) {
            uint32_t b = ((uint32_t)p[0] | (uint32_t)p[1] << 8) << 16;
            memcpy(&dst[i], &b, 4);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* ---- writer ---- */

static int check_wtensors(const st_wtensor *ts, int nt, const char *const *mk,
                          const char *const *mv, int nm, uint64_t *total, ic_err *err) {
    if (nt < 0) return ic_errf(err, "negative tensor count %d", nt);
    if (nm < 0) return ic_errf(err, "negative metadata count %d", nm);
    if (nt > 0 && !ts) return ic_errf(err, "%d tensors but no tensor array", nt);
    if (nm > 0 && (!mk || !mv)) return ic_errf(err, "%d metadata entries but no arrays", nm);
    uint64_t sum = 0;
    for (int i = 0; i < nt; i++) {
        const st_wtensor *t = &ts[i];
        if (!t->name || !t->name[0]) return ic_errf(err, "tensor %d has an empty name", i);
        shown_name sn = show(t->name);
        if (!utf8_valid(t->name))
            return ic_errf(err, "tensor %d: name '%s' is not valid UTF-8", i, sn.s);
        if (strcmp(t->name, "__metadata__") == 0)
            return ic_errf(err, "tensor %d: the name '__metadata__' is reserved", i);
        for (int j = 0; j < i; j++)
            if (strcmp(ts[j].name, t->name) == 0)
                return ic_errf(err, "tensors %d and %d are both named '%s'", j, i, sn.s);
        if (!dtype_valid(t->dtype))
            return ic_errf(err, "tensor '%s': invalid dtype %d", sn.s, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return ic_errf(err, "tensor '%s': ndim %d outside 0..%d", sn.s, t->ndim,
                           ST_MAX_DIMS);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0)
                return ic_errf(err, "tensor '%s': shape[%d] is negative (%lld)", sn.s, d,
                               (long long)t->shape[d]);
        uint64_t numel, bytes;
        if (shape_numel(t->shape, t->ndim, &numel) != 0 ||
            __builtin_mul_overflow(numel, (uint64_t)st_dtype_size(t->dtype), &bytes) ||
            __builtin_add_overflow(sum, bytes, &sum) || sum > (uint64_t)INT64_MAX)
            return ic_errf(err, "tensor '%s': shape %s of %s overflows the file size", sn.s,
                           show_shape(t->shape, t->ndim).s, st_dtype_name(t->dtype));
        if (bytes > 0 && !t->data) return ic_errf(err, "tensor '%s': no data", sn.s);
    }
    for (int i = 0; i < nm; i++) {
        if (!mk[i] || !mv[i]) return ic_errf(err, "metadata entry %d is NULL", i);
        if (!utf8_valid(mk[i]))
            return ic_errf(err, "metadata key %d ('%s') is not valid UTF-8", i, show(mk[i]).s);
        if (!utf8_valid(mv[i]))
            return ic_errf(err, "metadata value of '%s' is not valid UTF-8", show(mk[i]).s);
        for (int j = 0; j < i; j++)
            if (strcmp(mk[j], mk[i]) == 0)
                return ic_errf(err, "metadata key '%s' appears twice", show(mk[i]).s);
    }
    *total = sum;
    return 0;
}

static json_t *build_header(const st_wtensor *ts, int nt, const char *const *mk,
                            const char *const *mv, int nm) {
    json_t *root = json_object();
    if (!root) return NULL;
    if (nm > 0) {
        json_t *meta = json_object();
        if (json_object_set_new(root, "__metadata__", meta) != 0) goto fail;
        for (int i = 0; i < nm; i++)
            if (json_object_set_new(meta, mk[i], json_string(mv[i])) != 0) goto fail;
    }
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        const st_wtensor *t = &ts[i];
        uint64_t numel = 0;
        shape_numel(t->shape, t->ndim, &numel); /* checked by check_wtensors */
        uint64_t end = off + numel * st_dtype_size(t->dtype);
        /* json_object_set_new takes (or on failure releases) the value, and fails
         * on a NULL value, so each node is attached the moment it is made */
        json_t *e = json_object();
        if (json_object_set_new(root, t->name, e) != 0) goto fail;
        if (json_object_set_new(e, "dtype", json_string(st_dtype_name(t->dtype))) != 0)
            goto fail;
        json_t *shape = json_array();
        if (json_object_set_new(e, "shape", shape) != 0) goto fail;
        for (int d = 0; d < t->ndim; d++)
            if (json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) != 0)
                goto fail;
        json_t *offs = json_array();
        if (json_object_set_new(e, "data_offsets", offs) != 0) goto fail;
        if (json_array_append_new(offs, json_integer((json_int_t)off)) != 0 ||
            json_array_append_new(offs, json_integer((json_int_t)end)) != 0)
            goto fail;
        off = end;
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}

int st_serialize(const st_wtensor *tensors, int n_tensors, const char *const *meta_keys,
                 const char *const *meta_vals, int n_meta, uint8_t **out, size_t *out_size,
                 ic_err *err) {
    if (!out || !out_size) return ic_errf(err, "st_serialize: no output given");
    *out = NULL;
    *out_size = 0;
    uint64_t total;
    if (check_wtensors(tensors, n_tensors, meta_keys, meta_vals, n_meta, &total, err) != 0) {
        one_line(err);
        return -1;
    }
    json_t *root = build_header(tensors, n_tensors, meta_keys, meta_vals, n_meta);
    if (!root) return ic_errf(err, "out of memory building the safetensors header");
    char *js = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!js) return ic_errf(err, "out of memory serialising the safetensors header");
    size_t hlen = strlen(js);
    size_t padded = (hlen + 7) & ~(size_t)7;
    if (padded > ST_MAX_HEADER) {
        free(js);
        return ic_errf(err, "header would be %zu bytes, over the 100 MB limit", padded);
    }
    if (total > SIZE_MAX - 8 - padded) {
        free(js);
        return ic_errf(err, "file of %llu data bytes does not fit in memory",
                       (unsigned long long)total);
    }
    size_t size = 8 + padded + (size_t)total;
    uint8_t *buf = malloc(size);
    if (!buf) {
        free(js);
        return ic_errf(err, "out of memory for a %zu-byte file", size);
    }
    store_le64(buf, padded);
    memcpy(buf + 8, js, hlen);
    memset(buf + 8 + hlen, ' ', padded - hlen);
    free(js);
    uint8_t *p = buf + 8 + padded;
    for (int i = 0; i < n_tensors; i++) {
        uint64_t numel = 0;
        shape_numel(tensors[i].shape, tensors[i].ndim, &numel);
        size_t bytes = (size_t)(numel * st_dtype_size(tensors[i].dtype));
        if (bytes) memcpy(p, tensors[i].data, bytes);
        p += bytes;
    }
    *out = buf;
    *out_size = size;
    return 0;
}

int st_write_file(const char *path, const st_wtensor *tensors, int n_tensors,
                  const char *const *meta_keys, const char *const *meta_vals, int n_meta,
                  ic_err *err) {
    if (!path || !path[0]) return ic_errf(err, "st_write_file: no path given");
    uint8_t *buf = NULL;
    size_t size = 0;
    if (st_serialize(tensors, n_tensors, meta_keys, meta_vals, n_meta, &buf, &size, err) != 0) {
        ic_err_prefix(err, "%s", path);
        one_line(err);
        return -1;
    }
    /* temp file in the same directory, fsync, rename (fsutil.c) */
    int rc = ic_write_file_atomic(path, buf, size, err);
    free(buf);
    if (rc) one_line(err);
    return rc;
}
