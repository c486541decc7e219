/* MSE loss: the kernel against its naive double twin (also where a float sum would drift),
 * the finite-difference gradient check, the accumulate contract, the NULL skip and
 * thread-count independence. Softmax cross-entropy: the twin, extreme logits, the gradient
 * check and the accumulate contract. */
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

/* ---- softmax cross-entropy ------------------------------------------------------------------ */

/* The textbook formula in long double, without the max shift (fine for |logits| < 100). */
static double xent_forward_ref(double *probs, const float *logits, const int *labels, int B, int C)
{
    long double total = 0.0L;
    for (int b = 0; b < B; b++) {
        long double sum = 0.0L;
        for (int c = 0; c < C; c++) sum += expl((long double)logits[b * C + c]);
        for (int c = 0; c < C; c++) probs[b * C + c] = (double)(expl((long double)logits[b * C + c]) / sum);
        total += logl(sum) - (long double)logits[b * C + labels[b]];
    }
    return (double)(total / B);
}

static void test_xent_matches_twin_and_accumulates(void **state)
{
    (void)state;
    enum { B = 37, C = 10 };
    float *logits = normal(B * C, 120, 4.0f), probs[B * C];
    int labels[B];
    for (int b = 0; b < B; b++) labels[b] = (b * 7) % C;
    double ref_probs[B * C];
    const double want = xent_forward_ref(ref_probs, logits, labels, B, C);
    const float loss = fd_softmax_xent_forward(probs, logits, labels, B, C);
    if (rel_diff(loss, want) > 1e-6) fail_msg("xent loss %.9g, want %.9g", (double)loss, want);
    float *dlogits = normal(B * C, 121, 1.0f), start[B * C];
    memcpy(start, dlogits, sizeof start);
    const float dloss = 0.7f;
    fd_softmax_xent_backward(dlogits, probs, labels, B, C, dloss);
    for (int i = 0; i < B * C; i++) {
        const double onehot = labels[i / C] == i % C;
        const double g = start[i] + dloss * (ref_probs[i] - onehot) / B;
        if (fabs(ref_probs[i] - probs[i]) > 1e-6 || fabs(dlogits[i] - g) > 1e-6)
            fail_msg("xent entry %d: prob %g (want %g), grad %g (want %g)", i, (double)probs[i],
                     ref_probs[i], (double)dlogits[i], g);
    }
    fd_softmax_xent_backward(NULL, probs, labels, B, C, dloss); /* skipped */
    free(logits);
    free(dlogits);
}

/* Logits of 1e4 overflow exp in any precision: the max shift keeps the loss finite and right. */
static void test_xent_extreme_logits(void **state)
{
    (void)state;
    const float logits[4] = {1e4f, 0.0f, -1e4f, 3.0f};
    const int labels[2] = {1, 0};
    float probs[4];
    const float loss = fd_softmax_xent_forward(probs, logits, labels, 2, 2);
    /* Row 0 (label 1): logsumexp = 1e4, minus 0; row 1 (label 0): logsumexp = 3, minus -1e4. */
    if (rel_diff(loss, (1e4 + 1e4 + 3.0) / 2) > 1e-6) fail_msg("xent loss %g", (double)loss);
    assert_true(probs[0] == 1.0f && probs[1] == 0.0f && probs[2] == 0.0f && probs[3] == 1.0f);
}

typedef struct {
    float *logits, *probs;
    const int *labels;
    int B, C;
} xent_ctx;

static void xent_forward_fn(void *p, float *out)
{
    xent_ctx *c = p;
    out[0] = fd_softmax_xent_forward(c->probs, c->logits, c->labels, c->B, c->C);
}

static void test_xent_gradcheck(void **state)
{
    (void)state;
    enum { B = 5, C = 7 };
    int labels[B] = {0, 6, 3, 3, 1};
    float probs[B * C], out[1], dout[1] = {1.3f};
    xent_ctx c = {normal(B * C, 130, 2.0f), probs, labels, B, C};
    float *dlogits = zeros(B * C);
    fd_softmax_xent_forward(probs, c.logits, labels, B, C);
    fd_softmax_xent_backward(dlogits, probs, labels, B, C, dout[0]);
    double err = tu_gradcheck(xent_forward_fn, &c, out, 1, dout, c.logits, dlogits, B * C, 100, 1e-2f);
    tu_assert_err_below(err, 2e-3, "xent dlogits gradcheck");
    free(c.logits);
    free(dlogits);
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
        cmocka_unit_test(test_xent_matches_twin_and_accumulates),
        cmocka_unit_test(test_xent_extreme_logits),
        cmocka_unit_test(test_xent_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
