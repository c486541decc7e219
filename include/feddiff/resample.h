/* Nearest-neighbour 2x upsampling and channel concatenation, over NHWC activations. */
#ifndef FEDDIFF_RESAMPLE_H
#define FEDDIFF_RESAMPLE_H

/* inp [B][H][W][C] -> out [B][2H][2W][C], out[b][y][x] = inp[b][y/2][x/2]. */
void fd_upsample2x_forward(float *out, const float *inp, int B, int H, int W, int C);
/* dinp [B][H][W][C] += sum of the four dout pixels each input pixel was copied to. */
void fd_upsample2x_backward(float *dinp, const float *dout, int B, int H, int W, int C);

/* out [N][Ca + Cb] = [a [N][Ca], b [N][Cb]] along channels (N = B*H*W positions), as
 * torch.cat((a, b), dim=1) in NCHW. */
void fd_concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb);
/* da [N][Ca], db [N][Cb] += the matching channels of dout; either may be NULL. */
void fd_concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb);

#endif
