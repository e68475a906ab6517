/* adam.h: Adam / AdamW over a flat parameter buffer (llm.c style: the
 * moments are two more contiguous buffers of the same size). */
#ifndef ICLAB_ADAM_H
#define ICLAB_ADAM_H

#include <stddef.h>

#include "err.h"

typedef struct {
    size_t n;
    float *m, *v;        /* first and second moments [n] */
    long step;           /* updates done */
    double beta1, beta2, eps, weight_decay; /* weight_decay > 0: AdamW (decoupled) */
} ic_adam;

/* PyTorch defaults: beta1 0.9, beta2 0.999, eps 1e-8, weight decay 0. */
int ic_adam_create(ic_adam *a, size_t n, ic_err *err);
void ic_adam_free(ic_adam *a);
/* One update: params -= lr * mhat / (sqrt(vhat) + eps) (+ lr*wd*params).
 * Matches torch.optim.Adam / AdamW. */
void ic_adam_update(ic_adam *a, float *params, const float *grads, double lr);
/* Plain reference of the same update, one element at a time, in double. */
void ic_adam_update_ref(ic_adam *a, float *params, const float *grads, double lr);

#endif
