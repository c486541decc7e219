/* 2-D convolution over NHWC activations, padding K/2 ("same" for stride 1), as GEMMs through
 * fd_sgemm over chunks of positions (src/kernels/conv2d.c tells which formulation when).
 * inp [B][H][W][C_in] -> out [B][Ho][Wo][C_out], Ho = (H + 2*(K/2) - K) / stride + 1;
 * weight [C_out][C_in][K][K] (PyTorch's layout), bias [C_out] or NULL. K is 1 or 3; stride is
 * 1 or 2. See feddiff/kernels.h for the conventions. Scratch (fd_scratch) is bounded by the
 * chunk size, about 8 MB per thread, or a few images if they are larger; results are the same
 * in every run with the same thread count. */
#ifndef FEDDIFF_CONV2D_H
#define FEDDIFF_CONV2D_H

int fd_conv2d_out_size(int in, int K, int stride);

void fd_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                       int B, int H, int W, int C_in, int C_out, int K, int stride);
/* dinp [B][H][W][C_in], dweight [C_out][C_in][K][K], dbias [C_out]: accumulated (+=). */
void fd_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int B, int H, int W, int C_in,
                        int C_out, int K, int stride);

#endif
