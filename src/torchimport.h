/* torchimport.h: PyTorch checkpoints (torch.save since 1.6: a zip archive of
 * <name>/data.pkl, <name>/data/<key> storages, <name>/version) to iclab
 * safetensors checkpoints.
 *
 * Safety: the archive is read from memory with libzip; every entry name is
 * checked (no absolute paths, '..', '.', empty components, backslashes,
 * duplicates, all under one <name>/ prefix), every entry's declared size is
 * capped (limits below) as is the total and the compression ratio, encrypted
 * entries are refused, and each storage entry must hold exactly the bytes
 * data.pkl declares (numel x element size). data.pkl is read by the restricted
 * unpickler of torchpickle.h: nothing in the file is executed.
 *
 * Layouts: a bare state_dict; a dict with "model_state_dict" (Garg et al.'s
 * training state: "train_step" is recorded), "state_dict" or "model".
 * Tensors: Float/Half/BFloat16/Double storages, any strides and storage
 * offsets (materialised element by element), storages shared between tensors.
 * GPT-2's unused buffers (wte, attn.bias, attn.masked_bias) are dropped.
 *
 * Yang et al.'s looped transformer (model.family gpt2_loop, loop_func
 * 'z=f(x+z)'; their nanoGPT backbone, recognised by the tensor names
 * _backbone.transformer.*) is iclab's looped model with inject and loop_lnf
 * on: backbone names lose "transformer.", the four nn.Linear weights of each
 * block ([out,in]) are transposed to Conv1D [in,out], wpe's last row (their
 * block_size is 2*n_positions+1; no prompt reaches it) is dropped, and the
 * schedule gets loops = training.curriculum.loops.end (or --loops) and
 * loss_loops = training.n_loop_window (at most loops). */
#ifndef ICLAB_TORCHIMPORT_H
#define ICLAB_TORCHIMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "gemm.h"
#include "torchpickle.h"

#define IC_IMPORT_MAX_TOTAL ((uint64_t)4 << 30) /* uncompressed bytes of the whole archive */
#define IC_IMPORT_MAX_ENTRY ((uint64_t)2 << 30) /* one entry */
#define IC_IMPORT_MAX_RATIO 200                 /* uncompressed/compressed above 1 MiB */
#define IC_IMPORT_MAX_ENTRIES 100000

typedef struct {
    uint64_t max_total; /* 0: IC_IMPORT_MAX_TOTAL */
    uint64_t max_entry; /* 0: IC_IMPORT_MAX_ENTRY */
} ic_import_limits;

typedef struct {
    char *name;
    int ndim;
    int64_t shape[TP_MAX_DIMS];
    float *data;        /* numel floats, row-major (contiguous) */
    tp_dtype src;       /* the storage's element type */
} ic_torch_tensor;

typedef struct {
    ic_torch_tensor *t; /* the model tensors, in state_dict order */
    int n;
    char layout[48];    /* "state_dict", "garg_training_state", ... */
    long long train_step;
    int has_train_step;
    int n_dropped;      /* GPT-2 buffers left out */
    char first_dropped[96];
    unsigned dtypes;    /* bit (1 << tp_dtype) for each source type seen */
} ic_torch_state;

/* Reads a torch.save zip archive held in buf[0..n). Errors name the entry
 * and the byte offset (in the archive for entries, in data.pkl for pickle). */
int ic_torch_read(const uint8_t *buf, size_t n, const ic_import_limits *lim, ic_torch_state *out, ic_err *err);
void ic_torch_state_free(ic_torch_state *s);

/* What Garg et al.'s run-directory config.yaml says (0 / "" when absent). */
typedef struct {
    int n_head, n_embd, n_layer, n_dims, n_positions;
    char family[32];
    char task[64];
    int points_end, dims_end;
    long long train_steps;
    int loops_end, n_loop_window; /* Yang et al.'s looped models */
    char loop_func[32];           /* Yang et al.: model.loop_func, "" when absent */
} ic_garg_yaml;

/* Parses path (at most 1 MiB) with libyaml. Unknown keys are ignored; a known
 * key with a value of the wrong type is an error naming it. The task is
 * training.task (Garg et al.) or else training.task_name (Yang et al.). */
int ic_garg_yaml_read(const char *path, ic_garg_yaml *y, ic_err *err);

typedef struct {
    int n_head;              /* 0: from the config */
    const char *config_path; /* NULL: config.yaml next to the .pt file, if there is one */
    int loops;               /* looped (Yang et al.) models: 0 = the config's loops.end */
    ic_import_limits limits;
    ic_precision dtype;      /* the written model's tensors (0: IC_PREC_FP32; ic_checkpoint_save_as) */
} ic_import_opts;

typedef struct {
    ic_config cfg;
    char layout[48];
    long long train_step;
    int has_train_step;
    char config_used[512];   /* the config.yaml read, or "" */
    char task[64];           /* from the config, or "" */
    char dtypes[64];         /* "F32", "F16", "BF16,F32", ... */
    char notice[256];        /* dropped tensors, or "" */
    int looped;              /* 1: a Yang et al. looped model */
    int loops, loss_loops;   /* the schedule written */
} ic_import_report;

/* Imports pt_path into out_path (an iclab checkpoint with metadata "iclab_import"
 * describing the source and, when a config gave the task, "iclab_run_config"),
 * then loads out_path back to validate it. */
int ic_torch_import(const char *pt_path, const char *out_path, const ic_import_opts *o, ic_import_report *rep,
                    ic_err *err);

#endif
