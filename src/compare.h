/* compare.h: several models on the same prompts, each against the first
 * with paired bootstrap intervals (surgery.h's statistics): `iclab compare`
 * (cli/cmd_compare.c) loads each model and calls ic_compare_add, then
 * ic_compare_write. */
#ifndef ICLAB_COMPARE_H
#define ICLAB_COMPARE_H

#include <stdint.h>

#include "err.h"
#include "model.h"
#include "surgery.h"
#include "tasks.h"

#define IC_COMPARE_MAX 16

typedef struct {
    int nm;                  /* models */
    int d;
    uint64_t seed;           /* of the prompts */
    ic_surgery_opts o;       /* B, n, norm, ks, n_boot, boot_seed, chunk */
    ic_task_spec task;       /* the first model's: every model sees its prompts */
    float *xs, *ys;          /* [B,n,d], [B,n] */
    float *preds;            /* [nm,B,n] */
    const char *paths[IC_COMPARE_MAX], *labels[IC_COMPARE_MAX]; /* borrowed */
    int loops[IC_COMPARE_MAX];                                  /* the loop count each model ran */
    ic_variant_result res[IC_COMPARE_MAX];
} ic_compare;

/* Draws o->B prompts of o->n points of task (d dimensions) from seed, for nm
 * models. o->boot_seed, ks, n_boot, chunk and norm are used as given. */
int ic_compare_begin(ic_compare *c, const ic_task_spec *task, int d, const ic_surgery_opts *o, uint64_t seed, int nm,
                     ic_err *err);
/* Model i (0: the reference) predicts the prompts; its paired statistics
 * against model 0. It must have n_dims d and at least n positions. */
int ic_compare_add(ic_compare *c, int i, ic_model *m, const ic_schedule *s, const char *path, const char *label,
                   ic_err *err);
/* DIR/compare.csv, compare.json, compare.svg (every curve with its band). */
int ic_compare_write(const char *dir, const ic_compare *c, ic_err *err);
void ic_compare_free(ic_compare *c);

#endif
