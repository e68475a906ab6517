/* prompts.h: prompt files — safetensors with xs F32 [B,n,d] and ys F32 [B,n]
 * (the layout of tasks.h: ys[b,i] is the target of xs[b,i]), so users can
 * evaluate on their own data. */
#ifndef ICLAB_PROMPTS_H
#define ICLAB_PROMPTS_H

#include "err.h"

typedef struct {
    int B, n, d;
    float *xs; /* [B,n,d] */
    float *ys; /* [B,n] */
} ic_prompts;

/* Reads and checks a prompt file: both tensors present, F32, right ranks,
 * matching shapes, B and n at least 1, d == d_expected and n <= max_n when
 * those are > 0, every value finite (NaN/Inf: an error naming the tensor,
 * prompt, point and coordinate). Errors name the file, tensor and what is
 * wrong. */
int ic_prompts_load(const char *path, int d_expected, int max_n, ic_prompts *out, ic_err *err);
void ic_prompts_free(ic_prompts *p);

#endif
