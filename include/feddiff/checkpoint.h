/* Checkpoints: one HDF5 file per save, written collectively by all ranks through MPI-IO and
 * renamed into place when complete (DESIGN.md section 6).
 *
 * Layout (docs/FORMAT.md):
 *   /                 attributes: format = "feddiff-checkpoint", format_version, feddiff_version,
 *                     config (the full INI text), round, step
 *   /model/<name>     every parameter tensor by its PyTorch name and shape (float32); the
 *                     group's attributes describe the network (kind, sizes), so a checkpoint
 *                     alone rebuilds its model
 *   /ema/<name>       the moving average of the parameters, same names and shapes
 *   /optimizer/adam_m, /optimizer/adam_v   the AdamW moments, flat [count] in arena order */
#ifndef FEDDIFF_CHECKPOINT_H
#define FEDDIFF_CHECKPOINT_H

#include <mpi.h>

#include "feddiff/config.h"
#include "feddiff/model.h"

typedef struct {
    long round; /* rounds completed */
    long step;  /* optimizer steps completed */
} fd_train_state;

/* Collective over comm. Rank 0 writes the shared tensors. 0, or -1 with fd_last_error(). */
int fd_checkpoint_write(const char *path, MPI_Comm comm, const fd_config *cfg, const fd_model *m,
                        const fd_train_state *st);
/* The run configuration and the network description stored in a checkpoint (to build the
 * matching model). Not collective. */
int fd_checkpoint_read_config(const char *path, fd_config *cfg, fd_model_config *model);
/* Load parameters, EMA (if m has one) and optimizer moments; every tensor must be present
 * with the model's shape. Not collective. 0, or -1 with a message naming file and tensor. */
int fd_checkpoint_read(const char *path, fd_model *m, fd_train_state *st);

#endif
