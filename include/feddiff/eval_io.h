/* The evaluation's files (docs/evaluation.md gives their layout):
 *   classifier files  the evaluation classifier's weights by name with what it was trained on
 *                     (written by feddiff evaluator, read by feddiff eval and training);
 *   results files     one evaluation: scores overall, per class and per client (feddiff eval);
 *   the run's log     group /eval of the run file (<out.dir>/run.h5, feddiff/runfile.h): one
 *                     row per evaluation during training, in extendible datasets.
 * All are written by one process; every dataset and the file carry attributes saying what
 * they hold. */
#ifndef FEDDIFF_EVAL_IO_H
#define FEDDIFF_EVAL_IO_H

#include "feddiff/classifier.h"
#include "feddiff/config.h"
#include "feddiff/evaluate.h"

typedef struct {
    char dataset[FD_CONFIG_STR]; /* data.name of the training split */
    double test_accuracy;        /* on the dataset's test split */
    double train_accuracy;       /* during the last epoch */
    long epochs;
    double train_seconds;
    long active_features; /* features not constant 0 on the test split (ReLU units can die) */
} fd_classifier_info;

/* Write the classifier's weights (/weights/<name>), its architecture (attributes of /weights)
 * and info and cfg (attributes of the file). 0, or -1 with a message. */
int fd_classifier_save(const char *path, fd_classifier *c, const fd_classifier_info *info,
                       const fd_config *cfg);
/* Rebuild a saved classifier; info may be NULL. NULL with a message naming the file. */
fd_classifier *fd_classifier_load(const char *path, fd_classifier_info *info);

/* One evaluation, as feddiff eval writes it. */
typedef struct {
    const char *classifier; /* its file */
    const fd_classifier_info *classifier_info;
    const char *source;               /* the checkpoint or samples file evaluated */
    const char *sampler;              /* how the samples were drawn */
    long round, step;                 /* of the checkpoint (-1: unknown) */
    const fd_eval_scores *all;        /* against the test split, or NULL */
    int n_clients;                    /* per-client rows (0: none) */
    const int *clients;               /* [n_clients] client ids */
    const int *unseen;                /* [n_clients] 1 for unseen clients */
    const fd_eval_scores *per_client; /* [n_clients] against each client's held-out data */
} fd_eval_report;

/* 0, or -1 with a message. */
int fd_eval_results_write(const char *path, const fd_eval_report *r, const fd_config *cfg);

/* Append one row (round, step, scores) to group /eval of the existing HDF5 file `path` (the run
 * file), creating the group at the first row; the file is opened and closed around it, as the
 * run file's rounds are. 0, or -1 with a message naming the file. */
int fd_eval_log_append(const char *path, long round, long step, const fd_eval_scores *s);
/* Drop the rows of rounds after keep_rounds (a resumed run redoes them). 0, or -1. */
int fd_eval_log_truncate(const char *path, long keep_rounds);

#endif
