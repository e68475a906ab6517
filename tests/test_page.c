/* test_page.c: the HTML page of a result directory (src/page.h): escaping of
 * everything read from files, the SVG allow-list and per-figure ids, the
 * "value [lo, hi]" merge of interval columns, the CSV reader's quoting, the
 * surgery ranking the demo prints, the demo's choice of model and its
 * pooling over seeds, and the refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "page.h"
#include "plot.h"

static void put(const char *dir, const char *name, const char *text) {
    char path[8192];
    ic_err err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(ic_write_file_atomic(path, text, strlen(text), &err), 0);
}

static char *make_dir(void) {
    char tmpl[] = "/tmp/iclab_page_XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void drop_dir(char *d) {
    ic_err err;
    assert_int_equal(ic_remove_tree(d, &err), 0);
    free(d);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static char *render(const char *dir) {
    char *html;
    size_t len;
    ic_err err = {{0}};
    int rc = ic_page_render(dir, 0, &html, &len, &err);
    if (rc) fprintf(stderr, "render: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(strlen(html), len);
    return html;
}

static const char SWEEP[] =
    "{\"plan\": {\"note\": \"a<b & \\\"c\\\"\"}, \"runs\": ["
    "{\"name\": \"<script>alert(1)</script>\", \"dir\": \"runs/a b\", \"status\": \"done\", \"error\": null,"
    " \"metrics\": {\"err\": 0.25}},"
    "{\"name\": \"x\", \"dir\": \"/etc\", \"status\": \"failed\", \"error\": \"<img src=x onerror=alert(2)>\","
    " \"metrics\": {\"err\": null}},"
    "{\"name\": \"y\", \"dir\": \"../up\", \"status\": \"pending\", \"error\": null, \"metrics\": {}}]}";

/* names, errors and plan text from files never reach the page as markup */
static void test_escaping(void **state) {
    (void)state;
    char *d = make_dir();
    put(d, "sweep.json", SWEEP);
    put(d, "summary.csv", "name,note\n\"<b>bold</b>, \"\"quoted\"\"\",plain\n");
    char *h = render(d);
    assert_int_equal(count(h, "<script"), 0);
    assert_int_equal(count(h, "<img"), 0);
    assert_int_equal(count(h, "<b>"), 0);
    assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(h, "&lt;img src=x onerror=alert(2)&gt;"));
    assert_non_null(strstr(h, "a&lt;b &amp; &quot;c&quot;"));
    /* the quoted CSV cell keeps its comma and its doubled quotes as one cell */
    assert_non_null(strstr(h, "<td>&lt;b&gt;bold&lt;/b&gt;, &quot;quoted&quot;</td><td>plain</td>"));
    /* a run dir with a space is percent-encoded; absolute and climbing dirs get no link */
    assert_non_null(strstr(h, "href=\"./runs/a%20b/report.html\""));
    assert_null(strstr(h, "href=\"./etc"));
    assert_null(strstr(h, "href=\"./../up"));
    assert_non_null(strstr(h, "3 runs: 1 done, 1 failed, 1 pending."));
    free(h);
    drop_dir(d);
}

/* an SVG is inlined only if it is made of the plots' elements without
 * handlers, links or styles; each figure's ids are its own */
static void test_svg_allow_list(void **state) {
    (void)state;
    char *d = make_dir();
    put(d, "sweep.json", "{\"runs\": []}");
    char path[8192];
    double x[3] = {1, 2, 3}, y[3] = {3, 1, 2};
    ic_series s = {"line", x, y, 3, NULL, NULL, 0};
    ic_plot_opts o = ic_plot_default_opts();
    o.title = "A & B";
    ic_err err;
    snprintf(path, sizeof path, "%s/a_good.svg", d);
    assert_int_equal(ic_plot_lines(path, &o, &s, 1, &err), 0);
    snprintf(path, sizeof path, "%s/b_good.svg", d);
    assert_int_equal(ic_plot_lines(path, &o, &s, 1, &err), 0);
    put(d, "c_handler.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"><rect/></svg>");
    put(d, "d_script.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>");
    put(d, "e_foreign.svg", "<svg><foreignObject><p>x</p></foreignObject></svg>");
    put(d, "f_href.svg", "<svg><a href=\"javascript:alert(1)\"><rect/></a></svg>");
    put(d, "g_style.svg", "<svg><rect style=\"fill:url(x)\"/></svg>");
    put(d, "h_upper.svg", "<svg><rect ONCLICK=\"alert(1)\"/></svg>");
    put(d, "i_html.svg", "<html><svg/></html>");
    char *h = render(d);
    assert_int_equal(count(h, "Figure not inlined"), 7);
    assert_int_equal(count(h, "<svg role=\"img\" tabindex=\"0\" aria-labelledby=\"fig"), 2);
    assert_int_equal(count(h, "onload="), 0);
    assert_int_equal(count(h, "ONCLICK="), 0);
    assert_int_equal(count(h, "<script"), 0);
    assert_int_equal(count(h, "foreignObject"), 0);
    assert_int_equal(count(h, "javascript"), 0);
    /* ids: the two identical plots no longer share "plotarea" */
    assert_int_equal(count(h, "id=\"plotarea\""), 0);
    assert_int_equal(count(h, "id=\"f1-plotarea\""), 1);
    assert_int_equal(count(h, "id=\"f2-plotarea\""), 1);
    assert_int_equal(count(h, "url(#f2-plotarea)"), count(h, "url(#f1-plotarea)"));
    /* the title, unescaped from the plot and escaped again, labels the figure */
    assert_non_null(strstr(h, "<title id=\"fig1-t\">A &amp; B (a_good.svg)</title>"));
    assert_int_equal(count(h, "<?xml"), 0);
    free(h);
    drop_dir(d);
}

/* X, X_lo90, X_hi90 and ratio_kK, ratio_lo90_kK, ratio_hi90_kK become one cell */
static void test_interval_columns(void **state) {
    (void)state;
    char *d = make_dir();
    put(d, "sweep.json", "{\"runs\": []}");
    put(d, "t.csv", "name,err,err_lo90,err_hi90,ratio_k5,ratio_lo90_k5,ratio_hi90_k5,other\n"
                    "a,0.5,0.4,0.6,1.25,1.125,1.5,7\n"
                    "b,0.5,,,2,1,3,\n");
    char *h = render(d);
    assert_non_null(strstr(h, "<th scope=\"col\">err [90%]</th><th scope=\"col\">ratio_k5 [90%]</th><th scope=\"col\">other</th>"));
    assert_non_null(strstr(h, "<td class=\"num\">0.5 [0.4, 0.6]</td><td class=\"num\">1.25 [1.125, 1.5]</td><td class=\"num\">7</td>"));
    /* a missing bound is shown as missing, not dropped silently */
    assert_non_null(strstr(h, "<td class=\"num\">0.5</td><td class=\"num\">2 [1, 3]</td><td></td>"));
    assert_null(strstr(h, "err_lo90"));
    free(h);
    drop_dir(d);
}

/* The ranking the demo prints: identical variants left out, better/worse by
 * the interval, best and worst by the ratio, over every sweep file. */
static void test_surgery_findings(void **state) {
    (void)state;
    char *d = make_dir();
    put(d, "skip-each.json",
        "{\"sweep\": \"skip-each\", \"original\": {\"at_k\": [{\"k\": 10, \"err\": 0.02}]}, \"variants\": ["
        "{\"label\": \"skip(0)\", \"at_k\": [{\"k\": 10, \"ratio\": 40, \"ratio_lo90\": 30, \"ratio_hi90\": 50}]},"
        "{\"label\": \"skip(1)\", \"at_k\": [{\"k\": 10, \"ratio\": 0.9, \"ratio_lo90\": 0.8, \"ratio_hi90\": 1.05}]},"
        "{\"label\": \"same\", \"same_as_original\": true, \"at_k\": [{\"k\": 10, \"ratio\": 0.5, \"ratio_lo90\": 0.4, \"ratio_hi90\": 0.6}]}]}");
    put(d, "loops.json",
        "{\"sweep\": \"loops\", \"original\": {\"at_k\": [{\"k\": 10, \"err\": 0.02}]}, \"variants\": ["
        "{\"label\": \"loops=3\", \"at_k\": [{\"k\": 10, \"ratio\": 0.7, \"ratio_lo90\": 0.6, \"ratio_hi90\": 0.8}]},"
        "{\"label\": \"loops=4\", \"at_k\": [{\"k\": 5, \"ratio\": 0.1}, {\"k\": 10, \"ratio\": null}]}]}");
    put(d, "other.json", "{\"not\": \"a sweep\"}");
    ic_page_surgery f;
    ic_err err;
    assert_int_equal(ic_page_surgery_at(d, 10, &f, &err), 0);
    assert_int_equal(f.n_sweeps, 2);
    assert_int_equal(f.n_variants, 3); /* "same" and the null ratio left out */
    assert_int_equal(f.n_better, 1);   /* loops=3: [0.6, 0.8] */
    assert_int_equal(f.n_worse, 1);    /* skip(0) */
    assert_string_equal(f.best, "loops=3");
    assert_string_equal(f.worst, "skip(0)");
    assert_true(fabs(f.best_ratio.v - 0.7) < 1e-12 && fabs(f.best_ratio.hi - 0.8) < 1e-12);
    assert_true(fabs(f.original_err - 0.02) < 1e-12);
    assert_string_equal(ic_page_kind(d, &err), "surgery");
    char *h = render(d);
    assert_non_null(strstr(h, "1 of 3 variants have a lower error than the original (0.02), their interval wholly below 1; the lowest ratio, loops=3"));
    free(h);
    drop_dir(d);
}

/* a training run's page: progress from the last whole metrics row (a row
 * still being written, or a short one, is left out), reloading while live */
static void test_train_page(void **state) {
    (void)state;
    char *d = make_dir();
    put(d, "config.json", "{\"n_layer\": 2, \"n_embd\": 8, \"task\": \"linear_regression\", \"n_dims\": 3, "
                          "\"n_points\": 7, \"train_steps\": 40}");
    put(d, "metrics.csv", "step,loss,excess_loss,lr,grad_norm,steps_per_s,n_dims,n_points,loops,wall_s\n"
                          "10,4,2,0.001,1,50,3,7,1,0.2\n"
                          "20,3\n"
                          "30,2,1,0.001,1,50,3,7,1,0.6\n"
                          "31,1.5,0.7,0.00");
    char *html;
    size_t len;
    ic_err err;
    assert_int_equal(ic_page_render(d, 10, &html, &len, &err), 0);
    assert_non_null(strstr(html, "Step 30 of 40 (75%); training is running"));
    assert_non_null(strstr(html, "<meta http-equiv=\"refresh\" content=\"10\">"));
    assert_non_null(strstr(html, "Training loss: 4 at step 10"));
    free(html);
    put(d, "metrics.csv", "step,loss,excess_loss,lr,grad_norm,steps_per_s,n_dims,n_points,loops,wall_s\n"
                          "40,2,1,0.001,1,50,3,7,1,0.6\n");
    assert_int_equal(ic_page_render(d, 10, &html, &len, &err), 0);
    assert_non_null(strstr(html, "Step 40 of 40 (100%): training finished"));
    assert_null(strstr(html, "http-equiv")); /* finished: no reload even when asked */
    free(html);
    drop_dir(d);
}

static void test_refusals(void **state) {
    (void)state;
    ic_err err = {{0}};
    char *html;
    size_t len;
    assert_null(ic_page_kind("/nonexistent/iclab", &err));
    assert_non_null(strstr(err.msg, "does not exist"));
    char *d = make_dir();
    assert_int_equal(ic_page_render(d, 0, &html, &len, &err), -1);
    assert_non_null(strstr(err.msg, "holds no iclab results"));
    put(d, "compare.json", "{\"models\": [");
    assert_int_equal(ic_page_render(d, 0, &html, &len, &err), -1);
    assert_non_null(strstr(err.msg, "compare.json: line"));
    /* a page that cannot be built writes nothing */
    assert_int_equal(ic_page_write(d, 0, &err), -1);
    char p[8192];
    snprintf(p, sizeof p, "%s/report.html", d);
    assert_false(ic_file_exists(p));
    drop_dir(d);
}

/* The demo's pooling of per-seed ratios: geometric mean, Student-t 90%
 * interval over the seeds (2.920 for 3 seeds, not the normal 1.645). */
static void test_pool_seeds(void **state) {
    (void)state;
    ic_page_est e;
    const double same[3] = {0.5, 0.5, 0.5};
    assert_int_equal(ic_page_pool_seeds(same, 3, &e), 0);
    assert_true(fabs(e.v - 0.5) < 1e-12 && fabs(e.lo - 0.5) < 1e-12 && fabs(e.hi - 0.5) < 1e-12);
    /* logs -ln4, 0, ln4: mean 0, sd ln4, half width 2.920 ln4 / sqrt(3) */
    const double spread[3] = {0.25, 1, 4};
    assert_int_equal(ic_page_pool_seeds(spread, 3, &e), 0);
    const double half = 2.920 * log(4.0) / sqrt(3.0);
    assert_true(fabs(e.v - 1) < 1e-12);
    assert_true(fabs(e.lo - exp(-half)) < 1e-9 && fabs(e.hi - exp(half)) < 1e-9);
    /* two seeds: 6.314 */
    const double two[2] = {0.3, 0.4};
    assert_int_equal(ic_page_pool_seeds(two, 2, &e), 0);
    const double m = 0.5 * (log(0.3) + log(0.4)), h2 = 6.314 * fabs(log(0.4) - log(0.3)) / 2;
    assert_true(fabs(e.v - exp(m)) < 1e-12 && fabs(e.lo - exp(m - h2)) < 1e-9 && fabs(e.hi - exp(m + h2)) < 1e-9);
    const double one[1] = {0.7};
    assert_int_equal(ic_page_pool_seeds(one, 1, &e), 0);
    assert_true(fabs(e.v - 0.7) < 1e-12 && isnan(e.lo) && isnan(e.hi));
    const double bad[2] = {0.5, 0};
    assert_int_equal(ic_page_pool_seeds(bad, 2, &e), -1);
    assert_true(isnan(e.v));
    const double inf[2] = {0.5, INFINITY};
    assert_int_equal(ic_page_pool_seeds(inf, 2, &e), -1);
    assert_int_equal(ic_page_pool_seeds(same, 0, &e), -1);
}

/* The demo's choice of model: the lowest error at the k asked, a model with
 * no finite error there is never chosen. */
static void test_compare_best(void **state) {
    (void)state;
    char *d = make_dir();
    put(d, "compare.json",
        "{\"models\": ["
        "{\"label\": \"a\", \"at_k\": [{\"k\": 5, \"err\": 0.1}, {\"k\": 10, \"err\": 0.30}]},"
        "{\"label\": \"b\", \"at_k\": [{\"k\": 5, \"err\": 0.2}, {\"k\": 10, \"err\": 0.05}]},"
        "{\"label\": \"c\", \"at_k\": [{\"k\": 5, \"err\": null}, {\"k\": 10, \"err\": null}]},"
        "{\"label\": \"d\", \"at_k\": [{\"k\": 5, \"err\": 0.15}, {\"k\": 10, \"err\": 0.07}]}]}");
    int i;
    double e;
    ic_err err;
    assert_int_equal(ic_page_compare_best(d, 10, &i, &e, &err), 0);
    assert_int_equal(i, 1);
    assert_true(fabs(e - 0.05) < 1e-12);
    assert_int_equal(ic_page_compare_best(d, 5, &i, &e, &err), 0);
    assert_int_equal(i, 0);
    assert_int_equal(ic_page_compare_best(d, 7, &i, &e, &err), -1);
    assert_non_null(strstr(err.msg, "no model with a finite error at k = 7"));
    drop_dir(d);
}

static void put_compare(const char *d, const char *sub, double e_plain, double e_looped, double ratio, double lo, double hi) {
    char path[8192], text[1024];
    ic_err err;
    snprintf(path, sizeof path, "%s/%s", d, sub);
    assert_int_equal(ic_mkdirs(path, &err), 0);
    snprintf(text, sizeof text,
             "{\"models\": [{\"label\": \"plain6\", \"at_k\": [{\"k\": 5, \"err\": %g, \"ratio\": 1}, {\"k\": 10, \"err\": %g, \"ratio\": 1}]},"
             "{\"label\": \"looped3x2\", \"at_k\": [{\"k\": 5, \"err\": %g, \"ratio\": %g, \"ratio_lo90\": %g, \"ratio_hi90\": %g},"
             "{\"k\": 10, \"err\": %g, \"ratio\": %g, \"ratio_lo90\": %g, \"ratio_hi90\": %g}]}]}",
             e_plain, e_plain, e_looped, ratio, lo, hi, e_looped, ratio, lo, hi);
    put(path, "compare.json", text);
}

static int has_line(char **l, int n, const char *needle) {
    for (int i = 0; i < n; i++)
        if (strstr(l[i], needle)) return 1;
    return 0;
}

/* The demo findings of d hold yes1 and yes2 (when given) and never no. */
static void expect_findings(const char *d, const char *yes1, const char *yes2, const char *no) {
    char **l;
    int n;
    ic_err err;
    assert_int_equal(ic_page_demo_findings(d, &l, &n, &err), 0);
    int ok = has_line(l, n, yes1) && (!yes2 || has_line(l, n, yes2)) && (!no || !has_line(l, n, no));
    if (!ok)
        for (int i = 0; i < n; i++) fprintf(stderr, "line: %s\n", l[i]);
    ic_page_lines_free(l, n);
    assert_true(ok);
}

/* The demo's summary over seeds: "better across seeds" only when the
 * interval over the seeds lies below 1, a plateau named per seed. */
static void test_demo_seed_lines(void **state) {
    (void)state;
    char *d = make_dir(), path[8192];
    ic_err err;
    snprintf(path, sizeof path, "%s/eval", d);
    assert_int_equal(ic_mkdirs(path, &err), 0);
    char curve[512] = "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.04]";
    char results[2048];
    snprintf(results, sizeof results,
             "{\"settings\": {\"standard\": {\"transformer\": {\"mean\": %s}, \"least_squares\": {\"mean\": %s}, "
             "\"zero\": {\"mean\": %s}}}}", curve, curve, curve);
    put(path, "results.json", results);
    put(d, "demo.json",
        "{\"n_dims\": 5, \"train_steps\": 100, \"target\": 0.05, \"plain\": \"plain6\", \"looped\": \"looped3x2\","
        "\"model\": \"looped3x2/seed2\", \"model_label\": \"looped3x2 seed 2\", \"selection\": \"chosen on validation\","
        "\"parts\": {\"eval\": \"eval\"}, \"compares\": [{\"seed\": 1, \"dir\": \"compare/seed1\"}, {\"seed\": 2, \"dir\": \"compare/seed2\"}]}");
    /* both seeds lower: interval over the seeds [0.139, 0.858] */
    put_compare(d, "compare/seed1", 0.1, 0.03, 0.3, 0.25, 0.35);
    put_compare(d, "compare/seed2", 0.1, 0.04, 0.4, 0.35, 0.45);
    expect_findings(d, "looped3x2 seed 2 (chosen on validation) has squared error / d 0.04 at k = 2d = 10",
                    "looped3x2 is better than plain6 at this budget, across seeds", "plateau");
    expect_findings(d, "Looping over the 2 seeds, k = 10", NULL, NULL);
    /* seed 2 the other way round, and plain6 stuck there: no claim */
    put_compare(d, "compare/seed2", 0.9, 0.04, 1.5, 1.3, 1.7);
    expect_findings(d, "no consistent difference across seeds at this budget (looped3x2 lower in 1 of 2)",
                    "seed 2, k = 10: looped3x2 0.04, plain6 0.9", "better than");
    expect_findings(d, "plain6 did not leave the loss plateau", NULL, NULL);
    /* both seeds lower, each interval below 1, but too far apart for the
     * interval over two seeds: said per seed, not across seeds */
    put_compare(d, "compare/seed1", 0.1, 0.01, 0.1, 0.08, 0.12);
    put_compare(d, "compare/seed2", 0.1, 0.08, 0.8, 0.7, 0.9);
    expect_findings(d, "looped3x2 is better than plain6 in each of the 2 seeds (every paired interval below 1), "
                       "but 2 seeds are too few", NULL, "across seeds");
    /* the same with seed 2's interval reaching 1: no claim */
    put_compare(d, "compare/seed2", 0.1, 0.08, 0.8, 0.6, 1.01);
    expect_findings(d, "(looped3x2 lower in 2 of 2)", NULL, "better than");
    /* both seeds higher, tightly: plain better */
    put_compare(d, "compare/seed1", 0.1, 0.2, 2.0, 1.8, 2.2);
    put_compare(d, "compare/seed2", 0.1, 0.21, 2.1, 1.9, 2.3);
    expect_findings(d, "plain6 is better than looped3x2 at this budget, across seeds", NULL, NULL);
    /* one seed (the demo's default): the per-seed line and a line saying the
     * interval is over prompts only; no pooled line over "1 seeds" */
    put(d, "demo.json",
        "{\"n_dims\": 5, \"train_steps\": 100, \"target\": 0.05, \"plain\": \"plain6\", \"looped\": \"looped3x2\","
        "\"model\": \"looped3x2/seed1\", \"model_label\": \"looped3x2 seed 1\", \"selection\": \"chosen on validation\","
        "\"parts\": {\"eval\": \"eval\"}, \"compares\": [{\"seed\": 1, \"dir\": \"compare/seed1\"}]}");
    expect_findings(d, "One training seed: the interval above is over the prompts", "seed 1, k = 10: looped3x2 0.2, plain6 0.1",
                    "Looping over the");
    drop_dir(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),        cmocka_unit_test(test_svg_allow_list),
        cmocka_unit_test(test_interval_columns), cmocka_unit_test(test_surgery_findings),
        cmocka_unit_test(test_train_page),      cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_pool_seeds),      cmocka_unit_test(test_compare_best),
        cmocka_unit_test(test_demo_seed_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
