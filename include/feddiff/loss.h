/* Mean-squared-error loss of the epsilon-prediction objective. */
#ifndef FEDDIFF_LOSS_H
#define FEDDIFF_LOSS_H

#include <stddef.h>

/* mean over n values of (pred - target)^2, accumulated in double. */
float fd_mse_forward(const float *pred, const float *target, size_t n);
/* dpred += dloss * 2 (pred - target) / n */
void fd_mse_backward(float *dpred, const float *pred, const float *target, size_t n,
                     float dloss);

#endif
