/* The UNet epsilon-predictor of DDPM (Ho et al. 2020), over NHWC images.
 *
 * Default (DESIGN.md section 3): 28x28x1, width 32, multipliers (1, 2, 2), two res-blocks per
 * level, self-attention at the 7x7 level (after each res-block there and in the middle),
 * GroupNorm with 8 groups, SiLU; time embedding sinusoidal(32) -> linear 32->128 -> SiLU ->
 * linear 128->128, plus optional class and client embeddings of width 128; 1,623,169 backbone
 * parameters. The up path concatenates skips (res_blocks + 1 res-blocks per level).
 *
 * Tensor names and layouts are those of the PyTorch reference (tests/reference/unet.py), so a
 * checkpoint loads into PyTorch by name. */
#ifndef FEDDIFF_UNET_H
#define FEDDIFF_UNET_H

#include <stddef.h>

#include "feddiff/params.h"

enum { FD_UNET_MAX_LEVELS = 6 };

typedef struct {
    int in_channels; /* image channels */
    int image_size;  /* square images; divisible by 2^(n_levels - 1) */
    int width;       /* channels at level 0 */
    int n_levels;
    int mults[FD_UNET_MAX_LEVELS]; /* channels at level l = width * mults[l] */
    int res_blocks;                /* res-blocks per level on the way down (one more going up) */
    unsigned attention_levels;     /* bit l set: self-attention at level l */
    int groups;                    /* GroupNorm groups; divides every channel count */
    int time_dim;                  /* sinusoidal embedding width */
    int emb_dim;                   /* time/condition embedding width */
    int n_classes;                 /* rows of the class embedding (0: unconditional) */
    int n_clients;                 /* rows of the client embedding (0: none) */
} fd_unet_config;

fd_unet_config fd_unet_default_config(void);
/* NULL if the configuration is valid, else a message naming the offending field. */
const char *fd_unet_config_error(const fd_unet_config *cfg);

typedef struct fd_unet fd_unet;

/* Declare the network's tensors in `params` (which must not be finalized yet). The returned
 * network refers to params; finalize the arena before any other call. */
fd_unet *fd_unet_create(const fd_unet_config *cfg, fd_params *params);
void fd_unet_free(fd_unet *net);
const fd_unet_config *fd_unet_config_of(const fd_unet *net);

/* PyTorch's default initialisation (uniform +-1/sqrt(fan_in) for convolutions and linear
 * layers, GroupNorm scale 1 and shift 0, embeddings N(0, 1)), drawn from the seed. */
void fd_unet_init_params(fd_unet *net, unsigned long long seed);

/* Activation memory for batches of up to max_batch images (bytes: fd_unet_activation_bytes). */
void fd_unet_reserve(fd_unet *net, int max_batch);
size_t fd_unet_activation_bytes(const fd_unet *net);

/* eps [B][S][S][C] = the network at x [B][S][S][C] (NHWC), timesteps t [B], class ids y [B]
 * and client ids [B] (either NULL when the network has no such table). Keeps what backward
 * needs. */
void fd_unet_forward(fd_unet *net, float *eps, const float *x, const float *t, const int *y,
                     const int *client, int B);
/* Accumulate d loss / d parameters into the arena's gradient buffer, given d loss / d eps of
 * the last forward. */
void fd_unet_backward(fd_unet *net, const float *deps);

/* FLOPs of one forward pass of one image (multiply-adds of convolutions, linear layers and
 * attention, counted as 2). */
double fd_unet_forward_flops(const fd_unet *net);
/* FLOPs of the backward pass of one image, counted alike: every GEMM of the forward twice
 * (input and weight gradients), except the input gradients that are not computed. */
double fd_unet_backward_flops(const fd_unet *net);

#endif
