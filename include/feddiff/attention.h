/* Single-head self-attention over the T = H*W positions of an NHWC feature map.
 * qkv [B][T][3C] holds q, k and v side by side per position (the output of one 1x1
 * projection to 3C channels). att [B][T][T] = softmax_rows(q k^T / sqrt(C)) is saved for the
 * backward pass; out [B][T][C] = att v. */
#ifndef FEDDIFF_ATTENTION_H
#define FEDDIFF_ATTENTION_H

void fd_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C);
/* dqkv [B][T][3C] += the gradient with respect to q, k and v. */
void fd_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           int B, int T, int C);

#endif
