/* From the configuration to the objects of the lower layers: the app layer is the only one
 * that reads fd_config; it hands each layer its own plain settings. */
#ifndef FEDDIFF_APP_RUN_SETUP_H
#define FEDDIFF_APP_RUN_SETUP_H

#include "feddiff/classifier.h"
#include "feddiff/config.h"
#include "feddiff/dataset.h"
#include "feddiff/diffusion.h"
#include "feddiff/federation.h"
#include "feddiff/evaluate.h"
#include "feddiff/local_train.h"
#include "feddiff/model.h"
#include "feddiff/partition.h"

enum fd_schedule_kind fd_setup_schedule_kind(const fd_config *cfg);
fd_sampler_config fd_setup_sampler(const fd_config *cfg);
fd_dataset_spec fd_setup_dataset_spec(const fd_config *cfg);
fd_partition_config fd_setup_partition_config(const fd_config *cfg);
/* The network for this dataset's samples: the UNet for images, the MLP for vectors; with a
 * class table when model.classes is set and n_clients client-embedding rows (0: none). */
fd_model_config fd_setup_model_config(const fd_config *cfg, const fd_dataset *ds, int n_clients);
/* That network, initialised from run.seed (identically on every rank), with its EMA. */
fd_model *fd_setup_model(const fd_config *cfg, const fd_dataset *ds, int n_clients);
/* Local training settings; total_steps sets the warm-up length (train.warmup x total). */
fd_local_config fd_setup_local_config(const fd_config *cfg, long total_steps);
/* Federated settings for a method other than central, over n_clients training clients. */
fd_fed_settings fd_setup_fed_settings(const fd_config *cfg, int n_clients);
/* The evaluation classifier for this dataset's images, and how `feddiff evaluator` trains it. */
fd_classifier_config fd_setup_classifier_config(const fd_config *cfg, const fd_dataset *ds);
fd_classifier_train_config fd_setup_classifier_train_config(const fd_config *cfg);
/* Evaluations drawing n samples: the config's sampler with eval.sample_steps, KID settings and
 * eval.seed. */
fd_eval_config fd_setup_eval_config(const fd_config *cfg, int n);

#endif
