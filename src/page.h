/* page.h: one self-contained HTML page per result directory (`iclab report`).
 *
 * ic_page_write reads what a command left in a directory (its JSON, CSV and
 * SVG files; never a model) and writes DIR/report.html atomically: the
 * question the command answers, a setup table, the figures (the command's
 * own SVGs from src/plot.c, inlined), tables with their 90% intervals, the
 * conclusion lines the numbers support, and links to every CSV/JSON file.
 * The page loads nothing (no network, no scripts, CSS inline), adapts to
 * narrow screens, prints, follows prefers-color-scheme, and labels every
 * figure for keyboards and screen readers (role="img", aria-label, a
 * <title>, tabindex). Text from files is HTML-escaped; an SVG is inlined
 * only if it uses plot.c's elements and no scripts, event handlers or
 * links (otherwise the page links to it instead), and its ids are prefixed
 * per figure so several plots can share one page.
 *
 * Kinds, recognised by their files (docs/report.md):
 *   demo     demo.json (iclab demo: the whole experiment, pages of its parts)
 *   sweep    sweep.json (+ summary.csv; links to each run's report.html)
 *   train    config.json + metrics.csv (iclab train: progress while it runs)
 *   compare  compare.json     loops  loops.json     eval  results.json
 *   surgery  <sweep>.json of iclab surgery     probe  probes/lens/sime/components/geometry.json
 *
 * The findings readers below are what the pages and the demo's terminal
 * summary state, so the two never disagree. */
#ifndef ICLAB_PAGE_H
#define ICLAB_PAGE_H

#include <stddef.h>

#include "err.h"

/* The kind of result in dir (one of the names above), or NULL with err
 * saying which files were looked for. */
const char *ic_page_kind(const char *dir, ic_err *err);

/* Renders dir's page into a malloc'ed NUL-terminated string.
 * refresh_s > 0 adds <meta http-equiv="refresh"> (a page of a run still
 * training). */
int ic_page_render(const char *dir, int refresh_s, char **html, size_t *len, ic_err *err);

/* ic_page_render, then dir/report.html written atomically (src/fsutil.h). */
int ic_page_write(const char *dir, int refresh_s, ic_err *err);

/* A value with its 90% interval (NaN where the file says null). */
typedef struct {
    double v, lo, hi;
} ic_page_est;

/* iclab eval's results.json in dir: predictor's error at k in setting
 * ("standard" if NULL). */
int ic_page_eval_at(const char *dir, const char *setting, const char *predictor, int k, ic_page_est *e, ic_err *err);

/* iclab compare's compare.json in dir: model `index` (0 = the reference)
 * at k: its error in *err_k and its ratio to the reference in *ratio. */
int ic_page_compare_at(const char *dir, int index, int k, double *err_k, ic_page_est *ratio, ic_err *err);

/* The model with the lowest error at k in compare.json of dir (how the demo
 * picks the model of its parts 1 and 3 on held-out prompts): its index in
 * *index, its error in *err_k. */
int ic_page_compare_best(const char *dir, int k, int *index, double *err_k, ic_err *err);

/* Ratios of n independent training seeds pooled: their geometric mean, with
 * a 90% Student-t interval over the seeds on the log scale (n - 1 degrees of
 * freedom: the seeds are the sample, so the interval is about training
 * variation, not about the evaluation prompts). NaN interval when n < 2;
 * -1 (and all NaN) when n < 1 or a ratio is not positive and finite. */
int ic_page_pool_seeds(const double *ratio, int n, ic_page_est *pooled);

/* Every sweep of an iclab surgery directory, ranked at k: variants that run
 * something other than the original (the identical ones are left out), how
 * many are significantly better (interval below 1) and worse (above 1),
 * and the best and worst by ratio. */
typedef struct {
    int k;
    int n_sweeps, n_variants, n_better, n_worse;
    char best[96], worst[96];
    ic_page_est best_ratio, worst_ratio;
    double original_err;
} ic_page_surgery;
int ic_page_surgery_at(const char *dir, int k, ic_page_surgery *s, ic_err *err);

/* The demo's findings (demo.json and the parts it names), one plain-text
 * line each, as its page states them: *lines is malloc'ed, free it with
 * ic_page_lines_free. */
int ic_page_demo_findings(const char *dir, char ***lines, int *n, ic_err *err);
void ic_page_lines_free(char **lines, int n);

#endif
