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
static void ref_block(const views *v, int blk, const double *x, double *out, int B, int T, int C, int H) {
    const int N = B * T;
    double *ln = dalloc((size_t)N * C), *mean = dalloc(N), *rstd = dalloc(N);
    double *qkv = dalloc((size_t)N * 3 * C), *att = dalloc((size_t)B * H * T * T);
    double *y = dalloc((size_t)N * C), *proj = dalloc((size_t)N * C), *res2 = dalloc((size_t)N * C);
    double *fc = dalloc((size_t)N * 4 * C), *ge = dalloc((size_t)N * 4 * C);
    ic_ref_layernorm_forward(ln, mean, rstd, x, W(v, IC_P_LN1_W, blk), W(v, IC_P_LN1_B, blk), N, C);
    ic_ref_linear_forward(qkv, ln, W(v, IC_P_QKV_W, blk), W(v, IC_P_QKV_B, blk), N, C, 3 * C, IC_W_IN_OUT);
    ic_ref_attention_forward(y, att, qkv, B, T, C, H);
    ic_ref_linear_forward(proj, y, W(v, IC_P_ATTPROJ_W, blk), W(v, IC_P_ATTPROJ_B, blk), N, C, C, IC_W_IN_OUT);
    ic_ref_residual_forward(res2, x, proj, N * C);
    ic_ref_layernorm_forward(ln, mean, rstd, res2, W(v, IC_P_LN2_W, blk), W(v, IC_P_LN2_B, blk), N, C);
    ic_ref_linear_forward(fc, ln, W(v, IC_P_FC_W, blk), W(v, IC_P_FC_B, blk), N, C, 4 * C, IC_W_IN_OUT);
    ic_ref_gelu_forward(ge, fc, N * 4 * C);
    ic_ref_linear_forward(proj, ge, W(v, IC_P_FCPROJ_W, blk), W(v, IC_P_FCPROJ_B, blk), N, 4 * C, C, IC_W_IN_OUT);
    ic_ref_residual_forward(out, res2, proj, N * C);
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

static double ref_forward(const ic_config *c, const ic_schedule *s, const double *params_nograd,
                          const double *params_grad, const float *xs, const float *ys, int B, int n,
                          double *preds_out, double *delta_out) {
    const int T = 2 * n, C = c->n_embd, H = c->n_head, N = B * T, L = s->loops;
    const int first_grad = L - ic_schedule_grad_loops(s), first_loss = L - s->loss_loops;
    views vng, vg;
    make_views(&vng, c, params_nograd);
    make_views(&vg, c, params_grad);
    double *Png = dalloc((size_t)N * C), *Pg = dalloc((size_t)N * C);
    ref_embed(&vng, c, xs, ys, B, n, Png);
    ref_embed(&vg, c, xs, ys, B, n, Pg);
    double *Y = dalloc((size_t)N * C), *in = dalloc((size_t)N * C), *h = dalloc((size_t)N * C);
    double *x = dalloc((size_t)N * C); /* a parallel group's input */
    double *f = dalloc((size_t)N * C), *mean = dalloc(N), *rstd = dalloc(N);
    double *pred = dalloc((size_t)B * n), *yd = dalloc((size_t)B * n);
    for (int i = 0; i < B * n; i++) yd[i] = ys[i];
    double loss = 0.0;
    for (int t = 0; t < L; t++) {
        const views *v = t >= first_grad ? &vg : &vng;
        const double *P = t >= first_grad ? Pg : Png;
        for (size_t i = 0; i < (size_t)N * C; i++)
            in[i] = s->inject ? Y[i] + P[i] : (t == 0 ? P[i] : Y[i]); /* Y_0 = 0 */
        memcpy(h, in, sizeof(double) * (size_t)N * C);
        for (int j0 = 0; j0 < s->n;) {
            // a parallel group: steps j0..j1-1 (par 1 after j0) all read h; output their mean
            int j1 = j0 + 1;
            while (j1 < s->n && s->par[j1]) j1++;
            memcpy(x, h, sizeof(double) * (size_t)N * C);
            memset(h, 0, sizeof(double) * (size_t)N * C);
            for (int j = j0; j < j1; j++) {
                ref_block(v, s->steps[j], x, f, B, T, C, H);
                for (size_t i = 0; i < (size_t)N * C; i++) h[i] += f[i];
            }
            for (size_t i = 0; i < (size_t)N * C; i++) h[i] /= (double)(j1 - j0);
            j0 = j1;
        }
        ic_ref_layernorm_forward(f, mean, rstd, h, v->t[IC_P_LNF_W], v->t[IC_P_LNF_B], N, C);
        ic_ref_readout_forward(pred, f, v->t[IC_P_READ_OUT_W], v->t[IC_P_READ_OUT_B], B, T, n, C);
        if (preds_out) memcpy(preds_out + (size_t)t * B * n, pred, sizeof(double) * (size_t)B * n);
        if (t >= first_loss) loss += ic_ref_mse_forward(pred, yd, B * n) / s->loss_loops;
        if (delta_out) {
            const double *Ynew = s->loop_lnf ? f : h;
            double num = 0, den = 0;
            for (size_t i = 0; i < (size_t)N * C; i++) {
                double prev = t == 0 ? 0.0 : Y[i];
                num += (Ynew[i] - prev) * (Ynew[i] - prev);
                den += prev * prev;
            }
            delta_out[t] = t == 0 ? NAN : sqrt(num / den);
        }
        memcpy(Y, s->loop_lnf ? f : h, sizeof(double) * (size_t)N * C);
    }
    free(Png); free(Pg); free(Y); free(in); free(h); free(x); free(f); free(mean); free(rstd); free(pred); free(yd);
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
