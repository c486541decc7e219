/* The C side of the metrics reference test: feature arrays and feddiff's FID, KID (with the
 * subsets it drew), label TV and per-class FID on them, written to an HDF5 file that
 * tests/reference/compare_metrics.py recomputes with NumPy and SciPy.
 *
 *   export_metrics OUT.h5
 *
 * One group per case, each with /x [nx][d], /y [ny][d], attributes fid, kid_mean, kid_std,
 * kid_subsets, kid_size, and /kid_ix, /kid_iy [subsets][m] (the subsets' indices):
 *   gaussian  two Gaussians with different means and covariances (d = 64, 9000 and 5000 rows)
 *   relu      correlated Gaussians through ReLU with a few dead dimensions, like a network's
 *             post-ReLU features (d = 128)
 *   glyphs    features of a small classifier trained here: glyph training images against
 *             glyph test images (close), with labels: also /x_labels, /x_predicted,
 *             /y_labels and the scores of fd_eval_compare (label_tv, class_fid [10])
 *   noise     the same classifier: glyph test images against uniform noise images (far) */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/blas.h"
#include "feddiff/classifier.h"
#include "feddiff/dataset.h"
#include "feddiff/error.h"
#include "feddiff/evaluate.h"
#include "feddiff/glyphs.h"
#include "feddiff/hdf5_util.h"
#include "feddiff/metrics.h"
#include "feddiff/rng.h"

enum { SUBSETS = 12, KID_SIZE = 400 };
static const uint64_t KID_SEED = 5;

static void write(hid_t loc, const char *name, hid_t type, int ndim, const hsize_t *dims,
                  const void *data)
{
    fd_h5_writes writes = {0};
    fd_h5_write_dataset(&writes, loc, name, type, ndim, dims, data, name);
    if (writes.failed) FD_FATAL("writing dataset %s failed", name);
}

/* Write a case: the arrays, feddiff's FID and KID, and the KID subsets. */
static hid_t write_case(hid_t file, const char *name, const float *x, size_t nx, const float *y,
                        size_t ny, int d)
{
    hid_t g;
    FD_CHECK_H5(g = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    hsize_t dx[2] = {nx, (hsize_t)d}, dy[2] = {ny, (hsize_t)d};
    write(g, "x", H5T_NATIVE_FLOAT, 2, dx, x);
    write(g, "y", H5T_NATIVE_FLOAT, 2, dy, y);
    fd_feature_stats sx, sy;
    fd_feature_stats_compute(&sx, x, nx, d);
    fd_feature_stats_compute(&sy, y, ny, d);
    const double fid = fd_fid(&sx, &sy);
    fd_h5_attr_double(g, "fid", fid);
    fd_feature_stats_free(&sx);
    fd_feature_stats_free(&sy);
    fd_kid_result kid = fd_kid(x, nx, y, ny, d, SUBSETS, KID_SIZE, KID_SEED);
    fd_h5_attr_double(g, "kid_mean", kid.mean);
    fd_h5_attr_double(g, "kid_std", kid.std);
    fd_h5_attr_double(g, "kid_subsets", kid.subsets);
    fd_h5_attr_double(g, "kid_size", (double)kid.subset_size);
    const size_t m = kid.subset_size;
    uint32_t *ix = fd_malloc(sizeof(uint32_t) * SUBSETS * m);
    uint32_t *iy = fd_malloc(sizeof(uint32_t) * SUBSETS * m);
    for (int s = 0; s < SUBSETS; s++) {
        fd_kid_subset(ix + (size_t)s * m, nx, m, KID_SEED, 0, (uint32_t)s);
        fd_kid_subset(iy + (size_t)s * m, ny, m, KID_SEED, 1, (uint32_t)s);
    }
    hsize_t di[2] = {SUBSETS, m};
    write(g, "kid_ix", H5T_NATIVE_UINT32, 2, di, ix);
    write(g, "kid_iy", H5T_NATIVE_UINT32, 2, di, iy);
    free(ix);
    free(iy);
    printf("%-9s nx %5zu ny %5zu d %3d  fid %.6g  kid %.6g +- %.3g\n", name, nx, ny, d, fid,
           kid.mean, kid.std);
    return g;
}

/* x [n][d] = mu + A z with z ~ N(0, I) and A [d][d] a random mixing matrix of scale `scale`. */
static float *gaussian(size_t n, int d, uint32_t seed, float shift, float scale)
{
    fd_rng s = fd_rng_stream(seed, FD_RNG_TEST, 0, 0, 0);
    float *a = fd_malloc(sizeof(float) * (size_t)d * (size_t)d);
    float *z = fd_malloc(sizeof(float) * n * (size_t)d);
    float *x = fd_malloc(sizeof(float) * n * (size_t)d);
    fd_rng_fill_normal(&s, 0, (size_t)d * (size_t)d, a);
    for (size_t i = 0; i < (size_t)d * (size_t)d; i++) a[i] *= scale / sqrtf((float)d);
    s.step = 1;
    fd_rng_fill_normal(&s, 0, n * (size_t)d, z);
    fd_sgemm(false, true, (int)n, d, d, 1.0f, z, d, a, d, 0.0f, x, d);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) x[i * (size_t)d + (size_t)j] += shift * (float)(j % 5) / 5.0f;
    free(a);
    free(z);
    return x;
}

/* Post-ReLU features: max(0, Gaussian) with every 16th dimension dead (0). */
static float *relu_features(size_t n, int d, uint32_t seed, float shift)
{
    float *x = gaussian(n, d, seed, shift, 1.0f);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            float *v = &x[i * (size_t)d + (size_t)j];
            *v = j % 16 == 3 || *v < 0.0f ? 0.0f : *v;
        }
    return x;
}

static uint8_t *glyph_images(uint32_t split, size_t n, uint8_t *labels)
{
    uint32_t *idx = fd_malloc(sizeof(uint32_t) * n);
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    uint8_t *images = fd_malloc(n * FD_GLYPHS_SIZE * FD_GLYPHS_SIZE);
    fd_glyphs_render_many(11, split, idx, n, images);
    if (labels) fd_glyphs_labels(11, split, n, labels);
    free(idx);
    return images;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: export_metrics OUT.h5\n");
        return 2;
    }
    fd_blas_init();
    hid_t file;
    FD_CHECK_H5(file = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));

    /* More rows than one block of the covariance's accumulation (4096). */
    float *x = gaussian(9000, 64, 1, 0.0f, 1.0f), *y = gaussian(5000, 64, 2, 0.8f, 1.3f);
    FD_CHECK_H5(H5Gclose(write_case(file, "gaussian", x, 9000, y, 5000, 64)));
    free(x);
    free(y);
    x = relu_features(1500, 128, 3, 0.0f);
    y = relu_features(1200, 128, 4, 0.3f);
    FD_CHECK_H5(H5Gclose(write_case(file, "relu", x, 1500, y, 1200, 128)));
    free(x);
    free(y);

    /* A small classifier on 2000 glyphs, one epoch: its features are a network's. */
    enum { N_TRAIN = 2000, N_GEN = 1000, N_REF = 800, N_NOISE = 600 };
    uint8_t train_labels[N_TRAIN], ref_labels[N_REF];
    uint8_t *train = glyph_images(FD_SPLIT_TRAIN, N_TRAIN, train_labels);
    uint8_t *ref_images = glyph_images(FD_SPLIT_TEST, N_REF, ref_labels);
    fd_classifier *c = fd_classifier_create(&(fd_classifier_config){28, 1, 10, 8, 16, 64});
    fd_classifier_train_config tc = {.epochs = 1, .batch = 32, .lr = 2e-3f, .seed = 9};
    if (fd_classifier_train(c, train, train_labels, N_TRAIN, &tc, NULL, NULL) != 0)
        fd_die_on_error();
    fd_classifier_calibrate(c, train, N_TRAIN);
    fd_feature_set gen, ref, noise;
    fd_feature_set_from_bytes(&gen, c, train, train_labels, N_GEN);
    fd_feature_set_from_bytes(&ref, c, ref_images, ref_labels, N_REF);
    fd_rng s = fd_rng_stream(12, FD_RNG_TEST, 0, 0, 0);
    float *noise_images = fd_malloc(sizeof(float) * N_NOISE * 784);
    fd_rng_fill_uniform(&s, 0, N_NOISE * 784, noise_images);
    for (size_t i = 0; i < N_NOISE * 784; i++) noise_images[i] = 2.0f * noise_images[i] - 1.0f;
    fd_feature_set_from_floats(&noise, c, noise_images, NULL, N_NOISE);
    const int d = gen.dim;

    hid_t g = write_case(file, "glyphs", gen.features, gen.n, ref.features, ref.n, d);
    /* The generated side's "classes drawn for" are its true labels, with 10% relabelled, so that
     * cond_acc and label_tv are not trivially perfect. */
    for (size_t i = 0; i < gen.n; i += 10) gen.labels[i] = (gen.labels[i] + 1) % 10;
    fd_metric_config mc = {.kid_subsets = SUBSETS, .kid_subset_size = KID_SIZE, .seed = KID_SEED};
    fd_eval_scores sc;
    if (fd_eval_compare(&sc, &gen, &ref, NULL, &mc) != 0) fd_die_on_error();
    hsize_t ng = gen.n, nr = ref.n, k = 10;
    write(g, "x_labels", H5T_NATIVE_INT, 1, &ng, gen.labels);
    write(g, "x_predicted", H5T_NATIVE_INT, 1, &ng, gen.predicted);
    write(g, "y_labels", H5T_NATIVE_INT, 1, &nr, ref.labels);
    write(g, "class_fid", H5T_NATIVE_DOUBLE, 1, &k, sc.class_fid);
    fd_h5_attr_double(g, "label_tv", sc.label_tv);
    fd_h5_attr_double(g, "cond_acc", sc.cond_acc);
    fd_h5_attr_double(g, "compare_fid", sc.fid_cls);
    fd_h5_attr_double(g, "compare_kid_mean", sc.kid_cls_mean);
    FD_CHECK_H5(H5Gclose(g));
    FD_CHECK_H5(H5Gclose(write_case(file, "noise", ref.features, ref.n, noise.features, noise.n, d)));

    fd_feature_set_free(&gen);
    fd_feature_set_free(&ref);
    fd_feature_set_free(&noise);
    fd_classifier_free(c);
    free(noise_images);
    free(train);
    free(ref_images);
    FD_CHECK_H5(H5Fclose(file));
    return 0;
}
