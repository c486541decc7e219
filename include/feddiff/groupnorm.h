/* GroupNorm over NHWC activations [B][HW][C]: C channels in G groups of C/G consecutive
 * channels; each (sample, group) is normalised over its HW x C/G values, then scaled and
 * shifted per channel (gamma, beta [C]). As torch.nn.GroupNorm with eps = FD_GROUPNORM_EPS. */
#ifndef FEDDIFF_GROUPNORM_H
#define FEDDIFF_GROUPNORM_H

#define FD_GROUPNORM_EPS 1e-5f

/* mean, rstd [B][G]: saved for the backward pass. */
void fd_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *gamma, const float *beta, int B, int HW, int C, int G);
/* dinp [B][HW][C], dgamma, dbeta [C]: accumulated (+=); any may be NULL. */
void fd_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                           const float *inp, const float *mean, const float *rstd,
                           const float *gamma, int B, int HW, int C, int G);

#endif
