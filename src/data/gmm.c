#include "feddiff/gmm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/rng.h"

/* Streams of FD_RNG_DATA: round = GMM_ROUND + split. Step 0 draws labels (index = sample);
 * step 1 the noise of sample `client` (index = coordinate); the means use round GMM_MEANS_ROUND,
 * client = component. */
enum { GMM_ROUND = 0x200, GMM_MEANS_ROUND = 0x2FF, STEP_LABEL = 0, STEP_NOISE = 1 };

int fd_gmm_init(fd_gmm *g, int components, int dim, float radius, float sigma, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    if (components < 1 || components > FD_GMM_MAX_COMPONENTS) {
        fd_set_error("builtin:gmm: %d components; use 1 to %d", components, FD_GMM_MAX_COMPONENTS);
        return -1;
    }
    if (dim < 1 || !(radius >= 0) || !(sigma > 0)) {
        fd_set_error("builtin:gmm: needs dim >= 1, radius >= 0 and sigma > 0 (got %d, %g, %g)", dim,
                     (double)radius, (double)sigma);
        return -1;
    }
    g->components = components;
    g->dim = dim;
    g->radius = radius;
    g->sigma = sigma;
    g->seed = seed;
    g->means = fd_malloc(sizeof(float) * (size_t)components * (size_t)dim);
    for (int k = 0; k < components; k++) {
        float *mu = g->means + (size_t)k * (size_t)dim;
        if (k == 1 && components == 2) {
            for (int i = 0; i < dim; i++) mu[i] = -g->means[i];
            continue;
        }
        fd_rng s = fd_rng_stream(seed, FD_RNG_DATA, GMM_MEANS_ROUND, (uint32_t)k, 0);
        double norm2 = 0;
        fd_rng_fill_normal(&s, 0, (size_t)dim, mu);
        for (int i = 0; i < dim; i++) norm2 += (double)mu[i] * mu[i];
        float scale = (float)(radius / sqrt(norm2));
        for (int i = 0; i < dim; i++) mu[i] *= scale;
    }
    return 0;
}

void fd_gmm_free(fd_gmm *g)
{
    free(g->means);
    memset(g, 0, sizeof *g);
}

uint8_t fd_gmm_label(const fd_gmm *g, uint32_t split, uint64_t index)
{
    fd_rng s = fd_rng_stream(g->seed, FD_RNG_DATA, GMM_ROUND + split, 0, STEP_LABEL);
    return (uint8_t)fd_rng_below(&s, index, (uint32_t)g->components);
}

void fd_gmm_labels(const fd_gmm *g, uint32_t split, size_t n, uint8_t *labels)
{
    fd_rng s = fd_rng_stream(g->seed, FD_RNG_DATA, GMM_ROUND + split, 0, STEP_LABEL);
    for (size_t i = 0; i < n; i++)
        labels[i] = (uint8_t)fd_rng_below(&s, i, (uint32_t)g->components);
}

void fd_gmm_sample(const fd_gmm *g, uint32_t split, uint64_t index, float *x)
{
    /* Samples beyond 2^32 move to further (odd) steps, as in glyphs.c. */
    fd_rng s = fd_rng_stream(g->seed, FD_RNG_DATA, GMM_ROUND + split, (uint32_t)index,
                             STEP_NOISE + 2 * (uint32_t)(index >> 32));
    const float *mu = g->means + (size_t)fd_gmm_label(g, split, index) * (size_t)g->dim;
    fd_rng_fill_normal(&s, 0, (size_t)g->dim, x);
    for (int i = 0; i < g->dim; i++) x[i] = mu[i] + g->sigma * x[i];
}

void fd_gmm_sample_many(const fd_gmm *g, uint32_t split, const uint32_t *indices, size_t n,
                        float *x)
{
#pragma omp parallel for schedule(static) if (n > 1024)
    for (size_t j = 0; j < n; j++) fd_gmm_sample(g, split, indices[j], x + j * (size_t)g->dim);
}

/* log N(x; mu_k, sigma^2 I) for every k, in double. */
static void component_log_densities(const fd_gmm *g, const float *x, double *out)
{
    const double two_pi = 6.283185307179586476925;
    double var = (double)g->sigma * g->sigma;
    double norm = -0.5 * g->dim * log(two_pi * var);
    for (int k = 0; k < g->components; k++) {
        const float *mu = g->means + (size_t)k * (size_t)g->dim;
        double d2 = 0;
        for (int i = 0; i < g->dim; i++) {
            double e = (double)x[i] - mu[i];
            d2 += e * e;
        }
        out[k] = norm - 0.5 * d2 / var;
    }
}

/* log sum_k exp(a[k] + log w[k]); components with zero weight drop out. */
static double log_sum_weighted(const double *a, const double *w, int k_count)
{
    double top = -INFINITY;
    for (int k = 0; k < k_count; k++)
        if (w[k] > 0 && a[k] > top) top = a[k];
    if (top == -INFINITY) return -INFINITY;
    double sum = 0;
    for (int k = 0; k < k_count; k++)
        if (w[k] > 0) sum += w[k] * exp(a[k] - top);
    return top + log(sum);
}

double fd_gmm_log_density(const fd_gmm *g, const float *weights, const float *x)
{
    double a[FD_GMM_MAX_COMPONENTS], w[FD_GMM_MAX_COMPONENTS];
    component_log_densities(g, x, a);
    for (int k = 0; k < g->components; k++) w[k] = weights[k];
    return log_sum_weighted(a, w, g->components);
}

void fd_gmm_fit_weights(const fd_gmm *g, const float *x, size_t n, int iterations, float *weights)
{
    const int K = g->components;
    double w[FD_GMM_MAX_COMPONENTS], next[FD_GMM_MAX_COMPONENTS], a[FD_GMM_MAX_COMPONENTS];
    for (int k = 0; k < K; k++) w[k] = 1.0 / K;
    double *logp = fd_malloc(sizeof(double) * n * (size_t)K);
    for (size_t i = 0; i < n; i++)
        component_log_densities(g, x + i * (size_t)g->dim, logp + i * (size_t)K);
    for (int it = 0; it < iterations && n > 0; it++) {
        for (int k = 0; k < K; k++) next[k] = 0;
        for (size_t i = 0; i < n; i++) {
            const double *li = logp + i * (size_t)K;
            double total = log_sum_weighted(li, w, K);
            for (int k = 0; k < K; k++) a[k] = w[k] > 0 ? exp(li[k] + log(w[k]) - total) : 0;
            for (int k = 0; k < K; k++) next[k] += a[k];
        }
        for (int k = 0; k < K; k++) w[k] = next[k] / (double)n;
    }
    free(logp);
    for (int k = 0; k < K; k++) weights[k] = (float)w[k];
}
