/* The evaluation classifier: finite-difference gradients of every tensor of a small network
 * (the wiring of convolutions, ReLUs, pools and linear layers), deterministic training that
 * learns the glyphs, embeddings of bytes and floats that agree, the feature scale, and bad
 * configurations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/classifier.h"
#include "feddiff/dataset.h"
#include "feddiff/error.h"
#include "feddiff/glyphs.h"
#include "feddiff/scratch.h"
#include "testutil.h"

typedef struct {
    fd_classifier *c;
    float *x;
    int B;
} net_ctx;

static void net_forward(void *p, float *out)
{
    net_ctx *n = p;
    fd_classifier_forward(n->c, out, n->x, n->B);
}

/* d L / d x_i by central differences with step h, L = sum out * dout in double. */
static double numeric(net_ctx *ctx, float *out, size_t n_out, const float *dout, float *x, float h)
{
    const float saved = *x;
    double l[2];
    for (int k = 0; k < 2; k++) {
        *x = saved + (k ? -h : h);
        net_forward(ctx, out);
        l[k] = 0;
        for (size_t i = 0; i < n_out; i++) l[k] += (double)out[i] * dout[i];
    }
    *x = saved;
    return (l[0] - l[1]) / (2.0 * h);
}

/* Every entry of every tensor against finite differences. ReLU and max-pooling are piecewise
 * linear: a step that crosses a kink (some unit's input reaching 0, or a pooling window
 * changing its maximum) spoils the difference, and conv1's weights reach every position, so
 * some kink is usually within 1e-2. An entry passes when the difference at one of the steps
 * 1e-2, 3e-3, 1e-3 agrees with the backward pass; a wrong backward agrees at none. */
static void test_small_classifier_gradients(void **state)
{
    (void)state;
    const fd_classifier_config cc = {
        .image_size = 4, .channels = 2, .n_classes = 3, .conv1 = 3, .conv2 = 4, .features = 5};
    fd_classifier *c = fd_classifier_create(&cc);
    fd_classifier_init(c, 4);
    fd_params *p = fd_classifier_params(c);
    enum { B = 2 };
    const size_t n_x = B * 4 * 4 * 2, n_out = B * 3;
    net_ctx ctx = {c, fd_malloc(sizeof(float) * n_x), B};
    tu_fill_normal(ctx.x, n_x, 1, 1.0f);
    float out[B * 3], dout[B * 3];
    tu_fill_normal(dout, n_out, 2, 1.0f);
    fd_params_zero_grad(p);
    fd_classifier_forward(c, out, ctx.x, B);
    fd_classifier_backward(c, dout);
    float *grad = fd_malloc(sizeof(float) * p->count);
    memcpy(grad, p->grad, sizeof(float) * p->count);
    double scale = 1e-6;
    for (size_t i = 0; i < p->count; i++) scale = fmax(scale, fabs(grad[i]));
    const float steps[3] = {1e-2f, 3e-3f, 1e-3f};
    size_t at_step[3] = {0};
    double worst = 0;
    const char *worst_name = "";
    for (int id = 0; id < p->n_tensors; id++) {
        const fd_tensor *t = fd_params_tensor(p, id);
        for (size_t i = 0; i < t->count; i++) {
            double best = INFINITY;
            for (int k = 0; k < 3 && best > 2e-3; k++) {
                const double num =
                    numeric(&ctx, out, n_out, dout, p->data + t->offset + i, steps[k]);
                best = fmin(best, fabs(num - grad[t->offset + i]) / scale);
                if (best <= 2e-3) at_step[k]++;
            }
            if (best > worst) worst = best, worst_name = t->name;
        }
    }
    print_message("%zu entries: %zu agree at step 1e-2, %zu at 3e-3, %zu at 1e-3; worst error "
                  "%.2g (%s)\n",
                  p->count, at_step[0], at_step[1], at_step[2], worst, worst_name);
    if (!(worst <= 2e-3)) fail_msg("worst gradient error %.3g in %s", worst, worst_name);
    assert_int_equal(p->n_tensors, 8);
    assert_true(fd_params_find(p, "fc1.weight") >= 0);
    assert_int_equal(fd_params_tensor(p, fd_params_find(p, "fc1.weight"))->shape[1], 1 * 1 * 4);
    free(grad);
    free(ctx.x);
    fd_classifier_free(c);
}

static uint8_t *glyphs(uint32_t split, size_t n, uint8_t *labels)
{
    uint32_t *idx = fd_malloc(sizeof(uint32_t) * n);
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    uint8_t *images = fd_malloc(n * 784);
    fd_glyphs_render_many(3, split, idx, n, images);
    fd_glyphs_labels(3, split, n, labels);
    free(idx);
    return images;
}

static int epochs_seen;
static void count_epoch(void *ctx, fd_classifier *c, int epoch, double loss, double accuracy)
{
    (void)ctx, (void)c;
    assert_int_equal(epoch, ++epochs_seen);
    assert_true(isfinite(loss) && accuracy >= 0 && accuracy <= 1);
}

/* Two trainings with one seed give the same weights; the classifier learns the glyphs. */
static void test_training_is_deterministic_and_learns(void **state)
{
    (void)state;
    enum { N = 1500, N_TEST = 500 };
    uint8_t labels[N], test_labels[N_TEST];
    uint8_t *images = glyphs(FD_SPLIT_TRAIN, N, labels);
    uint8_t *test = glyphs(FD_SPLIT_TEST, N_TEST, test_labels);
    const fd_classifier_config cc = fd_classifier_default_config(28, 1, 10);
    const fd_classifier_train_config tc = {.epochs = 2, .batch = 32, .lr = 2e-3f, .seed = 7};
    fd_classifier *a = fd_classifier_create(&cc), *b = fd_classifier_create(&cc);
    epochs_seen = 0;
    assert_int_equal(fd_classifier_train(a, images, labels, N, &tc, count_epoch, NULL), 0);
    assert_int_equal(epochs_seen, 2);
    assert_int_equal(fd_classifier_train(b, images, labels, N, &tc, NULL, NULL), 0);
    const fd_params *pa = fd_classifier_params(a), *pb = fd_classifier_params(b);
    assert_memory_equal(pa->data, pb->data, sizeof(float) * pa->count);
    const double accuracy = fd_classifier_accuracy(a, test, test_labels, N_TEST);
    print_message("glyph test accuracy after 2 epochs on %d images: %.3f\n", N, accuracy);
    if (!(accuracy > 0.9)) fail_msg("test accuracy %.3f", accuracy);

    /* Another seed, other weights. */
    fd_classifier_train_config other = tc;
    other.seed = 8;
    assert_int_equal(fd_classifier_train(b, images, labels, N, &other, NULL, NULL), 0);
    assert_memory_not_equal(pa->data, pb->data, sizeof(float) * pa->count);

    /* The feature scale makes the features' RMS 1 on the images it was calibrated on, and the
     * byte and float paths agree. */
    const double scale = fd_classifier_calibrate(a, images, N);
    assert_true(scale > 0 && fd_classifier_feature_scale(a) == scale);
    const size_t F = (size_t)cc.features;
    float *fb = fd_malloc(sizeof(float) * N * F), *ff = fd_malloc(sizeof(float) * N * F);
    float *x = fd_malloc(sizeof(float) * N * 784);
    int *pb_labels = fd_malloc(sizeof(int) * N), *pf_labels = fd_malloc(sizeof(int) * N);
    for (size_t i = 0; i < (size_t)N * 784; i++) x[i] = (float)images[i] * (2.0f / 255.0f) - 1.0f;
    fd_classifier_embed_bytes(a, fb, pb_labels, images, N);
    fd_classifier_embed(a, ff, pf_labels, x, N);
    assert_memory_equal(fb, ff, sizeof(float) * N * F);
    assert_memory_equal(pb_labels, pf_labels, sizeof(int) * N);
    double sum_sq = 0;
    for (size_t i = 0; i < N * F; i++) sum_sq += (double)fb[i] * fb[i];
    if (fabs(sqrt(sum_sq / (double)(N * F)) - 1.0) > 1e-4) fail_msg("features' RMS is not 1");
    free(fb);
    free(ff);
    free(x);
    free(pb_labels);
    free(pf_labels);
    fd_classifier_free(a);
    fd_classifier_free(b);
    free(images);
    free(test);
}

static void test_bad_configs(void **state)
{
    (void)state;
    fd_classifier_config cc = fd_classifier_default_config(28, 1, 10);
    assert_null(fd_classifier_config_error(&cc));
    cc.image_size = 30; /* not a multiple of 4 */
    assert_non_null(fd_classifier_config_error(&cc));
    cc = fd_classifier_default_config(28, 1, 1);
    assert_non_null(fd_classifier_config_error(&cc));
    cc = fd_classifier_default_config(28, 1, 10);
    cc.features = 0;
    assert_non_null(fd_classifier_config_error(&cc));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_classifier_gradients),
        cmocka_unit_test(test_training_is_deterministic_and_learns),
        cmocka_unit_test(test_bad_configs),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    fd_scratch_release();
    return failed;
}
