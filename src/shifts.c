#include "shifts.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const NAMES[IC_NUM_SHIFTS] = {
    "standard", "noisy", "scale_x", "scale_y", "skewed", "half_subspace", "random_quadrants",
    "orthogonal_query", "overlapping_query"};

int ic_shift_parse(const char *text, ic_shift *out, ic_err *err) {
    char name[64];
    const char *colon = strchr(text, ':');
    size_t len = colon ? (size_t)(colon - text) : strlen(text);
    if (len == 0 || len >= sizeof name)
        return ic_errf(err, "setting '%s': expected a name such as standard, noisy:1, scale_x:2, skewed", text);
    memcpy(name, text, len);
    name[len] = 0;
    for (int k = 0; k < IC_NUM_SHIFTS; k++) {
        if (strcmp(name, NAMES[k])) continue;
        out->kind = (ic_shift_kind)k;
        out->value = k == IC_SHIFT_NOISY ? 1.0 : (k == IC_SHIFT_SCALE_X || k == IC_SHIFT_SCALE_Y) ? NAN : 0.0;
        if (colon) {
            if (k != IC_SHIFT_NOISY && k != IC_SHIFT_SCALE_X && k != IC_SHIFT_SCALE_Y)
                return ic_errf(err, "setting '%s': %s takes no value", text, name);
            char *end;
            double v = strtod(colon + 1, &end);
            if (end == colon + 1 || *end || !isfinite(v) || v < 0 || (k != IC_SHIFT_NOISY && v == 0))
                return ic_errf(err, "setting '%s': expected a %s number after ':'", text,
                               k == IC_SHIFT_NOISY ? "non-negative" : "positive");
            out->value = v;
        } else if (isnan(out->value)) {
            return ic_errf(err, "setting '%s' needs a factor, e.g. %s:2", text, name);
        }
        return 0;
    }
    return ic_errf(err, "unknown setting '%s' (valid: standard, noisy[:std], scale_x:c, scale_y:c, skewed, "
                        "half_subspace, random_quadrants, orthogonal_query, overlapping_query)", text);
}

void ic_shift_label(const ic_shift *s, char *buf, size_t len) {
    if (s->kind == IC_SHIFT_NOISY || s->kind == IC_SHIFT_SCALE_X || s->kind == IC_SHIFT_SCALE_Y)
        snprintf(buf, len, "%s:%g", NAMES[s->kind], s->value);
    else
        snprintf(buf, len, "%s", NAMES[s->kind]);
}

int ic_shift_is_per_position(const ic_shift *s) {
    return s->kind == IC_SHIFT_RANDOM_QUADRANTS || s->kind == IC_SHIFT_ORTHOGONAL_QUERY ||
           s->kind == IC_SHIFT_OVERLAPPING_QUERY;
}

/* A random orthogonal matrix Q [d,d] (row-major): QR of a Gaussian matrix
 * with LAPACK, signs fixed so Q is Haar-distributed. */
static int random_orthogonal(ic_rng *rng, int d, double *Q, ic_err *err) {
    double *tau = malloc(sizeof(double) * (size_t)d);
    if (!tau) return ic_errf(err, "out of memory");
    for (int i = 0; i < d * d; i++) Q[i] = ic_rng_normal(rng);
    int rc = 0;
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, d, d, Q, d, tau) != 0) rc = ic_errf(err, "LAPACK dgeqrf failed");
    double *diag = malloc(sizeof(double) * (size_t)d);
    if (!rc && !diag) rc = ic_errf(err, "out of memory");
    if (!rc) {
        for (int i = 0; i < d; i++) diag[i] = Q[(size_t)i * d + i] < 0 ? -1.0 : 1.0;
        if (LAPACKE_dorgqr(LAPACK_ROW_MAJOR, d, d, d, Q, d, tau) != 0) rc = ic_errf(err, "LAPACK dorgqr failed");
        else
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) Q[(size_t)i * d + j] *= diag[j];
    }
    free(diag);
    free(tau);
    return rc;
}

int ic_shift_sample(const ic_task_spec *task, const ic_shift *s, ic_rng *rng, int B, int n, float *xs,
                    float *ys, float *qx, float *qy, ic_err *err) {
    const int d = task->n_dims;
    ic_task_spec t = *task;
    float *L = NULL;
    double *Q = NULL;
    int rc = -1;
    ic_task_params params = {0};
    if (ic_shift_is_per_position(s) && (!qx || !qy)) return ic_errf(err, "setting needs query buffers");
    switch (s->kind) {
    case IC_SHIFT_NOISY:
        if (t.kind == IC_TASK_LINEAR || t.kind == IC_TASK_NOISY_LINEAR) t.kind = IC_TASK_NOISY_LINEAR;
        t.noise_std = s->value;
        break;
    case IC_SHIFT_SCALE_X: t.x_scale *= s->value; break;
    case IC_SHIFT_SCALE_Y: t.y_scale *= s->value; break;
    case IC_SHIFT_SKEWED:
    case IC_SHIFT_HALF_SUBSPACE: {
        Q = malloc(sizeof(double) * (size_t)d * d);
        L = malloc(sizeof(float) * (size_t)d * d);
        if (!Q || !L) { ic_errf(err, "out of memory"); goto done; }
        if (random_orthogonal(rng, d, Q, err)) goto done;
        double norm = 0.0;
        for (int i = 0; i < d; i++) norm += 1.0 / ((i + 1.0) * (i + 1.0));
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                double sd = s->kind == IC_SHIFT_SKEWED ? sqrt(d / norm) / (j + 1.0) : (j < d / 2 ? 1.0 : 0.0);
                L[(size_t)i * d + j] = (float)(Q[(size_t)i * d + j] * sd); /* x = L z: Σ = Q diag(sd^2) Qᵀ */
            }
        t.x_cov_sqrt = L;
        break;
    }
    default: break;
    }
    int need_params = ic_shift_is_per_position(s);
    if (ic_task_sample(&t, rng, B, n, d, xs, ys, need_params ? &params : NULL, err)) goto done;
    if (need_params) {
        double *proj = malloc(sizeof(double) * (size_t)d);
        double *basis = malloc(sizeof(double) * (size_t)n * d);
        if (!proj || !basis) { free(proj); free(basis); ic_errf(err, "out of memory"); goto done; }
        for (int b = 0; b < B; b++) {
            float *X = xs + (size_t)b * n * d;
            if (s->kind == IC_SHIFT_RANDOM_QUADRANTS) {
                /* context in one random orthant; query = the original (unrestricted) point */
                for (int k = 0; k < n; k++) memcpy(qx + ((size_t)b * n + k) * d, X + (size_t)k * d, sizeof(float) * d);
                for (int j = 0; j < d; j++) {
                    float sign = ic_rng_uniform(rng) < 0.5 ? -1.0f : 1.0f;
                    for (int k = 0; k < n; k++) X[(size_t)k * d + j] = sign * fabsf(X[(size_t)k * d + j]);
                }
            } else if (s->kind == IC_SHIFT_OVERLAPPING_QUERY) {
                for (int k = 0; k < n; k++) {
                    int src = k == 0 ? 0 : (int)ic_rng_below(rng, (uint64_t)k);
                    memcpy(qx + ((size_t)b * n + k) * d, X + (size_t)src * d, sizeof(float) * d);
                }
            } else { /* orthogonal: Gram-Schmidt against the context, keep the original norm */
                int nb = 0;
                for (int k = 0; k < n; k++) {
                    const float *x = X + (size_t)k * d;
                    double n0 = 0.0, n1 = 0.0;
                    for (int j = 0; j < d; j++) { proj[j] = x[j]; n0 += (double)x[j] * x[j]; }
                    for (int r = 0; r < nb; r++) {
                        double dot = 0.0;
                        for (int j = 0; j < d; j++) dot += proj[j] * basis[(size_t)r * d + j];
                        for (int j = 0; j < d; j++) proj[j] -= dot * basis[(size_t)r * d + j];
                    }
                    for (int j = 0; j < d; j++) n1 += proj[j] * proj[j];
                    double scale = n1 > 1e-12 * n0 ? sqrt(n0 / n1) : 0.0;
                    for (int j = 0; j < d; j++) qx[((size_t)b * n + k) * d + j] = (float)(proj[j] * scale);
                    /* extend the basis of the context span with x_k (it is context for k+1..) */
                    double m = 0.0;
                    for (int j = 0; j < d; j++) proj[j] = x[j];
                    for (int r = 0; r < nb; r++) {
                        double dot = 0.0;
                        for (int j = 0; j < d; j++) dot += proj[j] * basis[(size_t)r * d + j];
                        for (int j = 0; j < d; j++) proj[j] -= dot * basis[(size_t)r * d + j];
                    }
                    for (int j = 0; j < d; j++) m += proj[j] * proj[j];
                    if (nb < d && m > 1e-12 * (n0 > 0 ? n0 : 1)) {
                        m = sqrt(m);
                        for (int j = 0; j < d; j++) basis[(size_t)nb * d + j] = proj[j] / m;
                        nb++;
                    }
                }
            }
            /* targets of the context (quadrants moved the points) and of the queries */
            for (int k = 0; k < n; k++) {
                if (s->kind == IC_SHIFT_RANDOM_QUADRANTS && ic_task_eval(&t, &params, b, X + (size_t)k * d, ys + (size_t)b * n + k)) {
                    free(proj); free(basis); ic_errf(err, "task evaluation failed"); goto done;
                }
                if (ic_task_eval(&t, &params, b, qx + ((size_t)b * n + k) * d, qy + (size_t)b * n + k)) {
                    free(proj); free(basis); ic_errf(err, "task evaluation failed"); goto done;
                }
            }
        }
        free(proj);
        free(basis);
    }
    rc = 0;
done:
    ic_task_params_free(&params);
    free(L);
    free(Q);
    return rc;
}
