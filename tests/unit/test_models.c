/* Whole-network checks of the UNet and the MLP denoiser: parameter count of the default UNet,
 * layout by part, and finite-difference gradients of every parameter tensor of small networks
 * (which covers the wiring: skips, concatenations, attention, embeddings). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/model.h"
#include "testutil.h"

static void test_default_unet_size_and_parts(void **state)
{
    (void)state;
    fd_model_config mc = {.kind = FD_MODEL_UNET, .unet = fd_unet_default_config()};
    fd_model *m = fd_model_create(&mc);
    fd_range backbone = fd_params_range(&m->params, FD_PARTS_BACKBONE);
    assert_int_equal(backbone.count, 1623169);
    assert_int_equal(m->params.count, 1623169);
    assert_int_equal(m->params.parts[FD_PART_TEMB].count, 32 * 128 + 128 + 128 * 128 + 128);
    /* Names follow the PyTorch modules. */
    assert_true(fd_params_find(&m->params, "down.1.res.0.skip.weight") >= 0);
    assert_true(fd_params_find(&m->params, "up.2.attn.2.qkv.weight") >= 0);
    assert_true(fd_params_find(&m->params, "mid.attn.proj.bias") >= 0);
    assert_int_equal(fd_params_tensor(&m->params, fd_params_find(&m->params, "conv_out.weight"))->part,
                     FD_PART_DEC);
    /* About 0.55 GFLOP per image forward (DESIGN.md section 3). */
    double gflop = fd_unet_forward_flops(m->unet) * 1e-9;
    assert_true(gflop > 0.5 && gflop < 0.6);
    /* About 1.66 GFLOP per image for a training step: backward is twice the forward, less the
     * input gradients of conv_in and the first time-MLP layer (2 * 784 * 9 * 32 + 2 * 32 * 128
     * FLOPs). */
    double backward = fd_unet_backward_flops(m->unet) * 1e-9;
    double skipped = (2.0 * 784 * 9 * 32 + 2.0 * 32 * 128) * 1e-9;
    assert_true(fabs(backward - (2.0 * gflop - skipped)) < 1e-12);
    assert_true(gflop + backward > 1.6 && gflop + backward < 1.7);
    fd_model_free(m);

    mc.unet.n_classes = 10;
    mc.unet.n_clients = 7;
    m = fd_model_create(&mc);
    assert_int_equal(m->params.count, 1623169 + 17 * 128);
    assert_int_equal(m->params.parts[FD_PART_CLIENT].count, 7 * 128);
    fd_model_free(m);
}

typedef struct {
    fd_model *m;
    float *x, *t;
    int *y, *c;
    int B;
} net_ctx;

static void net_forward(void *p, float *out)
{
    net_ctx *n = p;
    fd_model_forward(n->m, out, n->x, n->t, n->y, n->c, n->B);
}

/* Check a few entries of every parameter tensor against finite differences. */
static void gradcheck_model(fd_model *m, int B, double tol)
{
    const size_t size = m->sample_size, n_out = size * (size_t)B;
    net_ctx ctx = {.m = m, .B = B};
    ctx.x = malloc(sizeof(float) * n_out);
    ctx.t = malloc(sizeof(float) * (size_t)B);
    ctx.y = malloc(sizeof(int) * (size_t)B);
    ctx.c = malloc(sizeof(int) * (size_t)B);
    float *out = malloc(sizeof(float) * n_out), *dout = malloc(sizeof(float) * n_out);
    assert_true(ctx.x && ctx.t && ctx.y && ctx.c && out && dout);
    tu_fill_normal(ctx.x, n_out, 1, 1.0f);
    tu_fill_normal(dout, n_out, 2, 1.0f);
    for (int b = 0; b < B; b++) {
        ctx.t[b] = (float)(37 * b + 5);
        ctx.y[b] = b % 3;
        ctx.c[b] = (b + 1) % 2;
    }
    /* Double precision would be ideal; in float, keep values O(1) and use h = 1e-2. */
    fd_params_zero_grad(&m->params);
    fd_model_forward(m, out, ctx.x, ctx.t, ctx.y, ctx.c, B);
    fd_model_backward(m, dout);
    float *grad = malloc(sizeof(float) * m->params.count);
    assert_non_null(grad);
    memcpy(grad, m->params.grad, sizeof(float) * m->params.count);
    double worst = 0;
    const char *worst_name = "";
    for (int id = 0; id < m->params.n_tensors; id++) {
        const fd_tensor *tt = fd_params_tensor(&m->params, id);
        double err = tu_gradcheck(net_forward, &ctx, out, n_out, dout, m->params.data + tt->offset,
                                  grad + tt->offset, tt->count, 5, 1e-2f);
        if (!(err <= worst)) {
            worst = err;
            worst_name = tt->name;
        }
    }
    if (!(worst < tol)) fail_msg("worst gradient error %.3g in %s", worst, worst_name);
    free(grad);
    free(ctx.x);
    free(ctx.t);
    free(ctx.y);
    free(ctx.c);
    free(out);
    free(dout);
}

static void test_small_unet_gradients(void **state)
{
    (void)state;
    fd_model_config mc = {.kind = FD_MODEL_UNET};
    mc.unet = fd_unet_default_config();
    mc.unet.image_size = 8;
    mc.unet.width = 8;
    mc.unet.n_levels = 2;
    mc.unet.mults[0] = 1;
    mc.unet.mults[1] = 2;
    mc.unet.res_blocks = 1;
    mc.unet.attention_levels = 1u << 1;
    mc.unet.groups = 2;
    mc.unet.time_dim = 8;
    mc.unet.emb_dim = 16;
    mc.unet.n_classes = 3;
    mc.unet.n_clients = 2;
    fd_model *m = fd_model_create(&mc);
    fd_model_init(m, 3);
    gradcheck_model(m, 2, 2e-2);
    fd_model_free(m);
}

static void test_mlp_gradients(void **state)
{
    (void)state;
    fd_model_config mc = {.kind = FD_MODEL_MLP, .mlp = fd_mlp_default_config(5)};
    mc.mlp.hidden = 12;
    mc.mlp.layers = 2;
    mc.mlp.time_dim = 8;
    mc.mlp.emb_dim = 10;
    mc.mlp.n_classes = 3;
    mc.mlp.n_clients = 2;
    fd_model *m = fd_model_create(&mc);
    fd_model_init(m, 4);
    gradcheck_model(m, 3, 2e-2);
    fd_model_free(m);
}

/* The same seed gives the same initialisation; another seed another one. */
static void test_initialisation_is_seeded(void **state)
{
    (void)state;
    fd_model_config mc = {.kind = FD_MODEL_UNET, .unet = fd_unet_default_config()};
    fd_model *a = fd_model_create(&mc), *b = fd_model_create(&mc);
    fd_model_init(a, 11);
    fd_model_init(b, 11);
    assert_memory_equal(a->params.data, b->params.data, sizeof(float) * a->params.count);
    fd_model_init(b, 12);
    assert_memory_not_equal(a->params.data, b->params.data, sizeof(float) * a->params.count);
    /* PyTorch's bound: conv_in has fan_in 9, so |w| <= 1/3. */
    const fd_tensor *t = fd_params_tensor(&a->params, fd_params_find(&a->params, "conv_in.weight"));
    float maxabs = 0;
    for (size_t i = 0; i < t->count; i++) maxabs = fmaxf(maxabs, fabsf(a->params.data[t->offset + i]));
    assert_true(maxabs <= 1.0f / 3.0f && maxabs > 0.25f);
    fd_model_free(a);
    fd_model_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_unet_size_and_parts),
        cmocka_unit_test(test_small_unet_gradients),
        cmocka_unit_test(test_mlp_gradients),
        cmocka_unit_test(test_initialisation_is_seeded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
