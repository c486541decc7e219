/* DDPM: noise schedules, the forward (noising) process, the epsilon-prediction loss and the
 * reverse-process samplers (ancestral and DDIM), for any denoiser (feddiff/model.h).
 *
 * Timesteps are 0-based: t in [0, T), abar_t = prod_{s <= t} (1 - beta_s), and the network
 * sees t as a float. Data live in [-1, 1]. */
#ifndef FEDDIFF_DIFFUSION_H
#define FEDDIFF_DIFFUSION_H

#include <stddef.h>
#include <stdint.h>

#include "feddiff/model.h"
#include "feddiff/rng.h"

enum fd_schedule_kind { FD_SCHEDULE_LINEAR, FD_SCHEDULE_COSINE };
enum fd_sampler_kind { FD_SAMPLER_ANCESTRAL, FD_SAMPLER_DDIM };

typedef struct {
    int T;
    enum fd_schedule_kind kind;
    double *beta; /* [T] */
    double *abar; /* [T] cumulative products of 1 - beta */
} fd_schedule;

/* linear: beta from 1e-4 to 0.02 (Ho et al.); cosine: Nichol & Dhariwal's, s = 0.008, beta
 * clipped at 0.999. */
void fd_schedule_init(fd_schedule *s, enum fd_schedule_kind kind, int T);
void fd_schedule_free(fd_schedule *s);

/* A schedule with the work buffers of training steps and samplers (grown on demand). */
typedef struct {
    fd_schedule schedule;
    float *xt, *pred, *dpred; /* [capacity] noised input, model output, its gradient */
    float *tf;                /* [t_capacity] timesteps as floats */
    size_t capacity;
    int t_capacity;
} fd_diffusion;

void fd_diffusion_init(fd_diffusion *d, enum fd_schedule_kind kind, int T);
void fd_diffusion_free(fd_diffusion *d);

/* x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) e for each of B samples of n values. */
void fd_diffusion_noise(float *xt, const float *x0, const float *e, const int *t, int B, size_t n,
                        const fd_schedule *s);

/* The random draws of one training step: t uniform in [lo, hi] and e ~ N(0, I), from the
 * TIMESTEP and NOISE streams of (seed, round, client, step). */
void fd_diffusion_draw(int *t, float *e, int B, size_t n, int t_lo, int t_hi, uint64_t seed,
                       uint32_t round, uint32_t client, uint32_t step);

/* One training step's loss on a batch: noise x0 with (t, e), run the model, return the mean
 * squared error of its epsilon prediction; then accumulate the gradient into the model's
 * arena (the caller zeroes gradients and steps the optimizer). y, client: NULL if none. */
float fd_diffusion_loss_and_grad(fd_diffusion *d, fd_model *m, const float *x0, const int *t,
                                 const float *e, const int *y, const int *client, int B);

typedef struct {
    enum fd_sampler_kind kind;
    int steps;   /* timesteps visited, evenly spaced over [t_end, t_start] (<= their count) */
    int t_start; /* first timestep (T - 1 for a full chain) */
    int t_end;   /* the chain stops after denoising this step: 0 gives x0; PFDM's global
                    model stops at t0 + 1 to hand x_t0 to the personal model */
    int clip;    /* clip predicted x0 to [-1, 1] at each step */
} fd_sampler_config;

/* Run the reverse process on x [B][n] in place: x holds x_{t_start} on entry (for a full
 * chain: N(0, I) noise, see fd_diffusion_prior) and x_{t_end - 1} on exit (x0 when t_end = 0).
 * Sampler noise comes from the SAMPLER stream of (seed, client) with the sample index, so a
 * sample does not depend on the batch it is drawn in. */
void fd_diffusion_sample(fd_diffusion *d, fd_model *m, const fd_sampler_config *cfg, float *x,
                         const int *y, const int *client, int B, uint64_t seed,
                         uint32_t stream_client, uint64_t first_sample);
/* x [B][n] ~ N(0, I): the start of a full chain. */
void fd_diffusion_prior(float *x, int B, size_t n, uint64_t seed, uint32_t stream_client,
                        uint64_t first_sample);

#endif
