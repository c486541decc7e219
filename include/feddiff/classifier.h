/* The evaluation classifier: a small CNN trained on the real training split of a dataset. Its
 * penultimate layer is the feature space of fid_cls and kid_cls, its predictions the labels of
 * label fidelity (DESIGN.md section 7; Inception weights cannot be had here).
 *
 *   x [B][S][S][C] in [-1, 1] (NHWC, as the denoisers see data)
 *   -> conv1 3x3 (C -> conv1) ReLU, 2x2 max-pool -> conv2 3x3 (conv1 -> conv2) ReLU, 2x2 max-pool
 *   -> flatten [B][S/4 * S/4 * conv2] (NHWC order) -> fc1 -> ReLU = features [B][features]
 *   -> fc2 -> logits [B][classes]
 *
 * Tensors, in the arena (feddiff/params.h) with PyTorch's layouts: conv1.weight
 * [conv1][C][3][3], conv1.bias, conv2.weight, conv2.bias, fc1.weight [features][S/4*S/4*conv2]
 * (inputs in NHWC order: h, w, c), fc1.bias, fc2.weight [classes][features], fc2.bias. The
 * convolutions are part `enc`, fc1 `mid`, fc2 `dec` (the parts mean nothing here).
 *
 * Training is deterministic: PyTorch's initialisation drawn from the seed, minibatch order from
 * the FD_RNG_CLASSIFIER stream of (seed, epoch), AdamW with a cosine learning-rate decay; the
 * same seed and thread count give the same weights. */
#ifndef FEDDIFF_CLASSIFIER_H
#define FEDDIFF_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "feddiff/params.h"

typedef struct {
    int image_size; /* S: square images, divisible by 4 */
    int channels;   /* C */
    int n_classes;
    int conv1, conv2; /* channels of the two convolutions */
    int features;     /* width of the penultimate layer: the feature dimension */
} fd_classifier_config;

/* conv1 16, conv2 32, features 128. */
fd_classifier_config fd_classifier_default_config(int image_size, int channels, int n_classes);
/* NULL if valid, else a one-line message naming the field. */
const char *fd_classifier_config_error(const fd_classifier_config *cfg);

typedef struct fd_classifier fd_classifier;

fd_classifier *fd_classifier_create(const fd_classifier_config *cfg);
void fd_classifier_free(fd_classifier *c);
const fd_classifier_config *fd_classifier_config_of(const fd_classifier *c);
/* The parameter arena (weights by name, for saving and loading). */
fd_params *fd_classifier_params(fd_classifier *c);
/* PyTorch's default initialisation, drawn from the seed. */
void fd_classifier_init(fd_classifier *c, uint64_t seed);

/* logits [B][classes] of images x [B][S][S][C]; keeps what backward needs. */
void fd_classifier_forward(fd_classifier *c, float *logits, const float *x, int B);
/* [B][features]: the features of the last forward pass (valid until the next call). */
const float *fd_classifier_features(const fd_classifier *c);
/* Accumulate d loss / d parameters into the arena's gradients, given d loss / d logits of the
 * last forward pass. */
void fd_classifier_backward(fd_classifier *c, const float *dlogits);

/* Features [n][features] and predicted labels [n] (either may be NULL) of n images, in
 * batches: x as floats in [-1, 1], or bytes 0..255 mapped to [-1, 1] as in training. The
 * features are the penultimate activations times the feature scale. */
void fd_classifier_embed(fd_classifier *c, float *features, int *predicted, const float *x,
                         size_t n);
void fd_classifier_embed_bytes(fd_classifier *c, float *features, int *predicted,
                               const uint8_t *images, size_t n);
/* The factor applied to embedded features (1 after creation). fd_classifier_calibrate sets it
 * to 1 / RMS of the activations over n images (the training split), so that features are O(1)
 * per dimension whatever the network learned: KID's kernel (x.y / d + 1)^3 was designed for
 * such features (Inception's), and a fixed scale changes FID only by its square. Returns it. */
double fd_classifier_feature_scale(const fd_classifier *c);
void fd_classifier_set_feature_scale(fd_classifier *c, double scale);
double fd_classifier_calibrate(fd_classifier *c, const uint8_t *images, size_t n);
/* Fraction of the n images whose predicted label is their label. */
double fd_classifier_accuracy(fd_classifier *c, const uint8_t *images, const uint8_t *labels,
                              size_t n);

typedef struct {
    int epochs;
    int batch;
    float lr;           /* AdamW's peak learning rate, decayed to 0 by a cosine over training */
    float weight_decay; /* AdamW's, on the weights */
    uint64_t seed;      /* initialisation and minibatch order */
} fd_classifier_train_config;

/* Called after each epoch (1-based) with the mean training loss and accuracy of the epoch. */
typedef void (*fd_classifier_epoch_fn)(void *ctx, fd_classifier *c, int epoch, double loss,
                                       double train_accuracy);

/* Initialise from tc->seed and train on n images (bytes, NHWC) with labels in [0, classes).
 * Returns 0, or -1 with fd_last_error() when a loss turns non-finite. */
int fd_classifier_train(fd_classifier *c, const uint8_t *images, const uint8_t *labels, size_t n,
                        const fd_classifier_train_config *tc, fd_classifier_epoch_fn on_epoch,
                        void *ctx);

#endif
