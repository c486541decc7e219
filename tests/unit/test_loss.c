/* MSE loss: the kernel against its naive double twin (also where a float sum would drift),
 * the finite-difference gradient check, the accumulate contract, the NULL skip and
 * thread-count independence. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/loss.h"
#include "testutil.h"

/* ---- naive twin, in double ---------------------------------------------------------------- */

static double mse_forward_ref(const float *pred, const float *target, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        sum += d * d;
    }
    return sum / (double)n;
}

static void mse_backward_ref(float *dpred, const float *pred, const float *target, size_t n,
                             float dloss)
{
    for (size_t i = 0; i < n; i++)
        dpred[i] = (float)((double)dpred[i] +
                           (double)dloss * 2.0 * ((double)pred[i] - (double)target[i]) / (double)n);
}

/* ---- helpers -------------------------------------------------------------------------------- */

static float *normal(size_t n, uint32_t seed, float scale)
{
    float *x = fd_malloc(n * sizeof *x);
    tu_fill_normal(x, n, seed, scale);
    return x;
}

static float *zeros(size_t n) { return fd_calloc(n, sizeof(float)); }

static double rel_diff(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-30); }

static const size_t sizes[] = {1, 7, 1001, 100003}; /* the last one runs the OpenMP path */
enum { N_SIZES = sizeof sizes / sizeof sizes[0] };

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_mse_forward_matches_twin(void **state)
{
    (void)state;
    for (int k = 0; k < N_SIZES; k++) {
        size_t n = sizes[k];
        float *pred = normal(n, 10 + (uint32_t)k, 1.0f),
              *target = normal(n, 20 + (uint32_t)k, 1.0f);
        double want = mse_forward_ref(pred, target, n);
        tu_assert_err_below(rel_diff(fd_mse_forward(pred, target, n), want), 2e-7, "mse forward");
        free(pred);
        free(target);
    }
}

/* 2^22 squares of about 1e-2 each: a float running sum stalls once it is large compared with
 * each term (relative error ~1e-2); the double accumulation keeps float precision. */
static void test_mse_forward_precision_on_many_values(void **state)
{
    (void)state;
    const size_t n = (size_t)1 << 22;
    float *pred = normal(n, 30, 0.1f), *target = zeros(n);
    double want = mse_forward_ref(pred, target, n);
    float naive = 0.0f;
    for (size_t i = 0; i < n; i++) naive += pred[i] * pred[i];
    assert_true(rel_diff((double)naive / (double)n, want) > 1e-4); /* the test can tell */
    tu_assert_err_below(rel_diff(fd_mse_forward(pred, target, n), want), 2e-7,
                        "mse forward on 2^22 values");
    free(pred);
    free(target);
}

static void test_mse_backward_matches_twin(void **state)
{
    (void)state;
    for (int k = 0; k < N_SIZES; k++) {
        size_t n = sizes[k];
        float *pred = normal(n, 40 + (uint32_t)k, 1.0f),
              *target = normal(n, 50 + (uint32_t)k, 1.0f);
        float *dpred = zeros(n), *dpred_ref = zeros(n);
        fd_mse_backward(dpred, pred, target, n, 0.75f);
        mse_backward_ref(dpred_ref, pred, target, n, 0.75f);
        tu_assert_err_below(tu_rel_err(dpred, dpred_ref, n), 1e-6, "mse backward");
        free(pred);
        free(target);
        free(dpred);
        free(dpred_ref);
    }
}

typedef struct {
    float *pred, *target;
    size_t n;
} mse_ctx;

static void mse_forward_fn(void *p, float *out)
{
    mse_ctx *c = p;
    out[0] = fd_mse_forward(c->pred, c->target, c->n);
}

static void test_mse_gradcheck(void **state)
{
    (void)state;
    const size_t ns[] = {1, 5, 37};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        size_t n = ns[k];
        mse_ctx c = {normal(n, 60 + (uint32_t)k, 1.0f), normal(n, 70 + (uint32_t)k, 1.0f), n};
        const float dloss = 1.5f;
        float out, *dpred = zeros(n);
        fd_mse_backward(dpred, c.pred, c.target, n, dloss);
        double err = tu_gradcheck(mse_forward_fn, &c, &out, 1, &dloss, c.pred, dpred, n, n, 1e-2f);
        tu_assert_err_below(err, 1e-3, "mse dpred gradcheck");
        free(c.pred);
        free(c.target);
        free(dpred);
    }
}

static void test_mse_backward_accumulates_and_skips_null(void **state)
{
    (void)state;
    const size_t n = 100003;
    float *pred = normal(n, 80, 1.0f), *target = normal(n, 81, 1.0f);
    float *dpred = normal(n, 82, 1e-5f), *start = fd_malloc(n * sizeof *start), *fresh = zeros(n);
    memcpy(start, dpred, n * sizeof *start);
    fd_mse_backward(dpred, pred, target, n, 1.0f);
    fd_mse_backward(fresh, pred, target, n, 1.0f);
    for (size_t i = 0; i < n; i++) start[i] += fresh[i];
    tu_assert_err_below(tu_rel_err(dpred, start, n), 1e-6, "mse accumulate");
    fd_mse_backward(NULL, pred, target, n, 1.0f); /* must be a no-op, not a crash */
    free(pred);
    free(target);
    free(dpred);
    free(start);
    free(fresh);
}

static void test_mse_thread_count_independent(void **state)
{
    (void)state;
    const size_t n = 100003;
    float *pred = normal(n, 90, 1.0f), *target = normal(n, 91, 1.0f);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    float one = fd_mse_forward(pred, target, n);
    omp_set_num_threads(2);
    float two = fd_mse_forward(pred, target, n);
    omp_set_num_threads(saved);
    tu_assert_err_below(rel_diff(one, two), 2e-7, "mse forward on 1 vs 2 threads");
    free(pred);
    free(target);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_forward_matches_twin),
        cmocka_unit_test(test_mse_forward_precision_on_many_values),
        cmocka_unit_test(test_mse_backward_matches_twin),
        cmocka_unit_test(test_mse_gradcheck),
        cmocka_unit_test(test_mse_backward_accumulates_and_skips_null),
        cmocka_unit_test(test_mse_thread_count_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
