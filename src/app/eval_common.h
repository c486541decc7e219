/* What feddiff evaluator, feddiff eval and training's periodic evaluations share: whole
 * dataset splits in memory, the classifier file that fits a config, the embedded test split,
 * and the table of scores. */
#ifndef FEDDIFF_APP_EVAL_COMMON_H
#define FEDDIFF_APP_EVAL_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "feddiff/config.h"
#include "feddiff/dataset.h"
#include "feddiff/eval_io.h"
#include "feddiff/evaluate.h"

/* Open a split of cfg's dataset and read all of its images into *images (free it). -1 with a
 * message (e.g. a missing dataset, or one that has no images). */
int fd_app_load_split(const fd_config *cfg, enum fd_split split, fd_dataset *ds, uint8_t **images);

/* The classifier of `path`, which must have been trained on cfg's dataset. NULL with a
 * message. */
fd_classifier *fd_app_load_classifier(const char *path, const fd_config *cfg,
                                      fd_classifier_info *info);

/* The test split of cfg's dataset through the classifier. -1 with a message. */
int fd_app_embed_test_split(fd_feature_set *ref, fd_classifier *c, const fd_config *cfg);

/* The score table: a header, then one row per set of scores labelled `label`. */
void fd_app_print_scores_header(FILE *out, const char *first_column);
void fd_app_print_scores_row(FILE *out, const char *label, const fd_eval_scores *s);
/* Per-class FID, one row per class. */
void fd_app_print_class_scores(FILE *out, const fd_eval_scores *s);

#endif
