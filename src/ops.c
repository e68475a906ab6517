/* ops.c: the optimised float kernels of ops.h.
 *
 * Matrix products go through gemm.h (oneDNN or OpenBLAS). Attention is written by hand:
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
#ifdef _OPENMP
#include <omp.h>
#endif

/* Eight floats as a GCC/Clang vector type: one AVX register (two SSE
 * registers, or scalar code, on other targets). The kernels below use it
 * where eight independent sums must stay in registers; gcc -O2 does not
 * vectorise (or reassociate) a plain reduction loop by itself. */
typedef float ic_v8 __attribute__((vector_size(32)));
static inline ic_v8 v8_load(const float *p) { ic_v8 v; memcpy(&v, p, sizeof v); return v; }
static inline void v8_store(float *p, ic_v8 v) { memcpy(p, &v, sizeof v); }
/* Sixteen floats: one AVX-512 register. Used only where the build targets
 * AVX-512 (elsewhere it would be two AVX registers and no faster). */
typedef float ic_v16 __attribute__((vector_size(64)));
static inline float v8_hsum(ic_v8 v) { /* lanes in order */
    float s = v[0];
    for (int j = 1; j < 8; j++) s += v[j];
    return s;
}

/* OpenBLAS (the only BLAS iclab links, see Makefile) */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

int ic_blas_set_threads(int n) {
    const int prev = openblas_get_num_threads();
#ifdef _OPENMP
    const int omp = omp_get_max_threads();
#endif
    openblas_set_num_threads(n); /* the OpenMP build also sets OpenMP's team size: undo that */
#ifdef _OPENMP
    omp_set_num_threads(omp);
#endif
    return prev;
}

void ic_set_threads(int n) {
    if (n <= 0) return;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    openblas_set_num_threads(n);
}

/* ---------------- parallel regions ----------------
 * Kernels open a parallel region only where it can run in parallel. Inside
 * a training or inference shard (an active parallel region) a nested region,
 * even one of one thread or with a false if() clause, still goes through
 * libgomp's team start, and two shards doing so at once contend on its
 * locks: strace counted ~300 futex calls per small-model step from the
 * kernels' regions. IC_RANGES(n, par, nthr, tid, lo, hi, CALL) runs CALL
 * with [lo, hi) a contiguous piece of [0, n) per thread of a team of nthr
 * (as schedule(static) would cut it) when par holds and no parallel region
 * encloses the call; otherwise once, on this thread, with [0, n) and tid 0.
 * The kernels below cut their work only between independent rows (or
 * columns), so the results do not depend on the path. */
static inline int ic_can_fork(void) {
#ifdef _OPENMP
    return !omp_in_parallel();
#else
    return 0;
#endif
}

static inline int ic_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

#ifdef _OPENMP
#define IC_TEAM_TID() omp_get_thread_num()
#define IC_TEAM_N() omp_get_num_threads()
#else
#define IC_TEAM_TID() 0
#define IC_TEAM_N() 1
#endif

#define IC_RANGES(n, par, nthr, tid, lo, hi, CALL)                                   \
    do {                                                                             \
        const long ic_n_ = (n);                                                      \
        const int ic_nthr_ = (nthr);                                                 \
        if ((par) && ic_nthr_ > 1 && ic_can_fork()) {                                \
            _Pragma("omp parallel num_threads(ic_nthr_)")                            \
            {                                                                        \
                const int tid = IC_TEAM_TID(), ic_k_ = IC_TEAM_N();                  \
                const long lo = ic_n_ * tid / ic_k_, hi = ic_n_ * (tid + 1) / ic_k_; \
                (void)tid;                                                           \
                CALL;                                                                \
            }                                                                        \
        } else {                                                                     \
            const int tid = 0;                                                       \
            const long lo = 0, hi = ic_n_;                                           \
            (void)tid;                                                               \
            CALL;                                                                    \
        }                                                                            \
    } while (0)

/* the element kernels' threshold: below it a parallel region costs more than it saves */
#define IC_PAR_MIN 65536L

/* ---------------- linear ---------------- */

/* The products run through gemm.h (oneDNN or OpenBLAS, fp32 or bf16, as g
 * says); the bias is fused into the forward product. */
void ic_linear_forward(ic_gemm *g, float *out, const float *inp, const float *w, const float *bias,
                       int N, int C, int OC, ic_wlayout layout) {
    // out[N,OC] = inp[N,C] @ W (+ bias); W[C,OC] (IN_OUT) or W[OC,C] (OUT_IN)
    ic_gemm_run(g, IC_GEMM_FWD, 0, layout == IC_W_OUT_IN, N, OC, C, inp, w, bias, 0, out);
}

void ic_linear_backward(ic_gemm *g, float *dinp, float *dw, float *dbias, const float *dout,
                        const float *inp, const float *w, int N, int C, int OC,
                        ic_wlayout layout, ic_grad_mode mode) {
    if (dinp) // dinp[N,C] (+)= dout[N,OC] @ W^T; never read with IC_SET
        ic_gemm_run(g, IC_GEMM_BWD_DATA, 0, layout == IC_W_IN_OUT, N, C, OC, dout, w, NULL, mode != IC_SET, dinp);
    if (dw) {
        if (layout == IC_W_IN_OUT) // dW[C,OC] += inp^T @ dout
            ic_gemm_run(g, IC_GEMM_BWD_WEIGHTS, 1, 0, C, OC, N, inp, dout, NULL, 1, dw);
        else // dW[OC,C] += dout^T @ inp
            ic_gemm_run(g, IC_GEMM_BWD_WEIGHTS, 1, 0, OC, C, N, dout, inp, NULL, 1, dw);
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
                const float *restrict row = dout + (size_t)i * OC + o0;
                #pragma omp simd
                for (int o = 0; o < o1 - o0; o++) acc[o] += row[o];
            }
            for (int o = o0; o < o1; o++) dbias[o] += acc[o - o0];
        }
    }
}

/* ---------------- layernorm ---------------- */

/* The row sums of layernorm in eight lanes (lane j sums x[j], x[j+8], ...,
 * then the lanes in order, then the tail of C mod 8 in order): a fixed
 * order, independent of threads and vector width, that keeps eight chains of
 * additions in flight instead of one. */
static inline float row_sum_lanes(const float *restrict x, int C) {
    ic_v8 s = {0};
    int c = 0;
    for (; c + 8 <= C; c += 8) s += v8_load(x + c);
    float t = v8_hsum(s);
    for (; c < C; c++) t += x[c];
    return t;
}

/* sum over c of (x[c] - m)^2, lanes as row_sum_lanes */
static inline float row_sqdev_lanes(const float *restrict x, float m, int C) {
    ic_v8 s = {0};
    int c = 0;
    for (; c + 8 <= C; c += 8) { ic_v8 d = v8_load(x + c) - m; s += d * d; }
    float t = v8_hsum(s);
    for (; c < C; c++) { float d = x[c] - m; t += d * d; }
    return t;
}

static void ln_forward_rows(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                            int C, long i0, long i1) {
    for (long i = i0; i < i1; i++) {
        const float *x = inp + (size_t)i * C;
        float *restrict o = out + (size_t)i * C;
        const float m = row_sum_lanes(x, C) / (float)C;
        const float v = row_sqdev_lanes(x, m, C) / (float)C; /* two passes: no E[x^2] - m^2 cancellation */
        const float s = 1.0f / sqrtf(v + (float)IC_LN_EPS);
        #pragma omp simd
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
        mean[i] = m;
        rstd[i] = s;
    }
}

void ic_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C) {
    IC_RANGES(N, (long)N * C > IC_PAR_MIN, ic_max_threads(), tid, lo, hi,
              ln_forward_rows(out, mean, rstd, inp, w, b, C, lo, hi));
}

static void ln_backward_rows(float *dinp, const float *dout, const float *inp, const float *w, const float *mean,
                             const float *rstd, int C, long i0, long i1) {
    for (long i = i0; i < i1; i++) {
        const float *x = inp + (size_t)i * C, *g = dout + (size_t)i * C;
        float *restrict dx = dinp + (size_t)i * C;
        const float m = mean[i], s = rstd[i];
        // dnorm = g*w; dx = s * (dnorm - mean(dnorm) - norm * mean(dnorm*norm)); sums in lanes
        ic_v8 va = {0}, vb = {0};
        int c = 0;
        for (; c + 8 <= C; c += 8) {
            ic_v8 dn = v8_load(g + c) * v8_load(w + c);
            va += dn;
            vb += dn * ((v8_load(x + c) - m) * s);
        }
        float a = v8_hsum(va), bsum = v8_hsum(vb);
        for (; c < C; c++) {
            float dn = g[c] * w[c];
            a += dn;
            bsum += dn * ((x[c] - m) * s);
        }
        a /= (float)C;
        bsum /= (float)C;
        #pragma omp simd
        for (int c2 = 0; c2 < C; c2++) {
            float norm = (x[c2] - m) * s;
            dx[c2] += s * (g[c2] * w[c2] - a - norm * bsum);
        }
    }
}

/* parameter grads of channel blocks k0..k1-1 of 64 channels (no reduction
 * races between blocks); rows are walked in order, contiguously */
#define IC_LN_CB 64
static void ln_param_blocks(float *dw, float *db, const float *dout, const float *inp, const float *mean,
                            const float *rstd, int N, int C, long k0, long k1) {
    for (long k = k0; k < k1; k++) {
        const int c0 = (int)k * IC_LN_CB, c1 = c0 + IC_LN_CB < C ? c0 + IC_LN_CB : C, nc = c1 - c0;
        float sw[IC_LN_CB], sb[IC_LN_CB];
        for (int c = 0; c < nc; c++) sw[c] = sb[c] = 0.0f;
        for (int i = 0; i < N; i++) {
            const float *restrict g = dout + (size_t)i * C + c0, *restrict x = inp + (size_t)i * C + c0;
            const float m = mean[i], s = rstd[i];
            #pragma omp simd
            for (int c = 0; c < nc; c++) {
                sw[c] += g[c] * ((x[c] - m) * s);
                sb[c] += g[c];
            }
        }
        for (int c = 0; c < nc; c++) {
            if (dw) dw[c0 + c] += sw[c];
            if (db) db[c0 + c] += sb[c];
        }
    }
}

void ic_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, const float *mean,
                           const float *rstd, int N, int C) {
    const int par = (long)N * C > IC_PAR_MIN;
    if (dinp)
        IC_RANGES(N, par, ic_max_threads(), tid, lo, hi, ln_backward_rows(dinp, dout, inp, w, mean, rstd, C, lo, hi));
    if (dw || db)
        IC_RANGES((C + IC_LN_CB - 1) / IC_LN_CB, par, ic_max_threads(), tid, lo, hi,
                  ln_param_blocks(dw, db, dout, inp, mean, rstd, N, C, lo, hi));
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

/* In-register transpose of an 8x8 block held as eight rows (GCC vector
 * shuffles: within-128-bit unpacks, then pairs, then halves, the classic
 * 24-shuffle sequence). Pure data movement: bits are unchanged. */
typedef int ic_v8i __attribute__((vector_size(32)));
static inline void v8_transpose8(ic_v8 r[8]) {
    const ic_v8i lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};
    const ic_v8i plo = {0, 1, 8, 9, 4, 5, 12, 13}, phi = {2, 3, 10, 11, 6, 7, 14, 15};
    const ic_v8i hlo = {0, 1, 2, 3, 8, 9, 10, 11}, hhi = {4, 5, 6, 7, 12, 13, 14, 15};
    ic_v8 t[8], u[8];
    for (int j = 0; j < 8; j += 2) {
        t[j] = __builtin_shuffle(r[j], r[j + 1], lo);
        t[j + 1] = __builtin_shuffle(r[j], r[j + 1], hi);
    }
    for (int j = 0; j < 8; j += 4) {
        u[j] = __builtin_shuffle(t[j], t[j + 2], plo);
        u[j + 1] = __builtin_shuffle(t[j], t[j + 2], phi);
        u[j + 2] = __builtin_shuffle(t[j + 1], t[j + 3], plo);
        u[j + 3] = __builtin_shuffle(t[j + 1], t[j + 3], phi);
    }
    for (int j = 0; j < 4; j++) {
        r[j] = __builtin_shuffle(u[j], u[j + 4], hlo);
        r[j + 4] = __builtin_shuffle(u[j], u[j + 4], hhi);
    }
}

/* Copies one head's keys (or values) [T, hs] (row stride 3C) into a
 * transposed tile [hs, T] padded with zeros to Tp columns (T rounded up to
 * 8), so the per-query loops over keys run over contiguous memory and
 * vectorise without reordering any sum. Blocks of 8 keys x 8 channels are
 * transposed in registers (the element-by-element copy, kept below for head
 * sizes that are not a multiple of 8, was ~4% of a small model's step); the
 * last block's keys past T are zeros. */
static void gather_transposed(float *tile, const float *src, int T, int Tp, int hs, int C3) {
    int i0 = 0;
    for (; i0 + 8 <= hs; i0 += 8)
        for (int t0 = 0; t0 < Tp; t0 += 8) {
            ic_v8 r[8];
            for (int j = 0; j < 8; j++) r[j] = t0 + j < T ? v8_load(src + (size_t)(t0 + j) * C3 + i0) : (ic_v8){0};
            v8_transpose8(r);
            for (int j = 0; j < 8; j++) v8_store(tile + (size_t)(i0 + j) * Tp + t0, r[j]);
        }
    for (int i = i0; i < hs; i++) {
        for (int t2 = 0; t2 < T; t2++) tile[(size_t)i * Tp + t2] = src[(size_t)t2 * C3 + i];
        for (int t2 = T; t2 < Tp; t2++) tile[(size_t)i * Tp + t2] = 0.0f;
    }
}

/* Rows over keys are computed in whole vectors: up to n rounded up to a
 * multiple of 8 (at most Tp, T rounded up), on tiles and row buffers padded
 * to Tp, so no loop ends in a scalar remainder. The lanes past n are
 * computed and thrown away; no sum over keys changes its order. */
#define IC_VEC 8
static inline int round_vec(int n) { return (n + IC_VEC - 1) / IC_VEC * IC_VEC; }


/* Register blocks for attention. The head-sized products are too small for
 * BLAS, and a loop over one row's keys is bound by the latency of a single
 * chain of additions; so the kernels below keep IC_RB rows x 8 lanes of sums
 * in registers (IC_RB independent chains, ic_v8 each). */
#define IC_RB 8

/* S[r][tb..tb+W) = (q_r . K^T) * scale for r < IC_RB, for the lane blocks
 * tb = tb0, tb0 + W, ... that fit below nv; returns where it stopped. Rows of
 * query-like vectors q[r] [hs] against the [hs, Tp] tile kt of K^T, S
 * [IC_RB, Tp]. Every lane sums over i in order, as the reference does, so
 * the width (a vector type VT of W floats) changes no result. */
#define IC_DEF_SCORES(NAME, VT, W)                                                                        \
    static inline int NAME(float *restrict S, const float *const q[IC_RB], const float *restrict kt, int tb, \
                           int nv, int hs, int Tp, float scale) {                                           \
        for (; tb + (W) <= nv; tb += (W)) {                                                                 \
            VT acc[IC_RB];                                                                                  \
            _Pragma("GCC unroll 8") for (int r = 0; r < IC_RB; r++) acc[r] = (VT){0};                       \
            for (int i = 0; i < hs; i++) {                                                                  \
                VT k;                                                                                       \
                memcpy(&k, kt + (size_t)i * Tp + tb, sizeof k);                                             \
                _Pragma("GCC unroll 8") for (int r = 0; r < IC_RB; r++) acc[r] += q[r][i] * k;              \
            }                                                                                               \
            _Pragma("GCC unroll 8") for (int r = 0; r < IC_RB; r++) {                                       \
                const VT o = acc[r] * scale;                                                                \
                memcpy(S + (size_t)r * Tp + tb, &o, sizeof o);                                              \
            }                                                                                               \
        }                                                                                                   \
        return tb;                                                                                          \
    }
IC_DEF_SCORES(scores_cols8, ic_v8, 8)
#ifdef __AVX512F__
IC_DEF_SCORES(scores_cols16, ic_v16, 16)
#endif

/* S[r][0..nv) = (q_r . K^T) * scale for r < IC_RB; nv a multiple of 8: in
 * 16-lane blocks where the build targets AVX-512 (with pv_block's: one
 * thread's attention forward + backward at a small shard's shapes 247 ->
 * 201 us, at the standard model's 8.1 -> 6.0 ms: docs/performance.md), then
 * 8-lane ones. */
static inline void scores_block(float *restrict S, const float *const q[IC_RB], const float *restrict kt,
                                int nv, int hs, int Tp, float scale) {
    int tb = 0;
#ifdef __AVX512F__
    tb = scores_cols16(S, q, kt, tb, nv, hs, Tp, scale);
#endif
    scores_cols8(S, q, kt, tb, nv, hs, Tp, scale);
}

/* For r < R (<= IC_RB) and the column blocks ib = ib0, ib0 + W, ... that
 * fit below hs (returns where it stopped):
 *   dst[r*ds + i] (+)= sum over m = m0..m1-1, in order, of P[r*prs + m*pms] * V[m*vs + i]
 * (+= with accumulate, = without): rows of probabilities (or their
 * gradients) times rows of V, K, Q or dout, W columns (a vector type VT) at a
 * time; every lane sums over m in order, so the width changes no result. */
#define IC_DEF_PV(NAME, VT, W)                                                                             \
    static inline int NAME(float *dst, size_t ds, int accumulate, const float *const prow[IC_RB],          \
                           size_t pms, const float *V, size_t vs, int m0, int m1, int R, int ib, int hs) {  \
        for (; ib + (W) <= hs; ib += (W)) {                                                                 \
            VT acc[IC_RB];                                                                                  \
            _Pragma("GCC unroll 8") for (int r = 0; r < IC_RB; r++) acc[r] = (VT){0};                       \
            for (int m = m0; m < m1; m++) {                                                                 \
                VT v;                                                                                       \
                memcpy(&v, V + (size_t)m * vs + ib, sizeof v);                                              \
                _Pragma("GCC unroll 8") for (int r = 0; r < IC_RB; r++) acc[r] += prow[r][(size_t)m * pms] * v; \
            }                                                                                               \
            for (int r = 0; r < R; r++) {                                                                   \
                float *d = dst + (size_t)r * ds + ib;                                                       \
                VT o = acc[r];                                                                              \
                if (accumulate) {                                                                           \
                    VT old;                                                                                 \
                    memcpy(&old, d, sizeof old);                                                            \
                    o = old + acc[r];                                                                       \
                }                                                                                           \
                memcpy(d, &o, sizeof o);                                                                    \
            }                                                                                               \
        }                                                                                                   \
        return ib;                                                                                          \
    }
IC_DEF_PV(pv_cols8, ic_v8, 8)
#ifdef __AVX512F__
IC_DEF_PV(pv_cols16, ic_v16, 16)
#endif

/* For r < R (<= IC_RB) and i < hs:
 *   dst[r*ds + i] (+)= sum over m = m0..m1-1, in order, of P[r*prs + m*pms] * V[m*vs + i]
 * in 16-column blocks where the build targets AVX-512, then 8-column ones,
 * then one column at a time (head sizes that are not a multiple of 8). Rows
 * past R repeat row R-1 and are dropped, so nothing outside the arrays is
 * read. */
static inline void pv_block(float *dst, size_t ds, int accumulate, const float *P, size_t prs, size_t pms,
                            const float *V, size_t vs, int m0, int m1, int R, int hs) {
    const float *prow[IC_RB];
    for (int r = 0; r < IC_RB; r++) prow[r] = P + (size_t)(r < R ? r : R - 1) * prs;
    int ib = 0;
#ifdef __AVX512F__
    ib = pv_cols16(dst, ds, accumulate, prow, pms, V, vs, m0, m1, R, ib, hs);
#endif
    ib = pv_cols8(dst, ds, accumulate, prow, pms, V, vs, m0, m1, R, ib, hs);
    for (; ib < hs; ib++)
        for (int r = 0; r < R; r++) {
            float acc = 0.0f;
            for (int m = m0; m < m1; m++) acc += prow[r][(size_t)m * pms] * V[(size_t)m * vs + ib];
            float *d = dst + (size_t)r * ds + ib;
            *d = accumulate ? *d + acc : acc;
        }
}

/* max of r[0..n), n >= 1: eight running maxima, then across them (the same
 * value as a sequential scan: max does not depend on order) */
static inline float row_max(const float *restrict r, int n) {
    float m[IC_VEC];
    for (int j = 0; j < IC_VEC; j++) m[j] = r[0];
    int t = 0;
    for (; t + IC_VEC <= n; t += IC_VEC)
        #pragma omp simd
        for (int j = 0; j < IC_VEC; j++) m[j] = r[t + j] > m[j] ? r[t + j] : m[j];
    for (; t < n; t++) m[0] = r[t] > m[0] ? r[t] : m[0];
    float mx = m[0];
    for (int j = 1; j < IC_VEC; j++) mx = m[j] > mx ? m[j] : mx;
    return mx;
}

/* Attention works per (batch, head) on a small per-thread tile, K^T (or
 * V^T) [hs, Tp], and in blocks of IC_RB query rows: scores for a block of
 * rows eight keys at a time, then the block's output rows as a product of
 * its probability rows with V (pv_block); the backward likewise for dq, dK
 * (= dscores^T Q) and dV (= att^T dout). Entries above the diagonal are
 * stored as zeros, so a block runs over the keys of its last row and the
 * extra terms add exact zeros. Apart from the softmax normaliser (summed in
 * lanes, row_sum_lanes) no sum is reordered relative to ops_ref.c's order over keys (or queries). */
size_t ic_attention_tile_floats(int T, int C, int H) {
    const size_t Tp = (size_t)round_vec(T), hs = (size_t)(C / H);
    const size_t need = hs * Tp + (size_t)IC_RB * Tp;
    return (need + 15) / 16 * 16;
}

static void attn_forward_heads(float *out, float *att, const float *qkv, int T, int C, int H, float *kt, long bh0,
                               long bh1) {
    /* kt: this thread's K^T tile [hs, Tp] and a block of score rows [IC_RB, Tp] */
    const int hs = C / H, C3 = 3 * C, Tp = round_vec(T);
    const float scale = 1.0f / sqrtf((float)hs);
    for (long bh = bh0; bh < bh1; bh++) {
        const int b = (int)(bh / H), h = (int)(bh % H);
        float *restrict S = kt + (size_t)hs * Tp;
        const float *qkv_b = qkv + (size_t)b * T * C3;
        float *a_bh = att + ((size_t)b * H + h) * T * T;
        gather_transposed(kt, qkv_b + C + h * hs, T, Tp, hs, C3);
        for (int t0 = 0; t0 < T; t0 += IC_RB) {
            const int R = T - t0 < IC_RB ? T - t0 : IC_RB, nmax = t0 + R;
            const float *q[IC_RB];
            for (int r = 0; r < IC_RB; r++) q[r] = qkv_b + (size_t)(t0 + (r < R ? r : R - 1)) * C3 + h * hs;
            scores_block(S, q, kt, round_vec(nmax), hs, Tp, scale);
            for (int r = 0; r < R; r++) { // softmax of row t over keys 0..t
                const int n = t0 + r + 1, nv = round_vec(n);
                float *restrict sr = S + (size_t)r * Tp, *restrict a = a_bh + (size_t)(t0 + r) * T;
                const float mx = row_max(sr, n);
                #pragma omp simd
                for (int t2 = 0; t2 < nv; t2++) sr[t2] = t2 < n ? exp_neg(sr[t2] - mx) : 0.0f;
                const float inv = 1.0f / row_sum_lanes(sr, nv);
                #pragma omp simd
                for (int t2 = 0; t2 < n; t2++) a[t2] = sr[t2] * inv;
                for (int t2 = n; t2 < T; t2++) a[t2] = 0.0f;
            }
            // out rows t0.. = att rows @ V over keys 0..nmax-1
            pv_block(out + ((size_t)b * T + t0) * C + h * hs, (size_t)C, 0, a_bh + (size_t)t0 * T, (size_t)T,
                     1, qkv_b + 2 * C + h * hs, (size_t)C3, 0, nmax, R, hs);
        }
    }
}

void ic_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H, float *tiles,
                          int nthreads) {
    const size_t per_thread = ic_attention_tile_floats(T, C, H);
    IC_RANGES((long)B * H, 1, nthreads, tid, lo, hi,
              attn_forward_heads(out, att, qkv, T, C, H, tiles + (size_t)tid * per_thread, lo, hi));
}

static void attn_backward_heads(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att,
                                int T, int C, int H, int acc, float *vt, long bh0, long bh1) {
    /* vt: this thread's V^T [hs, Tp] and a block of rows [IC_RB, Tp] */
    const int hs = C / H, C3 = 3 * C, Tp = round_vec(T);
    const float scale = 1.0f / sqrtf((float)hs);
    for (long bh = bh0; bh < bh1; bh++) {
        const int b = (int)(bh / H), h = (int)(bh % H);
        float *restrict S = vt + (size_t)hs * Tp;
        const float *qkv_b = qkv + (size_t)b * T * C3, *dout_b = dout + (size_t)b * T * C;
        const float *a_bh = att + ((size_t)b * H + h) * T * T;
        float *da_bh = datt + ((size_t)b * H + h) * T * T, *dqkv_b = dqkv + (size_t)b * T * C3;
        gather_transposed(vt, qkv_b + 2 * C + h * hs, T, Tp, hs, C3);
        for (int t0 = 0; t0 < T; t0 += IC_RB) {
            const int R = T - t0 < IC_RB ? T - t0 : IC_RB, nmax = t0 + R;
            // through out = att @ v: S[r][t2] = go_t . v_t2
            const float *go[IC_RB];
            for (int r = 0; r < IC_RB; r++) go[r] = dout_b + (size_t)(t0 + (r < R ? r : R - 1)) * C + h * hs;
            scores_block(S, go, vt, round_vec(nmax), hs, Tp, 1.0f);
            // through softmax: dpre = a * (da - sum(a*da)), then the scaled dot product
            for (int r = 0; r < R; r++) {
                const int n = t0 + r + 1;
                const float *restrict a = a_bh + (size_t)(t0 + r) * T, *restrict sr = S + (size_t)r * Tp;
                float *restrict da = da_bh + (size_t)(t0 + r) * T;
                float dot = 0.0f;
                for (int t2 = 0; t2 < n; t2++) dot += a[t2] * sr[t2];
                #pragma omp simd
                for (int t2 = 0; t2 < n; t2++) da[t2] = a[t2] * (sr[t2] - dot) * scale;
                for (int t2 = n; t2 < T; t2++) da[t2] = 0.0f;
            }
            // dq rows t0.. += dscores rows @ K over keys 0..nmax-1
            pv_block(dqkv_b + (size_t)t0 * C3 + h * hs, (size_t)C3, acc, da_bh + (size_t)t0 * T, (size_t)T, 1,
                     qkv_b + C + h * hs, (size_t)C3, 0, nmax, R, hs);
        }
        // dk_t2 += sum_{t >= t2} dscores[t][t2] q_t; dv_t2 += sum_{t >= t2} att[t][t2] go_t
        for (int t0 = 0; t0 < T; t0 += IC_RB) {
            const int R = T - t0 < IC_RB ? T - t0 : IC_RB;
            pv_block(dqkv_b + (size_t)t0 * C3 + C + h * hs, (size_t)C3, acc, da_bh + t0, 1, (size_t)T,
                     qkv_b + h * hs, (size_t)C3, t0, T, R, hs);
            pv_block(dqkv_b + (size_t)t0 * C3 + 2 * C + h * hs, (size_t)C3, acc, a_bh + t0, 1, (size_t)T,
                     dout_b + h * hs, (size_t)C, t0, T, R, hs);
        }
    }
}

void ic_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, const float *att, int B,
                           int T, int C, int H, ic_grad_mode mode, float *tiles, int nthreads) {
    const int acc = mode != IC_SET; /* every element of dqkv is written by exactly one pv_block */
    const size_t per_thread = ic_attention_tile_floats(T, C, H);
    // Each (b,h) touches only its own head's channels of dqkv: no races.
    IC_RANGES((long)B * H, 1, nthreads, tid, lo, hi,
              attn_backward_heads(dqkv, datt, dout, qkv, att, T, C, H, acc, tiles + (size_t)tid * per_thread, lo, hi));
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

/* gelu(x) from th = tanh_fast(GELU_K (x + 0.044715 x^3)): one expression for
 * the forward and the backward's recomputation, so both give the same bits */
#pragma omp declare simd
static inline float gelu_of(float x, float th) { return 0.5f * x * (1.0f + th); }

#pragma omp declare simd
static inline float gelu_tanh(float x) { return tanh_fast(GELU_K * (x + 0.044715f * x * x * x)); }

static void gelu_forward_range(float *restrict out, const float *restrict inp, long i0, long i1) {
    #pragma omp simd
    for (long i = i0; i < i1; i++) {
        float x = inp[i];
        out[i] = gelu_of(x, gelu_tanh(x));
    }
}

void ic_gelu_forward(float *out, const float *inp, int N) {
    IC_RANGES(N, N > IC_PAR_MIN, ic_max_threads(), tid, lo, hi, gelu_forward_range(out, inp, lo, hi));
}

/* out (may be dout itself: each element is read before it is written, so
 * the pointers carry no restrict) gets gelu(inp) when non-NULL */
static void gelu_backward_range(float *restrict dinp, float *out, const float *restrict inp, const float *dout,
                                float keep, long i0, long i1) {
    if (out) {
        #pragma omp simd
        for (long i = i0; i < i1; i++) {
            float x = inp[i], th = gelu_tanh(x), dy = dout[i];
            float sech2 = 1.0f - th * th;
            float g = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
            const float prev = keep != 0.0f ? dinp[i] : 0.0f;
            dinp[i] = prev + g * dy;
            out[i] = gelu_of(x, th);
        }
        return;
    }
    #pragma omp simd
    for (long i = i0; i < i1; i++) {
        float x = inp[i], th = gelu_tanh(x);
        float sech2 = 1.0f - th * th;
        float g = 0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        const float prev = keep != 0.0f ? dinp[i] : 0.0f;
        dinp[i] = prev + g * dout[i];
    }
}

void ic_gelu_backward(float *dinp, float *out, const float *inp, const float *dout, int N, ic_grad_mode mode) {
    const float keep = mode == IC_SET ? 0.0f : 1.0f; /* 0 * NaN would be NaN: select, not multiply */
    IC_RANGES(N, N > IC_PAR_MIN, ic_max_threads(), tid, lo, hi,
              gelu_backward_range(dinp, out, inp, dout, keep, lo, hi));
}

/* ---------------- residual, position embedding ---------------- */

/* out[i] = a[i] + b[i], or with out == a, a[i] += b[i]: element-wise, so
 * `omp simd` (gcc -O2 vectorises none of these loops by itself: the arrays
 * might overlap) gives the same bits. */
static void add_range(float *out, const float *a, const float *b, long i0, long i1) {
    #pragma omp simd
    for (long i = i0; i < i1; i++) out[i] = a[i] + b[i];
}

void ic_residual_forward(float *out, const float *a, const float *b, int N) {
    IC_RANGES(N, N > IC_PAR_MIN, ic_max_threads(), tid, lo, hi, add_range(out, a, b, lo, hi));
}

void ic_residual_backward(float *da, float *db, const float *dout, int N) {
    if (da) IC_RANGES(N, N > IC_PAR_MIN, ic_max_threads(), tid, lo, hi, add_range(da, da, dout, lo, hi));
    if (db) IC_RANGES(N, N > IC_PAR_MIN, ic_max_threads(), tid, lo, hi, add_range(db, db, dout, lo, hi));
}

/* rows b0..b1-1 of out [B, TC] = inp + wpe [TC] */
static void posembed_rows(float *out, const float *inp, const float *wpe, size_t TC, long b0, long b1) {
    for (long b = b0; b < b1; b++) add_range(out + b * TC, inp + b * TC, wpe, 0, (long)TC);
}

/* dwpe[j] += sum over b, in order, of dout[b, j] for j in j0..j1-1 */
static void posembed_wgrad(float *dwpe, const float *dout, int B, size_t TC, long j0, long j1) {
    for (long j = j0; j < j1; j++) {
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += dout[b * TC + j];
        dwpe[j] += s;
    }
}

void ic_posembed_forward(float *out, const float *inp, const float *wpe, int B, int T, int C) {
    const size_t TC = (size_t)T * C;
    IC_RANGES(B, (long)B * T * C > IC_PAR_MIN, ic_max_threads(), tid, lo, hi, posembed_rows(out, inp, wpe, TC, lo, hi));
}

void ic_posembed_backward(float *dinp, float *dwpe, const float *dout, int B, int T, int C) {
    const size_t TC = (size_t)T * C;
    const int par = (long)B * T * C > IC_PAR_MIN;
    if (dinp) IC_RANGES((long)(B * TC), par, ic_max_threads(), tid, lo, hi, add_range(dinp, dinp, dout, lo, hi));
    if (dwpe) IC_RANGES((long)TC, par, ic_max_threads(), tid, lo, hi, posembed_wgrad(dwpe, dout, B, TC, lo, hi));
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
