/* Central training: the seen clients' training data pooled into one model, on rank 0 (the
 * baseline of every federated experiment). A "round" is a block of train.local_steps steps:
 * the unit of progress lines, run-file rows and checkpoints. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/checkpoint.h"
#include "feddiff/dataset.h"
#include "feddiff/error.h"
#include "feddiff/fs.h"
#include "feddiff/memory.h"
#include "feddiff/local_train.h"
#include "feddiff/partition.h"
#include "feddiff/runfile.h"
#include "feddiff/threads.h"
#include "feddiff/timer.h"
#include "run_setup.h"
#include "train.h"
#include "train_eval.h"

/* The pooled training samples of the seen clients, in client order. */
typedef struct {
    uint8_t *images;
    float *vectors;
    uint8_t *labels;
    size_t n, sample_size;
    uint64_t partition; /* fingerprint of the split they come from */
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
    pool->partition = fd_partition_fingerprint(&part);
    fd_partition_free(&part);
    return rc;
}

static void write_samples(const fd_config *cfg, fd_model *m, fd_diffusion *diff,
                          const char *checkpoint)
{
    const int n = cfg->out.samples;
    if (n <= 0) return;
    const int cols = fd_grid_columns(m, n);
    float *x = fd_malloc(sizeof(float) * m->sample_size * (size_t)n);
    int *labels = fd_grid_labels(m, 1, n);
    fd_model_swap_ema(m);
    fd_draw_samples(cfg, m, diff, x, labels, NULL, n, 0, 0);
    fd_model_swap_ema(m);
    fd_save_samples(cfg, m, x, labels, NULL, n, cols, checkpoint);
    free(x);
    free(labels);
}

static int load_checkpoint(void *model, const char *path)
{
    fd_train_state st;
    return fd_checkpoint_read(path, model, &st);
}

int fd_train_central(const fd_config *cfg, const char *resume)
{
    int rank, size;
    FD_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    FD_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
    if (size > 1 && rank == 0)
        fd_warn("fed.method = central trains one model on rank 0; the other %d rank(s) idle",
                size - 1);
    if (rank != 0) return 0;

    fd_threads_set(cfg->run.threads);
    fd_threads_check_binding();
    if (fd_mkdirs(cfg->out.dir) != 0) fd_die_on_error();
    fd_dataset_spec spec = fd_setup_dataset_spec(cfg);
    fd_dataset ds;
    if (fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN) != 0) fd_die_on_error();
    pooled_data pool = {0};
    if (load_pooled(cfg, &ds, &pool) != 0) fd_die_on_error();

    fd_model *m = fd_setup_model(cfg, &ds, 0);
    fd_diffusion diff;
    fd_diffusion_init(&diff, fd_setup_schedule_kind(cfg), cfg->diffusion.steps);

    const long steps_per_round =
        cfg->train.local_epochs > 0
            ? (long)cfg->train.local_epochs *
                  (long)((pool.n + (size_t)cfg->train.batch - 1) / (size_t)cfg->train.batch)
            : cfg->train.local_steps;
    const long total_steps = steps_per_round * cfg->fed.rounds;
    printf("feddiff train: %s, central, %zu training samples, %zu parameters, %d thread(s), "
           "%ld steps of batch %d\n",
           cfg->data.name, pool.n, m->params.count, fd_threads(), total_steps, cfg->train.batch);

    fd_train_state st;
    char checkpoint[4200] = "";
    fd_train_resume(cfg, resume, pool.partition, load_checkpoint, m, MPI_COMM_SELF, &st, checkpoint,
                    sizeof checkpoint);
    if (st.round > 0) printf("resumed from %s after round %ld\n", checkpoint, st.round);
    fd_runfile rf;
    fd_train_open_runfile(&rf, cfg, 1, st.round);
    fd_train_eval *evaluation = fd_train_eval_open(cfg, m, &rf, st.round);

    fd_data_view view = {.n = (int)pool.n,
                         .sample_size = pool.sample_size,
                         .images = pool.images,
                         .vectors = pool.vectors,
                         .labels = pool.labels};
    fd_local_config lc = fd_setup_local_config(cfg, total_steps);
    lc.steps = steps_per_round;
    const double t_start = fd_now();
    const long first_round = st.round;
    bool interrupted = false;
    for (int round = (int)first_round; round < cfg->fed.rounds && !interrupted; round++) {
        const double t0 = fd_now();
        lc.round = (uint32_t)round;
        lc.adam_steps_done = st.step;
        lc.ema_steps_done = st.step;
        fd_local_stats stats;
        fd_local_train(m, &diff, &view, &lc, &st.step, &stats);
        if (stats.non_finite)
            FD_FATAL("round %d, step %ld: the loss or gradient is not finite; lower train.lr "
                     "or set train.grad_clip (no checkpoint written from this state)",
                     round + 1, st.step + 1);
        st.round = round + 1;
        const double dt = fd_now() - t0, elapsed = fd_now() - t_start;
        const double loss = stats.loss_sum / (double)stats.steps, samples = (double)stats.samples;
        char eta[32];
        fd_format_duration(eta, sizeof eta,
                           elapsed / (double)(st.round - first_round) *
                               (cfg->fed.rounds - st.round));
        printf("round %4ld/%d  step %7ld  loss %.5f  %7.1f img/s  %5.1f s  ETA %s\n", st.round,
               cfg->fed.rounds, st.step, loss, samples / dt, dt, eta);
        fflush(stdout);
        const double zero = 0;
        fd_run_record rec = {.round = st.round,
                             .step = st.step,
                             .clients = 1,
                             .loss = loss,
                             .seconds = dt,
                             .t_train = dt,
                             .client_loss = &loss,
                             .client_samples = &samples,
                             .client_bytes_up = &zero,
                             .client_bytes_down = &zero};
        if (fd_runfile_append(&rf, &rec) != 0) fd_die_on_error();
        fd_train_eval_round(evaluation, m, &diff, st.round, st.step);
        interrupted = fd_train_stop_requested(MPI_COMM_SELF);
        const bool last = st.round == cfg->fed.rounds;
        if (last || interrupted ||
            (cfg->out.checkpoint_every > 0 && st.round % cfg->out.checkpoint_every == 0)) {
            fd_train_checkpoint_path(checkpoint, sizeof checkpoint, cfg, st.round);
            fd_checkpoint_content content = fd_checkpoint_of_model(m);
            content.partition = pool.partition;
            if (fd_checkpoint_write(checkpoint, MPI_COMM_SELF, cfg, &content, &st) != 0)
                fd_die_on_error();
            fd_train_prune_checkpoints(cfg);
        }
    }
    fd_train_eval_close(evaluation);
    if (fd_runfile_close(&rf) != 0) fd_die_on_error();
    if (interrupted) {
        printf("interrupted by a signal after round %ld: saved %s; continue with --resume "
               "latest\n",
               st.round, checkpoint);
    } else {
        char took[32];
        fd_format_duration(took, sizeof took, fd_now() - t_start);
        printf("trained in %s; wrote %s and %s/run.h5\n", took, checkpoint, cfg->out.dir);
        write_samples(cfg, m, &diff, checkpoint);
        printf("peak memory: %.0f MB\n", (double)fd_peak_rss_bytes() / 1e6);
    }

    free(pool.images);
    free(pool.vectors);
    free(pool.labels);
    fd_dataset_close(&ds);
    fd_diffusion_free(&diff);
    fd_model_free(m);
    return interrupted ? FD_EXIT_INTERRUPTED : 0;
}
