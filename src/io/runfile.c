#include "feddiff/runfile.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/hdf5_util.h"

enum { RUN_FORMAT_VERSION = 1, ROUND_CHUNK = 256, CLIENT_CHUNK_MAX = 4096 };
static const char *const FORMAT_NAME = "feddiff-run";

typedef struct {
    const char *name, *units, *description;
    size_t offset; /* in fd_run_record */
} field;

#define ROUND_FIELD(f, u, d)                                                                       \
    {                                                                                              \
#f, u, d, offsetof(fd_run_record, f)                                                       \
    }
static const field round_fields[] = {
    ROUND_FIELD(clients, "clients", "clients sampled in the round"),
    ROUND_FIELD(failed, "clients", "clients left out of the aggregate (non-finite loss or update)"),
    ROUND_FIELD(moved, "clients",
                "clients trained on another rank than the one holding them (load balance)"),
    ROUND_FIELD(loss, "1", "mean over the round's clients of their mean DDPM training loss"),
    ROUND_FIELD(bytes_up, "bytes", "bytes all clients uploaded in the round (float32 values)"),
    ROUND_FIELD(bytes_down, "bytes", "bytes all clients downloaded in the round"),
    ROUND_FIELD(seconds, "s", "wall-clock time of the round"),
    ROUND_FIELD(t_bcast, "s", "broadcast of the global parts, mean over ranks"),
    ROUND_FIELD(t_train, "s", "local training, mean over ranks"),
    ROUND_FIELD(t_wait, "s", "waiting for the slowest rank (imbalance), mean over ranks"),
    ROUND_FIELD(t_reduce, "s", "reduction of the uploads to rank 0, mean over ranks"),
    ROUND_FIELD(t_server, "s", "server update and moving average, mean over ranks"),
};
#define CLIENT_FIELD(f, name, u, d)                                                                \
    {                                                                                              \
        name, u, d, offsetof(fd_run_record, f)                                                     \
    }
static const field client_fields[] = {
    CLIENT_FIELD(client_loss, "loss", "1",
                 "the client's mean training loss in the round (NaN: not sampled or left out)"),
    CLIENT_FIELD(client_samples, "samples", "samples",
                 "training samples the client processed in the round"),
    CLIENT_FIELD(client_bytes_up, "bytes_up", "bytes", "bytes the client uploaded in the round"),
    CLIENT_FIELD(client_bytes_down, "bytes_down", "bytes",
                 "bytes the client downloaded in the round"),
};
#define N_FIELDS(a) (sizeof(a) / sizeof(a[0]))

static void create_extendible(hid_t group, const field *f, int ndim, hsize_t width)
{
    hsize_t dims[2] = {0, width}, max[2] = {H5S_UNLIMITED, width};
    hsize_t chunk[2] = {ndim == 1 ? ROUND_CHUNK : 1,
                        width < CLIENT_CHUNK_MAX ? width : CLIENT_CHUNK_MAX};
    hid_t space, dcpl, dset;
    FD_CHECK_H5(space = H5Screate_simple(ndim, dims, max));
    FD_CHECK_H5(dcpl = H5Pcreate(H5P_DATASET_CREATE));
    FD_CHECK_H5(H5Pset_chunk(dcpl, ndim, chunk));
    FD_CHECK_H5(dset = fd_h5_create_dataset(group, f->name, H5T_NATIVE_DOUBLE, space, dcpl));
    fd_h5_attr_string(dset, "units", f->units);
    fd_h5_attr_string(dset, "description", f->description);
    FD_CHECK_H5(H5Dclose(dset));
    FD_CHECK_H5(H5Pclose(dcpl));
    FD_CHECK_H5(H5Sclose(space));
}

int fd_runfile_create(fd_runfile *rf, const char *path, const fd_config *cfg, const char *method,
                      int n_clients)
{
    memset(rf, 0, sizeof *rf);
    snprintf(rf->path, sizeof rf->path, "%s", path);
    rf->n_clients = n_clients;
    rf->file = fd_h5_create_serial(path);
    if (rf->file < 0) return -1;
    char *config_text = fd_config_to_string(cfg);
    fd_h5_attr_string(rf->file, "format", FORMAT_NAME);
    fd_h5_attr_long(rf->file, "format_version", RUN_FORMAT_VERSION);
    fd_h5_attr_string(rf->file, "feddiff_version", FEDDIFF_VERSION);
    fd_h5_attr_string(rf->file, "method", method);
    fd_h5_attr_long(rf->file, "n_clients", n_clients);
    fd_h5_attr_string(rf->file, "config", config_text);
    free(config_text);

    hid_t g;
    FD_CHECK_H5(g = fd_h5_create_group(rf->file, "rounds"));
    fd_h5_attr_string(g, "description", "one value per completed round, in round order");
    field round_col = {"round", "rounds", "rounds completed (1-based)",
                       offsetof(fd_run_record, round)};
    field step_col = {"step", "steps", "optimizer steps per client so far",
                      offsetof(fd_run_record, step)};
    create_extendible(g, &round_col, 1, 1);
    create_extendible(g, &step_col, 1, 1);
    for (size_t i = 0; i < N_FIELDS(round_fields); i++)
        create_extendible(g, &round_fields[i], 1, 1);
    FD_CHECK_H5(H5Gclose(g));
    FD_CHECK_H5(g = fd_h5_create_group(rf->file, "clients"));
    fd_h5_attr_string(g, "description", "[round][client]: one row per completed round");
    for (size_t i = 0; i < N_FIELDS(client_fields); i++)
        create_extendible(g, &client_fields[i], 2, (hsize_t)n_clients);
    FD_CHECK_H5(H5Gclose(g));
    const int rc = fd_h5_close_file(rf->file);
    rf->file = -1;
    if (rc != 0) fd_set_error("%s: writing failed (disk full?)", path);
    return rc;
}

/* Cut every dataset of `group` to `rows` rows; -1 on failure. */
static int truncate_group(hid_t file, const char *group, long rows)
{
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0) return -1;
    hsize_t n = 0;
    int rc = H5Gget_num_objs(g, &n) < 0 ? -1 : 0;
    for (hsize_t i = 0; rc == 0 && i < n; i++) {
        char name[256];
        if (H5Gget_objname_by_idx(g, i, name, sizeof name) < 0) {
            rc = -1;
            break;
        }
        hid_t dset = H5Dopen2(g, name, H5P_DEFAULT), space = -1;
        hsize_t dims[2] = {0, 0};
        int ndim = -1;
        if (dset >= 0 && (space = H5Dget_space(dset)) >= 0)
            ndim = H5Sget_simple_extent_dims(space, dims, NULL);
        if (ndim < 1 || dims[0] < (hsize_t)rows) {
            rc = -1; /* fewer rows than the checkpoint's rounds: not this run's file */
        } else {
            dims[0] = (hsize_t)rows;
            if (H5Dset_extent(dset, dims) < 0) rc = -1;
        }
        if (space >= 0) H5Sclose(space);
        if (dset >= 0) H5Dclose(dset);
    }
    H5Gclose(g);
    return rc;
}

int fd_runfile_reopen(fd_runfile *rf, const char *path, int n_clients, long keep_rounds)
{
    memset(rf, 0, sizeof *rf);
    snprintf(rf->path, sizeof rf->path, "%s", path);
    rf->n_clients = n_clients;
    rf->rounds = keep_rounds;
    rf->file = fd_h5_open_rw(path);
    if (rf->file < 0) return -1;
    char format[32] = "";
    long clients = -1;
    if (fd_h5_read_attr_string(rf->file, "format", format, sizeof format) != 0 ||
        strcmp(format, FORMAT_NAME) != 0 ||
        fd_h5_read_attr_long(rf->file, "n_clients", &clients) != 0 || clients != n_clients) {
        fd_set_error("%s: not the run file of this run (format or client count differ)", path);
    } else if (truncate_group(rf->file, "rounds", keep_rounds) != 0 ||
               truncate_group(rf->file, "clients", keep_rounds) != 0) {
        fd_set_error("%s: cannot cut it back to round %ld (fewer rounds, or corrupt)", path,
                     keep_rounds);
    } else {
        const int rc = fd_h5_close_file(rf->file);
        rf->file = -1;
        if (rc != 0) fd_set_error("%s: writing failed (disk full?)", path);
        return rc;
    }
    H5Fclose(rf->file);
    rf->file = -1;
    return -1;
}

/* Append `width` values as row `row` of dataset `name`; -1 if HDF5 refuses (disk full). */
static int append_row(hid_t group, const char *name, hsize_t row, hsize_t width, int ndim,
                      const double *values)
{
    hid_t dset = H5Dopen2(group, name, H5P_DEFAULT);
    if (dset < 0) return -1;
    hsize_t dims[2] = {row + 1, width}, start[2] = {row, 0}, count[2] = {1, width};
    int rc = -1;
    hid_t file_space = -1, mem_space = -1;
    if (H5Dset_extent(dset, dims) >= 0 && (file_space = H5Dget_space(dset)) >= 0 &&
        H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
        (mem_space = H5Screate_simple(1, ndim == 1 ? count : &count[1], NULL)) >= 0 &&
        H5Dwrite(dset, H5T_NATIVE_DOUBLE, mem_space, file_space, H5P_DEFAULT, values) >= 0)
        rc = 0;
    if (mem_space >= 0) H5Sclose(mem_space);
    if (file_space >= 0) H5Sclose(file_space);
    H5Dclose(dset);
    return rc;
}

int fd_runfile_append(fd_runfile *rf, const fd_run_record *rec)
{
    const hsize_t row = (hsize_t)rf->rounds, n = (hsize_t)rf->n_clients;
    rf->file = fd_h5_open_rw(rf->path);
    if (rf->file < 0) return -1;
    hid_t g = H5Gopen2(rf->file, "rounds", H5P_DEFAULT);
    int rc = g < 0 ? -1 : 0;
    double round = (double)rec->round, step = (double)rec->step;
    if (rc == 0) rc = append_row(g, "round", row, 1, 1, &round);
    if (rc == 0) rc = append_row(g, "step", row, 1, 1, &step);
    for (size_t i = 0; rc == 0 && i < N_FIELDS(round_fields); i++)
        rc = append_row(g, round_fields[i].name, row, 1, 1,
                        (const double *)((const char *)rec + round_fields[i].offset));
    if (g >= 0) H5Gclose(g);
    double *missing = NULL;
    if (rc == 0 && (g = H5Gopen2(rf->file, "clients", H5P_DEFAULT)) >= 0) {
        for (size_t i = 0; rc == 0 && i < N_FIELDS(client_fields); i++) {
            const double *values =
                *(const double *const *)((const char *)rec + client_fields[i].offset);
            if (!values) { /* a round without per-client figures: NaN rows */
                if (!missing) {
                    missing = fd_malloc(sizeof(double) * (n ? n : 1));
                    for (hsize_t c = 0; c < n; c++) missing[c] = NAN;
                }
                values = missing;
            }
            rc = append_row(g, client_fields[i].name, row, n, 2, values);
        }
        H5Gclose(g);
    } else if (rc == 0) {
        rc = -1;
    }
    free(missing);
    if (fd_h5_close_file(rf->file) != 0) rc = -1;
    rf->file = -1;
    if (rc != 0) {
        fd_set_error("%s: appending round %ld failed (disk full?)", rf->path, rec->round);
        return -1;
    }
    rf->rounds++;
    return 0;
}

int fd_runfile_close(fd_runfile *rf)
{
    if (rf->file >= 0) H5Fclose(rf->file); /* only open inside the calls above */
    rf->file = -1;
    return 0;
}
