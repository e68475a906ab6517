/* plot.h: dependency-free SVG plots (loss curves, in-context error curves of
 * a model against baselines, bar charts and heatmaps of layer surgery).
 *
 * Every function writes one self-contained SVG file atomically (a temporary
 * file in the same directory, fsync'ed and renamed) and returns 0, or -1 with
 * err filled and nothing written. Output is deterministic: identical inputs
 * give byte-identical files. All text is XML-escaped (invalid UTF-8 becomes
 * U+FFFD). Non-finite values are skipped, as are non-positive values on log
 * scales; a plot without any drawable value is still a valid SVG that says
 * "no data". See docs/plots.md for the style choices. */
#ifndef ICLAB_PLOT_H
#define ICLAB_PLOT_H

#include <stddef.h>

#include "err.h"

/* One line of a line plot: n points (x[i], y[i]). lo/hi (both or neither)
 * give an optional shaded interval around the line (e.g. a bootstrap 90%
 * interval). Points with a non-finite coordinate (or a non-positive one on a
 * log axis) are skipped and break the line. label may be NULL or "" (the
 * series is then left out of the legend). dashed draws the line dashed (e.g.
 * for baselines). */
typedef struct {
    const char *label;
    const double *x;
    const double *y;
    int n;
    const double *lo, *hi; /* optional shaded interval, may be NULL */
    int dashed;
} ic_series;

/* Options shared by all plots. o == NULL means ic_plot_default_opts().
 *  - title, xlabel, ylabel: NULL or "" for none.
 *  - logy, logx: log10 axes (logx is used by line plots only).
 *  - ymin, ymax: NaN = automatic (rounded out to nice tick values); each may
 *    be fixed separately. ymin == ymax == 0 (a zero-initialised struct) also
 *    means automatic. For heatmaps they fix the colour range instead.
 *  - width, height: pixels; 0 = default (720 x 440); at least 240 x 160. */
typedef struct {
    const char *title, *xlabel, *ylabel;
    int logy;
    int logx;
    double ymin, ymax;
    int width, height;
} ic_plot_opts;

/* Options with no title or labels, linear axes, automatic range, default size. */
ic_plot_opts ic_plot_default_opts(void);

/* Line plot of n_series series (n_series == 0 gives a "no data" plot).
 * Colours follow the Okabe-Ito palette in series order; past 7 series the
 * colours repeat with a different dash pattern. The legend goes in a corner
 * of the plot area that covers no data, else right of the plot area. */
int ic_plot_lines(const char *path, const ic_plot_opts *o, const ic_series *s, int n_series,
                  ic_err *err);

/* Bar chart of n values, bar i labelled labels[i] (labels may be NULL: bars
 * are then numbered from 0). lo/hi (both or neither, may be NULL) draw error
 * bars from lo[i] to hi[i]. ref_line (NaN = none) draws a dashed horizontal
 * reference line, e.g. the unmodified model's error. o->logy gives a log
 * value axis (bars then start at the bottom of the axis). */
int ic_plot_bars(const char *path, const ic_plot_opts *o, const char *const *labels,
                 const double *values, const double *lo, const double *hi, int n,
                 double ref_line, ic_err *err);

/* Heatmap of values [rows, cols] row-major; row 0 is drawn at the top, column
 * 0 at the left. NaN cells (and non-positive ones with log_color) are left
 * blank. row_labels/col_labels may be NULL (rows/columns are then numbered
 * from 0). o->xlabel names the columns, o->ylabel the rows. Colours follow
 * viridis (dark = low) on a linear or, with log_color, log10 scale, with a
 * colour bar at the right. annotate prints each value in its cell when all
 * values fit. */
int ic_plot_heatmap(const char *path, const ic_plot_opts *o, const double *values, int rows,
                    int cols, const char *const *row_labels, const char *const *col_labels,
                    int log_color, int annotate, ic_err *err);

/* ---- helpers (used by the plots; public so they can be tested) ---- */

#define IC_PLOT_MAX_TICKS 32

/* Tick values of one axis. lo/hi: the range the axis shows (with expand, the
 * data range rounded out to the outer ticks; without, the range given). */
typedef struct {
    double lo, hi;
    int n;
    double v[IC_PLOT_MAX_TICKS];
} ic_ticks;

/* Ticks for data in [lo, hi] (lo <= hi, finite; lo > 0 if logscale) with
 * about `target` intervals (clamped to 1..20).
 *  - linear: multiples of a 1-2-5 step (..., 0.1, 0.2, 0.5, 1, 2, ...);
 *  - log: powers of ten (every k-th one when there are more than target
 *    decades); over two decades or less 1, 2 and 5 times powers of ten;
 *    within a factor of 3 linear 1-2-5 ticks.
 * lo == hi is widened around the value. With expand the shown range grows
 * to the enclosing ticks; without, ticks lie inside [lo, hi]. */
int ic_plot_ticks(double lo, double hi, int logscale, int target, int expand, ic_ticks *t,
                  ic_err *err);

/* Compact label of v with at most sig significant digits (1..17), the fewest
 * that represent v: 0.05, 1e-4, 1200, 2.5e-5, 0.333 (sig 3), "0" for zero,
 * "nan"/"inf"/"-inf". Plain notation for 1e-3 <= |v| < 1e6, else mantissa
 * "e" exponent. Writes at most size bytes (NUL included); returns the length
 * of the full label like snprintf. */
int ic_plot_fmt(char *buf, size_t size, double v, int sig);

#endif
