/* Checkpoints: one HDF5 file per save, written collectively by all ranks through MPI-IO and
 * renamed into place when complete (DESIGN.md section 6).
 *
 * Layout (docs/FORMAT.md):
 *   /                 attributes: format = "feddiff-checkpoint", format_version, feddiff_version,
 *                     config (the full INI text), method, round, step, partition (the
 *                     fingerprint of the clients' split, 16 hex digits)
 *   /model/<name>     every parameter tensor by its PyTorch name and shape (float32): the
 *                     central model, or the federated global model; the group's attributes
 *                     describe the network (kind, sizes), so a checkpoint alone rebuilds it
 *   /ema/<name>       the moving average of the parameters, same names and shapes
 *   /optimizer/adam_m, /optimizer/adam_v   central runs: the AdamW moments, flat [count]
 *   /server/m, /server/v                   federated runs with FedAdam/FedYogi: the server's
 *                                          moments, flat [count]
 *   /clients/params, /clients/ema          federated runs whose clients keep parts:
 *                     [n_clients][local count], row c = client c's kept range of the arena
 *                     (attributes: offset, count, parts); /clients/ema_steps [n_clients]
 *                     the local steps each client trained; /clients/adam_m, adam_v
 *                     [n_clients][trained count] and /clients/adam_steps [n_clients] when the
 *                     clients keep their optimizer state. Each rank writes its clients' rows.
 */
#ifndef FEDDIFF_CHECKPOINT_H
#define FEDDIFF_CHECKPOINT_H

#include <mpi.h>
#include <stdint.h>

#include "feddiff/aggregate.h"
#include "feddiff/client_state.h"
#include "feddiff/config.h"
#include "feddiff/model.h"

typedef struct {
    long round; /* rounds completed */
    long step;  /* optimizer steps completed (federated: per client, as in the run file) */
} fd_train_state;

/* What a checkpoint holds. Buffers are full arenas of model->params.count floats. */
typedef struct {
    const fd_model *model;            /* the tensor table and network description */
    const float *params, *ema;        /* the (global) parameters and their moving average */
    const float *adam_m, *adam_v;     /* central: AdamW moments; else NULL */
    const float *server_m, *server_v; /* federated, adaptive server: its moments; else NULL */
    const char *method;               /* fed.method */
    int n_clients;                    /* federated: rows of the per-client datasets */
    const fd_client_states *clients;  /* federated: this rank's clients, or NULL */
    uint64_t partition;               /* fd_partition_fingerprint of the run's split */
} fd_checkpoint_content;

/* The content of a central run: the model's own buffers. */
fd_checkpoint_content fd_checkpoint_of_model(const fd_model *m);

/* Collective over comm: rank 0 writes the shared tensors, each rank its clients' rows. 0, or
 * -1 with fd_last_error() on every rank (nothing replaces an earlier file then). */
int fd_checkpoint_write(const char *path, MPI_Comm comm, const fd_config *cfg,
                        const fd_checkpoint_content *c, const fd_train_state *st);
/* The run configuration and the network description stored in a checkpoint (to build the
 * matching model). Not collective. */
int fd_checkpoint_read_config(const char *path, fd_config *cfg, fd_model_config *model);
/* Its round and step, and the fingerprint of the partition it was trained on (0 when the file
 * has none). Not collective. */
int fd_checkpoint_read_state(const char *path, fd_train_state *st, uint64_t *partition);
/* Load parameters, EMA (if m has one) and, when present, the AdamW moments into m; every tensor
 * must be present with the model's shape. Not collective. 0, or -1 with a message naming file
 * and tensor. */
int fd_checkpoint_read(const char *path, fd_model *m, fd_train_state *st);
/* Whether the checkpoint holds parts that each client keeps (/clients/params). */
bool fd_checkpoint_has_client_parts(const char *path);
/* Client `client`'s own parts (its EMA row when ema, else its parameters) over the range they
 * occupy in m's parameters (ema: in m->ema). Not collective. 0, or -1 with a message. */
int fd_checkpoint_read_client_parts(const char *path, int client, bool ema, fd_model *m);
/* Federated state: the server's moments (when s has them) and the rows of the clients in `clients`
 * (its ids, ranges and buffers as allocated by fd_client_states_init). Not collective. */
int fd_checkpoint_read_federated(const char *path, fd_server_opt *s, fd_client_states *clients);

#endif
