/* Activations, elementwise over n values: SiLU (swish), silu(x) = x * sigmoid(x), for the
 * denoisers; ReLU, relu(x) = max(x, 0), for the evaluation classifier. */
#ifndef FEDDIFF_ACTIVATION_H
#define FEDDIFF_ACTIVATION_H

#include <stddef.h>

void fd_silu_forward(float *out, const float *inp, size_t n);
/* dinp += dout * silu'(inp) */
void fd_silu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* out = max(inp, 0); NaN stays NaN. */
void fd_relu_forward(float *out, const float *inp, size_t n);
/* dinp += dout where inp > 0 (the subgradient 0 at inp = 0, as PyTorch) */
void fd_relu_backward(float *dinp, const float *dout, const float *inp, size_t n);

#endif
