/* Philox4x32-10 known answers (Random123's kat_vectors), stream independence, and the
 * moments of the uniform and normal variates. */
#include <math.h>
#include <stdlib.h>

#include "feddiff/rng.h"
#include "testutil.h"

static void test_philox_known_answers(void **state)
{
    (void)state;
    static const struct {
        uint32_t ctr[4], key[2], want[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        uint32_t out[4];
        fd_philox4x32_10(out, kat[k].ctr, kat[k].key);
        for (int j = 0; j < 4; j++) assert_int_equal(out[j], kat[k].want[j]);
    }
}

/* A draw is a pure function of its coordinates: the same value whatever order they are asked. */
static void test_pure_function_of_index(void **state)
{
    (void)state;
    fd_rng s = fd_rng_stream(42, FD_RNG_NOISE, 3, 17, 5);
    enum { N = 1003 };
    float bulk[N], shifted[N];
    fd_rng_fill_normal(&s, 0, N, bulk);
    fd_rng_fill_normal(&s, 7, N - 7, shifted);
    for (int i = N - 1; i >= 0; i--) assert_true(bulk[i] == fd_rng_normal(&s, (uint64_t)i));
    for (int i = 0; i < N - 7; i++) assert_true(shifted[i] == bulk[i + 7]);
    fd_rng_fill_uniform(&s, 5, N - 5, shifted);
    for (int i = 0; i < N - 7; i++) assert_true(shifted[i] == fd_rng_uniform(&s, (uint64_t)i + 5));
}

static double correlation(const float *a, const float *b, size_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

/* Streams that differ in any one coordinate are uncorrelated (|r| < 4.5 / sqrt(n)) and differ. */
static void test_stream_independence(void **state)
{
    (void)state;
    enum { N = 1 << 16 };
    float *base = malloc(N * sizeof(float)), *other = malloc(N * sizeof(float));
    assert_non_null(base);
    assert_non_null(other);
    fd_rng ref = fd_rng_stream(1, FD_RNG_NOISE, 2, 3, 4);
    fd_rng variants[] = {
        fd_rng_stream(2, FD_RNG_NOISE, 2, 3, 4),    fd_rng_stream(1, FD_RNG_TIMESTEP, 2, 3, 4),
        fd_rng_stream(1, FD_RNG_NOISE, 3, 3, 4),    fd_rng_stream(1, FD_RNG_NOISE, 2, 4, 4),
        fd_rng_stream(1, FD_RNG_NOISE, 2, 3, 5),
    };
    fd_rng_fill_normal(&ref, 0, N, base);
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        fd_rng_fill_normal(&variants[v], 0, N, other);
        size_t equal = 0;
        for (size_t i = 0; i < N; i++) equal += base[i] == other[i];
        assert_true(equal < 4);
        double r = correlation(base, other, N);
        if (fabs(r) > 4.5 / sqrt((double)N)) fail_msg("stream %zu: correlation %.4f", v, r);
    }
    /* Neighbouring indices of one stream are uncorrelated too (lag 1 and lag 4). */
    assert_true(fabs(correlation(base, base + 1, N - 1)) < 4.5 / sqrt((double)N));
    assert_true(fabs(correlation(base, base + 4, N - 4)) < 4.5 / sqrt((double)N));
    free(base);
    free(other);
}

/* Sample moments within 5 standard errors: mean, variance, skewness, excess kurtosis. */
static void test_normal_moments(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *z = malloc(N * sizeof(float));
    assert_non_null(z);
    fd_rng s = fd_rng_stream(7, FD_RNG_TEST, 0, 0, 0);
    fd_rng_fill_normal(&s, 0, N, z);
    double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
    for (size_t i = 0; i < N; i++) {
        double x = z[i];
        assert_true(isfinite(x));
        m1 += x;
        m2 += x * x;
        m3 += x * x * x;
        m4 += x * x * x * x;
    }
    m1 /= N;
    m2 /= N;
    m3 /= N;
    m4 /= N;
    double se = 1.0 / sqrt((double)N);
    assert_true(fabs(m1) < 5 * se);
    assert_true(fabs(m2 - 1.0) < 5 * sqrt(2.0) * se);
    assert_true(fabs(m3) < 5 * sqrt(15.0) * se);
    assert_true(fabs(m4 - 3.0) < 5 * sqrt(96.0) * se);
    free(z);
}

static void test_uniform_range_and_moments(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *u = malloc(N * sizeof(float));
    assert_non_null(u);
    fd_rng s = fd_rng_stream(9, FD_RNG_TEST, 1, 2, 3);
    fd_rng_fill_uniform(&s, 0, N, u);
    double m1 = 0, m2 = 0;
    for (size_t i = 0; i < N; i++) {
        assert_true(u[i] > 0.0f && u[i] < 1.0f);
        m1 += u[i];
        m2 += (double)u[i] * u[i];
    }
    m1 /= N;
    m2 /= N;
    double se = 1.0 / sqrt((double)N);
    assert_true(fabs(m1 - 0.5) < 5 * se * sqrt(1.0 / 12));
    assert_true(fabs(m2 - 1.0 / 3) < 5 * se * sqrt(4.0 / 45));
    free(u);
}

/* fd_rng_below: in range, every value hit, chi-square of the counts plausible. */
static void test_below_uniform_integers(void **state)
{
    (void)state;
    enum { K = 10, N = 100000 };
    size_t count[K] = {0};
    fd_rng s = fd_rng_stream(11, FD_RNG_TEST, 0, 0, 0);
    for (uint64_t i = 0; i < N; i++) {
        uint32_t v = fd_rng_below(&s, i, K);
        assert_true(v < K);
        count[v]++;
    }
    double chi2 = 0, expect = (double)N / K;
    for (int k = 0; k < K; k++) chi2 += (count[k] - expect) * (count[k] - expect) / expect;
    assert_true(chi2 < 33.7); /* p = 1e-4 for 9 degrees of freedom */
    assert_int_equal(fd_rng_below(&s, 0, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_pure_function_of_index),
        cmocka_unit_test(test_stream_independence),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_uniform_range_and_moments),
        cmocka_unit_test(test_below_uniform_integers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
