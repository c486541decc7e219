/* builtin:gmm: vectors from a K-component isotropic Gaussian mixture in d dimensions.
 *
 * Component k has mean mu_k and covariance sigma^2 I. The means have norm `radius` and random
 * directions (a pure function of the seed); with K = 2 they are antipodal, mu_1 = -mu_0, the
 * symmetric two-component setting of SPIRE's theory. A sample's label is its component.
 *
 * The dataset is a pool with uniform labels; clients get their own mixing weights from the
 * partition (partition.h): a client's mixing weights are its label histogram, so `dirichlet`
 * with small alpha gives clients that differ strongly in their weights, and the partition table
 * shows each client's weights exactly. fd_gmm_fit_weights gives the maximum-likelihood weights of
 * a client's samples (components known), the reference that SPIRE's theory compares with.
 *
 * Sample `index` of a split is a pure function of (seed, split, index) (FD_RNG_DATA); split 0 is
 * the training split, 1 the test split. */
#ifndef FEDDIFF_GMM_H
#define FEDDIFF_GMM_H

#include <stddef.h>
#include <stdint.h>

enum { FD_GMM_MAX_COMPONENTS = 255 };

typedef struct {
    int components; /* K, 1..FD_GMM_MAX_COMPONENTS */
    int dim;        /* d >= 1 */
    float radius;   /* |mu_k| */
    float sigma;    /* standard deviation of every coordinate around its mean */
    uint64_t seed;
    float *means; /* [components][dim] */
} fd_gmm;

/* Set up the mixture (allocates the means). Returns -1 with an error for K outside
 * 1..FD_GMM_MAX_COMPONENTS, d < 1, radius < 0 or sigma <= 0. */
int fd_gmm_init(fd_gmm *g, int components, int dim, float radius, float sigma, uint64_t seed);
void fd_gmm_free(fd_gmm *g);

/* The label (component) of sample `index`, uniform on 0..K-1. */
uint8_t fd_gmm_label(const fd_gmm *g, uint32_t split, uint64_t index);
/* labels[i] = fd_gmm_label(g, split, i) for i < n. */
void fd_gmm_labels(const fd_gmm *g, uint32_t split, size_t n, uint8_t *labels);
/* x[dim] = sample `index`: mu_label + sigma * z. */
void fd_gmm_sample(const fd_gmm *g, uint32_t split, uint64_t index, float *x);
/* x[j * dim ...] = sample indices[j] for j < n. */
void fd_gmm_sample_many(const fd_gmm *g, uint32_t split, const uint32_t *indices, size_t n,
                        float *x);

/* log sum_k weights[k] N(x; mu_k, sigma^2 I), computed stably in double. */
double fd_gmm_log_density(const fd_gmm *g, const float *weights, const float *x);
/* The maximum-likelihood mixing weights of samples x[n][dim] with the components fixed: EM from
 * uniform weights for `iterations` steps (the log-likelihood is concave in the weights, so EM
 * converges to the unique maximum). weights[K] out. */
void fd_gmm_fit_weights(const fd_gmm *g, const float *x, size_t n, int iterations, float *weights);

#endif
