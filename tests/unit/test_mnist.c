/* The real datasets as scripts/fetch-data leaves them: MNIST and Fashion-MNIST load (60,000 +
 * 10,000 images of 28x28, ten classes), their samples read back by index, and MNIST split over
 * 100 clients with Dirichlet alpha 0.1, whose table is printed. A dataset that has not been
 * fetched fails the test (scripts/test fetches both before running the suite). The folder is $FEDDIFF_DATA, else $FEDDIFF_SOURCE_DATA (set by ctest to the
 * source tree's data/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feddiff/clientdata.h"
#include "feddiff/dataset.h"
#include "feddiff/error.h"
#include "feddiff/idx.h"
#include "feddiff/partition.h"
#include "feddiff/timer.h"
#include "testutil.h"

static const char *data_dir(void)
{
    const char *env = getenv("FEDDIFF_DATA");
    if (env && *env) return env;
    env = getenv("FEDDIFF_SOURCE_DATA");
    return env && *env ? env : "data";
}

static int open_required(fd_dataset *ds, const char *name, enum fd_split split)
{
    fd_dataset_spec spec;
    fd_dataset_spec_defaults(&spec);
    spec.name = name;
    spec.dir = data_dir();
    if (fd_dataset_open(ds, &spec, split) == 0) return 0;
    fail_msg("%s: %s", name, fd_last_error());
    return -1;
}

static void check_dataset(const char *name)
{
    fd_dataset train, test;
    assert_int_equal(open_required(&train, name, FD_SPLIT_TRAIN), 0);
    assert_int_equal(open_required(&test, name, FD_SPLIT_TEST), 0);
    assert_int_equal(train.count, 60000);
    assert_int_equal(test.count, 10000);
    for (int s = 0; s < 2; s++) {
        const fd_dataset *ds = s ? &test : &train;
        assert_int_equal(ds->height, 28);
        assert_int_equal(ds->width, 28);
        assert_int_equal(ds->channels, 1);
        assert_int_equal(ds->n_classes, 10);
        size_t hist[10] = {0};
        for (size_t i = 0; i < ds->count; i++) hist[ds->labels[i]]++;
        for (int c = 0; c < 10; c++) assert_true(hist[c] > ds->count / 20);
    }

    /* Selected images equal the same bytes of the whole file. */
    fd_idx_info info;
    uint8_t *all;
    double t0 = fd_now();
    assert_int_equal(fd_idx_load(train.images_path, &info, &all), 0);
    double t_load = fd_now() - t0;
    const uint32_t pick[] = {59999, 0, 31337, 7, 7};
    uint8_t images[5 * 784];
    t0 = fd_now();
    assert_int_equal(fd_dataset_read_images(&train, pick, 5, images), 0);
    double t_pick = fd_now() - t0;
    for (int j = 0; j < 5; j++)
        assert_memory_equal(images + 784 * j, all + 784 * (size_t)pick[j], 784);
    print_message("      %s: whole training images %.0f ms, 5 selected %.0f ms\n", name,
                  t_load * 1e3, t_pick * 1e3);
    free(all);
    fd_dataset_close(&train);
    fd_dataset_close(&test);
}

static void test_mnist_loads(void **state)
{
    (void)state;
    check_dataset("mnist");
}

static void test_fashion_mnist_loads(void **state)
{
    (void)state;
    check_dataset("fashion-mnist");
}

/* The example: MNIST, 100 clients, Dirichlet alpha 0.1 (10 of them unseen), printed in
 * full; then a rank's share of the clients loaded as bytes. */
static void test_mnist_partition_table(void **state)
{
    (void)state;
    fd_dataset train;
    assert_int_equal(open_required(&train, "mnist", FD_SPLIT_TRAIN), 0);
    fd_partition_config cfg;
    fd_partition_config_defaults(&cfg);
    cfg.method = FD_PARTITION_DIRICHLET;
    cfg.n_clients = 100;
    cfg.alpha = 0.1;
    cfg.unseen_clients = 10;
    fd_partition p;
    double t0 = fd_now();
    assert_int_equal(fd_partition_build(&p, &cfg, train.labels, train.count, train.n_classes), 0);
    double t_build = fd_now() - t0;
    fd_partition_print(&p, stdout, "mnist (train)", 0);
    print_message("      built in %.1f ms\n", t_build * 1e3);

    /* Rank 1 of 4 takes clients 25..49: only their samples are read. */
    int clients[25];
    for (int j = 0; j < 25; j++) clients[j] = 25 + j;
    fd_client_data cd;
    t0 = fd_now();
    assert_int_equal(fd_client_data_load(&cd, &train, &p, clients, 25), 0);
    double t_load = fd_now() - t0;
    size_t want = p.train_offset[50] - p.train_offset[25] + p.test_offset[50] - p.test_offset[25];
    assert_int_equal(cd.count, want);
    print_message("      clients 25..49: %zu samples, %.1f MB of images, loaded in %.0f ms\n",
                  cd.count, (double)cd.count * 784 / 1e6, t_load * 1e3);
    for (size_t i = 0; i < cd.count; i++) assert_int_equal(cd.labels[i], train.labels[cd.index[i]]);
    fd_client_data_free(&cd);
    fd_partition_free(&p);
    fd_dataset_close(&train);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mnist_loads),
        cmocka_unit_test(test_fashion_mnist_loads),
        cmocka_unit_test(test_mnist_partition_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
