#include "feddiff/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feddiff/error.h"
#include "feddiff/glyphs.h"
#include "feddiff/idx.h"

enum { REAL_CLASSES = 10 };

static const struct {
    const char *name;
    enum fd_dataset_kind kind;
} known[] = {
    {"mnist", FD_DATASET_MNIST},
    {"fashion-mnist", FD_DATASET_FASHION_MNIST},
    {"builtin:glyphs", FD_DATASET_GLYPHS},
    {"builtin:gmm", FD_DATASET_GMM},
};

void fd_dataset_spec_defaults(fd_dataset_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->name = "builtin:glyphs";
    spec->train_size = 60000;
    spec->test_size = 10000;
    spec->gmm_components = 2;
    spec->gmm_dim = 2;
    spec->gmm_radius = 2.0f;
    spec->gmm_sigma = 0.5f;
}

const char *fd_data_dir(const char *configured)
{
    if (configured && *configured) return configured;
    const char *env = getenv("FEDDIFF_DATA");
    return env && *env ? env : "data";
}

/* <dir>/<name>/<file>, or the same with .gz when only that exists; NULL and a one-line error
 * with the fetch command when neither does. */
static char *find_file(const char *dir, const char *name, const char *file)
{
    size_t len = strlen(dir) + strlen(name) + strlen(file) + 8;
    char *path = fd_malloc(len);
    snprintf(path, len, "%s/%s/%s", dir, name, file);
    if (access(path, F_OK) == 0) return path;
    snprintf(path, len, "%s/%s/%s.gz", dir, name, file);
    if (access(path, F_OK) == 0) return path;
    snprintf(path, len, "%s/%s/%s", dir, name, file);
    fd_set_error("%s: not found (dataset %s); fetch it with: scripts/fetch-data %s %s", path, name,
                 name, dir);
    free(path);
    return NULL;
}

static int open_real(fd_dataset *ds, const char *dir)
{
    const char *prefix = ds->split == FD_SPLIT_TRAIN ? "train" : "t10k";
    char images_file[64], labels_file[64];
    snprintf(images_file, sizeof images_file, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_file, sizeof labels_file, "%s-labels-idx1-ubyte", prefix);
    char *labels_path = find_file(dir, ds->name, labels_file);
    if (!labels_path) return -1;
    ds->images_path = find_file(dir, ds->name, images_file);
    if (!ds->images_path) {
        free(labels_path);
        return -1;
    }

    fd_idx_info images, labels;
    int rc = -1;
    if (fd_idx_probe(ds->images_path, &images) != 0) goto done;
    if (images.ndim != 3 && images.ndim != 4) {
        fd_set_error("%s: %d-dimensional IDX; images need 3 ([n][rows][cols]) or 4 "
                     "([n][rows][cols][channels])",
                     ds->images_path, images.ndim);
        goto done;
    }
    if (fd_idx_load(labels_path, &labels, &ds->labels) != 0) goto done;
    if (labels.ndim != 1) {
        fd_set_error("%s: %d-dimensional IDX; labels need 1 ([n])", labels_path, labels.ndim);
        goto done;
    }
    if (labels.count != images.count) {
        fd_set_error("%s: %zu labels but %s holds %zu images", labels_path, labels.count,
                     ds->images_path, images.count);
        goto done;
    }
    for (size_t i = 0; i < labels.count; i++) {
        if (ds->labels[i] >= REAL_CLASSES) {
            fd_set_error("%s: label %d of sample %zu is not a class 0..%d", labels_path,
                         ds->labels[i], i, REAL_CLASSES - 1);
            goto done;
        }
    }
    ds->count = images.count;
    ds->n_classes = REAL_CLASSES;
    ds->height = (int)images.dims[1];
    ds->width = (int)images.dims[2];
    ds->channels = images.ndim == 4 ? (int)images.dims[3] : 1;
    rc = 0;
done:
    free(labels_path);
    return rc;
}

int fd_dataset_open(fd_dataset *ds, const fd_dataset_spec *spec, enum fd_split split)
{
    memset(ds, 0, sizeof *ds);
    int kind = -1;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (spec->name && !strcmp(spec->name, known[i].name)) kind = (int)known[i].kind;
    if (kind < 0) {
        fd_set_error("data.name '%s' is not a dataset; use mnist, fashion-mnist, builtin:glyphs "
                     "or builtin:gmm",
                     spec->name ? spec->name : "");
        return -1;
    }
    ds->kind = (enum fd_dataset_kind)kind;
    ds->split = split;
    snprintf(ds->name, sizeof ds->name, "%s", spec->name);
    ds->seed = spec->seed;
    int rc = 0;
    size_t size = split == FD_SPLIT_TRAIN ? spec->train_size : spec->test_size;
    if ((ds->kind == FD_DATASET_GLYPHS || ds->kind == FD_DATASET_GMM) &&
        (size == 0 || size > UINT32_MAX)) {
        fd_set_error("%s: %s size %zu; use 1 to %u samples", spec->name,
                     split == FD_SPLIT_TRAIN ? "data.train_size" : "data.test_size", size,
                     UINT32_MAX);
        return -1;
    }
    switch (ds->kind) {
    case FD_DATASET_MNIST:
    case FD_DATASET_FASHION_MNIST:
        rc = open_real(ds, fd_data_dir(spec->dir));
        break;
    case FD_DATASET_GLYPHS:
        ds->count = size;
        ds->n_classes = FD_GLYPHS_CLASSES;
        ds->height = ds->width = FD_GLYPHS_SIZE;
        ds->channels = 1;
        ds->labels = fd_malloc(size);
        fd_glyphs_labels(ds->seed, split, size, ds->labels);
        break;
    case FD_DATASET_GMM:
        rc = fd_gmm_init(&ds->gmm, spec->gmm_components, spec->gmm_dim, spec->gmm_radius,
                         spec->gmm_sigma, spec->seed);
        if (rc != 0) break;
        ds->count = size;
        ds->n_classes = spec->gmm_components;
        ds->dim = spec->gmm_dim;
        ds->labels = fd_malloc(size);
        fd_gmm_labels(&ds->gmm, split, size, ds->labels);
        break;
    }
    if (rc != 0) fd_dataset_close(ds);
    return rc;
}

void fd_dataset_close(fd_dataset *ds)
{
    free(ds->labels);
    free(ds->images_path);
    if (ds->kind == FD_DATASET_GMM) fd_gmm_free(&ds->gmm);
    memset(ds, 0, sizeof *ds);
}

size_t fd_dataset_sample_size(const fd_dataset *ds)
{
    return fd_dataset_is_image(ds) ? (size_t)ds->height * (size_t)ds->width * (size_t)ds->channels
                                   : (size_t)ds->dim;
}

static int check_indices(const fd_dataset *ds, const uint32_t *indices, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        if (indices[j] >= ds->count) {
            fd_set_error("%s: sample %u requested but the split holds %zu", ds->name, indices[j],
                         ds->count);
            return -1;
        }
    }
    return 0;
}

int fd_dataset_read_images(const fd_dataset *ds, const uint32_t *indices, size_t n, uint8_t *out)
{
    if (!fd_dataset_is_image(ds)) {
        fd_set_error("%s: holds vectors, not images", ds->name);
        return -1;
    }
    if (check_indices(ds, indices, n) != 0) return -1;
    if (ds->kind == FD_DATASET_GLYPHS) {
        fd_glyphs_render_many(ds->seed, ds->split, indices, n, out);
        return 0;
    }
    return fd_idx_read_items(ds->images_path, fd_dataset_sample_size(ds), indices, n, out);
}

int fd_dataset_read_vectors(const fd_dataset *ds, const uint32_t *indices, size_t n, float *out)
{
    if (fd_dataset_is_image(ds)) {
        fd_set_error("%s: holds images, not vectors", ds->name);
        return -1;
    }
    if (check_indices(ds, indices, n) != 0) return -1;
    fd_gmm_sample_many(&ds->gmm, ds->split, indices, n, out);
    return 0;
}
