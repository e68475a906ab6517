/* workspace.h: the working memory of the model's passes, apart from the
 * model (model.h: configuration + parameters, only read by a pass).
 *
 *   ic_grads      a gradient buffer: d loss / d parameters, one flat buffer
 *                 in the parameter buffer's layout, with typed views
 *   ic_workspace  everything a forward and backward write: activations,
 *                 backward scratch, attention tiles, predictions, loop
 *                 statistics, the inference hook, the last forward's
 *                 results; sized for (B, n, schedule), grown on demand
 *   ic_shards     data parallelism inside one training step: a workspace
 *                 and a gradient buffer per shard of the batch, over the
 *                 one model
 *
 * A pass is (model, workspace) forward and (model, gradients, workspace)
 * backward. Kernels take their scratch from the workspace (ops.h: the
 * attention tiles) and allocate nothing; every allocation happens in the
 * ensure step of a pass and fails with an error, never silently. Memory
 * follows llm.c: one contiguous buffer per category (activations, backward
 * scratch, predictions, loop statistics, gradients) with typed views and a
 * size computation shared with ic_model_mem_estimate (tested equal to what
 * is allocated). Symbols as in docs/architecture.md, "Glossary". */
#ifndef ICLAB_WORKSPACE_H
#define ICLAB_WORKSPACE_H

#include "gemm.h"
#include "model.h"

/* Activations of one block application (a step of the body). */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd; /* [B,T,C], [B,T], [B,T] */
    float *qkv;                       /* [B,T,3C] */
    float *att;                       /* [B,H,T,T] softmax probabilities */
    float *atty;                      /* [B,T,C] attention output before projection */
    float *res2;                      /* [B,T,C] residual after attention */
    float *ln2, *ln2_mean, *ln2_rstd; /* [B,T,C], [B,T], [B,T] */
    float *fch;                       /* [B,T,4C] MLP pre-activation (its GELU is not kept: ic_workspace.mlp_h) */
    float *out;                       /* [B,T,C] residual after the MLP */
} ic_block_acts;

/* Activations of one loop outside its blocks. */
typedef struct {
    float *in;                        /* [B,T,C] body input in_t */
    float *lnf, *lnf_mean, *lnf_rstd; /* [B,T,C], [B,T], [B,T] */
} ic_loop_acts;

/* An inference hook (ic_workspace.step_hook): resid [B,T,C] is the residual
 * slot `step` of loop `loop` produced (modifiable in place), resid_in
 * [B,T,C] the slot's input. */
typedef void (*ic_step_hook)(void *ctx, int loop, int step, float *resid, const float *resid_in, int B, int T,
                             int C);

/* ---- gradient buffer ---- */

typedef struct {
    size_t num_params;
    size_t sizes[IC_NUM_PARAM_TENSORS]; /* the model's size table */
    float *mem;                         /* [num_params] */
    ic_params views;                    /* typed views into mem */
} ic_grads;

/* A zeroed gradient buffer for m's parameters. */
int ic_grads_create(ic_grads *g, const ic_model *m, ic_err *err);
void ic_grads_zero(ic_grads *g);
void ic_grads_free(ic_grads *g);

/* ---- workspace ---- */

typedef struct {
    /* activations: one buffer, laid out for the last forward's (B, T,
     * schedule); capacities only grow */
    float *acts_mem;
    size_t acts_cap;                /* floats allocated */
    float *zs, *P;                  /* [B,T,d] tokens, [B,T,C] prompt embedding */
    float *ys;                      /* [B,n] targets of the last forward */
    float *scratch;                 /* [B,T,C] projection outputs */
    float *mlp_h;                   /* [B,T,4C] the GELU output of the block running now (fcproj's input), kept
                                       for no block: backward recomputes it. Training: the backward scratch
                                       d_fch (free during a forward); inference: its own buffer here */
    float *sig;                     /* [C] the loop signal of the current loop */
    float *tiles;                   /* [tile_threads, ic_attention_tile_floats(T,C,H)] attention tiles */
    int tile_threads;               /* threads the attention kernels run on */
    ic_loop_acts *loop_acts;        /* [n_loop_slots] */
    ic_block_acts *block_acts;      /* [n_loop_slots * body length] */
    size_t loop_acts_cap, block_acts_cap; /* entries allocated in the two view arrays */
    int n_loop_slots;

    /* backward scratch: one buffer, a fixed set of [B,T,*] buffers reused by every step */
    float *dacts_mem;
    size_t dacts_cap;
    float *d_res, *d_y, *d_p, *d_lnf, *d_c;  /* [B,T,C] each */
    float *d_grp, *d_mem;                    /* [B,T,C]: a parallel group's output gradient / k,
                                                one member's gradient (backward of groups) */
    float *d_coda;                           /* [B,T,C]: the gradient through a coda (schedules with one) */
    float *d_qkv;                            /* [B,T,3C] */
    float *d_fch, *d_fch_gelu;               /* [B,T,4C] */
    float *d_att;                            /* [B,H,T,T] */
    float *d_pred;                           /* [B,n] */

    /* predictions of every loop and the per-loop statistics */
    float *preds;          /* [L, B, n]: predictions after every loop */
    size_t preds_cap;
    double *stats_mem;     /* [4, L]: the four arrays below */
    size_t stats_cap;      /* L the statistics have room for */
    double *loop_mse;      /* [L]: MSE of each loop's predictions */
    double *loop_delta;    /* [L]: fixed-point measure |Y_{t+1} - Y_t| / |Y_t| of loop t
                              (Frobenius norms over the batch; NaN for t = 0) */
    double *loop_delta_num, *loop_delta_den;
                           /* [L]: the sums behind it, loop_delta[t] = sqrt(num / den):
                              num = sum |Y_{t+1} - Y_t|^2, den = sum |Y_t|^2 over the
                              batch's prompts (0 for t = 0). The ratio of a batch is not
                              the mean of its chunks' ratios; these sums add over chunks,
                              so sqrt(sum num / sum den) over forwards of any chunking is
                              the whole batch's measure (iclab loops). */

    /* Optional inference hook, NULL in a fresh workspace. With need_grad ==
     * 0 forward calls step_hook(step_hook_ctx, t, q, resid, resid_in, B, T, C)
     * after slot q of loop t (a parallel group is one slot, called after its
     * mean); what the hook leaves in resid is what the rest of the forward
     * reads. Never called when gradients are stored. Used by the probing
     * ablations (probe.h). */
    ic_step_hook step_hook;
    void *step_hook_ctx;

    /* the matrix products' precision, cached oneDNN kernels and bf16
     * operands (gemm.h); zero-initialised = fp32. Set the precision with
     * ic_gemm_set_precision(&ws->gemm, ...); a training pass gives its
     * shards the same. */
    ic_gemm gemm;

    /* Halting (model.h), an inference option: 0 (a fresh workspace) runs
     * every loop; > 0 stops each prompt at the first loop whose own
     * fixed-point measure is below it. Ignored when gradients are stored.
     * loops_used [B]: the loops each prompt of the last forward ran
     * (followed by [B] ints of the halting pass's own: the prompts still
     * running, whose rows alone the next loop computes). */
    double halt_tol;
    int *loops_used;
    size_t loops_used_cap; /* prompts it has room for */

    /* results of the last forward */
    ic_config cfg;         /* the configuration of the model it ran */
    int B, n, T;
    ic_schedule sched;
    int have_grad_acts;    /* it stored what backward needs */
    double loss;           /* mean MSE over the last L_loss loops */
} ic_workspace;

/* An empty workspace (equivalently: zero-initialise it); buffers are
 * allocated by the passes, or up front by ic_workspace_reserve. */
void ic_workspace_init(ic_workspace *ws);
void ic_workspace_free(ic_workspace *ws);
/* Allocates what a forward (and with need_grad, the backward) of B prompts
 * of n points under s needs for a model of configuration c, so that the
 * passes allocate nothing more. */
int ic_workspace_reserve(ic_workspace *ws, const ic_config *c, const ic_schedule *s, int B, int n, int need_grad,
                         ic_err *err);
/* The threads a workspace's attention runs on when a pass starts here: 1
 * inside a parallel region (a shard), else omp_get_max_threads() (1 without
 * OpenMP). */
int ic_workspace_threads(void);

/* ---- passes ---- */

/* Forward pass of m in ws. xs [B,n,d] and ys [B,n] (y tokens are part of
 * the prompt); n <= n_positions. need_grad = 1 stores what backward needs.
 * Results: ws->loss, ws->loop_mse[t], ic_workspace_preds(). */
int ic_model_forward(const ic_model *m, ic_workspace *ws, const ic_schedule *s, const float *xs, const float *ys,
                     int B, int n, int need_grad, ic_err *err);
/* Backward of ws's last forward of m (which must have had need_grad = 1):
 * ACCUMULATES d loss / d params into g. */
int ic_model_backward(const ic_model *m, ic_grads *g, ic_workspace *ws, ic_err *err);
/* Predictions [B,n] after loop t (t < 0: the last loop) of ws's last
 * forward; NULL when it kept none (a sharded training pass). */
const float *ic_workspace_preds(const ic_workspace *ws, int t);

/* Data parallelism inside one training step: the batch is cut into shards
 * of consecutive prompts, each shard runs forward and backward in its own
 * workspace into its own gradient buffer on one thread (BLAS
 * single-threaded inside), and the gradients are summed, each weighted by
 * its share of the prompts. On a few cores this beats splitting every
 * kernel across threads: one parallel region per step instead of a dozen
 * per block, and each thread's activations stay in its own cache. The
 * shards only read the model, so nothing ties them to one: a gradient
 * buffer made for another size table is made again. */
typedef struct {
    ic_workspace *ws; /* [cap] */
    ic_grads *grads;  /* [cap] */
    int cap;
} ic_shards;
void ic_shards_free(ic_shards *sh);

/* Forward with gradient storage and backward of B prompts (xs [B,n,d], ys
 * [B,n]) on at most nshards shards (nshards <= 1 or B < 2: ic_model_forward
 * + ic_model_backward in ws, bit for bit; sh is not touched). Afterwards g
 * += the gradient of the whole batch's loss: the one flat buffer a
 * data-parallel run over processes would sum before the optimiser step.
 * ws->loss and ws->loop_mse[] are the whole batch's (the prompt-weighted
 * means of the shards'). With more than one shard ws keeps no activations or
 * predictions of this batch (ws->have_grad_acts = 0, ic_workspace_preds
 * returns NULL) and ws->loop_delta, loop_delta_num and loop_delta_den are
 * NaN. Results depend on the number of shards (the order of the gradient
 * sums), not on anything else: the same seed and thread count give the same
 * bits. */
int ic_model_train_pass(const ic_model *m, ic_grads *g, ic_workspace *ws, ic_shards *sh, int nshards,
                        const ic_schedule *s, const float *xs, const float *ys, int B, int n, ic_err *err);
/* Inference sharded like ic_model_train_pass: the predictions of the last
 * loop, pred [B,n], of B prompts cut into at most nshards shards of
 * consecutive prompts, each a forward pass without gradient storage in its
 * own workspace of sh (no gradient buffers are made) on one thread, BLAS
 * single-threaded inside. prec is the matrix products' precision (gemm.h):
 * every shard's workspace gets it for this call, as a training pass gives
 * its shards the trainer's (bf16: the caller has checked the CPU with
 * ic_precision_check). Every prompt's predictions are computed by the same
 * kernels as an unsharded ic_model_forward in that precision, up to
 * rounding: BLAS blocks a shard's rows differently, which changes last bits
 * (tests/test_model.c holds fp32 within 1e-6 of the largest). Used by eval
 * and `bench --inference`; ic_model_predict stays unsharded, bit-identical
 * to a capture's forward. A workspace step hook does not apply: the shards'
 * workspaces have none. */
int ic_model_predict_sharded(const ic_model *m, ic_shards *sh, int nshards, ic_precision prec, const ic_schedule *s,
                             const float *xs, const float *ys, int B, int n, float *pred, ic_err *err);
/* The shard count the trainer and the benchmark use: one per OpenMP thread
 * (omp_get_max_threads(); 1 without OpenMP). */
int ic_default_shards(void);

/* ---- memory ---- */

/* Bytes by category (doubles, so that a configuration beyond any machine
 * still compares instead of wrapping around). */
typedef struct {
    double params; /* the model's parameters */
    double grads;  /* the gradient buffer */
    double acts;   /* the workspace's activations (attention tiles included) and view arrays */
    double dacts;  /* its backward scratch */
    double preds;  /* its predictions [L,B,n] and per-loop statistics [4,L] */
    double shards; /* training shards: every shard's workspace and gradient buffer, and their structs */
    double total;
} ic_mem_bytes;

/* What a fresh model, workspace (and, need_grad = 1, gradient buffer and
 * nshards shards) hold after ic_model_forward (need_grad = 0: inference, one
 * loop's activations shared by the steps) or ic_model_train_pass with
 * nshards shards (need_grad = 1) of B prompts of n points under s: computed
 * from the shapes with the same layout as the allocation, allocating
 * nothing. n = 0 means c->n_positions. The attention tiles are counted for
 * ic_workspace_threads() threads (one per shard). */
void ic_model_mem_estimate(const ic_config *c, const ic_schedule *s, int B, int n, int need_grad, int nshards,
                           ic_mem_bytes *out);
/* What these hold now: their allocation sizes (g, ws, sh may be NULL). */
void ic_model_mem_held(const ic_model *m, const ic_grads *g, const ic_workspace *ws, const ic_shards *sh,
                       ic_mem_bytes *out);

#endif
