#include "prompts.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static const st_tensor *find_f32(const st_file *f, const char *path, const char *name, int rank,
                                 const char *shape_doc, ic_err *err) {
    const st_tensor *t = st_find(f, name);
    if (!t) { ic_errf(err, "%s: missing tensor '%s' (expected %s F32 %s)", path, name, name, shape_doc); return NULL; }
    if (t->dtype != ST_F32) {
        ic_errf(err, "%s: tensor '%s' has dtype %s, expected F32", path, name, st_dtype_name(t->dtype));
        return NULL;
    }
    if (t->ndim != rank) {
        ic_errf(err, "%s: tensor '%s' has rank %d, expected rank %d %s", path, name, t->ndim, rank, shape_doc);
        return NULL;
    }
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > INT_MAX / 64) {
            ic_errf(err, "%s: tensor '%s' dimension %d is too large (%lld)", path, name, i, (long long)t->shape[i]);
            return NULL;
        }
    return t;
}

int ic_prompts_load(const char *path, int d_expected, int max_n, ic_prompts *out, ic_err *err) {
    memset(out, 0, sizeof *out);
    st_file f;
    if (st_read_file(path, &f, err)) return -1;
    int rc = -1;
    const st_tensor *tx = find_f32(&f, path, "xs", 3, "[B,n,d]", err);
    const st_tensor *ty = tx ? find_f32(&f, path, "ys", 2, "[B,n]", err) : NULL;
    if (!tx || !ty) goto done;
    const int B = (int)tx->shape[0], n = (int)tx->shape[1], d = (int)tx->shape[2];
    if (d_expected > 0 && d != d_expected) {
        ic_errf(err, "%s: xs has d=%d per point but the model expects n_dims=%d", path, d, d_expected);
        goto done;
    }
    if (ty->shape[0] != B || ty->shape[1] != n) {
        ic_errf(err, "%s: ys has shape [%lld,%lld] but xs [%d,%d,%d] needs ys [%d,%d]", path, (long long)ty->shape[0],
                (long long)ty->shape[1], B, n, d, B, n);
        goto done;
    }
    if (B == 0) { ic_errf(err, "%s: the prompt file has 0 prompts (B = 0)", path); goto done; }
    if (n == 0) { ic_errf(err, "%s: prompts have 0 points (n = 0)", path); goto done; }
    if (d == 0) { ic_errf(err, "%s: points have 0 dimensions (d = 0)", path); goto done; }
    if (max_n > 0 && n > max_n) {
        ic_errf(err, "%s: prompts have n=%d points but the model's position table holds n_positions=%d", path, n, max_n);
        goto done;
    }
    const size_t nx = (size_t)B * n * d, ny = (size_t)B * n;
    out->xs = malloc(sizeof(float) * nx);
    out->ys = malloc(sizeof(float) * ny);
    if (!out->xs || !out->ys) { ic_errf(err, "out of memory for %d prompts of %d points", B, n); goto done; }
    if (st_read_f32(&f, tx, out->xs, nx, err) || st_read_f32(&f, ty, out->ys, ny, err)) {
        ic_err_prefix(err, "%s", path);
        goto done;
    }
    /* NaN/Inf would run through every predictor and come out as a NaN error
     * (or a LAPACK failure in a baseline): refuse them here, saying where */
    for (size_t i = 0; i < nx; i++)
        if (!isfinite(out->xs[i])) {
            const size_t b = i / ((size_t)n * d), p = i / d % n, k = i % d;
            ic_errf(err, "%s: tensor 'xs' holds %s at xs[%zu,%zu,%zu] (prompt %zu, point %zu, coordinate %zu, counted from 0); "
                    "prompts must be finite", path, isnan(out->xs[i]) ? "NaN" : out->xs[i] > 0 ? "+Inf" : "-Inf", b, p, k, b, p, k);
            goto done;
        }
    for (size_t i = 0; i < ny; i++)
        if (!isfinite(out->ys[i])) {
            const size_t b = i / n, p = i % n;
            ic_errf(err, "%s: tensor 'ys' holds %s at ys[%zu,%zu] (prompt %zu, point %zu, counted from 0); prompts must be finite",
                    path, isnan(out->ys[i]) ? "NaN" : out->ys[i] > 0 ? "+Inf" : "-Inf", b, p, b, p);
            goto done;
        }
    out->B = B;
    out->n = n;
    out->d = d;
    rc = 0;
done:
    st_free(&f);
    if (rc) ic_prompts_free(out);
    return rc;
}

void ic_prompts_free(ic_prompts *p) {
    free(p->xs);
    free(p->ys);
    memset(p, 0, sizeof *p);
}
