/* Federated training over the MPI ranks (fed.method = full, udec, ulatdec, usplit, local):
 * data, rank map and clients, the round loop with its progress lines, run file and checkpoints,
 * the communication totals, and the samples of the trained models. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/blas.h"
#include "feddiff/checkpoint.h"
#include "feddiff/clientdata.h"
#include "feddiff/dataset.h"
#include "feddiff/error.h"
#include "feddiff/federation.h"
#include "feddiff/fs.h"
#include "feddiff/memory.h"
#include "feddiff/mpi_util.h"
#include "feddiff/partition.h"
#include "feddiff/rank_map.h"
#include "feddiff/runfile.h"
#include "feddiff/threads.h"
#include "feddiff/timer.h"
#include "run_setup.h"
#include "train.h"
#include "train_eval.h"

enum { ROOT = 0 };

/* "temb+enc+mid", or "nothing". */
static void parts_text(char *buf, size_t size, unsigned parts)
{
    buf[0] = '\0';
    for (int p = 0; p < FD_PART_COUNT; p++)
        if (parts & (1u << p))
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? "+" : "",
                     fd_part_name((enum fd_part)p));
    if (!buf[0]) snprintf(buf, size, "nothing");
}

static size_t parts_count(const fd_params *p, unsigned parts)
{
    size_t n = 0;
    for (int part = 0; part < FD_PART_COUNT; part++)
        if (parts & (1u << part)) n += p->parts[part].count;
    return n;
}

/* The layout line the run starts with: who runs what where. */
static void print_layout(const fd_config *cfg, const fd_federation *f, const fd_rank_map *map,
                         const fd_partition *part, int n_seen)
{
    int lo = n_seen, hi = 0;
    size_t s_lo = (size_t)-1, s_hi = 0;
    for (int r = 0; r < map->n_ranks; r++) {
        int n = 0;
        size_t samples = 0;
        for (int c = 0; c < n_seen; c++)
            if (map->owner[c] == r) {
                n++;
                samples += fd_partition_train_count(part, c);
            }
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
        s_lo = samples < s_lo ? samples : s_lo;
        s_hi = samples > s_hi ? samples : s_hi;
    }
    const fd_params *p = &f->model->params;
    char local[64], shared[64];
    parts_text(local, sizeof local, f->local_parts);
    parts_text(shared, sizeof shared, f->shared_parts);
    printf("feddiff train: %s, %s, %d clients (%d per round), %d rounds, %zu parameters\n",
           cfg->data.name, cfg->fed.method, n_seen,
           fd_strategy_sample_clients(f->sampled, n_seen, cfg->fed.clients_per_round, cfg->run.seed,
                                      0),
           cfg->fed.rounds, p->count);
    printf("layout: %d rank(s) x %d thread(s), BLIS kernels %s; clients per rank %d-%d "
           "(training samples %zu-%zu)\n",
           map->n_ranks, fd_threads(), fd_blas_kernel_set(), lo, hi, s_lo, s_hi);
    printf("method %s: clients keep %s (%zu values), exchange %s (%zu values)%s; "
           "state per client %.1f MB\n",
           cfg->fed.method, local, parts_count(p, f->local_parts), shared,
           parts_count(p, f->shared_parts),
           f->set.method == FD_FED_USPLIT ? ", each uploading one half" : "",
           (double)fd_client_states_bytes_per_client(&f->states) / 1e6);
    fflush(stdout);
}

static const fd_fed_client *own_client(const fd_federation *f, int id)
{
    for (int j = 0; j < f->n_own; j++)
        if (f->clients[j].id == id) return &f->clients[j];
    FD_FATAL("client %d is not held by rank %d", id, f->rank);
}

/* Samples at the end: the global model's, or, when clients keep parts, those of up to
 * out.sample_clients clients of the last round (their own parts are the freshest, trained
 * against the latest global ones), a grid row each. Each row is drawn on the rank that holds
 * the client; the root gathers and writes them. */
static void write_samples(const fd_config *cfg, fd_federation *f, int n_seen,
                          const fd_rank_map *map, const char *checkpoint)
{
    if (cfg->out.samples <= 0) return;
    fd_model *m = f->model;
    fd_federation_share_ema(f);
    const bool personal = f->local_parts != 0;
    int *last = fd_malloc(sizeof(int) * (size_t)n_seen);
    const int k = fd_strategy_sample_clients(last, n_seen, cfg->fed.clients_per_round,
                                             cfg->run.seed, (uint32_t)(cfg->fed.rounds - 1));
    const int rows = personal ? (cfg->out.sample_clients < k ? cfg->out.sample_clients : k) : 1;
    const int cols = personal ? (cfg->out.samples + rows - 1) / rows : cfg->out.samples;
    const int n = rows * cols;
    const size_t size = m->sample_size;
    double *gathered = fd_calloc((size_t)n * size, sizeof(double));
    float *x = fd_malloc(sizeof(float) * (size_t)cols * size);
    /* The global model's row cycles over the classes; a client's row asks for its own. */
    int *labels = fd_grid_labels(m, rows, cols);
    if (labels && personal) memset(labels, 0, sizeof(int) * (size_t)n);
    int *clients = fd_malloc(sizeof(int) * (size_t)n);
    for (int r = 0; r < rows; r++) {
        const int id = personal ? last[r] : 0;
        for (int c = 0; c < cols; c++) clients[r * cols + c] = id;
        const bool mine = personal ? map->owner[id] == f->rank : f->rank == ROOT;
        if (!mine) continue;
        int *row_labels = labels ? labels + (size_t)r * cols : NULL;
        if (row_labels && personal) {
            const fd_data_view *d = &own_client(f, id)->data;
            fd_client_grid_labels(row_labels, cols, m, d->labels, d->n);
        }
        fd_federation_load_client(f, id, true);
        fd_draw_samples(cfg, m, f->diff, x, row_labels, NULL, cols, (uint32_t)id, 0);
        for (size_t i = 0; i < (size_t)cols * size; i++)
            gathered[(size_t)r * cols * size + i] = x[i];
    }
    /* Each row comes from exactly one rank: a sum is a gather. */
    fd_mpi_reduce_sum_doubles(gathered, (size_t)n * size, ROOT, f->comm);
    if (labels && personal)
        FD_CHECK_MPI(MPI_Reduce(f->rank == ROOT ? MPI_IN_PLACE : labels, labels, n, MPI_INT,
                                MPI_SUM, ROOT, f->comm));
    if (f->rank == ROOT) {
        float *all = fd_malloc(sizeof(float) * (size_t)n * size);
        for (size_t i = 0; i < (size_t)n * size; i++) all[i] = (float)gathered[i];
        fd_save_samples(cfg, m, all, labels, personal ? clients : NULL, n,
                        personal ? cols : fd_grid_columns(m, n), checkpoint);
        free(all);
    }
    free(gathered);
    free(x);
    free(labels);
    free(clients);
    free(last);
}

/* Peak resident memory: the largest rank and the sum over ranks. */
static void report_memory(MPI_Comm comm)
{
    double rss = (double)fd_peak_rss_bytes(), max = 0, sum = 0;
    FD_CHECK_MPI(MPI_Reduce(&rss, &max, 1, MPI_DOUBLE, MPI_MAX, ROOT, comm));
    FD_CHECK_MPI(MPI_Reduce(&rss, &sum, 1, MPI_DOUBLE, MPI_SUM, ROOT, comm));
    int rank;
    FD_CHECK_MPI(MPI_Comm_rank(comm, &rank));
    if (rank == ROOT)
        printf("peak memory: %.0f MB on the largest rank, %.0f MB over all ranks\n", max / 1e6,
               sum / 1e6);
}

static void save_checkpoint(const fd_config *cfg, const fd_federation *f, int n_seen,
                            uint64_t partition, const fd_train_state *st, char *path, size_t size)
{
    fd_train_checkpoint_path(path, size, cfg, st->round);
    fd_checkpoint_content c = {.model = f->model,
                               .params = f->global,
                               .ema = f->global_ema,
                               .server_m = f->server.m,
                               .server_v = f->server.v,
                               .method = cfg->fed.method,
                               .n_clients = n_seen,
                               .clients = &f->states,
                               .partition = partition};
    if (fd_checkpoint_write(path, f->comm, cfg, &c, st) != 0) fd_die_on_shared_error(f->comm);
    fd_train_prune_checkpoints(cfg);
}

/* Resume: the global model and EMA (through the working model), the server's moments and this
 * rank's clients' rows. */
static int load_checkpoint(void *federation, const char *path)
{
    fd_federation *f = federation;
    fd_model *m = f->model;
    fd_train_state st;
    if (fd_checkpoint_read(path, m, &st) != 0 ||
        fd_checkpoint_read_federated(path, &f->server, &f->states) != 0)
        return -1;
    memcpy(f->global, m->params.data, sizeof(float) * m->params.count);
    memcpy(f->global_ema, m->ema, sizeof(float) * m->params.count);
    return 0;
}

/* The global model and its EMA in the working model (the root's copy; the next round overwrites
 * whatever it trains). */
static void load_global_model(fd_federation *f)
{
    fd_model *m = f->model;
    memcpy(m->params.data, f->global, sizeof(float) * m->params.count);
    memcpy(m->ema, f->global_ema, sizeof(float) * m->params.count);
}

/* Evaluation during training scores the global model, which is the whole model only when
 * clients keep no parts of their own. */
static fd_train_eval *open_evaluation(const fd_config *cfg, const fd_federation *f,
                                      fd_runfile *rf, long resumed)
{
    if (cfg->eval.every > 0 && f->local_parts) {
        fd_warn("eval.every: the clients of method %s keep parts of their own, so there is no "
                "one global model to score; run feddiff eval --clients on the checkpoints",
                cfg->fed.method);
        return NULL;
    }
    return fd_train_eval_open(cfg, f->model, rf, resumed);
}

int fd_train_federated(const fd_config *cfg, const char *resume)
{
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank, size;
    FD_CHECK_MPI(MPI_Comm_rank(comm, &rank));
    FD_CHECK_MPI(MPI_Comm_size(comm, &size));
    fd_threads_set(cfg->run.threads);
    fd_threads_check_binding();
    if (rank == ROOT && fd_mkdirs(cfg->out.dir) != 0) fd_die_on_error();

    /* Every rank builds the same partition from the labels, then loads its clients' samples. */
    fd_dataset_spec spec = fd_setup_dataset_spec(cfg);
    fd_dataset ds;
    if (fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN) != 0) fd_die_on_error();
    fd_partition part;
    fd_partition_config pc = fd_setup_partition_config(cfg);
    if (fd_partition_build(&part, &pc, ds.labels, ds.count, ds.n_classes) != 0) fd_die_on_error();
    const int n_seen = part.n_clients - part.config.unseen_clients;
    char partition_path[4200];
    snprintf(partition_path, sizeof partition_path, "%s/partition.h5", cfg->out.dir);
    if (rank == ROOT && fd_partition_save(&part, partition_path, cfg->data.name) != 0)
        fd_die_on_error();
    fd_fed_settings set = fd_setup_fed_settings(cfg, n_seen);

    double *cost = fd_malloc(sizeof(double) * (size_t)n_seen);
    for (int c = 0; c < n_seen; c++)
        cost[c] = (double)fd_federation_client_steps(&set, (int)fd_partition_train_count(&part, c));
    fd_rank_map map;
    fd_rank_map_build(&map, cost, n_seen, size);
    free(cost);
    int *own_ids = fd_malloc(sizeof(int) * (size_t)n_seen);
    const int n_own = fd_rank_map_clients(&map, rank, own_ids);
    fd_client_data cd;
    if (fd_client_data_load(&cd, &ds, &part, own_ids, n_own) != 0) fd_die_on_error();
    fd_fed_client *own = fd_malloc(sizeof *own * (size_t)(n_own > 0 ? n_own : 1));
    for (int j = 0; j < n_own; j++) {
        const fd_client_slice *sl = &cd.clients[j];
        own[j].id = sl->client;
        own[j].rng_stream = (uint32_t)sl->client;
        own[j].data =
            (fd_data_view){.n = (int)sl->n_train,
                           .sample_size = cd.sample_size,
                           .images = cd.images ? fd_client_image(&cd, sl->first) : NULL,
                           .vectors = cd.vectors ? fd_client_vector(&cd, sl->first) : NULL,
                           .labels = cd.labels + sl->first};
    }

    fd_model *m = fd_setup_model(cfg, &ds, 0);
    fd_diffusion diff;
    fd_diffusion_init(&diff, fd_setup_schedule_kind(cfg), cfg->diffusion.steps);
    fd_federation f;
    int *train_counts = fd_malloc(sizeof(int) * (size_t)n_seen);
    for (int c = 0; c < n_seen; c++) train_counts[c] = (int)fd_partition_train_count(&part, c);
    fd_federation_init(&f, &set, m, &diff, own, n_own, map.owner, train_counts, comm);
    free(train_counts);
    if (rank == ROOT) print_layout(cfg, &f, &map, &part, n_seen);

    fd_train_state st;
    char checkpoint[4200] = "";
    const uint64_t fingerprint = fd_partition_fingerprint(&part);
    fd_train_resume(cfg, resume, fingerprint, load_checkpoint, &f, comm, &st, checkpoint,
                    sizeof checkpoint);
    if (st.round > 0 && rank == ROOT)
        printf("resumed from %s after round %ld\n", checkpoint, st.round);
    fd_runfile rf;
    if (rank == ROOT) fd_train_open_runfile(&rf, cfg, n_seen, st.round);

    fd_train_eval *evaluation = rank == ROOT ? open_evaluation(cfg, &f, &rf, st.round) : NULL;

    fd_round_stats rs;
    fd_round_stats_init(&rs, n_seen);
    double total_up = 0, total_down = 0, client_rounds = 0;
    const double t_start = fd_now();
    const long first_round = st.round;
    bool interrupted = false;
    for (int round = (int)first_round; round < cfg->fed.rounds && !interrupted; round++) {
        fd_federation_round(&f, round, &rs);
        st.round = round + 1;
        st.step += lround(rs.mean_steps);
        if (rank == ROOT) {
            total_up += rs.bytes_up;
            total_down += rs.bytes_down;
            client_rounds += rs.sampled - rs.failed;
            char eta[32];
            const double elapsed = fd_now() - t_start;
            fd_format_duration(eta, sizeof eta,
                               elapsed / (double)(st.round - first_round) *
                                   (cfg->fed.rounds - st.round));
            printf("round %4ld/%d  clients %4d  loss %.5f  up %8.2f MB  down %8.2f MB  %6.1f s  "
                   "ETA %s\n",
                   st.round, cfg->fed.rounds, rs.sampled - rs.failed, rs.loss, rs.bytes_up / 1e6,
                   rs.bytes_down / 1e6, rs.t_round, eta);
            fflush(stdout);
            fd_run_record rec = {.round = st.round,
                                 .step = st.step,
                                 .clients = rs.sampled,
                                 .failed = rs.failed,
                                 .moved = rs.moved,
                                 .loss = rs.loss,
                                 .bytes_up = rs.bytes_up,
                                 .bytes_down = rs.bytes_down,
                                 .seconds = rs.t_round,
                                 .t_bcast = rs.t_bcast,
                                 .t_train = rs.t_train,
                                 .t_wait = rs.t_wait,
                                 .t_reduce = rs.t_reduce,
                                 .t_server = rs.t_server,
                                 .client_loss = rs.client_loss,
                                 .client_samples = rs.client_samples,
                                 .client_bytes_up = rs.client_bytes_up,
                                 .client_bytes_down = rs.client_bytes_down};
            if (fd_runfile_append(&rf, &rec) != 0) fd_die_on_error();
            if (evaluation) {
                load_global_model(&f);
                fd_train_eval_round(evaluation, m, &diff, st.round, st.step);
            }
        }
        interrupted = fd_train_stop_requested(comm);
        const bool last = st.round == cfg->fed.rounds;
        if (last || interrupted ||
            (cfg->out.checkpoint_every > 0 && st.round % cfg->out.checkpoint_every == 0))
            save_checkpoint(cfg, &f, n_seen, fingerprint, &st, checkpoint, sizeof checkpoint);
    }
    if (rank == ROOT) {
        fd_train_eval_close(evaluation);
        if (fd_runfile_close(&rf) != 0) fd_die_on_error();
        if (interrupted)
            printf("interrupted by a signal after round %ld: saved %s; continue with --resume "
                   "latest\n",
                   st.round, checkpoint);
    }
    if (!interrupted && rank == ROOT && st.round > first_round) {
        /* What `full` would have moved for the same client-rounds: the whole backbone down and
         * up. */
        const double full =
            client_rounds * 2.0 * 4.0 * (double)parts_count(&m->params, FD_PARTS_BACKBONE);
        char took[32];
        fd_format_duration(took, sizeof took, fd_now() - t_start);
        printf("trained in %s; wrote %s and %s/run.h5\n", took, checkpoint, cfg->out.dir);
        printf("communication over rounds %ld-%ld: up %.1f MB, down %.1f MB, total %.1f MB; full "
               "would move %.1f MB for the same %.0f client-rounds: %.1f%% less\n",
               first_round + 1, st.round, total_up / 1e6, total_down / 1e6,
               (total_up + total_down) / 1e6, full / 1e6, client_rounds,
               full > 0 ? 100.0 * (1.0 - (total_up + total_down) / full) : 0.0);
        fflush(stdout);
    }
    if (!interrupted) {
        write_samples(cfg, &f, n_seen, &map, checkpoint);
        report_memory(comm);
    }

    fd_round_stats_free(&rs);
    fd_federation_free(&f);
    fd_diffusion_free(&diff);
    fd_model_free(m);
    free(own);
    free(own_ids);
    fd_client_data_free(&cd);
    fd_rank_map_free(&map);
    fd_partition_free(&part);
    fd_dataset_close(&ds);
    /* Leave together: mpirun stops every rank as soon as one exits with 75, and the root may
     * still be closing the run file. */
    FD_CHECK_MPI(MPI_Barrier(comm));
    return interrupted ? FD_EXIT_INTERRUPTED : 0;
}
