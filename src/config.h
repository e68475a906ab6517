/* config.h: run configuration — every user-settable key in one table.
 *
 * Keys use Garg et al.'s names where one exists (n_dims, n_positions,
 * n_embd, n_layer, n_head, batch_size, learning_rate, train_steps, seed).
 * The same keys are accepted in JSON config files ({"n_embd": 256, ...})
 * and as command-line flags (--n_embd 256). Unknown keys and bad values are
 * rejected with the key's name. docs/config.md lists every key and default
 * (generated from this table by `iclab help-config`). */
#ifndef ICLAB_CONFIG_H
#define ICLAB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"
#include "tasks.h"

typedef struct {
    ic_config model;            /* n_dims, n_positions, n_embd, n_layer, n_head */
    char schedule[8192];        /* body as a block list; "" = 0..n_layer-1 */
    int loops, loss_loops, grad_loops, inject, loop_lnf;
    int loop_signal;            /* add the sinusoidal loop-index embedding to each loop's input */
    char block_kinds[8192];     /* each block's kind, "attn,mlp*2,full" (model.h); "" = all full.
                                   ic_run_config_set parses it into model.kind */
    /* the loop count of a training step: "fixed" (loops, after the curriculum) or
     * "poisson": L = min(loops, 1 + Poisson(loops_mean - 1)), drawn from a
     * generator seeded with (data seed, step) (ic_trainer_step_loops) */
    char loops_sampling[16];
    double loops_mean;
    int n_points;               /* points per prompt (<= n_positions) */
    int batch_size;
    double learning_rate;
    long train_steps;
    uint64_t seed;
    int threads;                /* 0 = all cores */
    /* task (tasks.h) */
    char task[64];
    int sparsity, hidden, depth;
    double noise_std, x_scale;
    /* curriculum: value(step) = min(end, start + inc * (step / interval));
     * end is n_dims / n_points / loops; start 0 means "= end" (no curriculum) */
    int curriculum_dims_start, curriculum_dims_inc, curriculum_dims_interval;
    int curriculum_points_start, curriculum_points_inc, curriculum_points_interval;
    int curriculum_loops_start, curriculum_loops_inc, curriculum_loops_interval;
    /* optimiser */
    char optimizer[16];         /* adam | adamw */
    double weight_decay, grad_clip, min_lr_ratio;
    char lr_schedule[16];       /* constant | cosine */
    long warmup_steps;
    /* run bookkeeping */
    long log_every, save_every;
    uint64_t data_seed;         /* 0: derived from seed */
    /* how a step's prompts are drawn (src/train.c): "per_prompt" (prompt b of
     * step t from its own generator, seeded from (data seed, t, b), so any
     * slice of the batch is drawn alone: data-parallel ranks) or "stream"
     * (one generator for the whole run; run directories written before this
     * key existed, see ic_run_config_legacy) */
    char data_scheme[16];
    /* the matrix products' precision: "fp32" or "bf16" (gemm.h) */
    char precision[8];
    /* the dtype of model.safetensors' tensors: "fp32" or "bf16" (rounded as
     * gemm.h's ic_bf16_bits); state.safetensors is always fp32 */
    char checkpoint_dtype[8];
    /* data-parallel training (comm.h): steps between the cross-rank parameter
     * checksums, and the ranks the run uses (recorded by the trainer) */
    long checksum_every;
    int mpi_ranks;
} ic_run_config;

typedef enum { IC_KEY_INT, IC_KEY_LONG, IC_KEY_U64, IC_KEY_DOUBLE, IC_KEY_BOOL, IC_KEY_STRING } ic_key_type;

typedef struct {
    const char *name;
    ic_key_type type;
    size_t offset;      /* into ic_run_config */
    size_t size;        /* for strings: buffer size */
    double min, max;    /* numeric range (inclusive) */
    const char *def;    /* default, as text */
    const char *doc;    /* one line */
} ic_key;

/* The key table (n entries). */
const ic_key *ic_run_config_keys(int *n);
const ic_key *ic_run_config_find_key(const char *name);

/* Defaults: Garg et al.'s standard model (d=20, e=256, 12 blocks, 8 heads,
 * 101 positions, 41 points, batch 64, Adam 1e-4). */
void ic_run_config_default(ic_run_config *c);
/* The values a run config recorded before a key existed means: a
 * config.json or state of an older run directory lacks data_scheme and was
 * trained on the single "stream"; load such records over this instead of
 * ic_run_config_default so they resume with their own data. */
void ic_run_config_legacy(ic_run_config *c);
/* Sets one key from text ("256", "1e-4", "true", "0,1,1,2"). */
int ic_run_config_set(ic_run_config *c, const char *key, const char *value, ic_err *err);
/* Applies a JSON object of key -> value from a file (errors name file and key). */
int ic_run_config_load_file(ic_run_config *c, const char *path, ic_err *err);
/* Applies a JSON object given as text (source names it in errors). */
int ic_run_config_load_json(ic_run_config *c, const char *json, const char *source, ic_err *err);
/* The whole config as a new jansson object, every key in table order (the
 * caller owns the reference; NULL when out of memory), and as its indented
 * text (malloc'ed; caller frees). */
struct json_t *ic_run_config_json(const ic_run_config *c);
char *ic_run_config_to_json(const ic_run_config *c);
/* Checks cross-key rules (model config valid, n_points <= n_positions,
 * schedule parses and names existing blocks, loss_loops <= loops). */
int ic_run_config_validate(const ic_run_config *c, ic_err *err);
/* A u64 (a seed) as JSON: an integer up to 2^63 - 1, above that a string of
 * its decimal digits (jansson's integers are signed 64-bit). Every key of
 * type u64 reads both forms back. */
struct json_t *ic_json_u64(uint64_t v);
/* Bytes a training run of c needs at its largest (final n_points, loops and
 * grad_loops; curricula only start smaller): the model trained on nshards
 * shards (ic_model_mem_estimate: parameters, gradients, activations,
 * backward scratch, predictions, shards), Adam's two moments and one batch
 * of prompts. Allocates nothing; c must be valid. */
double ic_run_config_train_bytes(const ic_run_config *c, int nshards);
/* Refuses (-1, one line: needed, available, which limit, what to lower) a
 * config whose training does not fit in the memory available now (sysmem.h). */
int ic_run_config_check_memory(const ic_run_config *c, int nshards, ic_err *err);
/* The schedule the config describes. */
int ic_run_config_schedule(const ic_run_config *c, ic_schedule *s, ic_err *err);
/* The task the config describes, for prompts of n_dims coordinates: kind
 * from `task`, and sparsity, noise_std, hidden, depth, x_scale from their
 * keys (x_cov_sqrt NULL, y_scale 1: no key sets them). The one mapping from
 * a run config to prompts: the trainer samples with it and every command
 * that evaluates a model samples that model's task with it, so a key left
 * out here would silently give prompts from another distribution than the
 * model was trained on. n_dims is the caller's because a checkpoint without
 * a recorded run config carries the defaults (n_dims 20): commands pass the
 * loaded model's; the trainer passes c->model.n_dims.
 * *err_norm (may be NULL) receives what the task's squared errors are
 * divided by: min(sparsity, n_dims) for sparse_linear_regression (the
 * coordinates that carry signal, so a zero predictor scores ~1), else n_dims.
 * An unknown task name or a parameter the kind cannot use is an error
 * ("task: ..."), never a fallback; *task and *err_norm are then untouched. */
int ic_run_config_task(const ic_run_config *c, int n_dims, ic_task_spec *task, double *err_norm, ic_err *err);

#endif
