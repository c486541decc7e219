/* feddiff train: train a DDPM as the config describes. In this version: `central` training
 * (the seen clients' training data pooled into one model) on one rank. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "feddiff/checkpoint.h"
#include "feddiff/dataset.h"
#include "feddiff/diffusion.h"
#include "feddiff/error.h"
#include "feddiff/fs.h"
#include "feddiff/image.h"
#include "feddiff/local_train.h"
#include "feddiff/partition.h"
#include "feddiff/samples.h"
#include "feddiff/threads.h"
#include "feddiff/timer.h"
#include "options.h"
#include "run_setup.h"

static const char *usage = "usage: feddiff train [--config FILE] [--set section.key=value]...\n"
                           "  Trains the model the config describes (keys: docs/config.md) and\n"
                           "  writes checkpoints, samples.h5 and samples.png to out.dir.";

/* The pooled training samples of the seen clients. */
typedef struct {
    uint8_t *images;
    float *vectors;
    uint8_t *labels;
    size_t n, sample_size;
} pooled_data;

static int load_pooled(const fd_config *cfg, fd_dataset *ds, pooled_data *pool)
{
    fd_partition part;
    fd_partition_config pc = fd_setup_partition_config(cfg);
    if (fd_partition_build(&part, &pc, ds->labels, ds->count, ds->n_classes) != 0) return -1;
    int seen = part.n_clients - part.config.unseen_clients;
    size_t n = part.train_offset[seen]; /* clients' train parts are stored in client order */
    pool->n = n;
    pool->sample_size = fd_dataset_sample_size(ds);
    pool->labels = fd_malloc(n);
    for (size_t i = 0; i < n; i++) pool->labels[i] = ds->labels[part.train_index[i]];
    int rc;
    if (fd_dataset_is_image(ds)) {
        pool->images = fd_malloc(n * pool->sample_size);
        rc = fd_dataset_read_images(ds, part.train_index, n, pool->images);
    } else {
        pool->vectors = fd_malloc(sizeof(float) * n * pool->sample_size);
        rc = fd_dataset_read_vectors(ds, part.train_index, n, pool->vectors);
    }
    fd_partition_free(&part);
    return rc;
}

/* Keep the last out.keep checkpoints: delete the one that just fell out of the window. */
static void remove_old_checkpoint(const fd_config *cfg, long round)
{
    const long every = cfg->out.checkpoint_every > 0 ? cfg->out.checkpoint_every : cfg->fed.rounds;
    const long old = round - (long)cfg->out.keep * every;
    if (old <= 0 || !fd_app_is_root()) return;
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint-%06ld.h5", cfg->out.dir, old);
    remove(path); /* absent when it was never written: nothing to do */
}

static void format_duration(char *buf, size_t size, double seconds)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, size, "%lds", s);
}

/* Draw out.samples samples with the EMA weights: samples.h5 and samples.png in out.dir. */
static void write_samples(const fd_config *cfg, fd_model *m, fd_diffusion *diff,
                          const char *checkpoint)
{
    const int n = cfg->out.samples;
    if (n <= 0) return;
    const fd_model_config *mc = &m->cfg;
    const int n_classes = mc->kind == FD_MODEL_UNET ? mc->unet.n_classes : mc->mlp.n_classes;
    const size_t size = m->sample_size;
    float *x = fd_malloc(sizeof(float) * size * (size_t)n);
    int *labels = n_classes > 0 ? fd_malloc(sizeof(int) * (size_t)n) : NULL;
    for (int i = 0; i < n && labels; i++) labels[i] = i % n_classes;
    fd_sampler_config sc = fd_setup_sampler(cfg);
    fd_model_swap_ema(m);
    const int batch = cfg->train.batch;
    for (int first = 0; first < n; first += batch) {
        int B = n - first < batch ? n - first : batch;
        fd_diffusion_prior(x + (size_t)first * size, B, size, cfg->run.seed, 0, (uint64_t)first);
        fd_diffusion_sample(diff, m, &sc, x + (size_t)first * size, labels ? labels + first : NULL,
                            NULL, B, cfg->run.seed, 0, (uint64_t)first);
    }
    fd_model_swap_ema(m);

    char path[4200], desc[FD_CONFIG_STR + 32];
    snprintf(desc, sizeof desc, "%s, %d steps", cfg->diffusion.sampler, sc.steps);
    fd_sample_batch out = {.n = n, .data = x, .labels = labels, .checkpoint = checkpoint,
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
    if (mc->kind == FD_MODEL_UNET) {
        snprintf(path, sizeof path, "%s/samples.png", cfg->out.dir);
        int cols = n_classes > 0 && n_classes <= n ? n_classes : (int)ceil(sqrt((double)n));
        if (fd_png_write_grid(path, x, n, mc->unet.image_size, mc->unet.image_size,
                              mc->unet.in_channels, cols) != 0)
            fd_die_on_error();
        printf("wrote %s\n", path);
    }
    free(x);
    free(labels);
}

int fd_cmd_train(int argc, char **argv)
{
    fd_config cfg;
    if (fd_app_parse_config(&argc, argv, &cfg) != 0)
        return fd_app_usage_error("%s", fd_last_error());
    if (argc > 0) {
        if (!strcmp(argv[0], "--help")) {
            if (fd_app_is_root()) puts(usage);
            return 0;
        }
        return fd_app_usage_error("unknown argument '%s'\n%s", argv[0], usage);
    }
    if (strcmp(cfg.fed.method, "central") != 0)
        return fd_app_usage_error("fed.method = %s: this version trains only 'central'",
                                  cfg.fed.method);
    fd_threads_set(cfg.run.threads);
    fd_threads_check_binding();
    if (fd_mkdirs(cfg.out.dir) != 0) fd_die_on_error();

    fd_dataset_spec spec = fd_setup_dataset_spec(&cfg);
    fd_dataset ds;
    if (fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN) != 0) fd_die_on_error();
    pooled_data pool = {0};
    if (load_pooled(&cfg, &ds, &pool) != 0) fd_die_on_error();

    fd_model_config mc = fd_setup_model_config(&cfg, &ds, 0);
    fd_model *m = fd_model_create(&mc);
    fd_model_init(m, cfg.run.seed);
    fd_model_ema_enable(m);
    fd_diffusion diff;
    fd_diffusion_init(&diff, fd_setup_schedule_kind(&cfg), cfg.diffusion.steps);

    const long steps_per_round =
        cfg.train.local_epochs > 0
            ? (long)cfg.train.local_epochs * (long)((pool.n + (size_t)cfg.train.batch - 1) /
                                                    (size_t)cfg.train.batch)
            : cfg.train.local_steps;
    const long total_steps = steps_per_round * cfg.fed.rounds;
    printf("feddiff train: %s, %zu training samples, %zu parameters, %d thread(s), "
           "%ld steps of batch %d\n",
           cfg.data.name, pool.n, m->params.count, fd_threads(), total_steps, cfg.train.batch);

    fd_data_view view = {.n = (int)pool.n, .sample_size = pool.sample_size,
                         .images = pool.images, .vectors = pool.vectors, .labels = pool.labels};
    fd_local_config lc = fd_setup_local_config(&cfg, total_steps);
    lc.steps = steps_per_round;
    fd_train_state st = {0, 0};
    char checkpoint[4200] = "";
    const double t_start = fd_now();
    for (int round = 0; round < cfg.fed.rounds; round++) {
        const double t0 = fd_now();
        lc.round = (uint32_t)round;
        lc.adam_steps_done = st.step;
        fd_local_stats stats;
        fd_local_train(m, &diff, &view, &lc, &st.step, &stats);
        if (stats.non_finite)
            FD_FATAL("round %d, step %ld: the loss or gradient is not finite; lower train.lr "
                     "or set train.grad_clip (no checkpoint written from this state)",
                     round + 1, st.step + 1);
        st.round = round + 1;
        const double dt = fd_now() - t0, elapsed = fd_now() - t_start;
        char eta[32];
        format_duration(eta, sizeof eta, elapsed / st.round * (cfg.fed.rounds - st.round));
        printf("round %4ld/%d  step %7ld  loss %.5f  %7.1f img/s  %5.1f s  ETA %s\n", st.round,
               cfg.fed.rounds, st.step, stats.loss_sum / (double)stats.steps,
               (double)stats.samples / dt, dt, eta);
        fflush(stdout);
        bool last = st.round == cfg.fed.rounds;
        if (last || (cfg.out.checkpoint_every > 0 && st.round % cfg.out.checkpoint_every == 0)) {
            snprintf(checkpoint, sizeof checkpoint, "%s/checkpoint-%06ld.h5", cfg.out.dir,
                     st.round);
            if (fd_checkpoint_write(checkpoint, MPI_COMM_WORLD, &cfg, m, &st) != 0)
                fd_die_on_error();
            remove_old_checkpoint(&cfg, st.round);
        }
    }
    char took[32];
    format_duration(took, sizeof took, fd_now() - t_start);
    printf("trained in %s; wrote %s\n", took, checkpoint);
    write_samples(&cfg, m, &diff, checkpoint);

    free(pool.images);
    free(pool.vectors);
    free(pool.labels);
    fd_dataset_close(&ds);
    fd_diffusion_free(&diff);
    fd_model_free(m);
    return 0;
}
