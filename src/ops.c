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
#include <stdint.h>
#include <stdlib.h>
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
    if (dbias) { // dbias[OC] += column sums of dout; threads split the columns in
                 // blocks, rows are walked in order (contiguous, vectorised)
        const int CB = 64;
        #pragma omp parallel for if ((long)N * OC > 65536)
        for (int o0 = 0; o0 < OC; o0 += CB) {
            const int o1 = o0 + CB < OC ? o0 + CB : OC;
            float acc[64];
            for (int o = o0; o < o1; o++) acc[o - o0] = 0.0f;
            for (int i = 0; i < N; i++) {
                const float *row = dout + (size_t)i * OC;
                for (int o = o0; o < o1; o++) acc[o - o0] += row[o];
            }
            for (int o = o0; o < o1; o++) dbias[o] += acc[o - o0];
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

/* e^x for x in [-87, 88], vectorisable (glibc's scalar expf/tanhf were a
 * third of a small model's training step): x = k ln2 + r, |r| <= ln2/2, a
 * degree-7 Taylor polynomial for e^r (relative error < 2e-9), 2^k written into
 * the exponent bits. Callers clamp x first; the clamps are written so NaN
 * also lands in range, keeping the float-to-int conversion defined. */
#pragma omp declare simd
static inline float exp_fast(float x) {
    /* round to nearest by the 1.5*2^23 trick (vectorises; roundf() is a libm call) */
    float k = (x * 1.4426950408889634f + 12582912.0f) - 12582912.0f;
    float r = x - k * 0.693145751953125f - k * 1.428606765330187e-06f; /* ln2 split hi + lo */
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.6666667e-1f + r * (4.1666668e-2f +
              r * (8.3333338e-3f + r * (1.3888889e-3f + r * 1.9841270e-4f))))));
    union { float f; int32_t i; } sc;
    sc.i = ((int32_t)k + 127) << 23;
    return p * sc.f;
}

/* e^x for x <= 0 (softmax after subtracting the row max); below -87 the
 * result (< 1.6e-38) is not a normal float anyway. */
#pragma omp declare simd
static inline float exp_neg(float x) {
    x = x >= -87.0f ? x : -87.0f;
    x = x <= 0.0f ? x : 0.0f;
    return exp_fast(x);
}

/* The `omp simd` marks below tell the compiler that the output row and the
 * rows it reads do not overlap (it cannot prove it for plain pointers, and
 * would otherwise emit scalar code); none of them is a reduction, so the
 * results do not depend on vector width. */

/* Copies one head's keys (or values) [T, hs] (row stride 3C) into a
 * transposed tile [hs, T], so the per-query loops over keys run over
 * contiguous memory and vectorise without reordering any sum. */
static void gather_transposed(float *tile, const float *src, int T, int Tp, int hs, int C3) {
    for (int i = 0; i < hs; i++)
        for (int t2 = T; t2 < Tp; t2++) tile[(size_t)i * Tp + t2] = 0.0f;
    for (int t2 = 0; t2 < T; t2++)
        for (int i = 0; i < hs; i++) tile[(size_t)i * Tp + t2] = src[(size_t)t2 * C3 + i];
}

/* Rows over keys are computed in whole vectors: up to n rounded up to a
 * multiple of 8 (at most Tp, T rounded up), on tiles and row buffers padded
 * to Tp, so no loop ends in a scalar remainder. The lanes past n are
 * computed and thrown away; no sum over keys changes its order. */
#define IC_VEC 8
static inline int round_vec(int n) { return (n + IC_VEC - 1) / IC_VEC * IC_VEC; }

/* Per-thread attention tiles live on the thread's stack when they fit (every
 * configuration in configs/ does: the standard model needs 32 KB), so a
 * training step allocates nothing; larger shapes fall back to malloc. */
#define IC_ATT_STACK_FLOATS 16384

/* Attention works per (batch, head) on small per-thread tiles: K^T (or V^T)
 * [hs, T] so the loops over keys run over contiguous memory, and in the
 * backward dK, dV [T, hs] accumulated locally and added to dqkv once. Local
 * accumulators also let the compiler keep a row of the output in registers
 * (it cannot for a row of `out` or `dqkv`, which might alias qkv). No loop
 * reorders a sum relative to the reference's order over keys. */
void ic_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H) {
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel
    {
        /* this thread's K^T tile [hs, Tp], a score row [Tp] and an output row [hs] */
        const int Tp = round_vec(T);
        const size_t need = (size_t)hs * Tp + Tp + hs;
        float stack_tile[IC_ATT_STACK_FLOATS];
        float *kt = need <= IC_ATT_STACK_FLOATS ? stack_tile : malloc(sizeof(float) * need);
        #pragma omp for collapse(2)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                if (!kt) continue; /* out of memory: nothing sensible to do in a kernel */
                float *restrict r = kt + (size_t)hs * Tp, *restrict acc = r + Tp;
                gather_transposed(kt, qkv + (size_t)b * T * C3 + C + h * hs, T, Tp, hs, C3);
                for (int t = 0; t < T; t++) {
                    const float *q = qkv + ((size_t)b * T + t) * C3 + h * hs;
                    float *restrict a = att + (((size_t)b * H + h) * T + t) * T;
                    const int n = t + 1, nv = round_vec(n);
                    for (int t2 = 0; t2 < nv; t2++) r[t2] = 0.0f;
                    for (int i = 0; i < hs; i++) { // r[t2] += q_i k_{t2,i}, over t2
                        const float qi = q[i] * scale, *kr = kt + (size_t)i * Tp;
                        #pragma omp simd
                        for (int t2 = 0; t2 < nv; t2++) r[t2] += qi * kr[t2];
                    }
                    float mx = r[0];
                    for (int t2 = 1; t2 < n; t2++) mx = r[t2] > mx ? r[t2] : mx;
                    #pragma omp simd
                    for (int t2 = 0; t2 < nv; t2++) r[t2] = t2 < n ? exp_neg(r[t2] - mx) : 0.0f;
                    float sum = 0.0f;
                    for (int t2 = 0; t2 < n; t2++) sum += r[t2];
                    const float inv = 1.0f / sum;
                    #pragma omp simd
                    for (int t2 = 0; t2 < nv; t2++) r[t2] *= inv;
                    for (int t2 = 0; t2 < n; t2++) a[t2] = r[t2];
                    for (int t2 = n; t2 < T; t2++) a[t2] = 0.0f;
                    for (int i = 0; i < hs; i++) acc[i] = 0.0f;
                    for (int t2 = 0; t2 < n; t2++) {
                        const float *restrict v = qkv + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
                        const float p = a[t2];
                        #pragma omp simd
                        for (int i = 0; i < hs; i++) acc[i] += p * v[i];
                    }
                    float *restrict o = out + ((size_t)b * T + t) * C + h * hs;
                    #pragma omp simd
                    for (int i = 0; i < hs; i++) o[i] = acc[i];
                }
            }
        }
        if (kt != stack_tile) free(kt);
    }
}

void ic_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv,
                           const float *att, int B, int T, int C, int H) {
    const int hs = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hs);
    // Each (b,h) touches only its own head's channels of dqkv: no races.
    #pragma omp parallel
    {
        /* this thread's V^T [hs, Tp], dK and dV [T, hs], a row [Tp], one dq row [hs] */
        const int Tp = round_vec(T);
        const size_t need = (size_t)hs * Tp + 2 * (size_t)hs * T + Tp + hs;
        float stack_tile[IC_ATT_STACK_FLOATS];
        float *vt = need <= IC_ATT_STACK_FLOATS ? stack_tile : malloc(sizeof(float) * need);
        #pragma omp for collapse(2)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                if (!vt) continue;
                float *restrict dK = vt + (size_t)hs * Tp, *restrict dV = dK + (size_t)hs * T;
                float *restrict r = dV + (size_t)hs * T, *restrict dq = r + Tp;
                gather_transposed(vt, qkv + (size_t)b * T * C3 + 2 * C + h * hs, T, Tp, hs, C3);
                memset(dK, 0, sizeof(float) * 2 * (size_t)hs * T);
                for (int t = 0; t < T; t++) {
                    const int n = t + 1, nv = round_vec(n);
                    const float *restrict a = att + (((size_t)b * H + h) * T + t) * T;
                    float *restrict da = datt + (((size_t)b * H + h) * T + t) * T;
                    const float *restrict go = dout + ((size_t)b * T + t) * C + h * hs;
                    // through out = att @ v: da[t2] = go . v_t2; dv_t2 += a[t2] go
                    for (int t2 = 0; t2 < nv; t2++) r[t2] = 0.0f;
                    for (int i = 0; i < hs; i++) {
                        const float gi = go[i], *vr = vt + (size_t)i * Tp;
                        #pragma omp simd
                        for (int t2 = 0; t2 < nv; t2++) r[t2] += gi * vr[t2];
                    }
                    for (int t2 = 0; t2 < n; t2++) da[t2] = r[t2];
                    for (int t2 = 0; t2 < n; t2++) {
                        float *restrict dv = dV + (size_t)t2 * hs;
                        const float p = a[t2];
                        #pragma omp simd
                        for (int i = 0; i < hs; i++) dv[i] += p * go[i];
                    }
                    // through softmax: dpre = a * (da - sum(a*da)), then the scaled dot product
                    float dot = 0.0f;
                    for (int t2 = 0; t2 < n; t2++) dot += a[t2] * da[t2];
                    #pragma omp simd
                    for (int t2 = 0; t2 < n; t2++) da[t2] = a[t2] * (da[t2] - dot) * scale;
                    for (int t2 = n; t2 < T; t2++) da[t2] = 0.0f;
                    const float *restrict q = qkv + ((size_t)b * T + t) * C3 + h * hs;
                    for (int i = 0; i < hs; i++) dq[i] = 0.0f;
                    for (int t2 = 0; t2 < n; t2++) {
                        const float dp = da[t2];
                        const float *restrict k = qkv + ((size_t)b * T + t2) * C3 + C + h * hs;
                        float *restrict dk = dK + (size_t)t2 * hs;
                        #pragma omp simd
                        for (int i = 0; i < hs; i++) { dq[i] += dp * k[i]; dk[i] += dp * q[i]; }
                    }
                    float *restrict dqo = dqkv + ((size_t)b * T + t) * C3 + h * hs;
                    #pragma omp simd
                    for (int i = 0; i < hs; i++) dqo[i] += dq[i];
                }
                for (int t2 = 0; t2 < T; t2++) {
                    float *restrict dk = dqkv + ((size_t)b * T + t2) * C3 + C + h * hs, *restrict dv = dk + C;
                    const float *sk = dK + (size_t)t2 * hs, *sv = dV + (size_t)t2 * hs;
                    #pragma omp simd
                    for (int i = 0; i < hs; i++) { dk[i] += sk[i]; dv[i] += sv[i]; }
                }
            }
        }
        if (vt != stack_tile) free(vt);
    }
}

/* ---------------- GELU (tanh approximation) ---------------- */

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

/* tanh for the GELU, vectorisable: tanh(u) = 1 - 2 / (e^{2u} + 1) with
 * exp_fast. |u| is clamped at 10, where 1 - tanh < 5e-9 rounds to exactly 1
 * in float. Absolute error ~1e-7 (held to the double reference by
 * tests/test_ops.c). */
#pragma omp declare simd
static inline float tanh_fast(float u) {
    u = u >= -10.0f ? u : -10.0f; /* NaN lands here too */
    u = u <= 10.0f ? u : 10.0f;
    return 1.0f - 2.0f / (exp_fast(2.0f * u) + 1.0f);
}

void ic_gelu_forward(float *out, const float *inp, int N) {
    #pragma omp parallel for simd if (N > 65536)
    for (int i = 0; i < N; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanh_fast(GELU_K * (x + 0.044715f * x * x * x)));
    }
}

void ic_gelu_backward(float *dinp, const float *inp, const float *dout, int N) {
    #pragma omp parallel for simd if (N > 65536)
    for (int i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_K * (x + 0.044715f * x * x * x);
        float th = tanh_fast(u);
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
