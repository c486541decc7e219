/* Mutants of the kernels, for checking that the tests can fail.
 *
 * Linked with -Wl,--wrap=fd_<kernel> for every kernel below, a test program calls these
 * wrappers instead of the kernels. With FEDDIFF_MUTANT unset they pass through; with
 * FEDDIFF_MUTANT=<kernel>.<output> the named output of that kernel is perturbed after the real
 * call: what the call added to it is scaled by 1 + 1e-3 * s_i, with s_i = ((i mod 7) - 3) / 3
 * in [-1, 1], a relative error of at most 1e-3 that no normalisation downstream can undo. A test
 * that still passes under a mutant cannot see that error. tests/mutation/run.sh drives it. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/activation.h"
#include "feddiff/attention.h"
#include "feddiff/blas.h"
#include "feddiff/conv2d.h"
#include "feddiff/elementwise.h"
#include "feddiff/embedding.h"
#include "feddiff/error.h"
#include "feddiff/groupnorm.h"
#include "feddiff/linear.h"
#include "feddiff/loss.h"
#include "feddiff/pool.h"
#include "feddiff/resample.h"

static bool mutant(const char *name)
{
    const char *active = getenv("FEDDIFF_MUTANT");
    return active && !strcmp(active, name);
}

/* A copy of p[0..n) before the real call, when the named output is the mutant (else NULL). */
static float *before(const char *name, const float *p, size_t n)
{
    if (!p || !mutant(name)) return NULL;
    float *copy = fd_malloc(n * sizeof *copy);
    memcpy(copy, p, n * sizeof *copy);
    return copy;
}

/* Scale what the call added to p (p - old; p itself for an output written whole) by the
 * mutant's factors. */
static void perturb(const char *name, float *p, float *old, size_t n, bool accumulated)
{
    if (!p || !mutant(name)) return;
    for (size_t i = 0; i < n; i++) {
        float base = accumulated ? old[i] : 0.0f;
        float s = (float)((int)(i % 7) - 3) / 3.0f;
        p[i] = base + (p[i] - base) * (1.0f + 1e-3f * s);
    }
    free(old);
}

/* Wrap an output written whole / an output accumulated into (+=). */
#define MUTATE_WRITTEN(name, p, n, call)                                                      \
    do {                                                                                       \
        call;                                                                                  \
        perturb(name, p, NULL, n, false);                                                      \
    } while (0)

#define OUT_SAVE(var, name, p, n) float *var = before(name, p, n)
#define OUT_PERTURB(var, name, p, n) perturb(name, p, var, n, true)

void __real_fd_silu_forward(float *out, const float *inp, size_t n);
void __wrap_fd_silu_forward(float *out, const float *inp, size_t n);
void __wrap_fd_silu_forward(float *out, const float *inp, size_t n)
{
    MUTATE_WRITTEN("silu_forward.out", out, n, __real_fd_silu_forward(out, inp, n));
}

void __real_fd_silu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void __wrap_fd_silu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void __wrap_fd_silu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    OUT_SAVE(old, "silu_backward.dinp", dinp, n);
    __real_fd_silu_backward(dinp, dout, inp, n);
    OUT_PERTURB(old, "silu_backward.dinp", dinp, n);
}

void __real_fd_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C);
void __wrap_fd_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C);
void __wrap_fd_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C)
{
    __real_fd_attention_forward(out, att, qkv, B, T, C);
    perturb("attention_forward.out", out, NULL, (size_t)B * T * C, false);
    perturb("attention_forward.att", att, NULL, (size_t)B * T * T, false);
}

void __real_fd_attention_backward(float *dqkv, const float *dout, const float *qkv,
                                  const float *att, int B, int T, int C);
void __wrap_fd_attention_backward(float *dqkv, const float *dout, const float *qkv,
                                  const float *att, int B, int T, int C);
void __wrap_fd_attention_backward(float *dqkv, const float *dout, const float *qkv,
                                  const float *att, int B, int T, int C)
{
    size_t n = (size_t)B * T * 3 * C;
    OUT_SAVE(old, "attention_backward.dqkv", dqkv, n);
    __real_fd_attention_backward(dqkv, dout, qkv, att, B, T, C);
    OUT_PERTURB(old, "attention_backward.dqkv", dqkv, n);
}

void __real_fd_conv2d_forward(float *out, const float *inp, const float *weight,
                              const float *bias, int B, int H, int W, int C_in, int C_out, int K,
                              int stride);
void __wrap_fd_conv2d_forward(float *out, const float *inp, const float *weight,
                              const float *bias, int B, int H, int W, int C_in, int C_out, int K,
                              int stride);
void __wrap_fd_conv2d_forward(float *out, const float *inp, const float *weight,
                              const float *bias, int B, int H, int W, int C_in, int C_out, int K,
                              int stride)
{
    size_t n = (size_t)B * ((H - 1) / stride + 1) * ((W - 1) / stride + 1) * C_out;
    MUTATE_WRITTEN("conv2d_forward.out", out, n,
                   __real_fd_conv2d_forward(out, inp, weight, bias, B, H, W, C_in, C_out, K,
                                            stride));
}

void __real_fd_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, int B, int H, int W,
                               int C_in, int C_out, int K, int stride);
void __wrap_fd_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, int B, int H, int W,
                               int C_in, int C_out, int K, int stride);
void __wrap_fd_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, int B, int H, int W,
                               int C_in, int C_out, int K, int stride)
{
    size_t n_inp = (size_t)B * H * W * C_in, n_w = (size_t)C_out * C_in * K * K;
    OUT_SAVE(old_inp, "conv2d_backward.dinp", dinp, n_inp);
    OUT_SAVE(old_w, "conv2d_backward.dweight", dweight, n_w);
    OUT_SAVE(old_b, "conv2d_backward.dbias", dbias, (size_t)C_out);
    __real_fd_conv2d_backward(dinp, dweight, dbias, dout, inp, weight, B, H, W, C_in, C_out, K,
                              stride);
    OUT_PERTURB(old_inp, "conv2d_backward.dinp", dinp, n_inp);
    OUT_PERTURB(old_w, "conv2d_backward.dweight", dweight, n_w);
    OUT_PERTURB(old_b, "conv2d_backward.dbias", dbias, (size_t)C_out);
}

void __real_fd_accumulate(float *dst, const float *src, size_t n);
void __wrap_fd_accumulate(float *dst, const float *src, size_t n);
void __wrap_fd_accumulate(float *dst, const float *src, size_t n)
{
    OUT_SAVE(old, "accumulate.dst", dst, n);
    __real_fd_accumulate(dst, src, n);
    OUT_PERTURB(old, "accumulate.dst", dst, n);
}

void __real_fd_add_channel_bias_forward(float *h, const float *bias, int B, int HW, int C);
void __wrap_fd_add_channel_bias_forward(float *h, const float *bias, int B, int HW, int C);
void __wrap_fd_add_channel_bias_forward(float *h, const float *bias, int B, int HW, int C)
{
    size_t n = (size_t)B * HW * C;
    OUT_SAVE(old, "add_channel_bias_forward.h", h, n);
    __real_fd_add_channel_bias_forward(h, bias, B, HW, C);
    OUT_PERTURB(old, "add_channel_bias_forward.h", h, n);
}

void __real_fd_add_channel_bias_backward(float *dbias, const float *dh, int B, int HW, int C);
void __wrap_fd_add_channel_bias_backward(float *dbias, const float *dh, int B, int HW, int C);
void __wrap_fd_add_channel_bias_backward(float *dbias, const float *dh, int B, int HW, int C)
{
    size_t n = (size_t)B * C;
    OUT_SAVE(old, "add_channel_bias_backward.dbias", dbias, n);
    __real_fd_add_channel_bias_backward(dbias, dh, B, HW, C);
    OUT_PERTURB(old, "add_channel_bias_backward.dbias", dbias, n);
}

void __real_fd_timestep_embedding_forward(float *out, const float *t, int B, int D);
void __wrap_fd_timestep_embedding_forward(float *out, const float *t, int B, int D);
void __wrap_fd_timestep_embedding_forward(float *out, const float *t, int B, int D)
{
    MUTATE_WRITTEN("timestep_embedding_forward.out", out, (size_t)B * D,
                   __real_fd_timestep_embedding_forward(out, t, B, D));
}

void __real_fd_timestep_embedding_backward(float *dt, const float *dout, const float *t, int B,
                                           int D);
void __wrap_fd_timestep_embedding_backward(float *dt, const float *dout, const float *t, int B,
                                           int D);
void __wrap_fd_timestep_embedding_backward(float *dt, const float *dout, const float *t, int B,
                                           int D)
{
    OUT_SAVE(old, "timestep_embedding_backward.dt", dt, (size_t)B);
    __real_fd_timestep_embedding_backward(dt, dout, t, B, D);
    OUT_PERTURB(old, "timestep_embedding_backward.dt", dt, (size_t)B);
}

void __real_fd_embedding_forward(float *out, const float *table, const int *ids, int B, int D);
void __wrap_fd_embedding_forward(float *out, const float *table, const int *ids, int B, int D);
void __wrap_fd_embedding_forward(float *out, const float *table, const int *ids, int B, int D)
{
    MUTATE_WRITTEN("embedding_forward.out", out, (size_t)B * D,
                   __real_fd_embedding_forward(out, table, ids, B, D));
}

void __real_fd_embedding_backward(float *dtable, const float *dout, const int *ids, int B, int D);
void __wrap_fd_embedding_backward(float *dtable, const float *dout, const int *ids, int B, int D);
void __wrap_fd_embedding_backward(float *dtable, const float *dout, const int *ids, int B, int D)
{
    int rows = 0; /* the rows the call can touch */
    for (int b = 0; b < B; b++)
        if (ids[b] + 1 > rows) rows = ids[b] + 1;
    size_t n = (size_t)rows * D;
    OUT_SAVE(old, "embedding_backward.dtable", dtable, n);
    __real_fd_embedding_backward(dtable, dout, ids, B, D);
    OUT_PERTURB(old, "embedding_backward.dtable", dtable, n);
}

void __real_fd_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                 const float *gamma, const float *beta, int B, int HW, int C,
                                 int G);
void __wrap_fd_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                 const float *gamma, const float *beta, int B, int HW, int C,
                                 int G);
void __wrap_fd_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                 const float *gamma, const float *beta, int B, int HW, int C,
                                 int G)
{
    __real_fd_groupnorm_forward(out, mean, rstd, inp, gamma, beta, B, HW, C, G);
    perturb("groupnorm_forward.out", out, NULL, (size_t)B * HW * C, false);
    perturb("groupnorm_forward.rstd", rstd, NULL, (size_t)B * G, false);
}

void __real_fd_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                  const float *inp, const float *mean, const float *rstd,
                                  const float *gamma, int B, int HW, int C, int G);
void __wrap_fd_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                  const float *inp, const float *mean, const float *rstd,
                                  const float *gamma, int B, int HW, int C, int G);
void __wrap_fd_groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                                  const float *inp, const float *mean, const float *rstd,
                                  const float *gamma, int B, int HW, int C, int G)
{
    size_t n = (size_t)B * HW * C;
    OUT_SAVE(old_inp, "groupnorm_backward.dinp", dinp, n);
    OUT_SAVE(old_g, "groupnorm_backward.dgamma", dgamma, (size_t)C);
    OUT_SAVE(old_b, "groupnorm_backward.dbeta", dbeta, (size_t)C);
    __real_fd_groupnorm_backward(dinp, dgamma, dbeta, dout, inp, mean, rstd, gamma, B, HW, C, G);
    OUT_PERTURB(old_inp, "groupnorm_backward.dinp", dinp, n);
    OUT_PERTURB(old_g, "groupnorm_backward.dgamma", dgamma, (size_t)C);
    OUT_PERTURB(old_b, "groupnorm_backward.dbeta", dbeta, (size_t)C);
}

void __real_fd_linear_forward(float *out, const float *inp, const float *weight,
                              const float *bias, int N, int IC, int OC);
void __wrap_fd_linear_forward(float *out, const float *inp, const float *weight,
                              const float *bias, int N, int IC, int OC);
void __wrap_fd_linear_forward(float *out, const float *inp, const float *weight,
                              const float *bias, int N, int IC, int OC)
{
    MUTATE_WRITTEN("linear_forward.out", out, (size_t)N * OC,
                   __real_fd_linear_forward(out, inp, weight, bias, N, IC, OC));
}

void __real_fd_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, int N, int IC, int OC);
void __wrap_fd_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, int N, int IC, int OC);
void __wrap_fd_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, int N, int IC, int OC)
{
    size_t n_inp = (size_t)N * IC, n_w = (size_t)OC * IC;
    OUT_SAVE(old_inp, "linear_backward.dinp", dinp, n_inp);
    OUT_SAVE(old_w, "linear_backward.dweight", dweight, n_w);
    OUT_SAVE(old_b, "linear_backward.dbias", dbias, (size_t)OC);
    __real_fd_linear_backward(dinp, dweight, dbias, dout, inp, weight, N, IC, OC);
    OUT_PERTURB(old_inp, "linear_backward.dinp", dinp, n_inp);
    OUT_PERTURB(old_w, "linear_backward.dweight", dweight, n_w);
    OUT_PERTURB(old_b, "linear_backward.dbias", dbias, (size_t)OC);
}

float __real_fd_mse_forward(const float *pred, const float *target, size_t n);
float __wrap_fd_mse_forward(const float *pred, const float *target, size_t n);
float __wrap_fd_mse_forward(const float *pred, const float *target, size_t n)
{
    float loss = __real_fd_mse_forward(pred, target, n);
    return mutant("mse_forward.loss") ? loss * (1.0f + 1e-3f) : loss;
}

void __real_fd_mse_backward(float *dpred, const float *pred, const float *target, size_t n,
                            float dloss);
void __wrap_fd_mse_backward(float *dpred, const float *pred, const float *target, size_t n,
                            float dloss);
void __wrap_fd_mse_backward(float *dpred, const float *pred, const float *target, size_t n,
                            float dloss)
{
    OUT_SAVE(old, "mse_backward.dpred", dpred, n);
    __real_fd_mse_backward(dpred, pred, target, n, dloss);
    OUT_PERTURB(old, "mse_backward.dpred", dpred, n);
}

void __real_fd_softmax_xent_backward(float *dlogits, const float *probs, const int *labels, int B,
                                     int C, float dloss);
void __wrap_fd_softmax_xent_backward(float *dlogits, const float *probs, const int *labels, int B,
                                     int C, float dloss);
void __wrap_fd_softmax_xent_backward(float *dlogits, const float *probs, const int *labels, int B,
                                     int C, float dloss)
{
    const size_t n = (size_t)B * (size_t)C;
    OUT_SAVE(old, "softmax_xent_backward.dlogits", dlogits, n);
    __real_fd_softmax_xent_backward(dlogits, probs, labels, B, C, dloss);
    OUT_PERTURB(old, "softmax_xent_backward.dlogits", dlogits, n);
}

float __real_fd_softmax_xent_forward(float *probs, const float *logits, const int *labels, int B,
                                     int C);
float __wrap_fd_softmax_xent_forward(float *probs, const float *logits, const int *labels, int B,
                                     int C);
float __wrap_fd_softmax_xent_forward(float *probs, const float *logits, const int *labels, int B,
                                     int C)
{
    float loss = __real_fd_softmax_xent_forward(probs, logits, labels, B, C);
    perturb("softmax_xent_forward.probs", probs, NULL, (size_t)B * (size_t)C, false);
    return mutant("softmax_xent_forward.loss") ? loss * (1.0f + 1e-3f) : loss;
}

void __real_fd_relu_forward(float *out, const float *inp, size_t n);
void __wrap_fd_relu_forward(float *out, const float *inp, size_t n);
void __wrap_fd_relu_forward(float *out, const float *inp, size_t n)
{
    MUTATE_WRITTEN("relu_forward.out", out, n, __real_fd_relu_forward(out, inp, n));
}

void __real_fd_relu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void __wrap_fd_relu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void __wrap_fd_relu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    OUT_SAVE(old, "relu_backward.dinp", dinp, n);
    __real_fd_relu_backward(dinp, dout, inp, n);
    OUT_PERTURB(old, "relu_backward.dinp", dinp, n);
}

void __real_fd_maxpool2x2_forward(float *out, const float *inp, int B, int H, int W, int C);
void __wrap_fd_maxpool2x2_forward(float *out, const float *inp, int B, int H, int W, int C);
void __wrap_fd_maxpool2x2_forward(float *out, const float *inp, int B, int H, int W, int C)
{
    MUTATE_WRITTEN("maxpool2x2_forward.out", out, (size_t)B * (H / 2) * (W / 2) * C,
                   __real_fd_maxpool2x2_forward(out, inp, B, H, W, C));
}

void __real_fd_maxpool2x2_backward(float *dinp, const float *dout, const float *inp, int B, int H,
                                   int W, int C);
void __wrap_fd_maxpool2x2_backward(float *dinp, const float *dout, const float *inp, int B, int H,
                                   int W, int C);
void __wrap_fd_maxpool2x2_backward(float *dinp, const float *dout, const float *inp, int B, int H,
                                   int W, int C)
{
    const size_t n = (size_t)B * H * W * C;
    OUT_SAVE(old, "maxpool2x2_backward.dinp", dinp, n);
    __real_fd_maxpool2x2_backward(dinp, dout, inp, B, H, W, C);
    OUT_PERTURB(old, "maxpool2x2_backward.dinp", dinp, n);
}

void __real_fd_upsample2x_forward(float *out, const float *inp, int B, int H, int W, int C);
void __wrap_fd_upsample2x_forward(float *out, const float *inp, int B, int H, int W, int C);
void __wrap_fd_upsample2x_forward(float *out, const float *inp, int B, int H, int W, int C)
{
    MUTATE_WRITTEN("upsample2x_forward.out", out, (size_t)B * 4 * H * W * C,
                   __real_fd_upsample2x_forward(out, inp, B, H, W, C));
}

void __real_fd_upsample2x_backward(float *dinp, const float *dout, int B, int H, int W, int C);
void __wrap_fd_upsample2x_backward(float *dinp, const float *dout, int B, int H, int W, int C);
void __wrap_fd_upsample2x_backward(float *dinp, const float *dout, int B, int H, int W, int C)
{
    size_t n = (size_t)B * H * W * C;
    OUT_SAVE(old, "upsample2x_backward.dinp", dinp, n);
    __real_fd_upsample2x_backward(dinp, dout, B, H, W, C);
    OUT_PERTURB(old, "upsample2x_backward.dinp", dinp, n);
}

void __real_fd_concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb);
void __wrap_fd_concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb);
void __wrap_fd_concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb)
{
    MUTATE_WRITTEN("concat_forward.out", out, (size_t)N * (Ca + Cb),
                   __real_fd_concat_forward(out, a, b, N, Ca, Cb));
}

void __real_fd_concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb);
void __wrap_fd_concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb);
void __wrap_fd_concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb)
{
    OUT_SAVE(old_a, "concat_backward.da", da, (size_t)N * Ca);
    OUT_SAVE(old_b, "concat_backward.db", db, (size_t)N * Cb);
    __real_fd_concat_backward(da, db, dout, N, Ca, Cb);
    OUT_PERTURB(old_a, "concat_backward.da", da, (size_t)N * Ca);
    OUT_PERTURB(old_b, "concat_backward.db", db, (size_t)N * Cb);
}
