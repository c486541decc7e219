/* Evaluating generated samples: images seen through the classifier (feddiff/classifier.h),
 * compared with reference images by fid_cls, kid_cls, label fidelity and per-class FID
 * (feddiff/metrics.h; docs/evaluation.md).
 *
 * The one call a training loop needs is fd_eval_model: draw samples from the model, embed them,
 * compare them with a reference set embedded once beforehand (the test split, or a client's
 * held-out data). Per client, call it once per client with that client's reference set, label
 * histogram and id. */
#ifndef FEDDIFF_EVALUATE_H
#define FEDDIFF_EVALUATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feddiff/classifier.h"
#include "feddiff/diffusion.h"
#include "feddiff/model.h"

enum { FD_EVAL_MAX_CLASSES = 64 };

/* A set of images seen through the classifier. */
typedef struct {
    size_t n;
    int dim;         /* feature width */
    int n_classes;   /* the classifier's */
    float *features; /* [n][dim] penultimate-layer features */
    int *labels;     /* [n] true labels (data) or the classes samples were drawn for; or NULL */
    int *predicted;  /* [n] the classifier's labels */
} fd_feature_set;

/* Embed n images (bytes 0..255, or floats in [-1, 1]); labels [n] are copied, or NULL. */
void fd_feature_set_from_bytes(fd_feature_set *fs, fd_classifier *c, const uint8_t *images,
                               const uint8_t *labels, size_t n);
void fd_feature_set_from_floats(fd_feature_set *fs, fd_classifier *c, const float *x,
                                const int *labels, size_t n);
void fd_feature_set_free(fd_feature_set *fs);

typedef struct {
    int kid_subsets;
    size_t kid_subset_size;
    uint64_t seed; /* KID subsets */
} fd_metric_config;

typedef struct {
    double fid_cls;
    double kid_cls_mean, kid_cls_std;
    double label_tv; /* TV distance of the target label distribution and the classifier's labels
                        of the samples */
    double cond_acc; /* fraction of samples the classifier labels as the class they were drawn
                        for; NaN for samples without classes */
    size_t n_gen, n_ref;
    int kid_subsets;
    size_t kid_subset_size;
    int n_classes;
    /* Per class k: samples of class k (drawn for it, else labelled k by the classifier) against
     * the reference images of class k. NaN where either side has fewer than 2. */
    double class_fid[FD_EVAL_MAX_CLASSES];
    size_t class_n_gen[FD_EVAL_MAX_CLASSES], class_n_ref[FD_EVAL_MAX_CLASSES];
} fd_eval_scores;

/* dist [n_classes] = the label histogram of fs (its labels, else the predicted ones), summing
 * to 1. */
void fd_feature_set_label_dist(const fd_feature_set *fs, double *dist);

/* Compare samples `gen` with reference images `ref` (which must have labels). target
 * [n_classes] is the label distribution the samples should follow; NULL: that of the classes
 * they were drawn for, else ref's. 0, or -1 with a message when either set has fewer than 2
 * images or the sets' classifiers differ. */
int fd_eval_compare(fd_eval_scores *s, const fd_feature_set *gen, const fd_feature_set *ref,
                    const double *target, const fd_metric_config *mc);

typedef struct {
    int n;     /* samples to draw */
    int batch; /* samples per sampler call */
    fd_sampler_config sampler;
    uint64_t seed; /* the samplers' noise */
    fd_metric_config metric;
} fd_eval_config;

/* labels [n]: the classes of n samples that follow p [k]: counts by largest remainder (ties to
 * the lower class), in class order. */
void fd_eval_allocate_labels(int *labels, int n, const double *p, int k);

/* Draw cfg->n samples x [n][m->sample_size] with the model's current parameters (swap in the
 * EMA first to evaluate it), conditioned on `client` when the model has client embeddings
 * (-1: none; also the noise stream) and, for a class-conditional model, on classes that follow
 * target [n_classes] (required then; the classes go to labels [n] when not NULL, -1 without
 * classes). */
void fd_eval_draw(float *x, int *labels, fd_model *m, fd_diffusion *d, const fd_eval_config *cfg,
                  int client, const double *target, int n_classes);

/* fd_eval_draw, then embed and fd_eval_compare against ref (target NULL: ref's label
 * distribution). */
int fd_eval_model(fd_eval_scores *s, fd_model *m, fd_diffusion *d, fd_classifier *c,
                  const fd_feature_set *ref, const double *target, int client,
                  const fd_eval_config *cfg);

#endif
