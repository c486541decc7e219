/* GroupNorm: the kernel against its naive double twin at several shapes (G = 1, G = C,
 * HW = 49 and 7, B = 1), the statistics of its output, precision under a large common offset,
 * the finite-difference gradient checks of dinp, dgamma and dbeta, the accumulate contract,
 * the NULL skips and thread-count independence. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/groupnorm.h"
#include "feddiff/scratch.h"
#include "testutil.h"

/* ---- naive twin, in double ---------------------------------------------------------------- */

/* Mean and rstd of group g of sample b, two-pass. */
static void group_stats_ref(double *mean, double *rstd, const float *inp, int b, int g, int HW,
                            int C, int G)
{
    int Cg = C / G;
    double n = (double)HW * Cg, sum = 0.0, sq = 0.0;
    for (int p = 0; p < HW; p++)
        for (int c = g * Cg; c < (g + 1) * Cg; c++) sum += inp[((size_t)b * HW + p) * C + c];
    *mean = sum / n;
    for (int p = 0; p < HW; p++)
        for (int c = g * Cg; c < (g + 1) * Cg; c++) {
            double d = inp[((size_t)b * HW + p) * C + c] - *mean;
            sq += d * d;
        }
    *rstd = 1.0 / sqrt(sq / n + (double)FD_GROUPNORM_EPS);
}

static void groupnorm_forward_ref(float *out, float *mean, float *rstd, const float *inp,
                                  const float *gamma, const float *beta, int B, int HW, int C,
                                  int G)
{
    int Cg = C / G;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            double m, r;
            group_stats_ref(&m, &r, inp, b, g, HW, C, G);
            mean[b * G + g] = (float)m;
            rstd[b * G + g] = (float)r;
            for (int p = 0; p < HW; p++)
                for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                    size_t i = ((size_t)b * HW + p) * C + c;
                    out[i] = (float)((inp[i] - m) * r * gamma[c] + beta[c]);
                }
        }
}

/* Accumulates into its gradients, as the kernel does. */
static void groupnorm_backward_ref(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                   const float *inp, const float *gamma, int B, int HW, int C,
                                   int G)
{
    int Cg = C / G;
    double *dgamma_sum = fd_calloc((size_t)C, sizeof *dgamma_sum);
    double *dbeta_sum = fd_calloc((size_t)C, sizeof *dbeta_sum);
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            double m, r, n = (double)HW * Cg, mean_gdy = 0.0, mean_gdy_xhat = 0.0;
            group_stats_ref(&m, &r, inp, b, g, HW, C, G);
            for (int p = 0; p < HW; p++)
                for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                    size_t i = ((size_t)b * HW + p) * C + c;
                    double xhat = (inp[i] - m) * r;
                    mean_gdy += gamma[c] * (double)dout[i] / n;
                    mean_gdy_xhat += gamma[c] * (double)dout[i] * xhat / n;
                    dgamma_sum[c] += (double)dout[i] * xhat;
                    dbeta_sum[c] += dout[i];
                }
            for (int p = 0; p < HW; p++)
                for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                    size_t i = ((size_t)b * HW + p) * C + c;
                    double xhat = (inp[i] - m) * r;
                    dinp[i] = (float)(dinp[i] + r * (gamma[c] * (double)dout[i] - mean_gdy -
                                                     xhat * mean_gdy_xhat));
                }
        }
    for (int c = 0; c < C; c++) {
        dgamma[c] = (float)(dgamma[c] + dgamma_sum[c]);
        dbeta[c] = (float)(dbeta[c] + dbeta_sum[c]);
    }
    free(dgamma_sum);
    free(dbeta_sum);
}

/* ---- a problem: tensors of one shape ------------------------------------------------------ */

typedef struct {
    int B, HW, C, G;
} shape;

/* B = 1, the 7x7 and 14x14 levels of the model and odd sizes, G = 8, G = 1 and G = C; the
 * last two are large enough for the OpenMP paths. */
static const shape shapes[] = {{1, 49, 32, 8}, {3, 7, 64, 8},   {2, 49, 96, 8},
                               {2, 7, 32, 1},  {2, 7, 32, 32},  {3, 5, 12, 3},
                               {1, 1, 8, 2},   {4, 196, 64, 8}, {2, 784, 96, 8}};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

typedef struct {
    int B, HW, C, G;
    float *inp, *gamma, *beta, *dout; /* [B][HW][C], [C], [C], [B][HW][C] */
    float *out, *mean, *rstd;         /* [B][HW][C], [B][G], [B][G] */
    float *dinp, *dgamma, *dbeta;     /* [B][HW][C], [C], [C] */
} problem;

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

/* Inputs offset + scale N(0,1); gamma around 1 and beta around 0, neither trivial. */
static problem problem_new(shape s, uint32_t seed, float offset, float scale)
{
    size_t n = (size_t)s.B * s.HW * s.C, ng = (size_t)s.B * s.G, C = (size_t)s.C;
    problem p = {.B = s.B, .HW = s.HW, .C = s.C, .G = s.G};
    p.inp = normal(n, seed, scale);
    p.gamma = normal(C, seed + 1, 0.5f);
    p.beta = normal(C, seed + 2, 0.5f);
    p.dout = normal(n, seed + 3, 1.0f);
    p.out = fd_calloc(n, sizeof(float));
    p.mean = fd_calloc(ng, sizeof(float));
    p.rstd = fd_calloc(ng, sizeof(float));
    p.dinp = fd_calloc(n, sizeof(float));
    p.dgamma = fd_calloc(C, sizeof(float));
    p.dbeta = fd_calloc(C, sizeof(float));
    for (size_t i = 0; i < n; i++) p.inp[i] += offset;
    for (size_t c = 0; c < C; c++) p.gamma[c] += 1.0f;
    return p;
}

static void problem_free(problem *p)
{
    float *all[] = {p->inp,  p->gamma, p->beta, p->dout,   p->out,
                    p->mean, p->rstd,  p->dinp, p->dgamma, p->dbeta};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static size_t numel(const problem *p) { return (size_t)p->B * p->HW * p->C; }

static void forward(problem *p)
{
    fd_groupnorm_forward(p->out, p->mean, p->rstd, p->inp, p->gamma, p->beta, p->B, p->HW, p->C,
                         p->G);
}

static void backward(problem *p, float *dinp, float *dgamma, float *dbeta)
{
    fd_groupnorm_backward(dinp, dgamma, dbeta, p->dout, p->inp, p->mean, p->rstd, p->gamma, p->B,
                          p->HW, p->C, p->G);
}

/* Forward and backward (into non-zero gradients) against the twin. */
static void check_against_twin(problem *p, double tol, const char *what)
{
    char label[160];
    snprintf(label, sizeof label, "%s, B %d HW %d C %d G %d", what, p->B, p->HW, p->C, p->G);
    size_t n = numel(p), ng = (size_t)p->B * p->G, C = (size_t)p->C;
    float *out = fd_malloc(n * sizeof *out), *mean = fd_malloc(ng * sizeof *mean);
    float *rstd = fd_malloc(ng * sizeof *rstd);
    groupnorm_forward_ref(out, mean, rstd, p->inp, p->gamma, p->beta, p->B, p->HW, p->C, p->G);
    forward(p);
    tu_assert_err_below(tu_rel_err(p->out, out, n), tol, label);
    tu_assert_err_below(tu_rel_err(p->mean, mean, ng), 1e-6, label);
    tu_assert_err_below(tu_rel_err(p->rstd, rstd, ng), tol, label);

    tu_fill_normal(p->dinp, n, 5, 1.0f);
    tu_fill_normal(p->dgamma, C, 6, 1.0f);
    tu_fill_normal(p->dbeta, C, 7, 1.0f);
    float *dinp = copy(p->dinp, n), *dgamma = copy(p->dgamma, C), *dbeta = copy(p->dbeta, C);
    groupnorm_backward_ref(dinp, dgamma, dbeta, p->dout, p->inp, p->gamma, p->B, p->HW, p->C, p->G);
    backward(p, p->dinp, p->dgamma, p->dbeta);
    tu_assert_err_below(tu_rel_err(p->dinp, dinp, n), tol, label);
    tu_assert_err_below(tu_rel_err(p->dgamma, dgamma, C), tol, label);
    tu_assert_err_below(tu_rel_err(p->dbeta, dbeta, C), tol, label);
    free(out);
    free(mean);
    free(rstd);
    free(dinp);
    free(dgamma);
    free(dbeta);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_groupnorm_matches_twin(void **state)
{
    (void)state;
    for (int k = 0; k < N_SHAPES; k++) {
        problem p = problem_new(shapes[k], 10 * (uint32_t)k, 0.5f, 2.0f);
        check_against_twin(&p, 1e-5, "groupnorm vs twin");
        problem_free(&p);
    }
}

/* Inputs 1000 + N(0,1): a float sum of squares loses the variance entirely (E[x^2] - E[x]^2
 * with E[x^2] = 1e6 leaves about 0.06 of absolute precision). The normalised output, mean and
 * rstd must stay accurate; the limit is the float mean (1000 to within 3e-5). */
static void test_groupnorm_large_offset(void **state)
{
    (void)state;
    const shape offset_shapes[] = {{2, 49, 32, 8}, {1, 784, 32, 8}, {2, 7, 96, 1}};
    for (size_t k = 0; k < sizeof offset_shapes / sizeof offset_shapes[0]; k++) {
        problem p = problem_new(offset_shapes[k], 100 + 10 * (uint32_t)k, 1000.0f, 1.0f);
        check_against_twin(&p, 1e-4, "groupnorm with inputs 1000 + N(0,1)");
        problem_free(&p);
    }
}

/* With gamma = 1 and beta = 0, each (sample, group) of the output has mean 0 and variance
 * var / (var + eps) = 1 - eps rstd^2. */
static void test_groupnorm_output_statistics(void **state)
{
    (void)state;
    const shape stat_shapes[] = {{3, 49, 32, 8}, {2, 7, 96, 1}, {2, 7, 32, 32}};
    for (size_t k = 0; k < sizeof stat_shapes / sizeof stat_shapes[0]; k++) {
        problem p = problem_new(stat_shapes[k], 200 + 10 * (uint32_t)k, -3.0f, 3.0f);
        for (int c = 0; c < p.C; c++) {
            p.gamma[c] = 1.0f;
            p.beta[c] = 0.0f;
        }
        forward(&p);
        int Cg = p.C / p.G;
        double n = (double)p.HW * Cg;
        for (int b = 0; b < p.B; b++)
            for (int g = 0; g < p.G; g++) {
                double sum = 0.0, sq = 0.0;
                for (int q = 0; q < p.HW; q++)
                    for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                        double y = p.out[((size_t)b * p.HW + q) * p.C + c];
                        sum += y;
                        sq += y * y;
                    }
                double mean = sum / n, var = sq / n - mean * mean;
                double r = p.rstd[b * p.G + g];
                tu_assert_err_below(fabs(mean), 1e-6, "output group mean");
                tu_assert_err_below(fabs(var - (1.0 - (double)FD_GROUPNORM_EPS * r * r)), 1e-6,
                                    "output group variance");
            }
        problem_free(&p);
    }
}

/* A constant group has variance 0: rstd = 1/sqrt(eps), the output is beta exactly and the
 * gradients stay finite. Singleton groups (HW = 1, G = C) are constant too. rstd amplifies
 * float rounding 316 times here, hence the looser tolerance. */
static void test_groupnorm_constant_groups(void **state)
{
    (void)state;
    const shape const_shapes[] = {{2, 7, 32, 8}, {1, 1, 8, 8}};
    for (size_t k = 0; k < sizeof const_shapes / sizeof const_shapes[0]; k++) {
        problem p = problem_new(const_shapes[k], 250 + 10 * (uint32_t)k, 0.0f, 1.0f);
        for (size_t i = 0; i < numel(&p); i++) p.inp[i] = 5.0f;
        check_against_twin(&p, 1e-4, "groupnorm of constant groups");
        for (size_t i = 0; i < numel(&p); i++) {
            assert_true(p.out[i] == p.beta[i % (size_t)p.C]);
            assert_true(isfinite(p.dinp[i]));
        }
        problem_free(&p);
    }
}

static void forward_fn(void *ctx, float *out)
{
    problem *p = ctx;
    fd_groupnorm_forward(out, p->mean, p->rstd, p->inp, p->gamma, p->beta, p->B, p->HW, p->C, p->G);
}

static void test_groupnorm_gradcheck(void **state)
{
    (void)state;
    const shape small[] = {{1, 5, 12, 3}, {2, 7, 8, 4}, {2, 3, 4, 1}, {1, 4, 6, 6}, {2, 9, 32, 8}};
    for (size_t k = 0; k < sizeof small / sizeof small[0]; k++) {
        problem p = problem_new(small[k], 300 + 10 * (uint32_t)k, 0.5f, 1.0f);
        forward(&p);
        backward(&p, p.dinp, p.dgamma, p.dbeta);
        const size_t points = 80, n = numel(&p), C = (size_t)p.C;
        tu_assert_err_below(
            tu_gradcheck(forward_fn, &p, p.out, n, p.dout, p.inp, p.dinp, n, points, 1e-2f), 5e-3,
            "groupnorm dinp gradcheck");
        tu_assert_err_below(
            tu_gradcheck(forward_fn, &p, p.out, n, p.dout, p.gamma, p.dgamma, C, points, 1e-2f),
            1e-3, "groupnorm dgamma gradcheck");
        tu_assert_err_below(
            tu_gradcheck(forward_fn, &p, p.out, n, p.dout, p.beta, p.dbeta, C, points, 1e-2f), 1e-3,
            "groupnorm dbeta gradcheck");
        problem_free(&p);
    }
}

/* Each gradient alone (the others NULL) equals the same gradient computed with all three. */
static void test_groupnorm_backward_null_skips(void **state)
{
    (void)state;
    problem p = problem_new((shape){4, 196, 64, 8}, 400, 0.0f, 1.0f);
    forward(&p);
    backward(&p, p.dinp, p.dgamma, p.dbeta);
    size_t n = numel(&p), C = (size_t)p.C;
    float *dinp = fd_calloc(n, sizeof *dinp), *dgamma = fd_calloc(C, sizeof *dgamma);
    float *dbeta = fd_calloc(C, sizeof *dbeta);
    backward(&p, dinp, NULL, NULL);
    backward(&p, NULL, dgamma, NULL);
    backward(&p, NULL, NULL, dbeta);
    backward(&p, NULL, NULL, NULL);
    assert_memory_equal(dinp, p.dinp, n * sizeof *dinp);
    assert_memory_equal(dgamma, p.dgamma, C * sizeof *dgamma);
    assert_memory_equal(dbeta, p.dbeta, C * sizeof *dbeta);
    free(dinp);
    free(dgamma);
    free(dbeta);
    problem_free(&p);
}

/* Forward is per sample, so bitwise the same; the parameter gradients add per-thread partials
 * and may differ by rounding. */
static void test_groupnorm_thread_count_independent(void **state)
{
    (void)state;
    const shape s = {8, 784, 32, 8};
    problem one = problem_new(s, 500, 0.0f, 1.0f), two = problem_new(s, 500, 0.0f, 1.0f);
    size_t n = numel(&one), C = (size_t)s.C;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    forward(&one);
    backward(&one, one.dinp, one.dgamma, one.dbeta);
    omp_set_num_threads(2);
    forward(&two);
    backward(&two, two.dinp, two.dgamma, two.dbeta);
    omp_set_num_threads(saved);
    assert_memory_equal(one.out, two.out, n * sizeof *one.out);
    assert_memory_equal(one.dinp, two.dinp, n * sizeof *one.dinp);
    tu_assert_err_below(tu_rel_err(two.dgamma, one.dgamma, C), 1e-6, "dgamma, 1 vs 2 threads");
    tu_assert_err_below(tu_rel_err(two.dbeta, one.dbeta, C), 1e-6, "dbeta, 1 vs 2 threads");
    problem_free(&one);
    problem_free(&two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groupnorm_matches_twin),
        cmocka_unit_test(test_groupnorm_large_offset),
        cmocka_unit_test(test_groupnorm_output_statistics),
        cmocka_unit_test(test_groupnorm_constant_groups),
        cmocka_unit_test(test_groupnorm_gradcheck),
        cmocka_unit_test(test_groupnorm_backward_null_skips),
        cmocka_unit_test(test_groupnorm_thread_count_independent),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    fd_scratch_release();
    return failed;
}
