/* builtin:gmm: the means (norm, antipodal for K = 2), per-component sample moments, samples as
 * pure functions of the index, the log-density against a direct formula, and the maximum-
 * likelihood weights recovering a client's mixing weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/gmm.h"
#include "testutil.h"

static const double PI = 3.14159265358979323846;

static void test_init_and_means(void **state)
{
    (void)state;
    fd_gmm g;
    assert_int_equal(fd_gmm_init(&g, 0, 2, 1, 1, 0), -1);
    assert_non_null(strstr(fd_last_error(), "0 components"));
    assert_int_equal(fd_gmm_init(&g, 2, 2, 1, 0, 0), -1);
    assert_int_equal(fd_gmm_init(&g, 2, 0, 1, 1, 0), -1);

    assert_int_equal(fd_gmm_init(&g, 2, 5, 3.0f, 0.5f, 1), 0);
    for (int i = 0; i < 5; i++) assert_true(g.means[5 + i] == -g.means[i]);
    double norm = 0;
    for (int i = 0; i < 5; i++) norm += g.means[i] * g.means[i];
    assert_true(fabs(sqrt(norm) - 3.0) < 1e-5);
    fd_gmm_free(&g);

    assert_int_equal(fd_gmm_init(&g, 4, 3, 2.0f, 0.5f, 1), 0);
    for (int k = 0; k < 4; k++) {
        norm = 0;
        for (int i = 0; i < 3; i++) norm += g.means[k * 3 + i] * g.means[k * 3 + i];
        assert_true(fabs(sqrt(norm) - 2.0) < 1e-5);
    }
    assert_true(memcmp(g.means, g.means + 3, 3 * sizeof(float)) != 0);
    fd_gmm_free(&g);
}

static void test_samples(void **state)
{
    (void)state;
    enum { K = 3, D = 4, N = 30000 };
    fd_gmm g;
    assert_int_equal(fd_gmm_init(&g, K, D, 2.0f, 0.7f, 5), 0);
    uint32_t *idx = fd_malloc(N * sizeof *idx);
    for (uint32_t i = 0; i < N; i++) idx[i] = i;
    float *x = fd_malloc((size_t)N * D * sizeof *x), one[D];
    uint8_t *labels = fd_malloc(N);
    fd_gmm_sample_many(&g, 0, idx, N, x);
    fd_gmm_labels(&g, 0, N, labels);
    double sum[K][D] = {{0}}, sum2[K] = {0};
    int count[K] = {0};
    for (int i = 0; i < N; i++) {
        int k = labels[i];
        assert_int_equal(k, fd_gmm_label(&g, 0, (uint64_t)i));
        count[k]++;
        for (int d = 0; d < D; d++) {
            double e = x[i * D + d] - g.means[k * D + d];
            sum[k][d] += e;
            sum2[k] += e * e;
        }
    }
    for (int k = 0; k < K; k++) {
        assert_true(fabs(count[k] - N / 3.0) < 5 * sqrt(N * 2.0 / 9.0));
        for (int d = 0; d < D; d++)
            assert_true(fabs(sum[k][d] / count[k]) < 5 * 0.7 / sqrt(count[k]));
        double var = sum2[k] / (count[k] * D);
        assert_true(fabs(var / (0.7 * 0.7) - 1) < 0.05);
    }
    fd_gmm_sample(&g, 0, 1234, one);
    assert_memory_equal(one, x + 1234 * D, sizeof one);
    fd_gmm_sample(&g, 1, 1234, one); /* the test split is another set */
    assert_true(memcmp(one, x + 1234 * D, sizeof one) != 0);
    free(labels);
    free(x);
    free(idx);
    fd_gmm_free(&g);
}

static void test_log_density(void **state)
{
    (void)state;
    fd_gmm g;
    assert_int_equal(fd_gmm_init(&g, 2, 3, 1.5f, 0.8f, 2), 0);
    const float x[3] = {0.3f, -1.1f, 0.4f}, w[2] = {0.25f, 0.75f};
    double p = 0;
    for (int k = 0; k < 2; k++) {
        double d2 = 0;
        for (int i = 0; i < 3; i++) d2 += pow((double)x[i] - g.means[k * 3 + i], 2);
        p += w[k] * exp(-d2 / (2 * 0.64)) / pow(2 * PI * 0.64, 1.5);
    }
    assert_true(fabs(fd_gmm_log_density(&g, w, x) - log(p)) < 1e-6);
    const float only_second[2] = {0, 1};
    double d2 = 0;
    for (int i = 0; i < 3; i++) d2 += pow((double)x[i] - g.means[3 + i], 2);
    assert_true(fabs(fd_gmm_log_density(&g, only_second, x) -
                     (-d2 / 1.28 - 1.5 * log(2 * PI * 0.64))) < 1e-6);
    fd_gmm_free(&g);
}

/* A client whose samples are 80% component 0: the fitted weights come out near (0.8, 0.2). */
static void test_fit_weights(void **state)
{
    (void)state;
    enum { D = 2, WANT = 4000 };
    fd_gmm g;
    assert_int_equal(fd_gmm_init(&g, 2, D, 2.0f, 0.5f, 3), 0);
    float *x = fd_malloc(WANT * D * sizeof *x);
    int n0 = 0, n1 = 0, n = 0;
    for (uint64_t i = 0; n < WANT; i++) {
        int k = fd_gmm_label(&g, 0, i);
        if ((k == 0 && n0 < WANT * 4 / 5) || (k == 1 && n1 < WANT / 5)) {
            fd_gmm_sample(&g, 0, i, x + n * D);
            n0 += k == 0;
            n1 += k == 1;
            n++;
        }
    }
    float w[2];
    fd_gmm_fit_weights(&g, x, WANT, 200, w);
    assert_true(fabs(w[0] + w[1] - 1) < 1e-5);
    if (fabs(w[0] - 0.8) > 0.02)
        fail_msg("fitted weights (%.4f, %.4f), want (0.8, 0.2)", w[0], w[1]);
    free(x);
    fd_gmm_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_means),
        cmocka_unit_test(test_samples),
        cmocka_unit_test(test_log_density),
        cmocka_unit_test(test_fit_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
