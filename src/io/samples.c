#include "feddiff/samples.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/hdf5_util.h"

static void write_dataset(hid_t file, const char *name, hid_t mem_type, int ndim,
                          const hsize_t *dims, const void *data, const char *meaning)
{
    hid_t space, dset;
    FD_CHECK_H5(space = H5Screate_simple(ndim, dims, NULL));
    FD_CHECK_H5(dset = H5Dcreate2(file, name, mem_type, space, H5P_DEFAULT, H5P_DEFAULT,
                                  H5P_DEFAULT));
    FD_CHECK_H5(H5Dwrite(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
    fd_h5_attr_string(dset, "meaning", meaning);
    FD_CHECK_H5(H5Dclose(dset));
    FD_CHECK_H5(H5Sclose(space));
}

int fd_samples_write(const char *path, const fd_sample_batch *s, const fd_config *cfg)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    hid_t file = fd_h5_create_parallel(tmp, MPI_COMM_SELF);
    if (file < 0) return -1;
    char *config_text = fd_config_to_string(cfg);
    fd_h5_attr_string(file, "format", "feddiff-samples");
    fd_h5_attr_string(file, "feddiff_version", FEDDIFF_VERSION);
    fd_h5_attr_string(file, "config", config_text);
    fd_h5_attr_string(file, "checkpoint", s->checkpoint ? s->checkpoint : "");
    fd_h5_attr_string(file, "sampler", s->sampler ? s->sampler : "");
    free(config_text);
    hsize_t dims[4], n = (hsize_t)s->n;
    for (int d = 0; d < s->ndim; d++) dims[d] = (hsize_t)s->dims[d];
    write_dataset(file, "samples", H5T_NATIVE_FLOAT, s->ndim, dims, s->data,
                  s->ndim == 4 ? "generated images [n][height][width][channels], values in [-1, 1]"
                               : "generated vectors [n][dim]");
    if (s->labels)
        write_dataset(file, "labels", H5T_NATIVE_INT, 1, &n, s->labels,
                      "class each sample was conditioned on");
    if (s->clients)
        write_dataset(file, "clients", H5T_NATIVE_INT, 1, &n, s->clients,
                      "client whose model (its own parts or embedding row) drew each sample");
    if (fd_h5_close_file(file) != 0) {
        remove(tmp);
        fd_set_error("%s: writing failed (disk full?)", tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fd_set_error("%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}
