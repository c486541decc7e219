/* SiLU and ReLU: each kernel against its naive twin (SiLU also on extreme inputs), the
 * finite-difference gradient check, the accumulate contract, the NULL skip, NaN propagation
 * and thread-count independence. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/activation.h"
#include "feddiff/error.h"
#include "feddiff/scratch.h"
#include "testutil.h"

/* ---- naive twin, in double ---------------------------------------------------------------- */

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

static void silu_forward_ref(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = (float)((double)inp[i] * sigmoid_ref(inp[i]));
}

static void silu_backward_ref(float *dinp, const float *dout, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double x = inp[i], s = sigmoid_ref(x);
        dinp[i] = (float)((double)dinp[i] + (double)dout[i] * (s + x * s * (1.0 - s)));
    }
}

/* ---- helpers -------------------------------------------------------------------------------- */

static float *normal(size_t n, uint32_t seed, float scale)
{
    float *x = fd_malloc(n * sizeof *x);
    tu_fill_normal(x, n, seed, scale);
    return x;
}

static float *zeros(size_t n) { return fd_calloc(n, sizeof(float)); }

/* Forward and backward (from zero gradients) of kernel and twin agree on `inp`. */
static void check_against_twin(const float *inp, size_t n, uint32_t seed, const char *label)
{
    float *dout = normal(n, seed, 1.0f);
    float *out = zeros(n), *out_ref = zeros(n), *dinp = zeros(n), *dinp_ref = zeros(n);
    fd_silu_forward(out, inp, n);
    silu_forward_ref(out_ref, inp, n);
    fd_silu_backward(dinp, dout, inp, n);
    silu_backward_ref(dinp_ref, dout, inp, n);
    for (size_t i = 0; i < n; i++) assert_true(isfinite(out[i]) && isfinite(dinp[i]));
    tu_assert_err_below(tu_rel_err(out, out_ref, n), 1e-6, label);
    tu_assert_err_below(tu_rel_err(dinp, dinp_ref, n), 1e-6, label);
    free(dout);
    free(out);
    free(out_ref);
    free(dinp);
    free(dinp_ref);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_silu_matches_twin(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 7, 1000, 100003}; /* the last one runs the OpenMP path */
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        float *inp = normal(sizes[k], 10 + (uint32_t)k, 4.0f);
        check_against_twin(inp, sizes[k], 20 + (uint32_t)k, "silu vs twin");
        free(inp);
    }
}

/* Every value on a fine grid over [-20, 20] is accurate relative to itself, not only to the
 * largest value: this is what the hand-written exponential must deliver. */
static void test_silu_pointwise_accuracy(void **state)
{
    (void)state;
    enum { N = 40001 };
    float *inp = fd_malloc(N * sizeof *inp), *out = zeros(N);
    for (int i = 0; i < N; i++) inp[i] = -20.0f + 40.0f * (float)i / (float)(N - 1);
    fd_silu_forward(out, inp, N);
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        double ref = (double)inp[i] * sigmoid_ref(inp[i]);
        if (ref == 0.0) {
            assert_true(out[i] == 0.0f);
            continue;
        }
        double err = fabs((double)out[i] - ref) / fabs(ref);
        if (err > worst) worst = err;
    }
    tu_assert_err_below(worst, 1e-6, "silu pointwise relative error");
    free(inp);
    free(out);
}

/* Huge and tiny inputs: finite results, each accurate relative to itself (below 1e-30 in
 * magnitude, zero is as good as the true subnormal value). */
static void test_silu_extreme_inputs(void **state)
{
    (void)state;
    const float values[] = {-1e30f, -1e4f,   -100.0f, -88.7f, -87.4f, -87.2f, -50.0f,
                            -17.0f, -1e-30f, -0.0f,   0.0f,   1e-30f, 17.0f,  50.0f,
                            87.2f,  87.4f,   88.7f,   100.0f, 1e4f,   1e30f};
    enum { N = sizeof values / sizeof values[0] };
    float out[N], dinp[N] = {0}, dout[N];
    for (int i = 0; i < N; i++) dout[i] = 1.0f;
    fd_silu_forward(out, values, N);
    fd_silu_backward(dinp, dout, values, N);
    for (int i = 0; i < N; i++) {
        double x = values[i], s = sigmoid_ref(x);
        double want_out = x * s, want_grad = s + x * s * (1.0 - s);
        assert_true(isfinite(out[i]) && isfinite(dinp[i]));
        if (fabs((double)out[i] - want_out) > 1e-6 * fabs(want_out) + 1e-30 ||
            fabs((double)dinp[i] - want_grad) > 1e-6 * fabs(want_grad) + 1e-30)
            fail_msg("silu(%g) = %g, silu' = %g; want %g, %g", x, (double)out[i], (double)dinp[i],
                     want_out, want_grad);
    }
}

static void test_silu_propagates_nan(void **state)
{
    (void)state;
    const float inp[3] = {1.0f, NAN, -1.0f}, dout[3] = {1.0f, 1.0f, 1.0f};
    float out[3], dinp[3] = {0};
    fd_silu_forward(out, inp, 3);
    fd_silu_backward(dinp, dout, inp, 3);
    assert_true(isnan(out[1]) && isnan(dinp[1]));
    assert_true(isfinite(out[0]) && isfinite(out[2]) && isfinite(dinp[0]) && isfinite(dinp[2]));
}

typedef struct {
    float *inp;
    size_t n;
} silu_ctx;

static void silu_forward_fn(void *p, float *out)
{
    silu_ctx *c = p;
    fd_silu_forward(out, c->inp, c->n);
}

static void test_silu_gradcheck(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 37, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        silu_ctx c = {normal(n, 30 + (uint32_t)k, 3.0f), n};
        float *dout = normal(n, 40 + (uint32_t)k, 1.0f), *out = zeros(n), *dinp = zeros(n);
        fd_silu_backward(dinp, dout, c.inp, n);
        double err = tu_gradcheck(silu_forward_fn, &c, out, n, dout, c.inp, dinp, n, 200, 1e-2f);
        tu_assert_err_below(err, 2e-3, "silu dinp gradcheck");
        free(c.inp);
        free(dout);
        free(out);
        free(dinp);
    }
}

static void test_silu_backward_accumulates_and_skips_null(void **state)
{
    (void)state;
    const size_t n = 100003;
    float *inp = normal(n, 50, 3.0f), *dout = normal(n, 51, 1.0f);
    float *dinp = normal(n, 52, 1.0f), *start = fd_malloc(n * sizeof *start), *fresh = zeros(n);
    memcpy(start, dinp, n * sizeof *start);
    fd_silu_backward(dinp, dout, inp, n);
    fd_silu_backward(fresh, dout, inp, n);
    for (size_t i = 0; i < n; i++) start[i] += fresh[i];
    tu_assert_err_below(tu_rel_err(dinp, start, n), 1e-6, "silu accumulate");
    fd_silu_backward(NULL, dout, inp, n); /* must be a no-op, not a crash */
    free(inp);
    free(dout);
    free(dinp);
    free(start);
    free(fresh);
}

typedef struct {
    const float *inp, *dout;
    size_t n;
} pointwise_ctx;

/* out [2n]: the forward's output, then the backward's input gradient. */
static void silu_both(void *p, float *out)
{
    const pointwise_ctx *c = p;
    fd_silu_forward(out, c->inp, c->n);
    fd_silu_backward(out + c->n, c->dout, c->inp, c->n);
}

static void test_silu_thread_count_independent(void **state)
{
    (void)state;
    const size_t n = 100003;
    pointwise_ctx c = {normal(n, 60, 4.0f), normal(n, 61, 1.0f), n};
    tu_assert_thread_count_independent(silu_both, &c, 2 * n);
    free((float *)c.inp);
    free((float *)c.dout);
}

/* ---- ReLU ------------------------------------------------------------------------------------ */

static void relu_forward_ref(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : (isnan(inp[i]) ? inp[i] : 0.0f);
}

/* Exact against the twin (no arithmetic but one addition), from a non-zero gradient start. */
static void test_relu_matches_twin_and_accumulates(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 7, 1000, 100003}; /* the last one runs the OpenMP path */
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        float *inp = normal(n, 70 + (uint32_t)k, 2.0f), *dout = normal(n, 80 + (uint32_t)k, 1.0f);
        float *out = zeros(n), *ref = zeros(n);
        float *dinp = normal(n, 90 + (uint32_t)k, 1.0f), *dref = fd_malloc(n * sizeof *dref);
        memcpy(dref, dinp, n * sizeof *dref);
        fd_relu_forward(out, inp, n);
        relu_forward_ref(ref, inp, n);
        assert_memory_equal(out, ref, n * sizeof *out);
        fd_relu_backward(dinp, dout, inp, n);
        for (size_t i = 0; i < n; i++) dref[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
        assert_memory_equal(dinp, dref, n * sizeof *dinp);
        fd_relu_backward(NULL, dout, inp, n); /* must be a no-op, not a crash */
        free(inp);
        free(dout);
        free(out);
        free(ref);
        free(dinp);
        free(dref);
    }
}

typedef struct {
    float *inp;
    size_t n;
} relu_ctx;

static void relu_forward_fn(void *p, float *out)
{
    relu_ctx *c = p;
    fd_relu_forward(out, c->inp, c->n);
}

/* Inputs kept 0.05 away from the kink at 0, so that no step h = 1e-2 crosses it. */
static void test_relu_gradcheck(void **state)
{
    (void)state;
    const size_t n = 1000;
    relu_ctx c = {normal(n, 100, 2.0f), n};
    for (size_t i = 0; i < n; i++)
        if (fabsf(c.inp[i]) < 0.05f) c.inp[i] = c.inp[i] < 0.0f ? -0.05f : 0.05f;
    float *dout = normal(n, 101, 1.0f), *out = zeros(n), *dinp = zeros(n);
    fd_relu_backward(dinp, dout, c.inp, n);
    double err = tu_gradcheck(relu_forward_fn, &c, out, n, dout, c.inp, dinp, n, 200, 1e-2f);
    tu_assert_err_below(err, 1e-3, "relu dinp gradcheck");
    free(c.inp);
    free(dout);
    free(out);
    free(dinp);
}

static void relu_both(void *p, float *out)
{
    const pointwise_ctx *c = p;
    fd_relu_forward(out, c->inp, c->n);
    fd_relu_backward(out + c->n, c->dout, c->inp, c->n);
}

static void test_relu_propagates_nan_and_thread_count_independent(void **state)
{
    (void)state;
    const float inp3[3] = {-1.0f, NAN, 2.0f};
    float out3[3];
    fd_relu_forward(out3, inp3, 3);
    assert_true(out3[0] == 0.0f && isnan(out3[1]) && out3[2] == 2.0f);
    const size_t n = 100003;
    pointwise_ctx c = {normal(n, 110, 1.0f), normal(n, 111, 1.0f), n};
    tu_assert_thread_count_independent(relu_both, &c, 2 * n);
    free((float *)c.inp);
    free((float *)c.dout);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silu_matches_twin),
        cmocka_unit_test(test_silu_pointwise_accuracy),
        cmocka_unit_test(test_silu_extreme_inputs),
        cmocka_unit_test(test_silu_propagates_nan),
        cmocka_unit_test(test_silu_gradcheck),
        cmocka_unit_test(test_silu_backward_accumulates_and_skips_null),
        cmocka_unit_test(test_silu_thread_count_independent),
        cmocka_unit_test(test_relu_matches_twin_and_accumulates),
        cmocka_unit_test(test_relu_gradcheck),
        cmocka_unit_test(test_relu_propagates_nan_and_thread_count_independent),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    fd_scratch_release();
    return failed;
}
