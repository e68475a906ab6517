/* ops.h: the transformer's operations, each as a forward/backward pair.
 *
 * Conventions (llm.c style):
 *  - explicit shape arguments, shapes in the comments, row-major arrays;
 *  - forward functions overwrite their outputs;
 *  - backward functions ACCUMULATE (+=) into every gradient they produce,
 *    so a block used twice in a schedule sums its gradients naturally;
 *    a NULL gradient pointer means "not needed" (skipped);
 *  - ic_*      : the optimised float kernels used by the model (BLAS, OpenMP);
 *    ic_ref_*  : plain double-precision loops, the readable reference that the
 *    tests hold the optimised kernels to, and on which finite differences are
 *    exact enough to check gradients tightly.
 *
 * N = number of rows (B*T tokens), C = channels, OC = output channels,
 * B = batch, T = tokens (2 per point), H = heads, n = points (T = 2n). */
#ifndef ICLAB_OPS_H
#define ICLAB_OPS_H

#include <stddef.h>

#include "gemm.h"

#define IC_LN_EPS 1e-5

/* Weight layout of a linear map. Garg et al.'s GPT-2 blocks use Conv1D
 * (W[in][out]); their read_in/read_out are nn.Linear (W[out][in]). We keep
 * each tensor in its checkpoint layout so checkpoints load without copies. */
typedef enum { IC_W_IN_OUT = 0, IC_W_OUT_IN = 1 } ic_wlayout;

/* ---------------- optimised float kernels (ops.c) ---------------- */

/* out[N,OC] = inp[N,C] @ W + bias[OC]; W is [C,OC] (IN_OUT) or [OC,C] (OUT_IN);
 * bias may be NULL. */
/* Sets the number of threads OpenBLAS uses for calls from this thread and
 * returns the previous number (OpenMP's default team size of the calling
 * thread is left as it was). Used to run BLAS single-threaded inside
 * parallel regions of our own (ic_model_train_pass). */
int ic_blas_set_threads(int n);
/* The thread count of everything after it on this thread: OpenMP's team size
 * and OpenBLAS's; n <= 0 leaves both as they are. */
void ic_set_threads(int n);

/* How a backward writes the input gradient: IC_ADD accumulates (+=, the
 * rule of every backward here); IC_SET overwrites (=, as += into zeros but
 * without zeroing the buffer first, and without reading it: its old content
 * may be anything, NaN included). Parameter gradients always accumulate. */
typedef enum { IC_ADD = 0, IC_SET = 1 } ic_grad_mode;

/* The products run on g (gemm.h: backend, precision, cached kernels; the
 * caller's workspace holds it); g NULL: fp32 on OpenBLAS. */
void ic_linear_forward(ic_gemm *g, float *out, const float *inp, const float *w, const float *bias,
                       int N, int C, int OC, ic_wlayout layout);
/* dinp[N,C] += (or =, mode) dout @ W^T; dw += inp^T @ dout (in W's layout); dbias[OC] += sum_rows dout. */
void ic_linear_backward(ic_gemm *g, float *dinp, float *dw, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int C, int OC,
                        ic_wlayout layout, ic_grad_mode mode);

/* out[N,C] = (inp - mean) * rstd * w + b, per row; mean[N], rstd[N] saved. eps 1e-5. */
void ic_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C);
void ic_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const float *mean,
                           const float *rstd, int N, int C);

/* Causal multi-head self-attention core (no projections).
 * qkv[B,T,3C] holds q|k|v, each [C] split into H heads of C/H.
 * att[B,H,T,T]: softmax probabilities saved for backward (row t uses keys
 * 0..t; entries above the diagonal are written as 0). Scale 1/sqrt(C/H).
 * out[B,T,C]: heads concatenated.
 * tiles: scratch of nthreads per-thread tiles, ic_attention_tile_floats(T, C, H)
 * floats each (the caller's workspace holds them: the kernel allocates
 * nothing); the kernel runs on at most nthreads OpenMP threads. */
void ic_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H, float *tiles,
                          int nthreads);
/* dqkv[B,T,3C] += (or =, mode) ...; datt[B,H,T,T] is scratch (overwritten);
 * tiles and nthreads as for the forward. */
void ic_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                           int T, int C, int H, ic_grad_mode mode, float *tiles, int nthreads);
/* Floats of one thread's attention tile: K^T (or V^T) [C/H, Tp] and a block
 * of score rows [8, Tp], Tp = T rounded up to 8; rounded up to 16 floats so
 * that the tiles of neighbouring threads do not share a cache line. */
size_t ic_attention_tile_floats(int T, int C, int H);

/* GELU, tanh approximation (GPT-2's "gelu_new"). */
void ic_gelu_forward(float *out, const float *inp, int N);
/* dinp[N] += (or =, mode) gelu'(inp) * dout; out non-NULL: out[N] =
 * gelu(inp) as well, the same bits as ic_gelu_forward (the training pass
 * keeps the MLP's pre-activation only and recomputes its output here; out
 * may be dout itself: each element is read before it is overwritten). */
void ic_gelu_backward(float *dinp, float *out, const float *inp, const float *dout, int N, ic_grad_mode mode);

/* out[N] = a + b;  backward: da += dout, db += dout (either may be NULL). */
void ic_residual_forward(float *out, const float *a, const float *b, int N);
void ic_residual_backward(float *da, float *db, const float *dout, int N);

/* Position embedding: out[B,T,C] = inp[B,T,C] + wpe[T,C] (rows 0..T-1).
 * backward: dinp += dout (may be NULL); dwpe[T,C] += sum over batch. */
void ic_posembed_forward(float *out, const float *inp, const float *wpe, int B, int T, int C);
void ic_posembed_backward(float *dinp, float *dwpe, const float *dout, int B, int T, int C);

/* Read-out at the x positions: pred[B,n] = h[b,2i,:] . w[C] + bias[0].
 * T >= 2n - 1. backward: dh += (only at even positions), dw, dbias += . */
void ic_readout_forward(float *pred, const float *h, const float *w, const float *bias,
                        int B, int T, int n, int C);
void ic_readout_backward(float *dh, float *dw, float *dbias, const float *dpred,
                         const float *h, const float *w, int B, int T, int n, int C);

/* Mean squared error over N predictions: returns mean((pred - y)^2).
 * backward: dpred[N] += scale * 2 (pred - y) / N  (scale weights a loss term). */
double ic_mse_forward(const float *pred, const float *y, int N);
void ic_mse_backward(float *dpred, const float *pred, const float *y, int N, float scale);

/* ---------------- plain double-precision reference (ops_ref.c) ---------------- */
/* Same semantics and argument order as above, on doubles, written as the
 * simplest possible loops (no BLAS, no threads). */
void ic_ref_linear_forward(double *out, const double *inp, const double *w, const double *bias,
                           int N, int C, int OC, ic_wlayout layout);
void ic_ref_linear_backward(double *dinp, double *dw, double *dbias, const double *dout,
                            const double *inp, const double *w, int N, int C, int OC,
                            ic_wlayout layout);
void ic_ref_layernorm_forward(double *out, double *mean, double *rstd, const double *inp,
                              const double *w, const double *b, int N, int C);
void ic_ref_layernorm_backward(double *dinp, double *dw, double *db, const double *dout,
                               const double *inp, const double *w, const double *mean,
                               const double *rstd, int N, int C);
void ic_ref_attention_forward(double *out, double *att, const double *qkv, int B, int T, int C, int H);
void ic_ref_attention_backward(double *dqkv, double *datt, const double *dout, const double *qkv,
                               const double *att, int B, int T, int C, int H);
void ic_ref_gelu_forward(double *out, const double *inp, int N);
void ic_ref_gelu_backward(double *dinp, const double *inp, const double *dout, int N);
void ic_ref_residual_forward(double *out, const double *a, const double *b, int N);
void ic_ref_residual_backward(double *da, double *db, const double *dout, int N);
void ic_ref_posembed_forward(double *out, const double *inp, const double *wpe, int B, int T, int C);
void ic_ref_posembed_backward(double *dinp, double *dwpe, const double *dout, int B, int T, int C);
void ic_ref_readout_forward(double *pred, const double *h, const double *w, const double *bias,
                            int B, int T, int n, int C);
void ic_ref_readout_backward(double *dh, double *dw, double *dbias, const double *dpred,
                             const double *h, const double *w, int B, int T, int n, int C);
double ic_ref_mse_forward(const double *pred, const double *y, int N);
void ic_ref_mse_backward(double *dpred, const double *pred, const double *y, int N, double scale);

#endif
