/* Small HDF5 helpers shared by checkpoints, run files and partitions: files opened for
 * collective parallel writing (MPI-IO) or serial reading, attributes, and checked reads that
 * name the file and dataset in their errors.
 *
 * HDF5's own error-stack printing is switched off: feddiff reports one line per error. */
#ifndef FEDDIFF_HDF5_UTIL_H
#define FEDDIFF_HDF5_UTIL_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>

#include "feddiff/config.h"

/* Create (truncate) a file for collective writing by every rank of comm, with the MPI-IO
 * driver. -1 with fd_last_error() on failure. Collective. */
hid_t fd_h5_create_parallel(const char *path, MPI_Comm comm);
/* Create (truncate) a file for one process (the default POSIX driver). -1 with a message. */
hid_t fd_h5_create_serial(const char *path);
/* Open an existing file read-only, serially. -1 with a message naming the file. */
hid_t fd_h5_open_read(const char *path);
/* Open an existing file for reading and writing, serially. -1 with a message naming the file. */
hid_t fd_h5_open_rw(const char *path);
/* Writing a new file may fail half-way (disk full, quota, I/O error). That is not fatal: each
 * raw-data write and the final close note a failure here and the writer goes on (a collective
 * writer keeps making the calls the other ranks make); whoever commits the file then reports
 * the failure and removes the incomplete file, so that nothing written before is touched. */
typedef struct {
    int failed;      /* writes (or closes) that failed */
    int first_errno; /* errno right after the first failure; 0 if none was set */
} fd_h5_writes;
/* H5Dwrite, noting a failure in *w; 0 or -1. */
int fd_h5_write(fd_h5_writes *w, hid_t dset, hid_t mem_type, hid_t mem_space, hid_t file_space,
                hid_t dxpl, const void *data);
/* fd_h5_close_file, noting a failure in *w. */
void fd_h5_close_noting(fd_h5_writes *w, hid_t file);

/* A file written whole by one process: fd_h5_create_tmp creates PATH.tmp (-1 with a message),
 * fd_h5_commit closes it and renames it to PATH unless a write failed (0), else removes the
 * temporary and leaves PATH as it was (-1 with a message naming PATH and the reason). */
hid_t fd_h5_create_tmp(const char *path);
int fd_h5_commit(hid_t file, const char *path, fd_h5_writes *w);
/* A new group or dataset (dcpl may be H5P_DEFAULT); negative on failure. Like the files
 * above, they record no modification times: the same content gives the same bytes, so the
 * checkpoints of two identical runs compare equal with cmp. */
hid_t fd_h5_create_group(hid_t loc, const char *name);
hid_t fd_h5_create_dataset(hid_t loc, const char *name, hid_t type, hid_t space, hid_t dcpl);
/* Close a file and everything still open in it; 0, or -1 if flushing failed. */
int fd_h5_close_file(hid_t file);
/* A transfer property list for collective MPI-IO (close with H5Pclose). */
hid_t fd_h5_collective_dxpl(void);

/* Scalar attributes on an object. In parallel files every rank calls with the same value. */
void fd_h5_attr_string(hid_t obj, const char *name, const char *value);
void fd_h5_attr_long(hid_t obj, const char *name, long value);
void fd_h5_attr_double(hid_t obj, const char *name, double value);

/* The header of a feddiff output file: attributes format, feddiff_version and config (the
 * full INI text). */
void fd_h5_write_header(hid_t file, const char *format, const fd_config *cfg);
/* A whole dataset of the given shape written by one process (serial files, or a file only one
 * rank has open), with its "meaning" attribute; a failed write is noted in *w. */
void fd_h5_write_dataset(fd_h5_writes *w, hid_t loc, const char *name, hid_t mem_type, int ndim,
                         const hsize_t *dims, const void *data, const char *meaning);

/* Read attributes: 0, or -1 when absent or of the wrong type. */
int fd_h5_read_attr_string(hid_t obj, const char *name, char *buf, size_t size);
char *fd_h5_read_attr_string_alloc(hid_t obj, const char *name); /* NULL if absent; free it */
int fd_h5_read_attr_long(hid_t obj, const char *name, long *value);
int fd_h5_read_attr_double(hid_t obj, const char *name, double *value);

/* Read a whole float dataset that must have exactly this shape. `path` names the file in the
 * error. 0, or -1 with a message naming the file and dataset. */
int fd_h5_read_floats(hid_t file, const char *path, const char *name, int ndim, const hsize_t *dims,
                      float *out);
/* Read a whole dataset of 1..max_ndim dimensions, converted to mem_type, into a new buffer
 * (free it); its shape goes to *ndim and dims. NULL with a message naming file and dataset. */
void *fd_h5_read_alloc(hid_t file, const char *path, const char *name, hid_t mem_type,
                       int max_ndim, int *ndim, hsize_t *dims);

#endif
