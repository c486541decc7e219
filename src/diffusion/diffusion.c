#include "feddiff/diffusion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/kernels.h"

void fd_schedule_init(fd_schedule *s, enum fd_schedule_kind kind, int T)
{
    FD_ASSERT(T >= 2);
    s->T = T;
    s->kind = kind;
    s->beta = fd_malloc(sizeof(double) * (size_t)T);
    s->abar = fd_malloc(sizeof(double) * (size_t)T);
    if (kind == FD_SCHEDULE_LINEAR) {
        for (int t = 0; t < T; t++) s->beta[t] = 1e-4 + (0.02 - 1e-4) * t / (T - 1);
    } else {
        /* Nichol & Dhariwal 2021: abar(t) = f(t) / f(0), f(t) = cos^2(pi/2 (t/T + s) / (1 + s)) */
        const double off = 0.008, half_pi = 1.57079632679489661923;
        for (int t = 0; t < T; t++) {
            double f0 = cos(half_pi * ((double)t / T + off) / (1 + off));
            double f1 = cos(half_pi * ((double)(t + 1) / T + off) / (1 + off));
            double beta = 1.0 - (f1 * f1) / (f0 * f0);
            s->beta[t] = beta < 0.999 ? beta : 0.999;
        }
    }
    double prod = 1.0;
    for (int t = 0; t < T; t++) {
        prod *= 1.0 - s->beta[t];
        s->abar[t] = prod;
    }
}

void fd_schedule_free(fd_schedule *s)
{
    free(s->beta);
    free(s->abar);
    s->beta = s->abar = NULL;
}

void fd_diffusion_noise(float *xt, const float *x0, const float *e, const int *t, int B, size_t n,
                        const fd_schedule *s)
{
    for (int b = 0; b < B; b++) {
        FD_ASSERT(t[b] >= 0 && t[b] < s->T);
        const float a = (float)sqrt(s->abar[t[b]]), c = (float)sqrt(1.0 - s->abar[t[b]]);
        const size_t o = (size_t)b * n;
#pragma omp parallel for simd if (n > 65536) schedule(static)
        for (size_t i = 0; i < n; i++) xt[o + i] = a * x0[o + i] + c * e[o + i];
    }
}

void fd_diffusion_draw(int *t, float *e, int B, size_t n, int t_lo, int t_hi, uint64_t seed,
                       uint32_t round, uint32_t client, uint32_t step)
{
    FD_ASSERT(t_lo >= 0 && t_hi >= t_lo);
    fd_rng ts = fd_rng_stream(seed, FD_RNG_TIMESTEP, round, client, step);
    for (int b = 0; b < B; b++)
        t[b] = t_lo + (int)fd_rng_below(&ts, (uint64_t)b, (uint32_t)(t_hi - t_lo + 1));
    fd_rng es = fd_rng_stream(seed, FD_RNG_NOISE, round, client, step);
    fd_rng_fill_normal(&es, 0, (size_t)B * n, e);
}

void fd_diffusion_init(fd_diffusion *d, enum fd_schedule_kind kind, int T)
{
    memset(d, 0, sizeof *d);
    fd_schedule_init(&d->schedule, kind, T);
}

void fd_diffusion_free(fd_diffusion *d)
{
    fd_schedule_free(&d->schedule);
    free(d->xt);
    free(d->pred);
    free(d->dpred);
    free(d->tf);
    memset(d, 0, sizeof *d);
}

static void reserve_work(fd_diffusion *d, size_t floats, int B)
{
    if (floats > d->capacity) {
        free(d->xt);
        free(d->pred);
        free(d->dpred);
        d->xt = fd_malloc(sizeof(float) * floats);
        d->pred = fd_malloc(sizeof(float) * floats);
        d->dpred = fd_malloc(sizeof(float) * floats);
        d->capacity = floats;
    }
    if (B > d->t_capacity) {
        free(d->tf);
        d->tf = fd_malloc(sizeof(float) * (size_t)B);
        d->t_capacity = B;
    }
}

float fd_diffusion_loss_and_grad(fd_diffusion *d, fd_model *m, const float *x0, const int *t,
                                 const float *e, const int *y, const int *client, int B)
{
    const size_t n = m->sample_size, total = n * (size_t)B;
    reserve_work(d, total, B);
    fd_diffusion_noise(d->xt, x0, e, t, B, n, &d->schedule);
    for (int b = 0; b < B; b++) d->tf[b] = (float)t[b];
    fd_model_forward(m, d->pred, d->xt, d->tf, y, client, B);
    float loss = fd_mse_forward(d->pred, e, total);
    if (!isfinite(loss)) return loss; /* the caller reports it; no poisoned gradient */
    memset(d->dpred, 0, sizeof(float) * total);
    fd_mse_backward(d->dpred, d->pred, e, total, 1.0f);
    fd_model_backward(m, d->dpred);
    return loss;
}

void fd_diffusion_prior(float *x, int B, size_t n, uint64_t seed, uint32_t stream_client,
                        uint64_t first_sample)
{
    /* step = UINT32_MAX: the prior's stream differs from every sampler step's. */
    fd_rng r = fd_rng_stream(seed, FD_RNG_SAMPLER, 0, stream_client, UINT32_MAX);
    fd_rng_fill_normal(&r, first_sample * n, (size_t)B * n, x);
}

/* The timesteps a sampler visits, from t_start down to t_end, evenly spaced. */
static int *sampler_timesteps(const fd_sampler_config *cfg, int *count)
{
    int span = cfg->t_start - cfg->t_end + 1;
    int k = cfg->steps < span ? cfg->steps : span;
    FD_ASSERT(k >= 1);
    int *ts = fd_malloc(sizeof(int) * (size_t)k);
    for (int i = 0; i < k; i++)
        ts[i] = k == 1 ? cfg->t_start
                       : cfg->t_start - (int)llround((double)i * (span - 1) / (double)(k - 1));
    *count = k;
    return ts;
}

void fd_diffusion_sample(fd_diffusion *d, fd_model *m, const fd_sampler_config *cfg, float *x,
                         const int *y, const int *client, int B, uint64_t seed,
                         uint32_t stream_client, uint64_t first_sample)
{
    const fd_schedule *s = &d->schedule;
    FD_ASSERT(cfg->t_start < s->T && cfg->t_end >= 0 && cfg->t_end <= cfg->t_start);
    const size_t n = m->sample_size, total = n * (size_t)B;
    reserve_work(d, total, B);
    int k;
    int *ts = sampler_timesteps(cfg, &k);
    /* eta = 1: DDPM's ancestral step with the posterior variance (on a respaced chain);
     * eta = 0: deterministic DDIM. */
    const double eta = cfg->kind == FD_SAMPLER_ANCESTRAL ? 1.0 : 0.0;
    float *eps = d->pred, *z = d->xt;
    for (int i = 0; i < k; i++) {
        const int t = ts[i];
        /* The step after the last visited one: t_end - 1, or -1 (abar = 1) for x0. */
        const int prev = i + 1 < k ? ts[i + 1] : cfg->t_end - 1;
        const double at = s->abar[t], ap = prev >= 0 ? s->abar[prev] : 1.0;
        for (int b = 0; b < B; b++) d->tf[b] = (float)t;
        fd_model_forward(m, eps, x, d->tf, y, client, B);
        const double sigma = eta * sqrt((1 - ap) / (1 - at)) * sqrt(1 - at / ap);
        const double dir = sqrt(fmax(1 - ap - sigma * sigma, 0.0));
        if (sigma > 0) {
            fd_rng r = fd_rng_stream(seed, FD_RNG_SAMPLER, 0, stream_client, (uint32_t)i);
            fd_rng_fill_normal(&r, first_sample * n, total, z);
        }
        const double sa = sqrt(at), sb = sqrt(1 - at), sap = sqrt(ap);
#pragma omp parallel for if (total > 65536) schedule(static)
        for (size_t j = 0; j < total; j++) {
            double x0 = ((double)x[j] - sb * eps[j]) / sa;
            if (cfg->clip) x0 = x0 < -1 ? -1 : (x0 > 1 ? 1 : x0);
            double e_hat = ((double)x[j] - sa * x0) / sb; /* consistent with the clipped x0 */
            double next = sap * x0 + dir * e_hat;
            if (sigma > 0) next += sigma * z[j];
            x[j] = (float)next;
        }
    }
    free(ts);
}
