#include "baselines.h"

#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

/* Least squares by LAPACK's dgelsd (divide-and-conquer SVD): on a
 * rank-deficient prefix (fewer points than dimensions) it returns the
 * minimum-norm solution, which is what Garg et al. compare against.
 * Computed in double: a k x d problem is tiny, and float would blur the
 * ~1e-9 errors of the noiseless k >= d regime. */
int ic_baseline_least_squares(const float *xs, const float *ys, int B, int n, int d, float *pred,
                              ic_err *err) {
    const int ldb = n > d ? n : d;
    double *A = malloc(sizeof(double) * (size_t)n * d);
    double *y = malloc(sizeof(double) * (size_t)ldb);
    double *s = malloc(sizeof(double) * (size_t)(n < d ? (n > 0 ? n : 1) : d));
    int rc = 0;
    if (!A || !y || !s) { rc = ic_errf(err, "out of memory"); goto done; }
    for (int b = 0; b < B && rc == 0; b++) {
        const float *X = xs + (size_t)b * n * d, *Y = ys + (size_t)b * n;
        pred[(size_t)b * n] = 0.0f;
        for (int k = 1; k < n; k++) { // fit on points 0..k-1, predict point k
            for (int i = 0; i < k; i++)
                for (int j = 0; j < d; j++) A[(size_t)i * d + j] = X[(size_t)i * d + j];
            memset(y, 0, sizeof(double) * (size_t)ldb);
            for (int i = 0; i < k; i++) y[i] = Y[i];
            lapack_int rank;
            lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, k, d, 1, A, d, y, 1, s, -1.0, &rank);
            if (info != 0) { rc = ic_errf(err, "least squares: LAPACK dgelsd failed (info %d) on prompt %d, %d points", (int)info, b, k); break; }
            double p = 0.0;
            for (int j = 0; j < d; j++) p += y[j] * X[(size_t)k * d + j];
            pred[(size_t)b * n + k] = (float)p;
        }
    }
done:
    free(A);
    free(y);
    free(s);
    return rc;
}
