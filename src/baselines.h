/* baselines.h: classical in-context solvers, predicting y_i from the
 * previous pairs (x_1, y_1) .. (x_{i-1}, y_{i-1}) of the same prompt, as
 * the transformer does. Every baseline predicts 0 with no context. */
#ifndef ICLAB_BASELINES_H
#define ICLAB_BASELINES_H

#include "err.h"

/* Least squares, minimum-norm solution (LAPACK dgelsd, SVD based) on each
 * prefix. xs [B,n,d], ys [B,n] -> pred [B,n]. */
int ic_baseline_least_squares(const float *xs, const float *ys, int B, int n, int d, float *pred,
                              ic_err *err);

#endif
