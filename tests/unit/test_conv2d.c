/* 2-D convolution: the kernel against its naive double twin (forward and all three gradients)
 * over odd sizes, K = 1 and 3, stride 1 and 2, with and without bias, and shapes that span
 * several chunks; finite-difference gradient checks of dinp, dweight and dbias; the
 * accumulate contract, the NULL skips and thread-count independence. */
#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/blas.h"
#include "feddiff/conv2d.h"
#include "feddiff/error.h"
#include "feddiff/scratch.h"
#include "testutil.h"

/* ---- naive twin, direct loops over NHWC in double ------------------------------------------ */

typedef struct {
    int B, H, W, C_in, C_out, K, stride;
    bool bias;
} shape;

static int out_h(const shape *s) { return fd_conv2d_out_size(s->H, s->K, s->stride); }
static int out_w(const shape *s) { return fd_conv2d_out_size(s->W, s->K, s->stride); }

/* Calls visit(ctx, o, i, w) for every (output, input, weight) index triple that the
 * convolution multiplies: out[o][co] gets inp[i][ci] * weight[w] with o, i pixel indices and
 * w = ((co*C_in + ci)*K + kh)*K + kw. The direct loop shared by the twin's three passes. */
typedef struct {
    size_t out_pixel, in_pixel;
    int kh, kw;
} tap;

static size_t count_taps(const shape *s, tap *taps)
{
    const int Ho = out_h(s), Wo = out_w(s), pad = s->K / 2;
    size_t n = 0;
    for (int b = 0; b < s->B; b++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                for (int kh = 0; kh < s->K; kh++)
                    for (int kw = 0; kw < s->K; kw++) {
                        int ih = oh * s->stride + kh - pad, iw = ow * s->stride + kw - pad;
                        if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                        if (taps) {
                            taps[n].out_pixel = ((size_t)b * Ho + oh) * Wo + ow;
                            taps[n].in_pixel = ((size_t)b * s->H + ih) * s->W + iw;
                            taps[n].kh = kh;
                            taps[n].kw = kw;
                        }
                        n++;
                    }
    return n;
}

static size_t weight_index(const shape *s, int co, int ci, int kh, int kw)
{
    return (((size_t)co * s->C_in + ci) * s->K + kh) * s->K + kw;
}

static void conv_forward_ref(float *out, const float *inp, const float *weight,
                             const float *bias, const shape *s)
{
    const size_t n_pix = (size_t)s->B * out_h(s) * out_w(s);
    double *acc = fd_calloc(n_pix * s->C_out, sizeof *acc);
    size_t n_taps = count_taps(s, NULL);
    tap *taps = fd_malloc(n_taps * sizeof *taps);
    count_taps(s, taps);
    for (size_t t = 0; t < n_taps; t++)
        for (int co = 0; co < s->C_out; co++)
            for (int ci = 0; ci < s->C_in; ci++)
                acc[taps[t].out_pixel * s->C_out + co] +=
                    (double)inp[taps[t].in_pixel * s->C_in + ci] *
                    weight[weight_index(s, co, ci, taps[t].kh, taps[t].kw)];
    for (size_t p = 0; p < n_pix; p++)
        for (int co = 0; co < s->C_out; co++)
            out[p * s->C_out + co] = (float)(acc[p * s->C_out + co] + (bias ? bias[co] : 0.0));
    free(taps);
    free(acc);
}

/* Accumulates (+=) like the kernel; NULL skips. */
static void conv_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                              const float *inp, const float *weight, const shape *s)
{
    const size_t n_out_pix = (size_t)s->B * out_h(s) * out_w(s);
    const size_t n_in = (size_t)s->B * s->H * s->W * s->C_in;
    const size_t n_w = (size_t)s->C_out * s->C_in * s->K * s->K;
    double *acc_in = fd_calloc(n_in, sizeof *acc_in), *acc_w = fd_calloc(n_w, sizeof *acc_w);
    size_t n_taps = count_taps(s, NULL);
    tap *taps = fd_malloc(n_taps * sizeof *taps);
    count_taps(s, taps);
    for (size_t t = 0; t < n_taps; t++)
        for (int co = 0; co < s->C_out; co++) {
            double g = dout[taps[t].out_pixel * s->C_out + co];
            for (int ci = 0; ci < s->C_in; ci++) {
                size_t w = weight_index(s, co, ci, taps[t].kh, taps[t].kw);
                acc_in[taps[t].in_pixel * s->C_in + ci] += g * weight[w];
                acc_w[w] += g * inp[taps[t].in_pixel * s->C_in + ci];
            }
        }
    if (dinp)
        for (size_t i = 0; i < n_in; i++) dinp[i] = (float)(dinp[i] + acc_in[i]);
    if (dweight)
        for (size_t i = 0; i < n_w; i++) dweight[i] = (float)(dweight[i] + acc_w[i]);
    if (dbias)
        for (int co = 0; co < s->C_out; co++) {
            double sum = dbias[co];
            for (size_t p = 0; p < n_out_pix; p++) sum += dout[p * s->C_out + co];
            dbias[co] = (float)sum;
        }
    free(taps);
    free(acc_in);
    free(acc_w);
}

/* ---- a problem: tensors of one shape ------------------------------------------------------ */

typedef struct {
    shape s;
    float *inp, *weight, *bias, *dout;   /* bias NULL when the shape has none */
    float *out, *dinp, *dweight, *dbias; /* outputs and gradients */
} problem;

static size_t n_inp(const shape *s) { return (size_t)s->B * s->H * s->W * s->C_in; }
static size_t n_out(const shape *s) { return (size_t)s->B * out_h(s) * out_w(s) * s->C_out; }
static size_t n_weight(const shape *s) { return (size_t)s->C_out * s->C_in * s->K * s->K; }

static float *normal(size_t n, uint32_t seed, float scale)
{
    float *x = fd_malloc(n * sizeof *x);
    tu_fill_normal(x, n, seed, scale);
    return x;
}

/* Gradients start non-zero, so every comparison also checks the accumulate contract. */
static problem problem_new(shape s, uint32_t seed)
{
    problem p = {.s = s};
    p.inp = normal(n_inp(&s), seed, 1.0f);
    p.weight = normal(n_weight(&s), seed + 1, 0.3f);
    p.bias = s.bias ? normal((size_t)s.C_out, seed + 2, 0.5f) : NULL;
    p.dout = normal(n_out(&s), seed + 3, 1.0f);
    p.out = normal(n_out(&s), seed + 4, 1.0f); /* forward must overwrite this */
    p.dinp = normal(n_inp(&s), seed + 5, 1.0f);
    p.dweight = normal(n_weight(&s), seed + 6, 1.0f);
    p.dbias = normal((size_t)s.C_out, seed + 7, 1.0f);
    return p;
}

static float *copy_of(const float *x, size_t n)
{
    float *y = fd_malloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

static void problem_free(problem *p)
{
    free(p->inp);
    free(p->weight);
    free(p->bias);
    free(p->dout);
    free(p->out);
    free(p->dinp);
    free(p->dweight);
    free(p->dbias);
}

static void run_forward(problem *p)
{
    const shape *s = &p->s;
    fd_conv2d_forward(p->out, p->inp, p->weight, p->bias, s->B, s->H, s->W, s->C_in, s->C_out,
                      s->K, s->stride);
}

static void run_backward(problem *p, float *dinp, float *dweight, float *dbias)
{
    const shape *s = &p->s;
    fd_conv2d_backward(dinp, dweight, dbias, p->dout, p->inp, p->weight, s->B, s->H, s->W,
                       s->C_in, s->C_out, s->K, s->stride);
}

/* Small shapes: batch 1, 2 and 3, odd and even sizes, K 1 and 3, stride 1 and 2 (odd input:
 * 7 -> 4, 5 -> 3), channels that are not multiples of 8, every formulation of the kernel
 * (forward by im2col below 16 input channels, by taps or by rows from 16; dweight by taps when
 * C_in > C_out). */
static const shape small_shapes[] = {
    {1, 5, 7, 3, 5, 3, 1, true},   /* im2col */
    {3, 7, 7, 5, 6, 3, 2, false},  /* im2col, stride 2, 7 -> 4 */
    {3, 5, 7, 5, 6, 1, 1, true},   /* 1x1 */
    {2, 7, 5, 4, 3, 1, 2, true},   /* 1x1, stride 2 */
    {1, 6, 8, 13, 11, 3, 2, true}, /* im2col, stride 2, even input */
    {2, 4, 4, 1, 9, 3, 1, true},   /* one input channel, as conv_in */
    {1, 1, 1, 3, 2, 3, 2, true},   /* a single pixel */
    {3, 7, 5, 18, 1, 3, 1, false}, /* one output channel, as conv_out; by taps */
    {2, 5, 7, 17, 6, 3, 1, true},  /* by taps */
    {1, 6, 5, 16, 3, 3, 1, false}, /* by taps */
    {3, 7, 7, 17, 6, 3, 2, true},  /* by rows, 7 -> 4 */
    {2, 6, 8, 16, 5, 3, 2, false}, /* by rows, even input */
    {1, 1, 2, 16, 3, 3, 2, true},  /* by rows, a single input row */
};
/* Large enough for several chunks of positions on two threads: chunks that end mid-row
 * (im2col), chunks of whole images (by taps, by rows, col2im, sum_taps), rows so wide that the
 * scratch cap shortens the chunks, a 1x1 convolution. */
static const shape chunked_shapes[] = {
    {9, 33, 31, 20, 12, 3, 2, true}, {5, 23, 23, 20, 16, 3, 1, true},
    {9, 33, 33, 6, 24, 3, 2, false}, {3, 29, 29, 12, 20, 3, 1, true},
    {1, 45, 45, 250, 5, 3, 1, true}, {4, 29, 31, 40, 30, 1, 1, true},
};
enum {
    N_SMALL = sizeof small_shapes / sizeof small_shapes[0],
    N_CHUNKED = sizeof chunked_shapes / sizeof chunked_shapes[0],
    N_SHAPES = N_SMALL + N_CHUNKED
};

static shape shape_at(int i) { return i < N_SMALL ? small_shapes[i] : chunked_shapes[i - N_SMALL]; }

/* float32 GEMMs against a double reference */
static const double twin_tol = 1e-4;

static void test_forward_matches_twin(void **state)
{
    (void)state;
    for (int i = 0; i < N_SHAPES; i++) {
        problem p = problem_new(shape_at(i), 100u + 10u * i);
        float *expect = fd_malloc(n_out(&p.s) * sizeof *expect);
        conv_forward_ref(expect, p.inp, p.weight, p.bias, &p.s);
        run_forward(&p);
        tu_assert_err_below(tu_rel_err(p.out, expect, n_out(&p.s)), twin_tol, "forward");
        free(expect);
        problem_free(&p);
    }
}

static void test_backward_matches_twin_and_accumulates(void **state)
{
    (void)state;
    for (int i = 0; i < N_SHAPES; i++) {
        problem p = problem_new(shape_at(i), 200u + 10u * i);
        const shape *s = &p.s;
        float *dinp = copy_of(p.dinp, n_inp(s)), *dweight = copy_of(p.dweight, n_weight(s));
        float *dbias = copy_of(p.dbias, (size_t)s->C_out);
        conv_backward_ref(dinp, dweight, dbias, p.dout, p.inp, p.weight, s);
        run_backward(&p, p.dinp, p.dweight, p.dbias);
        tu_assert_err_below(tu_rel_err(p.dinp, dinp, n_inp(s)), twin_tol, "dinp");
        tu_assert_err_below(tu_rel_err(p.dweight, dweight, n_weight(s)), twin_tol, "dweight");
        tu_assert_err_below(tu_rel_err(p.dbias, dbias, (size_t)s->C_out), twin_tol, "dbias");
        free(dinp);
        free(dweight);
        free(dbias);
        problem_free(&p);
    }
}

/* Any subset of the gradients, the others NULL, matches the twin; all three NULL is a no-op. */
static void test_null_gradients_are_skipped(void **state)
{
    (void)state;
    for (int i = 0; i < N_SHAPES; i++) {
        problem p = problem_new(shape_at(i), 300u + 10u * i);
        const shape *s = &p.s;
        float *dinp = copy_of(p.dinp, n_inp(s)), *dweight = copy_of(p.dweight, n_weight(s));
        float *dbias = copy_of(p.dbias, (size_t)s->C_out);
        conv_backward_ref(dinp, dweight, dbias, p.dout, p.inp, p.weight, s);

        float *only_dinp = copy_of(p.dinp, n_inp(s));
        run_backward(&p, only_dinp, NULL, NULL);
        tu_assert_err_below(tu_rel_err(only_dinp, dinp, n_inp(s)), twin_tol, "dinp alone");
        float *only_dweight = copy_of(p.dweight, n_weight(s));
        run_backward(&p, NULL, only_dweight, NULL);
        tu_assert_err_below(tu_rel_err(only_dweight, dweight, n_weight(s)), twin_tol,
                            "dweight alone");
        float *only_dbias = copy_of(p.dbias, (size_t)s->C_out);
        run_backward(&p, NULL, NULL, only_dbias);
        tu_assert_err_below(tu_rel_err(only_dbias, dbias, (size_t)s->C_out), twin_tol,
                            "dbias alone");
        float *without_dinp = copy_of(p.dweight, n_weight(s));
        float *without_dinp_bias = copy_of(p.dbias, (size_t)s->C_out);
        run_backward(&p, NULL, without_dinp, without_dinp_bias);
        tu_assert_err_below(tu_rel_err(without_dinp, dweight, n_weight(s)), twin_tol,
                            "dweight without dinp");
        tu_assert_err_below(tu_rel_err(without_dinp_bias, dbias, (size_t)s->C_out), twin_tol,
                            "dbias without dinp");

        run_backward(&p, NULL, NULL, NULL); /* nothing to do, must not crash */
        free(only_dinp);
        free(only_dweight);
        free(only_dbias);
        free(without_dinp);
        free(without_dinp_bias);
        free(dinp);
        free(dweight);
        free(dbias);
        problem_free(&p);
    }
}

/* Backward twice accumulates twice: g0 + 2 * grad. */
static void test_backward_accumulates_twice(void **state)
{
    (void)state;
    problem p = problem_new(small_shapes[1], 400u);
    const shape *s = &p.s;
    float *dinp0 = copy_of(p.dinp, n_inp(s)), *dweight0 = copy_of(p.dweight, n_weight(s));
    float *dbias0 = copy_of(p.dbias, (size_t)s->C_out);
    conv_backward_ref(dinp0, dweight0, dbias0, p.dout, p.inp, p.weight, s);
    conv_backward_ref(dinp0, dweight0, dbias0, p.dout, p.inp, p.weight, s);
    run_backward(&p, p.dinp, p.dweight, p.dbias);
    run_backward(&p, p.dinp, p.dweight, p.dbias);
    tu_assert_err_below(tu_rel_err(p.dinp, dinp0, n_inp(s)), twin_tol, "dinp twice");
    tu_assert_err_below(tu_rel_err(p.dweight, dweight0, n_weight(s)), twin_tol, "dweight twice");
    tu_assert_err_below(tu_rel_err(p.dbias, dbias0, (size_t)s->C_out), twin_tol, "dbias twice");
    free(dinp0);
    free(dweight0);
    free(dbias0);
    problem_free(&p);
}

/* ---- finite differences -------------------------------------------------------------------- */

static void gradcheck_forward(void *ctx, float *out)
{
    const problem *p = ctx;
    const shape *s = &p->s;
    fd_conv2d_forward(out, p->inp, p->weight, p->bias, s->B, s->H, s->W, s->C_in, s->C_out,
                      s->K, s->stride);
}

static void test_gradients_match_finite_differences(void **state)
{
    (void)state;
    const shape small[] = {
        {1, 5, 7, 3, 4, 3, 1, true}, {2, 7, 5, 2, 3, 3, 2, true}, {2, 5, 5, 3, 2, 1, 1, true},
        {1, 7, 7, 2, 3, 1, 2, true}, {1, 6, 6, 3, 2, 3, 2, true}, {1, 4, 5, 16, 3, 3, 1, true},
        {1, 5, 6, 16, 2, 3, 2, true},
    };
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        problem p = problem_new(small[i], 500u + 10u * (uint32_t)i);
        const shape *s = &p.s;
        /* analytic gradients from zero */
        memset(p.dinp, 0, n_inp(s) * sizeof(float));
        memset(p.dweight, 0, n_weight(s) * sizeof(float));
        memset(p.dbias, 0, (size_t)s->C_out * sizeof(float));
        run_backward(&p, p.dinp, p.dweight, p.dbias);
        float *out = p.out;
        const size_t no = n_out(s);
        double e_inp = tu_gradcheck(gradcheck_forward, &p, out, no, p.dout, p.inp, p.dinp,
                                    n_inp(s), 60, 1e-2f);
        double e_w = tu_gradcheck(gradcheck_forward, &p, out, no, p.dout, p.weight, p.dweight,
                                  n_weight(s), 60, 1e-2f);
        double e_b = tu_gradcheck(gradcheck_forward, &p, out, no, p.dout, p.bias, p.dbias,
                                  (size_t)s->C_out, 60, 1e-2f);
        tu_assert_err_below(e_inp, 1e-3, "gradcheck dinp");
        tu_assert_err_below(e_w, 1e-3, "gradcheck dweight");
        tu_assert_err_below(e_b, 1e-3, "gradcheck dbias");
        problem_free(&p);
    }
}

/* ---- threads ------------------------------------------------------------------------------ */

/* One thread against two, on the chunk-spanning shapes: only float summation order may differ. */
static void test_thread_count_does_not_change_result(void **state)
{
    (void)state;
    const int saved = omp_get_max_threads();
    for (int i = 0; i < N_CHUNKED; i++) {
        problem one = problem_new(chunked_shapes[i], 600u + 10u * i);
        problem two = problem_new(chunked_shapes[i], 600u + 10u * i);
        const shape *s = &one.s;
        omp_set_num_threads(1);
        run_forward(&one);
        run_backward(&one, one.dinp, one.dweight, one.dbias);
        omp_set_num_threads(2);
        run_forward(&two);
        run_backward(&two, two.dinp, two.dweight, two.dbias);
        omp_set_num_threads(saved);
        tu_assert_err_below(tu_rel_err(two.out, one.out, n_out(s)), 1e-5, "out, 1 vs 2 threads");
        tu_assert_err_below(tu_rel_err(two.dinp, one.dinp, n_inp(s)), 1e-5,
                            "dinp, 1 vs 2 threads");
        tu_assert_err_below(tu_rel_err(two.dweight, one.dweight, n_weight(s)), 1e-5,
                            "dweight, 1 vs 2 threads");
        tu_assert_err_below(tu_rel_err(two.dbias, one.dbias, (size_t)s->C_out), 1e-5,
                            "dbias, 1 vs 2 threads");
        problem_free(&one);
        problem_free(&two);
    }
}

/* Same thread count, same result, bit for bit (the partial sums are reduced in a fixed order),
 * both dweight formulations. */
static void test_backward_is_reproducible(void **state)
{
    (void)state;
    for (int i = 0; i < N_CHUNKED; i++) {
        problem a = problem_new(chunked_shapes[i], 700u), b = problem_new(chunked_shapes[i], 700u);
        const shape *s = &a.s;
        run_backward(&a, a.dinp, a.dweight, a.dbias);
        run_backward(&b, b.dinp, b.dweight, b.dbias);
        assert_memory_equal(a.dinp, b.dinp, n_inp(s) * sizeof(float));
        assert_memory_equal(a.dweight, b.dweight, n_weight(s) * sizeof(float));
        assert_memory_equal(a.dbias, b.dbias, (size_t)s->C_out * sizeof(float));
        problem_free(&a);
        problem_free(&b);
    }
}

static void test_out_size(void **state)
{
    (void)state;
    assert_int_equal(fd_conv2d_out_size(28, 3, 1), 28);
    assert_int_equal(fd_conv2d_out_size(28, 3, 2), 14);
    assert_int_equal(fd_conv2d_out_size(7, 3, 2), 4);
    assert_int_equal(fd_conv2d_out_size(7, 1, 2), 4);
    assert_int_equal(fd_conv2d_out_size(1, 3, 2), 1);
    assert_int_equal(fd_conv2d_out_size(5, 1, 1), 5);
}

int main(void)
{
    fd_blas_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_size),
        cmocka_unit_test(test_forward_matches_twin),
        cmocka_unit_test(test_backward_matches_twin_and_accumulates),
        cmocka_unit_test(test_null_gradients_are_skipped),
        cmocka_unit_test(test_backward_accumulates_twice),
        cmocka_unit_test(test_gradients_match_finite_differences),
        cmocka_unit_test(test_thread_count_does_not_change_result),
        cmocka_unit_test(test_backward_is_reproducible),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    fd_scratch_release();
    return failed;
}
