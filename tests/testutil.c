/* testutil.c: see testutil.h. */
#include "testutil.h"

#include "safetensors.h"

#include <math.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

/* ---------------- RNG ---------------- */

tu_rng tu_rng_make(uint64_t seed)
{
    tu_rng r = {seed};
    return r;
}

/* splitmix64 */
uint64_t tu_rng_u64(tu_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double tu_rng_uniform(tu_rng *r)
{
    /* 53 random bits -> [0, 1) -> [-1, 1) */
    double u = (double)(tu_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return 2.0 * u - 1.0;
}

void tu_fill(tu_rng *r, double *x, size_t n, double scale, double offset)
{
    for (size_t i = 0; i < n; i++)
        x[i] = offset + scale * tu_rng_uniform(r);
}

void tu_fill_f(tu_rng *r, float *x, size_t n, double scale, double offset)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(offset + scale * tu_rng_uniform(r));
}

/* ---------------- allocation ---------------- */

double *tu_dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "tu_dalloc: out of memory (%zu doubles)\n", n);
        abort();
    }
    return p;
}

float *tu_falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "tu_falloc: out of memory (%zu floats)\n", n);
        abort();
    }
    return p;
}

/* ---------------- arrays ---------------- */

void tu_to_float(float *dst, const double *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)src[i];
}

void tu_to_double(double *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (double)src[i];
}

float *tu_float_copy(const double *src, size_t n)
{
    float *p = tu_falloc(n);
    tu_to_float(p, src, n);
    return p;
}

double *tu_double_copy(const float *src, size_t n)
{
    double *p = tu_dalloc(n);
    tu_to_double(p, src, n);
    return p;
}

void tu_dset(double *x, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

void tu_fset(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

double tu_dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

double tu_max_abs(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs(x[i]) <= m)) /* NaN propagates */
            m = fabs(x[i]);
    return m;
}

double tu_max_abs_f(const float *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)x[i]) <= m))
            m = fabs((double)x[i]);
    return m;
}

double tu_max_abs_diff(const double *a, const double *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

double tu_max_abs_diff_fd(const float *a, const double *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

/* ---------------- finite differences ---------------- */

int tu_fd_check(const char *name, tu_objective L, void *ctx, double *x, size_t n,
                const double *analytic, double eps, double tol, double *max_err)
{
    int bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + eps;
        double lp = L(ctx);
        x[i] = x0 - eps;
        double lm = L(ctx);
        x[i] = x0;
        double f = (lp - lm) / (2.0 * eps);
        double err = fabs(analytic[i] - f) / fmax(1.0, fabs(f));
        if (!(err <= worst))
            worst = err;
        if (!(err <= tol)) {
            if (bad < 5)
                fprintf(stderr, "  fd %s[%zu]: analytic %.12g, finite difference %.12g (err %.3g > %.3g)\n",
                        name, i, analytic[i], f, err, tol);
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "  fd %s: %d of %zu elements off, worst %.3g\n", name, bad, n, worst);
    if (max_err)
        *max_err = worst;
    return bad;
}

/* ---------------- closeness ---------------- */

int tu_close_fd(const char *name, const float *got, const double *ref, size_t n, double rtol)
{
    double diff = tu_max_abs_diff_fd(got, ref, n);
    double lim = rtol * (1.0 + tu_max_abs(ref, n));
    if (diff <= lim)
        return 1;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - ref[i]) <= fabs((double)got[worst] - ref[worst])))
            worst = i;
    fprintf(stderr, "  %s: max |float - ref| = %.3g > %.3g (worst at [%zu]: %.9g vs %.9g)\n",
            name, diff, lim, worst, (double)got[worst], ref[worst]);
    return 0;
}

int tu_close_dd(const char *name, const double *got, const double *ref, size_t n, double rtol)
{
    double diff = tu_max_abs_diff(got, ref, n);
    double lim = rtol * (1.0 + tu_max_abs(ref, n));
    if (diff <= lim)
        return 1;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - ref[i]) <= fabs(got[worst] - ref[worst])))
            worst = i;
    fprintf(stderr, "  %s: max |got - ref| = %.3g > %.3g (worst at [%zu]: %.17g vs %.17g)\n",
            name, diff, lim, worst, got[worst], ref[worst]);
    return 0;
}

/* ---- scratch directory (test-only state) ---- */
static char tu_tmpdir[256];

int tu_tmp_setup(void **state) {
    (void)state;
    snprintf(tu_tmpdir, sizeof tu_tmpdir, "/tmp/iclab_test_XXXXXX");
    return mkdtemp(tu_tmpdir) ? 0 : -1;
}

int tu_tmp_teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

const char *tu_tmp_dir(void) { return tu_tmpdir; }

const char *tu_tmp_path(const char *name) {
    static char path[4][512];
    static int which;
    which = (which + 1) % 4;
    snprintf(path[which], sizeof path[which], "%s/%s", tu_tmpdir, name);
    return path[which];
}

/* ---------------- safetensors files ---------------- */

void tu_rewrite_meta(const char *src, const char *dst, const char *key, const char *val) {
    st_file f;
    ic_err err;
    if (st_read_file(src, &f, &err)) {
        fprintf(stderr, "tu_rewrite_meta: %s\n", err.msg);
        abort();
    }
    st_wtensor *w = calloc((size_t)f.n_tensors + 1, sizeof *w);
    const char **keys = calloc((size_t)f.n_meta + 1, sizeof *keys), **vals = calloc((size_t)f.n_meta + 1, sizeof *vals);
    if (!w || !keys || !vals) abort();
    for (int i = 0; i < f.n_tensors; i++) {
        w[i].name = f.tensors[i].name;
        w[i].dtype = f.tensors[i].dtype;
        w[i].ndim = f.tensors[i].ndim;
        memcpy(w[i].shape, f.tensors[i].shape, sizeof w[i].shape);
        w[i].data = f.buf + f.data_start + f.tensors[i].begin;
    }
    int nm = 0, found = 0;
    for (int i = 0; i < f.n_meta; i++) {
        if (strcmp(f.meta_keys[i], key) == 0) {
            found = 1;
            if (!val) continue;
            keys[nm] = key;
            vals[nm++] = val;
        } else {
            keys[nm] = f.meta_keys[i];
            vals[nm++] = f.meta_vals[i];
        }
    }
    if (!found && val) keys[nm] = key, vals[nm++] = val;
    if (st_write_file(dst, w, f.n_tensors, keys, vals, nm, &err)) {
        fprintf(stderr, "tu_rewrite_meta: %s\n", err.msg);
        abort();
    }
    free(w);
    free(keys);
    free(vals);
    st_free(&f);
}

float tu_f32_of_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
