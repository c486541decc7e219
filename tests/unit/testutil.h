/* Helpers shared by the unit tests: random fills, error norms and the finite-difference
 * gradient check. */
#ifndef FEDDIFF_TESTUTIL_H
#define FEDDIFF_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

/* x[i] = scale * N(0,1), deterministic in `seed`. */
void tu_fill_normal(float *x, size_t n, uint32_t seed, float scale);
/* x[i] uniform in [lo, hi), deterministic in `seed`. */
void tu_fill_uniform(float *x, size_t n, uint32_t seed, float lo, float hi);
/* max_i |a_i - b_i| / max(max_i |b_i|, 1e-12): the error of `a` relative to reference `b`. */
double tu_rel_err(const float *a, const float *b, size_t n);

/* The gradient check. The kernel under test computes `out` (n_out values) from tensors held in
 * `ctx`; the scalar checked is L = sum_i out_i * dout_i, in double. For a tensor x with
 * analytic gradient dL/dx (from the backward kernel), each checked entry is compared with the
 * central difference (L(x + h) - L(x - h)) / 2h. All entries are checked when n <= max_points,
 * else max_points entries spread evenly over x (first and last included).
 * Returns max |numeric - analytic| / max(max |numeric|, max |analytic|, 1e-6) over the checked
 * entries: a normalised error, about 1e-4 for a right float32 backward and O(1) for a wrong one. */
typedef void (*tu_forward_fn)(void *ctx, float *out);
double tu_gradcheck(tu_forward_fn forward, void *ctx, float *out, size_t n_out,
                    const float *dout, float *x, const float *analytic, size_t n,
                    size_t max_points, float h);

/* Runs `run(ctx, out)` with 1 and then with 2 OpenMP threads (the count restored after) and
 * asserts that both fill out [n_out] bitwise alike: a kernel's results must not depend on the
 * threads that computed them. `run` writes every output of the kernels under test into out. */
typedef void (*tu_run_fn)(void *ctx, float *out);
void tu_assert_thread_count_independent(tu_run_fn run, void *ctx, size_t n_out);

/* Assert a normalised error is below `tol`, printing the value and a label on failure. */
#define tu_assert_err_below(err, tol, label)                                               \
    do {                                                                                   \
        double tu_e_ = (err);                                                              \
        if (!(tu_e_ < (tol))) fail_msg("%s: error %.3g not below %.3g", (label), tu_e_, (double)(tol)); \
    } while (0)

#endif
