/* The gradient checker itself must be able to fail: it passes a right gradient and rejects a
 * gradient wrong by a few percent in a single entry. */
#include <math.h>

#include "testutil.h"

enum { N = 37 };
typedef struct {
    float x[N];
} cube_ctx;

/* out_i = x_i^3 + sin(x_i) */
static void cube_forward(void *p, float *out)
{
    cube_ctx *c = p;
    for (int i = 0; i < N; i++) out[i] = c->x[i] * c->x[i] * c->x[i] + sinf(c->x[i]);
}

static void test_checker_accepts_right_and_rejects_wrong(void **state)
{
    (void)state;
    cube_ctx c;
    float out[N], dout[N], grad[N];
    tu_fill_normal(c.x, N, 1, 1.0f);
    tu_fill_normal(dout, N, 2, 1.0f);
    for (int i = 0; i < N; i++) grad[i] = dout[i] * (3 * c.x[i] * c.x[i] + cosf(c.x[i]));
    double right = tu_gradcheck(cube_forward, &c, out, N, dout, c.x, grad, N, N, 1e-2f);
    tu_assert_err_below(right, 1e-2, "right gradient");

    int worst = 0;
    for (int i = 0; i < N; i++)
        if (fabsf(grad[i]) > fabsf(grad[worst])) worst = i;
    grad[worst] *= 1.05f;
    double wrong = tu_gradcheck(cube_forward, &c, out, N, dout, c.x, grad, N, N, 1e-2f);
    assert_true(wrong > 2e-2);

    grad[worst] = NAN;
    assert_true(isinf(tu_gradcheck(cube_forward, &c, out, N, dout, c.x, grad, N, N, 1e-2f)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker_accepts_right_and_rejects_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
