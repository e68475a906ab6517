/* test_plot.c: the SVG plots (src/plot.h). Every file written is checked to
 * be well-formed XML by a small parser here (and by xmllint when it is
 * installed) and valid UTF-8; then: nice ticks on known ranges, compact
 * number labels, non-finite and non-positive values skipped on log axes,
 * escaping, the legend, bar and heatmap contents, errors that leave no file
 * behind, and byte-identical output for identical input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plot.h"
#include "testutil.h"


/* ---------------- helpers ---------------- */

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    if (n) *n = (size_t)len;
    return buf;
}

static int count(const char *s, const char *sub) {
    int n = 0;
    size_t k = strlen(sub);
    for (const char *p = strstr(s, sub); p; p = strstr(p + k, sub)) n++;
    return n;
}

static int is_name_start(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':'; }
static int is_name_char(int c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }

/* A valid entity reference at p ("&...;"): returns its length, else 0. */
static size_t entity_len(const char *p) {
    static const char *const named[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};
    for (int i = 0; i < 5; i++)
        if (strncmp(p, named[i], strlen(named[i])) == 0) return strlen(named[i]);
    if (p[1] != '#') return 0;
    size_t i = 2;
    int hex = p[2] == 'x';
    if (hex) i++;
    size_t start = i;
    while ((hex && ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') || (p[i] >= 'A' && p[i] <= 'F'))) ||
           (!hex && p[i] >= '0' && p[i] <= '9'))
        i++;
    return i > start && p[i] == ';' ? i + 1 : 0;
}

/* Well-formedness of the subset of XML the plots use: an optional XML
 * declaration, comments, elements with quoted attributes (unique per
 * element), text, entity references; balanced tags and one root element.
 * Returns NULL if well-formed, else what is wrong. */
static const char *xml_problem(const char *s) {
    static char why[160];
    const char *p = s;
    char stack[64][48];
    int depth = 0, roots = 0;
    if (strncmp(p, "<?xml", 5) == 0) {
        p = strstr(p, "?>");
        if (!p) return "unterminated XML declaration";
        p += 2;
    }
    while (*p) {
        if (*p == '<') {
            if (strncmp(p, "<!--", 4) == 0) {
                const char *q = strstr(p + 4, "-->");
                if (!q) return "unterminated comment";
                p = q + 3;
                continue;
            }
            int closing = p[1] == '/';
            p += closing ? 2 : 1;
            if (!is_name_start((unsigned char)*p)) return "bad tag name";
            const char *name = p;
            while (is_name_char((unsigned char)*p)) p++;
            size_t nl = (size_t)(p - name);
            if (nl >= sizeof stack[0]) return "tag name too long";
            if (closing) {
                while (*p == ' ' || *p == '\n' || *p == '\t') p++;
                if (*p != '>') return "junk in closing tag";
                p++;
                if (depth == 0) return "closing tag without opening tag";
                depth--;
                if (strlen(stack[depth]) != nl || strncmp(stack[depth], name, nl) != 0) {
                    snprintf(why, sizeof why, "</%.*s> closes <%.47s>", (int)(nl > 47 ? 47 : nl), name, stack[depth]);
                    return why;
                }
                continue;
            }
            if (depth == 0 && ++roots > 1) return "more than one root element";
            char attrs[64][48];
            int na = 0;
            for (;;) {
                int ws = 0;
                while (*p == ' ' || *p == '\n' || *p == '\t') p++, ws = 1;
                if (*p == '>') {
                    if (depth >= 64) return "too deep";
                    memcpy(stack[depth], name, nl);
                    stack[depth][nl] = '\0';
                    depth++;
                    p++;
                    break;
                }
                if (p[0] == '/' && p[1] == '>') {
                    p += 2;
                    break;
                }
                if (!ws) return "attributes not separated by white space";
                if (!is_name_start((unsigned char)*p)) return "bad attribute name";
                const char *an = p;
                while (is_name_char((unsigned char)*p)) p++;
                size_t al = (size_t)(p - an);
                if (al >= sizeof attrs[0]) return "attribute name too long";
                for (int i = 0; i < na; i++)
                    if (strlen(attrs[i]) == al && strncmp(attrs[i], an, al) == 0) return "duplicate attribute";
                if (na < 64) {
                    memcpy(attrs[na], an, al);
                    attrs[na++][al] = '\0';
                }
                if (*p++ != '=') return "attribute without '='";
                char q = *p++;
                if (q != '"' && q != '\'') return "unquoted attribute value";
                while (*p && *p != q) {
                    if (*p == '<') return "'<' in attribute value";
                    if (*p == '&') {
                        size_t k = entity_len(p);
                        if (!k) return "bad entity in attribute value";
                        p += k;
                    } else
                        p++;
                }
                if (*p != q) return "unterminated attribute value";
                p++;
            }
        } else if (*p == '&') {
            if (!entity_len(p)) return "bad entity in text";
            p += entity_len(p);
        } else {
            if (depth == 0 && !(*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
                return "text outside the root element";
            p++;
        }
    }
    if (depth) return "unclosed element";
    if (roots != 1) return "no root element";
    return NULL;
}

static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (!k || i + k > n) return 0;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        if (k == 3 && c == 0xE0 && s[i + 1] < 0xA0) return 0;
        if (k == 3 && c == 0xED && s[i + 1] > 0x9F) return 0;
        if (k == 4 && c == 0xF0 && s[i + 1] < 0x90) return 0;
        if (k == 4 && c == 0xF4 && s[i + 1] > 0x8F) return 0;
        i += k;
    }
    return 1;
}

static int have_xmllint(void) {
    return access("/usr/bin/xmllint", X_OK) == 0 || access("/usr/local/bin/xmllint", X_OK) == 0;
}

/* Reads path, checks it is a well-formed SVG (and valid UTF-8, with no NaN
 * or infinity printed anywhere), returns its text (free it). */
static char *read_svg(const char *path) {
    size_t n;
    char *s = slurp(path, &n);
    assert_int_equal(strlen(s), n); /* no NUL bytes */
    const char *why = xml_problem(s);
    if (why) fail_msg("%s is not well-formed XML: %s", path, why);
    if (!utf8_valid((const unsigned char *)s, n)) fail_msg("%s is not valid UTF-8", path);
    assert_non_null(strstr(s, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_null(strstr(s, "nan"));
    assert_null(strstr(s, "inf"));
    assert_null(strstr(s, "NaN"));
    if (have_xmllint()) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
        if (system(cmd) != 0) fail_msg("xmllint rejects %s", path);
    }
    return s;
}

/* The text of the first element whose start tag contains marker, up to the
 * next "</g>" (the groups used here do not nest). Points into s. */
static char *group(char *s, const char *marker) {
    char *g = strstr(s, marker);
    if (!g) fail_msg("no %s in the SVG", marker);
    char *end = strstr(g, "</g>");
    assert_non_null(end);
    *end = '\0'; /* callers are done with what follows */
    return g;
}

static int no_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 1;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) ok = 0;
    closedir(d);
    return ok;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Count the M (segment starts) and L (continuations) of every line path. */
static void count_line_cmds(const char *s, int *m, int *l) {
    *m = *l = 0;
    for (const char *p = strstr(s, "<path class=\"line\""); p; p = strstr(p + 1, "<path class=\"line\"")) {
        const char *d = strstr(p, " d=\"");
        assert_non_null(d);
        for (d += 4; *d && *d != '"'; d++) {
            if (*d == 'M') (*m)++;
            if (*d == 'L') (*l)++;
        }
    }
}

/* ---------------- ticks and labels ---------------- */

static void assert_ticks(const ic_ticks *t, const double *want, int n, double rtol) {
    if (t->n != n) {
        for (int i = 0; i < t->n; i++) fprintf(stderr, "tick %d: %.17g\n", i, t->v[i]);
        fail_msg("%d ticks, expected %d", t->n, n);
    }
    for (int i = 0; i < n; i++)
        if (fabs(t->v[i] - want[i]) > rtol * fmax(fabs(want[i]), 1e-300))
            fail_msg("tick %d = %.17g, expected %.17g", i, t->v[i], want[i]);
}

/* ticks are k * step for a 1-2-5 step; returns the step */
static double assert_125(const ic_ticks *t) {
    assert_true(t->n >= 2);
    double step = t->v[1] - t->v[0];
    assert_true(step > 0);
    double mant = step / pow(10, floor(log10(step) + 1e-9));
    if (!(fabs(mant - 1) < 1e-6 || fabs(mant - 2) < 1e-6 || fabs(mant - 5) < 1e-6))
        fail_msg("step %.17g is not 1, 2 or 5 times a power of ten", step);
    for (int i = 0; i < t->n; i++) {
        double k = t->v[i] / step;
        if (fabs(k - round(k)) > 1e-6) fail_msg("tick %.17g is not a multiple of %.17g", t->v[i], step);
        if (i && fabs(t->v[i] - t->v[i - 1] - step) > 1e-9 * step) fail_msg("uneven ticks");
    }
    return step;
}

static void test_ticks_linear(void **st) {
    (void)st;
    ic_ticks t;
    ic_err err = {{0}};
    /* [0, 0.93] -> 0, 0.2, ..., 1 */
    assert_int_equal(ic_plot_ticks(0, 0.93, 0, 5, 1, &t, &err), 0);
    const double w1[] = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
    assert_ticks(&t, w1, 6, 1e-12);
    assert_true(t.lo == 0 && t.hi == 1.0);
    assert_true(t.v[0] == 0); /* exact zero, not 1e-17 */
    assert_true(t.v[3] == 0.6); /* no 0.6000000000000001 */
    /* without expansion ticks stay inside and the range is the one given */
    assert_int_equal(ic_plot_ticks(0.13, 0.87, 0, 5, 0, &t, &err), 0);
    const double w2[] = {0.2, 0.4, 0.6, 0.8};
    assert_ticks(&t, w2, 4, 1e-12);
    assert_true(t.lo == 0.13 && t.hi == 0.87);
    /* negative to positive */
    assert_int_equal(ic_plot_ticks(-3.7, 12.2, 0, 5, 1, &t, &err), 0);
    const double w3[] = {-5, 0, 5, 10, 15};
    assert_ticks(&t, w3, 5, 1e-12);
    /* training steps */
    assert_int_equal(ic_plot_ticks(0, 500000, 0, 5, 1, &t, &err), 0);
    assert_true(assert_125(&t) == 100000);
    /* a constant is widened around its value */
    assert_int_equal(ic_plot_ticks(2, 2, 0, 5, 1, &t, &err), 0);
    assert_true(t.n >= 2 && t.lo < 2 && t.hi > 2);
    assert_int_equal(ic_plot_ticks(0, 0, 0, 5, 1, &t, &err), 0);
    assert_true(t.n >= 2 && t.lo < 0 && t.hi > 0);

    /* many ranges: 1-2-5 steps, the range covered, a sensible count, distinct labels */
    tu_rng r = tu_rng_make(7);
    for (int it = 0; it < 2000; it++) {
        double scale = pow(10, 12 * tu_rng_uniform(&r));
        double a = tu_rng_uniform(&r) * scale, b = tu_rng_uniform(&r) * scale;
        double lo = fmin(a, b), hi = fmax(a, b);
        int target = 2 + (int)(tu_rng_u64(&r) % 9);
        int expand = (int)(tu_rng_u64(&r) & 1);
        assert_int_equal(ic_plot_ticks(lo, hi, 0, target, expand, &t, &err), 0);
        assert_125(&t);
        assert_true(t.n <= target + 3);
        if (expand) {
            assert_true(t.lo <= lo && t.hi >= hi);
            assert_true(t.v[0] == t.lo && t.v[t.n - 1] == t.hi);
        } else
            for (int i = 0; i < t.n; i++)
                assert_true(t.v[i] >= lo - 1e-9 * (hi - lo) && t.v[i] <= hi + 1e-9 * (hi - lo));
        for (int i = 1; i < t.n; i++) {
            char x[64], y[64];
            ic_plot_fmt(x, sizeof x, t.v[i - 1], 6);
            ic_plot_fmt(y, sizeof y, t.v[i], 6);
            if (strcmp(x, y) == 0) fail_msg("ticks %.17g and %.17g both print as %s", t.v[i - 1], t.v[i], x);
        }
    }
}

static void test_ticks_log(void **st) {
    (void)st;
    ic_ticks t;
    ic_err err = {{0}};
    /* [1e-4, 0.5] -> decades 1e-4 ... 1 */
    assert_int_equal(ic_plot_ticks(1e-4, 0.5, 1, 6, 1, &t, &err), 0);
    const double w1[] = {1e-4, 1e-3, 1e-2, 1e-1, 1};
    assert_ticks(&t, w1, 5, 1e-12);
    assert_true(fabs(t.lo - 1e-4) < 1e-16 && t.hi == 1);
    /* inside only */
    assert_int_equal(ic_plot_ticks(2e-4, 0.5, 1, 6, 0, &t, &err), 0);
    const double w2[] = {1e-3, 1e-2, 1e-1};
    assert_ticks(&t, w2, 3, 1e-12);
    /* fifteen decades with room for five ticks: every third decade */
    assert_int_equal(ic_plot_ticks(1e-12, 1e3, 1, 5, 1, &t, &err), 0);
    assert_true(t.n >= 2 && t.n <= 6);
    for (int i = 0; i < t.n; i++) {
        double e = log10(t.v[i]);
        assert_true(fabs(e - round(e)) < 1e-9);
        if (i) assert_true(fabs(log10(t.v[i] / t.v[i - 1]) - log10(t.v[1] / t.v[0])) < 1e-9);
    }
    assert_true(t.lo <= 1e-12 && t.hi >= 1e3);
    /* under two decades: 1, 2, 5 */
    assert_int_equal(ic_plot_ticks(0.05, 0.4, 1, 6, 1, &t, &err), 0);
    const double w3[] = {0.05, 0.1, 0.2, 0.5};
    assert_ticks(&t, w3, 4, 1e-12);
    /* within a factor of 3: linear steps, all positive */
    assert_int_equal(ic_plot_ticks(0.3, 0.5, 1, 5, 1, &t, &err), 0);
    assert_125(&t);
    assert_true(t.v[0] > 0 && t.lo > 0 && t.lo <= 0.3 && t.hi >= 0.5);
    /* invalid */
    err.msg[0] = '\0';
    assert_int_equal(ic_plot_ticks(0, 1, 1, 5, 1, &t, &err), -1);
    assert_non_null(strstr(err.msg, "positive"));
    assert_int_equal(ic_plot_ticks(-1, 1, 1, 5, 1, &t, &err), -1);
    assert_int_equal(ic_plot_ticks(NAN, 1, 0, 5, 1, &t, &err), -1);
    assert_int_equal(ic_plot_ticks(0, INFINITY, 0, 5, 1, &t, &err), -1);
    assert_int_equal(ic_plot_ticks(2, 1, 0, 5, 1, &t, &err), -1);
    assert_int_equal(ic_plot_ticks(0, 1, 0, 5, 1, NULL, &err), -1);
}

static void test_fmt(void **st) {
    (void)st;
    struct {
        double v;
        int sig;
        const char *want;
    } cases[] = {
        {0.05, 6, "0.05"},   {1e-4, 6, "1e-4"},     {1200, 6, "1200"},     {0.1 + 0.2, 6, "0.3"},
        {2.5e-5, 6, "2.5e-5"}, {-0.5, 6, "-0.5"},   {0, 6, "0"},           {-0.0, 6, "0"},
        {1e6, 6, "1e6"},     {123456, 6, "123456"}, {0.001, 6, "0.001"},   {1, 6, "1"},
        {1.0 / 3, 3, "0.333"}, {2.0 / 3, 2, "0.67"}, {12.3456, 3, "12.3"}, {0.0874321, 3, "0.0874"},
        {3e-7, 3, "3e-7"},   {-1.5e12, 6, "-1.5e12"}, {99999.7, 3, "100000"}, {9.996, 3, "10"},
        {NAN, 3, "nan"},     {INFINITY, 3, "inf"},  {-INFINITY, 3, "-inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        int n = ic_plot_fmt(buf, sizeof buf, cases[i].v, cases[i].sig);
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("fmt(%.17g, %d) = \"%s\", expected \"%s\"", cases[i].v, cases[i].sig, buf,
                     cases[i].want);
        assert_int_equal(n, (int)strlen(buf));
    }
    /* truncation like snprintf */
    char small[4];
    assert_int_equal(ic_plot_fmt(small, sizeof small, 123456, 6), 6);
    assert_string_equal(small, "123");
}

/* ---------------- line plots ---------------- */

static void test_lines_basic(void **st) {
    (void)st;
    enum { N = 30 };
    double x[N], a[N], b[N], lo[N], hi[N];
    for (int i = 0; i < N; i++) {
        x[i] = i;
        a[i] = 0.93 * (1 - i / (N - 1.0));
        b[i] = 0.5 + 0.3 * sin(i * 0.4);
        lo[i] = b[i] - 0.05;
        hi[i] = b[i] + 0.05;
    }
    const char *weird = "a<b & \"c\" 'd' > e";
    ic_series s[3] = {
        {"model", x, a, N, NULL, NULL, 0},
        {weird, x, b, N, lo, hi, 0},
        {"least squares", x, a, N, NULL, NULL, 1},
    };
    ic_plot_opts o = ic_plot_default_opts();
    o.title = "Title with <tags> & \"quotes\"";
    o.xlabel = "in-context examples";
    o.ylabel = "error";
    o.ymin = 0;
    ic_err err = {{0}};
    const char *path = tu_tmp_path("lines.svg");
    assert_int_equal(ic_plot_lines(path, &o, s, 3, &err), 0);
    char *svg = read_svg(path);
    /* escaping: no raw specials from the labels */
    assert_non_null(strstr(svg, "Title with &lt;tags&gt; &amp; &quot;quotes&quot;"));
    assert_null(strstr(svg, "<tags>"));
    assert_null(strstr(svg, "a<b"));
    assert_non_null(strstr(svg, ">in-context examples</text>"));
    assert_non_null(strstr(svg, ">error</text>"));
    /* three lines, one band, one dashed line */
    assert_int_equal(count(svg, "<path class=\"line\""), 3);
    assert_int_equal(count(svg, "<path class=\"band\""), 1);
    assert_int_equal(count(svg, "stroke-dasharray=\"7 4\""), 2); /* the line and its legend sample */
    /* distinct colours */
    assert_non_null(strstr(svg, "stroke=\"#0072B2\""));
    assert_non_null(strstr(svg, "stroke=\"#D55E00\""));
    assert_non_null(strstr(svg, "stroke=\"#009E73\""));
    /* y data in [0, 0.93]: ticks 0, 0.2, ..., 1 */
    char *copy = strdup(svg);
    char *yt = group(copy, "class=\"yticks\"");
    const char *ylabels[] = {">0</text>", ">0.2</text>", ">0.4</text>", ">0.6</text>", ">0.8</text>", ">1</text>"};
    for (int i = 0; i < 6; i++)
        if (!strstr(yt, ylabels[i])) fail_msg("y tick label %s missing", ylabels[i]);
    free(copy);
    /* the legend names every series */
    copy = strdup(svg);
    char *leg = group(copy, "class=\"legend\"");
    assert_non_null(strstr(leg, ">model</text>"));
    assert_non_null(strstr(leg, ">a&lt;b &amp; &quot;c&quot; &apos;d&apos; &gt; e</text>"));
    assert_non_null(strstr(leg, ">least squares</text>"));
    free(copy);
    /* readable fonts: no font size under 12 */
    for (const char *p = strstr(svg, "font-size=\""); p; p = strstr(p + 1, "font-size=\""))
        assert_true(atoi(p + 11) >= 12);
    free(svg);
}

static void test_lines_skip_invalid(void **st) {
    (void)st;
    enum { N = 40 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = i + 1;
        y[i] = pow(10, -i / 10.0);
    }
    y[5] = NAN;
    y[10] = -1;
    y[11] = 0;
    y[20] = INFINITY;
    y[30] = -INFINITY;
    y[31] = NAN;
    /* valid runs: 0-4, 6-9, 12-19, 21-29, 32-39: 34 points in 5 segments */
    ic_series s = {"decay", x, y, N, NULL, NULL, 0};
    ic_plot_opts o = ic_plot_default_opts();
    o.logy = 1;
    ic_err err = {{0}};
    const char *path = tu_tmp_path("logy.svg");
    assert_int_equal(ic_plot_lines(path, &o, &s, 1, &err), 0);
    char *svg = read_svg(path);
    int m, l;
    count_line_cmds(svg, &m, &l);
    assert_int_equal(m, 5);
    assert_int_equal(l, 34 - 5);
    assert_int_equal(count(svg, "class=\"point\""), 0);
    /* decade labels */
    char *copy = strdup(svg);
    char *yt = group(copy, "class=\"yticks\"");
    assert_non_null(strstr(yt, ">1e-2</text>"));
    assert_non_null(strstr(yt, ">1e-1</text>"));
    free(copy);
    free(svg);

    /* an isolated point becomes a marker; log x skips x <= 0 */
    double x2[N], y2[N];
    for (int i = 0; i < N; i++) {
        x2[i] = i; /* x = 0 is skipped on a log axis */
        y2[i] = 1 + i;
    }
    y2[20] = NAN;
    y2[22] = NAN; /* point 21 is isolated */
    ic_series s2 = {"isolated", x2, y2, N, NULL, NULL, 0};
    o = ic_plot_default_opts();
    o.logx = 1;
    path = tu_tmp_path("logx.svg");
    assert_int_equal(ic_plot_lines(path, &o, &s2, 1, &err), 0);
    svg = read_svg(path);
    count_line_cmds(svg, &m, &l);
    /* valid: 1-19 (19 points), 21 (isolated), 23-39 (17 points) */
    assert_int_equal(m, 2);
    assert_int_equal(l, 18 + 16);
    assert_int_equal(count(svg, "class=\"point\""), 1);
    free(svg);

    /* every coordinate of every line stays on the canvas even with a fixed range far inside the data */
    double y3[N];
    for (int i = 0; i < N; i++) y3[i] = i % 2 ? 1e300 : -1e300;
    ic_series s3 = {"wild", x, y3, N, NULL, NULL, 0};
    o = ic_plot_default_opts();
    o.ymin = -1;
    o.ymax = 1;
    path = tu_tmp_path("wild.svg");
    assert_int_equal(ic_plot_lines(path, &o, &s3, 1, &err), 0);
    svg = read_svg(path);
    const char *d = strstr(strstr(svg, "<path class=\"line\""), " d=\"") + 4;
    while (*d != '"') {
        if (*d == 'M' || *d == 'L') {
            d++;
            continue;
        }
        char *end;
        double v = strtod(d, &end);
        assert_true(end > d);
        assert_true(fabs(v) <= 1e5);
        d = end;
        while (*d == ' ') d++;
    }
    free(svg);
}

static void test_lines_no_data(void **st) {
    (void)st;
    ic_err err = {{0}};
    ic_plot_opts o = ic_plot_default_opts();
    o.title = "empty";
    /* no series */
    const char *path = tu_tmp_path("none.svg");
    assert_int_equal(ic_plot_lines(path, &o, NULL, 0, &err), 0);
    char *svg = read_svg(path);
    assert_non_null(strstr(svg, ">no data</text>"));
    free(svg);
    /* all NaN, an empty series, and only non-positive values on a log axis */
    double x[3] = {1, 2, 3}, nan3[3] = {NAN, NAN, NAN}, neg[3] = {-1, 0, -2};
    ic_series s[3] = {{"missing", x, nan3, 3, NULL, NULL, 0}, {"empty", NULL, NULL, 0, NULL, NULL, 0},
                      {"negative", x, neg, 3, NULL, NULL, 0}};
    o.logy = 1;
    assert_int_equal(ic_plot_lines(path, &o, s, 3, &err), 0);
    svg = read_svg(path);
    assert_non_null(strstr(svg, ">no data</text>"));
    assert_int_equal(count(svg, "<path class=\"line\""), 0);
    free(svg);
    /* a zero-initialised opts struct works (ymin == ymax == 0 means automatic) */
    ic_plot_opts z;
    memset(&z, 0, sizeof z);
    double y[3] = {1, 3, 2};
    ic_series one = {NULL, x, y, 3, NULL, NULL, 0};
    assert_int_equal(ic_plot_lines(path, &z, &one, 1, &err), 0);
    svg = read_svg(path);
    assert_null(strstr(svg, "no data"));
    assert_null(strstr(svg, "class=\"legend\"")); /* no labels, no legend */
    assert_int_equal(count(svg, "class=\"point\""), 3); /* short series get markers */
    free(svg);
    /* NULL opts, a single point */
    double x1 = 5, y1 = 0.25;
    ic_series pt = {"one point", &x1, &y1, 1, NULL, NULL, 0};
    assert_int_equal(ic_plot_lines(path, NULL, &pt, 1, &err), 0);
    svg = read_svg(path);
    assert_int_equal(count(svg, "class=\"point\""), 1);
    free(svg);
}

static void test_lines_many_series(void **st) {
    (void)st;
    enum { S = 30, N = 20 };
    static double x[N], y[S][N];
    static char names[S][32];
    ic_series s[S];
    for (int k = 0; k < S; k++) {
        for (int i = 0; i < N; i++) {
            x[i] = i;
            y[k][i] = k + sin(i);
        }
        snprintf(names[k], sizeof names[k], "series %d", k);
        s[k] = (ic_series){names[k], x, y[k], N, NULL, NULL, 0};
    }
    ic_err err = {{0}};
    const char *path = tu_tmp_path("many.svg");
    assert_int_equal(ic_plot_lines(path, NULL, s, S, &err), 0);
    char *svg = read_svg(path);
    assert_int_equal(count(svg, "<path class=\"line\""), S);
    /* past seven colours the dash patterns change */
    assert_true(count(svg, "stroke-dasharray") >= S - 7);
    /* the legend lists what fits and says how many are left out */
    char *copy = strdup(svg);
    char *leg = group(copy, "class=\"legend\"");
    assert_non_null(strstr(leg, ">series 0</text>"));
    assert_non_null(strstr(leg, " more</text>"));
    free(copy);
    free(svg);
}

static void test_lines_errors(void **st) {
    (void)st;
    ic_err err = {{0}};
    double x[2] = {0, 1}, y[2] = {0, 1};
    ic_series s = {"s", x, y, 2, NULL, NULL, 0};
    ic_plot_opts o = ic_plot_default_opts();
    const char *path = tu_tmp_path("bad.svg");

    assert_int_equal(ic_plot_lines(NULL, &o, &s, 1, &err), -1);
    assert_int_equal(ic_plot_lines(path, &o, &s, -1, &err), -1);
    assert_int_equal(ic_plot_lines(path, &o, NULL, 1, &err), -1);
    ic_series bad = s;
    bad.y = NULL;
    assert_int_equal(ic_plot_lines(path, &o, &bad, 1, &err), -1);
    bad = s;
    bad.lo = y;
    err.msg[0] = '\0';
    assert_int_equal(ic_plot_lines(path, &o, &bad, 1, &err), -1);
    assert_non_null(strstr(err.msg, "lo and hi"));
    o.width = 100;
    err.msg[0] = '\0';
    assert_int_equal(ic_plot_lines(path, &o, &s, 1, &err), -1);
    assert_non_null(strstr(err.msg, "100x"));
    o = ic_plot_default_opts();
    o.ymin = 1;
    o.ymax = 1;
    assert_int_equal(ic_plot_lines(path, &o, &s, 1, &err), -1);
    o.ymin = -1;
    o.ymax = 1;
    o.logy = 1;
    err.msg[0] = '\0';
    assert_int_equal(ic_plot_lines(path, &o, &s, 1, &err), -1);
    assert_non_null(strstr(err.msg, "log"));
    o = ic_plot_default_opts();
    o.ymax = INFINITY;
    assert_int_equal(ic_plot_lines(path, &o, &s, 1, &err), -1);
    assert_false(file_exists(path));
    assert_true(no_temp_files(tu_tmp_dir()));
}

static void test_write_failures(void **st) {
    (void)st;
    ic_err err = {{0}};
    double x[2] = {0, 1}, y[2] = {0, 1};
    ic_series s = {"s", x, y, 2, NULL, NULL, 0};
    /* a directory that does not exist */
    char path[600];
    snprintf(path, sizeof path, "%s/no/such/dir/plot.svg", tu_tmp_dir());
    err.msg[0] = '\0';
    assert_int_equal(ic_plot_lines(path, NULL, &s, 1, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_true(strlen(err.msg) > strlen(path));
    assert_false(file_exists(path));
    assert_true(no_temp_files(tu_tmp_dir()));
    /* rename onto a directory fails after the temporary file was written: it is removed */
    const char *dir = tu_tmp_path("a_directory");
    assert_int_equal(mkdir(dir, 0755), 0);
    err.msg[0] = '\0';
    assert_int_equal(ic_plot_lines(dir, NULL, &s, 1, &err), -1);
    assert_non_null(strstr(err.msg, "rename"));
    assert_true(no_temp_files(tu_tmp_dir()));
    const char *heat = tu_tmp_path("a_directory");
    double v[4] = {1, 2, 3, 4};
    assert_int_equal(ic_plot_heatmap(heat, NULL, v, 2, 2, NULL, NULL, 0, 1, &err), -1);
    assert_int_equal(ic_plot_bars(heat, NULL, NULL, v, NULL, NULL, 4, NAN, &err), -1);
    assert_true(no_temp_files(tu_tmp_dir()));
    rmdir(dir);
    /* overwriting an existing file replaces it */
    const char *p = tu_tmp_path("over.svg");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("old", f);
    fclose(f);
    assert_int_equal(ic_plot_lines(p, NULL, &s, 1, &err), 0);
    free(read_svg(p));
    assert_true(no_temp_files(tu_tmp_dir()));
}

static void test_determinism(void **st) {
    (void)st;
    enum { N = 50 };
    double x[N], y[N], lo[N], hi[N], v[N];
    tu_rng r = tu_rng_make(3);
    for (int i = 0; i < N; i++) {
        x[i] = i;
        y[i] = 1 + tu_rng_uniform(&r);
        lo[i] = y[i] - 0.1;
        hi[i] = y[i] + 0.1;
        v[i] = tu_rng_uniform(&r);
    }
    ic_series s[2] = {{"a", x, y, N, lo, hi, 0}, {"b", x, v, N, NULL, NULL, 1}};
    ic_plot_opts o = ic_plot_default_opts();
    o.title = "same";
    ic_err err = {{0}};
    const char *names[3][2] = {{"d1.svg", "d2.svg"}, {"b1.svg", "b2.svg"}, {"h1.svg", "h2.svg"}};
    for (int rep = 0; rep < 2; rep++) {
        assert_int_equal(ic_plot_lines(tu_tmp_path(names[0][rep]), &o, s, 2, &err), 0);
        assert_int_equal(ic_plot_bars(tu_tmp_path(names[1][rep]), &o, NULL, y, lo, hi, 10, 1.0, &err), 0);
        assert_int_equal(ic_plot_heatmap(tu_tmp_path(names[2][rep]), &o, v, 5, 10, NULL, NULL, 0, 1, &err), 0);
    }
    for (int k = 0; k < 3; k++) {
        size_t n1, n2;
        char *a = slurp(tu_tmp_path(names[k][0]), &n1), *b = slurp(tu_tmp_path(names[k][1]), &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(a, b, n1);
        free(a);
        free(b);
    }
}

/* All vertices of the line paths, as (x, y) pixel pairs; returns the count. */
static int line_vertices(const char *svg, double *xy, int cap) {
    int n = 0;
    for (const char *p = strstr(svg, "<path class=\"line\""); p; p = strstr(p + 1, "<path class=\"line\"")) {
        const char *d = strstr(p, " d=\"") + 4;
        while (*d != '"') {
            if (*d == 'M' || *d == 'L' || *d == ' ') {
                d++;
                continue;
            }
            char *end;
            double x = strtod(d, &end);
            d = end + 1;
            double y = strtod(d, &end);
            d = end;
            if (n < cap) xy[2 * n] = x, xy[2 * n + 1] = y;
            n++;
        }
    }
    return n;
}

static void legend_rect(const char *svg, double r[4]) {
    const char *g = strstr(svg, "class=\"legend\"");
    assert_non_null(g);
    assert_int_equal(sscanf(strstr(g, "<rect"), "<rect x=\"%lf\" y=\"%lf\" width=\"%lf\" height=\"%lf\"",
                            &r[0], &r[1], &r[2], &r[3]), 4);
}

static void test_legend_placement(void **st) {
    (void)st;
    enum { N = 400, S = 12 };
    static double x[N], diag[N], flat[S][N];
    for (int i = 0; i < N; i++) {
        x[i] = i;
        diag[i] = i;
    }
    ic_err err = {{0}};
    /* a diagonal leaves the top-left corner free: the legend goes there, on no data */
    ic_series s = {"diagonal", x, diag, N, NULL, NULL, 0};
    const char *path = tu_tmp_path("legend1.svg");
    assert_int_equal(ic_plot_lines(path, NULL, &s, 1, &err), 0);
    char *svg = read_svg(path);
    double r[4], *xy = malloc(sizeof(double) * 2 * N * S);
    assert_non_null(xy);
    legend_rect(svg, r);
    int nv = line_vertices(svg, xy, N * S);
    assert_int_equal(nv, N);
    double xmax = 0;
    for (int i = 0; i < nv; i++) {
        xmax = fmax(xmax, xy[2 * i]);
        assert_false(xy[2 * i] >= r[0] && xy[2 * i] <= r[0] + r[2] && xy[2 * i + 1] >= r[1] &&
                     xy[2 * i + 1] <= r[1] + r[3]);
    }
    assert_true(r[0] < xmax); /* inside the plot area */
    free(svg);
    /* lines everywhere: the legend moves right of the plot area */
    ic_series fs[S];
    for (int k = 0; k < S; k++) {
        for (int i = 0; i < N; i++) flat[k][i] = k + 0.5 * sin(i * 0.05);
        fs[k] = (ic_series){"flat", x, flat[k], N, NULL, NULL, 0};
    }
    assert_int_equal(ic_plot_lines(path, NULL, fs, S, &err), 0);
    svg = read_svg(path);
    legend_rect(svg, r);
    nv = line_vertices(svg, xy, N * S);
    assert_int_equal(nv, N * S);
    for (int i = 0; i < nv; i++) assert_true(xy[2 * i] < r[0]);
    free(svg);
    free(xy);
}

/* ---------------- bars ---------------- */

static void test_bars(void **st) {
    (void)st;
    const char *labels[6] = {"full model", "drop L0", "drop L1", "drop <L2>", NULL, "drop L4"};
    double v[6] = {0.12, 0.3, NAN, 0.9, 0.2, 0.15};
    double lo[6] = {0.1, 0.25, NAN, 0.8, 0.15, 0.1};
    double hi[6] = {0.14, 0.35, NAN, 1.0, 0.25, 0.2};
    ic_plot_opts o = ic_plot_default_opts();
    o.title = "Ablation";
    o.ylabel = "error";
    ic_err err = {{0}};
    const char *path = tu_tmp_path("bars.svg");
    assert_int_equal(ic_plot_bars(path, &o, labels, v, lo, hi, 6, 0.12, &err), 0);
    char *svg = read_svg(path);
    assert_int_equal(count(svg, "class=\"bar\""), 5);
    assert_int_equal(count(svg, ">n/a</text>"), 1);
    assert_int_equal(count(svg, "class=\"ref\""), 1);
    assert_non_null(strstr(svg, ">ref 0.12</text>"));
    assert_non_null(strstr(svg, ">drop &lt;L2&gt;</text>"));
    assert_non_null(strstr(svg, ">4</text>")); /* a NULL label is the index */
    char *copy = strdup(svg);
    char *eb = group(copy, "class=\"errorbars\"");
    assert_int_equal(count(eb, "<path"), 5);
    free(copy);
    free(svg);

    /* log scale: zero and negative values are skipped, not drawn */
    double lv[5] = {3e-3, 0.02, 0, -1, 1.5};
    o.logy = 1;
    assert_int_equal(ic_plot_bars(path, &o, NULL, lv, NULL, NULL, 5, NAN, &err), 0);
    svg = read_svg(path);
    assert_int_equal(count(svg, "class=\"bar\""), 3);
    assert_int_equal(count(svg, ">n/a</text>"), 2);
    assert_null(strstr(svg, "class=\"ref\""));
    copy = strdup(svg);
    char *yt = group(copy, "class=\"yticks\"");
    assert_non_null(strstr(yt, ">0.01</text>"));
    assert_non_null(strstr(yt, ">0.1</text>"));
    free(copy);
    free(svg);

    /* negative values on a linear axis hang below zero; long labels are cut */
    double nv[3] = {-0.5, 0.25, 1};
    const char *long_labels[3] = {"a very very very very very very very very long label indeed", "b", "c"};
    o = ic_plot_default_opts();
    assert_int_equal(ic_plot_bars(path, &o, long_labels, nv, NULL, NULL, 3, NAN, &err), 0);
    svg = read_svg(path);
    assert_int_equal(count(svg, "class=\"bar\""), 3);
    assert_non_null(strstr(svg, "\xE2\x80\xA6</text>")); /* ellipsis */
    free(svg);

    /* no bars, all NaN */
    assert_int_equal(ic_plot_bars(path, &o, NULL, NULL, NULL, NULL, 0, NAN, &err), 0);
    svg = read_svg(path);
    assert_non_null(strstr(svg, ">no data</text>"));
    free(svg);
    double nn[2] = {NAN, NAN};
    assert_int_equal(ic_plot_bars(path, &o, NULL, nn, NULL, NULL, 2, 0.5, &err), 0);
    svg = read_svg(path);
    assert_non_null(strstr(svg, ">no data</text>"));
    free(svg);

    /* many bars: numbered labels are thinned out, not overlapping */
    double mv[200];
    for (int i = 0; i < 200; i++) mv[i] = i;
    assert_int_equal(ic_plot_bars(path, &o, NULL, mv, NULL, NULL, 200, NAN, &err), 0);
    svg = read_svg(path);
    assert_int_equal(count(svg, "class=\"bar\""), 200);
    free(svg);

    /* errors */
    assert_int_equal(ic_plot_bars(path, &o, NULL, NULL, NULL, NULL, 3, NAN, &err), -1);
    assert_int_equal(ic_plot_bars(path, &o, NULL, v, lo, NULL, 3, NAN, &err), -1);
    assert_int_equal(ic_plot_bars(path, &o, NULL, v, NULL, NULL, -1, NAN, &err), -1);
}

/* ---------------- heatmaps ---------------- */

static void test_heatmap(void **st) {
    (void)st;
    double v[3 * 4];
    for (int i = 0; i < 12; i++) v[i] = i / 11.0;
    const char *rl[3] = {"layer 0", "layer <1>", "layer 2"};
    const char *cl[4] = {"a", "b", "c", "d&e"};
    ic_plot_opts o = ic_plot_default_opts();
    o.title = "swap";
    o.xlabel = "to";
    o.ylabel = "from";
    ic_err err = {{0}};
    const char *path = tu_tmp_path("heat.svg");
    assert_int_equal(ic_plot_heatmap(path, &o, v, 3, 4, rl, cl, 0, 1, &err), 0);
    char *svg = read_svg(path);
    assert_int_equal(count(svg, "class=\"cell\""), 12);
    assert_int_equal(count(svg, "class=\"ann\""), 12);
    assert_non_null(strstr(svg, ">0.545</text>")); /* 6/11 annotated with 3 digits */
    assert_non_null(strstr(svg, ">layer &lt;1&gt;</text>"));
    assert_non_null(strstr(svg, ">d&amp;e</text>"));
    assert_non_null(strstr(svg, ">to</text>"));
    assert_non_null(strstr(svg, ">from</text>"));
    /* the lowest value is viridis' dark end, the highest its yellow end */
    assert_non_null(strstr(svg, "fill=\"#440154\""));
    assert_non_null(strstr(svg, "fill=\"#fde725\""));
    char *copy = strdup(svg);
    char *cb = group(copy, "class=\"colorbar\"");
    assert_true(count(cb, "class=\"cbar-tick\"") >= 3);
    assert_non_null(strstr(cb, ">0</text>"));
    assert_non_null(strstr(cb, ">0.2</text>"));
    assert_non_null(strstr(cb, ">1</text>"));
    free(copy);
    free(svg);

    /* NaN cells are blank; no labels means numbered rows/columns */
    v[5] = NAN;
    assert_int_equal(ic_plot_heatmap(path, &o, v, 3, 4, NULL, NULL, 0, 1, &err), 0);
    svg = read_svg(path);
    assert_int_equal(count(svg, "class=\"cell\""), 11);
    assert_int_equal(count(svg, "class=\"ann\""), 11);
    copy = strdup(svg);
    char *rows = group(copy, "class=\"rowlabels\"");
    assert_non_null(strstr(rows, ">2</text>"));
    free(copy);
    free(svg);

    /* log colour: non-positive cells blank, decade labels on the colour bar */
    double lv[2 * 3] = {1e-4, 1e-3, 0, 1e-2, -1, 1};
    assert_int_equal(ic_plot_heatmap(path, &o, lv, 2, 3, NULL, NULL, 1, 0, &err), 0);
    svg = read_svg(path);
    assert_int_equal(count(svg, "class=\"cell\""), 4);
    assert_int_equal(count(svg, "class=\"ann\""), 0);
    copy = strdup(svg);
    cb = group(copy, "class=\"colorbar\"");
    assert_non_null(strstr(cb, ">1e-4</text>"));
    assert_non_null(strstr(cb, ">1e-2</text>"));
    free(copy);
    free(svg);

    /* big grid: cells too small for annotations, labels thinned out */
    enum { R = 64, C = 80 };
    double *big = tu_dalloc(R * C);
    for (int i = 0; i < R * C; i++) big[i] = sin(i * 0.01);
    assert_int_equal(ic_plot_heatmap(path, NULL, big, R, C, NULL, NULL, 0, 1, &err), 0);
    svg = read_svg(path);
    assert_int_equal(count(svg, "class=\"cell\""), R * C);
    assert_int_equal(count(svg, "class=\"ann\""), 0);
    copy = strdup(svg);
    rows = group(copy, "class=\"rowlabels\"");
    int nr = count(rows, "<text");
    assert_true(nr >= 4 && nr < R);
    free(copy);
    free(svg);
    free(big);

    /* fixed colour range; all NaN; empty */
    o.ymin = 0;
    o.ymax = 2;
    assert_int_equal(ic_plot_heatmap(path, &o, v, 3, 4, NULL, NULL, 0, 0, &err), 0);
    svg = read_svg(path);
    copy = strdup(svg);
    cb = group(copy, "class=\"colorbar\"");
    assert_non_null(strstr(cb, ">2</text>"));
    free(copy);
    free(svg);
    double nn[4] = {NAN, NAN, NAN, NAN};
    assert_int_equal(ic_plot_heatmap(path, NULL, nn, 2, 2, NULL, NULL, 0, 1, &err), 0);
    svg = read_svg(path);
    assert_non_null(strstr(svg, ">no data</text>"));
    assert_int_equal(count(svg, "class=\"cell\""), 0);
    free(svg);
    assert_int_equal(ic_plot_heatmap(path, NULL, NULL, 0, 5, NULL, NULL, 0, 1, &err), 0);
    free(read_svg(path));

    /* errors */
    assert_int_equal(ic_plot_heatmap(path, NULL, NULL, 2, 2, NULL, NULL, 0, 0, &err), -1);
    assert_int_equal(ic_plot_heatmap(path, NULL, v, -1, 2, NULL, NULL, 0, 0, &err), -1);
    o = ic_plot_default_opts();
    o.ymin = 0;
    o.ymax = 1;
    err.msg[0] = '\0';
    assert_int_equal(ic_plot_heatmap(path, &o, v, 3, 4, NULL, NULL, 1, 0, &err), -1);
    assert_non_null(strstr(err.msg, "log"));
}

/* ---------------- text ---------------- */

static void test_text_escaping_and_utf8(void **st) {
    (void)st;
    /* invalid UTF-8, control characters, a lone surrogate, valid multibyte text */
    const char *label = "bad\xff\xfe byte \x01 ctl \xed\xa0\x80 sur \xce\xbb=0.1 & <ok>";
    double x[3] = {0, 1, 2}, y[3] = {1, 2, 3};
    ic_series s = {label, x, y, 3, NULL, NULL, 0};
    ic_plot_opts o = ic_plot_default_opts();
    o.title = label;
    o.xlabel = "\xe2\x80\x9cquoted\xe2\x80\x9d";
    ic_err err = {{0}};
    const char *path = tu_tmp_path("utf8.svg");
    assert_int_equal(ic_plot_lines(path, &o, &s, 1, &err), 0);
    char *svg = read_svg(path); /* well-formed and valid UTF-8 */
    assert_non_null(strstr(svg, "\xce\xbb=0.1 &amp; &lt;ok&gt;"));
    assert_non_null(strstr(svg, "\xef\xbf\xbd")); /* U+FFFD */
    assert_non_null(strstr(svg, ">\xe2\x80\x9cquoted\xe2\x80\x9d</text>"));
    assert_null(strchr(svg, '\x01'));
    free(svg);
    /* a very long title is cut with an ellipsis, not run off the canvas */
    char longt[2000];
    memset(longt, 'W', sizeof longt - 1);
    longt[sizeof longt - 1] = '\0';
    o.title = longt;
    assert_int_equal(ic_plot_lines(path, &o, &s, 1, &err), 0);
    svg = read_svg(path);
    assert_null(strstr(svg, longt));
    assert_non_null(strstr(svg, "W\xE2\x80\xA6</text>"));
    free(svg);
}

/* ---------------- robustness ---------------- */

static double wild(tu_rng *r) {
    uint64_t k = tu_rng_u64(r) % 12;
    switch (k) {
    case 0: return NAN;
    case 1: return INFINITY;
    case 2: return -INFINITY;
    case 3: return 0;
    case 4: return -tu_rng_uniform(r) * 10;
    case 5: return 1e300 * tu_rng_uniform(r);
    case 6: return 1e-300 * (1 + tu_rng_uniform(r));
    default: return pow(10, 4 * tu_rng_uniform(r));
    }
}

static void test_random_inputs(void **st) {
    (void)st;
    tu_rng r = tu_rng_make(11);
    ic_err err = {{0}};
    const char *path = tu_tmp_path("random.svg");
    for (int it = 0; it < 120; it++) {
        int n = (int)(tu_rng_u64(&r) % 30);
        double x[30], y[30], lo[30], hi[30];
        for (int i = 0; i < n; i++) {
            x[i] = tu_rng_u64(&r) % 4 ? i : wild(&r);
            y[i] = wild(&r);
            lo[i] = wild(&r);
            hi[i] = wild(&r);
        }
        ic_series s[2] = {{"r", x, y, n, lo, hi, 0}, {"s", x, lo, n, NULL, NULL, 1}};
        ic_plot_opts o = ic_plot_default_opts();
        o.logy = (int)(tu_rng_u64(&r) & 1);
        o.logx = (int)(tu_rng_u64(&r) & 1);
        o.width = 240 + (int)(tu_rng_u64(&r) % 1000);
        o.height = 160 + (int)(tu_rng_u64(&r) % 800);
        if (ic_plot_lines(path, &o, s, 2, &err) != 0) fail_msg("lines: %s", err.msg);
        free(read_svg(path));
        if (ic_plot_bars(path, &o, NULL, y, lo, hi, n, wild(&r), &err) != 0) fail_msg("bars: %s", err.msg);
        free(read_svg(path));
        int rows = n ? 1 + (int)(tu_rng_u64(&r) % 5) : 0;
        int cols = rows ? n / rows : 0;
        if (ic_plot_heatmap(path, &o, y, rows, cols, NULL, NULL, o.logy, 1, &err) != 0)
            fail_msg("heatmap: %s", err.msg);
        free(read_svg(path));
    }
    assert_true(no_temp_files(tu_tmp_dir()));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticks_linear),
        cmocka_unit_test(test_ticks_log),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_lines_basic),
        cmocka_unit_test(test_lines_skip_invalid),
        cmocka_unit_test(test_lines_no_data),
        cmocka_unit_test(test_lines_many_series),
        cmocka_unit_test(test_legend_placement),
        cmocka_unit_test(test_lines_errors),
        cmocka_unit_test(test_write_failures),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_bars),
        cmocka_unit_test(test_heatmap),
        cmocka_unit_test(test_text_escaping_and_utf8),
        cmocka_unit_test(test_random_inputs),
    };
    return cmocka_run_group_tests(tests, tu_tmp_setup, tu_tmp_teardown);
}
