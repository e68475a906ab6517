/* checkpoint.h: models as safetensors files with Garg et al.'s tensor names
 * and layouts (the ckpt column of IC_PARAM_TABLE, model.h), so their
 * PyTorch models and ours load each other (symbols: docs/architecture.md).
 *
 *   _read_in.{weight [C,d], bias [C]}            nn.Linear layout
 *   _backbone.wpe.weight [2*n_positions, C]
 *   _backbone.h.{i}.ln_1.{weight,bias} [C]
 *   _backbone.h.{i}.attn.c_attn.{weight [C,3C], bias [3C]}   Conv1D (in,out)
 *   _backbone.h.{i}.attn.c_proj.{weight [C,C], bias [C]}
 *   _backbone.h.{i}.ln_2.{weight,bias} [C]
 *   _backbone.h.{i}.mlp.c_fc.{weight [C,4C], bias [4C]}
 *   _backbone.h.{i}.mlp.c_proj.{weight [4C,C], bias [C]}
 *   _backbone.ln_f.{weight,bias} [C]
 *   _read_out.{weight [1,C], bias [1]}
 *
 * __metadata__ holds "iclab_config" (the model config as JSON) and
 * "iclab_schedule" (steps, loops, loss_loops, inject, loop_lnf as JSON).
 * A file without them (a converted Garg et al. checkpoint) loads too: the
 * shapes give d, e, blocks and positions; the caller supplies n_head.
 *
 * Integrity: ic_checkpoint_save also writes "iclab_crc32", the CRC-32 of
 * every tensor's bytes (ic_checksums_json); loading checks them when the
 * file has them (a file without them, e.g. written by PyTorch, still loads)
 * and refuses any non-finite parameter, naming the tensor and index. */
#ifndef ICLAB_CHECKPOINT_H
#define ICLAB_CHECKPOINT_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "gemm.h"
#include "model.h"
#include "safetensors.h"

/* Metadata key of the per-tensor checksums: a JSON object mapping each
 * tensor's name to the CRC-32 (zlib's) of its data bytes as 8 hex digits. */
#define IC_CHECKSUM_KEY "iclab_crc32"

/* The IC_CHECKSUM_KEY value for these tensors (malloc'ed; NULL: out of memory). */
char *ic_checksums_json(const st_wtensor *ts, int n);
/* Checks f's IC_CHECKSUM_KEY against its tensors: every tensor listed, every
 * listed tensor present, every CRC equal. A file without the key passes
 * unless required. The error names the tensor. */
int ic_checksums_verify(const st_file *f, int required, ic_err *err);
/* Fails, naming the tensor and the index, if x[0..n) holds a NaN or an infinity. */
int ic_check_finite(const char *name, const float *x, size_t n, ic_err *err);

/* Writes m's parameters and s (NULL: default schedule) atomically to path.
 * extra_keys/extra_vals (n_extra pairs, may be 0) are added to __metadata__. */
int ic_checkpoint_save(const char *path, const ic_model *m, const ic_schedule *s,
                       const char *const *extra_keys, const char *const *extra_vals, int n_extra,
                       ic_err *err);

/* Same, with the tensors in dtype: IC_PREC_FP32 (F32, what ic_checkpoint_save
 * writes) or IC_PREC_BF16 (BF16: each weight rounded to nearest, ties to even,
 * by gemm.h's ic_bf16_bits; half the bytes). Every loader widens BF16 back to
 * fp32 exactly. A weight beyond bf16's range (|x| >= ~3.39e38) is refused,
 * naming its index. */
int ic_checkpoint_save_as(const char *path, const ic_model *m, const ic_schedule *s, ic_precision dtype,
                          const char *const *extra_keys, const char *const *extra_vals, int n_extra,
                          ic_err *err);

/* Rewrites the model checkpoint in_path (F32, BF16, F16 or F64 tensors) as
 * out_path with its tensors in dtype; loaded and checked like any checkpoint
 * (checksums, names, shapes, finite values; n_head as ic_checkpoint_load).
 * Metadata entries other than those ic_checkpoint_save_as writes (train_step,
 * iclab_run_config, ...) are kept as they are. out_path is written atomically
 * and may not be in_path's file. *cfg (may be NULL) receives the model's config. */
int ic_checkpoint_convert(const char *in_path, const char *out_path, ic_precision dtype, int n_head,
                          ic_config *cfg, ic_err *err);

/* Loads path into a new model m (ic_model_create'd here; caller frees with
 * ic_model_free) and its schedule into *s. n_head: 0 to take it from the
 * metadata; otherwise used when the file has no metadata, and must agree
 * with the metadata when it has. notice (may be NULL) receives a line about
 * ignored tensors (wte, attn.bias, attn.masked_bias), or "" if none. */
int ic_checkpoint_load(const char *path, ic_model *m, ic_schedule *s, int n_head,
                       char *notice, size_t notice_len, ic_err *err);

/* Same, from an already parsed file (the importer builds one in memory);
 * checksums are checked when the file has them. */
int ic_checkpoint_load_st(const st_file *f, ic_model *m, ic_schedule *s, int n_head, char *notice,
                          size_t notice_len, ic_err *err);

/* Same, and (run_cfg non-NULL) the run config the file was made with: the
 * defaults overlaid with its "iclab_run_config" metadata when present (init
 * and train record it); used for defaults such as the task and n_points.
 * A record that does not parse (an unknown key, a value of the wrong type or
 * out of range) is an error naming the key. The file is read once.
 * Every integer of the metadata is range-checked before use. */
int ic_checkpoint_load_run(const char *path, ic_model *m, ic_schedule *s, int n_head, char *notice,
                           size_t notice_len, ic_run_config *run_cfg, ic_err *err);

/* Garg et al.'s name for block b's slice of parameter tensor k (or the
 * global tensor k) into buf. */
void ic_checkpoint_tensor_name(int k, int b, char *buf, size_t len);

#endif
