/* ref_model.h: a double-precision reference of the whole model forward,
 * built from the plain ic_ref_* kernels, used by tests for forward parity
 * and for finite-difference gradient checks of the float model. */
#ifndef ICLAB_TEST_REF_MODEL_H
#define ICLAB_TEST_REF_MODEL_H

#include "model.h"

/* The schedule's parallel groups (par) run every member on the group input
 * and average their outputs, as in model.h.
 * Loss of the model with parameters laid out as ic_model's flat parameter
 * buffer (in double). Loops before L - L_grad (no gradient in the float model)
 * use params_nograd; the last L_grad loops (grad_loops, default loss_loops) and the P that feeds them use
 * params_grad, so finite differences on params_grad measure exactly the
 * truncated gradient. preds_out [L,B,n] may be NULL. */
double ref_model_loss(const ic_config *c, const ic_schedule *s, const double *params_nograd,
                      const double *params_grad, const float *xs, const float *ys, int B, int n,
                      double *preds_out);
/* Same, also returning the fixed-point measure |Y_{t+1} - Y_t| / |Y_t| of
 * every loop in delta_out [L] (NaN for t = 0). */
double ref_model_loss_delta(const ic_config *c, const ic_schedule *s, const double *params,
                            const float *xs, const float *ys, int B, int n, double *delta_out);

#endif
