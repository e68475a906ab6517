/* plot.c: dependency-free SVG line plots, bar charts and heatmaps.
 *
 * Each plot is built in a memory buffer (ic_sbuf) and then written atomically.
 * Layout works in pixels: margins are sized from estimated text widths
 * (per-character estimates close to DejaVu Sans, generous for Helvetica and
 * Arial), so labels are not clipped and tick labels do not collide (the tick
 * count is reduced until they fit; long labels are cut with an ellipsis).
 * See docs/plots.md. */
#include "plot.h"
#include "fsutil.h"
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------- style ---------------- */

#define FONT_FAMILY "Helvetica, Arial, 'DejaVu Sans', 'Liberation Sans', sans-serif"
#define FS_TICK 12
#define FS_LEGEND 13
#define FS_LABEL 14
#define FS_TITLE 16
#define C_TEXT "#222222"
#define C_AXIS "#555555"
#define C_GRID "#e8e8e8"
#define C_NOTE "#777777"
#define DEFAULT_W 720
#define DEFAULT_H 440
#define TITLE_H 40 /* top margin with a title */
#define TOP_PAD 16 /* top margin without */
#define TICK_LEN 5

/* Okabe-Ito without its yellow (too pale on white), strongest contrasts first. */
static const char *const PALETTE[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#000000"};
#define N_PALETTE 7
static const char *const DASHES[] = {NULL, "7 4", "2 3", "10 3 2 3"};
#define N_DASHES 4

/* viridis sampled at i/9, interpolated linearly in sRGB between samples */
static const unsigned char VIRIDIS[10][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3e, 0x49, 0x89}, {0x31, 0x68, 0x8e},
    {0x26, 0x82, 0x8e}, {0x1f, 0x9e, 0x89}, {0x35, 0xb7, 0x79}, {0x6e, 0xce, 0x58},
    {0xb5, 0xde, 0x2b}, {0xfd, 0xe7, 0x25}};

/* ---------------- text: UTF-8, escaping, widths ---------------- */

/* Length of the valid UTF-8 sequence (an XML Char) at s, or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t left) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (left < n) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    /* U+FFFE and U+FFFF are not XML characters */
    if (n == 3 && c == 0xEF && s[1] == 0xBF && s[2] >= 0xBE) return 0;
    return n;
}

/* Estimated advance of one character in ems, close to DejaVu Sans (wider
 * than Helvetica/Arial, so estimates err on the generous side). */
static double glyph_em(const unsigned char *u, size_t k) {
    if (k != 1) return 0.8; /* non-ASCII: accented letters, symbols, CJK */
    unsigned c = *u;
    if (c >= '0' && c <= '9') return 0.64;
    if (strchr("ijl.,:;'|!", (int)c)) return 0.3;
    if (strchr(" ftr-()[]", (int)c)) return 0.4;
    if (c == 'm') return 0.98;
    if (c == 'w') return 0.82;
    if (c >= 'a' && c <= 'z') return 0.61;
    if (c == 'I') return 0.3;
    if (c == 'M' || c == 'W') return 0.9;
    if (c >= 'A' && c <= 'Z') return 0.72;
    if (strchr("=+<>~^_#", (int)c)) return 0.84;
    if (c == '%' || c == '&' || c == '@') return 0.9;
    return 0.6;
}
#define ELLIPSIS_EM 1.0

/* Walks s: returns the number of characters (an invalid byte counts as one)
 * and, via *w, the estimated width in pixels at font size fs. If max_w > 0,
 * stops at the widest prefix that fits in max_w with an ellipsis after it and
 * sets *cut = 1 when s does not fit whole. */
static int text_measure(const char *s, int fs, double max_w, double *w, int *cut) {
    *w = 0;
    if (cut) *cut = 0;
    if (!s) return 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t left = strlen(s);
    double total = 0;
    int n = 0;
    for (const unsigned char *v = u; left;) {
        size_t k = utf8_len(v, left);
        total += glyph_em(v, k ? k : 1) * fs;
        v += k ? k : 1;
        left -= k ? k : 1;
    }
    if (max_w <= 0 || total <= max_w) {
        *w = total;
        left = strlen(s);
        while (left) {
            size_t k = utf8_len(u, left);
            u += k ? k : 1;
            left -= k ? k : 1;
            n++;
        }
        return n;
    }
    /* truncate */
    if (cut) *cut = 1;
    double acc = 0, room = max_w - ELLIPSIS_EM * fs;
    left = strlen(s);
    while (left) {
        size_t k = utf8_len(u, left);
        double g = glyph_em(u, k ? k : 1) * fs;
        if (acc + g > room) break;
        acc += g;
        u += k ? k : 1;
        left -= k ? k : 1;
        n++;
    }
    *w = acc + ELLIPSIS_EM * fs;
    return n;
}

/* Width of s as drawn within max_w (<= 0: no limit). */
static double text_w(const char *s, int fs, double max_w) {
    double w;
    text_measure(s, fs, max_w, &w, NULL);
    return w;
}

/* Appends s XML-escaped, cut with an ellipsis to fit max_w pixels (<= 0: no
 * limit). Invalid UTF-8 becomes U+FFFD, control characters a space. */
static void sb_text(ic_sbuf *b, const char *s, int fs, double max_w) {
    if (!s) return;
    double w;
    int cut;
    int keep = text_measure(s, fs, max_w, &w, &cut);
    const unsigned char *u = (const unsigned char *)s;
    size_t left = strlen(s);
    for (int i = 0; i < keep; i++) {
        size_t k = utf8_len(u, left);
        if (!k) {
            ic_sb_puts(b, "\xEF\xBF\xBD");
            k = 1;
        } else if (k == 1) {
            switch (*u) {
            case '&': ic_sb_puts(b, "&amp;"); break;
            case '<': ic_sb_puts(b, "&lt;"); break;
            case '>': ic_sb_puts(b, "&gt;"); break;
            case '"': ic_sb_puts(b, "&quot;"); break;
            case '\'': ic_sb_puts(b, "&apos;"); break;
            default:
                if (*u < 0x20) ic_sb_put(b, " ", 1);
                else ic_sb_put(b, (const char *)u, 1);
            }
        } else
            ic_sb_put(b, (const char *)u, k);
        u += k;
        left -= k;
    }
    if (cut) ic_sb_puts(b, "\xE2\x80\xA6"); /* ellipsis */
}

/* <text> at (x, y) (baseline), rotated by rot degrees about that point,
 * cut to max_w pixels (<= 0: no limit). anchor: "start", "middle" or "end";
 * extra: more attributes or "". */
static void svg_text(ic_sbuf *b, double x, double y, double rot, int fs, const char *anchor,
                     const char *extra, const char *s, double max_w) {
    if (rot != 0)
        ic_sb_printf(b, "<text transform=\"translate(%.1f %.1f) rotate(%g)\"", x, y, rot);
    else
        ic_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\"", x, y);
    ic_sb_printf(b, " font-size=\"%d\"", fs);
    if (anchor && strcmp(anchor, "start") != 0) ic_sb_printf(b, " text-anchor=\"%s\"", anchor);
    if (extra && *extra) ic_sb_printf(b, " %s", extra);
    ic_sb_puts(b, ">");
    sb_text(b, s, fs, max_w);
    ic_sb_puts(b, "</text>\n");
}

static int has_text(const char *s) { return s && *s; }

/* ---------------- numbers ---------------- */

static void strip_zeros(char *s) {
    if (!strchr(s, '.')) return;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '0') s[--n] = '\0';
    if (n > 0 && s[n - 1] == '.') s[--n] = '\0';
}

static int fmt_num(char *buf, size_t size, double v, int sig, int force_exp) {
    if (isnan(v)) return snprintf(buf, size, "nan");
    if (isinf(v)) return snprintf(buf, size, "%s", v > 0 ? "inf" : "-inf");
    if (v == 0) return snprintf(buf, size, "0");
    if (sig < 1) sig = 1;
    if (sig > 17) sig = 17;
    char e[64];
    int p = 1;
    for (;; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (p >= sig) break;
        if (fabs(strtod(e, NULL) - v) <= 1e-9 * fabs(v)) break;
    }
    char *ep = strchr(e, 'e');
    if (!ep) return snprintf(buf, size, "%s", e);
    int ex = atoi(ep + 1);
    char out[400];
    if (!force_exp && ex >= -3 && ex <= 5) {
        int dec = p - 1 - ex;
        if (dec < 0) dec = 0;
        snprintf(out, sizeof out, "%.*f", dec, v);
        strip_zeros(out);
    } else {
        *ep = '\0';
        strip_zeros(e);
        snprintf(out, sizeof out, "%se%d", e, ex);
    }
    return snprintf(buf, size, "%s", out);
}

int ic_plot_fmt(char *buf, size_t size, double v, int sig) {
    return fmt_num(buf, size, v, sig, 0);
}

/* m * 10^k with one rounding when 10^|k| is exact */
static double m_pow10(double m, int k) {
    return k >= 0 ? m * pow(10.0, k) : m / pow(10.0, -k);
}

static const int MULT[3] = {1, 2, 5};

static void lin_ticks(double lo, double hi, int target, int expand, ic_ticks *t) {
    double raw = (hi - lo) / target;
    int e = (int)floor(log10(raw));
    double norm = raw / m_pow10(1, e);
    int mi = norm <= 1 + 1e-9 ? 0 : norm <= 2 + 1e-9 ? 1 : norm <= 5 + 1e-9 ? 2 : 3;
    if (mi == 3) {
        mi = 0;
        e++;
    }
    for (;;) {
        double step = m_pow10(MULT[mi], e);
        double k0 = expand ? floor(lo / step + 1e-9) : ceil(lo / step - 1e-9);
        double k1 = expand ? ceil(hi / step - 1e-9) : floor(hi / step + 1e-9);
        if (k1 - k0 + 1 <= IC_PLOT_MAX_TICKS) {
            t->n = 0;
            for (double k = k0; k <= k1; k++) t->v[t->n++] = m_pow10(k * MULT[mi], e);
            t->lo = expand ? m_pow10(k0 * MULT[mi], e) : lo;
            t->hi = expand ? m_pow10(k1 * MULT[mi], e) : hi;
            return;
        }
        if (++mi == 3) {
            mi = 0;
            e++;
        }
    }
}

static double floordiv(double a, double b) { return floor(a / b); }

static void log_ticks(double lo, double hi, int target, int expand, ic_ticks *t) {
    double l0 = log10(lo), l1 = log10(hi);
    if (l1 - l0 <= log10(3.0) + 1e-12) {
        /* within a factor of 3: decades say nothing, use 1-2-5 steps */
        lin_ticks(lo, hi, target, expand, t);
        if (t->lo <= 0) t->lo = lo;
        int k = 0;
        for (int i = 0; i < t->n; i++)
            if (t->v[i] > 0 && t->v[i] >= t->lo * (1 - 1e-12)) t->v[k++] = t->v[i];
        t->n = k;
        return;
    }
    if (l1 - l0 <= 2 + 1e-9) {
        /* up to two decades: 1, 2, 5 x 10^k, or fewer multipliers when crowded */
        static const int sets[3][3] = {{1, 2, 5}, {1, 3, 0}, {1, 0, 0}};
        for (int si = 0; si < 3; si++) {
            double slo = lo, shi = hi;
            if (expand) {
                slo = 0;
                shi = INFINITY;
            }
            int n = 0;
            double v[IC_PLOT_MAX_TICKS];
            for (int k = (int)floor(l0) - 1; k <= (int)ceil(l1) + 1; k++)
                for (int j = 0; j < 3 && sets[si][j]; j++) {
                    double x = m_pow10(sets[si][j], k);
                    if (expand) {
                        if (x <= lo * (1 + 1e-9) && x > slo) slo = x;
                        if (x >= hi * (1 - 1e-9) && x < shi) shi = x;
                    }
                }
            for (int k = (int)floor(l0) - 1; k <= (int)ceil(l1) + 1; k++)
                for (int j = 0; j < 3 && sets[si][j]; j++) {
                    double x = m_pow10(sets[si][j], k);
                    if (x >= slo * (1 - 1e-9) && x <= shi * (1 + 1e-9) && n < IC_PLOT_MAX_TICKS)
                        v[n++] = x;
                }
            if (n <= target + 1 || si == 2) {
                memcpy(t->v, v, (size_t)n * sizeof v[0]);
                t->n = n;
                t->lo = slo;
                t->hi = shi;
                return;
            }
        }
    }
    /* decades, every k-th one when there are many */
    double d0 = expand ? floor(l0 + 1e-9) : ceil(l0 - 1e-9);
    double d1 = expand ? ceil(l1 - 1e-9) : floor(l1 + 1e-9);
    static const int steps[] = {1, 2, 3, 4, 5, 10, 20, 25, 50, 100, 200, 500, 1000};
    int k = 1;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        k = steps[i];
        if (ceil((d1 - d0) / k) <= target) break;
    }
    double a = expand ? floordiv(d0, k) * k : -floordiv(-d0, k) * k;
    double z = expand ? -floordiv(-d1, k) * k : floordiv(d1, k) * k;
    if (a < -300) a = -300; /* stay within doubles (lo >= 1e-300, hi <= 1e300) */
    if (z > 300) z = 300;
    t->n = 0;
    for (double d = a; d <= z && t->n < IC_PLOT_MAX_TICKS; d += k) t->v[t->n++] = m_pow10(1, (int)d);
    t->lo = expand ? m_pow10(1, (int)a) : lo;
    t->hi = expand ? m_pow10(1, (int)z) : hi;
}

int ic_plot_ticks(double lo, double hi, int logscale, int target, int expand, ic_ticks *t,
                  ic_err *err) {
    if (!t) return ic_errf(err, "ic_plot_ticks: t is NULL");
    if (!isfinite(lo) || !isfinite(hi) || lo > hi)
        return ic_errf(err, "ic_plot_ticks: invalid range [%g, %g]", lo, hi);
    if (logscale && lo <= 0)
        return ic_errf(err, "ic_plot_ticks: log range [%g, %g] must be positive", lo, hi);
    if (target < 1) target = 1;
    if (target > 20) target = 20;
    if (logscale) {
        if (lo < 1e-300) lo = 1e-300;
        if (hi > 1e300) hi = 1e300;
        if (hi < lo) hi = lo;
        if (hi / lo < 1 + 1e-9) {
            lo /= 1.5;
            hi *= 1.5;
        }
    } else {
        if (!isfinite(hi - lo) || fabs(lo) > 1e306 || fabs(hi) > 1e306)
            return ic_errf(err, "ic_plot_ticks: range [%g, %g] too wide", lo, hi);
        if (!(hi - lo > 1e-12 * fmax(fabs(lo), fabs(hi))) || hi - lo < 1e-200) {
            double c = lo / 2 + hi / 2;
            double d = fabs(c) > 1e-200 ? fabs(c) * 0.1 : 1;
            lo = c - d;
            hi = c + d;
        }
    }
    for (int tg = target;; tg++) {
        if (logscale) log_ticks(lo, hi, tg, expand, t);
        else lin_ticks(lo, hi, tg, expand, t);
        if (expand || t->n >= 2 || tg >= 20) break;
    }
    return 0;
}

/* ---------------- axes ---------------- */

typedef struct {
    ic_ticks t;
    int log;
    double f0, f1;     /* t.lo, t.hi (log10 of them on log axes) */
    double p0, p1;     /* their pixel positions */
    char lab[IC_PLOT_MAX_TICKS][48];
    double lab_w;      /* widest tick label, pixels */
    int minor;         /* log axis with one tick per decade: draw 2..9 minor ticks */
} axis;

static double ax_map(const axis *a, double v) {
    double f = a->log ? log10(v) : v;
    double p = a->p0 + (f - a->f0) / (a->f1 - a->f0) * (a->p1 - a->p0);
    if (!(p >= -1e5)) p = -1e5; /* also NaN, which callers avoid by checking ax_ok */
    if (p > 1e5) p = 1e5;
    return p;
}

static int ax_ok(const axis *a, double v) { return isfinite(v) && (!a->log || v > 0); }

static void ax_labels(axis *a) {
    int force_exp = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int sig = 6; sig <= 15; sig++) {
            for (int i = 0; i < a->t.n; i++)
                fmt_num(a->lab[i], sizeof a->lab[i], a->t.v[i], sig, force_exp);
            int dup = 0;
            for (int i = 1; i < a->t.n; i++)
                if (strcmp(a->lab[i], a->lab[i - 1]) == 0) dup = 1;
            if (!dup) break;
        }
        if (!a->log || force_exp) break;
        /* log axes: all labels in one notation (1e-4, 1e-3, 1e-2 rather than 1e-4, 0.001, 0.01) */
        for (int i = 0; i < a->t.n; i++)
            if (strchr(a->lab[i], 'e')) force_exp = 1;
        if (!force_exp) break;
    }
    a->lab_w = 0;
    for (int i = 0; i < a->t.n; i++) {
        double w = text_w(a->lab[i], FS_TICK, 0);
        if (w > a->lab_w) a->lab_w = w;
    }
}

static void ax_finish(axis *a) {
    a->f0 = a->log ? log10(a->t.lo) : a->t.lo;
    a->f1 = a->log ? log10(a->t.hi) : a->t.hi;
    ax_labels(a);
    a->minor = 0;
    if (a->log && a->t.n >= 2) {
        a->minor = 1;
        for (int i = 1; i < a->t.n; i++) {
            double r = a->t.v[i] / a->t.v[i - 1];
            if (r < 9.99 || r > 10.01) a->minor = 0;
        }
    }
}

static int ax_fits(const axis *a, int horizontal) {
    for (int i = 1; i < a->t.n; i++) {
        double gap = fabs(ax_map(a, a->t.v[i]) - ax_map(a, a->t.v[i - 1]));
        double need = horizontal ? (text_w(a->lab[i], FS_TICK, 0) +
                                    text_w(a->lab[i - 1], FS_TICK, 0)) / 2 + 12
                                 : FS_TICK + 6;
        if (gap < need) return 0;
    }
    return 1;
}

static double ax_f(int logscale, double v) { return logscale ? log10(v) : v; }
static double ax_unf(int logscale, double f) { return logscale ? pow(10, f) : f; }

/* A value axis over data [dlo, dhi] (have: any data at all) with ends fixed
 * at fix_lo/fix_hi where finite, drawn from pixel p0 (low end) to p1. An
 * automatic end with pad < 0 rounds out to the enclosing tick; with pad >= 0
 * it snaps to that tick when it is within SNAP of the span (or, on log axes,
 * a factor of about 2), else it extends pad * span beyond the data (so an
 * axis does not waste most of a tick step or a decade). */
#define SNAP 0.08
static int value_axis(axis *a, double dlo, double dhi, int have, double fix_lo, double fix_hi,
                      int logscale, double p0, double p1, int horizontal, double pad_lo,
                      double pad_hi, ic_err *err) {
    double lo = have ? dlo : (logscale ? 1 : 0);
    double hi = have ? dhi : (logscale ? 10 : 1);
    int fl = isfinite(fix_lo), fh = isfinite(fix_hi);
    if (fl) lo = fix_lo;
    if (fh) hi = fix_hi;
    /* beyond these the data are clipped (and nobody plots them) */
    double lim_lo = logscale ? 1e-300 : -1e300, lim_hi = 1e300;
    lo = fmin(fmax(lo, lim_lo), lim_hi);
    hi = fmin(fmax(hi, lim_lo), lim_hi);
    if (fl && !fh && hi <= lo) hi = logscale ? lo * 10 : lo + (lo != 0 ? fabs(lo) : 1);
    if (fh && !fl && lo >= hi) lo = logscale ? hi / 10 : hi - (hi != 0 ? fabs(hi) : 1);
    a->log = logscale;
    a->p0 = p0;
    a->p1 = p1;
    double len = fabs(p1 - p0);
    int target = (int)(horizontal ? len / 90 : len / 50);
    if (target < 2) target = 2;
    if (target > 10) target = 10;
    for (;; target--) {
        ic_ticks te;
        if (ic_plot_ticks(lo, hi, logscale, target, 1, &te, err) != 0) return -1;
        double slo = te.lo, shi = te.hi;
        double span = ax_f(logscale, hi) - ax_f(logscale, lo);
        if (span > 0 && isfinite(span)) {
            double over_lo = ax_f(logscale, lo) - ax_f(logscale, te.lo);
            double over_hi = ax_f(logscale, te.hi) - ax_f(logscale, hi);
            /* on log axes a factor of 2 to the next decade is close enough too */
            double snap = fmax(SNAP * span, logscale ? 0.31 : 0);
            if (pad_lo >= 0 && over_lo > snap)
                slo = ax_unf(logscale, ax_f(logscale, lo) - pad_lo * span);
            if (pad_hi >= 0 && over_hi > snap)
                shi = ax_unf(logscale, ax_f(logscale, hi) + pad_hi * span);
        }
        if (fl) slo = fix_lo;
        if (fh) shi = fix_hi;
        if (!(slo < shi) || !isfinite(slo) || !isfinite(shi) || (logscale && !(slo > 0))) {
            slo = te.lo;
            shi = te.hi;
        }
        if (ic_plot_ticks(slo, shi, logscale, target, 0, &a->t, err) != 0) return -1;
        a->t.lo = slo;
        a->t.hi = shi;
        ax_finish(a);
        if (target <= 1 || ax_fits(a, horizontal)) break;
    }
    return 0;
}

/* ---------------- options ---------------- */

typedef struct {
    const char *title, *xlabel, *ylabel;
    int logy, logx;
    double ymin, ymax;
    int W, H;
    int auto_w, auto_h; /* size not given */
} popts;

ic_plot_opts ic_plot_default_opts(void) {
    ic_plot_opts o;
    memset(&o, 0, sizeof o);
    o.ymin = NAN;
    o.ymax = NAN;
    return o;
}

static int resolve_opts(const ic_plot_opts *o, popts *p, int log_range, const char *what,
                        ic_err *err) {
    ic_plot_opts d = ic_plot_default_opts();
    if (!o) o = &d;
    p->title = has_text(o->title) ? o->title : NULL;
    p->xlabel = has_text(o->xlabel) ? o->xlabel : NULL;
    p->ylabel = has_text(o->ylabel) ? o->ylabel : NULL;
    p->logy = o->logy != 0;
    p->logx = o->logx != 0;
    p->ymin = o->ymin;
    p->ymax = o->ymax;
    if (p->ymin == 0 && p->ymax == 0) p->ymin = p->ymax = NAN;
    p->auto_w = o->width == 0;
    p->auto_h = o->height == 0;
    p->W = o->width ? o->width : DEFAULT_W;
    p->H = o->height ? o->height : DEFAULT_H;
    if (p->W < 240 || p->W > 20000 || p->H < 160 || p->H > 20000)
        return ic_errf(err, "size %dx%d out of range (240x160 to 20000x20000, 0 = default)",
                       p->W, p->H);
    if (isinf(p->ymin) || isinf(p->ymax))
        return ic_errf(err, "%s must be finite or NaN (automatic)", what);
    if (isfinite(p->ymin) && isfinite(p->ymax) && !(p->ymin < p->ymax))
        return ic_errf(err, "%s: min %g must be below max %g", what, p->ymin, p->ymax);
    if (log_range && ((isfinite(p->ymin) && p->ymin <= 0) || (isfinite(p->ymax) && p->ymax <= 0)))
        return ic_errf(err, "%s [%g, %g] must be positive on a log scale", what, p->ymin, p->ymax);
    return 0;
}

/* ---------------- file output ---------------- */


static int finish(ic_sbuf *b, const char *path, ic_err *err) {
    int rc;
    if (b->oom) rc = ic_errf(err, "%s: out of memory building the SVG", path);
    else rc = ic_write_file_atomic(path, b->p, b->n, err);
    free(b->p);
    b->p = NULL;
    return rc;
}

/* ---------------- common drawing ---------------- */

static void svg_begin(ic_sbuf *b, const popts *p, const char *kind) {
    ic_sb_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    ic_sb_printf(b,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"%s\" width=\"%d\" height=\"%d\" "
              "viewBox=\"0 0 %d %d\" font-family=\"%s\" fill=\"" C_TEXT "\">\n",
              kind, p->W, p->H, p->W, p->H, FONT_FAMILY);
    ic_sb_printf(b, "<rect class=\"background\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
              p->W, p->H);
    if (p->title)
        svg_text(b, p->W / 2.0, 26, 0, FS_TITLE, "middle", "class=\"title\" font-weight=\"bold\"",
                 p->title, (p->W - 20) / 1.1); /* bold is about 10% wider */
}

static void svg_end(ic_sbuf *b) { ic_sb_puts(b, "</svg>\n"); }

/* 1px lines look crisp on pixel centres */
static double crisp(double v) { return floor(v) + 0.5; }

static void clip_def(ic_sbuf *b, double px0, double py0, double px1, double py1) {
    ic_sb_printf(b,
              "<defs><clipPath id=\"plotarea\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
              "height=\"%.1f\"/></clipPath></defs>\n",
              px0 - 2, py0 - 2, px1 - px0 + 4, py1 - py0 + 4);
}

static void no_data(ic_sbuf *b, double px0, double py0, double px1, double py1) {
    svg_text(b, (px0 + px1) / 2, (py0 + py1) / 2 + FS_LABEL * 0.35, 0, FS_LABEL, "middle",
             "class=\"nodata\" fill=\"" C_NOTE "\"", "no data", 0);
}

/* Horizontal gridlines, left axis line, ticks and labels of y axis a. */
static void draw_yaxis(ic_sbuf *b, const axis *a, double px0, double px1) {
    ic_sb_puts(b, "<g class=\"grid\" stroke=\"" C_GRID "\" stroke-width=\"1\">\n");
    for (int i = 0; i < a->t.n; i++) {
        double y = crisp(ax_map(a, a->t.v[i]));
        ic_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px0, y, px1, y);
    }
    ic_sb_puts(b, "</g>\n<g class=\"yticks\" stroke=\"" C_AXIS "\">\n");
    double x = crisp(px0);
    for (int i = 0; i < a->t.n; i++) {
        double y = crisp(ax_map(a, a->t.v[i]));
        ic_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x - TICK_LEN, y, x,
                  y);
    }
    if (a->minor) {
        double lo = fmin(a->t.lo, a->t.hi), hi = fmax(a->t.lo, a->t.hi);
        for (int d = (int)floor(log10(lo)); d <= (int)ceil(log10(hi)); d++)
            for (int m = 2; m <= 9; m++) {
                double v = m_pow10(m, d);
                if (v < lo || v > hi) continue;
                double y = crisp(ax_map(a, v));
                ic_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                          x - 3, y, x, y);
            }
    }
    for (int i = 0; i < a->t.n; i++)
        svg_text(b, px0 - TICK_LEN - 4, ax_map(a, a->t.v[i]) + FS_TICK * 0.35, 0, FS_TICK, "end",
                 "stroke=\"none\"", a->lab[i], 0);
    ic_sb_puts(b, "</g>\n");
}

/* Vertical gridlines, ticks and labels of x axis a. */
static void draw_xaxis(ic_sbuf *b, const axis *a, double py0, double py1) {
    ic_sb_puts(b, "<g class=\"grid\" stroke=\"" C_GRID "\" stroke-width=\"1\">\n");
    for (int i = 0; i < a->t.n; i++) {
        double x = crisp(ax_map(a, a->t.v[i]));
        ic_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, py0, x, py1);
    }
    ic_sb_puts(b, "</g>\n<g class=\"xticks\" stroke=\"" C_AXIS "\">\n");
    double y = crisp(py1);
    for (int i = 0; i < a->t.n; i++) {
        double x = crisp(ax_map(a, a->t.v[i]));
        ic_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, y, x,
                  y + TICK_LEN);
    }
    if (a->minor) {
        double lo = fmin(a->t.lo, a->t.hi), hi = fmax(a->t.lo, a->t.hi);
        for (int d = (int)floor(log10(lo)); d <= (int)ceil(log10(hi)); d++)
            for (int m = 2; m <= 9; m++) {
                double v = m_pow10(m, d);
                if (v < lo || v > hi) continue;
                double x = crisp(ax_map(a, v));
                ic_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x, y,
                          x, y + 3);
            }
    }
    for (int i = 0; i < a->t.n; i++)
        svg_text(b, ax_map(a, a->t.v[i]), py1 + TICK_LEN + 4 + FS_TICK, 0, FS_TICK, "middle",
                 "stroke=\"none\"", a->lab[i], 0);
    ic_sb_puts(b, "</g>\n");
}

/* Left and bottom axis lines. */
static void draw_frame(ic_sbuf *b, double px0, double py0, double px1, double py1) {
    double x = crisp(px0), y = crisp(py1);
    ic_sb_printf(b,
              "<path class=\"axes\" d=\"M%.1f %.1fV%.1fH%.1f\" fill=\"none\" stroke=\"" C_AXIS
              "\" stroke-width=\"1\"/>\n",
              x, py0, y, px1);
}

static void draw_xlabel(ic_sbuf *b, const popts *p, double px0, double px1, double y) {
    if (p->xlabel)
        svg_text(b, (px0 + px1) / 2, y, 0, FS_LABEL, "middle", "class=\"xlabel\"", p->xlabel,
                 p->W - 20);
}

static void draw_ylabel(ic_sbuf *b, const popts *p, double py0, double py1) {
    if (p->ylabel)
        svg_text(b, 8 + FS_LABEL, (py0 + py1) / 2, -90, FS_LABEL, "middle", "class=\"ylabel\"",
                 p->ylabel, p->H - 20);
}

/* ---------------- line plots ---------------- */

static const char *series_color(int i) { return PALETTE[i % N_PALETTE]; }

static const char *series_dash(const ic_series *s, int i) {
    return DASHES[(i / N_PALETTE + (s->dashed ? 1 : 0)) % N_DASHES];
}

/* Does segment (x0,y0)-(x1,y1) meet the rectangle [rx0,rx1] x [ry0,ry1]?
 * (Liang-Barsky clipping of the segment against the rectangle.) */
static int seg_hits(double x0, double y0, double x1, double y1, double rx0, double ry0,
                    double rx1, double ry1) {
    double t0 = 0, t1 = 1, dx = x1 - x0, dy = y1 - y0;
    double pp[4] = {-dx, dx, -dy, dy}, qq[4] = {x0 - rx0, rx1 - x0, y0 - ry0, ry1 - y0};
    for (int i = 0; i < 4; i++) {
        if (pp[i] == 0) {
            if (qq[i] < 0) return 0;
            continue;
        }
        double r = qq[i] / pp[i];
        if (pp[i] < 0) {
            if (r > t1) return 0;
            if (r > t0) t0 = r;
        } else {
            if (r < t0) return 0;
            if (r < t1) t1 = r;
        }
    }
    return t0 <= t1;
}

/* How many pieces of lines, markers and shaded intervals would a legend box
 * at [rx0,rx1] x [ry0,ry1] (pixels) cover? */
static int legend_hits(const ic_series *s, int n_series, const axis *xa, const axis *ya,
                       double rx0, double ry0, double rx1, double ry1) {
    int hits = 0;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (!ax_ok(xa, s[k].x[i])) continue;
            double x = ax_map(xa, s[k].x[i]);
            int nxt = i + 1 < s[k].n && ax_ok(xa, s[k].x[i + 1]);
            double xn = nxt ? ax_map(xa, s[k].x[i + 1]) : 0;
            const double *ys[3] = {s[k].y, s[k].lo, s[k].hi};
            for (int j = 0; j < 3; j++) {
                if (!ys[j] || !ax_ok(ya, ys[j][i])) continue;
                double y = ax_map(ya, ys[j][i]);
                if (seg_hits(x, y, x, y, rx0, ry0, rx1, ry1)) hits++;
                if (nxt && ax_ok(ya, ys[j][i + 1]) &&
                    seg_hits(x, y, xn, ax_map(ya, ys[j][i + 1]), rx0, ry0, rx1, ry1))
                    hits++;
            }
            /* the shaded interval between lo and hi at this x, and halfway to the next */
            if (s[k].lo && ax_ok(ya, s[k].lo[i]) && ax_ok(ya, s[k].hi[i])) {
                double a = ax_map(ya, s[k].lo[i]), z = ax_map(ya, s[k].hi[i]);
                if (seg_hits(x, a, x, z, rx0, ry0, rx1, ry1)) hits++;
                if (nxt && ax_ok(ya, s[k].lo[i + 1]) && ax_ok(ya, s[k].hi[i + 1])) {
                    double xm = (x + xn) / 2;
                    double am = (a + ax_map(ya, s[k].lo[i + 1])) / 2;
                    double zm = (z + ax_map(ya, s[k].hi[i + 1])) / 2;
                    if (seg_hits(xm, am, xm, zm, rx0, ry0, rx1, ry1)) hits++;
                }
            }
        }
    return hits;
}

/* Puts the legend box (w x h) in a corner of the plot area: the first one
 * (top right, top left, bottom right, bottom left) that covers no data, or
 * with any_corner the one covering least. Returns 1 if placed. */
static int legend_corner(const ic_series *s, int n_series, const axis *xa, const axis *ya,
                         double px0, double py0, double px1, double py1, double w, double h,
                         int any_corner, double *lx, double *ly) {
    const double inset = 8;
    const double cx[4] = {px1 - inset - w, px0 + inset, px1 - inset - w, px0 + inset};
    const double cy[4] = {py0 + inset, py0 + inset, py1 - inset - h, py1 - inset - h};
    int best = -1, best_hits = 0;
    for (int c = 0; c < 4; c++) {
        int hits = legend_hits(s, n_series, xa, ya, cx[c] - 4, cy[c] - 4, cx[c] + w + 4,
                               cy[c] + h + 4);
        if (best < 0 || hits < best_hits) {
            best = c;
            best_hits = hits;
        }
        if (hits == 0) break;
    }
    if (best_hits > 0 && !any_corner) return 0;
    *lx = cx[best];
    *ly = cy[best];
    return 1;
}

/* The x axis of a line plot between px0 and at most px1_max; pulls the right
 * end in so that the last tick label stays on the canvas. */
static int x_axis_for(axis *xa, const popts *p, double px0, double px1_max, double xlo,
                      double xhi, int have, double *px1, ic_err *err) {
    *px1 = px1_max;
    if (*px1 - px0 < 100) *px1 = px0 + 100;
    if (value_axis(xa, xlo, xhi, have, NAN, NAN, p->logx, px0, *px1, 1, 0, 0, err) != 0) return -1;
    if (xa->t.n > 0) {
        double over = ax_map(xa, xa->t.v[xa->t.n - 1]) +
                      text_w(xa->lab[xa->t.n - 1], FS_TICK, 0) / 2 - (p->W - 4);
        if (over > 0) {
            *px1 -= over;
            if (value_axis(xa, xlo, xhi, have, NAN, NAN, p->logx, px0, *px1, 1, 0, 0, err) != 0)
                return -1;
        }
    }
    return 0;
}

#define LEG_ROW 20
#define LEG_SAMPLE 30

int ic_plot_lines(const char *path, const ic_plot_opts *o, const ic_series *s, int n_series,
                  ic_err *err) {
    if (!path) return ic_errf(err, "ic_plot_lines: path is NULL");
    popts p;
    if (resolve_opts(o, &p, o && o->logy, "y range", err) != 0)
        return ic_err_prefix(err, "%s", path);
    if (n_series < 0 || (n_series > 0 && !s))
        return ic_errf(err, "%s: invalid series array (%d series)", path, n_series);
    for (int k = 0; k < n_series; k++) {
        if (s[k].n < 0 || (s[k].n > 0 && (!s[k].x || !s[k].y)))
            return ic_errf(err, "%s: series %d: n = %d with missing x or y", path, k, s[k].n);
        if (!s[k].lo != !s[k].hi)
            return ic_errf(err, "%s: series %d: lo and hi must be given together", path, k);
    }

    /* data ranges over drawable points */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int have = 0;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x[i];
            if (!isfinite(x) || (p.logx && x <= 0)) continue;
            double ys[3] = {s[k].y[i], s[k].lo ? s[k].lo[i] : NAN, s[k].hi ? s[k].hi[i] : NAN};
            for (int j = 0; j < 3; j++) {
                double y = ys[j];
                if (!isfinite(y) || (p.logy && y <= 0)) continue;
                have = 1;
                xlo = fmin(xlo, x);
                xhi = fmax(xhi, x);
                ylo = fmin(ylo, y);
                yhi = fmax(yhi, y);
            }
        }

    /* legend entries */
    int n_leg = 0;
    double leg_text_w = 0;
    for (int k = 0; k < n_series; k++)
        if (has_text(s[k].label)) {
            n_leg++;
            leg_text_w = fmax(leg_text_w, text_w(s[k].label, FS_LEGEND, 0));
        }

    double top = p.title ? TITLE_H : TOP_PAD;
    double bottom = TICK_LEN + 4 + FS_TICK + 8 + (p.xlabel ? FS_LABEL + 12 : 0);
    double py0 = top, py1 = p.H - bottom;
    axis ya, xa;
    if (value_axis(&ya, ylo, yhi, have, p.ymin, p.ymax, p.logy, py1, py0, 0, 0.03, 0.03, err) != 0)
        return ic_err_prefix(err, "%s", path);
    double left = 10 + (p.ylabel ? FS_LABEL + 12 : 0) + ya.lab_w + TICK_LEN + 6;
    double px0 = left, px1;
    if (x_axis_for(&xa, &p, px0, p.W - 24, xlo, xhi, have, &px1, err) != 0)
        return ic_err_prefix(err, "%s", path);

    /* legend: inside the plot area in a corner that covers no data, else at the right */
    double leg_w = 0, leg_h = 0, lx = 0, ly = 0;
    int leg_rows = 0;
    if (n_leg) {
        leg_w = 10 + LEG_SAMPLE + 8 + leg_text_w + 10;
        int max_rows = (int)((py1 - py0 - 12) / LEG_ROW);
        if (max_rows < 1) max_rows = 1;
        leg_rows = n_leg <= max_rows ? n_leg : max_rows;
        leg_h = leg_rows * LEG_ROW + 10.0;
        int inside = 0;
        const double inset = 8;
        if (leg_w <= (px1 - px0) * 0.45 && leg_h <= (py1 - py0) * 0.6)
            inside = legend_corner(s, n_series, &xa, &ya, px0, py0, px1, py1, leg_w, leg_h, 0,
                                   &lx, &ly);
        /* at the right the labels would be cut: rather cover the least data */
        if (!inside && leg_w > p.W * 0.35 && leg_w <= px1 - px0 - 2 * inset &&
            leg_h <= py1 - py0 - 2 * inset)
            inside = legend_corner(s, n_series, &xa, &ya, px0, py0, px1, py1, leg_w, leg_h, 1,
                                   &lx, &ly);
        /* a small canvas leaves no room at the right: a cut-down box inside */
        double side_text = fmin(leg_w, p.W * 0.35) - (10 + LEG_SAMPLE + 8 + 6);
        if (!inside && leg_w > p.W * 0.35 && side_text < 60 && px1 - px0 - 2 * inset >= 110 &&
            leg_h <= py1 - py0 - 2 * inset) {
            leg_w = fmin(leg_w, px1 - px0 - 2 * inset);
            inside = legend_corner(s, n_series, &xa, &ya, px0, py0, px1, py1, leg_w, leg_h, 1,
                                   &lx, &ly);
        }
        if (!inside) {
            if (leg_w > p.W * 0.35) leg_w = p.W * 0.35;
            double right = leg_w + 24;
            if (p.W - right - px0 < 100) leg_w = fmax(0, p.W - 24 - px0 - 100);
            if (x_axis_for(&xa, &p, px0, p.W - leg_w - 24, xlo, xhi, have, &px1, err) != 0)
                return ic_err_prefix(err, "%s", path);
            lx = px1 + 16;
            ly = py0;
        }
    }

    ic_sbuf b = {0};
    svg_begin(&b, &p, "lineplot");
    clip_def(&b, px0, py0, px1, py1);
    if (have) {
        draw_yaxis(&b, &ya, px0, px1);
        draw_xaxis(&b, &xa, py0, py1);
    }

    /* shaded intervals first, lines on top */
    ic_sb_puts(&b, "<g clip-path=\"url(#plotarea)\">\n");
    for (int k = 0; k < n_series && have; k++) {
        if (!s[k].lo) continue;
        int i = 0;
        while (i < s[k].n) {
            int j = i;
            while (j < s[k].n && ax_ok(&xa, s[k].x[j]) && ax_ok(&ya, s[k].lo[j]) &&
                   ax_ok(&ya, s[k].hi[j]))
                j++;
            if (j - i >= 2) {
                ic_sb_printf(&b, "<path class=\"band\" fill=\"%s\" fill-opacity=\"0.2\" d=\"",
                          series_color(k));
                for (int q = i; q < j; q++)
                    ic_sb_printf(&b, "%s%.1f %.1f", q == i ? "M" : "L", ax_map(&xa, s[k].x[q]),
                              ax_map(&ya, s[k].hi[q]));
                for (int q = j - 1; q >= i; q--)
                    ic_sb_printf(&b, "L%.1f %.1f", ax_map(&xa, s[k].x[q]), ax_map(&ya, s[k].lo[q]));
                ic_sb_puts(&b, "Z\"/>\n");
            }
            i = j > i ? j : i + 1;
        }
    }
    for (int k = 0; k < n_series && have; k++) {
        const char *col = series_color(k), *dash = series_dash(&s[k], k);
        int n_ok = 0;
        for (int i = 0; i < s[k].n; i++)
            if (ax_ok(&xa, s[k].x[i]) && ax_ok(&ya, s[k].y[i])) n_ok++;
        int markers = n_ok <= 16;
        int started = 0;
        for (int i = 0; i < s[k].n; i++) {
            if (!(ax_ok(&xa, s[k].x[i]) && ax_ok(&ya, s[k].y[i]))) continue;
            int prev_ok = i > 0 && ax_ok(&xa, s[k].x[i - 1]) && ax_ok(&ya, s[k].y[i - 1]);
            int next_ok = i + 1 < s[k].n && ax_ok(&xa, s[k].x[i + 1]) && ax_ok(&ya, s[k].y[i + 1]);
            if (!prev_ok && !next_ok) continue; /* isolated: drawn as a marker below */
            if (!started) {
                ic_sb_printf(&b,
                          "<path class=\"line\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                          "stroke-linejoin=\"round\" stroke-linecap=\"round\"",
                          col);
                if (dash) ic_sb_printf(&b, " stroke-dasharray=\"%s\"", dash);
                ic_sb_puts(&b, " d=\"");
                started = 1;
            }
            ic_sb_printf(&b, "%s%.1f %.1f", prev_ok ? "L" : "M", ax_map(&xa, s[k].x[i]),
                      ax_map(&ya, s[k].y[i]));
        }
        if (started) ic_sb_puts(&b, "\"/>\n");
        /* markers: every point of short series, isolated points always */
        for (int i = 0; i < s[k].n; i++) {
            if (!(ax_ok(&xa, s[k].x[i]) && ax_ok(&ya, s[k].y[i]))) continue;
            int prev_ok = i > 0 && ax_ok(&xa, s[k].x[i - 1]) && ax_ok(&ya, s[k].y[i - 1]);
            int next_ok = i + 1 < s[k].n && ax_ok(&xa, s[k].x[i + 1]) && ax_ok(&ya, s[k].y[i + 1]);
            if (markers || (!prev_ok && !next_ok))
                ic_sb_printf(&b, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                          ax_map(&xa, s[k].x[i]), ax_map(&ya, s[k].y[i]), col);
        }
    }
    ic_sb_puts(&b, "</g>\n");
    draw_frame(&b, px0, py0, px1, py1);
    draw_xlabel(&b, &p, px0, px1, p.H - 12);
    draw_ylabel(&b, &p, py0, py1);
    if (!have) no_data(&b, px0, py0, px1, py1);

    if (n_leg) {
        int rows = leg_rows; /* when cut, the last row says how many are left out */
        int shown = n_leg <= rows ? n_leg : rows - 1;
        double maxw = leg_w - (10 + LEG_SAMPLE + 8 + 6);
        ic_sb_puts(&b, "<g class=\"legend\">\n");
        ic_sb_printf(&b,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"3\" "
                  "fill=\"#ffffff\" stroke=\"#cccccc\"/>\n",
                  crisp(lx), crisp(ly), leg_w, leg_h);
        int row = 0;
        for (int k = 0; k < n_series && row < shown; k++) {
            if (!has_text(s[k].label)) continue;
            double yy = ly + 5 + row * LEG_ROW + LEG_ROW / 2.0;
            const char *col = series_color(k), *dash = series_dash(&s[k], k);
            if (s[k].lo)
                ic_sb_printf(&b,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"12\" fill=\"%s\" "
                          "fill-opacity=\"0.2\"/>\n",
                          lx + 10, yy - 6, LEG_SAMPLE, col);
            ic_sb_printf(&b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"2\"",
                      lx + 10, yy, lx + 10 + LEG_SAMPLE, yy, col);
            if (dash) ic_sb_printf(&b, " stroke-dasharray=\"%s\"", dash);
            ic_sb_puts(&b, "/>\n");
            svg_text(&b, lx + 10 + LEG_SAMPLE + 8, yy + FS_LEGEND * 0.35, 0, FS_LEGEND, "start", "",
                     s[k].label, maxw);
            row++;
        }
        if (shown < n_leg) {
            char more[48];
            snprintf(more, sizeof more, "+%d more", n_leg - shown);
            svg_text(&b, lx + 10, ly + 5 + shown * LEG_ROW + LEG_ROW / 2.0 + FS_LEGEND * 0.35, 0,
                     FS_LEGEND, "start", "fill=\"" C_NOTE "\"", more, 0);
        }
        ic_sb_puts(&b, "</g>\n");
    }
    svg_end(&b);
    return finish(&b, path, err);
}

/* ---------------- bar charts ---------------- */

#define BAR_COLOR "#0072B2"
#define REF_COLOR "#D55E00"
#define BAR_LABEL_W 180 /* longest bar label in pixels; longer ones are cut */

int ic_plot_bars(const char *path, const ic_plot_opts *o, const char *const *labels,
                 const double *values, const double *lo, const double *hi, int n,
                 double ref_line, ic_err *err) {
    if (!path) return ic_errf(err, "ic_plot_bars: path is NULL");
    popts p;
    if (resolve_opts(o, &p, o && o->logy, "y range", err) != 0)
        return ic_err_prefix(err, "%s", path);
    if (n < 0 || (n > 0 && !values))
        return ic_errf(err, "%s: invalid values (n = %d)", path, n);
    if (!lo != !hi) return ic_errf(err, "%s: lo and hi must be given together", path);
    if (n > 100000) return ic_errf(err, "%s: %d bars is too many (at most 100000)", path, n);
    int logy = p.logy;
#define VALID(v) (isfinite(v) && (!logy || (v) > 0))
    double dlo = INFINITY, dhi = -INFINITY;
    int have = 0;
    for (int i = 0; i < n; i++) {
        if (!VALID(values[i])) continue;
        have = 1;
        dlo = fmin(dlo, values[i]);
        dhi = fmax(dhi, values[i]);
        if (lo && VALID(lo[i]) && VALID(hi[i])) {
            dlo = fmin(dlo, fmin(lo[i], hi[i]));
            dhi = fmax(dhi, fmax(lo[i], hi[i]));
        }
    }
    int has_ref = VALID(ref_line);
    if (have && has_ref) {
        dlo = fmin(dlo, ref_line);
        dhi = fmax(dhi, ref_line);
    }
    if (have && !logy) {
        /* bars grow from zero */
        dlo = fmin(dlo, 0);
        dhi = fmax(dhi, 0);
    }
#undef VALID

    /* bar labels */
    char num[32];
    double lab_w = 0;
    for (int i = 0; i < n; i++) {
        const char *l = labels && labels[i] ? labels[i] : NULL;
        if (!l) {
            snprintf(num, sizeof num, "%d", i);
            l = num;
        }
        lab_w = fmax(lab_w, text_w(l, FS_TICK, BAR_LABEL_W));
    }
    char ref_txt[64] = "";
    double ref_w = 0;
    if (has_ref) {
        char v[48];
        fmt_num(v, sizeof v, ref_line, 3, 0);
        snprintf(ref_txt, sizeof ref_txt, "ref %s", v);
        ref_w = text_w(ref_txt, FS_TICK, 0);
    }

    double top = p.title ? TITLE_H : TOP_PAD;
    double xlab_h = p.xlabel ? FS_LABEL + 12 : 0;
    axis ya;
    /* provisional y axis (for the left margin), then the label orientation, then final */
    double py0 = top, py1 = p.H - (TICK_LEN + 4 + FS_TICK + 8 + xlab_h);
    if (value_axis(&ya, dlo, dhi, have, p.ymin, p.ymax, logy, py1, py0, 0, -1, 0.03, err) != 0)
        return ic_err_prefix(err, "%s", path);
    double left = 10 + (p.ylabel ? FS_LABEL + 12 : 0) + ya.lab_w + TICK_LEN + 6;
    double right = has_ref ? ref_w + 16 : 20;
    double px0 = left, px1 = p.W - right;
    if (px1 - px0 < 100) px1 = px0 + 100;
    double slot = n > 0 ? (px1 - px0) / n : px1 - px0;
    int rotate = lab_w + 6 > slot && labels; /* numbers stay horizontal, thinned out */
    int stride = 1;
    double lab_cap = BAR_LABEL_W;
    double lab_h = FS_TICK;
    if (rotate) {
        stride = (int)ceil((FS_TICK + 6) / (slot * 0.7071));
        if (stride < 1) stride = 1;
        double max_h = p.H * 0.3;
        if (lab_w * 0.7071 > max_h) {
            lab_cap = max_h / 0.7071;
            lab_w = lab_cap;
        }
        lab_h = lab_w * 0.7071 + FS_TICK * 0.7071;
    } else
        while (stride * slot < lab_w + 6) stride++;
    py1 = p.H - (TICK_LEN + 4 + lab_h + 8 + xlab_h);
    if (py1 - py0 < 60) py1 = py0 + 60;
    if (value_axis(&ya, dlo, dhi, have, p.ymin, p.ymax, logy, py1, py0, 0, -1, 0.03, err) != 0)
        return ic_err_prefix(err, "%s", path);

    ic_sbuf b = {0};
    svg_begin(&b, &p, "barchart");
    clip_def(&b, px0, py0, px1, py1);
    if (have) draw_yaxis(&b, &ya, px0, px1);
    double base = logy ? ya.t.lo : fmin(fmax(0, ya.t.lo), ya.t.hi);
    double ybase = ax_map(&ya, base);
    double bw = fmin(slot * 0.72, 80);
    ic_sb_puts(&b, "<g clip-path=\"url(#plotarea)\">\n");
    for (int i = 0; i < n; i++) {
        double cx = px0 + (i + 0.5) * slot;
        double v = values[i];
        if (!ax_ok(&ya, v)) {
            if (have)
                svg_text(&b, cx, ybase - 4, 0, FS_TICK, "middle",
                         "class=\"missing\" fill=\"" C_NOTE "\"", "n/a", 0);
            continue;
        }
        double yv = ax_map(&ya, v);
        ic_sb_printf(&b,
                  "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                  "fill=\"" BAR_COLOR "\"/>\n",
                  cx - bw / 2, fmin(yv, ybase), bw, fabs(ybase - yv));
    }
    if (lo) {
        double cap = fmin(bw * 0.3, 10);
        ic_sb_puts(&b, "<g class=\"errorbars\" stroke=\"#222222\" stroke-width=\"1.5\" fill=\"none\">\n");
        for (int i = 0; i < n; i++) {
            if (!ax_ok(&ya, values[i]) || !ax_ok(&ya, lo[i]) || !ax_ok(&ya, hi[i])) continue;
            double cx = px0 + (i + 0.5) * slot, a = ax_map(&ya, lo[i]), z = ax_map(&ya, hi[i]);
            ic_sb_printf(&b, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fh%.1fM%.1f %.1fh%.1f\"/>\n", cx, a, z,
                      cx - cap / 2, a, cap, cx - cap / 2, z, cap);
        }
        ic_sb_puts(&b, "</g>\n");
    }
    ic_sb_puts(&b, "</g>\n");
    if (has_ref && have) {
        double yr = ax_map(&ya, ref_line);
        if (yr >= py0 - 0.5 && yr <= py1 + 0.5) {
            ic_sb_printf(&b,
                      "<line class=\"ref\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                      "stroke=\"" REF_COLOR "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
                      px0, yr, px1, yr);
            svg_text(&b, px1 + 6, yr + FS_TICK * 0.35, 0, FS_TICK, "start",
                     "class=\"reflabel\" fill=\"" REF_COLOR "\"", ref_txt, 0);
        }
    }
    draw_frame(&b, px0, py0, px1, py1);
    /* category labels */
    ic_sb_puts(&b, "<g class=\"xticks\">\n");
    for (int i = 0; i < n; i += stride) {
        const char *l = labels && labels[i] ? labels[i] : NULL;
        if (!l) {
            snprintf(num, sizeof num, "%d", i);
            l = num;
        }
        double cx = px0 + (i + 0.5) * slot;
        if (rotate)
            svg_text(&b, cx + FS_TICK * 0.3, py1 + TICK_LEN + 6, -45, FS_TICK, "end", "", l, lab_cap);
        else
            svg_text(&b, cx, py1 + TICK_LEN + 4 + FS_TICK, 0, FS_TICK, "middle", "", l, lab_cap);
    }
    ic_sb_puts(&b, "</g>\n");
    draw_xlabel(&b, &p, px0, px1, p.H - 12);
    draw_ylabel(&b, &p, py0, py1);
    if (!have) no_data(&b, px0, py0, px1, py1);
    svg_end(&b);
    return finish(&b, path, err);
}

/* ---------------- heatmaps ---------------- */

static void cmap_rgb(double t, int rgb[3]) {
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double u = t * 9;
    int i = (int)floor(u);
    if (i > 8) i = 8;
    double f = u - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(VIRIDIS[i][c] + f * (VIRIDIS[i + 1][c] - VIRIDIS[i][c]));
}

#define CBAR_W 16
#define HEAT_LABEL_W 160 /* longest row/column label in pixels; longer ones are cut */

int ic_plot_heatmap(const char *path, const ic_plot_opts *o, const double *values, int rows,
                    int cols, const char *const *row_labels, const char *const *col_labels,
                    int log_color, int annotate, ic_err *err) {
    if (!path) return ic_errf(err, "ic_plot_heatmap: path is NULL");
    popts p;
    if (resolve_opts(o, &p, log_color, "colour range", err) != 0)
        return ic_err_prefix(err, "%s", path);
    if (rows < 0 || cols < 0)
        return ic_errf(err, "%s: invalid shape [%d, %d]", path, rows, cols);
    if ((long long)rows * cols > 4000000)
        return ic_errf(err, "%s: [%d, %d] is too many cells (at most 4000000)", path, rows, cols);
    int ncell = rows * cols;
    if (ncell > 0 && !values) return ic_errf(err, "%s: values is NULL", path);
    if (ncell == 0) rows = cols = 0;

#define CVALID(v) (isfinite(v) && (!log_color || (v) > 0))
    double dlo = INFINITY, dhi = -INFINITY;
    int have = 0;
    for (int i = 0; i < ncell; i++)
        if (CVALID(values[i])) {
            have = 1;
            dlo = fmin(dlo, values[i]);
            dhi = fmax(dhi, values[i]);
        }
    double cmin = isfinite(p.ymin) ? p.ymin : have ? dlo : (log_color ? 1 : 0);
    double cmax = isfinite(p.ymax) ? p.ymax : have ? dhi : (log_color ? 10 : 1);
    if (isfinite(p.ymin) && !isfinite(p.ymax) && cmax <= cmin)
        cmax = log_color ? cmin * 10 : cmin + (cmin != 0 ? fabs(cmin) : 1);
    if (isfinite(p.ymax) && !isfinite(p.ymin) && cmin >= cmax)
        cmin = log_color ? cmax / 10 : cmax - (cmax != 0 ? fabs(cmax) : 1);
    /* beyond these the colours saturate */
    cmin = fmin(fmax(cmin, log_color ? 1e-300 : -1e300), 1e300);
    cmax = fmin(fmax(cmax, log_color ? 1e-300 : -1e300), 1e300);
    if (log_color) {
        if (cmax / cmin < 1 + 1e-12) {
            cmin /= 1.5;
            cmax *= 1.5;
        }
    } else if (!(cmax - cmin > 1e-12 * fmax(fabs(cmin), fabs(cmax)))) {
        double d = cmin != 0 ? fabs(cmin) * 0.1 : 1;
        cmin -= d;
        cmax += d;
    }

    /* labels */
    char num[32];
    double rlab_w = 0, clab_w = 0;
    for (int r = 0; r < rows; r++) {
        const char *l = row_labels && row_labels[r] ? row_labels[r] : NULL;
        if (!l) snprintf(num, sizeof num, "%d", r), l = num;
        rlab_w = fmax(rlab_w, text_w(l, FS_TICK, HEAT_LABEL_W));
    }
    for (int c = 0; c < cols; c++) {
        const char *l = col_labels && col_labels[c] ? col_labels[c] : NULL;
        if (!l) snprintf(num, sizeof num, "%d", c), l = num;
        clab_w = fmax(clab_w, text_w(l, FS_TICK, HEAT_LABEL_W));
    }

    double top = p.title ? TITLE_H : TOP_PAD;
    double xlab_h = p.xlabel ? FS_LABEL + 12 : 0;
    double left = 10 + (p.ylabel ? FS_LABEL + 12 : 0) + rlab_w + 8;
    /* colour bar axis on a provisional height for the right margin */
    axis ca;
    memset(&ca, 0, sizeof ca);
    ca.log = log_color;
    double bar_h = p.H - top - 40 - xlab_h;
    int target = (int)(bar_h / 45);
    if (target < 2) target = 2;
    if (target > 8) target = 8;
    if (ic_plot_ticks(cmin, cmax, log_color, target, 0, &ca.t, err) != 0)
        return ic_err_prefix(err, "%s", path);
    ca.t.lo = cmin;
    ca.t.hi = cmax;
    ax_finish(&ca);
    double right = 18 + CBAR_W + TICK_LEN + 4 + ca.lab_w + 12;
    double gx0 = left, avail_w = p.W - left - right;
    if (avail_w < 40) avail_w = 40;

    /* cells: horizontal column labels if they fit, else rotated by 45 degrees */
    double cw = 0, ch = 0, lab_h = FS_TICK;
    int rotate = 0, cstride = 1;
    double clab_cap = HEAT_LABEL_W;
    for (int pass = 0; pass < 2; pass++) {
        double avail_h = p.H - top - (TICK_LEN + 4 + lab_h + 8 + xlab_h);
        if (avail_h < 40) avail_h = 40;
        cw = cols ? avail_w / cols : avail_w;
        ch = rows ? avail_h / rows : avail_h;
        /* keep cells within 2:1 */
        if (cw > 2 * ch) cw = 2 * ch;
        if (ch > 2 * cw) ch = 2 * cw;
        if (pass == 1) break;
        if (clab_w + 6 <= cw || !col_labels) break; /* numbers: horizontal, thinned out */
        rotate = 1;
        double max_h = p.H * 0.25;
        double w = clab_w;
        if (w * 0.7071 > max_h) {
            clab_cap = max_h / 0.7071;
            w = clab_cap;
        }
        lab_h = w * 0.7071 + FS_TICK * 0.7071;
    }
    if (rotate) cstride = (int)ceil((FS_TICK + 6) / (cw * 0.7071));
    else
        while (cstride * cw < clab_w + 6) cstride++;
    if (cstride < 1) cstride = 1;
    int rstride = (int)ceil((FS_TICK + 2) / ch);
    if (rstride < 1) rstride = 1;
    double gw = cw * cols, gh = ch * rows;
    if (!rows) gw = avail_w, gh = ch;
    double gy0 = top;
    double gx1 = gx0 + gw, gy1 = gy0 + gh;
    /* a default-sized canvas shrinks to the grid (never below the minimum) */
    if (p.auto_h) {
        double need = gy1 + 6 + lab_h + (p.xlabel ? 8 + FS_LABEL : 0) + 12;
        if (need < 160) need = 160;
        if (need < p.H) p.H = (int)ceil(need);
    }
    if (p.auto_w) {
        double need = fmax(gx1 + right, p.title ? text_w(p.title, FS_TITLE, 0) * 1.1 + 20 : 0);
        if (need < 240) need = 240;
        if (need < p.W) p.W = (int)ceil(need);
    }

    /* annotations: one format for all cells, or none */
    int ann_sig = 0;
    if (annotate && have && ch >= FS_TICK + 3) {
        for (int sig = 3; sig >= 2 && !ann_sig; sig--) {
            int fits = 1;
            for (int i = 0; i < ncell && fits; i++) {
                if (!CVALID(values[i])) continue;
                char t[48];
                fmt_num(t, sizeof t, values[i], sig, 0);
                if (text_w(t, FS_TICK, 0) + 4 > cw) fits = 0;
            }
            if (fits) ann_sig = sig;
        }
    }

    ic_sbuf b = {0};
    svg_begin(&b, &p, "heatmap");
    ic_sb_puts(&b, "<defs><linearGradient id=\"cmap\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">");
    for (int i = 0; i < 10; i++)
        ic_sb_printf(&b, "<stop offset=\"%g\" stop-color=\"#%02x%02x%02x\"/>", i / 9.0, VIRIDIS[i][0],
                  VIRIDIS[i][1], VIRIDIS[i][2]);
    ic_sb_puts(&b, "</linearGradient></defs>\n");
    double f0 = log_color ? log10(cmin) : cmin, f1 = log_color ? log10(cmax) : cmax;
    ic_sb_puts(&b, "<g class=\"cells\">\n");
    for (int r = 0; r < rows; r++) {
        double ya0 = round(gy0 + r * ch), ya1 = round(gy0 + (r + 1) * ch);
        for (int c = 0; c < cols; c++) {
            double v = values[(size_t)r * cols + c];
            if (!CVALID(v)) continue;
            double xa0 = round(gx0 + c * cw), xa1 = round(gx0 + (c + 1) * cw);
            int rgb[3];
            cmap_rgb(((log_color ? log10(v) : v) - f0) / (f1 - f0), rgb);
            ic_sb_printf(&b,
                      "<rect class=\"cell\" x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" "
                      "fill=\"#%02x%02x%02x\"/>\n",
                      xa0, ya0, xa1 - xa0, ya1 - ya0, rgb[0], rgb[1], rgb[2]);
            if (ann_sig) {
                char t[48];
                fmt_num(t, sizeof t, v, ann_sig, 0);
                int dark = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 128;
                svg_text(&b, (xa0 + xa1) / 2, (ya0 + ya1) / 2 + FS_TICK * 0.35, 0, FS_TICK,
                         "middle", dark ? "class=\"ann\" fill=\"#ffffff\"" : "class=\"ann\" fill=\"#111111\"",
                         t, 0);
            }
        }
    }
    ic_sb_puts(&b, "</g>\n");
    ic_sb_printf(&b,
              "<rect class=\"gridframe\" x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" "
              "fill=\"none\" stroke=\"#bbbbbb\"/>\n",
              round(gx0) - 0.5, round(gy0) - 0.5, round(gx1) - round(gx0) + 1,
              round(gy1) - round(gy0) + 1);

    /* row labels (row 0 at the top) and column labels */
    ic_sb_puts(&b, "<g class=\"rowlabels\">\n");
    for (int r = 0; r < rows; r += rstride) {
        const char *l = row_labels && row_labels[r] ? row_labels[r] : NULL;
        if (!l) snprintf(num, sizeof num, "%d", r), l = num;
        svg_text(&b, gx0 - 6, gy0 + (r + 0.5) * ch + FS_TICK * 0.35, 0, FS_TICK, "end", "", l,
                 HEAT_LABEL_W);
    }
    ic_sb_puts(&b, "</g>\n<g class=\"collabels\">\n");
    for (int c = 0; c < cols; c += cstride) {
        const char *l = col_labels && col_labels[c] ? col_labels[c] : NULL;
        if (!l) snprintf(num, sizeof num, "%d", c), l = num;
        double cx = gx0 + (c + 0.5) * cw;
        if (rotate)
            svg_text(&b, cx + FS_TICK * 0.3, gy1 + 6, -45, FS_TICK, "end", "", l, clab_cap);
        else
            svg_text(&b, cx, gy1 + 6 + FS_TICK, 0, FS_TICK, "middle", "", l, clab_cap);
    }
    ic_sb_puts(&b, "</g>\n");

    /* colour bar */
    double bx = gx1 + 18, by0 = gy0, by1 = gy1;
    if (by1 - by0 < 60) by1 = by0 + 60;
    target = (int)((by1 - by0) / 45);
    if (target < 2) target = 2;
    if (target > 8) target = 8;
    if (ic_plot_ticks(cmin, cmax, log_color, target, 0, &ca.t, err) != 0) {
        free(b.p);
        return ic_err_prefix(err, "%s", path);
    }
    ca.t.lo = cmin;
    ca.t.hi = cmax;
    ax_finish(&ca);
    ca.p0 = by1;
    ca.p1 = by0;
    ic_sb_puts(&b, "<g class=\"colorbar\">\n");
    ic_sb_printf(&b,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"url(#cmap)\" "
              "stroke=\"#bbbbbb\"/>\n",
              bx, by0, CBAR_W, by1 - by0);
    for (int i = 0; i < ca.t.n; i++) {
        double y = crisp(ax_map(&ca, ca.t.v[i]));
        ic_sb_printf(&b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_AXIS "\"/>\n",
                  bx + CBAR_W, y, bx + CBAR_W + TICK_LEN, y);
        svg_text(&b, bx + CBAR_W + TICK_LEN + 4, ax_map(&ca, ca.t.v[i]) + FS_TICK * 0.35, 0,
                 FS_TICK, "start", "class=\"cbar-tick\"", ca.lab[i], 0);
    }
    ic_sb_puts(&b, "</g>\n");
    draw_xlabel(&b, &p, gx0, gx1, gy1 + 6 + lab_h + 8 + FS_LABEL);
    draw_ylabel(&b, &p, gy0, gy1);
    if (!have) no_data(&b, gx0, gy0, gx1, gy1);
    svg_end(&b);
#undef CVALID
    return finish(&b, path, err);
}
