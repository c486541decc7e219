/* Self-attention: the kernels against a naive double-precision twin, finite-difference
 * gradients of qkv, the accumulate contract, softmax properties, extreme scores and thread-count
 * independence. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/attention.h"
#include "feddiff/blas.h"
#include "feddiff/error.h"
#include "feddiff/scratch.h"
#include "testutil.h"

typedef struct {
    int B, T, C;
} shape;

static const shape shapes[] = {
    {1, 1, 5}, {3, 1, 16}, {1, 7, 5}, {3, 7, 16}, {3, 7, 64}, {1, 49, 64}, {3, 49, 5},
    {3, 49, 64}, {2, 13, 7}, {1, 196, 64},
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

static size_t qkv_count(shape s) { return (size_t)s.B * s.T * 3 * s.C; }
static size_t att_count(shape s) { return (size_t)s.B * s.T * s.T; }
static size_t out_count(shape s) { return (size_t)s.B * s.T * s.C; }

/* ---- the naive twin: direct loops, double accumulation -------------------------------- */

static void ref_forward(float *out, float *att, const float *qkv, shape s)
{
    const int T = s.T, C = s.C, ld = 3 * C;
    const double scale = 1.0 / sqrt((double)C);
    double *p = fd_malloc((size_t)T * sizeof(double));
    for (int b = 0; b < s.B; b++) {
        const float *x = qkv + (size_t)b * T * ld;
        for (int i = 0; i < T; i++) {
            double max = -INFINITY, sum = 0;
            for (int j = 0; j < T; j++) {
                double dot = 0;
                for (int c = 0; c < C; c++) dot += (double)x[i * ld + c] * x[j * ld + C + c];
                p[j] = dot * scale;
                if (p[j] > max) max = p[j];
            }
            for (int j = 0; j < T; j++) {
                p[j] = exp(p[j] - max);
                sum += p[j];
            }
            for (int j = 0; j < T; j++) {
                p[j] /= sum;
                att[((size_t)b * T + i) * T + j] = (float)p[j];
            }
            for (int c = 0; c < C; c++) {
                double o = 0;
                for (int j = 0; j < T; j++) o += p[j] * x[j * ld + 2 * C + c];
                out[((size_t)b * T + i) * C + c] = (float)o;
            }
        }
    }
    free(p);
}

/* dqkv += the gradient, from the saved att, every product summed in double. */
static void ref_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                         shape s)
{
    const int T = s.T, C = s.C, ld = 3 * C;
    const double scale = 1.0 / sqrt((double)C);
    double *ds = fd_malloc((size_t)T * T * sizeof(double));
    double *g = fd_malloc((size_t)T * ld * sizeof(double));
    for (int b = 0; b < s.B; b++) {
        const float *x = qkv + (size_t)b * T * ld, *a = att + (size_t)b * T * T;
        const float *d = dout + (size_t)b * T * C;
        for (int i = 0; i < T; i++) {
            double rowsum = 0;
            for (int j = 0; j < T; j++) {
                double datt = 0;
                for (int c = 0; c < C; c++) datt += (double)d[i * C + c] * x[j * ld + 2 * C + c];
                ds[i * T + j] = datt;
                rowsum += datt * a[i * T + j];
            }
            for (int j = 0; j < T; j++) ds[i * T + j] = a[i * T + j] * (ds[i * T + j] - rowsum);
        }
        for (int j = 0; j < T; j++)
            for (int c = 0; c < C; c++) {
                double dq = 0, dk = 0, dv = 0;
                for (int i = 0; i < T; i++) {
                    dq += ds[j * T + i] * x[i * ld + C + c];   /* row j of ds times k */
                    dk += ds[i * T + j] * x[i * ld + c];       /* column j of ds times q */
                    dv += (double)a[i * T + j] * d[i * C + c]; /* column j of att times dout */
                }
                g[j * ld + c] = dq * scale;
                g[j * ld + C + c] = dk * scale;
                g[j * ld + 2 * C + c] = dv;
            }
        float *dx = dqkv + (size_t)b * T * ld;
        for (int n = 0; n < T * ld; n++) dx[n] = (float)(dx[n] + g[n]);
    }
    free(g);
    free(ds);
}

/* ---- helpers -------------------------------------------------------------------------- */

typedef struct {
    shape s;
    float *qkv, *att, *out, *dout, *dqkv;
} tensors;

static tensors make_tensors(shape s, uint32_t seed)
{
    tensors t = {.s = s};
    t.qkv = fd_malloc(qkv_count(s) * sizeof(float));
    t.att = fd_malloc(att_count(s) * sizeof(float));
    t.out = fd_malloc(out_count(s) * sizeof(float));
    t.dout = fd_malloc(out_count(s) * sizeof(float));
    t.dqkv = fd_calloc(qkv_count(s), sizeof(float));
    tu_fill_normal(t.qkv, qkv_count(s), seed, 1.0f);
    tu_fill_normal(t.dout, out_count(s), seed + 1, 1.0f);
    return t;
}

static void free_tensors(tensors *t)
{
    free(t->qkv);
    free(t->att);
    free(t->out);
    free(t->dout);
    free(t->dqkv);
}

static float *copy_of(const float *x, size_t n)
{
    float *y = fd_malloc(n * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static double max_row_sum_error(const float *att, size_t rows, int T)
{
    double worst = 0;
    for (size_t r = 0; r < rows; r++) {
        double sum = 0;
        for (int j = 0; j < T; j++) sum += att[r * T + j];
        if (fabs(sum - 1.0) > worst) worst = fabs(sum - 1.0);
    }
    return worst;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_forward_matches_reference(void **state)
{
    (void)state;
    for (int k = 0; k < N_SHAPES; k++) {
        shape s = shapes[k];
        tensors t = make_tensors(s, 100 + (uint32_t)k);
        float *ref_out = fd_malloc(out_count(s) * sizeof(float));
        float *ref_att = fd_malloc(att_count(s) * sizeof(float));
        fd_attention_forward(t.out, t.att, t.qkv, s.B, s.T, s.C);
        ref_forward(ref_out, ref_att, t.qkv, s);
        tu_assert_err_below(tu_rel_err(t.att, ref_att, att_count(s)), 1e-5, "att");
        tu_assert_err_below(tu_rel_err(t.out, ref_out, out_count(s)), 1e-5, "out");
        free(ref_out);
        free(ref_att);
        free_tensors(&t);
    }
}

static void test_backward_matches_reference(void **state)
{
    (void)state;
    for (int k = 0; k < N_SHAPES; k++) {
        shape s = shapes[k];
        tensors t = make_tensors(s, 200 + (uint32_t)k);
        float *ref = fd_calloc(qkv_count(s), sizeof(float));
        fd_attention_forward(t.out, t.att, t.qkv, s.B, s.T, s.C);
        fd_attention_backward(t.dqkv, t.dout, t.qkv, t.att, s.B, s.T, s.C);
        ref_backward(ref, t.dout, t.qkv, t.att, s);
        tu_assert_err_below(tu_rel_err(t.dqkv, ref, qkv_count(s)), 1e-5, "dqkv");
        free(ref);
        free_tensors(&t);
    }
}

typedef struct {
    shape s;
    float *qkv, *att;
} forward_ctx;

static void attention_of_ctx(void *p, float *out)
{
    forward_ctx *c = p;
    fd_attention_forward(out, c->att, c->qkv, c->s.B, c->s.T, c->s.C);
}

/* The analytic gradient comes from the threaded backward; the thousands of finite-difference
 * forwards run on one thread, since on a loaded machine every team barrier can cost a
 * scheduler time slice (the threaded forward is checked against the twin above). */
static void test_gradcheck_dqkv(void **state)
{
    (void)state;
    static const shape checked[] = {{1, 1, 5}, {2, 7, 5}, {3, 4, 16}, {1, 49, 64}};
    const int saved = omp_get_max_threads();
    for (size_t k = 0; k < sizeof checked / sizeof checked[0]; k++) {
        shape s = checked[k];
        tensors t = make_tensors(s, 300 + (uint32_t)k);
        fd_attention_forward(t.out, t.att, t.qkv, s.B, s.T, s.C);
        fd_attention_backward(t.dqkv, t.dout, t.qkv, t.att, s.B, s.T, s.C);
        forward_ctx c = {s, t.qkv, t.att};
        omp_set_num_threads(1);
        double err = tu_gradcheck(attention_of_ctx, &c, t.out, out_count(s), t.dout, t.qkv,
                                  t.dqkv, qkv_count(s), 600, 1e-2f);
        omp_set_num_threads(saved);
        tu_assert_err_below(err, 2e-3, "attention dqkv");
        free_tensors(&t);
    }
}

static void test_backward_accumulates_and_skips_null(void **state)
{
    (void)state;
    shape s = {3, 7, 16};
    tensors t = make_tensors(s, 400);
    const size_t n = qkv_count(s);
    fd_attention_forward(t.out, t.att, t.qkv, s.B, s.T, s.C);
    fd_attention_backward(t.dqkv, t.dout, t.qkv, t.att, s.B, s.T, s.C); /* from zero */

    float *start = fd_malloc(n * sizeof(float));
    tu_fill_normal(start, n, 401, 1.0f);
    float *acc = copy_of(start, n), *twice = copy_of(start, n);
    fd_attention_backward(acc, t.dout, t.qkv, t.att, s.B, s.T, s.C);
    fd_attention_backward(twice, t.dout, t.qkv, t.att, s.B, s.T, s.C);
    fd_attention_backward(twice, t.dout, t.qkv, t.att, s.B, s.T, s.C);
    float *added = fd_malloc(n * sizeof(float)), *added_twice = fd_malloc(n * sizeof(float));
    float *grad_twice = fd_malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        added[i] = acc[i] - start[i];
        added_twice[i] = twice[i] - start[i];
        grad_twice[i] = 2 * t.dqkv[i];
    }
    tu_assert_err_below(tu_rel_err(added, t.dqkv, n), 1e-5, "dqkv += grad");
    tu_assert_err_below(tu_rel_err(added_twice, grad_twice, n), 1e-5, "dqkv += 2 grad");

    fd_attention_backward(NULL, t.dout, t.qkv, t.att, s.B, s.T, s.C); /* must not touch memory */
    free(start);
    free(acc);
    free(twice);
    free(added);
    free(added_twice);
    free(grad_twice);
    free_tensors(&t);
}

/* Adding one vector u to every key adds q_i.u / sqrt(C) to every score of row i: a constant
 * per row, which the row softmax cancels, so att and out are unchanged. Adding u to every
 * query instead adds u.k_j / sqrt(C), which varies along the row, so att must change (this
 * keeps the first check from passing for a kernel that ignores the scores). */
static void test_softmax_rows_and_key_shift_invariance(void **state)
{
    (void)state;
    static const shape checked[] = {{3, 7, 16}, {2, 49, 64}, {1, 13, 5}};
    for (size_t k = 0; k < sizeof checked / sizeof checked[0]; k++) {
        shape s = checked[k];
        tensors t = make_tensors(s, 500 + (uint32_t)k);
        const int ld = 3 * s.C;
        fd_attention_forward(t.out, t.att, t.qkv, s.B, s.T, s.C);
        tu_assert_err_below(max_row_sum_error(t.att, (size_t)s.B * s.T, s.T), 1e-5,
                            "att row sums");
        for (size_t i = 0; i < att_count(s); i++) assert_true(t.att[i] >= 0.0f);

        float *u = fd_malloc((size_t)s.C * sizeof(float));
        tu_fill_normal(u, (size_t)s.C, 501, 1.0f);
        float *shifted_qkv = copy_of(t.qkv, qkv_count(s));
        float *att2 = fd_malloc(att_count(s) * sizeof(float));
        float *out2 = fd_malloc(out_count(s) * sizeof(float));
        for (size_t r = 0; r < (size_t)s.B * s.T; r++)
            for (int c = 0; c < s.C; c++) shifted_qkv[r * ld + s.C + c] += u[c];
        fd_attention_forward(out2, att2, shifted_qkv, s.B, s.T, s.C);
        tu_assert_err_below(tu_rel_err(att2, t.att, att_count(s)), 2e-5, "att, keys shifted");
        tu_assert_err_below(tu_rel_err(out2, t.out, out_count(s)), 2e-5, "out, keys shifted");

        memcpy(shifted_qkv, t.qkv, qkv_count(s) * sizeof(float));
        for (size_t r = 0; r < (size_t)s.B * s.T; r++)
            for (int c = 0; c < s.C; c++) shifted_qkv[r * ld + c] += u[c];
        fd_attention_forward(out2, att2, shifted_qkv, s.B, s.T, s.C);
        assert_true(tu_rel_err(att2, t.att, att_count(s)) > 1e-2);
        free(u);
        free(shifted_qkv);
        free(att2);
        free(out2);
        free_tensors(&t);
    }
}

/* Scores far beyond expf's range must not overflow (the row maximum is subtracted); a score of
 * -inf gets weight 0 without NaN; a row whose every score is -inf becomes zeros. */
static void test_extreme_scores(void **state)
{
    (void)state;
    shape s = {2, 9, 8};
    const int ld = 3 * s.C;
    tensors t = make_tensors(s, 600);
    float *ref_out = fd_malloc(out_count(s) * sizeof(float));
    float *ref_att = fd_malloc(att_count(s) * sizeof(float));
    float *ref_dqkv = fd_calloc(qkv_count(s), sizeof(float));

    /* Scores of typical size 100: exp(100) overflows a float. */
    float *big = copy_of(t.qkv, qkv_count(s));
    for (size_t r = 0; r < (size_t)s.B * s.T; r++)
        for (int c = 0; c < 2 * s.C; c++) big[r * ld + c] *= 10.0f;
    fd_attention_forward(t.out, t.att, big, s.B, s.T, s.C);
    ref_forward(ref_out, ref_att, big, s);
    assert_true(all_finite(t.att, att_count(s)) && all_finite(t.out, out_count(s)));
    tu_assert_err_below(max_row_sum_error(t.att, (size_t)s.B * s.T, s.T), 1e-5, "row sums");
    tu_assert_err_below(tu_rel_err(t.att, ref_att, att_count(s)), 1e-4, "att, large scores");
    tu_assert_err_below(tu_rel_err(t.out, ref_out, out_count(s)), 1e-4, "out, large scores");

    /* q_0 . k_0 = 1e30 * -1e30 overflows to -inf in float (the other products of channel 0
     * are 0): in sample 0, score (0, 0) is -inf and the rest stay finite. The double twin
     * sees -1e60, whose weight is 0 as well. */
    float *qkv_overflow = t.qkv;
    for (size_t r = 0; r < (size_t)s.B * s.T; r++) {
        qkv_overflow[r * ld] = 0.0f;       /* q, channel 0 */
        qkv_overflow[r * ld + s.C] = 0.0f; /* k, channel 0 */
    }
    qkv_overflow[0] = 1e30f;
    qkv_overflow[s.C] = -1e30f;
    fd_attention_forward(t.out, t.att, qkv_overflow, s.B, s.T, s.C);
    ref_forward(ref_out, ref_att, qkv_overflow, s);
    assert_true(all_finite(t.att, att_count(s)) && all_finite(t.out, out_count(s)));
    assert_true(t.att[0] == 0.0f);
    tu_assert_err_below(max_row_sum_error(t.att, (size_t)s.B * s.T, s.T), 1e-5, "row sums");
    tu_assert_err_below(tu_rel_err(t.att, ref_att, att_count(s)), 1e-5, "att, -inf score");
    tu_assert_err_below(tu_rel_err(t.out, ref_out, out_count(s)), 1e-5, "out, -inf score");
    fd_attention_backward(t.dqkv, t.dout, qkv_overflow, t.att, s.B, s.T, s.C);
    ref_backward(ref_dqkv, t.dout, qkv_overflow, t.att, s);
    assert_true(all_finite(t.dqkv, qkv_count(s)));
    tu_assert_err_below(tu_rel_err(t.dqkv, ref_dqkv, qkv_count(s)), 1e-5, "dqkv, -inf score");

    /* Every key of sample 0 at -1e30 in channel 0: row 0 has no finite score. */
    for (int j = 0; j < s.T; j++) qkv_overflow[j * ld + s.C] = -1e30f;
    fd_attention_forward(t.out, t.att, qkv_overflow, s.B, s.T, s.C);
    for (int j = 0; j < s.T; j++) assert_true(t.att[j] == 0.0f);
    for (int c = 0; c < s.C; c++) assert_true(t.out[c] == 0.0f);
    assert_true(all_finite(t.att, att_count(s)) && all_finite(t.out, out_count(s)));
    tu_assert_err_below(max_row_sum_error(t.att + s.T, (size_t)s.B * s.T - 1, s.T), 1e-5,
                        "other row sums");
    memset(t.dqkv, 0, qkv_count(s) * sizeof(float));
    fd_attention_backward(t.dqkv, t.dout, qkv_overflow, t.att, s.B, s.T, s.C);
    assert_true(all_finite(t.dqkv, qkv_count(s)));

    free(big);
    free(ref_out);
    free(ref_att);
    free(ref_dqkv);
    free_tensors(&t);
}

/* Work is split over threads by samples, and by blocks of rows when the batch is smaller than
 * the team (B = 1 on 2 threads: 2 blocks; on 5 threads: up to T / 16 blocks), with every GEMM
 * single-threaded: the results must not depend on the thread count. */
static void test_thread_count_independence(void **state)
{
    (void)state;
    static const shape checked[] = {{5, 49, 64}, {3, 13, 7}, {2, 49, 64}, {1, 49, 64},
                                    {1, 196, 64}};
    static const int team_sizes[] = {1, 2, 5};
    enum { N_TEAMS = sizeof team_sizes / sizeof team_sizes[0] };
    const int saved = omp_get_max_threads();
    for (size_t k = 0; k < sizeof checked / sizeof checked[0]; k++) {
        shape s = checked[k];
        tensors run[N_TEAMS];
        for (int r = 0; r < N_TEAMS; r++) {
            run[r] = make_tensors(s, 700 + (uint32_t)k);
            omp_set_num_threads(team_sizes[r]);
            fd_attention_forward(run[r].out, run[r].att, run[r].qkv, s.B, s.T, s.C);
            fd_attention_backward(run[r].dqkv, run[r].dout, run[r].qkv, run[r].att, s.B, s.T,
                                  s.C);
        }
        omp_set_num_threads(saved);
        for (int r = 1; r < N_TEAMS; r++) {
            tu_assert_err_below(tu_rel_err(run[r].att, run[0].att, att_count(s)), 1e-6, "att");
            tu_assert_err_below(tu_rel_err(run[r].out, run[0].out, out_count(s)), 1e-6, "out");
            tu_assert_err_below(tu_rel_err(run[r].dqkv, run[0].dqkv, qkv_count(s)), 1e-6,
                                "dqkv");
        }
        for (int r = 0; r < N_TEAMS; r++) free_tensors(&run[r]);
    }
}

static int setup(void **state)
{
    (void)state;
    fd_blas_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fd_scratch_release();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_backward_matches_reference),
        cmocka_unit_test(test_gradcheck_dqkv),
        cmocka_unit_test(test_backward_accumulates_and_skips_null),
        cmocka_unit_test(test_softmax_rows_and_key_shift_invariance),
        cmocka_unit_test(test_extreme_scores),
        cmocka_unit_test(test_thread_count_independence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
