/* feddiff train, split by kind of run: central (one model on the pooled data) and federated
 * (clients over MPI ranks), with what both share: progress lines, checkpoint rotation and the
 * sample grid written at the end. */
#ifndef FEDDIFF_APP_TRAIN_H
#define FEDDIFF_APP_TRAIN_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feddiff/checkpoint.h"
#include "feddiff/config.h"
#include "feddiff/diffusion.h"
#include "feddiff/model.h"
#include "feddiff/runfile.h"

/* resume: NULL (start fresh), "latest", or a checkpoint file. */
int fd_train_central(const fd_config *cfg, const char *resume);
int fd_train_federated(const fd_config *cfg, const char *resume);

/* Exit code of a run stopped by SIGTERM or SIGUSR1 after saving a checkpoint (EX_TEMPFAIL). */
enum { FD_EXIT_INTERRUPTED = 75 };
/* Catch SIGTERM and SIGUSR1: training then finishes its round, saves and exits. */
void fd_train_catch_signals(void);
/* Whether any rank of comm has caught one. Collective (call once per round on every rank). */
bool fd_train_stop_requested(MPI_Comm comm);

/* Load a checkpoint into the run; 0, or -1 with fd_last_error(). Collective when the run is. */
typedef int (*fd_resume_loader)(void *ctx, const char *path);
/* Resume as --resume says. "latest": out.dir's checkpoints newest first; one that cannot be read
 * or loaded is reported with a warning and the next older one tried; no checkpoint at all starts
 * the run fresh, none that loads is fatal. A named file must load (fatal otherwise). A checkpoint
 * of another configuration (any key but out.*, fed.rounds, run.threads, data.dir) or of another
 * split of the data (partition fingerprint) is fatal. Collective over comm; sets *st to the
 * checkpoint's round and step ({0, 0}: fresh) and `used` to its file. */
void fd_train_resume(const fd_config *cfg, const char *resume, uint64_t partition,
                     fd_resume_loader load, void *ctx, MPI_Comm comm, fd_train_state *st,
                     char *used, size_t size);

/* A run that starts afresh (no --resume) must not write into an out.dir that holds an earlier
 * run (run.h5 or checkpoints): the two runs' files would mix and its checkpoints be pruned.
 * Returns 0 when out.dir holds none, or when `overwrite` and they were deleted (checkpoints,
 * their temporaries, run.h5); else -1 with an error naming the folder and the ways on. The
 * root looks; collective over MPI_COMM_WORLD. */
int fd_train_claim_out_dir(const fd_config *cfg, bool overwrite);

/* "1h02m", "3m05s", "42s". */
void fd_format_duration(char *buf, size_t size, double seconds);
/* <out.dir>/checkpoint-<round>.h5 */
void fd_train_checkpoint_path(char *buf, size_t size, const fd_config *cfg, long round);
/* <out.dir>/run.h5 for a run that starts after `resumed` rounds: created new for a fresh run;
 * reopened and cut back to `resumed` rounds when resuming (created anew, with a warning, when
 * that fails). Fatal when it cannot be created. Root only. */
void fd_train_open_runfile(fd_runfile *rf, const fd_config *cfg, int n_clients, long resumed);
/* Delete all but the newest out.keep checkpoints of out.dir (root). */
void fd_train_prune_checkpoints(const fd_config *cfg);

/* Draw n samples with m's current weights into x [n][sample_size], in batches of train.batch,
 * conditioned on labels [n] (or NULL) and client ids (or NULL); the sampler noise of sample i
 * is the SAMPLER stream (seed, stream_client) at index first + i. */
void fd_draw_samples(const fd_config *cfg, fd_model *m, fd_diffusion *diff, float *x,
                     const int *labels, const int *clients, int n, uint32_t stream_client,
                     uint64_t first);
/* Class labels for a grid row of n samples: 0, 1, 2, ... cycling over the model's classes (NULL
 * when it has none). */
int *fd_grid_labels(const fd_model *m, int rows, int cols);
/* Class labels of a client's grid row out [cols]: the classes of its training labels [n] (n > 0)
 * in proportion to their counts, ascending, so that a personal model is asked for what it
 * learned (a class a client never saw leaves its own parts' embedding of it untrained). */
void fd_client_grid_labels(int *out, int cols, const fd_model *m, const uint8_t *labels, int n);
/* Columns of a grid of n samples from one model: a column per class when there are classes,
 * else a square. */
int fd_grid_columns(const fd_model *m, int n);
/* Write <out.dir>/samples.h5 and, for images, samples.png with `cols` columns. Root only. */
void fd_save_samples(const fd_config *cfg, const fd_model *m, const float *x, const int *labels,
                     const int *clients, int n, int cols, const char *checkpoint);

#endif
