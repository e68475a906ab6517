/* model.h: the Garg et al. in-context regression transformer (RESEARCH.md §2),
 * run by a schedule of parameter blocks.
 *
 *   z tokens [B,T,d]  (T = 2n: x_1, (y_1,0..0), x_2, ...)
 *   P = read_in(z) + wpe                              [B,T,e]
 *   for loop t = 0..L-1:                              (plain model: L = 1)
 *       in_t = inject ? Y_t + P : (t == 0 ? P : Y_t)   (Y_0 = 0)
 *       h    = block[s_m-1](... block[s_0](in_t))     the schedule's body
 *                  (a parallel group (s_i|...|s_j) is one step: every member
 *                   reads the same input x, the step outputs their mean
 *                   (1/k) sum block[s](x) = x + mean of the members' updates)
 *       f    = ln_f(h)
 *       pred_t = read_out(f) at the x positions        [B,n]
 *       Y_{t+1} = loop_lnf ? f : h
 *   loss = mean over the last T loops of MSE(pred_t, y)
 *   gradient flows through the last G >= T loops (G = T by default)
 *
 * A block index may appear any number of times in the body, also twice in one
 * parallel group; backward accumulates its gradients. Each member of a group
 * has its own activation slot; the group mean is written into the last
 * member's `out`, which the next step reads as usual. Backward hands each of a
 * group's k members the group output gradient scaled by 1/k and sums their
 * input gradients. With no groups (all par = 0) forward and backward are the
 * plain sequential ones, bit for bit. Loops before the last G run without
 * storing activations and pass no gradient (truncated backpropagation, Yang
 * et al.).
 *
 * Memory follows llm.c: one contiguous buffer each for parameters, their
 * gradients and activations, with a struct of typed views into it and a
 * size table. */
#ifndef ICLAB_MODEL_H
#define ICLAB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define IC_MAX_SCHEDULE 1024 /* body length limit */
#define IC_MAX_LOOPS 100000

typedef struct {
    int n_dims;      /* d: input dimension */
    int n_positions; /* max points per prompt; wpe has 2*n_positions rows */
    int n_embd;      /* e */
    int n_layer;     /* number of parameter blocks P */
    int n_head;
} ic_config;

int ic_config_validate(const ic_config *c, ic_err *err);

typedef struct {
    int n;                       /* body length, 1..IC_MAX_SCHEDULE */
    int steps[IC_MAX_SCHEDULE];  /* block indices, each in [0, n_layer) */
    unsigned char par[IC_MAX_SCHEDULE]; /* par[i] = 1: step i runs in parallel with step i-1,
                                    on the same input; a parallel group (a step with par 0
                                    and the par-1 steps after it) outputs the mean of its
                                    members' outputs (= input + mean of their updates).
                                    par[0] = 0; all 0: a plain sequential body */
    int loops;                   /* L >= 1 */
    int loss_loops;              /* T, 1..L: the last T loops' outputs carry loss (averaged) */
    int grad_loops;              /* G, T..L: the last G loops carry gradient (0: G = T,
                                    Yang et al.'s truncation); G = L backpropagates through all */
    int inject;                  /* input injection between loops */
    int loop_lnf;                /* ln_f output fed back to the next loop */
} ic_schedule;

/* 0,1,...,n_layer-1; one loop; injection and per-loop ln_f on.
 * ic_schedule_grad_loops() gives the effective G. */
int ic_schedule_grad_loops(const ic_schedule *s);
void ic_schedule_default(ic_schedule *s, const ic_config *c);
/* Parses a comma-separated list of block indices ("0,1,1,2") into s->steps
 * (keeps the loop fields, clears par). Whitespace around numbers is allowed.
 * The full schedule language is ic_schedule_parse (schedule.h). */
int ic_schedule_parse_list(ic_schedule *s, const char *text, ic_err *err);
int ic_schedule_validate(const ic_schedule *s, const ic_config *c, ic_err *err);
/* Runs the body `loops` times (loops >= 1), lowering loss_loops and grad_loops
 * to at most that: a --loops override at inference. */
void ic_schedule_set_loops(ic_schedule *s, int loops);
/* "0,1,(2|3),4" into buf (parallel groups in parentheses, members joined by
 * '|'; the text parses back with ic_schedule_parse); returns buf. */
char *ic_schedule_format(const ic_schedule *s, char *buf, size_t len);

/* ---- parameters ---- */
enum {
    IC_P_READ_IN_W,  /* [e, d]  nn.Linear layout (out, in) */
    IC_P_READ_IN_B,  /* [e] */
    IC_P_WPE,        /* [2*n_positions, e] */
    IC_P_LN1_W,      /* [P, e] */
    IC_P_LN1_B,      /* [P, e] */
    IC_P_QKV_W,      /* [P, e, 3e]  Conv1D layout (in, out), q|k|v */
    IC_P_QKV_B,      /* [P, 3e] */
    IC_P_ATTPROJ_W,  /* [P, e, e] */
    IC_P_ATTPROJ_B,  /* [P, e] */
    IC_P_LN2_W,      /* [P, e] */
    IC_P_LN2_B,      /* [P, e] */
    IC_P_FC_W,       /* [P, e, 4e] */
    IC_P_FC_B,       /* [P, 4e] */
    IC_P_FCPROJ_W,   /* [P, 4e, e] */
    IC_P_FCPROJ_B,   /* [P, e] */
    IC_P_LNF_W,      /* [e] */
    IC_P_LNF_B,      /* [e] */
    IC_P_READ_OUT_W, /* [1, e] nn.Linear layout */
    IC_P_READ_OUT_B, /* [1] */
    IC_NUM_PARAM_TENSORS
};

typedef struct {
    float *read_in_w, *read_in_b, *wpe;
    float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *attproj_w, *attproj_b;
    float *ln2_w, *ln2_b, *fc_w, *fc_b, *fcproj_w, *fcproj_b;
    float *lnf_w, *lnf_b, *read_out_w, *read_out_b;
} ic_params;

/* Number of floats of each parameter tensor (whole tensor, all blocks). */
void ic_param_sizes(const ic_config *c, size_t sizes[IC_NUM_PARAM_TENSORS]);
/* 1 if tensor k is stacked per block ([P, ...]), else 0. */
int ic_param_is_per_block(int k);
/* Short name of tensor k ("qkv_w"). */
const char *ic_param_name(int k);

/* Activation buffer layout of one block application (offsets into the
 * activation buffer are computed from these shapes). */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd; /* [B,T,C], [B,T], [B,T] */
    float *qkv;                       /* [B,T,3C] */
    float *att;                       /* [B,H,T,T] softmax probabilities */
    float *atty;                      /* [B,T,C] attention output before projection */
    float *res2;                      /* [B,T,C] residual after attention */
    float *ln2, *ln2_mean, *ln2_rstd; /* [B,T,C], [B,T], [B,T] */
    float *fch, *fch_gelu;            /* [B,T,4C] */
    float *out;                       /* [B,T,C] residual after the MLP */
} ic_block_acts;

typedef struct {
    float *in;                        /* [B,T,C] body input in_t */
    float *lnf, *lnf_mean, *lnf_rstd; /* [B,T,C], [B,T], [B,T] */
} ic_loop_acts;

/* An inference hook (ic_model.step_hook): resid [B,T,C] is the residual step
 * `step` of loop `loop` produced (modifiable in place), resid_in [B,T,C] the
 * step's input. */
typedef void (*ic_step_hook)(void *ctx, int loop, int step, float *resid, const float *resid_in, int B, int T,
                             int C);

typedef struct {
    ic_config cfg;
    size_t param_sizes[IC_NUM_PARAM_TENSORS];
    size_t num_params;
    float *params_mem;     /* owned, or borrowed by a replica (ic_model_create_replica) */
    int owns_params;
    ic_params params;
    float *grads_mem; /* allocated on first backward (or ic_model_zero_grad) */
    ic_params grads;

    /* activations: sized for the largest (B, n, schedule) seen so far */
    float *acts_mem;
    size_t acts_cap;       /* floats allocated */
    float *zs, *P;         /* [B,T,d], [B,T,C] */
    float *ys;             /* [B,n] targets of the last forward */
    ic_loop_acts *loop_acts;   /* [n_loop_slots] */
    ic_block_acts *block_acts; /* [n_loop_slots * body length] */
    float *scratch;        /* [B,T,C] projection outputs */
    size_t loop_acts_cap, block_acts_cap; /* entries allocated in the two view arrays */
    int n_loop_slots;
    /* gradient scratch for backward */
    float *dacts_mem;
    size_t dacts_cap;
    float *d_res, *d_y, *d_p, *d_lnf, *d_c;  /* [B,T,C] each */
    float *d_grp, *d_mem;                    /* [B,T,C]: a parallel group's output gradient / k,
                                                one member's gradient (backward of groups) */
    float *d_qkv;                            /* [B,T,3C] */
    float *d_fch, *d_fch_gelu;               /* [B,T,4C] */
    float *d_att;                            /* [B,H,T,T] */
    float *d_pred;                           /* [B,n] */

    /* Optional inference hook, NULL after ic_model_create. With need_grad ==
     * 0 forward calls step_hook(step_hook_ctx, t, q, resid, resid_in, B, T, C)
     * after sequential step q of loop t (a parallel group is one step, called
     * after its mean); what the hook leaves in resid is what the rest of the
     * forward reads. Never called when gradients are stored. Used by the
     * probing ablations (probe.h). */
    ic_step_hook step_hook;
    void *step_hook_ctx;

    /* results of the last forward */
    int B, n, T;
    ic_schedule sched;
    int have_grad_acts;    /* last forward stored what backward needs */
    float *preds;          /* [L, B, n]: predictions after every loop */
    size_t preds_cap;
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
    size_t loop_mse_cap;
    double loss;           /* mean MSE over the last T loops */
} ic_model;

/* Allocates parameters (zeroed) for cfg. */
int ic_model_create(ic_model *m, const ic_config *cfg, ic_err *err);
void ic_model_free(ic_model *m);
/* GPT-2 initialisation, seeded: backbone weights N(0, 0.02), residual
 * projections (attn c_proj, mlp c_proj) N(0, 0.02/sqrt(2*n_layer)), biases 0,
 * layernorm weight 1, wpe N(0, 0.02) (HF GPT2Model._init_weights);
 * read_in/read_out as PyTorch nn.Linear defaults (Garg et al. construct them
 * with nn.Linear): weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
void ic_model_init_weights(ic_model *m, uint64_t seed);

/* Pointer to block b's slice of per-block tensor k (or the tensor itself for
 * global tensors, b ignored), in params or in grads (which = 0 / 1). */
float *ic_model_tensor(ic_model *m, int which, int k, int b);

/* Forward pass. xs [B,n,d] and ys [B,n] (y tokens are part of the prompt);
 * n <= n_positions. need_grad = 1 stores what backward needs. Results:
 * m->loss, m->loop_mse[t], ic_model_preds(). */
int ic_model_forward(ic_model *m, const ic_schedule *s, const float *xs, const float *ys,
                     int B, int n, int need_grad, ic_err *err);
/* Backward of the last forward (which must have had need_grad = 1):
 * ACCUMULATES d loss / d params into m->grads. */
int ic_model_backward(ic_model *m, ic_err *err);
void ic_model_zero_grad(ic_model *m);

/* A replica of m: the same configuration, m's parameters (borrowed: not
 * copied, never freed by the replica, so m must outlive it), its own
 * gradients and activations. ic_model_free releases what it owns. */
int ic_model_create_replica(ic_model *r, const ic_model *m, ic_err *err);

/* Data parallelism inside one training step: the batch is cut into shards
 * of consecutive prompts, each shard runs forward and backward on its own
 * replica on one thread (BLAS single-threaded inside), and the gradients
 * are summed, each weighted by its share of the prompts. On a few cores
 * this beats splitting every kernel across threads: one parallel region per
 * step instead of a dozen per block, and each thread's activations stay in
 * its own cache. */
typedef struct {
    ic_model *rep; /* [cap] replicas of the model the shards were made for */
    int cap;
    const float *params_of; /* the parameters they borrow */
} ic_shards;

/* Forward with gradient storage and backward of B prompts (xs [B,n,d], ys
 * [B,n]) on at most nshards shards (nshards <= 1 or B < 2: m's own
 * ic_model_forward + ic_model_backward, bit for bit). Afterwards m->grads
 * += the gradient of the whole batch's loss, m->loss and m->loop_mse[] are
 * the whole batch's (the prompt-weighted means of the shards'). With more
 * than one shard m keeps no activations or predictions of this batch
 * (m->have_grad_acts = 0, ic_model_preds returns NULL) and m->loop_delta,
 * loop_delta_num and loop_delta_den are NaN. Results depend on the
 * number of shards (the order of the gradient sums), not on anything else:
 * the same seed and thread count give the same bits. */
int ic_model_train_pass(ic_model *m, ic_shards *sh, int nshards, const ic_schedule *s, const float *xs,
                        const float *ys, int B, int n, ic_err *err);
void ic_shards_free(ic_shards *sh);
/* The shard count the trainer and the benchmark use: one per OpenMP thread
 * (omp_get_max_threads(); 1 without OpenMP). */
int ic_default_shards(void);
/* Predictions [B,n] after loop t (t < 0: the last loop) of the last forward. */
const float *ic_model_preds(const ic_model *m, int t);

/* ---- memory ---- */

/* Bytes of a model's buffers, by category (doubles, so that a configuration
 * beyond any machine still compares instead of wrapping around). */
typedef struct {
    double params;   /* parameters (a replica borrows them: 0) */
    double grads;    /* parameter gradients */
    double acts;     /* activations and their view arrays */
    double dacts;    /* backward scratch */
    double preds;    /* predictions [L,B,n] and per-loop statistics */
    double replicas; /* training shards: every replica's buffers and structs */
    double total;
} ic_mem_bytes;

/* What ic_model_forward (need_grad = 0: inference, one loop's activations
 * shared by the steps) or ic_model_train_pass with nshards shards
 * (need_grad = 1) leaves allocated in a fresh model for B prompts of n points
 * under s: computed from the shapes with the same layout as the
 * allocation, allocating nothing. n = 0 means c->n_positions. */
void ic_model_mem_estimate(const ic_config *c, const ic_schedule *s, int B, int n, int need_grad, int nshards,
                           ic_mem_bytes *out);
/* What m (and the replicas in sh, may be NULL) holds now: its allocation sizes. */
void ic_model_mem_held(const ic_model *m, const ic_shards *sh, ic_mem_bytes *out);

/* Floating-point operations of one forward (2 per multiply-add, matrix
 * products and attention only) for B prompts of n points under s. The
 * backward costs twice this. */
double ic_model_flops_forward(const ic_config *c, const ic_schedule *s, int B, int n);

#endif
