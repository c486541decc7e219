/* The run file (<out.dir>/run.h5): what a training run measured, round by round.
 *
 * Extendible, chunked datasets, appended every round with the file opened and closed around
 * each append, so that a killed job keeps every round it finished and other programs can read
 * the file while the run goes on (HDF5 locks a file only while it is open):
 *   /rounds/<field>   [rounds]             one value per round (fields: fd_run_record)
 *   /clients/<field>  [rounds][n_clients]  one value per client and round (NaN or 0 for the
 *                                          clients a round did not sample)
 * Every dataset has "units" and "description" attributes; the file has format = "feddiff-run",
 * format_version, feddiff_version, method, n_clients and the full config. docs/FORMAT.md.
 * Serial: one process (the root) writes it. */
#ifndef FEDDIFF_RUNFILE_H
#define FEDDIFF_RUNFILE_H

#include <hdf5.h>

#include "feddiff/config.h"

typedef struct {
    long round; /* rounds completed (1-based) */
    long step;  /* optimizer steps per client so far (central: steps) */
    double clients, failed, moved;
    double loss;
    double bytes_up, bytes_down; /* this round, all clients */
    double seconds, t_bcast, t_train, t_wait, t_reduce, t_server;
    /* [n_clients] or NULL */
    const double *client_loss, *client_samples, *client_bytes_up, *client_bytes_down;
} fd_run_record;

typedef struct {
    hid_t file;
    int n_clients;
    long rounds; /* rows written */
    char path[4096];
} fd_runfile;

/* Create (truncate) the run file. -1 with a message naming the file. */
int fd_runfile_create(fd_runfile *rf, const char *path, const fd_config *cfg, const char *method,
                      int n_clients);
/* Reopen an existing run file to continue after round `keep_rounds` (a resumed run): rows of
 * later rounds, which the resumed run redoes, are dropped. -1 with a message when the file is
 * missing, not a run file, or has another client count. */
int fd_runfile_reopen(fd_runfile *rf, const char *path, int n_clients, long keep_rounds);
/* Append one round (open, write, close). -1 with a message (disk full?). */
int fd_runfile_append(fd_runfile *rf, const fd_run_record *rec);
int fd_runfile_close(fd_runfile *rf);

#endif
