/* One federated round over MPI (DESIGN.md sections 1, 4, 5).
 *
 * Every rank holds one working model and the clients the rank map gave it. A round:
 *  1. the round's clients are drawn (a pure function of seed and round: every rank draws the
 *     same ones, so the root's choice needs no message);
 *  2. the root broadcasts the exchanged parts of the global model;
 *  3. each rank trains its share of the round's clients one after another, each with all of
 *     the rank's threads (round_plan.h: a client stays on the rank that holds it unless that
 *     rank drew more than its share; then its data and state travel): the global parts and the
 *     client's own local parts go into the working model, local training runs
 *     (fd_local_train), the client's local parts are kept, and what it uploads is added,
 *     weighted by its training samples, to the rank's sums;
 *  4. one reduction brings the sums to the root, which averages them part by part, applies the
 *     server update and moves the global moving average.
 * A client whose loss or upload is not finite is left out of the round with a warning naming
 * it; its state stays as it was before the round.
 *
 * Bytes are counted as a deployment would send them: a sampled client receives the exchanged
 * parts and uploads its share of them, 4 bytes per float32 value. */
#ifndef FEDDIFF_FEDERATION_H
#define FEDDIFF_FEDERATION_H

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#include "feddiff/aggregate.h"
#include "feddiff/client_state.h"
#include "feddiff/diffusion.h"
#include "feddiff/local_train.h"
#include "feddiff/model.h"
#include "feddiff/strategy.h"

/* A client this rank simulates. */
typedef struct {
    int id;              /* global id, 0 .. n_clients - 1 */
    fd_data_view data;   /* its training samples */
    uint32_t rng_stream; /* the client coordinate of its random draws: its id in runs (tests may
                            give replicas one stream) */
} fd_fed_client;

typedef struct {
    enum fd_fed_method method; /* any but FD_FED_CENTRAL */
    int n_clients;             /* clients taking part in training, over all ranks */
    double clients_per_round;  /* fraction (<= 1) or count */
    int rounds;                /* planned rounds: the warm-up is a fraction of all steps */
    int local_epochs;          /* > 0: epochs of its data per round, else local.steps steps */
    bool keep_optimizer;       /* a client's AdamW moments persist between its rounds */
    enum fd_server_kind server;
    double server_lr;
    double warmup;         /* fraction of a client's planned steps with a linear lr warm-up */
    fd_local_config local; /* every client's local training (batch, steps, AdamW, clip, EMA
                              decay, labels, timesteps, seed); per-client fields are set here */
} fd_fed_settings;

/* One round, after fd_federation_round: the same on every rank, but the times (root only). */
typedef struct {
    int sampled, failed; /* clients drawn; left out for non-finite values */
    int moved;           /* clients trained on another rank than the one holding them */
    double mean_steps;   /* mean optimizer steps of the clients that finished */
    double loss;         /* mean over the clients that finished of their mean step loss */
    double bytes_up, bytes_down;
    /* seconds, averaged over ranks: broadcast, local training, waiting for the slowest rank,
     * reduction, server update */
    double t_bcast, t_train, t_wait, t_reduce, t_server, t_round;
    /* [n_clients], for the clients of the round (NaN / 0 for the others) */
    double *client_loss, *client_samples, *client_bytes_up, *client_bytes_down;
} fd_round_stats;

typedef struct {
    fd_fed_settings set;
    MPI_Comm comm;
    int rank, size;
    fd_model *model;              /* the rank's working model (not owned) */
    fd_diffusion *diff;           /* its work buffers (not owned) */
    const fd_fed_client *clients; /* [n_own] this rank's clients, ascending id (not owned) */
    int n_own;
    unsigned local_parts, shared_parts;
    fd_range trained;  /* arena range local training updates */
    float *global;     /* [count] global model: the exchanged parts are current on every rank
                          after a round's broadcast, and on the root after its update */
    float *global_ema; /* [count] its moving average, kept by the root */
    fd_server_opt server;
    fd_client_states states;
    fd_aggregator agg;
    int *sampled;       /* [n_clients] scratch */
    unsigned *upload;   /* [n_clients] scratch */
    double *client_buf; /* [n_clients][fields] per-client figures for the reduction */
    int *owner;         /* [n_clients] the rank holding each client's data and state */
    double *cost;       /* [n_clients] each client's optimizer steps per round */
    int *exec;          /* [n_clients] scratch: the rank training each of a round's clients */
} fd_federation;

/* The model must be initialised identically on every rank (same seed), with its EMA enabled.
 * owner [n_clients]: the rank holding each client (own: this rank's, ascending id);
 * train_counts [n_clients]: every client's training samples (its cost per round). */
void fd_federation_init(fd_federation *f, const fd_fed_settings *set, fd_model *model,
                        fd_diffusion *diff, const fd_fed_client *own, int n_own, const int *owner,
                        const int *train_counts, MPI_Comm comm);
void fd_federation_free(fd_federation *f);

void fd_round_stats_init(fd_round_stats *st, int n_clients);
void fd_round_stats_free(fd_round_stats *st);

/* Run round `round` (0-based). Collective. */
void fd_federation_round(fd_federation *f, int round, fd_round_stats *st);

/* Optimizer steps client `id` takes per round. */
long fd_federation_client_steps(const fd_fed_settings *set, int n_samples);

/* Copy the root's global EMA to every rank (before sampling). Collective. */
void fd_federation_share_ema(fd_federation *f);
/* Put client `id`'s model into the working model: the global parts (or their EMA) with its own
 * local parts (or their EMA). On the rank that holds the client (fatal elsewhere); with ema, after
 * fd_federation_share_ema. */
void fd_federation_load_client(fd_federation *f, int id, bool ema);

#endif
