#include "feddiff/model.h"

#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"

const char *fd_model_config_error(const fd_model_config *cfg)
{
    return cfg->kind == FD_MODEL_UNET ? fd_unet_config_error(&cfg->unet)
                                      : fd_mlp_config_error(&cfg->mlp);
}

fd_model *fd_model_create(const fd_model_config *cfg)
{
    const char *err = fd_model_config_error(cfg);
    if (err) FD_FATAL("invalid model configuration: %s", err);
    fd_model *m = fd_calloc(1, sizeof *m);
    m->kind = cfg->kind;
    m->cfg = *cfg;
    fd_params_init(&m->params);
    if (cfg->kind == FD_MODEL_UNET) {
        m->unet = fd_unet_create(&cfg->unet, &m->params);
        m->sample_size = (size_t)cfg->unet.image_size * (size_t)cfg->unet.image_size *
                         (size_t)cfg->unet.in_channels;
    } else {
        m->mlp = fd_mlp_create(&cfg->mlp, &m->params);
        m->sample_size = (size_t)cfg->mlp.dim;
    }
    fd_params_finalize(&m->params);
    return m;
}

void fd_model_free(fd_model *m)
{
    if (!m) return;
    fd_unet_free(m->unet);
    fd_mlp_free(m->mlp);
    fd_params_free(&m->params);
    free(m->ema);
    free(m);
}

void fd_model_init(fd_model *m, uint64_t seed)
{
    if (m->unet) fd_unet_init_params(m->unet, seed);
    if (m->mlp) fd_mlp_init_params(m->mlp, seed);
    if (m->ema) memcpy(m->ema, m->params.data, sizeof(float) * m->params.count);
}

int fd_model_n_classes(const fd_model *m)
{
    return m->kind == FD_MODEL_UNET ? m->cfg.unet.n_classes : m->cfg.mlp.n_classes;
}

int fd_model_n_clients(const fd_model *m)
{
    return m->kind == FD_MODEL_UNET ? m->cfg.unet.n_clients : m->cfg.mlp.n_clients;
}

void fd_model_forward(fd_model *m, float *eps, const float *x, const float *t, const int *y,
                      const int *client, int B)
{
    if (m->unet)
        fd_unet_forward(m->unet, eps, x, t, y, client, B);
    else
        fd_mlp_forward(m->mlp, eps, x, t, y, client, B);
}

void fd_model_backward(fd_model *m, const float *deps)
{
    if (m->unet)
        fd_unet_backward(m->unet, deps);
    else
        fd_mlp_backward(m->mlp, deps);
}

void fd_model_ema_enable(fd_model *m)
{
    if (m->ema) return;
    m->ema = fd_malloc(sizeof(float) * m->params.count);
    memcpy(m->ema, m->params.data, sizeof(float) * m->params.count);
}

float fd_ema_decay_at(double decay, long step)
{
    double warm = (1.0 + (double)step) / (10.0 + (double)step);
    return (float)(decay < warm ? decay : warm);
}

void fd_ema_blend(float *ema, const float *x, size_t n, float d)
{
#pragma omp parallel for simd if (n > 32768) schedule(static)
    for (size_t i = 0; i < n; i++) ema[i] = d * ema[i] + (1.0f - d) * x[i];
}

void fd_model_ema_update(fd_model *m, double decay, long step, unsigned part_mask)
{
    FD_ASSERT(m->ema);
    const float d = fd_ema_decay_at(decay, step);
    for (int part = 0; part < FD_PART_COUNT; part++) {
        if (!(part_mask & (1u << part))) continue;
        fd_range r = m->params.parts[part];
        fd_ema_blend(m->ema + r.offset, m->params.data + r.offset, r.count, d);
    }
}

void fd_model_swap_ema(fd_model *m)
{
    FD_ASSERT(m->ema);
    float *t = m->params.data;
    m->params.data = m->ema;
    m->ema = t;
}
