#include "feddiff/samples.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/hdf5_util.h"

int fd_samples_write(const char *path, const fd_sample_batch *s, const fd_config *cfg)
{
    hid_t file = fd_h5_create_tmp(path);
    if (file < 0) return -1;
    fd_h5_writes writes = {0};
    fd_h5_write_header(file, "feddiff-samples", cfg);
    fd_h5_attr_string(file, "checkpoint", s->checkpoint ? s->checkpoint : "");
    fd_h5_attr_string(file, "sampler", s->sampler ? s->sampler : "");
    hsize_t dims[4], n = (hsize_t)s->n;
    for (int d = 0; d < s->ndim; d++) dims[d] = (hsize_t)s->dims[d];
    fd_h5_write_dataset(&writes, file, "samples", H5T_NATIVE_FLOAT, s->ndim, dims, s->data,
                        s->ndim == 4
                            ? "generated images [n][height][width][channels], values in [-1, 1]"
                            : "generated vectors [n][dim]");
    if (s->labels)
        fd_h5_write_dataset(&writes, file, "labels", H5T_NATIVE_INT, 1, &n, s->labels,
                            "class each sample was conditioned on");
    if (s->clients)
        fd_h5_write_dataset(&writes, file, "clients", H5T_NATIVE_INT, 1, &n, s->clients,
                            "client whose model (its own parts or embedding row) drew each sample");
    return fd_h5_commit(file, path, &writes);
}

/* An optional [n] int dataset: NULL when absent, -1 (through *bad) when present but wrong. */
static int *read_ids(hid_t file, const char *path, const char *name, int n, int *bad)
{
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) return NULL;
    int ndim = 0;
    hsize_t dims[1];
    int *ids = fd_h5_read_alloc(file, path, name, H5T_NATIVE_INT, 1, &ndim, dims);
    if (ids && dims[0] != (hsize_t)n) {
        fd_set_error("%s: '%s' has %llu entries for %d samples", path, name,
                     (unsigned long long)dims[0], n);
        free(ids);
        ids = NULL;
    }
    if (!ids) *bad = 1;
    return ids;
}

int fd_samples_read(const char *path, fd_sample_file *s)
{
    memset(s, 0, sizeof *s);
    hid_t file = fd_h5_open_read(path);
    if (file < 0) return -1;
    char format[64] = "";
    if (fd_h5_read_attr_string(file, "format", format, sizeof format) != 0 ||
        strcmp(format, "feddiff-samples") != 0) {
        fd_set_error("%s: not a feddiff samples file (no 'format' attribute 'feddiff-samples')",
                     path);
        H5Fclose(file);
        return -1;
    }
    hsize_t dims[4];
    s->data = fd_h5_read_alloc(file, path, "samples", H5T_NATIVE_FLOAT, 4, &s->ndim, dims);
    int bad = !s->data;
    if (!bad) {
        for (int d = 0; d < s->ndim; d++) s->dims[d] = (int)dims[d];
        s->n = s->dims[0];
        s->labels = read_ids(file, path, "labels", s->n, &bad);
    }
    if (!bad) s->clients = read_ids(file, path, "clients", s->n, &bad);
    if (!bad) {
        s->config = fd_h5_read_attr_string_alloc(file, "config");
        s->checkpoint = fd_h5_read_attr_string_alloc(file, "checkpoint");
        s->sampler = fd_h5_read_attr_string_alloc(file, "sampler");
        if (!s->config) {
            fd_set_error("%s: no 'config' attribute", path);
            bad = 1;
        }
    }
    H5Fclose(file);
    if (bad) {
        fd_sample_file_free(s);
        return -1;
    }
    return 0;
}

void fd_sample_file_free(fd_sample_file *s)
{
    free(s->data);
    free(s->labels);
    free(s->clients);
    free(s->config);
    free(s->checkpoint);
    free(s->sampler);
    memset(s, 0, sizeof *s);
}
