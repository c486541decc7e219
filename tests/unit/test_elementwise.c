/* Residual sums and the per-sample channel bias: kernels against naive twins (aliasing
 * included), the finite-difference gradient check of the channel bias, the accumulate
 * contract, NULL skips and thread-count independence. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/elementwise.h"
#include "feddiff/error.h"
#include "feddiff/scratch.h"
#include "testutil.h"

/* ---- naive twins ------------------------------------------------------------------------- */

static void channel_bias_forward_ref(float *h, const float *bias, int B, int HW, int C)
{
    for (int b = 0; b < B; b++)
        for (int p = 0; p < HW; p++)
            for (int c = 0; c < C; c++) h[((size_t)b * HW + p) * C + c] += bias[(size_t)b * C + c];
}

static void channel_bias_backward_ref(float *dbias, const float *dh, int B, int HW, int C)
{
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            double sum = dbias[(size_t)b * C + c];
            for (int p = 0; p < HW; p++) sum += dh[((size_t)b * HW + p) * C + c];
            dbias[(size_t)b * C + c] = (float)sum;
        }
}

/* ---- helpers -------------------------------------------------------------------------------- */

static float *normal(size_t n, uint32_t seed, float scale)
{
    float *x = fd_malloc(n * sizeof *x);
    tu_fill_normal(x, n, seed, scale);
    return x;
}

static float *copy(const float *x, size_t n)
{
    float *y = fd_malloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

static const size_t sizes[] = {1, 7, 1001, 100003}; /* the last one runs the OpenMP path */
enum { N_SIZES = sizeof sizes / sizeof sizes[0] };

typedef struct {
    int B, HW, C;
} shape;

/* B = 1, odd sizes, the res-block shapes of the model, and one large enough for OpenMP. */
static const shape shapes[] = {{1, 49, 32}, {3, 7, 96}, {5, 1, 13}, {2, 9, 1}, {8, 784, 32}};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

/* ---- add and accumulate --------------------------------------------------------------------- */

static void test_add_matches_twin_and_allows_aliasing(void **state)
{
    (void)state;
    for (int k = 0; k < N_SIZES; k++) {
        size_t n = sizes[k];
        float *a = normal(n, 10 + (uint32_t)k, 1.0f), *b = normal(n, 20 + (uint32_t)k, 1.0f);
        float *want = fd_malloc(n * sizeof *want), *out = fd_malloc(n * sizeof *out);
        for (size_t i = 0; i < n; i++) want[i] = a[i] + b[i];
        fd_add_forward(out, a, b, n);
        assert_memory_equal(out, want, n * sizeof *out);
        float *a_alias = copy(a, n), *b_alias = copy(b, n);
        fd_add_forward(a_alias, a_alias, b, n); /* out = a */
        fd_add_forward(b_alias, a, b_alias, n); /* out = b */
        assert_memory_equal(a_alias, want, n * sizeof *out);
        assert_memory_equal(b_alias, want, n * sizeof *out);
        free(a);
        free(b);
        free(want);
        free(out);
        free(a_alias);
        free(b_alias);
    }
}

static void test_accumulate_matches_twin_and_skips_null(void **state)
{
    (void)state;
    for (int k = 0; k < N_SIZES; k++) {
        size_t n = sizes[k];
        float *dst = normal(n, 30 + (uint32_t)k, 1.0f), *src = normal(n, 40 + (uint32_t)k, 1.0f);
        float *want = copy(dst, n);
        for (size_t i = 0; i < n; i++) want[i] += src[i];
        fd_accumulate(dst, src, n);
        assert_memory_equal(dst, want, n * sizeof *dst);
        fd_accumulate(NULL, src, n); /* must be a no-op, not a crash */
        free(dst);
        free(src);
        free(want);
    }
}

/* ---- channel bias --------------------------------------------------------------------------- */

static void test_channel_bias_forward_matches_twin(void **state)
{
    (void)state;
    for (int k = 0; k < N_SHAPES; k++) {
        shape s = shapes[k];
        size_t n = (size_t)s.B * s.HW * s.C;
        float *h = normal(n, 50 + (uint32_t)k, 1.0f), *bias = normal((size_t)s.B * s.C, 60, 1.0f);
        float *want = copy(h, n);
        channel_bias_forward_ref(want, bias, s.B, s.HW, s.C);
        fd_add_channel_bias_forward(h, bias, s.B, s.HW, s.C);
        assert_memory_equal(h, want, n * sizeof *h);
        free(h);
        free(bias);
        free(want);
    }
}

/* Backward from non-zero gradients: the twin adds to them too, so this checks the values and
 * the accumulate contract at once. */
static void test_channel_bias_backward_matches_twin_and_accumulates(void **state)
{
    (void)state;
    for (int k = 0; k < N_SHAPES; k++) {
        shape s = shapes[k];
        size_t n = (size_t)s.B * s.HW * s.C, nb = (size_t)s.B * s.C;
        float *dh = normal(n, 70 + (uint32_t)k, 1.0f), *dbias = normal(nb, 80 + (uint32_t)k, 1.0f);
        float *want = copy(dbias, nb);
        channel_bias_backward_ref(want, dh, s.B, s.HW, s.C);
        fd_add_channel_bias_backward(dbias, dh, s.B, s.HW, s.C);
        tu_assert_err_below(tu_rel_err(dbias, want, nb), 1e-6, "channel bias backward");
        fd_add_channel_bias_backward(NULL, dh, s.B, s.HW, s.C); /* a no-op, not a crash */
        free(dh);
        free(dbias);
        free(want);
    }
}

typedef struct {
    const float *h;
    float *bias;
    int B, HW, C;
} bias_ctx;

static void channel_bias_forward_fn(void *p, float *out)
{
    bias_ctx *c = p;
    memcpy(out, c->h, (size_t)c->B * c->HW * c->C * sizeof *out);
    fd_add_channel_bias_forward(out, c->bias, c->B, c->HW, c->C);
}

static void test_channel_bias_gradcheck(void **state)
{
    (void)state;
    const shape small[] = {{1, 4, 3}, {2, 7, 5}, {3, 1, 8}};
    for (size_t k = 0; k < sizeof small / sizeof small[0]; k++) {
        shape s = small[k];
        size_t n = (size_t)s.B * s.HW * s.C, nb = (size_t)s.B * s.C;
        float *h = normal(n, 90 + (uint32_t)k, 1.0f), *dout = normal(n, 100 + (uint32_t)k, 1.0f);
        bias_ctx c = {h, normal(nb, 110 + (uint32_t)k, 1.0f), s.B, s.HW, s.C};
        float *out = fd_malloc(n * sizeof *out), *dbias = fd_calloc(nb, sizeof *dbias);
        fd_add_channel_bias_backward(dbias, dout, s.B, s.HW, s.C);
        double err =
            tu_gradcheck(channel_bias_forward_fn, &c, out, n, dout, c.bias, dbias, nb, nb, 1e-2f);
        tu_assert_err_below(err, 1e-3, "channel bias dbias gradcheck");
        free(h);
        free(dout);
        free(c.bias);
        free(out);
        free(dbias);
    }
}

static void test_channel_bias_thread_count_independent(void **state)
{
    (void)state;
    const shape s = {8, 784, 32};
    size_t n = (size_t)s.B * s.HW * s.C, nb = (size_t)s.B * s.C;
    float *dh = normal(n, 120, 1.0f);
    float *one = fd_calloc(nb, sizeof *one), *two = fd_calloc(nb, sizeof *two);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    fd_add_channel_bias_backward(one, dh, s.B, s.HW, s.C);
    omp_set_num_threads(2);
    fd_add_channel_bias_backward(two, dh, s.B, s.HW, s.C);
    omp_set_num_threads(saved);
    assert_memory_equal(one, two, nb * sizeof *one); /* one thread per sample: same sums */
    free(dh);
    free(one);
    free(two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_matches_twin_and_allows_aliasing),
        cmocka_unit_test(test_accumulate_matches_twin_and_skips_null),
        cmocka_unit_test(test_channel_bias_forward_matches_twin),
        cmocka_unit_test(test_channel_bias_backward_matches_twin_and_accumulates),
        cmocka_unit_test(test_channel_bias_gradcheck),
        cmocka_unit_test(test_channel_bias_thread_count_independent),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    fd_scratch_release();
    return failed;
}
