/* AdamW against a double-precision transcription of the algorithm, the first-step identity,
 * part masks and decay flags, and gradient clipping. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/optimizer.h"
#include "testutil.h"

/* Loshchilov & Hutter's AdamW with Adam's bias correction, in double. */
static void adamw_reference(double *p, const double *g, double *m, double *v, size_t n,
                            double lr, double b1, double b2, double eps, double wd, long step)
{
    for (size_t i = 0; i < n; i++) {
        p[i] -= lr * wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        double mhat = m[i] / (1 - pow(b1, (double)step));
        double vhat = v[i] / (1 - pow(b2, (double)step));
        p[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
}

static void test_adamw_matches_reference(void **state)
{
    (void)state;
    enum { N = 1000, STEPS = 5 };
    float p[N], g[N], m[N] = {0}, v[N] = {0};
    double pd[N], gd[N], md[N] = {0}, vd[N] = {0};
    fd_adamw_config cfg = {.lr = 2e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f,
                           .weight_decay = 0.1f};
    tu_fill_normal(p, N, 1, 1.0f);
    for (size_t i = 0; i < N; i++) pd[i] = p[i];
    for (long step = 1; step <= STEPS; step++) {
        tu_fill_normal(g, N, (uint32_t)(100 + step), 0.1f);
        for (size_t i = 0; i < N; i++) gd[i] = g[i];
        fd_adamw_update(p, g, m, v, N, &cfg, cfg.weight_decay, step);
        adamw_reference(pd, gd, md, vd, N, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps,
                        cfg.weight_decay, step);
    }
    double worst = 0;
    for (size_t i = 0; i < N; i++) worst = fmax(worst, fabs(p[i] - pd[i]));
    if (worst > 1e-6) fail_msg("max |p - p_ref| = %.3g after %d steps", worst, STEPS);
}

/* Step 1 without decay: m_hat / sqrt(v_hat) = sign(g), so each value moves by lr. */
static void test_first_step_moves_by_lr(void **state)
{
    (void)state;
    float p[4] = {1, -2, 3, 0}, g[4] = {0.5f, -3, 1e-3f, 7}, m[4] = {0}, v[4] = {0};
    fd_adamw_config cfg = fd_adamw_defaults();
    fd_adamw_update(p, g, m, v, 4, &cfg, 0.0f, 1);
    const float want[4] = {1 - 1e-3f, -2 + 1e-3f, 3 - 1e-3f, -1e-3f};
    for (int i = 0; i < 4; i++) assert_float_equal(p[i], want[i], 1e-7);
}

static void test_arena_step_respects_mask_and_decay(void **state)
{
    (void)state;
    fd_params ps;
    fd_params_init(&ps);
    int w = fd_params_declare(&ps, "enc.w", FD_PART_ENC, 2, (int[]){3, 4});
    int b = fd_params_declare(&ps, "enc.b", FD_PART_ENC, 1, (int[]){3});
    int d = fd_params_declare(&ps, "dec.w", FD_PART_DEC, 2, (int[]){2, 2});
    fd_params_finalize(&ps);
    for (size_t i = 0; i < ps.count; i++) ps.data[i] = 1.0f;
    /* Zero gradient: only weight decay moves a value. */
    fd_adamw_config cfg = fd_adamw_defaults();
    cfg.weight_decay = 0.5f;
    fd_params_adamw_step(&ps, 1u << FD_PART_ENC, &cfg, 1);
    for (int i = 0; i < 12; i++) assert_float_equal(fd_params_data(&ps, w)[i], 1 - 1e-3f * 0.5f, 1e-7);
    for (int i = 0; i < 3; i++) assert_true(fd_params_data(&ps, b)[i] == 1.0f);
    for (int i = 0; i < 4; i++) assert_true(fd_params_data(&ps, d)[i] == 1.0f);
    fd_params_free(&ps);
}

static void test_clip_grad_norm(void **state)
{
    (void)state;
    enum { N = 100001 };
    float *g = malloc(N * sizeof(float));
    assert_non_null(g);
    tu_fill_normal(g, N, 3, 1.0f);
    double norm = fd_global_norm(g, N), direct = 0;
    for (size_t i = 0; i < N; i++) direct += (double)g[i] * g[i];
    assert_float_equal(norm, sqrt(direct), 1e-9 * sqrt(direct));

    float first = g[0];
    assert_float_equal(fd_clip_grad_norm(g, N, 2.0 * norm), norm, 1e-9 * norm);
    assert_true(g[0] == first); /* below the limit: untouched */

    assert_float_equal(fd_clip_grad_norm(g, N, 1.0), norm, 1e-9 * norm);
    assert_float_equal(fd_global_norm(g, N), 1.0, 1e-5);

    g[N / 2] = NAN;
    assert_false(isfinite(fd_clip_grad_norm(g, N, 1.0)));
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_matches_reference),
        cmocka_unit_test(test_first_step_moves_by_lr),
        cmocka_unit_test(test_arena_step_respects_mask_and_decay),
        cmocka_unit_test(test_clip_grad_norm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
