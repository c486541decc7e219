/* Datasets behind one interface, and a rank's client data: the built-in ones open with the
 * generators' labels and samples; a real dataset (small IDX files written here in the MNIST
 * layout, raw and gzip) opens, reads by index and reports missing or inconsistent files with the
 * file and the fix; the data folder comes from the config, $FEDDIFF_DATA or data/; a rank's
 * clients load exactly their partition's samples. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "feddiff/clientdata.h"
#include "feddiff/dataset.h"
#include "feddiff/error.h"
#include "feddiff/glyphs.h"
#include "feddiff/partition.h"
#include "testutil.h"

static char root[] = "/tmp/feddiff-test-dataset-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void put_be32(uint8_t *b, uint32_t v)
{
    for (int k = 0; k < 4; k++) b[k] = (uint8_t)(v >> (24 - 8 * k));
}

/* Write an IDX file of `count` items with the given item dims and bytes, raw or gzip. */
static void write_idx(const char *path, int ndim, const uint32_t *dims, const uint8_t *data,
                      int gzip)
{
    uint8_t header[4 + 16] = {0, 0, 8, (uint8_t)ndim};
    size_t bytes = 1;
    for (int d = 0; d < ndim; d++) {
        put_be32(header + 4 + 4 * d, dims[d]);
        bytes *= dims[d];
    }
    size_t head = 4 + 4 * (size_t)ndim;
    if (gzip) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, header, (unsigned)head), (int)head);
        assert_int_equal(gzwrite(f, data, (unsigned)bytes), (int)bytes);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(header, 1, head, f), head);
        assert_int_equal(fwrite(data, 1, bytes, f), bytes);
        assert_int_equal(fclose(f), 0);
    }
}

enum { FAKE_N = 500, ROWS = 28, COLS = 28, PIX = ROWS * COLS };

/* A fake MNIST in <root>/<dir>/mnist: the training images gzip, the rest raw. Pixel p of image i
 * is (i + 3p) mod 256; label i is i mod 10. */
static void make_fake_mnist(const char *dir, uint8_t **images, uint8_t **labels)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/mnist", root, dir);
    mkdir(path, 0755);
    *images = fd_malloc((size_t)FAKE_N * PIX);
    *labels = fd_malloc(FAKE_N);
    for (size_t i = 0; i < FAKE_N; i++) {
        (*labels)[i] = (uint8_t)(i % 10);
        for (size_t p = 0; p < PIX; p++) (*images)[i * PIX + p] = (uint8_t)(i + 3 * p);
    }
    const uint32_t image_dims[3] = {FAKE_N, ROWS, COLS}, label_dims[1] = {FAKE_N};
    const uint32_t test_image_dims[3] = {100, ROWS, COLS}, test_label_dims[1] = {100};
    snprintf(path, sizeof path, "%s/%s/mnist/train-images-idx3-ubyte.gz", root, dir);
    write_idx(path, 3, image_dims, *images, 1);
    snprintf(path, sizeof path, "%s/%s/mnist/train-labels-idx1-ubyte", root, dir);
    write_idx(path, 1, label_dims, *labels, 0);
    snprintf(path, sizeof path, "%s/%s/mnist/t10k-images-idx3-ubyte", root, dir);
    write_idx(path, 3, test_image_dims, *images, 0);
    snprintf(path, sizeof path, "%s/%s/mnist/t10k-labels-idx1-ubyte", root, dir);
    write_idx(path, 1, test_label_dims, *labels, 0);
}

static fd_dataset_spec spec_for(const char *name, const char *dir)
{
    fd_dataset_spec spec;
    fd_dataset_spec_defaults(&spec);
    spec.name = name;
    spec.dir = dir;
    return spec;
}

static void test_builtin_datasets(void **state)
{
    (void)state;
    fd_dataset_spec spec = spec_for("builtin:glyphs", NULL);
    spec.train_size = 3000;
    spec.test_size = 700;
    spec.seed = 4;
    fd_dataset ds;
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TEST), 0);
    assert_int_equal(ds.count, 700);
    assert_int_equal(ds.n_classes, 10);
    assert_true(fd_dataset_is_image(&ds));
    assert_int_equal(fd_dataset_sample_size(&ds), 784);
    for (uint64_t i = 0; i < 700; i++) assert_int_equal(ds.labels[i], fd_glyphs_label(4, 1, i));
    const uint32_t pick[] = {699, 3, 3};
    uint8_t images[3 * 784], one[784];
    assert_int_equal(fd_dataset_read_images(&ds, pick, 3, images), 0);
    fd_glyphs_render(4, 1, 699, one);
    assert_memory_equal(images, one, 784);
    const uint32_t beyond = 700;
    assert_int_equal(fd_dataset_read_images(&ds, &beyond, 1, images), -1);
    assert_non_null(strstr(fd_last_error(), "sample 700 requested but the split holds 700"));
    float v[4];
    assert_int_equal(fd_dataset_read_vectors(&ds, pick, 1, v), -1);
    fd_dataset_close(&ds);

    spec = spec_for("builtin:gmm", NULL);
    spec.gmm_components = 3;
    spec.gmm_dim = 4;
    spec.train_size = 1000;
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN), 0);
    assert_false(fd_dataset_is_image(&ds));
    assert_int_equal(ds.n_classes, 3);
    assert_int_equal(fd_dataset_sample_size(&ds), 4);
    float x[2 * 4], want[4];
    assert_int_equal(fd_dataset_read_vectors(&ds, pick + 1, 2, x), 0);
    fd_gmm_sample(&ds.gmm, 0, 3, want);
    assert_memory_equal(x, want, sizeof want);
    assert_memory_equal(x + 4, want, sizeof want);
    assert_int_equal(fd_dataset_read_images(&ds, pick, 1, images), -1);
    fd_dataset_close(&ds);

    spec = spec_for("cifar10", NULL);
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN), -1);
    assert_non_null(strstr(fd_last_error(), "data.name 'cifar10' is not a dataset"));
    spec = spec_for("builtin:gmm", NULL);
    spec.gmm_components = 300;
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN), -1);
    spec = spec_for("builtin:glyphs", NULL);
    spec.train_size = 0;
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN), -1);
    assert_non_null(strstr(fd_last_error(), "data.train_size"));
}

static void test_real_dataset(void **state)
{
    (void)state;
    uint8_t *images, *labels;
    make_fake_mnist("good", &images, &labels);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/good", root);
    fd_dataset_spec spec = spec_for("mnist", dir);
    fd_dataset ds;
    if (fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN) != 0) fail_msg("%s", fd_last_error());
    assert_int_equal(ds.count, FAKE_N);
    assert_int_equal(ds.height, 28);
    assert_int_equal(ds.channels, 1);
    assert_memory_equal(ds.labels, labels, FAKE_N);
    const uint32_t pick[] = {499, 0, 250, 250};
    uint8_t got[4 * PIX];
    assert_int_equal(fd_dataset_read_images(&ds, pick, 4, got), 0);
    for (int j = 0; j < 4; j++) assert_memory_equal(got + j * PIX, images + pick[j] * PIX, PIX);
    fd_dataset_close(&ds);
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TEST), 0);
    assert_int_equal(ds.count, 100);
    fd_dataset_close(&ds);

    /* Not fetched: one line with the command to run. */
    spec = spec_for("fashion-mnist", dir);
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN), -1);
    char want[2048];
    snprintf(want, sizeof want,
             "%s/fashion-mnist/train-labels-idx1-ubyte: not found (dataset fashion-mnist); fetch "
             "it with: scripts/fetch-data fashion-mnist %s",
             dir, dir);
    assert_string_equal(fd_last_error(), want);

    /* Labels that disagree with the images, and a label out of range. */
    char path[600];
    snprintf(path, sizeof path, "%s/mnist/t10k-labels-idx1-ubyte", dir);
    const uint32_t fewer[1] = {99};
    write_idx(path, 1, fewer, labels, 0);
    spec = spec_for("mnist", dir);
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TEST), -1);
    assert_non_null(strstr(fd_last_error(), "99 labels but"));
    labels[42] = 10;
    const uint32_t hundred[1] = {100};
    write_idx(path, 1, hundred, labels, 0);
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TEST), -1);
    assert_non_null(strstr(fd_last_error(), "label 10 of sample 42 is not a class 0..9"));

    /* A truncated image file is caught at open (raw: from its length). */
    labels[42] = 2;
    write_idx(path, 1, hundred, labels, 0);
    snprintf(path, sizeof path, "%s/mnist/t10k-images-idx3-ubyte", dir);
    assert_int_equal(truncate(path, 16 + 100 * PIX - 5), 0);
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TEST), -1);
    assert_non_null(strstr(fd_last_error(), "t10k-images-idx3-ubyte: file has"));
    assert_non_null(strstr(fd_last_error(), "truncated"));
    free(images);
    free(labels);
}

static void test_data_dir(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("FEDDIFF_DATA"), 0);
    assert_string_equal(fd_data_dir(NULL), "data");
    assert_string_equal(fd_data_dir(""), "data");
    assert_int_equal(setenv("FEDDIFF_DATA", "/scratch/datasets", 1), 0);
    assert_string_equal(fd_data_dir(NULL), "/scratch/datasets");
    assert_string_equal(fd_data_dir("mine"), "mine");

    /* The dataset is found through $FEDDIFF_DATA when the config leaves the folder empty. */
    uint8_t *images, *labels;
    make_fake_mnist("env", &images, &labels);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/env", root);
    assert_int_equal(setenv("FEDDIFF_DATA", dir, 1), 0);
    fd_dataset_spec spec = spec_for("mnist", NULL);
    fd_dataset ds;
    assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN), 0);
    fd_dataset_close(&ds);
    assert_int_equal(unsetenv("FEDDIFF_DATA"), 0);
    free(images);
    free(labels);
}

static void check_client_data(const fd_client_data *cd, const fd_dataset *ds, const fd_partition *p,
                              const int *clients, int n)
{
    assert_int_equal(cd->n_clients, n);
    size_t at = 0, size = fd_dataset_sample_size(ds);
    uint8_t *want = fd_malloc(size * sizeof(float));
    for (int j = 0; j < n; j++) {
        const fd_client_slice *s = &cd->clients[j];
        assert_int_equal(s->client, clients[j]);
        assert_int_equal(s->first, at);
        assert_int_equal(s->n_train, fd_partition_train_count(p, clients[j]));
        assert_int_equal(s->n_test, fd_partition_test_count(p, clients[j]));
        for (size_t i = 0; i < s->n_train + s->n_test; i++, at++) {
            uint32_t index = i < s->n_train
                                 ? p->train_index[p->train_offset[clients[j]] + i]
                                 : p->test_index[p->test_offset[clients[j]] + i - s->n_train];
            assert_int_equal(cd->index[at], index);
            assert_int_equal(cd->labels[at], ds->labels[index]);
            if (fd_dataset_is_image(ds)) {
                assert_int_equal(fd_dataset_read_images(ds, &index, 1, want), 0);
                assert_memory_equal(fd_client_image(cd, at), want, size);
            } else {
                assert_int_equal(fd_dataset_read_vectors(ds, &index, 1, (float *)want), 0);
                assert_memory_equal(fd_client_vector(cd, at), want, size * sizeof(float));
            }
        }
    }
    assert_int_equal(cd->count, at);
    free(want);
}

static void test_client_data(void **state)
{
    (void)state;
    uint8_t *images, *labels;
    make_fake_mnist("clients", &images, &labels);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/clients", root);
    const char *names[] = {"mnist", "builtin:glyphs", "builtin:gmm"};
    for (int d = 0; d < 3; d++) {
        fd_dataset_spec spec = spec_for(names[d], dir);
        spec.train_size = 800;
        fd_dataset ds;
        assert_int_equal(fd_dataset_open(&ds, &spec, FD_SPLIT_TRAIN), 0);
        fd_partition_config cfg;
        fd_partition_config_defaults(&cfg);
        cfg.method = FD_PARTITION_DIRICHLET;
        cfg.n_clients = 9;
        cfg.unseen_clients = 2;
        fd_partition p;
        assert_int_equal(fd_partition_build(&p, &cfg, ds.labels, ds.count, ds.n_classes), 0);
        const int mine[] = {7, 2, 5};
        fd_client_data cd;
        assert_int_equal(fd_client_data_load(&cd, &ds, &p, mine, 3), 0);
        check_client_data(&cd, &ds, &p, mine, 3);
        fd_client_data_free(&cd);

        const int twice[] = {1, 1}, bad[] = {9};
        assert_int_equal(fd_client_data_load(&cd, &ds, &p, twice, 2), -1);
        assert_non_null(strstr(fd_last_error(), "client 1: listed twice"));
        assert_int_equal(fd_client_data_load(&cd, &ds, &p, bad, 1), -1);
        assert_non_null(strstr(fd_last_error(), "client 9: no such client"));
        fd_partition_free(&p);
        fd_dataset_close(&ds);
    }
    free(images);
    free(labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_datasets),
        cmocka_unit_test(test_real_dataset),
        cmocka_unit_test(test_data_dir),
        cmocka_unit_test(test_client_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
