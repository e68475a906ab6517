/* model.h: the Garg et al. in-context regression transformer
 * (docs/architecture.md), run by a schedule of parameter blocks (schedule.h).
 * Symbols as in docs/architecture.md, "Glossary".
 *
 *   z tokens [B,T,d]  (T = 2n: x_1, (y_1,0..0), x_2, ...)
 *   P = read_in(z) + wpe                              [B,T,C]  (prompt embedding)
 *   E = prelude(P)                                    the body's entries before the core,
 *                                                     run once (no prelude: E = P)
 *   for loop t = 0..L-1:                              (plain model: L = 1)
 *       in_t = inject ? Y_t + E : (t == 0 ? E : Y_t)   (Y_0 = 0)
 *              (+ sig(t) with loop_signal: ic_loop_signal)
 *       h    = core(in_t) = block[s_{k-1}](... block[s_0](in_t))   the core's entries
 *                  (a parallel group (s_i|...|s_j) is one step: every member
 *                   reads the same input x, the step outputs their mean
 *                   (1/k) sum block[s](x) = x + mean of the members' updates)
 *       f    = ln_f(coda(h))                          (no coda: ln_f(h))
 *       pred_t = read_out(f) at the x positions        [B,n]
 *       Y_{t+1} = loop_lnf ? f : h                     (a coda needs loop_lnf off: Y_{t+1} = h)
 *   loss = mean over the last L_loss loops of MSE(pred_t, y)
 *   gradient flows through the last L_grad >= L_loss loops (L_grad = L_loss by default)
 *
 * Prelude and coda (Geiping et al. 2025, schedule text 0,{1,2},3): what is
 * injected is the prelude's output E, as in their model, so that without a
 * prelude it is Yang et al.'s P. The coda runs after every loop that is read
 * out: in a training pass (need_grad) only the loops that carry loss (the
 * others' predictions and MSE are NaN), at inference every loop. Block kinds
 * (ic_config.kind): attention-only and MLP-only blocks skip the other
 * sublayer.
 *
 * Halting (inference, ic_workspace.halt_tol > 0): prompt b stops at the
 * first loop t >= 1 whose own fixed-point measure |Y_{t+1}-Y_t|/|Y_t| (over
 * its tokens) is below halt_tol; its predictions after that loop are the
 * ones of that loop, and ic_workspace.loops_used[b] = t + 1 (L when it never
 * halts). Prompts are independent, so this equals running that prompt alone
 * for loops_used[b] loops (up to the rounding of a smaller batch): each loop
 * runs only the prompts still going (their rows of the state and of E are
 * moved together), and the pass ends when every prompt has halted.
 *
 * A block index may appear any number of times in the body, also twice in one
 * parallel group; backward accumulates its gradients. Each member of a group
 * has its own activation slot; the group mean is written into the last
 * member's `out`, which the next step reads as usual. Backward hands each of a
 * group's k members the group output gradient scaled by 1/k and sums their
 * input gradients. With no groups (all par = 0) forward and backward are the
 * plain sequential ones, bit for bit. Loops before the last L_grad run
 * without storing activations and pass no gradient (truncated
 * backpropagation, Yang et al.).
 *
 * Memory follows llm.c: one contiguous buffer per category (parameters
 * here; gradients, activations, backward scratch, predictions and loop
 * statistics in workspace.h), each with a struct of typed views into it and
 * a size table. */
#ifndef ICLAB_MODEL_H
#define ICLAB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "schedule.h"

#define IC_MAX_LAYER 4096 /* n_layer limit */

/* What a parameter block computes (ic_config.kind): the GPT-2 block, or one
 * of its two sublayers alone. A block of one kind keeps every tensor of the
 * parameter table (the other sublayer's are never read and get no gradient),
 * so every checkpoint has the same tensor set and names. */
typedef enum {
    IC_BLOCK_FULL = 0, /* out = x + attn(ln_1(x)); out += mlp(ln_2(out)) */
    IC_BLOCK_ATTN = 1, /* out = x + attn(ln_1(x))   (attention only) */
    IC_BLOCK_MLP = 2   /* out = x + mlp(ln_2(x))    (MLP only) */
} ic_block_kind;

typedef struct {
    int n_dims;      /* d: input dimension */
    int n_positions; /* max points per prompt; wpe has 2*n_positions rows */
    int n_embd;      /* C: embedding width */
    int n_layer;     /* number of parameter blocks (the body's entries index 0..n_layer-1) */
    int n_head;      /* H: attention heads (C/H channels each) */
    unsigned char kind[IC_MAX_LAYER]; /* ic_block_kind of each block; entries past n_layer stay 0, so
                                         configs compare with memcmp; all 0: Garg et al.'s model */
} ic_config;

int ic_config_validate(const ic_config *c, ic_err *err);
/* "full", "attn", "mlp" ("?" out of range). */
const char *ic_block_kind_name(int kind);
/* A comma-separated list of kinds, each optionally repeated, "mlp,attn*2,full"
 * (whitespace around the items allowed), into kind[0..*n); at most max items.
 * The empty text is 0 items. One-line error naming the item. */
int ic_block_kinds_parse(const char *text, unsigned char *kind, int max, int *n, ic_err *err);
/* c's kinds as that text ("" when every block is full); returns buf. */
char *ic_block_kinds_format(const ic_config *c, char *buf, size_t len);
/* 1 if some block of c is not a full block. */
int ic_config_has_kinds(const ic_config *c);

/* ---- parameters ----
 *
 * IC_PARAM_TABLE is the one list of the parameter tensors, in the order of
 * the flat parameter buffer; the enum, the typed views (ic_params), the
 * size table, the short names, the checkpoint names and shapes
 * (src/checkpoint.c) and the initialisation are all generated from it, so a
 * new tensor is one row here. Columns:
 *   ID      enum suffix (IC_P_<ID>)
 *   field   the ic_params member and the short name (iclab_model_param)
 *   blk     1: stacked per block, [n_layer, ...] (block b's slice is contiguous)
 *   rows, cols   shape of one tensor (of one block's slice), cols 0 for a
 *           vector; in terms of d (n_dims), C (n_embd), W (2*n_positions: the
 *           wpe rows, one per token position)
 *   ckpt    Garg et al.'s checkpoint name; a per-block tensor's name follows
 *           "_backbone.h.<b>."
 *   init    ic_param_init (ic_model_init_weights)
 * Layouts are the checkpoint's: Conv1D [in, out] in the blocks, nn.Linear
 * [out, in] for read_in and read_out, so loading and saving are copies.
 * Tensors that draw random numbers do so in table order (a seed gives the
 * same model as before any reordering of the non-random ones). */
#define IC_PARAM_TABLE(X)                                                              \
    X(READ_IN_W, read_in_w, 0, C, d, "_read_in.weight", IC_INIT_UNIFORM_IN)            \
    X(READ_IN_B, read_in_b, 0, C, 0, "_read_in.bias", IC_INIT_UNIFORM_IN)              \
    X(WPE, wpe, 0, W, C, "_backbone.wpe.weight", IC_INIT_NORMAL)                       \
    X(LN1_W, ln1_w, 1, C, 0, "ln_1.weight", IC_INIT_ONE)                               \
    X(LN1_B, ln1_b, 1, C, 0, "ln_1.bias", IC_INIT_ZERO)                                \
    X(QKV_W, qkv_w, 1, C, 3 * C, "attn.c_attn.weight", IC_INIT_NORMAL)                 \
    X(QKV_B, qkv_b, 1, 3 * C, 0, "attn.c_attn.bias", IC_INIT_ZERO)                     \
    X(ATTPROJ_W, attproj_w, 1, C, C, "attn.c_proj.weight", IC_INIT_NORMAL_RESID)       \
    X(ATTPROJ_B, attproj_b, 1, C, 0, "attn.c_proj.bias", IC_INIT_ZERO)                 \
    X(LN2_W, ln2_w, 1, C, 0, "ln_2.weight", IC_INIT_ONE)                               \
    X(LN2_B, ln2_b, 1, C, 0, "ln_2.bias", IC_INIT_ZERO)                                \
    X(FC_W, fc_w, 1, C, 4 * C, "mlp.c_fc.weight", IC_INIT_NORMAL)                      \
    X(FC_B, fc_b, 1, 4 * C, 0, "mlp.c_fc.bias", IC_INIT_ZERO)                          \
    X(FCPROJ_W, fcproj_w, 1, 4 * C, C, "mlp.c_proj.weight", IC_INIT_NORMAL_RESID)      \
    X(FCPROJ_B, fcproj_b, 1, C, 0, "mlp.c_proj.bias", IC_INIT_ZERO)                    \
    X(LNF_W, lnf_w, 0, C, 0, "_backbone.ln_f.weight", IC_INIT_ONE)                     \
    X(LNF_B, lnf_b, 0, C, 0, "_backbone.ln_f.bias", IC_INIT_ZERO)                      \
    X(READ_OUT_W, read_out_w, 0, 1, C, "_read_out.weight", IC_INIT_UNIFORM_OUT)        \
    X(READ_OUT_B, read_out_b, 0, 1, 0, "_read_out.bias", IC_INIT_UNIFORM_OUT)

enum {
#define IC_X_ENUM(ID, field, blk, rows, cols, ckpt, init) IC_P_##ID,
    IC_PARAM_TABLE(IC_X_ENUM)
#undef IC_X_ENUM
    IC_NUM_PARAM_TENSORS
};

/* Typed views into a flat buffer of the table's layout (parameters or
 * their gradients). */
typedef struct {
#define IC_X_FIELD(ID, field, blk, rows, cols, ckpt, init) float *field;
    IC_PARAM_TABLE(IC_X_FIELD)
#undef IC_X_FIELD
} ic_params;
_Static_assert(sizeof(ic_params) == IC_NUM_PARAM_TENSORS * sizeof(float *),
               "ic_params has one view per row of IC_PARAM_TABLE");

/* GPT-2 initialisation (HF GPT2Model._init_weights) and PyTorch's
 * nn.Linear default for read_in/read_out (Garg et al. construct them with
 * nn.Linear): */
typedef enum {
    IC_INIT_ZERO,         /* 0 (biases) */
    IC_INIT_ONE,          /* 1 (layernorm weights) */
    IC_INIT_NORMAL,       /* N(0, 0.02) */
    IC_INIT_NORMAL_RESID, /* N(0, 0.02 / sqrt(2 n_layer)): projections into the residual stream */
    IC_INIT_UNIFORM_IN,   /* U(-1/sqrt(d), 1/sqrt(d)): nn.Linear with fan_in d (read_in) */
    IC_INIT_UNIFORM_OUT   /* U(-1/sqrt(C), 1/sqrt(C)): nn.Linear with fan_in C (read_out) */
} ic_param_init;

/* Number of floats of each parameter tensor (whole tensor, all blocks). */
void ic_param_sizes(const ic_config *c, size_t sizes[IC_NUM_PARAM_TENSORS]);
/* Shape of tensor k (of one block's slice for a per-block tensor) into
 * shape[0..1]; returns the number of dimensions (1 or 2). */
int ic_param_shape(const ic_config *c, int k, int64_t shape[2]);
/* Its number of dimensions (1 or 2; 0 out of range), whatever the config. */
int ic_param_ndim(int k);
/* 1 if tensor k is stacked per block ([n_layer, ...]), else 0. */
int ic_param_is_per_block(int k);
/* Short name of tensor k ("qkv_w"; "?" out of range). */
const char *ic_param_name(int k);
/* Garg et al.'s checkpoint name of tensor k; for a per-block tensor the part
 * after "_backbone.h.<b>." ("attn.c_attn.weight"). */
const char *ic_param_ckpt_name(int k);
ic_param_init ic_param_init_of(int k);
/* Points the typed views p into a flat buffer mem laid out by the size table. */
void ic_params_point(ic_params *p, float *mem, const size_t sizes[IC_NUM_PARAM_TENSORS]);

/* ---- the model: configuration and parameters ----
 *
 * An ic_model is what a checkpoint holds: the configuration and one
 * contiguous parameter buffer with its typed views and size table. Nothing
 * a forward or backward pass writes lives here: that is the working memory
 * of a pass (ic_workspace, workspace.h) and the gradient buffer (ic_grads),
 * so any number of workspaces (data-parallel shards, threads of an
 * analysis, later MPI ranks) run one model, which they only read. */
typedef struct {
    ic_config cfg;
    size_t param_sizes[IC_NUM_PARAM_TENSORS];
    size_t num_params;
    float *params_mem; /* [num_params], owned */
    ic_params params;  /* typed views into params_mem */
} ic_model;

/* Allocates parameters (zeroed) for cfg. */
int ic_model_create(ic_model *m, const ic_config *cfg, ic_err *err);
void ic_model_free(ic_model *m);
/* GPT-2 initialisation, seeded (each tensor as IC_PARAM_TABLE's init
 * column says, random tensors drawn in table order). */
void ic_model_init_weights(ic_model *m, uint64_t seed);

/* Pointer to block b's slice of per-block tensor k (or the tensor itself for
 * global tensors, b ignored) in a flat buffer of m's layout: m's parameters
 * (base = m->params_mem) or a gradient buffer's (base = ic_grads.mem). */
float *ic_param_slice(const ic_model *m, float *base, int k, int b);
/* The same in m's parameters. */
float *ic_model_tensor(const ic_model *m, int k, int b);

/* Floating-point operations of one forward (2 per multiply-add, matrix
 * products and attention only) for B prompts of n points under s. The
 * backward costs twice this. */
double ic_model_flops_forward(const ic_config *c, const ic_schedule *s, int B, int n);

/* The loop signal of loop t (ic_schedule.loop_signal) into sig[C]: Vaswani
 * et al.'s sinusoidal embedding of the loop index, sig[2i] = sin(t w_i),
 * sig[2i+1] = cos(t w_i), w_i = 10000^(-2i/C); amplitude 1 per channel, the
 * scale of the prompt embedding P. */
void ic_loop_signal(float *sig, int t, int C);

/* Forward and backward passes, the working memory and the memory estimate. */
#include "workspace.h"

#endif
