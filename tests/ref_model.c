#include "ref_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef struct {
    const double *t[IC_NUM_PARAM_TENSORS];
    size_t per_block[IC_NUM_PARAM_TENSORS];
} views;

static void make_views(views *v, const ic_config *c, const double *p) {
    size_t sz[IC_NUM_PARAM_TENSORS];
    ic_param_sizes(c, sz);
    for (int k = 0; k < IC_NUM_PARAM_TENSORS; k++) {
        v->t[k] = p;
        v->per_block[k] = ic_param_is_per_block(k) ? sz[k] / (size_t)c->n_layer : 0;
        p += sz[k];
    }
}
#define W(v, k, b) ((v)->t[k] + (size_t)(b) * (v)->per_block[k])

static double *dalloc(size_t n) { return calloc(n ? n : 1, sizeof(double)); }

/* x, out [N,C] */
static void ref_block(const views *v, const ic_config *c, int blk, const double *x, double *out, int B, int T, int C,
                      int H) {
    const int N = B * T, kind = c->kind[blk];
    double *ln = dalloc((size_t)N * C), *mean = dalloc(N), *rstd = dalloc(N);
    double *qkv = dalloc((size_t)N * 3 * C), *att = dalloc((size_t)B * H * T * T);
    double *y = dalloc((size_t)N * C), *proj = dalloc((size_t)N * C), *res2 = dalloc((size_t)N * C);
    double *fc = dalloc((size_t)N * 4 * C), *ge = dalloc((size_t)N * 4 * C);
    memcpy(res2, x, sizeof(double) * (size_t)N * C);
    if (kind != IC_BLOCK_MLP) { /* attention sublayer */
        ic_ref_layernorm_forward(ln, mean, rstd, x, W(v, IC_P_LN1_W, blk), W(v, IC_P_LN1_B, blk), N, C);
        ic_ref_linear_forward(qkv, ln, W(v, IC_P_QKV_W, blk), W(v, IC_P_QKV_B, blk), N, C, 3 * C, IC_W_IN_OUT);
        ic_ref_attention_forward(y, att, qkv, B, T, C, H);
        ic_ref_linear_forward(proj, y, W(v, IC_P_ATTPROJ_W, blk), W(v, IC_P_ATTPROJ_B, blk), N, C, C, IC_W_IN_OUT);
        ic_ref_residual_forward(res2, x, proj, N * C);
    }
    memcpy(out, res2, sizeof(double) * (size_t)N * C);
    if (kind != IC_BLOCK_ATTN) { /* MLP sublayer */
        ic_ref_layernorm_forward(ln, mean, rstd, res2, W(v, IC_P_LN2_W, blk), W(v, IC_P_LN2_B, blk), N, C);
        ic_ref_linear_forward(fc, ln, W(v, IC_P_FC_W, blk), W(v, IC_P_FC_B, blk), N, C, 4 * C, IC_W_IN_OUT);
        ic_ref_gelu_forward(ge, fc, N * 4 * C);
        ic_ref_linear_forward(proj, ge, W(v, IC_P_FCPROJ_W, blk), W(v, IC_P_FCPROJ_B, blk), N, 4 * C, C, IC_W_IN_OUT);
        ic_ref_residual_forward(out, res2, proj, N * C);
    }
    free(ln); free(mean); free(rstd); free(qkv); free(att); free(y); free(proj); free(res2); free(fc); free(ge);
}

static void ref_embed(const views *v, const ic_config *c, const float *xs, const float *ys, int B, int n, double *P) {
    const int T = 2 * n, d = c->n_dims, C = c->n_embd;
    double *z = dalloc((size_t)B * T * d);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < d; k++) z[((size_t)b * T + 2 * i) * d + k] = xs[((size_t)b * n + i) * d + k];
            z[((size_t)b * T + 2 * i + 1) * d] = ys[(size_t)b * n + i];
        }
    ic_ref_linear_forward(P, z, v->t[IC_P_READ_IN_W], v->t[IC_P_READ_IN_B], B * T, d, C, IC_W_OUT_IN);
    ic_ref_posembed_forward(P, P, v->t[IC_P_WPE], B, T, C);
    free(z);
}

/* Body entries j_begin..j_end-1 (whole slots) on h in place [N,C]: a parallel
 * group's members all read the slot input, the slot outputs their mean. */
static void ref_steps(const views *v, const ic_config *c, const ic_schedule *s, int j_begin, int j_end, double *h,
                      int B, int T) {
    const int C = c->n_embd, H = c->n_head;
    const size_t NC = (size_t)B * T * C;
    double *x = dalloc(NC), *f = dalloc(NC);
    for (int j0 = j_begin; j0 < j_end;) {
        int j1 = j0 + 1;
        while (j1 < j_end && s->par[j1]) j1++;
        memcpy(x, h, sizeof(double) * NC);
        memset(h, 0, sizeof(double) * NC);
        for (int j = j0; j < j1; j++) {
            ref_block(v, c, s->steps[j], x, f, B, T, C, H);
            for (size_t i = 0; i < NC; i++) h[i] += f[i];
        }
        for (size_t i = 0; i < NC; i++) h[i] /= (double)(j1 - j0);
        j0 = j1;
    }
    free(x);
    free(f);
}

static double ref_forward(const ic_config *c, const ic_schedule *s, const double *params_nograd,
                          const double *params_grad, const float *xs, const float *ys, int B, int n,
                          double *preds_out, double *delta_out) {
    const int T = 2 * n, C = c->n_embd, N = B * T, L = s->loops;
    const int first_grad = L - ic_schedule_grad_loops(s), first_loss = L - s->loss_loops;
    const int core0 = s->prelude, core1 = s->n - s->coda;
    views vng, vg;
    make_views(&vng, c, params_nograd);
    make_views(&vg, c, params_grad);
    double *Png = dalloc((size_t)N * C), *Pg = dalloc((size_t)N * C);
    ref_embed(&vng, c, xs, ys, B, n, Png);
    ref_embed(&vg, c, xs, ys, B, n, Pg);
    // E = prelude(P), with each parameter copy (the loops without gradient read the no-gradient one)
    ref_steps(&vng, c, s, 0, core0, Png, B, T);
    ref_steps(&vg, c, s, 0, core0, Pg, B, T);
    double *Y = dalloc((size_t)N * C), *in = dalloc((size_t)N * C), *h = dalloc((size_t)N * C);
    double *o = dalloc((size_t)N * C);
    double *f = dalloc((size_t)N * C), *mean = dalloc(N), *rstd = dalloc(N);
    double *pred = dalloc((size_t)B * n), *yd = dalloc((size_t)B * n);
    for (int i = 0; i < B * n; i++) yd[i] = ys[i];
    double loss = 0.0;
    for (int t = 0; t < L; t++) {
        const views *v = t >= first_grad ? &vg : &vng;
        const double *P = t >= first_grad ? Pg : Png;
        for (size_t i = 0; i < (size_t)N * C; i++) {
            in[i] = s->inject ? Y[i] + P[i] : (t == 0 ? P[i] : Y[i]); /* Y_0 = 0 */
            if (s->loop_signal) {
                const int k = (int)(i % (size_t)C);
                const double w = pow(10000.0, -(double)(k - k % 2) / C);
                in[i] += (float)(k % 2 ? cos(t * w) : sin(t * w)); /* the float signal the model adds */
            }
        }
        memcpy(h, in, sizeof(double) * (size_t)N * C);
        ref_steps(v, c, s, core0, core1, h, B, T);
        memcpy(o, h, sizeof(double) * (size_t)N * C);
        ref_steps(v, c, s, core1, s->n, o, B, T); /* the coda (nothing without one) */
        ic_ref_layernorm_forward(f, mean, rstd, o, v->t[IC_P_LNF_W], v->t[IC_P_LNF_B], N, C);
        ic_ref_readout_forward(pred, f, v->t[IC_P_READ_OUT_W], v->t[IC_P_READ_OUT_B], B, T, n, C);
        if (preds_out) memcpy(preds_out + (size_t)t * B * n, pred, sizeof(double) * (size_t)B * n);
        if (t >= first_loss) loss += ic_ref_mse_forward(pred, yd, B * n) / s->loss_loops;
        const double *Ynew = s->loop_lnf ? f : h;
        if (delta_out) {
            double num = 0, den = 0;
            for (size_t i = 0; i < (size_t)N * C; i++) {
                double prev = t == 0 ? 0.0 : Y[i];
                num += (Ynew[i] - prev) * (Ynew[i] - prev);
                den += prev * prev;
            }
            delta_out[t] = t == 0 ? NAN : sqrt(num / den);
        }
        memcpy(Y, Ynew, sizeof(double) * (size_t)N * C);
    }
    free(Png); free(Pg); free(Y); free(in); free(h); free(o); free(f); free(mean); free(rstd); free(pred); free(yd);
    return loss;
}

double ref_model_loss(const ic_config *c, const ic_schedule *s, const double *params_nograd,
                      const double *params_grad, const float *xs, const float *ys, int B, int n,
                      double *preds_out) {
    return ref_forward(c, s, params_nograd, params_grad, xs, ys, B, n, preds_out, NULL);
}

double ref_model_loss_delta(const ic_config *c, const ic_schedule *s, const double *params,
                            const float *xs, const float *ys, int B, int n, double *delta_out) {
    return ref_forward(c, s, params, params, xs, ys, B, n, NULL, delta_out);
}
