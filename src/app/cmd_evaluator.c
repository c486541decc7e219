/* feddiff evaluator: train the evaluation classifier on a dataset's training split and save it
 * with its test accuracy (docs/evaluation.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval_common.h"
#include "feddiff/error.h"
#include "feddiff/fs.h"
#include "feddiff/threads.h"
#include "feddiff/timer.h"
#include "options.h"
#include "run_setup.h"

static const char usage[] =
    "usage: feddiff evaluator [--config FILE] [--set section.key=value]... [--out FILE]\n"
    "  Trains the evaluation classifier (a small CNN; keys: [classifier] in docs/config.md) on\n"
    "  the training split of data.name, prints its progress and test accuracy, and writes it\n"
    "  to FILE (default: <out.dir>/classifier.h5) for feddiff eval and eval.classifier.";

typedef struct {
    const uint8_t *images, *labels;
    size_t n;
    int epochs;
    double t0;
} progress;

/* Features that are not 0 for every image (a ReLU unit that never fires carries nothing). */
static long active_features(fd_classifier *c, const uint8_t *images, size_t n)
{
    const size_t F = (size_t)fd_classifier_config_of(c)->features;
    float *features = fd_malloc(sizeof(float) * n * F);
    fd_classifier_embed_bytes(c, features, NULL, images, n);
    long active = 0;
    for (size_t j = 0; j < F; j++) {
        size_t i = 0;
        while (i < n && features[i * F + j] == 0.0f) i++;
        active += i < n;
    }
    free(features);
    return active;
}

static void on_epoch(void *ctx, fd_classifier *c, int epoch, double loss, double train_accuracy)
{
    const progress *p = ctx;
    const double test = fd_classifier_accuracy(c, p->images, p->labels, p->n);
    printf("epoch %3d/%d  loss %.4f  train accuracy %6.2f%%  test accuracy %6.2f%%  %6.1f s\n",
           epoch, p->epochs, loss, 100.0 * train_accuracy, 100.0 * test, fd_now() - p->t0);
    fflush(stdout);
}

int fd_cmd_evaluator(int argc, char **argv)
{
    fd_config cfg;
    if (fd_app_parse_config(&argc, argv, &cfg) != 0)
        return fd_app_usage_error("%s", fd_last_error());
    const char *out = NULL;
    for (int i = 0; i < argc;) {
        const char *v;
        if ((v = fd_app_option(argc, argv, &i, "--out")))
            out = v;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (fd_app_is_root()) puts(usage);
            return 0;
        } else
            return fd_app_usage_error("unknown argument '%s'\n%s", argv[i], usage);
    }
    /* One process trains; other ranks of an mpirun have nothing to do. */
    if (!fd_app_is_root()) return 0;
    fd_threads_set(cfg.run.threads);
    fd_threads_check_binding();
    char default_out[4096];
    if (!out) {
        if (fd_mkdirs(cfg.out.dir) != 0) fd_die_on_error();
        snprintf(default_out, sizeof default_out, "%s/classifier.h5", cfg.out.dir);
        out = default_out;
    }

    fd_dataset train, test;
    uint8_t *train_images, *test_images;
    if (fd_app_load_split(&cfg, FD_SPLIT_TRAIN, &train, &train_images) != 0 ||
        fd_app_load_split(&cfg, FD_SPLIT_TEST, &test, &test_images) != 0)
        fd_die_on_error();
    fd_classifier_config cc = fd_setup_classifier_config(&cfg, &train);
    const char *err = fd_classifier_config_error(&cc);
    if (err) {
        fd_set_error("%s: %s", cfg.data.name, err);
        fd_die_on_error();
    }
    fd_classifier *c = fd_classifier_create(&cc);
    fd_classifier_train_config tc = fd_setup_classifier_train_config(&cfg);
    printf("feddiff evaluator: %s, %zu training and %zu test images, %zu parameters, "
           "%d thread(s), %d epochs of batch %d\n",
           cfg.data.name, train.count, test.count, fd_classifier_params(c)->count, fd_threads(),
           tc.epochs, tc.batch);
    fflush(stdout);
    progress p = {test_images, test.labels, test.count, tc.epochs, fd_now()};
    if (fd_classifier_train(c, train_images, train.labels, train.count, &tc, on_epoch, &p) != 0)
        fd_die_on_error();
    const double scale = fd_classifier_calibrate(c, train_images, train.count);
    fd_classifier_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.dataset, sizeof info.dataset, "%s", cfg.data.name);
    info.train_seconds = fd_now() - p.t0;
    info.epochs = tc.epochs;
    info.train_accuracy = fd_classifier_accuracy(c, train_images, train.labels, train.count);
    info.test_accuracy = fd_classifier_accuracy(c, test_images, test.labels, test.count);
    info.active_features = active_features(c, test_images, test.count);
    if (fd_classifier_save(out, c, &info, &cfg) != 0) fd_die_on_error();
    printf("trained in %.1f s: train accuracy %.2f%%, test accuracy %.2f%%, %ld of %d features "
           "active, feature scale %.4g; wrote %s\n",
           info.train_seconds, 100.0 * info.train_accuracy, 100.0 * info.test_accuracy,
           info.active_features, cc.features, scale, out);

    fd_classifier_free(c);
    free(train_images);
    free(test_images);
    fd_dataset_close(&train);
    fd_dataset_close(&test);
    return 0;
}
