/* Nearest 2x upsampling and channel concatenation: the kernels against naive twins,
 * finite-difference gradients, the accumulate contract, NULL skips and thread-count
 * independence. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/resample.h"
#include "testutil.h"

typedef struct {
    int B, H, W, C;
} image_shape;

/* Odd and even sizes, C = 1, and the default UNet's 14x14x64 with a batch large enough for
 * the kernels to go parallel. */
static const image_shape upsample_shapes[] = {
    {1, 1, 1, 1}, {3, 7, 5, 3}, {2, 3, 4, 16}, {1, 7, 7, 64}, {4, 14, 14, 64},
};
enum { N_UPSAMPLE_SHAPES = sizeof upsample_shapes / sizeof upsample_shapes[0] };

typedef struct {
    int N, Ca, Cb;
} concat_shape;

static const concat_shape concat_shapes[] = {
    {1, 1, 1}, {5, 3, 7}, {49, 13, 5}, {7, 64, 1}, {2048, 64, 64},
};
enum { N_CONCAT_SHAPES = sizeof concat_shapes / sizeof concat_shapes[0] };

static size_t in_count(image_shape s) { return (size_t)s.B * s.H * s.W * s.C; }
static size_t up_count(image_shape s) { return 4 * in_count(s); }

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

/* ---- the naive twins ------------------------------------------------------------------ */

static void ref_upsample_forward(float *out, const float *inp, image_shape s)
{
    for (int b = 0; b < s.B; b++)
        for (int y = 0; y < 2 * s.H; y++)
            for (int x = 0; x < 2 * s.W; x++)
                for (int c = 0; c < s.C; c++)
                    out[(((size_t)b * 2 * s.H + y) * 2 * s.W + x) * s.C + c] =
                        inp[(((size_t)b * s.H + y / 2) * s.W + x / 2) * s.C + c];
}

static void ref_upsample_backward(float *dinp, const float *dout, image_shape s)
{
    for (int b = 0; b < s.B; b++)
        for (int y = 0; y < s.H; y++)
            for (int x = 0; x < s.W; x++)
                for (int c = 0; c < s.C; c++) {
                    double sum = 0;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++)
                            sum += dout[(((size_t)b * 2 * s.H + 2 * y + dy) * 2 * s.W + 2 * x +
                                         dx) * s.C + c];
                    float *g = &dinp[(((size_t)b * s.H + y) * s.W + x) * s.C + c];
                    *g = (float)(*g + sum);
                }
}

static void ref_concat_forward(float *out, const float *a, const float *b, concat_shape s)
{
    for (int n = 0; n < s.N; n++)
        for (int c = 0; c < s.Ca + s.Cb; c++)
            out[(size_t)n * (s.Ca + s.Cb) + c] =
                c < s.Ca ? a[(size_t)n * s.Ca + c] : b[(size_t)n * s.Cb + c - s.Ca];
}

static void ref_concat_backward(float *da, float *db, const float *dout, concat_shape s)
{
    for (int n = 0; n < s.N; n++)
        for (int c = 0; c < s.Ca + s.Cb; c++) {
            float d = dout[(size_t)n * (s.Ca + s.Cb) + c];
            if (c < s.Ca) da[(size_t)n * s.Ca + c] += d;
            else db[(size_t)n * s.Cb + c - s.Ca] += d;
        }
}

/* ---- upsampling ----------------------------------------------------------------------- */

static void test_upsample_forward_matches_reference(void **state)
{
    (void)state;
    for (int k = 0; k < N_UPSAMPLE_SHAPES; k++) {
        image_shape s = upsample_shapes[k];
        float *inp = random_tensor(in_count(s), 10 + (uint32_t)k);
        float *out = fd_malloc(up_count(s) * sizeof(float));
        float *ref = fd_malloc(up_count(s) * sizeof(float));
        fd_upsample2x_forward(out, inp, s.B, s.H, s.W, s.C);
        ref_upsample_forward(ref, inp, s);
        assert_memory_equal(out, ref, up_count(s) * sizeof(float)); /* a copy is exact */
        free(inp);
        free(out);
        free(ref);
    }
}

/* dinp starts non-zero: the backward must add to it. */
static void test_upsample_backward_accumulates_like_reference(void **state)
{
    (void)state;
    for (int k = 0; k < N_UPSAMPLE_SHAPES; k++) {
        image_shape s = upsample_shapes[k];
        float *dout = random_tensor(up_count(s), 20 + (uint32_t)k);
        float *dinp = random_tensor(in_count(s), 30 + (uint32_t)k);
        float *ref = copy_of(dinp, in_count(s));
        fd_upsample2x_backward(dinp, dout, s.B, s.H, s.W, s.C);
        ref_upsample_backward(ref, dout, s);
        tu_assert_err_below(tu_rel_err(dinp, ref, in_count(s)), 1e-6, "upsample dinp");
        fd_upsample2x_backward(NULL, dout, s.B, s.H, s.W, s.C); /* skipped */
        free(dout);
        free(dinp);
        free(ref);
    }
}

typedef struct {
    image_shape s;
    float *inp;
} upsample_ctx;

static void upsample_of_ctx(void *p, float *out)
{
    upsample_ctx *c = p;
    fd_upsample2x_forward(out, c->inp, c->s.B, c->s.H, c->s.W, c->s.C);
}

static void test_upsample_gradcheck(void **state)
{
    (void)state;
    static const image_shape checked[] = {{1, 1, 1, 1}, {1, 3, 5, 3}, {2, 7, 7, 4}};
    for (size_t k = 0; k < sizeof checked / sizeof checked[0]; k++) {
        image_shape s = checked[k];
        upsample_ctx c = {s, random_tensor(in_count(s), 40 + (uint32_t)k)};
        float *out = fd_malloc(up_count(s) * sizeof(float));
        float *dout = random_tensor(up_count(s), 50 + (uint32_t)k);
        float *dinp = fd_calloc(in_count(s), sizeof(float));
        fd_upsample2x_backward(dinp, dout, s.B, s.H, s.W, s.C);
        double err = tu_gradcheck(upsample_of_ctx, &c, out, up_count(s), dout, c.inp, dinp,
                                  in_count(s), 400, 1e-2f);
        tu_assert_err_below(err, 1e-3, "upsample dinp gradcheck");
        free(c.inp);
        free(out);
        free(dout);
        free(dinp);
    }
}

/* ---- concatenation -------------------------------------------------------------------- */

static void test_concat_forward_matches_reference(void **state)
{
    (void)state;
    for (int k = 0; k < N_CONCAT_SHAPES; k++) {
        concat_shape s = concat_shapes[k];
        const size_t n_out = (size_t)s.N * (s.Ca + s.Cb);
        float *a = random_tensor((size_t)s.N * s.Ca, 60 + (uint32_t)k);
        float *b = random_tensor((size_t)s.N * s.Cb, 70 + (uint32_t)k);
        float *out = fd_malloc(n_out * sizeof(float)), *ref = fd_malloc(n_out * sizeof(float));
        fd_concat_forward(out, a, b, s.N, s.Ca, s.Cb);
        ref_concat_forward(ref, a, b, s);
        assert_memory_equal(out, ref, n_out * sizeof(float));
        free(a);
        free(b);
        free(out);
        free(ref);
    }
}

/* da and db start non-zero; each may be NULL, and the other must still be produced. */
static void test_concat_backward_accumulates_and_skips_null(void **state)
{
    (void)state;
    for (int k = 0; k < N_CONCAT_SHAPES; k++) {
        concat_shape s = concat_shapes[k];
        const size_t na = (size_t)s.N * s.Ca, nb = (size_t)s.N * s.Cb;
        float *dout = random_tensor(na + nb, 80 + (uint32_t)k);
        float *da0 = random_tensor(na, 90 + (uint32_t)k);
        float *db0 = random_tensor(nb, 95 + (uint32_t)k);
        float *ref_da = copy_of(da0, na), *ref_db = copy_of(db0, nb);
        ref_concat_backward(ref_da, ref_db, dout, s);

        float *da = copy_of(da0, na), *db = copy_of(db0, nb);
        fd_concat_backward(da, db, dout, s.N, s.Ca, s.Cb);
        assert_memory_equal(da, ref_da, na * sizeof(float));
        assert_memory_equal(db, ref_db, nb * sizeof(float));

        memcpy(da, da0, na * sizeof(float));
        fd_concat_backward(da, NULL, dout, s.N, s.Ca, s.Cb);
        assert_memory_equal(da, ref_da, na * sizeof(float));
        memcpy(db, db0, nb * sizeof(float));
        fd_concat_backward(NULL, db, dout, s.N, s.Ca, s.Cb);
        assert_memory_equal(db, ref_db, nb * sizeof(float));
        fd_concat_backward(NULL, NULL, dout, s.N, s.Ca, s.Cb);

        free(dout);
        free(da0);
        free(db0);
        free(ref_da);
        free(ref_db);
        free(da);
        free(db);
    }
}

typedef struct {
    concat_shape s;
    float *a, *b;
} concat_ctx;

static void concat_of_ctx(void *p, float *out)
{
    concat_ctx *c = p;
    fd_concat_forward(out, c->a, c->b, c->s.N, c->s.Ca, c->s.Cb);
}

static void test_concat_gradcheck(void **state)
{
    (void)state;
    static const concat_shape checked[] = {{1, 1, 1}, {5, 3, 7}, {9, 13, 2}};
    for (size_t k = 0; k < sizeof checked / sizeof checked[0]; k++) {
        concat_shape s = checked[k];
        const size_t na = (size_t)s.N * s.Ca, nb = (size_t)s.N * s.Cb;
        concat_ctx c = {s, random_tensor(na, 100 + (uint32_t)k),
                        random_tensor(nb, 110 + (uint32_t)k)};
        float *out = fd_malloc((na + nb) * sizeof(float));
        float *dout = random_tensor(na + nb, 120 + (uint32_t)k);
        float *da = fd_calloc(na, sizeof(float)), *db = fd_calloc(nb, sizeof(float));
        fd_concat_backward(da, db, dout, s.N, s.Ca, s.Cb);
        tu_assert_err_below(
            tu_gradcheck(concat_of_ctx, &c, out, na + nb, dout, c.a, da, na, 400, 1e-2f), 1e-3,
            "concat da gradcheck");
        tu_assert_err_below(
            tu_gradcheck(concat_of_ctx, &c, out, na + nb, dout, c.b, db, nb, 400, 1e-2f), 1e-3,
            "concat db gradcheck");
        free(c.a);
        free(c.b);
        free(out);
        free(dout);
        free(da);
        free(db);
    }
}

/* ---- threads -------------------------------------------------------------------------- */

/* Rows are split over threads and each output is written by one thread in a fixed order, so
 * the results are bitwise the same on 1 and 2 threads (shapes above the parallel threshold). */
static void test_thread_count_independence(void **state)
{
    (void)state;
    const int saved = omp_get_max_threads();
    image_shape s = {4, 14, 14, 64};
    float *inp = random_tensor(in_count(s), 130), *dout = random_tensor(up_count(s), 131);
    float *out[2], *dinp[2];
    concat_shape cs = {2048, 64, 32};
    const size_t na = (size_t)cs.N * cs.Ca, nb = (size_t)cs.N * cs.Cb;
    float *a = random_tensor(na, 132), *b = random_tensor(nb, 133);
    float *cdout = random_tensor(na + nb, 134);
    float *cat[2], *da[2], *db[2];
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run + 1);
        out[run] = fd_malloc(up_count(s) * sizeof(float));
        dinp[run] = random_tensor(in_count(s), 135);
        fd_upsample2x_forward(out[run], inp, s.B, s.H, s.W, s.C);
        fd_upsample2x_backward(dinp[run], dout, s.B, s.H, s.W, s.C);
        cat[run] = fd_malloc((na + nb) * sizeof(float));
        da[run] = random_tensor(na, 136);
        db[run] = random_tensor(nb, 137);
        fd_concat_forward(cat[run], a, b, cs.N, cs.Ca, cs.Cb);
        fd_concat_backward(da[run], db[run], cdout, cs.N, cs.Ca, cs.Cb);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(out[0], out[1], up_count(s) * sizeof(float));
    assert_memory_equal(dinp[0], dinp[1], in_count(s) * sizeof(float));
    assert_memory_equal(cat[0], cat[1], (na + nb) * sizeof(float));
    assert_memory_equal(da[0], da[1], na * sizeof(float));
    assert_memory_equal(db[0], db[1], nb * sizeof(float));
    for (int run = 0; run < 2; run++) {
        free(out[run]);
        free(dinp[run]);
        free(cat[run]);
        free(da[run]);
        free(db[run]);
    }
    free(inp);
    free(dout);
    free(a);
    free(b);
    free(cdout);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upsample_forward_matches_reference),
        cmocka_unit_test(test_upsample_backward_accumulates_like_reference),
        cmocka_unit_test(test_upsample_gradcheck),
        cmocka_unit_test(test_concat_forward_matches_reference),
        cmocka_unit_test(test_concat_backward_accumulates_and_skips_null),
        cmocka_unit_test(test_concat_gradcheck),
        cmocka_unit_test(test_thread_count_independence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
