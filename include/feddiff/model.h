/* A denoiser with its parameter arena and exponential moving average: the UNet for images or
 * the MLP for vectors, behind one interface that diffusion, federation and I/O use. */
#ifndef FEDDIFF_MODEL_H
#define FEDDIFF_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "feddiff/mlp.h"
#include "feddiff/params.h"
#include "feddiff/unet.h"

enum fd_model_kind { FD_MODEL_UNET, FD_MODEL_MLP };

typedef struct {
    enum fd_model_kind kind;
    fd_unet_config unet;
    fd_mlp_config mlp;
} fd_model_config;

typedef struct {
    enum fd_model_kind kind;
    fd_model_config cfg;
    fd_params params;   /* parameters, gradients, AdamW moments */
    float *ema;         /* [params.count] moving average of the parameters, or NULL */
    size_t sample_size; /* floats per sample: S*S*C for images, dim for vectors */
    fd_unet *unet;      /* the network, by kind */
    fd_mlp *mlp;
} fd_model;

/* NULL if the configuration is valid, else a one-line message naming the setting. */
const char *fd_model_config_error(const fd_model_config *cfg);
fd_model *fd_model_create(const fd_model_config *cfg);
void fd_model_free(fd_model *m);
/* Initialise parameters from the seed (PyTorch's default schemes); the EMA starts equal. */
void fd_model_init(fd_model *m, uint64_t seed);
/* Rows of the class and client embedding tables (0: the model has none). */
int fd_model_n_classes(const fd_model *m);
int fd_model_n_clients(const fd_model *m);

/* eps [B][sample_size] for inputs x [B][sample_size] at timesteps t [B]; y, client: [B] or
 * NULL. backward accumulates into m->params.grad. */
void fd_model_forward(fd_model *m, float *eps, const float *x, const float *t, const int *y,
                      const int *client, int B);
void fd_model_backward(fd_model *m, const float *deps);

/* Allocate the EMA (a copy of the parameters). */
void fd_model_ema_enable(fd_model *m);
/* ema = d ema + (1 - d) params over the parts in part_mask, with d = min(decay, (1 + step) /
 * (10 + step)): the warm-up keeps early averages from being dominated by the initialisation. */
void fd_model_ema_update(fd_model *m, double decay, long step, unsigned part_mask);
/* The EMA decay after `step` optimizer steps: min(decay, (1 + step) / (10 + step)). */
float fd_ema_decay_at(double decay, long step);
/* ema = d ema + (1 - d) x over n values. */
void fd_ema_blend(float *ema, const float *x, size_t n, float d);
/* Exchange parameters and EMA (O(1)): sample with the EMA weights, then swap back. */
void fd_model_swap_ema(fd_model *m);

#endif
