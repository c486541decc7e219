#include "feddiff/local_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/rng.h"

void fd_data_gather(float *x, int *y, const fd_data_view *data, const int *idx, int B)
{
    const size_t n = data->sample_size;
    for (int b = 0; b < B; b++) {
        FD_ASSERT(idx[b] >= 0 && idx[b] < data->n);
        float *dst = x + (size_t)b * n;
        if (data->images) {
            const uint8_t *src = data->images + (size_t)idx[b] * n;
            for (size_t i = 0; i < n; i++) dst[i] = (float)src[i] * (2.0f / 255.0f) - 1.0f;
        } else {
            memcpy(dst, data->vectors + (size_t)idx[b] * n, sizeof(float) * n);
        }
        if (y) y[b] = data->labels ? data->labels[idx[b]] : 0;
    }
}

/* The permutation of [0, n) used in `epoch`, from the BATCH stream. */
static void epoch_permutation(int *perm, int n, const fd_local_config *cfg, uint32_t epoch)
{
    fd_rng s = fd_rng_stream(cfg->seed, FD_RNG_BATCH, cfg->round, cfg->client, epoch);
    fd_rng_permutation(&s, perm, n);
}

void fd_local_train(fd_model *m, fd_diffusion *d, const fd_data_view *data,
                    const fd_local_config *cfg, long *global_step, fd_local_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    if (data->n <= 0 || cfg->steps <= 0) return;
    const int B = cfg->batch < data->n ? cfg->batch : data->n;
    const size_t n = m->sample_size;
    float *x0 = fd_malloc(sizeof(float) * (size_t)B * n);
    float *e = fd_malloc(sizeof(float) * (size_t)B * n);
    int *t = fd_malloc(sizeof(int) * (size_t)B), *y = fd_malloc(sizeof(int) * (size_t)B);
    int *clients = fd_malloc(sizeof(int) * (size_t)B), *idx = fd_malloc(sizeof(int) * (size_t)B);
    int *perm = fd_malloc(sizeof(int) * (size_t)data->n);
    for (int b = 0; b < B; b++) clients[b] = cfg->client_id;

    uint32_t epoch = 0;
    int cursor = 0;
    epoch_permutation(perm, data->n, cfg, epoch);
    fd_adamw_config adamw = cfg->adamw;
    for (long s = 0; s < cfg->steps; s++) {
        for (int b = 0; b < B; b++) {
            if (cursor == data->n) {
                epoch_permutation(perm, data->n, cfg, ++epoch);
                cursor = 0;
            }
            idx[b] = perm[cursor++];
        }
        fd_data_gather(x0, y, data, idx, B);
        fd_diffusion_draw(t, e, B, n, cfg->t_lo, cfg->t_hi, cfg->seed, cfg->round, cfg->client,
                          (uint32_t)s);
        fd_params_zero_grad(&m->params);
        float loss = fd_diffusion_loss_and_grad(d, m, x0, t, e, cfg->use_labels ? y : NULL,
                                                cfg->client_id >= 0 ? clients : NULL, B);
        double norm = cfg->grad_clip > 0
                          ? fd_clip_grad_norm(m->params.grad, m->params.count, cfg->grad_clip)
                          : fd_global_norm(m->params.grad, m->params.count);
        if (!isfinite(loss) || !isfinite(norm)) {
            stats->non_finite = true;
            break;
        }
        long step = ++*global_step;
        adamw.lr = cfg->adamw.lr;
        if (cfg->warmup_steps > 0 && step <= cfg->warmup_steps)
            adamw.lr = (float)(cfg->adamw.lr * (double)step / (double)cfg->warmup_steps);
        fd_params_adamw_step(&m->params, cfg->train_parts, &adamw, cfg->adam_steps_done + s + 1);
        if (m->ema && cfg->ema_decay > 0 && cfg->ema_parts)
            fd_model_ema_update(m, cfg->ema_decay, cfg->ema_steps_done + s + 1, cfg->ema_parts);
        stats->loss_sum += loss;
        stats->steps++;
        stats->samples += B;
    }
    free(x0);
    free(e);
    free(t);
    free(y);
    free(clients);
    free(idx);
    free(perm);
}
