#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "feddiff/error.h"
#include "feddiff/image.h"
#include "feddiff/samples.h"
#include "options.h"
#include "run_setup.h"
#include "train.h"

void fd_format_duration(char *buf, size_t size, double seconds)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, size, "%lds", s);
}

void fd_train_checkpoint_path(char *buf, size_t size, const fd_config *cfg, long round)
{
    snprintf(buf, size, "%s/checkpoint-%06ld.h5", cfg->out.dir, round);
}

void fd_train_remove_old_checkpoint(const fd_config *cfg, long round)
{
    const long every = cfg->out.checkpoint_every > 0 ? cfg->out.checkpoint_every : cfg->fed.rounds;
    const long old = round - (long)cfg->out.keep * every;
    if (old <= 0 || !fd_app_is_root()) return;
    char path[4200];
    fd_train_checkpoint_path(path, sizeof path, cfg, old);
    remove(path); /* absent when it was never written: nothing to do */
}

void fd_draw_samples(const fd_config *cfg, fd_model *m, fd_diffusion *diff, float *x,
                     const int *labels, const int *clients, int n, uint32_t stream_client,
                     uint64_t first)
{
    const fd_sampler_config sc = fd_setup_sampler(cfg);
    const size_t size = m->sample_size;
    const int batch = cfg->train.batch;
    for (int at = 0; at < n; at += batch) {
        const int B = n - at < batch ? n - at : batch;
        float *xb = x + (size_t)at * size;
        fd_diffusion_prior(xb, B, size, cfg->run.seed, stream_client, first + (uint64_t)at);
        fd_diffusion_sample(diff, m, &sc, xb, labels ? labels + at : NULL,
                            clients ? clients + at : NULL, B, cfg->run.seed, stream_client,
                            first + (uint64_t)at);
    }
}

static int model_classes(const fd_model *m)
{
    return m->cfg.kind == FD_MODEL_UNET ? m->cfg.unet.n_classes : m->cfg.mlp.n_classes;
}

int *fd_grid_labels(const fd_model *m, int rows, int cols)
{
    const int n_classes = model_classes(m);
    if (n_classes <= 0) return NULL;
    int *labels = fd_malloc(sizeof(int) * (size_t)rows * (size_t)cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) labels[r * cols + c] = c % n_classes;
    return labels;
}

void fd_save_samples(const fd_config *cfg, const fd_model *m, const float *x, const int *labels,
                     const int *clients, int n, int cols, const char *checkpoint)
{
    const fd_model_config *mc = &m->cfg;
    const fd_sampler_config sc = fd_setup_sampler(cfg);
    char path[4200], desc[FD_CONFIG_STR + 32];
    snprintf(desc, sizeof desc, "%s, %d steps", cfg->diffusion.sampler, sc.steps);
    fd_sample_batch out = {.n = n,
                           .data = x,
                           .labels = labels,
                           .clients = clients,
                           .checkpoint = checkpoint,
                           .sampler = desc};
    if (mc->kind == FD_MODEL_UNET) {
        out.ndim = 4;
        out.dims[0] = n;
        out.dims[1] = out.dims[2] = mc->unet.image_size;
        out.dims[3] = mc->unet.in_channels;
    } else {
        out.ndim = 2;
        out.dims[0] = n;
        out.dims[1] = mc->mlp.dim;
    }
    snprintf(path, sizeof path, "%s/samples.h5", cfg->out.dir);
    if (fd_samples_write(path, &out, cfg) != 0) fd_die_on_error();
    printf("wrote %s\n", path);
    if (mc->kind != FD_MODEL_UNET) return;
    snprintf(path, sizeof path, "%s/samples.png", cfg->out.dir);
    if (fd_png_write_grid(path, x, n, mc->unet.image_size, mc->unet.image_size,
                          mc->unet.in_channels, cols) != 0)
        fd_die_on_error();
    printf("wrote %s\n", path);
}
