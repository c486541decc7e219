/* feddiff bench train-step: full training steps of the default UNet on random data, the
 * figure bench/train_step.sh sets against PyTorch (bench/peer_torch.py). A step is what local
 * training does (src/fed/local_train.c) less the data gather and the EMA: draw x0, t and the
 * noise, zero the gradients, forward and backward, clip the gradient norm, one AdamW update. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "feddiff/blas.h"
#include "feddiff/config.h"
#include "feddiff/diffusion.h"
#include "feddiff/error.h"
#include "feddiff/optimizer.h"
#include "feddiff/rng.h"
#include "feddiff/threads.h"
#include "feddiff/timer.h"
#include "options.h"

static const char *usage =
    "usage: feddiff bench train-step [--batch B] [--steps S] [--warmup W]\n"
    "  W warm-up steps (default 2), then S timed training steps (default 10) of the default\n"
    "  UNet at batch B (default 64) on random images, timesteps and noise: images/s, ms/step,\n"
    "  GFLOP/s and its fraction of the sgemm peak on the current thread count, peak RSS.\n"
    "  Optimizer settings are the train.* defaults (lr, weight_decay, grad_clip).";

/* The process's peak resident set so far, in MB (Linux reports ru_maxrss in KB). */
static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss / 1024.0;
}

/* CPU seconds (user + system, all threads) the process has used so far. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    fd_model *m;
    fd_diffusion diff;
    fd_adamw_config adamw;
    double clip;
    uint64_t seed;
    int B;
    float *x0, *noise; /* [B][sample_size] */
    int *t;            /* [B] */
} trainer;

/* One training step; `step` (0-based) picks the random draws. Returns the loss. */
static float train_step(trainer *tr, uint32_t step)
{
    fd_model *m = tr->m;
    const size_t n = m->sample_size, total = n * (size_t)tr->B;
    fd_rng data = fd_rng_stream(tr->seed, FD_RNG_DATA, 0, 0, step);
    fd_rng_fill_uniform(&data, 0, total, tr->x0);
    for (size_t i = 0; i < total; i++) tr->x0[i] = 2.0f * tr->x0[i] - 1.0f;
    fd_diffusion_draw(tr->t, tr->noise, tr->B, n, 0, tr->diff.schedule.T - 1, tr->seed, 0, 0, step);
    fd_params_zero_grad(&m->params);
    float loss =
        fd_diffusion_loss_and_grad(&tr->diff, m, tr->x0, tr->t, tr->noise, NULL, NULL, tr->B);
    if (tr->clip > 0) fd_clip_grad_norm(m->params.grad, m->params.count, tr->clip);
    fd_params_adamw_step(&m->params, FD_PARTS_BACKBONE, &tr->adamw, (long)step + 1);
    return loss;
}

int fd_bench_train_step(int argc, char **argv)
{
    long batch = 64, steps = 10, warmup = 2;
    for (int i = 0; i < argc;) {
        const char *v;
        if ((v = fd_app_option(argc, argv, &i, "--batch")))
            batch = fd_app_parse_long(v, "--batch", 1, 65536);
        else if ((v = fd_app_option(argc, argv, &i, "--steps")))
            steps = fd_app_parse_long(v, "--steps", 1, 1000000);
        else if ((v = fd_app_option(argc, argv, &i, "--warmup")))
            warmup = fd_app_parse_long(v, "--warmup", 0, 1000000);
        else if (!strcmp(argv[i], "--help")) {
            puts(usage);
            return 0;
        } else
            return fd_app_usage_error("unknown argument '%s'\n%s", argv[i], usage);
    }
    fd_threads_check_binding();
    const int threads = fd_threads();
    const double base_rss = peak_rss_mb();

    fd_config cfg;
    fd_config_defaults(&cfg);
    trainer tr = {.clip = cfg.train.grad_clip, .seed = cfg.run.seed, .B = (int)batch};
    tr.adamw = fd_adamw_defaults();
    tr.adamw.lr = (float)cfg.train.lr;
    tr.adamw.weight_decay = (float)cfg.train.weight_decay;
    fd_model_config mc = {.kind = FD_MODEL_UNET, .unet = fd_unet_default_config()};
    tr.m = fd_model_create(&mc);
    fd_model_init(tr.m, tr.seed);
    fd_diffusion_init(&tr.diff, FD_SCHEDULE_LINEAR, 1000);
    const size_t total = tr.m->sample_size * (size_t)batch;
    tr.x0 = fd_malloc(sizeof(float) * total);
    tr.noise = fd_malloc(sizeof(float) * total);
    tr.t = fd_malloc(sizeof(int) * (size_t)batch);
    fd_unet_reserve(tr.m->unet, tr.B);

    const double fwd = fd_unet_forward_flops(tr.m->unet), bwd = fd_unet_backward_flops(tr.m->unet);
    printf("feddiff bench train-step: default UNet (unconditional, %zu parameters), batch %ld, "
           "%d thread(s)\n",
           tr.m->params.count, batch, threads);
    printf("BLIS %s, kernels %s\n", fd_blas_version(), fd_blas_kernel_set());
    printf("step: noising, forward, MSE, backward, clip to norm %g, AdamW lr %g, betas %g/%g, "
           "eps %g, weight decay %g (train.* defaults)\n",
           tr.clip, (double)tr.adamw.lr, (double)tr.adamw.beta1, (double)tr.adamw.beta2,
           (double)tr.adamw.eps, (double)tr.adamw.weight_decay);
    printf("GFLOP per image (from the layer shapes): forward %.3f + backward %.3f = %.3f per "
           "training step (DESIGN.md: ~0.55 + ~1.1 = ~1.66)\n",
           fwd * 1e-9, bwd * 1e-9, (fwd + bwd) * 1e-9);
    printf("activation buffers: %.1f MB\n",
           (double)fd_unet_activation_bytes(tr.m->unet) / 1048576.0);

    float first_loss = 0.0f, last_loss = 0.0f;
    for (long s = 0; s < warmup; s++) first_loss = train_step(&tr, (uint32_t)s);
    double *seconds = fd_malloc(sizeof(double) * (size_t)steps);
    double start = fd_now(), cpu_start = cpu_seconds();
    for (long s = 0; s < steps; s++) {
        double t0 = fd_now();
        last_loss = train_step(&tr, (uint32_t)(warmup + s));
        seconds[s] = fd_now() - t0;
        if (s == 0 && warmup == 0) first_loss = last_loss;
    }
    const double elapsed = fd_now() - start, cpu = cpu_seconds() - cpu_start;
    const double peak_rss = peak_rss_mb(); /* before the sgemm below allocates its matrices */

    const double per_step = elapsed / (double)steps;
    const double images_per_s = (double)batch / per_step;
    const double gflops = (fwd + bwd) * (double)batch / per_step * 1e-9;
    const double peak = fd_bench_sgemm_gflops(2048, threads, 5);
    qsort(seconds, (size_t)steps, sizeof(double), compare_doubles);
    printf("%ld warm-up + %ld timed steps, loss %.4f -> %.4f\n", warmup, steps, (double)first_loss,
           (double)last_loss);
    printf("  %9s %9s %9s %9s %9s %8s\n", "images/s", "ms/step", "fastest", "slowest", "GFLOP/s",
           "of peak");
    printf("  %9.1f %9.1f %9.1f %9.1f %9.1f %7.1f%%\n", images_per_s, per_step * 1e3,
           seconds[0] * 1e3, seconds[steps - 1] * 1e3, gflops, 100.0 * gflops / peak);
    printf("sgemm peak on %d thread(s) (n = 2048, best of 5, after the steps): %.1f GFLOP/s\n",
           threads, peak);
    /* CPU time is what the steps cost, wall time what they got: on a shared machine the
     * two part when the threads wait for cores. */
    printf("CPU time %.1f ms per step (all threads; %.2f cores busy on average)\n",
           cpu / (double)steps * 1e3, cpu / elapsed);
    printf("peak RSS %.1f MB (%.1f MB before the model existed)\n", peak_rss, base_rss);
    printf("RESULT images_per_s=%.2f ms_per_step=%.2f cpu_ms_per_step=%.2f gflops=%.2f "
           "peak_fraction=%.4f peak_rss_mb=%.1f base_rss_mb=%.1f\n",
           images_per_s, per_step * 1e3, cpu / (double)steps * 1e3, gflops, gflops / peak, peak_rss,
           base_rss);

    free(seconds);
    free(tr.x0);
    free(tr.noise);
    free(tr.t);
    fd_diffusion_free(&tr.diff);
    fd_model_free(tr.m);
    return 0;
}
