#include "feddiff/hdf5_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "feddiff/error.h"

static void quiet(void)
{
    static int done = 0;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

/* A copy of an object creation list (or a new one of class_id for H5P_DEFAULT) that records
 * no modification times: otherwise the same content written twice gives different bytes. */
static hid_t untimed(hid_t class_id, hid_t plist)
{
    hid_t copy;
    FD_CHECK_H5(copy = plist == H5P_DEFAULT ? H5Pcreate(class_id) : H5Pcopy(plist));
    FD_CHECK_H5(H5Pset_obj_track_times(copy, 0));
    return copy;
}

/* A new file (truncating) in the 1.8 format: checksummed object headers, readable by every
 * h5py in use. Takes ownership of fapl. */
static hid_t create_file(const char *path, hid_t fapl)
{
    FD_CHECK_H5(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18));
    hid_t fcpl = untimed(H5P_FILE_CREATE, H5P_DEFAULT);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    FD_CHECK_H5(H5Pclose(fcpl));
    FD_CHECK_H5(H5Pclose(fapl));
    if (file < 0)
        fd_set_error("%s: cannot create (missing folder, no permission or disk full?)", path);
    return file;
}

hid_t fd_h5_create_parallel(const char *path, MPI_Comm comm)
{
    quiet();
    hid_t fapl;
    FD_CHECK_H5(fapl = H5Pcreate(H5P_FILE_ACCESS));
    FD_CHECK_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
    FD_CHECK_H5(H5Pset_all_coll_metadata_ops(fapl, 1));
    FD_CHECK_H5(H5Pset_coll_metadata_write(fapl, 1));
    return create_file(path, fapl);
}

hid_t fd_h5_create_serial(const char *path)
{
    quiet();
    hid_t fapl;
    FD_CHECK_H5(fapl = H5Pcreate(H5P_FILE_ACCESS));
    return create_file(path, fapl);
}

/* The temporary name of a file being written. */
static void tmp_name(char *buf, size_t size, const char *path)
{
    snprintf(buf, size, "%s.tmp", path);
}

hid_t fd_h5_create_tmp(const char *path)
{
    char tmp[4096];
    tmp_name(tmp, sizeof tmp, path);
    return fd_h5_create_serial(tmp);
}

int fd_h5_write(fd_h5_writes *w, hid_t dset, hid_t mem_type, hid_t mem_space, hid_t file_space,
                hid_t dxpl, const void *data)
{
    errno = 0;
    if (H5Dwrite(dset, mem_type, mem_space, file_space, dxpl, data) >= 0) return 0;
    if (!w->failed++) w->first_errno = errno;
    return -1;
}

void fd_h5_close_noting(fd_h5_writes *w, hid_t file)
{
    errno = 0;
    if (fd_h5_close_file(file) != 0 && !w->failed++) w->first_errno = errno;
}

int fd_h5_commit(hid_t file, const char *path, fd_h5_writes *w)
{
    char tmp[4096];
    tmp_name(tmp, sizeof tmp, path);
    fd_h5_close_noting(w, file);
    if (w->failed) {
        remove(tmp);
        fd_set_error("%s: writing failed (%s); the incomplete file is removed", path,
                     fd_write_failure_reason(w->first_errno));
        return -1;
    }
    if (rename(tmp, path) != 0) {
        fd_set_error("%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

hid_t fd_h5_open_read(const char *path)
{
    quiet();
    struct stat st;
    if (stat(path, &st) != 0) {
        fd_set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) fd_set_error("%s: not a readable HDF5 file (truncated or corrupt?)", path);
    return file;
}

hid_t fd_h5_open_rw(const char *path)
{
    quiet();
    struct stat st;
    if (stat(path, &st) != 0) {
        fd_set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (file < 0) fd_set_error("%s: not a writable HDF5 file (truncated or corrupt?)", path);
    return file;
}

hid_t fd_h5_create_group(hid_t loc, const char *name)
{
    hid_t gcpl = untimed(H5P_GROUP_CREATE, H5P_DEFAULT);
    hid_t group = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    FD_CHECK_H5(H5Pclose(gcpl));
    return group;
}

hid_t fd_h5_create_dataset(hid_t loc, const char *name, hid_t type, hid_t space, hid_t dcpl)
{
    hid_t plist = untimed(H5P_DATASET_CREATE, dcpl);
    hid_t dset = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    FD_CHECK_H5(H5Pclose(plist));
    return dset;
}

int fd_h5_close_file(hid_t file)
{
    int rc = H5Fflush(file, H5F_SCOPE_LOCAL) < 0 ? -1 : 0;
    if (H5Fclose(file) < 0) rc = -1;
    return rc;
}

hid_t fd_h5_collective_dxpl(void)
{
    hid_t dxpl;
    FD_CHECK_H5(dxpl = H5Pcreate(H5P_DATASET_XFER));
    FD_CHECK_H5(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
    return dxpl;
}

static void write_attr(hid_t obj, const char *name, hid_t type, const void *value)
{
    hid_t space, attr;
    FD_CHECK_H5(space = H5Screate(H5S_SCALAR));
    FD_CHECK_H5(attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
    FD_CHECK_H5(H5Awrite(attr, type, value));
    FD_CHECK_H5(H5Aclose(attr));
    FD_CHECK_H5(H5Sclose(space));
}

void fd_h5_attr_string(hid_t obj, const char *name, const char *value)
{
    hid_t type;
    FD_CHECK_H5(type = H5Tcopy(H5T_C_S1));
    FD_CHECK_H5(H5Tset_size(type, strlen(value) + 1));
    FD_CHECK_H5(H5Tset_strpad(type, H5T_STR_NULLTERM));
    FD_CHECK_H5(H5Tset_cset(type, H5T_CSET_UTF8));
    write_attr(obj, name, type, value);
    FD_CHECK_H5(H5Tclose(type));
}

void fd_h5_attr_long(hid_t obj, const char *name, long value)
{
    write_attr(obj, name, H5T_NATIVE_LONG, &value);
}

void fd_h5_attr_double(hid_t obj, const char *name, double value)
{
    write_attr(obj, name, H5T_NATIVE_DOUBLE, &value);
}

void fd_h5_write_header(hid_t file, const char *format, const fd_config *cfg)
{
    char *config_text = fd_config_to_string(cfg);
    fd_h5_attr_string(file, "format", format);
    fd_h5_attr_string(file, "feddiff_version", FEDDIFF_VERSION);
    fd_h5_attr_string(file, "config", config_text);
    free(config_text);
}

void fd_h5_write_dataset(fd_h5_writes *w, hid_t loc, const char *name, hid_t mem_type, int ndim,
                         const hsize_t *dims, const void *data, const char *meaning)
{
    hid_t space, dset;
    FD_CHECK_H5(space = H5Screate_simple(ndim, dims, NULL));
    FD_CHECK_H5(dset = fd_h5_create_dataset(loc, name, mem_type, space, H5P_DEFAULT));
    fd_h5_write(w, dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    fd_h5_attr_string(dset, "meaning", meaning);
    FD_CHECK_H5(H5Dclose(dset));
    FD_CHECK_H5(H5Sclose(space));
}

char *fd_h5_read_attr_string_alloc(hid_t obj, const char *name)
{
    quiet();
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return NULL;
    char *out = NULL;
    hid_t type = H5Aget_type(attr);
    if (type >= 0 && H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type)) {
        size_t size = H5Tget_size(type);
        hid_t mem;
        FD_CHECK_H5(mem = H5Tcopy(H5T_C_S1));
        FD_CHECK_H5(H5Tset_size(mem, size + 1));
        FD_CHECK_H5(H5Tset_strpad(mem, H5T_STR_NULLTERM));
        /* HDF5 converts no strings between character sets: read in the file's own. */
        FD_CHECK_H5(H5Tset_cset(mem, H5Tget_cset(type)));
        out = fd_calloc(size + 1, 1);
        if (H5Aread(attr, mem, out) < 0) {
            free(out);
            out = NULL;
        }
        H5Tclose(mem);
    }
    if (type >= 0) H5Tclose(type);
    H5Aclose(attr);
    return out;
}

int fd_h5_read_attr_string(hid_t obj, const char *name, char *buf, size_t size)
{
    char *s = fd_h5_read_attr_string_alloc(obj, name);
    if (!s) return -1;
    snprintf(buf, size, "%s", s);
    free(s);
    return 0;
}

static int read_attr(hid_t obj, const char *name, hid_t type, void *value)
{
    quiet();
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return -1;
    int rc = H5Aread(attr, type, value) < 0 ? -1 : 0;
    H5Aclose(attr);
    return rc;
}

int fd_h5_read_attr_long(hid_t obj, const char *name, long *value)
{
    return read_attr(obj, name, H5T_NATIVE_LONG, value);
}

int fd_h5_read_attr_double(hid_t obj, const char *name, double *value)
{
    return read_attr(obj, name, H5T_NATIVE_DOUBLE, value);
}

int fd_h5_read_floats(hid_t file, const char *path, const char *name, int ndim, const hsize_t *dims,
                      float *out)
{
    quiet();
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        /* H5Lexists fails on a missing intermediate group too: both mean "not there". */
        fd_set_error("%s: dataset '%s' is missing", path, name);
        return -1;
    }
    hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
    if (dset < 0) {
        fd_set_error("%s: cannot open dataset '%s'", path, name);
        return -1;
    }
    int rc = -1;
    hid_t space = H5Dget_space(dset), type = H5Dget_type(dset);
    hsize_t have[8];
    int have_ndim = space >= 0 ? H5Sget_simple_extent_dims(space, have, NULL) : -1;
    if (type < 0 || H5Tget_class(type) != H5T_FLOAT) {
        fd_set_error("%s: dataset '%s' is not floating point", path, name);
    } else if (have_ndim != ndim || memcmp(have, dims, sizeof(hsize_t) * (size_t)ndim) != 0) {
        char want_s[96] = "", have_s[96] = "";
        for (int d = 0; d < ndim; d++)
            snprintf(want_s + strlen(want_s), sizeof want_s - strlen(want_s), "%s%llu",
                     d ? "x" : "", (unsigned long long)dims[d]);
        for (int d = 0; d < have_ndim && d < 8; d++)
            snprintf(have_s + strlen(have_s), sizeof have_s - strlen(have_s), "%s%llu",
                     d ? "x" : "", (unsigned long long)have[d]);
        fd_set_error("%s: dataset '%s' has shape %s, expected %s", path, name,
                     have_ndim > 0 ? have_s : "?", want_s);
    } else if (H5Dread(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        fd_set_error("%s: reading dataset '%s' failed (truncated or corrupt file?)", path, name);
    } else {
        rc = 0;
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Dclose(dset);
    return rc;
}

void *fd_h5_read_alloc(hid_t file, const char *path, const char *name, hid_t mem_type,
                       int max_ndim, int *ndim, hsize_t *dims)
{
    quiet();
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        fd_set_error("%s: dataset '%s' is missing", path, name);
        return NULL;
    }
    hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
    if (dset < 0) {
        fd_set_error("%s: cannot open dataset '%s'", path, name);
        return NULL;
    }
    void *out = NULL;
    hid_t space = H5Dget_space(dset);
    const int nd = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (nd < 1 || nd > max_ndim) {
        fd_set_error("%s: dataset '%s' has %d dimensions, expected 1 to %d", path, name, nd,
                     max_ndim);
    } else {
        H5Sget_simple_extent_dims(space, dims, NULL);
        size_t count = 1;
        for (int d = 0; d < nd; d++) count *= (size_t)dims[d];
        out = fd_malloc((count > 0 ? count : 1) * H5Tget_size(mem_type));
        if (H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
            fd_set_error("%s: reading dataset '%s' failed (wrong type, truncated or corrupt?)",
                         path, name);
            free(out);
            out = NULL;
        }
        *ndim = nd;
    }
    if (space >= 0) H5Sclose(space);
    H5Dclose(dset);
    return out;
}
