/* testutil.h: small helpers shared by the test binaries (linked into each).
 *
 *  - a deterministic RNG (splitmix64) whose state the caller owns;
 *  - float <-> double array conversion, max-abs / max-abs-diff;
 *  - a central finite-difference gradient checker;
 *  - a float-vs-double closeness check for parity tests;
 *  - a safetensors metadata editor (tampered checkpoints).
 * The checkers print what fails (to stderr) and return a count, so a test
 * asserts on the count. Every name is prefixed tu_. */
#ifndef ICLAB_TESTUTIL_H
#define ICLAB_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* ---------------- RNG ---------------- */
typedef struct {
    uint64_t s;
} tu_rng;

tu_rng tu_rng_make(uint64_t seed);
uint64_t tu_rng_u64(tu_rng *r);
/* uniform in [-1, 1) */
double tu_rng_uniform(tu_rng *r);
/* x[i] = offset + scale * uniform, i < n */
void tu_fill(tu_rng *r, double *x, size_t n, double scale, double offset);
void tu_fill_f(tu_rng *r, float *x, size_t n, double scale, double offset);

/* the float whose IEEE-754 bits are u */
float tu_f32_of_bits(uint32_t u);

/* ---------------- allocation (abort on failure, zero-filled) ---------------- */
double *tu_dalloc(size_t n);
float *tu_falloc(size_t n);

/* ---------------- arrays ---------------- */
void tu_to_float(float *dst, const double *src, size_t n);
void tu_to_double(double *dst, const float *src, size_t n);
/* new float/double copy of a double/float array (free() it) */
float *tu_float_copy(const double *src, size_t n);
double *tu_double_copy(const float *src, size_t n);
void tu_dset(double *x, size_t n, double v);
void tu_fset(float *x, size_t n, float v);
double tu_dot(const double *a, const double *b, size_t n);
double tu_max_abs(const double *x, size_t n);
double tu_max_abs_f(const float *x, size_t n);
double tu_max_abs_diff(const double *a, const double *b, size_t n);
double tu_max_abs_diff_fd(const float *a, const double *b, size_t n);

/* ---------------- finite differences ---------------- */
/* Scalar objective of the current contents of the arrays it closes over. */
typedef double (*tu_objective)(void *ctx);

/* For each i < n: f = (L(x + eps e_i) - L(x - eps e_i)) / (2 eps), with x[i]
 * restored exactly afterwards, and checks |analytic[i] - f| <= tol * max(1, |f|).
 * Prints the first few violations (labelled with name) and the worst error.
 * Returns the number of violations; *max_err (if non-NULL) gets the largest
 * |analytic - f| / max(1, |f|). */
int tu_fd_check(const char *name, tu_objective L, void *ctx, double *x, size_t n,
                const double *analytic, double eps, double tol, double *max_err);

/* ---------------- closeness ---------------- */
/* Parity of a float result with its double reference:
 * max_i |got[i] - ref[i]| <= rtol * (1 + max_i |ref[i]|). Prints on failure.
 * Returns 1 if close, 0 if not. */
int tu_close_fd(const char *name, const float *got, const double *ref, size_t n, double rtol);
/* Same for two double arrays. */
int tu_close_dd(const char *name, const double *got, const double *ref, size_t n, double rtol);


/* A scratch directory per test binary: pass tu_tmp_setup / tu_tmp_teardown as
 * cmocka's group setup and teardown; tu_tmp_path("x") is "<dir>/x" (four
 * rotating buffers, so up to four paths are valid at once). */
int tu_tmp_setup(void **state);
int tu_tmp_teardown(void **state);
const char *tu_tmp_dir(void);
const char *tu_tmp_path(const char *name);

/* ---------------- safetensors files ---------------- */
/* Copies the safetensors file src to dst (may be the same path) with its
 * __metadata__ entry key set to val (added if absent), or removed when val is
 * NULL; the tensors are copied unchanged. Aborts (with a message) on failure. */
void tu_rewrite_meta(const char *src, const char *dst, const char *key, const char *val);

#endif
