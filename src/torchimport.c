#include "torchimport.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <zip.h>

#include "checkpoint.h"
#include "fsutil.h"
#include "safetensors.h"

/* ---------------------------------------------------------------- zip ---- */

typedef struct {
    char *name;
    zip_uint64_t index, size;
} zentry;

typedef struct {
    zip_t *za;
    zentry *e;
    size_t n;
    char prefix[128]; /* "<name>/" */
} zarch;

static void zarch_close(zarch *z) {
    if (z->za) zip_discard(z->za);
    for (size_t i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    memset(z, 0, sizeof *z);
}

/* NULL if name is a safe relative path, else why not */
static const char *unsafe_name(const char *name) {
    if (!*name) return "an empty name";
    if (name[0] == '/') return "an absolute path";
    if (strchr(name, '\\')) return "a backslash";
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 32 || (unsigned char)*p == 127) return "a control character";
    const char *c = name;
    for (;;) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 0) return "an empty path component";
        if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) return "a '.' or '..' component (path traversal)";
        if (!e) break;
        c = e + 1;
    }
    return NULL;
}

static int cmp_zentry(const void *a, const void *b) { return strcmp(((const zentry *)a)->name, ((const zentry *)b)->name); }

static const zentry *zfind(const zarch *z, const char *name) {
    zentry key = {.name = (char *)name};
    return bsearch(&key, z->e, z->n, sizeof *z->e, cmp_zentry);
}

static int zarch_open(zarch *z, const uint8_t *buf, size_t n, uint64_t max_total, uint64_t max_entry, ic_err *err) {
    memset(z, 0, sizeof *z);
    if (n >= 2 && buf[0] == 0x80 && buf[1] <= 5)
        return ic_errf(err, "a legacy torch.save file (a bare pickle: PyTorch before 1.6 or _use_new_zipfile_serialization=False); "
                            "re-save it with a newer PyTorch");
    if (n < 4 || memcmp(buf, "PK\x03\x04", 4))
        return ic_errf(err, "not a PyTorch checkpoint (no zip signature at byte 0)");
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(buf, n, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return ic_errf(err, "out of memory");
    }
    z->za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z->za) {
        zip_source_free(src);
        int rc = ic_errf(err, "not a valid zip archive: %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    zip_error_fini(&ze);
    zip_int64_t ne = zip_get_num_entries(z->za, 0);
    if (ne <= 0) return ic_errf(err, "the zip archive has no entries");
    if (ne > IC_IMPORT_MAX_ENTRIES) return ic_errf(err, "the zip archive has %lld entries (limit %d)", (long long)ne, IC_IMPORT_MAX_ENTRIES);
    z->e = calloc((size_t)ne, sizeof *z->e);
    if (!z->e) return ic_errf(err, "out of memory");
    uint64_t total = 0;
    for (zip_int64_t i = 0; i < ne; i++) {
        zip_stat_t sb;
        zip_stat_init(&sb);
        if (zip_stat_index(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &sb) || !(sb.valid & ZIP_STAT_NAME) ||
            !(sb.valid & ZIP_STAT_SIZE) || !(sb.valid & ZIP_STAT_COMP_SIZE))
            return ic_errf(err, "zip entry %lld: unreadable header", (long long)i);
        const char *why = unsafe_name(sb.name);
        if (why) return ic_errf(err, "zip entry %lld '%.200s': refused name with %s", (long long)i, sb.name, why);
        if ((sb.valid & ZIP_STAT_ENCRYPTION_METHOD) && sb.encryption_method != ZIP_EM_NONE)
            return ic_errf(err, "zip entry '%.200s': encrypted (refused)", sb.name);
        if (sb.size > max_entry)
            return ic_errf(err, "zip entry '%.200s': declares %llu uncompressed bytes, over the per-entry limit of %llu (a zip bomb?)",
                           sb.name, (unsigned long long)sb.size, (unsigned long long)max_entry);
        if (sb.size > ((uint64_t)1 << 20) && sb.size / IC_IMPORT_MAX_RATIO > sb.comp_size)
            return ic_errf(err, "zip entry '%.200s': %llu bytes compressed into %llu, a ratio over %d:1 (a zip bomb?)",
                           sb.name, (unsigned long long)sb.size, (unsigned long long)sb.comp_size, IC_IMPORT_MAX_RATIO);
        total += sb.size;
        if (total > max_total)
            return ic_errf(err, "zip entries declare more than %llu uncompressed bytes in all (limit; a zip bomb?), at entry '%.200s'",
                           (unsigned long long)max_total, sb.name);
        if (!(z->e[i].name = strdup(sb.name))) return ic_errf(err, "out of memory");
        z->e[i].index = (zip_uint64_t)i;
        z->e[i].size = sb.size;
        z->n = (size_t)i + 1;
    }
    qsort(z->e, z->n, sizeof *z->e, cmp_zentry);
    for (size_t i = 1; i < z->n; i++)
        if (!strcmp(z->e[i].name, z->e[i - 1].name)) return ic_errf(err, "zip entry '%.200s' appears twice (refused)", z->e[i].name);
    /* the prefix: the directory of the one <name>/data.pkl */
    const char *pkl = NULL;
    for (size_t i = 0; i < z->n; i++) {
        const char *s = strchr(z->e[i].name, '/');
        if (s && !strcmp(s, "/data.pkl")) {
            if (pkl) return ic_errf(err, "two data.pkl entries ('%.100s', '%.100s')", pkl, z->e[i].name);
            pkl = z->e[i].name;
        }
    }
    if (!pkl) return ic_errf(err, "no '<name>/data.pkl' entry: not a torch.save archive");
    size_t plen = (size_t)(strchr(pkl, '/') - pkl) + 1;
    if (plen >= sizeof z->prefix) return ic_errf(err, "archive name '%.100s' is too long", pkl);
    memcpy(z->prefix, pkl, plen);
    z->prefix[plen] = 0;
    for (size_t i = 0; i < z->n; i++)
        if (strncmp(z->e[i].name, z->prefix, plen))
            return ic_errf(err, "zip entry '%.200s' is outside the archive's '%s' directory (refused)", z->e[i].name, z->prefix);
    return 0;
}

/* Reads entry e whole; its CRC is checked by libzip at the end. */
static int zread(zarch *z, const zentry *e, uint8_t **out, ic_err *err) {
    *out = NULL;
    uint8_t *b = malloc(e->size ? (size_t)e->size : 1);
    if (!b) return ic_errf(err, "zip entry '%s': out of memory for %llu bytes", e->name, (unsigned long long)e->size);
    zip_file_t *f = zip_fopen_index(z->za, e->index, 0);
    if (!f) {
        free(b);
        return ic_errf(err, "zip entry '%s': cannot open: %s", e->name, zip_strerror(z->za));
    }
    uint64_t got = 0;
    while (got < e->size) {
        zip_int64_t r = zip_fread(f, b + got, e->size - got);
        if (r < 0) {
            ic_errf(err, "zip entry '%s': read failed at byte %llu: %s", e->name, (unsigned long long)got, zip_file_strerror(f));
            goto fail;
        }
        if (r == 0) break;
        got += (uint64_t)r;
    }
    uint8_t extra;
    zip_int64_t r = got == e->size ? zip_fread(f, &extra, 1) : 0;
    if (got != e->size || r != 0) {
        if (r < 0) ic_errf(err, "zip entry '%s': %s", e->name, zip_file_strerror(f));
        else ic_errf(err, "zip entry '%s': holds %s bytes than its header's %llu", e->name, got < e->size ? "fewer" : "more",
                     (unsigned long long)e->size);
        goto fail;
    }
    zip_fclose(f);
    *out = b;
    return 0;
fail:
    zip_fclose(f);
    free(b);
    return -1;
}

/* ------------------------------------------------------------ tensors ---- */

static float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023, bits;
    if (exp == 0) {
        if (!man) bits = sign;
        else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 1024)) { man <<= 1; exp--; }
            bits = sign | exp << 23 | (man & 1023) << 13;
        }
    } else if (exp == 31) bits = sign | 0xff << 23 | man << 13;
    else bits = sign | (exp + 127 - 15) << 23 | man << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float elem_f32(const uint8_t *p, tp_dtype t) {
    float f;
    uint32_t u;
    double d;
    switch (t) {
    case TP_F32: memcpy(&f, p, 4); return f;
    case TP_F16: return half_to_f32((uint16_t)(p[0] | p[1] << 8));
    case TP_BF16: u = (uint32_t)(p[0] | p[1] << 8) << 16; memcpy(&f, &u, 4); return f;
    case TP_F64: memcpy(&d, p, 8); return (float)d; /* out of range -> inf, refused by the loader */
    default: return 0;
    }
}

#define NANO_PREFIX "_backbone.transformer." /* Yang et al.'s nanoGPT backbone */

static int is_dropped(const char *name) {
    char buf[160];
    if (!strncmp(name, NANO_PREFIX, strlen(NANO_PREFIX))) { /* judged by its GPT-2 name */
        snprintf(buf, sizeof buf, "_backbone.%s", name + strlen(NANO_PREFIX));
        name = buf;
    }
    if (!strcmp(name, "_backbone.wte.weight")) return 1;
    const char *s = strstr(name, ".attn.");
    if (strncmp(name, "_backbone.h.", 12) || !s) return 0;
    return !strcmp(s, ".attn.bias") || !strcmp(s, ".attn.masked_bias");
}

void ic_torch_state_free(ic_torch_state *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].name);
        free(s->t[i].data);
    }
    free(s->t);
    memset(s, 0, sizeof *s);
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ic_torch_read(const uint8_t *buf, size_t n, const ic_import_limits *lim, ic_torch_state *out, ic_err *err) {
    memset(out, 0, sizeof *out);
    uint64_t max_total = lim && lim->max_total ? lim->max_total : IC_IMPORT_MAX_TOTAL;
    uint64_t max_entry = lim && lim->max_entry ? lim->max_entry : IC_IMPORT_MAX_ENTRY;
    zarch z;
    tp_pickle p = {0};
    uint8_t *pkl = NULL, **sdata = NULL;
    const zentry **sent = NULL; /* the archive entry of each storage */
    const char **names = NULL;
    int rc = -1;
    if (zarch_open(&z, buf, n, max_total, max_entry, err)) goto done;
    char nm[256];
    snprintf(nm, sizeof nm, "%sdata.pkl", z.prefix);
    const zentry *pe = zfind(&z, nm);
    if (zread(&z, pe, &pkl, err)) goto done;
    if (tp_load(pkl, (size_t)pe->size, &p, err)) goto done;
    /* every storage the pickle names, whether or not we use it, must be an
     * entry of exactly numel x element size bytes */
    sent = calloc(p.n_storages + 1, sizeof *sent);
    sdata = calloc(p.n_storages + 1, sizeof *sdata);
    if (!sent || !sdata) {
        ic_errf(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < p.n_storages; i++) {
        const tp_value *s = p.storages[i];
        snprintf(nm, sizeof nm, "%sdata/%s", z.prefix, s->s);
        const zentry *e = zfind(&z, nm);
        uint64_t want = (uint64_t)s->i * tp_dtype_size(s->dtype);
        if (!e) {
            ic_errf(err, "data.pkl byte %zu: storage '%s' has no zip entry '%s'", s->pos, s->s, nm);
            goto done;
        }
        if (e->size != want) {
            ic_errf(err, "zip entry '%s' has %llu bytes, but data.pkl byte %zu declares storage '%s' as %s x %lld = %llu bytes",
                    nm, (unsigned long long)e->size, s->pos, s->s, tp_dtype_name(s->dtype), (long long)s->i,
                    (unsigned long long)want);
            goto done;
        }
        sent[i] = e;
    }
    /* the layout */
    const tp_value *root = p.root, *sd = root;
    snprintf(out->layout, sizeof out->layout, "state_dict");
    if (!root || root->kind != TP_DICT) {
        ic_errf(err, "data.pkl holds no dict at the top (not a state_dict or training state)");
        goto done;
    }
    const tp_value *v;
    if ((v = tp_dict_get(root, "model_state_dict"))) {
        sd = v;
        snprintf(out->layout, sizeof out->layout, "garg_training_state");
        const tp_value *ts = tp_dict_get(root, "train_step");
        if (ts && ts->kind == TP_INT) {
            out->train_step = ts->i;
            out->has_train_step = 1;
        }
    } else if ((v = tp_dict_get(root, "state_dict"))) {
        sd = v;
        snprintf(out->layout, sizeof out->layout, "dict_with_state_dict");
    } else if ((v = tp_dict_get(root, "model")) && v->kind == TP_DICT) {
        sd = v;
        snprintf(out->layout, sizeof out->layout, "dict_with_model");
    }
    if (sd->kind != TP_DICT) {
        ic_errf(err, "data.pkl byte %zu: the %s entry is not a dict of tensors", sd->pos, out->layout);
        goto done;
    }
    size_t np = sd->n / 2;
    out->t = calloc(np + 1, sizeof *out->t);
    names = calloc(np + 1, sizeof *names);
    if (!out->t || !names) {
        ic_errf(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < np; i++) {
        const tp_value *k = sd->items[2 * i], *t = sd->items[2 * i + 1];
        if (k->kind != TP_STR) {
            ic_errf(err, "data.pkl byte %zu: a state_dict key is not a string", k->pos);
            goto done;
        }
        names[i] = k->s;
        if (t->kind != TP_TENSOR) {
            ic_errf(err, "data.pkl byte %zu: state_dict entry '%.100s' is not a tensor", t->pos, k->s);
            goto done;
        }
    }
    qsort(names, np, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < np; i++)
        if (!strcmp(names[i], names[i - 1])) {
            ic_errf(err, "data.pkl: state_dict key '%.100s' appears twice", names[i]);
            goto done;
        }
    for (size_t i = 0; i < np; i++) {
        const tp_value *k = sd->items[2 * i], *t = sd->items[2 * i + 1];
        if (is_dropped(k->s)) {
            if (!out->n_dropped++) snprintf(out->first_dropped, sizeof out->first_dropped, "%.95s", k->s);
            continue;
        }
        if (t->dtype != TP_F32 && t->dtype != TP_F16 && t->dtype != TP_BF16 && t->dtype != TP_F64) {
            ic_errf(err, "data.pkl byte %zu: tensor '%.100s' is stored as %s (only Float, Half, BFloat16 and Double storages hold parameters)",
                    t->pos, k->s, tp_dtype_name(t->dtype));
            goto done;
        }
        size_t si = 0;
        while (si < p.n_storages && p.storages[si] != t->storage) si++;
        if (si == p.n_storages) { /* cannot happen: tensors only come from persistent storages */
            ic_errf(err, "data.pkl byte %zu: tensor '%.100s' has no storage", t->pos, k->s);
            goto done;
        }
        if (!sdata[si] && zread(&z, sent[si], &sdata[si], err)) { /* shared storages are read once */
            goto done;
        }
        ic_torch_tensor *o = &out->t[out->n];
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) numel *= (uint64_t)t->shape[d]; /* <= 2^40: checked by the unpickler */
        if (numel * sizeof(float) > max_entry) {
            ic_errf(err, "tensor '%.100s': %llu elements is over the size limit", k->s, (unsigned long long)numel);
            goto done;
        }
        o->name = strdup(k->s);
        o->data = malloc(numel ? (size_t)numel * sizeof(float) : 1);
        if (!o->name || !o->data) {
            free(o->name);
            free(o->data);
            ic_errf(err, "out of memory");
            goto done;
        }
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        o->src = t->dtype;
        out->dtypes |= 1u << t->dtype;
        out->n++;
        /* materialise with the strides: the unpickler checked every index is inside the storage */
        size_t es = tp_dtype_size(t->dtype);
        int64_t idx[TP_MAX_DIMS] = {0};
        uint64_t at = (uint64_t)t->i;
        for (uint64_t j = 0; j < numel; j++) {
            o->data[j] = elem_f32(sdata[si] + at * es, t->dtype);
            for (int d = t->ndim - 1; d >= 0; d--) {
                if (++idx[d] < t->shape[d]) {
                    at += (uint64_t)t->stride[d];
                    break;
                }
                at -= (uint64_t)t->stride[d] * (uint64_t)(t->shape[d] - 1);
                idx[d] = 0;
            }
        }
    }
    rc = 0;
done:
    if (sdata)
        for (size_t i = 0; i < p.n_storages; i++) free(sdata[i]);
    free(sdata);
    free(sent);
    free(names);
    free(pkl);
    tp_free(&p);
    zarch_close(&z);
    if (rc) ic_torch_state_free(out);
    return rc;
}

/* --------------------------------------------------------------- yaml ---- */

static yaml_node_t *ymap_get(yaml_document_t *doc, yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(doc, pr->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
            !memcmp(k->data.scalar.value, key, k->data.scalar.length))
            return yaml_document_get_node(doc, pr->value);
    }
    return NULL;
}

static int yint(yaml_document_t *doc, yaml_node_t *map, const char *sect, const char *key, long long max, long long *out,
                ic_err *err) {
    yaml_node_t *n = ymap_get(doc, map, key);
    if (!n) return 0;
    const char *s = n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
    if (s && (!strcmp(s, "null") || !strcmp(s, "~") || !*s)) return 0;
    char *end;
    errno = 0;
    long long x = s ? strtoll(s, &end, 10) : 0;
    if (!s || end == s || *end || errno || x < 0 || x > max)
        return ic_errf(err, "%s.%s is not an integer in 0..%lld", sect, key, max);
    *out = x;
    return 0;
}

static int ystr(yaml_document_t *doc, yaml_node_t *map, const char *sect, const char *key, char *out, size_t len, ic_err *err) {
    yaml_node_t *n = ymap_get(doc, map, key);
    if (!n) return 0;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.length >= len)
        return ic_errf(err, "%s.%s is not a string of at most %zu characters", sect, key, len - 1);
    memcpy(out, n->data.scalar.value, n->data.scalar.length);
    out[n->data.scalar.length] = 0;
    return 0;
}

int ic_garg_yaml_read(const char *path, ic_garg_yaml *y, ic_err *err) {
    memset(y, 0, sizeof *y);
    char *text = NULL;
    size_t len = 0;
    if (ic_read_file(path, &text, &len, 1u << 20, err)) return -1;
    yaml_parser_t ps;
    yaml_document_t doc;
    int rc = -1, have_doc = 0;
    if (!yaml_parser_initialize(&ps)) {
        free(text);
        return ic_errf(err, "%s: out of memory", path);
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
    if (!yaml_parser_load(&ps, &doc)) {
        ic_errf(err, "%s: YAML error at line %zu: %s", path, ps.problem_mark.line + 1, ps.problem ? ps.problem : "?");
        goto done;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        ic_errf(err, "%s: not a YAML mapping at the top", path);
        goto done;
    }
    yaml_node_t *model = ymap_get(&doc, root, "model"), *tr = ymap_get(&doc, root, "training");
    yaml_node_t *cur = ymap_get(&doc, tr, "curriculum");
    long long v[10] = {0};
    if (yint(&doc, model, "model", "n_head", 4096, &v[0], err) || yint(&doc, model, "model", "n_embd", 65536, &v[1], err) ||
        yint(&doc, model, "model", "n_layer", 4096, &v[2], err) || yint(&doc, model, "model", "n_dims", 100000, &v[3], err) ||
        yint(&doc, model, "model", "n_positions", 100000, &v[4], err) ||
        yint(&doc, ymap_get(&doc, cur, "points"), "training.curriculum.points", "end", 100000, &v[5], err) ||
        yint(&doc, ymap_get(&doc, cur, "dims"), "training.curriculum.dims", "end", 100000, &v[6], err) ||
        yint(&doc, ymap_get(&doc, cur, "loops"), "training.curriculum.loops", "end", 100000, &v[7], err) ||
        yint(&doc, tr, "training", "n_loop_window", 100000, &v[8], err) ||
        yint(&doc, tr, "training", "train_steps", (long long)1 << 50, &y->train_steps, err) ||
        ystr(&doc, model, "model", "family", y->family, sizeof y->family, err) ||
        ystr(&doc, model, "model", "loop_func", y->loop_func, sizeof y->loop_func, err) ||
        ystr(&doc, tr, "training", "task", y->task, sizeof y->task, err) ||
        (!y->task[0] && ystr(&doc, tr, "training", "task_name", y->task, sizeof y->task, err))) {
        ic_err_prefix(err, "%s", path);
        goto done;
    }
    y->n_head = (int)v[0]; y->n_embd = (int)v[1]; y->n_layer = (int)v[2]; y->n_dims = (int)v[3];
    y->n_positions = (int)v[4]; y->points_end = (int)v[5]; y->dims_end = (int)v[6];
    y->loops_end = (int)v[7]; y->n_loop_window = (int)v[8];
    rc = 0;
done:
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&ps);
    free(text);
    return rc;
}

/* ------------------------------------------------------------- import ---- */

static void dtypes_text(unsigned mask, char *buf, size_t len) {
    static const char *const NM[TP_NDTYPES] = {[TP_F32] = "F32", [TP_F16] = "F16", [TP_BF16] = "BF16", [TP_F64] = "F64"};
    buf[0] = 0;
    for (int t = 0; t < TP_NDTYPES; t++)
        if ((mask >> t & 1) && NM[t]) {
            size_t u = strlen(buf);
            snprintf(buf + u, len - u, "%s%s", u ? "," : "", NM[t]);
        }
}

static int check_yaml_agrees(const ic_garg_yaml *y, const ic_config *c, const char *path, ic_err *err) {
#define AGREE(field)                                                                                               \
    if (y->field && y->field != c->field)                                                                          \
        return ic_errf(err, "%s says model.%s %d but the checkpoint's tensors have %d", path, #field, y->field, c->field);
    AGREE(n_embd) AGREE(n_layer) AGREE(n_dims) AGREE(n_positions)
#undef AGREE
    return 0;
}

/* Yang et al.'s nanoGPT names and layouts to Garg et al.'s (checkpoint.h):
 * "_backbone.transformer.X" -> "_backbone.X"; each block's nn.Linear
 * weights [out,in] (the per-block matrices of IC_PARAM_TABLE, which GPT-2
 * keeps as Conv1D) -> Conv1D [in,out]; wpe's 2*n_positions+1 rows -> the
 * first 2*n_positions (their extra row is past the longest prompt). */
static int nano_to_garg(ic_torch_state *ts, ic_err *err) {
    const size_t pl = strlen(NANO_PREFIX);
    for (int i = 0; i < ts->n; i++) {
        ic_torch_tensor *t = &ts->t[i];
        if (strncmp(t->name, NANO_PREFIX, pl)) continue;
        char *nm = malloc(strlen(t->name) + 1);
        if (!nm) return ic_errf(err, "out of memory");
        snprintf(nm, strlen(t->name) + 1, "_backbone.%s", t->name + pl);
        free(t->name);
        t->name = nm;
        int b, used = 0;
        if (!strcmp(nm, "_backbone.wpe.weight")) {
            if (t->ndim != 2 || t->shape[0] < 3 || t->shape[0] % 2 == 0)
                return ic_errf(err, "'%s' is not a matrix of 2*n_positions+1 rows (an odd count >= 3), as Yang et al.'s "
                                    "nanoGPT block_size gives", NANO_PREFIX "wpe.weight");
            t->shape[0]--; /* row-major: the last row is simply not written */
        } else if (sscanf(nm, "_backbone.h.%d.%n", &b, &used) == 1 && used > 0) {
            for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
                if (!ic_param_is_per_block(k) || ic_param_ndim(k) != 2 || strcmp(nm + used, ic_param_ckpt_name(k)))
                    continue;
                if (t->ndim != 2) return ic_errf(err, "'%s' is not a matrix (an nn.Linear weight)", nm);
                int64_t r = t->shape[0], c = t->shape[1];
                float *tr = malloc((r > 0 && c > 0) ? (size_t)(r * c) * sizeof(float) : 1);
                if (!tr) return ic_errf(err, "out of memory");
                for (int64_t a = 0; a < r; a++)
                    for (int64_t j = 0; j < c; j++) tr[j * r + a] = t->data[a * c + j];
                free(t->data);
                t->data = tr;
                t->shape[0] = c;
                t->shape[1] = r;
            }
        }
    }
    return 0;
}

int ic_torch_import(const char *pt_path, const char *out_path, const ic_import_opts *o, ic_import_report *rep,
                    ic_err *err) {
    memset(rep, 0, sizeof *rep);
    ic_garg_yaml y;
    memset(&y, 0, sizeof y);
    char cfg_path[512] = "";
    if (o->config_path) {
        snprintf(cfg_path, sizeof cfg_path, "%s", o->config_path);
    } else {
        const char *slash = strrchr(pt_path, '/');
        int dl = slash ? (int)(slash - pt_path) + 1 : 0;
        snprintf(cfg_path, sizeof cfg_path, "%.*sconfig.yaml", dl, pt_path);
        if (!ic_file_exists(cfg_path)) cfg_path[0] = 0;
    }
    if (cfg_path[0] && ic_garg_yaml_read(cfg_path, &y, err)) return -1;
    snprintf(rep->config_used, sizeof rep->config_used, "%s", cfg_path);
    const int loop_family = !strcmp(y.family, "gpt2_loop");
    if (y.family[0] && strcmp(y.family, "gpt2") && !loop_family)
        return ic_errf(err, "%s: model.family '%s' is neither gpt2 (Garg et al.) nor gpt2_loop (Yang et al.)%s", cfg_path,
                       y.family,
                       !strcmp(y.family, "gpt2_tying") ? "; gpt2_tying adds wpe on every pass without injecting the input, "
                                                         "which iclab's looped model does not do" : "");
    if (y.loop_func[0] && strcmp(y.loop_func, "z=f(x+z)"))
        return ic_errf(err, "%s: model.loop_func '%s' is not imported (only 'z=f(x+z)', iclab's input injection)", cfg_path,
                       y.loop_func);
    int n_head = o->n_head;
    if (n_head && y.n_head && n_head != y.n_head)
        return ic_errf(err, "--n_head %d disagrees with %s's model.n_head %d", n_head, cfg_path, y.n_head);
    if (!n_head) n_head = y.n_head;
    if (!n_head)
        return ic_errf(err, "the number of attention heads is not in the checkpoint: pass --n_head N or --config "
                            "config.yaml (Garg et al.'s run directory has one next to state.pt)");

    uint64_t max_total = o->limits.max_total ? o->limits.max_total : IC_IMPORT_MAX_TOTAL;
    char *buf = NULL;
    size_t n = 0;
    if (ic_read_file(pt_path, &buf, &n, max_total > SIZE_MAX ? SIZE_MAX : (size_t)max_total, err)) return -1;
    ic_torch_state ts;
    int rc = ic_torch_read((const uint8_t *)buf, n, &o->limits, &ts, err);
    free(buf);
    if (rc) return ic_err_prefix(err, "%s", pt_path);
    /* Yang et al.'s nanoGPT backbone: by its names; looped by the config's family
     * (without a config, --loops says which) */
    int nano = 0;
    for (int i = 0; i < ts.n && !nano; i++) nano = !strncmp(ts.t[i].name, NANO_PREFIX, strlen(NANO_PREFIX));
    int loops = o->loops ? o->loops : nano && loop_family ? y.loops_end : 1;
    const char *loops_from = o->loops ? "--loops" : nano && loop_family ? "training.curriculum.loops.end" : NULL;
    const char *why = NULL;
    if (loop_family && !nano) why = "says model.family gpt2_loop, but the tensors are not Yang et al.'s nanoGPT (no '" NANO_PREFIX "*')";
    else if (!nano && o->loops) why = "--loops is for Yang et al.'s looped models; this is a Garg et al. GPT-2 checkpoint";
    else if (nano && !o->loops && !y.family[0])
        why = "has Yang et al.'s nanoGPT tensors but no config.yaml says whether it is looped: pass --loops N (1 for their "
              "plain gpt2) or --config config.yaml";
    else if (nano && loop_family && !loops)
        why = "is Yang et al.'s looped model, but its config gives no training.curriculum.loops.end: pass --loops N "
              "(the loops it was trained with)";
    if (why) {
        ic_torch_state_free(&ts);
        return ic_errf(err, "%s %s", loop_family && !nano ? cfg_path : pt_path, why);
    }
    if (nano) {
        if (nano_to_garg(&ts, err)) {
            ic_torch_state_free(&ts);
            return ic_err_prefix(err, "%s", pt_path);
        }
        if (!strcmp(ts.layout, "garg_training_state")) snprintf(ts.layout, sizeof ts.layout, "yang_training_state");
    }

    st_wtensor *wt = calloc((size_t)ts.n + 1, sizeof *wt);
    uint8_t *ser = NULL;
    size_t ser_n = 0;
    st_file f;
    memset(&f, 0, sizeof f);
    ic_model m;
    memset(&m, 0, sizeof m);
    ic_schedule s;
    char *imp = NULL, *runj = NULL;
    ic_run_config *runc = NULL;
    rc = -1;
    if (!wt) {
        ic_errf(err, "out of memory");
        goto done;
    }
    for (int i = 0; i < ts.n; i++) {
        wt[i].name = ts.t[i].name;
        wt[i].dtype = ST_F32;
        wt[i].ndim = ts.t[i].ndim;
        memcpy(wt[i].shape, ts.t[i].shape, sizeof wt[i].shape);
        wt[i].data = ts.t[i].data;
    }
    if (st_serialize(wt, ts.n, NULL, NULL, 0, &ser, &ser_n, err) || st_parse(ser, ser_n, &f, err) ||
        ic_checkpoint_load_st(&f, &m, &s, n_head, NULL, 0, err)) {
        ic_err_prefix(err, "%s", pt_path);
        goto done;
    }
    if (cfg_path[0] && check_yaml_agrees(&y, &m.cfg, cfg_path, err)) goto done;
    if (nano) { /* Yang et al.: Y_{t+1} = ln_f(blocks(Y_t + read_in(z) + wpe)), loss on the last window */
        s.loops = loops;
        s.loss_loops = y.n_loop_window > 0 && y.n_loop_window < loops ? y.n_loop_window : loops;
        if (!loop_family && !y.n_loop_window) s.loss_loops = 1;
        s.grad_loops = 0;
        s.inject = 1;
        s.loop_lnf = 1;
        if (ic_schedule_validate(&s, m.cfg.n_layer, err)) {
            ic_err_prefix(err, "%s: the looped schedule", pt_path);
            goto done;
        }
    }
    rep->looped = nano;
    rep->loops = s.loops;
    rep->loss_loops = s.loss_loops;
    rep->cfg = m.cfg;
    snprintf(rep->layout, sizeof rep->layout, "%s", ts.layout);
    rep->train_step = ts.train_step;
    rep->has_train_step = ts.has_train_step;
    dtypes_text(ts.dtypes, rep->dtypes, sizeof rep->dtypes);
    if (ts.n_dropped)
        snprintf(rep->notice, sizeof rep->notice, "dropped %d unused GPT-2 tensor%s (e.g. '%s')", ts.n_dropped,
                 ts.n_dropped > 1 ? "s" : "", ts.first_dropped);
    /* the record of where the model came from */
    const char *base = strrchr(pt_path, '/');
    json_t *ij = json_pack("{s:s, s:s, s:s}", "source", base ? base + 1 : pt_path, "layout", ts.layout, "dtypes", rep->dtypes);
    if (ij && ts.has_train_step) json_object_set_new(ij, "train_step", json_integer(ts.train_step));
    if (ij && y.family[0]) json_object_set_new(ij, "family", json_string(y.family));
    if (ij && nano) {
        json_object_set_new(ij, "loops", json_integer(s.loops));
        json_object_set_new(ij, "loss_loops", json_integer(s.loss_loops));
        if (loops_from) json_object_set_new(ij, "loops_from", json_string(loops_from));
    }
    if (ij && cfg_path[0]) {
        json_object_set_new(ij, "config", json_string(cfg_path));
        if (y.train_steps) json_object_set_new(ij, "config_train_steps", json_integer(y.train_steps));
    }
    imp = ij ? json_dumps(ij, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(ij);
    if (!imp) {
        ic_errf(err, "out of memory");
        goto done;
    }
    const char *keys[2] = {"iclab_import", "iclab_run_config"};
    const char *vals[2] = {imp, NULL};
    int n_extra = 1;
    if (y.task[0]) {
        /* the run config: the task and the points per prompt it was trained with */
        if (!(runc = malloc(sizeof *runc))) {
            ic_errf(err, "out of memory");
            goto done;
        }
        ic_run_config_default(runc);
        runc->model = m.cfg;
        runc->loops = s.loops;
        runc->loss_loops = s.loss_loops;
        runc->grad_loops = s.grad_loops;
        runc->inject = s.inject;
        runc->loop_lnf = s.loop_lnf;
        char num[32];
        int np = y.points_end && y.points_end <= m.cfg.n_positions ? y.points_end : m.cfg.n_positions;
        snprintf(num, sizeof num, "%d", np);
        if (ic_run_config_set(runc, "task", y.task, err) || ic_run_config_set(runc, "n_points", num, err) ||
            ic_run_config_validate(runc, err)) {
            ic_err_prefix(err, "%s", cfg_path);
            goto done;
        }
        ic_task_spec spec;
        if (ic_run_config_task(runc, m.cfg.n_dims, &spec, NULL, err)) {
            ic_err_prefix(err, "%s: training.task '%s'", cfg_path, y.task);
            goto done;
        }
        snprintf(rep->task, sizeof rep->task, "%s", y.task);
        if (!(runj = ic_run_config_to_json(runc))) {
            ic_errf(err, "out of memory");
            goto done;
        }
        vals[1] = runj;
        n_extra = 2;
    }
    if (ic_checkpoint_save_as(out_path, &m, &s, o->dtype, keys, vals, n_extra, err)) goto done;
    /* validate what was written the way every command will read it */
    ic_model_free(&m);
    ic_schedule s2;
    if (ic_checkpoint_load(out_path, &m, &s2, 0, NULL, 0, err)) {
        ic_err_prefix(err, "the written file does not load back");
        goto done;
    }
    rc = 0;
done:
    ic_model_free(&m);
    st_free(&f);
    free(ser);
    free(wt);
    free(imp);
    free(runj);
    free(runc);
    ic_torch_state_free(&ts);
    return rc;
}
