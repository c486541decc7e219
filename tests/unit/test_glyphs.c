/* builtin:glyphs: samples are pure functions of (seed, split, index) whatever the order or
 * threads; labels are uniform; images are centred digits on a clean background; and the classes
 * are clearly distinguishable (a nearest-class-mean classifier on raw pixels, trained on one
 * split and tested on the other, is right far more often than chance). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/glyphs.h"
#include "testutil.h"

enum { PIX = FD_GLYPHS_SIZE * FD_GLYPHS_SIZE };

static void test_pure_function_of_index(void **state)
{
    (void)state;
    enum { N = 300 };
    uint32_t idx[N];
    for (int j = 0; j < N; j++) idx[j] = (uint32_t)(N - 1 - j) * 7919u % 100003u; /* scattered */
    uint8_t *many = fd_malloc(N * PIX), one[PIX], again[PIX];
    fd_glyphs_render_many(11, 0, idx, N, many); /* OpenMP over samples */
    for (int j = 0; j < N; j++) {
        fd_glyphs_render(11, 0, idx[j], one);
        assert_memory_equal(one, many + (size_t)j * PIX, PIX);
    }
    fd_glyphs_render(11, 0, 5, one);
    fd_glyphs_render(11, 0, 5, again);
    assert_memory_equal(one, again, PIX);
    fd_glyphs_render(12, 0, 5, again); /* another seed */
    assert_true(memcmp(one, again, PIX) != 0);
    fd_glyphs_render(11, 1, 5, again); /* the test split */
    assert_true(memcmp(one, again, PIX) != 0);

    uint8_t labels[1000];
    fd_glyphs_labels(11, 1, 1000, labels);
    for (uint64_t i = 0; i < 1000; i++) assert_int_equal(labels[i], fd_glyphs_label(11, 1, i));
    free(many);
}

static void test_labels_uniform(void **state)
{
    (void)state;
    enum { N = 50000 };
    uint8_t *labels = fd_malloc(N);
    fd_glyphs_labels(3, 0, N, labels);
    int count[FD_GLYPHS_CLASSES] = {0};
    for (int i = 0; i < N; i++) count[labels[i]]++;
    double expect = (double)N / FD_GLYPHS_CLASSES, sd = sqrt(expect * 0.9);
    for (int c = 0; c < FD_GLYPHS_CLASSES; c++)
        if (fabs(count[c] - expect) > 5 * sd)
            fail_msg("class %d: %d samples of %d", c, count[c], N);
    free(labels);
}

/* Every image: a border of zeros, strong ink, centre of mass near the middle. */
static void test_images_look_like_mnist(void **state)
{
    (void)state;
    uint8_t img[PIX];
    for (uint64_t i = 0; i < 2000; i++) {
        fd_glyphs_render(5, 0, i, img);
        int peak = 0;
        double mass = 0, cx = 0, cy = 0;
        for (int r = 0; r < FD_GLYPHS_SIZE; r++) {
            for (int c = 0; c < FD_GLYPHS_SIZE; c++) {
                int v = img[r * FD_GLYPHS_SIZE + c];
                if (r == 0 || c == 0 || r == FD_GLYPHS_SIZE - 1 || c == FD_GLYPHS_SIZE - 1)
                    assert_int_equal(v, 0);
                peak = v > peak ? v : peak;
                mass += v;
                cx += v * (c + 0.5);
                cy += v * (r + 0.5);
            }
        }
        assert_true(peak >= 150);
        cx /= mass;
        cy /= mass;
        if (fabs(cx - 14) > 4 || fabs(cy - 14) > 4)
            fail_msg("sample %d: centre of mass (%.1f, %.1f)", (int)i, cx, cy);
    }
}

static void test_classes_distinguishable(void **state)
{
    (void)state;
    enum { TRAIN = 4000, TEST = 2000 };
    uint32_t *idx = fd_malloc(TRAIN * sizeof *idx);
    for (uint32_t i = 0; i < TRAIN; i++) idx[i] = i;
    uint8_t *train = fd_malloc((size_t)TRAIN * PIX), *test = fd_malloc((size_t)TEST * PIX);
    uint8_t *train_labels = fd_malloc(TRAIN), *test_labels = fd_malloc(TEST);
    fd_glyphs_render_many(9, 0, idx, TRAIN, train);
    fd_glyphs_render_many(9, 1, idx, TEST, test);
    fd_glyphs_labels(9, 0, TRAIN, train_labels);
    fd_glyphs_labels(9, 1, TEST, test_labels);
    double *mean = fd_calloc(FD_GLYPHS_CLASSES * PIX, sizeof *mean);
    int count[FD_GLYPHS_CLASSES] = {0};
    for (int i = 0; i < TRAIN; i++) {
        count[train_labels[i]]++;
        for (int p = 0; p < PIX; p++) mean[train_labels[i] * PIX + p] += train[(size_t)i * PIX + p];
    }
    for (int c = 0; c < FD_GLYPHS_CLASSES; c++)
        for (int p = 0; p < PIX; p++) mean[c * PIX + p] /= count[c];
    int right = 0, per_class_right[FD_GLYPHS_CLASSES] = {0}, per_class[FD_GLYPHS_CLASSES] = {0};
    for (int i = 0; i < TEST; i++) {
        int best = 0;
        double best_d = INFINITY;
        for (int c = 0; c < FD_GLYPHS_CLASSES; c++) {
            double d = 0;
            for (int p = 0; p < PIX; p++) {
                double e = test[(size_t)i * PIX + p] - mean[c * PIX + p];
                d += e * e;
            }
            if (d < best_d) {
                best_d = d;
                best = c;
            }
        }
        right += best == test_labels[i];
        per_class[test_labels[i]]++;
        per_class_right[test_labels[i]] += best == test_labels[i];
    }
    double accuracy = (double)right / TEST;
    print_message("      nearest class mean on raw pixels: %.1f%% right (chance 10%%)\n",
                  100 * accuracy);
    assert_true(accuracy > 0.8);
    for (int c = 0; c < FD_GLYPHS_CLASSES; c++)
        if (per_class_right[c] < 0.6 * per_class[c])
            fail_msg("class %d: only %d of %d right", c, per_class_right[c], per_class[c]);
    free(mean);
    free(test_labels);
    free(train_labels);
    free(test);
    free(train);
    free(idx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pure_function_of_index),
        cmocka_unit_test(test_labels_uniform),
        cmocka_unit_test(test_images_look_like_mnist),
        cmocka_unit_test(test_classes_distinguishable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
