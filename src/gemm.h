/* gemm.h: the matrix products of the model's linear maps (ops.h's
 * ic_linear_forward / ic_linear_backward), in fp32 or in bf16 mixed
 * precision (bf16 operands, fp32 accumulation and fp32 results).
 *
 * A product runs on oneDNN's matmul primitive (Debian's libdnnl, built in
 * unless `make DNNL=0`) or on OpenBLAS's sgemm, whichever measured faster for
 * that kind of product on this project's machines (docs/performance.md, "oneDNN
 * and bf16"; the choice is ic_gemm_backend_for below). oneDNN compiles a
 * kernel per shape: an ic_gemm keeps the primitives it made (one cache per
 * workspace, so per training shard: nothing global), one scratchpad that
 * its primitives share (they run one at a time), and a bf16 staging buffer
 * for the converted operands. All grow on the first product of a shape and
 * are then reused, so a step after the first allocates nothing.
 *
 * Threads: a primitive runs on the OpenMP threads of the caller. Inside a
 * training shard (one shard per thread, ic_model_train_pass) oneDNN sees that
 * it is called from a parallel region and runs on the calling thread alone,
 * as OpenBLAS does there (ic_blas_set_threads(1)); outside one (inference,
 * a one-shard pass) it uses omp_get_max_threads() threads. The thread count
 * is part of a primitive's key.
 *
 * Errors: a product returns nothing (the kernels of ops.h are void); when
 * oneDNN fails (out of memory, a shape it cannot compile) the product is
 * skipped, the first error is kept in the ic_gemm and the pass that ran it
 * returns it (ic_gemm_take_error). */
#ifndef ICLAB_GEMM_H
#define ICLAB_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "err.h"

typedef enum { IC_PREC_FP32 = 0, IC_PREC_BF16 = 1 } ic_precision;

/* "fp32" / "bf16" <-> ic_precision; ic_precision_parse returns -1 on anything else. */
const char *ic_precision_name(ic_precision p);
int ic_precision_parse(const char *s, ic_precision *p);

/* 0 when the CPU runs bf16 products (AVX512_BF16 or AMX-BF16, and a build
 * with oneDNN); else -1 with one line saying why. The CPU is passed in so
 * that tests can pretend to be another machine; NULL: this machine's
 * (ic_cpu_detect). */
int ic_precision_check(ic_precision p, const ic_cpu *cpu, ic_err *err);

typedef enum { IC_GEMM_BLAS = 0, IC_GEMM_DNNL = 1 } ic_gemm_backend;

/* The product kinds of a linear map (ops.h): out = inp @ W (+ bias),
 * dinp (+)= dout @ W^T, dW += inp^T @ dout. */
typedef enum { IC_GEMM_FWD = 0, IC_GEMM_BWD_DATA = 1, IC_GEMM_BWD_WEIGHTS = 2 } ic_gemm_kind;

/* Which library runs a product of this kind and precision (bf16: always
 * oneDNN; fp32: as measured, see gemm.c). */
ic_gemm_backend ic_gemm_backend_for(ic_gemm_kind kind, ic_precision p);

struct ic_gemm_prim; /* a cached oneDNN primitive (gemm.c) */

/* Zero-initialised = fp32, empty cache. */
typedef struct {
    ic_precision prec;
    int force_backend;          /* 0: ic_gemm_backend_for; 1 + ic_gemm_backend: that one (benchmarks, tests) */
    void *engine, *stream;      /* oneDNN's CPU engine and stream, made on first use */
    struct ic_gemm_prim *prims; /* [n_prims] */
    int n_prims, cap_prims;
    void *scratch;              /* oneDNN's scratchpad, shared by the primitives [scratch_cap bytes] */
    size_t scratch_cap;
    uint16_t *stage;            /* bf16 operands [stage_cap] */
    size_t stage_cap;
    int failed;                 /* a product failed: err holds the first error */
    ic_err err;
} ic_gemm;

void ic_gemm_free(ic_gemm *g);
/* Sets the precision of the products after it (a cache made for the other
 * precision stays: its keys include the precision). */
void ic_gemm_set_precision(ic_gemm *g, ic_precision p);
/* 0, or -1 and the first failed product's error (then cleared). */
int ic_gemm_take_error(ic_gemm *g, ic_err *err);

/* C[M,N] = (beta 0) or += (beta 1) op(A) @ op(B) (+ bias[N] when bias is
 * non-NULL; only with beta 0). Row-major, contiguous: op(A) is A[M,K]
 * (ta = 0) or A[K,M] transposed (ta = 1), op(B) is B[K,N] (tb = 0) or
 * B[N,K] transposed (tb = 1). With beta 0, C is never read. g NULL: fp32 on
 * OpenBLAS. In bf16 A and B are rounded to bf16 (to nearest, ties to even)
 * and the products summed in fp32. */
void ic_gemm_run(ic_gemm *g, ic_gemm_kind kind, int ta, int tb, int M, int N, int K, const float *A,
                 const float *B, const float *bias, int beta, float *C);

/* Round to bf16 (nearest, ties to even; NaN stays NaN) and back: what a bf16
 * product reads. x may equal out. */
void ic_bf16_round(float *out, const float *x, size_t n);
/* The same rounding as bf16 bits (little-endian-independent values): out[i]
 * is the upper half of the fp32 bits of ic_bf16_round(x[i]). The portable
 * loop, not AVX512_BF16's conversion, which flushes subnormal inputs to zero:
 * files written with it (checkpoint.c) are the same on every CPU. */
void ic_bf16_bits(uint16_t *out, const float *x, size_t n);

/* The name of the kernel oneDNN chose for a product (e.g. "brg:avx512_core_bf16"),
 * or "openblas sgemm"; for benchmarks. buf gets at most len bytes. */
void ic_gemm_impl_name(ic_gemm *g, ic_gemm_kind kind, int ta, int tb, int M, int N, int K, int has_bias, int beta,
                       char *buf, int len);

/* 1 when the build has oneDNN. */
int ic_gemm_have_dnnl(void);

#endif
