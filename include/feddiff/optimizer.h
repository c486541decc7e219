/* AdamW (Loshchilov & Hutter) with bias correction, exactly as torch.optim.AdamW computes it in
 * float32, and gradient clipping by global norm as torch.nn.utils.clip_grad_norm_. */
#ifndef FEDDIFF_OPTIMIZER_H
#define FEDDIFF_OPTIMIZER_H

#include <stddef.h>

#include "feddiff/params.h"

typedef struct {
    float lr;           /* learning rate */
    float beta1, beta2; /* moment decays */
    float eps;          /* added to the square root of the second moment */
    float weight_decay; /* decoupled; applied to tensors with fd_tensor.decay set */
} fd_adamw_config;

/* PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
fd_adamw_config fd_adamw_defaults(void);

/* One AdamW update of n values at step `step` (1 for the first update):
 *   p -= lr * wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= (lr / (1 - b1^step)) * m / (sqrt(v) / sqrt(1 - b2^step) + eps). */
void fd_adamw_update(float *param, const float *grad, float *m, float *v, size_t n,
                     const fd_adamw_config *cfg, float weight_decay, long step);

/* AdamW over every tensor of the arena whose part is in part_mask (1 << FD_PART_x), with
 * weight decay on the tensors marked for it. */
void fd_params_adamw_step(fd_params *p, unsigned part_mask, const fd_adamw_config *cfg, long step);

/* Euclidean norm of n values, accumulated in double. */
double fd_global_norm(const float *x, size_t n);
/* If the norm of grad exceeds max_norm, scale grad by max_norm / (norm + 1e-6). Returns the
 * norm before clipping (non-finite when the gradient is: the caller must check). */
double fd_clip_grad_norm(float *grad, size_t n, double max_norm);

#endif
