/* ops.c: the optimised float kernels of ops.h.
 *
 * Matrix products go to BLAS (OpenBLAS sgemm). Attention is written by hand:
 * per (batch, head) the matrices are tiny (T <= ~200, head size 8..64), so
 * BLAS call overhead would dominate; instead we thread over (batch, head)
 * with OpenMP and keep each head's work in cache. The plain references these
 * kernels are tested against live in ops_ref.c. */
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---------------- linear ---------------- */

void ic_linear_forward(float *out, const float *inp, const float *w, const float *bias,
                       int N, int C, int OC, ic_wlayout layout) {
    // out[N,OC] = inp[N,C] @ W (+ bias)
    float beta = 0.0f;
    if (bias) {
        #pragma omp parallel for if ((long)N * OC > 65536)
        for (int i = 0; i < N; i++) memcpy(out + (size_t)i * OC, bias, sizeof(float) * (size_t)OC);
        beta = 1.0f;
    }
    if (layout == IC_W_IN_OUT) // W[C,OC]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, OC, C, 1.0f, inp, C, w, OC,
                    beta, out, OC);
    else // W[OC,C]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C,
                    beta, out, OC);
}

void ic_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int C, int OC,
                        ic_wlayout layout) {
    if (dinp) { // dinp[N,C] += dout[N,OC] @ W^T
        if (layout == IC_W_IN_OUT)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C, OC, 1.0f, dout, OC, w, OC,
                        1.0f, dinp, C);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C,
                        1.0f, dinp, C);
    }
    if (dw) {
        if (layout == IC_W_IN_OUT) // dW[C,OC] += inp^T @ dout
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, OC, N, 1.0f, inp, C, dout, OC,
                        1.0f, dw, OC);
        else // dW[OC,C] += dout^T @ inp
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C,
                        1.0f, dw, C);
    }
    if (dbias) { // dbias[OC] += column sums of dout; threads split the columns
        #pragma omp parallel for if ((long)N * OC > 65536)
        for (int o = 0; o < OC; o++) {
            float s = 0.0f;
            for (int i = 0; i < N; i++) s += dout[(size_t)i * OC + o];
            dbias[o] += s;
        }
    }
}

/* ---------------- layernorm ---------------- */

void ic_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C) {
    #pragma omp parallel for if ((long)N * C > 65536)
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * C;
        float *o = out + (size_t)i * C;
        float m = 0.0f;
        for (int c = 0; c < C; c++) m += x[c];
        m /= (float)C;
        float v = 0.0f;
        for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + (float)IC_LN_EPS);
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
        mean[i] = m;
        rstd[i] = s;
    }
}

void ic_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const float *mean,
                           const float *rstd, int N, int C) {
    if (dinp) {
        #pragma omp parallel for if ((long)N * C > 65536)
        for (int i = 0; i < N; i++) {
            const float *x = inp + (size_t)i * C, *g = dout + (size_t)i * C;
            float *dx = dinp + (size_t)i * C;
            float m = mean[i], s = rstd[i];
            // dnorm = g*w; dx = s * (dnorm - mean(dnorm) - norm * mean(dnorm*norm))
            float a = 0.0f, bsum = 0.0f;
            for (int c = 0; c < C; c++) {
                float dn = g[c] * w[c];
                a += dn;
                bsum += dn * (x[c] - m) * s;
            }
            a /= (float)C;
            bsum /= (float)C;
            for (int c = 0; c < C; c++) {
                float norm = (x[c] - m) * s;
                dx[c] += s * (g[c] * w[c] - a - norm * bsum);
            }
        }
    }
    if (dw || db) { // parameter grads: threads split the channels (no reduction races)
        #pragma omp parallel for if ((long)N * C > 65536)
        for (int c = 0; c < C; c++) {
            float sw = 0.0f, sb = 0.0f;
            for (int i = 0; i < N; i++) {
                float g = dout[(size_t)i * C + c];
                sw += g * (inp[(size_t)i * C + c] - mean[i]) * rstd[i];
                sb += g;
            }
            if (dw) dw[c] += sw;
            if (db) db[c] += sb;
        }
    }
}

/* ---------------- attention ---------------- */

void ic_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H) {
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * C3 + h * hs;
                float *a = att + (((size_t)b * H + h) * T + t) * T;
                float mx = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = qkv + ((size_t)b * T + t2) * C3 + C + h * hs;
                    float s = 0.0f;
                    for (int i = 0; i < hs; i++) s += q[i] * k[i];
                    s *= scale;
                    a[t2] = s;
                    if (s > mx) mx = s;
                }
                float sum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) { float e = expf(a[t2] - mx); a[t2] = e; sum += e; }
                float inv = 1.0f / sum;
                for (int t2 = 0; t2 <= t; t2++) a[t2] *= inv;
                for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
                float *o = out + ((size_t)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
                    float p = a[t2];
                    for (int i = 0; i < hs; i++) o[i] += p * v[i];
                }
            }
        }
    }
}

void ic_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv,
                           const float *att, int B, int T, int C, int H) {
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    // Each (b,h) touches only its own head's channels of dqkv: no races.
    #pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * H + h) * T + t) * T;
                float *da = datt + (((size_t)b * H + h) * T + t) * T;
                const float *go = dout + ((size_t)b * T + t) * C + h * hs;
                // through out = att @ v
                float dot = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
                    float *dv = dqkv + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
                    float s = 0.0f;
                    for (int i = 0; i < hs; i++) { s += go[i] * v[i]; dv[i] += a[t2] * go[i]; }
                    da[t2] = s;
                    dot += s * a[t2];
                }
                // through softmax: dpre = a * (da - sum(a*da)), then the scaled dot product
                const float *q = qkv + ((size_t)b * T + t) * C3 + h * hs;
                float *dq = dqkv + ((size_t)b * T + t) * C3 + h * hs;
                for (int t2 = 0; t2 <= t; t2++) {
                    float dpre = a[t2] * (da[t2] - dot) * scale;
                    da[t2] = dpre;
                    const float *k = qkv + ((size_t)b * T + t2) * C3 + C + h * hs;
                    float *dk = dqkv + ((size_t)b * T + t2) * C3 + C + h * hs;
                    for (int i = 0; i < hs; i++) { dq[i] += dpre * k[i]; dk[i] += dpre * q[i]; }
                }
                for (int t2 = t + 1; t2 < T; t2++) da[t2] = 0.0f;
            }
        }
    }
}

/* ---------------- GELU (tanh approximation) ---------------- */

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

void ic_gelu_forward(float *out, const float *inp, int N) {
    #pragma omp parallel for if (N > 65536)
    for (int i = 0; i < N; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
    }
}

void ic_gelu_backward(float *dinp, const float *inp, const float *dout, int N) {
    #pragma omp parallel for if (N > 65536)
    for (int i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_K * (x + 0.044715f * x * x * x);
        float th = tanhf(u);
        float sech2 = 1.0f - th * th;
        float g = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += g * dout[i];
    }
}

/* ---------------- residual, position embedding ---------------- */

void ic_residual_forward(float *out, const float *a, const float *b, int N) {
    #pragma omp parallel for if (N > 65536)
    for (int i = 0; i < N; i++) out[i] = a[i] + b[i];
}

void ic_residual_backward(float *da, float *db, const float *dout, int N) {
    #pragma omp parallel for if (N > 65536)
    for (int i = 0; i < N; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

void ic_posembed_forward(float *out, const float *inp, const float *wpe, int B, int T, int C) {
    const size_t TC = (size_t)T * C;
    #pragma omp parallel for if ((long)B * T * C > 65536)
    for (int b = 0; b < B; b++)
        for (size_t j = 0; j < TC; j++) out[b * TC + j] = inp[b * TC + j] + wpe[j];
}

void ic_posembed_backward(float *dinp, float *dwpe, const float *dout, int B, int T, int C) {
    const size_t TC = (size_t)T * C;
    if (dinp) {
        #pragma omp parallel for if ((long)B * T * C > 65536)
        for (size_t j = 0; j < (size_t)B * TC; j++) dinp[j] += dout[j];
    }
    if (dwpe) {
        #pragma omp parallel for if ((long)B * T * C > 65536)
        for (size_t j = 0; j < TC; j++) {
            float s = 0.0f;
            for (int b = 0; b < B; b++) s += dout[b * TC + j];
            dwpe[j] += s;
        }
    }
}

/* ---------------- read-out at x positions, MSE ---------------- */

void ic_readout_forward(float *pred, const float *h, const float *w, const float *bias,
                        int B, int T, int n, int C) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            const float *x = h + ((size_t)b * T + 2 * i) * C;
            float s = 0.0f;
            for (int c = 0; c < C; c++) s += x[c] * w[c];
            pred[(size_t)b * n + i] = s + bias[0];
        }
}

void ic_readout_backward(float *dh, float *dw, float *dbias, const float *dpred,
                         const float *h, const float *w, int B, int T, int n, int C) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            float g = dpred[(size_t)b * n + i];
            size_t row = ((size_t)b * T + 2 * i) * C;
            if (dh) for (int c = 0; c < C; c++) dh[row + c] += g * w[c];
            if (dw) for (int c = 0; c < C; c++) dw[c] += g * h[row + c];
            if (dbias) dbias[0] += g;
        }
}

double ic_mse_forward(const float *pred, const float *y, int N) {
    double s = 0.0;
    for (int i = 0; i < N; i++) { double d = (double)pred[i] - (double)y[i]; s += d * d; }
    return N > 0 ? s / N : 0.0;
}

void ic_mse_backward(float *dpred, const float *pred, const float *y, int N, float scale) {
    const float k = 2.0f * scale / (float)N;
    for (int i = 0; i < N; i++) dpred[i] += k * (pred[i] - y[i]);
}
