/* 2x2 max pooling with stride 2 over NHWC activations, as torch.nn.MaxPool2d(2) (an odd last
 * row or column is dropped). */
#ifndef FEDDIFF_POOL_H
#define FEDDIFF_POOL_H

/* inp [B][H][W][C] -> out [B][H/2][W/2][C], the maximum of each 2x2 window; NaN propagates. */
void fd_maxpool2x2_forward(float *out, const float *inp, int B, int H, int W, int C);
/* dinp [B][H][W][C] += dout at the position of each window's maximum (the first one in
 * row-major order on ties, as the forward pass found it); NULL: skipped. */
void fd_maxpool2x2_backward(float *dinp, const float *dout, const float *inp, int B, int H, int W,
                            int C);

#endif
