/* feddiff bench checkpoint: the write bandwidth of a federated checkpoint (collective MPI-IO,
 * every rank its clients' rows) for many clients of the default UNet. Prints bytes, seconds and
 * MB/s; bench/checkpoint.sh sets it against dd writing as many bytes. */
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
    "  M (default udec: each client keeps temb+enc+mid) to DIR (default runs/bench), R times\n"
    "  (default 3), each followed by fsync, and prints the best time as MB/s.";

/* fsync the file so that the figure is the disk's, not the page cache's (dd conv=fsync). */
static void sync_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) FD_FATAL("%s: cannot fsync", path);
    close(fd);
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
    char path[4200];
    snprintf(path, sizeof path, "%s/bench-checkpoint.h5", dir);
    double best = 1e30;
    for (long r = 0; r < reps; r++) {
        FD_CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
        const double t0 = fd_now();
        if (fd_checkpoint_write(path, MPI_COMM_WORLD, &cfg, &c, &st) != 0) fd_die_on_error();
        if (rank == 0) sync_file(path);
        FD_CHECK_MPI(MPI_Barrier(MPI_COMM_WORLD));
        const double t = fd_now() - t0;
        best = t < best ? t : best;
    }
    if (rank == 0) {
        struct stat sb;
        if (stat(path, &sb) != 0) FD_FATAL("%s: cannot stat", path);
        const double bytes = (double)sb.st_size;
        printf("checkpoint: %ld clients of %s on %d rank(s): %.0f bytes in %.3f s (best of %ld): "
               "%.1f MB/s\n",
               n_clients, method_name, size, bytes, best, reps, bytes / best / 1e6);
        remove(path);
    }
    fd_client_states_free(&states);
    free(own);
    free(cost);
    fd_rank_map_free(&map);
    fd_model_free(m);
    return 0;
}
