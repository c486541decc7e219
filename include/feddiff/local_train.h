/* Local training: what one client does in a round (and all that `central` training does).
 *
 * Steps of DDPM training on the client's samples: minibatches from a fresh permutation each
 * epoch, timesteps and noise, loss, backward, gradient clipping, AdamW, EMA. Every draw is a
 * pure function of (seed, round, client, step), so a client trains the same way on any rank. */
#ifndef FEDDIFF_LOCAL_TRAIN_H
#define FEDDIFF_LOCAL_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "feddiff/diffusion.h"
#include "feddiff/model.h"
#include "feddiff/optimizer.h"

/* A client's training samples, as stored (bytes are not expanded to floats until batched). */
typedef struct {
    int n;                 /* samples */
    size_t sample_size;    /* values per sample */
    const uint8_t *images; /* [n][sample_size] pixels 0..255, mapped to [-1, 1]; or NULL */
    const float *vectors;  /* [n][sample_size] values as they are; or NULL */
    const uint8_t *labels; /* [n] class labels, or NULL */
} fd_data_view;

typedef struct {
    int batch;
    long steps; /* optimizer steps to take */
    fd_adamw_config adamw;
    double grad_clip;     /* global-norm clip; 0: off */
    double ema_decay;     /* 0: no EMA update */
    long warmup_steps;    /* linear learning-rate warm-up over the first global steps */
    long adam_steps_done; /* AdamW steps already in the moments (0 after a reset) */
    long ema_steps_done;  /* steps the moving average has already followed (its warm-up) */
    unsigned train_parts; /* parts the optimizer updates (FD_PARTS_BACKBONE | client part...) */
    unsigned ema_parts;   /* parts whose moving average the trainer keeps (the server keeps the
                             exchanged ones' in federated runs) */
    bool use_labels;      /* condition on class labels */
    int client_id;        /* row of the client embedding, or -1 */
    int t_lo, t_hi;       /* timesteps drawn uniformly from [t_lo, t_hi] */
    uint64_t seed;
    uint32_t round, client; /* RNG coordinates */
} fd_local_config;

typedef struct {
    double loss_sum; /* sum of the finite step losses */
    long steps;      /* steps taken */
    long samples;    /* samples seen */
    bool non_finite; /* a loss or gradient was NaN/inf: training stopped there */
} fd_local_stats;

/* Run cfg->steps steps on `data`, continuing the global step counter *global_step (for the
 * learning-rate warm-up); AdamW's bias correction counts from cfg->adam_steps_done, the EMA's
 * warm-up from cfg->ema_steps_done. Stops at the first non-finite loss or gradient norm,
 * leaving the parameters of that step untouched. */
void fd_local_train(fd_model *m, fd_diffusion *d, const fd_data_view *data,
                    const fd_local_config *cfg, long *global_step, fd_local_stats *stats);

/* Fill x [B][n] with the samples idx[0..B) of data (bytes mapped to [-1, 1]) and y [B] with
 * their labels (if y and labels). */
void fd_data_gather(float *x, int *y, const fd_data_view *data, const int *idx, int B);

#endif
