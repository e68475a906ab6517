/* test_ops.c: the operations of ops.h.
 *
 * (a) finite-difference gradient checks of every ic_ref_* backward against
 *     its forward, in double, for every input and parameter element;
 * (b) the backward contract: gradients accumulate (+=), NULL gradients skip;
 * (c) parity of the optimised float kernels ic_* with the references, on
 *     awkward sizes, forward outputs and all backward gradients;
 * (d) hand-checked values (GELU, layernorm statistics, a tiny linear, ...).
 *
 * Each kernel is wrapped in a `kcase`: its inputs (double, and float copies),
 * its output, saved activations and scratch, a fixed random R used both as the
 * objective's weights L = sum(out * R) and as the upstream gradient dout,
 * and four small wrappers calling the ref/float forward/backward. The generic
 * checks below then run on any kcase. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

/* The matrix products of the float linear kernels (gemm.h): fp32, the
 * backend the model uses unless a test forces one (force_backend). */
static ic_gemm TGEMM;
#include "testutil.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* The float attention kernels with their per-thread tiles allocated here
 * (a model's workspace holds them: workspace.h), one per OpenMP thread. */
static int att_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
static void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H) {
    const int nthr = att_threads();
    float *tiles = malloc(sizeof(float) * ic_attention_tile_floats(T, C, H) * (size_t)nthr);
    assert_non_null(tiles);
    ic_attention_forward(out, att, qkv, B, T, C, H, tiles, nthr);
    free(tiles);
}
static void attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                               int T, int C, int H, ic_grad_mode mode) {
    const int nthr = att_threads();
    float *tiles = malloc(sizeof(float) * ic_attention_tile_floats(T, C, H) * (size_t)nthr);
    assert_non_null(tiles);
    ic_attention_backward(dqkv, datt, dout, qkv, att, B, T, C, H, mode, tiles, nthr);
    free(tiles);
}

/* Finite differences: central, step FD_EPS; element passes when
 * |analytic - fd| <= FD_TOL * max(1, |fd|). Everything is double and the
 * objectives are O(1), so the fd error is ~1e-10 (rounding ~1e-16/eps,
 * truncation ~eps^2; observed worst 1.3e-9, attention): FD_TOL leaves a
 * margin of ~80 yet catches a 1e-6 mistake in a single element
 * (test_fd_detects_error). */
#define FD_EPS 1e-6
#ifndef FD_TOL
#define FD_TOL 1e-7
#endif

/* Float kernels vs the double reference: max |float - ref| <= PARITY_RTOL *
 * (1 + max |ref|) over each array. float rounding is 6e-8 relative and the
 * reductions here are short (<= 96 terms): observed errors are <= 2.5e-7
 * except layernorm on rows offset by 30 (1.7e-6). Run with
 * ICLAB_TEST_VERBOSE=1 to print every ratio. */
#ifndef PARITY_RTOL
#define PARITY_RTOL 3e-5
#endif

/* Accumulation/NULL contract: twice == 2 * once, alone == together.
 * Exactness isn't promised (summation order), so: relative 1e-12 in double,
 * 1e-5 in float. */
#define CONTRACT_RTOL_REF 1e-12
#define CONTRACT_RTOL_F 1e-5

/* Garbage written into outputs and scratch before calls, to check that
 * forwards overwrite and that scratch need not be zeroed. */
#define GARBAGE 1234.5

/* ====================================================================== */
/*                               kcase                                    */
/* ====================================================================== */

#define MAXIN 3
#define MAXSAVED 2

typedef struct kcase kcase;
struct kcase {
    const char *name;
    int d[6]; /* dimensions, meaning per kernel */

    int nin;
    const char *in_name[MAXIN];
    size_t in_size[MAXIN];
    int diff[MAXIN];     /* has a gradient */
    int nullable[MAXIN]; /* its gradient pointer may be NULL */
    double *in[MAXIN];
    float *fin[MAXIN];

    size_t out_size;
    double *out;
    float *fout;

    int nsaved;
    const char *saved_name[MAXSAVED];
    size_t saved_size[MAXSAVED];
    double *saved[MAXSAVED];
    float *fsaved[MAXSAVED];

    size_t scratch_size;
    double *scratch;
    float *fscratch;

    double *R; /* objective weights = dout, [out_size] */
    float *fR;

    void (*fwd)(kcase *k);                  /* ref forward: in -> out, saved */
    void (*bw)(kcase *k, double *const *g); /* ref backward, dout = R; g[i] may be NULL */
    void (*ffwd)(kcase *k);
    void (*fbw)(kcase *k, float *const *g);
};

static double round_f(double x) { return (double)(float)x; }

static void kc_init(kcase *k, const char *name)
{
    memset(k, 0, sizeof *k);
    k->name = name;
}

/* Inputs are drawn as offset + scale * U[-1,1], rounded to float so that the
 * float and double kernels see identical values. */
static void kc_add_in(kcase *k, tu_rng *rng, const char *name, size_t n, int diff, int nullable,
                      double scale, double offset)
{
    int i = k->nin++;
    assert_true(i < MAXIN);
    k->in_name[i] = name;
    k->in_size[i] = n;
    k->diff[i] = diff;
    k->nullable[i] = nullable;
    k->in[i] = tu_dalloc(n);
    tu_fill(rng, k->in[i], n, scale, offset);
    for (size_t j = 0; j < n; j++)
        k->in[i][j] = round_f(k->in[i][j]);
    k->fin[i] = tu_float_copy(k->in[i], n);
}

static void kc_add_saved(kcase *k, const char *name, size_t n)
{
    int i = k->nsaved++;
    assert_true(i < MAXSAVED);
    k->saved_name[i] = name;
    k->saved_size[i] = n;
    k->saved[i] = tu_dalloc(n);
    k->fsaved[i] = tu_falloc(n);
}

static void kc_set_out(kcase *k, tu_rng *rng, size_t n, size_t scratch)
{
    k->out_size = n;
    k->out = tu_dalloc(n);
    k->fout = tu_falloc(n);
    k->R = tu_dalloc(n);
    tu_fill(rng, k->R, n, 1.0, 0.0);
    for (size_t j = 0; j < n; j++)
        k->R[j] = round_f(k->R[j]);
    k->fR = tu_float_copy(k->R, n);
    k->scratch_size = scratch;
    if (scratch) {
        k->scratch = tu_dalloc(scratch);
        k->fscratch = tu_falloc(scratch);
    }
}

static void kc_free(kcase *k)
{
    for (int i = 0; i < k->nin; i++) {
        free(k->in[i]);
        free(k->fin[i]);
    }
    for (int i = 0; i < k->nsaved; i++) {
        free(k->saved[i]);
        free(k->fsaved[i]);
    }
    free(k->out);
    free(k->fout);
    free(k->R);
    free(k->fR);
    free(k->scratch);
    free(k->fscratch);
}

/* Forwards, after filling outputs with garbage. */
static void kc_fwd(kcase *k)
{
    tu_dset(k->out, k->out_size, GARBAGE);
    for (int i = 0; i < k->nsaved; i++)
        tu_dset(k->saved[i], k->saved_size[i], GARBAGE);
    k->fwd(k);
}

static void kc_ffwd(kcase *k)
{
    tu_fset(k->fout, k->out_size, (float)GARBAGE);
    for (int i = 0; i < k->nsaved; i++)
        tu_fset(k->fsaved[i], k->saved_size[i], (float)GARBAGE);
    k->ffwd(k);
}

static void kc_bw(kcase *k, double *const *g)
{
    if (k->scratch)
        tu_dset(k->scratch, k->scratch_size, GARBAGE);
    k->bw(k, g);
}

static void kc_fbw(kcase *k, float *const *g)
{
    if (k->fscratch)
        tu_fset(k->fscratch, k->scratch_size, (float)GARBAGE);
    k->fbw(k, g);
}

/* ====================================================================== */
/*                     kernel wrappers and builders                       */
/* ====================================================================== */

/* ---- linear: d = {N, C, OC, layout, has_bias}; in = inp[N,C], w, bias[OC] ---- */

static void lin_fwd(kcase *k)
{
    ic_ref_linear_forward(k->out, k->in[0], k->in[1], k->d[4] ? k->in[2] : NULL, k->d[0], k->d[1],
                          k->d[2], (ic_wlayout)k->d[3]);
}
static void lin_bw(kcase *k, double *const *g)
{
    ic_ref_linear_backward(g[0], g[1], k->d[4] ? g[2] : NULL, k->R, k->in[0], k->in[1], k->d[0],
                           k->d[1], k->d[2], (ic_wlayout)k->d[3]);
}
static void lin_ffwd(kcase *k)
{
    ic_linear_forward(&TGEMM, k->fout, k->fin[0], k->fin[1], k->d[4] ? k->fin[2] : NULL, k->d[0], k->d[1],
                      k->d[2], (ic_wlayout)k->d[3]);
}
static void lin_fbw(kcase *k, float *const *g)
{
    ic_linear_backward(&TGEMM, g[0], g[1], k->d[4] ? g[2] : NULL, k->fR, k->fin[0], k->fin[1], k->d[0],
                       k->d[1], k->d[2], (ic_wlayout)k->d[3], IC_ADD);
}
static void make_linear(kcase *k, tu_rng *rng, int N, int C, int OC, ic_wlayout layout, int has_bias)
{
    kc_init(k, layout == IC_W_IN_OUT ? (has_bias ? "linear IN_OUT" : "linear IN_OUT nobias")
                                     : (has_bias ? "linear OUT_IN" : "linear OUT_IN nobias"));
    k->d[0] = N, k->d[1] = C, k->d[2] = OC, k->d[3] = (int)layout, k->d[4] = has_bias;
    kc_add_in(k, rng, "inp", (size_t)N * C, 1, 1, 1.0, 0.0);
    kc_add_in(k, rng, "w", (size_t)C * OC, 1, 1, 0.5, 0.0);
    if (has_bias)
        kc_add_in(k, rng, "bias", (size_t)OC, 1, 1, 0.5, 0.0);
    kc_set_out(k, rng, (size_t)N * OC, 0);
    k->fwd = lin_fwd, k->bw = lin_bw, k->ffwd = lin_ffwd, k->fbw = lin_fbw;
}

/* ---- layernorm: d = {N, C}; in = inp[N,C], w[C], b[C]; saved mean[N], rstd[N] ---- */

static void ln_fwd(kcase *k)
{
    ic_ref_layernorm_forward(k->out, k->saved[0], k->saved[1], k->in[0], k->in[1], k->in[2],
                             k->d[0], k->d[1]);
}
static void ln_bw(kcase *k, double *const *g)
{
    ic_ref_layernorm_backward(g[0], g[1], g[2], k->R, k->in[0], k->in[1], k->saved[0],
                              k->saved[1], k->d[0], k->d[1]);
}
static void ln_ffwd(kcase *k)
{
    ic_layernorm_forward(k->fout, k->fsaved[0], k->fsaved[1], k->fin[0], k->fin[1], k->fin[2],
                         k->d[0], k->d[1]);
}
static void ln_fbw(kcase *k, float *const *g)
{
    ic_layernorm_backward(g[0], g[1], g[2], k->fR, k->fin[0], k->fin[1], k->fsaved[0],
                          k->fsaved[1], k->d[0], k->d[1]);
}
static void make_layernorm(kcase *k, tu_rng *rng, int N, int C, double scale, double offset)
{
    kc_init(k, "layernorm");
    k->d[0] = N, k->d[1] = C;
    kc_add_in(k, rng, "inp", (size_t)N * C, 1, 1, scale, offset);
    kc_add_in(k, rng, "w", (size_t)C, 1, 1, 0.5, 1.0);
    kc_add_in(k, rng, "b", (size_t)C, 1, 1, 0.5, 0.0);
    kc_add_saved(k, "mean", (size_t)N);
    kc_add_saved(k, "rstd", (size_t)N);
    kc_set_out(k, rng, (size_t)N * C, 0);
    k->fwd = ln_fwd, k->bw = ln_bw, k->ffwd = ln_ffwd, k->fbw = ln_fbw;
}

/* ---- attention: d = {B, T, C, H}; in = qkv[B,T,3C]; saved att[B,H,T,T];
 *      scratch datt[B,H,T,T] ---- */

static void att_fwd(kcase *k)
{
    ic_ref_attention_forward(k->out, k->saved[0], k->in[0], k->d[0], k->d[1], k->d[2], k->d[3]);
}
static void att_bw(kcase *k, double *const *g)
{
    ic_ref_attention_backward(g[0], k->scratch, k->R, k->in[0], k->saved[0], k->d[0], k->d[1],
                              k->d[2], k->d[3]);
}
static void att_ffwd(kcase *k)
{
    attention_forward(k->fout, k->fsaved[0], k->fin[0], k->d[0], k->d[1], k->d[2], k->d[3]);
}
static void att_fbw(kcase *k, float *const *g)
{
    attention_backward(g[0], k->fscratch, k->fR, k->fin[0], k->fsaved[0], k->d[0], k->d[1],
                          k->d[2], k->d[3], IC_ADD);
}
static void make_attention(kcase *k, tu_rng *rng, int B, int T, int C, int H)
{
    kc_init(k, "attention");
    k->d[0] = B, k->d[1] = T, k->d[2] = C, k->d[3] = H;
    kc_add_in(k, rng, "qkv", (size_t)B * T * 3 * C, 1, 0, 1.5, 0.0);
    kc_add_saved(k, "att", (size_t)B * H * T * T);
    kc_set_out(k, rng, (size_t)B * T * C, (size_t)B * H * T * T);
    k->fwd = att_fwd, k->bw = att_bw, k->ffwd = att_ffwd, k->fbw = att_fbw;
}

/* ---- gelu: d = {N}; in = inp[N] ---- */

static void gelu_fwd(kcase *k) { ic_ref_gelu_forward(k->out, k->in[0], k->d[0]); }
static void gelu_bw(kcase *k, double *const *g) { ic_ref_gelu_backward(g[0], k->in[0], k->R, k->d[0]); }
static void gelu_ffwd(kcase *k) { ic_gelu_forward(k->fout, k->fin[0], k->d[0]); }
static void gelu_fbw(kcase *k, float *const *g) { ic_gelu_backward(g[0], NULL, k->fin[0], k->fR, k->d[0], IC_ADD); }
static void make_gelu(kcase *k, tu_rng *rng, int N)
{
    kc_init(k, "gelu");
    k->d[0] = N;
    kc_add_in(k, rng, "inp", (size_t)N, 1, 0, 4.0, 0.0);
    kc_set_out(k, rng, (size_t)N, 0);
    k->fwd = gelu_fwd, k->bw = gelu_bw, k->ffwd = gelu_ffwd, k->fbw = gelu_fbw;
}

/* ---- residual: d = {N}; in = a[N], b[N] ---- */

static void res_fwd(kcase *k) { ic_ref_residual_forward(k->out, k->in[0], k->in[1], k->d[0]); }
static void res_bw(kcase *k, double *const *g) { ic_ref_residual_backward(g[0], g[1], k->R, k->d[0]); }
static void res_ffwd(kcase *k) { ic_residual_forward(k->fout, k->fin[0], k->fin[1], k->d[0]); }
static void res_fbw(kcase *k, float *const *g) { ic_residual_backward(g[0], g[1], k->fR, k->d[0]); }
static void make_residual(kcase *k, tu_rng *rng, int N)
{
    kc_init(k, "residual");
    k->d[0] = N;
    kc_add_in(k, rng, "a", (size_t)N, 1, 1, 1.0, 0.0);
    kc_add_in(k, rng, "b", (size_t)N, 1, 1, 1.0, 0.0);
    kc_set_out(k, rng, (size_t)N, 0);
    k->fwd = res_fwd, k->bw = res_bw, k->ffwd = res_ffwd, k->fbw = res_fbw;
}

/* ---- posembed: d = {B, T, C}; in = inp[B,T,C], wpe[T,C] ---- */

static void pe_fwd(kcase *k)
{
    ic_ref_posembed_forward(k->out, k->in[0], k->in[1], k->d[0], k->d[1], k->d[2]);
}
static void pe_bw(kcase *k, double *const *g)
{
    ic_ref_posembed_backward(g[0], g[1], k->R, k->d[0], k->d[1], k->d[2]);
}
static void pe_ffwd(kcase *k)
{
    ic_posembed_forward(k->fout, k->fin[0], k->fin[1], k->d[0], k->d[1], k->d[2]);
}
static void pe_fbw(kcase *k, float *const *g)
{
    ic_posembed_backward(g[0], g[1], k->fR, k->d[0], k->d[1], k->d[2]);
}
static void make_posembed(kcase *k, tu_rng *rng, int B, int T, int C)
{
    kc_init(k, "posembed");
    k->d[0] = B, k->d[1] = T, k->d[2] = C;
    kc_add_in(k, rng, "inp", (size_t)B * T * C, 1, 1, 1.0, 0.0);
    kc_add_in(k, rng, "wpe", (size_t)T * C, 1, 1, 1.0, 0.0);
    kc_set_out(k, rng, (size_t)B * T * C, 0);
    k->fwd = pe_fwd, k->bw = pe_bw, k->ffwd = pe_ffwd, k->fbw = pe_fbw;
}

/* ---- readout: d = {B, T, n, C}; in = h[B,T,C], w[C], bias[1]; out pred[B,n] ---- */

static void ro_fwd(kcase *k)
{
    ic_ref_readout_forward(k->out, k->in[0], k->in[1], k->in[2], k->d[0], k->d[1], k->d[2], k->d[3]);
}
static void ro_bw(kcase *k, double *const *g)
{
    ic_ref_readout_backward(g[0], g[1], g[2], k->R, k->in[0], k->in[1], k->d[0], k->d[1], k->d[2],
                            k->d[3]);
}
static void ro_ffwd(kcase *k)
{
    ic_readout_forward(k->fout, k->fin[0], k->fin[1], k->fin[2], k->d[0], k->d[1], k->d[2], k->d[3]);
}
static void ro_fbw(kcase *k, float *const *g)
{
    ic_readout_backward(g[0], g[1], g[2], k->fR, k->fin[0], k->fin[1], k->d[0], k->d[1], k->d[2],
                        k->d[3]);
}
static void make_readout(kcase *k, tu_rng *rng, int B, int T, int n, int C)
{
    kc_init(k, "readout");
    k->d[0] = B, k->d[1] = T, k->d[2] = n, k->d[3] = C;
    kc_add_in(k, rng, "h", (size_t)B * T * C, 1, 1, 1.0, 0.0);
    kc_add_in(k, rng, "w", (size_t)C, 1, 1, 0.5, 0.0);
    kc_add_in(k, rng, "bias", 1, 1, 1, 0.5, 0.0);
    kc_set_out(k, rng, (size_t)B * n, 0);
    k->fwd = ro_fwd, k->bw = ro_bw, k->ffwd = ro_ffwd, k->fbw = ro_fbw;
}

/* ---- mse: d = {N}; in = pred[N] (diff), y[N] (no gradient); out[1] = loss.
 *      The upstream gradient R[0] is passed as the backward's scale, so
 *      L = R[0] * loss; the FD test sets R[0] = 1 (L = the loss itself). ---- */

static void mse_fwd(kcase *k) { k->out[0] = ic_ref_mse_forward(k->in[0], k->in[1], k->d[0]); }
static void mse_bw(kcase *k, double *const *g)
{
    ic_ref_mse_backward(g[0], k->in[0], k->in[1], k->d[0], k->R[0]);
}
static void mse_ffwd(kcase *k) { k->fout[0] = (float)ic_mse_forward(k->fin[0], k->fin[1], k->d[0]); }
static void mse_fbw(kcase *k, float *const *g)
{
    ic_mse_backward(g[0], k->fin[0], k->fin[1], k->d[0], k->fR[0]);
}
static void make_mse(kcase *k, tu_rng *rng, int N, double scale)
{
    kc_init(k, "mse");
    k->d[0] = N;
    kc_add_in(k, rng, "pred", (size_t)N, 1, 0, 1.5, 0.0);
    kc_add_in(k, rng, "y", (size_t)N, 0, 0, 1.5, 0.0);
    kc_set_out(k, rng, 1, 0);
    k->R[0] = round_f(scale);
    k->fR[0] = (float)k->R[0];
    k->fwd = mse_fwd, k->bw = mse_bw, k->ffwd = mse_ffwd, k->fbw = mse_fbw;
}

/* ====================================================================== */
/*                           generic checks                               */
/* ====================================================================== */

/* ---- (a) finite differences on the reference ---- */

static double objective(void *ctx)
{
    kcase *k = ctx;
    kc_fwd(k);
    return tu_dot(k->out, k->R, k->out_size);
}

/* Analytic gradients of L = sum(out * R) from the ref backward (dout = R,
 * gradients from 0), checked against central differences for every element
 * of every differentiable input. Returns the number of bad elements. */
static int fd_check_case(kcase *k)
{
    double *g[MAXIN] = {0};
    for (int i = 0; i < k->nin; i++)
        if (k->diff[i])
            g[i] = tu_dalloc(k->in_size[i]);
    kc_fwd(k); /* saved activations at the unperturbed point */
    kc_bw(k, g);
    int bad = 0;
    double worst = 0.0;
    for (int i = 0; i < k->nin; i++) {
        if (!k->diff[i])
            continue;
        char label[96];
        snprintf(label, sizeof label, "%s.d%s", k->name, k->in_name[i]);
        double err = 0.0;
        bad += tu_fd_check(label, objective, k, k->in[i], k->in_size[i], g[i], FD_EPS, FD_TOL, &err);
        if (err > worst)
            worst = err;
    }
    if (getenv("ICLAB_TEST_VERBOSE"))
        fprintf(stderr, "  fd %-24s worst relative error %.3g\n", k->name, worst);
    for (int i = 0; i < k->nin; i++)
        free(g[i]);
    return bad;
}

/* ---- (b) accumulation and NULL gradients ---- */

/* With gradients starting at 0: once -> G1, twice -> G2 must be 2 * G1;
 * each nullable gradient computed alone (others NULL) must equal G1;
 * all nullable gradients NULL must be accepted. ref and float. */
static int contract_case(kcase *k)
{
    int ok = 1;
    double *g1[MAXIN] = {0}, *g2[MAXIN] = {0};
    float *f1[MAXIN] = {0}, *f2[MAXIN] = {0};
    for (int i = 0; i < k->nin; i++) {
        if (!k->diff[i])
            continue;
        g1[i] = tu_dalloc(k->in_size[i]);
        g2[i] = tu_dalloc(k->in_size[i]);
        f1[i] = tu_falloc(k->in_size[i]);
        f2[i] = tu_falloc(k->in_size[i]);
    }
    kc_fwd(k);
    kc_ffwd(k);
    kc_bw(k, g1);
    kc_bw(k, g2);
    kc_bw(k, g2);
    kc_fbw(k, f1);
    kc_fbw(k, f2);
    kc_fbw(k, f2);
    char label[128];
    for (int i = 0; i < k->nin; i++) {
        if (!k->diff[i])
            continue;
        size_t n = k->in_size[i];
        double *twice = tu_dalloc(n), *ftwice = tu_dalloc(n), *fonce2 = tu_dalloc(n);
        for (size_t j = 0; j < n; j++) {
            twice[j] = 2.0 * g1[i][j];
            fonce2[j] = 2.0 * (double)f1[i][j];
        }
        tu_to_double(ftwice, f2[i], n);
        snprintf(label, sizeof label, "%s ref d%s twice", k->name, k->in_name[i]);
        ok &= tu_close_dd(label, g2[i], twice, n, CONTRACT_RTOL_REF);
        snprintf(label, sizeof label, "%s float d%s twice", k->name, k->in_name[i]);
        ok &= tu_close_dd(label, ftwice, fonce2, n, CONTRACT_RTOL_F);
        free(twice);
        free(ftwice);
        free(fonce2);
    }
    /* each nullable gradient alone, the other nullable ones NULL */
    for (int i = 0; i < k->nin; i++) {
        if (!k->diff[i] || !k->nullable[i])
            continue;
        double *g[MAXIN] = {0};
        float *f[MAXIN] = {0};
        for (int j = 0; j < k->nin; j++) {
            if (!k->diff[j] || (k->nullable[j] && j != i))
                continue;
            g[j] = tu_dalloc(k->in_size[j]);
            f[j] = tu_falloc(k->in_size[j]);
        }
        kc_bw(k, g);
        kc_fbw(k, f);
        snprintf(label, sizeof label, "%s ref d%s alone", k->name, k->in_name[i]);
        ok &= tu_close_dd(label, g[i], g1[i], k->in_size[i], CONTRACT_RTOL_REF);
        double *fd = tu_double_copy(f[i], k->in_size[i]), *f1d = tu_double_copy(f1[i], k->in_size[i]);
        snprintf(label, sizeof label, "%s float d%s alone", k->name, k->in_name[i]);
        ok &= tu_close_dd(label, fd, f1d, k->in_size[i], CONTRACT_RTOL_F);
        free(fd);
        free(f1d);
        for (int j = 0; j < k->nin; j++) {
            free(g[j]);
            free(f[j]);
        }
    }
    /* all nullable gradients NULL at once (must simply not crash) */
    {
        double *g[MAXIN] = {0};
        float *f[MAXIN] = {0};
        for (int j = 0; j < k->nin; j++) {
            if (!k->diff[j] || k->nullable[j])
                continue;
            g[j] = tu_dalloc(k->in_size[j]);
            f[j] = tu_falloc(k->in_size[j]);
        }
        kc_bw(k, g);
        kc_fbw(k, f);
        for (int j = 0; j < k->nin; j++) {
            free(g[j]);
            free(f[j]);
        }
    }
    for (int i = 0; i < k->nin; i++) {
        free(g1[i]);
        free(g2[i]);
        free(f1[i]);
        free(f2[i]);
    }
    return ok;
}

/* ---- (c) float kernels vs reference ---- */

/* With ICLAB_TEST_VERBOSE set: the error relative to (1 + max |ref|). */
static void parity_verbose(const char *label, const float *got, const double *ref, size_t n)
{
    if (getenv("ICLAB_TEST_VERBOSE"))
        fprintf(stderr, "  parity %-32s max|diff|/(1+max|ref|) = %.3g\n", label,
                tu_max_abs_diff_fd(got, ref, n) / (1.0 + tu_max_abs(ref, n)));
}

/* Forward outputs and saved activations, then backward gradients starting
 * from the same random (non-zero) values in both, so accumulation is part of
 * what is compared. Returns 1 if all close. */
static int parity_case(kcase *k, tu_rng *rng)
{
    int ok = 1;
    char label[128];
    kc_fwd(k);
    kc_ffwd(k);
    snprintf(label, sizeof label, "%s forward out", k->name);
    ok &= tu_close_fd(label, k->fout, k->out, k->out_size, PARITY_RTOL);
    parity_verbose(label, k->fout, k->out, k->out_size);
    for (int i = 0; i < k->nsaved; i++) {
        snprintf(label, sizeof label, "%s forward %s", k->name, k->saved_name[i]);
        ok &= tu_close_fd(label, k->fsaved[i], k->saved[i], k->saved_size[i], PARITY_RTOL);
        parity_verbose(label, k->fsaved[i], k->saved[i], k->saved_size[i]);
    }
    double *g[MAXIN] = {0};
    float *f[MAXIN] = {0};
    for (int i = 0; i < k->nin; i++) {
        if (!k->diff[i])
            continue;
        g[i] = tu_dalloc(k->in_size[i]);
        tu_fill(rng, g[i], k->in_size[i], 1.0, 0.0);
        for (size_t j = 0; j < k->in_size[i]; j++)
            g[i][j] = round_f(g[i][j]);
        f[i] = tu_float_copy(g[i], k->in_size[i]);
    }
    kc_bw(k, g);
    kc_fbw(k, f);
    for (int i = 0; i < k->nin; i++) {
        if (!k->diff[i])
            continue;
        snprintf(label, sizeof label, "%s backward d%s", k->name, k->in_name[i]);
        ok &= tu_close_fd(label, f[i], g[i], k->in_size[i], PARITY_RTOL);
        parity_verbose(label, f[i], g[i], k->in_size[i]);
        free(g[i]);
        free(f[i]);
    }
    return ok;
}

/* Attention probabilities: exact 0 above the diagonal, rows summing to 1
 * (within tol), all entries in [0, 1]. Works on the double or float array. */
static int check_att_rows(const char *who, const double *att, int B, int H, int T, double tol)
{
    int ok = 1;
    for (int bh = 0; bh < B * H; bh++)
        for (int t = 0; t < T; t++) {
            const double *row = att + ((size_t)bh * T + t) * T;
            double s = 0.0;
            for (int t2 = 0; t2 < T; t2++) {
                if (t2 > t && row[t2] != 0.0) {
                    fprintf(stderr, "  %s att[bh=%d,t=%d,t2=%d] = %g above the diagonal\n", who, bh,
                            t, t2, row[t2]);
                    ok = 0;
                }
                if (!(row[t2] >= 0.0 && row[t2] <= 1.0)) {
                    fprintf(stderr, "  %s att[bh=%d,t=%d,t2=%d] = %g outside [0,1]\n", who, bh, t,
                            t2, row[t2]);
                    ok = 0;
                }
                s += row[t2];
            }
            if (!(fabs(s - 1.0) <= tol)) {
                fprintf(stderr, "  %s att row bh=%d t=%d sums to %.17g\n", who, bh, t, s);
                ok = 0;
            }
        }
    return ok;
}

/* ====================================================================== */
/*                       (a) finite-difference tests                      */
/* ====================================================================== */

static void test_fd_linear(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(101);
    for (int layout = 0; layout < 2; layout++)
        for (int has_bias = 0; has_bias < 2; has_bias++) {
            kcase k;
            make_linear(&k, &rng, 6, 8, 5, (ic_wlayout)layout, has_bias);
            assert_int_equal(fd_check_case(&k), 0);
            kc_free(&k);
        }
}

static void test_fd_layernorm(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(102);
    kcase k;
    make_layernorm(&k, &rng, 6, 8, 2.0, 0.5);
    assert_int_equal(fd_check_case(&k), 0);
    kc_free(&k);
}

static void test_fd_attention(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(103);
    static const int cfg[][4] = {{2, 5, 8, 2}, {1, 4, 6, 3}, {2, 1, 8, 2}, {1, 3, 4, 1}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        kcase k;
        make_attention(&k, &rng, cfg[c][0], cfg[c][1], cfg[c][2], cfg[c][3]);
        assert_int_equal(fd_check_case(&k), 0);
        kc_free(&k);
    }
}

static void test_fd_gelu(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(104);
    kcase k;
    make_gelu(&k, &rng, 40); /* inputs in [-4, 4] */
    assert_int_equal(fd_check_case(&k), 0);
    kc_free(&k);
}

static void test_fd_residual(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(105);
    kcase k;
    make_residual(&k, &rng, 17);
    assert_int_equal(fd_check_case(&k), 0);
    kc_free(&k);
}

static void test_fd_posembed(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(106);
    kcase k;
    make_posembed(&k, &rng, 3, 4, 5);
    assert_int_equal(fd_check_case(&k), 0);
    kc_free(&k);
}

static void test_fd_readout(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(107);
    /* T = 2n - 1 (last y token absent) and T = 2n */
    kcase k;
    make_readout(&k, &rng, 2, 5, 3, 6);
    assert_int_equal(fd_check_case(&k), 0);
    kc_free(&k);
    make_readout(&k, &rng, 2, 6, 3, 6);
    assert_int_equal(fd_check_case(&k), 0);
    kc_free(&k);
}

static void test_fd_mse(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(108);
    kcase k;
    make_mse(&k, &rng, 7, 1.0); /* L = the loss itself */
    assert_int_equal(fd_check_case(&k), 0);
    kc_free(&k);
    make_mse(&k, &rng, 7, 0.3); /* scale weights the gradient: L = 0.3 * loss */
    assert_int_equal(fd_check_case(&k), 0);
    kc_free(&k);
}

/* Sanity of the checker itself: a deliberately wrong gradient must fail. */
static void test_fd_detects_error(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(109);
    kcase k;
    make_linear(&k, &rng, 3, 4, 2, IC_W_IN_OUT, 1);
    double *g = tu_dalloc(k.in_size[1]);
    double *gs[MAXIN] = {NULL, g, NULL};
    kc_fwd(&k);
    kc_bw(&k, gs);
    g[5] += 1e-6; /* a small mistake in one element */
    fprintf(stderr, "  (the next fd failure is expected)\n");
    int bad = tu_fd_check("linear.dw (corrupted)", objective, &k, k.in[1], k.in_size[1], g, FD_EPS,
                          FD_TOL, NULL);
    assert_int_equal(bad, 1);
    free(g);
    kc_free(&k);
}

/* ====================================================================== */
/*                     (b) accumulation / NULL contract                   */
/* ====================================================================== */

static void test_contract_linear(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(201);
    for (int be = 0; be <= ic_gemm_have_dnnl(); be++) { /* gemm.h's two libraries */
        TGEMM.force_backend = 1 + be;
        for (int layout = 0; layout < 2; layout++)
            for (int has_bias = 0; has_bias < 2; has_bias++) {
                kcase k;
                make_linear(&k, &rng, 13, 10, 7, (ic_wlayout)layout, has_bias);
                assert_true(contract_case(&k));
                kc_free(&k);
            }
    }
    TGEMM.force_backend = 0;
}

static void test_contract_layernorm(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(202);
    kcase k;
    make_layernorm(&k, &rng, 11, 12, 2.0, 0.0);
    assert_true(contract_case(&k));
    kc_free(&k);
}

static void test_contract_attention(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(203);
    kcase k;
    make_attention(&k, &rng, 2, 7, 12, 3);
    assert_true(contract_case(&k));
    kc_free(&k);
}

static void test_contract_elementwise(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(204);
    kcase k;
    make_gelu(&k, &rng, 33);
    assert_true(contract_case(&k));
    kc_free(&k);
    make_residual(&k, &rng, 33);
    assert_true(contract_case(&k));
    kc_free(&k);
    make_posembed(&k, &rng, 3, 5, 7);
    assert_true(contract_case(&k));
    kc_free(&k);
}

static void test_contract_readout_mse(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(205);
    kcase k;
    make_readout(&k, &rng, 3, 9, 5, 8);
    assert_true(contract_case(&k));
    kc_free(&k);
    make_mse(&k, &rng, 9, 0.75);
    assert_true(contract_case(&k));
    kc_free(&k);
}

/* ====================================================================== */
/*                  (c) float kernels vs the reference                    */
/* ====================================================================== */

static void test_parity_linear(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(301);
    static const int cfg[][3] = {{37, 24, 40}, {1, 3, 1}, {64, 20, 64}, {5, 96, 3}, {131, 17, 33}};
    /* both libraries the products can run on (gemm.h), whichever the model uses */
    for (int be = 0; be <= ic_gemm_have_dnnl(); be++) {
        TGEMM.force_backend = 1 + be;
        for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++)
            for (int layout = 0; layout < 2; layout++)
                for (int has_bias = 0; has_bias < 2; has_bias++) {
                    kcase k;
                    make_linear(&k, &rng, cfg[c][0], cfg[c][1], cfg[c][2], (ic_wlayout)layout, has_bias);
                    assert_true(parity_case(&k, &rng));
                    kc_free(&k);
                }
    }
    TGEMM.force_backend = 0;
}

static void test_parity_layernorm(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(302);
    kcase k;
    make_layernorm(&k, &rng, 37, 24, 2.0, 0.0);
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
    make_layernorm(&k, &rng, 5, 7, 2.0, 0.3);
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
    /* rows with a large common offset (residual streams drift): a one-pass
     * E[x^2] - E[x]^2 variance in float would lose the digits here */
    make_layernorm(&k, &rng, 9, 64, 2.0, 30.0);
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
    /* nearly constant rows (variance ~3e-6, comparable to eps): sensitive to
     * the value and placement of eps */
    make_layernorm(&k, &rng, 7, 20, 3e-3, 0.0);
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
}

static void test_parity_attention(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(303);
    /* the sixth shape's per-thread tiles exceed the stack tile (hs * T > 16K
     * floats): the heap fallback of ops.c; the seventh is the small model's
     * (T 22, head size 16: two 8x8 transposed blocks of keys and a padded
     * third); the last has head size 20 (two blocks and 4 channels copied
     * one by one) and T a multiple of 8; the ninth head size 24 (a 16-lane
     * block of columns, where the build has AVX-512, then an 8-lane one) */
    static const int cfg[][4] = {{3, 9, 16, 4}, {3, 1, 16, 4}, {2, 17, 24, 3}, {1, 41, 32, 1},
                                 {2, 6, 64, 8}, {1, 70, 256, 1}, {2, 22, 64, 4}, {1, 16, 40, 2},
                                 {2, 13, 48, 2}};
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        int B = cfg[c][0], T = cfg[c][1], C = cfg[c][2], H = cfg[c][3];
        kcase k;
        make_attention(&k, &rng, B, T, C, H);
        assert_true(parity_case(&k, &rng));
        /* probability rows of both: zero above the diagonal, summing to 1 */
        size_t na = k.saved_size[0];
        double *fatt = tu_double_copy(k.fsaved[0], na);
        assert_true(check_att_rows("float", fatt, B, H, T, 1e-5));
        assert_true(check_att_rows("ref", k.saved[0], B, H, T, 1e-12));
        free(fatt);
        kc_free(&k);
    }
}

static void test_parity_gelu(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(304);
    kcase k;
    make_gelu(&k, &rng, 1001); /* inputs in [-4, 4] */
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
}

static void test_parity_residual_posembed(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(305);
    kcase k;
    make_residual(&k, &rng, 37 * 24 + 1);
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
    make_posembed(&k, &rng, 3, 9, 24);
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
    make_posembed(&k, &rng, 1, 1, 5);
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
}

static void test_parity_readout(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(306);
    kcase k;
    make_readout(&k, &rng, 3, 9, 5, 24); /* T = 2n - 1 */
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
    make_readout(&k, &rng, 4, 82, 41, 20); /* T = 2n */
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
}

static void test_parity_mse(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(307);
    kcase k;
    make_mse(&k, &rng, 37, 1.0);
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
    make_mse(&k, &rng, 123, 0.3);
    assert_true(parity_case(&k, &rng));
    kc_free(&k);
}

/* ====================================================================== */
/*                      (d) values checked by hand                        */
/* ====================================================================== */

/* IC_SET writes the input gradient as IC_ADD would into zeros, whatever the
 * buffer held before (NaN here: a kernel that reads or scales it fails),
 * while parameter gradients still accumulate. */
static void test_set_mode(void **state)
{
    (void)state;
    enum { N = 13, C = 10, OC = 24 };
    tu_rng rng = tu_rng_make(404);
    double tmp[N * OC];
    float inp[N * C], w[C * OC], dout[N * OC], x[N * OC];
    tu_fill(&rng, tmp, N * C, 1.0, 0.0);
    tu_to_float(inp, tmp, N * C);
    tu_fill(&rng, tmp, C * OC, 1.0, 0.0);
    tu_to_float(w, tmp, C * OC);
    tu_fill(&rng, tmp, N * OC, 1.0, 0.0);
    tu_to_float(dout, tmp, N * OC);
    tu_fill(&rng, tmp, N * OC, 3.0, 0.0);
    tu_to_float(x, tmp, N * OC);
    for (int layout = 0; layout < 2; layout++) {
        float add[N * C] = {0}, set[N * C], dw_add[C * OC], dw_set[C * OC], db_add[OC], db_set[OC];
        for (int i = 0; i < N * C; i++) set[i] = NAN;
        for (int i = 0; i < C * OC; i++) dw_add[i] = dw_set[i] = 0.5f; /* accumulate onto 0.5 */
        for (int i = 0; i < OC; i++) db_add[i] = db_set[i] = -1.0f;
        ic_linear_backward(&TGEMM, add, dw_add, db_add, dout, inp, w, N, C, OC, (ic_wlayout)layout, IC_ADD);
        ic_linear_backward(&TGEMM, set, dw_set, db_set, dout, inp, w, N, C, OC, (ic_wlayout)layout, IC_SET);
        for (int i = 0; i < N * C; i++) assert_true(set[i] == add[i]);
        for (int i = 0; i < C * OC; i++) assert_true(dw_set[i] == dw_add[i] && dw_set[i] != 0.5f);
        for (int i = 0; i < OC; i++) assert_true(db_set[i] == db_add[i]);
    }
    /* attention: B = 2, T = 19 (three row blocks), C = 20, H = 2 (head size 10: the tail path) */
    {
        enum { AB = 2, AT = 19, AC = 20, AH = 2 };
        static float qkv[AB * AT * 3 * AC], att[AB * AH * AT * AT], datt[AB * AH * AT * AT], out[AB * AT * AC];
        static float go[AB * AT * AC], dadd[AB * AT * 3 * AC], dset[AB * AT * 3 * AC];
        double t2[AB * AT * 3 * AC];
        tu_fill(&rng, t2, AB * AT * 3 * AC, 1.5, 0.0);
        tu_to_float(qkv, t2, AB * AT * 3 * AC);
        tu_fill(&rng, t2, AB * AT * AC, 1.0, 0.0);
        tu_to_float(go, t2, AB * AT * AC);
        attention_forward(out, att, qkv, AB, AT, AC, AH);
        for (int i = 0; i < AB * AT * 3 * AC; i++) dadd[i] = 0.0f, dset[i] = NAN;
        attention_backward(dadd, datt, go, qkv, att, AB, AT, AC, AH, IC_ADD);
        attention_backward(dset, datt, go, qkv, att, AB, AT, AC, AH, IC_SET);
        for (int i = 0; i < AB * AT * 3 * AC; i++) assert_true(dset[i] == dadd[i]);
    }
    float gadd[N * OC] = {0}, gset[N * OC], gacc[N * OC];
    for (int i = 0; i < N * OC; i++) gset[i] = NAN, gacc[i] = 2.0f;
    ic_gelu_backward(gadd, NULL, x, dout, N * OC, IC_ADD);
    ic_gelu_backward(gset, NULL, x, dout, N * OC, IC_SET);
    ic_gelu_backward(gacc, NULL, x, dout, N * OC, IC_ADD);
    for (int i = 0; i < N * OC; i++) {
        assert_true(gset[i] == gadd[i]);
        /* IC_ADD really adds (one rounding apart: the add may fuse with the product) */
        assert_true(fabsf(gacc[i] - (2.0f + gadd[i])) <= 1e-6f * (2.0f + fabsf(gadd[i])));
    }
}

static void test_hand_gelu(void **state)
{
    (void)state;
    /* python: 0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x**3))) */
    const double x[] = {0.0, 1.0, -1.0, 2.0, 10.0, -10.0, 30.0};
    const double want[] = {0.0, 0.8411919906082768, -0.15880800939172324, 1.954597694087775,
                           10.0, 0.0, 30.0};
    double out[7], dinp[7] = {0}, ones[7] = {1, 1, 1, 1, 1, 1, 1};
    float fx[7], fout[7], fdinp[7] = {0}, fones[7] = {1, 1, 1, 1, 1, 1, 1};
    ic_ref_gelu_forward(out, x, 7);
    tu_to_float(fx, x, 7);
    ic_gelu_forward(fout, fx, 7);
    for (int i = 0; i < 7; i++) {
        assert_true(fabs(out[i] - want[i]) <= 1e-14 * (1.0 + fabs(want[i])));
        assert_true(fabs((double)fout[i] - want[i]) <= 1e-6 * (1.0 + fabs(want[i])));
    }
    assert_true(out[0] == 0.0 && fout[0] == 0.0f);
    /* slopes: gelu'(0) = 0.5, gelu'(large) = 1, gelu'(-large) = 0 */
    ic_ref_gelu_backward(dinp, x, ones, 7);
    ic_gelu_backward(fdinp, NULL, fx, fones, 7, IC_ADD);
    assert_true(fabs(dinp[0] - 0.5) <= 1e-15 && fabs(fdinp[0] - 0.5f) <= 1e-7);
    assert_true(fabs(dinp[4] - 1.0) <= 1e-12 && fabs(fdinp[4] - 1.0f) <= 1e-6);
    assert_true(fabs(dinp[5]) <= 1e-12 && fabs(fdinp[5]) <= 1e-6);
}

/* The GELU backward that also recomputes the forward's output (the training
 * pass keeps only the pre-activation): out gets exactly ic_gelu_forward's
 * bits, dinp exactly the plain backward's, also when out is dout itself (the
 * pass writes the recomputed output over the gradient it has just read), on
 * both the one-thread and the split path. */
static void test_gelu_backward_recompute(void **state)
{
    (void)state;
    tu_rng rng = tu_rng_make(23);
    enum { N = 70001 }; /* above the threads' split threshold: both halves, and an odd tail */
    float *x = malloc(sizeof(float) * N), *dy = malloc(sizeof(float) * N), *fwd = malloc(sizeof(float) * N),
          *g0 = malloc(sizeof(float) * N), *g1 = malloc(sizeof(float) * N), *g2 = malloc(sizeof(float) * N),
          *out = malloc(sizeof(float) * N), *dy2 = malloc(sizeof(float) * N);
    tu_fill_f(&rng, x, N, 6.0, 0.0); /* inputs in [-6, 6] */
    tu_fill_f(&rng, dy, N, 1.0, 0.0);
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 40.0f, x[3] = -40.0f;
    const int sizes[] = {7, N};
    for (int k = 0; k < 2; k++) {
        const int n = sizes[k];
        ic_gelu_forward(fwd, x, n);
        ic_gelu_backward(g0, NULL, x, dy, n, IC_SET);
        for (int i = 0; i < n; i++) out[i] = NAN, dy2[i] = dy[i];
        ic_gelu_backward(g1, out, x, dy, n, IC_SET);
        ic_gelu_backward(g2, dy2, x, dy2, n, IC_SET); /* in place over the gradient */
        for (int i = 0; i < n; i++) {
            if (memcmp(&out[i], &fwd[i], sizeof(float)) || memcmp(&dy2[i], &fwd[i], sizeof(float)))
                fprintf(stderr, "gelu(%a): recomputed %a / in place %a, forward %a\n", x[i], out[i], dy2[i], fwd[i]);
            assert_memory_equal(&out[i], &fwd[i], sizeof(float));
            assert_memory_equal(&dy2[i], &fwd[i], sizeof(float));
            assert_memory_equal(&g1[i], &g0[i], sizeof(float));
            assert_memory_equal(&g2[i], &g0[i], sizeof(float));
        }
    }
    free(x), free(dy), free(fwd), free(g0), free(g1), free(g2), free(out), free(dy2);
}

static void test_hand_layernorm(void **state)
{
    (void)state;
    enum { N = 5, C = 16 };
    tu_rng rng = tu_rng_make(401);
    double inp[N * C], out[N * C], mean[N], rstd[N], w[C], b[C];
    float finp[N * C], fout[N * C], fmean[N], frstd[N], fw[C], fb[C];
    tu_fill(&rng, inp, N * C, 3.0, 2.0);
    tu_dset(w, C, 1.0);
    tu_dset(b, C, 0.0);
    tu_to_float(finp, inp, N * C);
    tu_to_float(fw, w, C);
    tu_to_float(fb, b, C);
    ic_ref_layernorm_forward(out, mean, rstd, inp, w, b, N, C);
    ic_layernorm_forward(fout, fmean, frstd, finp, fw, fb, N, C);
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0, fm = 0, fv = 0, xm = 0, xv = 0;
        for (int c = 0; c < C; c++) {
            m += out[n * C + c];
            fm += fout[n * C + c];
            xm += inp[n * C + c];
        }
        m /= C, fm /= C, xm /= C;
        for (int c = 0; c < C; c++) {
            v += (out[n * C + c] - m) * (out[n * C + c] - m);
            fv += (fout[n * C + c] - fm) * (fout[n * C + c] - fm);
            xv += (inp[n * C + c] - xm) * (inp[n * C + c] - xm);
        }
        v /= C, fv /= C, xv /= C;
        /* zero mean; variance var / (var + eps), i.e. 1 up to eps / var */
        assert_true(fabs(m) <= 1e-14);
        assert_true(fabs(v - xv / (xv + IC_LN_EPS)) <= 1e-13);
        assert_true(fabs(v - 1.0) <= 1e-4);
        assert_true(fabs(fm) <= 1e-6);
        assert_true(fabs(fv - 1.0) <= 1e-4);
        /* saved statistics */
        assert_true(fabs(mean[n] - xm) <= 1e-14 * (1 + fabs(xm)));
        assert_true(fabs(rstd[n] - 1.0 / sqrt(xv + IC_LN_EPS)) <= 1e-13 * rstd[n]);
    }
    /* a row computed by hand: x = (1, 3): mean 2, var 1, out = (-1, 1) / sqrt(1 + eps) */
    double x2[2] = {1.0, 3.0}, w2[2] = {2.0, 1.0}, b2[2] = {0.5, -0.5}, o2[2], m2, r2;
    ic_ref_layernorm_forward(o2, &m2, &r2, x2, w2, b2, 1, 2);
    double s = 1.0 / sqrt(1.0 + 1e-5);
    assert_true(m2 == 2.0);
    assert_true(fabs(r2 - s) <= 1e-15);
    assert_true(fabs(o2[0] - (-2.0 * s + 0.5)) <= 1e-15);
    assert_true(fabs(o2[1] - (s - 0.5)) <= 1e-15);
}

static void test_hand_linear(void **state)
{
    (void)state;
    /* inp[2,3], W[3,2] (IN_OUT), bias[2]:
     *   row 0: (1,2,3) . cols -> (1*1 + 2*3 + 3*5, 1*2 + 2*4 + 3*6) + (0.5, -1) = (22.5, 27)
     *   row 1: (-1,0,2)        -> (-1 + 0 + 10, -2 + 0 + 12) + (0.5, -1)       = (9.5, 9) */
    const double inp[6] = {1, 2, 3, -1, 0, 2};
    const double w_io[6] = {1, 2, 3, 4, 5, 6};  /* [C=3][OC=2] */
    const double w_oi[6] = {1, 3, 5, 2, 4, 6};  /* the same map as [OC=2][C=3] */
    const double bias[2] = {0.5, -1};
    const double want[4] = {22.5, 27, 9.5, 9};
    const double want_nb[4] = {22, 28, 9, 10};
    double out[4];
    float fout[4], finp[6], fw[6], fbias[2];
    ic_ref_linear_forward(out, inp, w_io, bias, 2, 3, 2, IC_W_IN_OUT);
    for (int i = 0; i < 4; i++)
        assert_true(out[i] == want[i]);
    ic_ref_linear_forward(out, inp, w_oi, bias, 2, 3, 2, IC_W_OUT_IN);
    for (int i = 0; i < 4; i++)
        assert_true(out[i] == want[i]);
    ic_ref_linear_forward(out, inp, w_io, NULL, 2, 3, 2, IC_W_IN_OUT);
    for (int i = 0; i < 4; i++)
        assert_true(out[i] == want_nb[i]);
    tu_to_float(finp, inp, 6);
    tu_to_float(fbias, bias, 2);
    tu_to_float(fw, w_io, 6);
    ic_linear_forward(&TGEMM, fout, finp, fw, fbias, 2, 3, 2, IC_W_IN_OUT);
    for (int i = 0; i < 4; i++)
        assert_true(fout[i] == (float)want[i]);
    tu_to_float(fw, w_oi, 6);
    ic_linear_forward(&TGEMM, fout, finp, fw, NULL, 2, 3, 2, IC_W_OUT_IN);
    for (int i = 0; i < 4; i++)
        assert_true(fout[i] == (float)want_nb[i]);

    /* backward with dout = [[1,0],[0,1]]:
     *   dinp = dout @ W^T = rows of W^T: (1,3,5), (2,4,6)
     *   dW[c][o] = sum_n inp[n][c] dout[n][o] = [[1,-1],[2,0],[3,2]]
     *   dbias = (1, 1) */
    const double dout[4] = {1, 0, 0, 1};
    double dinp[6] = {0}, dw[6] = {0}, db[2] = {0};
    ic_ref_linear_backward(dinp, dw, db, dout, inp, w_io, 2, 3, 2, IC_W_IN_OUT);
    const double want_dinp[6] = {1, 3, 5, 2, 4, 6}, want_dw[6] = {1, -1, 2, 0, 3, 2};
    for (int i = 0; i < 6; i++) {
        assert_true(dinp[i] == want_dinp[i]);
        assert_true(dw[i] == want_dw[i]);
    }
    assert_true(db[0] == 1 && db[1] == 1);
    /* OUT_IN: dW is transposed: [[1,2,3],[-1,0,2]] */
    double dw2[6] = {0};
    ic_ref_linear_backward(NULL, dw2, NULL, dout, inp, w_oi, 2, 3, 2, IC_W_OUT_IN);
    const double want_dw2[6] = {1, 2, 3, -1, 0, 2};
    for (int i = 0; i < 6; i++)
        assert_true(dw2[i] == want_dw2[i]);
}

static void test_hand_attention(void **state)
{
    (void)state;
    /* B=1, T=3, C=2, H=1, q = 0 everywhere: every causal row is uniform, so
     * out[t] = mean of v[0..t]. */
    double qkv[3 * 6] = {0}, out[6], att[9];
    const double v[3][2] = {{1, 2}, {3, -2}, {-4, 6}};
    for (int t = 0; t < 3; t++) {
        qkv[t * 6 + 2] = 0.3 * t; /* k: irrelevant when q = 0 */
        qkv[t * 6 + 3] = -0.7;
        qkv[t * 6 + 4] = v[t][0];
        qkv[t * 6 + 5] = v[t][1];
    }
    float fqkv[18], fout[6], fatt[9];
    tu_to_float(fqkv, qkv, 18);
    ic_ref_attention_forward(out, att, qkv, 1, 3, 2, 1);
    attention_forward(fout, fatt, fqkv, 1, 3, 2, 1);
    const double want_att[9] = {1, 0, 0, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3};
    const double want_out[6] = {1, 2, 2, 0, 0, 2};
    for (int i = 0; i < 9; i++) {
        assert_true(fabs(att[i] - want_att[i]) <= 1e-15);
        assert_true(fabs(fatt[i] - want_att[i]) <= 1e-7);
    }
    for (int i = 0; i < 6; i++) {
        assert_true(fabs(out[i] - want_out[i]) <= 1e-14);
        assert_true(fabs(fout[i] - want_out[i]) <= 1e-6);
    }
    /* two keys, scores q.k/sqrt(hs): q = (1, 1), k0 = (0, 0), k1 = (ln 3, ln 3)
     * with hs = 2: s1 = 2 ln 3 / sqrt 2 = sqrt(2) ln 3 ->
     * att[1] = (1/(1+e^{s1}), e^{s1}/(1+e^{s1})) */
    double q2[2 * 6] = {0}, out2[4], att2[4];
    q2[6 + 0] = 1, q2[6 + 1] = 1;
    q2[6 + 2] = log(3.0), q2[6 + 3] = log(3.0);
    q2[4] = 1, q2[5] = 0, q2[6 + 4] = 0, q2[6 + 5] = 1; /* v0 = e0, v1 = e1 */
    ic_ref_attention_forward(out2, att2, q2, 1, 2, 2, 1);
    double e = exp(sqrt(2.0) * log(3.0));
    assert_true(fabs(att2[2] - 1.0 / (1.0 + e)) <= 1e-14);
    assert_true(fabs(att2[3] - e / (1.0 + e)) <= 1e-14);
    assert_true(fabs(out2[2] - 1.0 / (1.0 + e)) <= 1e-14);
    assert_true(fabs(out2[3] - e / (1.0 + e)) <= 1e-14);
}

static void test_hand_readout_mse(void **state)
{
    (void)state;
    /* B=1, T=3 (x0, y0, x1), n=2, C=2: pred = h[0].w + b, h[2].w + b */
    const double h[6] = {1, 2, 100, 100, -1, 3};
    const double w[2] = {0.5, -1}, bias[1] = {0.25};
    double pred[2];
    ic_ref_readout_forward(pred, h, w, bias, 1, 3, 2, 2);
    assert_true(pred[0] == 0.5 - 2 + 0.25);
    assert_true(pred[1] == -0.5 - 3 + 0.25);
    double dh[6] = {0}, dw[2] = {0}, db[1] = {0};
    const double dpred[2] = {1, 2};
    ic_ref_readout_backward(dh, dw, db, dpred, h, w, 1, 3, 2, 2);
    const double want_dh[6] = {0.5, -1, 0, 0, 1, -2};
    for (int i = 0; i < 6; i++)
        assert_true(dh[i] == want_dh[i]);
    assert_true(dw[0] == 1 - 2 && dw[1] == 2 + 6);
    assert_true(db[0] == 3);

    /* mse: pred (1, 2), y (0, 0): (1 + 4) / 2 = 2.5;
     * backward, scale 0.5: 0.5 * 2 * (1, 2) / 2 = (0.5, 1) */
    const double p[2] = {1, 2}, y[2] = {0, 0};
    assert_true(ic_ref_mse_forward(p, y, 2) == 2.5);
    double dp[2] = {0};
    ic_ref_mse_backward(dp, p, y, 2, 0.5);
    assert_true(dp[0] == 0.5 && dp[1] == 1.0);
    const float fp[2] = {1, 2}, fy[2] = {0, 0};
    assert_true(ic_mse_forward(fp, fy, 2) == 2.5);
    float fdp[2] = {0};
    ic_mse_backward(fdp, fp, fy, 2, 0.5f);
    assert_true(fdp[0] == 0.5f && fdp[1] == 1.0f);
}

static void test_rng_deterministic(void **state)
{
    (void)state;
    tu_rng a = tu_rng_make(7), b = tu_rng_make(7);
    double lo = 1, hi = -1, sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = tu_rng_uniform(&a);
        assert_true(u == tu_rng_uniform(&b));
        assert_true(u >= -1.0 && u < 1.0);
        lo = fmin(lo, u), hi = fmax(hi, u), sum += u;
    }
    assert_true(lo < -0.99 && hi > 0.99 && fabs(sum / 10000) < 0.05);
}

/* ---- (e) the kernels' two paths: a parallel region of their own (called
 * outside any, on three threads), or the plain loop on the calling thread
 * (called inside a parallel region, as in a training shard: ops.c,
 * IC_RANGES). Each kernel cuts its work only between independent rows, so
 * both paths must give the same bits. Sizes above the threshold of a region
 * (65536 elements) whose split over three threads leaves a remainder, so a
 * wrong cut (an element computed twice, or not at all) shows. */

/* the arrays of one kernel call: inputs x, g, w, b, wpe; outputs out, x2,
 * dw, db, mean, rstd (whichever the kernel writes) */
typedef struct {
    int N, C, B, T;
    float *x, *g, *w, *b, *wpe, *out, *x2, *dw, *db, *mean, *rstd;
} kpaths;

enum { KP_KERNELS = 8 };

static void kpaths_run(kpaths *k, int which) {
    const int n = k->N * k->C;
    switch (which) {
    case 0: ic_gelu_forward(k->out, k->x, n); break;
    case 1: ic_gelu_backward(k->out, NULL, k->x, k->g, n, IC_ADD); break;
    case 2: ic_residual_forward(k->out, k->x, k->g, n); break;
    case 3: ic_residual_backward(k->out, k->x2, k->g, n); break;
    case 4: ic_layernorm_forward(k->out, k->mean, k->rstd, k->x, k->w, k->b, k->N, k->C); break;
    case 5: ic_layernorm_forward(k->x2, k->mean, k->rstd, k->x, k->w, k->b, k->N, k->C);
            ic_layernorm_backward(k->out, k->dw, k->db, k->g, k->x, k->w, k->mean, k->rstd, k->N, k->C); break;
    case 6: ic_posembed_forward(k->out, k->x, k->wpe, k->B, k->T, k->C); break;
    case 7: ic_posembed_backward(k->out, k->dw, k->g, k->B, k->T, k->C); break;
    default: break;
    }
}

static void test_paths_same_bits(void **state)
{
    (void)state;
    /* element kernels: 70001 x 2 = 140002 elements (3 threads: 46667 +
     * 46667 + 46668), the position embedding as B = 7 prompts of T = 10000
     * tokens of C = 2 (its weight gradient: 20000 columns); row kernels:
     * 1201 rows (400 + 400 + 401) of C = 131 (three blocks of 64 channels) */
    static const int shapes[][2] = {{70001, 2}, {1201, 131}};
    for (int sh = 0; sh < 2; sh++) {
        kpaths k = {.N = shapes[sh][0], .C = shapes[sh][1], .B = 7};
        k.T = k.N / k.B;
        const size_t n = (size_t)k.N * k.C, nw = (size_t)k.T * k.C; /* nw >= C: dw, db, wpe */
        tu_rng rng = tu_rng_make(909 + sh);
        float *in[5];
        const size_t in_len[5] = {n, n, (size_t)k.C, (size_t)k.C, nw};
        for (int a = 0; a < 5; a++) {
            in[a] = malloc(sizeof(float) * in_len[a]);
            assert_non_null(in[a]);
            tu_fill_f(&rng, in[a], in_len[a], a == 0 ? 2.0 : 1.0, a == 2 ? 1.0 : 0.0);
        }
        k.x = in[0]; k.g = in[1]; k.w = in[2]; k.b = in[3]; k.wpe = in[4];
        for (int which = 0; which < KP_KERNELS; which++) {
            if ((which == 4 || which == 5) != (sh == 1)) continue; /* row kernels on rows, element kernels on elements */
            float *o[2][6];
            const size_t o_len[6] = {n, n, nw, nw, (size_t)k.N, (size_t)k.N};
            for (int path = 0; path < 2; path++) {
                for (int a = 0; a < 6; a++) { /* outputs start from the same values on both paths */
                    o[path][a] = malloc(sizeof(float) * o_len[a]);
                    assert_non_null(o[path][a]);
                    tu_rng r0 = tu_rng_make(77 + (uint64_t)a);
                    tu_fill_f(&r0, o[path][a], o_len[a], 1.0, 0.0);
                }
                k.out = o[path][0]; k.x2 = o[path][1]; k.dw = o[path][2]; k.db = o[path][3];
                k.mean = o[path][4]; k.rstd = o[path][5];
#ifdef _OPENMP
                if (path == 0) { /* a region of the kernel's own, three threads */
                    const int prev = omp_get_max_threads();
                    omp_set_num_threads(3);
                    kpaths_run(&k, which);
                    omp_set_num_threads(prev);
                } else { /* inside a parallel region, as a shard calls it */
                    int inside = 0;
                    #pragma omp parallel num_threads(2)
                    #pragma omp single
                    {
                        inside = omp_in_parallel();
                        kpaths_run(&k, which);
                    }
                    assert_true(inside);
                }
#else
                kpaths_run(&k, which);
#endif
            }
            for (int a = 0; a < 6; a++) {
                if (memcmp(o[0][a], o[1][a], sizeof(float) * o_len[a]) != 0) {
                    size_t i = 0;
                    while (i < o_len[a] && o[0][a][i] == o[1][a][i]) i++;
                    fail_msg("kernel %d, shape %d: output %d differs between the paths at %zu: %.9g vs %.9g", which,
                             sh, a, i, o[0][a][i], o[1][a][i]);
                }
                free(o[0][a]);
                free(o[1][a]);
            }
        }
        for (int a = 0; a < 5; a++) free(in[a]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_deterministic),
        cmocka_unit_test(test_paths_same_bits),
        /* (a) */
        cmocka_unit_test(test_fd_linear),
        cmocka_unit_test(test_fd_layernorm),
        cmocka_unit_test(test_fd_attention),
        cmocka_unit_test(test_fd_gelu),
        cmocka_unit_test(test_fd_residual),
        cmocka_unit_test(test_fd_posembed),
        cmocka_unit_test(test_fd_readout),
        cmocka_unit_test(test_fd_mse),
        cmocka_unit_test(test_fd_detects_error),
        /* (b) */
        cmocka_unit_test(test_contract_linear),
        cmocka_unit_test(test_contract_layernorm),
        cmocka_unit_test(test_contract_attention),
        cmocka_unit_test(test_contract_elementwise),
        cmocka_unit_test(test_contract_readout_mse),
        /* (c) */
        cmocka_unit_test(test_parity_linear),
        cmocka_unit_test(test_parity_layernorm),
        cmocka_unit_test(test_parity_attention),
        cmocka_unit_test(test_parity_gelu),
        cmocka_unit_test(test_parity_residual_posembed),
        cmocka_unit_test(test_parity_readout),
        cmocka_unit_test(test_parity_mse),
        /* (d) */
        cmocka_unit_test(test_set_mode),
        cmocka_unit_test(test_hand_gelu),
        cmocka_unit_test(test_gelu_backward_recompute),
        cmocka_unit_test(test_hand_layernorm),
        cmocka_unit_test(test_hand_linear),
        cmocka_unit_test(test_hand_attention),
        cmocka_unit_test(test_hand_readout_mse),
    };
    const int rc = cmocka_run_group_tests_name("ops", tests, NULL, NULL);
    ic_gemm_free(&TGEMM);
    return rc;
}
