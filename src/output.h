/* output.h: the one output layer of result files (eval, surgery, probe,
 * loops, compare; plot.c builds its SVG text with the same string builder).
 *
 *   ic_sbuf     a growing string (printf-style appends; an allocation failure
 *               is remembered and reported once, when the text is written)
 *   ic_out_*    DIR/NAME written atomically (fsutil.h: temporary file, fsync,
 *               rename), JSON always as JSON_INDENT(1) | JSON_PRESERVE_ORDER
 *   ic_table    one column list that writes both the CSV (header + a line per
 *               row) and the JSON rows (an object per row with the columns
 *               that have a JSON key); numbers through numout.h (NaN/Inf:
 *               empty CSV field, JSON null)
 *   ic_meta     the metadata block of a result file: model, schedule, loops,
 *               task, task spec, d, n, prompts, seed, iclab version, emitted
 *               as the keys a file lists, in its order
 *   matrices    a labelled square/rectangular CSV and a JSON array of rows
 *   (eval.c's ic_curves_write writes error curves through a table)
 *
 * Library conventions: 0 / -1 with ic_err, no printing. */
#ifndef ICLAB_OUTPUT_H
#define ICLAB_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"
#include "tasks.h"

/* Progress of a long analysis: `stage` names the work ("ablation",
 * "prompts", ...), done of total units are finished. The CLI draws it
 * (cli/progress.c); the library only calls it. */
typedef void (*ic_progress_fn)(void *ctx, const char *stage, int done, int total);

/* ---------------- string builder ---------------- */

typedef struct {
    char *p;    /* NUL-terminated once anything was appended; NULL while empty */
    size_t n;   /* length without the NUL */
    size_t cap;
    int oom;    /* an append failed: the text is incomplete */
} ic_sbuf;

void ic_sb_put(ic_sbuf *b, const char *s, size_t n);
void ic_sb_puts(ic_sbuf *b, const char *s);
void ic_sb_printf(ic_sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Makes room for add more bytes (and the NUL); sets oom on failure. */
void ic_sb_reserve(ic_sbuf *b, size_t add);
void ic_sb_free(ic_sbuf *b);

/* ---------------- atomic result files ---------------- */

/* DIR/NAME := text[0..len). */
int ic_out_text(const char *dir, const char *name, const char *text, size_t len, ic_err *err);
/* DIR/NAME := the builder's text; "out of memory writing NAME" if it is incomplete. */
int ic_out_sbuf(const char *dir, const char *name, const ic_sbuf *b, ic_err *err);
/* DIR/NAME := j as indented JSON (keys in insertion order); j == NULL (a
 * failed json_pack or allocation upstream) is "out of memory writing NAME". */
int ic_out_json(const char *dir, const char *name, const json_t *j, ic_err *err);

/* ---------------- tables: CSV and JSON from one column list ---------------- */

typedef enum {
    IC_COL_INT,    /* an integer */
    IC_COL_NUM,    /* a double: "%.6g" in the CSV, a JSON real; non-finite: empty / null */
    IC_COL_TEXT,   /* a string as is (labels without commas) */
    IC_COL_QUOTED  /* a string in double quotes in the CSV (a '"' inside is doubled, RFC 4180) */
} ic_col_kind;

#define IC_COL_NAME 64

typedef struct {
    char csv[IC_COL_NAME]; /* CSV header */
    const char *json;      /* key in the JSON row object; NULL: CSV only */
    ic_col_kind kind;
} ic_col;

/* One value of a row: i for INT, x for NUM, s for TEXT/QUOTED. absent: an
 * empty CSV field and no JSON key (a cell that does not exist, e.g. the
 * heatmap row of a 1-d sweep). */
typedef struct {
    long long i;
    double x;
    const char *s;
    int absent;
} ic_cell;

static inline ic_cell ic_cell_int(long long v) { return (ic_cell){.i = v}; }
static inline ic_cell ic_cell_num(double v) { return (ic_cell){.x = v}; }
static inline ic_cell ic_cell_str(const char *s) { return (ic_cell){.s = s}; }
static inline ic_cell ic_cell_none(void) { return (ic_cell){.absent = 1}; }

typedef struct {
    int ncols, cap;
    ic_col *cols;
    ic_sbuf csv;    /* header written by the first row (or ic_table_csv) */
    int header;
    json_t *rows;   /* JSON array of row objects; NULL while no column has a JSON key */
    int oom;
} ic_table;

/* Appends a column; the CSV name is printf-formatted. */
void ic_table_col(ic_table *t, ic_col_kind kind, const char *json_key, const char *csv_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* Appends a row of t->ncols cells. Returns the row's JSON object (owned by
 * the table: add fields to it that are not columns, e.g. a whole curve), or
 * NULL when no column has a JSON key or memory ran out. */
json_t *ic_table_row(ic_table *t, const ic_cell *cells);
/* The JSON rows as a new reference (an empty array if there are none). */
json_t *ic_table_json(ic_table *t);
/* DIR/NAME := the CSV (just the header when there are no rows). */
int ic_table_write_csv(ic_table *t, const char *dir, const char *name, ic_err *err);
void ic_table_free(ic_table *t);

/* One CSV field: s as is, or in double quotes (a '"' inside doubled) when it
 * holds a comma, quote or line break (RFC 4180). */
void ic_csv_field(ic_sbuf *b, const char *s);

/* ---------------- matrices ---------------- */

/* CSV of a labelled matrix: "corner,<col labels>" then "<row label>,<values>". */
void ic_csv_matrix(ic_sbuf *b, const char *corner, const char *const *row_labels, const char *const *col_labels,
                   const double *v, int rows, int cols);
/* JSON array of rows (each through ic_json_nums). */
json_t *ic_json_matrix(const double *v, int rows, int cols);
/* JSON array of strings. */
json_t *ic_json_strings(const char *const *s, int n);

/* ---------------- the metadata block ---------------- */

typedef struct {
    const char *model;          /* checkpoint path */
    const ic_schedule *sched;   /* the schedule run (its text) */
    int loops;
    const ic_task_spec *task;   /* "task" (its name) and "task_spec" */
    int d, n, prompts;
    uint64_t seed;
} ic_meta;

/* Sets on obj, in the order given, the keys of the comma-separated list:
 * model, schedule, loops, task, task_spec, n_dims, n_points, prompts, seed,
 * iclab_version. An unknown key or a missing value (NULL model/sched/task)
 * is an error. */
int ic_meta_put(json_t *obj, const ic_meta *m, const char *keys, ic_err *err);

#endif
