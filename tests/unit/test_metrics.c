/* The evaluation metrics: FID against closed forms (identical sets, a pure shift, diagonal and
 * 2x2 covariances), KID's unbiasedness (two samples of one distribution average to 0, where the
 * biased estimator would not) and power, its subsets, the MMD against a naive twin, TV, the
 * label allocation and fd_eval_compare's label scores. The NumPy/SciPy comparison on the same
 * arrays is tests/reference/compare_metrics.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/evaluate.h"
#include "feddiff/metrics.h"
#include "testutil.h"

static float *normal(size_t n, uint32_t seed, float scale)
{
    float *x = fd_malloc(n * sizeof *x);
    tu_fill_normal(x, n, seed, scale);
    return x;
}

static double fid_of(const float *x, size_t nx, const float *y, size_t ny, int d)
{
    fd_feature_stats a, b;
    fd_feature_stats_compute(&a, x, nx, d);
    fd_feature_stats_compute(&b, y, ny, d);
    double f = fd_fid(&a, &b);
    fd_feature_stats_free(&a);
    fd_feature_stats_free(&b);
    return f;
}

/* x [n][d] with correlated coordinates: x_j = z_j + 0.5 z_{j+1}, scaled by 1 + j / d. */
static float *correlated(size_t n, int d, uint32_t seed)
{
    float *z = normal(n * (size_t)(d + 1), seed, 1.0f),
          *x = fd_malloc(sizeof(float) * n * (size_t)d);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            x[i * (size_t)d + (size_t)j] = (z[i * (size_t)(d + 1) + (size_t)j] +
                                            0.5f * z[i * (size_t)(d + 1) + (size_t)j + 1]) *
                                           (1.0f + (float)j / (float)d);
    free(z);
    return x;
}

static void check_close(double got, double want, double tol, const char *label)
{
    if (!(fabs(got - want) <= tol * fmax(fabs(want), 1e-12)))
        fail_msg("%s: %.12g, want %.12g (tolerance %.1g relative)", label, got, want, tol);
}

/* ---- FID ------------------------------------------------------------------------------------ */

/* Mean and covariance against direct double loops, over several of the blocks of rows the
 * covariance is accumulated in. */
static void test_feature_stats_match_twin(void **state)
{
    (void)state;
    enum { N = 9000, D = 7 };
    float *x = correlated(N, D, 9);
    for (size_t i = 0; i < (size_t)N * D; i++) x[i] += 3.0f; /* a mean far from 0 */
    fd_feature_stats s;
    fd_feature_stats_compute(&s, x, N, D);
    double mean[D] = {0};
    for (size_t i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mean[j] += x[i * D + (size_t)j] / (double)N;
    for (int j = 0; j < D; j++) check_close(s.mean[j], mean[j], 1e-12, "mean");
    for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++) {
            double c = 0;
            for (size_t i = 0; i < N; i++)
                c += (x[i * D + (size_t)a] - mean[a]) * (x[i * D + (size_t)b] - mean[b]);
            check_close(s.cov[a * D + b], c / (N - 1), 1e-10, "covariance");
        }
    assert_true(s.n == N && s.dim == D);
    fd_feature_stats_free(&s);
    free(x);
}

static void test_fid_of_identical_sets_is_zero(void **state)
{
    (void)state;
    enum { N = 3000, D = 48 };
    float *x = correlated(N, D, 1);
    fd_feature_stats a;
    fd_feature_stats_compute(&a, x, N, D);
    double trace = 0;
    for (int j = 0; j < D; j++) trace += a.cov[j * D + j];
    const double f = fd_fid(&a, &a);
    if (!(fabs(f) < 1e-10 * trace)) fail_msg("FID of a set with itself: %g (trace %g)", f, trace);
    fd_feature_stats_free(&a);
    free(x);
}

/* y = x + delta has the same covariance: FID = |delta|^2. */
static void test_fid_of_shifted_sets_is_the_squared_shift(void **state)
{
    (void)state;
    enum { N = 4000, D = 32 };
    float *x = correlated(N, D, 2), *y = fd_malloc(sizeof(float) * N * D);
    double shift2 = 0;
    for (int j = 0; j < D; j++) shift2 += (0.1 * (j % 4)) * (0.1 * (j % 4));
    for (size_t i = 0; i < (size_t)N * D; i++) y[i] = x[i] + 0.1f * (float)((i % D) % 4);
    check_close(fid_of(x, N, y, N, D), shift2, 1e-4, "FID of a shift");
    check_close(fid_of(y, N, x, N, D), shift2, 1e-4, "FID of a shift, reversed");
    free(x);
    free(y);
}

/* Statistics given directly. */
static fd_feature_stats stats(int d, const double *mean, const double *cov)
{
    fd_feature_stats s = {.dim = d, .n = 100};
    s.mean = fd_malloc(sizeof(double) * (size_t)d);
    s.cov = fd_malloc(sizeof(double) * (size_t)d * (size_t)d);
    memcpy(s.mean, mean, sizeof(double) * (size_t)d);
    memcpy(s.cov, cov, sizeof(double) * (size_t)d * (size_t)d);
    return s;
}

/* Diagonal covariances: FID = |dmu|^2 + sum (sqrt(a_j) - sqrt(b_j))^2, including zero variances
 * (dead features). */
static void test_fid_of_diagonal_covariances(void **state)
{
    (void)state;
    enum { D = 6 };
    const double va[D] = {1, 4, 0.25, 0, 9, 2}, vb[D] = {4, 4, 1, 1, 0, 3};
    double ma[D] = {0, 1, 2, 3, 4, 5}, mb[D] = {1, 1, 0, 3, 4, 4}, ca[D * D] = {0}, cb[D * D] = {0};
    double want = 0;
    for (int j = 0; j < D; j++) {
        ca[j * D + j] = va[j];
        cb[j * D + j] = vb[j];
        want += (ma[j] - mb[j]) * (ma[j] - mb[j]) + pow(sqrt(va[j]) - sqrt(vb[j]), 2);
    }
    fd_feature_stats a = stats(D, ma, ca), b = stats(D, mb, cb);
    check_close(fd_fid(&a, &b), want, 1e-9, "FID of diagonal covariances");
    fd_feature_stats_free(&a);
    fd_feature_stats_free(&b);
}

/* For 2x2 matrices whose product has positive eigenvalues, tr sqrt(M) = sqrt(tr M + 2 sqrt(det
 * M)): non-commuting covariances with a closed form. */
static void test_fid_of_2x2_covariances(void **state)
{
    (void)state;
    const double ca[4] = {2.0, 0.7, 0.7, 1.0}, cb[4] = {0.5, -0.3, -0.3, 3.0};
    const double m0[2] = {0.2, -1.0}, m1[2] = {1.0, 0.5};
    const double p[4] = {ca[0] * cb[0] + ca[1] * cb[2], ca[0] * cb[1] + ca[1] * cb[3],
                         ca[2] * cb[0] + ca[3] * cb[2], ca[2] * cb[1] + ca[3] * cb[3]};
    const double tr_root = sqrt(p[0] + p[3] + 2 * sqrt(p[0] * p[3] - p[1] * p[2]));
    const double want = (m0[0] - m1[0]) * (m0[0] - m1[0]) + (m0[1] - m1[1]) * (m0[1] - m1[1]) +
                        ca[0] + ca[3] + cb[0] + cb[3] - 2 * tr_root;
    fd_feature_stats a = stats(2, m0, ca), b = stats(2, m1, cb);
    check_close(fd_fid(&a, &b), want, 1e-9, "FID of 2x2 covariances");
    check_close(fd_fid(&b, &a), want, 1e-9, "FID of 2x2 covariances, reversed");
    fd_feature_stats_free(&a);
    fd_feature_stats_free(&b);
}

/* ---- KID ------------------------------------------------------------------------------------ */

static void test_kid_subsets(void **state)
{
    (void)state;
    enum { N = 50, M = 20 };
    uint32_t a[N], b[N], c[M];
    fd_kid_subset(a, N, M, 3, 0, 7);
    fd_kid_subset(b, N, M, 3, 0, 7);
    fd_kid_subset(c, N, M, 3, 0, 8);
    assert_memory_equal(a, b, sizeof(uint32_t) * M); /* deterministic */
    assert_memory_not_equal(a, c, sizeof(uint32_t) * M);
    int seen[N] = {0};
    for (int i = 0; i < M; i++) {
        assert_true(a[i] < N);
        assert_int_equal(seen[a[i]]++, 0); /* distinct */
    }
    fd_kid_subset(a, N, N, 3, 1, 0); /* m = n: a permutation */
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < N; i++) seen[a[i]]++;
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
}

static double kernel(const float *a, const float *b, int d)
{
    double dot = 0;
    for (int j = 0; j < d; j++) dot += (double)a[j] * (double)b[j];
    return pow(dot / d + 1.0, 3);
}

/* MMD^2 on chosen rows with the diagonal terms kept (biased, `diagonal`) or left out. */
static double mmd_twin(const float *x, const uint32_t *ix, const float *y, const uint32_t *iy,
                       size_t m, int d, int diagonal)
{
    double kxx = 0, kyy = 0, kxy = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < m; j++) {
            const float *xi = x + (size_t)ix[i] * d, *xj = x + (size_t)ix[j] * d;
            const float *yi = y + (size_t)iy[i] * d, *yj = y + (size_t)iy[j] * d;
            if (i != j || diagonal) kxx += kernel(xi, xj, d), kyy += kernel(yi, yj, d);
            kxy += kernel(xi, yj, d);
        }
    const double pairs = diagonal ? (double)m * m : (double)m * (m - 1);
    return (kxx + kyy) / pairs - 2 * kxy / ((double)m * m);
}

static void test_mmd_matches_twin(void **state)
{
    (void)state;
    enum { N = 80, M = 30, D = 9 };
    float *x = normal(N * D, 4, 1.0f), *y = normal(N * D, 5, 1.5f);
    uint32_t ix[M], iy[M];
    fd_kid_subset(ix, N, M, 1, 0, 0);
    fd_kid_subset(iy, N, M, 1, 1, 0);
    check_close(fd_mmd2_unbiased(x, ix, y, iy, M, D), mmd_twin(x, ix, y, iy, M, D, 0), 1e-12,
                "MMD^2 against its twin");
    free(x);
    free(y);
}

/* Two samples of one distribution: over 20 independent pairs the KID means average to 0 within
 * 3 standard errors, while the biased estimator's offset is many standard errors away (so the
 * check would catch it). A shifted distribution is far from 0. */
static void test_kid_is_unbiased_and_separates(void **state)
{
    (void)state;
    enum { N = 600, D = 16, PAIRS = 100, SUBSETS = 10, M = 200 };
    double sum = 0, sum_sq = 0, bias = 0;
    for (int p = 0; p < PAIRS; p++) {
        float *x = correlated(N, D, 100 + 2 * (uint32_t)p),
              *y = correlated(N, D, 101 + 2 * (uint32_t)p);
        fd_kid_result r = fd_kid(x, N, y, N, D, SUBSETS, M, (uint64_t)p);
        assert_true(r.subsets == SUBSETS && r.subset_size == M && r.std > 0);
        sum += r.mean;
        sum_sq += r.mean * r.mean;
        uint32_t ix[M], iy[M];
        fd_kid_subset(ix, N, M, (uint64_t)p, 0, 0);
        fd_kid_subset(iy, N, M, (uint64_t)p, 1, 0);
        bias += mmd_twin(x, ix, y, iy, M, D, 1) - mmd_twin(x, ix, y, iy, M, D, 0);
        free(x);
        free(y);
    }
    const double mean = sum / PAIRS, sd = sqrt((sum_sq - sum * mean) / (PAIRS - 1));
    const double stderr_mean = sd / sqrt(PAIRS);
    bias /= PAIRS;
    print_message("KID of one distribution: mean %.3g over %d pairs, standard error %.3g; "
                  "offset of the biased estimator %.3g\n",
                  mean, PAIRS, stderr_mean, bias);
    if (!(fabs(mean) < 3 * stderr_mean))
        fail_msg("KID of one distribution averages %g, standard error %g", mean, stderr_mean);
    if (!(bias > 10 * stderr_mean))
        fail_msg("the biased estimator's offset %g is not clearly above the standard error %g",
                 bias, stderr_mean);

    float *x = correlated(N, D, 300), *y = correlated(N, D, 301);
    for (size_t i = 0; i < (size_t)N * D; i++) y[i] += 1.0f;
    fd_kid_result r = fd_kid(x, N, y, N, D, SUBSETS, M, 1);
    print_message("KID of a shift by 1 per coordinate: %.3g +- %.3g\n", r.mean, r.std);
    if (!(r.mean > 5 * r.std)) fail_msg("shifted KID %g +- %g", r.mean, r.std);
    free(x);
    free(y);
}

/* ---- labels --------------------------------------------------------------------------------- */

static void test_tv_distance(void **state)
{
    (void)state;
    const double p[3] = {0.5, 0.5, 0}, q[3] = {0, 0.5, 0.5}, r[3] = {0, 0, 1};
    check_close(fd_tv_distance(p, p, 3), 0, 1e-15, "TV(p, p)");
    check_close(fd_tv_distance(p, q, 3), 0.5, 1e-15, "TV(p, q)");
    check_close(fd_tv_distance(p, r, 3), 1.0, 1e-15, "TV of disjoint supports");
}

static void test_allocate_labels(void **state)
{
    (void)state;
    int labels[10];
    const double p[3] = {0.5, 0.3, 0.2};
    fd_eval_allocate_labels(labels, 10, p, 3);
    const int want10[10] = {0, 0, 0, 0, 0, 1, 1, 1, 2, 2};
    assert_memory_equal(labels, want10, sizeof want10);
    fd_eval_allocate_labels(labels, 7, p, 3); /* 3.5, 2.1, 1.4: the left-over one to class 0 */
    const int want7[7] = {0, 0, 0, 0, 1, 1, 2};
    assert_memory_equal(labels, want7, sizeof want7);
    const double uniform[3] = {1, 1, 1}; /* unnormalised; ties go to the lower class */
    fd_eval_allocate_labels(labels, 4, uniform, 3);
    const int want4[4] = {0, 0, 1, 2};
    assert_memory_equal(labels, want4, sizeof want4);
}

/* label_tv, cond_acc and the per-class counts of fd_eval_compare, on hand-made sets. */
static void test_eval_compare_label_scores(void **state)
{
    (void)state;
    enum { NG = 8, NR = 12, D = 3, K = 4 };
    float *fg = normal(NG * D, 7, 1.0f), *fr = normal(NR * D, 8, 1.0f);
    int gl[NG] = {0, 0, 1, 1, 2, 2, 2, 3}, gp[NG] = {0, 1, 1, 1, 2, 2, 0, 3};
    int rl[NR] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}, rp[NR] = {0};
    fd_feature_set gen = {NG, D, K, fg, gl, gp}, ref = {NR, D, K, fr, rl, rp};
    fd_metric_config mc = {.kid_subsets = 3, .kid_subset_size = 5, .seed = 1};
    fd_eval_scores s;
    assert_int_equal(fd_eval_compare(&s, &gen, &ref, NULL, &mc), 0);
    /* target: the drawn classes (2, 2, 3, 1)/8; the classifier's: (2, 3, 2, 1)/8. */
    check_close(s.label_tv, 1.0 / 8, 1e-15, "label_tv against the drawn classes");
    check_close(s.cond_acc, 6.0 / 8, 1e-15, "cond_acc");
    assert_true(s.class_n_gen[2] == 3 && s.class_n_ref[2] == 3 && s.class_n_gen[3] == 1);
    assert_true(!isnan(s.class_fid[2]) && isnan(s.class_fid[3])); /* 1 sample: no FID */
    assert_true(s.kid_subset_size == 5 && s.n_gen == NG && s.n_ref == NR);
    const double target[K] = {0.25, 0.25, 0.25, 0.25};
    assert_int_equal(fd_eval_compare(&s, &gen, &ref, target, &mc), 0);
    check_close(s.label_tv, 1.0 / 8, 1e-15, "label_tv against a target");
    gen.labels = NULL; /* unconditioned samples: against ref's labels (3, 3, 3, 3)/12 */
    assert_int_equal(fd_eval_compare(&s, &gen, &ref, NULL, &mc), 0);
    check_close(s.label_tv, 1.0 / 8, 1e-15, "label_tv against the reference");
    assert_true(isnan(s.cond_acc));
    gen.n = 1;
    assert_int_equal(fd_eval_compare(&s, &gen, &ref, NULL, &mc), -1);
    free(fg);
    free(fr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feature_stats_match_twin),
        cmocka_unit_test(test_fid_of_identical_sets_is_zero),
        cmocka_unit_test(test_fid_of_shifted_sets_is_the_squared_shift),
        cmocka_unit_test(test_fid_of_diagonal_covariances),
        cmocka_unit_test(test_fid_of_2x2_covariances),
        cmocka_unit_test(test_kid_subsets),
        cmocka_unit_test(test_mmd_matches_twin),
        cmocka_unit_test(test_kid_is_unbiased_and_separates),
        cmocka_unit_test(test_tv_distance),
        cmocka_unit_test(test_allocate_labels),
        cmocka_unit_test(test_eval_compare_label_scores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
