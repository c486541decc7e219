/* A small MLP epsilon-predictor for vector data (Gaussian-mixture experiments).
 *
 * temb = time_mlp(sinusoidal(t)) (+ class/client embeddings), as in the UNet;
 * h_0 = silu(in(x) + in_temb(silu(temb)));  h_k = silu(hidden.k(h_{k-1}) + hidden_temb.k(...));
 * eps = out(h_L). Parts: time MLP and class table `temb`, input layer `enc`, hidden layers
 * `mid`, output layer `dec`, client table `client`. */
#ifndef FEDDIFF_MLP_H
#define FEDDIFF_MLP_H

#include <stddef.h>

#include "feddiff/params.h"

typedef struct {
    int dim;       /* data dimension */
    int hidden;    /* hidden width */
    int layers;    /* hidden layers after the input layer (>= 0) */
    int time_dim;  /* sinusoidal embedding width */
    int emb_dim;   /* time/condition embedding width */
    int n_classes; /* 0: none */
    int n_clients; /* 0: none */
} fd_mlp_config;

fd_mlp_config fd_mlp_default_config(int dim);
const char *fd_mlp_config_error(const fd_mlp_config *cfg);

typedef struct fd_mlp fd_mlp;

fd_mlp *fd_mlp_create(const fd_mlp_config *cfg, fd_params *params);
void fd_mlp_free(fd_mlp *net);
void fd_mlp_init_params(fd_mlp *net, unsigned long long seed);
void fd_mlp_forward(fd_mlp *net, float *eps, const float *x, const float *t, const int *y,
                    const int *client, int B);
void fd_mlp_backward(fd_mlp *net, const float *deps);

#endif
