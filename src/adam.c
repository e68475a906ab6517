#include "adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ic_adam_create(ic_adam *a, size_t n, ic_err *err) {
    memset(a, 0, sizeof *a);
    a->n = n;
    a->m = calloc(n ? n : 1, sizeof(float));
    a->v = calloc(n ? n : 1, sizeof(float));
    if (!a->m || !a->v) {
        ic_adam_free(a);
        return ic_errf(err, "out of memory allocating optimiser state for %zu parameters", n);
    }
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    a->weight_decay = 0.0;
    return 0;
}

void ic_adam_free(ic_adam *a) {
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
}

/* As torch.optim.Adam(W): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). AdamW first
 * multiplies p by (1 - lr wd). */
void ic_adam_update(ic_adam *a, float *params, const float *grads, double lr) {
    a->step++;
    const float b1 = (float)a->beta1, b2 = (float)a->beta2, eps = (float)a->eps;
    const float c1 = (float)(1.0 / (1.0 - pow(a->beta1, (double)a->step)));
    const float c2 = (float)(1.0 / (1.0 - pow(a->beta2, (double)a->step)));
    const float flr = (float)lr, decay = (float)(1.0 - lr * a->weight_decay);
    float *m = a->m, *v = a->v;
    const long n = (long)a->n;
    /* simd: gcc -O2 does not vectorise this loop by itself (its four arrays
     * might overlap); element-wise, so the vector code computes the same bits */
    #pragma omp parallel for simd if (n > 65536)
    for (long i = 0; i < n; i++) {
        float g = grads[i];
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = params[i] * decay - flr * (mi * c1) / (sqrtf(vi * c2) + eps);
    }
}

void ic_adam_update_ref(ic_adam *a, float *params, const float *grads, double lr) {
    a->step++;
    for (size_t i = 0; i < a->n; i++) {
        double g = grads[i];
        double mi = a->beta1 * a->m[i] + (1.0 - a->beta1) * g;
        double vi = a->beta2 * a->v[i] + (1.0 - a->beta2) * g * g;
        a->m[i] = (float)mi;
        a->v[i] = (float)vi;
        double mhat = mi / (1.0 - pow(a->beta1, (double)a->step));
        double vhat = vi / (1.0 - pow(a->beta2, (double)a->step));
        double p = params[i] * (1.0 - lr * a->weight_decay);
        params[i] = (float)(p - lr * mhat / (sqrt(vhat) + a->eps));
    }
}
