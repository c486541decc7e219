/* Datasets: the real ones (MNIST, Fashion-MNIST, read from IDX files) and the built-in ones
 * (builtin:glyphs, builtin:gmm, generated on demand), behind one interface.
 *
 * Opening a split loads only its labels (the partition needs all of them; every rank computes
 * the same partition from them). Samples are read on request for a set of indices, so a rank
 * holds only its own clients' samples (clientdata.h) and never the whole image array.
 * Images are uint8 [n][height][width][channels] (NHWC, 28x28x1 here); builtin:gmm gives float
 * vectors [n][dim].
 *
 * Real datasets live in <dir>/<name>/ as the four MNIST-named IDX files
 * (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
 * t10k-labels-idx1-ubyte), each raw or with a .gz suffix; scripts/fetch-data puts them there.
 * A missing file is a one-line error that gives the fetch command. */
#ifndef FEDDIFF_DATASET_H
#define FEDDIFF_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feddiff/gmm.h"

enum fd_dataset_kind {
    FD_DATASET_MNIST,
    FD_DATASET_FASHION_MNIST,
    FD_DATASET_GLYPHS,
    FD_DATASET_GMM
};

/* The built-in generators take the split as their stream number: these values are part of
 * reproducibility. */
enum fd_split { FD_SPLIT_TRAIN = 0, FD_SPLIT_TEST = 1 };

/* What to open; fd_dataset_spec_defaults fills every field. */
typedef struct {
    const char *name;             /* "mnist", "fashion-mnist", "builtin:glyphs", "builtin:gmm" */
    const char *dir;              /* folder of downloaded datasets; NULL or "": see fd_data_dir */
    uint64_t seed;                /* built-in datasets: the dataset is a pure function of it */
    size_t train_size, test_size; /* built-in datasets: samples per split (60000, 10000) */
    int gmm_components;           /* builtin:gmm: K (2) */
    int gmm_dim;                  /* builtin:gmm: d (2) */
    float gmm_radius;             /* builtin:gmm: norm of each mean (2.0) */
    float gmm_sigma;              /* builtin:gmm: standard deviation per coordinate (0.5) */
} fd_dataset_spec;

typedef struct {
    enum fd_dataset_kind kind;
    enum fd_split split;
    char name[32];
    size_t count;                /* samples in this split */
    int n_classes;               /* 10, or the GMM's K */
    int height, width, channels; /* images (28, 28, 1); 0 for vector data */
    int dim;                     /* vector data: floats per sample; 0 for images */
    uint8_t *labels;             /* [count], each < n_classes */
    char *images_path;           /* real datasets: the IDX file of the images */
    uint64_t seed;               /* built-in datasets */
    fd_gmm gmm;                  /* builtin:gmm */
} fd_dataset;

void fd_dataset_spec_defaults(fd_dataset_spec *spec);

/* The data folder: `configured` when non-empty, else $FEDDIFF_DATA when set and non-empty, else
 * "data" (relative to the working directory, as for scripts/fetch-data). */
const char *fd_data_dir(const char *configured);

/* Open one split: check the files (magic, dimensions, length; images and labels agree in count;
 * labels below 10) and load the labels. Returns -1 with fd_last_error() naming the file and the
 * problem (for a missing dataset: the scripts/fetch-data command to run). */
int fd_dataset_open(fd_dataset *ds, const fd_dataset_spec *spec, enum fd_split split);
void fd_dataset_close(fd_dataset *ds);

static inline bool fd_dataset_is_image(const fd_dataset *ds) { return ds->dim == 0; }
/* Bytes per image, or floats per vector. */
size_t fd_dataset_sample_size(const fd_dataset *ds);

/* out[j * sample_size ...] = sample indices[j] for j < n (any order, repeats allowed; every
 * index < count). fd_dataset_read_images is for image datasets (uint8 NHWC),
 * fd_dataset_read_vectors for builtin:gmm. -1 with an error on a bad file or index. */
int fd_dataset_read_images(const fd_dataset *ds, const uint32_t *indices, size_t n, uint8_t *out);
int fd_dataset_read_vectors(const fd_dataset *ds, const uint32_t *indices, size_t n, float *out);

#endif
