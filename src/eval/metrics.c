#include "feddiff/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/blas.h"
#include "feddiff/error.h"
#include "feddiff/rng.h"
#include "feddiff/threads.h"

/* LAPACK's symmetric divide-and-conquer eigensolver, by its Fortran symbol (gfortran's ABI:
 * every argument by reference, then the lengths of the character arguments). */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                    double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                    int *info, size_t jobz_len, size_t uplo_len);

/* Eigenvalues w [n] (ascending) of the symmetric a [n][n]; with vectors, a is overwritten by
 * the eigenvectors (row-major: row i of a is eigenvector i, since LAPACK stores columns). */
static void symmetric_eigen(double *a, int n, double *w, int vectors)
{
    const char jobz = vectors ? 'V' : 'N', uplo = 'U';
    int lwork = -1, liwork = -1, info = 0, iwork_query = 0;
    double work_query = 0.0;
    dsyevd_(&jobz, &uplo, &n, a, &n, w, &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1);
    if (info != 0) FD_FATAL("LAPACK dsyevd workspace query failed (info %d)", info);
    lwork = (int)work_query;
    liwork = iwork_query;
    double *work = fd_malloc(sizeof(double) * (size_t)lwork);
    int *iwork = fd_malloc(sizeof(int) * (size_t)(liwork > 1 ? liwork : 1));
    dsyevd_(&jobz, &uplo, &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    /* info > 0: the algorithm did not converge, which needs a matrix with NaN or inf. */
    if (info != 0) FD_FATAL("LAPACK dsyevd failed (info %d): non-finite features?", info);
    free(work);
    free(iwork);
}

void fd_feature_stats_compute(fd_feature_stats *s, const float *x, size_t n, int dim)
{
    FD_ASSERT(n >= 2 && dim >= 1);
    const size_t d = (size_t)dim;
    s->dim = dim;
    s->n = n;
    s->mean = fd_calloc(d, sizeof(double));
    s->cov = fd_malloc(sizeof(double) * d * d);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) s->mean[j] += (double)x[i * d + j];
    for (size_t j = 0; j < d; j++) s->mean[j] /= (double)n;
    /* cov = X_c^T X_c / (n - 1) with the centred features in double, in blocks of rows. */
    enum { ROWS = 4096 };
    double *xc = fd_malloc(sizeof(double) * ROWS * d);
    for (size_t first = 0; first < n; first += ROWS) {
        const size_t rows = n - first < ROWS ? n - first : ROWS;
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < d; j++)
                xc[i * d + j] = (double)x[(first + i) * d + j] - s->mean[j];
        fd_dgemm(true, false, dim, dim, (int)rows, 1.0 / (double)(n - 1), xc, dim, xc, dim,
                 first == 0 ? 0.0 : 1.0, s->cov, dim);
    }
    free(xc);
}

void fd_feature_stats_free(fd_feature_stats *s)
{
    free(s->mean);
    free(s->cov);
    memset(s, 0, sizeof *s);
}

double fd_fid(const fd_feature_stats *a, const fd_feature_stats *b)
{
    FD_ASSERT(a->dim == b->dim);
    const int n = a->dim;
    const size_t d = (size_t)n;
    double mean_term = 0.0, trace = 0.0;
    for (size_t j = 0; j < d; j++) {
        const double diff = a->mean[j] - b->mean[j];
        mean_term += diff * diff;
        trace += a->cov[j * d + j] + b->cov[j * d + j];
    }
    /* S_a = V diag(l) V^T, so S_a^{1/2} = V diag(sqrt(l)) V^T = (V diag(l^{1/4}))(...)^T. */
    double *v = fd_malloc(sizeof(double) * d * d), *w = fd_malloc(sizeof(double) * d);
    double *root = fd_malloc(sizeof(double) * d * d), *tmp = fd_malloc(sizeof(double) * d * d);
    memcpy(v, a->cov, sizeof(double) * d * d);
    symmetric_eigen(v, n, w, 1);
    for (size_t i = 0; i < d; i++) { /* row i of v is eigenvector i */
        const double q = sqrt(sqrt(w[i] > 0.0 ? w[i] : 0.0));
        for (size_t j = 0; j < d; j++) v[i * d + j] *= q;
    }
    fd_dgemm(true, false, n, n, n, 1.0, v, n, v, n, 0.0, root, n);
    /* M = S_a^{1/2} S_b S_a^{1/2}, symmetric up to round-off: its eigenvalues are those of
     * S_a S_b, and tr (S_a S_b)^{1/2} = sum of their square roots. */
    fd_dgemm(false, false, n, n, n, 1.0, root, n, b->cov, n, 0.0, tmp, n);
    fd_dgemm(false, false, n, n, n, 1.0, tmp, n, root, n, 0.0, v, n);
    for (size_t i = 0; i < d; i++)
        for (size_t j = i + 1; j < d; j++) {
            const double sym = 0.5 * (v[i * d + j] + v[j * d + i]);
            v[i * d + j] = v[j * d + i] = sym;
        }
    symmetric_eigen(v, n, w, 0);
    double root_trace = 0.0;
    for (size_t i = 0; i < d; i++) root_trace += sqrt(w[i] > 0.0 ? w[i] : 0.0);
    free(v);
    free(w);
    free(root);
    free(tmp);
    return mean_term + trace - 2.0 * root_trace;
}

void fd_kid_subset(uint32_t *idx, size_t n, size_t m, uint64_t seed, uint32_t which,
                   uint32_t subset)
{
    FD_ASSERT(m <= n && n <= UINT32_MAX);
    fd_rng s = fd_rng_stream(seed, FD_RNG_EVAL, 0, which, subset);
    uint32_t *perm = fd_malloc(sizeof(uint32_t) * (n > 0 ? n : 1));
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (size_t i = 0; i < m; i++) {
        const size_t j = i + fd_rng_below(&s, i, (uint32_t)(n - i));
        const uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        idx[i] = perm[i];
    }
    free(perm);
}

/* Rows idx[0..m) of x, in double. */
static double *gather_rows(const float *x, const uint32_t *idx, size_t m, size_t d)
{
    double *out = fd_malloc(sizeof(double) * m * d);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < d; j++) out[i * d + j] = (double)x[(size_t)idx[i] * d + j];
    return out;
}

/* Sum of k over the entries of the Gram matrix g [m][m] (= A B^T), diagonal left out when
 * `off_diagonal`. */
static double kernel_sum(const double *g, size_t m, double inv_d, int off_diagonal)
{
    double sum = 0.0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < m; j++) {
            if (off_diagonal && i == j) continue;
            const double k = g[i * m + j] * inv_d + 1.0;
            sum += k * k * k;
        }
    return sum;
}

double fd_mmd2_unbiased(const float *x, const uint32_t *ix, const float *y, const uint32_t *iy,
                        size_t m, int dim)
{
    FD_ASSERT(m >= 2);
    const size_t d = (size_t)dim;
    const int mi = (int)m;
    const double inv_d = 1.0 / (double)dim, mm = (double)m;
    double *a = gather_rows(x, ix, m, d), *b = gather_rows(y, iy, m, d);
    double *g = fd_malloc(sizeof(double) * m * m);
    fd_dgemm(false, true, mi, mi, dim, 1.0, a, dim, a, dim, 0.0, g, mi);
    const double kxx = kernel_sum(g, m, inv_d, 1);
    fd_dgemm(false, true, mi, mi, dim, 1.0, b, dim, b, dim, 0.0, g, mi);
    const double kyy = kernel_sum(g, m, inv_d, 1);
    fd_dgemm(false, true, mi, mi, dim, 1.0, a, dim, b, dim, 0.0, g, mi);
    const double kxy = kernel_sum(g, m, inv_d, 0);
    free(a);
    free(b);
    free(g);
    return (kxx + kyy) / (mm * (mm - 1.0)) - 2.0 * kxy / (mm * mm);
}

fd_kid_result fd_kid(const float *x, size_t nx, const float *y, size_t ny, int dim, int subsets,
                     size_t subset_size, uint64_t seed)
{
    FD_ASSERT(nx >= 2 && ny >= 2 && subsets >= 1);
    size_t m = subset_size < nx ? subset_size : nx;
    if (ny < m) m = ny;
    if (m < 2) m = 2;
    /* Subsets are independent: one per thread, each on single-threaded GEMMs, then summed in
     * subset order, so the result does not depend on the thread count. */
    double *values = fd_malloc(sizeof(double) * (size_t)subsets);
#pragma omp parallel for schedule(dynamic) num_threads(fd_threads())
    for (int s = 0; s < subsets; s++) {
        uint32_t *ix = fd_malloc(sizeof(uint32_t) * m), *iy = fd_malloc(sizeof(uint32_t) * m);
        fd_kid_subset(ix, nx, m, seed, 0, (uint32_t)s);
        fd_kid_subset(iy, ny, m, seed, 1, (uint32_t)s);
        values[s] = fd_mmd2_unbiased(x, ix, y, iy, m, dim);
        free(ix);
        free(iy);
    }
    double sum = 0.0, sum_sq = 0.0;
    for (int s = 0; s < subsets; s++) sum += values[s], sum_sq += values[s] * values[s];
    free(values);
    fd_kid_result r = {.subsets = subsets, .subset_size = m};
    r.mean = sum / subsets;
    r.std = subsets > 1 ? sqrt(fmax(sum_sq - sum * r.mean, 0.0) / (subsets - 1)) : 0.0;
    return r;
}

double fd_tv_distance(const double *p, const double *q, int k)
{
    double sum = 0.0;
    for (int i = 0; i < k; i++) sum += fabs(p[i] - q[i]);
    return 0.5 * sum;
}
