/* train.h: training — curriculum, learning-rate schedule, gradient
 * clipping, the step, resumable state, and a run directory.
 *
 * A run directory holds:
 *   config.json        the resolved run config (every key)
 *   metrics.csv        step,loss,excess_loss,lr,grad_norm,steps_per_s,n_dims,n_points,loops,wall_s
 *   state.safetensors  resume state: params, Adam moments, step, RNG state (atomic)
 *   model.safetensors  the model (Garg et al. names) at the last checkpoint / the end
 *   loss.svg           the loss curve
 *   iclab.lock         held (flock) by the process training there; names its pid and host
 * Resuming restores params, optimiser moments and step count, the prompt
 * RNG state and (derived from the step) the curriculum, so a resumed run
 * continues bit-identically to an uninterrupted one with the same threads.
 *
 * A run directory is a transaction: config.json is written first, then the
 * metrics header, then each checkpoint's state (its commit point), model
 * and plot, every file atomically. A process killed at any point leaves a
 * directory that resumes (or, before config.json, no run at all). */
#ifndef ICLAB_TRAIN_H
#define ICLAB_TRAIN_H

#include <signal.h>

#include "adam.h"
#include "comm.h"
#include "config.h"
#include "err.h"
#include "model.h"
#include "rng.h"
#include "tasks.h"

/* value(step) = min(end, start + inc * floor(step / interval)); start 0 = end. */
int ic_curriculum_value(int start, int end, int inc, int interval, long step);

/* Learning rate at step (0-based) under cfg's schedule. */
double ic_lr_at(const ic_run_config *cfg, long step);

/* Scales g so its global L2 norm is at most max_norm (max_norm <= 0: no-op).
 * Returns the norm before clipping. */
double ic_clip_grad_norm(float *g, size_t n, double max_norm);

/* Garg et al.'s normaliser of the training loss for linear regression: the
 * mean over positions k = 0..n-1 of max(d - k, 0), the error of the optimal
 * noiseless estimator summed over coordinates. excess_loss = loss / this. */
double ic_linear_optimum(int d, int n);

typedef struct {
    ic_run_config cfg;
    ic_model model;
    ic_grads grads;      /* the whole batch's gradient: after the local pass, before clipping and Adam */
    ic_workspace ws;     /* the pass's working memory (one shard: all of it; several: the loss only) */
    ic_shards shards;    /* a workspace and gradient buffer per shard of the batch (one per thread) */
    ic_adam opt;
    ic_schedule sched;   /* the configured schedule; loops follow the curriculum */
    ic_task_spec task;
    ic_rng data_rng;
    long step;           /* steps completed */
    float *xs, *ys;      /* [batch, n_points, n_dims], [batch, n_points] */
    /* data-parallel training: this process is rank comm->rank of comm->size
     * and trains on its slice of every batch (ic_comm_slice); the gradient
     * and loss are the batch's, the same on every rank. ic_comm_single()
     * after ic_trainer_init; set it before the first step. */
    const ic_comm *comm;
} ic_trainer;

typedef struct {
    long step;           /* the step just completed (1-based count) */
    double loss, excess_loss, lr, grad_norm;
    int n_dims, n_points, loops;
} ic_step_stats;

/* Fresh trainer: model initialised from cfg->seed, data RNG from data_seed. */
int ic_trainer_init(ic_trainer *t, const ic_run_config *cfg, ic_err *err);
/* One step: sample prompts (curriculum), forward, backward, clip, Adam.
 * Prompt b of the step is drawn as cfg.data_scheme says: "per_prompt" from
 * a generator seeded with a hash of (data seed, step, b) (ic_trainer_prompt_seed),
 * "stream" as the next prompt of data_rng. With comm->size > 1 the rank
 * draws its slice only (per_prompt; stream draws the whole batch, as it
 * must advance data_rng past it), runs the pass on it, and the mean
 * gradient and loss of the batch are sum_r (B_r / B) * rank r's. */
int ic_trainer_step(ic_trainer *t, ic_step_stats *st, ic_err *err);
/* The seed of prompt b of step `step` under the per_prompt scheme. */
uint64_t ic_trainer_prompt_seed(const ic_run_config *cfg, long step, int b);
/* The loop count of training step `step` (0-based): the loops curriculum's
 * value, or with loops_sampling "poisson" min(that, 1 + Poisson(loops_mean -
 * 1)) drawn from a generator seeded with a hash of (data seed, step): a
 * function of the config and the step alone, so a resumed run and every MPI
 * rank draw the same. */
int ic_trainer_step_loops(const ic_run_config *c, long step);
/* Whether every rank holds the same parameters (ic_comm_digest_f32 of the
 * flat buffer compared across ranks; collective). -1 with "parameters
 * differ between ranks after step S ..." when they do not. */
int ic_trainer_check_replicas(const ic_trainer *t, ic_err *err);
/* Resume state (atomic write) and restore. load_state needs an initialised
 * trainer of the same config. */
int ic_trainer_save_state(const ic_trainer *t, const char *path, ic_err *err);
/* Validates before restoring anything: a known format, the per-tensor
 * checksums, step within 0..train_steps of the run it belongs to, adam_step
 * equal to step, a usable RNG state, finite parameters and moments, and the
 * state's recorded run config equal to t's except the keys that may change
 * (the error names the key and both values). */
int ic_trainer_load_state(ic_trainer *t, const char *path, ic_err *err);
void ic_trainer_free(ic_trainer *t);

/* ---- a whole run in a directory ---- */
typedef struct {
    long step, total;
    double loss, excess_loss, lr, steps_per_s, eta_s, elapsed_s;
    int n_dims, n_points, loops;
} ic_progress;

typedef struct {
    void (*progress)(void *ctx, const ic_progress *p); /* called every step */
    void (*message)(void *ctx, const char *line);      /* checkpoint notices etc. */
    void *ctx;
    volatile sig_atomic_t *stop; /* set (e.g. by SIGINT) to checkpoint and return */
    long stop_after;             /* > 0: stop after this many steps in this call (tests) */
    /* data-parallel training over comm's ranks (NULL: alone). Every rank
     * calls ic_train_run with the same arguments; rank 0 alone touches dir
     * (lock, config.json with mpi_ranks = comm->size, metrics, checkpoints,
     * plot) and broadcasts the resolved config and the state it starts
     * from, so the others need not see dir. A stop request on any rank
     * stops all at the same step. */
    const ic_comm *comm;
} ic_train_hooks;

typedef enum { IC_TRAIN_DONE = 0, IC_TRAIN_STOPPED = 1 } ic_train_outcome;

typedef struct {
    ic_train_outcome outcome;
    long step;           /* steps completed */
    long start_step;     /* where this call started (== step: it trained nothing, e.g. a finished run) */
    double final_loss;   /* the last step's loss (the last logged one if none ran here; NaN if none) */
    double wall_s;
} ic_train_result;

/* Keys of the run config that may change when a run resumes: train_steps,
 * threads, log_every, save_every, checksum_every, mpi_ranks. */
int ic_run_config_may_change(const char *key);
/* 1 if a and b differ in a key that may not change (its name and both
 * values as JSON into key/va/vb), 0 if not, -1 out of memory. */
int ic_run_config_diff(const ic_run_config *a, const ic_run_config *b, char *key, size_t key_len, char *va,
                       char *vb, size_t val_len);
/* 1 if dir holds any file a run writes (config.json, state.safetensors,
 * model.safetensors, metrics.csv, loss.svg). */
int ic_train_dir_has_run(const char *dir);
/* The config of the run in dir, to resume it: its config.json, or, if an
 * older iclab was killed before writing that, the state's recorded copy.
 * Errors say whether dir is missing, empty or holds no run. */
int ic_train_dir_config(const char *dir, ic_run_config *cfg, ic_err *err);

/* Starts a run in dir with cfg, or resumes the run there.
 * New run: dir is created if needed (not when cfg is invalid or the trainer
 * cannot be set up) and must hold no run file; a start that fails before
 * its first checkpoint removes what it wrote.
 * Both: dir is locked for the whole call (another process gets "locked by
 * pid P on host H"), and temporary files of killed writers are removed.
 * Resume: cfg NULL uses the run's config.json; otherwise cfg may differ
 * from it only in ic_run_config_may_change keys (its data_scheme is ignored:
 * a run keeps the prompt scheme it was trained with). The state is validated
 * (ic_trainer_load_state); metrics.csv keeps only well-formed rows with
 * increasing steps up to the state's. A run at its train_steps rewrites its
 * final checkpoint and trains nothing (res->step == res->start_step); a run
 * past them is an error. Any failure mid-run (a non-finite loss, a failed
 * metrics or checkpoint write) stops with an error that keeps the last good
 * checkpoint. */
/* The last row of dir's metrics.csv: its ten fields in METRICS order
 * (step, loss, excess_loss, lr, grad_norm, steps_per_s, n_dims, n_points,
 * loops, wall_s; an empty field is NaN). -1 when there is no row. */
int ic_train_dir_last_metrics(const char *dir, double v[10], ic_err *err);

int ic_train_run(const char *dir, const ic_run_config *cfg, int resume, const ic_train_hooks *hooks,
                 ic_train_result *res, ic_err *err);

#endif
