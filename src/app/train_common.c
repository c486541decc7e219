#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "feddiff/checkpoint.h"
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

/* The rounds of the checkpoints in dir, newest first: of the complete ones
 * (checkpoint-<round>.h5), or with `incomplete` of the temporaries of writes that did not
 * finish (checkpoint-<round>.h5.tmp). Returns how many; *rounds is malloc'd. */
static int list_checkpoints(const char *dir, bool incomplete, long **rounds)
{
    *rounds = NULL;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long round;
        char tail[8];
        /* Two conversions exactly: the name ends right after the suffix. */
        const int matched =
            incomplete ? sscanf(e->d_name, "checkpoint-%ld.h5.tm%1[p]%c", &round, tail, tail + 1)
                       : sscanf(e->d_name, "checkpoint-%ld.h%1[5]%c", &round, tail, tail + 1);
        if (matched != 2) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            *rounds = fd_realloc(*rounds, sizeof(long) * (size_t)cap);
        }
        (*rounds)[n++] = round;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort, newest first: a handful of files */
        for (int j = i; j > 0 && (*rounds)[j] > (*rounds)[j - 1]; j--) {
            long t = (*rounds)[j];
            (*rounds)[j] = (*rounds)[j - 1];
            (*rounds)[j - 1] = t;
        }
    return n;
}

void fd_train_prune_checkpoints(const fd_config *cfg)
{
    if (!fd_app_is_root()) return;
    long *rounds;
    int n = list_checkpoints(cfg->out.dir, false, &rounds);
    for (int i = cfg->out.keep; i < n; i++) {
        char path[4200];
        fd_train_checkpoint_path(path, sizeof path, cfg, rounds[i]);
        if (remove(path) != 0) fd_warn("%s: cannot delete an old checkpoint", path);
    }
    free(rounds);
    /* This run's write has just completed, so a temporary still there is the remains of a run
     * that was killed while writing: as large as a checkpoint, and of no use. */
    n = list_checkpoints(cfg->out.dir, true, &rounds);
    for (int i = 0; i < n; i++) {
        char path[4200], tmp[4210];
        fd_train_checkpoint_path(path, sizeof path, cfg, rounds[i]);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        if (remove(tmp) == 0)
            printf("removed %s, an incomplete checkpoint of an interrupted run\n", tmp);
        else
            fd_warn("%s: cannot delete an incomplete checkpoint", tmp);
    }
    free(rounds);
}

/* The root's part of fd_train_claim_out_dir. */
static int claim_out_dir(const fd_config *cfg, bool overwrite)
{
    char run_path[4200];
    snprintf(run_path, sizeof run_path, "%s/run.h5", cfg->out.dir);
    const bool has_run_file = access(run_path, F_OK) == 0;
    long *rounds, *partial;
    const int n = list_checkpoints(cfg->out.dir, false, &rounds),
              n_partial = list_checkpoints(cfg->out.dir, true, &partial);
    int rc = 0;
    if (!has_run_file && n == 0) {
        /* nothing of a run here (a temporary alone is deleted by the first checkpoint) */
    } else if (!overwrite) {
        char newest[64] = "";
        if (n > 0) snprintf(newest, sizeof newest, ", the newest checkpoint-%06ld.h5", rounds[0]);
        fd_set_error("%s already holds a run (%s%d checkpoint(s)%s): continue it with --resume "
                     "latest, start afresh with --overwrite (deletes them), or set another out.dir",
                     cfg->out.dir, has_run_file ? "run.h5, " : "", n, newest);
        rc = -1;
    } else {
        char path[4200], tmp[4210];
        for (int i = 0; i < n + n_partial && rc == 0; i++) {
            fd_train_checkpoint_path(path, sizeof path, cfg, i < n ? rounds[i] : partial[i - n]);
            snprintf(tmp, sizeof tmp, "%s%s", path, i < n ? "" : ".tmp");
            if (remove(tmp) != 0) rc = -1;
        }
        if (rc == 0 && has_run_file && remove(run_path) != 0) rc = -1;
        if (rc != 0)
            fd_set_error("--overwrite: cannot delete the earlier run's files in %s: %s",
                         cfg->out.dir, strerror(errno));
        else
            printf("--overwrite: deleted the earlier run in %s (%s%d checkpoint(s))\n",
                   cfg->out.dir, has_run_file ? "run.h5, " : "", n);
    }
    free(rounds);
    free(partial);
    return rc;
}

int fd_train_claim_out_dir(const fd_config *cfg, bool overwrite)
{
    int rc = fd_app_is_root() ? claim_out_dir(cfg, overwrite) : 0;
    FD_CHECK_MPI(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
    return rc;
}

void fd_train_open_runfile(fd_runfile *rf, const fd_config *cfg, int n_clients, long resumed)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/run.h5", cfg->out.dir);
    if (resumed > 0) {
        if (fd_runfile_reopen(rf, path, n_clients, resumed) == 0) return;
        /* Keep what can still be read of the old file (a rank killed while appending to it can
         * leave it unreadable); the new one starts after the checkpoint's round. */
        char kept[4300];
        snprintf(kept, sizeof kept, "%s/run-unusable-%06ld.h5", cfg->out.dir, resumed);
        if (access(path, F_OK) == 0 && rename(path, kept) == 0)
            fd_warn("%s; kept it as %s and started a new run file (rounds 1-%ld are only in the "
                    "checkpoints)",
                    fd_last_error(), kept, resumed);
        else
            fd_warn("%s; starting a new run file (rounds 1-%ld are only in the checkpoints)",
                    fd_last_error(), resumed);
    }
    if (fd_runfile_create(rf, path, cfg, cfg->fed.method, n_clients) != 0) fd_die_on_error();
    rf->rounds = 0;
}

static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) { stop_signal = sig; }

void fd_train_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
        FD_FATAL("cannot install the SIGTERM/SIGUSR1 handler");
}

bool fd_train_stop_requested(MPI_Comm comm)
{
    int mine = stop_signal != 0, any = 0;
    FD_CHECK_MPI(MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm));
    return any != 0;
}

/* Keys a resumed run may change: where output goes, how long it runs, its threads, and what
 * only samples and evaluations read (neither touches the training state or its random
 * streams). */
static const char *const resumable_keys[] = {"out",
                                             "fed.rounds",
                                             "run.threads",
                                             "data.dir",
                                             "eval",
                                             "diffusion.sampler",
                                             "diffusion.sample_steps",
                                             NULL};

/* 0: path holds this run's checkpoint (its state in *st); -1: it cannot be read
 * (fd_last_error). Fatal when it belongs to another configuration or split. */
static int check_checkpoint(const fd_config *cfg, uint64_t partition, const char *path,
                            fd_train_state *st)
{
    fd_config saved;
    fd_model_config mc;
    uint64_t saved_partition;
    if (fd_checkpoint_read_config(path, &saved, &mc) != 0 ||
        fd_checkpoint_read_state(path, st, &saved_partition) != 0)
        return -1;
    char diff[FD_CONFIG_STR * 2 + 64];
    if (fd_config_first_difference(&saved, cfg, resumable_keys, diff, sizeof diff)) {
        fd_set_error("--resume: %s was written by another configuration: %s (only out.*, eval.*, "
                     "diffusion.sampler, diffusion.sample_steps, fed.rounds, run.threads and "
                     "data.dir may change on resume)",
                     path, diff);
        fd_die_on_error();
    }
    if (saved_partition && saved_partition != partition) {
        fd_set_error("--resume: %s was trained on another split of the data (partition "
                     "fingerprint %016llx, now %016llx): has the dataset in data.dir changed?",
                     path, (unsigned long long)saved_partition, (unsigned long long)partition);
        fd_die_on_error();
    }
    return 0;
}

/* Every rank tries `path`; true only if all of them loaded it. */
static bool load_everywhere(const fd_config *cfg, uint64_t partition, const char *path,
                            fd_resume_loader load, void *ctx, MPI_Comm comm, fd_train_state *st)
{
    int ok = check_checkpoint(cfg, partition, path, st) == 0 && load(ctx, path) == 0, all = 0;
    FD_CHECK_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
    if (!all && ok) fd_set_error("%s: another rank could not load it", path);
    return all != 0;
}

void fd_train_resume(const fd_config *cfg, const char *resume, uint64_t partition,
                     fd_resume_loader load, void *ctx, MPI_Comm comm, fd_train_state *st,
                     char *used, size_t size)
{
    used[0] = '\0';
    st->round = st->step = 0;
    if (!resume) return;
    if (strcmp(resume, "latest") != 0) {
        if (!load_everywhere(cfg, partition, resume, load, ctx, comm, st)) fd_die_on_error();
        snprintf(used, size, "%s", resume);
        return;
    }
    /* The root's listing decides, so that every rank walks the same candidates. */
    long *rounds = NULL;
    int n = fd_app_is_root() ? list_checkpoints(cfg->out.dir, false, &rounds) : 0;
    FD_CHECK_MPI(MPI_Bcast(&n, 1, MPI_INT, 0, comm));
    if (!fd_app_is_root()) rounds = fd_malloc(sizeof(long) * (size_t)(n > 0 ? n : 1));
    if (n > 0) FD_CHECK_MPI(MPI_Bcast(rounds, n, MPI_LONG, 0, comm));
    for (int i = 0; i < n; i++) {
        char path[4200];
        fd_train_checkpoint_path(path, sizeof path, cfg, rounds[i]);
        if (load_everywhere(cfg, partition, path, load, ctx, comm, st)) {
            snprintf(used, size, "%s", path);
            free(rounds);
            return;
        }
        if (fd_app_is_root())
            fd_warn("%s%s; trying an older checkpoint", fd_last_error(),
                    i + 1 < n ? "" : " (none older)");
    }
    free(rounds);
    st->round = st->step = 0;
    if (n > 0) { /* starting over would silently throw away their rounds */
        fd_set_error("--resume latest: none of the %d checkpoint(s) in %s can be loaded; move them "
                     "away to start afresh",
                     n, cfg->out.dir);
        fd_die_on_error();
    }
    if (fd_app_is_root())
        printf("--resume latest: no checkpoint in %s yet, starting fresh\n", cfg->out.dir);
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

void fd_client_grid_labels(int *out, int cols, const fd_model *m, const uint8_t *labels, int n)
{
    const int n_classes = model_classes(m);
    long *count = fd_calloc((size_t)n_classes, sizeof(long));
    for (int i = 0; i < n; i++) count[labels[i]]++;
    /* Largest remainder: each class the floor of its share, then one more each to the classes
     * with the largest rests (ties: the lower class). */
    int *take = fd_malloc(sizeof(int) * (size_t)n_classes);
    double *rest = fd_malloc(sizeof(double) * (size_t)n_classes);
    int given = 0;
    for (int k = 0; k < n_classes; k++) {
        const double share = (double)count[k] * cols / n;
        take[k] = (int)floor(share);
        rest[k] = count[k] > 0 ? share - take[k] : -1.0;
        given += take[k];
    }
    for (; given < cols; given++) {
        int best = -1;
        for (int k = 0; k < n_classes; k++)
            if (count[k] > 0 && (best < 0 || rest[k] > rest[best])) best = k;
        take[best]++;
        rest[best] = -1.0;
    }
    for (int k = 0, at = 0; k < n_classes; k++)
        for (int j = 0; j < take[k]; j++) out[at++] = k;
    free(rest);
    free(take);
    free(count);
}

int fd_grid_columns(const fd_model *m, int n)
{
    const int n_classes = model_classes(m);
    return n_classes > 0 && n_classes <= n ? n_classes : (int)ceil(sqrt((double)n));
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
