/* gemm.c: the matrix products of gemm.h on oneDNN (matmul primitive) or
 * OpenBLAS (sgemm). */
#include "gemm.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef ICLAB_DNNL
#include <dnnl.h>
#endif

const char *ic_precision_name(ic_precision p) { return p == IC_PREC_BF16 ? "bf16" : "fp32"; }

int ic_precision_parse(const char *s, ic_precision *p) {
    if (!strcmp(s, "fp32")) *p = IC_PREC_FP32;
    else if (!strcmp(s, "bf16")) *p = IC_PREC_BF16;
    else return -1;
    return 0;
}

int ic_gemm_have_dnnl(void) {
#ifdef ICLAB_DNNL
    return 1;
#else
    return 0;
#endif
}

int ic_precision_check(ic_precision p, const ic_cpu *cpu, ic_err *err) {
    if (p == IC_PREC_FP32) return 0;
    ic_cpu here;
    if (!cpu) {
        ic_cpu_detect(&here);
        cpu = &here;
    }
    if (!cpu->avx512_bf16 && !cpu->amx_bf16)
        return ic_errf(err, "precision bf16 needs a CPU with AVX512_BF16 or AMX-BF16; this one (%s) has neither: "
                            "use --precision fp32",
                       cpu->brand[0] ? cpu->brand : "unknown CPU");
    if (!ic_gemm_have_dnnl())
        return ic_errf(err, "precision bf16 needs oneDNN, and this iclab was built without it (make DNNL=0): "
                            "use --precision fp32");
    return 0;
}

/* Which library runs each fp32 product, by measurement on the Zen 5 machine
 * of docs/performance.md ("oneDNN and bf16": per-product table, small model
 * on 1 thread and standard on 2): oneDNN's brgemm kernels beat OpenBLAS
 * (Haswell kernels, as this workplace sets them, and Cooperlake) at every
 * product of the training step. bf16 products exist only in oneDNN. */
ic_gemm_backend ic_gemm_backend_for(ic_gemm_kind kind, ic_precision p) {
    (void)kind;
    if (p == IC_PREC_BF16) return IC_GEMM_DNNL;
    return ic_gemm_have_dnnl() ? IC_GEMM_DNNL : IC_GEMM_BLAS;
}

/* ---------------- bf16 rounding ---------------- */

/* fp32 bits -> bf16 bits, to nearest, ties to even; a NaN keeps a set
 * quiet bit (rounding could otherwise carry it into an infinity). */
static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    const uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r);
}

/* AVX512_BF16's conversion (vcvtneps2bf16: nearest-even, NaN kept quiet, the
 * same results as f32_to_bf16 except that it flushes subnormal inputs to
 * zero, which products tolerate and files must not: ic_bf16_bits) is ~4x faster than the portable loop, which
 * gcc vectorises poorly; bf16 products run only where the CPU has it
 * (ic_precision_check), but a test may force them elsewhere. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx512f,avx512bf16"))) static void to_bf16_avx512(uint16_t *restrict out,
                                                                          const float *restrict x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
        _mm256_storeu_si256((__m256i *)(out + i), (__m256i)h);
    }
    for (; i < n; i++) out[i] = f32_to_bf16(x[i]);
}
#endif

static void to_bf16(uint16_t *restrict out, const float *restrict x, size_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512bf16")) {
        to_bf16_avx512(out, x, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) out[i] = f32_to_bf16(x[i]);
}

void ic_bf16_round(float *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)f32_to_bf16(x[i]) << 16;
        memcpy(&out[i], &u, sizeof u);
    }
}

void ic_bf16_bits(uint16_t *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = f32_to_bf16(x[i]);
}

/* ---------------- OpenBLAS ---------------- */

static void blas_run(int ta, int tb, int M, int N, int K, const float *A, const float *B, const float *bias,
                     int beta, float *C) {
    if (bias) {
        for (int i = 0; i < M; i++) memcpy(C + (size_t)i * N, bias, sizeof(float) * (size_t)N);
        beta = 1;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
                ta ? M : K, B, tb ? K : N, beta ? 1.0f : 0.0f, C, N);
}

/* ---------------- oneDNN ---------------- */

static int current_threads(void) {
#ifdef _OPENMP
    return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

struct ic_gemm_prim {
    /* key */
    int prec, ta, tb, M, N, K, has_bias, beta, nthr;
#ifdef ICLAB_DNNL
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, bias, dst, scratch; /* scratch: a view of the ic_gemm's one scratchpad */
    size_t scratch_bytes;
    char impl[64];
#endif
};

static void fail(ic_gemm *g, const char *fmt, int a, int b, int c, const char *what) {
    if (g->failed) return;
    g->failed = 1;
    ic_errf(&g->err, fmt, a, b, c, what);
}

#ifdef ICLAB_DNNL
static void prim_free(struct ic_gemm_prim *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->src) dnnl_memory_destroy(p->src);
    if (p->wei) dnnl_memory_destroy(p->wei);
    if (p->bias) dnnl_memory_destroy(p->bias);
    if (p->dst) dnnl_memory_destroy(p->dst);
    if (p->scratch) dnnl_memory_destroy(p->scratch);
}

static int ensure_engine(ic_gemm *g) {
    if (g->engine) return 0;
    dnnl_engine_t e;
    dnnl_stream_t s;
    if (dnnl_engine_create(&e, dnnl_cpu, 0) != dnnl_success) return -1;
    if (dnnl_stream_create(&s, e, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(e);
        return -1;
    }
    g->engine = e;
    g->stream = s;
    return 0;
}

/* Makes the primitive of key p (its key fields filled in); -1 on failure. */
static int prim_make(ic_gemm *g, struct ic_gemm_prim *p) {
    const dnnl_data_type_t in = p->prec == IC_PREC_BF16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_dim_t M = p->M, N = p->N, K = p->K;
    dnnl_memory_desc_t src_md, wei_md, dst_md, bias_md;
    const dnnl_dims_t src_dims = {M, K}, wei_dims = {K, N}, dst_dims = {M, N}, bias_dims = {1, N};
    const dnnl_dims_t src_str = {p->ta ? 1 : K, p->ta ? M : 1}, wei_str = {p->tb ? 1 : N, p->tb ? K : 1},
                      dst_str = {N, 1}, bias_str = {N, 1};
    if (dnnl_memory_desc_init_by_strides(&src_md, 2, src_dims, in, src_str) ||
        dnnl_memory_desc_init_by_strides(&wei_md, 2, wei_dims, in, wei_str) ||
        dnnl_memory_desc_init_by_strides(&dst_md, 2, dst_dims, dnnl_f32, dst_str) ||
        dnnl_memory_desc_init_by_strides(&bias_md, 2, bias_dims, dnnl_f32, bias_str))
        return -1;
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, &src_md, &wei_md, p->has_bias ? &bias_md : NULL, &dst_md)) return -1;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    if (dnnl_primitive_attr_create(&attr) || dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user))
        goto out;
    if (p->beta) { /* C += : a sum post-op reads the old C */
        if (dnnl_post_ops_create(&ops) || dnnl_post_ops_append_sum(ops, 1.0f) ||
            dnnl_primitive_attr_set_post_ops(attr, ops))
            goto out;
    }
    if (dnnl_primitive_desc_create(&pd, &md, attr, (dnnl_engine_t)g->engine, NULL)) goto out;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) || !impl) impl = "?";
    snprintf(p->impl, sizeof p->impl, "%s", impl);
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    /* One scratchpad per ic_gemm, as large as its largest primitive's: the
     * primitives of a workspace run one at a time, and a scratchpad each
     * cost 3 MB (small model) to 14 MB (standard) per step for nothing. */
    p->scratch_bytes = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (p->scratch_bytes) {
        if (p->scratch_bytes > g->scratch_cap) {
            const size_t cap = (p->scratch_bytes + 63) & ~(size_t)63;
            void *buf = aligned_alloc(64, cap);
            if (!buf) goto out;
            free(g->scratch);
            g->scratch = buf;
            g->scratch_cap = cap;
        }
        if (dnnl_memory_create(&p->scratch, sp, (dnnl_engine_t)g->engine, DNNL_MEMORY_NONE)) goto out;
    }
    dnnl_engine_t e = (dnnl_engine_t)g->engine;
    if (dnnl_memory_create(&p->src, &src_md, e, DNNL_MEMORY_NONE) ||
        dnnl_memory_create(&p->wei, &wei_md, e, DNNL_MEMORY_NONE) ||
        dnnl_memory_create(&p->dst, &dst_md, e, DNNL_MEMORY_NONE) ||
        (p->has_bias && dnnl_memory_create(&p->bias, &bias_md, e, DNNL_MEMORY_NONE)))
        goto out;
    if (dnnl_primitive_create(&p->prim, pd)) goto out;
    rc = 0;
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (rc) {
        prim_free(p);
        memset(&p->prim, 0, sizeof *p - offsetof(struct ic_gemm_prim, prim));
    }
    return rc;
}
#endif

/* The cached primitive of this key, made on first use; NULL on failure
 * (g->err says why). */
static struct ic_gemm_prim *prim_get(ic_gemm *g, int ta, int tb, int M, int N, int K, int has_bias, int beta) {
    const int nthr = current_threads();
    for (int i = 0; i < g->n_prims; i++) {
        struct ic_gemm_prim *p = &g->prims[i];
        if (p->prec == (int)g->prec && p->ta == ta && p->tb == tb && p->M == M && p->N == N && p->K == K &&
            p->has_bias == has_bias && p->beta == beta && p->nthr == nthr)
            return p;
    }
#ifdef ICLAB_DNNL
    if (ensure_engine(g)) {
        fail(g, "oneDNN: no CPU engine for a %dx%dx%d %s product", M, N, K, ic_precision_name(g->prec));
        return NULL;
    }
    if (g->n_prims == g->cap_prims) {
        const int cap = g->cap_prims ? 2 * g->cap_prims : 16;
        struct ic_gemm_prim *np = realloc(g->prims, sizeof *np * (size_t)cap);
        if (!np) {
            fail(g, "out of memory caching the oneDNN kernel of a %dx%dx%d %s product", M, N, K,
                 ic_precision_name(g->prec));
            return NULL;
        }
        g->prims = np;
        g->cap_prims = cap;
    }
    struct ic_gemm_prim *p = &g->prims[g->n_prims];
    memset(p, 0, sizeof *p);
    *p = (struct ic_gemm_prim){.prec = (int)g->prec, .ta = ta, .tb = tb, .M = M, .N = N, .K = K,
                               .has_bias = has_bias, .beta = beta, .nthr = nthr};
    if (prim_make(g, p)) {
        fail(g, "oneDNN could not make a kernel for the %dx%dx%d %s product (out of memory?)", M, N, K,
             ic_precision_name(g->prec));
        return NULL;
    }
    g->n_prims++;
    return p;
#else
    (void)has_bias;
    (void)beta;
    fail(g, "a %dx%dx%d %s product needs oneDNN, and this iclab was built without it", M, N, K,
         ic_precision_name(g->prec));
    return NULL;
#endif
}

void ic_gemm_free(ic_gemm *g) {
#ifdef ICLAB_DNNL
    for (int i = 0; i < g->n_prims; i++) prim_free(&g->prims[i]);
    if (g->stream) dnnl_stream_destroy((dnnl_stream_t)g->stream);
    if (g->engine) dnnl_engine_destroy((dnnl_engine_t)g->engine);
#endif
    free(g->prims);
    free(g->stage);
    free(g->scratch);
    const ic_precision p = g->prec;
    memset(g, 0, sizeof *g);
    g->prec = p;
}

void ic_gemm_set_precision(ic_gemm *g, ic_precision p) { g->prec = p; }

int ic_gemm_take_error(ic_gemm *g, ic_err *err) {
    if (!g || !g->failed) return 0;
    g->failed = 0;
    return ic_errf(err, "%s", g->err.msg);
}

static int stage_ensure(ic_gemm *g, size_t n) {
    if (g->stage_cap >= n) return 0;
    uint16_t *s = malloc(sizeof *s * n);
    if (!s) return -1;
    free(g->stage);
    g->stage = s;
    g->stage_cap = n;
    return 0;
}

void ic_gemm_run(ic_gemm *g, ic_gemm_kind kind, int ta, int tb, int M, int N, int K, const float *A,
                 const float *B, const float *bias, int beta, float *C) {
    if (M <= 0 || N <= 0) return;
    const ic_precision prec = g ? g->prec : IC_PREC_FP32;
    const ic_gemm_backend be = g && g->force_backend ? (ic_gemm_backend)(g->force_backend - 1)
                                                     : ic_gemm_backend_for(kind, prec);
    if (!g || (prec == IC_PREC_FP32 && be == IC_GEMM_BLAS)) {
        blas_run(ta, tb, M, N, K, A, B, bias, beta, C);
        return;
    }
    if (K <= 0) { /* an empty sum: oneDNN refuses zero dimensions */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * N + j] = (beta ? C[(size_t)i * N + j] : 0.0f) + (bias ? bias[j] : 0.0f);
        return;
    }
    if (g->failed) return; /* the pass fails anyway: do not pile up errors */
    struct ic_gemm_prim *p = prim_get(g, ta, tb, M, N, K, bias != NULL, beta);
    if (!p) return;
#ifdef ICLAB_DNNL
    const void *a = A, *b = B;
    if (prec == IC_PREC_BF16) {
        const size_t na = (size_t)M * K, nb = (size_t)K * N;
        if (stage_ensure(g, na + nb)) {
            fail(g, "out of memory for the bf16 operands of a %dx%dx%d %s product", M, N, K, "bf16");
            return;
        }
        to_bf16(g->stage, A, na);
        to_bf16(g->stage + na, B, nb);
        a = g->stage;
        b = g->stage + na;
    }
    dnnl_memory_set_data_handle(p->src, (void *)a);
    dnnl_memory_set_data_handle(p->wei, (void *)b);
    dnnl_memory_set_data_handle(p->dst, C);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->wei}, {DNNL_ARG_DST, p->dst}};
    int nargs = 3;
    if (bias) {
        dnnl_memory_set_data_handle(p->bias, (void *)bias);
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, p->bias};
    }
    if (p->scratch) {
        dnnl_memory_set_data_handle(p->scratch, g->scratch);
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch};
    }
    if (dnnl_primitive_execute(p->prim, (dnnl_stream_t)g->stream, nargs, args) ||
        dnnl_stream_wait((dnnl_stream_t)g->stream))
        fail(g, "oneDNN failed to run the %dx%dx%d %s product", M, N, K, ic_precision_name(prec));
#endif
}

void ic_gemm_impl_name(ic_gemm *g, ic_gemm_kind kind, int ta, int tb, int M, int N, int K, int has_bias, int beta,
                       char *buf, int len) {
    const ic_gemm_backend be = g->force_backend ? (ic_gemm_backend)(g->force_backend - 1)
                                                : ic_gemm_backend_for(kind, g->prec);
    if (g->prec == IC_PREC_FP32 && be == IC_GEMM_BLAS) {
        snprintf(buf, (size_t)len, "openblas sgemm");
        return;
    }
    struct ic_gemm_prim *p = prim_get(g, ta, tb, M, N, K, has_bias, beta);
#ifdef ICLAB_DNNL
    snprintf(buf, (size_t)len, "%s", p ? p->impl : "(failed)");
#else
    (void)p;
    snprintf(buf, (size_t)len, "(no oneDNN)");
#endif
}
