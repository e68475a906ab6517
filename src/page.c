/* page.c: the HTML page of a result directory (page.h). Hand-written: the
 * page is a fixed skeleton filled from the commands' own files, and no
 * Debian library templates HTML with the escaping rules we need (text,
 * attributes, inlined SVG checked against an allow-list). */
#include "page.h"

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "output.h"

#define MAX_FILE ((size_t)64 << 20)
#define MAX_TABLE_ROWS 60

/* ---------------- escaping ---------------- */

/* HTML text and attribute values: & < > " ' escaped, control characters
 * other than tab and newline dropped. */
static void sb_escn(ic_sbuf *s, const char *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        switch (c) {
        case '&': ic_sb_puts(s, "&amp;"); break;
        case '<': ic_sb_puts(s, "&lt;"); break;
        case '>': ic_sb_puts(s, "&gt;"); break;
        case '"': ic_sb_puts(s, "&quot;"); break;
        case '\'': ic_sb_puts(s, "&#39;"); break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n') break;
            if (c == 0x7f) break;
            ic_sb_put(s, (const char *)&t[i], 1);
        }
    }
}
static void sb_esc(ic_sbuf *s, const char *t) { sb_escn(s, t ? t : "", t ? strlen(t) : 0); }

/* A link target for a file name from a directory listing or a sweep's run
 * dir: escaped, and made relative ("./") so that "a:b" is never a scheme. */
static void sb_href(ic_sbuf *s, const char *rel) {
    ic_sb_puts(s, "./");
    for (const char *c = rel; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (isalnum(u) || strchr("-_.~/", u)) ic_sb_put(s, c, 1);
        else ic_sb_printf(s, "%%%02X", u);
    }
}

/* ---------------- numbers ---------------- */

static void fmt_num(char *buf, size_t len, double v) {
    if (isnan(v)) snprintf(buf, len, "–");
    else if (isinf(v)) snprintf(buf, len, v > 0 ? "∞" : "−∞");
    else snprintf(buf, len, "%.4g", v);
}

static void sb_num(ic_sbuf *s, double v) {
    char b[64];
    fmt_num(b, sizeof b, v);
    ic_sb_puts(s, b);
}

static void sb_est(ic_sbuf *s, ic_page_est e) {
    sb_num(s, e.v);
    if (!isnan(e.lo) || !isnan(e.hi)) {
        ic_sb_puts(s, " [");
        sb_num(s, e.lo);
        ic_sb_puts(s, ", ");
        sb_num(s, e.hi);
        ic_sb_puts(s, "]");
    }
}

static double jnum(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

/* ---------------- files ---------------- */

static int path_in(char *buf, size_t len, const char *dir, const char *name) {
    return ic_path_join(buf, len, dir, name, NULL) == 0;
}

static int exists_in(const char *dir, const char *name) {
    char p[4096];
    return path_in(p, sizeof p, dir, name) && ic_file_exists(p);
}

static json_t *load_json(const char *dir, const char *name, ic_err *err) {
    char p[4096];
    if (ic_path_join(p, sizeof p, dir, name, err)) return NULL;
    json_error_t je;
    json_t *o = json_load_file(p, JSON_DECODE_ANY, &je);
    if (!o) ic_errf(err, "%s: line %d: %s", p, je.line, je.text);
    else if (!json_is_object(o)) { ic_errf(err, "%s: not a JSON object", p); json_decref(o); o = NULL; }
    return o;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct {
    char **name;
    int n;
} namelist;

static void names_free(namelist *l) {
    for (int i = 0; i < l->n; i++) free(l->name[i]);
    free(l->name);
    memset(l, 0, sizeof *l);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Regular files of dir ending in suffix (sorted; temporaries of atomic writes
 * and hidden files left out). want_dirs: directories instead. */
static int list_dir(const char *dir, const char *suffix, int want_dirs, namelist *out, ic_err *err) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return ic_errf(err, "%s: cannot read the directory", dir);
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || ic_is_temp_name(e->d_name) || !ends_with(e->d_name, suffix)) continue;
        char p[4096];
        struct stat st;
        if (!path_in(p, sizeof p, dir, e->d_name) || stat(p, &st) != 0) continue;
        if (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) continue;
        if (out->n == cap) {
            cap = cap ? 2 * cap : 32;
            char **q = realloc(out->name, (size_t)cap * sizeof *q);
            if (!q) { closedir(d); names_free(out); return ic_errf(err, "out of memory"); }
            out->name = q;
        }
        if (!(out->name[out->n] = strdup(e->d_name))) { closedir(d); names_free(out); return ic_errf(err, "out of memory"); }
        out->n++;
    }
    closedir(d);
    if (out->n) qsort(out->name, (size_t)out->n, sizeof *out->name, cmp_str);
    return 0;
}

/* ---------------- CSV ---------------- */

typedef struct {
    char ***row; /* row[r][c] */
    int *ncol;
    int nrow;
} csvdata;

static void csv_free(csvdata *c) {
    for (int r = 0; r < c->nrow; r++) {
        for (int j = 0; j < c->ncol[r]; j++) free(c->row[r][j]);
        free(c->row[r]);
    }
    free(c->row);
    free(c->ncol);
    memset(c, 0, sizeof *c);
}

/* RFC 4180: fields separated by commas, quoted fields with "" for a quote. */
static int csv_parse(const char *t, size_t len, csvdata *c) {
    memset(c, 0, sizeof *c);
    int rcap = 0, fcap = 0;
    char **fields = NULL;
    int nf = 0;
    ic_sbuf f = {0};
    size_t i = 0;
    int ok = 1;
    while (i <= len && ok) {
        /* one field */
        f.n = 0;
        ic_sb_put(&f, "", 0);
        if (i < len && t[i] == '"') {
            i++;
            while (i < len) {
                if (t[i] == '"') {
                    if (i + 1 < len && t[i + 1] == '"') { ic_sb_put(&f, "\"", 1); i += 2; continue; }
                    i++;
                    break;
                }
                ic_sb_put(&f, t + i, 1);
                i++;
            }
        }
        while (i < len && t[i] != ',' && t[i] != '\n' && t[i] != '\r') ic_sb_put(&f, t + i++, 1);
        if (f.oom) { ok = 0; break; }
        if (nf == fcap) {
            fcap = fcap ? 2 * fcap : 16;
            char **q = realloc(fields, (size_t)fcap * sizeof *q);
            if (!q) { ok = 0; break; }
            fields = q;
        }
        if (!(fields[nf++] = strdup(f.p ? f.p : ""))) { ok = 0; break; }
        if (i < len && t[i] == ',') { i++; continue; }
        /* end of a row */
        if (i < len && t[i] == '\r') i++;
        if (i < len && t[i] == '\n') i++;
        int blank = nf == 1 && fields[0][0] == 0;
        if (blank) free(fields[0]);
        else {
            if (c->nrow == rcap) {
                rcap = rcap ? 2 * rcap : 64;
                char ***q = realloc(c->row, (size_t)rcap * sizeof *q);
                int *qn = realloc(c->ncol, (size_t)rcap * sizeof *qn);
                if (q) c->row = q;
                if (qn) c->ncol = qn;
                if (!q || !qn) { for (int j = 0; j < nf; j++) free(fields[j]); ok = 0; break; }
            }
            c->row[c->nrow] = fields;
            c->ncol[c->nrow] = nf;
            c->nrow++;
            fields = NULL;
            fcap = 0;
        }
        nf = 0;
        if (i >= len) break;
    }
    if (!ok) {
        for (int j = 0; j < nf; j++) free(fields[j]);
    }
    free(fields);
    free(f.p);
    if (!ok) csv_free(c);
    return ok ? 0 : -1;
}

static int load_csv(const char *path, csvdata *c, ic_err *err) {
    char *t;
    size_t len;
    if (ic_read_file(path, &t, &len, MAX_FILE, err)) return -1;
    int rc = csv_parse(t, len, c);
    free(t);
    return rc ? ic_errf(err, "%s: out of memory", path) : 0;
}

static int is_numeric(const char *s) {
    if (!*s) return 0;
    char *end;
    strtod(s, &end);
    return *end == 0;
}

/* Column of name in the header, or -1. */
static int csv_col(const csvdata *c, const char *name) {
    if (c->nrow == 0) return -1;
    for (int j = 0; j < c->ncol[0]; j++)
        if (strcmp(c->row[0][j], name) == 0) return j;
    return -1;
}

/* The columns holding a column's 90% interval: NAME_lo90, or with _lo90
 * before a suffix (ratio_k5 -> ratio_lo90_k5). */
static void interval_cols(const csvdata *c, const char *name, int *lo, int *hi) {
    char a[512], b[512];
    *lo = *hi = -1;
    size_t n = strlen(name);
    if (n + 6 >= sizeof a) return;
    snprintf(a, sizeof a, "%s_lo90", name);
    snprintf(b, sizeof b, "%s_hi90", name);
    *lo = csv_col(c, a);
    *hi = csv_col(c, b);
    if (*lo >= 0 && *hi >= 0) return;
    for (size_t i = n; i-- > 1;) {
        if (name[i] != '_') continue;
        snprintf(a, sizeof a, "%.*s_lo90%s", (int)i, name, name + i);
        snprintf(b, sizeof b, "%.*s_hi90%s", (int)i, name, name + i);
        *lo = csv_col(c, a);
        *hi = csv_col(c, b);
        if (*lo >= 0 && *hi >= 0) return;
    }
    *lo = *hi = -1;
}

static void sb_cell(ic_sbuf *s, const char *v) {
    if (is_numeric(v)) {
        ic_sb_puts(s, "<td class=\"num\">");
        sb_num(s, strtod(v, NULL));
    } else {
        ic_sb_puts(s, "<td>");
        sb_esc(s, v);
    }
    ic_sb_puts(s, "</td>");
}

/* A CSV file as a table; a column with _lo90/_hi90 companions shows as
 * "value [lo, hi]". At most max_rows rows (then a line naming the rest). */
static void csv_table(ic_sbuf *s, const csvdata *c, const char *caption, const char *file, int max_rows) {
    if (c->nrow == 0) { ic_sb_puts(s, "<p>(empty table)</p>\n"); return; }
    const int nc = c->ncol[0];
    int *lo = malloc((size_t)nc * sizeof *lo), *hi = malloc((size_t)nc * sizeof *hi);
    char *hidden = calloc((size_t)nc, 1);
    if (!lo || !hi || !hidden) { free(lo); free(hi); free(hidden); s->oom = 1; return; }
    for (int j = 0; j < nc; j++) {
        interval_cols(c, c->row[0][j], &lo[j], &hi[j]);
        if (lo[j] >= 0) hidden[lo[j]] = hidden[hi[j]] = 1;
    }
    ic_sb_puts(s, "<div class=\"tablewrap\"><table>");
    if (caption) {
        ic_sb_puts(s, "<caption>");
        sb_esc(s, caption);
        ic_sb_puts(s, "</caption>");
    }
    ic_sb_puts(s, "<thead><tr>");
    for (int j = 0; j < nc; j++) {
        if (hidden[j]) continue;
        ic_sb_puts(s, "<th scope=\"col\">");
        sb_esc(s, c->row[0][j]);
        if (lo[j] >= 0) ic_sb_puts(s, " [90%]");
        ic_sb_puts(s, "</th>");
    }
    ic_sb_puts(s, "</tr></thead>\n<tbody>\n");
    int shown = 0;
    for (int r = 1; r < c->nrow && shown < max_rows; r++, shown++) {
        ic_sb_puts(s, "<tr>");
        for (int j = 0; j < nc; j++) {
            if (hidden[j]) continue;
            const char *v = j < c->ncol[r] ? c->row[r][j] : "";
            if (lo[j] >= 0 && is_numeric(v)) {
                const char *l = lo[j] < c->ncol[r] ? c->row[r][lo[j]] : "", *h = hi[j] < c->ncol[r] ? c->row[r][hi[j]] : "";
                ic_page_est e = {strtod(v, NULL), is_numeric(l) ? strtod(l, NULL) : NAN, is_numeric(h) ? strtod(h, NULL) : NAN};
                ic_sb_puts(s, "<td class=\"num\">");
                sb_est(s, e);
                ic_sb_puts(s, "</td>");
            } else {
                sb_cell(s, v);
            }
        }
        ic_sb_puts(s, "</tr>\n");
    }
    ic_sb_puts(s, "</tbody></table></div>\n");
    if (c->nrow - 1 > shown) {
        ic_sb_printf(s, "<p class=\"more\">%d more rows in <a href=\"", c->nrow - 1 - shown);
        sb_href(s, file);
        ic_sb_puts(s, "\">");
        sb_esc(s, file);
        ic_sb_puts(s, "</a>.</p>\n");
    }
    free(lo);
    free(hi);
    free(hidden);
}

/* ---------------- inlined SVG ---------------- */

static const char *const SVG_TAGS[] = {"svg",  "g",     "path", "line", "polyline", "polygon", "rect",
                                       "circle", "ellipse", "text", "tspan", "title", "desc", "defs",
                                       "clipPath", "linearGradient", "radialGradient", "stop", NULL};

static int tag_allowed(const char *name, size_t n) {
    for (int i = 0; SVG_TAGS[i]; i++)
        if (strlen(SVG_TAGS[i]) == n && strncmp(SVG_TAGS[i], name, n) == 0) return 1;
    return 0;
}

static int has_ci(const char *s, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && tolower((unsigned char)s[i + j]) == needle[j]) j++;
        if (j == m) return 1;
    }
    return 0;
}

/* Where the <svg element starts if t is an SVG safe to inline: an optional
 * XML declaration, then only allow-listed elements whose attributes are
 * neither event handlers, links nor styles. NULL otherwise; *why says why. */
static const char *svg_check(const char *t, size_t len, const char **why) {
    size_t i = 0;
    while (i < len && isspace((unsigned char)t[i])) i++;
    if (len - i >= 5 && strncmp(t + i, "<?xml", 5) == 0) {
        const char *e = strstr(t + i, "?>");
        if (!e) { *why = "unterminated XML declaration"; return NULL; }
        i = (size_t)(e - t) + 2;
        while (i < len && isspace((unsigned char)t[i])) i++;
    }
    if (len - i < 4 || strncmp(t + i, "<svg", 4) != 0) { *why = "not an SVG file"; return NULL; }
    const char *start = t + i;
    for (; i < len; i++) {
        if (t[i] != '<') continue;
        size_t j = i + 1;
        if (j < len && t[j] == '/') j++;
        size_t k = j;
        while (k < len && isalnum((unsigned char)t[k])) k++;
        if (k == j || !tag_allowed(t + j, k - j)) { *why = "an element outside the plots' set"; return NULL; }
        /* attributes up to the closing '>' (values are quoted) */
        size_t e = k;
        char q = 0;
        while (e < len && (q || t[e] != '>')) {
            if (q) { if (t[e] == q) q = 0; }
            else if (t[e] == '"' || t[e] == '\'') q = t[e];
            else if (isspace((unsigned char)t[e])) {
                size_t a = e + 1;
                while (a < len && isspace((unsigned char)t[a])) a++;
                if (a + 1 < len && tolower((unsigned char)t[a]) == 'o' && tolower((unsigned char)t[a + 1]) == 'n') {
                    *why = "an event-handler attribute";
                    return NULL;
                }
            }
            e++;
        }
        if (e >= len) { *why = "an unterminated tag"; return NULL; }
        if (has_ci(t + k, e - k, "href") || has_ci(t + k, e - k, "style") || has_ci(t + k, e - k, "javascript:")) {
            *why = "a link or style attribute";
            return NULL;
        }
        i = e;
    }
    return start;
}

/* The plot's title (its class="title" text), unescaped into buf. */
static void svg_title(const char *svg, char *buf, size_t len) {
    buf[0] = 0;
    const char *p = strstr(svg, "class=\"title\"");
    if (!p) return;
    p = strchr(p, '>');
    const char *e = p ? strstr(p, "</text>") : NULL;
    if (!e) return;
    size_t o = 0;
    for (p++; p < e && o + 1 < len; p++) {
        static const struct { const char *ent; char c; } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
                                                                   {"&quot;", '"'}, {"&apos;", '\''}, {"&#39;", '\''}};
        int hit = 0;
        for (size_t k = 0; k < sizeof ents / sizeof *ents; k++) {
            size_t n = strlen(ents[k].ent);
            if ((size_t)(e - p) >= n && strncmp(p, ents[k].ent, n) == 0) { buf[o++] = ents[k].c; p += n - 1; hit = 1; break; }
        }
        if (!hit) buf[o++] = *p;
    }
    buf[o] = 0;
}

/* One figure: rel is the SVG's path relative to dir (the page's directory). */
static void figure(ic_sbuf *s, const char *dir, const char *rel, int *fig_no, const char *caption) {
    char path[4096], title[256], *t = NULL;
    size_t len;
    ic_err e;
    const char *why = NULL, *start = NULL;
    int n = ++*fig_no;
    if (!path_in(path, sizeof path, dir, rel)) why = "path too long";
    else if (ic_read_file(path, &t, &len, MAX_FILE, &e)) why = "cannot be read";
    else start = svg_check(t, len, &why);
    ic_sb_printf(s, "<figure id=\"fig%d\">", n);
    if (!start) {
        ic_sb_puts(s, "<p>Figure not inlined (");
        sb_esc(s, why);
        ic_sb_puts(s, "): <a href=\"");
        sb_href(s, rel);
        ic_sb_puts(s, "\">");
        sb_esc(s, rel);
        ic_sb_puts(s, "</a></p></figure>\n");
        free(t);
        return;
    }
    svg_title(start, title, sizeof title);
    const char *label = caption ? caption : title[0] ? title : rel;
    /* <svg + accessibility attributes + <title>, then the rest with ids prefixed */
    const char *gt = strchr(start, '>');
    ic_sb_printf(s, "<svg role=\"img\" tabindex=\"0\" aria-labelledby=\"fig%d-t\"", n);
    ic_sb_put(s, start + 4, (size_t)(gt - start - 4) - (gt[-1] == '/' ? 1 : 0));
    ic_sb_printf(s, "><title id=\"fig%d-t\">", n);
    sb_esc(s, label);
    ic_sb_puts(s, " (");
    sb_esc(s, rel);
    ic_sb_puts(s, ")</title>");
    if (gt[-1] == '/') ic_sb_puts(s, "</svg>");
    for (const char *p = gt + 1; *p;) {
        if (strncmp(p, "id=\"", 4) == 0 && (p[-1] == ' ' || p[-1] == '\n')) {
            ic_sb_printf(s, "id=\"f%d-", n);
            p += 4;
        } else if (strncmp(p, "url(#", 5) == 0) {
            ic_sb_printf(s, "url(#f%d-", n);
            p += 5;
        } else {
            const char *q = p + 1;
            while (*q && *q != 'i' && *q != 'u') q++;
            ic_sb_put(s, p, (size_t)(q - p));
            p = q;
        }
    }
    ic_sb_puts(s, "<figcaption>");
    sb_esc(s, label);
    ic_sb_puts(s, " · <a href=\"");
    sb_href(s, rel);
    ic_sb_puts(s, "\">");
    sb_esc(s, rel);
    ic_sb_puts(s, "</a></figcaption></figure>\n");
    free(t);
}

/* ---------------- page skeleton ---------------- */

static const char CSS[] =
    ":root{color-scheme:light dark;--bg:#fff;--fg:#1c1c1c;--muted:#5c5c5c;--line:#d4d4d4;--card:#f3f4f6;"
    "--accent:#0b57a4;--good:#17663a;--bad:#a4161a}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#15181b;--fg:#e8e8e8;--muted:#a9adb2;--line:#3b4147;"
    "--card:#20252a;--accent:#8cc4ff;--good:#71d68f;--bad:#ff9b94}}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,'Segoe UI',"
    "Roboto,'DejaVu Sans',sans-serif}\n"
    "header,main,footer{max-width:1120px;margin:0 auto;padding:0 16px}\n"
    "header{padding-top:8px}h1{font-size:1.6rem;margin:.6rem 0 .2rem;line-height:1.25}\n"
    "h2{font-size:1.25rem;border-bottom:1px solid var(--line);padding-bottom:.2rem;margin:1.8rem 0 .6rem}\n"
    "h3{font-size:1.05rem;margin:1.2rem 0 .4rem}\n"
    ".dir{color:var(--muted);font-family:ui-monospace,'DejaVu Sans Mono',monospace;word-break:break-all;margin:0}\n"
    ".question{font-size:1.1rem;background:var(--card);border-left:4px solid var(--accent);padding:.5rem .8rem;"
    "margin:.8rem 0}\n"
    "ul.conclusions{padding-left:1.2rem}ul.conclusions li{margin:.35rem 0}\n"
    ".tablewrap{overflow-x:auto;max-width:100%}\n"
    "dl.setup{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,320px),1fr));gap:0 1.5rem;"
    "margin:.4rem 0;font-size:.9rem}\n"
    "dl.setup div{display:flex;justify-content:space-between;gap:.8rem;border-bottom:1px solid var(--line);"
    "padding:.2rem 0}dl.setup dt{font-weight:600}dl.setup dd{margin:0;text-align:right;overflow-wrap:anywhere}\n"
    "table{border-collapse:collapse;font-size:.9rem;margin:.4rem 0}\n"
    "caption{text-align:left;font-weight:600;padding:.2rem 0}\n"
    "th,td{border:1px solid var(--line);padding:.25rem .5rem;text-align:left;vertical-align:top}\n"
    "th{background:var(--card);font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}\n"
    ".figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,480px),1fr));gap:16px}\n"
    "figure{margin:0;background:#fff;color:#222;border:1px solid var(--line);border-radius:6px;padding:6px}\n"
    "figure svg{display:block;width:100%;height:auto}\n"
    "figure svg:focus{outline:3px solid var(--accent);outline-offset:2px}\n"
    "figcaption{font-size:.85rem;color:#444;padding:.2rem .2rem 0}figcaption a{color:#0b57a4}\n"
    "a{color:var(--accent)}.ok{color:var(--good);font-weight:600}.fail{color:var(--bad);font-weight:600}"
    ".pending{color:var(--muted)}\n"
    "ul.files{columns:2 260px;padding-left:1.2rem}details{margin:.4rem 0}summary{cursor:pointer}\n"
    "footer{color:var(--muted);font-size:.85rem;padding-bottom:2rem}\n"
    "pre{white-space:pre-wrap;background:var(--card);padding:.5rem;overflow-x:auto}\n"
    "@media (max-width:600px){body{font-size:15px}h1{font-size:1.3rem}th,td{padding:.2rem .3rem}"
    "ul.files{columns:1}}\n"
    "@media print{:root{--bg:#fff;--fg:#000;--muted:#333;--line:#999;--card:#eee;--accent:#000}"
    "body{font-size:10.5pt}header,main,footer{max-width:none;padding:0}.figs{display:block}"
    "figure{break-inside:avoid;margin:0 0 10px;border:0}h2,h3{break-after:avoid}tr{break-inside:avoid}"
    ".tablewrap{overflow:visible}}\n";

static void page_begin(ic_sbuf *s, const char *title, const char *kind, const char *dir, int refresh_s) {
    ic_sb_puts(s, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
              "<meta name=\"color-scheme\" content=\"light dark\">\n");
    if (refresh_s > 0) ic_sb_printf(s, "<meta http-equiv=\"refresh\" content=\"%d\">\n", refresh_s);
    ic_sb_printf(s, "<meta name=\"generator\" content=\"iclab report\">\n<meta name=\"iclab-kind\" content=\"%s\">\n", kind);
    ic_sb_puts(s, "<title>");
    sb_esc(s, title);
    ic_sb_puts(s, "</title>\n<style>\n");
    ic_sb_puts(s, CSS);
    ic_sb_puts(s, "</style>\n</head>\n<body>\n<header>\n<h1>");
    sb_esc(s, title);
    ic_sb_puts(s, "</h1>\n<p class=\"dir\">");
    sb_esc(s, dir);
    ic_sb_puts(s, "</p>\n</header>\n<main>\n");
}

static void section(ic_sbuf *s, const char *id, const char *heading) {
    ic_sb_printf(s, "<section id=\"%s\" aria-labelledby=\"h-%s\">\n<h2 id=\"h-%s\">", id, id, id);
    sb_esc(s, heading);
    ic_sb_puts(s, "</h2>\n");
}
static void section_end(ic_sbuf *s) { ic_sb_puts(s, "</section>\n"); }

static void question(ic_sbuf *s, const char *q) {
    ic_sb_puts(s, "<p class=\"question\"><strong>Question.</strong> ");
    sb_esc(s, q);
    ic_sb_puts(s, "</p>\n");
}

/* Conclusion lines are built as plain text (the demo prints them too). */
typedef struct {
    char **line;
    int n, cap;
} lines;

static void lines_addf(lines *l, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void lines_addf(lines *l, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        char **q = realloc(l->line, (size_t)cap * sizeof *q);
        if (!q) return;
        l->line = q;
        l->cap = cap;
    }
    if ((l->line[l->n] = strdup(buf))) l->n++;
}

static void lines_free(lines *l) {
    for (int i = 0; i < l->n; i++) free(l->line[i]);
    free(l->line);
    memset(l, 0, sizeof *l);
}

static void conclusions(ic_sbuf *s, const lines *l) {
    section(s, "conclusions", "Conclusions");
    if (!l->n) ic_sb_puts(s, "<p>No conclusion can be drawn from these files yet.</p>\n");
    else {
        ic_sb_puts(s, "<ul class=\"conclusions\">\n");
        for (int i = 0; i < l->n; i++) {
            ic_sb_puts(s, "<li>");
            sb_esc(s, l->line[i]);
            ic_sb_puts(s, "</li>\n");
        }
        ic_sb_puts(s, "</ul>\n");
    }
    section_end(s);
}

/* Setup: name/value pairs in a grid as wide as the page allows (a run's
 * config has 40 keys): the scalar members of o (and of its objects one level down, as
 * parent.key), skipping keys in skip (NULL-terminated, may be NULL). */
static void setup_rows(ic_sbuf *s, const json_t *o, const char *prefix, const char *const *skip) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        int skipped = 0;
        for (int i = 0; skip && skip[i]; i++) skipped |= strcmp(skip[i], k) == 0;
        if (skipped) continue;
        if (json_is_object(v) && !prefix) {
            char p[256];
            snprintf(p, sizeof p, "%s.", k);
            setup_rows(s, v, p, NULL);
            continue;
        }
        if (json_is_object(v) || json_is_array(v)) continue;
        ic_sb_puts(s, "<div><dt>");
        if (prefix) sb_esc(s, prefix);
        sb_esc(s, k);
        ic_sb_puts(s, "</dt><dd>");
        if (json_is_string(v)) sb_esc(s, json_string_value(v));
        else if (json_is_integer(v)) ic_sb_printf(s, "%lld", (long long)json_integer_value(v));
        else if (json_is_real(v)) sb_num(s, json_real_value(v));
        else if (json_is_true(v)) ic_sb_puts(s, "true");
        else if (json_is_false(v)) ic_sb_puts(s, "false");
        else ic_sb_puts(s, "null");
        ic_sb_puts(s, "</dd></div>\n");
    }
}

static void setup_table(ic_sbuf *s, const json_t *o, const char *const *skip) {
    section(s, "setup", "Setup");
    ic_sb_puts(s, "<dl class=\"setup\">\n");
    if (o) setup_rows(s, o, NULL, skip);
    ic_sb_puts(s, "</dl>\n");
    section_end(s);
}

/* Every SVG of dir, in name order. */
static void figures_all(ic_sbuf *s, const char *dir, int *fig_no) {
    namelist l;
    ic_err e;
    if (list_dir(dir, ".svg", 0, &l, &e)) return;
    section(s, "figures", "Figures");
    if (!l.n) ic_sb_puts(s, "<p>No figures in this directory yet.</p>\n");
    else {
        ic_sb_puts(s, "<div class=\"figs\">\n");
        for (int i = 0; i < l.n; i++) figure(s, dir, l.name[i], fig_no, NULL);
        ic_sb_puts(s, "</div>\n");
    }
    section_end(s);
    names_free(&l);
}

/* Every CSV of dir as a collapsed table, then links to every data file and
 * to the pages of subdirectories. */
static void data_files(ic_sbuf *s, const char *dir) {
    namelist l;
    ic_err e;
    section(s, "files", "Data files");
    if (list_dir(dir, ".csv", 0, &l, &e) == 0) {
        for (int i = 0; i < l.n; i++) {
            char p[4096];
            csvdata c;
            if (!path_in(p, sizeof p, dir, l.name[i]) || load_csv(p, &c, &e)) continue;
            ic_sb_puts(s, "<details><summary>");
            sb_esc(s, l.name[i]);
            ic_sb_printf(s, " (%d rows)</summary>\n", c.nrow > 0 ? c.nrow - 1 : 0);
            csv_table(s, &c, NULL, l.name[i], MAX_TABLE_ROWS);
            ic_sb_puts(s, "</details>\n");
            csv_free(&c);
        }
        names_free(&l);
    }
    ic_sb_puts(s, "<ul class=\"files\">\n");
    static const char *const exts[] = {".csv", ".json", ".svg", ".safetensors"};
    for (size_t x = 0; x < sizeof exts / sizeof *exts; x++) {
        if (list_dir(dir, exts[x], 0, &l, &e)) continue;
        for (int i = 0; i < l.n; i++) {
            ic_sb_puts(s, "<li><a href=\"");
            sb_href(s, l.name[i]);
            ic_sb_puts(s, "\">");
            sb_esc(s, l.name[i]);
            ic_sb_puts(s, "</a></li>\n");
        }
        names_free(&l);
    }
    if (list_dir(dir, "", 1, &l, &e) == 0) {
        for (int i = 0; i < l.n; i++) {
            char sub[4096];
            if (!path_in(sub, sizeof sub, dir, l.name[i]) || !exists_in(sub, "report.html")) continue;
            ic_sb_puts(s, "<li><a href=\"");
            sb_href(s, l.name[i]);
            ic_sb_puts(s, "/report.html\">");
            sb_esc(s, l.name[i]);
            ic_sb_puts(s, "/report.html</a> (its page)</li>\n");
        }
        names_free(&l);
    }
    ic_sb_puts(s, "</ul>\n");
    section_end(s);
}

static void page_end(ic_sbuf *s) {
    ic_sb_puts(s, "</main>\n<footer><p>Written by <code>iclab report</code> from the files in this directory; "
              "intervals are 90% bootstrap intervals over prompts unless a table says otherwise.</p></footer>\n"
              "</body>\n</html>\n");
}

/* ---------------- findings ---------------- */

static const json_t *at_k(const json_t *obj, int k) {
    const json_t *a = json_object_get(obj, "at_k");
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v) if (json_integer_value(json_object_get(v, "k")) == k) return v;
    return NULL;
}

static ic_page_est est_of(const json_t *o, const char *v, const char *lo, const char *hi) {
    ic_page_est e = {jnum(json_object_get(o, v)), jnum(json_object_get(o, lo)), jnum(json_object_get(o, hi))};
    return e;
}

int ic_page_eval_at(const char *dir, const char *setting, const char *predictor, int k, ic_page_est *e, ic_err *err) {
    json_t *o = load_json(dir, "results.json", err);
    if (!o) return -1;
    const json_t *p = json_object_get(json_object_get(json_object_get(o, "settings"), setting ? setting : "standard"),
                                      predictor);
    const json_t *m = json_object_get(p, "mean");
    int rc = 0;
    if (!json_is_array(m) || k < 0 || (size_t)k >= json_array_size(m)) {
        rc = ic_errf(err, "%s/results.json: no %s curve reaching k = %d in setting %s", dir, predictor, k,
                     setting ? setting : "standard");
    } else {
        e->v = jnum(json_array_get(m, (size_t)k));
        e->lo = jnum(json_array_get(json_object_get(p, "lo90"), (size_t)k));
        e->hi = jnum(json_array_get(json_object_get(p, "hi90"), (size_t)k));
    }
    json_decref(o);
    return rc;
}

int ic_page_compare_at(const char *dir, int index, int k, double *err_k, ic_page_est *ratio, ic_err *err) {
    json_t *o = load_json(dir, "compare.json", err);
    if (!o) return -1;
    const json_t *a = at_k(json_array_get(json_object_get(o, "models"), (size_t)index), k);
    int rc = 0;
    if (!a) rc = ic_errf(err, "%s/compare.json: no model %d with k = %d", dir, index, k);
    else {
        *err_k = jnum(json_object_get(a, "err"));
        *ratio = est_of(a, "ratio", "ratio_lo90", "ratio_hi90");
    }
    json_decref(o);
    return rc;
}

int ic_page_compare_best(const char *dir, int k, int *index, double *err_k, ic_err *err) {
    json_t *o = load_json(dir, "compare.json", err);
    if (!o) return -1;
    const json_t *models = json_object_get(o, "models");
    *index = -1;
    *err_k = NAN;
    size_t i;
    const json_t *m;
    json_array_foreach(models, i, m) {
        const json_t *a = at_k(m, k);
        double e = a ? jnum(json_object_get(a, "err")) : NAN;
        if (isfinite(e) && (*index < 0 || e < *err_k)) {
            *index = (int)i;
            *err_k = e;
        }
    }
    json_decref(o);
    return *index < 0 ? ic_errf(err, "%s/compare.json: no model with a finite error at k = %d", dir, k) : 0;
}

/* Two-sided 90% quantile of Student's t (0.95 one-sided) for 1..30 degrees
 * of freedom; the normal 1.645 beyond (within 2% from 30 on). */
static double t90(int df) {
    static const double T[30] = {6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
                                 1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725,
                                 1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697};
    return df >= 1 && df <= 30 ? T[df - 1] : 1.645;
}

int ic_page_pool_seeds(const double *ratio, int n, ic_page_est *pooled) {
    pooled->v = pooled->lo = pooled->hi = NAN;
    if (n < 1) return -1;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        if (!(ratio[i] > 0) || !isfinite(ratio[i])) return -1;
        sum += log(ratio[i]);
    }
    const double mean = sum / n;
    pooled->v = exp(mean);
    if (n < 2) return 0;
    for (int i = 0; i < n; i++) sq += (log(ratio[i]) - mean) * (log(ratio[i]) - mean);
    const double half = t90(n - 1) * sqrt(sq / (n - 1) / n);
    pooled->lo = exp(mean - half);
    pooled->hi = exp(mean + half);
    return 0;
}

/* A surgery sweep file: an object with "sweep" and "variants". */
static int is_surgery_json(const json_t *o) {
    return json_is_string(json_object_get(o, "sweep")) && json_is_array(json_object_get(o, "variants"));
}

int ic_page_surgery_at(const char *dir, int k, ic_page_surgery *s, ic_err *err) {
    memset(s, 0, sizeof *s);
    s->k = k;
    s->original_err = NAN;
    s->best_ratio.v = s->worst_ratio.v = NAN;
    namelist l;
    if (list_dir(dir, ".json", 0, &l, err)) return -1;
    for (int i = 0; i < l.n; i++) {
        ic_err ignored;
        json_t *o = load_json(dir, l.name[i], &ignored);
        if (!o) continue;
        if (!is_surgery_json(o)) { json_decref(o); continue; }
        s->n_sweeps++;
        const json_t *orig = at_k(json_object_get(o, "original"), k);
        if (orig) s->original_err = jnum(json_object_get(orig, "err"));
        size_t j;
        const json_t *v;
        json_array_foreach(json_object_get(o, "variants"), j, v) {
            if (json_is_true(json_object_get(v, "same_as_original"))) continue;
            const json_t *a = at_k(v, k);
            if (!a) continue;
            ic_page_est r = est_of(a, "ratio", "ratio_lo90", "ratio_hi90");
            if (isnan(r.v)) continue;
            s->n_variants++;
            if (r.hi < 1) s->n_better++;
            if (r.lo > 1) s->n_worse++;
            const char *label = json_string_value(json_object_get(v, "label"));
            if (isnan(s->best_ratio.v) || r.v < s->best_ratio.v) {
                s->best_ratio = r;
                snprintf(s->best, sizeof s->best, "%s", label ? label : "?");
            }
            if (isnan(s->worst_ratio.v) || r.v > s->worst_ratio.v) {
                s->worst_ratio = r;
                snprintf(s->worst, sizeof s->worst, "%s", label ? label : "?");
            }
        }
        json_decref(o);
    }
    names_free(&l);
    if (!s->n_sweeps) return ic_errf(err, "%s holds no surgery sweep (<sweep>.json of iclab surgery)", dir);
    return 0;
}

/* "B's error is 0.58x A's [0.5, 0.66]: lower (the interval lies below 1)" */
static const char *ratio_verdict(ic_page_est r) {
    if (r.hi < 1) return "lower (the whole interval lies below 1)";
    if (r.lo > 1) return "higher (the whole interval lies above 1)";
    if (isnan(r.lo)) return "no interval was computed";
    return "no difference this evaluation can detect (the interval contains 1)";
}

static void est_text(char *buf, size_t len, ic_page_est e) {
    char a[32], b[32], c[32]; /* "%.4g" needs at most 11 */
    fmt_num(a, sizeof a, e.v);
    fmt_num(b, sizeof b, e.lo);
    fmt_num(c, sizeof c, e.hi);
    if (isnan(e.lo) && isnan(e.hi)) snprintf(buf, len, "%s", a);
    else snprintf(buf, len, "%s [%s, %s]", a, b, c);
}

/* ---------------- kinds ---------------- */

typedef struct {
    const char *dir;
    int refresh_s;
    ic_sbuf *s;
    int fig_no;
    ic_err *err;
} page;

static int n_dims_of(const json_t *o) {
    const json_t *ts = json_object_get(o, "task_spec");
    json_int_t d = json_integer_value(json_object_get(ts, "n_dims"));
    if (!d) d = json_integer_value(json_object_get(o, "n_dims"));
    return (int)d;
}

/* A predictor's curve ({"mean", "lo90", "hi90"} arrays) at k. */
static ic_page_est curve_at(const json_t *pv, int k) {
    ic_page_est e = {jnum(json_array_get(json_object_get(pv, "mean"), (size_t)k)),
                     jnum(json_array_get(json_object_get(pv, "lo90"), (size_t)k)),
                     jnum(json_array_get(json_object_get(pv, "hi90"), (size_t)k))};
    return e;
}

/* One setting of iclab eval's results.json: a row per predictor, a column per k. */
static void eval_table(ic_sbuf *s, const char *set, const json_t *sv, const char *metric, const int *kk, int nk) {
    ic_sb_puts(s, "<div class=\"tablewrap\"><table><caption>");
    sb_esc(s, set);
    ic_sb_puts(s, ": ");
    sb_esc(s, metric ? metric : "error");
    ic_sb_puts(s, " [90% interval]</caption><thead><tr><th scope=\"col\">predictor</th>");
    for (int i = 0; i < nk; i++) ic_sb_printf(s, "<th scope=\"col\">k = %d</th>", kk[i]);
    ic_sb_puts(s, "<th scope=\"col\">prompts/s</th></tr></thead><tbody>\n");
    const char *pred;
    json_t *pv;
    json_object_foreach((json_t *)sv, pred, pv) {
        ic_sb_puts(s, "<tr><th scope=\"row\">");
        sb_esc(s, pred);
        ic_sb_puts(s, "</th>");
        for (int i = 0; i < nk; i++) {
            ic_sb_puts(s, "<td class=\"num\">");
            sb_est(s, curve_at(pv, kk[i]));
            ic_sb_puts(s, "</td>");
        }
        ic_sb_puts(s, "<td class=\"num\">");
        sb_num(s, jnum(json_object_get(pv, "prompts_per_s")));
        ic_sb_puts(s, "</td></tr>\n");
    }
    ic_sb_puts(s, "</tbody></table></div>\n");
}

/* The figures and data-file sections and the end of the page. */
static void page_finish(page *pg) {
    figures_all(pg->s, pg->dir, &pg->fig_no);
    data_files(pg->s, pg->dir);
    page_end(pg->s);
}

/* iclab train: progress and loss. */
static int page_train(page *pg) {
    ic_sbuf *s = pg->s;
    json_t *cfg = load_json(pg->dir, "config.json", pg->err);
    if (!cfg) return -1;
    char p[4096];
    csvdata c = {0};
    if (!path_in(p, sizeof p, pg->dir, "metrics.csv") || load_csv(p, &c, pg->err)) { json_decref(cfg); return -1; }
    /* rows without the header's fields (one another process is still
     * writing: iclab report during training) are left out */
    int kept = c.nrow ? 1 : 0;
    for (int r = 1; r < c.nrow; r++) {
        if (c.ncol[r] == c.ncol[0]) {
            c.row[kept] = c.row[r];
            c.ncol[kept++] = c.ncol[r];
            continue;
        }
        for (int j = 0; j < c.ncol[r]; j++) free(c.row[r][j]);
        free(c.row[r]);
    }
    c.nrow = kept;
    long total = (long)json_integer_value(json_object_get(cfg, "train_steps"));
    int cs = csv_col(&c, "step"), cl = csv_col(&c, "loss"), ce = csv_col(&c, "excess_loss"),
        cr = csv_col(&c, "steps_per_s");
    int rows = c.nrow - 1;
    long step = 0;
    double last_loss = NAN, first_loss = NAN, rate = NAN, tail_loss = NAN, tail_excess = NAN;
    long first_step = 0;
    if (rows > 0 && cs >= 0 && cl >= 0) {
        const char **last = (const char **)c.row[c.nrow - 1];
        step = strtol(last[cs], NULL, 10);
        last_loss = strtod(last[cl], NULL);
        first_loss = strtod(c.row[1][cl], NULL);
        first_step = strtol(c.row[1][cs], NULL, 10);
        if (cr >= 0 && c.ncol[c.nrow - 1] > cr) rate = strtod(last[cr], NULL);
        int from = c.nrow - (rows >= 10 ? rows / 10 : 1), n = 0, ne = 0;
        double sum = 0, sume = 0;
        for (int r = from; r < c.nrow; r++) {
            if (is_numeric(c.row[r][cl])) { sum += strtod(c.row[r][cl], NULL); n++; }
            if (ce >= 0 && ce < c.ncol[r] && is_numeric(c.row[r][ce])) { sume += strtod(c.row[r][ce], NULL); ne++; }
        }
        tail_loss = n ? sum / n : NAN;
        tail_excess = ne ? sume / ne : NAN;
    }
    int finished = total > 0 && step >= total;
    char title[256];
    snprintf(title, sizeof title, "Training run: %s", finished ? "finished" : pg->refresh_s ? "in progress" : "not finished");
    page_begin(s, title, "train", pg->dir, finished ? 0 : pg->refresh_s);
    char q[512];
    snprintf(q, sizeof q, "Does a %lld-block transformer (e = %lld) learn %s in context (d = %lld, %lld points per prompt)? "
             "Its training loss on fresh prompts at every logged step.",
             (long long)json_integer_value(json_object_get(cfg, "n_layer")),
             (long long)json_integer_value(json_object_get(cfg, "n_embd")),
             json_string_value(json_object_get(cfg, "task")) ? json_string_value(json_object_get(cfg, "task")) : "a task",
             (long long)json_integer_value(json_object_get(cfg, "n_dims")),
             (long long)json_integer_value(json_object_get(cfg, "n_points")));
    question(s, q);
    lines l = {0};
    if (rows <= 0) lines_addf(&l, "No step logged yet (0 of %ld).", total);
    else {
        lines_addf(&l, "Step %ld of %ld (%.0f%%)%s.", step, total, total > 0 ? 100.0 * (double)step / (double)total : 0.0,
                   finished ? ": training finished"
                            : pg->refresh_s ? "; training is running (this page reloads itself)" : "; not finished (resume with iclab train --resume)");
        char a[64], b[64], t[64];
        fmt_num(a, sizeof a, first_loss);
        fmt_num(b, sizeof b, tail_loss);
        fmt_num(t, sizeof t, last_loss);
        lines_addf(&l, "Training loss: %s at step %ld; %s averaged over the last tenth of the logged steps (last: %s).", a,
                   first_step, b, t);
        if (!isnan(tail_excess)) {
            fmt_num(a, sizeof a, tail_excess);
            lines_addf(&l, "Excess loss (loss / the noiseless optimum mean_k max(d-k, 0), metrics.csv), averaged over the last tenth: %s.", a);
        }
        if (!finished && rate > 0) lines_addf(&l, "About %.1f steps/s; %.0f s left at that rate.", rate, (double)(total - step) / rate);
    }
    conclusions(s, &l);
    lines_free(&l);
    setup_table(s, cfg, NULL);
    section(s, "results", "Results");
    if (rows > 0) {
        /* about a dozen logged rows, evenly spaced, and the last */
        csvdata sub = c;
        int want = 12, stride = rows > want ? rows / want : 1, n = 1;
        char ***r = malloc(sizeof *r * (size_t)(want + 3));
        int *nc = malloc(sizeof *nc * (size_t)(want + 3));
        if (r && nc) {
            r[0] = c.row[0];
            nc[0] = c.ncol[0];
            for (int i = 1; i < c.nrow && n < want + 1; i += stride) { r[n] = c.row[i]; nc[n++] = c.ncol[i]; }
            if (r[n - 1] != c.row[c.nrow - 1]) { r[n] = c.row[c.nrow - 1]; nc[n++] = c.ncol[c.nrow - 1]; }
            sub.row = r;
            sub.ncol = nc;
            sub.nrow = n;
            csv_table(s, &sub, "Logged steps (a sample; every row is in metrics.csv)", "metrics.csv", want + 2);
        }
        free(r);
        free(nc);
    } else {
        ic_sb_puts(s, "<p>No step logged yet.</p>\n");
    }
    section_end(s);
    page_finish(pg);
    csv_free(&c);
    json_decref(cfg);
    return 0;
}

/* iclab eval: each setting's curves at k = d/2, d, 2d. */
static int page_eval(page *pg) {
    ic_sbuf *s = pg->s;
    json_t *o = load_json(pg->dir, "results.json", pg->err);
    if (!o) return -1;
    const int d = n_dims_of(o), n = (int)json_integer_value(json_object_get(o, "n_points"));
    page_begin(s, "Evaluation: in-context error curves", "eval", pg->dir, 0);
    question(s, "How close does the model's prediction come to the classical solvers as the number k of "
                "in-context examples grows, on the same prompts, in each setting?");
    int ks[3] = {d / 2, d, 2 * d}, nk = 0, kk[3];
    for (int i = 0; i < 3; i++)
        if (ks[i] >= 0 && ks[i] < n && (nk == 0 || kk[nk - 1] != ks[i])) kk[nk++] = ks[i];
    if (!nk && n > 0) kk[nk++] = n - 1;
    const char *metric = json_string_value(json_object_get(o, "metric"));
    lines l = {0};
    const char *set;
    json_t *sv;
    json_object_foreach(json_object_get(o, "settings"), set, sv) {
        const int k = kk[nk - 1];
        const char *pred, *best = NULL;
        json_t *pv;
        double bestv = INFINITY;
        char model_txt[128] = "", others[768] = "";
        json_object_foreach(sv, pred, pv) {
            ic_page_est e = curve_at(pv, k);
            char t[128];
            est_text(t, sizeof t, e);
            if (strcmp(pred, "transformer") == 0) snprintf(model_txt, sizeof model_txt, "%s", t);
            else {
                size_t u = strlen(others);
                snprintf(others + u, sizeof others - u, "%s%s %s", u ? "; " : "", pred, t);
            }
            if (e.v < bestv) { bestv = e.v; best = pred; }
        }
        lines_addf(&l, "%s, k = %d: the transformer's %s is %s; %s.", set, k, metric ? metric : "error",
                   model_txt[0] ? model_txt : "–", others[0] ? others : "no baseline");
        if (best) lines_addf(&l, "%s, k = %d: the lowest mean error is %s's.", set, k, best);
    }
    conclusions(s, &l);
    lines_free(&l);
    static const char *const skip[] = {"settings", NULL};
    setup_table(s, o, skip);
    section(s, "results", "Results");
    json_object_foreach(json_object_get(o, "settings"), set, sv) eval_table(s, set, sv, metric, kk, nk);
    section_end(s);
    page_finish(pg);
    json_decref(o);
    return 0;
}

static const char *label_of(const json_t *m) {
    const char *l = json_string_value(json_object_get(m, "label"));
    return l ? l : "?";
}

/* iclab compare's models: error, paired ratio to the first, distance, per k. */
static void compare_table(ic_sbuf *s, const json_t *models, const char *caption) {
    ic_sb_puts(s, "<div class=\"tablewrap\"><table><caption>");
    sb_esc(s, caption);
    ic_sb_puts(s, "</caption><thead><tr><th scope=\"col\">model</th><th scope=\"col\">k</th><th scope=\"col\">error</th>"
                  "<th scope=\"col\">ratio to reference</th><th scope=\"col\">mean squared distance</th></tr></thead><tbody>\n");
    size_t i;
    const json_t *m;
    json_array_foreach(models, i, m) {
        size_t j;
        const json_t *a;
        json_array_foreach(json_object_get(m, "at_k"), j, a) {
            ic_sb_puts(s, "<tr><th scope=\"row\">");
            sb_esc(s, label_of(m));
            ic_sb_printf(s, "</th><td class=\"num\">%lld</td><td class=\"num\">", (long long)json_integer_value(json_object_get(a, "k")));
            sb_num(s, jnum(json_object_get(a, "err")));
            ic_sb_puts(s, "</td><td class=\"num\">");
            sb_est(s, est_of(a, "ratio", "ratio_lo90", "ratio_hi90"));
            ic_sb_puts(s, "</td><td class=\"num\">");
            sb_num(s, jnum(json_object_get(a, "dist")));
            ic_sb_puts(s, "</td></tr>\n");
        }
    }
    ic_sb_puts(s, "</tbody></table></div>\n");
}

/* iclab compare: every model against the first, paired. */
static int page_compare(page *pg) {
    ic_sbuf *s = pg->s;
    json_t *o = load_json(pg->dir, "compare.json", pg->err);
    if (!o) return -1;
    const json_t *models = json_object_get(o, "models");
    page_begin(s, "Comparison: models on the same prompts", "compare", pg->dir, 0);
    question(s, "Is each model's in-context error lower or higher than the reference model's (the first), "
                "on the same prompts, with a paired interval?");
    lines l = {0};
    const char *ref = label_of(json_array_get(models, 0));
    size_t i;
    const json_t *m;
    json_array_foreach(models, i, m) {
        if (i == 0) continue;
        size_t j;
        const json_t *a;
        json_array_foreach(json_object_get(m, "at_k"), j, a) {
            ic_page_est r = est_of(a, "ratio", "ratio_lo90", "ratio_hi90");
            char t[128];
            est_text(t, sizeof t, r);
            lines_addf(&l, "k = %lld: %s's error is %s × %s's: %s.", (long long)json_integer_value(json_object_get(a, "k")),
                       label_of(m), t, ref, ratio_verdict(r));
        }
    }
    conclusions(s, &l);
    lines_free(&l);
    static const char *const skip[] = {"models", NULL};
    setup_table(s, o, skip);
    section(s, "results", "Results");
    compare_table(s, models, "Error and ratio to the reference [paired 90% interval]");
    section_end(s);
    page_finish(pg);
    json_decref(o);
    return 0;
}

/* The k a surgery directory ranks at: the last at_k of its original. */
static int surgery_rank_k(const char *dir, json_t **first) {
    namelist l;
    ic_err e;
    int k = -1;
    *first = NULL;
    if (list_dir(dir, ".json", 0, &l, &e)) return -1;
    for (int i = 0; i < l.n && k < 0; i++) {
        json_t *o = load_json(dir, l.name[i], &e);
        if (!o) continue;
        if (is_surgery_json(o)) {
            const json_t *a = json_object_get(json_object_get(o, "original"), "at_k");
            if (json_array_size(a)) k = (int)json_integer_value(json_object_get(json_array_get(a, json_array_size(a) - 1), "k"));
            *first = o;
        } else {
            json_decref(o);
        }
    }
    names_free(&l);
    return k;
}

/* Plain-text findings of a surgery directory at k (the page's and the demo's). */
static void surgery_lines(lines *l, const ic_page_surgery *f) {
    char b[128], w[128], o[64];
    est_text(b, sizeof b, f->best_ratio);
    est_text(w, sizeof w, f->worst_ratio);
    fmt_num(o, sizeof o, f->original_err);
    if (f->n_better == 0)
        lines_addf(l, "k = %d: none of %d variants (%d sweeps) beats the original model (error %s): the closest, %s, "
                   "has %s × its error.", f->k, f->n_variants, f->n_sweeps, o, f->best, b);
    else
        lines_addf(l, "k = %d: %d of %d variants have a lower error than the original (%s), their interval wholly below 1; "
                   "the lowest ratio, %s: %s × the original's error.", f->k, f->n_better, f->n_variants, o, f->best, b);
    lines_addf(l, "k = %d: %d of %d variants are significantly worse (interval above 1); the worst, %s: %s ×.", f->k,
               f->n_worse, f->n_variants, f->worst, w);
}

/* One row per sweep of a surgery directory at k. */
static void surgery_table(ic_sbuf *s, const char *dir, int k) {
    ic_sb_printf(s, "<div class=\"tablewrap\"><table><caption>Each sweep at k = %d: ratio = variant error / original error "
               "[paired 90%% interval]</caption><thead><tr><th scope=\"col\">sweep</th><th scope=\"col\">variants</th>"
               "<th scope=\"col\">better</th><th scope=\"col\">worse</th><th scope=\"col\">best</th>"
               "<th scope=\"col\">best ratio</th><th scope=\"col\">worst</th><th scope=\"col\">worst ratio</th></tr></thead><tbody>\n", k);
    namelist nl;
    ic_err e;
    if (list_dir(dir, ".json", 0, &nl, &e) == 0) {
        for (int i = 0; i < nl.n; i++) {
            /* one sweep at a time: a temporary directory view is not needed, the
             * counts come from the sweep's own file */
            json_t *o = load_json(dir, nl.name[i], &e);
            if (!o) continue;
            if (is_surgery_json(o)) {
                ic_page_surgery one;
                memset(&one, 0, sizeof one);
                one.best_ratio.v = one.worst_ratio.v = NAN;
                size_t j;
                const json_t *v;
                json_array_foreach(json_object_get(o, "variants"), j, v) {
                    if (json_is_true(json_object_get(v, "same_as_original"))) continue;
                    const json_t *a = at_k(v, k);
                    if (!a) continue;
                    ic_page_est r = est_of(a, "ratio", "ratio_lo90", "ratio_hi90");
                    if (isnan(r.v)) continue;
                    one.n_variants++;
                    one.n_better += r.hi < 1;
                    one.n_worse += r.lo > 1;
                    const char *lab = json_string_value(json_object_get(v, "label"));
                    if (isnan(one.best_ratio.v) || r.v < one.best_ratio.v) { one.best_ratio = r; snprintf(one.best, sizeof one.best, "%s", lab ? lab : "?"); }
                    if (isnan(one.worst_ratio.v) || r.v > one.worst_ratio.v) { one.worst_ratio = r; snprintf(one.worst, sizeof one.worst, "%s", lab ? lab : "?"); }
                }
                ic_sb_puts(s, "<tr><th scope=\"row\">");
                sb_esc(s, json_string_value(json_object_get(o, "sweep")));
                ic_sb_printf(s, "</th><td class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td>",
                        one.n_variants, one.n_better, one.n_worse);
                sb_esc(s, one.best);
                ic_sb_puts(s, "</td><td class=\"num\">");
                sb_est(s, one.best_ratio);
                ic_sb_puts(s, "</td><td>");
                sb_esc(s, one.worst);
                ic_sb_puts(s, "</td><td class=\"num\">");
                sb_est(s, one.worst_ratio);
                ic_sb_puts(s, "</td></tr>\n");
            }
            json_decref(o);
        }
        names_free(&nl);
    }
    ic_sb_puts(s, "</tbody></table></div>\n");
}

/* iclab surgery: every sweep ranked at the last k. */
static int page_surgery(page *pg) {
    ic_sbuf *s = pg->s;
    json_t *first;
    int k = surgery_rank_k(pg->dir, &first);
    if (k < 0 || !first) { json_decref(first); return ic_errf(pg->err, "%s: no surgery sweep with an error at some k", pg->dir); }
    ic_page_surgery f;
    if (ic_page_surgery_at(pg->dir, k, &f, pg->err)) { json_decref(first); return -1; }
    page_begin(s, "Layer surgery: variants of the trained model", "surgery", pg->dir, 0);
    question(s, "Does any change to the order of the trained model's layers (skip, duplicate, swap, shuffle, reverse, "
                "repeat, run in parallel, loop) lower its in-context error, without retraining?");
    lines l = {0};
    surgery_lines(&l, &f);
    conclusions(s, &l);
    lines_free(&l);
    static const char *const skip[] = {"sweep", "original", "variants", "best_worst", NULL};
    setup_table(s, first, skip);
    json_decref(first);
    section(s, "results", "Results");
    surgery_table(s, pg->dir, k);
    section_end(s);
    page_finish(pg);
    return 0;
}

/* iclab loops: error and fixed-point measure per loop count. */
static int page_loops(page *pg) {
    ic_sbuf *s = pg->s;
    json_t *o = load_json(pg->dir, "loops.json", pg->err);
    if (!o) return -1;
    page_begin(s, "Loops: running the body more (or fewer) times", "loops", pg->dir, 0);
    question(s, "What happens to the in-context error when the model's body is run for fewer or more loops than it "
                "was trained with, and does the iteration settle to a fixed point?");
    lines l = {0};
    const int trained = (int)json_integer_value(json_object_get(o, "trained_loops"));
    const json_t *ls = json_object_get(o, "loops");
    double at_trained = NAN, best = INFINITY, last = NAN;
    int best_loop = 0, last_loop = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(ls, i, v) {
        int lp = (int)json_integer_value(json_object_get(v, "loop"));
        double e = jnum(json_object_get(v, "err"));
        if (lp == trained) at_trained = e;
        if (e < best) { best = e; best_loop = lp; }
        last = e;
        last_loop = lp;
    }
    char a[64], b[64], c[64];
    fmt_num(a, sizeof a, at_trained);
    fmt_num(b, sizeof b, best);
    fmt_num(c, sizeof c, last);
    if (json_array_size(ls)) {
        lines_addf(&l, "Error over all positions at the trained %d loop%s: %s; at %d loops: %s.", trained,
                   trained == 1 ? "" : "s", a, last_loop, c);
        lines_addf(&l, "The lowest error is at %d loop%s (%s)%s.", best_loop, best_loop == 1 ? "" : "s", b,
                   best_loop == trained ? ", the trained count" : best_loop > trained ? ": more loops than trained help" : "");
    }
    conclusions(s, &l);
    lines_free(&l);
    static const char *const skip[] = {"loops", NULL};
    setup_table(s, o, skip);
    section(s, "results", "Results");
    char p[4096];
    csvdata cd;
    ic_err e;
    if (path_in(p, sizeof p, pg->dir, "loops.csv") && load_csv(p, &cd, &e) == 0) {
        csv_table(s, &cd, "Error per loop count (loops.csv)", "loops.csv", MAX_TABLE_ROWS);
        csv_free(&cd);
    }
    section_end(s);
    page_finish(pg);
    json_decref(o);
    return 0;
}

static const char *const PROBE_FILES[] = {"lens.json", "probes.json", "sime.json", "components.json", "geometry.json", NULL};

/* iclab probe: what each step of the model computes. */
static int page_probe(page *pg) {
    ic_sbuf *s = pg->s;
    json_t *meta = NULL;
    for (int i = 0; PROBE_FILES[i] && !meta; i++) {
        if (!exists_in(pg->dir, PROBE_FILES[i])) continue;
        json_t *o = load_json(pg->dir, PROBE_FILES[i], pg->err);
        if (!o) return -1;
        meta = json_incref(json_object_get(o, "meta"));
        json_decref(o);
    }
    page_begin(s, "Probes: what each step of the model computes", "probe", pg->dir, 0);
    question(s, "What does the residual stream hold after each block: how good is the readout there (lens), which "
                "quantities can a linear probe read from it, and which classical algorithm do its predictions resemble?");
    lines l = {0};
    ic_err e;
    json_t *lens = exists_in(pg->dir, "lens.json") ? load_json(pg->dir, "lens.json", &e) : NULL;
    if (lens) {
        const json_t *st = json_object_get(lens, "states");
        size_t n = json_array_size(st);
        if (n >= 2) {
            const json_t *a = json_array_get(st, 0), *b = json_array_get(st, n - 1);
            char x[64], y[64];
            fmt_num(x, sizeof x, jnum(json_object_get(a, "err_k_2d")));
            fmt_num(y, sizeof y, jnum(json_object_get(b, "err_k_2d")));
            lines_addf(&l, "Lens: the readout's error at k = 2d is %s at state %s and %s at the last state, %s.", x,
                       json_string_value(json_object_get(a, "label")) ? json_string_value(json_object_get(a, "label")) : "?",
                       y, json_string_value(json_object_get(b, "label")) ? json_string_value(json_object_get(b, "label")) : "?");
        }
        json_decref(lens);
    }
    json_t *pr = exists_in(pg->dir, "probes.json") ? load_json(pg->dir, "probes.json", &e) : NULL;
    if (pr) {
        const char *t;
        json_t *tv;
        json_object_foreach(json_object_get(pr, "targets"), t, tv) {
            double best = -INFINITY, ctrl = NAN;
            size_t i;
            const json_t *v;
            json_array_foreach(json_object_get(tv, "r2"), i, v) {
                if (jnum(v) > best) { best = jnum(v); ctrl = jnum(json_array_get(json_object_get(tv, "r2_shuffled"), i)); }
            }
            char x[64], y[64];
            fmt_num(x, sizeof x, best);
            fmt_num(y, sizeof y, ctrl);
            if (isfinite(best)) lines_addf(&l, "Probe of %s: best R² %s (the shuffled control there: %s).", t, x, y);
        }
        json_decref(pr);
    }
    conclusions(s, &l);
    lines_free(&l);
    static const char *const skip[] = {"states", NULL};
    setup_table(s, meta, skip);
    json_decref(meta);
    section(s, "results", "Results");
    char p[4096];
    csvdata cd;
    if (path_in(p, sizeof p, pg->dir, "lens.csv") && exists_in(pg->dir, "lens.csv") && load_csv(p, &cd, &e) == 0) {
        csv_table(s, &cd, "Readout lens per state (lens.csv)", "lens.csv", MAX_TABLE_ROWS);
        csv_free(&cd);
    }
    if (path_in(p, sizeof p, pg->dir, "probes.csv") && exists_in(pg->dir, "probes.csv") && load_csv(p, &cd, &e) == 0) {
        csv_table(s, &cd, "Linear probes per state (probes.csv)", "probes.csv", MAX_TABLE_ROWS);
        csv_free(&cd);
    }
    section_end(s);
    page_finish(pg);
    return 0;
}

/* A sweep's run directory, if it is a plain relative path below the sweep. */
static int safe_rel(const char *p) {
    if (!p || !*p || p[0] == '/' || strlen(p) > 1024) return 0;
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if ((n == 2 && strncmp(c, "..", 2) == 0)) return 0;
        c += n;
        if (*c == '/') c++;
    }
    return 1;
}

/* iclab sweep: the runs with their status and metrics, linked to their pages. */
static int page_sweep(page *pg) {
    ic_sbuf *s = pg->s;
    json_t *o = load_json(pg->dir, "sweep.json", pg->err);
    if (!o) return -1;
    const json_t *runs = json_object_get(o, "runs");
    if (!json_is_array(runs)) { json_decref(o); return ic_errf(pg->err, "%s/sweep.json: no \"runs\" array", pg->dir); }
    page_begin(s, "Sweep: one run per configuration", "sweep", pg->dir, 0);
    question(s, "How do the results change across the sweep's configurations? Each run's metrics, with its status "
                "and its own page.");
    /* metric names in order of first appearance */
    const char *mnames[64];
    int nm = 0, n_done = 0, n_failed = 0, n_pending = 0;
    size_t i;
    const json_t *r;
    json_array_foreach(runs, i, r) {
        const char *st = json_string_value(json_object_get(r, "status"));
        n_done += st && strcmp(st, "done") == 0;
        n_failed += st && strcmp(st, "failed") == 0;
        n_pending += !st || strcmp(st, "pending") == 0;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(r, "metrics"), k, v) {
            int seen = 0;
            for (int j = 0; j < nm; j++) seen |= strcmp(mnames[j], k) == 0;
            if (!seen && nm < 64) mnames[nm++] = k;
        }
    }
    lines l = {0};
    lines_addf(&l, "%zu runs: %d done, %d failed, %d pending.", json_array_size(runs), n_done, n_failed, n_pending);
    json_array_foreach(runs, i, r) {
        const char *st = json_string_value(json_object_get(r, "status"));
        if (st && strcmp(st, "failed") == 0) {
            const char *er = json_string_value(json_object_get(r, "error"));
            const char *nmr = json_string_value(json_object_get(r, "name"));
            lines_addf(&l, "Run %s failed: %s", nmr ? nmr : "?", er ? er : "(no error recorded)");
        }
    }
    if (nm) {
        /* the best done run of the first metric, lowest first (errors and losses) */
        const char *best = NULL;
        double bv = INFINITY;
        json_array_foreach(runs, i, r) {
            const char *st = json_string_value(json_object_get(r, "status"));
            double v = jnum(json_object_get(json_object_get(r, "metrics"), mnames[0]));
            if (st && strcmp(st, "done") == 0 && v < bv) { bv = v; best = json_string_value(json_object_get(r, "name")); }
        }
        char b[64];
        fmt_num(b, sizeof b, bv);
        if (best) lines_addf(&l, "Lowest %s among the done runs: %s (%s).", mnames[0], best, b);
    }
    conclusions(s, &l);
    lines_free(&l);
    section(s, "setup", "Setup");
    const json_t *plan = json_object_get(o, "plan");
    if (json_is_object(plan)) {
        ic_sb_puts(s, "<dl class=\"setup\">\n");
        setup_rows(s, plan, NULL, NULL);
        ic_sb_puts(s, "</dl>\n");
    }
    char *pj = plan ? json_dumps(plan, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    if (pj) {
        ic_sb_puts(s, "<details><summary>the plan as sweep.json gives it</summary><pre>");
        sb_esc(s, pj);
        ic_sb_puts(s, "</pre></details>\n");
        free(pj);
    }
    section_end(s);
    section(s, "results", "Results");
    ic_sb_puts(s, "<div class=\"tablewrap\"><table><caption>Runs (sweep.json)</caption><thead><tr><th scope=\"col\">run</th>"
              "<th scope=\"col\">status</th>");
    for (int j = 0; j < nm; j++) {
        ic_sb_puts(s, "<th scope=\"col\">");
        sb_esc(s, mnames[j]);
        ic_sb_puts(s, "</th>");
    }
    ic_sb_puts(s, "<th scope=\"col\">page</th><th scope=\"col\">error</th></tr></thead><tbody>\n");
    json_array_foreach(runs, i, r) {
        const char *st = json_string_value(json_object_get(r, "status")), *rd = json_string_value(json_object_get(r, "dir"));
        const char *cls = !st ? "pending" : strcmp(st, "done") == 0 ? "ok" : strcmp(st, "failed") == 0 ? "fail" : "pending";
        ic_sb_puts(s, "<tr><th scope=\"row\">");
        sb_esc(s, json_string_value(json_object_get(r, "name")));
        ic_sb_printf(s, "</th><td class=\"%s\">", cls);
        sb_esc(s, st ? st : "pending");
        ic_sb_puts(s, "</td>");
        for (int j = 0; j < nm; j++) {
            ic_sb_puts(s, "<td class=\"num\">");
            sb_num(s, jnum(json_object_get(json_object_get(r, "metrics"), mnames[j])));
            ic_sb_puts(s, "</td>");
        }
        ic_sb_puts(s, "<td>");
        if (safe_rel(rd)) {
            ic_sb_puts(s, "<a href=\"");
            sb_href(s, rd);
            ic_sb_puts(s, "/report.html\">");
            sb_esc(s, rd);
            ic_sb_puts(s, "</a>");
        } else if (rd) {
            sb_esc(s, rd);
            ic_sb_puts(s, " (not a path inside the sweep: no link)");
        }
        ic_sb_puts(s, "</td><td>");
        sb_esc(s, json_string_value(json_object_get(r, "error")));
        ic_sb_puts(s, "</td></tr>\n");
    }
    ic_sb_puts(s, "</tbody></table></div>\n");
    section_end(s);
    page_finish(pg);
    json_decref(o);
    return 0;
}

/* ---------------- the demo ---------------- */

/* The demo's per-seed comparisons: demo.json's "compares" ([{"seed", "dir"}]),
 * or, in a demo.json from before several seeds, its one "compare" part. */
typedef struct {
    long long seed;
    const char *dir;
} demo_cmp;

static int demo_compares(const json_t *o, demo_cmp *c, int max) {
    const json_t *arr = json_object_get(o, "compares");
    int n = 0;
    if (json_is_array(arr)) {
        size_t i;
        const json_t *v;
        json_array_foreach(arr, i, v) {
            const char *d = json_string_value(json_object_get(v, "dir"));
            if (n < max && d && safe_rel(d)) c[n++] = (demo_cmp){json_integer_value(json_object_get(v, "seed")), d};
        }
        return n;
    }
    const char *d = json_string_value(json_object_get(json_object_get(o, "parts"), "compare"));
    if (d && safe_rel(d) && max > 0) c[n++] = (demo_cmp){json_integer_value(json_object_get(o, "seed")), d};
    return n;
}

#define DEMO_MAX_SEEDS 64
/* A model whose error at k = 2d is above this has not left the loss plateau
 * (the zero estimator scores about 1 there, least squares about 0). */
#define DEMO_PLATEAU 0.5

/* The demo's findings as plain lines, from its parts' own files (demo.json
 * names them): the chosen model against least squares and the zero
 * estimator at k = 2d, the looped model against the plain one per seed and
 * pooled over the seeds, the surgery sweeps. */
static int demo_lines(const char *dir, const json_t *o, lines *l, ic_err *err) {
    const json_t *parts = json_object_get(o, "parts");
    const char *ev = json_string_value(json_object_get(parts, "eval")),
               *sur = json_string_value(json_object_get(parts, "surgery")),
               *model = json_string_value(json_object_get(o, "model_label")),
               *chosen = json_string_value(json_object_get(o, "selection")),
               *plain = json_string_value(json_object_get(o, "plain")),
               *looped = json_string_value(json_object_get(o, "looped"));
    if (!model) model = json_string_value(json_object_get(o, "model"));
    if (!plain) plain = "plain";
    if (!looped) looped = "looped";
    const int d = (int)json_integer_value(json_object_get(o, "n_dims"));
    const double target = jnum(json_object_get(o, "target"));
    char p[4096];
    ic_page_est m, ls, z;
    if (!ev || !safe_rel(ev) || !path_in(p, sizeof p, dir, ev) || ic_page_eval_at(p, NULL, "transformer", 2 * d, &m, err) ||
        ic_page_eval_at(p, NULL, "least_squares", 2 * d, &ls, err) || ic_page_eval_at(p, NULL, "zero", 2 * d, &z, err)) {
        if (!ev) ic_errf(err, "%s/demo.json names no eval part", dir);
        return -1;
    }
    char a[128], b[128], c[128];
    est_text(a, sizeof a, m);
    est_text(b, sizeof b, ls);
    est_text(c, sizeof c, z);
    lines_addf(l, "1. In-context learning: after %lld training steps, %s%s%s%s has squared error / d %s at k = 2d = %d "
               "examples: %s the %.2g target. Least squares: %s; the zero estimator (predicting 0): %s.",
               (long long)json_integer_value(json_object_get(o, "train_steps")), model ? model : "the model",
               chosen ? " (" : "", chosen ? chosen : "", chosen ? ")" : "", a, 2 * d,
               m.v <= target ? "within" : "NOT within", target, b, c);
    demo_cmp cmp[DEMO_MAX_SEEDS];
    const int ns = demo_compares(o, cmp, DEMO_MAX_SEEDS);
    double ratio[2][DEMO_MAX_SEEDS];
    int n_lower[2] = {0, 0}, n_below[2] = {0, 0}, n_above[2] = {0, 0};
    for (int i = 0; i < ns; i++) {
        if (!path_in(p, sizeof p, dir, cmp[i].dir)) return ic_errf(err, "%s/%s: path too long", dir, cmp[i].dir);
        for (int j = 0; j < 2; j++) {
            double e0, e1;
            ic_page_est r, self;
            if (ic_page_compare_at(p, 0, (j + 1) * d, &e0, &self, err) || ic_page_compare_at(p, 1, (j + 1) * d, &e1, &r, err))
                return -1;
            ratio[j][i] = r.v;
            n_lower[j] += r.v < 1;
            n_below[j] += r.hi < 1;
            n_above[j] += r.lo > 1;
            if (j == 0) continue;
            char x[64], y[64], stuck[160] = "";
            fmt_num(x, sizeof x, e1);
            fmt_num(y, sizeof y, e0);
            est_text(a, sizeof a, r);
            if (e0 > DEMO_PLATEAU || e1 > DEMO_PLATEAU)
                snprintf(stuck, sizeof stuck, "; %s%s%s did not leave the loss plateau", e0 > DEMO_PLATEAU ? plain : "",
                         e0 > DEMO_PLATEAU && e1 > DEMO_PLATEAU ? " and " : "", e1 > DEMO_PLATEAU ? looped : "");
            lines_addf(l, "2. Looping, seed %lld, k = %d: %s %s, %s %s; ratio %s [paired 90%% over the prompts]: %s%s.",
                       cmp[i].seed, 2 * d, looped, x, plain, y, a,
                       r.hi < 1 ? "lower" : r.lo > 1 ? "higher" : isnan(r.lo) ? "no interval" : "no detectable difference",
                       stuck);
        }
    }
    if (ns == 1)
        lines_addf(l, "2. One training seed: the interval above is over the prompts, not over training runs; "
                   "--seeds 1,2,3,4 trains more seeds and pools the ratio over them.");
    for (int j = 0; j < 2 && ns > 1; j++) {
        ic_page_est pool;
        if (ic_page_pool_seeds(ratio[j], ns, &pool)) {
            lines_addf(l, "2. Looping over the %d seeds, k = %d: a ratio is not a positive number; no pooled value.", ns,
                       (j + 1) * d);
            continue;
        }
        est_text(a, sizeof a, pool);
        char verdict[256];
        if (pool.hi < 1) snprintf(verdict, sizeof verdict, "%s is better than %s at this budget, across seeds", looped, plain);
        else if (pool.lo > 1) snprintf(verdict, sizeof verdict, "%s is better than %s at this budget, across seeds", plain, looped);
        else if (n_below[j] == ns || n_above[j] == ns)
            snprintf(verdict, sizeof verdict, "%s is better than %s in each of the %d seeds (every paired interval %s 1), "
                     "but %d seeds are too few for an interval over seeds that excludes 1",
                     n_below[j] == ns ? looped : plain, n_below[j] == ns ? plain : looped, ns,
                     n_below[j] == ns ? "below" : "above", ns);
        else snprintf(verdict, sizeof verdict, "no consistent difference across seeds at this budget (%s lower in %d of %d)",
                      looped, n_lower[j], ns);
        lines_addf(l, "2. Looping over the %d seeds, k = %d: %s / %s error, geometric mean %s [90%% interval over the "
                   "seeds]: %s.", ns, (j + 1) * d, looped, plain, a, verdict);
    }
    if (sur && safe_rel(sur) && path_in(p, sizeof p, dir, sur)) {
        ic_page_surgery f;
        if (ic_page_surgery_at(p, 2 * d, &f, err)) return -1;
        lines le = {0};
        surgery_lines(&le, &f);
        for (int i = 0; i < le.n; i++) lines_addf(l, "3. Surgery on %s, %s", model ? model : "the model", le.line[i]);
        lines_free(&le);
    }
    return 0;
}

int ic_page_demo_findings(const char *dir, char ***out, int *n, ic_err *err) {
    *out = NULL;
    *n = 0;
    json_t *o = load_json(dir, "demo.json", err);
    if (!o) return -1;
    lines l = {0};
    int rc = demo_lines(dir, o, &l, err);
    json_decref(o);
    if (rc) { lines_free(&l); return -1; }
    *out = l.line;
    *n = l.n;
    return 0;
}

void ic_page_lines_free(char **l, int n) {
    lines x = {l, n, n};
    lines_free(&x);
}

static void sub_figure(ic_sbuf *s, const char *dir, const char *part, const char *file, int *fig_no, const char *caption) {
    char rel[1024];
    if (!part || !safe_rel(part)) return;
    snprintf(rel, sizeof rel, "%s/%s", part, file);
    if (exists_in(dir, rel)) figure(s, dir, rel, fig_no, caption);
}

static int page_demo(page *pg) {
    ic_sbuf *s = pg->s;
    json_t *o = load_json(pg->dir, "demo.json", pg->err);
    if (!o) return -1;
    lines l = {0};
    if (demo_lines(pg->dir, o, &l, pg->err)) { json_decref(o); lines_free(&l); return -1; }
    const json_t *parts = json_object_get(o, "parts");
    const int d = (int)json_integer_value(json_object_get(o, "n_dims"));
    page_begin(s, "iclab demo: a transformer learns linear regression in context", "demo", pg->dir, 0);
    question(s, "(1) Does a small transformer trained on linear-regression prompts predict a new point's label from the "
                "examples in its prompt as well as least squares does? (2) At the same number of training steps, does a "
                "3-block model applied twice beat 6 independent blocks? (3) Does any reordering of the trained model's "
                "layers (skip, duplicate, shuffle, loop) beat the model as trained?");
    conclusions(s, &l);
    lines_free(&l);
    static const char *const skip[] = {"parts", "commands", NULL};
    setup_table(s, o, skip);
    const json_t *cmds = json_object_get(o, "commands");
    if (json_array_size(cmds)) {
        ic_sb_puts(s, "<p>The demo runs these commands (each part can be re-run by hand):</p>\n<pre>");
        size_t i;
        const json_t *c;
        json_array_foreach(cmds, i, c) {
            sb_esc(s, json_string_value(c));
            ic_sb_puts(s, "\n");
        }
        ic_sb_puts(s, "</pre>\n");
    }
    section(s, "results", "Results");
    char p[4096];
    const char *ev = json_string_value(json_object_get(parts, "eval"));
    if (ev && safe_rel(ev) && path_in(p, sizeof p, pg->dir, ev)) {
        ic_sb_puts(s, "<h3>1. In-context error against least squares and the zero estimator</h3>\n");
        json_t *eo = load_json(p, "results.json", pg->err);
        if (!eo) { json_decref(o); return -1; }
        int ks[3] = {d / 2, d, 2 * d};
        eval_table(s, "standard", json_object_get(json_object_get(eo, "settings"), "standard"),
                   json_string_value(json_object_get(eo, "metric")), ks, 3);
        json_decref(eo);
    }
    demo_cmp cmp[DEMO_MAX_SEEDS];
    const int ns = demo_compares(o, cmp, DEMO_MAX_SEEDS);
    for (int i = 0; i < ns; i++) {
        if (!path_in(p, sizeof p, pg->dir, cmp[i].dir)) continue;
        json_t *co = load_json(p, "compare.json", pg->err);
        if (!co) { json_decref(o); return -1; }
        ic_sb_printf(s, "<h3>2. Looped against plain, same prompts: seed %lld</h3>\n", cmp[i].seed);
        compare_table(s, json_object_get(co, "models"), "error and ratio to the plain model [paired 90% interval]");
        json_decref(co);
    }
    const char *sur = json_string_value(json_object_get(parts, "surgery"));
    if (sur && safe_rel(sur) && path_in(p, sizeof p, pg->dir, sur)) {
        ic_sb_puts(s, "<h3>3. Layer surgery</h3>\n");
        surgery_table(s, p, 2 * d);
    }
    section_end(s);
    section(s, "figures", "Figures");
    ic_sb_puts(s, "<div class=\"figs\">\n");
    char kname[64];
    sub_figure(s, pg->dir, ev, "standard.svg", &pg->fig_no, NULL);
    for (int i = 0; i < ns; i++) sub_figure(s, pg->dir, cmp[i].dir, "compare.svg", &pg->fig_no, NULL);
    /* the model of parts 1 and 3: its run directory */
    sub_figure(s, pg->dir, json_string_value(json_object_get(o, "model")), "loss.svg", &pg->fig_no,
               "Training loss of the model of parts 1 and 3");
    static const char *const sweeps[] = {"skip-each", "duplicate-each", "shuffle", "loops", NULL};
    for (int i = 0; sweeps[i]; i++) {
        snprintf(kname, sizeof kname, "%s_k%d.svg", sweeps[i], 2 * d);
        sub_figure(s, pg->dir, sur, kname, &pg->fig_no, NULL);
    }
    ic_sb_puts(s, "</div>\n");
    section_end(s);
    section(s, "parts", "Parts");
    ic_sb_puts(s, "<ul class=\"files\">\n");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)parts, k, v) {
        const char *rel = json_string_value(v);
        if (!safe_rel(rel)) continue;
        ic_sb_puts(s, "<li>");
        sb_esc(s, k);
        ic_sb_puts(s, ": <a href=\"");
        sb_href(s, rel);
        ic_sb_puts(s, "/report.html\">");
        sb_esc(s, rel);
        ic_sb_puts(s, "/report.html</a></li>\n");
    }
    ic_sb_puts(s, "</ul>\n");
    section_end(s);
    data_files(s, pg->dir);
    page_end(s);
    json_decref(o);
    return 0;
}

/* ---------------- dispatch ---------------- */

static int has_surgery_json(const char *dir) {
    namelist l;
    ic_err e;
    int found = 0;
    if (list_dir(dir, ".json", 0, &l, &e)) return 0;
    for (int i = 0; i < l.n && !found; i++) {
        json_t *o = load_json(dir, l.name[i], &e);
        found = o && is_surgery_json(o);
        json_decref(o);
    }
    names_free(&l);
    return found;
}

const char *ic_page_kind(const char *dir, ic_err *err) {
    struct stat st;
    if (stat(dir, &st) != 0) { ic_errf(err, "%s does not exist", dir); return NULL; }
    if (!S_ISDIR(st.st_mode)) { ic_errf(err, "%s is not a directory", dir); return NULL; }
    if (exists_in(dir, "demo.json")) return "demo";
    if (exists_in(dir, "sweep.json")) return "sweep";
    if (exists_in(dir, "config.json") && exists_in(dir, "metrics.csv")) return "train";
    if (exists_in(dir, "compare.json")) return "compare";
    if (exists_in(dir, "results.json")) return "eval";
    if (has_surgery_json(dir)) return "surgery";
    if (exists_in(dir, "loops.json")) return "loops";
    for (int i = 0; PROBE_FILES[i]; i++)
        if (exists_in(dir, PROBE_FILES[i])) return "probe";
    ic_errf(err, "%s holds no iclab results: none of demo.json, sweep.json, config.json + metrics.csv (train), "
            "compare.json, results.json (eval), <sweep>.json (surgery), loops.json, lens/probes/sime/components/"
            "geometry.json (probe)", dir);
    return NULL;
}

int ic_page_render(const char *dir, int refresh_s, char **html, size_t *len, ic_err *err) {
    *html = NULL;
    *len = 0;
    const char *kind = ic_page_kind(dir, err);
    if (!kind) return -1;
    ic_sbuf s = {0};
    page pg = {dir, refresh_s, &s, 0, err};
    int rc;
    if (strcmp(kind, "demo") == 0) rc = page_demo(&pg);
    else if (strcmp(kind, "sweep") == 0) rc = page_sweep(&pg);
    else if (strcmp(kind, "train") == 0) rc = page_train(&pg);
    else if (strcmp(kind, "compare") == 0) rc = page_compare(&pg);
    else if (strcmp(kind, "eval") == 0) rc = page_eval(&pg);
    else if (strcmp(kind, "surgery") == 0) rc = page_surgery(&pg);
    else if (strcmp(kind, "loops") == 0) rc = page_loops(&pg);
    else rc = page_probe(&pg);
    if (rc == 0 && s.oom) rc = ic_errf(err, "%s: out of memory writing the page", dir);
    if (rc) { free(s.p); return -1; }
    *html = s.p;
    *len = s.n;
    return 0;
}

int ic_page_write(const char *dir, int refresh_s, ic_err *err) {
    char *html;
    size_t len;
    char path[4096];
    if (ic_path_join(path, sizeof path, dir, "report.html", err)) return -1;
    if (ic_page_render(dir, refresh_s, &html, &len, err)) return -1;
    int rc = ic_write_file_atomic(path, html, len, err);
    free(html);
    return rc;
}
