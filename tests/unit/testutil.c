#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "feddiff/rng.h"

void tu_fill_normal(float *x, size_t n, uint32_t seed, float scale)
{
    fd_rng s = fd_rng_stream(seed, FD_RNG_TEST, 0, 0, 0);
    fd_rng_fill_normal(&s, 0, n, x);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
}

void tu_fill_uniform(float *x, size_t n, uint32_t seed, float lo, float hi)
{
    fd_rng s = fd_rng_stream(seed, FD_RNG_TEST, 0, 0, 1);
    fd_rng_fill_uniform(&s, 0, n, x);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * x[i];
}

double tu_rel_err(const float *a, const float *b, size_t n)
{
    double diff = 0, ref = 1e-12;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        if (d > diff) diff = d;
        if (fabs((double)b[i]) > ref) ref = fabs((double)b[i]);
    }
    return diff / ref;
}

static double weighted_sum(const float *out, const float *dout, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)out[i] * (double)dout[i];
    return s;
}

double tu_gradcheck(tu_forward_fn forward, void *ctx, float *out, size_t n_out,
                    const float *dout, float *x, const float *analytic, size_t n,
                    size_t max_points, float h)
{
    size_t points = n <= max_points ? n : max_points;
    double max_diff = 0, max_mag = 1e-6;
    int saw_nan = 0;
    for (size_t p = 0; p < points; p++) {
        size_t i = points == n ? p : (points > 1 ? p * (n - 1) / (points - 1) : 0);
        float saved = x[i];
        x[i] = saved + h;
        forward(ctx, out);
        double plus = weighted_sum(out, dout, n_out);
        x[i] = saved - h;
        forward(ctx, out);
        double minus = weighted_sum(out, dout, n_out);
        x[i] = saved;
        double numeric = (plus - minus) / (2.0 * (double)h);
        double d = fabs(numeric - (double)analytic[i]);
        if (isnan(d)) saw_nan = 1;
        else if (d > max_diff) max_diff = d;
        if (fabs(numeric) > max_mag) max_mag = fabs(numeric);
        if (fabs((double)analytic[i]) > max_mag) max_mag = fabs((double)analytic[i]);
    }
    forward(ctx, out); /* leave `out` as computed at the unperturbed x */
    return saw_nan ? INFINITY : max_diff / max_mag;
}

void tu_assert_thread_count_independent(tu_run_fn run, void *ctx, size_t n_out)
{
    float *one = calloc(n_out, sizeof(float)), *two = calloc(n_out, sizeof(float));
    assert_non_null(one);
    assert_non_null(two);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    run(ctx, one);
    omp_set_num_threads(2);
    run(ctx, two);
    omp_set_num_threads(saved);
    assert_memory_equal(one, two, n_out * sizeof(float));
    free(one);
    free(two);
}
