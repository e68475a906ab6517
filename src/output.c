/* output.c: result files (output.h). */
#include "output.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capi.h"
#include "config.h"
#include "fsutil.h"
#include "numout.h"
#include "schedule.h"

/* ---------------- string builder ---------------- */

void ic_sb_reserve(ic_sbuf *b, size_t add) {
    if (b->oom) return;
    if (b->n + add + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + add + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) {
        b->oom = 1;
        return;
    }
    b->p = q;
    b->cap = cap;
}

void ic_sb_put(ic_sbuf *b, const char *s, size_t n) {
    ic_sb_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void ic_sb_puts(ic_sbuf *b, const char *s) { ic_sb_put(b, s, strlen(s)); }

void ic_sb_printf(ic_sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)k < sizeof tmp) {
        ic_sb_put(b, tmp, (size_t)k);
        return;
    }
    ic_sb_reserve(b, (size_t)k);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void ic_sb_free(ic_sbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---------------- atomic result files ---------------- */

int ic_out_text(const char *dir, const char *name, const char *text, size_t len, ic_err *err) {
    char path[4096];
    if (ic_path_join(path, sizeof path, dir, name, err)) return -1;
    return ic_write_file_atomic(path, text ? text : "", len, err);
}

int ic_out_sbuf(const char *dir, const char *name, const ic_sbuf *b, ic_err *err) {
    if (b->oom) return ic_errf(err, "out of memory writing %s", name);
    return ic_out_text(dir, name, b->p, b->n, err);
}

int ic_out_json(const char *dir, const char *name, const json_t *j, ic_err *err) {
    char *s = j ? json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    if (!s) return ic_errf(err, "out of memory writing %s", name);
    int rc = ic_out_text(dir, name, s, strlen(s), err);
    free(s);
    return rc;
}

/* ---------------- tables ---------------- */

void ic_table_col(ic_table *t, ic_col_kind kind, const char *json_key, const char *csv_fmt, ...) {
    if (t->oom) return;
    if (t->ncols == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        ic_col *c = realloc(t->cols, sizeof *c * (size_t)cap);
        if (!c) {
            t->oom = 1;
            return;
        }
        t->cols = c;
        t->cap = cap;
    }
    ic_col *c = &t->cols[t->ncols++];
    va_list ap;
    va_start(ap, csv_fmt);
    vsnprintf(c->csv, sizeof c->csv, csv_fmt, ap);
    va_end(ap);
    c->json = json_key;
    c->kind = kind;
}

static void csv_quoted(ic_sbuf *b, const char *s) {
    ic_sb_put(b, "\"", 1);
    for (const char *q = s; *q; q++) {
        if (*q == '"') ic_sb_put(b, "\"\"", 2);
        else ic_sb_put(b, q, 1);
    }
    ic_sb_put(b, "\"", 1);
}

void ic_csv_field(ic_sbuf *b, const char *s) {
    if (strpbrk(s, ",\"\n\r")) csv_quoted(b, s);
    else ic_sb_puts(b, s);
}

static void table_header(ic_table *t) {
    if (t->header) return;
    t->header = 1;
    for (int j = 0; j < t->ncols; j++) {
        if (j) ic_sb_put(&t->csv, ",", 1);
        ic_sb_puts(&t->csv, t->cols[j].csv);
    }
    ic_sb_put(&t->csv, "\n", 1);
}

json_t *ic_table_row(ic_table *t, const ic_cell *cells) {
    if (t->oom) return NULL;
    table_header(t);
    json_t *o = NULL;
    for (int j = 0; j < t->ncols; j++)
        if (t->cols[j].json) {
            o = json_object();
            if (!o) t->oom = 1;
            break;
        }
    for (int j = 0; j < t->ncols; j++) {
        const ic_col *c = &t->cols[j];
        const ic_cell *v = &cells[j];
        if (j) ic_sb_put(&t->csv, ",", 1);
        json_t *jv = NULL;
        if (v->absent) continue;
        switch (c->kind) {
        case IC_COL_INT:
            ic_sb_printf(&t->csv, "%lld", v->i);
            if (o && c->json) jv = json_integer(v->i);
            break;
        case IC_COL_NUM:
            ic_sb_puts(&t->csv, ic_csv_num(v->x, 6).s);
            if (o && c->json) jv = ic_json_num(v->x);
            break;
        case IC_COL_TEXT:
        case IC_COL_QUOTED:
            if (c->kind == IC_COL_TEXT) ic_sb_puts(&t->csv, v->s ? v->s : "");
            else csv_quoted(&t->csv, v->s ? v->s : "");
            if (o && c->json) jv = json_string(v->s ? v->s : "");
            break;
        }
        if (o && c->json && json_object_set_new(o, c->json, jv)) t->oom = 1;
    }
    ic_sb_put(&t->csv, "\n", 1);
    if (!o) return NULL;
    if (!t->rows && !(t->rows = json_array())) t->oom = 1;
    if (t->oom) {
        json_decref(o);
        return NULL;
    }
    if (json_array_append_new(t->rows, o)) { /* frees o */
        t->oom = 1;
        return NULL;
    }
    return o;
}

json_t *ic_table_json(ic_table *t) {
    if (t->oom) return NULL;
    if (!t->rows) t->rows = json_array();
    return json_incref(t->rows);
}

int ic_table_write_csv(ic_table *t, const char *dir, const char *name, ic_err *err) {
    table_header(t);
    if (t->oom || t->csv.oom) return ic_errf(err, "out of memory writing %s", name);
    return ic_out_sbuf(dir, name, &t->csv, err);
}

void ic_table_free(ic_table *t) {
    free(t->cols);
    ic_sb_free(&t->csv);
    json_decref(t->rows);
    memset(t, 0, sizeof *t);
}

/* ---------------- matrices ---------------- */

void ic_csv_matrix(ic_sbuf *b, const char *corner, const char *const *row_labels, const char *const *col_labels,
                   const double *v, int rows, int cols) {
    ic_sb_puts(b, corner);
    for (int k = 0; k < cols; k++) ic_sb_printf(b, ",%s", col_labels[k]);
    ic_sb_put(b, "\n", 1);
    for (int i = 0; i < rows; i++) {
        ic_sb_puts(b, row_labels[i]);
        for (int k = 0; k < cols; k++) ic_sb_printf(b, ",%s", ic_csv_num(v[(size_t)i * cols + k], 6).s);
        ic_sb_put(b, "\n", 1);
    }
}

json_t *ic_json_matrix(const double *v, int rows, int cols) {
    json_t *a = json_array();
    for (int i = 0; a && i < rows; i++)
        if (json_array_append_new(a, ic_json_nums(v + (size_t)i * cols, cols))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *ic_json_strings(const char *const *s, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(s[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ---------------- the metadata block ---------------- */

int ic_meta_put(json_t *obj, const ic_meta *m, const char *keys, ic_err *err) {
    const char *p = keys;
    while (*p) {
        size_t len = strcspn(p, ",");
        char key[32];
        if (len >= sizeof key) return ic_errf(err, "metadata: key '%.*s' is too long", (int)len, p);
        memcpy(key, p, len);
        key[len] = '\0';
        json_t *v = NULL;
        if (!strcmp(key, "model") && m->model) v = json_string(m->model);
        else if (!strcmp(key, "schedule") && m->sched) {
            char *buf = malloc(8 * IC_MAX_SCHEDULE + 16); /* a full body of groups: "(4095|" per step */
            if (!buf) return ic_errf(err, "out of memory");
            ic_schedule_format(m->sched, buf, 8 * IC_MAX_SCHEDULE + 16);
            v = json_string(buf);
            free(buf);
        } else if (!strcmp(key, "loops")) v = json_integer(m->loops);
        else if (!strcmp(key, "task") && m->task) v = json_string(ic_task_name(m->task->kind));
        else if (!strcmp(key, "task_spec") && m->task) v = ic_task_spec_json(m->task);
        else if (!strcmp(key, "n_dims")) v = json_integer(m->d);
        else if (!strcmp(key, "n_points")) v = json_integer(m->n);
        else if (!strcmp(key, "prompts")) v = json_integer(m->prompts);
        else if (!strcmp(key, "seed")) v = ic_json_u64(m->seed);
        else if (!strcmp(key, "iclab_version")) v = json_string(ICLAB_VERSION);
        else return ic_errf(err, "metadata: no value for key '%s'", key);
        if (!v || json_object_set_new(obj, key, v)) return ic_errf(err, "out of memory");
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}
