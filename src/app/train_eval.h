/* Evaluation during training (eval.every): the EMA model's samples against the test split every
 * N rounds, one line on stdout and one row in group /eval of the run file (<out.dir>/run.h5).
 * The training loop calls these three functions only. */
#ifndef FEDDIFF_APP_TRAIN_EVAL_H
#define FEDDIFF_APP_TRAIN_EVAL_H

#include "feddiff/config.h"
#include "feddiff/diffusion.h"
#include "feddiff/model.h"
#include "feddiff/runfile.h"

typedef struct fd_train_eval fd_train_eval;

/* NULL when eval.every is 0 or the model has client embeddings (those are scored per client:
 * feddiff eval). Loads eval.classifier and embeds the test split; a bad classifier file or
 * dataset is a fatal one-line error before training starts. A run resumed after `resumed`
 * rounds drops the log rows of later rounds from rf. Root only. */
fd_train_eval *fd_train_eval_open(const fd_config *cfg, const fd_model *m, fd_runfile *rf,
                                  long resumed);
/* After round `round` (1-based): evaluate if it is a multiple of eval.every. */
void fd_train_eval_round(fd_train_eval *te, fd_model *m, fd_diffusion *d, long round, long step);
void fd_train_eval_close(fd_train_eval *te);

#endif
