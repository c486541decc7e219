#include "feddiff/classifier.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/kernels.h"
#include "feddiff/layers.h"
#include "feddiff/optimizer.h"
#include "feddiff/rng.h"

/* Inference runs in batches of this many images. */
enum { EMBED_BATCH = 128 };

struct fd_classifier {
    fd_classifier_config cfg;
    fd_params params;
    fd_layer conv1, conv2, fc1, fc2;
    double feature_scale; /* applied to embedded features */
    int max_batch, batch;
    float *buffer;
    /* Activations of the last forward pass (S = image_size, H = S/2, Q = S/4). */
    float *x;       /* [B][S][S][C] input */
    float *a1, *r1; /* [B][S][S][conv1] conv1 output, after ReLU */
    float *p1;      /* [B][H][H][conv1] pooled */
    float *a2, *r2; /* [B][H][H][conv2] conv2 output, after ReLU */
    float *p2;      /* [B][Q][Q][conv2] pooled: fc1's input */
    float *z3, *h3; /* [B][features] fc1 output, after ReLU: the features */
    /* Gradients of the backward pass, same shapes. */
    float *dr1, *da1, *dp1, *dr2, *da2, *dp2, *dz3, *dh3;
    float *logits;          /* [EMBED_BATCH][classes] for embedding */
    float *probs, *dlogits; /* [B][classes] for training */
};

fd_classifier_config fd_classifier_default_config(int image_size, int channels, int n_classes)
{
    fd_classifier_config c = {.image_size = image_size,
                              .channels = channels,
                              .n_classes = n_classes,
                              .conv1 = 16,
                              .conv2 = 32,
                              .features = 128};
    return c;
}

const char *fd_classifier_config_error(const fd_classifier_config *c)
{
    if (c->image_size < 4 || c->image_size % 4)
        return "the classifier needs square images whose size is a multiple of 4";
    if (c->channels < 1) return "the classifier needs at least one image channel";
    if (c->n_classes < 2) return "the classifier needs at least two classes";
    if (c->conv1 < 1 || c->conv2 < 1 || c->features < 1)
        return "classifier widths (conv1, conv2, features) must be positive";
    return NULL;
}

static size_t flat_dim(const fd_classifier_config *c)
{
    const size_t q = (size_t)(c->image_size / 4);
    return q * q * (size_t)c->conv2;
}

fd_classifier *fd_classifier_create(const fd_classifier_config *cfg)
{
    const char *err = fd_classifier_config_error(cfg);
    if (err) FD_FATAL("invalid classifier configuration: %s", err);
    fd_classifier *c = fd_calloc(1, sizeof *c);
    c->cfg = *cfg;
    c->feature_scale = 1.0;
    fd_params_init(&c->params);
    c->conv1 = fd_layer_conv(&c->params, FD_PART_ENC, "conv1", cfg->channels, cfg->conv1, 3);
    c->conv2 = fd_layer_conv(&c->params, FD_PART_ENC, "conv2", cfg->conv1, cfg->conv2, 3);
    c->fc1 = fd_layer_linear(&c->params, FD_PART_MID, "fc1", (int)flat_dim(cfg), cfg->features);
    c->fc2 = fd_layer_linear(&c->params, FD_PART_DEC, "fc2", cfg->features, cfg->n_classes);
    fd_params_finalize(&c->params);
    c->logits = fd_malloc(sizeof(float) * EMBED_BATCH * (size_t)cfg->n_classes);
    return c;
}

void fd_classifier_free(fd_classifier *c)
{
    if (!c) return;
    fd_params_free(&c->params);
    free(c->buffer);
    free(c->logits);
    free(c);
}

const fd_classifier_config *fd_classifier_config_of(const fd_classifier *c) { return &c->cfg; }

fd_params *fd_classifier_params(fd_classifier *c) { return &c->params; }

void fd_classifier_init(fd_classifier *c, uint64_t seed)
{
    fd_layer_init_uniform(&c->params, c->conv1, seed);
    fd_layer_init_uniform(&c->params, c->conv2, seed);
    fd_layer_init_uniform(&c->params, c->fc1, seed);
    fd_layer_init_uniform(&c->params, c->fc2, seed);
}

/* One allocation for every activation and gradient of a batch of B. */
static void reserve(fd_classifier *c, int B)
{
    if (B <= c->max_batch) return;
    const fd_classifier_config *k = &c->cfg;
    const size_t b = (size_t)B, S = (size_t)k->image_size, H = S / 2;
    const size_t n_x = b * S * S * (size_t)k->channels, n_1 = b * S * S * (size_t)k->conv1;
    const size_t n_p1 = b * H * H * (size_t)k->conv1, n_2 = b * H * H * (size_t)k->conv2;
    const size_t n_p2 = b * flat_dim(k), n_3 = b * (size_t)k->features;
    const size_t n_c = b * (size_t)k->n_classes;
    free(c->buffer);
    c->buffer = fd_malloc(sizeof(float) *
                          (n_x + 4 * n_1 + 2 * n_p1 + 4 * n_2 + 2 * n_p2 + 4 * n_3 + 2 * n_c));
    float *next = c->buffer;
#define TAKE(field, count) (c->field = next, next += (count))
    TAKE(x, n_x);
    TAKE(a1, n_1), TAKE(r1, n_1), TAKE(dr1, n_1), TAKE(da1, n_1);
    TAKE(p1, n_p1), TAKE(dp1, n_p1);
    TAKE(a2, n_2), TAKE(r2, n_2), TAKE(dr2, n_2), TAKE(da2, n_2);
    TAKE(p2, n_p2), TAKE(dp2, n_p2);
    TAKE(z3, n_3), TAKE(h3, n_3), TAKE(dz3, n_3), TAKE(dh3, n_3);
    TAKE(probs, n_c), TAKE(dlogits, n_c);
#undef TAKE
    c->max_batch = B;
}

#define WEIGHT(l)  fd_params_data(&c->params, (l).w)
#define BIAS(l)    fd_params_data(&c->params, (l).b)
#define DWEIGHT(l) fd_params_grad(&c->params, (l).w)
#define DBIAS(l)   fd_params_grad(&c->params, (l).b)

void fd_classifier_forward(fd_classifier *c, float *logits, const float *x, int B)
{
    const fd_classifier_config *k = &c->cfg;
    reserve(c, B);
    c->batch = B;
    const int S = k->image_size, H = S / 2;
    const size_t b = (size_t)B;
    memcpy(c->x, x, sizeof(float) * b * (size_t)(S * S * k->channels));
    fd_conv2d_forward(c->a1, c->x, WEIGHT(c->conv1), BIAS(c->conv1), B, S, S, k->channels, k->conv1,
                      3, 1);
    fd_relu_forward(c->r1, c->a1, b * (size_t)(S * S * k->conv1));
    fd_maxpool2x2_forward(c->p1, c->r1, B, S, S, k->conv1);
    fd_conv2d_forward(c->a2, c->p1, WEIGHT(c->conv2), BIAS(c->conv2), B, H, H, k->conv1, k->conv2,
                      3, 1);
    fd_relu_forward(c->r2, c->a2, b * (size_t)(H * H * k->conv2));
    fd_maxpool2x2_forward(c->p2, c->r2, B, H, H, k->conv2);
    fd_linear_forward(c->z3, c->p2, WEIGHT(c->fc1), BIAS(c->fc1), B, (int)flat_dim(k), k->features);
    fd_relu_forward(c->h3, c->z3, b * (size_t)k->features);
    fd_linear_forward(logits, c->h3, WEIGHT(c->fc2), BIAS(c->fc2), B, k->features, k->n_classes);
}

const float *fd_classifier_features(const fd_classifier *c) { return c->h3; }

/* A zeroed gradient buffer of n floats (backward kernels accumulate). */
static float *zeroed(float *p, size_t n) { return memset(p, 0, sizeof(float) * n); }

void fd_classifier_backward(fd_classifier *c, const float *dlogits)
{
    const fd_classifier_config *k = &c->cfg;
    const int B = c->batch, S = k->image_size, H = S / 2;
    FD_ASSERT(B >= 1);
    const size_t b = (size_t)B, n_1 = b * (size_t)(S * S * k->conv1);
    const size_t n_p1 = b * (size_t)(H * H * k->conv1), n_2 = b * (size_t)(H * H * k->conv2);
    const size_t n_p2 = b * flat_dim(k), n_3 = b * (size_t)k->features;
    fd_linear_backward(zeroed(c->dh3, n_3), DWEIGHT(c->fc2), DBIAS(c->fc2), dlogits, c->h3,
                       WEIGHT(c->fc2), B, k->features, k->n_classes);
    fd_relu_backward(zeroed(c->dz3, n_3), c->dh3, c->z3, n_3);
    fd_linear_backward(zeroed(c->dp2, n_p2), DWEIGHT(c->fc1), DBIAS(c->fc1), c->dz3, c->p2,
                       WEIGHT(c->fc1), B, (int)flat_dim(k), k->features);
    fd_maxpool2x2_backward(zeroed(c->dr2, n_2), c->dp2, c->r2, B, H, H, k->conv2);
    fd_relu_backward(zeroed(c->da2, n_2), c->dr2, c->a2, n_2);
    fd_conv2d_backward(zeroed(c->dp1, n_p1), DWEIGHT(c->conv2), DBIAS(c->conv2), c->da2, c->p1,
                       WEIGHT(c->conv2), B, H, H, k->conv1, k->conv2, 3, 1);
    fd_maxpool2x2_backward(zeroed(c->dr1, n_1), c->dp1, c->r1, B, S, S, k->conv1);
    fd_relu_backward(zeroed(c->da1, n_1), c->dr1, c->a1, n_1);
    /* The input image needs no gradient. */
    fd_conv2d_backward(NULL, DWEIGHT(c->conv1), DBIAS(c->conv1), c->da1, c->x, WEIGHT(c->conv1), B,
                       S, S, k->channels, k->conv1, 3, 1);
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* Features and predictions of a batch already converted into c->x's layout. */
static void embed_batch(fd_classifier *c, float *features, int *predicted, const float *x, int B)
{
    const int K = c->cfg.n_classes, F = c->cfg.features;
    fd_classifier_forward(c, c->logits, x, B);
    const float scale = (float)c->feature_scale;
    for (size_t i = 0; features && i < (size_t)B * (size_t)F; i++) features[i] = scale * c->h3[i];
    if (predicted)
        for (int i = 0; i < B; i++) predicted[i] = argmax(c->logits + (size_t)i * (size_t)K, K);
}

static size_t image_floats(const fd_classifier *c)
{
    const size_t S = (size_t)c->cfg.image_size;
    return S * S * (size_t)c->cfg.channels;
}

void fd_classifier_embed(fd_classifier *c, float *features, int *predicted, const float *x,
                         size_t n)
{
    const size_t size = image_floats(c), F = (size_t)c->cfg.features;
    for (size_t first = 0; first < n; first += EMBED_BATCH) {
        const int B = (int)(n - first < EMBED_BATCH ? n - first : EMBED_BATCH);
        embed_batch(c, features ? features + first * F : NULL, predicted ? predicted + first : NULL,
                    x + first * size, B);
    }
}

/* Bytes 0..255 to [-1, 1], as fd_data_gather maps training images for the denoisers. */
static void bytes_to_floats(float *x, const uint8_t *images, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)images[i] * (2.0f / 255.0f) - 1.0f;
}

void fd_classifier_embed_bytes(fd_classifier *c, float *features, int *predicted,
                               const uint8_t *images, size_t n)
{
    const size_t size = image_floats(c), F = (size_t)c->cfg.features;
    float *x = fd_malloc(sizeof(float) * size * EMBED_BATCH);
    for (size_t first = 0; first < n; first += EMBED_BATCH) {
        const int B = (int)(n - first < EMBED_BATCH ? n - first : EMBED_BATCH);
        bytes_to_floats(x, images + first * size, (size_t)B * size);
        embed_batch(c, features ? features + first * F : NULL, predicted ? predicted + first : NULL,
                    x, B);
    }
    free(x);
}

double fd_classifier_feature_scale(const fd_classifier *c) { return c->feature_scale; }

void fd_classifier_set_feature_scale(fd_classifier *c, double scale) { c->feature_scale = scale; }

double fd_classifier_calibrate(fd_classifier *c, const uint8_t *images, size_t n)
{
    FD_ASSERT(n >= 1);
    const size_t F = (size_t)c->cfg.features;
    float *features = fd_malloc(sizeof(float) * n * F);
    c->feature_scale = 1.0;
    fd_classifier_embed_bytes(c, features, NULL, images, n);
    double sum_sq = 0.0;
    for (size_t i = 0; i < n * F; i++) sum_sq += (double)features[i] * (double)features[i];
    free(features);
    const double rms = sqrt(sum_sq / (double)(n * F));
    c->feature_scale = rms > 0.0 ? 1.0 / rms : 1.0;
    return c->feature_scale;
}

double fd_classifier_accuracy(fd_classifier *c, const uint8_t *images, const uint8_t *labels,
                              size_t n)
{
    if (n == 0) return 0.0;
    int *predicted = fd_malloc(sizeof(int) * n);
    fd_classifier_embed_bytes(c, NULL, predicted, images, n);
    size_t right = 0;
    for (size_t i = 0; i < n; i++) right += predicted[i] == labels[i];
    free(predicted);
    return (double)right / (double)n;
}

/* The permutation of [0, n) for an epoch: Fisher-Yates on the FD_RNG_CLASSIFIER stream. */
static void epoch_permutation(uint32_t *perm, size_t n, uint64_t seed, uint32_t epoch)
{
    fd_rng s = fd_rng_stream(seed, FD_RNG_CLASSIFIER, 0, 0, epoch);
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = fd_rng_below(&s, (uint64_t)i, (uint32_t)(i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

int fd_classifier_train(fd_classifier *c, const uint8_t *images, const uint8_t *labels, size_t n,
                        const fd_classifier_train_config *tc, fd_classifier_epoch_fn on_epoch,
                        void *ctx)
{
    FD_ASSERT(n >= 1 && tc->batch >= 1 && tc->epochs >= 1);
    fd_classifier_init(c, tc->seed);
    const int K = c->cfg.n_classes;
    const size_t size = image_floats(c);
    const size_t batches = (n + (size_t)tc->batch - 1) / (size_t)tc->batch;
    const long total_steps = (long)batches * tc->epochs;
    float *x = fd_malloc(sizeof(float) * size * (size_t)tc->batch);
    float *logits = fd_malloc(sizeof(float) * (size_t)tc->batch * (size_t)K);
    int *y = fd_malloc(sizeof(int) * (size_t)tc->batch);
    uint32_t *perm = fd_malloc(sizeof(uint32_t) * n);
    fd_adamw_config adamw = fd_adamw_defaults();
    adamw.weight_decay = tc->weight_decay;
    long step = 0;
    int rc = 0;
    for (int epoch = 0; epoch < tc->epochs && rc == 0; epoch++) {
        epoch_permutation(perm, n, tc->seed, (uint32_t)epoch);
        double loss_sum = 0.0;
        size_t right = 0;
        for (size_t first = 0; first < n; first += (size_t)tc->batch) {
            const int B = (int)(n - first < (size_t)tc->batch ? n - first : (size_t)tc->batch);
            for (int i = 0; i < B; i++) {
                const uint32_t j = perm[first + (size_t)i];
                bytes_to_floats(x + (size_t)i * size, images + (size_t)j * size, size);
                y[i] = labels[j];
                FD_ASSERT(y[i] < K);
            }
            fd_params_zero_grad(&c->params);
            fd_classifier_forward(c, logits, x, B);
            const float loss = fd_softmax_xent_forward(c->probs, logits, y, B, K);
            if (!isfinite(loss)) {
                fd_set_error("classifier training: the loss is not finite at epoch %d, step %ld; "
                             "lower classifier.lr",
                             epoch + 1, step + 1);
                rc = -1;
                break;
            }
            memset(c->dlogits, 0, sizeof(float) * (size_t)B * (size_t)K);
            fd_softmax_xent_backward(c->dlogits, c->probs, y, B, K, 1.0f);
            fd_classifier_backward(c, c->dlogits);
            step++;
            const double progress = (double)(step - 1) / (double)total_steps;
            adamw.lr = (float)(tc->lr * 0.5 * (1.0 + cos(3.14159265358979324 * progress)));
            fd_params_adamw_step(&c->params, FD_PARTS_BACKBONE, &adamw, step);
            loss_sum += (double)loss * B;
            for (int i = 0; i < B; i++) right += argmax(logits + (size_t)i * (size_t)K, K) == y[i];
        }
        if (rc == 0 && on_epoch)
            on_epoch(ctx, c, epoch + 1, loss_sum / (double)n, (double)right / (double)n);
    }
    free(x);
    free(logits);
    free(y);
    free(perm);
    return rc;
}
