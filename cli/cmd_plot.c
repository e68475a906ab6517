/* cmd_plot.c: `iclab plot` — line plots of columns of CSV files (metrics.csv,
 * eval and loops CSVs) on one set of axes, for comparing runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fsutil.h"
#include "plot.h"

static const cli_opt OPTS[] = {
    {"out", "FILE", NULL, "the SVG to write (required)"},
    {"series", "LIST", NULL, "';'-separated LABEL=FILE:XCOL:YCOL, e.g. 'plain=a/metrics.csv:step:loss;looped=b/metrics.csv:step:loss' (required)"},
    {"title", "TEXT", "", "plot title"},
    {"xlabel", "TEXT", "the first x column", "x axis label"},
    {"ylabel", "TEXT", "the first y column", "y axis label"},
    {"logy", NULL, NULL, "logarithmic y axis"},
    {"logx", NULL, NULL, "logarithmic x axis"},
};

#define MAX_SERIES 16

typedef struct {
    double *x, *y;
    int n;
} column_pair;

/* Fields of one line (cut at '\n', a trailing '\r' dropped), empty ones included. */
static int count_fields(const char *line) {
    int n = 1;
    for (const char *p = line; *p; p++) n += *p == ',';
    return n;
}

/* Reads two named columns of a CSV file with a header line. Non-numeric
 * cells become NaN (gaps); a row with another number of fields than the
 * header is an error naming the file and line (its columns would be read
 * from the wrong places). */
static int read_columns(const char *path, const char *xcol, const char *ycol, column_pair *out, ic_err *err) {
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    if (ic_read_file(path, &text, &len, (size_t)1 << 30, err)) return -1;
    int xi = -1, yi = -1, col = 0, rc = -1;
    char *line = text, *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    size_t ll = strlen(line);
    if (ll && line[ll - 1] == '\r') line[--ll] = 0;
    const int nfields = count_fields(line);
    for (char *p = line, *q; p; p = q ? q + 1 : NULL, col++) {
        q = strchr(p, ',');
        if (q) *q = 0;
        if (!strcmp(p, xcol) && xi < 0) xi = col;
        if (!strcmp(p, ycol) && yi < 0) yi = col;
    }
    if (xi < 0 || yi < 0) {
        ic_errf(err, "%s: no column '%s' in the header", path, xi < 0 ? xcol : ycol);
        goto done;
    }
    size_t cap = 1024;
    out->x = malloc(sizeof(double) * cap);
    out->y = malloc(sizeof(double) * cap);
    if (!out->x || !out->y) { ic_errf(err, "out of memory"); goto done; }
    long lineno = 1;
    for (line = nl ? nl + 1 : text + len; *line;) {
        lineno++;
        nl = strchr(line, '\n');
        if (nl) *nl = 0;
        ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        const int nf = count_fields(line);
        if (nf != nfields) {
            ic_errf(err, "%s:%ld: %d field%s, but the header has %d (a ragged or truncated row; fix or remove it)", path, lineno,
                    nf, nf == 1 ? "" : "s", nfields);
            goto done;
        }
        double xv = NAN, yv = NAN;
        col = 0;
        for (char *p = line, *q; p; p = q ? q + 1 : NULL, col++) {
            q = strchr(p, ',');
            char *end;
            double v = strtod(p, &end);
            if (end == p || (*end && *end != ',')) v = NAN;
            if (col == xi) xv = v;
            if (col == yi) yv = v;
        }
        if ((size_t)out->n == cap) {
            cap *= 2;
            double *a = realloc(out->x, sizeof(double) * cap), *b = a ? realloc(out->y, sizeof(double) * cap) : NULL;
            if (a) out->x = a;
            if (!a || !b) { ic_errf(err, "out of memory"); goto done; }
            out->y = b;
        }
        out->x[out->n] = xv;
        out->y[out->n] = yv;
        out->n++;
        if (!nl) break;
        line = nl + 1;
    }
    rc = 0;
done:
    free(text);
    return rc;
}

static int run(const cli_command *cmd, int argc, char **argv) {
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    ic_err err = {{0}};
    column_pair cols[MAX_SERIES];
    ic_series s[MAX_SERIES];
    char *spec = NULL;
    int ns = 0;
    memset(cols, 0, sizeof cols);
    if ((rc = cli_require(&a, "out")) || (rc = cli_require(&a, "series"))) goto done;
    rc = CLI_FAIL;
    spec = strdup(cli_get(&a, "series"));
    if (!spec) { cli_error(cmd, "out of memory"); goto done; }
    const char *first_x = NULL, *first_y = NULL;
    char *save = NULL;
    for (char *item = strtok_r(spec, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        if (ns == MAX_SERIES) { cli_error(cmd, "--series: at most %d series", MAX_SERIES); rc = CLI_USAGE; goto done; }
        char *eq = strchr(item, '='), *c2 = strrchr(item, ':');
        char *c1 = c2 && c2 > item ? c2 - 1 : NULL;
        while (c1 && c1 > item && *c1 != ':') c1--;
        if (!eq || !c1 || *c1 != ':' || c1 <= eq) {
            cli_error(cmd, "--series: '%s' is not LABEL=FILE:XCOL:YCOL", item);
            rc = CLI_USAGE;
            goto done;
        }
        *eq = *c1 = *c2 = 0;
        const char *label = item, *file = eq + 1, *xc = c1 + 1, *yc = c2 + 1;
        const cli_path in = {"series", file}, out = {"out", cli_get(&a, "out")};
        if (cli_check_overwrite(cmd, &in, 1, &out, 1, NULL, NULL)) goto done;
        if (read_columns(file, xc, yc, &cols[ns], &err)) { cli_error(cmd, "%s", err.msg); goto done; }
        if (!first_x) { first_x = xc; first_y = yc; }
        s[ns] = (ic_series){.label = label, .x = cols[ns].x, .y = cols[ns].y, .n = cols[ns].n, .dashed = ns >= 8};
        ns++;
    }
    ic_plot_opts o = {.title = cli_get(&a, "title") ? cli_get(&a, "title") : "",
                      .xlabel = cli_get(&a, "xlabel") ? cli_get(&a, "xlabel") : first_x,
                      .ylabel = cli_get(&a, "ylabel") ? cli_get(&a, "ylabel") : first_y,
                      .logy = cli_get(&a, "logy") != NULL, .logx = cli_get(&a, "logx") != NULL,
                      .ymin = NAN, .ymax = NAN};
    if (ic_plot_lines(cli_get(&a, "out"), &o, s, ns, &err)) { cli_error(cmd, "%s", err.msg); goto done; }
    printf("%s: %d series\n", cli_get(&a, "out"), ns);
    rc = CLI_OK;
done:
    for (int i = 0; i < MAX_SERIES; i++) { free(cols[i].x); free(cols[i].y); }
    free(spec);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_plot = {
    "plot",
    "plot columns of CSV files (metrics.csv, eval and loops CSVs) on one set of axes",
    "iclab plot --out FILE.svg --series 'LABEL=FILE:XCOL:YCOL;...' [--logy] [--title T]",
    "Compares runs: each series is a column of a CSV file with a header line against another\n"
    "column (non-numeric or empty cells are gaps; a row with another number of fields than\n"
    "the header is an error naming file:line). --out may not be one of the CSV files.\n"
    "Example: iclab plot --out loss.svg --logy --series 'plain=runs/a/metrics.csv:step:loss;looped=runs/b/metrics.csv:step:loss'",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
