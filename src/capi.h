/* capi.h: iclab's flat, stable C API (installed as <iclab/iclab.h>).
 *
 * Made to be called from other languages (Python's ctypes, python/iclab/)
 * and from C programs that link the installed library: no struct is passed
 * by value, every object is an opaque handle, arrays are plain row-major
 * float32 buffers the caller owns, callbacks take scalars only.
 *
 * Errors: every fallible function takes (errbuf, errlen) last and, on
 * failure, returns -1 (or NULL) and writes the library's one-line message
 * into errbuf (truncated to errlen - 1 bytes; errbuf may be NULL). Nothing
 * here prints or exits.
 *
 * Threads: a model handle holds its activation buffers, so one handle must
 * not be used by two threads at once; distinct handles may. The library
 * itself runs OpenMP and OpenBLAS threads (iclab_set_threads).
 *
 * Prompts: xs [B,n,d], ys [B,n] (ys[b,i] is the target of xs[b,i]); every
 * value finite, B >= 1, n >= 1. Predictions pred [B,n]: the prediction of
 * y_i from the pairs before it and x_i. The lower-level library (model.h,
 * probe.h, ...) is installed next to this header as <iclab/NAME.h>; it may
 * change between versions, this header only grows. */
#ifndef ICLAB_CAPI_H
#define ICLAB_CAPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ICLAB_VERSION "0.1.0"
#define ICLAB_API_VERSION 1

/* "0.1.0" (the library's version, for checking a header against the
 * library actually loaded). */
const char *iclab_version(void);
/* ICLAB_API_VERSION of the library. */
int iclab_api_version(void);

/* Sets the OpenMP and OpenBLAS thread counts (n <= 0: leaves them). */
void iclab_set_threads(int n);

/* ---------------- models ---------------- */

typedef struct iclab_model iclab_model;

/* Loads a checkpoint (.safetensors from iclab or a converted Garg et al.
 * file; n_head 0: from the metadata, else needed for a file without
 * metadata). NULL on error. */
iclab_model *iclab_model_load(const char *path, int n_head, char *errbuf, size_t errlen);
void iclab_model_free(iclab_model *m);

/* The model's shape: any pointer may be NULL. */
void iclab_model_shape(const iclab_model *m, int *n_dims, int *n_positions, int *n_embd, int *n_layer,
                       int *n_head);
/* The stored schedule: its body in the schedule language into buf (may be
 * NULL), and its loops (may be NULL). Returns the length of the text. */
int iclab_model_schedule(const iclab_model *m, char *buf, size_t len, int *loops);
/* The notice about ignored tensors from loading ("" if none). */
const char *iclab_model_notice(const iclab_model *m);
/* Parameter tensor `name` (ic_param_name: "read_in_w", ..., "lnf_w",
 * "lnf_b", "read_out_w", "read_out_b"; per-block tensors stacked [n_layer, ...],
 * layouts in model.h): a pointer into the model's parameters and its
 * element count in *count. NULL (and errbuf) for an unknown name. */
const float *iclab_model_param(const iclab_model *m, const char *name, size_t *count, char *errbuf, size_t errlen);

/* Runs the model on B prompts without gradients and writes pred [B,n]
 * (the last loop's predictions), exactly as `iclab predict`:
 * schedule NULL or "" runs the model's own schedule, otherwise the schedule
 * language relative to the model's body ("0,1,1,2", "dup(1)", "skip(2)");
 * loops > 0 overrides the loop count (loss_loops and grad_loops lowered to
 * it); batch prompts per forward (<= 0: 256, predict's default; another
 * value may differ at float-rounding level). */
int iclab_model_predict(iclab_model *m, const float *xs, const float *ys, int B, int n, int d, const char *schedule,
                        int loops, int batch, float *pred, char *errbuf, size_t errlen);

/* ---------------- residual capture (probe.h) ---------------- */

typedef struct iclab_capture iclab_capture;

/* The residual stream at every state of the forward (probe.h's capture): a
 * schedule of L loops with S sequential steps has L*(S+1) states, state
 * l*(S+1) the input of loop l and state l*(S+1)+j+1 the residual after step
 * j. parts != 0 also keeps each step's attention and MLP outputs. schedule,
 * loops and batch as in iclab_model_predict. NULL on error. */
iclab_capture *iclab_model_capture(iclab_model *m, const float *xs, const float *ys, int B, int n, int d,
                                   const char *schedule, int loops, int batch, int parts, char *errbuf,
                                   size_t errlen);
void iclab_capture_free(iclab_capture *c);
/* Sizes: any pointer may be NULL. T = 2n tokens, C = n_embd. */
void iclab_capture_shape(const iclab_capture *c, int *n_states, int *B, int *n, int *T, int *C, int *loops,
                         int *n_steps);
/* resid [n_states,B,T,C]; preds [B,n] (the model's own last-loop
 * predictions); attn and mlp [loops*n_steps,B,T,C] or NULL without parts.
 * Owned by the capture. */
const float *iclab_capture_resid(const iclab_capture *c);
const float *iclab_capture_preds(const iclab_capture *c);
const float *iclab_capture_attn(const iclab_capture *c);
const float *iclab_capture_mlp(const iclab_capture *c);
/* Label of state k ("in", "1:b0", "l2.3:(2|3)") into buf; -1 if k is out of range. */
int iclab_capture_label(const iclab_capture *c, int k, char *buf, size_t len);
/* pred [n_states,B,n]: the model's ln_f + read_out applied to every state
 * (the readout lens; the last state reproduces preds bit for bit). */
int iclab_capture_lens(const iclab_model *m, const iclab_capture *c, float *pred, char *errbuf, size_t errlen);

/* ---------------- baselines, prompts ---------------- */

/* A classical solver by name as `iclab predict --baseline` takes it
 * ("least_squares", "ridge:0.1", "knn:3", "gd:100:0.01", ...;
 * docs/baselines.md): pred [B,n]. */
int iclab_baseline_predict(const char *name, const float *xs, const float *ys, int B, int n, int d, float *pred,
                           char *errbuf, size_t errlen);

/* Reads a prompt file (xs F32 [B,n,d], ys F32 [B,n]; prompts.h): first call
 * with xs = ys = NULL for the sizes, then with buffers of those sizes (the
 * file is read on each call). */
int iclab_prompts_load(const char *path, int *B, int *n, int *d, float *xs, float *ys, char *errbuf,
                       size_t errlen);

/* B prompts of n points of a task (tasks.h; Garg et al.'s names:
 * "linear_regression", "sparse_linear_regression", ...) drawn from a
 * generator seeded with seed, the task's parameters from params_json (may
 * be NULL or "{}"): a JSON object of the run-config keys sparsity,
 * noise_std, hidden, depth, x_scale (docs/config.md). xs [B,n,d], ys [B,n];
 * w [B,d] (may be NULL) receives the prompts' true weight vectors when the
 * task has them, and *has_w (may be NULL) says whether it did. */
int iclab_make_prompts(const char *task, int B, int n, int d, uint64_t seed, const char *params_json, float *xs,
                       float *ys, float *w, int *has_w, char *errbuf, size_t errlen);

/* ---------------- training ---------------- */

/* Called after every step with the step just completed, the run's total,
 * the loss, the excess loss (NaN when undefined), the learning rate and the
 * seconds since the start of this call. Returning non-zero stops the run:
 * it saves a checkpoint and iclab_train returns 1. */
typedef int (*iclab_progress_fn)(void *ctx, long step, long total, double loss, double excess_loss, double lr,
                                 double elapsed_s);
/* Called with checkpoint notices and other one-line messages. */
typedef void (*iclab_message_fn)(void *ctx, const char *line);

/* Trains into the run directory out_dir (train.h; what `iclab train`
 * does): config_json is a JSON object of run-config keys over the defaults
 * (docs/config.md), validated as a whole; resume != 0 continues the run in
 * out_dir (config_json NULL: its own config; otherwise only train_steps,
 * threads, log_every, save_every may differ). The config's threads key sets
 * the thread counts as the CLI does. progress and message may be NULL.
 * *steps (may be NULL): steps completed; *final_loss (may be NULL): the
 * last step's loss. Returns 0 when the run is complete, 1 when progress
 * stopped it (checkpoint saved), -1 on error (the last good checkpoint is
 * kept). */
int iclab_train(const char *config_json, const char *out_dir, int resume, iclab_progress_fn progress,
                iclab_message_fn message, void *ctx, long *steps, double *final_loss, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
