#include "feddiff/checkpoint.h"

#include <errno.h>
#include <stddef.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feddiff/error.h"
#include "feddiff/hdf5_util.h"

enum { CHECKPOINT_FORMAT_VERSION = 1 };
static const char *const FORMAT_NAME = "feddiff-checkpoint";

/* One float32 dataset of the given shape; rank 0 writes `data`, the others take part only. */
static void write_array(hid_t group, const char *name, int ndim, const hsize_t *dims,
                        const float *data, int rank, hid_t dxpl)
{
    hid_t space, dset;
    FD_CHECK_H5(space = H5Screate_simple(ndim, dims, NULL));
    FD_CHECK_H5(dset = H5Dcreate2(group, name, H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT,
                                  H5P_DEFAULT));
    if (rank != 0) FD_CHECK_H5(H5Sselect_none(space));
    FD_CHECK_H5(H5Dwrite(dset, H5T_NATIVE_FLOAT, space, space, dxpl, data));
    FD_CHECK_H5(H5Dclose(dset));
    FD_CHECK_H5(H5Sclose(space));
}

/* The integer fields of fd_model_config, stored as attributes of /model. */
typedef struct {
    const char *name;
    size_t offset;
} int_field;

#define UNET_FIELD(f)                                                                              \
    {                                                                                              \
#f, offsetof(fd_model_config, unet.f)                                                      \
    }
#define MLP_FIELD(f)                                                                               \
    {                                                                                              \
#f, offsetof(fd_model_config, mlp.f)                                                       \
    }
static const int_field unet_fields[] = {
    UNET_FIELD(in_channels), UNET_FIELD(image_size), UNET_FIELD(width),    UNET_FIELD(n_levels),
    UNET_FIELD(res_blocks),  UNET_FIELD(groups),     UNET_FIELD(time_dim), UNET_FIELD(emb_dim),
    UNET_FIELD(n_classes),   UNET_FIELD(n_clients)};
static const int_field mlp_fields[] = {
    MLP_FIELD(dim),     MLP_FIELD(hidden),    MLP_FIELD(layers),   MLP_FIELD(time_dim),
    MLP_FIELD(emb_dim), MLP_FIELD(n_classes), MLP_FIELD(n_clients)};
#define N_FIELDS(a) (sizeof(a) / sizeof(a[0]))

static void write_model_description(hid_t group, const fd_model_config *mc)
{
    const int_field *fields = mc->kind == FD_MODEL_UNET ? unet_fields : mlp_fields;
    size_t n = mc->kind == FD_MODEL_UNET ? N_FIELDS(unet_fields) : N_FIELDS(mlp_fields);
    fd_h5_attr_string(group, "kind", mc->kind == FD_MODEL_UNET ? "unet" : "mlp");
    for (size_t i = 0; i < n; i++)
        fd_h5_attr_long(group, fields[i].name, *(const int *)((const char *)mc + fields[i].offset));
    if (mc->kind == FD_MODEL_UNET) {
        for (int l = 0; l < mc->unet.n_levels; l++) {
            char name[32];
            snprintf(name, sizeof name, "mult%d", l);
            fd_h5_attr_long(group, name, mc->unet.mults[l]);
        }
        fd_h5_attr_long(group, "attention_levels", (long)mc->unet.attention_levels);
    }
}

static int read_model_description(hid_t file, const char *path, fd_model_config *mc)
{
    memset(mc, 0, sizeof *mc);
    hid_t group = H5Gopen2(file, "model", H5P_DEFAULT);
    if (group < 0) {
        fd_set_error("%s: no 'model' group", path);
        return -1;
    }
    char kind[16] = "";
    int rc = fd_h5_read_attr_string(group, "kind", kind, sizeof kind);
    mc->kind = strcmp(kind, "mlp") ? FD_MODEL_UNET : FD_MODEL_MLP;
    const int_field *fields = mc->kind == FD_MODEL_UNET ? unet_fields : mlp_fields;
    size_t n = mc->kind == FD_MODEL_UNET ? N_FIELDS(unet_fields) : N_FIELDS(mlp_fields);
    long v = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = fd_h5_read_attr_long(group, fields[i].name, &v);
        *(int *)((char *)mc + fields[i].offset) = (int)v;
    }
    if (mc->kind == FD_MODEL_UNET && rc == 0) {
        for (int l = 0; l < mc->unet.n_levels && l < FD_UNET_MAX_LEVELS && rc == 0; l++) {
            char name[32];
            snprintf(name, sizeof name, "mult%d", l);
            rc = fd_h5_read_attr_long(group, name, &v);
            mc->unet.mults[l] = (int)v;
        }
        if (rc == 0) rc = fd_h5_read_attr_long(group, "attention_levels", &v);
        mc->unet.attention_levels = (unsigned)v;
    }
    H5Gclose(group);
    if (rc != 0 || strcmp(kind, mc->kind == FD_MODEL_UNET ? "unet" : "mlp") != 0) {
        fd_set_error("%s: the 'model' group does not describe a network", path);
        return -1;
    }
    const char *err = fd_model_config_error(mc);
    if (err) {
        fd_set_error("%s: invalid network description: %s", path, err);
        return -1;
    }
    return 0;
}

static void write_tensors(hid_t file, const char *group_name, const fd_params *p,
                          const float *buffer, int rank, hid_t dxpl, const fd_model_config *mc)
{
    hid_t group;
    FD_CHECK_H5(group = H5Gcreate2(file, group_name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (mc) write_model_description(group, mc);
    for (int id = 0; id < p->n_tensors; id++) {
        const fd_tensor *t = &p->tensors[id];
        hsize_t dims[FD_TENSOR_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        write_array(group, t->name, t->ndim, dims, buffer + t->offset, rank, dxpl);
    }
    FD_CHECK_H5(H5Gclose(group));
}

int fd_checkpoint_write(const char *path, MPI_Comm comm, const fd_config *cfg, const fd_model *m,
                        const fd_train_state *st)
{
    int rank;
    FD_CHECK_MPI(MPI_Comm_rank(comm, &rank));
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    hid_t file = fd_h5_create_parallel(tmp, comm);
    if (file < 0) return -1;
    hid_t dxpl = fd_h5_collective_dxpl();
    char *config_text = fd_config_to_string(cfg);
    fd_h5_attr_string(file, "format", FORMAT_NAME);
    fd_h5_attr_long(file, "format_version", CHECKPOINT_FORMAT_VERSION);
    fd_h5_attr_string(file, "feddiff_version", FEDDIFF_VERSION);
    fd_h5_attr_string(file, "config", config_text);
    fd_h5_attr_long(file, "round", st->round);
    fd_h5_attr_long(file, "step", st->step);
    free(config_text);

    write_tensors(file, "model", &m->params, m->params.data, rank, dxpl, &m->cfg);
    write_tensors(file, "ema", &m->params, m->ema ? m->ema : m->params.data, rank, dxpl, NULL);
    hid_t opt;
    FD_CHECK_H5(opt = H5Gcreate2(file, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    hsize_t count = (hsize_t)m->params.count;
    write_array(opt, "adam_m", 1, &count, m->params.adam_m, rank, dxpl);
    write_array(opt, "adam_v", 1, &count, m->params.adam_v, rank, dxpl);
    FD_CHECK_H5(H5Gclose(opt));
    FD_CHECK_H5(H5Pclose(dxpl));

    int ok = fd_h5_close_file(file) == 0;
    /* Every rank must know the file is complete before rank 0 renames it into place. */
    int all_ok = 0;
    FD_CHECK_MPI(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm));
    if (!all_ok) {
        if (rank == 0) remove(tmp);
        fd_set_error("%s: writing the checkpoint failed (disk full?)", tmp);
        return -1;
    }
    int renamed = 1;
    if (rank == 0 && rename(tmp, path) != 0) {
        fd_set_error("%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        renamed = 0;
    }
    FD_CHECK_MPI(MPI_Bcast(&renamed, 1, MPI_INT, 0, comm));
    if (!renamed && rank != 0) fd_set_error("%s: rank 0 could not rename the checkpoint", path);
    return renamed ? 0 : -1;
}

/* Open a checkpoint for reading and check that it is one. */
static hid_t open_checkpoint(const char *path)
{
    hid_t file = fd_h5_open_read(path);
    if (file < 0) return -1;
    char format[64];
    if (fd_h5_read_attr_string(file, "format", format, sizeof format) != 0 ||
        strcmp(format, FORMAT_NAME) != 0) {
        fd_set_error("%s: not a feddiff checkpoint (no 'format' attribute '%s')", path,
                     FORMAT_NAME);
        H5Fclose(file);
        return -1;
    }
    long version = 0;
    if (fd_h5_read_attr_long(file, "format_version", &version) != 0 ||
        version != CHECKPOINT_FORMAT_VERSION) {
        fd_set_error("%s: checkpoint format version %ld, this feddiff reads version %d", path,
                     version, CHECKPOINT_FORMAT_VERSION);
        H5Fclose(file);
        return -1;
    }
    return file;
}

int fd_checkpoint_read_config(const char *path, fd_config *cfg, fd_model_config *model)
{
    hid_t file = open_checkpoint(path);
    if (file < 0) return -1;
    char *text = fd_h5_read_attr_string_alloc(file, "config");
    int described = read_model_description(file, path, model);
    H5Fclose(file);
    if (described != 0) {
        free(text);
        return -1;
    }
    if (!text) {
        fd_set_error("%s: the checkpoint has no 'config' attribute", path);
        return -1;
    }
    fd_config_defaults(cfg);
    int rc = fd_config_load_string(cfg, text, path);
    free(text);
    return rc;
}

static int read_tensors(hid_t file, const char *path, const char *group_name, const fd_params *p,
                        float *buffer)
{
    for (int id = 0; id < p->n_tensors; id++) {
        const fd_tensor *t = &p->tensors[id];
        char name[FD_TENSOR_NAME_MAX + 32];
        snprintf(name, sizeof name, "%s/%s", group_name, t->name);
        hsize_t dims[FD_TENSOR_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        if (fd_h5_read_floats(file, path, name, t->ndim, dims, buffer + t->offset) != 0) return -1;
    }
    return 0;
}

int fd_checkpoint_read(const char *path, fd_model *m, fd_train_state *st)
{
    hid_t file = open_checkpoint(path);
    if (file < 0) return -1;
    int rc = -1;
    hsize_t count = (hsize_t)m->params.count;
    if (fd_h5_read_attr_long(file, "round", &st->round) != 0 ||
        fd_h5_read_attr_long(file, "step", &st->step) != 0)
        fd_set_error("%s: missing 'round' or 'step' attribute", path);
    else if (read_tensors(file, path, "model", &m->params, m->params.data) == 0 &&
             (!m->ema || read_tensors(file, path, "ema", &m->params, m->ema) == 0) &&
             fd_h5_read_floats(file, path, "optimizer/adam_m", 1, &count, m->params.adam_m) == 0 &&
             fd_h5_read_floats(file, path, "optimizer/adam_v", 1, &count, m->params.adam_v) == 0)
        rc = 0;
    H5Fclose(file);
    return rc;
}
