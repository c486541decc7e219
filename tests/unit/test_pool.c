/* 2x2 max pooling: the kernel against its naive twin (even and odd sizes, ties), the
 * finite-difference gradient check, the accumulate contract, the NULL skip, NaN propagation
 * and thread-count independence. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/pool.h"
#include "testutil.h"

typedef struct {
    int B, H, W, C;
} shape;

/* Odd sizes (the last row and column are dropped), C = 1, and the classifier's 28x28x16 with a
 * batch large enough for the kernels to go parallel. */
static const shape shapes[] = {
    {1, 2, 2, 1}, {3, 7, 5, 3}, {2, 4, 6, 16}, {1, 14, 14, 32}, {8, 28, 28, 16},
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

static size_t in_count(shape s) { return (size_t)s.B * s.H * s.W * s.C; }
static size_t out_count(shape s) { return (size_t)s.B * (s.H / 2) * (s.W / 2) * s.C; }

static float *random_tensor(size_t n, uint32_t seed)
{
    float *x = fd_malloc(n * sizeof(float));
    tu_fill_normal(x, n, seed, 1.0f);
    return x;
}

/* ---- the naive twin: direct loops over each window ------------------------------------------ */

static size_t at(shape s, int b, int y, int x, int c)
{
    return (((size_t)b * s.H + y) * s.W + x) * s.C + c;
}

/* The position of window (b, yo, xo, c)'s maximum: the first in row-major order on ties. */
static size_t ref_argmax(const float *inp, shape s, int b, int yo, int xo, int c)
{
    size_t best = at(s, b, 2 * yo, 2 * xo, c);
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            size_t i = at(s, b, 2 * yo + dy, 2 * xo + dx, c);
            if (inp[i] > inp[best]) best = i;
        }
    return best;
}

static void ref_forward(float *out, const float *inp, shape s)
{
    size_t o = 0;
    for (int b = 0; b < s.B; b++)
        for (int yo = 0; yo < s.H / 2; yo++)
            for (int xo = 0; xo < s.W / 2; xo++)
                for (int c = 0; c < s.C; c++) out[o++] = inp[ref_argmax(inp, s, b, yo, xo, c)];
}

static void ref_backward(float *dinp, const float *dout, const float *inp, shape s)
{
    size_t o = 0;
    for (int b = 0; b < s.B; b++)
        for (int yo = 0; yo < s.H / 2; yo++)
            for (int xo = 0; xo < s.W / 2; xo++)
                for (int c = 0; c < s.C; c++) dinp[ref_argmax(inp, s, b, yo, xo, c)] += dout[o++];
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* Forward exact; backward from a non-zero start (it must add) equal to the twin's. Values
 * rounded to multiples of 0.25 make ties common, so the tie rule is tested too. */
static void test_maxpool_matches_twin(void **state)
{
    (void)state;
    for (int k = 0; k < N_SHAPES; k++) {
        shape s = shapes[k];
        for (int rounded = 0; rounded < 2; rounded++) {
            float *inp = random_tensor(in_count(s), 10 + (uint32_t)k);
            if (rounded)
                for (size_t i = 0; i < in_count(s); i++) inp[i] = roundf(4.0f * inp[i]) / 4.0f;
            float *out = fd_malloc(out_count(s) * sizeof(float));
            float *ref = fd_malloc(out_count(s) * sizeof(float));
            fd_maxpool2x2_forward(out, inp, s.B, s.H, s.W, s.C);
            ref_forward(ref, inp, s);
            assert_memory_equal(out, ref, out_count(s) * sizeof(float));

            float *dout = random_tensor(out_count(s), 20 + (uint32_t)k);
            float *dinp = random_tensor(in_count(s), 30 + (uint32_t)k);
            float *dref = fd_malloc(in_count(s) * sizeof(float));
            memcpy(dref, dinp, in_count(s) * sizeof(float));
            fd_maxpool2x2_backward(dinp, dout, inp, s.B, s.H, s.W, s.C);
            ref_backward(dref, dout, inp, s);
            assert_memory_equal(dinp, dref, in_count(s) * sizeof(float));
            fd_maxpool2x2_backward(NULL, dout, inp, s.B, s.H, s.W, s.C); /* skipped */
            free(inp);
            free(out);
            free(ref);
            free(dout);
            free(dinp);
            free(dref);
        }
    }
}

typedef struct {
    shape s;
    float *inp;
} pool_ctx;

static void pool_of_ctx(void *p, float *out)
{
    pool_ctx *c = p;
    fd_maxpool2x2_forward(out, c->inp, c->s.B, c->s.H, c->s.W, c->s.C);
}

/* Distinct inputs 0.05 apart, so that no step h = 1e-2 changes which value is a maximum. */
static void test_maxpool_gradcheck(void **state)
{
    (void)state;
    static const shape checked[] = {{1, 2, 2, 1}, {1, 5, 7, 3}, {2, 6, 6, 4}};
    for (size_t k = 0; k < sizeof checked / sizeof checked[0]; k++) {
        shape s = checked[k];
        const size_t n = in_count(s);
        pool_ctx c = {s, fd_malloc(n * sizeof(float))};
        for (size_t i = 0; i < n; i++) c.inp[i] = 0.05f * (float)((i * 7919) % n) - 1.0f;
        float *out = fd_malloc(out_count(s) * sizeof(float));
        float *dout = random_tensor(out_count(s), 50 + (uint32_t)k);
        float *dinp = fd_calloc(n, sizeof(float));
        fd_maxpool2x2_backward(dinp, dout, c.inp, s.B, s.H, s.W, s.C);
        double err =
            tu_gradcheck(pool_of_ctx, &c, out, out_count(s), dout, c.inp, dinp, n, 400, 1e-2f);
        tu_assert_err_below(err, 1e-3, "maxpool dinp gradcheck");
        free(c.inp);
        free(out);
        free(dout);
        free(dinp);
    }
}

static void test_maxpool_propagates_nan(void **state)
{
    (void)state;
    shape s = {1, 2, 4, 1};
    /* A NaN in each place of a window, and one window without. */
    for (int pos = 0; pos < 4; pos++) {
        float inp[8] = {1, 2, 5, 6, 3, 4, 7, 8}; /* windows {1, 2, 3, 4} and {5, 6, 7, 8} */
        const int where[4] = {0, 1, 4, 5};
        inp[where[pos]] = NAN;
        float out[2], dout[2] = {1, 1}, dinp[8] = {0};
        fd_maxpool2x2_forward(out, inp, s.B, s.H, s.W, s.C);
        assert_true(isnan(out[0]));
        assert_true(out[1] == 8.0f);
        fd_maxpool2x2_backward(dinp, dout, inp, s.B, s.H, s.W, s.C);
        assert_true(dinp[where[pos]] == 1.0f && dinp[7] == 1.0f); /* the gradient goes to the NaN */
    }
}

typedef struct {
    shape s;
    const float *inp, *dout;
} pool_pair_ctx;

/* out: the forward's output, then the backward's input gradient. */
static void maxpool_both(void *p, float *out)
{
    const pool_pair_ctx *c = p;
    const shape s = c->s;
    fd_maxpool2x2_forward(out, c->inp, s.B, s.H, s.W, s.C);
    fd_maxpool2x2_backward(out + out_count(s), c->dout, c->inp, s.B, s.H, s.W, s.C);
}

static void test_maxpool_thread_count_independent(void **state)
{
    (void)state;
    const shape s = shapes[N_SHAPES - 1];
    pool_pair_ctx c = {s, random_tensor(in_count(s), 60), random_tensor(out_count(s), 61)};
    tu_assert_thread_count_independent(maxpool_both, &c, out_count(s) + in_count(s));
    free((float *)c.inp);
    free((float *)c.dout);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool_matches_twin),
        cmocka_unit_test(test_maxpool_gradcheck),
        cmocka_unit_test(test_maxpool_propagates_nan),
        cmocka_unit_test(test_maxpool_thread_count_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
