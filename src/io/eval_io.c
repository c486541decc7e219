#include "feddiff/eval_io.h"

#include <hdf5.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/hdf5_util.h"

enum { CLASSIFIER_FORMAT_VERSION = 1 };
static const char *const CLASSIFIER_FORMAT = "feddiff-classifier";
static const char *const METRIC_NOTE =
    "fid_cls and kid_cls are FID and KID in the feature space of feddiff's own classifier (its "
    "penultimate layer), not Inception's: compare them only with values from the same "
    "classifier file";

/* ---- classifier files --------------------------------------------------------------------- */

/* The integer fields of fd_classifier_config, stored as attributes of /weights. */
typedef struct {
    const char *name;
    size_t offset;
} int_field;
#define CLASSIFIER_FIELD(f)                                                                        \
    {                                                                                              \
#f, offsetof(fd_classifier_config, f)                                                      \
    }
static const int_field classifier_fields[] = {
    CLASSIFIER_FIELD(image_size), CLASSIFIER_FIELD(channels), CLASSIFIER_FIELD(n_classes),
    CLASSIFIER_FIELD(conv1),      CLASSIFIER_FIELD(conv2),    CLASSIFIER_FIELD(features)};
enum { N_CLASSIFIER_FIELDS = sizeof classifier_fields / sizeof classifier_fields[0] };

static const char *tensor_meaning(const char *name)
{
    static const struct {
        const char *name, *meaning;
    } table[] = {
        {"conv1.weight", "first 3x3 convolution, weight [out][in][3][3] (PyTorch layout)"},
        {"conv1.bias", "first 3x3 convolution, bias [out]"},
        {"conv2.weight", "second 3x3 convolution, weight [out][in][3][3] (PyTorch layout)"},
        {"conv2.bias", "second 3x3 convolution, bias [out]"},
        {"fc1.weight", "feature layer, weight [features][S/4 * S/4 * conv2]; inputs are the pooled "
                       "maps flattened in NHWC order (h, w, c)"},
        {"fc1.bias", "feature layer, bias [features]"},
        {"fc2.weight", "output layer, weight [classes][features]"},
        {"fc2.bias", "output layer, bias [classes]"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].name, name)) return table[i].meaning;
    return "classifier parameter";
}

int fd_classifier_save(const char *path, fd_classifier *c, const fd_classifier_info *info,
                       const fd_config *cfg)
{
    hid_t file = fd_h5_create_tmp(path);
    if (file < 0) return -1;
    fd_h5_writes writes = {0};
    const fd_classifier_config *cc = fd_classifier_config_of(c);
    fd_h5_write_header(file, CLASSIFIER_FORMAT, cfg);
    fd_h5_attr_long(file, "format_version", CLASSIFIER_FORMAT_VERSION);
    fd_h5_attr_string(file, "description",
                      "feddiff's evaluation classifier (feddiff evaluator): a small CNN trained on "
                      "the training split of `dataset`; its penultimate layer (fc1 after ReLU, "
                      "`feature_dim` wide) is the feature space of fid_cls and kid_cls; "
                      "`active_features` of them are not constant 0 on the test split");
    fd_h5_attr_string(file, "dataset", info->dataset);
    fd_h5_attr_long(file, "feature_dim", cc->features);
    fd_h5_attr_double(file, "test_accuracy", info->test_accuracy);
    fd_h5_attr_double(file, "train_accuracy", info->train_accuracy);
    fd_h5_attr_long(file, "epochs", info->epochs);
    fd_h5_attr_double(file, "train_seconds", info->train_seconds);
    fd_h5_attr_long(file, "active_features", info->active_features);

    hid_t group;
    FD_CHECK_H5(group = fd_h5_create_group(file, "weights"));
    fd_h5_attr_string(group, "architecture",
                      "x [B][S][S][C] in [-1, 1] (NHWC) -> conv1 3x3 -> ReLU -> maxpool 2x2 -> "
                      "conv2 3x3 -> ReLU -> maxpool 2x2 -> flatten (NHWC) -> fc1 -> ReLU "
                      "(features) -> fc2 (logits)");
    for (int i = 0; i < N_CLASSIFIER_FIELDS; i++)
        fd_h5_attr_long(group, classifier_fields[i].name,
                        *(const int *)((const char *)cc + classifier_fields[i].offset));
    fd_h5_attr_double(group, "feature_scale", fd_classifier_feature_scale(c));
    fd_h5_attr_string(group, "feature_scale_meaning",
                      "features = feature_scale x fc1's activations after ReLU; feature_scale = "
                      "1 / their RMS over the training split, so that features are O(1)");
    const fd_params *p = fd_classifier_params(c);
    for (int id = 0; id < p->n_tensors; id++) {
        const fd_tensor *t = &p->tensors[id];
        hsize_t dims[FD_TENSOR_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        fd_h5_write_dataset(&writes, group, t->name, H5T_NATIVE_FLOAT, t->ndim, dims,
                            p->data + t->offset, tensor_meaning(t->name));
    }
    FD_CHECK_H5(H5Gclose(group));
    return fd_h5_commit(file, path, &writes);
}

fd_classifier *fd_classifier_load(const char *path, fd_classifier_info *info)
{
    hid_t file = fd_h5_open_read(path);
    if (file < 0) return NULL;
    char format[64] = "";
    long version = 0;
    if (fd_h5_read_attr_string(file, "format", format, sizeof format) != 0 ||
        strcmp(format, CLASSIFIER_FORMAT) != 0 ||
        fd_h5_read_attr_long(file, "format_version", &version) != 0 ||
        version != CLASSIFIER_FORMAT_VERSION) {
        fd_set_error("%s: not a feddiff classifier file of format version %d (make one with "
                     "feddiff evaluator)",
                     path, CLASSIFIER_FORMAT_VERSION);
        H5Fclose(file);
        return NULL;
    }
    fd_classifier_config cc;
    memset(&cc, 0, sizeof cc);
    int rc = 0;
    hid_t group = H5Gopen2(file, "weights", H5P_DEFAULT);
    for (int i = 0; i < N_CLASSIFIER_FIELDS && group >= 0 && rc == 0; i++) {
        long v = 0;
        rc = fd_h5_read_attr_long(group, classifier_fields[i].name, &v);
        *(int *)((char *)&cc + classifier_fields[i].offset) = (int)v;
    }
    double scale = 1.0;
    if (group >= 0 && rc == 0) rc = fd_h5_read_attr_double(group, "feature_scale", &scale);
    if (group >= 0) H5Gclose(group);
    const char *err = group < 0 || rc != 0 ? "no architecture or feature_scale in 'weights'"
                                           : fd_classifier_config_error(&cc);
    if (err) {
        fd_set_error("%s: %s", path, err);
        H5Fclose(file);
        return NULL;
    }
    fd_classifier *c = fd_classifier_create(&cc);
    fd_classifier_set_feature_scale(c, scale);
    const fd_params *p = fd_classifier_params(c);
    for (int id = 0; id < p->n_tensors && rc == 0; id++) {
        const fd_tensor *t = &p->tensors[id];
        hsize_t dims[FD_TENSOR_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        char name[FD_TENSOR_NAME_MAX + 16];
        snprintf(name, sizeof name, "weights/%s", t->name);
        rc = fd_h5_read_floats(file, path, name, t->ndim, dims, p->data + t->offset);
    }
    if (rc == 0 && info) {
        memset(info, 0, sizeof *info);
        if (fd_h5_read_attr_string(file, "dataset", info->dataset, sizeof info->dataset) != 0 ||
            fd_h5_read_attr_double(file, "test_accuracy", &info->test_accuracy) != 0) {
            fd_set_error("%s: no 'dataset' or 'test_accuracy' attribute", path);
            rc = -1;
        }
        fd_h5_read_attr_double(file, "train_accuracy", &info->train_accuracy);
        fd_h5_read_attr_long(file, "epochs", &info->epochs);
        fd_h5_read_attr_double(file, "train_seconds", &info->train_seconds);
        fd_h5_read_attr_long(file, "active_features", &info->active_features);
    }
    H5Fclose(file);
    if (rc != 0) {
        fd_classifier_free(c);
        return NULL;
    }
    return c;
}

/* ---- results ----------------------------------------------------------------------------- */

/* The scalar scores of fd_eval_scores, as results datasets and log columns. */
typedef struct {
    const char *name;
    size_t offset;
    int is_count; /* size_t, stored as a 64-bit integer */
    const char *meaning;
} score_field;
#define SCORE(f, count, meaning)                                                                   \
    {                                                                                              \
#f, offsetof(fd_eval_scores, f), count, meaning                                            \
    }
static const score_field score_fields[] = {
    SCORE(fid_cls, 0,
          "FID of the samples against the reference images, in the classifier's "
          "feature space"),
    SCORE(kid_cls_mean, 0,
          "KID (unbiased MMD^2, cubic polynomial kernel) in the classifier's "
          "feature space: mean over subsets"),
    SCORE(kid_cls_std, 0, "KID: standard deviation over subsets"),
    SCORE(label_tv, 0,
          "label fidelity: total-variation distance between the target label "
          "distribution and the classifier's labels of the samples (0 best, 1 worst)"),
    SCORE(cond_acc, 0,
          "fraction of samples the classifier labels as the class they were drawn "
          "for (NaN: samples without classes)"),
    SCORE(n_gen, 1, "samples evaluated"),
    SCORE(n_ref, 1, "reference images"),
};
enum { N_SCORE_FIELDS = sizeof score_fields / sizeof score_fields[0] };

static double score_value(const fd_eval_scores *s, const score_field *f)
{
    const char *p = (const char *)s + f->offset;
    return f->is_count ? (double)*(const size_t *)p : *(const double *)p;
}

static void write_scalar(fd_h5_writes *w, hid_t loc, const char *name, hid_t type,
                         const void *value, const char *meaning)
{
    hid_t space, dset;
    FD_CHECK_H5(space = H5Screate(H5S_SCALAR));
    FD_CHECK_H5(dset = fd_h5_create_dataset(loc, name, type, space, H5P_DEFAULT));
    fd_h5_write(w, dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, value);
    fd_h5_attr_string(dset, "meaning", meaning);
    FD_CHECK_H5(H5Dclose(dset));
    FD_CHECK_H5(H5Sclose(space));
}

/* Per-class arrays of n rows of scores: class_fid, class_n_gen, class_n_ref [n][K] (or [K] when
 * n is 0: one set of scores, no row dimension). */
static void write_class_scores(fd_h5_writes *w, hid_t loc, const fd_eval_scores *s, int n, int K)
{
    const int rows = n > 0 ? n : 1;
    double *fid = fd_malloc(sizeof(double) * (size_t)rows * (size_t)K);
    long long *ng = fd_malloc(sizeof(long long) * (size_t)rows * (size_t)K);
    long long *nr = fd_malloc(sizeof(long long) * (size_t)rows * (size_t)K);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < K; k++) {
            fid[r * K + k] = s[r].class_fid[k];
            ng[r * K + k] = (long long)s[r].class_n_gen[k];
            nr[r * K + k] = (long long)s[r].class_n_ref[k];
        }
    hsize_t dims[2] = {(hsize_t)n, (hsize_t)K};
    const int ndim = n > 0 ? 2 : 1;
    const hsize_t *d = n > 0 ? dims : dims + 1;
    fd_h5_write_dataset(w, loc, "class_fid", H5T_NATIVE_DOUBLE, ndim, d, fid,
                        "per class k: FID of the samples of class k (drawn for it, else labelled "
                        "k by the classifier) against the reference images of class k; NaN "
                        "where either side has fewer than 2");
    fd_h5_write_dataset(w, loc, "class_n_gen", H5T_NATIVE_LLONG, ndim, d, ng,
                        "per class: samples in the class");
    fd_h5_write_dataset(w, loc, "class_n_ref", H5T_NATIVE_LLONG, ndim, d, nr,
                        "per class: reference images of the class");
    free(fid);
    free(ng);
    free(nr);
}

int fd_eval_results_write(const char *path, const fd_eval_report *r, const fd_config *cfg)
{
    hid_t file = fd_h5_create_tmp(path);
    if (file < 0) return -1;
    fd_h5_writes writes = {0};
    fd_h5_write_header(file, "feddiff-eval", cfg);
    fd_h5_attr_string(file, "note", METRIC_NOTE);
    fd_h5_attr_string(file, "classifier", r->classifier);
    fd_h5_attr_string(file, "classifier_dataset", r->classifier_info->dataset);
    fd_h5_attr_double(file, "classifier_test_accuracy", r->classifier_info->test_accuracy);
    fd_h5_attr_string(file, "source", r->source);
    fd_h5_attr_string(file, "sampler", r->sampler ? r->sampler : "");
    fd_h5_attr_long(file, "round", r->round);
    fd_h5_attr_long(file, "step", r->step);
    const fd_eval_scores *any = r->all ? r->all : r->per_client;
    if (any) {
        fd_h5_attr_long(file, "kid_subsets", any->kid_subsets);
        fd_h5_attr_long(file, "kid_subset_size", (long)any->kid_subset_size);
    }
    if (r->all) {
        hid_t g;
        FD_CHECK_H5(g = fd_h5_create_group(file, "all"));
        fd_h5_attr_string(g, "description", "samples against the dataset's test split");
        for (int i = 0; i < N_SCORE_FIELDS; i++) {
            const score_field *f = &score_fields[i];
            const double v = score_value(r->all, f);
            const long long count = (long long)v;
            write_scalar(&writes, g, f->name, f->is_count ? H5T_NATIVE_LLONG : H5T_NATIVE_DOUBLE,
                         f->is_count ? (const void *)&count : (const void *)&v, f->meaning);
        }
        write_class_scores(&writes, g, r->all, 0, r->all->n_classes);
        FD_CHECK_H5(H5Gclose(g));
    }
    if (r->n_clients > 0) {
        hid_t g;
        FD_CHECK_H5(g = fd_h5_create_group(file, "clients"));
        fd_h5_attr_string(g, "description",
                          "per client (rows): the samples drawn for the client against its "
                          "held-out data; label_tv against its training label histogram");
        const hsize_t n = (hsize_t)r->n_clients;
        fd_h5_write_dataset(&writes, g, "client", H5T_NATIVE_INT, 1, &n, r->clients, "client id");
        fd_h5_write_dataset(&writes, g, "unseen", H5T_NATIVE_INT, 1, &n, r->unseen,
                            "1: the client was held out of training");
        double *col = fd_malloc(sizeof(double) * (size_t)n);
        for (int i = 0; i < N_SCORE_FIELDS; i++) {
            const score_field *f = &score_fields[i];
            for (int c = 0; c < r->n_clients; c++) col[c] = score_value(&r->per_client[c], f);
            fd_h5_write_dataset(&writes, g, f->name, H5T_NATIVE_DOUBLE, 1, &n, col, f->meaning);
        }
        free(col);
        write_class_scores(&writes, g, r->per_client, r->n_clients, r->per_client[0].n_classes);
        FD_CHECK_H5(H5Gclose(g));
    }
    return fd_h5_commit(file, path, &writes);
}

/* ---- the run's log ----------------------------------------------------------------------- */

static const char *const LOG_GROUP = "eval";

/* Open column `name` of the log group, creating it (1-D, extendible, chunked) when absent. */
static hid_t log_column(hid_t group, const char *name, const char *meaning)
{
    if (H5Lexists(group, name, H5P_DEFAULT) > 0) return H5Dopen2(group, name, H5P_DEFAULT);
    const hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = 64;
    hid_t space, dcpl, dset;
    FD_CHECK_H5(space = H5Screate_simple(1, &zero, &unlimited));
    FD_CHECK_H5(dcpl = H5Pcreate(H5P_DATASET_CREATE));
    FD_CHECK_H5(H5Pset_chunk(dcpl, 1, &chunk));
    FD_CHECK_H5(dset = fd_h5_create_dataset(group, name, H5T_NATIVE_DOUBLE, space, dcpl));
    fd_h5_attr_string(dset, "description", meaning);
    FD_CHECK_H5(H5Pclose(dcpl));
    FD_CHECK_H5(H5Sclose(space));
    return dset;
}

/* Write `value` as row `row` of the column (growing it to row + 1 rows); -1 if HDF5 refuses. */
static int log_write(hid_t group, const char *name, hsize_t row, double value, const char *meaning)
{
    hid_t dset = log_column(group, name, meaning);
    if (dset < 0) return -1;
    const hsize_t rows = row + 1, one = 1;
    hid_t space = -1, mem = -1;
    int rc = -1;
    if (H5Dset_extent(dset, &rows) >= 0 && (space = H5Dget_space(dset)) >= 0 &&
        H5Sselect_hyperslab(space, H5S_SELECT_SET, &row, NULL, &one, NULL) >= 0 &&
        (mem = H5Screate_simple(1, &one, NULL)) >= 0 &&
        H5Dwrite(dset, H5T_NATIVE_DOUBLE, mem, space, H5P_DEFAULT, &value) >= 0)
        rc = 0;
    if (mem >= 0) H5Sclose(mem);
    if (space >= 0) H5Sclose(space);
    H5Dclose(dset);
    return rc;
}

/* The rows of the log so far (the length of its round column; 0 without a log). */
static hsize_t log_rows(hid_t group)
{
    hsize_t n = 0;
    if (H5Lexists(group, "round", H5P_DEFAULT) <= 0) return 0;
    hid_t dset = H5Dopen2(group, "round", H5P_DEFAULT), space = -1;
    if (dset >= 0 && (space = H5Dget_space(dset)) >= 0) H5Sget_simple_extent_dims(space, &n, NULL);
    if (space >= 0) H5Sclose(space);
    if (dset >= 0) H5Dclose(dset);
    return n;
}

int fd_eval_log_append(const char *path, long round, long step, const fd_eval_scores *s)
{
    const hid_t file = fd_h5_open_rw(path);
    if (file < 0) return -1;
    hid_t group;
    if (H5Lexists(file, LOG_GROUP, H5P_DEFAULT) > 0) {
        group = H5Gopen2(file, LOG_GROUP, H5P_DEFAULT);
    } else if ((group = fd_h5_create_group(file, LOG_GROUP)) >= 0) {
        fd_h5_attr_string(group, "description",
                          "evaluations during training (eval.every), one row each: the EMA "
                          "model's samples against the test split");
        fd_h5_attr_string(group, "note", METRIC_NOTE);
        fd_h5_attr_long(group, "samples", (long)s->n_gen);
        fd_h5_attr_long(group, "kid_subsets", s->kid_subsets);
        fd_h5_attr_long(group, "kid_subset_size", (long)s->kid_subset_size);
    }
    int rc = group < 0 ? -1 : 0;
    const hsize_t row = rc == 0 ? log_rows(group) : 0;
    if (rc == 0) rc = log_write(group, "round", row, (double)round, "rounds completed");
    if (rc == 0) rc = log_write(group, "step", row, (double)step, "optimizer steps so far");
    for (int i = 0; rc == 0 && i < N_SCORE_FIELDS; i++)
        rc = log_write(group, score_fields[i].name, row, score_value(s, &score_fields[i]),
                       score_fields[i].meaning);
    if (group >= 0) H5Gclose(group);
    if (fd_h5_close_file(file) != 0) rc = -1;
    if (rc != 0) fd_set_error("%s: appending the evaluation of round %ld failed", path, round);
    return rc;
}

int fd_eval_log_truncate(const char *path, long keep_rounds)
{
    const hid_t file = fd_h5_open_rw(path);
    if (file < 0) return -1;
    if (H5Lexists(file, LOG_GROUP, H5P_DEFAULT) <= 0) return fd_h5_close_file(file);
    hid_t group = H5Gopen2(file, LOG_GROUP, H5P_DEFAULT);
    int rc = group < 0 ? -1 : 0;
    const hsize_t rows = rc == 0 ? log_rows(group) : 0;
    double *round = fd_malloc(sizeof(double) * (rows > 0 ? rows : 1));
    hid_t dset = rc == 0 && rows > 0 ? H5Dopen2(group, "round", H5P_DEFAULT) : -1;
    if (rows > 0 &&
        (dset < 0 || H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, round) < 0))
        rc = -1;
    if (dset >= 0) H5Dclose(dset);
    hsize_t keep = 0; /* rows are in round order */
    while (rc == 0 && keep < rows && round[keep] <= (double)keep_rounds) keep++;
    free(round);
    const char *columns[N_SCORE_FIELDS + 2] = {"round", "step"};
    for (int i = 0; i < N_SCORE_FIELDS; i++) columns[i + 2] = score_fields[i].name;
    for (int i = 0; rc == 0 && rows > 0 && i < N_SCORE_FIELDS + 2; i++) {
        hid_t d = H5Dopen2(group, columns[i], H5P_DEFAULT);
        if (d < 0 || H5Dset_extent(d, &keep) < 0) rc = -1;
        if (d >= 0) H5Dclose(d);
    }
    if (group >= 0) H5Gclose(group);
    if (fd_h5_close_file(file) != 0) rc = -1;
    if (rc != 0)
        fd_set_error("%s: cannot cut the evaluation log back to round %ld", path, keep_rounds);
    return rc;
}
