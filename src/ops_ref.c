/* ops_ref.c: plain double-precision reference kernels (see ops.h).
 *
 * Written as the simplest readable loops: no BLAS, no threads, no clever
 * re-association. Forward functions overwrite their outputs; backward
 * functions ACCUMULATE (+=) into every non-NULL gradient pointer.
 * The tests hold the optimised float kernels of ops.c to these, and check
 * these against finite differences. */
#include <math.h>
#include <stddef.h>

#include "ops.h"

/* Index of W's element connecting input channel c to output channel o. */
static size_t w_index(int c, int o, int C, int OC, ic_wlayout layout)
{
    if (layout == IC_W_IN_OUT)
        return (size_t)c * OC + o; /* w[C,OC] */
    return (size_t)o * C + c;      /* w[OC,C] */
}

/* ---------------- linear ---------------- */

/* out[N,OC] = inp[N,C] @ W + bias[OC] (bias may be NULL). */
void ic_ref_linear_forward(double *out, const double *inp, const double *w, const double *bias,
                           int N, int C, int OC, ic_wlayout layout)
{
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int c = 0; c < C; c++)
                s += inp[(size_t)n * C + c] * w[w_index(c, o, C, OC, layout)];
            out[(size_t)n * OC + o] = s;
        }
    }
}

/* dinp[N,C] += dout[N,OC] @ W^T; dw (W's layout) += inp^T @ dout; dbias[OC] += sum_n dout. */
void ic_ref_linear_backward(double *dinp, double *dw, double *dbias, const double *dout,
                            const double *inp, const double *w, int N, int C, int OC,
                            ic_wlayout layout)
{
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            double g = dout[(size_t)n * OC + o];
            for (int c = 0; c < C; c++) {
                size_t wi = w_index(c, o, C, OC, layout);
                if (dinp)
                    dinp[(size_t)n * C + c] += g * w[wi];
                if (dw)
                    dw[wi] += g * inp[(size_t)n * C + c];
            }
            if (dbias)
                dbias[o] += g;
        }
    }
}

/* ---------------- layernorm ---------------- */

/* out[N,C] = (inp - mean) * rstd * w[C] + b[C]; mean[N], rstd[N] saved.
 * Biased variance; rstd = 1 / sqrt(var + IC_LN_EPS). */
void ic_ref_layernorm_forward(double *out, double *mean, double *rstd, const double *inp,
                              const double *w, const double *b, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C;
        double m = 0.0;
        for (int c = 0; c < C; c++)
            m += x[c];
        m /= C;
        double v = 0.0;
        for (int c = 0; c < C; c++)
            v += (x[c] - m) * (x[c] - m);
        v /= C;
        double r = 1.0 / sqrt(v + IC_LN_EPS);
        for (int c = 0; c < C; c++)
            out[(size_t)n * C + c] = (x[c] - m) * r * w[c] + b[c];
        mean[n] = m;
        rstd[n] = r;
    }
}

/* With xhat = (x - mean) * rstd and g = dout * w:
 *   dinp += rstd * (g - mean(g) - xhat * mean(g * xhat)),
 *   dw += dout * xhat, db += dout (summed over rows). */
void ic_ref_layernorm_backward(double *dinp, double *dw, double *db, const double *dout,
                               const double *inp, const double *w, const double *mean,
                               const double *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C;
        const double *d = dout + (size_t)n * C;
        double m = mean[n], r = rstd[n];
        double g_mean = 0.0, gx_mean = 0.0;
        for (int c = 0; c < C; c++) {
            double xhat = (x[c] - m) * r;
            double g = d[c] * w[c];
            g_mean += g;
            gx_mean += g * xhat;
        }
        g_mean /= C;
        gx_mean /= C;
        for (int c = 0; c < C; c++) {
            double xhat = (x[c] - m) * r;
            double g = d[c] * w[c];
            if (dinp)
                dinp[(size_t)n * C + c] += r * (g - g_mean - xhat * gx_mean);
            if (dw)
                dw[c] += d[c] * xhat;
            if (db)
                db[c] += d[c];
        }
    }
}

/* ---------------- causal self-attention ---------------- */

/* qkv[B,T,3C]: q at channel offset 0, k at C, v at 2C of each token row;
 * head h uses channels h*hs .. h*hs+hs-1 of each, hs = C/H.
 * att[B,H,T,T]: att[b,h,t,t2] = softmax_{t2<=t}(q_t . k_t2 / sqrt(hs)), 0 for t2 > t.
 * out[B,T,C]: out[b,t,h*hs+i] = sum_t2 att[b,h,t,t2] * v[b,t2,h*hs+i]. */
void ic_ref_attention_forward(double *out, double *att, const double *qkv, int B, int T, int C, int H)
{
    int hs = C / H;
    double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < T; t++) {
                const double *q = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
                double *a = att + (((size_t)b * H + h) * T + t) * T;
                /* scores and their maximum over the causal window */
                double mx = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const double *k = qkv + ((size_t)b * T + t2) * 3 * C + C + h * hs;
                    double s = 0.0;
                    for (int i = 0; i < hs; i++)
                        s += q[i] * k[i];
                    s *= scale;
                    a[t2] = s;
                    if (s > mx)
                        mx = s;
                }
                /* stable softmax */
                double sum = 0.0;
                for (int t2 = 0; t2 <= t; t2++) {
                    a[t2] = exp(a[t2] - mx);
                    sum += a[t2];
                }
                for (int t2 = 0; t2 <= t; t2++)
                    a[t2] /= sum;
                for (int t2 = t + 1; t2 < T; t2++)
                    a[t2] = 0.0;
                /* weighted sum of values */
                double *o = out + ((size_t)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) {
                    double s = 0.0;
                    for (int t2 = 0; t2 <= t; t2++)
                        s += a[t2] * qkv[((size_t)b * T + t2) * 3 * C + 2 * C + h * hs + i];
                    o[i] = s;
                }
            }
        }
    }
}

/* dqkv[B,T,3C] += gradient of out w.r.t. qkv, given dout[B,T,C] and the saved att.
 * datt[B,H,T,T] is scratch: overwritten with d(loss)/d(att) (0 above the diagonal).
 * With P = att row t and dP = datt row t:
 *   dv[t2] += P[t2] * dout[t];  dP[t2] = dout[t] . v[t2];
 *   dS[t2] = P[t2] * (dP[t2] - sum_t3 P[t3] dP[t3]);
 *   dq[t] += scale * sum_t2 dS[t2] k[t2];  dk[t2] += scale * dS[t2] q[t]. */
void ic_ref_attention_backward(double *dqkv, double *datt, const double *dout, const double *qkv,
                               const double *att, int B, int T, int C, int H)
{
    int hs = C / H;
    double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < T; t++) {
                const double *P = att + (((size_t)b * H + h) * T + t) * T;
                double *dP = datt + (((size_t)b * H + h) * T + t) * T;
                const double *g = dout + ((size_t)b * T + t) * C + h * hs;
                const double *q = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
                double *dq = dqkv + ((size_t)b * T + t) * 3 * C + h * hs;
                /* through out = P @ v */
                for (int t2 = 0; t2 <= t; t2++) {
                    const double *v = qkv + ((size_t)b * T + t2) * 3 * C + 2 * C + h * hs;
                    double *dv = dqkv + ((size_t)b * T + t2) * 3 * C + 2 * C + h * hs;
                    double s = 0.0;
                    for (int i = 0; i < hs; i++) {
                        s += g[i] * v[i];
                        dv[i] += P[t2] * g[i];
                    }
                    dP[t2] = s;
                }
                for (int t2 = t + 1; t2 < T; t2++)
                    dP[t2] = 0.0;
                /* through the softmax */
                double pdp = 0.0;
                for (int t2 = 0; t2 <= t; t2++)
                    pdp += P[t2] * dP[t2];
                /* through the scores q . k * scale */
                for (int t2 = 0; t2 <= t; t2++) {
                    double dS = P[t2] * (dP[t2] - pdp) * scale;
                    const double *k = qkv + ((size_t)b * T + t2) * 3 * C + C + h * hs;
                    double *dk = dqkv + ((size_t)b * T + t2) * 3 * C + C + h * hs;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += dS * k[i];
                        dk[i] += dS * q[i];
                    }
                }
            }
        }
    }
}

/* ---------------- GELU (tanh approximation) ---------------- */

#define GELU_K 0.7978845608028654 /* sqrt(2/pi) */
#define GELU_A 0.044715

/* out[N] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void ic_ref_gelu_forward(double *out, const double *inp, int N)
{
    for (int i = 0; i < N; i++) {
        double x = inp[i];
        out[i] = 0.5 * x * (1.0 + tanh(GELU_K * (x + GELU_A * x * x * x)));
    }
}

/* dinp[N] += dout * gelu'(x),
 * gelu'(x) = 0.5 (1 + th) + 0.5 x (1 - th^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2). */
void ic_ref_gelu_backward(double *dinp, const double *inp, const double *dout, int N)
{
    for (int i = 0; i < N; i++) {
        double x = inp[i];
        double th = tanh(GELU_K * (x + GELU_A * x * x * x));
        double d = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_K * (1.0 + 3.0 * GELU_A * x * x);
        dinp[i] += dout[i] * d;
    }
}

/* ---------------- residual ---------------- */

/* out[N] = a + b. */
void ic_ref_residual_forward(double *out, const double *a, const double *b, int N)
{
    for (int i = 0; i < N; i++)
        out[i] = a[i] + b[i];
}

/* da[N] += dout; db[N] += dout (either may be NULL). */
void ic_ref_residual_backward(double *da, double *db, const double *dout, int N)
{
    for (int i = 0; i < N; i++) {
        if (da)
            da[i] += dout[i];
        if (db)
            db[i] += dout[i];
    }
}

/* ---------------- position embedding ---------------- */

/* out[B,T,C] = inp[B,T,C] + wpe[t,C] for rows t = 0..T-1. */
void ic_ref_posembed_forward(double *out, const double *inp, const double *wpe, int B, int T, int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                size_t i = ((size_t)b * T + t) * C + c;
                out[i] = inp[i] + wpe[(size_t)t * C + c];
            }
}

/* dinp[B,T,C] += dout (may be NULL); dwpe[T,C] += sum over b of dout (may be NULL). */
void ic_ref_posembed_backward(double *dinp, double *dwpe, const double *dout, int B, int T, int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                size_t i = ((size_t)b * T + t) * C + c;
                if (dinp)
                    dinp[i] += dout[i];
                if (dwpe)
                    dwpe[(size_t)t * C + c] += dout[i];
            }
}

/* ---------------- read-out at the x positions ---------------- */

/* pred[B,n] = h[b, 2i, :] . w[C] + bias[0], h[B,T,C], T >= 2n - 1.
 * (A NULL bias is read as 0.) */
void ic_ref_readout_forward(double *pred, const double *h, const double *w, const double *bias,
                            int B, int T, int n, int C)
{
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            const double *x = h + ((size_t)b * T + 2 * i) * C;
            double s = bias ? bias[0] : 0.0;
            for (int c = 0; c < C; c++)
                s += x[c] * w[c];
            pred[(size_t)b * n + i] = s;
        }
}

/* dh[B,T,C] += dpred * w at even positions only; dw[C] += dpred * h[b,2i,:];
 * dbias[0] += sum dpred. Each may be NULL. */
void ic_ref_readout_backward(double *dh, double *dw, double *dbias, const double *dpred,
                             const double *h, const double *w, int B, int T, int n, int C)
{
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            double g = dpred[(size_t)b * n + i];
            size_t row = ((size_t)b * T + 2 * i) * C;
            for (int c = 0; c < C; c++) {
                if (dh)
                    dh[row + c] += g * w[c];
                if (dw)
                    dw[c] += g * h[row + c];
            }
            if (dbias)
                dbias[0] += g;
        }
}

/* ---------------- mean squared error ---------------- */

/* returns mean over N of (pred - y)^2 (0 when N = 0). */
double ic_ref_mse_forward(const double *pred, const double *y, int N)
{
    double s = 0.0;
    for (int i = 0; i < N; i++)
        s += (pred[i] - y[i]) * (pred[i] - y[i]);
    return N > 0 ? s / N : 0.0;
}

/* dpred[N] += scale * 2 (pred - y) / N. */
void ic_ref_mse_backward(double *dpred, const double *pred, const double *y, int N, double scale)
{
    for (int i = 0; i < N; i++)
        dpred[i] += scale * 2.0 * (pred[i] - y[i]) / N;
}
