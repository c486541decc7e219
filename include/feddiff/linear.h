/* Fully connected layer: out[N][OC] = inp[N][IC] weight[OC][IC]^T + bias[OC] (bias may be
 * NULL). Also the 1x1 projections of attention, applied to N = B*H*W rows. */
#ifndef FEDDIFF_LINEAR_H
#define FEDDIFF_LINEAR_H

void fd_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int N, int IC, int OC);
/* dinp [N][IC], dweight [OC][IC], dbias [OC]: accumulated (+=); any may be NULL. */
void fd_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int N, int IC, int OC);

#endif
