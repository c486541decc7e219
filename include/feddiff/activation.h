/* SiLU (swish): silu(x) = x * sigmoid(x), elementwise over n values. */
#ifndef FEDDIFF_ACTIVATION_H
#define FEDDIFF_ACTIVATION_H

#include <stddef.h>

void fd_silu_forward(float *out, const float *inp, size_t n);
/* dinp += dout * silu'(inp) */
void fd_silu_backward(float *dinp, const float *dout, const float *inp, size_t n);

#endif
