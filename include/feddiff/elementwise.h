/* Elementwise pieces of the UNet: residual sums and the per-sample channel bias through which
 * the time (and condition) embedding reaches every res-block. */
#ifndef FEDDIFF_ELEMENTWISE_H
#define FEDDIFF_ELEMENTWISE_H

#include <stddef.h>

/* out = a + b (out may alias a or b). */
void fd_add_forward(float *out, const float *a, const float *b, size_t n);
/* dst += src: the backward of a sum, for each of its inputs. */
void fd_accumulate(float *dst, const float *src, size_t n);

/* h [B][HW][C] += bias [B][C], broadcast over the HW positions of each sample. */
void fd_add_channel_bias_forward(float *h, const float *bias, int B, int HW, int C);
/* dbias [B][C] += sum over positions of dh. */
void fd_add_channel_bias_backward(float *dbias, const float *dh, int B, int HW, int C);

#endif
