/* Losses: the mean squared error of the epsilon-prediction objective, and the softmax
 * cross-entropy of the evaluation classifier. */
#ifndef FEDDIFF_LOSS_H
#define FEDDIFF_LOSS_H

#include <stddef.h>

/* mean over n values of (pred - target)^2, accumulated in double. */
float fd_mse_forward(const float *pred, const float *target, size_t n);
/* dpred += dloss * 2 (pred - target) / n */
void fd_mse_backward(float *dpred, const float *pred, const float *target, size_t n,
                     float dloss);

/* Softmax cross-entropy of logits [B][C] against labels [B] (each in [0, C)), as
 * torch.nn.functional.cross_entropy: the mean over the batch of logsumexp(row) - row[label],
 * computed in double. probs [B][C] receives the softmax, kept for the backward pass. */
float fd_softmax_xent_forward(float *probs, const float *logits, const int *labels, int B, int C);
/* dlogits += dloss * (probs - onehot(labels)) / B */
void fd_softmax_xent_backward(float *dlogits, const float *probs, const int *labels, int B, int C,
                              float dloss);

#endif
