/* feddiff bench checkpoint: the write bandwidth of a federated checkpoint (collective MPI-IO,
 * every rank its clients' rows) for many clients of the default UNet, against plain POSIX
 * writing of the same bytes by the same ranks from the same memory: each rank pwrite()s its
 * buffers one after the other into its own contiguous stretch of one file (rank 0 first, with
 * the shared model), then fsync. That peer holds exactly the checkpoint's data in memory, as a
 * `dd` from /dev/zero does not (on this kind of VM, holding 5 GB while writing 5 GB slows the
 * write by up to a half: the page cache has less room to absorb it). bench/checkpoint.sh also
 * sets both against dd. */
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "feddiff/checkpoint.h"
#include "feddiff/client_state.h"
#include "feddiff/error.h"
#include "feddiff/fs.h"
#include "feddiff/rank_map.h"
#include "feddiff/strategy.h"
#include "feddiff/timer.h"
#include "options.h"

static const char *usage =
    "usage: [mpirun -n R] feddiff bench checkpoint [--clients N] [--method M] [--dir DIR]\n"
    "                                             [--reps R]\n"
    "  Writes a federated checkpoint of the default UNet for N clients (default 1000) of method\n"
    "  M (default udec: each client keeps temb+enc+mid) to DIR (default runs/bench), and the\n"
    "  same bytes with plain POSIX writes from the same ranks, R times each (default 3),\n"
    "  alternating, each ended by fsync, after one untimed plain write (the disk warms up).\n"
    "  Prints every pair, the median of the pairs' ratios and the best of each as MB/s.";

/* fsync the file so that the figure is the disk's, not the page cache's (dd conv=fsync). */
static void sync_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) FD_FATAL("%s: cannot fsync: %s", path, strerror(errno));
    close(fd);
}

static void write_all(int fd, const char *path, const void *data, size_t bytes, off_t *offset)
{
    const char *p = data;
    while (bytes > 0) {
        const size_t chunk = bytes < ((size_t)1 << 30) ? bytes : (size_t)1 << 30;
        const ssize_t n = pwrite(fd, p, chunk, *offset);
        if (n <= 0) FD_FATAL("%s: write failed: %s", path, n < 0 ? strerror(errno) : "no progress");
        p += n;
        bytes -= (size_t)n;
        *offset += n;
    }
}

/* The peer: every rank writes its clients' rows (and rank 0 the shared model and EMA first)
 * into its own contiguous stretch of `path`, then fsyncs. Returns the bytes written in all. */
static double plain_write(const char *path, const fd_client_states *s, const fd_model *m,
                          int rank)
{
    const size_t local = s->local.count * (size_t)s->n, moments = s->moments.count * (size_t)s->n;
    const size_t shared = rank == 0 ? 2 * m->params.count : 0;
    long long mine = (long long)(sizeof(float) * (shared + 2 * local + 2 * moments) +
                                 sizeof(long) * 2 * (size_t)s->n),
              before = 0, total = 0;
    FD_CHECK_MPI(MPI_Exscan(&mine, &before, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD));
    if (rank == 0) before = 0; /* MPI_Exscan leaves rank 0's result undefined */
    FD_CHECK_MPI(MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD));
    if (rank == 0) {
        const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) FD_FATAL("%s: cannot create: %s", path, strerror(errno));
        close(fd);
    }
    FD_CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
    const int fd = open(path, O_WRONLY);
    if (fd < 0) FD_FATAL("%s: cannot open: %s", path, strerror(errno));
    off_t at = (off_t)before;
    if (shared) {
        write_all(fd, path, m->params.data, sizeof(float) * m->params.count, &at);
        write_all(fd, path, m->ema, sizeof(float) * m->params.count, &at);
    }
    write_all(fd, path, s->params, sizeof(float) * local, &at);
    write_all(fd, path, s->ema, sizeof(float) * local, &at);
    write_all(fd, path, s->adam_m, sizeof(float) * moments, &at);
    write_all(fd, path, s->adam_v, sizeof(float) * moments, &at);
    write_all(fd, path, s->adam_steps, sizeof(long) * (size_t)s->n, &at);
    write_all(fd, path, s->ema_steps, sizeof(long) * (size_t)s->n, &at);
    if (fsync(fd) != 0) FD_FATAL("%s: cannot fsync: %s", path, strerror(errno));
    if (close(fd) != 0) FD_FATAL("%s: cannot close: %s", path, strerror(errno));
    return (double)total;
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int fd_bench_checkpoint(int argc, char **argv)
{
    long n_clients = 1000, reps = 3;
    const char *method_name = "udec", *dir = "runs/bench";
    for (int i = 0; i < argc;) {
        const char *v;
        if ((v = fd_app_option(argc, argv, &i, "--clients")))
            n_clients = fd_app_parse_long(v, "--clients", 1, 10000000);
        else if ((v = fd_app_option(argc, argv, &i, "--reps")))
            reps = fd_app_parse_long(v, "--reps", 1, 1000);
        else if ((v = fd_app_option(argc, argv, &i, "--method")))
            method_name = v;
        else if ((v = fd_app_option(argc, argv, &i, "--dir")))
            dir = v;
        else if (!strcmp(argv[i], "--help")) {
            if (fd_app_is_root()) puts(usage);
            return 0;
        } else
            return fd_app_usage_error("unknown argument '%s'\n%s", argv[i], usage);
    }
    const int method = fd_fed_method_from_name(method_name);
    if (method < 0 || method == FD_FED_CENTRAL)
        return fd_app_usage_error("--method %s: not a federated method", method_name);
    int rank, size;
    FD_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    FD_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
    if (rank == 0 && fd_mkdirs(dir) != 0) fd_die_on_error();

    fd_model_config mc = {.kind = FD_MODEL_UNET, .unet = fd_unet_default_config()};
    fd_model *m = fd_model_create(&mc);
    fd_model_init(m, 1);
    fd_model_ema_enable(m);
    double *cost = fd_malloc(sizeof(double) * (size_t)n_clients);
    for (long c = 0; c < n_clients; c++) cost[c] = 1.0;
    fd_rank_map map;
    fd_rank_map_build(&map, cost, (int)n_clients, size);
    int *own = fd_malloc(sizeof(int) * (size_t)n_clients);
    const int n_own = fd_rank_map_clients(&map, rank, own);
    const unsigned local = fd_strategy_local_parts((enum fd_fed_method)method);
    const fd_range none = {0, 0};
    fd_client_states states;
    fd_client_states_init(&states, own, n_own, local ? fd_params_range(&m->params, local) : none,
                          none, m);

    fd_config cfg;
    fd_config_defaults(&cfg);
    snprintf(cfg.fed.method, sizeof cfg.fed.method, "%s", method_name);
    cfg.fed.clients = (int)n_clients;
    fd_checkpoint_content c = {.model = m, .params = m->params.data, .ema = m->ema,
                               .method = method_name, .n_clients = (int)n_clients,
                               .clients = &states};
    fd_train_state st = {1, 1};
    char path[4200], plain_path[4200];
    snprintf(path, sizeof path, "%s/bench-checkpoint.h5", dir);
    snprintf(plain_path, sizeof plain_path, "%s/bench-plain.bin", dir);
    /* Untimed: the first large write after the disk has idled runs at a third of the speed on
     * this VM, whatever writes it (dd included). */
    plain_write(plain_path, &states, m, rank);
    FD_CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
    if (rank == 0) remove(plain_path);
    double ck_bytes = 0, best_ck = 0, best_plain = 0, *ratios = fd_malloc(sizeof(double) * (size_t)reps);
    for (long r = 0; r < reps; r++) {
        double mb_ck = 0, mb_plain = 0;
        /* The order flips every repetition: the disk's speed drifts from one minute to the next. */
        for (int turn = 0; turn < 2; turn++) {
            FD_CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
            const double t0 = fd_now();
            if ((turn == 0) == (r % 2 == 0)) {
                if (fd_checkpoint_write(path, MPI_COMM_WORLD, &cfg, &c, &st) != 0)
                    fd_die_on_error();
                if (rank == 0) sync_file(path);
                FD_CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
                const double t = fd_now() - t0;
                struct stat sb;
                if (rank == 0) {
                    if (stat(path, &sb) != 0) FD_FATAL("%s: cannot stat", path);
                    ck_bytes = (double)sb.st_size;
                    remove(path);
                }
                mb_ck = ck_bytes / t / 1e6;
            } else {
                const double bytes = plain_write(plain_path, &states, m, rank);
                FD_CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
                mb_plain = bytes / (fd_now() - t0) / 1e6;
                if (rank == 0) remove(plain_path);
            }
        }
        if (rank == 0)
            printf("  pair %ld: checkpoint %.1f MB/s, plain writes %.1f MB/s (%.0f%%)\n", r + 1,
                   mb_ck, mb_plain, 100 * mb_ck / mb_plain);
        fflush(stdout);
        ratios[r] = mb_ck / mb_plain;
        best_ck = mb_ck > best_ck ? mb_ck : best_ck;
        best_plain = mb_plain > best_plain ? mb_plain : best_plain;
    }
    qsort(ratios, (size_t)reps, sizeof(double), compare_doubles);
    const double median =
        reps % 2 ? ratios[reps / 2] : (ratios[reps / 2 - 1] + ratios[reps / 2]) / 2;
    if (rank == 0)
        printf("checkpoint: %ld clients of %s on %d rank(s), %.2f GB: median pair %.0f%% of plain "
               "writes; best %.1f MB/s against best %.1f MB/s (%.0f%%)\n",
               n_clients, method_name, size, ck_bytes / 1e9, 100 * median, best_ck, best_plain,
               100 * best_ck / best_plain);
    free(ratios);
    fd_client_states_free(&states);
    free(own);
    free(cost);
    fd_rank_map_free(&map);
    fd_model_free(m);
    return 0;
}
