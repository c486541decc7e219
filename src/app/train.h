/* feddiff train, split by kind of run: central (one model on the pooled data) and federated
 * (clients over MPI ranks), with what both share: progress lines, checkpoint rotation and the
 * sample grid written at the end. */
#ifndef FEDDIFF_APP_TRAIN_H
#define FEDDIFF_APP_TRAIN_H

#include <stddef.h>

#include "feddiff/config.h"
#include "feddiff/diffusion.h"
#include "feddiff/model.h"

int fd_train_central(const fd_config *cfg);
int fd_train_federated(const fd_config *cfg);

/* "1h02m", "3m05s", "42s". */
void fd_format_duration(char *buf, size_t size, double seconds);
/* <out.dir>/checkpoint-<round>.h5 */
void fd_train_checkpoint_path(char *buf, size_t size, const fd_config *cfg, long round);
/* Keep the last out.keep checkpoints: delete the one that just fell out of the window (root). */
void fd_train_remove_old_checkpoint(const fd_config *cfg, long round);

/* Draw n samples with m's current weights into x [n][sample_size], in batches of train.batch,
 * conditioned on labels [n] (or NULL) and client ids (or NULL); the sampler noise of sample i
 * is the SAMPLER stream (seed, stream_client) at index first + i. */
void fd_draw_samples(const fd_config *cfg, fd_model *m, fd_diffusion *diff, float *x,
                     const int *labels, const int *clients, int n, uint32_t stream_client,
                     uint64_t first);
/* Class labels for a grid row of n samples: 0, 1, 2, ... cycling over the model's classes (NULL
 * when it has none). */
int *fd_grid_labels(const fd_model *m, int rows, int cols);
/* Write <out.dir>/samples.h5 and, for images, samples.png with `cols` columns. Root only. */
void fd_save_samples(const fd_config *cfg, const fd_model *m, const float *x, const int *labels,
                     const int *clients, int n, int cols, const char *checkpoint);

#endif
