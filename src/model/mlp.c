#include "feddiff/mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/kernels.h"
#include "feddiff/layers.h"
#include "feddiff/time_embedding.h"

enum { MLP_MAX_LAYERS = 16 };

/* Layer k (0 = input layer): z_k = lin_k(h_{k-1}) + temb_k(act); h_k = SiLU(z_k). */
struct fd_mlp {
    fd_mlp_config cfg;
    fd_params *params;
    fd_time_embedding temb;
    fd_layer lin[MLP_MAX_LAYERS + 1], temb_proj[MLP_MAX_LAYERS + 1], out;
    int max_batch, batch;
    float *buffer;
    float *x;                     /* [B][dim] */
    float *z[MLP_MAX_LAYERS + 1]; /* [B][hidden] pre-activations */
    float *h[MLP_MAX_LAYERS + 1]; /* [B][hidden] activations */
    float *tb, *dz, *dh;          /* [B][hidden] scratch */
    const float *temb_act;
};

fd_mlp_config fd_mlp_default_config(int dim)
{
    fd_mlp_config c = {.dim = dim,
                       .hidden = 128,
                       .layers = 2,
                       .time_dim = 32,
                       .emb_dim = 128,
                       .n_classes = 0,
                       .n_clients = 0};
    return c;
}

const char *fd_mlp_config_error(const fd_mlp_config *c)
{
    if (c->dim < 1) return "the data dimension must be positive";
    if (c->hidden < 1) return "model.hidden must be positive";
    if (c->layers < 0 || c->layers > MLP_MAX_LAYERS) return "model.layers must be between 0 and 16";
    if (c->time_dim < 4 || c->time_dim % 2) return "the time embedding width must be even and >= 4";
    if (c->emb_dim < 1 || c->n_classes < 0 || c->n_clients < 0) return "invalid embedding sizes";
    return NULL;
}

fd_mlp *fd_mlp_create(const fd_mlp_config *cfg, fd_params *params)
{
    const char *err = fd_mlp_config_error(cfg);
    if (err) FD_FATAL("invalid model configuration: %s", err);
    fd_mlp *net = fd_calloc(1, sizeof *net);
    net->cfg = *cfg;
    net->params = params;
    fd_time_embedding_declare(&net->temb, params, cfg->time_dim, cfg->emb_dim, cfg->n_classes,
                              cfg->n_clients);
    net->lin[0] = fd_layer_linear(params, FD_PART_ENC, "inp", cfg->dim, cfg->hidden);
    net->temb_proj[0] = fd_layer_linear(params, FD_PART_ENC, "inp_temb", cfg->emb_dim, cfg->hidden);
    for (int k = 1; k <= cfg->layers; k++) {
        char name[32];
        snprintf(name, sizeof name, "hidden.%d", k - 1);
        net->lin[k] = fd_layer_linear(params, FD_PART_MID, name, cfg->hidden, cfg->hidden);
        snprintf(name, sizeof name, "hidden_temb.%d", k - 1);
        net->temb_proj[k] = fd_layer_linear(params, FD_PART_MID, name, cfg->emb_dim, cfg->hidden);
    }
    net->out = fd_layer_linear(params, FD_PART_DEC, "out", cfg->hidden, cfg->dim);
    return net;
}

void fd_mlp_free(fd_mlp *net)
{
    if (!net) return;
    fd_time_embedding_free(&net->temb);
    free(net->buffer);
    free(net);
}

void fd_mlp_init_params(fd_mlp *net, unsigned long long seed)
{
    fd_time_embedding_init_params(&net->temb, net->params, seed);
    for (int k = 0; k <= net->cfg.layers; k++) {
        fd_layer_init_uniform(net->params, net->lin[k], seed);
        fd_layer_init_uniform(net->params, net->temb_proj[k], seed);
    }
    fd_layer_init_uniform(net->params, net->out, seed);
}

static void reserve(fd_mlp *net, int B)
{
    if (B <= net->max_batch) return;
    const size_t rows = (size_t)B, H = (size_t)net->cfg.hidden, L = (size_t)net->cfg.layers + 1;
    free(net->buffer);
    net->buffer = fd_malloc(sizeof(float) * rows * ((size_t)net->cfg.dim + (2 * L + 3) * H));
    float *next = net->buffer;
    net->x = next, next += rows * (size_t)net->cfg.dim;
    for (size_t k = 0; k < L; k++) {
        net->z[k] = next, next += rows * H;
        net->h[k] = next, next += rows * H;
    }
    net->tb = next, next += rows * H;
    net->dz = next, next += rows * H;
    net->dh = next;
    net->max_batch = B;
}

#define WEIGHT(l)  fd_params_data(net->params, (l).w)
#define BIAS(l)    fd_params_data(net->params, (l).b)
#define DWEIGHT(l) fd_params_grad(net->params, (l).w)
#define DBIAS(l)   fd_params_grad(net->params, (l).b)

void fd_mlp_forward(fd_mlp *net, float *eps, const float *x, const float *t, const int *y,
                    const int *client, int B)
{
    const fd_mlp_config *c = &net->cfg;
    reserve(net, B);
    net->batch = B;
    memcpy(net->x, x, sizeof(float) * (size_t)B * (size_t)c->dim);
    net->temb_act = fd_time_embedding_forward(&net->temb, net->params, t, y, client, B);
    const size_t n = (size_t)B * (size_t)c->hidden;
    for (int k = 0; k <= c->layers; k++) {
        const float *in = k == 0 ? net->x : net->h[k - 1];
        int in_dim = k == 0 ? c->dim : c->hidden;
        fd_linear_forward(net->z[k], in, WEIGHT(net->lin[k]), BIAS(net->lin[k]), B, in_dim,
                          c->hidden);
        fd_linear_forward(net->tb, net->temb_act, WEIGHT(net->temb_proj[k]),
                          BIAS(net->temb_proj[k]), B, c->emb_dim, c->hidden);
        fd_accumulate(net->z[k], net->tb, n);
        fd_silu_forward(net->h[k], net->z[k], n);
    }
    fd_linear_forward(eps, net->h[c->layers], WEIGHT(net->out), BIAS(net->out), B, c->hidden,
                      c->dim);
}

void fd_mlp_backward(fd_mlp *net, const float *deps)
{
    const fd_mlp_config *c = &net->cfg;
    const int B = net->batch;
    FD_ASSERT(B >= 1);
    const size_t n = (size_t)B * (size_t)c->hidden;
    memset(net->dh, 0, sizeof(float) * n);
    fd_linear_backward(net->dh, DWEIGHT(net->out), DBIAS(net->out), deps, net->h[c->layers],
                       WEIGHT(net->out), B, c->hidden, c->dim);
    for (int k = c->layers; k >= 0; k--) {
        memset(net->dz, 0, sizeof(float) * n);
        fd_silu_backward(net->dz, net->dh, net->z[k], n);
        fd_linear_backward(net->temb.dact, DWEIGHT(net->temb_proj[k]), DBIAS(net->temb_proj[k]),
                           net->dz, net->temb_act, WEIGHT(net->temb_proj[k]), B, c->emb_dim,
                           c->hidden);
        const float *in = k == 0 ? net->x : net->h[k - 1];
        int in_dim = k == 0 ? c->dim : c->hidden;
        float *din = NULL;
        if (k > 0) din = memset(net->dh, 0, sizeof(float) * n);
        fd_linear_backward(din, DWEIGHT(net->lin[k]), DBIAS(net->lin[k]), net->dz, in,
                           WEIGHT(net->lin[k]), B, in_dim, c->hidden);
    }
    fd_time_embedding_backward(&net->temb, net->params);
}
