/* tasks.c: the in-context function classes of Garg et al. (2022).
 * Definitions, defaults and the RNG order: tasks.h and docs/tasks.md. */
#include "tasks.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define IC_NOINLINE __attribute__((noinline))
#else
#define IC_NOINLINE
#endif

static const char *const TASK_NAMES[IC_NUM_TASKS] = {
    "linear_regression",     "sparse_linear_regression", "noisy_linear_regression",
    "linear_classification", "quadratic_regression",     "relu_2nn_regression",
    "decision_tree",
};

const char *ic_task_name(ic_task_kind kind) {
    if ((int)kind < 0 || kind >= IC_NUM_TASKS) return "unknown";
    return TASK_NAMES[kind];
}

int ic_task_parse(const char *name, ic_task_kind *out, ic_err *err) {
    if (name) {
        for (int k = 0; k < IC_NUM_TASKS; k++) {
            if (strcmp(name, TASK_NAMES[k]) == 0) {
                if (out) *out = (ic_task_kind)k;
                return 0;
            }
        }
    }
    char list[256];
    size_t len = 0;
    list[0] = '\0';
    for (int k = 0; k < IC_NUM_TASKS; k++) {
        size_t l = strlen(TASK_NAMES[k]);
        if (len + l + 3 >= sizeof list) break;
        if (k) {
            memcpy(list + len, ", ", 2);
            len += 2;
        }
        memcpy(list + len, TASK_NAMES[k], l);
        len += l;
        list[len] = '\0';
    }
    return ic_errf(err, "unknown task '%.100s' (valid: %s)", name ? name : "(null)", list);
}

void ic_task_spec_default(ic_task_spec *spec, ic_task_kind kind, int n_dims) {
    memset(spec, 0, sizeof *spec);
    spec->kind = kind;
    spec->n_dims = n_dims;
    spec->sparsity = 3;
    spec->noise_std = 1.0;
    spec->hidden = 100;
    spec->depth = 4;
    spec->x_scale = 1.0;
    spec->x_cov_sqrt = NULL;
    spec->y_scale = 1.0;
}

json_t *ic_task_spec_json(const ic_task_spec *spec) {
    if (!spec || (int)spec->kind < 0 || spec->kind >= IC_NUM_TASKS) return NULL;
    json_t *o = json_pack("{s:s,s:i}", "name", TASK_NAMES[spec->kind], "n_dims", spec->n_dims);
    if (!o) return NULL;
    switch (spec->kind) {
    case IC_TASK_SPARSE_LINEAR: json_object_set_new(o, "sparsity", json_integer(spec->sparsity)); break;
    case IC_TASK_NOISY_LINEAR: json_object_set_new(o, "noise_std", json_real(spec->noise_std)); break;
    case IC_TASK_RELU2NN: json_object_set_new(o, "hidden", json_integer(spec->hidden)); break;
    case IC_TASK_DECISION_TREE: json_object_set_new(o, "depth", json_integer(spec->depth)); break;
    default: break;
    }
    json_object_set_new(o, "x_scale", json_real(spec->x_scale));
    json_object_set_new(o, "y_scale", json_real(spec->y_scale));
    json_object_set_new(o, "x_cov_sqrt", json_string(spec->x_cov_sqrt ? "given" : "identity"));
    return o;
}

int ic_task_spec_check(const ic_task_spec *spec, ic_err *err) {
    if (!spec) return ic_errf(err, "task spec: NULL");
    if ((int)spec->kind < 0 || spec->kind >= IC_NUM_TASKS)
        return ic_errf(err, "task spec: kind %d out of range 0..%d", (int)spec->kind,
                       IC_NUM_TASKS - 1);
    const char *nm = TASK_NAMES[spec->kind];
    if (spec->n_dims < 1) return ic_errf(err, "%s: n_dims must be >= 1 (got %d)", nm, spec->n_dims);
    if (!isfinite(spec->x_scale))
        return ic_errf(err, "%s: x_scale must be finite (got %g)", nm, spec->x_scale);
    if (!isfinite(spec->y_scale))
        return ic_errf(err, "%s: y_scale must be finite (got %g)", nm, spec->y_scale);
    switch (spec->kind) {
    case IC_TASK_SPARSE_LINEAR:
        if (spec->sparsity < 1)
            return ic_errf(err, "%s: sparsity must be >= 1 (got %d)", nm, spec->sparsity);
        break;
    case IC_TASK_NOISY_LINEAR:
        if (!isfinite(spec->noise_std) || spec->noise_std < 0)
            return ic_errf(err, "%s: noise_std must be finite and >= 0 (got %g)", nm,
                           spec->noise_std);
        break;
    case IC_TASK_RELU2NN:
        if (spec->hidden < 1)
            return ic_errf(err, "%s: hidden must be >= 1 (got %d)", nm, spec->hidden);
        break;
    case IC_TASK_DECISION_TREE:
        if (spec->depth < 1 || spec->depth > IC_TASK_MAX_DEPTH)
            return ic_errf(err, "%s: depth must be in 1..%d (got %d)", nm, IC_TASK_MAX_DEPTH,
                           spec->depth);
        break;
    default:
        break;
    }
    return 0;
}

void ic_task_params_free(ic_task_params *p) {
    if (!p) return;
    free(p->w);
    free(p->W1);
    free(p->W2);
    free(p->dt_feature);
    free(p->dt_value);
    memset(p, 0, sizeof *p);
}

/* One prompt's parameters (pointers into the batch arrays or a scratch). */
typedef struct {
    float *w;       /* [d] */
    float *W1;      /* [d,h] */
    float *W2;      /* [h] */
    int *feat;      /* [n_nodes] */
    float *val;     /* [n_nodes] */
} prompt_params;

/* The noiseless, unscaled target f(x) into *out. Not inlined so the sampler
 * and ic_task_eval run the identical instruction sequence (bit-equal ys).
 * Returns -1 only for a decision tree whose path meets a feature index
 * outside 0..d-1 (possible only with hand-built params). */
static IC_NOINLINE int eval_raw(ic_task_kind kind, int d, int h, int depth,
                                const prompt_params *pp, const float *x, double *out) {
    double r = 0.0;
    switch (kind) {
    case IC_TASK_LINEAR:
    case IC_TASK_SPARSE_LINEAR:
    case IC_TASK_NOISY_LINEAR:
    case IC_TASK_LINEAR_CLASSIFICATION: {
        double s = 0.0;
        for (int k = 0; k < d; k++) s += (double)x[k] * (double)pp->w[k];
        /* sign with sign(0) = +1 */
        r = kind == IC_TASK_LINEAR_CLASSIFICATION ? (s >= 0.0 ? 1.0 : -1.0) : s;
        break;
    }
    case IC_TASK_QUADRATIC: {
        double s = 0.0;
        for (int k = 0; k < d; k++) s += (double)x[k] * (double)x[k] * (double)pp->w[k];
        r = s / sqrt(3.0);
        break;
    }
    case IC_TASK_RELU2NN: {
        double acc = 0.0;
        for (int j = 0; j < h; j++) {
            double a = 0.0;
            for (int k = 0; k < d; k++) a += (double)x[k] * (double)pp->W1[(size_t)k * h + j];
            if (a > 0.0) acc += a * (double)pp->W2[j];
        }
        r = sqrt(2.0 / h) * acc;
        break;
    }
    case IC_TASK_DECISION_TREE: {
        size_t first_leaf = ((size_t)1 << depth) - 1, i = 0;
        while (i < first_leaf) {
            int f = pp->feat[i];
            if (f < 0 || f >= d) return -1;
            i = (x[f] > 0.0f) ? 2 * i + 2 : 2 * i + 1;
        }
        r = (double)pp->val[i];
        break;
    }
    default:
        return -1;
    }
    *out = r;
    return 0;
}

static void sample_params(const ic_task_spec *s, ic_rng *rng, int d_active, int *perm,
                          const prompt_params *pp) {
    int d = s->n_dims;
    switch (s->kind) {
    case IC_TASK_LINEAR:
    case IC_TASK_NOISY_LINEAR:
    case IC_TASK_LINEAR_CLASSIFICATION:
    case IC_TASK_QUADRATIC:
        for (int k = 0; k < d; k++) pp->w[k] = (float)ic_rng_normal(rng);
        break;
    case IC_TASK_SPARSE_LINEAR: {
        for (int k = 0; k < d; k++) pp->w[k] = (float)ic_rng_normal(rng);
        int keep = s->sparsity < d_active ? s->sparsity : d_active;
        /* partial Fisher-Yates over the active indices: perm[0..keep-1] is a
         * uniform draw without replacement */
        for (int k = 0; k < d_active; k++) perm[k] = k;
        for (int t = 0; t < keep; t++) {
            int r = t + (int)ic_rng_below(rng, (uint64_t)(d_active - t));
            int tmp = perm[t];
            perm[t] = perm[r];
            perm[r] = tmp;
        }
        /* perm[keep..d_active-1] are the active indices not chosen */
        for (int t = keep; t < d_active; t++) pp->w[perm[t]] = 0.0f;
        for (int k = d_active; k < d; k++) pp->w[k] = 0.0f;
        break;
    }
    case IC_TASK_RELU2NN: {
        size_t dh = (size_t)d * s->hidden;
        for (size_t i = 0; i < dh; i++) pp->W1[i] = (float)ic_rng_normal(rng);
        for (int j = 0; j < s->hidden; j++) pp->W2[j] = (float)ic_rng_normal(rng);
        break;
    }
    case IC_TASK_DECISION_TREE: {
        size_t first_leaf = ((size_t)1 << s->depth) - 1, n_nodes = 2 * first_leaf + 1;
        for (size_t i = 0; i < first_leaf; i++) {
            pp->feat[i] = (int)ic_rng_below(rng, (uint64_t)d_active);
            pp->val[i] = 0.0f;
        }
        for (size_t i = first_leaf; i < n_nodes; i++) {
            pp->feat[i] = -1;
            pp->val[i] = (float)ic_rng_normal(rng);
        }
        break;
    }
    default:
        break;
    }
}

/* a*b*c elements of size sz fit in size_t */
static int mul_ok(size_t a, size_t b, size_t c, size_t sz) {
    size_t lim = SIZE_MAX / sz;
    if (a && b > lim / a) return 0;
    lim /= (a ? a : 1);
    if (b && c > lim / b) return 0;
    return 1;
}

int ic_task_sample(const ic_task_spec *spec, ic_rng *rng, int B, int n, int d_active,
                   float *xs, float *ys, ic_task_params *params, ic_err *err) {
    if (params) ic_task_params_free(params);
    if (ic_task_spec_check(spec, err)) return -1;
    const char *nm = TASK_NAMES[spec->kind];
    if (!rng) return ic_errf(err, "%s: rng is NULL", nm);
    if (!xs || !ys) return ic_errf(err, "%s: xs/ys buffer is NULL", nm);
    if (B < 1) return ic_errf(err, "%s: batch size B must be >= 1 (got %d)", nm, B);
    if (n < 1) return ic_errf(err, "%s: n_points must be >= 1 (got %d)", nm, n);
    int d = spec->n_dims;
    if (d_active < 1 || d_active > d)
        return ic_errf(err, "%s: d_active must be in 1..n_dims=%d (got %d)", nm, d, d_active);
    ic_task_kind kind = spec->kind;
    int h = kind == IC_TASK_RELU2NN ? spec->hidden : 0;
    int depth = kind == IC_TASK_DECISION_TREE ? spec->depth : 0;
    size_t n_nodes = depth ? ((size_t)2 << depth) - 1 : 0;
    if (!mul_ok((size_t)B, (size_t)n, (size_t)d, sizeof(float)) ||
        !mul_ok((size_t)B, (size_t)d, (size_t)(h ? h : 1), sizeof(float)) ||
        !mul_ok((size_t)B, n_nodes ? n_nodes : 1, 1, sizeof(float)))
        return ic_errf(err, "%s: batch too large (B=%d, n=%d, d=%d)", nm, B, n, d);

    /* sizes of one prompt's parameter arrays */
    size_t nw = 0, nW1 = 0, nW2 = 0, nt = 0;
    switch (kind) {
    case IC_TASK_RELU2NN:
        nW1 = (size_t)d * h;
        nW2 = (size_t)h;
        break;
    case IC_TASK_DECISION_TREE:
        nt = n_nodes;
        break;
    default:
        nw = (size_t)d;
        break;
    }
    size_t nb = params ? (size_t)B : 1; /* scratch holds one prompt */
    float *w = nw ? malloc(nb * nw * sizeof(float)) : NULL;
    float *W1 = nW1 ? malloc(nb * nW1 * sizeof(float)) : NULL;
    float *W2 = nW2 ? malloc(nb * nW2 * sizeof(float)) : NULL;
    int *feat = nt ? malloc(nb * nt * sizeof(int)) : NULL;
    float *val = nt ? malloc(nb * nt * sizeof(float)) : NULL;
    int *perm = malloc((size_t)d * sizeof(int));
    double *z = malloc((size_t)d * sizeof(double));
    if ((nw && !w) || (nW1 && !W1) || (nW2 && !W2) || (nt && (!feat || !val)) || !perm || !z) {
        free(w);
        free(W1);
        free(W2);
        free(feat);
        free(val);
        free(perm);
        free(z);
        return ic_errf(err, "%s: out of memory for the task parameters (B=%d)", nm, B);
    }

    const float *L = spec->x_cov_sqrt;
    double xsc = spec->x_scale, ysc = spec->y_scale;
    for (int b = 0; b < B; b++) {
        size_t o = params ? (size_t)b : 0;
        prompt_params pp = {
            w ? w + o * nw : NULL, W1 ? W1 + o * nW1 : NULL, W2 ? W2 + o * nW2 : NULL,
            feat ? feat + o * nt : NULL, val ? val + o * nt : NULL,
        };
        /* 1. parameters */
        sample_params(spec, rng, d_active, perm, &pp);
        /* 2. points */
        for (int i = 0; i < n; i++) {
            float *x = xs + ((size_t)b * n + i) * d;
            for (int k = 0; k < d; k++) z[k] = ic_rng_normal(rng);
            for (int k = 0; k < d; k++) {
                double v;
                if (L) {
                    v = 0.0;
                    for (int j = 0; j < d; j++) v += (double)L[(size_t)k * d + j] * z[j];
                } else {
                    v = z[k];
                }
                x[k] = k < d_active ? (float)(xsc * v) : 0.0f;
            }
            double f = 0.0;
            (void)eval_raw(kind, d, h, depth, &pp, x, &f); /* sampled params are valid */
            ys[(size_t)b * n + i] = (float)(ysc * f);
        }
        /* 3. noise */
        if (kind == IC_TASK_NOISY_LINEAR) {
            for (int i = 0; i < n; i++) {
                float *x = xs + ((size_t)b * n + i) * d;
                double e = ic_rng_normal(rng), f = 0.0;
                (void)eval_raw(kind, d, h, depth, &pp, x, &f);
                ys[(size_t)b * n + i] = (float)(ysc * f + spec->noise_std * e);
            }
        }
    }
    free(perm);
    free(z);

    if (params) {
        params->kind = kind;
        params->B = B;
        params->n_dims = d;
        params->d_active = d_active;
        params->hidden = h;
        params->depth = depth;
        params->n_nodes = (int)n_nodes;
        params->w = w;
        params->W1 = W1;
        params->W2 = W2;
        params->dt_feature = feat;
        params->dt_value = val;
    } else {
        free(w);
        free(W1);
        free(W2);
        free(feat);
        free(val);
    }
    return 0;
}

int ic_task_eval(const ic_task_spec *spec, const ic_task_params *params, int b, const float *x,
                 float *y_out) {
    if (!spec || !params || !x || !y_out) return -1;
    if (spec->kind != params->kind || spec->n_dims != params->n_dims) return -1;
    if (b < 0 || b >= params->B) return -1;
    int d = params->n_dims, h = params->hidden, depth = params->depth;
    size_t nt = (size_t)params->n_nodes;
    prompt_params pp = {NULL, NULL, NULL, NULL, NULL};
    switch (params->kind) {
    case IC_TASK_RELU2NN:
        if (!params->W1 || !params->W2 || h < 1) return -1;
        pp.W1 = params->W1 + (size_t)b * d * h;
        pp.W2 = params->W2 + (size_t)b * h;
        break;
    case IC_TASK_DECISION_TREE:
        if (!params->dt_feature || !params->dt_value || depth < 1 || depth > IC_TASK_MAX_DEPTH ||
            nt != ((size_t)2 << depth) - 1)
            return -1;
        pp.feat = params->dt_feature + (size_t)b * nt;
        pp.val = params->dt_value + (size_t)b * nt;
        break;
    default:
        if ((int)params->kind < 0 || params->kind >= IC_NUM_TASKS || !params->w) return -1;
        pp.w = params->w + (size_t)b * d;
        break;
    }
    double f;
    if (eval_raw(params->kind, d, h, depth, &pp, x, &f)) return -1;
    *y_out = (float)(spec->y_scale * f);
    return 0;
}
