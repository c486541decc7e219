/* Partitions: every sample assigned exactly once; sizes, histograms, test parts and minimums as
 * configured; each method's shape (iid stratified, dirichlet following Dir(alpha), shards with
 * exactly k classes, quantity with balanced labels); same seed, same split; 1,000 clients at
 * alpha 0.01 at once; errors that name the setting; the table and the HDF5 file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feddiff/error.h"
#include "feddiff/partition.h"
#include "feddiff/rng.h"
#include "feddiff/timer.h"
#include "testutil.h"

/* n labels in 0..classes-1, unbalanced on purpose (class c about (c + 1) / sum of weights). */
static uint8_t *make_labels(size_t n, int classes, uint64_t seed)
{
    uint8_t *labels = fd_malloc(n);
    fd_rng s = fd_rng_stream(seed, FD_RNG_TEST, 0, 0, 0);
    uint32_t total = (uint32_t)(classes * (classes + 1) / 2);
    for (size_t i = 0; i < n; i++) {
        uint32_t r = fd_rng_below(&s, i, total), c = 0;
        while (r >= c + 1) r -= ++c;
        labels[i] = (uint8_t)c;
    }
    return labels;
}

static fd_partition_config config(enum fd_partition_method method, int clients)
{
    fd_partition_config cfg;
    fd_partition_config_defaults(&cfg);
    cfg.method = method;
    cfg.n_clients = clients;
    cfg.seed = 7;
    return cfg;
}

/* The invariants every partition must hold, checked from scratch. */
static void check_invariants(const fd_partition *p, const fd_partition_config *cfg,
                             const uint8_t *labels, size_t n, int classes)
{
    const size_t K = (size_t)cfg->n_clients, L = (size_t)classes;
    assert_int_equal(p->n_clients, cfg->n_clients);
    assert_int_equal(p->n_samples, n);
    unsigned char *hits = fd_calloc(n, 1);
    uint32_t *hist = fd_malloc(L * sizeof *hist);
    assert_int_equal(p->train_offset[0], 0);
    assert_int_equal(p->test_offset[0], 0);
    for (size_t k = 0; k < K; k++) {
        for (int part = 0; part < 2; part++) {
            const size_t *off = part ? p->test_offset : p->train_offset;
            const uint32_t *idx = part ? p->test_index : p->train_index;
            const uint32_t *want = (part ? p->test_hist : p->train_hist) + k * L;
            assert_true(off[k] <= off[k + 1]);
            memset(hist, 0, L * sizeof *hist);
            for (size_t j = off[k]; j < off[k + 1]; j++) {
                assert_true(idx[j] < n);
                if (j > off[k]) assert_true(idx[j - 1] < idx[j]); /* ascending */
                hits[idx[j]]++;
                hist[labels[idx[j]]]++;
            }
            assert_memory_equal(hist, want, L * sizeof *hist);
        }
        size_t train = fd_partition_train_count(p, (int)k),
               test = fd_partition_test_count(p, (int)k);
        size_t total = train + test;
        assert_int_equal(test, (size_t)floor(cfg->test_fraction * (double)total + 0.5));
        assert_true(train >= cfg->min_samples);
        /* The test part is stratified: per class within one of the proportional share. */
        for (size_t c = 0; c < L; c++) {
            double cell = p->train_hist[k * L + c] + p->test_hist[k * L + c];
            double share = total ? cell * (double)test / (double)total : 0;
            assert_true(fabs(p->test_hist[k * L + c] - share) < 1.0 + 1e-9);
        }
        assert_int_equal(fd_partition_is_unseen(p, (int)k),
                         (int)k >= cfg->n_clients - cfg->unseen_clients);
    }
    assert_int_equal(p->train_offset[K] + p->test_offset[K], n);
    for (size_t i = 0; i < n; i++)
        if (hits[i] != 1) fail_msg("sample %zu assigned %d times", i, hits[i]);
    free(hist);
    free(hits);
}

static void build_ok(fd_partition *p, const fd_partition_config *cfg, const uint8_t *labels,
                     size_t n, int classes)
{
    if (fd_partition_build(p, cfg, labels, n, classes) != 0)
        fail_msg("partition failed: %s", fd_last_error());
    check_invariants(p, cfg, labels, n, classes);
}

static void test_every_sample_once(void **state)
{
    (void)state;
    enum { N = 5003, L = 10 };
    uint8_t *labels = make_labels(N, L, 1);
    const enum fd_partition_method methods[] = {FD_PARTITION_IID, FD_PARTITION_DIRICHLET,
                                                FD_PARTITION_SHARDS, FD_PARTITION_QUANTITY};
    const int clients[] = {1, 7, 50, 333};
    const double fractions[] = {0.0, 0.1, 0.37};
    for (int m = 0; m < 4; m++)
        for (int c = 0; c < 4; c++)
            for (int f = 0; f < 3; f++) {
                fd_partition_config cfg = config(methods[m], clients[c]);
                cfg.test_fraction = fractions[f];
                cfg.unseen_clients = clients[c] / 5;
                cfg.alpha = 0.3;
                /* Shards cannot promise a minimum with these unbalanced classes. */
                cfg.min_samples = methods[m] == FD_PARTITION_SHARDS ? 0 : 5;
                cfg.classes_per_client = clients[c] == 1 ? L : 3;
                fd_partition p;
                build_ok(&p, &cfg, labels, N, L);
                fd_partition_free(&p);
            }
    free(labels);
}

static void test_same_seed_same_split(void **state)
{
    (void)state;
    enum { N = 20000, L = 10 };
    uint8_t *labels = make_labels(N, L, 2);
    for (int m = FD_PARTITION_IID; m <= FD_PARTITION_QUANTITY; m++) {
        fd_partition_config cfg = config((enum fd_partition_method)m, 40);
        fd_partition a, b, other;
        build_ok(&a, &cfg, labels, N, L);
        build_ok(&b, &cfg, labels, N, L);
        assert_memory_equal(a.train_offset, b.train_offset, 41 * sizeof(size_t));
        assert_memory_equal(a.test_offset, b.test_offset, 41 * sizeof(size_t));
        assert_memory_equal(a.train_index, b.train_index, a.train_offset[40] * sizeof(uint32_t));
        assert_memory_equal(a.test_index, b.test_index, a.test_offset[40] * sizeof(uint32_t));
        cfg.seed++;
        build_ok(&other, &cfg, labels, N, L);
        size_t same = a.train_offset[40] == other.train_offset[40]
                          ? (size_t)!memcmp(a.train_index, other.train_index,
                                            a.train_offset[40] * sizeof(uint32_t))
                          : 0;
        assert_int_equal(same, 0); /* another seed, another split */
        fd_partition_free(&a);
        fd_partition_free(&b);
        fd_partition_free(&other);
    }
    free(labels);
}

static void test_iid_is_stratified(void **state)
{
    (void)state;
    enum { N = 30011, L = 10, K = 37 };
    uint8_t *labels = make_labels(N, L, 3);
    fd_partition_config cfg = config(FD_PARTITION_IID, K);
    fd_partition p;
    build_ok(&p, &cfg, labels, N, L);
    uint32_t class_total[L] = {0};
    for (size_t i = 0; i < N; i++) class_total[labels[i]]++;
    for (int k = 0; k < K; k++) {
        size_t size = fd_partition_train_count(&p, k) + fd_partition_test_count(&p, k);
        assert_true(size == N / K || size == N / K + 1);
        for (int c = 0; c < L; c++) {
            double cell = p.train_hist[k * L + c] + p.test_hist[k * L + c];
            double expect = (double)size * class_total[c] / N;
            if (fabs(cell - expect) > 2)
                fail_msg("client %d class %d: %g, expected %g", k, c, cell, expect);
        }
    }
    fd_partition_free(&p);
    free(labels);
}

/* Two clients, one class each of many classes, no minimum: client 0's share of each class is
 * Beta(alpha, alpha), mean 1/2, variance 1 / (4 (2 alpha + 1)). 8 seeds x 200 classes. */
static void test_dirichlet_follows_alpha(void **state)
{
    (void)state;
    enum { L = 200, PER_CLASS = 2000, SEEDS = 8 };
    uint8_t *labels = fd_malloc(L * PER_CLASS);
    for (size_t i = 0; i < L * PER_CLASS; i++) labels[i] = (uint8_t)(i % L);
    const double alphas[] = {0.05, 0.5, 5.0};
    for (int a = 0; a < 3; a++) {
        double sum = 0, sum2 = 0;
        for (int seed = 0; seed < SEEDS; seed++) {
            fd_partition_config cfg = config(FD_PARTITION_DIRICHLET, 2);
            cfg.alpha = alphas[a];
            cfg.min_samples = 0;
            cfg.test_fraction = 0;
            cfg.seed = (uint64_t)seed;
            fd_partition p;
            build_ok(&p, &cfg, labels, L * PER_CLASS, L);
            for (int c = 0; c < L; c++) {
                double share = p.train_hist[c] / (double)PER_CLASS;
                sum += share;
                sum2 += share * share;
            }
            fd_partition_free(&p);
        }
        double n = SEEDS * L, mean = sum / n, var = sum2 / n - mean * mean;
        double want = 1.0 / (4 * (2 * alphas[a] + 1));
        if (fabs(mean - 0.5) > 4 * sqrt(want / n) || fabs(var / want - 1) > 0.2)
            fail_msg("alpha %g: share mean %.4f (want 0.5), variance %.4f (want %.4f)", alphas[a],
                     mean, var, want);
    }
    free(labels);
}

static double mean_classes_held(const fd_partition *p)
{
    size_t held = 0;
    for (int k = 0; k < p->n_clients; k++)
        for (int c = 0; c < p->n_classes; c++)
            held += p->train_hist[k * p->n_classes + c] + p->test_hist[k * p->n_classes + c] > 0;
    return (double)held / p->n_clients;
}

static void test_dirichlet_skew_and_minimum(void **state)
{
    (void)state;
    enum { N = 60000, L = 10, K = 100 };
    uint8_t *labels = make_labels(N, L, 4);
    const double alphas[] = {0.01, 0.1, 1.0, 100.0};
    double previous = 0;
    for (int a = 0; a < 4; a++) {
        fd_partition_config cfg = config(FD_PARTITION_DIRICHLET, K);
        cfg.alpha = alphas[a];
        cfg.min_samples = 50;
        fd_partition p;
        build_ok(&p, &cfg, labels, N, L);
        double held = mean_classes_held(&p);
        assert_true(held > previous); /* less skew as alpha grows */
        previous = held;
        if (a == 0) assert_true(held < 2.5);
        if (a == 3) assert_true(held > 9.9);
        fd_partition_free(&p);
    }
    free(labels);
}

static void test_shards_hold_k_classes(void **state)
{
    (void)state;
    enum { N = 20000, L = 10 };
    uint8_t *labels = make_labels(N, L, 5);
    const int clients[] = {5, 23, 100};
    for (int ci = 0; ci < 3; ci++)
        for (int cpc = 1; cpc <= L; cpc++) {
            if (clients[ci] * cpc < L) continue;
            fd_partition_config cfg = config(FD_PARTITION_SHARDS, clients[ci]);
            cfg.classes_per_client = cpc;
            cfg.min_samples = 0;
            fd_partition p;
            build_ok(&p, &cfg, labels, N, L);
            int holders[L] = {0};
            for (int k = 0; k < clients[ci]; k++) {
                int held = 0;
                for (int c = 0; c < L; c++) {
                    int has = p.train_hist[k * L + c] + p.test_hist[k * L + c] > 0;
                    held += has;
                    holders[c] += has;
                }
                assert_int_equal(held, cpc);
            }
            int lo = holders[0], hi = holders[0];
            for (int c = 1; c < L; c++) {
                lo = holders[c] < lo ? holders[c] : lo;
                hi = holders[c] > hi ? holders[c] : hi;
            }
            assert_true(hi - lo <= 1); /* every class about equally shared */
            fd_partition_free(&p);
        }
    free(labels);
}

static void test_quantity_skews_sizes_not_labels(void **state)
{
    (void)state;
    enum { N = 50000, L = 10, K = 40 };
    uint8_t *labels = make_labels(N, L, 6);
    uint32_t class_total[L] = {0};
    for (size_t i = 0; i < N; i++) class_total[labels[i]]++;
    fd_partition_config cfg = config(FD_PARTITION_QUANTITY, K);
    cfg.alpha = 0.3;
    cfg.min_samples = 20;
    fd_partition p;
    build_ok(&p, &cfg, labels, N, L);
    size_t lo = N, hi = 0;
    for (int k = 0; k < K; k++) {
        size_t size = fd_partition_train_count(&p, k) + fd_partition_test_count(&p, k);
        lo = size < lo ? size : lo;
        hi = size > hi ? size : hi;
        for (int c = 0; c < L; c++) {
            double cell = p.train_hist[k * L + c] + p.test_hist[k * L + c];
            double expect = (double)size * class_total[c] / N;
            if (fabs(cell - expect) > 2)
                fail_msg("client %d class %d: %g, expected %g", k, c, cell, expect);
        }
    }
    assert_true(hi > 20 * lo); /* alpha 0.3 over 40 clients: strongly skewed sizes */
    assert_true(lo >= 23);     /* 20 train + round(0.1 x 23) = 2 test at least */
    fd_partition_free(&p);
    free(labels);
}

/* The acceptance case: 60,000 samples, 1,000 clients, alpha 0.01, at once. */
static void test_thousand_clients_alpha_001(void **state)
{
    (void)state;
    enum { N = 60000, L = 10, K = 1000 };
    uint8_t *labels = make_labels(N, L, 7);
    fd_partition_config cfg = config(FD_PARTITION_DIRICHLET, K);
    cfg.alpha = 0.01;
    cfg.min_samples = 20;
    cfg.unseen_clients = 100;
    fd_partition p;
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = fd_now();
        assert_int_equal(fd_partition_build(&p, &cfg, labels, N, L), 0);
        double t = fd_now() - t0;
        best = t < best ? t : best;
        if (rep < 2) fd_partition_free(&p);
    }
    print_message("      1,000 clients, alpha 0.01, 60,000 samples: %.1f ms (best of 3)\n",
                  best * 1e3);
    assert_true(best < 0.5);
    check_invariants(&p, &cfg, labels, N, L);
    assert_true(mean_classes_held(&p) < 2.0);
    fd_partition_free(&p);

    /* The other methods at the same scale (shards splits each class among equally many
     * clients, so with these unbalanced classes it cannot promise 20 samples each). */
    for (int m = FD_PARTITION_IID; m <= FD_PARTITION_QUANTITY; m++) {
        cfg.method = (enum fd_partition_method)m;
        cfg.min_samples = m == FD_PARTITION_SHARDS ? 0 : 20;
        double t0 = fd_now();
        build_ok(&p, &cfg, labels, N, L);
        assert_true(fd_now() - t0 < 1.0);
        fd_partition_free(&p);
    }

    /* More than the samples allow: fails at once and says what to change. */
    cfg.method = FD_PARTITION_DIRICHLET;
    cfg.min_samples = 100;
    double t0 = fd_now();
    assert_int_equal(fd_partition_build(&p, &cfg, labels, N, L), -1);
    assert_true(fd_now() - t0 < 0.1);
    assert_non_null(strstr(fd_last_error(), "lower partition.min_samples or fed.clients"));
    free(labels);
}

static void expect_error(const fd_partition_config *cfg, const uint8_t *labels, size_t n,
                         int classes, const char *phrase)
{
    fd_partition p;
    assert_int_equal(fd_partition_build(&p, cfg, labels, n, classes), -1);
    if (!strstr(fd_last_error(), phrase))
        fail_msg("error '%s' should say '%s'", fd_last_error(), phrase);
    assert_null(p.train_index);
}

static void test_errors_name_the_setting(void **state)
{
    (void)state;
    enum { N = 1000, L = 10 };
    uint8_t *labels = make_labels(N, L, 8);
    fd_partition_config cfg = config(FD_PARTITION_DIRICHLET, 10);
    cfg.min_samples = 91; /* needs 101 per client with test fraction 0.1 */
    expect_error(&cfg, labels, N, L,
                 "partition.min_samples = 91 train samples per client needs "
                 "101 samples per client");
    cfg.min_samples = 90;
    fd_partition p;
    build_ok(&p, &cfg, labels, N, L); /* exactly enough: 10 x 100 */
    for (int k = 0; k < 10; k++) assert_int_equal(fd_partition_train_count(&p, k), 90);
    fd_partition_free(&p);

    cfg = config(FD_PARTITION_IID, 10);
    cfg.unseen_clients = 10;
    expect_error(&cfg, labels, N, L, "partition.unseen_clients = 10 must be from 0 to");
    cfg = config(FD_PARTITION_DIRICHLET, 10);
    cfg.alpha = 0;
    expect_error(&cfg, labels, N, L, "partition.alpha = 0 must be positive");
    cfg = config(FD_PARTITION_SHARDS, 10);
    cfg.classes_per_client = 11;
    expect_error(&cfg, labels, N, L, "partition.classes_per_client = 11 must be from 1 to");
    cfg = config(FD_PARTITION_SHARDS, 3);
    cfg.classes_per_client = 2;
    expect_error(&cfg, labels, N, L, "raise partition.classes_per_client or fed.clients");
    cfg = config(FD_PARTITION_SHARDS, 100);
    cfg.classes_per_client = 1;
    cfg.min_samples = 9; /* 10 holders per class of about 18..182 samples */
    expect_error(&cfg, labels, N, L, "shards gives client");
    cfg = config(FD_PARTITION_IID, 10);
    cfg.test_fraction = 1;
    expect_error(&cfg, labels, N, L, "partition.test_fraction = 1 must be in [0, 1)");
    cfg = config(FD_PARTITION_IID, 0);
    expect_error(&cfg, labels, N, L, "fed.clients = 0");
    cfg = config(FD_PARTITION_IID, 10);
    expect_error(&cfg, labels, N, 5, "is not a class 0..4");
    free(labels);
}

static void test_table(void **state)
{
    (void)state;
    enum { N = 3000, L = 10 };
    uint8_t *labels = make_labels(N, L, 9);
    fd_partition_config cfg = config(FD_PARTITION_DIRICHLET, 30);
    cfg.unseen_clients = 3;
    cfg.alpha = 0.1;
    fd_partition p;
    build_ok(&p, &cfg, labels, N, L);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    fd_partition_print(&p, out, "test-set", 0);
    fclose(out);
    assert_non_null(strstr(text, "partition of test-set: 3000 samples, 10 classes, 30 clients "
                                 "(27 seen + 3 unseen)"));
    assert_non_null(strstr(text, "method dirichlet, alpha 0.1, test fraction 0.1"));
    char row[256];
    snprintf(row, sizeof row, "\n    29  unseen  %7zu  %6zu  |", fd_partition_train_count(&p, 29),
             fd_partition_test_count(&p, 29));
    assert_non_null(strstr(text, row));
    int lines = 0;
    for (char *c = text; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 4 + 30);
    free(text);

    out = open_memstream(&text, &len);
    fd_partition_print(&p, out, "test-set", 6);
    fclose(out);
    assert_non_null(strstr(text, "... 24 clients not shown ..."));
    assert_non_null(strstr(text, "\n     2  seen "));
    assert_null(strstr(text, "\n     3  seen "));
    assert_non_null(strstr(text, "\n    27  unseen"));
    free(text);
    fd_partition_free(&p);
    free(labels);
}

static void read_u32(hid_t group, const char *name, uint32_t *out)
{
    hid_t set = H5Dopen2(group, name, H5P_DEFAULT);
    assert_true(set >= 0);
    assert_true(H5Dread(set, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Dclose(set);
}

static void test_hdf5_round_trip(void **state)
{
    (void)state;
    enum { N = 4000, L = 10, K = 25 };
    uint8_t *labels = make_labels(N, L, 10);
    fd_partition_config cfg = config(FD_PARTITION_SHARDS, K);
    cfg.unseen_clients = 5;
    fd_partition p;
    build_ok(&p, &cfg, labels, N, L);
    char dir[] = "/tmp/feddiff-test-partition-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/split.h5", dir);
    assert_int_equal(fd_partition_save(&p, path, "unit-test"), 0);

    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t group = H5Gopen2(file, "partition", H5P_DEFAULT);
    assert_true(group >= 0);
    uint64_t offsets[K + 1];
    hid_t set = H5Dopen2(group, "train_offset", H5P_DEFAULT);
    assert_true(H5Dread(set, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, offsets) >= 0);
    H5Dclose(set);
    for (int k = 0; k <= K; k++) assert_int_equal(offsets[k], p.train_offset[k]);
    uint32_t *index = fd_malloc(N * sizeof *index), hist[K * L];
    read_u32(group, "train_index", index);
    assert_memory_equal(index, p.train_index, p.train_offset[K] * sizeof *index);
    read_u32(group, "test_index", index);
    assert_memory_equal(index, p.test_index, p.test_offset[K] * sizeof *index);
    read_u32(group, "test_hist", hist);
    assert_memory_equal(hist, p.test_hist, sizeof hist);
    uint8_t unseen[K];
    set = H5Dopen2(group, "unseen", H5P_DEFAULT);
    assert_true(H5Dread(set, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, unseen) >= 0);
    assert_true(H5Aexists(set, "description") > 0);
    H5Dclose(set);
    for (int k = 0; k < K; k++) assert_int_equal(unseen[k], k >= K - 5);
    uint64_t n_clients = 0;
    hid_t attr = H5Aopen(group, "n_clients", H5P_DEFAULT);
    assert_true(H5Aread(attr, H5T_NATIVE_UINT64, &n_clients) >= 0);
    H5Aclose(attr);
    assert_int_equal(n_clients, K);
    assert_true(H5Aexists(group, "method") > 0);
    H5Gclose(group);
    H5Fclose(file);
    assert_int_equal(access(path, F_OK), 0);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed into place */
    remove(path);
    rmdir(dir);

    assert_int_equal(fd_partition_save(&p, "/nonexistent-dir/split.h5", "x"), -1);
    assert_non_null(strstr(fd_last_error(), "/nonexistent-dir/split.h5.tmp: cannot create"));
    free(index);
    fd_partition_free(&p);
    free(labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_sample_once),
        cmocka_unit_test(test_same_seed_same_split),
        cmocka_unit_test(test_iid_is_stratified),
        cmocka_unit_test(test_dirichlet_follows_alpha),
        cmocka_unit_test(test_dirichlet_skew_and_minimum),
        cmocka_unit_test(test_shards_hold_k_classes),
        cmocka_unit_test(test_quantity_skews_sizes_not_labels),
        cmocka_unit_test(test_thousand_clients_alpha_001),
        cmocka_unit_test(test_errors_name_the_setting),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_hdf5_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
