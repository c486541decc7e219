/* Declaring and initialising the parameters of a layer in the arena: the pieces the networks
 * are built from. */
#ifndef FEDDIFF_LAYERS_H
#define FEDDIFF_LAYERS_H

#include <stdint.h>

#include "feddiff/params.h"

typedef struct {
    int w, b; /* tensor ids of weight and bias; w == -1: the layer is absent */
} fd_layer;

#define FD_NO_LAYER ((fd_layer){-1, -1})

/* "<prefix>.weight" [cout][cin][k][k] and "<prefix>.bias" [cout] */
fd_layer fd_layer_conv(fd_params *p, enum fd_part part, const char *prefix, int cin, int cout,
                       int k);
/* "<prefix>.weight" [out][in] and "<prefix>.bias" [out] */
fd_layer fd_layer_linear(fd_params *p, enum fd_part part, const char *prefix, int in, int out);
/* GroupNorm "<prefix>.weight" and "<prefix>.bias" [c] */
fd_layer fd_layer_norm(fd_params *p, enum fd_part part, const char *prefix, int c);

/* PyTorch's default for convolutions and linear layers: weight and bias uniform in
 * +-1/sqrt(fan_in). Draws are a pure function of (seed, tensor id). No-op for FD_NO_LAYER. */
void fd_layer_init_uniform(const fd_params *p, fd_layer l, uint64_t seed);
/* GroupNorm: scale 1, shift 0. */
void fd_layer_init_norm(const fd_params *p, fd_layer l);
/* Embedding tables: N(0, 1), as torch.nn.Embedding. No-op for id -1. */
void fd_tensor_init_normal(const fd_params *p, int id, uint64_t seed);

#endif
