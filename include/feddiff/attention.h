/* Single-head self-attention over the T = H*W positions of an NHWC feature map.
 * qkv [B][T][3C] holds q, k and v side by side per position (the output of one 1x1
 * projection to 3C channels). att [B][T][T] = softmax_rows(q k^T / sqrt(C)) is saved for the
 * backward pass; out [B][T][C] = att v. A score of -inf gets weight 0; a row with no finite
 * score gets all-zero weights. The OpenMP team works on (sample, block of rows) items and every
 * fd_sgemm runs single-threaded inside it: per-sample GEMMs are too small for threaded BLIS. */
#ifndef FEDDIFF_ATTENTION_H
#define FEDDIFF_ATTENTION_H

void fd_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C);
/* dqkv [B][T][3C] += the gradient with respect to q, k and v. Uses the calling thread's
 * fd_scratch slot 0 ([B][T][T] floats) for the score gradients. */
void fd_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           int B, int T, int C);

#endif
