#include "feddiff/layers.h"

#include <math.h>
#include <stdio.h>

#include "feddiff/error.h"
#include "feddiff/rng.h"

static int declare(fd_params *p, enum fd_part part, const char *prefix, const char *suffix,
                   int ndim, const int *shape)
{
    char name[FD_TENSOR_NAME_MAX];
    int n = snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    FD_ASSERT(n > 0 && n < (int)sizeof name);
    return fd_params_declare(p, name, part, ndim, shape);
}

fd_layer fd_layer_conv(fd_params *p, enum fd_part part, const char *prefix, int cin, int cout,
                       int k)
{
    fd_layer l = {declare(p, part, prefix, "weight", 4, (int[]){cout, cin, k, k}),
                  declare(p, part, prefix, "bias", 1, (int[]){cout})};
    return l;
}

fd_layer fd_layer_linear(fd_params *p, enum fd_part part, const char *prefix, int in, int out)
{
    fd_layer l = {declare(p, part, prefix, "weight", 2, (int[]){out, in}),
                  declare(p, part, prefix, "bias", 1, (int[]){out})};
    return l;
}

fd_layer fd_layer_norm(fd_params *p, enum fd_part part, const char *prefix, int c)
{
    fd_layer l = {declare(p, part, prefix, "weight", 1, (int[]){c}),
                  declare(p, part, prefix, "bias", 1, (int[]){c})};
    return l;
}

static void fill_uniform(const fd_params *p, int id, float bound, uint64_t seed)
{
    const fd_tensor *t = fd_params_tensor(p, id);
    float *d = fd_params_data(p, id);
    fd_rng s = fd_rng_stream(seed, FD_RNG_INIT, 0, (uint32_t)id, 0);
    fd_rng_fill_uniform(&s, 0, t->count, d);
    for (size_t i = 0; i < t->count; i++) d[i] = bound * (2.0f * d[i] - 1.0f);
}

void fd_layer_init_uniform(const fd_params *p, fd_layer l, uint64_t seed)
{
    if (l.w < 0) return;
    const fd_tensor *w = fd_params_tensor(p, l.w);
    float bound = 1.0f / sqrtf((float)(w->count / (size_t)w->shape[0])); /* 1/sqrt(fan_in) */
    fill_uniform(p, l.w, bound, seed);
    fill_uniform(p, l.b, bound, seed);
}

void fd_layer_init_norm(const fd_params *p, fd_layer l)
{
    if (l.w < 0) return;
    size_t n = fd_params_tensor(p, l.w)->count;
    float *g = fd_params_data(p, l.w), *b = fd_params_data(p, l.b);
    for (size_t i = 0; i < n; i++) {
        g[i] = 1.0f;
        b[i] = 0.0f;
    }
}

void fd_tensor_init_normal(const fd_params *p, int id, uint64_t seed)
{
    if (id < 0) return;
    fd_rng s = fd_rng_stream(seed, FD_RNG_INIT, 0, (uint32_t)id, 0);
    fd_rng_fill_normal(&s, 0, fd_params_tensor(p, id)->count, fd_params_data(p, id));
}
