/* Sample-quality metrics on feature vectors (docs/evaluation.md gives the definitions).
 *
 *   FID  = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2}) (Heusel et al. 2017), from the
 *          feature means and unbiased covariances in double; the trace of the square root is
 *          the sum of sqrt(eigenvalues of S_a^{1/2} S_b S_a^{1/2}), both symmetric
 *          eigenproblems solved by LAPACK (dsyevd), negative round-off eigenvalues clamped.
 *   KID  = the unbiased MMD^2 (Binkowski et al. 2018) with the cubic polynomial kernel
 *          k(x, y) = (x.y / d + 1)^3, averaged over random subsets of size m drawn without
 *          replacement from each set; reported as mean and standard deviation over subsets.
 *   TV   = total-variation distance 1/2 sum_k |p_k - q_k| of two label distributions.
 * In feddiff's output they are fid_cls and kid_cls: computed in the feature space of feddiff's
 * own classifier (feddiff/classifier.h), not Inception's, so not comparable with published
 * FID values. */
#ifndef FEDDIFF_METRICS_H
#define FEDDIFF_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Mean and covariance of a set of feature vectors. */
typedef struct {
    int dim;
    size_t n;     /* vectors summarised */
    double *mean; /* [dim] */
    double *cov;  /* [dim][dim] unbiased (divided by n - 1) */
} fd_feature_stats;

/* Statistics of x [n][dim] (n >= 2). */
void fd_feature_stats_compute(fd_feature_stats *s, const float *x, size_t n, int dim);
void fd_feature_stats_free(fd_feature_stats *s);

/* The Frechet distance of two statistics of the same dimension. */
double fd_fid(const fd_feature_stats *a, const fd_feature_stats *b);

/* Subset `subset` of size m of [0, n) (m <= n), for set `which` (0 or 1): distinct indices in
 * draw order, from the FD_RNG_EVAL stream of (seed, which, subset) by a partial Fisher-Yates
 * shuffle. */
void fd_kid_subset(uint32_t *idx, size_t n, size_t m, uint64_t seed, uint32_t which,
                   uint32_t subset);
/* The unbiased MMD^2 between rows ix[0..m) of x [.][dim] and rows iy[0..m) of y (m >= 2):
 * sum_{i != j} k(x_i, x_j) / (m (m - 1)) + the same for y - 2 sum_{i, j} k(x_i, y_j) / m^2. */
double fd_mmd2_unbiased(const float *x, const uint32_t *ix, const float *y, const uint32_t *iy,
                        size_t m, int dim);

typedef struct {
    double mean, std; /* over subsets; std is the sample standard deviation (0 for one subset) */
    int subsets;
    size_t subset_size; /* min(requested, nx, ny) */
} fd_kid_result;

/* KID of x [nx][dim] against y [ny][dim] over `subsets` subsets of size min(subset_size, nx,
 * ny), drawn with fd_kid_subset (x is set 0, y set 1). Needs nx, ny >= 2. */
fd_kid_result fd_kid(const float *x, size_t nx, const float *y, size_t ny, int dim, int subsets,
                     size_t subset_size, uint64_t seed);

/* 1/2 sum_k |p_k - q_k| of two distributions over k classes (each summing to 1). */
double fd_tv_distance(const double *p, const double *q, int k);

#endif
