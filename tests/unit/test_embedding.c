/* The sinusoidal timestep embedding and the learned table lookup: the kernels against naive
 * twins and closed forms, finite-difference gradients, the accumulate contract, NULL skips and
 * repeated ids. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/embedding.h"
#include "feddiff/error.h"
#include "testutil.h"

static const int widths[] = {4, 32, 128};
enum { N_WIDTHS = sizeof widths / sizeof widths[0] };

static float *random_tensor(size_t n, uint32_t seed)
{
    float *x = fd_malloc(n * sizeof(float));
    tu_fill_normal(x, n, seed, 1.0f);
    return x;
}

static float *copy_of(const float *x, size_t n)
{
    float *y = fd_malloc(n * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}

/* Timesteps 0, 1, 999 and values spread over [0, 1000), integer and not. */
static float *timesteps(int B, uint32_t seed)
{
    float *t = fd_malloc((size_t)B * sizeof(float));
    tu_fill_uniform(t, (size_t)B, seed, 0.0f, 1000.0f);
    for (int b = 0; b < B; b += 2) t[b] = floorf(t[b]);
    t[0] = 0.0f;
    t[1] = 1.0f;
    t[2] = 999.0f;
    return t;
}

/* ---- the naive twins: the frequencies written as powers of 10000, all in double -------- */

static double ref_frequency(int i, int half) { return pow(10000.0, -(double)i / (half - 1)); }

static void ref_timestep_forward(float *out, const float *t, int B, int D)
{
    const int half = D / 2;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < half; i++) {
            double arg = (double)t[b] * ref_frequency(i, half);
            out[(size_t)b * D + i] = (float)sin(arg);
            out[(size_t)b * D + half + i] = (float)cos(arg);
        }
}

static void ref_timestep_backward(float *dt, const float *dout, const float *t, int B, int D)
{
    const int half = D / 2;
    for (int b = 0; b < B; b++) {
        double sum = 0;
        for (int i = 0; i < half; i++) {
            double f = ref_frequency(i, half);
            sum += dout[(size_t)b * D + i] * f * cos(t[b] * f);       /* d sin(t f) / dt */
            sum -= dout[(size_t)b * D + half + i] * f * sin(t[b] * f); /* d cos(t f) / dt */
        }
        dt[b] = (float)(dt[b] + sum);
    }
}

static void ref_embedding_backward(float *dtable, const float *dout, const int *ids, int B,
                                   int D, int rows)
{
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < D; j++) {
            double sum = 0;
            for (int b = 0; b < B; b++)
                if (ids[b] == r) sum += dout[(size_t)b * D + j];
            dtable[(size_t)r * D + j] = (float)(dtable[(size_t)r * D + j] + sum);
        }
}

/* ---- timestep embedding --------------------------------------------------------------- */

/* The tolerance is a few float roundings of values <= 1: forming t f_i in float instead of
 * double would be off by up to ~3e-5 at t = 999 and fail. */
static void test_timestep_forward_matches_reference(void **state)
{
    (void)state;
    enum { B = 64 };
    float *t = timesteps(B, 1);
    for (int k = 0; k < N_WIDTHS; k++) {
        const int D = widths[k];
        float *out = fd_malloc((size_t)B * D * sizeof(float));
        float *ref = fd_malloc((size_t)B * D * sizeof(float));
        fd_timestep_embedding_forward(out, t, B, D);
        ref_timestep_forward(ref, t, B, D);
        tu_assert_err_below(tu_rel_err(out, ref, (size_t)B * D), 2e-7, "timestep embedding");
        free(out);
        free(ref);
    }
    free(t);
}

/* Known values: t = 0 gives [0 .. 0, 1 .. 1]; f_0 = 1 and f_(half-1) = 1e-4 exactly. */
static void test_timestep_closed_form(void **state)
{
    (void)state;
    const float t[3] = {0.0f, 1.0f, 999.0f};
    for (int k = 0; k < N_WIDTHS; k++) {
        const int D = widths[k], half = D / 2;
        float *out = fd_malloc(3 * (size_t)D * sizeof(float));
        fd_timestep_embedding_forward(out, t, 3, D);
        for (int i = 0; i < half; i++) {
            assert_true(out[i] == 0.0f);
            assert_true(out[half + i] == 1.0f);
        }
        for (int b = 1; b < 3; b++) {
            const float *o = out + (size_t)b * D;
            const double tb = t[b];
            assert_float_equal(o[0], sin(tb), 1e-7);
            assert_float_equal(o[half], cos(tb), 1e-7);
            assert_float_equal(o[half - 1], sin(tb * 1e-4), 1e-7);
            assert_float_equal(o[D - 1], cos(tb * 1e-4), 1e-7);
        }
        free(out);
    }
}

/* dt starts non-zero: the backward must add to it. */
static void test_timestep_backward_accumulates_like_reference(void **state)
{
    (void)state;
    enum { B = 64 };
    float *t = timesteps(B, 2);
    for (int k = 0; k < N_WIDTHS; k++) {
        const int D = widths[k];
        float *dout = random_tensor((size_t)B * D, 3 + (uint32_t)k);
        float *dt = random_tensor(B, 6 + (uint32_t)k), *ref = copy_of(dt, B);
        fd_timestep_embedding_backward(dt, dout, t, B, D);
        ref_timestep_backward(ref, dout, t, B, D);
        tu_assert_err_below(tu_rel_err(dt, ref, B), 1e-6, "timestep dt");
        fd_timestep_embedding_backward(NULL, dout, t, B, D); /* skipped */
        free(dout);
        free(dt);
        free(ref);
    }
    free(t);
}

typedef struct {
    float *t;
    int B, D;
} timestep_ctx;

static void timestep_of_ctx(void *p, float *out)
{
    timestep_ctx *c = p;
    fd_timestep_embedding_forward(out, c->t, c->B, c->D);
}

/* Moderate t: at t ~ 1000 a float step of h would itself be rounded by ~1e-2 relative. The
 * step h = 2^-7 is a multiple of the float spacing below 64, so t +- h are exact. */
static void test_timestep_gradcheck(void **state)
{
    (void)state;
    enum { B = 3 };
    for (int k = 0; k < N_WIDTHS; k++) {
        const int D = widths[k];
        timestep_ctx c = {fd_malloc(B * sizeof(float)), B, D};
        tu_fill_uniform(c.t, B, 10 + (uint32_t)k, 0.0f, 50.0f);
        float *out = fd_malloc((size_t)B * D * sizeof(float));
        float *dout = random_tensor((size_t)B * D, 20 + (uint32_t)k);
        float dt[B] = {0};
        fd_timestep_embedding_backward(dt, dout, c.t, B, D);
        double err = tu_gradcheck(timestep_of_ctx, &c, out, (size_t)B * D, dout, c.t, dt, B, B,
                                  1.0f / 128);
        tu_assert_err_below(err, 1e-3, "timestep dt gradcheck");
        free(c.t);
        free(out);
        free(dout);
    }
}

/* ---- lookup table --------------------------------------------------------------------- */

static void test_embedding_forward_matches_reference(void **state)
{
    (void)state;
    static const int batches[] = {1, 5, 300};
    enum { ROWS = 7 };
    for (int k = 0; k < N_WIDTHS; k++)
        for (size_t m = 0; m < sizeof batches / sizeof batches[0]; m++) {
            const int D = widths[k], B = batches[m];
            float *table = random_tensor((size_t)ROWS * D, 30 + (uint32_t)k);
            float *out = fd_malloc((size_t)B * D * sizeof(float));
            int *ids = fd_malloc((size_t)B * sizeof(int));
            for (int b = 0; b < B; b++) ids[b] = (b * 5 + 3) % ROWS;
            fd_embedding_forward(out, table, ids, B, D);
            for (int b = 0; b < B; b++)
                assert_memory_equal(out + (size_t)b * D, table + (size_t)ids[b] * D,
                                    (size_t)D * sizeof(float));
            free(table);
            free(out);
            free(ids);
        }
}

/* Many samples share a few rows (and one row is never used): the scatter-add must sum every
 * repeat, add to the existing gradient, and give the same bits on 1 and 2 threads. */
static void test_embedding_backward_repeated_ids(void **state)
{
    (void)state;
    enum { B = 300, ROWS = 4 };
    const int saved = omp_get_max_threads();
    int ids[B];
    for (int b = 0; b < B; b++) ids[b] = (b * b + 1) % 3; /* rows 1, 2 and 0; row 3 unused */
    for (int k = 0; k < N_WIDTHS; k++) {
        const int D = widths[k];
        const size_t n = (size_t)ROWS * D;
        float *dout = random_tensor((size_t)B * D, 40 + (uint32_t)k);
        float *start = random_tensor(n, 50 + (uint32_t)k);
        float *ref = copy_of(start, n), *one = copy_of(start, n), *two = copy_of(start, n);
        ref_embedding_backward(ref, dout, ids, B, D, ROWS);
        omp_set_num_threads(1);
        fd_embedding_backward(one, dout, ids, B, D);
        omp_set_num_threads(2);
        fd_embedding_backward(two, dout, ids, B, D);
        omp_set_num_threads(saved);
        tu_assert_err_below(tu_rel_err(two, ref, n), 1e-6, "dtable, repeated ids");
        assert_memory_equal(one, two, n * sizeof(float));
        assert_memory_equal(two + 3 * (size_t)D, start + 3 * (size_t)D, (size_t)D * sizeof(float));
        fd_embedding_backward(NULL, dout, ids, B, D); /* skipped */
        free(dout);
        free(start);
        free(ref);
        free(one);
        free(two);
    }
}

typedef struct {
    float *table;
    const int *ids;
    int B, D;
} table_ctx;

static void lookup_of_ctx(void *p, float *out)
{
    table_ctx *c = p;
    fd_embedding_forward(out, c->table, c->ids, c->B, c->D);
}

static void test_embedding_gradcheck(void **state)
{
    (void)state;
    enum { B = 6, ROWS = 5, D = 6 };
    static const int ids[B] = {2, 0, 2, 4, 2, 1}; /* row 2 three times, row 3 never */
    table_ctx c = {random_tensor(ROWS * D, 60), ids, B, D};
    float out[B * D], dtable[ROWS * D] = {0};
    float *dout = random_tensor(B * D, 61);
    fd_embedding_backward(dtable, dout, ids, B, D);
    double err = tu_gradcheck(lookup_of_ctx, &c, out, B * D, dout, c.table, dtable, ROWS * D,
                              ROWS * D, 1e-2f);
    tu_assert_err_below(err, 1e-3, "dtable gradcheck");
    free(c.table);
    free(dout);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestep_forward_matches_reference),
        cmocka_unit_test(test_timestep_closed_form),
        cmocka_unit_test(test_timestep_backward_accumulates_like_reference),
        cmocka_unit_test(test_timestep_gradcheck),
        cmocka_unit_test(test_embedding_forward_matches_reference),
        cmocka_unit_test(test_embedding_backward_repeated_ids),
        cmocka_unit_test(test_embedding_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
