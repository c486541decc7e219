/* Linear layer: the kernel against its naive double twin (with and without bias), the
 * finite-difference gradient checks of dinp, dweight and dbias, the accumulate contract, the
 * NULL skips and thread-count independence. */
#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/blas.h"
#include "feddiff/error.h"
#include "feddiff/linear.h"
#include "feddiff/scratch.h"
#include "testutil.h"

/* ---- naive twin, in double ---------------------------------------------------------------- */

static void linear_forward_ref(float *out, const float *inp, const float *weight, const float *bias,
                               int N, int IC, int OC)
{
    for (int r = 0; r < N; r++)
        for (int o = 0; o < OC; o++) {
            double sum = bias ? bias[o] : 0.0;
            for (int i = 0; i < IC; i++)
                sum += (double)inp[(size_t)r * IC + i] * weight[(size_t)o * IC + i];
            out[(size_t)r * OC + o] = (float)sum;
        }
}

static void linear_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight, int N, int IC, int OC)
{
    for (int r = 0; r < N; r++)
        for (int i = 0; i < IC; i++) {
            double sum = dinp[(size_t)r * IC + i];
            for (int o = 0; o < OC; o++)
                sum += (double)dout[(size_t)r * OC + o] * weight[(size_t)o * IC + i];
            dinp[(size_t)r * IC + i] = (float)sum;
        }
    for (int o = 0; o < OC; o++) {
        for (int i = 0; i < IC; i++) {
            double sum = dweight[(size_t)o * IC + i];
            for (int r = 0; r < N; r++)
                sum += (double)dout[(size_t)r * OC + o] * inp[(size_t)r * IC + i];
            dweight[(size_t)o * IC + i] = (float)sum;
        }
        double sum = dbias[o];
        for (int r = 0; r < N; r++) sum += dout[(size_t)r * OC + o];
        dbias[o] = (float)sum;
    }
}

/* ---- a problem: tensors of one shape ------------------------------------------------------ */

typedef struct {
    int N, IC, OC;
} shape;

/* The time-embedding MLP (N = batch), attention's 1x1 projections (N = batch * 49), N = 1,
 * odd sizes; the last is large enough for the OpenMP path of the bias gradient. */
static const shape shapes[] = {{1, 32, 128},   {3, 7, 5}, {147, 64, 192}, {147, 33, 17},
                               {64, 128, 128}, {1, 1, 1}, {343, 64, 192}};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

typedef struct {
    int N, IC, OC;
    float *inp, *weight, *bias, *dout;   /* [N][IC], [OC][IC], [OC], [N][OC] */
    float *out, *dinp, *dweight, *dbias; /* outputs and gradients, same shapes */
} problem;

static float *normal(size_t n, uint32_t seed, float scale)
{
    float *x = fd_malloc(n * sizeof *x);
    tu_fill_normal(x, n, seed, scale);
    return x;
}

static problem problem_new(shape s, uint32_t seed)
{
    size_t ni = (size_t)s.N * s.IC, nw = (size_t)s.OC * s.IC, no = (size_t)s.N * s.OC;
    problem p = {.N = s.N, .IC = s.IC, .OC = s.OC};
    p.inp = normal(ni, seed, 1.0f);
    p.weight = normal(nw, seed + 1, 0.3f);
    p.bias = normal((size_t)s.OC, seed + 2, 1.0f);
    p.dout = normal(no, seed + 3, 1.0f);
    p.out = fd_calloc(no, sizeof(float));
    p.dinp = fd_calloc(ni, sizeof(float));
    p.dweight = fd_calloc(nw, sizeof(float));
    p.dbias = fd_calloc((size_t)s.OC, sizeof(float));
    return p;
}

static void problem_free(problem *p)
{
    float *all[] = {p->inp, p->weight, p->bias, p->dout, p->out, p->dinp, p->dweight, p->dbias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static size_t n_inp(const problem *p) { return (size_t)p->N * p->IC; }
static size_t n_weight(const problem *p) { return (size_t)p->OC * p->IC; }
static size_t n_out(const problem *p) { return (size_t)p->N * p->OC; }

static float *copy(const float *x, size_t n)
{
    float *y = fd_malloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_linear_forward_matches_twin(void **state)
{
    (void)state;
    for (int k = 0; k < N_SHAPES; k++) {
        problem p = problem_new(shapes[k], 10 * (uint32_t)k);
        float *want = fd_malloc(n_out(&p) * sizeof *want);
        for (int with_bias = 0; with_bias <= 1; with_bias++) {
            const float *bias = with_bias ? p.bias : NULL;
            linear_forward_ref(want, p.inp, p.weight, bias, p.N, p.IC, p.OC);
            fd_linear_forward(p.out, p.inp, p.weight, bias, p.N, p.IC, p.OC);
            tu_assert_err_below(tu_rel_err(p.out, want, n_out(&p)), 1e-5,
                                with_bias ? "linear forward" : "linear forward, no bias");
        }
        free(want);
        problem_free(&p);
    }
}

/* Backward into non-zero gradients, against the twin doing the same: the values and the
 * accumulate contract at once. */
static void test_linear_backward_matches_twin_and_accumulates(void **state)
{
    (void)state;
    for (int k = 0; k < N_SHAPES; k++) {
        problem p = problem_new(shapes[k], 100 + 10 * (uint32_t)k);
        tu_fill_normal(p.dinp, n_inp(&p), 7, 1.0f);
        tu_fill_normal(p.dweight, n_weight(&p), 8, 1.0f);
        tu_fill_normal(p.dbias, (size_t)p.OC, 9, 1.0f);
        float *dinp = copy(p.dinp, n_inp(&p)), *dweight = copy(p.dweight, n_weight(&p));
        float *dbias = copy(p.dbias, (size_t)p.OC);
        linear_backward_ref(dinp, dweight, dbias, p.dout, p.inp, p.weight, p.N, p.IC, p.OC);
        fd_linear_backward(p.dinp, p.dweight, p.dbias, p.dout, p.inp, p.weight, p.N, p.IC, p.OC);
        tu_assert_err_below(tu_rel_err(p.dinp, dinp, n_inp(&p)), 1e-5, "linear dinp");
        tu_assert_err_below(tu_rel_err(p.dweight, dweight, n_weight(&p)), 1e-5, "linear dweight");
        tu_assert_err_below(tu_rel_err(p.dbias, dbias, (size_t)p.OC), 1e-5, "linear dbias");
        free(dinp);
        free(dweight);
        free(dbias);
        problem_free(&p);
    }
}

/* Each gradient alone (the others NULL) equals the same gradient computed with all three. */
static void test_linear_backward_null_skips(void **state)
{
    (void)state;
    problem p = problem_new((shape){147, 33, 17}, 200);
    fd_linear_backward(p.dinp, p.dweight, p.dbias, p.dout, p.inp, p.weight, p.N, p.IC, p.OC);
    float *dinp = fd_calloc(n_inp(&p), sizeof *dinp);
    float *dweight = fd_calloc(n_weight(&p), sizeof *dweight);
    float *dbias = fd_calloc((size_t)p.OC, sizeof *dbias);
    fd_linear_backward(dinp, NULL, NULL, p.dout, p.inp, p.weight, p.N, p.IC, p.OC);
    fd_linear_backward(NULL, dweight, NULL, p.dout, p.inp, p.weight, p.N, p.IC, p.OC);
    fd_linear_backward(NULL, NULL, dbias, p.dout, p.inp, p.weight, p.N, p.IC, p.OC);
    fd_linear_backward(NULL, NULL, NULL, p.dout, p.inp, p.weight, p.N, p.IC, p.OC);
    assert_memory_equal(dinp, p.dinp, n_inp(&p) * sizeof *dinp);
    assert_memory_equal(dweight, p.dweight, n_weight(&p) * sizeof *dweight);
    assert_memory_equal(dbias, p.dbias, (size_t)p.OC * sizeof *dbias);
    free(dinp);
    free(dweight);
    free(dbias);
    problem_free(&p);
}

static void linear_forward_fn(void *ctx, float *out)
{
    problem *p = ctx;
    fd_linear_forward(out, p->inp, p->weight, p->bias, p->N, p->IC, p->OC);
}

static void test_linear_gradcheck(void **state)
{
    (void)state;
    const shape small[] = {{1, 5, 3}, {3, 7, 5}, {147, 9, 4}, {2, 32, 16}};
    for (size_t k = 0; k < sizeof small / sizeof small[0]; k++) {
        problem p = problem_new(small[k], 300 + 10 * (uint32_t)k);
        fd_linear_backward(p.dinp, p.dweight, p.dbias, p.dout, p.inp, p.weight, p.N, p.IC, p.OC);
        const size_t points = 60;
        const float h = 1e-2f;
        tu_assert_err_below(tu_gradcheck(linear_forward_fn, &p, p.out, n_out(&p), p.dout, p.inp,
                                         p.dinp, n_inp(&p), points, h),
                            1e-3, "linear dinp gradcheck");
        tu_assert_err_below(tu_gradcheck(linear_forward_fn, &p, p.out, n_out(&p), p.dout, p.weight,
                                         p.dweight, n_weight(&p), points, h),
                            1e-3, "linear dweight gradcheck");
        tu_assert_err_below(tu_gradcheck(linear_forward_fn, &p, p.out, n_out(&p), p.dout, p.bias,
                                         p.dbias, (size_t)p.OC, points, h),
                            1e-3, "linear dbias gradcheck");
        problem_free(&p);
    }
}

static void test_linear_thread_count_independent(void **state)
{
    (void)state;
    problem one = problem_new((shape){3136, 64, 192}, 400),
            two = problem_new((shape){3136, 64, 192}, 400);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    fd_linear_forward(one.out, one.inp, one.weight, one.bias, one.N, one.IC, one.OC);
    fd_linear_backward(one.dinp, one.dweight, one.dbias, one.dout, one.inp, one.weight, one.N,
                       one.IC, one.OC);
    omp_set_num_threads(2);
    fd_linear_forward(two.out, two.inp, two.weight, two.bias, two.N, two.IC, two.OC);
    fd_linear_backward(two.dinp, two.dweight, two.dbias, two.dout, two.inp, two.weight, two.N,
                       two.IC, two.OC);
    omp_set_num_threads(saved);
    tu_assert_err_below(tu_rel_err(two.out, one.out, n_out(&one)), 1e-6, "out, 1 vs 2 threads");
    tu_assert_err_below(tu_rel_err(two.dinp, one.dinp, n_inp(&one)), 1e-6, "dinp, 1 vs 2 threads");
    tu_assert_err_below(tu_rel_err(two.dweight, one.dweight, n_weight(&one)), 1e-6,
                        "dweight, 1 vs 2 threads");
    tu_assert_err_below(tu_rel_err(two.dbias, one.dbias, (size_t)one.OC), 1e-6,
                        "dbias, 1 vs 2 threads");
    problem_free(&one);
    problem_free(&two);
}

int main(void)
{
    fd_blas_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_forward_matches_twin),
        cmocka_unit_test(test_linear_backward_matches_twin_and_accumulates),
        cmocka_unit_test(test_linear_backward_null_skips),
        cmocka_unit_test(test_linear_gradcheck),
        cmocka_unit_test(test_linear_thread_count_independent),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    fd_scratch_release();
    return failed;
}
